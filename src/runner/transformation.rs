//! `keboola.duckdb-transformation` (and `keboola.snowflake-transformation` configurations, run on
//! the same DuckDB engine in DuckDB's SQL dialect): a fresh in-memory DuckDB per run; every input
//! table is a view named after its file in `in/tables` (`"orders.csv"`, and `orders` too); the
//! blocks of `parameters.blocks[].codes[].script[]` run in order, one statement (or batch) per
//! script item; each output mapping source is the table or view named after the output file
//! (`"out.csv"`, or `out`), written to `out/tables/<source>` for the output mapping.
//!
//! The engine runs inside the server, so before any user SQL the connection is locked down
//! ([`lock_down`]): files only inside the job's data folder, no extensions, no settings changed.
use std::path::Path;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::Logger;
use super::process::Exit;

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn user(msg: String, logger: &Logger) -> Exit {
    logger.log("error", &msg);
    Exit::Code(1, vec![msg])
}

/// Confine the connection to the job's `data_dir` (absolute, canonical) and `tmp_dir` (DuckDB's
/// spill files), for good: user SQL must not read the server's files (`/proc/self/environ`, the
/// data dir's master token or `tables.duckdb`), attach databases or write outside, and cannot
/// undo any of it (`lock_configuration`). DuckDB resolves `..` and symlinks before it compares a
/// path with the allowed directories.
fn lock_down(conn: &duckdb::Connection, data_dir: &Path, tmp_dir: &Path) -> duckdb::Result<()> {
    let dir = |p: &Path| literal(&format!("{}/", p.display()));
    conn.execute_batch(&format!(
        "SET autoinstall_known_extensions = false;
         SET autoload_known_extensions = false;
         SET allow_community_extensions = false;
         SET temp_directory = {tmp};
         SET allowed_directories = [{data}, {tmp}];
         SET enable_external_access = false;
         SET lock_configuration = true;",
        data = dir(data_dir),
        tmp = dir(tmp_dir),
    ))
}

