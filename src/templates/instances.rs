//! Template instances in a project branch, kept where Keboola keeps them: the branch metadata
//! `KBC.KAC.templates.instances` (a JSON list of `{instanceId, instanceName, templateId,
//! repositoryName, version, created, updated, mainConfig}`) and, on each configuration the
//! instance made, the metadata `KBC.KAC.templates.instanceId`, `…templateId`, `…repository`,
//! `…configId` (`{"idInTemplate": …}`) and `…configInputs` (`[{input, key}]`). Configurations
//! are written through Storage's own domain functions (`storage::configurations`), schedules
//! activated through the Scheduler's (`scheduler::schedules`).
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{TResult, TemplatesError};
use super::inputs::Values;
use super::render::{self, InputUsage};
use super::repository::{self, ConfigTemplate, Repository, Template, Version};
use super::wire;
use crate::app::AppState;
use crate::storage::auth::Auth;
use crate::storage::{branches, configurations};
use crate::meta::configurations::ConfigurationStore;
use crate::meta::merge_requests::MergeRequestStore;
use kbstack_core::Scope;

pub const INSTANCES_KEY: &str = "KBC.KAC.templates.instances";
pub const INSTANCE_ID_KEY: &str = "KBC.KAC.templates.instanceId";
pub const TEMPLATE_ID_KEY: &str = "KBC.KAC.templates.templateId";
pub const REPOSITORY_KEY: &str = "KBC.KAC.templates.repository";
pub const CONFIG_ID_KEY: &str = "KBC.KAC.templates.configId";
pub const CONFIG_INPUTS_KEY: &str = "KBC.KAC.templates.configInputs";

const SCHEDULER: &str = "keboola.scheduler";

/// Writes to a branch's instance list are read-modify-write of one metadata value: one at a time.
static WRITES: Mutex<()> = Mutex::new(());

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MainConfigRef {
    pub config_id: String,
    pub component_id: String,
}

/// One entry of `KBC.KAC.templates.instances`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRecord {
    pub instance_id: String,
    pub instance_name: String,
    pub template_id: String,
    pub repository_name: String,
    pub version: String,
    pub created: wire::ChangeInfo,
    pub updated: wire::ChangeInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_config: Option<MainConfigRef>,
}

/// A configuration of an instance, with what its metadata says of it.
#[derive(Debug, Clone)]
pub struct InstanceConfig {
    pub component_id: String,
    pub config_id: String,
    pub name: String,
    pub configuration: Value,
    pub id_in_template: Option<String>,
    pub inputs: Vec<InputUsage>,
}

/// The token working in `branch` (a branch id or `default`) of its project.
pub fn in_branch(state: &AppState, auth: &Auth, branch: &str) -> TResult<Auth> {
    let id = if branch == "default" {
        auth.default_branch_id
    } else {
        let id: i64 = branch.parse().map_err(|_| TemplatesError::branch_not_found(branch))?;
        if !state.meta.branch_exists(auth.project_id, id)? {
            return Err(TemplatesError::branch_not_found(branch));
        }
        id
    };
    let mut scoped = auth.clone();
    scoped.branch_id = id;
    Ok(scoped)
}

/// A development branch whose merge request is past development takes no changes (as Storage).
fn require_unlocked(state: &AppState, auth: &Auth) -> TResult<()> {
    if auth.branch_id != auth.default_branch_id && state.meta.branch_locked(auth.project_id, auth.branch_id)? {
        return Err(TemplatesError::forbidden("The branch is locked by its merge request; it takes no changes."));
    }
    Ok(())
}

/// Changing a project through templates creates configurations of many components and writes
/// branch metadata: a master token (Keboola: an admin's token).
pub fn require_write(auth: &Auth) -> TResult<()> {
    if auth.is_admin() { Ok(()) } else { Err(TemplatesError::forbidden("Using templates requires a master token.")) }
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn changed_by(auth: &Auth) -> wire::ChangeInfo {
    wire::ChangeInfo { date: now(), token_id: auth.token.id.to_string() }
}

/// A 21-character id like Keboola's (nanoid alphabet without `-_`).
fn new_instance_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..21).map(|_| ALPHABET[rand::random::<u8>() as usize % ALPHABET.len()] as char).collect()
}

