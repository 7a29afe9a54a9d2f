//! Components the runner can run: `builtin` ones (Rust, inside kbstack) and `process` ones (a
//! command run on the job's data folder), registered by a JSON file in `<data-dir>/components/`
//! (`kbstack component register <file>` copies one there).
//!
//! A process definition file:
//! ```json
//! {"id": "my.extractor", "type": "extractor", "name": "My extractor",
//!  "command": ["${COMPONENT_DIR}/.venv/bin/python", "${COMPONENT_DIR}/src/component.py"],
//!  "working_dir": "${COMPONENT_DIR}", "env": {"PYTHONUNBUFFERED": "1"},
//!  "forward_token": false, "default_bucket": true, "process_timeout": 3600}
//! ```
//! `${COMPONENT_DIR}` is the directory the file was registered from (`component_dir`); the
//! working directory defaults to the job's data folder.
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::app::AppState;
use crate::storage::components;

/// How a component runs.
#[derive(Debug, Clone)]
pub enum Kind {
    /// `keboola.runner-config-test`: behaviour driven by its parameters (see `config_test`).
    ConfigTest,
    /// `keboola.duckdb-transformation` / `keboola.snowflake-transformation` on DuckDB.
    DuckDb,
    /// `keboola.python-transformation-v2`: the script blocks run by the host's `python3`.
    Python,
    /// `transformation` / `keboola.legacy-transformation`: rows of legacy SQL transformations
    /// run on DuckDB in phase and dependency order (`legacy_transformation`).
    LegacyTransformation,
    /// `keboola.sandboxes`: creates or deletes a workspace (`data_science::sandboxes`).
    Sandboxes,
    /// `keboola.provisioning`: the legacy Provisioning API's async tasks (`syrup::provisioning`).
    Provisioning,
    Process(ProcessSpec),
}

#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub command: Vec<String>,
    pub working_dir: Option<PathBuf>,
    pub env: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Component {
    pub id: String,
    pub kind: Kind,
    /// The definition in the Storage index shape (`data.forward_token`, `data.default_bucket`…).
    pub definition: Value,
}

impl Component {
    pub fn data(&self, key: &str) -> &Value {
        self.definition["data"].get(key).unwrap_or(&Value::Null)
    }

    pub fn forward_token(&self) -> bool {
        self.data("forward_token") == &json!(true)
    }

    pub fn forward_token_details(&self) -> bool {
        self.data("forward_token_details") == &json!(true)
    }

    pub fn default_bucket(&self) -> bool {
        self.data("default_bucket") == &json!(true)
    }

    pub fn default_bucket_stage(&self) -> String {
        self.data("default_bucket_stage").as_str().unwrap_or("in").to_string()
    }

    /// Seconds; a component definition may shorten the stack default.
    pub fn process_timeout(&self) -> Option<u64> {
        self.data("process_timeout").as_u64()
    }

    /// The synchronous actions the definition declares (`data.synchronous_actions`).
    pub fn sync_actions(&self) -> Vec<String> {
        declared_actions(&self.definition)
    }

    pub fn no_application_errors(&self) -> bool {
        self.definition["data"]["logging"]["no_application_errors"] == json!(true)
    }
}

