//! Issue 14 item 3, "Components read server secrets": a token allowed to run only transformations
//! must not get at the master token (the `<data-dir>/master-token` file, the server's
//! environment), the stack's databases or other projects' data through a transformation. Python
//! transformations run under the Landlock sandbox (`runner::sandbox`); DuckDB transformations on
//! a connection confined to the job's data folder. Each escape must fail while legitimate
//! transformations with the same token keep working.
mod common;
mod queue_support;

use common::{MASTER_TOKEN, Server};
use queue_support::*;
use serde_json::{Value, json};

const DUCKDB: &str = "keboola.duckdb-transformation";
const PYTHON: &str = "keboola.python-transformation-v2";

/// The kernel's Landlock ABI version (< 1: no Landlock).
fn landlock_abi() -> i64 {
    // SAFETY: the version query reads and writes no memory.
    unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<u8>(), 0usize, 1u32) }
}

/// Buckets and a table, and a token that may run only the transformations, read `in.c-src` and
/// write `out.c-sandbox`.
fn transformation_token(s: &Server) -> String {
    let (st, b) = s.post_form("buckets", &[("name", "src"), ("stage", "in")]);
    assert_eq!(st, 201, "{b}");
    let (st, b) = s.post_form("buckets", &[("name", "sandbox"), ("stage", "out")]);
    assert_eq!(st, 201, "{b}");
    let (st, t) = s.post_form("buckets/in.c-src/tables", &[("name", "people"), ("dataString", "id,name\n1,ann\n2,bob\n")]);
    assert_eq!(st, 201, "{t}");
    let (st, t) = s.post_json(
        "tokens",
        json!({"description": "transformations only", "componentAccess": [DUCKDB, PYTHON],
               "bucketPermissions": {"in.c-src": "read", "out.c-sandbox": "write"}}),
    );
    assert_eq!(st, 201, "{t}");
    let token = t["token"].as_str().unwrap().to_string();
    // The token really is limited: it cannot run another component.
    let (st, e) = post_job(s, &token, json!({"component": "keboola.runner-config-test", "configData": {"parameters": {}}}));
    assert!(st == 400 || st == 403, "{st} {e}");
    token
}

fn post_job(s: &Server, token: &str, body: Value) -> (u16, Value) {
    s.send(s.client.post(queue_url(s, "jobs")).header("X-StorageApi-Token", token).json(&body))
}

/// Run a job as `token` and wait for it.
fn run(s: &Server, token: &str, body: Value) -> Value {
    let (st, j) = post_job(s, token, body);
    assert_eq!(st, 201, "{j}");
    wait_finished(s, &id(&j), 120)
}

fn events(s: &Server, job_id: &str) -> Vec<String> {
    let (st, ev) = s.get(&format!("events?runId={job_id}&limit=1000"));
    assert_eq!(st, 200, "{ev}");
    ev.as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap_or("").to_string()).collect()
}

/// Neither the job (its result, error message) nor its events carry the master token.
fn assert_no_secret(s: &Server, job: &Value) {
    assert!(!job.to_string().contains(MASTER_TOKEN), "the master token leaked into the job: {job}");
    let ev = events(s, &id(job));
    assert!(!ev.iter().any(|m| m.contains(MASTER_TOKEN)), "the master token leaked into the events: {ev:?}");
}

fn rows(s: &Server, table: &str) -> Vec<Vec<String>> {
    s.preview_rows(table, "")
}

/// The escapes are real: the secrets are where the components try to read them.
fn assert_secrets_exist(s: &Server, data: &std::path::Path) {
    assert_eq!(std::fs::read_to_string(data.join("master-token")).unwrap().trim(), MASTER_TOKEN);
    assert!(data.join("tables.duckdb").is_file());
    let environ = std::fs::read(format!("/proc/{}/environ", s.child.id())).unwrap();
    assert!(String::from_utf8_lossy(&environ).contains(&format!("KBSTACK_MASTER_TOKEN={MASTER_TOKEN}")));
}

/// Tries every way out and prints `RESULT {json}`: per attempt `denied: <errno>` or what it got
/// (a leak then shows the secret in the events, which the test also checks). Also does the
/// legitimate work: upper-cases `in/tables/people.csv` into `out/tables/people.csv`.
const ESCAPES_PY: &str = r#"
import csv, errno, json, os, stat, tempfile, urllib.error, urllib.request

