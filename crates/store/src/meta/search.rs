//! Global search over names (`GET global-search`): buckets, tables, configurations and their
//! rows whose name contains the query, case-insensitively, in the projects and branches asked
//! for. The repository trait, its SQLite implementation and the conformance suite
//! (`search_store_suite!`). Which configurations are flows, transformations… (by component) and
//! pagination are the service's business.
use rusqlite::types::Value as SqlValue;

use super::SqliteMetaStore;
use kbstack_core::Result as ApiResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchKind {
    Bucket,
    Table,
    Configuration,
    ConfigurationRow,
}

/// Which branches are searched, besides `SearchQuery::branch_ids`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BranchKind {
    #[default]
    Any,
    /// The default (production) branch.
    Default,
    /// Development branches.
    Development,
}

#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Matched as a case-insensitive substring of the name.
    pub text: String,
    /// The projects searched (none: nothing is found).
    pub project_ids: Vec<i64>,
    /// Only these branches; empty for any.
    pub branch_ids: Vec<i64>,
    pub branch_kind: BranchKind,
    /// Only these kinds; empty for all.
    pub kinds: Vec<SearchKind>,
}

/// One name that matched, with what its path shows.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub kind: SearchKind,
    pub project_id: i64,
    pub branch_id: i64,
    pub id: String,
    pub name: String,
    pub created: String,
    /// The component of a configuration or a row.
    pub component_id: Option<String>,
    /// A table's bucket id, a row's configuration id.
    pub parent_id: Option<String>,
    /// A table's bucket display name, a row's configuration name.
    pub parent_name: Option<String>,
}

pub trait SearchStore {
    /// Every hit, newest first (then by kind and id).
    fn global_search(&self, q: &SearchQuery) -> ApiResult<Vec<SearchHit>>;
}

/// `(SELECT …)` per kind: the columns are kind, project, branch, id, name, created, component,
/// parent id, parent name; `?1` is the lowercased query text.
fn select_for(kind: SearchKind) -> &'static str {
    match kind {
        SearchKind::Bucket => {
            "SELECT 'bucket', x.project_id, x.branch_id, x.id, x.display_name, x.created, NULL, NULL, NULL FROM buckets x \
             WHERE (instr(lower(x.display_name), ?1) > 0 OR instr(lower(x.name), ?1) > 0)"
        }
        SearchKind::Table => {
            "SELECT 'table', x.project_id, x.branch_id, x.id, x.display_name, x.created, NULL, x.bucket_id, \
             (SELECT b.display_name FROM buckets b WHERE b.project_id = x.project_id AND b.branch_id = x.branch_id AND b.id = x.bucket_id) \
             FROM tables x WHERE (instr(lower(x.display_name), ?1) > 0 OR instr(lower(x.name), ?1) > 0)"
        }
        SearchKind::Configuration => {
            "SELECT 'configuration', x.project_id, x.branch_id, x.id, json_extract(x.body, '$.name'), \
             coalesce(json_extract(x.body, '$.created'), ''), x.component_id, NULL, NULL FROM configurations x \
             WHERE x.is_deleted = 0 AND instr(lower(coalesce(json_extract(x.body, '$.name'), '')), ?1) > 0"
        }
        SearchKind::ConfigurationRow => {
            "SELECT 'configuration-row', x.project_id, x.branch_id, json_extract(r.value, '$.id'), json_extract(r.value, '$.name'), \
             coalesce(json_extract(r.value, '$.created'), json_extract(x.body, '$.created'), ''), x.component_id, x.id, \
             json_extract(x.body, '$.name') FROM configurations x, json_each(x.body, '$.rows') r \
             WHERE x.is_deleted = 0 AND instr(lower(coalesce(json_extract(r.value, '$.name'), '')), ?1) > 0"
        }
    }
}

pub(crate) fn kind_of(text: &str) -> SearchKind {
    match text {
        "bucket" => SearchKind::Bucket,
        "table" => SearchKind::Table,
        "configuration" => SearchKind::Configuration,
        _ => SearchKind::ConfigurationRow,
    }
}

/// `?, ?, ?` for `n` values (never empty: `NULL` matches nothing).
fn marks(n: usize) -> String {
    if n == 0 { "NULL".into() } else { vec!["?"; n].join(", ") }
}