/// The synchronous actions a definition in the Storage index shape declares.
pub fn declared_actions(definition: &Value) -> Vec<String> {
    definition["data"]["synchronous_actions"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// The definition of any component the stack knows (runnable or only listed), by id.
pub fn definition(state: &AppState, id: &str) -> Option<Value> {
    find(state, id).map(|c| c.definition).or_else(|| state.components.portal_entry(id).cloned())
}

pub const CONFIG_TEST: &str = "keboola.runner-config-test";
pub const DUCKDB_TRANSFORMATION: &str = "keboola.duckdb-transformation";
pub const SNOWFLAKE_TRANSFORMATION: &str = "keboola.snowflake-transformation";
pub const PYTHON_TRANSFORMATION: &str = "keboola.python-transformation-v2";
pub const LEGACY_TRANSFORMATION: &str = "transformation";
pub const LEGACY_TRANSFORMATION_V2: &str = "keboola.legacy-transformation";
pub const ORCHESTRATOR: &str = "keboola.orchestrator";
pub const FLOW: &str = "keboola.flow";

pub fn is_orchestrator(id: &str) -> bool {
    id == ORCHESTRATOR || id == FLOW
}

/// The Storage-index shape of a definition (`storage::components::full_shape`). A definition
/// file may set the runtime keys of `data` at its top level too; its `data` object wins.
fn storage_shape(id: &str, kind: &str, name: &str, description: &str, definition_type: &str, overrides: &Map<String, Value>) -> Value {
    let mut data = Map::new();
    for key in [
        "forward_token",
        "forward_token_details",
        "default_bucket",
        "default_bucket_stage",
        "process_timeout",
        "synchronous_actions",
        "image_parameters",
        "memory",
        "logging",
    ] {
        if let Some(v) = overrides.get(key) {
            data.insert(key.to_string(), v.clone());
        }
    }
    if let Some(Value::Object(d)) = overrides.get("data") {
        data.extend(d.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let mut compact = Value::Object(overrides.clone());
    compact["id"] = json!(id);
    compact["type"] = json!(kind);
    compact["name"] = json!(name);
    compact["description"] = json!(description);
    compact["data"] = Value::Object(data);
    components::full_shape(
        &compact,
        components::Origin {
            definition: json!({"type": definition_type, "uri": format!("kbstack/{id}"), "tag": "latest"}),
            vendor: json!({"contact": ["kbstack"]}),
            has_run: true,
            documentation_url: String::new(),
            uri: None,
        },
    )
}

/// The schemas the catalog gives a builtin (so its definition validates what the index says).
fn catalog_schemas(id: &str) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(entry) = components::builtin_entry(id) {
        for key in ["configurationSchema", "configurationRowSchema", "emptyConfiguration", "emptyConfigurationRow"] {
            if let Some(v) = entry.get(key) {
                out.insert(key.into(), v.clone());
            }
        }
    }
    out
}

fn builtins() -> Vec<Component> {
    let mut config_test_data = Map::new();
    config_test_data.insert("synchronous_actions".into(), json!(super::config_test::ACTIONS));
    let transformation = |id: &str, name: &str, description: &str| Component {
        id: id.into(),
        kind: Kind::DuckDb,
        definition: storage_shape(id, "transformation", name, description, "builtin", &catalog_schemas(id)),
    };
    let legacy = |id: &str| Component {
        id: id.into(),
        kind: Kind::LegacyTransformation,
        definition: storage_shape(
            id,
            "transformation",
            "Transformations (legacy)",
            "Legacy SQL transformations: one per configuration row, run on DuckDB in phase and dependency order (Snowflake SQL translated).",
            "builtin",
            &catalog_schemas(id),
        ),
    };
    vec![
        transformation(DUCKDB_TRANSFORMATION, "DuckDB Transformation", "SQL transformation run on DuckDB inside kbstack (DuckDB's SQL dialect)."),
        transformation(
            SNOWFLAKE_TRANSFORMATION,
            "Snowflake SQL Transformation (DuckDB engine)",
            "Snowflake SQL transformation, translated to DuckDB by sqlglot and run on DuckDB inside kbstack.",
        ),
        legacy(LEGACY_TRANSFORMATION),
        legacy(LEGACY_TRANSFORMATION_V2),
        Component {
            id: PYTHON_TRANSFORMATION.into(),
            kind: Kind::Python,
            definition: storage_shape(
                PYTHON_TRANSFORMATION,
                "transformation",
                "Python Transformation",
                "Python script blocks run by the host's python3 on the job's data folder.",
                "builtin",
                &catalog_schemas(PYTHON_TRANSFORMATION),
            ),
        },
        Component {
            id: crate::data_science::sandboxes::COMPONENT.into(),
            kind: Kind::Sandboxes,
            definition: storage_shape(
                crate::data_science::sandboxes::COMPONENT,
                "other",
                "Workspaces",
                "Workspaces for ad hoc analysis: in kbstack every sandbox type is a SQL workspace (DuckDB, shown as Snowflake).",
                "builtin",
                &Map::new(),
            ),
        },
        Component {
            id: crate::syrup::provisioning::COMPONENT.into(),
            kind: Kind::Provisioning,
            definition: storage_shape(
                crate::syrup::provisioning::COMPONENT,
                "other",
                "Provisioning",
                "The legacy Provisioning API's async tasks: Docker-backend credentials, which in kbstack are SQL workspaces.",
                "builtin",
                &Map::new(),
            ),
        },
        Component {
            id: CONFIG_TEST.into(),
            kind: Kind::ConfigTest,
            definition: storage_shape(
                CONFIG_TEST,
                "other",
                "Runner config test",
                "Test component of the runner: its parameters choose what it does (see kbstack's README).",
                "builtin",
                &config_test_data,
            ),
        },
    ]
}

fn components_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("components")
}

fn expand(s: &str, component_dir: &str) -> String {
    s.replace("${COMPONENT_DIR}", component_dir)
}

/// Parse a process definition file into a component (errors name the problem).
pub fn parse_process(path: &Path, text: &str) -> anyhow::Result<Component> {
    let v: Value = serde_json::from_str(text).map_err(|e| anyhow::anyhow!("{}: not valid JSON: {e}", path.display()))?;
    let Value::Object(o) = v else { anyhow::bail!("{}: the definition must be a JSON object", path.display()) };
    let id = o.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(|| anyhow::anyhow!("{}: \"id\" is required", path.display()))?;
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        anyhow::bail!("{}: \"id\" may contain only letters, digits, '-', '_' and '.'", path.display());
    }
    let component_dir = o
        .get("component_dir")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| path.parent().map(|p| p.display().to_string()))
        .unwrap_or_default();
    let command: Vec<String> = match o.get("command") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().map(|s| expand(s, &component_dir)).ok_or_else(|| anyhow::anyhow!("{}: \"command\" items must be strings", path.display())))
            .collect::<anyhow::Result<_>>()?,
        Some(Value::String(s)) if !s.trim().is_empty() => vec!["/bin/sh".into(), "-c".into(), expand(s, &component_dir)],
        _ => anyhow::bail!("{}: \"command\" is required (an array of program and arguments, or a shell string)", path.display()),
    };
    let env = match o.get("env") {
        Some(Value::Object(e)) => e
            .iter()
            .map(|(k, v)| (k.clone(), expand(&crate::http::params::scalar_to_string(v).unwrap_or_default(), &component_dir)))
            .collect(),
        _ => Vec::new(),
    };
    let working_dir = o.get("working_dir").and_then(Value::as_str).map(|s| PathBuf::from(expand(s, &component_dir)));
    let kind = o.get("type").and_then(Value::as_str).unwrap_or("other");
    let name = o.get("name").and_then(Value::as_str).unwrap_or(id);
    let description = o.get("description").and_then(Value::as_str).unwrap_or("");
    let mut definition = storage_shape(id, kind, name, description, "process", &o);
    definition["data"]["definition"]["command"] = json!(command);
    Ok(Component { id: id.to_string(), kind: Kind::Process(ProcessSpec { command, working_dir, env }), definition })
}

