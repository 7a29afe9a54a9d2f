//! The AI service's JSON (notes: services.md §14, spec `ai/openapi…yml`; the clients' models
//! decide): keboola-mcp-server (`clients/ai_service.py`, `ComponentAPIResponse`) and keboola-cli
//! (`models.ComponentDetail`, `ComponentSuggestion`, `DocsAnswer`). keboola-cli decodes the
//! schemas and example lists as a dict/list without accepting null, so absent ones are `{}`/`[]`.
use serde::Serialize;
use serde_json::Value;

/// `GET /docs/components/{componentId}` (spec `ComponentDocsResponse`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentDocs {
    pub component_id: String,
    pub component_type: String,
    pub component_name: String,
    pub component_categories: Vec<Value>,
    pub description: String,
    pub long_description: String,
    pub documentation_url: Option<String>,
    /// Markdown written from the definition (kbstack has no per-component manual pages).
    pub documentation: String,
    pub configuration_schema: Value,
    pub configuration_row_schema: Value,
    pub configuration_description: Option<String>,
    pub root_configuration_examples: Vec<Value>,
    pub row_configuration_examples: Vec<Value>,
    pub component_flags: Vec<Value>,
    pub synchronous_actions: Vec<Value>,
}

/// `POST /suggest/component`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentSuggestion {
    pub components: Vec<SuggestedComponent>,
    pub correlation_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SuggestedComponent {
    pub component_id: String,
    /// BM25 relevance (higher is better; comparable within one answer only).
    pub score: f64,
    /// How the suggestion was found: `fulltext` (kbstack's index over the catalog).
    pub source: String,
}

/// `POST /docs/question`: what both clients read (`text`, `sourceUrls`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocsAnswer {
    pub text: String,
    pub source_urls: Vec<String>,
    pub correlation_id: String,
}
