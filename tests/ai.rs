//! The AI service through the real binary: component documentation from the registry, component
//! suggestions ranked by the full-text index, documentation answers offline (retrieval) and from
//! a language model (a tiny local HTTP server plays an OpenAI-compatible API), refusals in the
//! service's envelope.
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{MASTER_TOKEN, Server};
use serde_json::{Value, json};

fn url(s: &Server, path: &str) -> String {
    format!("{}/ai/{}", s.url, path.trim_start_matches('/'))
}

fn aget(s: &Server, path: &str) -> (u16, Value) {
    s.send(s.client.get(url(s, path)).header("X-StorageApi-Token", MASTER_TOKEN))
}

fn apost(s: &Server, path: &str, body: Value) -> (u16, Value) {
    s.send(s.client.post(url(s, path)).header("X-StorageApi-Token", MASTER_TOKEN).header("Accept", "application/json").json(&body))
}

fn suggest(s: &Server, prompt: &str) -> Vec<(String, f64)> {
    let (st, body) = apost(s, "suggest/component", json!({"prompt": prompt}));
    assert_eq!(st, 200, "{body}");
    assert!(body["correlationId"].is_string());
    body["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["source"], "fulltext", "{c}");
            (c["componentId"].as_str().unwrap().to_string(), c["score"].as_f64().unwrap())
        })
        .collect()
}

fn ids(found: &[(String, f64)]) -> Vec<&str> {
    found.iter().map(|(id, _)| id.as_str()).collect()
}

fn assert_envelope(body: &Value, code: u16) {
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    assert!(body["exceptionId"].as_str().is_some_and(|e| e.starts_with("ai-")), "{body}");
}

#[test]
fn suggestions_are_ranked_by_the_full_text_index() {
    let s = Server::start();
    let started = Instant::now();
    let found = suggest(&s, "SQL transformation in DuckDB");
    // The first request builds the index (components and README passages).
    assert!(started.elapsed() < Duration::from_secs(1), "first suggestion took {:?}", started.elapsed());
    assert_eq!(found[0].0, "keboola.duckdb-transformation", "{found:?}");
    // The other SQL transformations follow (the DuckDB processor, matching "DuckDB", may come between).
    let top4 = &ids(&found)[..4];
    assert!(top4.contains(&"keboola.snowflake-transformation") && top4.contains(&"keboola.google-bigquery-transformation"), "{found:?}");
    assert!(found.windows(2).all(|w| w[0].1 >= w[1].1), "best first: {found:?}");

    // With 318 catalog entries (issue 8) a query also matches migration and trigger apps of the
    // same names; the component asked for stays among the first three.
    // The current Python transformation and its predecessor (both in the catalog) lead.
    assert!(ids(&suggest(&s, "python"))[..2].contains(&"keboola.python-transformation-v2"));
    let flow = suggest(&s, "flow orchestration");
    // Both flow components are suggested; apps named "Orchestration Trigger" may rank above them.
    assert!(ids(&flow).contains(&"keboola.flow") && ids(&flow).contains(&"keboola.orchestrator"), "{flow:?}");
    assert!(ids(&suggest(&s, "extract data from postgres"))[..3].contains(&"keboola.ex-db-pgsql"), "extract data from postgres: {:?}", suggest(&s, "extract data from postgres"));
    // Keboola has seven Snowflake writers (and a migration app named after them): the classic one
    // is among the first five.
    assert!(ids(&suggest(&s, "write to Snowflake"))[..5].contains(&"keboola.wr-db-snowflake"), "write to Snowflake: {:?}", suggest(&s, "write to Snowflake"));
    assert!(ids(&suggest(&s, "Google Drive sheets"))[..3].contains(&"keboola.ex-google-drive"), "Google Drive sheets: {:?}", suggest(&s, "Google Drive sheets"));
    assert!(suggest(&s, "zzzqqq nonsense-word").is_empty());
    // `query` is read when `prompt` is absent; form bodies work like JSON.
    let (st, body) = apost(&s, "suggest/component", json!({"query": "decompress zip"}));
    assert_eq!((st, body["components"][0]["componentId"].as_str()), (200, Some("keboola.processor-decompress")), "{body}");
}

#[test]
fn component_documentation_comes_from_the_registry() {
    let s = Server::start();
    let (st, d) = aget(&s, "docs/components/keboola.duckdb-transformation");
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["componentId"], "keboola.duckdb-transformation");
    assert_eq!(d["componentType"], "transformation");
    assert_eq!(d["componentName"], "DuckDB SQL");
    assert!(d["componentCategories"].is_array() && d["componentFlags"].as_array().unwrap().iter().any(|f| f == "genericCodeBlocksUI"), "{d}");
    assert_eq!(d["description"], "Transforms tables with DuckDB SQL.");
    assert!(d["longDescription"].is_string());
    assert_eq!(d["documentationUrl"], "https://components.keboola.com/components/keboola.duckdb-transformation");
    assert_eq!(d["configurationSchema"]["required"], json!(["blocks"]), "the registry's schema");
    assert!(d["configurationRowSchema"].is_object() && d["rootConfigurationExamples"].is_array() && d["rowConfigurationExamples"].is_array());
    let doc = d["documentation"].as_str().unwrap();
    assert!(doc.starts_with("# DuckDB SQL") && doc.contains("- `blocks` (array, required)") && doc.contains("On this stack: runs"), "{doc}");

    let (st, d) = aget(&s, "docs/components/keboola.ex-db-mysql");
    assert_eq!(st, 200);
    assert_eq!(d["synchronousActions"], json!(["testConnection", "getTables"]));
    assert!(d["documentation"].as_str().unwrap().contains("jobs of this component end with a user error"));

    let (st, body) = aget(&s, "docs/components/keboola.no-such-component");
    assert_eq!(st, 404);
    assert_envelope(&body, 404);
}

