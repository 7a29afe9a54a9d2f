//! What a `keboola.scheduler` configuration says: `{schedule: {cronTab, timezone, state},
//! target: {componentId, configurationId, configurationRowIds?, mode, tag?, variableValuesId?}}`,
//! checked at activation (a 400 names the field) and read again, already valid, when firing.
use serde_json::{Value, json};

use super::cron::CronSpec;
use crate::http::params::scalar_to_string;

pub const SCHEDULER_COMPONENT: &str = "keboola.scheduler";

#[derive(Debug, Clone)]
pub struct Definition {
    pub cron_tab: String,
    pub timezone: String,
    pub enabled: bool,
    pub cron: CronSpec,
    pub component_id: String,
    pub configuration_id: String,
    pub configuration_row_ids: Vec<String>,
    pub mode: String,
    pub tag: String,
    pub variable_values_id: Option<String>,
}

fn text(v: &Value) -> Option<String> {
    scalar_to_string(v).filter(|s| !s.is_empty())
}

impl Definition {
    /// Read the configuration's `configuration` node.
    pub fn read(configuration: &Value) -> Result<Definition, String> {
        let schedule = &configuration["schedule"];
        let target = &configuration["target"];
        if !schedule.is_object() {
            return Err("The configuration has no \"schedule\" object ({cronTab, timezone, state}).".into());
        }
        if !target.is_object() {
            return Err("The configuration has no \"target\" object ({componentId, configurationId, mode}).".into());
        }
        let cron_tab = text(&schedule["cronTab"]).ok_or("schedule.cronTab: This value should not be blank.")?;
        let timezone = text(&schedule["timezone"]).unwrap_or_else(|| "UTC".into());
        let enabled = match text(&schedule["state"]).as_deref() {
            None | Some("enabled") => true,
            Some("disabled") => false,
            Some(other) => return Err(format!("schedule.state: \"{other}\" is not valid; allowed: enabled, disabled.")),
        };
        let cron = CronSpec::parse(&cron_tab, &timezone).map_err(|e| format!("schedule: {e}"))?;
        let component_id = text(&target["componentId"]).ok_or("target.componentId: This value should not be blank.")?;
        let configuration_id = text(&target["configurationId"]).ok_or("target.configurationId: This value should not be blank.")?;
        let configuration_row_ids = match &target["configurationRowIds"] {
            Value::Null => Vec::new(),
            Value::Array(items) => items
                .iter()
                .map(|v| text(v).ok_or_else(|| "target.configurationRowIds: each item should be a row id.".to_string()))
                .collect::<Result<_, _>>()?,
            _ => return Err("target.configurationRowIds: This value should be an array of row ids.".into()),
        };
        let mode = text(&target["mode"]).unwrap_or_else(|| "run".into());
        if !["run", "forceRun", "debug"].contains(&mode.as_str()) {
            return Err(format!("target.mode: \"{mode}\" is not valid; allowed: run, forceRun, debug."));
        }
        Ok(Definition {
            cron_tab,
            timezone,
            enabled,
            cron,
            component_id,
            configuration_id,
            configuration_row_ids,
            mode,
            tag: text(&target["tag"]).unwrap_or_default(),
            variable_values_id: text(&target["variableValuesId"]),
        })
    }

    /// What the schedule keeps of it (and shows on the wire).
    pub fn body(&self) -> Value {
        let mut target = json!({
            "componentId": self.component_id,
            "configurationId": self.configuration_id,
            "configurationRowIds": self.configuration_row_ids,
            "mode": self.mode,
            "tag": self.tag,
        });
        if let Some(v) = &self.variable_values_id {
            target["variableValuesId"] = json!(v);
        }
        json!({
            "schedule": {"cronTab": self.cron_tab, "timezone": self.timezone, "state": if self.enabled { "enabled" } else { "disabled" }},
            "target": target,
        })
    }
}
