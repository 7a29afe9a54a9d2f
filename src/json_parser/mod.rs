//! The JSON Parser, served at `/json-parser` (host `json-parser.<suffix>`; legacy Keboola service,
//! notes: services.md §24): a JSON document as CSV tables, by the rules of Keboola's JSON parser
//! library (`keboola/php-jsonparser`, the one Generic Extractor uses), as its documentation and
//! tests describe them:
//!
//! - the document is an array of rows (an object or a scalar is a one-row array); its table is
//!   named after the root type (`root`);
//! - an object's scalar fields are columns; a nested object is flattened into columns named by
//!   its path with `_` (`address.city` → `address_city`);
//! - an array is a child table named by its path (`root_orders`, `root_orders_items`); the
//!   parent's column of that name holds a generated key, `<path>_<hash>`, which each child row
//!   repeats in its `JSON_parentId` column;
//! - an array of scalars gives a child table with one `data` column;
//! - column names keep `[A-Za-z0-9-]`, the rest becomes `_`; a name that is taken gets `_u0`,
//!   `_u1`, …; names over 64 characters are shortened;
//! - type conflicts: `null` fits any type; a value that is an array in one row and a scalar or
//!   an object in another is upgraded to an array (the single value is a one-item array), when
//!   the array's items are of that same type; a field that is a scalar in one row and an object
//!   in another, or an array mixing objects and scalars, is an error naming the path; an array
//!   directly inside an array is an error unless `nestedArraysAsJson` writes it as JSON text;
//! - values: strings as they are, numbers as in the JSON, `true` as `1` and `false` as an empty
//!   string (as PHP writes them), `null` as an empty string.
//!
//! The generated key is a hash of the row (with its parent's key), so equal rows share a key as
//! in the library; its digest is not the library's MD5, only its form. HTTP in `api`.
pub mod api;
pub mod wire;

use std::collections::HashMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::http::{ApiError, ApiResult};

/// The column linking a child row to its parent row.
pub const PARENT_COLUMN: &str = "JSON_parentId";
/// The column of an array of scalars.
pub const DATA_COLUMN: &str = "data";
/// Storage's limits: a name of at most 64 characters, at most 1000 columns a table.
const MAX_NAME: usize = 64;
const MAX_COLUMNS: usize = 1000;
/// More tables than this is not a document anyone means to load.
const MAX_TABLES: usize = 500;

#[derive(Debug, Clone)]
pub struct Options {
    /// Name of the root table (the library's `$type`).
    pub root_type: String,
    /// Write arrays nested directly in arrays as JSON text instead of failing.
    pub nested_arrays_as_json: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { root_type: "root".into(), nested_arrays_as_json: false }
    }
}

/// One CSV table: its name (without `.csv`), header and rows.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// The CSV text as Keboola's CSV files write it: every value enclosed in `"`, `\n` line ends.
    pub fn to_csv(&self) -> ApiResult<Vec<u8>> {
        let mut w = csv::WriterBuilder::new().quote_style(csv::QuoteStyle::Always).terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
        w.write_record(&self.columns).map_err(ApiError::internal)?;
        for row in &self.rows {
            w.write_record(row).map_err(ApiError::internal)?;
        }
        w.into_inner().map_err(ApiError::internal)
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::validation(message)
}

// ---------------------------------------------------------------------------------------------
// Analysis: one structure for all rows, built before any row is written (the library's Analyzer).

#[derive(Debug, Clone)]
enum Node {
    Null,
    Scalar,
    Object(Fields),
    Array(Box<Node>),
}

/// An object's fields in first-seen order.
#[derive(Debug, Clone, Default)]
struct Fields {
    order: Vec<(String, Node)>,
    index: HashMap<String, usize>,
}

impl Fields {
    fn entry(&mut self, key: &str) -> &mut Node {
        let i = match self.index.get(key) {
            Some(i) => *i,
            None => {
                self.order.push((key.to_string(), Node::Null));
                self.index.insert(key.to_string(), self.order.len() - 1);
                self.order.len() - 1
            }
        };
        &mut self.order[i].1
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        _ => "scalar",
    }
}

