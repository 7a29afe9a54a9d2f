//! The AI service's two full-text indexes (a `TextIndex` each, SQLite FTS5 in memory):
//! - components: every component this stack lists (id, name, type, categories, descriptions),
//!   for `POST /suggest/component`;
//! - passages: kbstack's README (embedded in the binary, cut at its headings) and one passage per
//!   component, for `POST /docs/question`.
//!
//! Built on first use (a few milliseconds for the built-in catalog) and again whenever the
//! component list changes (an imported catalog, a published Developer Portal app, a registered
//! process component): a fingerprint of the listed fields is compared on every request.
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use serde_json::Value;

use crate::app::AppState;
use crate::http::{ApiError, ApiResult};
use kbstack_store::text_index::{Document, Field, Fts5Index, TextIndex};

/// The README as this binary was built with it.
pub const README: &str = include_str!("../../README.md");

/// Component fields and their BM25 weights: the id and the name say what a component is; the
/// type and categories classify it; descriptions are longer and say more in passing.
const COMPONENT_FIELDS: &[Field] = &[
    Field { name: "id", weight: 10.0 },
    Field { name: "name", weight: 8.0 },
    Field { name: "type", weight: 2.0 },
    Field { name: "categories", weight: 3.0 },
    Field { name: "description", weight: 2.0 },
    Field { name: "long_description", weight: 1.0 },
];

const PASSAGE_FIELDS: &[Field] = &[Field { name: "title", weight: 4.0 }, Field { name: "text", weight: 1.0 }];

/// Components a user would not create themselves (hidden from "new" lists, deprecated) rank
/// below an otherwise equal match.
const HIDDEN_BOOST: f64 = 0.5;

/// Passages longer than this are cut at paragraph boundaries (a passage is what an answer quotes).
const PASSAGE_CHARS: usize = 1200;

/// Where a passage comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A section of the README, by its GitHub-style heading anchor.
    Readme { anchor: String },
    /// A component's description; its documentation URL.
    Component { id: String, url: Option<String> },
}

#[derive(Debug, Clone)]
pub struct Passage {
    pub title: String,
    pub text: String,
    pub source: Source,
}

pub struct Indexes {
    fingerprint: u64,
    pub components: Box<dyn TextIndex>,
    pub passages: Box<dyn TextIndex>,
    /// The passages by their index key (their position).
    pub passage_list: Vec<Passage>,
}

/// The indexes of the components `state` lists now (built, or rebuilt if the list changed).
pub fn current(state: &AppState) -> ApiResult<Arc<Indexes>> {
    static CACHE: OnceLock<Mutex<Option<Arc<Indexes>>>> = OnceLock::new();
    let mut components = Vec::new();
    crate::storage::components::for_each(state, |c| components.push(c.clone()));
    let fingerprint = fingerprint(&components);
    let cache = CACHE.get_or_init(|| Mutex::new(None));
    let mut cached = cache.lock();
    if let Some(ix) = cached.as_ref().filter(|ix| ix.fingerprint == fingerprint) {
        return Ok(ix.clone());
    }
    let started = std::time::Instant::now();
    let built = Arc::new(build(&components, fingerprint).map_err(|e| ApiError::internal(format!("building the AI service's index: {e}")))?);
    tracing::info!(
        components = built.components.len(),
        passages = built.passage_list.len(),
        ms = started.elapsed().as_millis() as u64,
        "AI service index built"
    );
    *cached = Some(built.clone());
    Ok(built)
}

fn text(c: &Value, key: &str) -> String {
    c.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn strings(c: &Value, key: &str) -> Vec<String> {
    c.get(key).and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect()).unwrap_or_default()
}

fn fingerprint(components: &[Value]) -> u64 {
    let mut h = DefaultHasher::new();
    for c in components {
        for key in ["id", "name", "type", "description", "longDescription", "documentationUrl"] {
            text(c, key).hash(&mut h);
        }
        strings(c, "categories").hash(&mut h);
        strings(c, "flags").hash(&mut h);
    }
    h.finish()
}

/// Hidden from the "new component" lists or deprecated.
pub fn is_hidden(c: &Value) -> bool {
    strings(c, "flags").iter().any(|f| f == "excludeFromNewList" || f == "deprecated")
}

/// The long description when it says more than the short one.
fn long_description(c: &Value) -> String {
    let long = text(c, "longDescription");
    if long == text(c, "description") { String::new() } else { long }
}

