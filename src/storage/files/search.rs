//! `GET files` filters: `tags[]` (a file matches when it has one or more of them, as the PHP client's
//! FilesTest asserts), `runId` (the run or any of its parents), `showExpired`, and `q`, a subset of
//! Elasticsearch's query-string syntax: `field:value`, `"quoted values"`, `AND`/`OR`/`NOT` (also
//! `&&`/`||`/`!`), parentheses, `*`/`?` wildcards; plain juxtaposition ORs, like ES's default operator.
use serde_json::Value;

use super::FileRow;
use crate::http::{ApiError, ApiResult, Code, Params, params::parse_bool};

pub struct Filter {
    tags: Vec<String>,
    run_id: Option<String>,
    query: Option<Query>,
    show_expired: bool,
}

impl Filter {
    pub fn from_params(p: &Params) -> ApiResult<Filter> {
        let tags = match p.get("tags") {
            None => Vec::new(),
            Some(Value::Array(_)) => p.list("tags"),
            Some(_) => {
                return Err(ApiError::new(
                    Code::StorageValidation,
                    "Invalid request:\n - tags: This value should be of type array (send tags[]=...).",
                ));
            }
        };
        let mut filter = Filter::new(tags, p.str("q").as_deref())?;
        filter.run_id = p.str("runId").filter(|r| !r.is_empty());
        filter.show_expired = p.flag("showExpired")?;
        Ok(filter)
    }

    /// Unexpired files having one or more of `tags` (none: any) and matching the query `q`.
    pub fn new(tags: Vec<String>, q: Option<&str>) -> ApiResult<Filter> {
        let query = match q.filter(|q| !q.trim().is_empty()) {
            Some(q) => Some(parse(q).map_err(|why| ApiError::new(Code::QuerySyntax, format!("Failed to parse query \"{q}\": {why}")))?),
            None => None,
        };
        Ok(Filter { tags, run_id: None, query, show_expired: false })
    }

    pub fn matches(&self, f: &FileRow) -> bool {
        (self.show_expired || !f.is_expired())
            && (self.tags.is_empty() || self.tags.iter().any(|t| f.tags.contains(t)))
            && self.run_id.as_ref().is_none_or(|r| in_run(f, r))
            && self.query.as_ref().is_none_or(|q| q.matches(f))
    }
}

fn in_run(f: &FileRow, run_id: &str) -> bool {
    f.run_id.as_deref() == Some(run_id) || f.run_ids.iter().any(|r| r == run_id)
}

#[derive(Debug, PartialEq)]
pub enum Query {
    Or(Vec<Query>),
    And(Vec<Query>),
    Not(Box<Query>),
    Term { field: Option<String>, value: String },
}

impl Query {
    pub fn matches(&self, f: &FileRow) -> bool {
        match self {
            Query::Or(items) => items.iter().any(|q| q.matches(f)),
            Query::And(items) => items.iter().all(|q| q.matches(f)),
            Query::Not(q) => !q.matches(f),
            Query::Term { field, value } => term_matches(field.as_deref(), value, f),
        }
    }
}

fn term_matches(field: Option<&str>, value: &str, f: &FileRow) -> bool {
    let flag = |b: bool| parse_bool(&Value::String(value.into())) == Some(b);
    match field {
        // No field: anything a user would search for (name words, a tag, an id).
        None => text_matches(value, &f.name) || f.tags.iter().any(|t| glob(value, t)) || value == f.id.to_string(),
        Some("tags") => f.tags.iter().any(|t| glob(value, t)),
        Some("name") => text_matches(value, &f.name),
        Some("id") => value == f.id.to_string(),
        Some("runId") => in_run(f, value),
        Some("isSliced") => flag(f.is_sliced),
        Some("isPublic") => flag(f.is_public),
        Some("isPermanent") => flag(f.is_permanent),
        Some("isEncrypted") => flag(f.is_encrypted),
        Some("creatorToken.id") => value == f.creator_token_id.to_string(),
        Some("creatorToken.description") => text_matches(value, &f.creator_description),
        // Elasticsearch matches nothing on a field the document does not have.
        Some(_) => false,
    }
}

/// Analyzed-text match, approximated: case-insensitive substring, or a wildcard pattern.
fn text_matches(value: &str, text: &str) -> bool {
    let (value, text) = (value.to_lowercase(), text.to_lowercase());
    if value.contains(['*', '?']) { glob(&value, &text) } else { text.contains(&value) }
}

