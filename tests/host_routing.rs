//! Host routing and TLS through the real binary: with a stack suffix, `connection.<suffix>` is
//! Storage and `<service>.<suffix>` each service, on a TLS listener whose certificate validates
//! against the CA kbstack generates. The client is curl with `--resolve` (names → 127.0.0.1
//! without touching /etc/hosts) and `--cacert` (only the generated CA is trusted), so the TLS
//! stack that checks kbstack is not kbstack's own.
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{MASTER_TOKEN, Server, parse_connection_string};
use serde_json::{Value, json};

const SUFFIX: &str = "local.keboola.dev";
const BLOB_HOST: &str = "kbstack.blob.core.windows.net";

/// A server with the suffix and a TLS listener on a free port, and what a client needs for it.
struct Stack {
    server: Server,
    tls_port: u16,
    ca: PathBuf,
}

impl Stack {
    fn start() -> Stack {
        let server = Server::start_with_env(&[("KBSTACK_STACK_SUFFIX", SUFFIX), ("KBSTACK_TLS_LISTEN", "127.0.0.1:0")]);
        let tls_url = server.stdout_line("kbstack TLS listening on ");
        let tls_port = tls_url.rsplit(':').next().unwrap().parse().expect("TLS port");
        let ca = PathBuf::from(server.stdout_line("TLS CA certificate: "));
        assert!(ca.exists(), "{}", ca.display());
        Stack { server, tls_port, ca }
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}{path}", self.tls_port)
    }

    /// `curl` for `url`, its host resolved to 127.0.0.1 and trusted only through the CA; `args`
    /// go before the URL. (status, body) or curl's complaint.
    fn curl(&self, url: &str, args: &[&str]) -> Result<(u16, Vec<u8>), String> {
        let host = url.trim_start_matches("https://").split([':', '/']).next().unwrap();
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "60", "--cacert"])
            .arg(&self.ca)
            .args(["--resolve", &format!("{host}:{}:127.0.0.1", self.tls_port), "-w", "\n%{http_code}"])
            .args(args)
            .arg(url)
            .output()
            .expect("curl is needed by this test");
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let mut body = out.stdout;
        let split = body.iter().rposition(|b| *b == b'\n').unwrap();
        let status = String::from_utf8_lossy(&body[split + 1..]).parse().unwrap();
        body.truncate(split);
        Ok((status, body))
    }

    fn json(&self, url: &str, args: &[&str]) -> (u16, Value) {
        let token = format!("X-StorageApi-Token: {MASTER_TOKEN}");
        let mut all = vec!["-H", token.as_str()];
        all.extend_from_slice(args);
        let (status, body) = self.curl(url, &all).unwrap_or_else(|e| panic!("{url}: {e}"));
        (status, serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into())))
    }
}

