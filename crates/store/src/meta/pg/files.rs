//! File records on PostgreSQL (`FileRecordStore`; see ../files.rs). The search's SQL is the SQLite
//! store's, built in PostgreSQL's dialect (GLOB as an anchored regular expression, `jsonb` lists).
use postgres::types::ToSql;
use serde_json::json;

use super::{PgMetaStore, flag, pg_params};
use crate::meta::conditions::numbered;
use crate::meta::files::{FILE_COLUMNS, FileRecord, FileRecordStore, FileSearch, NewFileRecord, search_sql, string_list};
use kbstack_core::Result as ApiResult;
use kbstack_core::ids::{FileId, ProjectId};

fn from_row(r: &postgres::Row) -> Result<FileRecord, postgres::Error> {
    Ok(FileRecord {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        name: r.try_get(2)?,
        is_sliced: flag(r, 3)?,
        blob_path: r.try_get(4)?,
        size_bytes: r.try_get(5)?,
        branch_id: r.try_get(6)?,
        content_type: r.try_get(7)?,
        is_public: flag(r, 8)?,
        is_encrypted: flag(r, 9)?,
        is_permanent: flag(r, 10)?,
        created: r.try_get(11)?,
        expires_at: r.try_get(12)?,
        creator_token_id: r.try_get(13)?,
        creator_description: r.try_get(14)?,
        run_id: r.try_get(15)?,
        run_ids: string_list(r.try_get(16)?),
        tags: string_list(r.try_get(17)?),
    })
}

impl FileRecordStore for PgMetaStore {
    fn insert_file(&self, f: &NewFileRecord, blob_path_for: &dyn Fn(FileId) -> String) -> ApiResult<FileId> {
        Ok(self.tx(|tx| -> Result<FileId, postgres::Error> {
            // Ids come from the sequence (never reused after a delete), as on SQLite.
            let id: i64 = tx
                .query_one(
                    "INSERT INTO sequences (name, value) VALUES ('files', (SELECT COALESCE(MAX(id), 0) + 1 FROM files)) \
                     ON CONFLICT (name) DO UPDATE SET value = sequences.value + 1 RETURNING value",
                    &[],
                )?
                .try_get(0)?;
            tx.execute(
                "INSERT INTO files (id, project_id, branch_id, name, size_bytes, content_type, is_public, is_sliced, \
                 is_encrypted, is_permanent, created, expires_at, creator_token_id, creator_description, run_id, run_ids, \
                 blob_path, tags) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
                &[
                    &id,
                    &f.scope.project.get(),
                    &f.scope.branch.get(),
                    &f.name,
                    &f.size_bytes,
                    &f.content_type,
                    &(f.is_public as i64),
                    &(f.is_sliced as i64),
                    &(f.is_encrypted as i64),
                    &(f.is_permanent as i64),
                    &f.created,
                    &f.expires_at,
                    &f.creator_token_id.get(),
                    &f.creator_description,
                    &f.run_id,
                    &json!(f.run_ids).to_string(),
                    &blob_path_for(FileId(id)),
                    &json!(f.tags).to_string(),
                ],
            )?;
            Ok(FileId(id))
        })?)
    }

    fn file(&self, project: ProjectId, id: FileId) -> ApiResult<Option<FileRecord>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {FILE_COLUMNS} FROM files WHERE id = $1 AND project_id = $2"), &[&id.get(), &project.get()])?
                .as_ref()
                .map(from_row)
                .transpose()
        })
    }

    fn search_files(&self, s: &FileSearch) -> ApiResult<Vec<FileRecord>> {
        let (sql, args) = search_sql(s, true);
        let params = pg_params(args);
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        self.with(|c| c.query(&numbered(&sql), &refs)?.iter().map(from_row).collect())
    }

    fn set_file_size(&self, id: FileId, size_bytes: i64) -> ApiResult<()> {
        self.with(|c| c.execute("UPDATE files SET size_bytes = $1 WHERE id = $2", &[&size_bytes, &id.get()]))?;
        Ok(())
    }

    fn set_file_tags(&self, id: FileId, tags: &[String]) -> ApiResult<()> {
        self.with(|c| c.execute("UPDATE files SET tags = $1 WHERE id = $2", &[&json!(tags).to_string(), &id.get()]))?;
        Ok(())
    }

    fn delete_file(&self, id: FileId) -> ApiResult<()> {
        self.with(|c| c.execute("DELETE FROM files WHERE id = $1", &[&id.get()]))?;
        Ok(())
    }
}
