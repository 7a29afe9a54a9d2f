//! The permission matrix: tokens that each lack one right, against every Storage and Queue route
//! of the router's own table (a route added later is covered without touching this file).
//! Where the right is missing the answer is a refusal (401/403/404 in the service's envelope),
//! never a success and never a 5xx; where it is present a read succeeds.
mod common;

use std::time::Duration;

use common::{MASTER_TOKEN, Server, parse_connection_string};
use reqwest::Method;
use serde_json::{Value, json};

struct Tok {
    name: &'static str,
    secret: String,
    manage_buckets: bool,
    manage_tokens: bool,
    /// Level on `in.c-b` (the only bucket ever named in a path).
    bucket: Option<&'static str>,
    ex_http: bool,
    read_all_files: bool,
    expired: bool,
}

fn create(s: &Server, name: &'static str, body: Value) -> String {
    let (st, t) = s.post_json("tokens", body);
    assert_eq!(st, 201, "{name}: {t}");
    t["token"].as_str().unwrap().to_string()
}

fn tokens(s: &Server) -> Vec<Tok> {
    let t = |name, body: Value, manage_buckets, manage_tokens, bucket, ex_http, read_all_files| Tok {
        name,
        secret: create(s, name, body),
        manage_buckets,
        manage_tokens,
        bucket,
        ex_http,
        read_all_files,
        expired: false,
    };
    let mut out = vec![
        t("read-only bucket", json!({"description": "r", "bucketPermissions": {"in.c-b": "read"}, "canReadAllFileUploads": true}), false, false, Some("read"), false, true),
        t("one bucket", json!({"description": "w", "bucketPermissions": {"in.c-other": "write"}, "canReadAllFileUploads": true}), false, false, None, false, true),
        t("no buckets", json!({"description": "n", "canReadAllFileUploads": true}), false, false, None, false, true),
        t("no file uploads", json!({"description": "f", "bucketPermissions": {"in.c-b": "write"}, "canReadAllFileUploads": false}), false, false, Some("write"), false, false),
        t("no canManageTokens", json!({"description": "m", "canManageBuckets": true, "canReadAllFileUploads": true}), true, false, Some("manage"), true, true),
        t("component", json!({"description": "c", "componentAccess": ["keboola.ex-http"], "canReadAllFileUploads": true}), false, false, None, true, true),
    ];
    let mut expired = t("expired", json!({"description": "e", "canManageBuckets": true, "expiresIn": 1}), true, false, Some("manage"), true, true);
    expired.expired = true;
    out.push(expired);
    std::thread::sleep(Duration::from_millis(2100));
    out
}

struct Fixtures {
    file_id: String,
    config_id: String,
    master_token_id: String,
    job_id: String,
}

fn fixtures(s: &Server) -> Fixtures {
    for name in ["b", "other"] {
        let (st, b) = s.post_form("buckets", &[("name", name), ("stage", "in")]);
        assert_eq!(st, 201, "{b}");
    }
    let data = s.upload("t.csv", b"id,v\n1,a\n2,b\n".to_vec()).to_string();
    let (st, job) = s.post_form("buckets/in.c-b/tables-async", &[("name", "t"), ("dataFileId", &data)]);
    assert_eq!(st, 202, "{job}");
    assert_eq!(s.wait_job(&job)["status"], "success");
    let file_id = s.upload("f.csv", b"id,v\n3,c\n".to_vec()).to_string();
    let (st, c) = s.post_json("components/keboola.ex-http/configs", json!({"name": "c"}));
    assert_eq!(st, 201, "{c}");
    let (_, me) = s.get("tokens/verify");
    Fixtures {
        file_id,
        config_id: c["id"].as_str().unwrap().to_string(),
        master_token_id: me["id"].as_str().map(str::to_string).unwrap_or_else(|| me["id"].to_string()),
        job_id: job["id"].to_string(),
    }
}

