//! The Schedule object of `/scheduler/schedules…` (notes: services.md §2): ids as strings, the
//! `schedule` and `target` as activated, recent `executions` newest first.
use serde::Serialize;
use serde_json::Value;

use crate::meta::schedules::{ScheduleExecution, ScheduleRecord};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    pub id: String,
    pub token_id: String,
    pub configuration_id: String,
    pub configuration_version_id: String,
    pub schedule: Value,
    pub target: Value,
    pub executions: Vec<Execution>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    pub job_id: String,
    pub execution_time: String,
}

impl Schedule {
    pub fn of(record: &ScheduleRecord, executions: &[ScheduleExecution]) -> Schedule {
        Schedule {
            id: record.id.to_string(),
            token_id: record.token_id.to_string(),
            configuration_id: record.configuration_id.clone(),
            configuration_version_id: record.configuration_version_id.clone(),
            schedule: record.body["schedule"].clone(),
            target: record.body["target"].clone(),
            executions: executions
                .iter()
                .map(|e| Execution { job_id: e.job_id.clone(), execution_time: crate::queue::iso_ms(e.execution_ms) })
                .collect(),
        }
    }
}
