//! Global search on PostgreSQL (`SearchStore`; see ../search.rs). Configuration names are read
//! from the JSON body (`jsonb`), rows from its `rows` array; the scope's lists are arrays
//! (`= ANY($n)`), so each part of the union takes the same parameters.
use super::PgMetaStore;
use crate::meta::search::{BranchKind, SearchHit, SearchKind, SearchQuery, SearchStore, kind_of};
use kbstack_core::Result as ApiResult;

/// `(SELECT …)` per kind: kind, project, branch, id, name, created, component, parent id,
/// parent name; `$1` is the lowercased query text.
fn select_for(kind: SearchKind) -> &'static str {
    match kind {
        SearchKind::Bucket => {
            "SELECT 'bucket'::TEXT, x.project_id, x.branch_id, x.id, x.display_name, x.created, NULL::TEXT, NULL::TEXT, NULL::TEXT \
             FROM buckets x WHERE (strpos(lower(x.display_name), $1) > 0 OR strpos(lower(x.name), $1) > 0)"
        }
        SearchKind::Table => {
            "SELECT 'table'::TEXT, x.project_id, x.branch_id, x.id, x.display_name, x.created, NULL::TEXT, x.bucket_id, \
             (SELECT b.display_name FROM buckets b WHERE b.project_id = x.project_id AND b.branch_id = x.branch_id AND b.id = x.bucket_id) \
             FROM tables x WHERE (strpos(lower(x.display_name), $1) > 0 OR strpos(lower(x.name), $1) > 0)"
        }
        SearchKind::Configuration => {
            "SELECT 'configuration'::TEXT, x.project_id, x.branch_id, x.id, x.body::jsonb ->> 'name', \
             coalesce(x.body::jsonb ->> 'created', ''), x.component_id, NULL::TEXT, NULL::TEXT FROM configurations x \
             WHERE x.is_deleted = 0 AND strpos(lower(coalesce(x.body::jsonb ->> 'name', '')), $1) > 0"
        }
        SearchKind::ConfigurationRow => {
            "SELECT 'configuration-row'::TEXT, x.project_id, x.branch_id, r.value ->> 'id', r.value ->> 'name', \
             coalesce(r.value ->> 'created', x.body::jsonb ->> 'created', ''), x.component_id, x.id, x.body::jsonb ->> 'name' \
             FROM configurations x, LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(x.body::jsonb -> 'rows') = 'array' \
             THEN x.body::jsonb -> 'rows' ELSE '[]'::jsonb END) r(value) \
             WHERE x.is_deleted = 0 AND strpos(lower(coalesce(r.value ->> 'name', '')), $1) > 0"
        }
    }
}

impl SearchStore for PgMetaStore {
    fn global_search(&self, q: &SearchQuery) -> ApiResult<Vec<SearchHit>> {
        let kinds: Vec<SearchKind> = if q.kinds.is_empty() {
            vec![SearchKind::Bucket, SearchKind::Table, SearchKind::Configuration, SearchKind::ConfigurationRow]
        } else {
            q.kinds.clone()
        };
        let mut scope = String::from("x.project_id = ANY($2) AND (cardinality($3::BIGINT[]) = 0 OR x.branch_id = ANY($3))");
        match q.branch_kind {
            BranchKind::Any => {}
            BranchKind::Default | BranchKind::Development => scope.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM branches br WHERE br.id = x.branch_id AND br.project_id = x.project_id AND br.is_default = {})",
                if q.branch_kind == BranchKind::Default { 1 } else { 0 }
            )),
        }
        let union = kinds.iter().map(|k| format!("{} AND {scope}", select_for(*k))).collect::<Vec<_>>().join(" UNION ALL ");
        // The parts' text columns carry different collations: the order says which to use.
        let sql = format!(
            "SELECT * FROM ({union}) AS u(kind, project_id, branch_id, id, name, created, component_id, parent_id, parent_name) \
             ORDER BY created COLLATE \"C\" DESC, kind COLLATE \"C\", id COLLATE \"C\""
        );
        let text = q.text.to_lowercase();
        self.with(|c| {
            c.query(&sql, &[&text, &q.project_ids, &q.branch_ids])?
                .iter()
                .map(|r| {
                    let kind: String = r.try_get(0)?;
                    Ok(SearchHit {
                        kind: kind_of(&kind),
                        project_id: r.try_get(1)?,
                        branch_id: r.try_get(2)?,
                        id: r.try_get::<_, Option<String>>(3)?.unwrap_or_default(),
                        name: r.try_get::<_, Option<String>>(4)?.unwrap_or_default(),
                        created: r.try_get(5)?,
                        component_id: r.try_get(6)?,
                        parent_id: r.try_get(7)?,
                        parent_name: r.try_get(8)?,
                    })
                })
                .collect()
        })
    }
}
