//! Configuration variables: a configuration naming a `keboola.variables` configuration in
//! `variables_id` is a Mustache template; `{{ name }}` placeholders are filled with values from
//! the job's `variableValuesData`, else the job's `variableValuesId` row, else the configuration's
//! `variables_values_id` row (default values). A placeholder without a value is a user error;
//! `{{ vault.* }}` and triple-brace placeholders are left alone.
use serde_json::{Map, Value, json};

use crate::app::AppState;
use crate::queue::configs;
use crate::queue::store::Job;

pub const VARIABLES: &str = "keboola.variables";

fn values_of_row(cfg: &configs::StoredConfig, row_id: &str) -> Option<Map<String, Value>> {
    let row = cfg.row(row_id)?;
    let values = row["configuration"]["values"].as_array()?;
    Some(values.iter().filter_map(|v| Some((v["name"].as_str()?.to_string(), v["value"].clone()))).collect())
}

/// Render `configuration`; returns it with the variables used (`result.variables`).
pub fn render(state: &AppState, job: &Job, configuration: &Value) -> Result<(Value, Vec<Value>), String> {
    let Some(vid) = configuration.get("variables_id").and_then(crate::http::params::scalar_to_string).filter(|s| !s.is_empty()) else {
        return Ok((configuration.clone(), Vec::new()));
    };
    let vars = configs::load(state, job.project_id, job.branch_id, VARIABLES, &vid)
        .map_err(|e| e.0.message)?
        .ok_or_else(|| format!("Variable configuration \"{vid}\" (variables_id) not found."))?;
    let values: Map<String, Value> = if let Some(data) = job.def("variableValuesData")["values"].as_array().filter(|a| !a.is_empty()) {
        data.iter().filter_map(|v| Some((v["name"].as_str()?.to_string(), v["value"].clone()))).collect()
    } else if let Some(row) = &job.variable_values_id {
        values_of_row(&vars, row).ok_or_else(|| format!("Variable values \"{row}\" not found in variable configuration \"{vid}\"."))?
    } else if let Some(row) = configuration.get("variables_values_id").and_then(crate::http::params::scalar_to_string).filter(|s| !s.is_empty()) {
        values_of_row(&vars, &row).ok_or_else(|| format!("Variable values \"{row}\" not found in variable configuration \"{vid}\"."))?
    } else {
        Map::new()
    };
    let template = configuration.to_string();
    let (rendered, missing) = substitute(&template, &values);
    if !missing.is_empty() {
        return Err(format!("Missing values for placeholders: {}", missing.join(", ")));
    }
    let out: Value = serde_json::from_str(&rendered).map_err(|e| format!("The configuration is not valid JSON after rendering variables: {e}"))?;
    let used = values.iter().map(|(k, v)| json!({"name": k, "value": v})).collect();
    Ok((out, used))
}

/// Replace `{{ name }}` (not `{{{`, not `vault.`) with the JSON-string-escaped value.
fn substitute(template: &str, values: &Map<String, Value>) -> (String, Vec<String>) {
    let mut out = String::with_capacity(template.len());
    let mut missing = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let (before, after) = rest.split_at(start);
        out.push_str(before);
        if after.starts_with("{{{") || !after.contains("}}") {
            out.push_str("{{");
            rest = &after[2..];
            continue;
        }
        let end = after.find("}}").unwrap_or(after.len());
        let name = after[2..end].trim();
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid || name.starts_with("vault.") {
            out.push_str(&after[..end + 2]);
        } else {
            match values.get(name) {
                Some(v) => {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let escaped = serde_json::to_string(&text).unwrap_or_default();
                    out.push_str(&escaped[1..escaped.len() - 1]);
                }
                None => {
                    if !missing.contains(&name.to_string()) {
                        missing.push(name.to_string());
                    }
                    out.push_str(&after[..end + 2]);
                }
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    (out, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        let mut v = Map::new();
        v.insert("city".into(), json!("Pra\"gue"));
        let (out, missing) = substitute(r#"{"q": "city = '{{ city }}' {{vault.key}} {{{raw}}} {{ nope }}"}"#, &v);
        assert_eq!(out, r#"{"q": "city = 'Pra\"gue' {{vault.key}} {{{raw}}} {{ nope }}"}"#);
        assert_eq!(missing, vec!["nope"]);
    }
}
