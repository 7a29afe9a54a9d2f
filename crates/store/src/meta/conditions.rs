//! A SQL condition with its parameters, built clause by clause, for listings whose filters are
//! each optional. Clauses use anonymous `?` placeholders, which SQLite numbers in order of
//! appearance, i.e. in the order they were pushed.
use rusqlite::types::Value as SqlValue;

#[derive(Default)]
pub(crate) struct Where {
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
        if self.clauses.is_empty() { "1".into() } else { self.clauses.join(" AND ") }
    }
}

pub(crate) fn text(s: impl Into<String>) -> SqlValue {
    SqlValue::Text(s.into())
}
