//! One extractor for every body encoding the clients send on the same endpoint: JSON,
//! `application/x-www-form-urlencoded` with PHP bracket arrays (`tags[]=a`, `input[0][source]=x`),
//! and multipart; merged over the query string (which uses the same bracket rules).
use axum::extract::{FromRequest, Request};
use axum::http::header;
use bytes::Bytes;
use serde_json::{Map, Value};

use super::error::{ApiError, ApiResult, Code};

#[derive(Debug, Default, Clone)]
pub struct Params {
    pub values: Map<String, Value>,
    /// Multipart file parts by field name (deprecated sync import/create endpoints).
    pub files: Vec<(String, Bytes)>,
}

impl Params {
    /// The query string's parameters; a 400 when it nests too deep or carries too many.
    pub fn from_query(query: Option<&str>) -> ApiResult<Params> {
        let values = match query {
            Some(q) => parse_form(q.as_bytes())?,
            None => Map::new(),
        };
        Ok(Params { values, files: Vec::new() })
    }

    /// A present, non-null value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self.values.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// A parameter read as one value: a repeated key (`limit=1&limit=2`, which collects into a
    /// list) counts with its last value, as PHP reads it.
    fn scalar(&self, key: &str) -> Option<&Value> {
        match self.get(key)? {
            Value::Array(items) if items.iter().all(|i| !i.is_array() && !i.is_object()) => items.last().filter(|v| !v.is_null()),
            v => Some(v),
        }
    }

    /// Scalars as text (numbers and booleans rendered as PHP would send them).
    pub fn str(&self, key: &str) -> Option<String> {
        self.scalar(key).and_then(scalar_to_string)
    }

    pub fn str_or(&self, key: &str, default: &str) -> String {
        self.str(key).unwrap_or_else(|| default.to_string())
    }

    pub fn required_str(&self, key: &str) -> ApiResult<String> {
        match self.str(key) {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::validation(format!("Invalid request:\n - {key}: This value should not be blank."))),
        }
    }

    pub fn bool(&self, key: &str) -> ApiResult<Option<bool>> {
        match self.scalar(key) {
            None => Ok(None),
            Some(v) => parse_bool(v)
                .map(Some)
                .ok_or_else(|| ApiError::validation(format!("Invalid request:\n - {key}: This value should be of type bool."))),
        }
    }

    pub fn flag(&self, key: &str) -> ApiResult<bool> {
        Ok(self.bool(key)?.unwrap_or(false))
    }

    pub fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.scalar(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(v) => match scalar_to_string(v).and_then(|s| s.trim().parse::<i64>().ok()) {
                Some(i) => Ok(Some(i)),
                None if matches!(v, Value::String(s) if s.is_empty()) => Ok(None),
                None => Err(ApiError::validation(format!("Invalid request:\n - {key}: This value should be of type int."))),
            },
        }
    }

    /// A list: a JSON/bracket array, or a single scalar (one element).
    pub fn list(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => items.iter().filter_map(scalar_to_string).collect(),
            Some(v) => scalar_to_string(v).into_iter().collect(),
        }
    }

    /// A list that may also come as one comma-separated string (`columns=a,b`, `primaryKey=a,b`).
    pub fn csv_list(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some(Value::String(s)) => comma_list(Some(s)),
            _ => self.list(key),
        }
    }

    /// An object sent as JSON, or as a string holding JSON (form bodies, Go's events).
    pub fn json_value(&self, key: &str) -> ApiResult<Option<Value>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s)
                .map(Some)
                .map_err(|e| ApiError::validation(format!("Invalid request:\n - {key}: This value is not valid JSON ({e})."))),
            Some(v) => Ok(Some(v.clone())),
        }
    }
}

/// `a, b,,c` → `["a", "b", "c"]` (`include=`, `columns=`, `primaryKey=`).
pub fn comma_list(s: Option<&str>) -> Vec<String> {
    s.unwrap_or("").split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
}

pub fn scalar_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1".into() } else { "0".into() }),
        _ => None,
    }
}

/// `1/0/true/false/True/False/yes/no/on/off` and the empty string (false).
pub fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Some(true),
            "0" | "false" | "no" | "off" | "" => Some(false),
            _ => None,
        },
        Value::Null => Some(false),
        _ => None,
    }
}

/// PHP's `max_input_nesting_level`: deeper bracket keys are refused (recursion stays bounded).
pub const MAX_DEPTH: usize = 64;
/// Most `key=value` pairs one request may carry (PHP's `max_input_vars` is 1,000; clients send
/// long column lists, so the bound is higher, but parsing stays linear and bounded).
pub const MAX_PAIRS: usize = 20_000;

fn too_deep() -> ApiError {
    ApiError::validation(format!("Invalid request: parameters nested deeper than {MAX_DEPTH} levels."))
}

