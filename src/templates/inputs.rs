//! Input values filled in by the user (`{steps: [{id, inputs: [{id, value}]}]}`), checked
//! against a version's step groups: the value's type, the input's rules (`required`, `min=N`,
//! `max=N`, `regex=…`), select options, and each group's `required` rule (how many of its
//! steps must be configured). A step is configured when the payload names it.
use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::repository::{Input, VersionBody};
use super::wire::{InputValidationResult, StepGroupValidationResult, StepValidationResult, ValidationResult};

/// The values to render the template with: every input's value (the payload's, else its
/// default) and the steps that were configured.
#[derive(Debug, Default, Clone)]
pub struct Values {
    pub inputs: HashMap<String, Value>,
    pub configured_steps: HashSet<String>,
}

/// A payload that does not fit the version at all (unknown step or input): a 400, not a
/// validation result.
#[derive(Debug)]
pub struct BadPayload(pub String);

/// Reads `steps` of the request body.
pub fn parse(body: &Value, version: &VersionBody) -> Result<HashMap<String, HashMap<String, Value>>, BadPayload> {
    let Some(steps) = body.get("steps") else {
        return Err(BadPayload("missing required field \"steps\"".into()));
    };
    let Some(steps) = steps.as_array() else {
        return Err(BadPayload("invalid value for \"steps\": expected an array".into()));
    };
    let known: HashMap<String, &super::repository::Step> = version.steps().collect();
    let mut out: HashMap<String, HashMap<String, Value>> = HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        let Some(step_id) = step.get("id").and_then(Value::as_str) else {
            return Err(BadPayload(format!("missing required field \"steps[{i}].id\"")));
        };
        let Some(definition) = known.get(step_id) else {
            return Err(BadPayload(format!("Step \"{step_id}\" not found.")));
        };
        let inputs = match step.get("inputs") {
            Some(Value::Array(a)) => a.clone(),
            None | Some(Value::Null) => Vec::new(),
            Some(_) => return Err(BadPayload(format!("invalid value for \"steps[{i}].inputs\": expected an array"))),
        };
        let values = out.entry(step_id.to_string()).or_default();
        for (j, input) in inputs.iter().enumerate() {
            let Some(input_id) = input.get("id").and_then(Value::as_str) else {
                return Err(BadPayload(format!("missing required field \"steps[{i}].inputs[{j}].id\"")));
            };
            if !definition.inputs.iter().any(|d| d.id == input_id) {
                return Err(BadPayload(format!("Input \"{input_id}\" not found in step \"{step_id}\".")));
            }
            values.insert(input_id.to_string(), input.get("value").cloned().unwrap_or(Value::Null));
        }
    }
    Ok(out)
}

/// Checks the payload; the values are those of a valid result.
pub fn validate(body: &Value, version: &VersionBody) -> Result<(ValidationResult, Values), BadPayload> {
    let given = parse(body, version)?;
    Ok(check(version, &|step_id| given.get(step_id).cloned()))
}

/// The state the input form starts in: the defaults, the steps of `all` groups configured.
pub fn initial_state(version: &VersionBody, defaults: &HashMap<String, Value>) -> ValidationResult {
    let all_groups: HashSet<String> = version
        .step_groups
        .iter()
        .enumerate()
        .filter(|(_, g)| g.required == "all")
        .flat_map(|(gi, g)| (0..g.steps.len()).map(move |si| VersionBody::step_id(gi, si)))
        .collect();
    check(version, &|step_id| all_groups.contains(step_id).then(|| defaults.clone())).0
}

/// `given(step id)`: the values of a configured step, None when it is not configured.
fn check(version: &VersionBody, given: &dyn Fn(&str) -> Option<HashMap<String, Value>>) -> (ValidationResult, Values) {
    let mut values = Values::default();
    let mut groups = Vec::new();
    for (gi, group) in version.step_groups.iter().enumerate() {
        let mut steps = Vec::new();
        let mut configured_count = 0;
        for (si, step) in group.steps.iter().enumerate() {
            let step_id = VersionBody::step_id(gi, si);
            let Some(step_values) = given(&step_id) else {
                for input in &step.inputs {
                    values.inputs.insert(input.id.clone(), input.default.clone());
                }
                steps.push(StepValidationResult { id: step_id, configured: false, valid: true, inputs: Vec::new() });
                continue;
            };
            configured_count += 1;
            values.configured_steps.insert(step_id.clone());
            let mut results = Vec::new();
            for input in &step.inputs {
                let value = step_values.get(&input.id).cloned().unwrap_or_else(|| input.default.clone());
                let error = check_input(input, &value).err();
                values.inputs.insert(input.id.clone(), value);
                results.push(InputValidationResult { id: input.id.clone(), visible: true, error });
            }
            let valid = results.iter().all(|r| r.error.is_none());
            steps.push(StepValidationResult { id: step_id, configured: true, valid, inputs: results });
        }
        let rule_error = match (group.required.as_str(), configured_count) {
            ("all", n) if n != group.steps.len() => Some("All steps must be configured."),
            ("atLeastOne", 0) => Some("At least one step must be configured."),
            ("exactlyOne", n) if n != 1 => Some("Exactly one step must be configured."),
            ("zeroOrOne", n) if n > 1 => Some("Zero or one step must be configured."),
            _ => None,
        };
        let valid = rule_error.is_none() && steps.iter().all(|s| s.valid);
        groups.push(StepGroupValidationResult { id: VersionBody::group_id(gi), valid, error: rule_error.map(str::to_string), steps });
    }
    let valid = groups.iter().all(|g| g.valid);
    (ValidationResult { valid, step_groups: groups }, values)
}

