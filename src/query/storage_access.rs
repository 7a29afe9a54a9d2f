//! Read-only Storage access of a workspace (`readOnlyStorageAccess`, how the MCP server's
//! `query_data` reads tables): its SQL names Storage tables as Snowflake does, `"in.c-bucket"."table"`.
//! The workspace engine keeps user SQL inside the workspace's own file, so before a job runs,
//! every table of the workspace's project and branch that its statements name is copied in under
//! those names (`WorkspaceBackend::mirror`), fresh on every job: the job reads the table as it is
//! now, and nothing the SQL does reaches Storage.
use crate::app::AppState;
use crate::backend::BackendResult;
use crate::meta::query_jobs::QueryJob;
use crate::meta::tables::Table;
use kbstack_core::Scope;

/// Whether `sql` names the table: its bucket id as an identifier (quoted or not, any case) and
/// its name. A table named but not used only costs a copy; a table used is always named.
fn names_table(sql_lower: &str, table: &Table) -> bool {
    let bucket = table.bucket_id.to_ascii_lowercase();
    let name = table.name.to_ascii_lowercase();
    sql_lower.contains(&bucket) && sql_lower.contains(&name)
}

/// Copy the Storage tables the job's statements name into its workspace, when the workspace
/// has read-only Storage access; returns how many were copied.
pub fn mirror_named_tables(state: &AppState, job: &QueryJob) -> BackendResult<usize> {
    let internal = |e: kbstack_core::Error| crate::backend::BackendError::Internal(e.message);
    let Some(ws) = state.meta.workspace(job.project_id, job.workspace_id).map_err(internal)? else { return Ok(0) };
    if !ws.read_only_storage_access {
        return Ok(0);
    }
    let sql: String = job.statements.iter().map(|s| s.query.to_ascii_lowercase()).collect::<Vec<_>>().join("\n");
    let tables = state.meta.tables(Scope::new(job.project_id, ws.branch_id)).map_err(internal)?;
    let mut copied = 0;
    for table in tables.iter().filter(|t| names_table(&sql, t)) {
        state.workspaces.mirror(ws.id, &table.location(), &table.bucket_id, &table.name)?;
        copied += 1;
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(bucket: &str, name: &str) -> Table {
        Table {
            id: format!("{bucket}.{name}"),
            project_id: 1,
            branch_id: 1,
            bucket_id: bucket.into(),
            name: name.into(),
            display_name: name.into(),
            primary_key: vec![],
            created: String::new(),
            last_import_date: None,
            last_change_date: None,
            is_typed: false,
            definition: serde_json::Value::Null,
            stats: Default::default(),
        }
    }

    #[test]
    fn a_table_is_named_by_its_bucket_and_name() {
        let sql = r#"select * from "IN.C-MCP_BUCKET"."customers" c join "in.c-other"."x" on 1=1"#.to_ascii_lowercase();
        assert!(names_table(&sql, &table("in.c-mcp_bucket", "customers")));
        assert!(!names_table(&sql, &table("in.c-mcp_bucket", "orders")));
        assert!(!names_table(&sql, &table("out.c-mcp_bucket", "customers")));
    }
}