fn fill(path: &str, fx: &Fixtures) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let mut out = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
            out.push(seg.to_string());
            continue;
        };
        let prev = if i > 0 { segments[i - 1] } else { "" };
        let storage = path.starts_with("/v2/storage");
        let known = match (prev, name) {
            ("buckets", "id") => "in.c-b".to_string(),
            ("tables", "id") => "in.c-b.t".to_string(),
            ("columns", "id") => "in.c-b.t.v".to_string(),
            ("files", "id") => fx.file_id.clone(),
            ("components", "id") => "keboola.ex-http".to_string(),
            ("configs", "config") => fx.config_id.clone(),
            ("tokens", "id") => fx.master_token_id.clone(),
            ("jobs", "id") if storage => fx.job_id.clone(),
            ("versions", "version") => "1".to_string(),
            ("branch", _) => "default".to_string(),
            _ => "9999999".to_string(),
        };
        out.push(known);
    }
    out.join("/")
}

/// The rights a route needs, as far as Keboola documents them; `None`: no rule checked (only
/// "never a 5xx" and the envelope).
fn allowed(t: &Tok, method: &Method, path: &str) -> Option<bool> {
    let p = path.trim_start_matches("/v2/storage").trim_start_matches("/branch/{branch}");
    let write = *method != Method::GET;
    let level = |need: &str| {
        if t.manage_buckets {
            return true;
        }
        let rank = |l: &str| ["read", "write", "manage"].iter().position(|x| *x == l);
        t.bucket.is_some_and(|have| rank(have) >= rank(need))
    };
    if p == "/buckets" && *method == Method::POST {
        return Some(t.manage_buckets);
    }
    if p.starts_with("/buckets/{id}") || p.starts_with("/tables/{id}") || p.starts_with("/columns/{id}") {
        let need = if !write || p.ends_with("/export-async") {
            "read"
        } else if p == "/buckets/{id}" || p.contains("/share") {
            "manage"
        } else {
            "write"
        };
        return Some(level(need));
    }
    if p.starts_with("/components/{id}/configs") {
        return Some(t.manage_buckets || t.ex_http);
    }
    if (p == "/tokens" && *method == Method::POST) || (p.starts_with("/tokens/{id}") && write) {
        return Some(t.manage_tokens);
    }
    if p.starts_with("/files/{id}") {
        return Some(t.read_all_files);
    }
    // Merge requests: every token reads; developers and reviewers (manage buckets) change them;
    // merging needs the protected default branch right, which no token here has.
    if p.starts_with("/merge-request") && write {
        return Some(!p.ends_with("/merge") && t.manage_buckets);
    }
    None
}

struct Answer {
    status: u16,
    body: Value,
    text: String,
}

fn send(s: &Server, method: &Method, url: &str, token: Option<&str>) -> Answer {
    let mut req = s.client.request(method.clone(), url);
    if let Some(t) = token {
        req = req.header("X-StorageApi-Token", t);
    }
    let resp = req.send().expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), text: text.chars().take(400).collect() }
}

fn check_envelope(queue: bool, a: &Answer, what: &str) {
    assert!(a.status < 500, "{what}: a 5xx ({}): {}", a.status, a.text);
    if a.status >= 400 {
        let b = &a.body;
        assert!(b["error"].is_string() && b["status"] == "error", "{what}: not an envelope: {}", a.text);
        if queue {
            assert_eq!(b["code"].as_u64(), Some(a.status as u64), "{what}: {}", a.text);
        } else {
            assert!(b["code"].is_string(), "{what}: {}", a.text);
        }
    }
}

