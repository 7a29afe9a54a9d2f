//! Importing a component catalog saved from Keboola: the Developer Portal's public app list
//! (`GET https://apps-api.keboola.com/apps`, an array of apps) or a Storage index
//! (`GET /v2/storage`, an object with `components`, or that array alone). Each entry is reduced
//! to the compact fields the registry keeps (the full shape is filled in at start), so either
//! source gives the same listing. Nothing here touches the network: an operator with access
//! saves the file, `kbstack component import-catalog <file>` keeps it in the data dir.
use std::path::Path;

use serde_json::{Map, Value, json};

/// The fields of a Storage-index component the registry keeps as they are.
const KEPT: &[&str] = &[
    "id",
    "type",
    "name",
    "description",
    "longDescription",
    "version",
    "complexity",
    "categories",
    "hasUI",
    "ico32",
    "ico64",
    "ico128",
    "data",
    "flags",
    "configurationSchema",
    "configurationRowSchema",
    "emptyConfiguration",
    "emptyConfigurationRow",
    "uiOptions",
    "configurationDescription",
    "features",
    "expiredOn",
    "documentationUrl",
    "dataTypesConfiguration",
    "processorConfiguration",
];

/// What an import read: the compact entries and how many items were skipped (no usable id).
pub struct Imported {
    pub components: Vec<Value>,
    pub skipped: usize,
}

/// Parse a saved catalog (either source) into compact entries; later duplicates of an id win.
pub fn parse(text: &str) -> anyhow::Result<Imported> {
    let v: Value = serde_json::from_str(text).map_err(|e| anyhow::anyhow!("not valid JSON: {e}"))?;
    let items = match v {
        Value::Array(items) => items,
        Value::Object(mut o) => match o.get_mut("components").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => anyhow::bail!("expected an array of components, or a Storage index object with \"components\""),
        },
        _ => anyhow::bail!("expected an array of components, or a Storage index object with \"components\""),
    };
    let mut components: Vec<Value> = Vec::new();
    let mut skipped = 0;
    for item in items {
        match compact(item) {
            Some(c) => match components.iter().position(|o| o["id"] == c["id"]) {
                Some(i) => components[i] = c,
                None => components.push(c),
            },
            None => skipped += 1,
        }
    }
    Ok(Imported { components, skipped })
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// One entry in the registry's compact form, from either shape (None without a usable id).
fn compact(item: Value) -> Option<Value> {
    let Value::Object(o) = item else { return None };
    if !o.get("id").and_then(Value::as_str).is_some_and(valid_id) {
        return None;
    }
    let mut out = Map::new();
    for key in KEPT {
        if let Some(v) = o.get(*key).filter(|v| !v.is_null()) {
            out.insert((*key).to_string(), v.clone());
        }
    }
    // The Developer Portal's names for the same things.
    if !out.contains_key("description") {
        if let Some(d) = o.get("shortDescription").filter(|d| d.is_string()) {
            out.insert("description".into(), d.clone());
        }
    }
    if let Some(Value::Object(icon)) = o.get("icon") {
        for size in ["32", "64", "128"] {
            if let Some(url) = icon.get(size).filter(|u| u.is_string()) {
                out.entry(format!("ico{size}")).or_insert_with(|| url.clone());
            }
        }
    }
    if let Some(Value::Object(repo)) = o.get("repository") {
        let data = out.entry("data").or_insert_with(|| json!({}));
        if let Some(d) = data.as_object_mut().filter(|d| !d.contains_key("definition")) {
            let mut definition = Map::new();
            for key in ["type", "uri", "tag"] {
                if let Some(v) = repo.get(key).filter(|v| v.is_string()) {
                    definition.insert(key.into(), v.clone());
                }
            }
            if !definition.is_empty() {
                d.insert("definition".into(), Value::Object(definition));
            }
        }
    }
    if o.get("isDeprecated") == Some(&json!(true)) {
        let flags = out.entry("flags").or_insert_with(|| json!([]));
        if let Some(f) = flags.as_array_mut().filter(|f| !f.contains(&json!("deprecated"))) {
            f.push(json!("deprecated"));
        }
    }
    Some(Value::Object(out))
}

/// `kbstack component import-catalog <file>`: parse the saved catalog and keep it as
/// `<data-dir>/component-catalog.json` (read at the next start).
pub fn import(data_dir: &Path, file: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
    let imported = parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    anyhow::ensure!(!imported.components.is_empty(), "{}: no component with a valid \"id\" found", file.display());
    std::fs::create_dir_all(data_dir)?;
    let target = super::catalog_path(data_dir);
    let tmp = target.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&imported.components)?)?;
    std::fs::rename(&tmp, &target)?;
    let skipped = if imported.skipped > 0 { format!(" ({} entries without a valid id skipped)", imported.skipped) } else { String::new() };
    Ok(format!(
        "imported {} components into {}{skipped}; restart the server to list them",
        imported.components.len(),
        target.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn developer_portal_apps_become_compact_entries() {
        let text = r#"[{"id":"keboola.ex-x","type":"extractor","name":"X","shortDescription":"Gets X",
            "icon":{"32":"https://i/32.png","64":"https://i/64.png"},"repository":{"type":"ecr","uri":"r/x","tag":"1.2.3","options":{}},
            "isDeprecated":true,"flags":["genericDockerUI"],"configurationSchema":{"type":"object"}},
            {"name":"no id"}, {"id":"bad id!"}]"#;
        let imported = parse(text).unwrap();
        assert_eq!(imported.skipped, 2);
        let c = &imported.components[0];
        assert_eq!(c["description"], "Gets X");
        assert_eq!(c["ico64"], "https://i/64.png");
        assert_eq!(c["data"]["definition"], json!({"type": "ecr", "uri": "r/x", "tag": "1.2.3"}));
        assert_eq!(c["flags"], json!(["genericDockerUI", "deprecated"]));
        assert_eq!(c["configurationSchema"], json!({"type": "object"}));
    }

    #[test]
    fn a_storage_index_is_read_from_its_components() {
        let imported = parse(r#"{"api":"storage","components":[{"id":"a.b","type":"writer","data":{"default_bucket":true}},{"id":"a.b","name":"later"}]}"#).unwrap();
        assert_eq!(imported.components.len(), 1);
        assert_eq!(imported.components[0]["name"], "later");
        assert!(parse(r#"{"api":"storage"}"#).is_err());
    }
}