fn form_urlencoded_pairs(input: &[u8]) -> ApiResult<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for part in input.split(|b| *b == b'&').filter(|part| !part.is_empty()) {
        if pairs.len() == MAX_PAIRS {
            return Err(ApiError::validation(format!("Invalid request: more than {MAX_PAIRS} parameters.")));
        }
        let mut it = part.splitn(2, |b| *b == b'=');
        let k = decode_component(it.next().unwrap_or_default());
        let v = decode_component(it.next().unwrap_or_default());
        pairs.push((k, v));
    }
    Ok(pairs)
}

fn decode_component(raw: &[u8]) -> String {
    let replaced: Vec<u8> = raw.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
    percent_encoding::percent_decode(&replaced).decode_utf8_lossy().into_owned()
}

/// The bracket tree while pairs are inserted: each branch remembers PHP's next free index, so
/// `a[]=` appends in constant time (a scan for the free index made 20,000 appends quadratic).
enum Node {
    Leaf(String),
    Branch(Branch),
}

#[derive(Default)]
struct Branch {
    children: Vec<(String, Node)>,
    index: std::collections::HashMap<String, usize>,
    next_index: u64,
}

impl Branch {
    fn child_mut(&mut self, key: String) -> &mut Node {
        if let Ok(i) = key.parse::<u64>() {
            self.next_index = self.next_index.max(i.saturating_add(1));
        }
        let pos = match self.index.get(&key) {
            Some(pos) => *pos,
            None => {
                self.index.insert(key.clone(), self.children.len());
                self.children.push((key, Node::Branch(Branch::default())));
                self.children.len() - 1
            }
        };
        &mut self.children[pos].1
    }

    fn insert(&mut self, path: &[String], value: String) {
        let key = if path[0].is_empty() { self.next_index.to_string() } else { path[0].clone() };
        let slot = self.child_mut(key);
        if path.len() == 1 {
            *slot = Node::Leaf(value);
            return;
        }
        if !matches!(slot, Node::Branch(_)) {
            *slot = Node::Branch(Branch::default());
        }
        if let Node::Branch(b) = slot {
            b.insert(&path[1..], value);
        }
    }

    /// Objects whose keys are all indexes become arrays (in index order).
    fn into_value(self) -> Value {
        let all_indexes = !self.children.is_empty() && self.children.iter().all(|(k, _)| k.parse::<u64>().is_ok());
        if all_indexes {
            let mut items: Vec<(u64, Value)> =
                self.children.into_iter().map(|(k, n)| (k.parse().unwrap_or(0), n.into_value())).collect();
            items.sort_by_key(|(i, _)| *i);
            Value::Array(items.into_iter().map(|(_, v)| v).collect())
        } else {
            Value::Object(self.children.into_iter().map(|(k, n)| (k, n.into_value())).collect())
        }
    }
}

impl Node {
    fn into_value(self) -> Value {
        match self {
            Node::Leaf(s) => Value::String(s),
            Node::Branch(b) => b.into_value(),
        }
    }
}

/// Insert `key=value` pairs following PHP's rules: `a[]` appends, `a[0][b]` nests; a plain key
/// repeated (Python's `tableIds=a&tableIds=b`) collects into a list. Nesting is bounded by
/// `MAX_DEPTH`.
fn insert_pairs(map: &mut Map<String, Value>, pairs: Vec<(String, String)>) -> ApiResult<()> {
    let mut nested: Vec<(String, Branch)> = Vec::new();
    let mut nested_index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (key, value) in pairs {
        let (base, path) = split_brackets(&key);
        if path.len() > MAX_DEPTH {
            return Err(too_deep());
        }
        if path.is_empty() {
            if let Some(pos) = nested_index.remove(&base) {
                // A plain key after bracketed ones replaces them (PHP: last assignment wins).
                nested[pos].1 = Branch::default();
            }
            match map.get_mut(&base) {
                Some(Value::Array(items)) => items.push(Value::String(value)),
                Some(existing @ Value::String(_)) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, Value::String(value)]);
                }
                _ => {
                    map.insert(base, Value::String(value));
                }
            }
            continue;
        }
        let pos = *nested_index.entry(base.clone()).or_insert_with(|| {
            nested.push((base.clone(), Branch::default()));
            nested.len() - 1
        });
        nested[pos].1.insert(&path, value);
    }
    for (base, branch) in nested {
        if nested_index.contains_key(&base) {
            map.insert(base, branch.into_value());
        }
    }
    Ok(())
}

fn split_brackets(key: &str) -> (String, Vec<String>) {
    match key.find('[') {
        Some(open) if key.ends_with(']') => {
            let base = key[..open].to_string();
            let rest = &key[open + 1..key.len() - 1];
            let path = rest.split("][").map(str::to_string).collect();
            (base, path)
        }
        _ => (key.to_string(), Vec::new()),
    }
}

/// A form body or query string as parameters (JSON bodies are parsed by serde_json, whose own
/// recursion limit bounds them).
fn parse_form(input: &[u8]) -> ApiResult<Map<String, Value>> {
    let mut values = Map::new();
    insert_pairs(&mut values, form_urlencoded_pairs(input)?)?;
    Ok(values)
}

/// Bodies above this size are parsed on the blocking pool, not on an async worker.
const INLINE_PARSE_BYTES: usize = 64 * 1024;

