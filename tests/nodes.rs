//! Several nodes on one stack (the scale-out profile without its load balancer: each request
//! goes to the node the test names): they bootstrap the stack once when they start together,
//! and the jobs of a node that dies are ended by the others (`src/node.rs`).
mod common;
mod queue_support;

use std::time::{Duration, Instant};

use common::Server;
use queue_support::*;
use serde_json::json;

/// The environment of one stack's nodes: metadata and the DuckLake catalog in PostgreSQL, table
/// data in a directory they share, one keys dir.
struct Stack {
    env: Vec<(&'static str, String)>,
    metadata: String,
    _shared: tempfile::TempDir,
}

impl Stack {
    fn new() -> Stack {
        let shared = tempfile::tempdir().unwrap();
        let metadata = kbstack_testkit::postgres::database();
        let env = vec![
            ("KBSTACK_METADATA_URL", metadata.clone()),
            ("KBSTACK_KEYS_DIR", shared.path().join("keys").display().to_string()),
            ("KBSTACK_TABLES_BACKEND", "ducklake".into()),
            ("KBSTACK_DUCKLAKE_CATALOG", kbstack_testkit::postgres::database()),
            ("KBSTACK_DUCKLAKE_DATA_PATH", shared.path().join("tables").display().to_string()),
            ("KBSTACK_DUCKDB_EXTENSIONS", kbstack_testkit::duckdb_extensions().display().to_string()),
        ];
        Stack { env, metadata, _shared: shared }
    }

    fn node(&self, dir: &std::path::Path) -> Server {
        self.node_with(dir, &[])
    }

    fn node_with(&self, dir: &std::path::Path, extra: &[(&str, &str)]) -> Server {
        let mut env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.extend_from_slice(extra);
        Server::start_with(dir, &env)
    }

    fn sql(&self, sql: &str) -> String {
        let db = self.metadata.rsplit('/').next().unwrap();
        kbstack_testkit::postgres::server().psql(db, sql).unwrap()
    }
}

#[test]
fn nodes_starting_at_once_on_an_empty_stack_bootstrap_it_once() {
    if common::single_node_only("starts its own nodes on PostgreSQL (the profile would make each of them a stack of three)") {
        return;
    }
    let stack = Stack::new();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<Server> = std::thread::scope(|s| {
        let handles: Vec<_> = dirs.iter().map(|d| s.spawn(|| stack.node(d.path()))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(stack.sql("SELECT count(*) FROM projects").trim(), "1");
    assert_eq!(stack.sql("SELECT count(*) FROM tokens WHERE is_master = 1").trim(), "1", "one master token, not one per node");
    assert_eq!(stack.sql("SELECT count(*) FROM nodes").trim(), "3", "every node beats");
    // One stack: what one node writes, the others serve; the keys are one set.
    assert_eq!(nodes[0].post_form("buckets", &[("stage", "in"), ("name", "shared")]).0, 201);
    for n in &nodes {
        let (st, verify) = n.get("tokens/verify");
        assert_eq!(st, 200, "{verify}");
        assert_eq!(n.get("buckets/in.c-shared").0, 200);
    }
    let keys: Vec<String> = std::fs::read_dir(stack._shared.path().join("keys")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(keys.iter().all(|k| !k.ends_with(".tmp")), "{keys:?}");
    for n in &nodes {
        assert!(!n.data_dir.join("keys").exists(), "the keys live in --keys-dir, not in the node's data dir");
    }
}

/// A node is killed (SIGKILL) while it runs a Queue job: another node ends the job as `error`
/// once the dead node's lease runs out, kills the leftover component process, and nothing is
/// left `processing`. A kill asked of one node reaches the job another node runs.
#[test]
fn the_jobs_of_a_killed_node_are_ended_by_another_node() {
    if common::single_node_only("starts its own nodes on PostgreSQL (the profile would make each of them a stack of three)") {
        return;
    }
    let stack = Stack::new();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // One worker: once A runs the first job, the second can only run on B.
    let mut a = stack.node_with(dir_a.path(), &[("KBSTACK_QUEUE_WORKERS", "1")]);
    let pid_file = shared_marker("pid");
    let script = sh(&format!("echo $$ > {}-$KBSTACK_QUEUE_JOB_ID; sleep 120", pid_file.display()));
    register(&a, "test.sleeper", script.clone());
    // Only A runs yet, so A claims the job.
    let job = create_job(&a, json!({"component": "test.sleeper", "configData": {}}));
    wait_status(&a, &id(&job), "processing", 20);
    let b = stack.node(dir_b.path());
    register(&b, "test.sleeper", script);

    // A kill sent to A stops the job B runs.
    let killed = create_job(&b, json!({"component": "test.sleeper", "configData": {}}));
    let on_b = wait_status(&b, &id(&killed), "processing", 20);
    let t0 = Instant::now();
    let (st, k) = qpost(&a, &format!("jobs/{}/kill", id(&on_b)), json!({}));
    assert_eq!(st, 202, "{k}");
    assert_eq!(wait_finished(&a, &id(&on_b), 15)["status"], "terminated");
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());

    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let t0 = Instant::now();
    let ended = wait_finished(&b, &id(&job), 40);
    assert_eq!(ended["status"], "error", "{ended}");
    assert!(ended["result"]["message"].as_str().unwrap().contains("interrupted"), "{ended}");
    assert!(t0.elapsed() >= Duration::from_secs(5), "ended before the lease ran out: {:?}", t0.elapsed());
    assert_eq!(stack.sql("SELECT count(*) FROM queue_jobs WHERE status IN ('processing', 'terminating')").trim(), "0");
    // The component's process group went with it (it is the dead node's, on this machine).
    let _ = std::fs::remove_file(format!("{}-{}", pid_file.display(), id(&on_b)));
    let pid_file = format!("{}-{}", pid_file.display(), id(&job));
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
    let _ = std::fs::remove_file(&pid_file);
    let deadline = Instant::now() + Duration::from_secs(5);
    let alive = || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "));
    while alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!alive(), "the dead node's component process {pid} was left running");
}