fn build(components: &[Value], fingerprint: u64) -> anyhow::Result<Indexes> {
    let component_docs: Vec<Document> = components
        .iter()
        .map(|c| Document {
            key: text(c, "id"),
            values: vec![text(c, "id"), text(c, "name"), text(c, "type"), strings(c, "categories").join(", "), text(c, "description"), long_description(c)],
            boost: if is_hidden(c) { HIDDEN_BOOST } else { 1.0 },
        })
        .collect();
    let mut passage_list = readme_passages(README);
    for c in components {
        let id = text(c, "id");
        let mut body = format!("{} ({} component `{id}`", text(c, "name"), text(c, "type"));
        let categories = strings(c, "categories");
        if !categories.is_empty() {
            body.push_str(&format!(", categories: {}", categories.join(", ")));
        }
        body.push_str("). ");
        body.push_str(&text(c, "description"));
        let long = long_description(c);
        if !long.is_empty() {
            body.push_str("\n\n");
            body.push_str(&long);
        }
        let url = c.get("documentationUrl").and_then(Value::as_str).filter(|u| !u.is_empty()).map(str::to_string);
        passage_list.push(Passage { title: format!("{} ({id})", text(c, "name")), text: body, source: Source::Component { id, url } });
    }
    let passage_docs: Vec<Document> = passage_list
        .iter()
        .enumerate()
        .map(|(i, p)| Document { key: i.to_string(), values: vec![p.title.clone(), p.text.clone()], boost: 1.0 })
        .collect();
    Ok(Indexes {
        fingerprint,
        components: Box::new(Fts5Index::build(COMPONENT_FIELDS, &component_docs)?),
        passages: Box::new(Fts5Index::build(PASSAGE_FIELDS, &passage_docs)?),
        passage_list,
    })
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens.
pub fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// A markdown document cut into passages: one per heading's section (`#`…`####`, outside
/// fenced code), long sections cut further at blank lines. Each is titled with the path of
/// headings above it ("kbstack › What is served › Importer and Metastore").
pub fn readme_passages(markdown: &str) -> Vec<Passage> {
    let mut out = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut anchor_of_section = String::new();
    let mut body: Vec<&str> = Vec::new();
    let mut fenced = false;
    let flush = |path: &[(usize, String)], anchor: &str, body: &mut Vec<&str>, out: &mut Vec<Passage>| {
        let title = path.iter().map(|(_, h)| h.as_str()).collect::<Vec<_>>().join(" › ");
        for chunk in chunks(&body.join("\n")) {
            out.push(Passage { title: title.clone(), text: chunk, source: Source::Readme { anchor: anchor.to_string() } });
        }
        body.clear();
    };
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        let level = line.bytes().take_while(|b| *b == b'#').count();
        if !fenced && (1..=4).contains(&level) && line.as_bytes().get(level) == Some(&b' ') {
            flush(&path, &anchor_of_section, &mut body, &mut out);
            let heading = line[level..].trim().to_string();
            while path.last().is_some_and(|(l, _)| *l >= level) {
                path.pop();
            }
            anchor_of_section = anchor(&heading);
            path.push((level, heading));
            continue;
        }
        body.push(line);
    }
    flush(&path, &anchor_of_section, &mut body, &mut out);
    out
}

/// Paragraph-aligned pieces of at most about `PASSAGE_CHARS` characters (a longer paragraph stays whole).
fn chunks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for paragraph in text.split("\n\n").map(str::trim_end).filter(|p| !p.trim().is_empty()) {
        if !current.is_empty() && current.len() + paragraph.len() > PASSAGE_CHARS {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push_str("\n\n");
        }
        current.push_str(paragraph.trim_start_matches('\n'));
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_is_cut_at_headings_with_anchors() {
        let md = "# Top\nintro\n\n## Set-up (fresh machine)\nrun it\n\n```\n# not a heading\n```\n### Host names and TLS\ncerts\n";
        let p = readme_passages(md);
        let titles: Vec<&str> = p.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["Top", "Top › Set-up (fresh machine)", "Top › Set-up (fresh machine) › Host names and TLS"]);
        assert!(p[1].text.contains("# not a heading"));
        assert!(matches!(&p[1].source, Source::Readme { anchor } if anchor == "set-up-fresh-machine"));
        assert!(!readme_passages(README).is_empty());
    }

    #[test]
    fn long_sections_are_cut_at_paragraphs() {
        let para = "word ".repeat(100);
        let text = vec![para.as_str(); 7].join("\n\n");
        let pieces = chunks(&text);
        assert!(pieces.len() >= 3, "{}", pieces.len());
        assert!(pieces.iter().all(|p| p.len() <= PASSAGE_CHARS + 10));
    }
}
