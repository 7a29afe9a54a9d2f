//! A full disk (issue: `files/prepare` answered 500 "No space left on device", an import that did
//! not fit stayed `processing`): every request gets a 4xx naming the cause, every job ends, and
//! once space is freed everything works again. The server runs on a small tmpfs of its own.
mod common;

use common::{Server, parse_connection_string};
use serde_json::Value;

/// A tmpfs this small fills within seconds; the space reserve (8 MB) and DuckDB's file fit.
const DISK_MB: u64 = 48;

fn small_server() -> Option<Server> {
    let server = Server::start_on_small_disk(DISK_MB);
    if server.is_none() {
        eprintln!("skipped: mounting a tmpfs needs root (unshare -m)");
    }
    server
}

fn csv_rows(rows: usize) -> Vec<u8> {
    let mut csv = String::from("id,name,comment\n");
    for i in 0..rows {
        csv.push_str(&format!("{i},name {i},some comment text that takes room on the disk {i}\n"));
    }
    csv.into_bytes()
}

/// A file prepared for block uploads: (file id, the blob URL without a query, the SAS).
fn prepare(s: &Server, name: &str) -> (u16, Value) {
    s.post_form("files/prepare", &[("name", name), ("federationToken", "1")])
}

fn blob_url(file: &Value) -> (String, String) {
    let params = &file["absUploadParams"];
    let (endpoint, sas) = parse_connection_string(params["absCredentials"]["SASConnectionString"].as_str().unwrap());
    (format!("{endpoint}/{}/{}", params["container"].as_str().unwrap(), params["blobName"].as_str().unwrap()), sas)
}

/// Stages blocks of `size` bytes until the disk refuses one; returns that refusal.
fn stage_until_refused(s: &Server, url: &str, sas: &str, size: usize, first_id: usize) -> (u16, String, usize) {
    for n in first_id..first_id + 100_000 {
        let block_id = common::urlencode(&format!("{n:08}"));
        let resp = s
            .client
            .put(format!("{url}?comp=block&blockid={block_id}&{sas}"))
            .body(vec![b'x'; size])
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        if status != 201 {
            return (status, resp.text().unwrap_or_default(), n + 1);
        }
    }
    panic!("the disk never filled up");
}

#[test]
fn a_full_disk_gives_clear_4xx_answers_failed_jobs_and_recovers() {
    if common::single_node_only("fills one node's data dir (a tmpfs); the profile's stores are PostgreSQL and S3") {
        return;
    }
    let Some(s) = small_server() else { return };
    let (st, b) = s.post_form("buckets", &[("name", "disk"), ("stage", "in")]);
    assert_eq!(st, 201, "{b}");
    let small = s.upload("small.csv", csv_rows(10));
    let (st, job) = s.post_form("buckets/in.c-disk/tables-async", &[("name", "t"), ("dataFileId", &small.to_string())]);
    assert_eq!(st, 202, "{job}");
    assert_eq!(s.wait_job(&job)["status"], "success");
    let big = s.upload("big.csv", csv_rows(60_000)); // ~5 MB

    // Fill the disk with staged blocks of 1 MB until one does not fit: less than 1 MB is left.
    let (st, filler) = prepare(&s, "filler");
    assert_eq!(st, 201, "{filler}");
    let filler_id = filler["id"].as_i64().unwrap();
    let (url, sas) = blob_url(&filler);
    let (status, body, mut next) = stage_until_refused(&s, &url, &sas, 1 << 20, 0);
    assert!((400..500).contains(&status), "a block that does not fit: {status} {body}");
    assert!(body.contains("storage.diskFull") && body.contains("disk is full"), "{body}");

    // An import that does not fit ends as a failed job naming the cause (not stuck `processing`),
    // and the table is as before.
    let (st, job) = s.post_json("tables/in.c-disk.t/import-async", serde_json::json!({"dataFileId": big, "incremental": 1}));
    assert_eq!(st, 202, "{job}");
    let done = s.wait_job(&job);
    assert_eq!(done["status"], "error", "{done}");
    assert_eq!(done["error"]["code"], "storage.diskFull", "{done}");
    assert!(done["error"]["message"].as_str().unwrap().contains("disk is full"), "{done}");
    let (_, table) = s.get("tables/in.c-disk.t");
    assert_eq!(table["rowsCount"], 10, "the table is as before the failed import: {table}");
    let (_, rows) = s.get("tables/in.c-disk.t/data-preview?format=json");
    assert!(rows.to_string().contains("name 9"), "the old rows are readable: {rows}");

    // Now to the last page: a request that must write is refused with the cause, in the
    // Storage envelope (it was a 500 "No space left on device").
    for size in [64 << 10, 4 << 10] {
        let (status, body, n) = stage_until_refused(&s, &url, &sas, size, next);
        next = n;
        assert!((400..500).contains(&status), "{status} {body}");
    }
    let mut refusal = None;
    for i in 0..500 {
        let (st, body) = prepare(&s, &format!("more-{i}"));
        assert!(st < 500, "files/prepare on a full disk: {st} {body}");
        if st != 201 {
            refusal = Some((st, body));
            break;
        }
    }
    let (st, body) = refusal.expect("files/prepare kept succeeding on a full disk");
    assert_eq!(st, 400, "{body}");
    assert_eq!(body["code"], "storage.diskFull", "{body}");
    assert!(body["error"].as_str().unwrap().contains("disk is full"), "{body}");

    // Space freed: the same import succeeds, and uploads work again.
    let (st, body) = s.delete(&format!("files/{filler_id}"));
    assert!(st == 204 || st == 200, "{st} {body}");
    let (st, job) = s.post_json("tables/in.c-disk.t/import-async", serde_json::json!({"dataFileId": big, "incremental": 1}));
    assert_eq!(st, 202, "{job}");
    let done = s.wait_job(&job);
    assert_eq!(done["status"], "success", "{done}");
    let (_, table) = s.get("tables/in.c-disk.t");
    assert_eq!(table["rowsCount"], 60_010, "{table}");
    let again = s.upload("after.csv", csv_rows(10));
    assert!(again > 0);
}
