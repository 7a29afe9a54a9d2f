//! Graph, served at `/graph` (host `graph.<suffix>`; legacy Keboola lineage service, notes:
//! services.md §27, which found no spec): a project's lineage as nodes and edges.
//!
//! - nodes: Storage tables, component configurations, flows (`keboola.flow`, `keboola.orchestrator`);
//! - edges: input mapping (table → configuration), output mapping (configuration → table), SQL
//!   of transformations through the SQLdep analyzer (`sql`: a table the SQL names by its Storage
//!   id without a mapping), flow tasks (flow → configuration);
//! - job history: each configuration's newest Queue job (`lastJob`), so what actually ran shows.
//!
//! Everything is read through Storage's domain (configurations, tables, jobs) within the token's
//! project and branch: configurations of the components the token may use, tables of the
//! buckets it may read. `focus` narrows a graph to what is reachable from one node, by depth and
//! direction. The SVG drawing is in `svg`, HTTP in `api`.
pub mod api;
mod mappings;
pub mod svg;
pub mod wire;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use serde_json::{Value, json};

use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code};
use crate::meta::configurations::ConfigurationStore;
use crate::storage::auth::Auth;
use wire::{Edge, Graph, Node};

/// Jobs read for the job history (the newest first).
const JOB_HISTORY: i64 = 1000;

pub fn table_node_id(table_id: &str) -> String {
    format!("table:{table_id}")
}

pub fn config_node_id(component: &str, config: &str) -> String {
    format!("config:{component}/{config}")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Upstream,
    Downstream,
    Both,
}

impl Direction {
    pub fn parse(s: Option<&str>) -> ApiResult<Direction> {
        match s.map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("both") => Ok(Direction::Both),
            Some("upstream") | Some("up") => Ok(Direction::Upstream),
            Some("downstream") | Some("down") => Ok(Direction::Downstream),
            Some(_) => Err(ApiError::validation("Invalid request:\n - direction: one of upstream, downstream, both.")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Upstream => "upstream",
            Direction::Downstream => "downstream",
            Direction::Both => "both",
        }
    }
}

/// Builds the graph: nodes by id (first kept), edges without duplicates.
#[derive(Default)]
struct Builder {
    nodes: BTreeMap<String, Node>,
    order: Vec<String>,
    edges: Vec<Edge>,
    seen_edges: HashSet<(String, String, String, Option<String>)>,
}

impl Builder {
    fn node(&mut self, node: Node) {
        if !self.nodes.contains_key(&node.id) {
            self.order.push(node.id.clone());
            self.nodes.insert(node.id.clone(), node);
        }
    }

    fn edge(&mut self, edge: Edge) {
        let key = (edge.from.clone(), edge.to.clone(), edge.kind.clone(), edge.row_id.clone());
        if self.seen_edges.insert(key) {
            self.edges.push(edge);
        } else if let Some(existing) = self.edges.iter_mut().find(|e| e.from == edge.from && e.to == edge.to && e.kind == edge.kind && e.row_id == edge.row_id) {
            for c in edge.columns {
                if !existing.columns.contains(&c) {
                    existing.columns.push(c);
                }
            }
        }
    }

    fn finish(self) -> Graph {
        let Builder { mut nodes, order, edges, .. } = self;
        Graph { nodes: order.into_iter().filter_map(|id| nodes.remove(&id)).collect(), edges, focus: None, direction: None, depth: None }
    }
}

/// The type a configuration's component has in the catalog (`extractor`, `transformation`, …).
fn component_type(state: &AppState, component: &str) -> String {
    if crate::runner::registry::is_orchestrator(component) {
        return "flow".into();
    }
    crate::storage::components::find(state, component)
        .ok()
        .and_then(|c| c["type"].as_str().map(str::to_string))
        .unwrap_or_else(|| if component.contains("transformation") { "transformation".into() } else { "other".into() })
}

/// A table node the token may see (`None` for a bucket it cannot read).
fn table_node(state: &AppState, auth: &Auth, table_id: &str) -> Option<Node> {
    let (bucket, name) = crate::storage::tables::split_table_id(table_id)?;
    auth.bucket_level(&bucket)?;
    let exists = crate::storage::tables::find_table(state, auth.project_id, auth.branch_id, table_id).ok().flatten().is_some()
        || crate::storage::tables::load_table(state, auth, table_id, crate::storage::auth::Need::Read).is_ok();
    Some(Node {
        id: table_node_id(table_id),
        kind: "table".into(),
        label: table_id.to_string(),
        table_id: Some(table_id.to_string()),
        bucket_id: Some(bucket),
        name: Some(name),
        exists,
        ..Node::default()
    })
}

/// The newest Queue job of each configuration in the branch.
fn last_jobs(state: &AppState, auth: &Auth) -> HashMap<(String, String), Value> {
    use crate::meta::queue_jobs::{QueueJobFilter, QueueJobPage, QueueJobSort, QueueJobSortField};
    let filter = QueueJobFilter { branch_ids: vec![auth.branch_id], ..QueueJobFilter::default() };
    let page = QueueJobPage { sort: QueueJobSort { field: QueueJobSortField::Id, descending: true }, limit: JOB_HISTORY, offset: 0 };
    let mut out = HashMap::new();
    for job in state.meta.search_queue_jobs(auth.project_id.into(), &filter, &page).unwrap_or_default() {
        let Some(config) = job.config.clone() else { continue };
        out.entry((job.component.clone(), config)).or_insert_with(|| {
            json!({"id": job.id.to_string(), "status": job.status.as_str(), "createdTime": crate::queue::iso_ms(job.created_ms)})
        });
    }
    out
}

