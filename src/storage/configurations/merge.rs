//! Merging a development branch's configurations into the default branch (merge requests):
//! what the branch changed, what conflicts, and applying the changes as new versions.
//!
//! A dev branch starts with copies of the default branch's configurations, histories included,
//! so the newest version both branches recorded alike is what the copy was based on. A
//! configuration conflicts, as in Keboola, when the default branch moved past that base (changed,
//! trashed or purged there) — whether or not the branch changed it too — unless both sides
//! deleted it; or when both created one with the same id. The merge runs inside one
//! `MergeTx`: all of it or nothing is committed.
use serde_json::{Value, json};

use super::rows::{CONTENT, commit_row_version};
use super::{commit_version, rows_of, save};
use crate::http::{ApiError, ApiResult, now_iso};
use crate::meta::configurations::{ComponentScope, ConfigurationTx, metadata_object_id};
use crate::meta::merge_requests::MergeTx;
use crate::storage::auth::Auth;
use kbstack_core::Scope;

/// A configuration the branch changed (created, updated or deleted).
#[derive(Debug, Clone)]
pub struct Change {
    pub component_id: String,
    pub configuration_id: String,
    pub is_deleted: bool,
    /// The branch's current version identifier of the configuration.
    pub last_version_identifier: String,
}

#[derive(Debug, Clone)]
pub struct Conflict {
    pub component_id: String,
    pub configuration_id: String,
    pub is_deleted: bool,
    pub dev_identifier: String,
    /// None when the configuration is gone from the default branch.
    pub default_identifier: Option<String>,
}

#[derive(Debug, Default)]
pub struct Analysis {
    pub changes: Vec<Change>,
    pub conflicts: Vec<Conflict>,
    /// Live configurations of the branch (component, id): their metadata is carried over.
    live: Vec<(String, String)>,
}

fn current_identifier(doc: &Value) -> String {
    doc["currentVersion"]["versionIdentifier"].as_str().unwrap_or_default().to_string()
}

fn at(project: i64, branch: i64, component: &str) -> ComponentScope {
    ComponentScope { scope: Scope::new(project, branch), component: component.into() }
}

/// The identifier of the newest version recorded alike in both branches: what the branch's copy
/// was based on. None for a configuration the branch created.
fn base_identifier(dev: &dyn ConfigurationTx, main: &dyn ConfigurationTx, id: &str) -> ApiResult<Option<String>> {
    for v in dev.versions(id, i64::MAX, 0)? {
        let identifier = &v.snapshot["versionIdentifier"];
        if let Some(m) = main.version(id, v.version)? {
            if !identifier.is_null() && m.snapshot["versionIdentifier"] == *identifier {
                return Ok(identifier.as_str().map(str::to_string));
            }
        }
    }
    Ok(None)
}

/// What merging branch `from` into `into` would change, and what stands in the way.
pub fn analyse(tx: &dyn MergeTx, project: i64, from: i64, into: i64) -> ApiResult<Analysis> {
    let mut out = Analysis::default();
    for d in tx.branch_configurations(Scope::new(project, from))? {
        let dev = tx.configurations_at(at(project, from, &d.component_id));
        let main = tx.configurations_at(at(project, into, &d.component_id));
        let in_main = main.configuration(&d.id)?;
        let base = base_identifier(&*dev, &*main, &d.id)?;
        let dev_identifier = current_identifier(&d.document);
        let main_identifier = in_main.as_ref().map(|m| current_identifier(&m.document));
        let main_moved = match &main_identifier {
            None => base.is_some(),
            Some(m) => base.as_deref() != Some(m.as_str()),
        };
        let gone_in_main = in_main.as_ref().is_none_or(|m| m.is_deleted);
        if main_moved && !(d.is_deleted && gone_in_main) {
            out.conflicts.push(Conflict {
                component_id: d.component_id.clone(),
                configuration_id: d.id.clone(),
                is_deleted: d.is_deleted,
                dev_identifier: dev_identifier.clone(),
                default_identifier: main_identifier,
            });
        }
        let dev_changed = base.as_deref() != Some(dev_identifier.as_str());
        // Created and deleted within the branch: nothing to bring over.
        if dev_changed && !(d.is_deleted && base.is_none()) {
            out.changes.push(Change {
                component_id: d.component_id.clone(),
                configuration_id: d.id.clone(),
                is_deleted: d.is_deleted,
                last_version_identifier: dev_identifier,
            });
        }
        if !d.is_deleted {
            out.live.push((d.component_id, d.id));
        }
    }
    Ok(out)
}

/// Keboola's change description of a configuration version a merge made.
pub fn merge_change_description(branch_name: &str) -> String {
    format!("Configuration merged from branch: \"{branch_name}\"")
}

/// Apply the branch's changes to the default branch: each changed configuration gets one new
/// version there (its state stays the default branch's), changed rows one new row version, and
/// the branch's configuration metadata is carried over.
pub fn apply(tx: &dyn MergeTx, auth: &Auth, analysis: &Analysis, project: i64, from: i64, into: i64, branch_name: &str) -> ApiResult<()> {
    let change = merge_change_description(branch_name);
    for c in &analysis.changes {
        let dev = tx.configurations_at(at(project, from, &c.component_id));
        let main = tx.configurations_at(at(project, into, &c.component_id));
        let id = c.configuration_id.as_str();
        let d = dev.configuration(id)?.ok_or_else(|| ApiError::internal(format!("configuration {id} vanished during the merge")))?.document;
        match main.configuration(id)? {
            None if c.is_deleted => {}
            None => {
                let mut body = d.clone();
                body["version"] = json!(0);
                body["state"] = json!({});
                body["currentVersion"] = Value::Null;
                let mut rows = Vec::new();
                for mut row in rows_of(&d) {
                    row["state"] = json!({});
                    commit_row_version(&*main, id, auth, &mut row, &change)?;
                    rows.push(row);
                }
                body["rows"] = json!(rows);
                main.insert_configuration(id, &body)?;
                commit_version(&*main, auth, &mut body, &change)?;
                save(&*main, &body)?;
            }
            Some(m) => {
                let mut body = m.document;
                if c.is_deleted {
                    if body["isDeleted"] != true {
                        body["isDeleted"] = json!(true);
                        commit_version(&*main, auth, &mut body, &change)?;
                        save(&*main, &body)?;
                    }
                    continue;
                }
                for field in ["name", "description", "configuration", "isDisabled", "rowsSortOrder"] {
                    body[field] = d[field].clone();
                }
                body["isDeleted"] = json!(false);
                let main_rows = rows_of(&body);
                let mut rows = Vec::new();
                for r in rows_of(&d) {
                    match main_rows.iter().find(|m| m["id"] == r["id"]) {
                        Some(m) if m["versionIdentifier"] == r["versionIdentifier"] => rows.push(m.clone()),
                        Some(m) => {
                            let mut row = m.clone();
                            for field in CONTENT {
                                row[field] = r[field].clone();
                            }
                            commit_row_version(&*main, id, auth, &mut row, &change)?;
                            rows.push(row);
                        }
                        None => {
                            let mut row = r.clone();
                            row["state"] = json!({});
                            row["created"] = json!(now_iso());
                            commit_row_version(&*main, id, auth, &mut row, &change)?;
                            rows.push(row);
                        }
                    }
                }
                body["rows"] = json!(rows);
                commit_version(&*main, auth, &mut body, &change)?;
                save(&*main, &body)?;
            }
        }
    }
    for (component, id) in &analysis.live {
        tx.merge_configuration_metadata(project, from, into, &metadata_object_id(component, id))?;
    }
    Ok(())
}
