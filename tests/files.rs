//! Files API and the Azure-Blob-compatible endpoint, end to end through the real binary.
mod common;

use common::{MASTER_TOKEN, Server};
use reqwest::blocking::Response;
use serde_json::{Value, json};

/// `(BlobEndpoint, SharedAccessSignature)` of a connection string.
fn parse_connection_string(cs: &str) -> (String, String) {
    let mut endpoint = String::new();
    let mut sas = String::new();
    for part in cs.split(';') {
        let (k, v) = part.split_once('=').expect("key=value");
        match k {
            "BlobEndpoint" => endpoint = v.to_string(),
            "SharedAccessSignature" => sas = v.to_string(),
            other => panic!("unexpected connection string part {other}"),
        }
    }
    assert!(!endpoint.is_empty() && !sas.is_empty(), "{cs}");
    (endpoint, sas)
}

/// A prepared upload: the file resource and where/how to write its blob.
struct Prepared {
    file: Value,
    id: i64,
    endpoint: String,
    sas: String,
    blob: String,
}

impl Prepared {
    fn url(&self, blob: &str) -> String {
        format!("{}/kbstack-files/{blob}?{}", self.endpoint, self.sas)
    }
}

fn prepare(s: &Server, form: &[(&str, &str)]) -> Prepared {
    let (status, file) = s.post_form("files/prepare", form);
    assert_eq!(status, 201, "{file}");
    let params = &file["absUploadParams"];
    assert_eq!(params["accountName"], "kbstack");
    assert_eq!(params["container"], "kbstack-files");
    let (endpoint, sas) = parse_connection_string(params["absCredentials"]["SASConnectionString"].as_str().unwrap());
    assert!(params["absCredentials"]["expiration"].is_string());
    Prepared { id: file["id"].as_i64().expect("numeric id"), blob: params["blobName"].as_str().unwrap().into(), file, endpoint, sas }
}

fn put_blob(s: &Server, url: &str, body: Vec<u8>, if_none_match: bool) -> Response {
    let mut req = s.client.put(url).header("x-ms-blob-type", "BlockBlob").header("x-ms-version", "2026-10-06").body(body);
    if if_none_match {
        req = req.header("If-None-Match", "*");
    }
    req.send().expect("put blob")
}

fn get_range(s: &Server, url: &str, range: Option<&str>) -> Response {
    let mut req = s.client.get(url);
    if let Some(r) = range {
        req = req.header("x-ms-range", r);
    }
    req.send().expect("get blob")
}

fn header<'a>(resp: &'a Response, name: &str) -> &'a str {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Asserts an Azure XML error with `code` and returns nothing else of interest.
fn assert_azure_error(resp: Response, status: u16, code: &str) {
    assert_eq!(resp.status().as_u16(), status, "{code}");
    assert_eq!(header(&resp, "x-ms-error-code"), code);
    assert!(!header(&resp, "x-ms-request-id").is_empty());
    let body = resp.text().unwrap();
    assert!(body.starts_with("<?xml") && body.contains(&format!("<Code>{code}</Code>")), "{body}");
}

fn detail(s: &Server, id: i64, query: &str) -> Value {
    let (status, f) = s.get(&format!("files/{id}{query}"));
    assert_eq!(status, 200, "{f}");
    f
}