pub fn records(state: &AppState, auth: &Auth) -> TResult<Vec<InstanceRecord>> {
    let items = branches::branch_metadata(state, auth)?;
    let Some(item) = items.iter().find(|i| i["key"] == INSTANCES_KEY) else { return Ok(Vec::new()) };
    // A value other clients broke is read as no instances rather than failing every call.
    Ok(item["value"].as_str().and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default())
}

fn save_records(state: &AppState, auth: &Auth, list: &[InstanceRecord]) -> TResult<()> {
    let value = serde_json::to_string(list).map_err(|e| TemplatesError::from(crate::http::ApiError::internal(e)))?;
    Ok(branches::set_branch_metadata(state, auth, &[json!({"key": INSTANCES_KEY, "value": value})])?)
}

pub fn record(state: &AppState, auth: &Auth, instance_id: &str) -> TResult<InstanceRecord> {
    records(state, auth)?.into_iter().find(|r| r.instance_id == instance_id).ok_or_else(|| TemplatesError::instance_not_found(instance_id))
}

/// The active configurations of the branch that carry the instance's id.
pub fn configs_of(state: &AppState, auth: &Auth, instance_id: &str) -> TResult<Vec<InstanceConfig>> {
    let all = state.meta.configurations(Scope::new(auth.project_id, auth.branch_id), None, false)?;
    let mut out = Vec::new();
    for c in all {
        let meta = configurations::configuration_metadata(state, auth, &c.component_id, &c.id)?;
        let get = |key: &str| meta.iter().find(|m| m["key"] == key).and_then(|m| m["value"].as_str()).map(str::to_string);
        if get(INSTANCE_ID_KEY).as_deref() != Some(instance_id) {
            continue;
        }
        let id_in_template = get(CONFIG_ID_KEY).and_then(|v| serde_json::from_str::<Value>(&v).ok()).and_then(|v| v["idInTemplate"].as_str().map(str::to_string));
        let inputs = get(CONFIG_INPUTS_KEY).and_then(|v| serde_json::from_str(&v).ok()).unwrap_or_default();
        out.push(InstanceConfig {
            name: c.document["name"].as_str().unwrap_or_default().to_string(),
            configuration: c.document["configuration"].clone(),
            component_id: c.component_id,
            config_id: c.id,
            id_in_template,
            inputs,
        });
    }
    Ok(out)
}

pub fn to_wire(auth: &Auth, r: &InstanceRecord, configs: &[InstanceConfig], detail: bool) -> TResult<wire::Instance> {
    let (template_detail, version_detail) = if detail {
        let repo = repository::find(&r.repository_name).ok_or_else(|| TemplatesError::repository_not_found(&r.repository_name))?;
        let template = repo.template(&r.template_id).ok_or_else(|| TemplatesError::template_not_found(&r.template_id))?;
        let version = template.version(&r.version).ok_or_else(|| TemplatesError::version_not_found(&r.version))?;
        (Some(wire::TemplateBase::of(repo, template)), Some(wire::VersionDetail::of(version)))
    } else {
        (None, None)
    };
    Ok(wire::Instance {
        instance_id: r.instance_id.clone(),
        template_id: r.template_id.clone(),
        version: r.version.clone(),
        repository_name: r.repository_name.clone(),
        branch: auth.branch_id.to_string(),
        name: r.instance_name.clone(),
        created: r.created.clone(),
        updated: r.updated.clone(),
        main_config: r.main_config.as_ref().map(|m| wire::MainConfig { component_id: m.component_id.clone(), config_id: m.config_id.clone() }),
        template_detail,
        version_detail,
        configurations: configs
            .iter()
            .map(|c| wire::Config { component_id: c.component_id.clone(), config_id: c.config_id.clone(), name: c.name.clone() })
            .collect(),
    })
}

