//! The selection shared by preview, export and row deletion (`whereFilters`, `changedSince`,
//! `orderBy`, `columns`, `limit`), independent of any SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Operator {
    pub fn parse(s: &str) -> Option<Operator> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "" | "eq" | "=" => Operator::Eq,
            "ne" | "neq" | "!=" | "<>" => Operator::Ne,
            "gt" | ">" => Operator::Gt,
            "ge" | "gte" | ">=" => Operator::Ge,
            "lt" | "<" => Operator::Lt,
            "le" | "lte" | "<=" => Operator::Le,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Filter {
    pub column: String,
    pub operator: Operator,
    pub values: Vec<String>,
    /// Numeric comparison type (`INTEGER`, `DOUBLE`, `BIGINT`, `REAL`, `DECIMAL`); text otherwise.
    pub data_type: Option<String>,
}

#[derive(Debug, Clone)]
pub struct OrderBy {
    pub column: String,
    pub descending: bool,
    pub data_type: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Select {
    /// Output columns in order; `None` = all table columns.
    pub columns: Option<Vec<String>>,
    pub filters: Vec<Filter>,
    pub changed_since: Option<chrono::DateTime<chrono::Utc>>,
    pub changed_until: Option<chrono::DateTime<chrono::Utc>>,
    pub order_by: Vec<OrderBy>,
    pub limit: Option<u64>,
    /// Append `_timestamp` as the last output column.
    pub include_timestamp: bool,
}

impl Select {
    /// Every name and value the backend compares as text must be free of NUL: SQL engines end
    /// C strings there (DuckDB refuses the statement), so a NUL is the caller's bad input, not
    /// a failure of the backend.
    pub fn nul_free(&self) -> Result<(), String> {
        let names = self.columns.iter().flatten().chain(self.order_by.iter().map(|o| &o.column));
        for f in &self.filters {
            if f.column.contains('\0') || f.values.iter().any(|v| v.contains('\0')) {
                return Err(format!("The filter on column \"{}\" contains a NUL character, which cannot be compared.", f.column.replace('\0', "\\0")));
            }
        }
        match names.into_iter().find(|n| n.contains('\0')) {
            Some(n) => Err(format!("The column name \"{}\" contains a NUL character.", n.replace('\0', "\\0"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_anywhere_in_the_selection_is_named() {
        let filter = |value: &str| Filter { column: "id".into(), operator: Operator::Eq, values: vec![value.into()], data_type: None };
        assert!(Select { filters: vec![filter("ab")], ..Default::default() }.nul_free().is_ok());
        assert!(Select { filters: vec![filter("a\0b")], ..Default::default() }.nul_free().unwrap_err().contains("NUL"));
        assert!(Select { columns: Some(vec!["i\0d".into()]), ..Default::default() }.nul_free().is_err());
    }
}
