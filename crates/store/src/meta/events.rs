//! Events in the metadata store: the records, the repository trait with its typed listing filter,
//! its SQLite implementation and the conformance suite (`event_store_suite!`).
use crate::meta::Cached;
use rusqlite::OptionalExtension;
use rusqlite::types::Value as SqlValue;
use serde_json::Value;

use super::conditions::{Where, text};
use super::{SqliteMetaStore, json_col};
use kbstack_core::Result as ApiResult;
use kbstack_core::ids::{BranchId, BucketId, EventId, ProjectId, Scope, TableId, TokenId};

/// What a new event is made of; the store gives it its id.
#[derive(Debug, Clone)]
pub struct NewEventRecord {
    pub uuid: String,
    pub scope: Scope,
    pub token_id: TokenId,
    pub token_name: String,
    pub event: String,
    pub component: String,
    pub message: String,
    pub description: String,
    /// `info`, `success`, `warn` or `error`.
    pub kind: String,
    pub run_id: Option<String>,
    pub created: String,
    pub configuration_id: Option<String>,
    pub object_id: Option<String>,
    pub object_name: Option<String>,
    pub object_type: Option<String>,
    pub params: Value,
    pub results: Value,
    pub duration: Option<f64>,
    pub context: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub id: i64,
    pub uuid: String,
    pub project_id: i64,
    pub branch_id: Option<i64>,
    pub token_id: Option<i64>,
    pub token_name: Option<String>,
    pub event: String,
    pub component: String,
    pub message: String,
    pub description: String,
    pub kind: String,
    pub run_id: Option<String>,
    pub created: String,
    pub configuration_id: Option<String>,
    pub object_id: Option<String>,
    pub object_name: Option<String>,
    pub object_type: Option<String>,
    pub params: Value,
    pub results: Value,
    pub performance: Value,
    pub duration: Option<f64>,
    pub context: Value,
}

/// The object a listing is about.
#[derive(Debug, Clone, PartialEq)]
pub enum EventObject {
    /// Events of the bucket and of its tables.
    Bucket(BucketId),
    Table(TableId),
}

/// The event fields a query term may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventField {
    Event,
    Component,
    Type,
    Message,
    RunId,
    ConfigurationId,
    ObjectId,
    ObjectType,
    ObjectName,
    TokenId,
    TokenName,
}

/// One term of a query. `pattern` takes `*` for any run of characters (and, as SQL's `LIKE`, `%`
/// and `_`); letters match ignoring ASCII case.
#[derive(Debug, Clone, PartialEq)]
pub struct EventTerm {
    /// The field the whole pattern must match; `None`: the message or the event name contains it.
    pub field: Option<EventField>,
    pub pattern: String,
}

/// Which events a listing returns: every filter given must hold.
#[derive(Debug, Clone)]
pub struct EventFilter {
    pub project: ProjectId,
    /// Only events recorded in this branch.
    pub branch: Option<BranchId>,
    pub object: Option<EventObject>,
    /// Only events of this token.
    pub token: Option<TokenId>,
    /// Only ids above this one.
    pub since_id: Option<EventId>,
    /// Only ids below this one.
    pub max_id: Option<EventId>,
    pub component: Option<String>,
    pub configuration_id: Option<String>,
    pub run_id: Option<String>,
    pub terms: Vec<EventTerm>,
    /// By id, descending; else ascending.
    pub newest_first: bool,
    pub offset: i64,
    pub limit: i64,
}

impl EventFilter {
    /// Every event of the project, newest first, the first 100.
    pub fn new(project: ProjectId) -> EventFilter {
        EventFilter {
            project,
            branch: None,
            object: None,
            token: None,
            since_id: None,
            max_id: None,
            component: None,
            configuration_id: None,
            run_id: None,
            terms: Vec::new(),
            newest_first: true,
            offset: 0,
            limit: 100,
        }
    }
}

