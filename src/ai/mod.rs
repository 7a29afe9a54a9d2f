//! The AI service, served at `/ai` (host `ai.<suffix>`; notes: services.md §14): component
//! documentation from the stack's component registry, component suggestions ranked by a
//! full-text index over that registry (`index`, BM25), and answers to documentation questions
//! retrieved from kbstack's README and the component descriptions — written by a language model
//! when one is configured (`llm`), otherwise the best passages themselves. HTTP in `api`.
pub mod api;
pub mod index;
pub mod llm;
pub mod wire;

use serde_json::{Value, json};

use crate::app::AppState;
use crate::http::{ApiError, ApiResult, Code};
use index::{Indexes, Passage, Source};
use wire::{ComponentDocs, ComponentSuggestion, DocsAnswer, SuggestedComponent};

/// At most this many suggestions; and none scoring below this share of the best one.
const SUGGESTIONS: usize = 10;
const SUGGESTION_FLOOR: f64 = 0.1;
/// Passages an answer is built from.
const ANSWER_PASSAGES: usize = 4;
/// Longest prompt or question read (characters); the rest is ignored.
const MAX_QUERY_CHARS: usize = 4000;

pub fn correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(Code::AiBadRequest, message)
}

/// A required free-text field, trimmed and capped.
pub fn required_text(value: Option<String>, name: &str) -> ApiResult<String> {
    let text = value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).ok_or_else(|| bad(format!("The \"{name}\" field is required and must be a non-empty string.")))?;
    Ok(text.chars().take(MAX_QUERY_CHARS).collect())
}

/// `GET /docs/components/{componentId}`: the registry's definition as documentation.
pub fn component_docs(state: &AppState, id: &str) -> ApiResult<ComponentDocs> {
    let c = crate::storage::components::find(state, id)
        .map_err(|_| ApiError::new(Code::AiComponentNotFound, format!("Component \"{id}\" was not found in the component catalog.")))?;
    let s = |key: &str| c.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let list = |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
    let object = |key: &str| c.get(key).filter(|v| v.is_object()).cloned().unwrap_or_else(|| json!({}));
    let description = s("description");
    let long_description = Some(s("longDescription")).filter(|l| !l.is_empty()).unwrap_or_else(|| description.clone());
    let empty_configuration = c.get("emptyConfiguration").filter(|v| v.as_object().is_some_and(|o| !o.is_empty())).cloned();
    let empty_row = c.get("emptyConfigurationRow").filter(|v| v.as_object().is_some_and(|o| !o.is_empty())).cloned();
    Ok(ComponentDocs {
        component_id: s("id"),
        component_type: s("type"),
        component_name: Some(s("name")).filter(|n| !n.is_empty()).unwrap_or_else(|| s("id")),
        component_categories: list(c.get("categories")),
        documentation: documentation(state, &c),
        description,
        long_description,
        documentation_url: c.get("documentationUrl").and_then(Value::as_str).filter(|u| !u.is_empty()).map(str::to_string),
        configuration_schema: object("configurationSchema"),
        configuration_row_schema: object("configurationRowSchema"),
        configuration_description: c.get("configurationDescription").and_then(Value::as_str).map(str::to_string),
        root_configuration_examples: empty_configuration.into_iter().collect(),
        row_configuration_examples: empty_row.into_iter().collect(),
        component_flags: list(c.get("flags")),
        synchronous_actions: list(c.pointer("/data/synchronous_actions")),
    })
}

/// Markdown about a component, written from its definition: what it is, whether this stack runs
/// it, and the parameters its configuration schema declares.
fn documentation(state: &AppState, c: &Value) -> String {
    let s = |key: &str| c.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let id = s("id");
    let mut md = format!("# {}\n\n", Some(s("name")).filter(|n| !n.is_empty()).unwrap_or_else(|| id.clone()));
    let long = s("longDescription");
    md.push_str(if long.is_empty() { c.get("description").and_then(Value::as_str).unwrap_or_default() } else { &long });
    md.push_str(&format!("\n\n- Component ID: `{id}`\n- Type: {}\n", s("type")));
    if let Some(categories) = c.get("categories").and_then(Value::as_array).filter(|a| !a.is_empty()) {
        let names: Vec<&str> = categories.iter().filter_map(Value::as_str).collect();
        md.push_str(&format!("- Categories: {}\n", names.join(", ")));
    }
    let runs = crate::runner::registry::is_orchestrator(&id) || crate::runner::registry::find(state, &id).is_some();
    md.push_str(if runs {
        "- On this stack: runs (built in or registered)\n"
    } else {
        "- On this stack: configurations are stored, but jobs of this component end with a user error (it is not built in or registered)\n"
    });
    let actions = crate::runner::registry::declared_actions(c);
    if !actions.is_empty() {
        md.push_str(&format!("- Synchronous actions: {}\n", actions.join(", ")));
    }
    if let Some(properties) = c.pointer("/configurationSchema/properties").and_then(Value::as_object).filter(|p| !p.is_empty()) {
        let required: Vec<&str> =
            c.pointer("/configurationSchema/required").and_then(Value::as_array).map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        md.push_str("\n## Configuration parameters\n\n");
        for (name, p) in properties {
            let kind = p.get("type").and_then(Value::as_str).unwrap_or("any");
            let what = p.get("description").or_else(|| p.get("title")).and_then(Value::as_str).unwrap_or_default();
            let req = if required.contains(&name.as_str()) { ", required" } else { "" };
            md.push_str(&format!("- `{name}` ({kind}{req}){}{what}\n", if what.is_empty() { "" } else { ": " }));
        }
    }
    md
}

