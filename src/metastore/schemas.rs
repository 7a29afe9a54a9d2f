//! The JSON schemas the metastore serves (`GET /api/v1/schema/{type}[/{version}]`) and checks
//! object data against. The real schemas are server-side and unpublished; these are written from
//! the fields keboola-cli sends (`services/semantic_layer_service.py`) and are permissive: every
//! property is optional and extra properties are allowed, except the few the clients say the
//! real metastore requires (a glossary term's `term` and `definition`). One schema version,
//! `1.0.0`, the default, allowing every scope.
use serde_json::{Map, Value, json};

pub const TYPES: [&str; 7] = [
    "semantic-model",
    "semantic-dataset",
    "semantic-metric",
    "semantic-relationship",
    "semantic-constraint",
    "semantic-glossary",
    "semantic-reference-data",
];

pub const DEFAULT_VERSION: &str = "1.0.0";
pub const VERSIONS: [&str; 1] = [DEFAULT_VERSION];

/// `(property, JSON type)` of each type (`""`: any; the clients' shape is not pinned down),
/// and the properties it requires.
fn fields(object_type: &str) -> (Vec<(&'static str, &'static str)>, Vec<&'static str>) {
    let model_ref = ("modelUUID", "string");
    let named = [("name", "string"), ("description", "string")];
    let mut props: Vec<(&str, &str)> = named.to_vec();
    let mut required = Vec::new();
    match object_type {
        "semantic-model" => props.extend([("sql_dialect", "")]),
        "semantic-dataset" => props.extend([model_ref, ("tableId", ""), ("fqn", ""), ("grain", ""), ("primaryKey", ""), ("fields", "")]),
        "semantic-metric" => props.extend([model_ref, ("sql", ""), ("dataset", "")]),
        "semantic-relationship" => props.extend([model_ref, ("from", ""), ("to", ""), ("on", ""), ("type", "")]),
        "semantic-constraint" => props.extend([model_ref, ("constraintType", ""), ("rule", ""), ("metrics", ""), ("severity", "")]),
        "semantic-glossary" => {
            props.extend([model_ref, ("term", "string"), ("definition", "string")]);
            required.extend(["term", "definition"]);
        }
        _ => props.extend([model_ref, ("dimension", ""), ("members", "")]),
    }
    (props, required)
}

/// `GET /api/v1/schema/{type}`: the version listing (no schema body, as the live metastore).
pub fn versions(object_type: &str) -> Value {
    json!({
        "type": object_type,
        "versions": VERSIONS.iter().map(|v| json!({"version": v, "isDefault": *v == DEFAULT_VERSION})).collect::<Vec<_>>(),
    })
}

/// `GET /api/v1/schema/{type}/{version}`: the JSON Schema document; None for an unknown version.
pub fn schema(object_type: &str, version: &str) -> Option<Value> {
    if !VERSIONS.contains(&version) {
        return None;
    }
    let (props, required) = fields(object_type);
    let properties: Map<String, Value> =
        props.iter().map(|(name, ty)| (name.to_string(), if ty.is_empty() { json!({}) } else { json!({"type": ty}) })).collect();
    Some(json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{object_type}/{version}"),
        "title": object_type,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": true,
        "x-scopes": ["project", "organization", "targeted"],
    }))
}

/// The schema's checks: required properties present, known properties of their type.
pub fn validate(object_type: &str, version: &str, data: &Map<String, Value>) -> Result<(), Vec<String>> {
    let _ = version;
    let (props, required) = fields(object_type);
    let mut errors = Vec::new();
    for r in required {
        match data.get(r) {
            None | Some(Value::Null) => errors.push(format!("{r}: is required")),
            Some(Value::String(s)) if s.trim().is_empty() => errors.push(format!("{r}: must not be blank")),
            _ => {}
        }
    }
    for (name, ty) in props {
        let ok = match (data.get(name), ty) {
            (None | Some(Value::Null), _) => true,
            (Some(v), "string") => v.is_string(),
            (Some(v), "array") => v.is_array(),
            _ => true,
        };
        if !ok {
            errors.push(format!("{name}: must be of type {ty}"));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}