out = {}
# First, before Python opens anything itself: descriptors inherited from the server.
fds = []
for fd in range(3, 1024):
    try:
        os.fstat(fd)
        fds.append(fd)
    except OSError:
        pass
out['inherited fds'] = fds

def attempt(name, fn):
    try:
        out[name] = 'ALLOWED: ' + repr(fn())[:500]
    except OSError as e:
        out[name] = 'denied: ' + errno.errorcode.get(e.errno, str(e.errno))

def read(path):
    with open(path, 'rb') as f:
        return f.read(100000)

def raw_disks():
    opened = []
    for name in os.listdir('/dev'):
        path = '/dev/' + name
        try:
            if not stat.S_ISBLK(os.stat(path).st_mode):
                continue
            with open(path, 'rb') as f:
                opened.append((path, f.read(16)))
        except OSError:
            pass
    if opened:
        return opened
    raise PermissionError(errno.EACCES, 'no block device opened')

data = '@DATA@'
attempt('relative master-token', lambda: read(os.environ['KBC_DATADIR'] + '../../../master-token'))
attempt('master-token', lambda: read(data + '/master-token'))
attempt('tables.duckdb', lambda: read(data + '/tables.duckdb'))
attempt('metadata.sqlite', lambda: read(data + '/metadata.sqlite'))
attempt('list data dir', lambda: os.listdir(data))
attempt('server environ', lambda: read('/proc/@PID@/environ'))
attempt('parent environ', lambda: read('/proc/%d/environ' % os.getppid()))
attempt('own environ', lambda: read('/proc/self/environ'))
attempt('server memory', lambda: read('/proc/@PID@/mem'))
attempt('write into data dir', lambda: open(data + '/pwned', 'w').write('x'))
attempt('write next to data dir', lambda: open(os.path.dirname(data) + '/pwned-' + os.path.basename(data), 'w').write('x'))
attempt('raw disks', raw_disks)
attempt('mknod', lambda: os.mknod(os.environ['TMPDIR'] + '/disk', stat.S_IFBLK | 0o600, os.stat(data).st_dev))
attempt('signal server', lambda: os.kill(@PID@, 0))
try:
    urllib.request.urlopen('@URL@/v2/storage/tokens/verify', timeout=20)
    out['api without token'] = 'ALLOWED'
except urllib.error.HTTPError as e:
    out['api without token'] = 'status %d' % e.code
def devices():
    with open('/dev/null', 'w') as f:
        f.write('x')
    with open('/dev/stderr', 'w') as f:
        f.write('stderr through /dev/stderr\n')
    return len(open('/dev/urandom', 'rb').read(8))
attempt('usable devices', devices)
out['kbstack vars'] = sorted(k for k in os.environ if k.startswith('KBSTACK_'))
out['home'] = os.environ.get('HOME')
out['tmpdir'] = os.environ.get('TMPDIR')
out['job folder'] = os.path.dirname(os.path.normpath(os.environ['KBC_DATADIR']))
with tempfile.NamedTemporaryFile() as f:
    out['tempfile'] = f.name

rows = list(csv.DictReader(open('in/tables/people.csv')))
with open('out/tables/people.csv', 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['id', 'name'])
    for r in rows:
        w.writerow([r['id'], r['name'].upper()])
print('RESULT ' + json.dumps(out, sort_keys=True))
"#;

