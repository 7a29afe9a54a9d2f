//! What an Orchestrator v2 request says (tasks, notifications, crontab), checked field by field
//! (a 400 names the field), and its translation into the `keboola.orchestrator` flow the Queue
//! runs: consecutive tasks with the same `phase` form one phase (they run together, as
//! Orchestrator v2 ran them); a task without a phase is a phase of its own; each phase depends
//! on the one before.
use serde_json::{Map, Value, json};

use crate::http::params::scalar_to_string;
use crate::scheduler::cron::CronSpec;

pub const CHANNELS: &[&str] = &["error", "waiting", "processing"];

fn invalid(msg: impl std::fmt::Display) -> String {
    format!("Invalid request:\n - {msg}")
}

/// `crontabRecord`: a 5-field crontab in UTC; empty or null means no schedule.
pub fn crontab(v: Option<&Value>) -> Result<Option<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => {
            CronSpec::parse(s.trim(), "UTC").map_err(|e| invalid(format!("crontabRecord: {e}")))?;
            Ok(Some(s.trim().to_string()))
        }
        Some(_) => Err(invalid("crontabRecord: This value should be a crontab string (\"0 * * * *\").")),
    }
}

/// A list sent as JSON or as a string holding JSON (the PHP client's `updateTasks`).
fn list_of(v: &Value, key: &str) -> Result<Vec<Value>, String> {
    match v {
        Value::Array(items) => Ok(items.clone()),
        Value::Object(o) if o.is_empty() => Ok(Vec::new()),
        Value::Object(o) if o.get(key).is_some_and(Value::is_array) => list_of(&o[key], key),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(inner @ (Value::Array(_) | Value::Object(_))) => list_of(&inner, key),
            _ => Err(invalid(format!("{key}: This value should be an array."))),
        },
        _ => Err(invalid(format!("{key}: This value should be an array."))),
    }
}

fn bool_of(v: Option<&Value>, default: bool, what: &str) -> Result<bool, String> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(v) => crate::http::params::parse_bool(v).ok_or_else(|| invalid(format!("{what}: This value should be a boolean."))),
    }
}

/// Tasks in their stored form: every attribute present, an `id` for each (kept if given).
pub fn tasks(v: &Value) -> Result<Vec<Value>, String> {
    let items = list_of(v, "tasks")?;
    let mut out = Vec::with_capacity(items.len());
    let mut next_id = items.iter().filter_map(|t| t["id"].as_i64()).max().unwrap_or(0) + 1;
    for (i, item) in items.iter().enumerate() {
        let Some(t) = item.as_object() else { return Err(invalid(format!("tasks[{i}]: This value should be an object."))) };
        let text = |key: &str| t.get(key).and_then(scalar_to_string).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let component = text("component");
        let component_url = text("componentUrl");
        if component.is_none() && component_url.is_none() {
            return Err(invalid(format!("tasks[{i}]: One of \"component\" and \"componentUrl\" must be set.")));
        }
        if let Some(url) = &component_url {
            if !url.starts_with("https://") || url.len() <= "https://".len() {
                return Err(invalid(format!("tasks[{i}].componentUrl: Only an https URL is allowed, not \"{url}\".")));
            }
        }
        let action_parameters = match t.get("actionParameters") {
            None | Some(Value::Null) => json!({}),
            Some(Value::Object(o)) => Value::Object(o.clone()),
            Some(Value::Array(a)) if a.is_empty() => json!({}),
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(v @ Value::Object(_)) => v,
                _ => return Err(invalid(format!("tasks[{i}].actionParameters: This value should be an object."))),
            },
            Some(_) => return Err(invalid(format!("tasks[{i}].actionParameters: This value should be an object."))),
        };
        let timeout = match t.get("timeoutMinutes") {
            None | Some(Value::Null) => Value::Null,
            Some(v) => match scalar_to_string(v).and_then(|s| s.trim().parse::<i64>().ok()) {
                Some(n) if n > 0 => json!(n),
                Some(_) => Value::Null,
                None => return Err(invalid(format!("tasks[{i}].timeoutMinutes: This value should be an integer."))),
            },
        };
        let id = match t.get("id").and_then(|v| scalar_to_string(v)).and_then(|s| s.parse::<i64>().ok()) {
            Some(id) => id,
            None => {
                next_id += 1;
                next_id - 1
            }
        };
        let phase = match t.get("phase") {
            None | Some(Value::Null) => Value::Null,
            Some(v) => match scalar_to_string(v) {
                Some(s) if !s.is_empty() => json!(s),
                Some(_) => Value::Null,
                None => return Err(invalid(format!("tasks[{i}].phase: This value should be a string."))),
            },
        };
        out.push(json!({
            "id": id,
            "component": component,
            "componentUrl": component_url,
            "action": text("action"),
            "actionParameters": action_parameters,
            "continueOnFailure": bool_of(t.get("continueOnFailure"), false, &format!("tasks[{i}].continueOnFailure"))?,
            "timeoutMinutes": timeout,
            "active": bool_of(t.get("active"), true, &format!("tasks[{i}].active"))?,
            "phase": phase,
        }));
    }
    Ok(out)
}