pub trait EventStore {
    fn insert_event(&self, event: &NewEventRecord) -> ApiResult<EventId>;
    fn event(&self, project: ProjectId, id: EventId) -> ApiResult<Option<EventRecord>>;
    fn event_by_uuid(&self, project: ProjectId, uuid: &str) -> ApiResult<Option<EventRecord>>;
    /// One page of the events `filter` lets through, by id.
    fn events(&self, filter: &EventFilter) -> ApiResult<Vec<EventRecord>>;
}

pub(crate) const COLUMNS: &str = "id, uuid, project_id, branch_id, token_id, token_name, event, component, message, description, type, \
    run_id, created, configuration_id, object_id, object_name, object_type, params, results, performance, duration, context";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<EventRecord> {
    Ok(EventRecord {
        id: r.get(0)?,
        uuid: r.get(1)?,
        project_id: r.get(2)?,
        branch_id: r.get(3)?,
        token_id: r.get(4)?,
        token_name: r.get(5)?,
        event: r.get(6)?,
        component: r.get(7)?,
        message: r.get(8)?,
        description: r.get(9)?,
        kind: r.get(10)?,
        run_id: r.get(11)?,
        created: r.get(12)?,
        configuration_id: r.get(13)?,
        object_id: r.get(14)?,
        object_name: r.get(15)?,
        object_type: r.get(16)?,
        params: json_col(r.get(17)?),
        results: json_col(r.get(18)?),
        performance: json_col(r.get(19)?),
        duration: r.get(20)?,
        context: json_col(r.get(21)?),
    })
}

fn column(field: EventField) -> &'static str {
    match field {
        EventField::Event => "event",
        EventField::Component => "component",
        EventField::Type => "type",
        EventField::Message => "message",
        EventField::RunId => "run_id",
        EventField::ConfigurationId => "configuration_id",
        EventField::ObjectId => "object_id",
        EventField::ObjectType => "object_type",
        EventField::ObjectName => "object_name",
        EventField::TokenId => "token_id",
        EventField::TokenName => "token_name",
    }
}

fn push_term(w: &mut Where, term: &EventTerm) {
    let like = term.pattern.replace('*', "%");
    // SQLite's LIKE ignores ASCII case; PostgreSQL's ILIKE does under COLLATE "C".
    let op = if w.pg { "ILIKE" } else { "LIKE" };
    match term.field {
        Some(field) => w.push(&format!("CAST({} AS TEXT) {op} ?", column(field)), [text(like)]),
        None => {
            let inside = format!("%{like}%");
            w.push(&format!("(message {op} ? OR event {op} ?)"), [text(inside.clone()), text(inside)]);
        }
    }
}

/// The SELECT of a listing (`?` marks) and its parameters; `pg`: in PostgreSQL's dialect.
pub(crate) fn listing(f: &EventFilter, pg: bool) -> (String, Vec<SqlValue>) {
    let mut w = Where::default();
    w.pg = pg;
    w.push("project_id = ?", [SqlValue::Integer(f.project.get())]);
    if let Some(branch) = f.branch {
        w.push("branch_id = ?", [SqlValue::Integer(branch.get())]);
    }
    match &f.object {
        Some(EventObject::Bucket(id)) => {
            let tables = format!("{id}.");
            w.push(
                "((object_type = 'bucket' AND object_id = ?) OR (object_type = 'table' AND substr(object_id, 1, length(CAST(? AS TEXT))) = ?))",
                [text(id.as_str()), text(tables.clone()), text(tables)],
            )
        }
        Some(EventObject::Table(id)) => w.push("object_type = 'table' AND object_id = ?", [text(id.as_str())]),
        None => {}
    }
    if let Some(token) = f.token {
        w.push("token_id = ?", [SqlValue::Integer(token.get())]);
    }
    if let Some(since) = f.since_id {
        w.push("id > ?", [SqlValue::Integer(since.get())]);
    }
    if let Some(max) = f.max_id {
        w.push("id < ?", [SqlValue::Integer(max.get())]);
    }
    for (column, value) in [("component", &f.component), ("configuration_id", &f.configuration_id), ("run_id", &f.run_id)] {
        if let Some(value) = value {
            w.push(&format!("{column} = ?"), [text(value.as_str())]);
        }
    }
    for term in &f.terms {
        push_term(&mut w, term);
    }
    let order = if f.newest_first { "DESC" } else { "ASC" };
    let sql = format!("SELECT {COLUMNS} FROM events WHERE {} ORDER BY id {order} LIMIT ? OFFSET ?", w.sql());
    let args = w.args.into_iter().chain([SqlValue::Integer(f.limit), SqlValue::Integer(f.offset)]).collect();
    (sql, args)
}