#[test]
fn upload_then_download_whole_and_ranged() {
    let s = Server::start();
    let p = prepare(&s, &[("name", "Some File.CSV"), ("isEncrypted", "1"), ("isPublic", "0"), ("tags[]", "a"), ("tags[]", "b"), ("sizeBytes", "6"), ("federationToken", "1")]);
    assert_eq!(p.file["name"], "some_file.csv", "names are sanitized and lower-cased");
    assert_eq!(p.file["provider"], "azure");
    assert_eq!(p.file["isEncrypted"], true);
    assert_eq!(p.file["isSliced"], false);
    assert_eq!(p.file["maxAgeDays"], 15);
    assert_eq!(p.file["tags"], json!(["a", "b"]));
    assert_eq!(p.file["creatorToken"]["id"], 1);
    assert!(p.blob.ends_with("/some_file.csv"), "{}", p.blob);

    let url = p.url(&p.blob);
    let resp = put_blob(&s, &url, b"fooBar".to_vec(), true);
    assert_eq!(resp.status().as_u16(), 201);
    assert!(header(&resp, "etag").starts_with("\"0x"));
    assert!(header(&resp, "last-modified").ends_with(" GMT"));
    assert_eq!(header(&resp, "x-ms-request-server-encrypted"), "true");
    assert_eq!(header(&resp, "x-ms-version"), "2026-10-06");
    assert_azure_error(put_blob(&s, &url, b"other".to_vec(), true), 409, "BlobAlreadyExists");

    let f = detail(&s, p.id, "");
    assert_eq!(f["sizeBytes"], 6);
    for key in ["credentials", "absCredentials", "absPath", "absUploadParams"] {
        assert!(f.get(key).is_none(), "{key} must be absent without federationToken: {f}");
    }
    for key in ["id", "isPublic", "isSliced", "isEncrypted", "name", "created", "url", "region", "creatorToken", "tags", "runId", "runIds"] {
        assert!(f.get(key).is_some(), "{key} missing: {f}");
    }
    // `url` is a ready GET.
    let resp = s.client.get(f["url"].as_str().unwrap()).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().unwrap(), "fooBar");

    let f = detail(&s, p.id, "?federationToken=true");
    assert_eq!(f["absPath"]["container"], "kbstack-files");
    assert_eq!(f["absPath"]["name"], p.blob.as_str());
    assert!(f.get("credentials").is_none());
    let (endpoint, read_sas) = parse_connection_string(f["absCredentials"]["SASConnectionString"].as_str().unwrap());
    let read_url = format!("{endpoint}/kbstack-files/{}?{read_sas}", p.blob);

    let resp = get_range(&s, &read_url, Some("bytes=0-33554431"));
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(header(&resp, "content-range"), "bytes 0-5/6");
    assert_eq!(header(&resp, "x-ms-blob-type"), "BlockBlob");
    assert_eq!(header(&resp, "accept-ranges"), "bytes");
    assert_eq!(resp.text().unwrap(), "fooBar");
    let resp = s.client.get(&read_url).header("Range", "bytes=2-3").send().unwrap();
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(header(&resp, "content-range"), "bytes 2-3/6");
    assert_eq!(resp.text().unwrap(), "oB");
    let resp = get_range(&s, &read_url, Some("bytes=6-10"));
    assert_eq!(header(&resp, "content-range"), "bytes */6");
    assert_azure_error(resp, 416, "InvalidRange");

    let resp = s.client.head(&read_url).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(header(&resp, "content-length"), "6");
    assert!(!header(&resp, "x-ms-creation-time").is_empty());

    // The ETag pins chunked downloads: a stale one fails.
    let etag = header(&get_range(&s, &read_url, None), "etag").to_string();
    let resp = s.client.get(&read_url).header("If-Match", &etag).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let resp = s.client.get(&read_url).header("If-Match", "\"0xDEAD\"").send().unwrap();
    assert_azure_error(resp, 412, "ConditionNotMet");

    // Download credentials are read-only; upload credentials can overwrite without If-None-Match.
    assert_azure_error(put_blob(&s, &read_url, b"x".to_vec(), false), 403, "AuthenticationFailed");
    assert_eq!(put_blob(&s, &url, b"replaced".to_vec(), false).status().as_u16(), 201);
    assert_eq!(get_range(&s, &read_url, None).text().unwrap(), "replaced");
    assert_eq!(detail(&s, p.id, "")["sizeBytes"], 8);
}

#[test]
fn empty_blob_answers_416_to_a_range_then_200() {
    let s = Server::start();
    let p = prepare(&s, &[("name", "empty.csv")]);
    let url = p.url(&p.blob);
    assert_eq!(put_blob(&s, &url, Vec::new(), true).status().as_u16(), 201);
    let resp = get_range(&s, &url, Some("bytes=0-33554431"));
    assert_eq!(header(&resp, "content-range"), "bytes */0");
    assert_azure_error(resp, 416, "InvalidRange");
    let resp = get_range(&s, &url, None);
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(header(&resp, "content-length"), "0");
    assert_eq!(resp.bytes().unwrap().len(), 0);
    assert_eq!(detail(&s, p.id, "")["sizeBytes"], 0);
}

