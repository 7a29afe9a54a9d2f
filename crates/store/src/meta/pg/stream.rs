//! The Stream service's records on PostgreSQL (`StreamStore`; see ../stream.rs). SQLite's
//! `INSERT OR REPLACE` is an upsert on the same primary key here.
use serde_json::Value;

use super::PgMetaStore;
use crate::meta::json_col;
use crate::meta::stream::{SliceRecord, StreamEntity, StreamStore};
use kbstack_core::Result as ApiResult;

fn entity(r: &postgres::Row) -> Result<StreamEntity, postgres::Error> {
    Ok(StreamEntity {
        project_id: r.try_get(0)?,
        branch_id: r.try_get(1)?,
        source_id: r.try_get(2)?,
        sink_id: r.try_get(3)?,
        body: json_col(r.try_get(4)?),
        deleted: super::flag(r, 5)?,
    })
}

fn slice(r: &postgres::Row) -> Result<SliceRecord, postgres::Error> {
    Ok(SliceRecord {
        project_id: r.try_get(0)?,
        branch_id: r.try_get(1)?,
        source_id: r.try_get(2)?,
        sink_id: r.try_get(3)?,
        slice_id: r.try_get(4)?,
        state: r.try_get(5)?,
        body: json_col(r.try_get(6)?),
        imported_ms: r.try_get(7)?,
    })
}

const ENTITY: &str = "SELECT project_id, branch_id, source_id, sink_id, body, deleted FROM stream_entities";
const SLICE: &str = "SELECT project_id, branch_id, source_id, sink_id, slice_id, state, body, imported_ms FROM stream_slices";

impl StreamStore for PgMetaStore {
    fn put_stream_entity(&self, e: &StreamEntity) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO stream_entities (project_id, branch_id, source_id, sink_id, body, deleted) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (project_id, branch_id, source_id, sink_id) DO UPDATE SET body = EXCLUDED.body, deleted = EXCLUDED.deleted",
                &[&e.project_id, &e.branch_id, &e.source_id, &e.sink_id, &e.body.to_string(), &(e.deleted as i64)],
            )
        })?;
        Ok(())
    }

    fn stream_entity(&self, project_id: i64, branch_id: i64, source_id: &str, sink_id: &str) -> ApiResult<Option<StreamEntity>> {
        self.with(|c| {
            c.query_opt(
                &format!("{ENTITY} WHERE project_id = $1 AND branch_id = $2 AND source_id = $3 AND sink_id = $4"),
                &[&project_id, &branch_id, &source_id, &sink_id],
            )?
            .as_ref()
            .map(entity)
            .transpose()
        })
    }

    fn stream_entities(&self, project_id: i64, branch_id: i64, source_id: Option<&str>) -> ApiResult<Vec<StreamEntity>> {
        self.with(|c| {
            let rows = match source_id {
                None => c.query(&format!("{ENTITY} WHERE project_id = $1 AND branch_id = $2 AND sink_id = '' ORDER BY source_id"), &[&project_id, &branch_id])?,
                Some(source) => c.query(
                    &format!("{ENTITY} WHERE project_id = $1 AND branch_id = $2 AND source_id = $3 AND sink_id <> '' ORDER BY sink_id"),
                    &[&project_id, &branch_id, &source],
                )?,
            };
            rows.iter().map(entity).collect()
        })
    }

    fn all_stream_entities(&self) -> ApiResult<Vec<StreamEntity>> {
        self.with(|c| c.query(&format!("{ENTITY} ORDER BY project_id, branch_id, source_id, sink_id"), &[])?.iter().map(entity).collect())
    }

    fn put_stream_task(&self, project_id: i64, task_id: &str, body: &Value) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO stream_tasks (task_id, project_id, body) VALUES ($1, $2, $3) \
                 ON CONFLICT (task_id) DO UPDATE SET project_id = EXCLUDED.project_id, body = EXCLUDED.body",
                &[&task_id, &project_id, &body.to_string()],
            )
        })?;
        Ok(())
    }

    fn stream_task(&self, project_id: i64, task_id: &str) -> ApiResult<Option<Value>> {
        self.with(|c| {
            Ok(c.query_opt("SELECT body FROM stream_tasks WHERE project_id = $1 AND task_id = $2", &[&project_id, &task_id])?
                .map(|r| r.try_get(0))
                .transpose()?
                .map(|b| json_col(Some(b))))
        })
    }

    fn put_stream_slice(&self, s: &SliceRecord) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO stream_slices (project_id, branch_id, source_id, sink_id, slice_id, state, body, imported_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (project_id, branch_id, source_id, sink_id, slice_id) \
                 DO UPDATE SET state = EXCLUDED.state, body = EXCLUDED.body, imported_ms = EXCLUDED.imported_ms",
                &[&s.project_id, &s.branch_id, &s.source_id, &s.sink_id, &s.slice_id, &s.state, &s.body.to_string(), &s.imported_ms],
            )
        })?;
        Ok(())
    }

    fn stream_slices(&self, project_id: i64, branch_id: i64, source_id: &str, sink_id: &str) -> ApiResult<Vec<SliceRecord>> {
        self.with(|c| {
            c.query(
                &format!("{SLICE} WHERE project_id = $1 AND branch_id = $2 AND source_id = $3 AND sink_id = $4 ORDER BY slice_id"),
                &[&project_id, &branch_id, &source_id, &sink_id],
            )?
            .iter()
            .map(slice)
            .collect()
        })
    }

    fn stream_slices_imported_before(&self, before_ms: i64) -> ApiResult<Vec<SliceRecord>> {
        self.with(|c| {
            c.query(&format!("{SLICE} WHERE imported_ms IS NOT NULL AND imported_ms < $1 ORDER BY slice_id"), &[&before_ms])?
                .iter()
                .map(slice)
                .collect()
        })
    }

    fn delete_stream_slice(&self, s: &SliceRecord) -> ApiResult<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM stream_slices WHERE project_id = $1 AND branch_id = $2 AND source_id = $3 AND sink_id = $4 AND slice_id = $5",
                &[&s.project_id, &s.branch_id, &s.source_id, &s.sink_id, &s.slice_id],
            )
        })?;
        Ok(())
    }
}
