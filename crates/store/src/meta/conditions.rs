//! A SQL condition with its parameters, built clause by clause, for listings whose filters are
//! each optional. Clauses use anonymous `?` placeholders, which SQLite numbers in order of
//! appearance, i.e. in the order they were pushed.
use rusqlite::types::Value as SqlValue;

#[derive(Default)]
pub(crate) struct Where {
    /// PostgreSQL, where a clause differs (case-insensitive LIKE, typed marks).
    pub(crate) pg: bool,
    clauses: Vec<String>,
    pub(crate) args: Vec<SqlValue>,
}

impl Where {
    pub(crate) fn push(&mut self, clause: &str, args: impl IntoIterator<Item = SqlValue>) {
        self.clauses.push(clause.to_string());
        self.args.extend(args);
    }

    /// The clauses joined with `AND` (true when there are none).
    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() { "1 = 1".into() } else { self.clauses.join(" AND ") }
    }
}

/// `sql` with its anonymous `?` marks numbered `$1`, `$2`, … in order (PostgreSQL's marks), for
/// SQL built here, where a `?` is never inside a literal.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(ch);
        }
    }
    out
}

pub(crate) fn text(s: impl Into<String>) -> SqlValue {
    SqlValue::Text(s.into())
}