/// The value has the input's type (`string`, `int`, `double`, `bool`, `string[]`, `object`).
pub fn check_type(input: &Input, value: &Value) -> Result<(), String> {
    let ok = match input.kind_type.as_str() {
        "string" => value.is_string(),
        "int" => value.as_i64().is_some() || value.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.0e15),
        "double" => value.is_number(),
        "bool" => value.is_boolean(),
        "string[]" => value.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        "object" => value.is_object(),
        _ => false,
    };
    let what = match input.kind_type.as_str() {
        "string" => "a string",
        "int" => "an integer",
        "double" => "a number",
        "bool" => "a boolean",
        "string[]" => "an array of strings",
        _ => "an object",
    };
    if ok { Ok(()) } else { Err(format!("{} should be {what}.", input.name)) }
}

/// Rules split on commas; `regex=` takes the rest of the text (commas included).
fn rules(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if let Some(pattern) = rest.strip_prefix("regex=") {
            out.push(("regex", pattern));
            break;
        }
        let (rule, tail) = rest.split_once(',').unwrap_or((rest, ""));
        let (name, arg) = rule.split_once('=').unwrap_or((rule, ""));
        out.push((name.trim(), arg.trim()));
        rest = tail.trim_start();
    }
    out
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

pub fn check_input(input: &Input, value: &Value) -> Result<(), String> {
    let name = &input.name;
    let rules = rules(&input.rules);
    if is_empty(value) {
        if rules.iter().any(|(r, _)| *r == "required") {
            return Err(format!("{name} is a required field."));
        }
        if value.is_null() {
            return Ok(());
        }
    }
    check_type(input, value)?;
    if is_empty(value) {
        return Ok(());
    }
    for (rule, arg) in rules {
        match rule {
            "min" | "max" => {
                let Ok(bound) = arg.parse::<f64>() else { continue };
                let (measure, unit) = match value {
                    Value::String(s) => (s.chars().count() as f64, Some("characters in length")),
                    Value::Array(a) => (a.len() as f64, Some("items")),
                    v => (v.as_f64().unwrap_or(0.0), None),
                };
                let fails = if rule == "min" { measure < bound } else { measure > bound };
                if fails {
                    return Err(match (rule, unit) {
                        ("min", Some(u)) => format!("{name} must be at least {arg} {u}."),
                        (_, Some(u)) => format!("{name} must be a maximum of {arg} {u}."),
                        ("min", None) => format!("{name} must be {arg} or greater."),
                        _ => format!("{name} must be {arg} or less."),
                    });
                }
            }
            "regex" => {
                let Ok(re) = regex::Regex::new(arg) else { continue };
                let texts: Vec<&str> = match value {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                if texts.iter().any(|t| !re.is_match(t)) {
                    return Err(format!("{name} is not valid."));
                }
            }
            _ => {}
        }
    }
    if let Some(options) = &input.options {
        let allowed: Vec<&str> = options.iter().filter_map(|o| o["value"].as_str()).collect();
        let chosen: Vec<&str> = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if let Some(bad) = chosen.iter().find(|c| !allowed.contains(c)) {
            return Err(format!("{name}: \"{bad}\" is not one of the options ({}).", allowed.join(", ")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(t: &str, rules: &str) -> Input {
        serde_json::from_value(json!({"id": "x", "name": "X", "description": "d", "type": t, "kind": "input", "default": null, "rules": rules})).unwrap()
    }

    #[test]
    fn rules_and_types() {
        let s = input("string", "required,max=5,regex=^[a-z,]+$");
        assert!(check_input(&s, &json!("ab,c")).is_ok());
        assert_eq!(check_input(&s, &json!("")).unwrap_err(), "X is a required field.");
        assert_eq!(check_input(&s, &json!("abcdefg")).unwrap_err(), "X must be a maximum of 5 characters in length.");
        assert_eq!(check_input(&s, &json!("A")).unwrap_err(), "X is not valid.");
        assert_eq!(check_input(&s, &json!(5)).unwrap_err(), "X should be a string.");
        let i = input("int", "min=1,max=10");
        assert!(check_input(&i, &json!(3)).is_ok());
        assert_eq!(check_input(&i, &json!(0)).unwrap_err(), "X must be 1 or greater.");
        assert_eq!(check_input(&i, &json!(1.5)).unwrap_err(), "X should be an integer.");
        assert!(check_input(&input("string", ""), &json!("")).is_ok());
    }
}
