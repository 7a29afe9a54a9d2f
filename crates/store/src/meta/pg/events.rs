//! Events on PostgreSQL (`EventStore`; see ../events.rs). The listing's SQL is the SQLite
//! store's, built in PostgreSQL's dialect and with numbered marks.
use postgres::types::ToSql;

use super::{PgMetaStore, pg_params};
use crate::meta::conditions::numbered;
use crate::meta::events::{COLUMNS, EventFilter, EventRecord, EventStore, NewEventRecord, listing};
use crate::meta::json_col;
use kbstack_core::Result as ApiResult;
use kbstack_core::ids::{EventId, ProjectId};

fn from_row(r: &postgres::Row) -> Result<EventRecord, postgres::Error> {
    Ok(EventRecord {
        id: r.try_get(0)?,
        uuid: r.try_get(1)?,
        project_id: r.try_get(2)?,
        branch_id: r.try_get(3)?,
        token_id: r.try_get(4)?,
        token_name: r.try_get(5)?,
        event: r.try_get(6)?,
        component: r.try_get(7)?,
        message: r.try_get(8)?,
        description: r.try_get(9)?,
        kind: r.try_get(10)?,
        run_id: r.try_get(11)?,
        created: r.try_get(12)?,
        configuration_id: r.try_get(13)?,
        object_id: r.try_get(14)?,
        object_name: r.try_get(15)?,
        object_type: r.try_get(16)?,
        params: json_col(r.try_get(17)?),
        results: json_col(r.try_get(18)?),
        performance: json_col(r.try_get(19)?),
        duration: r.try_get(20)?,
        context: json_col(r.try_get(21)?),
    })
}

impl PgMetaStore {
    fn one_event(&self, filter: &str, key: &(dyn ToSql + Sync), project: ProjectId) -> ApiResult<Option<EventRecord>> {
        self.with(|c| {
            c.query_opt(&format!("SELECT {COLUMNS} FROM events WHERE {filter} = $1 AND project_id = $2"), &[key, &project.get()])?
                .as_ref()
                .map(from_row)
                .transpose()
        })
    }
}

impl EventStore for PgMetaStore {
    fn insert_event(&self, e: &NewEventRecord) -> ApiResult<EventId> {
        let id: i64 = self.with(|c| {
            c.query_one(
                "INSERT INTO events (uuid, project_id, branch_id, token_id, token_name, event, component, message, description, \
                 type, run_id, created, configuration_id, object_id, object_name, object_type, params, results, duration, context) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) RETURNING id",
                &[
                    &e.uuid,
                    &e.scope.project.get(),
                    &e.scope.branch.get(),
                    &e.token_id.get(),
                    &e.token_name,
                    &e.event,
                    &e.component,
                    &e.message,
                    &e.description,
                    &e.kind,
                    &e.run_id,
                    &e.created,
                    &e.configuration_id,
                    &e.object_id,
                    &e.object_name,
                    &e.object_type,
                    &e.params.to_string(),
                    &e.results.to_string(),
                    &e.duration,
                    &e.context.to_string(),
                ],
            )?
            .try_get(0)
        })?;
        Ok(EventId(id))
    }

    fn event(&self, project: ProjectId, id: EventId) -> ApiResult<Option<EventRecord>> {
        self.one_event("id", &id.get(), project)
    }

    fn event_by_uuid(&self, project: ProjectId, uuid: &str) -> ApiResult<Option<EventRecord>> {
        self.one_event("uuid", &uuid, project)
    }

    fn events(&self, f: &EventFilter) -> ApiResult<Vec<EventRecord>> {
        let (sql, args) = listing(f, true);
        let params = pg_params(args);
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        self.with(|c| c.query(&numbered(&sql), &refs)?.iter().map(from_row).collect())
    }
}