/// Notifications in their stored form `{email, channel, parameters}`.
pub fn notifications(v: &Value) -> Result<Vec<Value>, String> {
    let items = list_of(v, "notifications")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(n) = item.as_object() else { return Err(invalid(format!("notifications[{i}]: This value should be an object."))) };
        let email = n.get("email").and_then(Value::as_str).map(str::trim).unwrap_or("");
        crate::notification::valid_email(email).map_err(|_| invalid(format!("notifications[{i}].email: \"{email}\" is not a valid email address.")))?;
        let channel = n.get("channel").and_then(Value::as_str).map(str::trim).unwrap_or("");
        if !CHANNELS.contains(&channel) {
            return Err(invalid(format!("notifications[{i}].channel: \"{channel}\" is not valid; allowed: error, waiting, processing.")));
        }
        let parameters = match n.get("parameters") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(o)) => o.clone(),
            Some(Value::Array(a)) if a.is_empty() => Map::new(),
            Some(_) => return Err(invalid(format!("notifications[{i}].parameters: This value should be an object."))),
        };
        for key in ["timeout", "tolerance"] {
            if let Some(v) = parameters.get(key) {
                if scalar_to_string(v).and_then(|s| s.parse::<f64>().ok()).is_none() {
                    return Err(invalid(format!("notifications[{i}].parameters.{key}: This value should be a number.")));
                }
            }
        }
        out.push(json!({"email": email, "channel": channel, "parameters": parameters}));
    }
    Ok(out)
}

/// The component a task runs: `component`, else the Syrup component of `componentUrl`
/// (`https://syrup…/{component}/…`, `…/docker/{component}/run`).
pub fn task_component(task: &Value) -> String {
    if let Some(c) = task["component"].as_str().filter(|c| !c.is_empty()) {
        return c.to_string();
    }
    let url = task["componentUrl"].as_str().unwrap_or("");
    let path = url.strip_prefix("https://").and_then(|r| r.split_once('/')).map(|(_, p)| p).unwrap_or("");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["docker", component, ..] => component.to_string(),
        [component, ..] => component.to_string(),
        [] => url.to_string(),
    }
}

/// `{phases, tasks}` of the `keboola.orchestrator` configuration the tasks run as. A task's
/// `actionParameters` are the Syrup run body: `config`, `row`, `configData`.
pub fn flow(tasks: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let mut phases: Vec<Value> = Vec::new();
    let mut flow_tasks = Vec::new();
    let mut previous: Option<Value> = None;
    for task in tasks {
        let phase = &task["phase"];
        if phases.is_empty() || phase.is_null() || previous.as_ref() != Some(phase) {
            let id = phases.len() + 1;
            let depends: Vec<Value> = if id > 1 { vec![json!(id - 1)] } else { Vec::new() };
            let name = phase.as_str().map(str::to_string).unwrap_or_else(|| format!("Phase {id}"));
            phases.push(json!({"id": id, "name": name, "dependsOn": depends}));
        }
        previous = Some(phase.clone());
        let phase_id = phases.len();
        let component = task_component(task);
        let params = &task["actionParameters"];
        let mut spec = json!({"componentId": component, "mode": "run"});
        if let Some(c) = params.get("config").and_then(scalar_to_string).filter(|c| !c.is_empty()) {
            spec["configId"] = json!(c);
        }
        if let Some(r) = params.get("row").and_then(scalar_to_string).filter(|r| !r.is_empty()) {
            spec["configRowIds"] = json!([r]);
        }
        if let Some(cd) = params.get("configData").filter(|v| v.is_object()) {
            spec["configData"] = cd.clone();
        }
        flow_tasks.push(json!({
            "id": task["id"],
            "name": component,
            "phase": phase_id,
            "task": spec,
            "continueOnFailure": task["continueOnFailure"],
            "enabled": task["active"],
        }));
    }
    (phases, flow_tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_with_the_same_phase_run_together() {
        let t = tasks(&json!([
            {"component": "a", "actionParameters": {"config": "1"}, "phase": "extract"},
            {"component": "b", "actionParameters": {"config": 2}, "phase": "extract"},
            {"componentUrl": "https://syrup.keboola.com/docker/c/run", "actionParameters": {"config": "3", "row": "r"}},
            {"component": "d", "active": false, "continueOnFailure": "1"}
        ]))
        .unwrap();
        assert_eq!(t.iter().map(|t| t["id"].as_i64().unwrap()).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        let (phases, ft) = flow(&t);
        assert_eq!(phases.len(), 3);
        assert_eq!(phases[0]["name"], "extract");
        assert_eq!(phases[2]["dependsOn"], json!([2]));
        assert_eq!(ft[1]["phase"], 1);
        assert_eq!(ft[1]["task"]["configId"], "2");
        assert_eq!(ft[2]["task"], json!({"componentId": "c", "mode": "run", "configId": "3", "configRowIds": ["r"]}));
        assert_eq!(ft[3]["enabled"], false);
        assert_eq!(ft[3]["continueOnFailure"], true);
    }

    #[test]
    fn refuses_bad_tasks_and_notifications() {
        for bad in [json!([{"action": "run"}]), json!([{"componentUrl": "http://x/y"}]), json!("x"), json!([{"component": "a", "timeoutMinutes": "x"}])] {
            assert!(tasks(&bad).is_err(), "{bad}");
        }
        for bad in [json!([{"email": "nope", "channel": "error"}]), json!([{"email": "a@b.cz", "channel": "sms"}]), json!([{"email": "a@b.cz", "channel": "waiting", "parameters": {"timeout": "x"}}])] {
            assert!(notifications(&bad).is_err(), "{bad}");
        }
        assert!(crontab(Some(&json!("61 * * * *"))).is_err());
        assert_eq!(crontab(Some(&json!(""))).unwrap(), None);
    }
}