/// The components this stack knows, kept in the state: the Developer Portal's definitions (built
/// once, with the public URL, from the built-in and any imported catalog) and the registered
/// process components, read again only when `<data-dir>/components` changes (a registration adds
/// or renames a file there).
pub struct ComponentRegistry {
    portal: Vec<Value>,
    /// Position of each id in `portal` (the catalog may list a thousand components).
    by_id: std::collections::HashMap<String, usize>,
    /// The catalog serialized for the Storage index: full and `componentDetails`-excluded.
    catalog_json: [std::sync::OnceLock<String>; 2],
    dir: PathBuf,
    process: parking_lot::Mutex<(Option<std::time::SystemTime>, std::sync::Arc<Vec<Component>>)>,
    /// The apps published in the Developer Portal (`crate::developer`), replaced whole whenever
    /// a publication changes.
    developer: parking_lot::RwLock<std::sync::Arc<DeveloperApps>>,
}

/// The Developer Portal's published apps as the registry lists and runs them. A published app
/// replaces the catalog's entry of its id; a registered process component or a builtin of the
/// same id wins over it (the portal refuses such ids).
#[derive(Default)]
pub struct DeveloperApps {
    /// Definitions in the Storage index shape.
    pub listed: Vec<Value>,
    /// The published apps with a process to run (repository type `process`).
    pub runnable: Vec<Component>,
}