fn node_kind(n: &Node) -> &'static str {
    match n {
        Node::Null => "null",
        Node::Scalar => "scalar",
        Node::Object(_) => "object",
        Node::Array(_) => "array",
    }
}

/// Fold a value into the structure at `path`; `in_array`: the value is an item of an array.
fn merge(node: &mut Node, value: &Value, path: &str, in_array: bool, opts: &Options) -> ApiResult<()> {
    // An array item that is itself an array: JSON text, or an error.
    if in_array && value.is_array() {
        if !opts.nested_arrays_as_json {
            return Err(bad(format!("Unsupported data in '{path}': an array directly inside an array (set nestedArraysAsJson to write it as JSON text).")));
        }
        return merge(node, &Value::String(String::new()), path, in_array, opts);
    }
    match (&mut *node, value) {
        (_, Value::Null) => Ok(()),
        (Node::Array(item), Value::Array(items)) => {
            let item_path = format!("{path}[]");
            for v in items {
                merge(item, v, &item_path, true, opts)?;
            }
            Ok(())
        }
        (Node::Array(item), v) => {
            // The upgrade: a single value where other rows have an array is a one-item array.
            let item_kind = node_kind(item);
            if item_kind != "null" && item_kind != kind(v) {
                return Err(bad(format!("Data array in '{path}' contains incompatible types '{item_kind}' and '{}'.", kind(v))));
            }
            merge(item, v, &format!("{path}[]"), true, opts)
        }
        (Node::Null, Value::Array(_)) => {
            *node = Node::Array(Box::new(Node::Null));
            merge(node, value, path, in_array, opts)
        }
        (existing @ (Node::Scalar | Node::Object(_)), Value::Array(items)) => {
            let was = node_kind(existing);
            if let Some(first) = items.iter().find(|v| !v.is_null()) {
                if kind(first) != was {
                    return Err(bad(format!("Data array in '{path}' contains incompatible types '{}' and '{was}'.", kind(first))));
                }
            }
            let old = std::mem::replace(existing, Node::Null);
            *node = Node::Array(Box::new(old));
            merge(node, value, path, in_array, opts)
        }
        (Node::Null, Value::Object(_)) => {
            *node = Node::Object(Fields::default());
            merge(node, value, path, in_array, opts)
        }
        (Node::Object(fields), Value::Object(map)) => {
            for (k, v) in map {
                merge(fields.entry(k), v, &format!("{path}.{k}"), false, opts)?;
            }
            Ok(())
        }
        (Node::Null, _) => {
            *node = Node::Scalar;
            Ok(())
        }
        (Node::Scalar, Value::Object(_)) | (Node::Object(_), _) => {
            let (from, to) = (node_kind(node), kind(value));
            if in_array {
                Err(bad(format!("Data in '{}' contains incompatible data types '{from}' and '{to}'.", path.trim_end_matches("[]"))))
            } else {
                Err(bad(format!("Unhandled nodeType change from \"{from}\" to \"{to}\" in \"{path}\".")))
            }
        }
        (Node::Scalar, _) => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Names

/// A name Storage takes: `[A-Za-z0-9-]`, runs of anything else as one `_`, no `_` at either
/// end, at most 64 characters (a longer one keeps its end behind a short digest).
pub fn safe_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '-' {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out.trim_matches('_').to_string();
    if trimmed.len() <= MAX_NAME {
        return trimmed;
    }
    let digest = hex::encode(&Sha256::digest(trimmed.as_bytes())[..8]);
    let keep = MAX_NAME - digest.len() - 1;
    let tail = &trimmed[trimmed.len() - keep..];
    let tail = tail.find('_').map(|i| &tail[i + 1..]).filter(|t| !t.is_empty()).unwrap_or(tail);
    format!("{digest}_{tail}")
}

/// A table's column names, made unique in it with `_u0`, `_u1`, ….
#[derive(Default)]
struct Header {
    names: Vec<String>,
    taken: HashMap<String, ()>,
}

impl Header {
    fn add(&mut self, raw: &str) -> usize {
        let base = safe_name(raw);
        let base = if base.is_empty() { "col".to_string() } else { base };
        let mut name = base.clone();
        let mut i = 0;
        while self.taken.contains_key(&name) {
            name = format!("{base}_u{i}");
            i += 1;
        }
        self.taken.insert(name.clone(), ());
        self.names.push(name);
        self.names.len() - 1
    }
}

// ---------------------------------------------------------------------------------------------
// Layout: each table's columns, from the structure.

/// Where a value of a row goes: a column, or (for an array) a column holding the key and the
/// child table that receives the items.
#[derive(Debug)]
enum Slot {
    Column(usize),
    Child { column: usize, table: usize },
    Object(ObjectLayout),
}

#[derive(Debug, Default)]
struct ObjectLayout {
    /// Per field of the structure, in its order.
    fields: Vec<(String, Slot)>,
}

#[derive(Debug)]
struct TableLayout {
    name: String,
    /// The dotted path of this table's rows (`root.orders`), the key's prefix.
    path: String,
    columns: Vec<String>,
    /// Object rows: their fields; scalar rows: the `data` column.
    row: RowLayout,
    parent_column: Option<usize>,
}

#[derive(Debug)]
enum RowLayout {
    Data(usize),
    Object(ObjectLayout),
}

struct Planner {
    tables: Vec<TableLayout>,
    names: HashMap<String, ()>,
}

impl Planner {
    /// The table of an array's items at `path` (dotted, from the root type).
    fn table(&mut self, item: &Node, path: &str, child: bool) -> ApiResult<usize> {
        if self.tables.len() >= MAX_TABLES {
            return Err(bad(format!("The document would make more than {MAX_TABLES} tables.")));
        }
        let mut name = safe_name(path);
        if name.is_empty() {
            name = "root".into();
        }
        let base = name.clone();
        let mut i = 0;
        while self.names.contains_key(&name) {
            name = format!("{base}_u{i}");
            i += 1;
        }
        self.names.insert(name.clone(), ());
        let index = self.tables.len();
        self.tables.push(TableLayout { name, path: path.to_string(), columns: Vec::new(), row: RowLayout::Data(0), parent_column: None });
        let mut header = Header::default();
        let row = match item {
            Node::Object(fields) => RowLayout::Object(self.object(fields, "", path, &mut header)?),
            _ => RowLayout::Data(header.add(DATA_COLUMN)),
        };
        let parent_column = child.then(|| header.add(PARENT_COLUMN));
        if header.names.len() > MAX_COLUMNS {
            return Err(bad(format!("The table \"{}\" would have {} columns; Storage takes at most {MAX_COLUMNS}.", self.tables[index].name, header.names.len())));
        }
        let t = &mut self.tables[index];
        t.columns = header.names;
        t.row = row;
        t.parent_column = parent_column;
        Ok(index)
    }

    /// The columns of an object's fields; `prefix`: the dotted path within the row.
    fn object(&mut self, fields: &Fields, prefix: &str, table_path: &str, header: &mut Header) -> ApiResult<ObjectLayout> {
        let mut layout = ObjectLayout::default();
        for (key, node) in &fields.order {
            let column_path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            let slot = match node {
                Node::Null | Node::Scalar => Slot::Column(header.add(&column_path)),
                Node::Object(inner) => Slot::Object(self.object(inner, &column_path, table_path, header)?),
                Node::Array(item) => {
                    let column = header.add(&column_path);
                    let table = self.table(item, &format!("{table_path}.{column_path}"), true)?;
                    Slot::Child { column, table }
                }
            };
            layout.fields.push((key.clone(), slot));
        }
        Ok(layout)
    }
}

// ---------------------------------------------------------------------------------------------
// Writing rows

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(true) => "1".into(),
        Value::Bool(false) => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// The key children of a row link to: `<path>_<hash of the row and its parent's key>`.
fn row_key(path: &str, row: &Value, outer: &str) -> String {
    let mut h = Sha256::new();
    h.update(row.to_string().as_bytes());
    h.update(outer.as_bytes());
    format!("{path}_{}", hex::encode(&h.finalize()[..16]))
}

struct Writer<'a> {
    layouts: &'a [TableLayout],
    /// Rows per table; `None` until the table gets its first row (a table only ever met empty
    /// is not written, as in the library).
    rows: Vec<Option<Vec<Vec<String>>>>,
    /// Table indexes in the order their first row came.
    created: Vec<usize>,
}

impl Writer<'_> {
    fn write_items(&mut self, table: usize, items: &[Value], parent_key: Option<&str>) {
        for item in items {
            self.write_row(table, item, parent_key);
        }
    }

    fn write_row(&mut self, table: usize, value: &Value, parent_key: Option<&str>) {
        let layouts = self.layouts;
        let layout = &layouts[table];
        // A table is listed when its first row begins: parents before their children.
        if self.rows[table].is_none() {
            self.rows[table] = Some(Vec::new());
            self.created.push(table);
        }
        let mut row = vec![String::new(); layout.columns.len()];
        if let (Some(col), Some(key)) = (layout.parent_column, parent_key) {
            row[col] = key.to_string();
        }
        match (&layout.row, value) {
            (RowLayout::Object(fields), Value::Object(_)) => {
                let key = row_key(&layout.path, value, parent_key.unwrap_or_default());
                self.fill_object(fields, value, &mut row, &layout.path, &key);
            }
            (RowLayout::Data(col), v) => row[*col] = if v.is_array() { v.to_string() } else { cell(v) },
            // The structure was built from these very rows: nothing else can come.
            _ => {}
        }
        if let Some(rows) = self.rows[table].as_mut() {
            rows.push(row);
        }
    }

    fn fill_object(&mut self, layout: &ObjectLayout, value: &Value, row: &mut [String], path: &str, key: &str) {
        for (field, slot) in &layout.fields {
            let v = value.get(field).unwrap_or(&Value::Null);
            match slot {
                Slot::Column(col) => row[*col] = cell(v),
                Slot::Object(inner) => {
                    if v.is_object() {
                        // A nested object keys its own arrays, by its path and the row's key.
                        let inner_path = format!("{path}.{field}");
                        let inner_key = row_key(&inner_path, v, key);
                        self.fill_object(inner, v, row, &inner_path, &inner_key);
                    }
                }
                Slot::Child { column, table } => {
                    // A single value where other rows have an array is a one-item array.
                    let items: &[Value] = match v {
                        Value::Null => &[],
                        Value::Array(items) => items,
                        single => std::slice::from_ref(single),
                    };
                    if items.is_empty() {
                        continue;
                    }
                    row[*column] = key.to_string();
                    self.write_items(*table, items, Some(key));
                }
            }
        }
    }
}

