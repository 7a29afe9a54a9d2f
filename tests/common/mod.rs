//! Test harness: starts the real `kbstack` binary on port 0 with a fresh temporary data dir.
//! With `KBSTACK_TEST_PROFILE=scale-out`, every start is a whole stack instead: three nodes on
//! PostgreSQL metadata, a DuckLake and files in S3 (crates/testkit's servers), nginx in front.
#![allow(dead_code)]
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kbstack_testkit::scale_out::Engines;
use serde_json::Value;

pub const MASTER_TOKEN: &str = "1-1-kbstacktestmastertoken0000000000000000";
/// The super admin's manage token the test servers start with.
#[allow(dead_code)]
pub const MANAGE_TOKEN: &str = "1-kbstacktestmanagetoken00000000000000000000";

pub struct Server {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub client: reqwest::blocking::Client,
    /// What the binary printed after its URL line (start-up notes), as it arrives.
    pub stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// The server's log (stderr) lines, when started by `start_logging` (every node's, under the
    /// scale-out profile).
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Under `KBSTACK_TEST_PROFILE=scale-out`: the other nodes and nginx (`child` is node 1).
    pub stack: Option<Stack>,
}

type Lines = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// The scale-out profile's stack besides node 1: three nodes on PostgreSQL metadata, DuckLake
/// (catalog in PostgreSQL, data in S3) and files in S3, nginx in front (`Server::url`).
pub struct Stack {
    /// Each node's own URL (`node_urls[0]` is node 1), past nginx.
    pub node_urls: Vec<String>,
    /// How each node starts (index 0 is node 1): `restart_node` starts it the same way again.
    specs: Vec<NodeSpec>,
    /// Nodes 2.. (`others[i - 1]` is node index `i`); None while killed.
    others: Vec<Option<Child>>,
    pub nginx: kbstack_testkit::nginx::Nginx,
}

#[derive(Clone)]
struct NodeSpec {
    dir: PathBuf,
    port: u16,
    envs: Vec<(String, String)>,
    capture_log: bool,
}

/// How many nodes the scale-out profile runs.
pub const SCALE_OUT_NODES: usize = 3;

/// Whether the suite runs against the scale-out profile (`KBSTACK_TEST_PROFILE=scale-out`).
pub fn scale_out() -> bool {
    std::env::var("KBSTACK_TEST_PROFILE").is_ok_and(|p| p == "scale-out")
}

/// True (and says so, with `why`) when the suite runs under the scale-out profile, for the few
/// tests that need exactly one node: `if common::single_node_only("…") { return; }`.
pub fn single_node_only(why: &str) -> bool {
    if scale_out() {
        eprintln!("skipped under the scale-out profile: {why}");
        return true;
    }
    false
}

/// The engines of the scale-out stack in each data dir: the same ones again when a test
/// restarts the stack on that dir.
static STACKS: std::sync::Mutex<Option<std::collections::HashMap<PathBuf, Engines>>> = std::sync::Mutex::new(None);

/// The engines of a stack started on `dir` before, if one was.
fn stack_engines(dir: &std::path::Path) -> Option<Engines> {
    STACKS.lock().unwrap().as_ref()?.get(dir).cloned()
}

fn engines_for(dir: &std::path::Path) -> Engines {
    let mut stacks = STACKS.lock().unwrap();
    stacks.get_or_insert_with(Default::default).entry(dir.to_path_buf()).or_insert_with(Engines::fresh).clone()
}

/// The environment of every node of the stack in `dir`: the three engines.
fn scale_out_env(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut env = engines_for(dir).node_env();
    env.push(("KBSTACK_DUCKDB_EXTENSIONS".into(), kbstack_testkit::duckdb_extensions().display().to_string()));
    env
}

