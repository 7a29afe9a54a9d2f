//! The optional language model behind `POST /docs/question`: an OpenAI-compatible
//! `POST {base}/chat/completions` given the retrieved passages and the question. The API key is
//! sent as a bearer token and never appears in logs or error messages.
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};

use crate::config::LanguageModel;
use crate::http::{ApiError, ApiResult, Code};

const TIMEOUT: Duration = Duration::from_secs(120);

const SYSTEM_PROMPT: &str = "You answer questions about kbstack, a self-hosted implementation of the Keboola Connection \
platform, and about the Keboola components it lists. Answer only from the numbered passages given; cite them as [1], [2]. \
If the passages do not contain the answer, say so. Answer in Markdown.";

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("kbstack-ai")
            .build()
            .unwrap_or_default()
    })
}

fn failed(why: impl std::fmt::Display) -> ApiError {
    ApiError::new(Code::AiLanguageModelFailed, format!("The language model did not answer: {why}"))
}

/// The model's answer to `question` from `context` (the numbered passages).
pub async fn answer(llm: &LanguageModel, context: &str, question: &str) -> ApiResult<String> {
    let body = json!({
        "model": llm.model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": format!("Passages:\n\n{context}\n\nQuestion: {question}")},
        ],
    });
    let mut request = client().post(format!("{}/chat/completions", llm.base_url)).json(&body);
    if let Some(key) = &llm.api_key {
        request = request.bearer_auth(key.expose());
    }
    // reqwest's errors name the URL, never the headers; the URL holds no key.
    let response = request.send().await.map_err(|e| failed(e.without_url()))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| failed(e.without_url()))?;
    if !status.is_success() {
        let detail: String = text.chars().take(300).collect();
        return Err(failed(format!("HTTP {status}: {detail}")));
    }
    let v: Value = serde_json::from_str(&text).map_err(|_| failed("the answer is not JSON"))?;
    v.pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| failed("no choices[0].message.content in the answer"))
}
