//! Column types of typed tables as Keboola names them for a bucket's backend (the rules of
//! keboola/php-datatypes `Definition\Snowflake` and `Definition\Bigquery`): which type names are
//! valid, which lengths they take, and the base type each maps to. The bucket keeps reporting its
//! backend (`snowflake` by default), so clients send that backend's type names.
use crate::http::{ApiError, ApiResult};

pub const BASETYPES: &[&str] = &["STRING", "INTEGER", "NUMERIC", "FLOAT", "BOOLEAN", "DATE", "TIMESTAMP"];

const SNOWFLAKE: &[&str] = &[
    "NUMBER", "DECIMAL", "DEC", "NUMERIC", "INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "BYTEINT", "FLOAT", "FLOAT4",
    "FLOAT8", "DOUBLE", "DOUBLE PRECISION", "REAL", "VARCHAR", "CHAR", "CHARACTER", "STRING", "TEXT", "BOOLEAN", "DATE",
    "DATETIME", "TIME", "TIMESTAMP", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ", "VARIANT", "OBJECT", "ARRAY", "BINARY",
    "VARBINARY", "GEOGRAPHY", "GEOMETRY", "VECTOR",
];

const BIGQUERY: &[&str] = &[
    "ARRAY", "BOOL", "BOOLEAN", "BYTES", "DATE", "DATETIME", "TIME", "TIMESTAMP", "GEOGRAPHY", "INTERVAL", "JSON", "INT64", "INT",
    "SMALLINT", "INTEGER", "BIGINT", "TINYINT", "BYTEINT", "NUMERIC", "DECIMAL", "BIGNUMERIC", "BIGDECIMAL", "FLOAT64", "FLOAT",
    "STRING", "STRUCT",
];

/// A column type accepted for a backend.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnType {
    /// The type name as Keboola keeps it (upper case, without the length).
    pub name: String,
    /// The length as given (`"18,2"`, `"40"`), `None` when none was.
    pub length: Option<String>,
    pub basetype: &'static str,
    /// The length the stored values follow: the given one, or the backend's default where the
    /// default changes values (a bare Snowflake `NUMBER` is `NUMBER(38,0)`).
    pub effective_length: Option<String>,
}

fn invalid_type(raw: &str) -> ApiError {
    ApiError::validation(format!("'{raw}' is not a valid type"))
}

fn invalid_length(length: &str, name: &str) -> ApiError {
    ApiError::validation(format!("'{length}' is not valid length for {name}"))
}

/// `NUMBER(18,2)` → (`NUMBER`, `Some("18,2")`); a bare name has no length.
fn split_inline_length(raw: &str) -> ApiResult<(String, Option<String>)> {
    let raw = raw.trim();
    let Some((name, rest)) = raw.split_once('(') else {
        return Ok((raw.to_ascii_uppercase(), None));
    };
    let inner = rest.strip_suffix(')').ok_or_else(|| invalid_type(raw))?;
    let length: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
    Ok((name.trim().to_ascii_uppercase(), Some(length)))
}

/// `p` or `p,s` with 1 ≤ p ≤ `max_precision` and s ≤ min(p, `max_scale`).
fn valid_precision(length: &str, max_precision: u64, max_scale: u64) -> bool {
    let parts: Vec<&str> = length.split(',').collect();
    if parts.is_empty() || parts.len() > 2 {
        return false;
    }
    let Ok(p) = parts[0].parse::<u64>() else { return false };
    let s = match parts.get(1) {
        Some(s) => match s.parse::<u64>() {
            Ok(s) => s,
            Err(_) => return false,
        },
        None => 0,
    };
    (1..=max_precision).contains(&p) && s <= p && s <= max_scale
}

fn in_range(length: &str, min: u64, max: u64) -> bool {
    length.parse::<u64>().is_ok_and(|n| (min..=max).contains(&n))
}

fn snowflake_length_ok(name: &str, length: &str) -> bool {
    match name {
        "NUMBER" | "DECIMAL" | "DEC" | "NUMERIC" => valid_precision(length, 38, 38),
        "VARCHAR" | "CHAR" | "CHARACTER" | "STRING" | "TEXT" => in_range(length, 1, 16_777_216),
        "TIME" | "DATETIME" | "TIMESTAMP" | "TIMESTAMP_NTZ" | "TIMESTAMP_LTZ" | "TIMESTAMP_TZ" => in_range(length, 0, 9),
        "BINARY" | "VARBINARY" => in_range(length, 1, 8_388_608),
        // VECTOR(INT, 256) and the like: the element type and dimension are not checked.
        "VECTOR" => true,
        _ => false,
    }
}

