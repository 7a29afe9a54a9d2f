//! An app's definition: the Developer Portal's fields (camelCase, as vendors send them), checked
//! field by field, and the same definition in the Storage index shape the component registry
//! serves (`storage::components::full_shape`), with the process the Queue runs when its
//! repository is of type `process`.
//!
//! A runnable app: `"repository": {"type": "process", "uri": "<label>", "tag": "<label>",
//! "options": {"command": ["/usr/bin/python3", "-c", "..."] | "<shell line>", "env": {"K": "v"}}}`.
//! The command runs like a registered process component (`runner::process`): on the job's data
//! folder, sandboxed. Images (`dockerhub`, `quay`, `ecr`, `builder`) are listed but cannot run
//! on this stack, like the catalog's components.
use serde_json::{Map, Value, json};

use crate::http::ApiError;
use crate::meta::developer::{App, Vendor};
use crate::runner::registry::{Component, Kind, ProcessSpec};
use crate::storage::components::{self, Origin};

pub const APP_TYPES: &[&str] = &["extractor", "application", "writer", "processor", "code-pattern", "other", "transformation", "data-app"];
pub const REPOSITORY_TYPES: &[&str] = &["dockerhub", "quay", "builder", "ecr", "process"];

#[derive(Clone, Copy)]
enum Shape {
    /// Text up to a length.
    Text(usize),
    OneOf(&'static [&'static str]),
    Bool,
    Strings,
    Object,
    /// An array of strings (flags) or an object (UI options).
    StringsOrObject,
    Repository,
    /// A memory limit: digits with an optional unit (`512m`, `2g`).
    Memory,
    /// Whole seconds, 1 to 30 days.
    Seconds,
    Integer,
}

/// The fields a vendor may set, and what each must be. Anything else sent is ignored.
const FIELDS: &[(&str, Shape)] = &[
    ("name", Shape::Text(128)),
    ("type", Shape::OneOf(APP_TYPES)),
    ("shortDescription", Shape::Text(1024)),
    ("longDescription", Shape::Text(65536)),
    ("documentationUrl", Shape::Text(1024)),
    ("licenseUrl", Shape::Text(1024)),
    ("sourceCodeUrl", Shape::Text(1024)),
    ("configurationDescription", Shape::Text(65536)),
    ("repository", Shape::Repository),
    ("configurationFormat", Shape::OneOf(&["json", "yaml"])),
    ("synchronousActions", Shape::Strings),
    ("actions", Shape::Strings),
    ("defaultBucket", Shape::Bool),
    ("defaultBucketStage", Shape::OneOf(&["in", "out"])),
    ("forwardToken", Shape::Bool),
    ("forwardTokenDetails", Shape::Bool),
    ("injectEnvironment", Shape::Bool),
    ("uiOptions", Shape::StringsOrObject),
    ("flags", Shape::Strings),
    ("features", Shape::Strings),
    ("categories", Shape::Strings),
    ("configurationSchema", Shape::Object),
    ("configurationRowSchema", Shape::Object),
    ("emptyConfiguration", Shape::Object),
    ("emptyConfigurationRow", Shape::Object),
    ("imageParameters", Shape::Object),
    ("testConfiguration", Shape::Object),
    ("loggerConfiguration", Shape::Object),
    ("dataTypesConfiguration", Shape::Object),
    ("processorConfiguration", Shape::Object),
    ("icon", Shape::Object),
    ("limits", Shape::Object),
    ("memory", Shape::Memory),
    ("processTimeout", Shape::Seconds),
    ("cpuShares", Shape::Integer),
    ("network", Shape::OneOf(&["bridge", "none"])),
    ("logger", Shape::OneOf(&["standard", "gelf"])),
    ("stagingStorageInput", Shape::Text(64)),
    ("stagingStorageOutput", Shape::Text(64)),
];

fn invalid(field: &str, what: &str) -> ApiError {
    ApiError::validation(format!("Parameter \"{field}\" {what}"))
}