impl SearchStore for SqliteMetaStore {
    fn global_search(&self, q: &SearchQuery) -> ApiResult<Vec<SearchHit>> {
        let kinds: Vec<SearchKind> = if q.kinds.is_empty() {
            vec![SearchKind::Bucket, SearchKind::Table, SearchKind::Configuration, SearchKind::ConfigurationRow]
        } else {
            q.kinds.clone()
        };
        let mut params: Vec<SqlValue> = vec![SqlValue::Text(q.text.to_lowercase())];
        let mut scope = format!("x.project_id IN ({})", marks(q.project_ids.len()));
        params.extend(q.project_ids.iter().map(|p| SqlValue::Integer(*p)));
        if !q.branch_ids.is_empty() {
            scope.push_str(&format!(" AND x.branch_id IN ({})", marks(q.branch_ids.len())));
            params.extend(q.branch_ids.iter().map(|b| SqlValue::Integer(*b)));
        }
        match q.branch_kind {
            BranchKind::Any => {}
            BranchKind::Default | BranchKind::Development => scope.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM branches br WHERE br.id = x.branch_id AND br.project_id = x.project_id AND br.is_default = {})",
                if q.branch_kind == BranchKind::Default { 1 } else { 0 }
            )),
        }
        let sql = kinds
            .iter()
            .map(|k| format!("{} AND {scope}", select_for(*k)))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        // The scope's parameters repeat per kind: numbered once, reused by every part.
        let sql = number_marks(&sql);
        let sql = format!("SELECT * FROM ({sql}) ORDER BY 6 DESC, 1, 4");
        self.with(|c| {
            let mut st = c.prepare(&sql)?;
            st.query_map(rusqlite::params_from_iter(params.iter()), |r| {
                let kind: String = r.get(0)?;
                Ok(SearchHit {
                    kind: kind_of(&kind),
                    project_id: r.get(1)?,
                    branch_id: r.get(2)?,
                    id: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                    name: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                    created: r.get(5)?,
                    component_id: r.get(6)?,
                    parent_id: r.get(7)?,
                    parent_name: r.get(8)?,
                })
            })?
            .collect()
        })
    }
}