/// Copies `from` into `to` (files 0600, directories 0700), replacing what is there.
fn copy_private(from: &std::path::Path, to: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
        for entry in std::fs::read_dir(from).unwrap().flatten() {
            copy_private(&entry.path(), &to.join(entry.file_name()));
        }
    } else if from.is_file() {
        std::fs::copy(from, to).unwrap();
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

impl Server {
    pub fn start() -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut s = Server::start_in(&dir);
        s._tmp = Some(tmp);
        s
    }

    /// Start on an existing data dir (restart tests keep the directory alive themselves).
    pub fn start_in(dir: &std::path::Path) -> Server {
        Server::start_with(dir, &[])
    }

    pub fn start_with_env(envs: &[(&str, &str)]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut s = Server::start_with(&dir, envs);
        s._tmp = Some(tmp);
        s
    }

    pub fn start_with(dir: &std::path::Path, envs: &[(&str, &str)]) -> Server {
        Server::spawn(dir, envs, false)
    }

    /// Start with the log at debug level kept in `log` (tests that the log leaks nothing).
    pub fn start_logging(envs: &[(&str, &str)]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut envs = envs.to_vec();
        envs.push(("KBSTACK_LOG", "debug"));
        let mut s = Server::spawn(&dir, &envs, true);
        s._tmp = Some(tmp);
        s
    }

    /// Everything logged so far, one line each.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Start on a data dir that is a `megabytes` tmpfs of the server's own (a private mount
    /// namespace: `unshare -m`), for disk-full tests. None where mounting is not allowed (not root).
    pub fn start_on_small_disk(megabytes: u64) -> Option<Server> {
        let allowed = Command::new("unshare").args(["-m", "--propagation", "private", "true"]).status().is_ok_and(|s| s.success());
        if !allowed {
            return None;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "--", "sh", "-c"])
            .arg(format!("mount -t tmpfs -o size={megabytes}m kbstack-small-disk \"$KBSTACK_DATA_DIR\" && exec \"$0\" \"$@\""))
            .arg(Server::binary());
        let mut s = Server::spawn_command(cmd, &dir, &[], false);
        s._tmp = Some(tmp);
        Some(s)
    }

    /// KBSTACK_BIN runs a copy of the binary (several checkouts may share one target dir).
    fn binary() -> String {
        std::env::var("KBSTACK_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_kbstack").to_string())
    }

    /// A scale-out stack whatever the profile (the profile's own test).
    pub fn start_scale_out() -> Server {
        Server::start_scale_out_with(&[])
    }

    /// `start_scale_out` with more environment for every node.
    pub fn start_scale_out_with(envs: &[(&str, &str)]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut s = Server::spawn_stack(tmp.path(), envs, false);
        s._tmp = Some(tmp);
        s
    }

    fn spawn(dir: &std::path::Path, envs: &[(&str, &str)], capture_log: bool) -> Server {
        // A dir that held a stack restarts as one.
        if scale_out() || stack_engines(dir).is_some() {
            return Server::spawn_stack(dir, envs, capture_log);
        }
        Server::spawn_command(Command::new(Server::binary()), dir, envs, capture_log)
    }

    /// The scale-out stack on `dir`: node 1 on `dir` itself (so tests that prepare the data dir
    /// or read it keep working for it), nodes 2.. on `dir/scale-out-node-<n>`, each on a port of
    /// its own, and nginx in front; every URL the nodes hand out is nginx's.
    fn spawn_stack(dir: &std::path::Path, envs: &[(&str, &str)], capture_log: bool) -> Server {
        let ports = kbstack_testkit::scale_out::node_ports(SCALE_OUT_NODES);
        let upstreams: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let nginx = kbstack_testkit::nginx::start(&upstreams, &upstreams[0]);
        let mut common = scale_out_env(dir);
        common.extend(envs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        common.push(("KBSTACK_PUBLIC_URL".into(), nginx.url()));
        // One keys dir for the stack (`--keys-dir`): node 1's own default place.
        common.push(("KBSTACK_KEYS_DIR".into(), dir.join("keys").display().to_string()));
        let specs: Vec<NodeSpec> = ports
            .iter()
            .enumerate()
            .map(|(i, port)| NodeSpec {
                dir: if i == 0 { dir.to_path_buf() } else { dir.join(format!("scale-out-node-{}", i + 1)) },
                port: *port,
                envs: common.clone(),
                capture_log,
            })
            .collect();
        let log: Lines = Default::default();
        let stdout: Lines = Default::default();
        // Node 1 first: it bootstraps the stack and makes its keys, which the others then share.
        let first = Server::spawn_node(&specs[0], &log, Some(&stdout));
        for spec in &specs[1..] {
            Server::share_node_config(dir, &spec.dir);
        }
        let others: Vec<Option<Child>> = std::thread::scope(|scope| {
            let log = &log;
            let started: Vec<_> = specs[1..].iter().map(|spec| scope.spawn(move || Server::spawn_node(spec, log, None))).collect();
            started.into_iter().map(|h| Some(h.join().expect("start a node"))).collect()
        });
        let url = nginx.url();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(300)).build().unwrap();
        Server { child: first, url, data_dir: dir.to_path_buf(), _tmp: None, client, stdout, log, stack: Some(Stack { node_urls: upstreams.iter().map(|u| format!("http://{u}")).collect(), specs, others, nginx }) }
    }

    /// What every node of a stack must have alike besides the shared keys dir, from node 1's
    /// data dir: the operator's registered process components and imported component catalog,
    /// which a test may have put there before starting (each node reads its own).
    fn share_node_config(first: &std::path::Path, node: &std::path::Path) {
        std::fs::create_dir_all(node).unwrap();
        for name in ["components", "component-catalog.json"] {
            copy_private(&first.join(name), &node.join(name));
        }
    }

    /// Starts one node of a stack and waits until it serves; its stdout lines go to `stdout`
    /// (node 1) or are drained.
    fn spawn_node(spec: &NodeSpec, log: &Lines, stdout: Option<&Lines>) -> Child {
        let mut cmd = Command::new(Server::binary());
        cmd.env("KBSTACK_LOG", "warn");
        for (k, v) in &spec.envs {
            cmd.env(k, v);
        }
        let mut child = cmd
            .arg("serve")
            .env("KBSTACK_DATA_DIR", &spec.dir)
            .env("KBSTACK_LISTEN", format!("127.0.0.1:{}", spec.port))
            .env("KBSTACK_MASTER_TOKEN", MASTER_TOKEN)
            .env("KBSTACK_MANAGE_TOKEN", MANAGE_TOKEN)
            .stdout(Stdio::piped())
            .stderr(if spec.capture_log { Stdio::piped() } else { Stdio::inherit() })
            .spawn()
            .expect("spawn kbstack");
        if let Some(stderr) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("kbstack node on port {} exited before printing its URL", spec.port);
            }
            if line.starts_with("kbstack listening on ") {
                break;
            }
            assert!(Instant::now() < deadline, "kbstack node on port {} printed no URL", spec.port);
        }
        let lines = stdout.cloned();
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                if let Some(lines) = &lines {
                    lines.lock().unwrap().push(line);
                }
            }
        });
        child
    }

    /// Kills node `i` (0 is node 1) with SIGKILL; nginx goes on sending to the others.
    pub fn kill_node(&mut self, i: usize) {
        let stack = self.stack.as_mut().expect("kill_node needs the scale-out profile");
        let child = if i == 0 { Some(&mut self.child) } else { stack.others[i - 1].as_mut() };
        if let Some(child) = child {
            let _ = child.kill();
            let _ = child.wait();
        }
        if i > 0 {
            stack.others[i - 1] = None;
        }
    }

    /// Starts node `i` again as it was started (same data dir, port, environment), after
    /// `kill_node(i)`; waits until it serves.
    pub fn restart_node(&mut self, i: usize) {
        self.kill_node(i);
        let stack = self.stack.as_mut().expect("restart_node needs the scale-out profile");
        let spec = stack.specs[i].clone();
        if i == 0 {
            self.child = Server::spawn_node(&spec, &self.log, Some(&self.stdout));
        } else {
            stack.others[i - 1] = Some(Server::spawn_node(&spec, &self.log, None));
        }
    }

    /// Every node's data dir (node 1's is `data_dir`; one without the scale-out profile).
    pub fn node_data_dirs(&self) -> Vec<PathBuf> {
        match &self.stack {
            Some(stack) => stack.specs.iter().map(|s| s.dir.clone()).collect(),
            None => vec![self.data_dir.clone()],
        }
    }

    /// `relative` in the data dir of the node that has it (a job's folder is on the node that
    /// ran the job), node 1's when none has.
    pub fn node_path(&self, relative: &str) -> PathBuf {
        let dirs = self.node_data_dirs();
        dirs.iter().map(|d| d.join(relative)).find(|p| p.exists()).unwrap_or_else(|| dirs[0].join(relative))
    }

    /// The data dir of node `i` (0 is node 1, on `data_dir`).
    pub fn node_data_dir(&self, i: usize) -> PathBuf {
        match &self.stack {
            Some(stack) => stack.specs[i].dir.clone(),
            None => self.data_dir.clone(),
        }
    }

    fn spawn_command(mut cmd: Command, dir: &std::path::Path, envs: &[(&str, &str)], capture_log: bool) -> Server {
        cmd.env("KBSTACK_LOG", "warn");
        // Tests read and write the live metadata file (stored documents, fixtures).
        cmd.env("KBSTACK_METADATA_LOCKING", "shared");
        if let Some(url) = Server::postgres_metadata_for(dir) {
            cmd.env("KBSTACK_METADATA_URL", url);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd
            .arg("serve")
            .env("KBSTACK_DATA_DIR", dir)
            .env("KBSTACK_LISTEN", "127.0.0.1:0")
            .env("KBSTACK_MASTER_TOKEN", MASTER_TOKEN)
            .env("KBSTACK_MANAGE_TOKEN", MANAGE_TOKEN)
            .env_remove("KBSTACK_PUBLIC_URL")
            .stdout(Stdio::piped())
            .stderr(if capture_log { Stdio::piped() } else { Stdio::inherit() })
            .spawn()
            .expect("spawn kbstack");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut url = String::new();
        while Instant::now() < deadline {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("kbstack exited before printing its URL");
            }
            if let Some(rest) = line.trim().strip_prefix("kbstack listening on ") {
                url = rest.to_string();
                break;
            }
        }
        assert!(!url.is_empty(), "no URL printed");
        // Keep draining stdout so the child never blocks on a full pipe.
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines = stdout.clone();
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        // reqwest has rustls without a provider of its own (ring only, no aws-lc): the process's.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(300)).build().unwrap();
        Server { child, url, data_dir: dir.to_path_buf(), _tmp: None, client, stdout, log, stack: None }
    }

    /// The metadata database of the stack in `dir` when the suite runs with
    /// `KBSTACK_TEST_METADATA=postgres` (or the scale-out profile): a fresh one on the test cluster
    /// per data dir, the same one again when a test restarts a server on that dir.
    fn postgres_metadata_for(dir: &std::path::Path) -> Option<String> {
        if scale_out() {
            return Some(engines_for(dir).metadata);
        }
        if let Some(e) = stack_engines(dir) {
            return Some(e.metadata);
        }
        static DATABASES: std::sync::Mutex<Option<std::collections::HashMap<std::path::PathBuf, String>>> = std::sync::Mutex::new(None);
        if std::env::var("KBSTACK_TEST_METADATA").ok()? != "postgres" {
            return None;
        }
        let mut databases = DATABASES.lock().unwrap();
        let url = databases.get_or_insert_with(Default::default).entry(dir.to_path_buf()).or_insert_with(kbstack_testkit::postgres::database);
        Some(url.clone())
    }

    /// The rest of the first start-up line starting with `prefix` (waits for it).
    pub fn stdout_line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(line) = self.stdout.lock().unwrap().iter().find_map(|l| l.strip_prefix(prefix)) {
                return line.to_string();
            }
            assert!(Instant::now() < deadline, "kbstack printed no line starting {prefix:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/v2/storage/{}", self.url, path.trim_start_matches('/'))
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.client.get(self.api(path)).header("X-StorageApi-Token", MASTER_TOKEN))
    }

    pub fn get_as(&self, token: &str, path: &str) -> (u16, Value) {
        self.send(self.client.get(self.api(path)).header("X-StorageApi-Token", token))
    }

    pub fn post_json(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.client.post(self.api(path)).header("X-StorageApi-Token", MASTER_TOKEN).json(&body))
    }

    pub fn post_json_as(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.send(self.client.post(self.api(path)).header("X-StorageApi-Token", token).json(&body))
    }

    pub fn post_form(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let body: String = form
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send(
            self.client
                .post(self.api(path))
                .header("X-StorageApi-Token", MASTER_TOKEN)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body),
        )
    }

    pub fn put_json(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.client.put(self.api(path)).header("X-StorageApi-Token", MASTER_TOKEN).json(&body))
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        self.send(self.client.delete(self.api(path)).header("X-StorageApi-Token", MASTER_TOKEN))
    }

    pub fn send(&self, req: reqwest::blocking::RequestBuilder) -> (u16, Value) {
        let resp = req.send().expect("request");
        let status = resp.status().as_u16();
        if let Some(ct) = resp.headers().get("content-type") {
            if status != 204 && ct.to_str().unwrap_or("").contains("json") {
                assert_eq!(ct, "application/json", "JSON responses carry exactly application/json");
            }
        }
        let text = resp.text().unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// Poll a storage job until it finishes.
    pub fn wait_job(&self, job: &Value) -> Value {
        let id = job["id"].as_i64().expect("job id");
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let (status, j) = self.get(&format!("jobs/{id}"));
            assert_eq!(status, 200, "{j}");
            if j["status"] == "success" || j["status"] == "error" {
                return j;
            }
            assert!(Instant::now() < deadline, "job {id} did not finish");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A table's rows through `data-preview` (JSON), sorted; `query` is appended (`&limit=…`).
    pub fn preview_rows(&self, table: &str, query: &str) -> Vec<Vec<String>> {
        let (st, body) = self.get(&format!("tables/{table}/data-preview?format=json{query}"));
        assert_eq!(st, 200, "{body}");
        let mut rows: Vec<Vec<String>> = body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().iter().map(|c| c["value"].as_str().unwrap().to_string()).collect())
            .collect();
        rows.sort();
        rows
    }

    /// Stops the server (under the scale-out profile: nginx first, so that clients see the stack
    /// gone as they see one server gone, a refused connection rather than a 502; then every node).
    pub fn kill(&mut self) {
        if let Some(stack) = &mut self.stack {
            stack.nginx.stop();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(stack) = &mut self.stack {
            for child in stack.others.iter_mut().flatten() {
                let _ = child.kill();
                let _ = child.wait();
            }
            stack.others.iter_mut().for_each(|c| *c = None);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Any method on a Storage path as `token`, with an optional JSON body.
pub fn call(s: &Server, method: reqwest::Method, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = s.client.request(method, s.api(path)).header("X-StorageApi-Token", token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    s.send(req)
}

/// Any method on a Management API path (`/manage/...`) as manage token `token`.
#[allow(dead_code)]
pub fn manage(s: &Server, method: reqwest::Method, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = s.client.request(method, format!("{}{path}", s.url)).header("X-KBC-ManageApiToken", token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    s.send(req)
}

/// The body of an answer that must have status `expected` (`what` names it when it has not).
pub fn ok(what: &str, (status, body): (u16, Value), expected: u16) -> Value {
    assert_eq!(status, expected, "{what}: {body}");
    body
}

pub fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Parts of an Azure SAS connection string: (BlobEndpoint, SharedAccessSignature).
pub fn parse_connection_string(cs: &str) -> (String, String) {
    let mut endpoint = String::new();
    let mut sas = String::new();
    for part in cs.split(';') {
        if let Some(v) = part.strip_prefix("BlobEndpoint=") {
            endpoint = v.trim_end_matches('/').to_string();
        } else if let Some(v) = part.strip_prefix("SharedAccessSignature=") {
            sas = v.to_string();
        }
    }
    (endpoint, sas)
}

impl Server {
    /// files/prepare + Put Blob, as the Azure SDK does it; returns the file id.
    pub fn upload(&self, name: &str, data: Vec<u8>) -> i64 {
        let (st, f) = self.post_form(
            "files/prepare",
            &[("name", name), ("isEncrypted", "1"), ("federationToken", "1"), ("sizeBytes", &data.len().to_string())],
        );
        assert_eq!(st, 201, "{f}");
        let params = &f["absUploadParams"];
        let (endpoint, sas) = parse_connection_string(params["absCredentials"]["SASConnectionString"].as_str().unwrap());
        let url = format!("{endpoint}/{}/{}?{sas}", params["container"].as_str().unwrap(), params["blobName"].as_str().unwrap());
        let resp = self.client.put(url).header("x-ms-blob-type", "BlockBlob").body(data).send().unwrap();
        assert_eq!(resp.status().as_u16(), 201, "{}", resp.text().unwrap_or_default());
        f["id"].as_i64().unwrap()
    }

    /// The content of a file (slices concatenated in manifest order).
    pub fn download(&self, id: i64) -> Vec<u8> {
        let (st, f) = self.get(&format!("files/{id}?federationToken=1"));
        assert_eq!(st, 200, "{f}");
        let (endpoint, sas) = parse_connection_string(f["absCredentials"]["SASConnectionString"].as_str().unwrap());
        let container = f["absPath"]["container"].as_str().unwrap().to_string();
        let name = f["absPath"]["name"].as_str().unwrap().to_string();
        let get = |blob: &str| -> Vec<u8> {
            let resp = self.client.get(format!("{endpoint}/{container}/{blob}?{sas}")).send().unwrap();
            assert!(resp.status().is_success(), "GET {blob}: {}", resp.status());
            resp.bytes().unwrap().to_vec()
        };
        if f["isSliced"] == true {
            let manifest: Value = serde_json::from_slice(&get(&format!("{name}manifest"))).unwrap();
            let mut out = Vec::new();
            for entry in manifest["entries"].as_array().unwrap() {
                let url = entry["url"].as_str().unwrap();
                let blob = url.split(&format!("blob.core.windows.net/{container}/")).nth(1).expect("entry in our container");
                out.extend(get(blob));
            }
            out
        } else {
            get(&name)
        }
    }
}

/// The test Python (`KBSTACK_TEST_PYTHON`, or the venv scripts/test fills at
/// `$HOME/.cache/kbstack-test/venv`) when it can import `modules` (a Python import list, e.g.
/// `"keboola.component"`); None and the test says it was skipped.
#[allow(dead_code)]
pub fn venv_python(modules: &str) -> Option<PathBuf> {
    let venv = std::env::var("HOME").ok().map(|h| PathBuf::from(h).join(".cache/kbstack-test/venv/bin/python"));
    std::env::var("KBSTACK_TEST_PYTHON")
        .ok()
        .map(PathBuf::from)
        .into_iter()
        .chain(venv)
        .find(|p| Command::new(p).args(["-c", &format!("import {modules}")]).output().is_ok_and(|o| o.status.success()))
}

/// A server with more projects besides project 1, each `(id, name, master token secret)` with a
/// default branch "Main" (made through the metadata store while the server is stopped). Every
/// project of a kbstack belongs to its one organization.
#[allow(dead_code)]
pub fn start_with_projects(extra: &[(i64, &str, &str)]) -> (Server, tempfile::TempDir) {
    start_with_projects_env(extra, &[])
}

/// `start_with_projects`, the server serving with `envs` set.
#[allow(dead_code)]
pub fn start_with_projects_env(extra: &[(i64, &str, &str)], envs: &[(&str, &str)]) -> (Server, tempfile::TempDir) {
    use kbstack::meta::tokens::TokenRecord;

    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path());
    s.kill();
    {
        let meta = metadata_store(dir.path());
        for (id, name, secret) in extra {
            meta.ensure_project(*id, name, "2026-01-01T00:00:00+0000").unwrap();
            meta.ensure_default_branch(*id, "Main", "2026-01-01T00:00:00+0000").unwrap();
            let master = TokenRecord {
                can_manage_protected_default_branch: true,
                ..TokenRecord::master(*id, &format!("{name} master"), "2026-01-01T00:00:00+0000")
            };
            let secret = secret.to_string();
            meta.insert_token(&master, &|_| secret.clone()).unwrap();
        }
    }
    (Server::start_with(dir.path(), envs), dir)
}

/// The metadata store of the stack in `dir` (its server stopped, or sharing the file): the
/// PostgreSQL database under `KBSTACK_TEST_METADATA=postgres` or the scale-out profile, otherwise the data dir's SQLite file.
#[allow(dead_code)]
pub fn metadata_store(dir: &std::path::Path) -> kbstack::meta::MetaStore {
    match Server::postgres_metadata_for(dir) {
        Some(url) => kbstack::meta::MetaStore::connect(&url).unwrap(),
        None => kbstack::meta::MetaStore::open(&dir.join("metadata.sqlite")).unwrap(),
    }
}

/// Runs one SQL statement on the metadata store of the stack in `dir` (tests that age rows or
/// break them on purpose): the SQLite file, or the PostgreSQL database under
/// `KBSTACK_TEST_METADATA=postgres` and the scale-out profile. The SQL must suit both.
#[allow(dead_code)]
pub fn metadata_sql(dir: &std::path::Path, sql: &str) {
    match Server::postgres_metadata_for(dir) {
        Some(url) => {
            let db = url.rsplit('/').next().expect("a database in the URL");
            kbstack_testkit::postgres::server().psql(db, sql).expect("SQL on the metadata database");
        }
        None => {
            let db = rusqlite::Connection::open(dir.join("metadata.sqlite")).unwrap();
            db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            db.execute_batch(sql).unwrap();
        }
    }
}

/// The first column of the first row of a query on the metadata store of the stack in `dir`
/// (see `metadata_sql`); None without a row.
#[allow(dead_code)]
pub fn metadata_query(dir: &std::path::Path, sql: &str) -> Option<String> {
    match Server::postgres_metadata_for(dir) {
        Some(url) => {
            let db = url.rsplit('/').next().expect("a database in the URL");
            let out = kbstack_testkit::postgres::server().psql(db, sql).expect("SQL on the metadata database");
            (!out.is_empty()).then_some(out)
        }
        None => {
            use rusqlite::OptionalExtension;
            let db = rusqlite::Connection::open(dir.join("metadata.sqlite")).unwrap();
            db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            db.query_row(sql, [], |r| r.get::<_, String>(0)).optional().unwrap()
        }
    }
}

/// `text` as an SQL string literal (both SQLite and PostgreSQL).
#[allow(dead_code)]
pub fn sql_text(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