#[test]
fn host_based_services_over_tls() {
    let st = Stack::start();
    let connection = format!("connection.{SUFFIX}");
    let queue = format!("queue.{SUFFIX}");
    let port = st.tls_port;

    // The certificate validates for Storage, a service and the Azure-style blob host, and the
    // check is real: a name it does not carry is refused.
    for host in [connection.as_str(), queue.as_str(), BLOB_HOST] {
        st.curl(&st.url(host, "/"), &[]).unwrap_or_else(|e| panic!("TLS to {host}: {e}"));
    }
    let err = st.curl(&st.url("connection.example.com", "/"), &[]).unwrap_err();
    assert!(err.contains("certificate") || err.contains("SSL"), "{err}");

    // The index lists every service by host.
    let (status, index) = st.json(&st.url(&connection, "/v2/storage?exclude=components"), &[]);
    assert_eq!(status, 200, "{index}");
    for service in index["services"].as_array().unwrap() {
        let id = service["id"].as_str().unwrap();
        assert_eq!(service["url"], json!(format!("https://{id}.{SUFFIX}:{port}")), "{index}");
    }
    assert!(index["services"].as_array().unwrap().iter().any(|s| s["id"] == "queue"), "{index}");
    // Every advertised service answers on its host.
    for service in index["services"].as_array().unwrap() {
        let (status, body) = st.json(&format!("{}/", service["url"].as_str().unwrap()), &[]);
        // GoodData Provisioning is retired: its host answers, with 410 Gone.
        let expected = if service["id"] == "gooddata-provisioning" { 410 } else { 200 };
        assert_eq!(status, expected, "{} answers on its host: {body}", service["id"]);
    }

    // Syrup at its own root: an old-style run, its job followed by the URL handed out; the
    // Docker Runner's actions at the `docker-runner` host's root.
    let syrup = format!("syrup.{SUFFIX}");
    let (status, created) = st.json(&st.url(&syrup, "/keboola.runner-config-test/run"), &["--data", r#"{"configData": {"parameters": {}}}"#]);
    assert_eq!(status, 202, "{created}");
    let job_url = created["url"].as_str().unwrap();
    assert_eq!(job_url, format!("https://{syrup}:{port}/queue/job/{}", created["id"].as_str().unwrap()));
    let (status, job) = st.json(job_url, &[]);
    assert_eq!((status, job["id"].to_string()), (200, created["id"].as_str().unwrap().to_string()), "{job}");
    let (status, action) = st.json(
        &st.url(&format!("docker-runner.{SUFFIX}"), "/keboola.runner-config-test/action/emptyJsonObject"),
        &["-H", "Content-Type: application/json", "-d", r#"{"configData": {"parameters": {}}}"#],
    );
    assert_eq!((status, action), (200, json!({})));

    // Storage paths are unchanged on the connection host; handed-out URLs are host-form.
    let (status, bucket) =
        st.json(&st.url(&connection, "/v2/storage/buckets"), &["-X", "POST", "-d", "name=hosts", "-d", "stage=in"]);
    assert_eq!(status, 201, "{bucket}");
    assert_eq!(bucket["uri"], format!("https://{connection}:{port}/v2/storage/buckets/in.c-hosts"));

    // The Queue at its own root: create, follow the job's own URL, list.
    let (status, job) = st.json(
        &st.url(&queue, "/jobs"),
        &["-H", "Content-Type: application/json", "-d", r#"{"component":"keboola.runner-config-test","mode":"run","configData":{"parameters":{"message":"by host"}}}"#],
    );
    assert_eq!(status, 201, "{job}");
    let job_url = job["url"].as_str().unwrap();
    assert_eq!(job_url, format!("https://{queue}:{port}/jobs/{}", job["id"].as_str().unwrap()));
    let (status, again) = st.json(job_url, &[]);
    assert_eq!((status, &again["id"]), (200, &job["id"]), "{again}");
    let (status, list) = st.json(&st.url(&queue, "/search/jobs?limit=5"), &[]);
    assert_eq!(status, 200, "{list}");
    assert!(list.as_array().unwrap().iter().any(|j| j["id"] == job["id"]), "{list}");

    // A file round trip through the URLs kbstack hands out.
    let content = b"id,name\n1,over tls\n";
    let (status, prepared) = st.json(
        &st.url(&connection, "/v2/storage/files/prepare"),
        &["-d", "name=tls.csv", "-d", "federationToken=1", "-d", &format!("sizeBytes={}", content.len())],
    );
    assert_eq!(status, 201, "{prepared}");
    let params = &prepared["absUploadParams"];
    let (endpoint, sas) = parse_connection_string(params["absCredentials"]["SASConnectionString"].as_str().unwrap());
    assert_eq!(endpoint, format!("https://abs.{SUFFIX}:{port}/kbstack"));
    let blob = params["blobName"].as_str().unwrap();
    let upload = format!("{endpoint}/{}/{blob}?{sas}", params["container"].as_str().unwrap());
    let payload = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(payload.path(), content).unwrap();
    let (status, body) = st
        .curl(&upload, &["-X", "PUT", "-H", "x-ms-blob-type: BlockBlob", "--data-binary", &format!("@{}", payload.path().display())])
        .unwrap();
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let (status, file) = st.json(&st.url(&connection, &format!("/v2/storage/files/{}", prepared["id"])), &[]);
    assert_eq!(status, 200, "{file}");
    let download = file["url"].as_str().unwrap();
    assert!(download.starts_with(&format!("https://abs.{SUFFIX}:{port}/kbstack/")), "{download}");
    assert_eq!(st.curl(download, &[]).unwrap(), (200, content.to_vec()));
    // keboola-cli reads manifest entries `azure://kbstack.blob.core.windows.net/...` as https URLs
    // on that host: the same blob answers there.
    let (_, query) = download.split_once('?').unwrap();
    let azure_style = st.url(BLOB_HOST, &format!("/kbstack-files/{blob}?{query}"));
    assert_eq!(st.curl(&azure_style, &[]).unwrap(), (200, content.to_vec()));

    // A service this stack does not serve: the Storage envelope, 404.
    let (status, err) = st.json(&st.url(&format!("nope.{SUFFIX}"), "/v2/storage"), &[]);
    assert_eq!((status, err["code"].as_str(), err["status"].as_str()), (404, Some("notFound"), Some("error")), "{err}");
    assert!(err["error"].as_str().unwrap().contains(&format!("nope.{SUFFIX}")), "{err}");

    // Path-based serving on the plain listener is as it was.
    let s = &st.server;
    let (status, buckets) = s.get("buckets");
    assert_eq!(status, 200, "{buckets}");
    assert_eq!(buckets[0]["id"], "in.c-hosts");
    let (status, jobs) = s.send(s.client.get(format!("{}/queue/jobs/{}", s.url, job["id"].as_str().unwrap())).header("X-StorageApi-Token", MASTER_TOKEN));
    assert_eq!(status, 200, "{jobs}");
    let resp = s.client.get(format!("{}/abs/kbstack/kbstack-files/{blob}?{query}", s.url)).send().unwrap();
    assert_eq!(resp.bytes().unwrap().as_ref(), content);
}

/// kbcstorage (requests + the Azure SDK) and the MCP server's Queue client (httpx) over TLS by
/// host name, trusting the generated CA through the variables kbstack tells users to set.
#[test]
fn official_clients_by_host_over_tls() {
    let Some(python) = common::venv_python("kbcstorage.files, keboola_mcp_server.clients.jobs_queue") else {
        eprintln!("SKIPPED: no Python with kbcstorage and keboola-mcp-server (set KBSTACK_TEST_PYTHON)");
        return;
    };
    let st = Stack::start();
    let (status, config) = st.server.post_json(
        "components/keboola.runner-config-test/configs",
        json!({"configurationId": "tls", "name": "tls", "configuration": {"parameters": {"message": "tls"}}}),
    );
    assert_eq!(status, 201, "{config}");
    let out = Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/tls_by_host.py"))
        .env("KBSTACK_SUFFIX", SUFFIX)
        .env("KBSTACK_TLS_PORT", st.tls_port.to_string())
        .env("KBSTACK_TOKEN", MASTER_TOKEN)
        .env("REQUESTS_CA_BUNDLE", &st.ca)
        .env("SSL_CERT_FILE", &st.ca)
        .output()
        .unwrap();
    let log = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{log}");
    assert!(log.contains("kbcstorage files by host ok") && log.contains("mcp queue client by host ok"), "{log}");
}

fn kbstack(args: &[&str], data_dir: &Path) -> (bool, String) {
    let bin = std::env::var("KBSTACK_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_kbstack").to_string());
    let out = Command::new(bin)
        .args(args)
        .env("KBSTACK_DATA_DIR", data_dir)
        .env_remove("KBSTACK_STACK_SUFFIX")
        .env_remove("KBSTACK_LISTEN")
        .env_remove("KBSTACK_TLS_LISTEN")
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn cert_command_creates_private_keys_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, out) = kbstack(&["cert", "--stack-suffix", SUFFIX], tmp.path());
    assert!(ok, "{out}");
    let tls = tmp.path().join("tls");
    assert!(out.contains(&format!("TLS CA certificate: {}", tls.join("ca.pem").display())), "{out}");
    assert!(out.contains("export SSL_CERT_FILE=") && out.contains("REQUESTS_CA_BUNDLE="), "{out}");
    assert!(out.contains(&format!("127.0.0.1 connection.{SUFFIX}")), "{out}");
    let mode = |name: &str| std::fs::metadata(tls.join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("ca-key.pem"), 0o600);
    assert_eq!(mode(&format!("{SUFFIX}-key.pem")), 0o600);
    assert_eq!(std::fs::metadata(tmp.path()).unwrap().permissions().mode() & 0o777, 0o700);
    let files = ["ca.pem", "ca-key.pem", &format!("{SUFFIX}.pem"), &format!("{SUFFIX}-key.pem")];
    let before: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(tls.join(f)).unwrap()).collect();

    let (ok, again) = kbstack(&["cert", "--stack-suffix", SUFFIX], tmp.path());
    assert!(ok && again.starts_with("already present:"), "{again}");
    let after: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(tls.join(f)).unwrap()).collect();
    assert!(before == after, "a second `kbstack cert` rewrote the files");

    let (ok, err) = kbstack(&["cert"], tmp.path());
    assert!(!ok && err.contains("--stack-suffix"), "{err}");
}

#[test]
fn hosts_command_prints_the_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, out) = kbstack(&["hosts", "--stack-suffix", SUFFIX], tmp.path());
    assert!(ok, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    for host in [format!("connection.{SUFFIX}"), format!("queue.{SUFFIX}"), format!("abs.{SUFFIX}"), BLOB_HOST.to_string()] {
        assert!(lines.contains(&format!("127.0.0.1 {host}").as_str()), "{host} missing in {out}");
    }
    // A non-loopback listener (keboola-cli refuses loopback download URLs) puts its address there.
    let (ok, out) = kbstack(&["hosts", "--stack-suffix", SUFFIX, "--listen", "10.99.0.1:8000"], tmp.path());
    assert!(ok && out.starts_with(&format!("10.99.0.1 connection.{SUFFIX}\n")), "{out}");
    assert!(!tmp.path().join("tls").exists(), "hosts writes nothing");
}