fn bigquery_length_ok(name: &str, length: &str) -> bool {
    match name {
        "STRING" | "BYTES" => in_range(length, 1, i64::MAX as u64),
        "NUMERIC" | "DECIMAL" => valid_precision(length, 38, 9),
        "BIGNUMERIC" | "BIGDECIMAL" => valid_precision(length, 76, 38),
        "ARRAY" | "STRUCT" => true,
        _ => false,
    }
}

fn basetype_of(name: &str) -> &'static str {
    match name {
        "INT" | "INTEGER" | "BIGINT" | "SMALLINT" | "TINYINT" | "BYTEINT" | "INT64" => "INTEGER",
        "NUMBER" | "DECIMAL" | "DEC" | "NUMERIC" | "BIGNUMERIC" | "BIGDECIMAL" => "NUMERIC",
        "FLOAT" | "FLOAT4" | "FLOAT8" | "DOUBLE" | "DOUBLE PRECISION" | "REAL" | "FLOAT64" => "FLOAT",
        "BOOLEAN" | "BOOL" => "BOOLEAN",
        "DATE" => "DATE",
        "DATETIME" | "TIME" | "TIMESTAMP" | "TIMESTAMP_NTZ" | "TIMESTAMP_LTZ" | "TIMESTAMP_TZ" => "TIMESTAMP",
        _ => "STRING",
    }
}

/// The default precision of a decimal type without a length, where it decides how values round.
fn default_decimal_length(backend: &str, name: &str) -> Option<&'static str> {
    match (backend, name) {
        ("bigquery", "NUMERIC" | "DECIMAL") => Some("38,9"),
        ("bigquery", "BIGNUMERIC" | "BIGDECIMAL") => Some("38,9"),
        (_, "NUMBER" | "DECIMAL" | "DEC" | "NUMERIC") => Some("38,0"),
        _ => None,
    }
}

/// Check `raw_type` (maybe with an inline `(length)`) and `length` against `backend`'s types.
pub fn resolve(backend: &str, raw_type: &str, length: Option<String>) -> ApiResult<ColumnType> {
    let (name, inline) = split_inline_length(raw_type)?;
    let backend = backend.to_ascii_lowercase();
    let (known, length_ok): (&[&str], fn(&str, &str) -> bool) = match backend.as_str() {
        "bigquery" => (BIGQUERY, bigquery_length_ok),
        _ => (SNOWFLAKE, snowflake_length_ok),
    };
    if !known.contains(&name.as_str()) {
        return Err(invalid_type(raw_type.trim()));
    }
    let length = length.filter(|l| !l.is_empty()).or(inline.filter(|l| !l.is_empty()));
    if let Some(l) = &length {
        if !length_ok(&name, l) {
            return Err(invalid_length(l, &name));
        }
    }
    let effective_length = length.clone().or_else(|| default_decimal_length(&backend, &name).map(str::to_string));
    Ok(ColumnType { basetype: basetype_of(&name), name, length, effective_length })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snowflake_names_map_to_keboola_base_types() {
        let number = resolve("snowflake", "number(12, 2)", None).unwrap();
        assert_eq!((number.name.as_str(), number.length.as_deref(), number.basetype), ("NUMBER", Some("12,2"), "NUMERIC"));
        let bare = resolve("snowflake", "NUMBER", None).unwrap();
        assert_eq!((bare.length, bare.effective_length.as_deref()), (None, Some("38,0")));
        assert_eq!(resolve("snowflake", "TIMESTAMP_TZ", None).unwrap().basetype, "TIMESTAMP");
        assert_eq!(resolve("snowflake", "VARIANT", None).unwrap().basetype, "STRING");
        assert_eq!(resolve("snowflake", "VARCHAR", Some("40".into())).unwrap().length.as_deref(), Some("40"));
    }

    #[test]
    fn unknown_types_and_bad_lengths_are_refused_in_keboolas_words() {
        assert_eq!(resolve("snowflake", "INT64", None).unwrap_err().message, "'INT64' is not a valid type");
        assert_eq!(resolve("snowflake", "INTEGER", Some("10".into())).unwrap_err().message, "'10' is not valid length for INTEGER");
        assert!(resolve("snowflake", "NUMBER(39,2)", None).is_err());
        assert!(resolve("bigquery", "INT64", None).is_ok());
        assert!(resolve("bigquery", "VARIANT", None).is_err());
    }
}
