//! Template repositories. The built-in repository `keboola` is compiled into the binary from
//! `src/templates/repository/` (format in that folder's README.md): `repository.json` lists the
//! templates and their versions, each version folder holds one `template.json` with its inputs
//! and the configurations it creates. Keboola's repositories are git checkouts with Jsonnet
//! files; kbstack keeps the same structure in plain JSON (no Jsonnet engine).
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

/// The name clients use for the default repository (spec: "Use \"keboola\" for default Keboola repository").
pub const BUILTIN: &str = "keboola";

/// Every file of the built-in repository, by its path under `src/templates/repository/`.
const FILES: &[(&str, &str)] = &[
    ("repository.json", include_str!("repository/repository.json")),
    ("csv-duckdb-report/v1/template.json", include_str!("repository/csv-duckdb-report/v1/template.json")),
    ("csv-duckdb-report/v2/template.json", include_str!("repository/csv-duckdb-report/v2/template.json")),
    ("python-transformation-flow/v1/template.json", include_str!("repository/python-transformation-flow/v1/template.json")),
    ("duckdb-data-quality/v1/template.json", include_str!("repository/duckdb-data-quality/v1/template.json")),
];

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Author {
    pub name: String,
    pub url: String,
}

#[derive(Debug)]
pub struct Repository {
    pub name: String,
    pub url: String,
    pub git_ref: String,
    pub author: Author,
    pub templates: Vec<Template>,
}

#[derive(Debug, Deserialize)]
struct RepositoryFile {
    author: Author,
    templates: Vec<TemplateEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TemplateEntry {
    id: String,
    name: String,
    description: String,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    deprecated: bool,
    path: String,
    versions: Vec<VersionEntry>,
}

#[derive(Debug, Deserialize)]
struct VersionEntry {
    version: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    stable: bool,
    path: String,
}

#[derive(Debug)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub description: String,
    pub categories: Vec<String>,
    pub deprecated: bool,
    pub versions: Vec<Version>,
}

#[derive(Debug)]
pub struct Version {
    pub version: String,
    pub description: String,
    pub stable: bool,
    pub body: VersionBody,
}

/// A version's `template.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionBody {
    pub components: Vec<String>,
    pub long_description: String,
    pub readme: String,
    pub step_groups: Vec<StepGroup>,
    /// `id` (in the template) of the configuration that is the instance's main one (its flow).
    #[serde(default)]
    pub main_config: Option<String>,
    pub configurations: Vec<ConfigTemplate>,
}

#[derive(Debug, Deserialize)]
pub struct StepGroup {
    pub description: String,
    pub required: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub icon: String,
    pub name: String,
    pub description: String,
    pub dialog_name: String,
    pub dialog_description: String,
    pub inputs: Vec<Input>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    pub id: String,
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind_type: String,
    pub kind: String,
    pub default: Value,
    #[serde(default)]
    pub options: Option<Vec<Value>>,
    #[serde(default)]
    pub component_id: Option<String>,
    #[serde(default)]
    pub oauth_input_id: Option<String>,
    /// Validation rules, comma separated: `required`, `min=N`, `max=N`, `regex=…` (last).
    #[serde(default)]
    pub rules: String,
}

/// One configuration the template creates; `{{…}}` placeholders in its strings (see `render`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigTemplate {
    pub id: String,
    pub component_id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub configuration: Value,
    /// Created only when this step (`g01-s02`) was configured.
    #[serde(default)]
    pub if_step: Option<String>,
}

impl Template {
    /// The recommended version: the newest stable one, else the newest.
    pub fn default_version(&self) -> &Version {
        self.versions.iter().rev().find(|v| v.stable).or(self.versions.last()).expect("a template has versions")
    }

    /// A version by its number; `1.2.3`, `v1.2.3`, `1.2` and `1` find the newest match (as Keboola's semver lookup).
    pub fn version(&self, wanted: &str) -> Option<&Version> {
        if wanted == "default" {
            return Some(self.default_version());
        }
        let wanted = wanted.trim_start_matches('v');
        let parts: Vec<&str> = wanted.split('.').collect();
        if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.parse::<u64>().is_err()) {
            return None;
        }
        self.versions.iter().rev().find(|v| {
            let have: Vec<&str> = v.version.trim_start_matches('v').split('.').collect();
            parts.iter().zip(have.iter()).all(|(w, h)| w.parse::<u64>().ok() == h.parse::<u64>().ok())
        })
    }

    pub fn components(&self) -> Vec<String> {
        let mut all: Vec<String> = self.versions.iter().flat_map(|v| v.body.components.iter().cloned()).collect();
        all.sort();
        all.dedup();
        all
    }
}

impl VersionBody {
    /// Step ids as the API names them: `g01-s01` by position.
    pub fn step_id(group: usize, step: usize) -> String {
        format!("g{:02}-s{:02}", group + 1, step + 1)
    }

    pub fn group_id(group: usize) -> String {
        format!("g{:02}", group + 1)
    }

