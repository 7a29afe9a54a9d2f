//! The scale-out profile's harness itself (tests/common, crates/testkit's nginx): three nodes on
//! PostgreSQL, DuckLake and S3 behind nginx, requests spread over every node, node-local paths
//! pinned to node 1, and a node killed and restarted under the balancer.
mod common;
use common::{MASTER_TOKEN, Server};

/// The upstream of each access-log line whose request line contains `needle`.
/// The upstream of each logged request matching `needle`, once at least `expected` are logged:
/// nginx writes a request's line after its response has gone out, so the client can be first.
fn upstreams_of(s: &Server, needle: &str, expected: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let log = s.stack.as_ref().unwrap().nginx.access_log();
        let used: Vec<String> =
            log.lines().filter(|l| l.contains(needle)).map(|l| l.split_whitespace().rev().nth(1).unwrap_or("").to_string()).collect();
        if used.len() >= expected || std::time::Instant::now() > deadline {
            return used;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn port_of(url: &str) -> String {
    url.rsplit(':').next().unwrap().to_string()
}

#[test]
fn requests_spread_over_every_node_and_node_local_paths_stay_on_the_first() {
    let s = Server::start_scale_out();
    let stack = s.stack.as_ref().unwrap();
    assert_eq!(stack.node_urls.len(), common::SCALE_OUT_NODES);
    assert_eq!(s.post_form("buckets", &[("stage", "in"), ("name", "spread")]).0, 201);
    let (st, t) = s.post_form("buckets/in.c-spread/tables", &[("name", "t"), ("dataString", "id,v\n1,a\n2,b\n"), ("primaryKey", "id")]);
    assert!(st == 201 || st == 202, "{t}");
    for _ in 0..9 {
        assert_eq!(s.get("tables/in.c-spread.t").0, 200);
    }
    let mut used: Vec<String> = upstreams_of(&s, "GET /v2/storage/tables/in.c-spread.t ", 9);
    used.sort();
    used.dedup();
    assert_eq!(used.len(), common::SCALE_OUT_NODES, "round robin over every node: {used:?}");
    // Every node reads what another wrote: the table's rows, through any of them.
    for _ in 0..3 {
        assert_eq!(s.preview_rows("in.c-spread.t", ""), [["1", "a"], ["2", "b"]]);
    }
    // A file prepared through one node is written and read through others.
    let id = s.upload("f.csv", b"x\n1\n".to_vec());
    assert_eq!(s.download(id), b"x\n1\n");

    // Node-local services answer from node 1 only.
    let first = port_of(&stack.node_urls[0]);
    for path in ["/query/health-check", "/editor/health-check", "/v2/storage/workspaces", "/data-science/apps", "/stream/v1/branches/default/sources"] {
        for _ in 0..3 {
            let r = s.client.get(format!("{}{path}", s.url)).header("X-StorageApi-Token", MASTER_TOKEN).send().unwrap();
            assert!(r.status().as_u16() < 500, "{path}: {}", r.status());
        }
        let used = upstreams_of(&s, &format!("GET {path} "), 3);
        assert_eq!(used.len(), 3, "{path}");
        assert!(used.iter().all(|u| port_of(u) == first), "{path} went to {used:?}, not node 1 ({first})");
    }
}

#[test]
fn a_killed_node_is_passed_over_and_serves_again_after_its_restart() {
    let mut s = Server::start_scale_out();
    assert_eq!(s.post_form("buckets", &[("stage", "in"), ("name", "k")]).0, 201);
    s.kill_node(2);
    // Reads go on (nginx tries the next node for a request that never reached one).
    for _ in 0..6 {
        assert_eq!(s.get("buckets/in.c-k").0, 200);
    }
    s.restart_node(2);
    let third = port_of(&s.stack.as_ref().unwrap().node_urls[2]);
    // nginx passes a failed node over for a moment (fail_timeout), then tries it again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        assert_eq!(s.get("buckets/in.c-k").0, 200);
        let last = upstreams_of(&s, "GET /v2/storage/buckets/in.c-k ", 1).pop().unwrap_or_default();
        if port_of(&last) == third {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the restarted node does not serve again");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // The stack restarts whole on its dir: same database, same lake, same files.
    let dir = s.data_dir.clone();
    s.kill();
    let again = Server::start_in(&dir);
    assert!(again.stack.is_some());
    assert_eq!(again.get("buckets/in.c-k").0, 200);
    let id = again.upload("after.csv", b"a\n".to_vec());
    assert_eq!(again.download(id), b"a\n");
}
