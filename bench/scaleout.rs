//! The scale-out stack the `scaleout-*` phases drive: three kbstack nodes on PostgreSQL metadata,
//! DuckLake tables (catalog in PostgreSQL, Parquet in S3) and files in S3, nginx round robin in
//! front (the same profile as `KBSTACK_TEST_PROFILE=scale-out` in tests/common and
//! scripts/scale-out-demo). PostgreSQL 15 and SeaweedFS are crates/testkit's throwaway servers
//! (they die with the bench process); `bench/run` makes sure their programs are installed.
//! The phases drive the stack as a `Server` whose URL is nginx's, so the same upload and job
//! helpers run against it: the nodes advertise nginx's URL, hence Put Block requests of one
//! upload are spread over the nodes too.
use std::path::Path;
use std::process::Child;

use anyhow::{Result, anyhow};

use super::{Server, proc_status_kib};

pub const NODES: usize = 3;

/// Nodes 2.. and nginx (node 1 is the `Server`'s own child).
pub struct Stack {
    others: Vec<Child>,
    nginx: kbstack_testkit::nginx::Nginx,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for child in &mut self.others {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.nginx.stop();
    }
}

/// testkit's servers panic when they cannot start (a missing program, a port taken): an error here.
fn testkit<T>(what: &str, f: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|panic| {
        let msg = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
        anyhow!("{what}: {}", msg.unwrap_or_else(|| "panicked".into()))
    })
}

/// Starts the engines, nginx and the nodes (node 1 first: it bootstraps the stack and creates the
/// keys in the shared keys dir; then the others together); the `Server` answers through nginx.
pub fn start(bin: &Path, work: &Path) -> Result<Server> {
    let engines = testkit("PostgreSQL and SeaweedFS S3", kbstack_testkit::scale_out::Engines::fresh)?;
    let ports = kbstack_testkit::scale_out::node_ports(NODES);
    let upstreams: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let nginx = testkit("nginx", || kbstack_testkit::nginx::start(&upstreams, &upstreams[0]))?;
    let dir = work.join("scale-out");
    let mut envs = engines.node_env();
    envs.push(("KBSTACK_PUBLIC_URL".into(), nginx.url()));
    envs.push(("KBSTACK_KEYS_DIR".into(), dir.join("keys").display().to_string()));
    let node_dir = |i: usize| dir.join(format!("node{}", i + 1));
    let (first, _) = Server::spawn_node(bin, &node_dir(0), &upstreams[0], &envs)?;
    let mut server = Server::new(first, nginx.url())?;
    let started: Vec<Result<Child>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..NODES)
            .map(|i| {
                let (listen, envs, dir) = (&upstreams[i], &envs, node_dir(i));
                scope.spawn(move || Server::spawn_node(bin, &dir, listen, envs).map(|(child, _)| child))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow!("starting a node panicked")))).collect()
    });
    let mut stack = Stack { others: Vec::new(), nginx };
    for child in started {
        // On an error, the nodes started so far are stopped by the `Stack` and `Server` drops.
        stack.others.push(child?);
    }
    server.stack = Some(stack);
    Ok(server)
}

/// Each node's peak RSS (VmHWM, bytes; node 1 first), None for a node that is gone.
pub fn node_hwms(server: &Server) -> Vec<Option<u64>> {
    let mut pids = vec![server.child.id()];
    if let Some(stack) = &server.stack {
        pids.extend(stack.others.iter().map(Child::id));
    }
    pids.into_iter().map(|pid| proc_status_kib(pid, "VmHWM").map(|k| k * 1024)).collect()
}

/// How the Put Block requests went over the nodes, from nginx's access log: "127.0.0.1:p 40, …".
pub fn block_spread(server: &Server) -> String {
    let Some(stack) = &server.stack else { return String::new() };
    let mut counts: Vec<(String, usize)> = Vec::new();
    for line in stack.nginx.access_log().lines() {
        // `$remote_addr "$request" $status $upstream_addr $request_time`
        let Some((request, rest)) = line.split_once('"').and_then(|(_, r)| r.split_once('"')) else { continue };
        if !(request.starts_with("PUT ") && request.contains("comp=block&")) {
            continue;
        }
        let upstream = rest.split_whitespace().nth(1).unwrap_or("?").to_string();
        match counts.iter_mut().find(|(u, _)| *u == upstream) {
            Some((_, n)) => *n += 1,
            None => counts.push((upstream, 1)),
        }
    }
    counts.sort();
    counts.iter().map(|(u, n)| format!("{u} {n}")).collect::<Vec<_>>().join(", ")
}

/// Removes this process's PostgreSQL and SeaweedFS dirs (`kbstack-pg-<pid>-…`, `kbstack-s3-<pid>-…`
/// in the temp dir). crates/testkit keeps its servers for the process's life and clears a dead
/// process's dirs only when a later process starts one, so a full run would leave gigabytes of
/// uploads in SeaweedFS's volumes behind. Called once the stack is done: the servers, still
/// running until the bench exits, are not used again; their space is freed when they end.
pub fn remove_server_dirs() {
    let ours = [format!("kbstack-pg-{}-", std::process::id()), format!("kbstack-s3-{}-", std::process::id())];
    for entry in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if ours.iter().any(|prefix| name.starts_with(prefix.as_str())) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