impl ComponentRegistry {
    pub fn new(stack_url: &str, data_dir: &Path) -> ComponentRegistry {
        let portal = components::build(stack_url, data_dir);
        let by_id = portal.iter().enumerate().filter_map(|(i, c)| c["id"].as_str().map(|id| (id.to_string(), i))).collect();
        ComponentRegistry {
            portal,
            by_id,
            catalog_json: Default::default(),
            dir: components_dir(data_dir),
            process: parking_lot::Mutex::new((None, Default::default())),
            developer: Default::default(),
        }
    }

    /// The Developer Portal's published apps.
    pub fn developer(&self) -> std::sync::Arc<DeveloperApps> {
        self.developer.read().clone()
    }

    /// Replace the published apps (after a publish, rollback, deprecation or deletion).
    pub fn set_developer(&self, apps: DeveloperApps) {
        *self.developer.write() = std::sync::Arc::new(apps);
    }

    /// The published app `id` as listed, unless a registered process component has the id.
    pub fn developer_entry(&self, id: &str) -> Option<Value> {
        let apps = self.developer();
        let entry = apps.listed.iter().find(|c| c["id"] == id)?;
        if self.process().iter().any(|c| c.id == id) {
            return None;
        }
        Some(entry.clone())
    }

    /// The Developer Portal's definitions in full shape.
    pub fn portal(&self) -> &[Value] {
        &self.portal
    }

    /// The catalog's definition of `id`.
    pub fn portal_entry(&self, id: &str) -> Option<&Value> {
        self.by_id.get(id).map(|&i| &self.portal[i])
    }

    /// The catalog as the members of the index's `components` array (serialized on first use).
    pub fn catalog_json(&self, short: bool) -> &str {
        self.catalog_json[usize::from(short)].get_or_init(|| components::serialize_members(&self.portal, short))
    }

    /// The registered process components, as of the folder's last change.
    pub fn process(&self) -> std::sync::Arc<Vec<Component>> {
        let Some(stamp) = std::fs::metadata(&self.dir).and_then(|m| m.modified()).ok() else { return Default::default() };
        // A folder changed in the last second may change again within the same timestamp tick
        // (file times are coarse): it is read again until its time is safely past (git's "racy"
        // rule).
        let racy = std::time::SystemTime::now().duration_since(stamp).map_or(true, |age| age < std::time::Duration::from_secs(1));
        let mut cache = self.process.lock();
        if cache.0 != Some(stamp) || racy {
            *cache = (Some(stamp), std::sync::Arc::new(read_process_components(&self.dir)));
        }
        cache.1.clone()
    }
}

/// Every process component registered in `<data-dir>/components/*.json` (invalid files are
/// skipped with a warning).
pub fn process_component_list(data_dir: &Path) -> Vec<Component> {
    read_process_components(&components_dir(data_dir))
}

fn read_process_components(dir: &Path) -> Vec<Component> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    paths.sort();
    let mut out: Vec<Component> = Vec::new();
    for path in paths {
        match std::fs::read_to_string(&path).map_err(anyhow::Error::from).and_then(|t| parse_process(&path, &t)) {
            Ok(c) if !out.iter().any(|o| o.id == c.id) => out.push(c),
            Ok(c) => tracing::warn!(id = c.id, path = %path.display(), "duplicate component id; ignored"),
            Err(e) => tracing::warn!("ignoring component definition: {e}"),
        }
    }
    out
}

/// Process components in the Storage index shape, for `storage::components` to list in the
/// index and serve from `GET /v2/storage/components/{id}`.
pub fn process_components(data_dir: &Path) -> Vec<Value> {
    process_component_list(data_dir).into_iter().map(|c| c.definition).collect()
}