impl SqliteMetaStore {
    fn one_event(&self, filter: &str, key: SqlValue, project: ProjectId) -> ApiResult<Option<EventRecord>> {
        self.with(|c| {
            c.query_row_cached(
                &format!("SELECT {COLUMNS} FROM events WHERE {filter} = ?1 AND project_id = ?2"),
                rusqlite::params![key, project.get()],
                from_row,
            )
            .optional()
        })
    }
}

impl EventStore for SqliteMetaStore {
    fn insert_event(&self, e: &NewEventRecord) -> ApiResult<EventId> {
        self.with(|c| {
            c.execute_cached(
                "INSERT INTO events (uuid, project_id, branch_id, token_id, token_name, event, component, message, description, \
                 type, run_id, created, configuration_id, object_id, object_name, object_type, params, results, duration, context) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
                rusqlite::params![
                    e.uuid,
                    e.scope.project.get(),
                    e.scope.branch.get(),
                    e.token_id.get(),
                    e.token_name,
                    e.event,
                    e.component,
                    e.message,
                    e.description,
                    e.kind,
                    e.run_id,
                    e.created,
                    e.configuration_id,
                    e.object_id,
                    e.object_name,
                    e.object_type,
                    e.params.to_string(),
                    e.results.to_string(),
                    e.duration,
                    e.context.to_string(),
                ],
            )?;
            Ok(EventId(c.last_insert_rowid()))
        })
    }

    fn event(&self, project: ProjectId, id: EventId) -> ApiResult<Option<EventRecord>> {
        self.one_event("id", SqlValue::Integer(id.get()), project)
    }

    fn event_by_uuid(&self, project: ProjectId, uuid: &str) -> ApiResult<Option<EventRecord>> {
        self.one_event("uuid", text(uuid), project)
    }

    fn events(&self, f: &EventFilter) -> ApiResult<Vec<EventRecord>> {
        let (sql, args) = listing(f, false);
        self.with(|c| {
            let mut st = c.prepare_cached(&sql)?;
            st.query_map(rusqlite::params_from_iter(args), from_row)?.collect()
        })
    }
}

/// The behaviour every `EventStore` must have; `event_store_suite!` runs each check as a named
/// test.
#[doc(hidden)]
pub mod suite {
    use super::*;
    use crate::meta::tokens::ProjectStore;
    use serde_json::json;

    fn projects<S: ProjectStore>(s: &S) {
        s.ensure_project(1, "one", "2026-01-01T00:00:00+0000").unwrap();
        s.ensure_project(2, "two", "2026-01-01T00:00:00+0000").unwrap();
    }

    fn new_event(project: i64, branch: i64, token: i64, message: &str) -> NewEventRecord {
        NewEventRecord {
            uuid: format!("uuid-{project}-{branch}-{token}-{message}"),
            scope: Scope::new(project, branch),
            token_id: TokenId(token),
            token_name: format!("token {token}"),
            event: "ext.c.".into(),
            component: "c".into(),
            message: message.into(),
            description: String::new(),
            kind: "info".into(),
            run_id: None,
            created: "2026-01-01T00:00:00+0000".into(),
            configuration_id: None,
            object_id: None,
            object_name: None,
            object_type: None,
            params: json!({}),
            results: json!({}),
            duration: None,
            context: json!({}),
        }
    }