/// Each part of the union repeats the scope's `?` marks: numbered `?2, ?3…` afresh in every part
/// (after `UNION ALL`), so the parameters are given once. `?1` is the query text.
fn number_marks(sql: &str) -> String {
    sql.split(" UNION ALL ")
        .map(|part| {
            let mut n = 1;
            let mut out = String::with_capacity(part.len() + 16);
            let mut chars = part.chars().peekable();
            while let Some(ch) = chars.next() {
                out.push(ch);
                if ch == '?' {
                    if chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                        continue;
                    }
                    n += 1;
                    out.push_str(&n.to_string());
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// The behaviour every `SearchStore` must have; `search_store_suite!` runs each check as a named
/// test.
#[doc(hidden)]
pub mod suite {
    use super::*;
    use crate::meta::branches::BranchStore;
    use crate::meta::buckets::BucketStore;
    use crate::meta::buckets::suite::bucket;
    use crate::meta::configurations::{ComponentScope, ConfigurationStore};
    use crate::meta::tokens::ProjectStore;
    use kbstack_core::Scope;
    use kbstack_core::ids::ComponentId;
    use serde_json::json;

    fn hits(found: Vec<SearchHit>) -> Vec<(SearchKind, String)> {
        let mut v: Vec<(SearchKind, String)> = found.into_iter().map(|h| (h.kind, h.id)).collect();
        v.sort_by(|a, b| a.1.cmp(&b.1));
        v
    }

    fn query(text: &str, projects: &[i64]) -> SearchQuery {
        SearchQuery { text: text.into(), project_ids: projects.to_vec(), ..Default::default() }
    }

    /// Project 1 (default branch `main`, dev branch `dev`) and project 2, with buckets, a table
    /// and configurations named after orders.
    fn seed<S: SearchStore + BucketStore + ConfigurationStore + BranchStore + ProjectStore + crate::meta::tables::TableStore>(
        s: &S,
    ) -> (Scope, Scope, Scope) {
        s.ensure_project(1, "one", "2026-01-01T00:00:00+0000").unwrap();
        s.ensure_project(2, "two", "2026-01-01T00:00:00+0000").unwrap();
        let main = Scope::new(1, s.ensure_default_branch(1, "Main", "2026-01-01T00:00:00+0000").unwrap());
        let other = Scope::new(2, s.ensure_default_branch(2, "Main", "2026-01-01T00:00:00+0000").unwrap());
        let dev = Scope::new(1, main.branch.get() + 100);
        s.insert_bucket(&bucket(main, "Orders")).unwrap().unwrap();
        s.insert_bucket(&bucket(main, "customers")).unwrap().unwrap();
        s.insert_bucket(&bucket(dev, "orders_dev")).unwrap().unwrap();
        s.insert_bucket(&bucket(other, "orders")).unwrap().unwrap();
        s.insert_table(&crate::meta::tables::suite::table(main, "in.c-customers", "big_orders")).unwrap().unwrap();
        let at = ComponentScope { scope: main, component: ComponentId::from("keboola.ex-db-mysql") };
        s.configuration_tx(&at, |tx| -> kbstack_core::Result<()> {
            tx.insert_configuration(
                "11",
                &json!({"id": "11", "name": "Load ORDERS", "created": "2026-02-01T00:00:00+0000",
                        "rows": [{"id": "12", "name": "orders row", "created": "2026-02-02T00:00:00+0000"}, {"id": "13", "name": "other"}]}),
            )?;
            tx.insert_configuration("14", &json!({"id": "14", "name": "trashed orders", "rows": []}))?;
            tx.save_configuration("14", &json!({"id": "14", "name": "trashed orders", "rows": []}), true)?;
            Ok(())
        })
        .unwrap();
        (main, dev, other)
    }

    pub fn names_matched_in_the_projects_asked<S>(s: &S)
    where
        S: SearchStore + BucketStore + ConfigurationStore + BranchStore + ProjectStore + crate::meta::tables::TableStore,
    {
        let (main, _dev, _other) = seed(s);
        let found = s.global_search(&query("ORDER", &[1])).unwrap();
        let mut expected = vec![
            (SearchKind::Configuration, "11".to_string()),
            (SearchKind::ConfigurationRow, "12".to_string()),
            (SearchKind::Table, "in.c-customers.big_orders".to_string()),
            (SearchKind::Bucket, "in.c-orders_dev".to_string()),
            (SearchKind::Bucket, "in.c-Orders".to_string()),
        ];
        expected.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(hits(found.clone()), expected, "case-insensitive substrings; trashed configurations and other projects are not found");
        let row = found.iter().find(|h| h.kind == SearchKind::ConfigurationRow).unwrap();
        assert_eq!(
            (row.component_id.as_deref(), row.parent_id.as_deref(), row.parent_name.as_deref(), row.created.as_str()),
            (Some("keboola.ex-db-mysql"), Some("11"), Some("Load ORDERS"), "2026-02-02T00:00:00+0000")
        );
        let table = found.iter().find(|h| h.kind == SearchKind::Table).unwrap();
        assert_eq!((table.parent_id.as_deref(), table.parent_name.as_deref()), (Some("in.c-customers"), Some("customers")));
        assert_eq!(found[0].id, "12", "newest first");
        assert!(found.iter().all(|h| h.project_id == main.project.get()));

        assert_eq!(s.global_search(&query("orders", &[2])).unwrap().len(), 1, "project 2 has its own bucket");
        assert_eq!(s.global_search(&query("orders", &[1, 2])).unwrap().len(), 6, "both projects");
        assert!(s.global_search(&query("orders", &[])).unwrap().is_empty(), "no project, nothing");
        assert!(s.global_search(&query("nothing-like-it", &[1])).unwrap().is_empty());
    }

    pub fn filtered_by_kind_and_branch<S>(s: &S)
    where
        S: SearchStore + BucketStore + ConfigurationStore + BranchStore + ProjectStore + crate::meta::tables::TableStore,
    {
        let (main, dev, _other) = seed(s);
        let mut q = query("orders", &[1]);
        q.kinds = vec![SearchKind::Bucket];
        assert_eq!(hits(s.global_search(&q).unwrap()).len(), 2);
        q.branch_kind = BranchKind::Default;
        assert_eq!(hits(s.global_search(&q).unwrap()), vec![(SearchKind::Bucket, "in.c-Orders".to_string())], "production only");
        q.branch_kind = BranchKind::Any;
        q.branch_ids = vec![dev.branch.get()];
        assert_eq!(hits(s.global_search(&q).unwrap()), vec![(SearchKind::Bucket, "in.c-orders_dev".to_string())], "one branch");
        q.kinds = vec![SearchKind::Configuration, SearchKind::ConfigurationRow];
        q.branch_ids = vec![main.branch.get()];
        assert_eq!(
            hits(s.global_search(&q).unwrap()),
            vec![(SearchKind::Configuration, "11".to_string()), (SearchKind::ConfigurationRow, "12".to_string())]
        );
    }
}

#[macro_export]
macro_rules! search_store_suite {
    ($make:expr) => {
        #[test]
        fn search_store_names_matched_in_the_projects_asked() {
            $crate::meta::search::suite::names_matched_in_the_projects_asked(&$make());
        }
        #[test]
        fn search_store_filtered_by_kind_and_branch() {
            $crate::meta::search::suite::filtered_by_kind_and_branch(&$make());
        }
    };
}