#[test]
fn blocks_are_committed_in_list_order() {
    let s = Server::start();
    let p = prepare(&s, &[("name", "big.bin")]);
    let block_url = |id: &str| format!("{}&comp=block&blockid={}", p.url(&p.blob), common::urlencode(id));
    for (id, data) in [("QUFB", "first-"), ("QkJC", "second-"), ("Q0ND", "third")] {
        let resp = s.client.put(block_url(id)).body(data).send().unwrap();
        assert_eq!(resp.status().as_u16(), 201, "{id}");
    }
    assert_azure_error(get_range(&s, &p.url(&p.blob), None), 404, "BlobNotFound");
    let list_url = format!("{}&comp=blocklist", p.url(&p.blob));
    let commit = |ids: &[&str]| {
        let body: String = ids.iter().map(|i| format!("<Latest>{i}</Latest>")).collect();
        let xml = format!("<?xml version='1.0' encoding='utf-8'?>\n<BlockList>{body}</BlockList>");
        s.client.put(&list_url).header("If-None-Match", "*").body(xml).send().unwrap()
    };
    assert_azure_error(commit(&["QkJC", "WldX"]), 400, "InvalidBlockList");
    let resp = commit(&["QkJC", "QUFB", "Q0ND"]);
    assert_eq!(resp.status().as_u16(), 201);
    assert!(header(&resp, "etag").starts_with("\"0x"));
    assert_eq!(get_range(&s, &p.url(&p.blob), None).text().unwrap(), "second-first-third");
    assert_eq!(detail(&s, p.id, "")["sizeBytes"], 18);
    // Committing discards the staged blocks, and the blob now exists.
    assert_azure_error(commit(&["QUFB"]), 409, "BlobAlreadyExists");
    let resp = s.client.put(&list_url).body("<BlockList><Latest>QUFB</Latest></BlockList>").send().unwrap();
    assert_azure_error(resp, 400, "InvalidBlockList");

    // Blocks never committed go with their file.
    let q = prepare(&s, &[("name", "abandoned.bin")]);
    let url = format!("{}&comp=block&blockid=QUFB", q.url(&q.blob));
    assert_eq!(s.client.put(url).body("orphan").send().unwrap().status().as_u16(), 201);
    // Staged blocks are kept by the blob backend (on local disk: beside the blobs, per blob; the
    // scale-out profile keeps them in S3).
    let staged = s.data_dir.join("blobs-blocks").join(format!("{}.blocks", q.blob));
    assert!(common::scale_out() || staged.is_dir(), "{}", staged.display());
    assert_eq!(s.delete(&format!("files/{}", q.id)).0, 204);
    assert!(!staged.exists());
}

/// Blocks committed in arrival order or not (a re-sent block, a subset); staged blocks are kept by
/// the blob backend, so they survive a restart (Azure keeps them a week) and any node may commit.
#[test]
fn staged_blocks_resent_reordered_and_kept_over_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path());
    let put_block = |s: &Server, p: &Prepared, id: &str, data: &str| {
        let url = format!("{}&comp=block&blockid={}", p.url(&p.blob), common::urlencode(id));
        assert_eq!(s.client.put(url).body(data.to_string()).send().unwrap().status().as_u16(), 201, "{id}");
    };
    let commit = |s: &Server, p: &Prepared, ids: &[&str]| {
        let body: String = ids.iter().map(|i| format!("<Latest>{i}</Latest>")).collect();
        s.client.put(format!("{}&comp=blocklist", p.url(&p.blob))).body(format!("<BlockList>{body}</BlockList>")).send().unwrap()
    };

    // In arrival order: the staging file becomes the blob.
    let p = prepare(&s, &[("name", "in-order.txt")]);
    for (id, data) in [("MDAx", "one,"), ("MDAy", "two,"), ("MDAz", "three")] {
        put_block(&s, &p, id, data);
    }
    assert_eq!(commit(&s, &p, &["MDAx", "MDAy", "MDAz"]).status().as_u16(), 201);
    assert_eq!(get_range(&s, &p.url(&p.blob), None).text().unwrap(), "one,two,three");
    assert_eq!(detail(&s, p.id, "")["sizeBytes"], 13);

    // A re-sent block replaces the first upload; a block left out is not in the blob.
    let p = prepare(&s, &[("name", "resent.txt")]);
    put_block(&s, &p, "QQ==", "a-old,");
    put_block(&s, &p, "Qg==", "b,");
    put_block(&s, &p, "Qw==", "unused,");
    put_block(&s, &p, "QQ==", "a-new,");
    assert_eq!(commit(&s, &p, &["QQ==", "Qg=="]).status().as_u16(), 201);
    assert_eq!(get_range(&s, &p.url(&p.blob), None).text().unwrap(), "a-new,b,");

    // After a restart the blocks are still there; a block list naming unknown ones is a clear 400.
    let p = prepare(&s, &[("name", "interrupted.txt")]);
    put_block(&s, &p, "QQ==", "before restart");
    let old_url = s.url.clone();
    s.kill();
    let s = Server::start_in(dir.path());
    let p = Prepared { endpoint: p.endpoint.replace(&old_url, &s.url), ..p };
    assert_azure_error(commit(&s, &p, &["Qg=="]), 400, "InvalidBlockList");
    assert_eq!(commit(&s, &p, &["QQ=="]).status().as_u16(), 201);
    assert_eq!(get_range(&s, &p.url(&p.blob), None).text().unwrap(), "before restart");
    put_block(&s, &p, "QQ==", "after restart");
    assert_eq!(commit(&s, &p, &["QQ=="]).status().as_u16(), 201);
    assert_eq!(get_range(&s, &p.url(&p.blob), None).text().unwrap(), "after restart");
}

