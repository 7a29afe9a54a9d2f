//! Variables in a configuration, resolved in Keboola's order (runner.md §9): first Vault
//! variables, `{{ vault.KEY }}` replaced by the values in effect for the job's branch
//! (`crate::vault::scoped_for_branch`; an encrypted one opened for the job, its plain value a
//! secret the log hides); then configuration variables: a configuration naming a
//! `keboola.variables` configuration in `variables_id` is a Mustache template; `{{ name }}`
//! placeholders are filled with values from the job's `variableValuesData`, else the job's
//! `variableValuesId` row, else the configuration's `variables_values_id` row (default values).
//! A placeholder of either kind without a value is a user error naming them all; triple-brace
//! placeholders are left alone. Before both, shared code (`render_shared_code`) is put in.
use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::app::AppState;
use crate::encryption::Scope;
use crate::meta::vault_variables::VaultVariable;
use crate::queue::configs;
use crate::queue::store::Job;

pub const VARIABLES: &str = "keboola.variables";
pub const SHARED_CODE: &str = "keboola.shared-code";

/// `{{ name }}` as a whole script line (spaces around allowed): the name.
fn whole_placeholder(line: &str) -> Option<&str> {
    let inner = line.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    (!inner.is_empty() && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')).then_some(inner)
}

/// Shared code put in (Keboola's `SharedCodeResolver`): a configuration naming a
/// `keboola.shared-code` configuration in `shared_code_id` and some of its rows in
/// `shared_code_row_ids` has each script line of `parameters.blocks[].codes[].script[]` that is
/// exactly `{{ rowId }}` replaced by that row's `code_content` lines. Other lines are left as
/// they are; a named row that does not exist is a user error.
pub fn render_shared_code(state: &AppState, project_id: i64, branch_id: i64, configuration: &Value) -> Result<Value, String> {
    let text = |v: &Value| crate::http::params::scalar_to_string(v).filter(|s| !s.is_empty());
    let Some(id) = configuration.get("shared_code_id").and_then(text) else { return Ok(configuration.clone()) };
    let row_ids: Vec<String> = configuration.get("shared_code_row_ids").and_then(Value::as_array).into_iter().flatten().filter_map(text).collect();
    if row_ids.is_empty() {
        return Ok(configuration.clone());
    }
    let shared = configs::load(state, project_id, branch_id, SHARED_CODE, &id)
        .map_err(|e| e.0.message)?
        .ok_or_else(|| format!("Shared code configuration \"{id}\" (shared_code_id) not found."))?;
    let mut codes: HashMap<String, Vec<Value>> = HashMap::new();
    for row_id in row_ids {
        let row = shared.row(&row_id).ok_or_else(|| format!("Shared code row \"{row_id}\" not found in shared code configuration \"{id}\"."))?;
        let lines = match &row["configuration"]["code_content"] {
            Value::String(s) => vec![json!(s)],
            Value::Array(items) if items.iter().all(Value::is_string) => items.clone(),
            _ => return Err(format!("Shared code row \"{row_id}\" has no code_content (a string or a list of strings).")),
        };
        codes.insert(row_id, lines);
    }
    let mut out = configuration.clone();
    for block in out["parameters"]["blocks"].as_array_mut().into_iter().flatten() {
        for code in block["codes"].as_array_mut().into_iter().flatten() {
            let Some(script) = code["script"].as_array() else { continue };
            let mut lines = Vec::with_capacity(script.len());
            for line in script {
                match line.as_str().and_then(whole_placeholder).and_then(|name| codes.get(name)) {
                    Some(shared_lines) => lines.extend(shared_lines.iter().cloned()),
                    None => lines.push(line.clone()),
                }
            }
            code["script"] = Value::Array(lines);
        }
    }
    Ok(out)
}

fn values_of_row(cfg: &configs::StoredConfig, row_id: &str) -> Option<Map<String, Value>> {
    let row = cfg.row(row_id)?;
    let values = row["configuration"]["values"].as_array()?;
    Some(values.iter().filter_map(|v| Some((v["name"].as_str()?.to_string(), v["value"].clone()))).collect())
}

/// A configuration with its variables in place.
#[derive(Debug)]
pub struct Rendered {
    pub configuration: Value,
    /// The configuration variables' values (`result.variables`).
    pub used: Vec<Value>,
    /// The placeholders replaced (`vault.KEY`, configuration variable names), for the log.
    pub replaced: Vec<String>,
    /// Plain values of the encrypted Vault variables put in: the runner hides them in its log.
    pub secrets: Vec<String>,
}

/// The error of placeholders left without a value (Keboola's `VariablesResolver`).
pub fn missing_error(missing: &[String]) -> String {
    format!("Missing values for placeholders: {}", missing.join(", "))
}

/// Render `configuration` for `job`; `scope` is the job's cipher scope (for encrypted Vault
/// variables).
pub fn render(state: &AppState, job: &Job, configuration: &Value, scope: &Scope) -> Result<Rendered, String> {
    // Shared code first: its code may hold variables too (Keboola's order).
    let configuration = &render_shared_code(state, job.project_id, job.branch_id, configuration)?;
    let vault = render_vault(state, job.project_id, job.branch_id, scope, configuration)?;
    let mut missing = vault.missing;
    let mut replaced = vault.replaced;
    let configuration = vault.configuration;
    let Some(vid) = configuration.get("variables_id").and_then(crate::http::params::scalar_to_string).filter(|s| !s.is_empty()) else {
        if !missing.is_empty() {
            return Err(missing_error(&missing));
        }
        return Ok(Rendered { configuration, used: Vec::new(), replaced, secrets: vault.secrets });
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
    let (rendered, config_missing, config_replaced) = substitute(&template, &values);
    missing.extend(config_missing);
    replaced.extend(config_replaced);
    if !missing.is_empty() {
        return Err(missing_error(&missing));
    }
    let out: Value = serde_json::from_str(&rendered).map_err(|e| format!("The configuration is not valid JSON after rendering variables: {e}"))?;
    let used = values.iter().map(|(k, v)| json!({"name": k, "value": v})).collect();
    Ok(Rendered { configuration: out, used, replaced, secrets: vault.secrets })
}

/// A configuration with its `{{ vault.KEY }}` placeholders replaced.
#[derive(Debug, Default)]
pub struct VaultRendered {
    pub configuration: Value,
    /// `vault.KEY` of each placeholder without a variable (left in place).
    pub missing: Vec<String>,
    /// `vault.KEY` of each placeholder replaced.
    pub replaced: Vec<String>,
    /// The plain values of encrypted variables put in.
    pub secrets: Vec<String>,
}

fn push_once(list: &mut Vec<String>, name: String) {
    if !list.contains(&name) {
        list.push(name);
    }
}

/// Replace `{{ vault.KEY }}` in `configuration` (as JSON text, the value JSON-escaped, as
/// Keboola's `RegexRenderer` does) with the variables in effect in `branch_id` of the project,
/// loaded only when a placeholder is found. An encrypted variable is opened for `scope`; one that
/// does not open is a user error.
pub fn render_vault(state: &AppState, project_id: i64, branch_id: i64, scope: &Scope, configuration: &Value) -> Result<VaultRendered, String> {
    let text = configuration.to_string();
    let placeholders = vault_placeholders(&text);
    if placeholders.is_empty() {
        return Ok(VaultRendered { configuration: configuration.clone(), ..Default::default() });
    }
    let variables: HashMap<String, VaultVariable> = crate::vault::scoped_for_branch(state, project_id, branch_id, &Default::default())
        .map_err(|e| e.0.message)?
        .into_iter()
        .map(|v| (v.key.clone(), v))
        .collect();
    let mut out = VaultRendered::default();
    let mut rendered = String::with_capacity(text.len());
    let mut last = 0;
    for p in placeholders {
        rendered.push_str(&text[last..p.start]);
        last = p.end;
        let name = format!("vault.{}", p.name);
        let Some(v) = variables.get(p.name) else {
            rendered.push_str(&text[p.start..p.end]);
            push_once(&mut out.missing, name);
            continue;
        };
        let value = if crate::vault::is_encrypted(v) {
            crate::encryption::decrypt_one(state, scope, &name, &v.value, &mut out.secrets)?
        } else {
            v.value.clone()
        };
        let escaped = serde_json::to_string(&value).unwrap_or_default();
        rendered.push_str(&escaped[1..escaped.len() - 1]);
        push_once(&mut out.replaced, name);
    }
    rendered.push_str(&text[last..]);
    out.configuration = if out.replaced.is_empty() {
        configuration.clone()
    } else {
        serde_json::from_str(&rendered).map_err(|e| format!("Variable replacement resulted in invalid configuration, error: {e}"))?
    };
    Ok(out)
}

/// Where a `{{ vault.NAME }}` placeholder stands in a text.
#[derive(Debug, PartialEq)]
struct Placeholder<'a> {
    start: usize,
    end: usize,
    name: &'a str,
}

/// PCRE's `\s`: space, tab, line feed, vertical tab, form feed, carriage return.
fn is_pcre_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// The placeholders Keboola's regex `(?<!{){{\s*(vault\.[a-zA-Z0-9_-]+)\s*}}` finds, left to
/// right. Rust's `regex` has no look-behind, so the pattern is matched by hand: a candidate at
/// each `{{` not preceded by `{`, and after a failed candidate the search resumes one byte
/// later, as the regex engine does.
fn vault_placeholders(text: &str) -> Vec<Placeholder<'_>> {
    let b = text.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = text[from..].find("{{") {
        let start = from + offset;
        from = start + 1;
        if start > 0 && b[start - 1] == b'{' {
            continue;
        }
        let mut i = start + 2;
        while i < b.len() && is_pcre_space(b[i]) {
            i += 1;
        }
        if !b[i..].starts_with(b"vault.") {
            continue;
        }
        i += "vault.".len();
        let name_start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'-') {
            i += 1;
        }
        let name_end = i;
        while i < b.len() && is_pcre_space(b[i]) {
            i += 1;
        }
        if name_end == name_start || !b[i..].starts_with(b"}}") {
            continue;
        }
        found.push(Placeholder { start, end: i + 2, name: &text[name_start..name_end] });
        from = i + 2;
    }
    found
}