/// The document as tables, root first, children in the order they got their first row.
pub fn parse(document: &Value, opts: &Options) -> ApiResult<Vec<Table>> {
    let root_type = safe_name(&opts.root_type);
    if root_type.is_empty() {
        return Err(bad("Invalid request:\n - rootType: the name must hold a letter or a digit."));
    }
    let rows: &[Value] = match document {
        Value::Array(items) => items,
        Value::Null => &[],
        other => std::slice::from_ref(other),
    };
    if rows.iter().all(Value::is_null) {
        return Err(bad(format!("Empty data set received for '{root_type}'.")));
    }
    let mut item = Node::Null;
    for row in rows {
        merge(&mut item, row, &format!("{root_type}[]"), true, opts)?;
    }
    let mut planner = Planner { tables: Vec::new(), names: HashMap::new() };
    let root = planner.table(&item, &root_type, false)?;
    let layouts = planner.tables;
    let mut writer = Writer { layouts: &layouts, rows: vec![None; layouts.len()], created: Vec::new() };
    for row in rows.iter().filter(|r| !r.is_null()) {
        writer.write_row(root, row, None);
    }
    let Writer { mut rows, created, .. } = writer;
    Ok(created
        .into_iter()
        .map(|i| Table { name: layouts[i].name.clone(), columns: layouts[i].columns.clone(), rows: rows[i].take().unwrap_or_default() })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn by_name<'a>(tables: &'a [Table], name: &str) -> &'a Table {
        tables.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no table {name}: {:?}", tables.iter().map(|t| &t.name).collect::<Vec<_>>()))
    }

    #[test]
    fn nested_objects_flatten_and_arrays_become_child_tables() {
        let doc = json!([
            {"id": 1, "address": {"city": "Prague", "geo": {"lat": 50}}, "tags": ["a", "b"], "items": [{"sku": "x", "qty": 2}]},
            {"id": 2, "address": null, "tags": [], "items": [{"sku": "y", "qty": 1}, {"sku": "z"}]}
        ]);
        let tables = parse(&doc, &Options::default()).unwrap();
        let root = by_name(&tables, "root");
        assert_eq!(root.columns, vec!["id", "address_city", "address_geo_lat", "tags", "items"]);
        assert_eq!(root.rows[0][0..3], ["1", "Prague", "50"]);
        assert!(root.rows[0][3].starts_with("root_"));
        assert_eq!(root.rows[1][3], "", "an empty array links nothing");
        let items = by_name(&tables, "root_items");
        assert_eq!(items.columns, vec!["sku", "qty", "JSON_parentId"]);
        assert_eq!(items.rows.len(), 3);
        assert_eq!(items.rows[0][2], root.rows[0][4]);
        assert_eq!(items.rows[1][2], root.rows[1][4]);
        let tags = by_name(&tables, "root_tags");
        assert_eq!(tags.columns, vec!["data", "JSON_parentId"]);
        assert_eq!(tags.rows.len(), 2);
    }

    #[test]
    fn a_scalar_where_others_have_an_array_is_upgraded() {
        let doc = json!([{"id": 1, "v": [1, 2]}, {"id": 2, "v": 3}]);
        let tables = parse(&doc, &Options::default()).unwrap();
        assert_eq!(by_name(&tables, "root_v").rows.len(), 3);
        let doc = json!([{"id": 1, "v": 3}, {"id": 2, "v": [4]}]);
        assert_eq!(by_name(&parse(&doc, &Options::default()).unwrap(), "root_v").rows.len(), 2);
    }

    #[test]
    fn conflicting_types_are_errors_with_the_path() {
        let err = parse(&json!([{"a": 1}, {"a": {"b": 2}}]), &Options::default()).unwrap_err();
        assert!(err.message.contains("root[].a"), "{}", err.message);
        let err = parse(&json!([{"a": [1, {"b": 2}]}]), &Options::default()).unwrap_err();
        assert!(err.message.contains("incompatible"), "{}", err.message);
        assert!(parse(&json!([[1, 2]]), &Options::default()).is_err());
        let opts = Options { nested_arrays_as_json: true, ..Options::default() };
        let t = parse(&json!([[1, 2], [3]]), &opts).unwrap();
        assert_eq!(t[0].rows, vec![vec!["[1,2]".to_string()], vec!["[3]".to_string()]]);
    }

    #[test]
    fn names_are_sanitized_and_unique() {
        let t = parse(&json!({"a b": 1, "a_b": 2, "č": 3, "x": {"y": 1}, "x_y": 2}), &Options::default()).unwrap();
        assert_eq!(t[0].columns, vec!["a_b", "a_b_u0", "col", "x_y", "x_y_u0"]);
        assert_eq!(safe_name(&"very_long_".repeat(10)).len() <= 64, true);
    }

    #[test]
    fn values_are_written_as_the_library_writes_them() {
        let t = parse(&json!([{"t": true, "f": false, "n": null, "x": 1.5}]), &Options::default()).unwrap();
        assert_eq!(t[0].rows[0], vec!["1", "", "", "1.5"]);
        assert_eq!(String::from_utf8(t[0].to_csv().unwrap()).unwrap(), "\"t\",\"f\",\"n\",\"x\"\n\"1\",\"\",\"\",\"1.5\"\n");
    }
}