#[test]
fn sliced_file_has_prefix_manifest_url_and_summed_size() {
    let s = Server::start();
    let p = prepare(&s, &[("name", "export.csv"), ("isSliced", "1"), ("federationToken", "1")]);
    assert_eq!(p.file["isSliced"], true);
    let slices = [format!("{}part0", p.blob), format!("{}part1", p.blob)];
    for (blob, data) in slices.iter().zip(["\"a\",\"b\"\n", "\"c\",\"d\"\n"]) {
        assert_eq!(put_blob(&s, &p.url(blob), data.as_bytes().to_vec(), true).status().as_u16(), 201);
    }
    let entries: Vec<Value> = slices
        .iter()
        .map(|b| json!({"url": format!("azure://kbstack.blob.core.windows.net/kbstack-files/{b}")}))
        .collect();
    let manifest = json!({"entries": entries}).to_string();
    let manifest_blob = format!("{}manifest", p.blob);
    assert_eq!(put_blob(&s, &p.url(&manifest_blob), manifest.clone().into_bytes(), true).status().as_u16(), 201);

    let f = detail(&s, p.id, "?federationToken=1");
    assert_eq!(f["sizeBytes"], 16, "slices only, not the manifest");
    assert_eq!(f["absPath"]["name"], p.blob.as_str());
    // Python's sliced download reads the manifest through `url`.
    let got: Value = s.client.get(f["url"].as_str().unwrap()).send().unwrap().json().unwrap();
    assert_eq!(got["entries"], json!(entries));

    // A SAS opens only its own file's directory, even for a prefix that looks alike.
    let other = prepare(&s, &[("name", "other.csv")]);
    let foreign = format!("{}&x=1", other.url(&format!("{}part9", p.blob)));
    assert_azure_error(put_blob(&s, &foreign, b"x".to_vec(), false), 403, "AuthenticationFailed");
}

#[test]
fn bad_signatures_are_refused() {
    let s = Server::start();
    let p = prepare(&s, &[("name", "a.csv")]);
    let q = prepare(&s, &[("name", "b.csv")]);
    assert_eq!(put_blob(&s, &p.url(&p.blob), b"data".to_vec(), true).status().as_u16(), 201);
    let good = p.url(&p.blob);

    let flip = |url: &str| {
        let (head, sig) = url.rsplit_once("sig=").unwrap();
        let mut sig: Vec<char> = sig.chars().collect();
        sig[0] = if sig[0] == '0' { '1' } else { '0' };
        format!("{head}sig={}", sig.into_iter().collect::<String>())
    };
    let expired = {
        let start = good.find("se=").unwrap() + 3;
        let end = start + good[start..].find('&').unwrap();
        format!("{}2000-01-01T00:00:00Z{}", &good[..start], &good[end..])
    };
    let unsigned = good.split('?').next().unwrap().to_string();
    let other_files_blob = p.url(&q.blob);
    for url in [flip(&good), expired, unsigned, other_files_blob] {
        assert_azure_error(get_range(&s, &url, None), 403, "AuthenticationFailed");
        assert_azure_error(put_blob(&s, &url, b"x".to_vec(), false), 403, "AuthenticationFailed");
    }
    let wrong_container = good.replace("/kbstack-files/", "/elsewhere/");
    assert_azure_error(get_range(&s, &wrong_container, None), 404, "ContainerNotFound");
    assert_eq!(get_range(&s, &good, None).text().unwrap(), "data", "the untampered SAS still works");
}

/// Lists ids of `files?{query}` as the master token.
fn list_ids(s: &Server, query: &str) -> Vec<i64> {
    let (status, list) = s.get(&format!("files?{query}"));
    assert_eq!(status, 200, "{query}: {list}");
    list.as_array().unwrap().iter().map(|f| f["id"].as_i64().unwrap()).collect()
}