/// Replace `{{ name }}` (not `{{{`, not `vault.`) with the JSON-string-escaped value; the
/// names without a value and those replaced.
fn substitute(template: &str, values: &Map<String, Value>) -> (String, Vec<String>, Vec<String>) {
    let mut out = String::with_capacity(template.len());
    let mut missing = Vec::new();
    let mut replaced = Vec::new();
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
                    push_once(&mut replaced, name.to_string());
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
    (out, missing, replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        let mut v = Map::new();
        v.insert("city".into(), json!("Pra\"gue"));
        let (out, missing, replaced) = substitute(r#"{"q": "city = '{{ city }}' {{vault.key}} {{{raw}}} {{ nope }}"}"#, &v);
        assert_eq!(out, r#"{"q": "city = 'Pra\"gue' {{vault.key}} {{{raw}}} {{ nope }}"}"#);
        assert_eq!(missing, vec!["nope"]);
        assert_eq!(replaced, vec!["city"]);
    }

    fn names(text: &str) -> Vec<&str> {
        vault_placeholders(text).into_iter().map(|p| p.name).collect()
    }

    #[test]
    fn vault_placeholders_as_keboola_matches_them() {
        assert_eq!(names(r#"{"a": "{{ vault.db-host }}", "b": "x{{vault.user_1}}y", "c": "{{   vault.A }}"}"#), vec!["db-host", "user_1", "A"]);
        // Not after a third brace, not with other characters, not without a name or the prefix.
        for none in ["{{{ vault.x }}}", "{{ vault.x.y }}", "{{ vault. }}", "{{ x }}", "{{ vault.x }", "{{ vault.x } }", "{ { vault.x }}", "{{ Vault.x }}", "{{ vault.ключ }}"] {
            assert!(names(none).is_empty(), "{none}");
        }
        // A rejected candidate does not hide one that starts inside it.
        assert_eq!(names("{{ {{ vault.inner }}"), vec!["inner"]);
        assert_eq!(names("{{{{ vault.x }}"), Vec::<&str>::new());
        let text = "a {{ vault.k }} b";
        let p = &vault_placeholders(text)[0];
        assert_eq!(&text[p.start..p.end], "{{ vault.k }}");
    }
}