/// The input values an instance was made with, read back from its configurations: a value
/// used whole is taken as it is; one written into a text is cut out of it by the text of the
/// version the instance has (`made_by`).
pub fn current_values(configs: &[InstanceConfig], made_by: Option<&Version>) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    for c in configs {
        let template = made_by.and_then(|v| v.body.configurations.iter().find(|t| Some(&t.id) == c.id_in_template.as_ref()));
        for usage in &c.inputs {
            let Some(current) = render::value_at(&c.configuration, &usage.key) else { continue };
            let source = template.and_then(|t| render::value_at(&t.configuration, &usage.key)).and_then(Value::as_str);
            match (source, current.as_str()) {
                (Some(src), Some(text)) if src != format!("{{{{input:{}}}}}", usage.input) => {
                    let Some(found) = render::read_back(src, text) else { continue };
                    for (input, v) in found {
                        let typed = match made_by.and_then(|m| m.body.input(&input)).map(|i| i.kind_type.as_str()) {
                            Some("int") => v.parse::<i64>().map(Value::from).unwrap_or(Value::String(v)),
                            Some("double") => v.parse::<f64>().map(Value::from).unwrap_or(Value::String(v)),
                            Some("bool") => v.parse::<bool>().map(Value::from).unwrap_or(Value::String(v)),
                            _ => Value::String(v),
                        };
                        out.entry(input).or_insert(typed);
                    }
                }
                (Some(_), _) => {
                    out.entry(usage.input.clone()).or_insert_with(|| current.clone());
                }
                // Without the text it was written into, a value cannot be told from the text.
                (None, _) => {}
            }
        }
    }
    out
}

/// The template's configurations this instance gets (those of unconfigured steps left out).
fn wanted<'v>(version: &'v Version, values: &Values) -> Vec<&'v ConfigTemplate> {
    version.body.configurations.iter().filter(|c| c.if_step.as_ref().is_none_or(|s| values.configured_steps.contains(s))).collect()
}

fn metadata_items(repo: &Repository, template: &Template, instance_id: &str, id_in_template: &str, usages: &[InputUsage]) -> Vec<Value> {
    vec![
        json!({"key": INSTANCE_ID_KEY, "value": instance_id}),
        json!({"key": TEMPLATE_ID_KEY, "value": template.id}),
        json!({"key": REPOSITORY_KEY, "value": repo.name}),
        json!({"key": CONFIG_ID_KEY, "value": json!({"idInTemplate": id_in_template}).to_string()}),
        json!({"key": CONFIG_INPUTS_KEY, "value": serde_json::to_string(usages).unwrap_or_else(|_| "[]".into())}),
    ]
}

/// Creates or updates the instance's configurations for `version`; `existing` are the
/// configurations it has (by id in template). Returns the main configuration, and removes the
/// existing ones the version no longer has.
fn apply(
    state: &AppState,
    auth: &Auth,
    repo: &Repository,
    template: &Template,
    version: &Version,
    values: &Values,
    instance_id: &str,
    instance_name: &str,
    existing: &[InstanceConfig],
) -> TResult<Option<MainConfigRef>> {
    let mut ids: HashMap<String, String> =
        existing.iter().filter_map(|c| c.id_in_template.clone().map(|t| (t, c.config_id.clone()))).collect();
    let change = format!("From template {}/{}/{}", repo.name, template.id, version.version);
    let mut kept: HashSet<String> = HashSet::new();
    for ct in wanted(version, values) {
        let ctx = render::Context { inputs: &values.inputs, config_ids: &ids, instance_name, instance_id };
        let mut usages = Vec::new();
        let configuration = render::render(&ct.configuration, &ctx, &mut usages);
        let name = render::render_text(&ct.name, &ctx);
        let description = render::render_text(&ct.description, &ctx);
        let current = existing.iter().find(|c| c.id_in_template.as_deref() == Some(ct.id.as_str()) && c.component_id == ct.component_id);
        let config_id = match current {
            Some(c) => {
                configurations::replace_configuration(state, auth, &ct.component_id, &c.config_id, &name, &description, configuration, &change)?;
                c.config_id.clone()
            }
            None => {
                let new = configurations::NewConfiguration {
                    id: None,
                    name,
                    description,
                    configuration,
                    state: json!({}),
                    is_disabled: false,
                    change: change.clone(),
                };
                let body = configurations::create_configuration(state, auth, auth.branch_id, &ct.component_id, new)?;
                body["id"].as_str().unwrap_or_default().to_string()
            }
        };
        configurations::set_configuration_metadata(state, auth, &ct.component_id, &config_id, &metadata_items(repo, template, instance_id, &ct.id, &usages))?;
        if ct.component_id == SCHEDULER {
            crate::scheduler::schedules::activate(state, auth, &config_id, None)?;
        }
        ids.insert(ct.id.clone(), config_id.clone());
        kept.insert(config_id);
    }
    for old in existing.iter().filter(|c| !kept.contains(&c.config_id)) {
        remove_config(state, auth, old)?;
    }
    Ok(version.body.main_config.as_ref().and_then(|main| {
        let ct = version.body.configurations.iter().find(|c| &c.id == main)?;
        Some(MainConfigRef { config_id: ids.get(main)?.clone(), component_id: ct.component_id.clone() })
    }))
}

