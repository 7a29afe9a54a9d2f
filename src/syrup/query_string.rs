//! The Syrup queue's `q`: Elasticsearch query-string syntax, for the fields Syrup's clients
//! search on, turned into a Queue job filter. Supported: `field:value`, `field:"quoted value"`,
//! `field:(a OR b)`, ranges `field:[a TO b]` / `{a TO b}` (`*` open) and `field:>a`, `>=`, `<`,
//! `<=`, clauses joined by `AND`/`&&` (or by a space: every clause must hold), and `OR` between
//! clauses of one field. Fields: `id`, `runId`, `status`, `component`, `params.component`,
//! `params.config` (`config`), `params.mode` (`mode`), `params.row`, `token.id`,
//! `token.description`, `project.id`, `isFinished`, and ranges on `createdTime`, `startTime`,
//! `endTime`, `durationSeconds`. Anything else is a 400 naming what is not supported.
use crate::http::{ApiError, ApiResult};
use crate::meta::queue_jobs::QueueJobFilter;
use crate::queue::search::parse_when;
use kbstack_core::QueueJobStatus;

/// A filter, or the knowledge that nothing can match (another project's id).
#[derive(Debug, Default)]
pub struct Parsed {
    pub filter: QueueJobFilter,
    pub matches_nothing: bool,
}

fn bad(msg: impl std::fmt::Display) -> ApiError {
    ApiError::validation(format!("Invalid query string (q): {msg}"))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Colon,
    Range { from: String, to: String, from_inclusive: bool, to_inclusive: bool },
}

fn tokenize(q: &str) -> ApiResult<Vec<Token>> {
    let chars: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            ':' => {
                out.push(Token::Colon);
                i += 1;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(bad("an unclosed quote")),
                        Some('\\') => {
                            if let Some(n) = chars.get(i + 1) {
                                s.push(*n);
                            }
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token::Quoted(s));
            }
            '[' | '{' => {
                let close = if c == '[' { ']' } else { '}' };
                let end = chars[i + 1..].iter().position(|ch| *ch == ']' || *ch == '}').map(|p| p + i + 1).ok_or_else(|| bad("an unclosed range"))?;
                let inner: String = chars[i + 1..end].iter().collect();
                let (from, to) = inner.split_once(" TO ").ok_or_else(|| bad(format!("the range \"{c}{inner}{close}\" needs \"TO\"")))?;
                out.push(Token::Range {
                    from: from.trim().trim_matches('"').to_string(),
                    to: to.trim().trim_matches('"').to_string(),
                    from_inclusive: c == '[',
                    to_inclusive: chars[end] == ']',
                });
                i = end + 1;
            }
            _ => {
                let mut s = String::new();
                while let Some(ch) = chars.get(i) {
                    if ch.is_whitespace() || matches!(ch, '(' | ')' | '"') || (*ch == ':' && !s.is_empty() && !s.starts_with(['>', '<'])) {
                        break;
                    }
                    if *ch == '\\' {
                        if let Some(n) = chars.get(i + 1) {
                            s.push(*n);
                        }
                        i += 2;
                        continue;
                    }
                    s.push(*ch);
                    i += 1;
                }
                if s.is_empty() {
                    return Err(bad(format!("unexpected \"{c}\"")));
                }
                out.push(Token::Word(s));
            }
        }
    }
    Ok(out)
}

/// One `field:…` clause: the values any of which may match, or a range.
#[derive(Debug)]
enum Clause {
    Values(String, Vec<String>),
    Range(String, Option<(String, bool)>, Option<(String, bool)>),
}

fn is_op(t: &Token, op: &str) -> bool {
    matches!(t, Token::Word(w) if w == op)
}

fn value_of(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) | Token::Quoted(w) => Some(w.clone()),
        _ => None,
    }
}

