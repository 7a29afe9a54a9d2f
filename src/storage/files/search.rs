//! `GET files` filters: `tags[]` (a file matches when it has one or more of them, as the PHP client's
//! FilesTest asserts), `runId` (the run or any of its parents), `showExpired`, and `q`, a subset of
//! Elasticsearch's query-string syntax: `field:value`, `"quoted values"`, `AND`/`OR`/`NOT` (also
//! `&&`/`||`/`!`), parentheses, `*`/`?` wildcards; plain juxtaposition ORs, like ES's default operator.
//! The query is parsed here into a `FileQuery`; the store finds the files matching it.
use serde_json::Value;

use crate::http::{ApiError, ApiResult, Code, Params, params::parse_bool};
use crate::meta::files::{FileFlag, FileQuery};

pub struct Filter {
    pub(super) tags: Vec<String>,
    pub(super) run_id: Option<String>,
    pub(super) query: Option<FileQuery>,
    pub(super) show_expired: bool,
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
}

/// What a term matches, by its field.
fn term(field: Option<String>, value: String) -> FileQuery {
    let flag = |flag: FileFlag| match parse_bool(&Value::String(value.clone())) {
        Some(set) => FileQuery::Flag(flag, set),
        None => FileQuery::Nothing,
    };
    match field.as_deref() {
        // No field: anything a user would search for (name words, a tag, an id).
        None => FileQuery::Any(value),
        Some("tags") => FileQuery::Tag(value),
        Some("name") => FileQuery::Name(value),
        Some("id") => FileQuery::Id(value),
        Some("runId") => FileQuery::Run(value),
        Some("isSliced") => flag(FileFlag::Sliced),
        Some("isPublic") => flag(FileFlag::Public),
        Some("isPermanent") => flag(FileFlag::Permanent),
        Some("isEncrypted") => flag(FileFlag::Encrypted),
        Some("creatorToken.id") => FileQuery::CreatorTokenId(value),
        Some("creatorToken.description") => FileQuery::CreatorTokenDescription(value),
        // Elasticsearch matches nothing on a field the document does not have.
        Some(_) => FileQuery::Nothing,
    }
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

pub fn parse(q: &str) -> Result<FileQuery, String> {
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

    fn or(&mut self) -> Result<FileQuery, String> {
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
        Ok(if items.len() == 1 { items.remove(0) } else { FileQuery::Or(items) })
    }

    fn and(&mut self) -> Result<FileQuery, String> {
        let mut items = vec![self.unary()?];
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 { items.remove(0) } else { FileQuery::And(items) })
    }

    fn unary(&mut self) -> Result<FileQuery, String> {
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

    fn unary_token(&mut self, token: Token) -> Result<FileQuery, String> {
        match token {
            Token::Not => Ok(FileQuery::Not(Box::new(self.unary()?))),
            Token::Open => {
                let inner = self.or()?;
                if self.peek() != Some(&Token::Close) {
                    return Err("missing \")\"".into());
                }
                self.pos += 1;
                Ok(inner)
            }
            Token::Term(field, value) => Ok(term(field, value)),
            t => Err(format!("unexpected {t:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(t: &str) -> FileQuery {
        FileQuery::Tag(t.into())
    }

    fn parsed(q: &str) -> FileQuery {
        parse(q).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    #[test]
    fn fields_become_typed_terms() {
        assert_eq!(parsed("tags:\"a b\""), tag("a b"));
        assert_eq!(parsed("users"), FileQuery::Any("users".into()));
        assert_eq!(parsed("name:user*"), FileQuery::Name("user*".into()));
        assert_eq!(parsed("id:7"), FileQuery::Id("7".into()));
        assert_eq!(parsed("runId:1.2"), FileQuery::Run("1.2".into()));
        assert_eq!(parsed("isSliced:true"), FileQuery::Flag(FileFlag::Sliced, true));
        assert_eq!(parsed("isPublic:0"), FileQuery::Flag(FileFlag::Public, false));
        assert_eq!(parsed("isPermanent:maybe"), FileQuery::Nothing, "no boolean");
        assert_eq!(parsed("creatorToken.id:3"), FileQuery::CreatorTokenId("3".into()));
        assert_eq!(parsed("sizeBytes:3"), FileQuery::Nothing, "a field files do not have");
    }

    #[test]
    fn operators_nest_and_juxtaposition_ors() {
        assert_eq!(parsed("tags:a AND tags:py-test"), FileQuery::And(vec![tag("a"), tag("py-test")]));
        assert_eq!(parsed("tags:b OR tags:a"), FileQuery::Or(vec![tag("b"), tag("a")]));
        assert_eq!(parsed("tags:b tags:a"), FileQuery::Or(vec![tag("b"), tag("a")]));
        assert_eq!(parsed("tags:b || tags:a && ! tags:c"), FileQuery::Or(vec![tag("b"), FileQuery::And(vec![tag("a"), FileQuery::Not(Box::new(tag("c")))])]));
        assert_eq!(
            parsed("NOT tags:b AND (tags:a OR tags:c)"),
            FileQuery::And(vec![FileQuery::Not(Box::new(tag("b"))), FileQuery::Or(vec![tag("a"), tag("c")])])
        );
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
}
