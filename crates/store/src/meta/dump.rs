//! The metadata store as portable rows, for `kbstack export` and `kbstack import`: every table's
//! rows as JSON lines (`<table>.jsonl`, one object per row, column name to value), plus the
//! schema version they were written at.
//!
//! Restoring goes through the schema version of the dump: a fresh store is migrated up to that
//! version, the rows are written, and only then do the newer migrations run. So a dump from an
//! older build is upgraded exactly as its data dir would have been, and one from a newer build is
//! refused (like its data dir).
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::Connection;
use serde_json::{Map, Value};

use super::{migrate_to, schema, SqliteMetaStore};

/// SQLite's own bookkeeping that a restore must carry: the AUTOINCREMENT counters, so that ids
/// (tokens, jobs, ...) are never handed out twice.
const SEQUENCE_TABLE: &str = "sqlite_sequence";

/// The tables to carry: ordinary tables, in name order, then the AUTOINCREMENT counters.
fn dumped_tables(c: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name",
    )?;
    let mut names: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    let has_sequence: bool =
        c.query_row("SELECT count(*) > 0 FROM sqlite_master WHERE name = ?1", [SEQUENCE_TABLE], |r| r.get(0))?;
    if has_sequence {
        names.push(SEQUENCE_TABLE.to_string());
    }
    Ok(names)
}

fn to_json(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        // Tagged, so that text which looks like base64 stays text.
        ValueRef::Blob(b) => serde_json::json!({"$blob": base64::engine::general_purpose::STANDARD.encode(b)}),
    }
}

fn from_json(v: &Value) -> anyhow::Result<SqlValue> {
    Ok(match v {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(*b as i64),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().context("a number out of range")?),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Object(o) => match o.get("$blob").and_then(Value::as_str) {
            Some(b) => SqlValue::Blob(base64::engine::general_purpose::STANDARD.decode(b)?),
            None => anyhow::bail!("an object where a column value was expected"),
        },
        Value::Array(_) => anyhow::bail!("an array where a column value was expected"),
    })
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// What a dump wrote: each table and its row count.
pub type DumpedTables = Vec<(String, u64)>;

impl SqliteMetaStore {
    /// The schema version (the number of the last migration applied).
    pub fn schema_version(&self) -> anyhow::Result<i64> {
        Ok(self.conn.lock().query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Write every table's rows to `<dir>/<table>.jsonl`, in one read transaction (a consistent
    /// snapshot even if the store were written meanwhile).
    pub fn dump_rows(&self, dir: &Path) -> anyhow::Result<DumpedTables> {
        std::fs::create_dir_all(dir)?;
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        let mut written = Vec::new();
        for table in dumped_tables(&tx)? {
            let mut out = BufWriter::new(std::fs::File::create(dir.join(format!("{table}.jsonl")))?);
            let mut st = tx.prepare(&format!("SELECT * FROM {}", quoted(&table)))?;
            let names: Vec<String> = st.column_names().into_iter().map(str::to_string).collect();
            let mut rows = st.query([])?;
            let mut n = 0u64;
            while let Some(row) = rows.next()? {
                let mut obj = Map::new();
                for (i, name) in names.iter().enumerate() {
                    obj.insert(name.clone(), to_json(row.get_ref(i)?));
                }
                serde_json::to_writer(&mut out, &obj)?;
                out.write_all(b"\n")?;
                n += 1;
            }
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            written.push((table, n));
        }
        Ok(written)
    }

    /// A new store at `path` holding the rows of a dump written at schema version `version`,
    /// then migrated to the newest version. `path` must not exist yet.
    pub fn restore(path: &Path, rows_dir: &Path, version: i64) -> anyhow::Result<DumpedTables> {
        anyhow::ensure!(!path.exists(), "{} exists already: import into a new data dir", path.display());
        let newest = schema::MIGRATIONS.last().map(|(v, _)| *v).unwrap_or(0);
        anyhow::ensure!(
            version <= newest,
            "the export is at metadata schema version {version}, newer than this build knows ({newest}): import it with a newer kbstack"
        );
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        migrate_to(&mut conn, version)?;
        // Rows go in table by table, so references are checked once, at the end.
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        let tx = conn.transaction()?;
        let mut restored = Vec::new();
        for table in dumped_tables(&tx)? {
            let file = rows_dir.join(format!("{table}.jsonl"));
            // Rows a migration seeded are replaced by the exported ones.
            tx.execute(&format!("DELETE FROM {} WHERE 1", quoted(&table)), [])?;
            if !file.exists() {
                restored.push((table, 0));
                continue;
            }
            let mut n = 0u64;
            for (line_no, line) in std::io::BufReader::new(std::fs::File::open(&file)?).lines().enumerate() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                let obj: Map<String, Value> = serde_json::from_str(&line)
                    .with_context(|| format!("{}: line {}", file.display(), line_no + 1))?;
                let columns: Vec<String> = obj.keys().map(|k| quoted(k)).collect();
                let values = obj.values().map(from_json).collect::<anyhow::Result<Vec<_>>>()?;
                let marks: Vec<String> = (1..=values.len()).map(|i| format!("?{i}")).collect();
                tx.prepare_cached(&format!("INSERT INTO {} ({}) VALUES ({})", quoted(&table), columns.join(", "), marks.join(", ")))?
                    .execute(rusqlite::params_from_iter(values))
                    .with_context(|| format!("{}: line {}", file.display(), line_no + 1))?;
                n += 1;
            }
            restored.push((table, n));
        }
        let broken: i64 = tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
        anyhow::ensure!(broken == 0, "the export's rows break {broken} references between tables");
        tx.commit()?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate_to(&mut conn, newest)?;
        Ok(restored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::tokens::{hash_token, ProjectStore, TokenRecord, TokenStore};

    #[test]
    fn a_dump_restores_into_an_equal_store_with_its_counters() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteMetaStore::open(&dir.path().join("a.sqlite")).unwrap();
        store.ensure_project(1, "one", "2024-01-01T00:00:00+0000").unwrap();
        let (id, secret) = store.insert_token(&TokenRecord::master(1, "m", "2024-01-01T00:00:00+0000"), &|id| format!("1-{id}-s")).unwrap();
        let version = store.schema_version().unwrap();
        let tables = store.dump_rows(&dir.path().join("rows")).unwrap();
        assert!(tables.iter().any(|(t, n)| t == "tokens" && *n == 1), "{tables:?}");

        let restored_path = dir.path().join("b.sqlite");
        SqliteMetaStore::restore(&restored_path, &dir.path().join("rows"), version).unwrap();
        let restored = SqliteMetaStore::open(&restored_path).unwrap();
        assert_eq!(restored.token_by_hash(&hash_token(&secret)).unwrap().map(|t| t.id), Some(id));
        let (next, _) = restored.insert_token(&TokenRecord::master(1, "n", "2024-01-01T00:00:00+0000"), &|id| format!("1-{id}-n")).unwrap();
        assert!(next > id, "ids continue after the restored ones");
        assert!(SqliteMetaStore::restore(&restored_path, &dir.path().join("rows"), version).is_err(), "never over an existing store");
        assert!(SqliteMetaStore::restore(&dir.path().join("c.sqlite"), &dir.path().join("rows"), version + 1000).is_err(), "nor from a newer schema");
    }
}