fn parse_clauses(tokens: &[Token]) -> ApiResult<Vec<(Clause, bool)>> {
    // (clause, joined to the previous one by OR)
    let mut out = Vec::new();
    let mut i = 0;
    let mut or_next = false;
    while i < tokens.len() {
        let t = &tokens[i];
        if is_op(t, "AND") || is_op(t, "&&") {
            i += 1;
            continue;
        }
        if is_op(t, "OR") || is_op(t, "||") {
            or_next = true;
            i += 1;
            continue;
        }
        if is_op(t, "NOT") || matches!(t, Token::Word(w) if w.starts_with('-') || w.starts_with('!')) {
            return Err(bad("negation (NOT, -) is not supported"));
        }
        let Token::Word(field) = t else { return Err(bad("each clause must name a field (field:value)")) };
        if tokens.get(i + 1) != Some(&Token::Colon) {
            return Err(bad(format!("\"{field}\" names no field: write field:value")));
        }
        let field = field.clone();
        i += 2;
        let clause = match tokens.get(i) {
            Some(Token::Open) => {
                let mut values = Vec::new();
                i += 1;
                loop {
                    match tokens.get(i) {
                        None => return Err(bad("an unclosed parenthesis")),
                        Some(Token::Close) => break,
                        Some(t) if is_op(t, "OR") || is_op(t, "||") => {}
                        Some(t) if is_op(t, "AND") || is_op(t, "&&") => {
                            return Err(bad(format!("AND inside {field}:(…) is not supported; use OR")));
                        }
                        Some(t) => values.push(value_of(t).ok_or_else(|| bad(format!("unexpected token in {field}:(…)")))?),
                    }
                    i += 1;
                }
                i += 1;
                Clause::Values(field, values)
            }
            Some(Token::Range { from, to, from_inclusive, to_inclusive }) => {
                i += 1;
                let bound = |v: &String, inc: bool| (v != "*").then(|| (v.clone(), inc));
                Clause::Range(field, bound(from, *from_inclusive), bound(to, *to_inclusive))
            }
            Some(Token::Word(w)) if w.starts_with(['>', '<']) => {
                i += 1;
                let (op, v) = if w.starts_with(">=") || w.starts_with("<=") { w.split_at(2) } else { w.split_at(1) };
                let v = v.to_string();
                match op {
                    ">" => Clause::Range(field, Some((v, false)), None),
                    ">=" => Clause::Range(field, Some((v, true)), None),
                    "<" => Clause::Range(field, None, Some((v, false))),
                    _ => Clause::Range(field, None, Some((v, true))),
                }
            }
            Some(t) => {
                i += 1;
                let value = value_of(t).ok_or_else(|| bad(format!("{field}: has no value")))?;
                Clause::Values(field, vec![value])
            }
            None => return Err(bad(format!("{field}: has no value"))),
        };
        out.push((clause, or_next));
        or_next = false;
    }
    Ok(out)
}

fn statuses(value: &str) -> ApiResult<Vec<QueueJobStatus>> {
    use QueueJobStatus::*;
    Ok(match value {
        "waiting" => vec![Created, Waiting],
        "canceled" => vec![Cancelled],
        other => vec![QueueJobStatus::parse(other).filter(|s| *s != Created).ok_or_else(|| {
            bad(format!("\"{other}\" is not a Syrup status (waiting, processing, success, error, warning, cancelled, terminating, terminated)"))
        })?],
    })
}

fn when(field: &str, v: &str) -> ApiResult<i64> {
    parse_when(v).ok_or_else(|| bad(format!("{field}: \"{v}\" is not a date")))
}