/// The largest request body a service accepts; the state of every router that parses `Params`
/// gives it (`FromRef`).
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

impl<S> FromRequest<S> for Params
where
    S: Send + Sync,
    BodyLimit: axum::extract::FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut params = Params::from_query(req.uri().query())?;
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("multipart/form-data") {
            let mut multipart = axum::extract::Multipart::from_request(req, state)
                .await
                .map_err(|e| ApiError::validation(format!("Invalid multipart body: {e}")))?;
            let mut pairs = Vec::new();
            while let Some(field) = multipart
                .next_field()
                .await
                .map_err(|e| ApiError::validation(format!("Invalid multipart body: {e}")))?
            {
                let name = field.name().unwrap_or_default().to_string();
                let is_file = field.file_name().is_some();
                let data = field.bytes().await.map_err(|e| ApiError::validation(format!("Invalid multipart body: {e}")))?;
                if is_file {
                    params.files.push((name, data));
                } else {
                    if pairs.len() == MAX_PAIRS {
                        return Err(ApiError::validation(format!("Invalid request: more than {MAX_PAIRS} parameters.")));
                    }
                    pairs.push((name, String::from_utf8_lossy(&data).into_owned()));
                }
            }
            insert_pairs(&mut params.values, pairs)?;
            return Ok(params);
        }
        let BodyLimit(limit) = axum::extract::FromRef::from_ref(state);
        let body = axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| {
            ApiError::new(Code::PayloadTooLarge, format!("Request body is larger than the limit of {limit} bytes."))
        })?;
        if body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(params);
        }
        let body_len = body.len();
        let looks_json = content_type.contains("json") || (content_type.is_empty() && matches!(body.first(), Some(b'{') | Some(b'[')));
        let parse = move || -> ApiResult<Map<String, Value>> {
            if !looks_json {
                return parse_form(&body);
            }
            let parsed: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::validation(format!("Invalid JSON in request body: {e}")))?;
            match parsed {
                Value::Object(obj) => Ok(obj),
                Value::Array(items) if items.is_empty() => Ok(Map::new()),
                _ => Err(ApiError::validation("Request body must be a JSON object.")),
            }
        };
        let values = if body_len <= INLINE_PARSE_BYTES {
            parse()?
        } else {
            tokio::task::spawn_blocking(parse).await.map_err(ApiError::internal)??
        };
        params.values.extend(values);
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn php_brackets_nest_and_append() {
        let p = Params::from_query(Some("tags%5B%5D=a&tags[]=b&input[0][source]=x&input[0][destination]=y&w[1]=z&w[0]=q&t=1&t=2")).unwrap();
        assert_eq!(p.list("tags"), vec!["a", "b"]);
        assert_eq!(p.get("input").unwrap()[0]["source"], "x");
        assert_eq!(p.list("w"), vec!["q", "z"]);
        assert_eq!(p.list("t"), vec!["1", "2"]);
    }

    #[test]
    fn deep_nesting_and_too_many_pairs_are_refused() {
        let deep = format!("a{}=1", "[x]".repeat(10_000));
        assert_eq!(Params::from_query(Some(&deep)).unwrap_err().code, Code::ValidationFailed);
        let ok = format!("a{}=1", "[x]".repeat(MAX_DEPTH));
        assert!(Params::from_query(Some(&ok)).is_ok());
        let many = "a=1&".repeat(MAX_PAIRS + 1);
        assert_eq!(Params::from_query(Some(&many)).unwrap_err().code, Code::ValidationFailed);
    }

    #[test]
    fn appends_take_the_next_index_after_the_largest() {
        let p = Params::from_query(Some("a[5]=x&a[]=y&b[]=1&b[]=2")).unwrap();
        assert_eq!(p.get("a").unwrap(), &serde_json::json!(["x", "y"]));
        assert_eq!(p.get("a").unwrap().as_array().unwrap().len(), 2);
        assert_eq!(p.list("b"), vec!["1", "2"]);
        // 20,000 appends stay linear (the quadratic scan took seconds).
        let started = std::time::Instant::now();
        let appends = "a[]=&".repeat(MAX_PAIRS);
        assert_eq!(Params::from_query(Some(&appends)).unwrap().list("a").len(), MAX_PAIRS);
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
    }

    #[test]
    fn a_repeated_key_read_as_one_value_is_the_last() {
        let p = Params::from_query(Some("limit=1&limit=2&name=a&name=b&flag=0&flag=1")).unwrap();
        assert_eq!(p.int("limit").unwrap(), Some(2));
        assert_eq!(p.str("name").as_deref(), Some("b"));
        assert_eq!(p.bool("flag").unwrap(), Some(true));
        assert_eq!(p.list("name"), vec!["a", "b"]);
    }

    #[test]
    fn booleans_in_every_spelling() {
        for (s, b) in [("1", true), ("0", false), ("True", true), ("False", false), ("true", true), ("", false)] {
            assert_eq!(parse_bool(&Value::String(s.into())), Some(b), "{s}");
        }
        assert_eq!(parse_bool(&Value::String("maybe".into())), None);
    }
}