/// `POST /suggest/component`: the components best matching the prompt.
pub fn suggest(state: &AppState, prompt: &str) -> ApiResult<ComponentSuggestion> {
    let indexes = index::current(state)?;
    let hits = indexes.components.search(prompt, SUGGESTIONS).map_err(ApiError::internal)?;
    let best = hits.first().map(|h| h.score).unwrap_or(0.0);
    let components = hits
        .into_iter()
        .filter(|h| h.score >= best * SUGGESTION_FLOOR)
        .map(|h| SuggestedComponent { component_id: h.key, score: (h.score * 10_000.0).round() / 10_000.0, source: "fulltext".into() })
        .collect();
    Ok(ComponentSuggestion { components, correlation_id: correlation_id() })
}

/// Where a passage can be read: a README section as the AI service serves it, a component's
/// documentation page.
fn source_url(state: &AppState, p: &Passage) -> String {
    match &p.source {
        Source::Readme { anchor } => format!("{}/docs/sources/readme#{anchor}", state.urls.service("ai")),
        Source::Component { id, url } => url.clone().unwrap_or_else(|| format!("{}/docs/components/{id}", state.urls.service("ai"))),
    }
}

/// The passages best matching `question`, with their URLs (distinct, best first).
fn retrieve(state: &AppState, indexes: &Indexes, question: &str) -> ApiResult<Vec<(Passage, String)>> {
    let hits = indexes.passages.search(question, ANSWER_PASSAGES).map_err(ApiError::internal)?;
    Ok(hits
        .iter()
        .filter_map(|h| h.key.parse::<usize>().ok().and_then(|i| indexes.passage_list.get(i)))
        .map(|p| (p.clone(), source_url(state, p)))
        .collect())
}

fn distinct_urls(found: &[(Passage, String)]) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for (_, url) in found {
        if !urls.contains(url) {
            urls.push(url.clone());
        }
    }
    urls
}

/// `POST /docs/question`: an answer from the documentation kbstack serves.
pub async fn question(state: &AppState, question: &str) -> ApiResult<DocsAnswer> {
    let indexes = index::current(state)?;
    let found = retrieve(state, &indexes, question)?;
    let source_urls = distinct_urls(&found);
    if found.is_empty() {
        return Ok(DocsAnswer {
            text: "No passage of kbstack's documentation (its README and the component catalog) matches this question.".into(),
            source_urls,
            correlation_id: correlation_id(),
        });
    }
    let text = match &state.config.ai_llm {
        Some(llm) => {
            let context: Vec<String> =
                found.iter().enumerate().map(|(i, (p, url))| format!("[{}] {} ({url})\n{}", i + 1, p.title, p.text.trim())).collect();
            llm::answer(llm, &context.join("\n\n"), question).await?
        }
        None => retrieval_answer(&found),
    };
    Ok(DocsAnswer { text, source_urls, correlation_id: correlation_id() })
}

/// The offline answer: the passages themselves, said plainly to be retrieval.
fn retrieval_answer(found: &[(Passage, String)]) -> String {
    let mut text = String::from(
        "No language model is configured on this stack, so this is not a generated answer: these are the passages of \
         kbstack's documentation (its README and the component catalog) that best match the question, found by full-text \
         search (BM25).\n",
    );
    for (i, (p, url)) in found.iter().enumerate() {
        let body = p.text.trim();
        let excerpt: String = body.chars().take(1500).collect();
        let more = if excerpt.len() < body.len() { " …" } else { "" };
        text.push_str(&format!("\n### [{}] {}\n\n{excerpt}{more}\n\nSource: {url}\n", i + 1, p.title));
    }
    text
}