#[test]
fn listing_filters() {
    let s = Server::start();
    let a = prepare(&s, &[("name", "users.csv"), ("tags[]", "x"), ("tags[]", "y")]).id;
    let b = prepare(&s, &[("name", "orders.csv"), ("tags[]", "x")]).id;
    let c = prepare(&s, &[("name", "notes.txt"), ("tags[]", "z")]).id;

    assert_eq!(list_ids(&s, ""), vec![c, b, a], "newest first");
    assert_eq!(list_ids(&s, "tags[]=x"), vec![b, a]);
    assert_eq!(list_ids(&s, "tags[]=y&tags[]=z"), vec![c, a], "one or more of the tags");
    assert_eq!(list_ids(&s, "tags[0]=z"), vec![c]);
    assert_eq!(list_ids(&s, "q=tags%3A%22x%22"), vec![b, a]);
    assert_eq!(list_ids(&s, "q=tags%3Ax%20AND%20tags%3Ay"), vec![a]);
    assert_eq!(list_ids(&s, "q=users"), vec![a], "free text searches names");
    assert_eq!(list_ids(&s, "limit=1"), vec![c]);
    assert_eq!(list_ids(&s, "limit=1&offset=1"), vec![b]);
    assert_eq!(list_ids(&s, &format!("sinceId={a}")), vec![c, b]);
    assert_eq!(list_ids(&s, &format!("maxId={c}&limit=1")), vec![b]);

    let (status, err) = s.get("files?tags=x");
    assert_eq!((status, err["code"].as_str()), (400, Some("storage.validation")), "{err}");
    let (status, err) = s.get("files?q=tags%5B%5D%3Asd");
    assert_eq!((status, err["code"].as_str()), (400, Some("query.syntax")), "{err}");

    // Expired files are hidden unless asked for.
    common::metadata_sql(&s.data_dir, &format!("UPDATE files SET expires_at = 1 WHERE id = {b}"));
    assert_eq!(list_ids(&s, ""), vec![c, a]);
    assert_eq!(list_ids(&s, "showExpired=1"), vec![c, b, a]);
}

#[test]
fn run_ids_are_recorded_and_filterable() {
    let s = Server::start();
    let resp = s
        .client
        .post(s.api("files/prepare"))
        .header("X-StorageApi-Token", MASTER_TOKEN)
        .header("X-KBC-RunId", "100.200")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("name=run.csv")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let f: Value = resp.json().unwrap();
    assert_eq!(f["runId"], "100.200");
    assert_eq!(f["runIds"], json!(["100", "100.200"]));
    let other = prepare(&s, &[("name", "norun.csv")]).id;
    assert_eq!(list_ids(&s, "runId=100"), vec![f["id"].as_i64().unwrap()], "parent run finds child files");
    assert_eq!(list_ids(&s, "runId=100.200").len(), 1);
    assert!(!list_ids(&s, "runId=100").contains(&other));
}

#[test]
fn tags_delete_and_not_found() {
    let s = Server::start();
    let p = prepare(&s, &[("name", "t.csv"), ("tags[]", "keep"), ("isPermanent", "1")]);
    assert_eq!(p.file["maxAgeDays"], Value::Null, "permanent files do not expire");
    let (status, _) = s.post_json(&format!("files/{}/tags", p.id), json!({"tag": "added"}));
    assert_eq!(status, 204);
    assert_eq!(detail(&s, p.id, "")["tags"], json!(["keep", "added"]));
    let (status, _) = s.delete(&format!("files/{}/tags/keep", p.id));
    assert_eq!(status, 204);
    assert_eq!(detail(&s, p.id, "")["tags"], json!(["added"]));

    assert_eq!(put_blob(&s, &p.url(&p.blob), b"bytes".to_vec(), true).status().as_u16(), 201);
    // Where the local file store keeps it (the scale-out profile keeps files in S3).
    let dir = s.data_dir.join("blobs/kbstack-files").join(p.blob.rsplit_once('/').unwrap().0);
    assert!(common::scale_out() || dir.is_dir());
    let (status, _) = s.delete(&format!("files/{}", p.id));
    assert_eq!(status, 204);
    assert!(!dir.exists(), "blobs are removed with the file");
    for path in [format!("files/{}", p.id), "files/999999".to_string(), "files/abc".to_string()] {
        let (status, err) = s.get(&path);
        assert_eq!((status, err["code"].as_str()), (404, Some("storage.files.notFound")), "{path}: {err}");
    }
    let (status, err) = s.delete(&format!("files/{}", p.id));
    assert_eq!((status, err["code"].as_str()), (404, Some("storage.files.notFound")));
    // The old SAS no longer writes anything: its file is gone.
    assert_azure_error(put_blob(&s, &p.url(&p.blob), b"again".to_vec(), false), 403, "AuthenticationFailed");
    assert!(!dir.exists());
    // A new file never reuses the deleted file's id (and so its directory and SAS).
    assert!(prepare(&s, &[("name", "n.csv")]).id > p.id);
}