    fn about(mut e: NewEventRecord, object_type: &str, id: &str) -> NewEventRecord {
        e.object_type = Some(object_type.into());
        e.object_id = Some(id.into());
        e
    }

    fn insert<S: EventStore>(s: &S, e: NewEventRecord) -> i64 {
        s.insert_event(&e).unwrap().get()
    }

    fn ids<S: EventStore>(s: &S, f: &EventFilter) -> Vec<i64> {
        s.events(f).unwrap().into_iter().map(|e| e.id).collect()
    }

    pub fn insert_and_find<S: ProjectStore + EventStore>(s: &S) {
        projects(s);
        let mut e = new_event(1, 10, 3, "imported");
        e.event = "storage.tableImportDone".into();
        e.component = "storage".into();
        e.description = "details".into();
        e.kind = "success".into();
        e.run_id = Some("1.2".into());
        e.configuration_id = Some("cfg".into());
        e = about(e, "table", "in.c-a.t");
        e.object_name = Some("t".into());
        e.params = json!({"a": [1, 2]});
        e.results = json!({"rows": 3});
        e.duration = Some(1.5);
        e.context = json!({"remoteAddr": "10.0.0.1"});
        let id = insert(s, e.clone());
        let expected = EventRecord {
            id,
            uuid: e.uuid.clone(),
            project_id: 1,
            branch_id: Some(10),
            token_id: Some(3),
            token_name: Some("token 3".into()),
            event: e.event.clone(),
            component: e.component.clone(),
            message: e.message.clone(),
            description: e.description.clone(),
            kind: e.kind.clone(),
            run_id: e.run_id.clone(),
            created: e.created.clone(),
            configuration_id: e.configuration_id.clone(),
            object_id: e.object_id.clone(),
            object_name: e.object_name.clone(),
            object_type: e.object_type.clone(),
            params: e.params.clone(),
            results: e.results.clone(),
            performance: json!({}),
            duration: Some(1.5),
            context: e.context.clone(),
        };
        assert_eq!(s.event(ProjectId(1), EventId(id)).unwrap().as_ref(), Some(&expected));
        assert_eq!(s.event_by_uuid(ProjectId(1), &e.uuid).unwrap().as_ref(), Some(&expected));
        assert_eq!(s.event(ProjectId(2), EventId(id)).unwrap(), None, "another project's event is not found");
        assert_eq!(s.event_by_uuid(ProjectId(2), &e.uuid).unwrap(), None);
        assert_eq!(s.event(ProjectId(1), EventId(id + 1000)).unwrap(), None);
        assert_eq!(s.event_by_uuid(ProjectId(1), "no-such-uuid").unwrap(), None);
    }

    pub fn listed_per_project_branch_and_token_in_order_and_pages<S: ProjectStore + EventStore>(s: &S) {
        projects(s);
        let a = insert(s, new_event(1, 10, 1, "a"));
        let b = insert(s, new_event(1, 11, 2, "b"));
        let other = insert(s, new_event(2, 20, 1, "other"));
        let c = insert(s, new_event(1, 10, 2, "c"));
        let project = EventFilter::new(ProjectId(1));
        assert_eq!(ids(s, &project), vec![c, b, a], "newest first, one project");
        assert_eq!(ids(s, &EventFilter::new(ProjectId(2))), vec![other]);
        assert_eq!(ids(s, &EventFilter { newest_first: false, ..project.clone() }), vec![a, b, c]);
        assert_eq!(ids(s, &EventFilter { branch: Some(BranchId(10)), ..project.clone() }), vec![c, a]);
        assert_eq!(ids(s, &EventFilter { token: Some(TokenId(2)), ..project.clone() }), vec![c, b]);
        assert_eq!(ids(s, &EventFilter { since_id: Some(EventId(a)), ..project.clone() }), vec![c, b]);
        assert_eq!(ids(s, &EventFilter { max_id: Some(EventId(c)), ..project.clone() }), vec![b, a]);
        assert_eq!(ids(s, &EventFilter { offset: 1, limit: 1, ..project.clone() }), vec![b]);
        assert_eq!(ids(s, &EventFilter { limit: 0, ..project.clone() }), Vec::<i64>::new());
    }