    /// Every (step id, step) in order.
    pub fn steps(&self) -> impl Iterator<Item = (String, &Step)> {
        self.step_groups.iter().enumerate().flat_map(|(g, group)| group.steps.iter().enumerate().map(move |(s, step)| (Self::step_id(g, s), step)))
    }

    pub fn input(&self, id: &str) -> Option<&Input> {
        self.steps().flat_map(|(_, s)| s.inputs.iter()).find(|i| i.id == id)
    }
}

fn embedded(path: &str) -> anyhow::Result<String> {
    FILES.iter().find(|(p, _)| *p == path).map(|(_, text)| text.to_string()).ok_or_else(|| anyhow::anyhow!("template file {path} is not embedded"))
}

/// A repository from its files (`read(path under the repository)`).
fn parse(name: &str, url: &str, git_ref: &str, read: &dyn Fn(&str) -> anyhow::Result<String>) -> anyhow::Result<Repository> {
    let index: RepositoryFile = serde_json::from_str(&read("repository.json")?).map_err(|e| anyhow::anyhow!("{name}: repository.json: {e}"))?;
    let mut templates = Vec::new();
    for t in index.templates {
        anyhow::ensure!(!t.versions.is_empty(), "{name}: template {} has no versions", t.id);
        let mut versions = Vec::new();
        for v in t.versions {
            let path = format!("{}/{}/template.json", t.path, v.path);
            let body: VersionBody = serde_json::from_str(&read(&path)?).map_err(|e| anyhow::anyhow!("{name}: {path}: {e}"))?;
            versions.push(Version { version: v.version, description: v.description, stable: v.stable, body });
        }
        templates.push(Template { versions, id: t.id, name: t.name, description: t.description, categories: t.categories, deprecated: t.deprecated });
    }
    Ok(Repository { name: name.into(), url: url.into(), git_ref: git_ref.into(), author: index.author, templates })
}

fn load_builtin() -> Repository {
    parse(BUILTIN, "https://github.com/keboola/keboola-as-code-templates.git", "main", &embedded).expect("the built-in template repository parses")
}

static REPOS: OnceLock<Vec<Repository>> = OnceLock::new();

/// At start-up: the configured local repositories beside the built-in one (a repository that
/// does not parse stops the start with the reason).
pub fn load_local(configured: &[crate::config::TemplateRepository]) -> anyhow::Result<()> {
    let mut repos = vec![load_builtin()];
    for r in configured {
        anyhow::ensure!(repos.iter().all(|x| x.name != r.name), "template repository \"{}\" is configured twice (\"keboola\" is built in)", r.name);
        let root = r.path.clone();
        let read = |p: &str| std::fs::read_to_string(root.join(p)).map_err(|e| anyhow::anyhow!("{}: {e}", root.join(p).display()));
        repos.push(parse(&r.name, &format!("file://{}", r.path.display()), "local", &read)?);
    }
    // Loaded once per process; a second serve in the same process keeps the first set.
    let _ = REPOS.set(repos);
    Ok(())
}

/// The repositories this stack offers: the built-in one, then the configured local ones.
pub fn all() -> &'static [Repository] {
    REPOS.get_or_init(|| vec![load_builtin()])
}

pub fn find(name: &str) -> Option<&'static Repository> {
    all().iter().find(|r| r.name == name)
}

impl Repository {
    pub fn template(&self, id: &str) -> Option<&Template> {
        self.templates.iter().find(|t| t.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_repository_parses_and_is_consistent() {
        let repo = find(BUILTIN).unwrap();
        assert!(repo.templates.len() >= 3);
        for t in &repo.templates {
            for v in &t.versions {
                let ids: Vec<&str> = v.body.configurations.iter().map(|c| c.id.as_str()).collect();
                if let Some(main) = &v.body.main_config {
                    assert!(ids.contains(&main.as_str()), "{}: main config {main}", t.id);
                }
                let fits = |what: &str, text: &str, max: usize| assert!(text.chars().count() <= max, "{}: {what} longer than {max} (spec): {text}", t.id);
                for group in &v.body.step_groups {
                    fits("step group description", &group.description, 80);
                }
                for (_, step) in v.body.steps() {
                    fits("step name", &step.name, 25);
                    fits("step description", &step.description, 60);
                    fits("step icon", &step.icon, 40);
                    fits("dialog name", &step.dialog_name, 25);
                    fits("dialog description", &step.dialog_description, 200);
                    for input in &step.inputs {
                        fits("input name", &input.name, 25);
                        fits("input description", &input.description, 60);
                        assert!(crate::templates::inputs::check_type(input, &input.default).is_ok() || input.rules.contains("required"), "{}: default of {}", t.id, input.id);
                    }
                }
            }
        }
        let t = repo.template("csv-duckdb-report").unwrap();
        assert_eq!(t.version("1").unwrap().version, "1.1.0");
        assert_eq!(t.version("v1.0.0").unwrap().version, "1.0.0");
        assert!(t.version("2").is_none());
    }
}