#[test]
fn docs_questions_are_answered_by_retrieval_offline() {
    let s = Server::start();
    let (st, a) = apost(&s, "docs/question", json!({"query": "How do I configure TLS and host names for keboola-mcp-server?"}));
    assert_eq!(st, 201, "{a}");
    let text = a["text"].as_str().unwrap();
    assert!(text.starts_with("No language model is configured"), "{text}");
    assert!(text.contains("Host names and TLS"), "{text}");
    let urls: Vec<&str> = a["sourceUrls"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
    let readme = format!("{}/ai/docs/sources/readme#host-names-and-tls-keboola-mcp-server-keboola-cli", s.url);
    assert!(urls.contains(&readme.as_str()), "{urls:?}");
    // The cited source is served (without a token, like any documentation page).
    let resp = s.client.get(readme.split('#').next().unwrap()).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().unwrap().contains("## Host names and TLS"));

    // A question about a component cites its documentation page.
    let (st, a) = apost(&s, "docs/question", json!({"query": "Which component extracts data from PostgreSQL?"}));
    assert_eq!(st, 201);
    assert!(a["sourceUrls"].as_array().unwrap().iter().any(|u| u == "https://components.keboola.com/components/keboola.ex-db-pgsql"), "{a}");

    let (st, a) = apost(&s, "docs/question", json!({"text": "zzzqqq"}));
    assert_eq!((st, a["sourceUrls"].clone()), (201, json!([])), "{a}");
}

#[test]
fn bad_input_and_missing_tokens_are_refused_in_the_envelope() {
    let s = Server::start();
    for (path, body) in [("suggest/component", json!({})), ("suggest/component", json!({"prompt": "  "})), ("docs/question", json!({"query": ""}))] {
        let (st, b) = apost(&s, path, body);
        assert_eq!(st, 400, "{path}: {b}");
        assert_envelope(&b, 400);
    }
    let (st, b) = s.send(s.client.post(url(&s, "docs/question")).header("X-StorageApi-Token", MASTER_TOKEN).header("Content-Type", "application/json").body("{not json"));
    assert!((400..500).contains(&st), "{st} {b}");
    assert_envelope(&b, st);
    for (method, path) in [("GET", "docs/components/keboola.flow"), ("POST", "suggest/component"), ("POST", "docs/question")] {
        let req = s.client.request(method.parse().unwrap(), url(&s, path)).json(&json!({"prompt": "x", "query": "x"}));
        let (st, b) = s.send(req);
        assert_eq!(st, 401, "{path}: {b}");
        let (st, _) = s.send(s.client.request(method.parse().unwrap(), url(&s, path)).header("X-StorageApi-Token", "1-1-wrong").json(&json!({"prompt": "x"})));
        assert_eq!(st, 401);
    }
    let (st, b) = aget(&s, "no/such/route");
    assert_eq!(st, 404);
    assert_envelope(&b, 404);
    let (st, b) = aget(&s, "health-check");
    assert_eq!((st, b), (200, json!({"status": "ok"})));
}

/// A one-shot OpenAI-compatible server: records each request (head and body) and answers `reply`.
fn fake_llm(reply: Value, status: u16) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            record.lock().unwrap().push(format!("{head}\n{}", String::from_utf8_lossy(&body)));
            let text = reply.to_string();
            let _ = write!(stream, "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len());
        }
    });
    (base, seen)
}

#[test]
fn docs_questions_are_answered_by_the_configured_language_model() {
    let (base, seen) = fake_llm(json!({"choices": [{"message": {"role": "assistant", "content": "Use --stack-suffix and trust the CA [1]."}}]}), 200);
    let s = Server::start_logging(&[("KBSTACK_AI_OPENAI_BASE_URL", &base), ("KBSTACK_AI_OPENAI_API_KEY", "sk-kbstack-test-secret"), ("KBSTACK_AI_MODEL", "tiny-model")]);
    let (st, a) = apost(&s, "docs/question", json!({"query": "How do I set up TLS host names?"}));
    assert_eq!(st, 201, "{a}");
    assert_eq!(a["text"], "Use --stack-suffix and trust the CA [1].");
    assert!(a["sourceUrls"].as_array().unwrap().iter().any(|u| u.as_str().unwrap().contains("/ai/docs/sources/readme#host-names-and-tls")), "{a}");
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let (head, body) = requests[0].split_once("\n\n").unwrap_or((&requests[0], ""));
    assert!(head.starts_with("POST /v1/chat/completions "), "{head}");
    assert!(head.to_ascii_lowercase().contains("authorization: bearer sk-kbstack-test-secret"), "{head}");
    let sent: Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(sent["model"], "tiny-model");
    let user = sent["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("Question: How do I set up TLS host names?") && user.contains("[1] ") && user.contains("Host names and TLS"), "{user}");
    assert!(!s.log_text().contains("sk-kbstack-test-secret"), "the key is never logged");

    // A model that fails is a 502 in the envelope, without the key.
    let (base, _) = fake_llm(json!({"error": {"message": "overloaded"}}), 503);
    let s = Server::start_logging(&[("KBSTACK_AI_OPENAI_BASE_URL", &base), ("KBSTACK_AI_OPENAI_API_KEY", "sk-kbstack-test-secret")]);
    let (st, b) = apost(&s, "docs/question", json!({"query": "TLS host names"}));
    assert_eq!(st, 502, "{b}");
    assert_envelope(&b, 502);
    assert!(!b.to_string().contains("sk-kbstack-test-secret") && !s.log_text().contains("sk-kbstack-test-secret"));
}