#[test]
fn every_route_refuses_what_a_token_may_not_do() {
    let mut s = Server::start_with_env(&[("KBSTACK_JOB_WAIT_MS", "0")]);
    let fx = fixtures(&s);
    let toks = tokens(&s);
    s.client = reqwest::blocking::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(60)).build().unwrap();
    let routes = kbstack::app::routes();
    let mut checked = 0;
    let mut refusals = 0;
    let mut wrong: Vec<String> = Vec::new();
    for route in routes.table() {
        if !(route.path.starts_with("/v2/storage") || route.path.starts_with("/queue")) {
            continue;
        }
        let queue = route.path.starts_with("/queue");
        let path = fill(&route.path, &fx);
        let url = format!("{}{path}", s.url);
        for m in &route.methods {
            let method = Method::from_bytes(m.as_str().as_bytes()).unwrap();
            // Routes that answer without a token are public: nothing to refuse.
            let public = method == Method::GET && send(&s, &method, &url, None).status != 401;
            for t in &toks {
                let what = format!("{} {method} {path}", t.name);
                let rule = if t.expired && !public { Some(false) } else { allowed(t, &method, &route.path) };
                // A request that is allowed and changes something could break the fixtures:
                // only reads are sent when the right is there.
                if method != Method::GET && rule != Some(false) {
                    continue;
                }
                let a = send(&s, &method, &url, Some(&t.secret));
                checked += 1;
                check_envelope(queue, &a, &what);
                let ok = match rule {
                    Some(false) if t.expired => a.status == 401 && (queue || a.body["code"] == "storage.tokenInvalid"),
                    Some(false) => {
                        refusals += 1;
                        let code = a.body["code"].as_str().unwrap_or_default();
                        (a.status == 403 && code == "accessDenied") || (a.status == 404 && code.ends_with("notFound"))
                    }
                    // Allowed: a success, or a 404 for the one unknown id in the path.
                    Some(true) => a.status < 300 || (a.status == 404 && path.contains("9999999")),
                    None => true,
                };
                if !ok {
                    let expected = if rule == Some(true) { "a success" } else { "a refusal (401 expired, 403 accessDenied, 404 *notFound)" };
                    wrong.push(format!("{what}: expected {expected}, got {}: {}", a.status, a.text));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{} wrong answers:\n{}", wrong.len(), wrong.join("\n"));
    eprintln!("{checked} requests, {refusals} refusals checked");
    // Nothing a refused request touched has changed.
    assert_eq!(s.preview_rows("in.c-b.t", "").len(), 2);
    let (st, f) = s.get(&format!("files/{}", fx.file_id));
    assert_eq!(st, 200, "{f}");
    let (st, c) = s.get(&format!("components/keboola.ex-http/configs/{}", fx.config_id));
    assert_eq!((st, &c["version"]), (200, &json!(1)), "{c}");
    let (st, v) = s.get("tokens/verify");
    assert_eq!(st, 200, "the master token was not refreshed: {v}");
}

#[test]
fn a_token_without_file_rights_lists_only_its_own_files() {
    let s = Server::start();
    let theirs = s.upload("theirs.csv", b"a\n1\n".to_vec());
    let mine_token = create(&s, "f", json!({"description": "f", "canReadAllFileUploads": false}));
    let (st, mine) = s.send(
        s.client.post(s.api("files/prepare")).header("X-StorageApi-Token", &mine_token).json(&json!({"name": "mine.csv"})),
    );
    assert_eq!(st, 201, "{mine}");
    let (st, list) = s.get_as(&mine_token, "files");
    assert_eq!(st, 200, "{list}");
    let ids: Vec<i64> = list.as_array().unwrap().iter().map(|f| f["id"].as_i64().unwrap()).collect();
    assert!(ids.contains(&mine["id"].as_i64().unwrap()) && !ids.contains(&theirs), "{ids:?}");
    let (st, f) = s.get_as(&mine_token, &format!("files/{theirs}"));
    assert_eq!((st, f["code"].as_str()), (404, Some("storage.files.notFound")), "{f}");
}

/// A file's SAS opens that file's blobs only, and only until it expires.
#[test]
fn a_sas_opens_its_own_file_only() {
    let s = Server::start();
    let prepare = |name: &str| {
        let (st, f) = s.post_form("files/prepare", &[("name", name), ("federationToken", "1")]);
        assert_eq!(st, 201, "{f}");
        let p = &f["absUploadParams"];
        let (endpoint, sas) = parse_connection_string(p["absCredentials"]["SASConnectionString"].as_str().unwrap());
        (endpoint, p["container"].as_str().unwrap().to_string(), p["blobName"].as_str().unwrap().to_string(), sas)
    };
    let (endpoint, container, blob_a, sas_a) = prepare("a.csv");
    let (_, _, blob_b, sas_b) = prepare("b.csv");
    let put = |blob: &str, sas: &str| {
        s.client.put(format!("{endpoint}/{container}/{blob}?{sas}")).header("x-ms-blob-type", "BlockBlob").body("x\n1\n").send().unwrap()
    };
    let get = |blob: &str, sas: &str| s.client.get(format!("{endpoint}/{container}/{blob}?{sas}")).send().unwrap();
    assert_eq!(put(&blob_a, &sas_a).status().as_u16(), 201);
    assert_eq!(put(&blob_b, &sas_b).status().as_u16(), 201);
    let refused = |r: reqwest::blocking::Response, what: &str| {
        let status = r.status().as_u16();
        let body = r.text().unwrap_or_default();
        assert_eq!(status, 403, "{what}: {body}");
        assert!(body.contains("AuthenticationFailed"), "{what}: {body}");
    };
    refused(put(&blob_b, &sas_a), "a's SAS writing b");
    refused(get(&blob_b, &sas_a), "a's SAS reading b");
    // A SAS with its expiry pushed out no longer matches its signature.
    let later = sas_a.split('&').map(|kv| if kv.starts_with("se=") { "se=2999-01-01T00:00:00Z" } else { kv }).collect::<Vec<_>>().join("&");
    refused(get(&blob_a, &later), "a SAS with a forged expiry");
    // A correctly signed SAS for a's own prefix, expired a minute ago.
    let key = kbstack::secrets::load_or_create_key(&s.data_dir.join("keys"), "sas.key").unwrap();
    let skoid = sas_a.split('&').find_map(|kv| kv.strip_prefix("skoid=")).unwrap();
    let prefix = percent_encoding::percent_decode_str(skoid).decode_utf8().unwrap().to_string();
    let expired = kbstack::blob::sas::sign(&key, &prefix, "rcw", chrono::Utc::now() - chrono::Duration::minutes(1));
    refused(get(&blob_a, &expired), "an expired SAS");
    let fresh = kbstack::blob::sas::sign(&key, &prefix, "rcw", chrono::Utc::now() + chrono::Duration::minutes(5));
    assert_eq!(get(&blob_a, &fresh).status().as_u16(), 200, "the same SAS, unexpired, reads");
}

#[test]
fn bucket_linking_to_an_unshared_source_leaves_nothing_behind() {
    // Sharing and linking work across projects (tests/sharing.rs); here: what is not shared
    // cannot be linked, and a refused link leaves no empty bucket behind.
    let s = Server::start();
    let (st, b) = s.post_json("buckets", json!({"name": "linked", "stage": "in", "sourceProjectId": 2, "sourceBucketId": "in.c-shared"}));
    assert_eq!((st, b["code"].as_str()), (404, Some("storage.buckets.notFound")), "{b}");
    assert!(b["exceptionId"].is_string() && b["status"] == "error", "{b}");
    let (st, _) = s.get("buckets/in.c-linked");
    assert_eq!(st, 404, "no empty bucket stays behind");
    let (st, b) = s.post_json("buckets", json!({"name": "self", "stage": "in", "sourceProjectId": 1, "sourceBucketId": "in.c-x"}));
    assert_eq!((st, b["code"].as_str()), (400, Some("validation.failed")), "{b}");
    let (st, b) = s.post_form("buckets/in.c-nope/share-organization", &[]);
    assert_eq!((st, b["code"].as_str()), (404, Some("storage.buckets.notFound")), "{b}");
    let (st, b) = s.send(s.client.delete(s.api("buckets/in.c-nope/share")).header("X-StorageApi-Token", MASTER_TOKEN));
    assert_eq!((st, b["code"].as_str()), (404, Some("storage.buckets.notFound")), "{b}");
}