fn remove_config(state: &AppState, auth: &Auth, c: &InstanceConfig) -> TResult<()> {
    if c.component_id == SCHEDULER {
        // None activated (or already gone) is fine: the configuration goes either way.
        let _ = crate::scheduler::schedules::delete_for_configuration(state, auth, &c.config_id);
    }
    Ok(configurations::trash_configuration(state, auth, auth.branch_id, &c.component_id, &c.config_id, "Removed with its template instance")?)
}

/// `use`: a new instance of the version in the branch of `auth`. Returns its id.
pub fn create(state: &AppState, auth: &Auth, repo: &Repository, template: &Template, version: &Version, name: &str, values: &Values) -> TResult<String> {
    let _write = WRITES.lock().unwrap_or_else(|e| e.into_inner());
    require_unlocked(state, auth)?;
    let instance_id = new_instance_id();
    let main_config = apply(state, auth, repo, template, version, values, &instance_id, name, &[])?;
    let mut list = records(state, auth)?;
    let by = changed_by(auth);
    list.push(InstanceRecord {
        instance_id: instance_id.clone(),
        instance_name: name.to_string(),
        template_id: template.id.clone(),
        repository_name: repo.name.clone(),
        version: version.version.clone(),
        created: by.clone(),
        updated: by,
        main_config,
    });
    save_records(state, auth, &list)?;
    Ok(instance_id)
}

/// `upgrade` (or re-apply): the instance's configurations as `version` makes them.
pub fn upgrade(state: &AppState, auth: &Auth, instance_id: &str, repo: &Repository, template: &Template, version: &Version, values: &Values) -> TResult<()> {
    let _write = WRITES.lock().unwrap_or_else(|e| e.into_inner());
    require_unlocked(state, auth)?;
    let mut list = records(state, auth)?;
    let Some(pos) = list.iter().position(|r| r.instance_id == instance_id) else {
        return Err(TemplatesError::instance_not_found(instance_id));
    };
    let existing = configs_of(state, auth, instance_id)?;
    let name = list[pos].instance_name.clone();
    let main_config = apply(state, auth, repo, template, version, values, instance_id, &name, &existing)?;
    let r = &mut list[pos];
    r.version = version.version.clone();
    r.main_config = main_config;
    r.updated = changed_by(auth);
    save_records(state, auth, &list)
}

pub fn rename(state: &AppState, auth: &Auth, instance_id: &str, name: &str) -> TResult<()> {
    let _write = WRITES.lock().unwrap_or_else(|e| e.into_inner());
    require_unlocked(state, auth)?;
    let mut list = records(state, auth)?;
    let r = list.iter_mut().find(|r| r.instance_id == instance_id).ok_or_else(|| TemplatesError::instance_not_found(instance_id))?;
    r.instance_name = name.to_string();
    r.updated = changed_by(auth);
    save_records(state, auth, &list)
}

/// The instance's configurations go to the trash (schedules removed), its record from the branch.
pub fn delete(state: &AppState, auth: &Auth, instance_id: &str) -> TResult<()> {
    let _write = WRITES.lock().unwrap_or_else(|e| e.into_inner());
    require_unlocked(state, auth)?;
    let mut list = records(state, auth)?;
    let before = list.len();
    list.retain(|r| r.instance_id != instance_id);
    if list.len() == before {
        return Err(TemplatesError::instance_not_found(instance_id));
    }
    for c in configs_of(state, auth, instance_id)? {
        remove_config(state, auth, &c)?;
    }
    save_records(state, auth, &list)
}
