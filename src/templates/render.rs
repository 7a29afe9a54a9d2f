//! Renders a template's configuration with the instance's values. Placeholders in strings:
//! `{{input:ID}}` the input's value, `{{configId:ID}}` the project id of the configuration the
//! template calls ID, `{{instanceName}}`, `{{instanceIdShort}}`. A string that is exactly one
//! `{{input:ID}}` becomes the value itself (a number stays a number, a list a list) and is
//! recorded as an input usage (`KBC.KAC.templates.configInputs`, `{input, key}`), so that an
//! upgrade can read the value back; elsewhere values are written as text.
use std::collections::HashMap;

use serde_json::{Map, Value};

pub struct Context<'a> {
    pub inputs: &'a HashMap<String, Value>,
    pub config_ids: &'a HashMap<String, String>,
    pub instance_name: &'a str,
    pub instance_id: &'a str,
}

/// One input used as a whole JSON value, at `key` (`parameters.blocks[0].codes[0].script[0]`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InputUsage {
    pub input: String,
    pub key: String,
}

pub fn render(value: &Value, ctx: &Context, usages: &mut Vec<InputUsage>) -> Value {
    walk(value, ctx, "", usages)
}

/// A name or description: placeholders as text.
pub fn render_text(text: &str, ctx: &Context) -> String {
    interpolate(text, ctx)
}

fn walk(value: &Value, ctx: &Context, path: &str, usages: &mut Vec<InputUsage>) -> Value {
    match value {
        Value::String(s) => {
            if let Some(id) = whole_input(s) {
                if let Some(v) = ctx.inputs.get(id) {
                    usages.push(InputUsage { input: id.to_string(), key: path.to_string() });
                    return v.clone();
                }
            }
            for id in embedded_inputs(s) {
                if ctx.inputs.contains_key(id) {
                    usages.push(InputUsage { input: id.to_string(), key: path.to_string() });
                }
            }
            Value::String(interpolate(s, ctx))
        }
        Value::Array(items) => Value::Array(items.iter().enumerate().map(|(i, v)| walk(v, ctx, &format!("{path}[{i}]"), usages)).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let child = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                out.insert(k.clone(), walk(v, ctx, &child, usages));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// The inputs a string names among its text.
fn embedded_inputs(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{input:") {
        let after = &rest[start + 8..];
        let Some(end) = after.find("}}") else { break };
        out.push(&after[..end]);
        rest = &after[end + 2..];
    }
    out
}

/// Reads input values back out of a rendered string, given the string it was rendered from:
/// the literal text around the placeholders must match; each input gets the text in its place.
pub fn read_back(template: &str, rendered: &str) -> Option<HashMap<String, String>> {
    let mut pattern = String::from("^");
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        pattern.push_str(&regex::escape(&rest[..start]));
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = &after[..end];
        match name.strip_prefix("input:") {
            Some(id) => {
                pattern.push_str(&format!("(?P<g{}>.*?)", names.len()));
                names.push(id.to_string());
            }
            None => pattern.push_str(".*?"),
        }
        rest = &after[end + 2..];
    }
    pattern.push_str(&regex::escape(rest));
    pattern.push('$');
    let caps = regex::Regex::new(&pattern).ok()?.captures(rendered)?;
    Some(names.into_iter().enumerate().filter_map(|(i, n)| caps.name(&format!("g{i}")).map(|m| (n, m.as_str().to_string()))).collect())
}

fn whole_input(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("{{input:")?.strip_suffix("}}")?;
    (!inner.contains("}}")).then_some(inner)
}

fn interpolate(text: &str, ctx: &Context) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        match replacement(name, ctx) {
            Some(r) => out.push_str(&r),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn replacement(name: &str, ctx: &Context) -> Option<String> {
    if let Some(id) = name.strip_prefix("input:") {
        return ctx.inputs.get(id).map(|v| match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        });
    }
    if let Some(id) = name.strip_prefix("configId:") {
        return ctx.config_ids.get(id).cloned();
    }
    match name {
        "instanceName" => Some(ctx.instance_name.to_string()),
        "instanceIdShort" => Some(ctx.instance_id.chars().take(8).collect::<String>().to_lowercase()),
        _ => None,
    }
}

/// The value at a usage key in a configuration (for reading an instance's inputs back).
pub fn value_at<'v>(root: &'v Value, key: &str) -> Option<&'v Value> {
    let mut current = root;
    for part in key.split('.') {
        let (name, indexes) = match part.find('[') {
            Some(p) => (&part[..p], &part[p..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            current = current.get(name)?;
        }
        for idx in indexes.split('[').filter(|s| !s.is_empty()) {
            current = current.get(idx.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_values_text_and_usages() {
        let inputs = HashMap::from([("n".to_string(), json!(3)), ("t".to_string(), json!("in.c-a.b"))]);
        let ids = HashMap::from([("x".to_string(), "123".to_string())]);
        let ctx = Context { inputs: &inputs, config_ids: &ids, instance_name: "My", instance_id: "ABCDEFGHIJ" };
        let mut usages = Vec::new();
        let out = render(&json!({"a": ["{{input:n}}", "v={{input:n}} {{configId:x}} {{instanceIdShort}} {{nope}}"], "b": {"c": "{{input:t}}"}}), &ctx, &mut usages);
        assert_eq!(out, json!({"a": [3, "v=3 123 abcdefgh {{nope}}"], "b": {"c": "in.c-a.b"}}));
        assert_eq!(
            usages,
            vec![
                InputUsage { input: "n".into(), key: "a[0]".into() },
                InputUsage { input: "n".into(), key: "a[1]".into() },
                InputUsage { input: "t".into(), key: "b.c".into() }
            ]
        );
        assert_eq!(value_at(&out, "a[0]"), Some(&json!(3)));
        assert_eq!(value_at(&out, "b.c"), Some(&json!("in.c-a.b")));
        let back = read_back("out.c-{{input:b}}.{{input:t}} ({{instanceName}})", "out.c-rep.sum (x)").unwrap();
        assert_eq!(back, HashMap::from([("b".to_string(), "rep".to_string()), ("t".to_string(), "sum".to_string())]));
    }
}