#[test]
fn python_transformation_cannot_read_server_secrets() {
    if common::single_node_only("the escapes aim at the embedded stores' files (tables.duckdb, metadata.sqlite) and at the one server's environment; on a stack any node runs the job") {
        return;
    }
    let abi = landlock_abi();
    if abi < 1 {
        eprintln!("SKIPPED: this kernel has no Landlock, process components run unsandboxed");
        return;
    }
    let s = Server::start();
    let data = std::fs::canonicalize(&s.data_dir).unwrap();
    let token = transformation_token(&s);
    assert_secrets_exist(&s, &data);
    let pid = s.child.id().to_string();
    let script = ESCAPES_PY.replace("@DATA@", &data.display().to_string()).replace("@PID@", &pid).replace("@URL@", &s.url);
    let done = run(
        &s,
        &token,
        json!({"component": PYTHON, "configData": {
            "storage": {"input": {"tables": [{"source": "in.c-src.people", "destination": "people.csv"}]},
                        "output": {"tables": [{"source": "people.csv", "destination": "out.c-sandbox.py_people"}]}},
            "parameters": {"blocks": [{"name": "escape", "codes": [{"name": "all", "script": [script]}]}]}
        }}),
    );
    let ev = events(&s, &id(&done));
    assert_eq!(done["status"], "success", "{done}\n{ev:?}");
    let line = ev.iter().find_map(|m| m.strip_prefix("RESULT ")).unwrap_or_else(|| panic!("no RESULT line: {ev:?}"));
    let r: Value = serde_json::from_str(line).unwrap();

    // Files of the data dir: EACCES from Landlock (not ENOENT: they exist, see above).
    for name in ["relative master-token", "master-token", "tables.duckdb", "metadata.sqlite", "list data dir"] {
        assert_eq!(r[name], "denied: EACCES", "{name}: {r:#}");
    }
    // /proc is closed: the server's environment and memory, and the component's own.
    for name in ["server environ", "parent environ", "own environ", "server memory"] {
        assert_eq!(r[name], "denied: EACCES", "{name}: {r:#}");
    }
    // Nothing is written outside the job folder; no raw disk, no device node of one.
    for name in ["write into data dir", "write next to data dir", "raw disks", "mknod"] {
        assert!(r[name].as_str().unwrap().starts_with("denied: "), "{name}: {r:#}");
    }
    assert!(!data.join("pwned").exists());
    if abi >= 6 {
        assert_eq!(r["signal server"], "denied: EPERM", "{r:#}");
    }
    // What components need keeps working: /dev/null, /dev/urandom, /dev/stderr (a /proc link).
    assert_eq!(r["usable devices"], "ALLOWED: 8", "{r:#}");
    assert!(ev.iter().any(|m| m == "stderr through /dev/stderr"), "{ev:?}");
    // The API wants a token, and none is handed to the transformation.
    assert_eq!(r["api without token"], "status 401", "{r:#}");
    assert_eq!(r["kbstack vars"], json!(["KBSTACK_QUEUE_JOB_ID"]), "{r:#}");
    assert_eq!(r["inherited fds"], json!([]), "{r:#}");
    // HOME and TMPDIR are the job's own tmp/.
    let tmp = format!("{}/tmp", r["job folder"].as_str().unwrap());
    assert_eq!(r["home"], json!(tmp), "{r:#}");
    assert_eq!(r["tmpdir"], json!(tmp), "{r:#}");
    assert!(r["tempfile"].as_str().unwrap().starts_with(&format!("{tmp}/")), "{r:#}");

    // The legitimate part of the same job: input read, output written and loaded.
    assert_eq!(rows(&s, "out.c-sandbox.py_people"), vec![vec!["1", "ANN"], vec!["2", "BOB"]]);
    assert_no_secret(&s, &done);
}

