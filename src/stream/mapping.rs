//! A table sink's mapping: which value of a received event goes into which column
//! (`table.mapping.columns[]`, types `uuid`, `datetime`, `ip`, `body`, `headers`, `path`,
//! `template`), checked when the sink is saved and applied when the event arrives.
//!
//! `template` columns take Jsonnet in Keboola. kbstack evaluates one documented subset, a single
//! call: `Body()`, `Body('a.b[0]')`, `Body('a.b', <default>)`, `Header()`, `Header('Name')`,
//! `Header('Name', <default>)`, `Ip()`, `Now()`, where `<default>` is a JSON literal in Jsonnet
//! spelling (`null`, `'text'`, `"text"`, numbers, `true`/`false`). Anything else is refused with
//! a 422 when the sink is created. A string result is stored as is, `null` as an empty value,
//! anything else as JSON.
use serde_json::Value;

use crate::http::{ApiError, ApiResult, Code};
use crate::storage::tables::import::valid_column_name;

/// One step of a JSON path: an object key or an array index.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    Body { path: Vec<Step>, default: Option<Value> },
    Header { name: Option<String>, default: Option<Value> },
    Ip,
    Now,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Uuid,
    Datetime,
    Ip,
    Body,
    Headers,
    Path { path: Vec<Step>, default: Option<String>, raw: bool },
    Template(Template),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
}

impl Column {
    pub fn reads_headers(&self) -> bool {
        matches!(self.kind, Kind::Headers | Kind::Template(Template::Header { .. }))
    }
}

/// What a received event offers the mapping.
pub struct Event<'a> {
    pub body: &'a [u8],
    /// Header names in canonical form (`Content-Type`), in arrival order.
    pub headers: &'a [(String, String)],
    pub ip: &'a str,
    pub received: chrono::DateTime<chrono::Utc>,
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(Code::StreamInvalidPayload, msg.into())
}

/// `a.b[0].c` (also `a.b.0`) as steps; an empty path is the whole value.
pub fn parse_path(path: &str) -> ApiResult<Vec<Step>> {
    let mut steps = Vec::new();
    if path.trim().is_empty() {
        return Ok(steps);
    }
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            // A numeric key (`a.0`) also indexes an array (`lookup`).
            steps.push(Step::Key(key.to_string()));
        } else if rest.is_empty() {
            return Err(invalid(format!("Invalid path \"{path}\": an empty step.")));
        }
        while !rest.is_empty() {
            let end = rest.find(']').ok_or_else(|| invalid(format!("Invalid path \"{path}\": \"[\" without \"]\".")))?;
            let index = rest[1..end].trim().parse::<usize>().map_err(|_| invalid(format!("Invalid path \"{path}\": an index must be a number.")))?;
            steps.push(Step::Index(index));
            rest = &rest[end + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return Err(invalid(format!("Invalid path \"{path}\".")));
            }
        }
    }
    Ok(steps)
}