/// The runnable component `id`: a builtin or a registered process component.
pub fn find(state: &AppState, id: &str) -> Option<Component> {
    builtins()
        .into_iter()
        .find(|c| c.id == id)
        .or_else(|| state.components.process().iter().find(|c| c.id == id).cloned())
        .or_else(|| published(state, |apps| apps.runnable.iter().find(|c| c.id == id).cloned()))
}

/// What `hit` finds among the Developer Portal's published apps (`published_apps`).
pub fn published<T>(state: &AppState, hit: impl Fn(&DeveloperApps) -> Option<T>) -> Option<T> {
    hit(&published_apps(state))
}

/// Every published app. This node keeps a copy; with a store other nodes share it is read again
/// first, so that an app published or changed on one node is seen by every node at once.
pub fn published_apps(state: &AppState) -> std::sync::Arc<DeveloperApps> {
    if state.meta.sqlite().is_none() {
        if let Err(e) = crate::developer::apps::sync_registry(state) {
            tracing::warn!("reading the published apps: {}", e.message);
        }
    }
    state.components.developer()
}

/// The published app `id` as listed (`ComponentRegistry::developer_entry`), current on every
/// node (`published_apps`).
pub fn developer_entry(state: &AppState, id: &str) -> Option<Value> {
    published_apps(state);
    state.components.developer_entry(id)
}

/// Ids a Developer Portal app may not take: the builtins, the orchestrators and the registered
/// process components (the operator's own) run as they are.
pub fn is_reserved(state: &AppState, id: &str) -> bool {
    is_orchestrator(id) || builtins().iter().any(|c| c.id == id) || state.components.process().iter().any(|c| c.id == id)
}

/// A component the stack knows: runnable, an orchestrator, or listed in the Storage registry.
pub fn is_known(state: &AppState, id: &str) -> bool {
    is_orchestrator(id)
        || state.components.portal_entry(id).is_some()
        || developer_entry(state, id).is_some()
        || find(state, id).is_some()
}

/// Ids of every known component of a type (`extractor`, …; a trailing `s` is ignored on both
/// sides), runnable ones first, for filters by component type.
pub fn ids_of_type(state: &AppState, kind: &str) -> Vec<String> {
    let kind = kind.trim_end_matches('s');
    let mut out: Vec<String> = Vec::new();
    let mut take = |c: &Value| {
        if let (Some(id), Some(t)) = (c["id"].as_str(), c["type"].as_str()) {
            if t.trim_end_matches('s') == kind && !out.iter().any(|o| o == id) {
                out.push(id.to_string());
            }
        }
    };
    builtins().iter().for_each(|c| take(&c.definition));
    state.components.process().iter().for_each(|c| take(&c.definition));
    state.components.developer().listed.iter().for_each(&mut take);
    state.components.portal().iter().for_each(take);
    out
}

/// `kbstack component register <file>`: validate the definition and copy it into
/// `<data-dir>/components/<id>.json` with `component_dir` fixed to the file's directory.
pub fn register(data_dir: &Path, file: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
    let mut v: Value = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: not valid JSON: {e}", file.display()))?;
    let abs = std::fs::canonicalize(file)?;
    if v.get("component_dir").is_none() {
        if let (Some(o), Some(dir)) = (v.as_object_mut(), abs.parent()) {
            o.insert("component_dir".into(), json!(dir.display().to_string()));
        }
    }
    let c = parse_process(&abs, &v.to_string())?;
    if builtins().iter().any(|b| b.id == c.id) || is_orchestrator(&c.id) {
        anyhow::bail!("\"{}\" is a built-in component and cannot be replaced", c.id);
    }
    let dir = components_dir(data_dir);
    std::fs::create_dir_all(&dir)?;
    let target = dir.join(format!("{}.json", c.id));
    // Written beside and renamed: the folder changes even when an id is registered again, which
    // is how a running server notices.
    let tmp = dir.join(format!(".{}.json.tmp", c.id));
    std::fs::write(&tmp, serde_json::to_string_pretty(&v)?)?;
    std::fs::rename(&tmp, &target)?;
    Ok(format!("registered process component \"{}\" in {}", c.id, target.display()))
}
