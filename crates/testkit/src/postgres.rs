//! One PostgreSQL cluster per test process (`initdb` into a temp dir, `postgres` on a free
//! loopback port, trust authentication); `database()` hands each test a fresh database.
//! Needs Debian's `postgresql-15` (`.ci/run` installs it). As root, the server runs as the
//! `postgres` user, since PostgreSQL refuses to run as root.
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crate::process::{die_with_parent, on_lasting_thread, find_program, free_port, wait_for_port};

pub struct TestPostgres {
    pub port: u16,
    bin: PathBuf,
    _dir: tempfile::TempDir,
    _server: Child,
}

static SERVER: OnceLock<TestPostgres> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(1);

/// The process's cluster, started on first use.
pub fn server() -> &'static TestPostgres {
    SERVER.get_or_init(|| on_lasting_thread(TestPostgres::start))
}

/// A new empty database on the process's cluster: its `postgres://` URL.
pub fn database() -> String {
    server().create_database()
}

fn bin_dir() -> PathBuf {
    let mut extra: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    extra.sort();
    extra.reverse();
    let initdb = find_program("initdb", &extra).expect(
        "PostgreSQL's server (initdb, postgres) is not installed: `apt-get install postgresql-15` (the scale-out tests need it)",
    );
    initdb.parent().unwrap().to_path_buf()
}

/// The `postgres` user's ids when running as root.
fn server_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, "postgres"]).output().expect("id");
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("a postgres user (Debian's postgresql package makes it)")
    };
    Some((id("-u"), id("-g")))
}

impl TestPostgres {
    fn start() -> TestPostgres {
        let bin = bin_dir();
        let user = server_user();
        let dir = crate::process::server_dir("pg");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if let Some((uid, gid)) = user {
            for p in [dir.path(), data.as_path()] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown to postgres");
            }
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb.args(["-A", "trust", "--no-sync", "-U", "postgres", "-E", "UTF8", "--locale=C", "-D"]).arg(&data);
        initdb.stdout(Stdio::null()).stderr(Stdio::piped());
        die_with_parent(&mut initdb, user);
        let out = initdb.output().expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let port = free_port();
        let mut server = Command::new(bin.join("postgres"));
        server
            .arg("-D")
            .arg(&data)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"])
            // Small WAL: a test cluster holds many small databases and no replicas.
            .args(["-c", "wal_level=minimal", "-c", "max_wal_senders=0", "-c", "max_wal_size=64MB", "-c", "min_wal_size=32MB"])
            .args(["-c", &format!("port={port}"), "-c"])
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        die_with_parent(&mut server, user);
        let server = server.spawn().expect("start postgres");
        wait_for_port(port, "PostgreSQL", Duration::from_secs(30));
        let pg = TestPostgres { port, bin, _dir: dir, _server: server };
        // Accepting TCP is not yet accepting queries (the startup checkpoint).
        for _ in 0..100 {
            if pg.psql("postgres", "SELECT 1").is_ok() {
                return pg;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("PostgreSQL on port {port} did not answer queries");
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// A new empty database; its URL.
    pub fn create_database(&self) -> String {
        let name = format!("test_{}_{}", std::process::id(), NEXT_DB.fetch_add(1, Ordering::Relaxed));
        self.psql("postgres", &format!("CREATE DATABASE {name}")).expect("create database");
        self.url(&name)
    }

    /// Runs one SQL command through `psql`; its output, or its error text.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let psql = find_program("psql", &[self.bin.clone()]).expect("psql");
        let out = Command::new(psql)
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres"])
            .args(["-p", &self.port.to_string(), "-d", db, "-c", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).to_string())
        }
    }
}