fn check(field: &str, shape: Shape, v: &Value) -> Result<(), ApiError> {
    let strings = |v: &Value| v.as_array().is_some_and(|a| a.len() <= 1000 && a.iter().all(|i| i.as_str().is_some_and(|s| s.len() <= 256)));
    match shape {
        Shape::Text(max) => match v.as_str() {
            Some(s) if s.chars().count() <= max && !s.contains('\0') => Ok(()),
            Some(_) => Err(invalid(field, &format!("must be at most {max} characters long"))),
            None => Err(invalid(field, "must be a string")),
        },
        Shape::OneOf(allowed) => match v.as_str() {
            Some(s) if allowed.contains(&s) => Ok(()),
            _ => Err(invalid(field, &format!("must be one of: {}", allowed.join(", ")))),
        },
        Shape::Bool => v.is_boolean().then_some(()).ok_or_else(|| invalid(field, "must be a boolean")),
        Shape::Strings => strings(v).then_some(()).ok_or_else(|| invalid(field, "must be an array of strings")),
        Shape::Object => v.is_object().then_some(()).ok_or_else(|| invalid(field, "must be an object")),
        Shape::StringsOrObject => (v.is_object() || strings(v)).then_some(()).ok_or_else(|| invalid(field, "must be an array of strings or an object")),
        Shape::Memory => match v.as_str() {
            Some(s) if memory_ok(s) => Ok(()),
            _ => Err(invalid(field, "must be a size such as \"512m\" or \"2g\"")),
        },
        Shape::Seconds => match v.as_u64() {
            Some(n) if (1..=30 * 86400).contains(&n) => Ok(()),
            _ => Err(invalid(field, "must be a number of seconds between 1 and 2592000")),
        },
        Shape::Integer => v.as_u64().filter(|n| *n <= 1 << 20).map(|_| ()).ok_or_else(|| invalid(field, "must be a non-negative integer")),
        Shape::Repository => check_repository(v),
    }
}

fn memory_ok(s: &str) -> bool {
    let digits = s.trim_end_matches(['k', 'm', 'g', 'K', 'M', 'G']);
    !digits.is_empty() && digits.len() <= 12 && digits.chars().all(|c| c.is_ascii_digit()) && s.len() - digits.len() <= 1
}

fn check_repository(v: &Value) -> Result<(), ApiError> {
    let Some(o) = v.as_object() else { return Err(invalid("repository", "must be an object")) };
    if let Some(t) = o.get("type") {
        check("repository.type", Shape::OneOf(REPOSITORY_TYPES), t)?;
    }
    for key in ["uri", "tag"] {
        if let Some(s) = o.get(key) {
            check(&format!("repository.{key}"), Shape::Text(1024), s)?;
        }
    }
    let options = o.get("options").filter(|v| !v.is_null());
    if let Some(options) = options {
        check("repository.options", Shape::Object, options)?;
    }
    if o.get("type").and_then(Value::as_str) == Some("process") {
        command(options.and_then(|o| o.get("command")))
            .ok_or_else(|| invalid("repository.options.command", "is required for a \"process\" repository: an array of program and arguments, or a shell line"))?;
        if let Some(env) = options.and_then(|o| o.get("env")) {
            let ok = env.as_object().is_some_and(|e| e.iter().all(|(k, v)| !k.is_empty() && !k.contains(['=', '\0']) && (v.is_string() || v.is_number() || v.is_boolean())));
            if !ok {
                return Err(invalid("repository.options.env", "must be an object of variable names and scalar values"));
            }
        }
    }
    Ok(())
}

/// The program and arguments of a process repository's `options.command` (a shell line runs
/// under `/bin/sh -c`).
fn command(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::Array(items) if !items.is_empty() && items.len() <= 256 => {
            let parts: Option<Vec<String>> = items.iter().map(|i| i.as_str().filter(|s| !s.contains('\0')).map(str::to_string)).collect();
            parts.filter(|p| !p[0].is_empty())
        }
        Value::String(s) if !s.trim().is_empty() && !s.contains('\0') => Some(vec!["/bin/sh".into(), "-c".into(), s.clone()]),
        _ => None,
    }
}

/// The known fields of `body` checked; unknown ones are dropped. `required` must be present.
pub fn read(body: &Map<String, Value>, required: &[&str]) -> Result<Map<String, Value>, ApiError> {
    for field in required {
        if body.get(*field).is_none_or(|v| v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty())) {
            return Err(invalid(field, "is required"));
        }
    }
    let mut out = Map::new();
    for (field, shape) in FIELDS {
        match body.get(*field) {
            None => {}
            Some(Value::Null) => {
                out.insert((*field).to_string(), Value::Null);
            }
            Some(v) => {
                check(field, *shape, v)?;
                out.insert((*field).to_string(), v.clone());
            }
        }
    }
    Ok(out)
}