/// `*` any run, `?` one character; everything else literal.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if let Some((bp, bt)) = backtrack {
            pi = bp + 1;
            ti = bt + 1;
            backtrack = Some((bp, bt + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Not,
    Term(Option<String>, String),
}

/// Characters Elasticsearch reserves that this subset does not give a meaning to.
const RESERVED: &[char] = &['[', ']', '{', '}', '^', '~', '\\', '<', '>', '='];

fn tokenize(q: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = q.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let quoted = |i: &mut usize| -> Result<String, String> {
        // At the opening quote; `\"` escapes a quote.
        let mut s = String::new();
        *i += 1;
        while *i < chars.len() {
            match chars[*i] {
                '"' => {
                    *i += 1;
                    return Ok(s);
                }
                '\\' if *i + 1 < chars.len() => {
                    s.push(chars[*i + 1]);
                    *i += 2;
                }
                c => {
                    s.push(c);
                    *i += 1;
                }
            }
        }
        Err("unterminated quoted string".into())
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(Token::Open);
            i += 1;
        } else if c == ')' {
            out.push(Token::Close);
            i += 1;
        } else if c == '"' {
            out.push(Token::Term(None, quoted(&mut i)?));
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], '(' | ')' | '"' | ':') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if i < chars.len() && chars[i] == ':' {
                if !valid_field(&word) {
                    return Err(format!("invalid field name \"{word}\""));
                }
                i += 1;
                let value = if i < chars.len() && chars[i] == '"' {
                    quoted(&mut i)?
                } else {
                    let vstart = i;
                    while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], '(' | ')') {
                        i += 1;
                    }
                    let value: String = chars[vstart..i].iter().collect();
                    bare_value(&value)?
                };
                out.push(Token::Term(Some(word), value));
                continue;
            }
            out.push(match word.as_str() {
                "AND" | "&&" => Token::And,
                "OR" | "||" => Token::Or,
                "NOT" | "!" => Token::Not,
                _ => Token::Term(None, bare_value(&word)?),
            });
        }
    }
    Ok(out)
}

fn valid_field(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

fn bare_value(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("a field has no value".into());
    }
    if let Some(c) = value.chars().find(|c| RESERVED.contains(c)) {
        return Err(format!("unexpected \"{c}\" in \"{value}\""));
    }
    Ok(value.to_string())
}

pub fn parse(q: &str) -> Result<Query, String> {
    let tokens = tokenize(q)?;
    let mut parser = Parser { tokens, pos: 0, depth: 0 };
    let query = parser.or()?;
    match parser.tokens.get(parser.pos) {
        None => Ok(query),
        Some(t) => Err(format!("unexpected {t:?}")),
    }
}

/// Parentheses and `NOT`s nest at most this deep: the parser and the matcher recurse per level.
const MAX_DEPTH: usize = 64;

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn or(&mut self) -> Result<Query, String> {
        let mut items = vec![self.and()?];
        loop {
            match self.peek() {
                Some(Token::Or) => {
                    self.pos += 1;
                    items.push(self.and()?);
                }
                // Juxtaposed terms: ES's default operator is OR.
                Some(Token::Term(..) | Token::Open | Token::Not) => items.push(self.and()?),
                _ => break,
            }
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Query::Or(items) })
    }

    fn and(&mut self) -> Result<Query, String> {
        let mut items = vec![self.unary()?];
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Query::And(items) })
    }

    fn unary(&mut self) -> Result<Query, String> {
        let token = self.tokens.get(self.pos).cloned().ok_or("the query ends where a term was expected")?;
        self.pos += 1;
        let nests = matches!(token, Token::Not | Token::Open);
        if nests {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(format!("the query nests parentheses or NOT deeper than {MAX_DEPTH} levels"));
            }
        }
        let parsed = self.unary_token(token);
        if nests {
            self.depth -= 1;
        }
        parsed
    }

    fn unary_token(&mut self, token: Token) -> Result<Query, String> {
        match token {
            Token::Not => Ok(Query::Not(Box::new(self.unary()?))),
            Token::Open => {
                let inner = self.or()?;
                if self.peek() != Some(&Token::Close) {
                    return Err("missing \")\"".into());
                }
                self.pos += 1;
                Ok(inner)
            }
            Token::Term(field, value) => Ok(Query::Term { field, value }),
            t => Err(format!("unexpected {t:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, tags: &[&str]) -> FileRow {
        FileRow {
            id: 7,
            project_id: 1,
            name: name.into(),
            is_sliced: false,
            blob_path: String::new(),
            size_bytes: None,
            branch_id: 1,
            content_type: None,
            is_public: false,
            is_encrypted: true,
            is_permanent: false,
            created: String::new(),
            expires_at: None,
            creator_token_id: 1,
            creator_description: String::new(),
            run_id: None,
            run_ids: vec![],
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn hit(q: &str, f: &FileRow) -> bool {
        parse(q).unwrap_or_else(|e| panic!("{q}: {e}")).matches(f)
    }

    #[test]
    fn tags_names_and_operators() {
        let f = file("users.csv", &["a", "py-test"]);
        assert!(hit("tags:\"a\"", &f));
        assert!(hit("tags:a AND tags:py-test", &f));
        assert!(!hit("tags:a AND tags:b", &f));
        assert!(hit("tags:b OR tags:a", &f));
        assert!(hit("tags:b tags:a", &f), "juxtaposition is OR");
        assert!(hit("users", &f));
        assert!(!hit("orders", &f));
        assert!(hit("name:user*", &f));
        assert!(hit("NOT tags:b AND (tags:a OR tags:c)", &f));
        assert!(!hit("tags:a AND NOT tags:py-test", &f));
        assert!(hit("id:7", &f));
    }

    #[test]
    fn syntax_errors_are_reported() {
        for q in ["tags[]:sd", "tags:\"a", "(tags:a", "tags:a AND", "tags:", "a)"] {
            assert!(parse(q).is_err(), "{q} should not parse");
        }
        let deep = format!("{}a{}", "(".repeat(5_000), ")".repeat(5_000));
        assert!(parse(&deep).unwrap_err().contains("deeper"));
        assert!(parse(&"NOT ".repeat(15_000)).unwrap_err().contains("deeper"));
        assert!(parse(&format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH))).is_ok());
    }

    #[test]
    fn wildcards() {
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(glob("*", ""));
    }
}