/// Each statement runs as its own job and must fail it with DuckDB's refusal.
#[test]
fn duckdb_transformation_cannot_read_server_secrets() {
    if common::single_node_only("the escapes aim at the embedded stores' files (tables.duckdb, metadata.sqlite) and at the one server's environment; on a stack any node runs the job") {
        return;
    }
    let s = Server::start();
    let data = std::fs::canonicalize(&s.data_dir).unwrap();
    let token = transformation_token(&s);
    assert_secrets_exist(&s, &data);
    let d = data.display().to_string();

    // Legitimate: input view, SQL, output written into out/tables, all after the lockdown.
    let ok = run(
        &s,
        &token,
        json!({"component": DUCKDB, "configData": {
            "storage": {"input": {"tables": [{"source": "in.c-src.people", "destination": "people.csv"}]},
                        "output": {"tables": [{"source": "upper.csv", "destination": "out.c-sandbox.upper"}]}},
            "parameters": {"blocks": [{"name": "b", "codes": [{"name": "c", "script": [
                "CREATE TABLE \"upper.csv\" AS SELECT id, upper(name) AS name FROM people"
            ]}]}]}
        }}),
    );
    assert_eq!(ok["status"], "success", "{ok}");
    assert_eq!(rows(&s, "out.c-sandbox.upper"), vec![vec!["1", "ANN"], vec!["2", "BOB"]]);
    assert_no_secret(&s, &ok);

    // (name, SQL, what DuckDB answers)
    const DENIED: &str = "Permission Error";
    const LOCKED: &str = "the configuration has been locked";
    let escapes: Vec<(&str, String, &str)> = vec![
        ("own environ", "SELECT * FROM read_text('/proc/self/environ')".into(), DENIED),
        ("server environ", format!("SELECT * FROM read_text('/proc/{}/environ')", s.child.id()), DENIED),
        ("master-token", format!("SELECT * FROM read_text('{d}/master-token')"), DENIED),
        ("master-token as CSV", format!("SELECT * FROM read_csv('{d}/master-token', header = false)"), DENIED),
        // Filled in below with the id the job will get: `..` out of its own allowed folder.
        ("relative master-token", String::new(), DENIED),
        ("attach tables.duckdb", format!("ATTACH '{d}/tables.duckdb' AS stolen (READ_ONLY); SELECT * FROM stolen.information_schema.tables"), DENIED),
        ("attach metadata.sqlite", format!("ATTACH '{d}/metadata.sqlite' AS meta (TYPE sqlite)"), DENIED),
        ("copy out", format!("COPY (SELECT 1 AS x) TO '{d}/pwned.csv'"), DENIED),
        ("glob the data dir", format!("SELECT * FROM glob('{d}/*')"), DENIED),
        ("re-enable access", "SET enable_external_access = true".into(), LOCKED),
        ("widen the folders", "SET allowed_directories = ['/']".into(), LOCKED),
        ("unlock", "SET lock_configuration = false".into(), LOCKED),
        ("extension", "INSTALL httpfs; LOAD httpfs".into(), DENIED),
        // No such function in DuckDB's core; kept so that one added later is noticed.
        ("environment", "SELECT getenv('KBSTACK_MASTER_TOKEN')".into(), "getenv does not exist"),
    ];
    let mut last_id: i64 = id(&ok).parse().unwrap();
    for (name, sql, expected) in escapes {
        let sql = if sql.is_empty() { format!("SELECT * FROM read_text('{d}/job-data/{}/data/../../../master-token')", last_id + 1) } else { sql };
        let done = run(
            &s,
            &token,
            json!({"component": DUCKDB, "configData": {"parameters": {"blocks": [{"name": "escape", "codes": [{"name": name, "script": [sql]}]}]}}}),
        );
        let this_id: i64 = id(&done).parse().unwrap();
        if name == "relative master-token" {
            assert_eq!(this_id, last_id + 1, "the job id was predicted wrong: the path did not start in the job's own folder");
        }
        last_id = this_id;
        assert_eq!(done["status"], "error", "{name}: {sql}\n{done}");
        assert_eq!(done["result"]["error"]["type"], "user", "{name}: {done}");
        let msg = done["result"]["message"].as_str().unwrap();
        assert!(msg.contains("query failed") && msg.contains(expected), "{name}: expected \"{expected}\" in: {msg}");
        assert_no_secret(&s, &done);
    }
    assert!(!data.join("pwned.csv").exists());
}

/// A process component whose code lives inside the data dir (registered from there) still runs
/// and reads its own files, but not the data dir around it.
#[test]
fn process_component_registered_inside_the_data_dir() {
    if landlock_abi() < 1 {
        eprintln!("SKIPPED: this kernel has no Landlock, process components run unsandboxed");
        return;
    }
    let s = Server::start();
    let data = std::fs::canonicalize(&s.data_dir).unwrap();
    let code = data.join("my-component");
    std::fs::create_dir_all(&code).unwrap();
    std::fs::write(code.join("greeting.txt"), "hello from the component dir\n").unwrap();
    std::fs::write(
        code.join("run.sh"),
        "cat \"$COMPONENT_HOME/greeting.txt\"\n\
         cat ../master-token >/dev/null 2>&1 && echo LEAK-relative || echo denied-relative\n\
         ls .. >/dev/null 2>&1 && echo LEAK-listing || echo denied-listing\n\
         touch ../pwned 2>/dev/null && echo LEAK-write || echo denied-write\n",
    )
    .unwrap();
    register(
        &s,
        "kbstack-test.inside",
        json!({"command": ["/bin/sh", "${COMPONENT_DIR}/run.sh"], "working_dir": "${COMPONENT_DIR}",
               "env": {"COMPONENT_HOME": "${COMPONENT_DIR}"}, "component_dir": code.display().to_string()}),
    );
    let done = wait_finished(&s, &id(&create_job(&s, json!({"component": "kbstack-test.inside", "configData": {}}))), 60);
    let ev = events(&s, &id(&done));
    assert_eq!(done["status"], "success", "{done}\n{ev:?}");
    for line in ["hello from the component dir", "denied-relative", "denied-listing", "denied-write"] {
        assert!(ev.iter().any(|m| m == line), "{line}: {ev:?}");
    }
    assert!(!data.join("pwned").exists());
    assert_no_secret(&s, &done);
}