/// `changes` over `current` (a `null` removes a field).
pub fn merged(current: &Value, changes: Map<String, Value>) -> Value {
    let mut out = current.as_object().cloned().unwrap_or_default();
    for (k, v) in changes {
        if v.is_null() {
            out.remove(&k);
        } else {
            out.insert(k, v);
        }
    }
    Value::Object(out)
}

/// The published `definition` (of version `version`) as the registry lists it, and the process
/// the Queue runs for it when it has one.
pub fn component(app: &App, definition: &Value, version: i64, vendor: Option<&Vendor>, base_url: &str) -> (Value, Option<Component>) {
    let d = |k: &str| definition.get(k).filter(|v| !v.is_null());
    let limits = |k: &str| definition.get("limits").and_then(|l| l.get(k)).filter(|v| !v.is_null());
    let mut c = Map::new();
    c.insert("id".into(), json!(app.id));
    c.insert("type".into(), d("type").cloned().unwrap_or(json!("other")));
    c.insert("name".into(), d("name").cloned().unwrap_or(json!(app.id)));
    c.insert("description".into(), d("shortDescription").cloned().unwrap_or(json!("")));
    c.insert("version".into(), json!(version));
    for key in [
        "longDescription",
        "categories",
        "features",
        "configurationSchema",
        "configurationRowSchema",
        "emptyConfiguration",
        "emptyConfigurationRow",
        "configurationDescription",
        "documentationUrl",
        "dataTypesConfiguration",
        "processorConfiguration",
    ] {
        if let Some(v) = d(key) {
            c.insert(key.into(), v.clone());
        }
    }
    // The portal's `uiOptions` is the list of UI flags; an object is kept as the index's own.
    let mut flags: Vec<Value> = d("flags").and_then(Value::as_array).cloned().unwrap_or_default();
    match d("uiOptions") {
        Some(Value::Array(ui)) => flags.extend(ui.iter().filter(|f| !flags.contains(f)).cloned().collect::<Vec<_>>()),
        Some(o @ Value::Object(_)) => {
            c.insert("uiOptions".into(), o.clone());
        }
        _ => {}
    }
    if app.is_deprecated && !flags.contains(&json!("deprecated")) {
        flags.push(json!("deprecated"));
    }
    c.insert("flags".into(), Value::Array(flags));
    if let Some(Value::Object(icon)) = d("icon") {
        for size in ["32", "64", "128"] {
            if let Some(url) = icon.get(size).filter(|u| u.is_string()) {
                c.insert(format!("ico{size}"), url.clone());
            }
        }
    }
    if let Some(expired) = app.definition.get("expiredOn").filter(|v| !v.is_null()) {
        c.insert("expiredOn".into(), expired.clone());
    }
    let mut data = Map::new();
    for (portal, index) in [
        ("configurationFormat", "configuration_format"),
        ("defaultBucket", "default_bucket"),
        ("defaultBucketStage", "default_bucket_stage"),
        ("forwardToken", "forward_token"),
        ("forwardTokenDetails", "forward_token_details"),
        ("injectEnvironment", "inject_environment"),
        ("imageParameters", "image_parameters"),
        ("network", "network"),
        ("cpuShares", "cpu_shares"),
    ] {
        if let Some(v) = d(portal) {
            data.insert(index.into(), v.clone());
        }
    }
    if let Some(actions) = d("synchronousActions").or_else(|| d("actions")) {
        data.insert("synchronous_actions".into(), actions.clone());
    }
    if let Some(memory) = d("memory").or_else(|| limits("memory")) {
        data.insert("memory".into(), memory.clone());
    }
    if let Some(timeout) = d("processTimeout").or_else(|| limits("processTimeout")) {
        data.insert("process_timeout".into(), timeout.clone());
    }
    if d("logger").is_some() || d("loggerConfiguration").is_some() {
        let mut logging = json!({"type": d("logger").cloned().unwrap_or(json!("standard")), "gelf_server_type": "tcp", "no_application_errors": false});
        if let Some(Value::Object(conf)) = d("loggerConfiguration") {
            for (k, v) in conf {
                logging[k] = v.clone();
            }
        }
        data.insert("logging".into(), logging);
    }
    let staging = |k: &str| d(k).cloned().unwrap_or(json!("local"));
    if d("stagingStorageInput").is_some() || d("stagingStorageOutput").is_some() {
        data.insert("staging_storage".into(), json!({"input": staging("stagingStorageInput"), "output": staging("stagingStorageOutput")}));
    }
    let repository = d("repository").cloned().unwrap_or(json!({}));
    let repo_type = repository["type"].as_str().unwrap_or("ecr").to_string();
    let process = (repo_type == "process").then(|| command(repository["options"].get("command"))).flatten();
    let mut definition_field = json!({
        "type": repo_type,
        "uri": repository["uri"].as_str().map(str::to_string).unwrap_or_else(|| format!("developer-portal/{}", app.id)),
        "tag": repository["tag"].as_str().unwrap_or("latest"),
    });
    if let Some(cmd) = &process {
        definition_field["command"] = json!(cmd);
    }
    if let Some(Value::Object(options)) = repository.get("options") {
        if repo_type != "process" && !options.is_empty() {
            definition_field["repository"] = json!({"options": options});
        }
    }
    c.insert("data".into(), Value::Object(data));
    let vendor_contact = match vendor {
        Some(v) => json!({"contact": [v.name, v.address, v.email]}),
        None => json!({"contact": [app.vendor_id]}),
    };
    let base = base_url.trim_end_matches('/');
    let shape = components::full_shape(
        &Value::Object(c),
        Origin {
            definition: definition_field,
            vendor: vendor_contact,
            has_run: process.is_some(),
            documentation_url: String::new(),
            uri: Some(format!("{base}/v2/storage/components/{}", app.id)),
        },
    );
    let runnable = process.map(|command| {
        let env = repository["options"]["env"]
            .as_object()
            .map(|e| e.iter().map(|(k, v)| (k.clone(), crate::http::params::scalar_to_string(v).unwrap_or_default())).collect())
            .unwrap_or_default();
        Component { id: app.id.clone(), kind: Kind::Process(ProcessSpec { command, working_dir: None, env }), definition: shape.clone() }
    });
    (shape, runnable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn fields_are_checked_and_unknown_ones_dropped() {
        let ok = read(&body(json!({"name": "X", "type": "writer", "memory": "1g", "whatever": 1})), &["name", "type"]).unwrap();
        assert_eq!(Value::Object(ok), json!({"name": "X", "type": "writer", "memory": "1g"}));
        for bad in [
            json!({"name": {"a": 1}, "type": "writer"}),
            json!({"name": "X", "type": "robot"}),
            json!({"name": "X", "type": "writer", "repository": {"type": "process"}}),
            json!({"name": "X", "type": "writer", "repository": {"type": "process", "options": {"command": []}}}),
            json!({"name": "X", "type": "writer", "processTimeout": 0}),
            json!({"name": "X", "type": "writer", "memory": "lots"}),
            json!({"name": "X", "type": "writer", "defaultBucketStage": "sys"}),
            json!({"type": "writer"}),
        ] {
            assert!(read(&body(bad.clone()), &["name", "type"]).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_process_app_becomes_a_runnable_index_entry() {
        let definition = json!({"name": "My", "type": "extractor", "shortDescription": "Gets", "defaultBucket": true,
            "synchronousActions": ["test"], "processTimeout": 60, "uiOptions": ["genericDockerUI"],
            "repository": {"type": "process", "uri": "local/my", "tag": "1.0.0", "options": {"command": "echo hi", "env": {"A": 1}}}});
        let app = App {
            id: "v.my".into(),
            vendor_id: "v".into(),
            version: 3,
            definition: definition.clone(),
            is_public: true,
            is_approved: true,
            is_deprecated: false,
            publish_requested: None,
            published_version: Some(3),
            created: String::new(),
            updated: String::new(),
        };
        let (shape, runnable) = component(&app, &definition, 3, None, "http://x/");
        assert_eq!(shape["uri"], "http://x/v2/storage/components/v.my");
        assert_eq!(shape["version"], 3);
        assert_eq!(shape["description"], "Gets");
        assert_eq!(shape["flags"], json!(["genericDockerUI"]));
        assert_eq!(shape["data"]["definition"], json!({"type": "process", "uri": "local/my", "tag": "1.0.0", "command": ["/bin/sh", "-c", "echo hi"]}));
        assert_eq!(shape["data"]["default_bucket"], true);
        assert_eq!(shape["data"]["process_timeout"], 60);
        assert_eq!(shape["data"]["synchronous_actions"], json!(["test"]));
        let Kind::Process(spec) = runnable.unwrap().kind else { panic!("a process") };
        assert_eq!(spec.env, vec![("A".to_string(), "1".to_string())]);
    }
}