/// Parse `q` for the jobs of `project_id`.
pub fn parse(q: &str, project_id: i64) -> ApiResult<Parsed> {
    let mut out = Parsed::default();
    let clauses = parse_clauses(&tokenize(q)?)?;
    let mut previous_field: Option<String> = None;
    for (clause, joined_by_or) in clauses {
        let field = match &clause {
            Clause::Values(f, _) | Clause::Range(f, _, _) => f.clone(),
        };
        if joined_by_or && previous_field.as_deref() != Some(field.as_str()) {
            return Err(bad("OR between clauses of different fields is not supported; use field:(a OR b) or AND"));
        }
        previous_field = Some(field.clone());
        let f = &mut out.filter;
        match clause {
            Clause::Values(field, values) => {
                let values: Vec<String> = values.into_iter().filter(|v| v != "*").collect();
                if values.is_empty() {
                    continue;
                }
                if values.iter().any(|v| v.contains('*') || v.contains('?')) {
                    return Err(bad(format!("{field}: wildcards are not supported")));
                }
                match field.as_str() {
                    "id" => {
                        for v in values {
                            f.ids.push(v.parse().map_err(|_| bad(format!("id: \"{v}\" is not a job id")))?);
                        }
                    }
                    "runId" => f.run_ids.extend(values),
                    "status" => {
                        for v in values {
                            f.statuses.extend(statuses(&v)?);
                        }
                    }
                    // Every job here ran a component through the Docker Runner.
                    "component" => f.components.extend(values.into_iter().filter(|v| v != "docker")),
                    "params.component" => f.components.extend(values),
                    "params.config" | "config" => f.configs.extend(values),
                    "params.mode" | "mode" => f.modes.extend(values),
                    "params.row" => f.config_row_ids.extend(values),
                    "token.id" => {
                        for v in values {
                            f.token_ids.push(v.parse().map_err(|_| bad(format!("token.id: \"{v}\" is not a token id")))?);
                        }
                    }
                    "token.description" => f.token_descriptions.extend(values),
                    "project.id" => {
                        if !values.iter().any(|v| v == &project_id.to_string()) {
                            out.matches_nothing = true;
                        }
                    }
                    "isFinished" => {
                        use QueueJobStatus::*;
                        let finished = [Success, Warning, Error, Cancelled, Terminated];
                        let running = [Created, Waiting, Processing, Terminating];
                        match values.as_slice() {
                            [v] if v == "true" => f.statuses.extend(finished),
                            [v] if v == "false" => f.statuses.extend(running),
                            _ => return Err(bad("isFinished: use true or false")),
                        }
                    }
                    other => return Err(bad(format!("searching on \"{other}\" is not supported"))),
                }
            }
            Clause::Range(field, from, to) => {
                let (lo, hi) = match field.as_str() {
                    "createdTime" => (&mut f.created_from_ms, &mut f.created_to_ms),
                    "startTime" => (&mut f.start_from_ms, &mut f.start_to_ms),
                    "endTime" => (&mut f.end_from_ms, &mut f.end_to_ms),
                    "durationSeconds" => {
                        let num = |v: &str| v.parse::<f64>().map_err(|_| bad(format!("durationSeconds: \"{v}\" is not a number")));
                        if let Some((v, inc)) = from {
                            f.duration_from_seconds = Some(num(&v)? + if inc { 0.0 } else { 0.001 });
                        }
                        if let Some((v, inc)) = to {
                            f.duration_to_seconds = Some(num(&v)? - if inc { 0.0 } else { 0.001 });
                        }
                        continue;
                    }
                    other => return Err(bad(format!("ranges on \"{other}\" are not supported"))),
                };
                // The store's lower bound is inclusive and its upper one exclusive (milliseconds).
                if let Some((v, inc)) = from {
                    *lo = Some(when(&field, &v)? + if inc { 0 } else { 1 });
                }
                if let Some((v, inc)) = to {
                    *hi = Some(when(&field, &v)? + if inc { 1 } else { 0 });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_groups_and_ranges() {
        let p = parse("status:success AND params.config:\"123\" AND createdTime:[2020-01-01 TO *]", 1).unwrap();
        assert_eq!(p.filter.statuses, vec![QueueJobStatus::Success]);
        assert_eq!(p.filter.configs, vec!["123"]);
        assert_eq!(p.filter.created_from_ms, Some(1_577_836_800_000));
        assert!(p.filter.created_to_ms.is_none());
        let p = parse("status:(waiting OR processing) component:docker params.component:keboola.ex-db", 1).unwrap();
        assert_eq!(p.filter.statuses.len(), 3);
        assert_eq!(p.filter.components, vec!["keboola.ex-db"]);
        let p = parse("status:error OR status:warning", 1).unwrap();
        assert_eq!(p.filter.statuses, vec![QueueJobStatus::Error, QueueJobStatus::Warning]);
        assert!(parse("project.id:2", 1).unwrap().matches_nothing);
        let p = parse("createdTime:>=2020-01-02 endTime:<2020-01-03", 1).unwrap();
        assert_eq!(p.filter.created_from_ms, Some(1_577_923_200_000));
        assert_eq!(p.filter.end_to_ms, Some(1_578_009_600_000));
    }

    #[test]
    fn refusals() {
        for q in ["nofield", "status:bogus", "status:error OR runId:1", "NOT status:error", "foo:bar", "status:(a", "runId:12*", "createdTime:[x TO y]"] {
            assert!(parse(q, 1).is_err(), "{q}");
        }
    }
}