pub fn run(data_dir: &Path, cancel: &CancellationToken, logger: &Logger) -> Exit {
    // Absolute and canonical: the paths user SQL gives are compared with it after DuckDB resolved them.
    let data_dir = match std::fs::canonicalize(data_dir) {
        Ok(d) => d,
        Err(e) => return Exit::Failed(format!("cannot resolve the data folder: {e}")),
    };
    let data_dir = data_dir.as_path();
    let tmp_dir = data_dir.parent().unwrap_or(data_dir).join("tmp");
    if let Err(e) = std::fs::create_dir_all(&tmp_dir) {
        return Exit::Failed(format!("cannot create the job's temporary folder: {e}"));
    }
    let config: Value = match std::fs::read(data_dir.join("config.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()) {
        Some(c) => c,
        None => return Exit::Code(2, vec!["config.json is missing or invalid".into()]),
    };
    let conn = match duckdb::Connection::open_in_memory() {
        Ok(c) => c,
        Err(e) => return Exit::Failed(format!("cannot open DuckDB: {e}")),
    };
    let _ = conn.execute_batch("SET memory_limit = '1GB'; SET threads = 2;");

    // Inputs: one view per file (or sliced folder) in in/tables.
    let in_tables = data_dir.join("in/tables");
    let mut names: Vec<String> = std::fs::read_dir(&in_tables)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().to_string()).collect())
        .unwrap_or_default();
    names.retain(|n| !n.ends_with(".manifest"));
    names.sort();
    for name in &names {
        let path = in_tables.join(name);
        let manifest: Value = std::fs::read(in_tables.join(format!("{name}.manifest")))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        let source = if path.is_dir() { format!("{}/*", path.display()) } else { path.display().to_string() };
        let headless = path.is_dir();
        let reader = if headless {
            let cols: Vec<String> = manifest["columns"].as_array().map(|c| c.iter().filter_map(|x| x.as_str().map(literal)).collect()).unwrap_or_default();
            format!("read_csv({}, header = false, all_varchar = true, names = [{}])", literal(&source), cols.join(", "))
        } else {
            format!("read_csv({}, header = true, all_varchar = true, quote = '\"', escape = '\"', delim = ',')", literal(&source))
        };
        let mut aliases = vec![name.clone()];
        if let Some(stem) = name.strip_suffix(".csv").filter(|s| !s.is_empty()) {
            aliases.push(stem.to_string());
        }
        for alias in aliases {
            if let Err(e) = conn.execute_batch(&format!("CREATE VIEW {} AS SELECT * FROM {reader}", ident(&alias))) {
                return user(format!("Cannot load the input table \"{name}\": {e}"), logger);
            }
        }
    }

    if let Err(e) = lock_down(&conn, data_dir, &tmp_dir) {
        return Exit::Failed(format!("cannot restrict DuckDB to the data folder: {e}"));
    }

    // Blocks, codes, scripts in order.
    let blocks = config["parameters"]["blocks"].as_array().cloned().unwrap_or_default();
    for (bi, block) in blocks.iter().enumerate() {
        let block_name = block["name"].as_str().map(str::to_string).unwrap_or_else(|| format!("#{}", bi + 1));
        for (ci, code) in block["codes"].as_array().cloned().unwrap_or_default().iter().enumerate() {
            let code_name = code["name"].as_str().map(str::to_string).unwrap_or_else(|| format!("#{}", ci + 1));
            let scripts: Vec<String> = match &code["script"] {
                Value::Array(items) => items.iter().filter_map(|s| s.as_str().map(str::to_string)).collect(),
                Value::String(s) => vec![s.clone()],
                _ => Vec::new(),
            };
            logger.log("info", &format!("Running block \"{block_name}\", code \"{code_name}\" ({} statements).", scripts.len()));
            for sql in scripts {
                if cancel.is_cancelled() {
                    return Exit::Cancelled;
                }
                if sql.trim().is_empty() {
                    continue;
                }
                if let Err(e) = conn.execute_batch(&sql) {
                    let short: String = sql.chars().take(300).collect();
                    return user(format!("Block \"{block_name}\", code \"{code_name}\": query failed: {e}\nQuery: {short}"), logger);
                }
            }
        }
    }

    // Outputs: the relation named after each output file.
    let outputs = config["storage"]["output"]["tables"].as_array().cloned().unwrap_or_default();
    for o in outputs {
        let Some(source) = o["source"].as_str() else { continue };
        let stem = source.strip_suffix(".csv").unwrap_or(source);
        let exists = |n: &str| -> bool {
            conn.query_row("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [n], |r| r.get::<_, i64>(0)).unwrap_or(0) > 0
        };
        let relation = if exists(source) {
            source.to_string()
        } else if exists(stem) {
            stem.to_string()
        } else {
            return user(format!("Output table \"{source}\" was not created: create a table or view named \"{source}\" (or \"{stem}\")."), logger);
        };
        let target = data_dir.join("out/tables").join(source);
        let sql = format!(
            "COPY (SELECT * FROM {}) TO {} (FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"')",
            ident(&relation),
            literal(&target.display().to_string())
        );
        if let Err(e) = conn.execute_batch(&sql) {
            return user(format!("Cannot write the output table \"{source}\": {e}"), logger);
        }
    }
    logger.log("info", "Transformation finished.");
    Exit::Code(0, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `<root>/secret.txt` next to a job folder `<root>/job/{data,tmp}`, and a locked connection.
    fn locked() -> (tempfile::TempDir, std::path::PathBuf, duckdb::Connection) {
        let root = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(root.path()).unwrap();
        let data = base.join("job/data");
        std::fs::create_dir_all(data.join("out/tables")).unwrap();
        std::fs::create_dir_all(base.join("job/tmp")).unwrap();
        std::fs::write(base.join("secret.txt"), "s3cret").unwrap();
        std::fs::write(data.join("mine.txt"), "mine").unwrap();
        std::os::unix::fs::symlink(base.join("secret.txt"), data.join("link.txt")).unwrap();
        let conn = duckdb::Connection::open_in_memory().unwrap();
        lock_down(&conn, &data, &base.join("job/tmp")).unwrap();
        (root, base, conn)
    }

    fn text(conn: &duckdb::Connection, path: &str) -> duckdb::Result<String> {
        conn.query_row(&format!("SELECT content FROM read_text({})", literal(path)), [], |r| r.get(0))
    }

    #[test]
    fn files_only_inside_the_data_folder() {
        let (_root, base, conn) = locked();
        let data = base.join("job/data");
        assert_eq!(text(&conn, &data.join("mine.txt").display().to_string()).unwrap(), "mine");
        for path in [
            base.join("secret.txt").display().to_string(),
            format!("{}/../../secret.txt", data.display()),
            format!("{}/./../../secret.txt", data.display()),
            data.join("link.txt").display().to_string(),
            "/proc/self/environ".into(),
            "/etc/hostname".into(),
            "secret.txt".into(),
        ] {
            assert!(text(&conn, &path).is_err(), "{path} was readable");
        }
        let copy = |target: &Path| conn.execute_batch(&format!("COPY (SELECT 1 AS a) TO {} (FORMAT csv)", literal(&target.display().to_string())));
        copy(&data.join("out/tables/a.csv")).unwrap();
        assert!(copy(&base.join("escaped.csv")).is_err());
        assert!(copy(&data.join("../escaped.csv")).is_err());
        assert!(!base.join("escaped.csv").exists() && !base.join("job/escaped.csv").exists());
        let db = literal(&base.join("other.duckdb").display().to_string());
        assert!(conn.execute_batch(&format!("ATTACH {db} AS other")).is_err());
    }

    #[test]
    fn the_lock_cannot_be_undone() {
        let (_root, _base, conn) = locked();
        for sql in [
            "SET enable_external_access = true",
            "RESET enable_external_access",
            "SET allowed_directories = ['/']",
            "SET lock_configuration = false",
            "SET autoload_known_extensions = true",
            "SET temp_directory = '/'",
            "INSTALL httpfs",
            "LOAD httpfs",
            "SELECT getenv('PATH')",
            "SELECT * FROM glob('/*')",
        ] {
            assert!(conn.execute_batch(sql).is_err(), "{sql} succeeded");
        }
    }
}
