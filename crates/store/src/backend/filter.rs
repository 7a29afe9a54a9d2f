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