/// The whole project's lineage, as far as the token sees it.
pub fn project_graph(state: &AppState, auth: &Auth) -> ApiResult<Graph> {
    let configs = state.meta.configurations(auth.scope(), None, false)?;
    let jobs = last_jobs(state, auth);
    let mut b = Builder::default();
    let mut types: HashMap<String, String> = HashMap::new();
    // Each table is looked up once, however many mappings name it.
    let mut tables: HashMap<String, Option<Node>> = HashMap::new();
    let mut table = |id: &str| tables.entry(id.to_string()).or_insert_with(|| table_node(state, auth, id)).clone();
    // Flows name configurations by id; those the token may use and that exist become nodes.
    let present: HashSet<(String, String)> =
        configs.iter().filter(|c| !c.is_deleted && c.document["isDeleted"] != true).map(|c| (c.component_id.clone(), c.id.clone())).collect();
    for c in &configs {
        if c.is_deleted || c.document["isDeleted"] == true || !auth.can_access_component(&c.component_id) {
            continue;
        }
        let component = c.component_id.as_str();
        let kind = types.entry(component.to_string()).or_insert_with(|| component_type(state, component)).clone();
        let doc = &c.document;
        let id = config_node_id(component, &c.id);
        let is_flow = crate::runner::registry::is_orchestrator(component);
        let rows: Vec<Value> = doc["rows"]
            .as_array()
            .map(|rows| rows.iter().map(|r| json!({"id": r["id"], "name": r["name"], "isDisabled": r["isDisabled"]})).collect())
            .unwrap_or_default();
        let found = mappings::of_configuration(component, doc);
        b.node(Node {
            id: id.clone(),
            kind: if is_flow { "flow".into() } else { "configuration".into() },
            label: doc["name"].as_str().filter(|n| !n.is_empty()).map(str::to_string).unwrap_or_else(|| format!("{component}/{}", c.id)),
            component_id: Some(component.to_string()),
            config_id: Some(c.id.clone()),
            component_type: Some(kind),
            rows,
            exists: true,
            is_disabled: doc["isDisabled"] == true,
            last_job: jobs.get(&(component.to_string(), c.id.clone())).cloned(),
            sql: found.sql.clone(),
            ..Node::default()
        });
        for task in &found.tasks {
            if !auth.can_access_component(&task.0) || !present.contains(task) {
                continue;
            }
            b.edge(Edge::new(&id, &config_node_id(&task.0, &task.1), "task"));
        }
        for m in found.inputs {
            if let Some(node) = table(&m.table) {
                let from = node.id.clone();
                b.node(node);
                b.edge(Edge { columns: m.columns, row_id: m.row_id, ..Edge::new(&from, &id, &m.kind) });
            }
        }
        for m in found.outputs {
            if let Some(node) = table(&m.table) {
                let to = node.id.clone();
                b.node(node);
                b.edge(Edge { columns: m.columns, row_id: m.row_id, ..Edge::new(&id, &to, &m.kind) });
            }
        }
    }
    Ok(b.finish())
}

/// What is reachable from `focus` within `depth` steps (`None`: any) in `direction`.
pub fn focus(graph: Graph, focus: &str, direction: Direction, depth: Option<u32>) -> Graph {
    let mut level: HashMap<&str, u32> = HashMap::from([(focus, 0)]);
    let mut queue = VecDeque::from([focus]);
    while let Some(at) = queue.pop_front() {
        let d = level[at];
        if depth.is_some_and(|max| d >= max) {
            continue;
        }
        for e in &graph.edges {
            let next = match direction {
                Direction::Downstream if e.from == at => Some(e.to.as_str()),
                Direction::Upstream if e.to == at => Some(e.from.as_str()),
                Direction::Both if e.from == at => Some(e.to.as_str()),
                Direction::Both if e.to == at => Some(e.from.as_str()),
                _ => None,
            };
            if let Some(n) = next {
                if !level.contains_key(n) {
                    level.insert(n, d + 1);
                    queue.push_back(n);
                }
            }
        }
    }
    let keep: HashSet<String> = level.keys().map(|k| k.to_string()).collect();
    let Graph { nodes, edges, .. } = graph;
    Graph {
        nodes: nodes.into_iter().filter(|n| keep.contains(&n.id)).collect(),
        edges: edges.into_iter().filter(|e| keep.contains(&e.from) && keep.contains(&e.to)).collect(),
        focus: Some(focus.to_string()),
        direction: Some(direction.as_str().to_string()),
        depth,
    }
}

/// The lineage around one table (404 when the token cannot see it, or it neither exists nor is
/// named by any mapping).
pub fn table_graph(state: &AppState, auth: &Auth, table_id: &str, direction: Direction, depth: Option<u32>) -> ApiResult<Graph> {
    let missing = || ApiError::new(Code::TableNotFound, format!("The table \"{table_id}\" was not found in the project \"{}\"", auth.project_id));
    let node = table_node(state, auth, table_id).ok_or_else(missing)?;
    let mut graph = project_graph(state, auth)?;
    if !graph.nodes.iter().any(|n| n.id == node.id) {
        if !node.exists {
            return Err(missing());
        }
        graph.nodes.push(node.clone());
    }
    Ok(self::focus(graph, &node.id, direction, depth))
}

/// The lineage around one configuration (or flow).
pub fn configuration_graph(state: &AppState, auth: &Auth, component: &str, config: &str, direction: Direction, depth: Option<u32>) -> ApiResult<Graph> {
    auth.require_component(component)?;
    let id = config_node_id(component, config);
    let graph = project_graph(state, auth)?;
    if !graph.nodes.iter().any(|n| n.id == id) {
        return Err(ApiError::new(Code::ConfigurationNotFound, format!("Configuration {config} not found")));
    }
    Ok(self::focus(graph, &id, direction, depth))
}