pub fn lookup<'v>(value: &'v Value, path: &[Step]) -> Option<&'v Value> {
    let mut v = value;
    for step in path {
        v = match (step, v) {
            (Step::Key(k), Value::Object(m)) => m.get(k)?,
            (Step::Index(i), Value::Array(a)) => a.get(*i)?,
            (Step::Key(k), Value::Array(a)) => a.get(k.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// A Jsonnet-spelled literal: `null`, `'text'`, `"text"`, numbers, booleans.
fn parse_literal(text: &str) -> ApiResult<Value> {
    let t = text.trim();
    if t.len() >= 2 && t.starts_with('\'') && t.ends_with('\'') {
        return Ok(Value::String(t[1..t.len() - 1].replace("\\'", "'")));
    }
    serde_json::from_str(t).map_err(|_| invalid(format!("Unsupported template argument `{t}`: only JSON literals and quoted strings.")))
}

/// Split `a, 'b,c'` at top-level commas (quotes respected).
fn split_args(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in args.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                cur.push(c);
            }
            (Some(q), _) if c == q => {
                quote = None;
                cur.push(c);
            }
            (None, ',') => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() || !out.is_empty() {
        out.push(cur);
    }
    out.into_iter().map(|s| s.trim().to_string()).collect()
}

pub fn parse_template(content: &str) -> ApiResult<Template> {
    let unsupported = || {
        invalid(format!(
            "Unsupported template \"{content}\": kbstack evaluates one call of Body(path[, default]), Header(name[, default]), Ip() or Now() (no other Jsonnet)."
        ))
    };
    let c = content.trim().trim_end_matches(';').trim();
    let open = c.find('(').ok_or_else(unsupported)?;
    if !c.ends_with(')') {
        return Err(unsupported());
    }
    let func = c[..open].trim();
    let args = split_args(&c[open + 1..c.len() - 1]);
    let string_arg = |i: usize| -> ApiResult<Option<String>> {
        match args.get(i) {
            None => Ok(None),
            Some(a) => match parse_literal(a)? {
                Value::String(s) => Ok(Some(s)),
                _ => Err(unsupported()),
            },
        }
    };
    let default = |i: usize| -> ApiResult<Option<Value>> { args.get(i).map(|a| parse_literal(a)).transpose() };
    if args.len() > 2 {
        return Err(unsupported());
    }
    match func {
        "Body" => Ok(Template::Body { path: parse_path(&string_arg(0)?.unwrap_or_default())?, default: default(1)? }),
        "Header" => Ok(Template::Header { name: string_arg(0)?, default: default(1)? }),
        "Ip" if args.is_empty() => Ok(Template::Ip),
        "Now" if args.is_empty() => Ok(Template::Now),
        _ => Err(unsupported()),
    }
}

/// The mapping's columns from `table.mapping.columns`, checked.
pub fn parse_columns(columns: &Value) -> ApiResult<Vec<Column>> {
    let list = columns.as_array().ok_or_else(|| invalid("\"table.mapping.columns\" must be an array of columns."))?;
    if list.is_empty() {
        return Err(invalid("\"table.mapping.columns\" must have at least one column."));
    }
    let mut out: Vec<Column> = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let name = c["name"].as_str().unwrap_or_default().to_string();
        if !valid_column_name(&name) {
            return Err(invalid(format!(
                "Column {i}: \"{name}\" is not a valid column name (letters, digits and underscores, at most 64)."
            )));
        }
        if out.iter().any(|o| o.name.eq_ignore_ascii_case(&name)) {
            return Err(invalid(format!("Column \"{name}\" is mapped twice.")));
        }
        let kind = match c["type"].as_str().unwrap_or_default() {
            "uuid" => Kind::Uuid,
            "datetime" => Kind::Datetime,
            "ip" => Kind::Ip,
            "body" => Kind::Body,
            "headers" => Kind::Headers,
            "path" => {
                let path = c["path"].as_str().ok_or_else(|| invalid(format!("Column \"{name}\" of type \"path\" needs a \"path\".")))?;
                let default = match &c["defaultValue"] {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                };
                Kind::Path { path: parse_path(path)?, default, raw: c["rawString"].as_bool().unwrap_or(false) }
            }
            "template" => {
                let t = &c["template"];
                let language = t["language"].as_str().unwrap_or("jsonnet");
                if language != "jsonnet" {
                    return Err(invalid(format!("Column \"{name}\": template language \"{language}\" is not supported (jsonnet).")));
                }
                let content = t["content"].as_str().ok_or_else(|| invalid(format!("Column \"{name}\" of type \"template\" needs \"template.content\".")))?;
                Kind::Template(parse_template(content)?)
            }
            other => {
                return Err(invalid(format!(
                    "Column \"{name}\": type \"{other}\" is not one of uuid, datetime, ip, body, headers, path, template."
                )));
            }
        };
        out.push(Column { name, kind });
    }
    Ok(out)
}

/// `content-type` → `Content-Type` (Go's canonical header form, as Keboola shows headers).
pub fn canonical_header(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut cs = part.chars();
            match cs.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &cs.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn headers_json(headers: &[(String, String)]) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in headers {
        m.entry(k.clone()).or_insert_with(|| Value::String(v.clone()));
    }
    Value::Object(m)
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The body as JSON, parsed once per event for all sinks (`None` until needed, `Err` when not JSON).
pub struct ParsedBody<'a> {
    raw: &'a [u8],
    parsed: Option<Result<Value, String>>,
}

impl<'a> ParsedBody<'a> {
    pub fn new(raw: &'a [u8]) -> ParsedBody<'a> {
        ParsedBody { raw, parsed: None }
    }

    fn json(&mut self) -> ApiResult<&Value> {
        let raw = self.raw;
        let parsed = self.parsed.get_or_insert_with(|| serde_json::from_slice::<Value>(raw).map_err(|e| e.to_string()));
        parsed.as_ref().map_err(|e| ApiError::validation(format!("The body is not JSON, so no value can be taken from it: {e}")))
    }
}

/// The column values of one event, in mapping order.
pub fn row(columns: &[Column], ev: &Event, body: &mut ParsedBody) -> ApiResult<Vec<String>> {
    let mut out = Vec::with_capacity(columns.len());
    for c in columns {
        let v = match &c.kind {
            Kind::Uuid => uuid::Uuid::new_v4().to_string(),
            Kind::Datetime => ev.received.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            Kind::Ip => ev.ip.to_string(),
            Kind::Body => String::from_utf8_lossy(ev.body).into_owned(),
            Kind::Headers => headers_json(ev.headers).to_string(),
            Kind::Path { path, default, raw } => match lookup(body.json()?, path) {
                Some(Value::String(s)) if *raw => s.clone(),
                Some(v) => v.to_string(),
                None => default.clone().ok_or_else(|| {
                    ApiError::validation(format!("Column \"{}\": path \"{}\" is not in the body and the column has no defaultValue.", c.name, show(path)))
                })?,
            },
            Kind::Template(t) => match t {
                Template::Ip => ev.ip.to_string(),
                Template::Now => ev.received.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                Template::Header { name: None, .. } => headers_json(ev.headers).to_string(),
                Template::Header { name: Some(n), default } => {
                    let want = canonical_header(n);
                    match ev.headers.iter().find(|(k, _)| *k == want) {
                        Some((_, v)) => v.clone(),
                        None => text_of(default.as_ref().ok_or_else(|| ApiError::validation(format!("Column \"{}\": header \"{n}\" not found.", c.name)))?),
                    }
                }
                Template::Body { path, default } => match lookup(body.json()?, path) {
                    Some(v) => text_of(v),
                    None => text_of(default.as_ref().ok_or_else(|| {
                        ApiError::validation(format!("Column \"{}\": path \"{}\" is not in the body.", c.name, show(path)))
                    })?),
                },
            },
        };
        out.push(v);
    }
    Ok(out)
}

fn show(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// One CSV line (every value quoted, `"` doubled, ending in `\n`): the form rows are staged in.
pub fn csv_line(values: &[String], out: &mut Vec<u8>) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        for b in v.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    }
    out.push(b'\n');
}

/// The names of the mapped columns.
pub fn names(columns: &[Column]) -> Vec<String> {
    columns.iter().map(|c| c.name.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_templates() {
        assert_eq!(parse_path("a.b[1].c").unwrap(), vec![Step::Key("a".into()), Step::Key("b".into()), Step::Index(1), Step::Key("c".into())]);
        let body = json!({"a": {"b": [1, {"c": "x"}]}});
        assert_eq!(lookup(&body, &parse_path("a.b[1].c").unwrap()), Some(&json!("x")));
        assert_eq!(lookup(&body, &parse_path("a.b.0").unwrap()), Some(&json!(1)));
        assert_eq!(parse_template("Body('user.id', null)").unwrap(), Template::Body { path: parse_path("user.id").unwrap(), default: Some(Value::Null) });
        assert!(parse_template("std.join(',', [Body('a')])").is_err());
        assert_eq!(canonical_header("x-forwarded-for"), "X-Forwarded-For");
        let mut line = Vec::new();
        csv_line(&["a\"b".into(), "c\nd".into()], &mut line);
        assert_eq!(line, b"\"a\"\"b\",\"c\nd\"\n");
    }
}