    pub fn listed_by_object_fields_and_terms<S: ProjectStore + EventStore>(s: &S) {
        projects(s);
        let bucket = insert(s, about(new_event(1, 10, 1, "bucket created"), "bucket", "in.c-a"));
        let table = insert(s, about(new_event(1, 10, 1, "Table imported"), "table", "in.c-a.t"));
        let lookalike = insert(s, about(new_event(1, 10, 1, "other bucket's table"), "table", "in.c-ab.t"));
        let mut run = new_event(1, 10, 1, "run");
        run.component = "keboola.ex".into();
        run.configuration_id = Some("cfg-1".into());
        run.run_id = Some("100.200".into());
        run.event = "ext.keboola.ex.".into();
        let run = insert(s, run);
        let project = EventFilter::new(ProjectId(1));
        let of = |object: EventObject| EventFilter { object: Some(object), ..project.clone() };
        assert_eq!(ids(s, &of(EventObject::Bucket("in.c-a".into()))), vec![table, bucket], "the bucket and its tables");
        assert_eq!(ids(s, &of(EventObject::Table("in.c-a.t".into()))), vec![table]);
        assert_eq!(ids(s, &of(EventObject::Table("in.c-a".into()))), Vec::<i64>::new());
        assert_eq!(ids(s, &EventFilter { component: Some("keboola.ex".into()), ..project.clone() }), vec![run]);
        assert_eq!(ids(s, &EventFilter { configuration_id: Some("cfg-1".into()), ..project.clone() }), vec![run]);
        assert_eq!(ids(s, &EventFilter { run_id: Some("100".into()), ..project.clone() }), Vec::<i64>::new(), "the run exactly");

        let matching = |terms: &[(Option<EventField>, &str)]| {
            let terms = terms.iter().map(|(field, pattern)| EventTerm { field: *field, pattern: pattern.to_string() }).collect();
            ids(s, &EventFilter { terms, ..project.clone() })
        };
        assert_eq!(matching(&[(Some(EventField::Message), "table*")]), vec![table], "a field matches whole, ignoring case");
        assert_eq!(matching(&[(Some(EventField::Message), "table")]), Vec::<i64>::new());
        assert_eq!(matching(&[(Some(EventField::ObjectId), "in.c-a*")]), vec![lookalike, table, bucket]);
        assert_eq!(matching(&[(Some(EventField::RunId), "100.*")]), vec![run]);
        assert_eq!(matching(&[(Some(EventField::TokenId), "1")]), vec![run, lookalike, table, bucket]);
        assert_eq!(matching(&[(None, "TABLE")]), vec![lookalike, table], "inside the message");
        assert_eq!(matching(&[(None, "keboola.ex")]), vec![run], "inside the event name");
        assert_eq!(matching(&[(None, "table"), (None, "other")]), vec![lookalike], "every term holds");
    }
}

#[macro_export]
macro_rules! event_store_suite {
    ($make:expr) => {
        #[test]
        fn event_store_insert_and_find() {
            $crate::meta::events::suite::insert_and_find(&$make());
        }
        #[test]
        fn event_store_listed_per_project_branch_and_token_in_order_and_pages() {
            $crate::meta::events::suite::listed_per_project_branch_and_token_in_order_and_pages(&$make());
        }
        #[test]
        fn event_store_listed_by_object_fields_and_terms() {
            $crate::meta::events::suite::listed_by_object_fields_and_terms(&$make());
        }
    };
}
