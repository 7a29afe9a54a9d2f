//! The engine SQL transformations run on: a private in-memory DuckDB per run, confined to the
//! job's folders before any user SQL runs. The runner (`runner::transformation`) decides what to
//! run; this module is the only place that talks to the engine.
use std::path::Path;

/// A transformation's database session.
pub struct SqlSession {
    conn: duckdb::Connection,
}

/// How an input table is read: a CSV file with a header, or a sliced folder of headerless CSV
/// files whose column names come from the manifest.
pub enum InputSource<'a> {
    File(&'a Path),
    Sliced { dir: &'a Path, columns: &'a [String] },
}

pub type SqlResult<T> = Result<T, String>;

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl SqlSession {
    pub fn open() -> SqlResult<SqlSession> {
        let conn = duckdb::Connection::open_in_memory().map_err(|e| e.to_string())?;
        // Best effort: a session still works with DuckDB's defaults.
        let _ = conn.execute_batch("SET memory_limit = '1GB'; SET threads = 2;");
        // DuckDB's type pushdown turns a TRY_CAST over an input view into a strict cast inside
        // the CSV reader ("Could not convert string 'abc' to DECIMAL" instead of NULL), and
        // TRY_CAST is what Snowflake's TRY_TO_NUMBER and friends become.
        let _ = conn.execute_batch("SET disabled_optimizers = 'type_pushdown'");
        Ok(SqlSession { conn })
    }

    /// A view named `alias` over an input table.
    pub fn create_input_view(&self, alias: &str, source: &InputSource) -> SqlResult<()> {
        let reader = match source {
            InputSource::File(path) => format!(
                "read_csv({}, header = true, all_varchar = true, quote = '\"', escape = '\"', delim = ',')",
                literal(&path.display().to_string())
            ),
            InputSource::Sliced { dir, columns } => {
                let names: Vec<String> = columns.iter().map(|c| literal(c)).collect();
                format!(
                    "read_csv({}, header = false, all_varchar = true, names = [{}])",
                    literal(&format!("{}/*", dir.display())),
                    names.join(", ")
                )
            }
        };
        self.conn.execute_batch(&format!("CREATE VIEW {} AS SELECT * FROM {reader}", ident(alias))).map_err(|e| e.to_string())
    }

    /// Confine the session to the job's `data_dir` (absolute, canonical) and `tmp_dir` (DuckDB's
    /// spill files), for good: user SQL must not read the server's files (`/proc/self/environ`,
    /// the data dir's master token or `tables.duckdb`), attach databases or write outside, and
    /// cannot undo any of it (`lock_configuration`). DuckDB resolves `..` and symlinks before it
    /// compares a path with the allowed directories.
    pub fn lock_down(&self, data_dir: &Path, tmp_dir: &Path) -> SqlResult<()> {
        let dir = |p: &Path| literal(&format!("{}/", p.display()));
        self.conn
            .execute_batch(&format!(
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
            .map_err(|e| e.to_string())
    }

    /// Run the user's SQL (one statement or a batch).
    pub fn run(&self, sql: &str) -> SqlResult<()> {
        self.conn.execute_batch(sql).map_err(|e| e.to_string())
    }

    /// Whether a table or view of that name exists.
    pub fn relation_exists(&self, name: &str) -> bool {
        self.conn
            .query_row("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name], |r| r.get::<_, i64>(0))
            .unwrap_or(0)
            > 0
    }

    /// Write a relation as CSV with a header (the output mapping's file).
    pub fn copy_to_csv(&self, relation: &str, target: &Path) -> SqlResult<()> {
        self.run(&format!(
            "COPY (SELECT * FROM {}) TO {} (FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"')",
            ident(relation),
            literal(&target.display().to_string())
        ))
    }

    #[cfg(test)]
    fn read_text(&self, path: &str) -> duckdb::Result<String> {
        self.conn.query_row(&format!("SELECT content FROM read_text({})", literal(path)), [], |r| r.get(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `<root>/secret.txt` next to a job folder `<root>/job/{data,tmp}`, and a locked session.
    fn locked() -> (tempfile::TempDir, std::path::PathBuf, SqlSession) {
        let root = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(root.path()).unwrap();
        let data = base.join("job/data");
        std::fs::create_dir_all(data.join("out/tables")).unwrap();
        std::fs::create_dir_all(base.join("job/tmp")).unwrap();
        std::fs::write(base.join("secret.txt"), "s3cret").unwrap();
        std::fs::write(data.join("mine.txt"), "mine").unwrap();
        std::os::unix::fs::symlink(base.join("secret.txt"), data.join("link.txt")).unwrap();
        let session = SqlSession::open().unwrap();
        session.lock_down(&data, &base.join("job/tmp")).unwrap();
        (root, base, session)
    }

    #[test]
    fn files_only_inside_the_data_folder() {
        let (_root, base, session) = locked();
        let data = base.join("job/data");
        assert_eq!(session.read_text(&data.join("mine.txt").display().to_string()).unwrap(), "mine");
        for path in [
            base.join("secret.txt").display().to_string(),
            format!("{}/../../secret.txt", data.display()),
            format!("{}/./../../secret.txt", data.display()),
            data.join("link.txt").display().to_string(),
            "/proc/self/environ".into(),
            "/etc/hostname".into(),
            "secret.txt".into(),
        ] {
            assert!(session.read_text(&path).is_err(), "{path} was readable");
        }
        let copy = |target: &Path| session.run(&format!("COPY (SELECT 1 AS a) TO {} (FORMAT csv)", literal(&target.display().to_string())));
        copy(&data.join("out/tables/a.csv")).unwrap();
        assert!(copy(&base.join("escaped.csv")).is_err());
        assert!(copy(&data.join("../escaped.csv")).is_err());
        assert!(!base.join("escaped.csv").exists() && !base.join("job/escaped.csv").exists());
        let db = literal(&base.join("other.duckdb").display().to_string());
        assert!(session.run(&format!("ATTACH {db} AS other")).is_err());
    }

    #[test]
    fn try_cast_over_an_input_view_gives_null() {
        let (_root, base, session) = locked();
        let csv = base.join("job/data/in.csv");
        std::fs::write(&csv, "id,amount\n1,10.50\n2,abc\n").unwrap();
        session.create_input_view("orders", &InputSource::File(&csv)).unwrap();
        session.run("CREATE TABLE t AS SELECT CAST(id AS INT) AS id, TRY_CAST(amount AS DECIMAL(10, 2)) AS amount FROM orders").unwrap();
        let out = base.join("job/data/out/tables/t.csv");
        session.copy_to_csv("t", &out).unwrap();
        assert_eq!(std::fs::read_to_string(out).unwrap(), "id,amount\n1,10.50\n2,\n");
    }

    #[test]
    fn the_lock_cannot_be_undone() {
        let (_root, _base, session) = locked();
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
            assert!(session.run(sql).is_err(), "{sql} succeeded");
        }
    }
}