#[test]
fn tokens_see_only_their_own_files_unless_allowed() {
    let s = Server::start();
    let master_file = prepare(&s, &[("name", "m.csv")]).id;
    let token = |can_read_all: &str| {
        let (status, t) = s.post_form("tokens", &[("description", "files test"), ("canReadAllFileUploads", can_read_all)]);
        assert_eq!(status, 201, "{t}");
        t["token"].as_str().unwrap().to_string()
    };
    let limited = token("0");
    let reader = token("1");
    let resp = s.client.post(s.api("files/prepare")).header("X-StorageApi-Token", &limited).json(&json!({"name": "own.csv"})).send().unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let own = resp.json::<Value>().unwrap()["id"].as_i64().unwrap();

    let (status, err) = s.get_as(&limited, &format!("files/{master_file}"));
    assert_eq!((status, err["code"].as_str()), (404, Some("storage.files.notFound")));
    let (status, list) = s.get_as(&limited, "files");
    assert_eq!(status, 200);
    let ids: Vec<i64> = list.as_array().unwrap().iter().map(|f| f["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![own]);
    let (status, list) = s.get_as(&reader, "files");
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(s.get_as(&reader, &format!("files/{own}")).0, 200);
}

#[test]
fn prepare_validates() {
    let s = Server::start();
    let (status, err) = s.post_form("files/prepare", &[("isSliced", "1")]);
    assert_eq!((status, err["code"].as_str()), (400, Some("validation.failed")), "{err}");
    // JSON bodies work as well as forms.
    let (status, f) = s.post_json("files/prepare", json!({"name": "j.json", "tags": ["t1", "t2"], "federationToken": true}));
    assert_eq!(status, 201, "{f}");
    assert_eq!(f["tags"], json!(["t1", "t2"]));
    assert_eq!(f["fileType"], "file");
    // PHP sends arrays with gaps (`tags[0]`, `tags[12]`).
    let (status, f) = s.post_form("files/prepare", &[("name", "g.csv"), ("tags[0]", "neco"), ("tags[12]", "another")]);
    assert_eq!(status, 201);
    assert_eq!(f["tags"], json!(["neco", "another"]));
    assert_eq!(f["fileType"], "csv");
    // Branch-prefixed and trailing-slash forms reach the same endpoint.
    let (status, _) = s.post_form("branch/default/files/prepare/", &[("name", "b.csv")]);
    assert_eq!(status, 201);
}

/// A Python with kbcstorage (and so the Azure SDK): `KBSTACK_PYTHON`, or the venvs scripts/test and
/// the reference setup create.
fn python_with_kbcstorage() -> Option<String> {
    let home = std::env::var("HOME").unwrap_or_default();
    let candidates = [
        std::env::var("KBSTACK_PYTHON").ok(),
        Some(format!("{home}/.cache/kbstack-test/venv/bin/python")),
        Some("/tmp/kbc/venv/bin/python".to_string()),
    ];
    candidates.into_iter().flatten().find(|py| {
        std::process::Command::new(py)
            .args(["-c", "import kbcstorage.files, azure.storage.blob"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// The real Azure SDK (through kbcstorage) uploads and downloads: small, empty, >64 MiB in blocks,
/// sliced. Needs a Python with kbcstorage; says so and passes vacuously without one.
#[test]
fn azure_sdk_roundtrip() {
    let Some(python) = python_with_kbcstorage() else {
        eprintln!("azure_sdk_roundtrip: no Python with kbcstorage found (set KBSTACK_PYTHON); not run");
        return;
    };
    let s = Server::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/test_blob_roundtrip.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .env("KBSTACK_URL", &s.url)
        .env("KBSTACK_TOKEN", MASTER_TOKEN)
        .output()
        .expect("run python");
    let log = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{log}");
    assert!(log.contains("ok test_large_uses_blocks") && log.contains("ok test_sliced_download"), "{log}");
}
