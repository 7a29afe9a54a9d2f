//! The Templates API's objects (goa spec `reference/templates/openapi3.json`, schemas of the
//! same names). Optional fields the spec marks so are left out when empty, as goa does.
use serde::Serialize;
use serde_json::Value;

use super::repository::{self, Author};

#[derive(Debug, Serialize)]
pub struct Repository {
    pub name: String,
    pub url: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub author: Author,
}

impl Repository {
    pub fn of(r: &repository::Repository) -> Repository {
        Repository { name: r.name.clone(), url: r.url.clone(), git_ref: r.git_ref.clone(), author: r.author.clone() }
    }
}

#[derive(Debug, Serialize)]
pub struct Version {
    pub version: String,
    pub stable: bool,
    pub description: String,
}

impl Version {
    pub fn of(v: &repository::Version) -> Version {
        Version { version: v.version.clone(), stable: v.stable, description: v.description.clone() }
    }
}

/// `Template`; `TemplateDetail` adds the repository.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    pub id: String,
    pub name: String,
    pub deprecated: bool,
    pub author: Author,
    pub description: String,
    pub default_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<Repository>,
    pub categories: Vec<String>,
    pub components: Vec<String>,
    pub versions: Vec<Version>,
}

impl Template {
    pub fn of(repo: &repository::Repository, t: &repository::Template, with_repository: bool) -> Template {
        Template {
            id: t.id.clone(),
            name: t.name.clone(),
            deprecated: t.deprecated,
            author: repo.author.clone(),
            description: t.description.clone(),
            default_version: t.default_version().version.clone(),
            repository: with_repository.then(|| Repository::of(repo)),
            categories: t.categories.clone(),
            components: t.components(),
            versions: t.versions.iter().map(Version::of).collect(),
        }
    }
}

/// `TemplateBase`: what an instance detail tells of its template.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateBase {
    pub id: String,
    pub name: String,
    pub deprecated: bool,
    pub author: Author,
    pub description: String,
    pub default_version: String,
}

impl TemplateBase {
    pub fn of(repo: &repository::Repository, t: &repository::Template) -> TemplateBase {
        TemplateBase {
            id: t.id.clone(),
            name: t.name.clone(),
            deprecated: t.deprecated,
            author: repo.author.clone(),
            description: t.description.clone(),
            default_version: t.default_version().version.clone(),
        }
    }
}

/// `VersionDetail`; `VersionDetailExtended` adds the repository and the template.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionDetail {
    pub version: String,
    pub stable: bool,
    pub description: String,
    pub components: Vec<String>,
    pub long_description: String,
    pub readme: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<Repository>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<Template>,
}

impl VersionDetail {
    pub fn of(v: &repository::Version) -> VersionDetail {
        VersionDetail {
            version: v.version.clone(),
            stable: v.stable,
            description: v.description.clone(),
            components: v.body.components.clone(),
            long_description: v.body.long_description.clone(),
            readme: v.body.readme.clone(),
            repository: None,
            template: None,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    pub id: String,
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub value_type: String,
    pub kind: String,
    pub default: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_input_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub id: String,
    pub icon: String,
    pub name: String,
    pub description: String,
    pub dialog_name: String,
    pub dialog_description: String,
    pub inputs: Vec<Input>,
}

#[derive(Debug, Serialize)]
pub struct StepGroup {
    pub id: String,
    pub description: String,
    pub required: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inputs {
    pub step_groups: Vec<StepGroup>,
    pub initial_state: ValidationResult,
}

/// The step groups of a version; `defaults` (input id → value) replace the template's defaults
/// (an upgrade shows the values the instance was made with).
pub fn step_groups(body: &repository::VersionBody, defaults: &std::collections::HashMap<String, Value>) -> Vec<StepGroup> {
    use repository::VersionBody as B;
    body.step_groups
        .iter()
        .enumerate()
        .map(|(g, group)| StepGroup {
            id: B::group_id(g),
            description: group.description.clone(),
            required: group.required.clone(),
            steps: group
                .steps
                .iter()
                .enumerate()
                .map(|(s, step)| Step {
                    id: B::step_id(g, s),
                    icon: step.icon.clone(),
                    name: step.name.clone(),
                    description: step.description.clone(),
                    dialog_name: step.dialog_name.clone(),
                    dialog_description: step.dialog_description.clone(),
                    inputs: step
                        .inputs
                        .iter()
                        .map(|i| Input {
                            id: i.id.clone(),
                            name: i.name.clone(),
                            description: i.description.clone(),
                            value_type: i.kind_type.clone(),
                            kind: i.kind.clone(),
                            default: defaults.get(&i.id).cloned().unwrap_or_else(|| i.default.clone()),
                            options: i.options.clone(),
                            component_id: i.component_id.clone(),
                            oauth_input_id: i.oauth_input_id.clone(),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

#[derive(Debug, Serialize, Clone)]
pub struct InputValidationResult {
    pub id: String,
    pub visible: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, Clone)]
pub struct StepValidationResult {
    pub id: String,
    pub configured: bool,
    pub valid: bool,
    pub inputs: Vec<InputValidationResult>,
}

#[derive(Debug, Serialize, Clone)]
pub struct StepGroupValidationResult {
    pub id: String,
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub steps: Vec<StepValidationResult>,
}

#[derive(Debug, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ValidationResult {
    pub valid: bool,
    pub step_groups: Vec<StepGroupValidationResult>,
}

/// Also the `created`/`updated` of an instance in the branch metadata (same keys).
#[derive(Debug, Serialize, serde::Deserialize, Clone)]
pub struct ChangeInfo {
    pub date: String,
    #[serde(rename = "tokenId")]
    pub token_id: String,
}

#[derive(Debug, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct MainConfig {
    pub component_id: String,
    pub config_id: String,
}

#[derive(Debug, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub component_id: String,
    pub config_id: String,
    pub name: String,
}

/// `Instance`; `InstanceDetail` adds `templateDetail` and `versionDetail`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub instance_id: String,
    pub template_id: String,
    pub version: String,
    pub repository_name: String,
    pub branch: String,
    pub name: String,
    pub created: ChangeInfo,
    pub updated: ChangeInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main_config: Option<MainConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_detail: Option<TemplateBase>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_detail: Option<VersionDetail>,
    pub configurations: Vec<Config>,
}

#[derive(Debug, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: String,
    #[serde(rename = "type")]
    pub task_type: String,
    pub url: String,
    pub status: String,
    pub is_finished: bool,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Value>,
}
