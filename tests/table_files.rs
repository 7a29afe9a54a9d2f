//! Async table jobs over real files: tables-async, import-async (gzip, headerless), export-async
//! (sliced, headerless, quoted, gzip on request), and a SIGKILL in the middle of a large import.
mod common;

use std::io::{Read, Write};

use common::Server;
use serde_json::json;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out).unwrap();
    out
}

fn sorted_lines(data: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8_lossy(data).lines().map(str::to_string).collect();
    lines.sort();
    lines
}

fn create(s: &Server, bucket: &str, name: &str, csv: &[u8], pk: &str) -> String {
    let file = s.upload(&format!("{name}.csv"), csv.to_vec());
    let (st, job) = s.post_form(
        &format!("buckets/{bucket}/tables-async"),
        &[("name", name), ("dataFileId", &file.to_string()), ("primaryKey", pk)],
    );
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(job["operationName"], "tableCreate");
    job["results"]["id"].as_str().unwrap().to_string()
}

#[test]
fn async_create_import_and_export_round_trip() {
    let s = Server::start();
    assert_eq!(s.post_json("buckets", json!({"name": "files"})).0, 201);
    let t = create(&s, "in.c-files", "t", b"id,name\n1,a\n2,b\n", "id");
    // Gzipped headerless slice with an explicit column order.
    let file = s.upload("more.csv.gz", gzip(b"c,3\nB,2\n"));
    let (st, job) = s.post_json(
        &format!("tables/{t}/import-async"),
        json!({"dataFileId": file, "incremental": true, "columns": ["name", "id"]}),
    );
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(job["results"]["totalRowsCount"], 3);

    let (st, job) = s.post_form(&format!("tables/{t}/export-async"), &[("gzip", "1")]);
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    let file_id = job["results"]["file"]["id"].as_i64().unwrap();
    let (_, f) = s.get(&format!("files/{file_id}"));
    assert_eq!(f["isSliced"], true);
    let data = gunzip(&s.download(file_id));
    assert_eq!(sorted_lines(&data), ["\"1\",\"a\"", "\"2\",\"B\"", "\"3\",\"c\""]);

    // Plain export with columns, a filter and the internal timestamp.
    let (_, job) = s.post_json(
        &format!("tables/{t}/export-async"),
        json!({"columns": "name", "whereFilters": [{"column": "id", "values": ["1"]}], "includeInternalTimestamp": true}),
    );
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    let data = s.download(job["results"]["file"]["id"].as_i64().unwrap());
    let line = String::from_utf8(data).unwrap();
    assert!(line.starts_with("\"a\",\"20"), "{line}");
}

#[test]
fn missing_columns_fail_the_job_with_the_keboola_code() {
    let s = Server::start();
    assert_eq!(s.post_json("buckets", json!({"name": "files"})).0, 201);
    let t = create(&s, "in.c-files", "t", b"id,name\n1,a\n", "");
    let file = s.upload("bad.csv", b"id\n2\n".to_vec());
    let (_, job) = s.post_json(&format!("tables/{t}/import-async"), json!({"dataFileId": file}));
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "error", "{job}");
    assert_eq!(job["error"]["code"], "csvImport.columnsNotMatch");
    assert!(job["error"]["exceptionId"].is_string());
    assert_eq!(job["results"]["missingColumns"], json!(["name"]));
    let (st, body) = s.post_json(&format!("tables/{t}/import-async"), json!({"dataFileId": 999999}));
    assert_eq!(st, 404, "{body}");
    assert_eq!(body["code"], "storage.files.notFound");
}

#[test]
fn sigkill_during_a_large_import_leaves_old_or_new_rows_and_an_error_job() {
    let dir = tempfile::tempdir().unwrap();
    let envs = [("KBSTACK_JOB_WAIT_MS", "0")];
    let mut s = Server::start_with(dir.path(), &envs);
    assert_eq!(s.post_json("buckets", json!({"name": "crash"})).0, 201);
    let t = create(&s, "in.c-crash", "t", b"id,name\n1,old\n2,old\n", "id");
    let mut big = Vec::with_capacity(120 << 20);
    big.extend_from_slice(b"id,name\n");
    let rows = 3_000_000u64;
    for i in 0..rows {
        writeln!(big, "{i},new-value-for-row-{i}-with-some-padding-to-make-it-longer").unwrap();
    }
    let file = s.upload("big.csv", big);
    let (st, job) = s.post_json(&format!("tables/{t}/import-async"), json!({"dataFileId": file}));
    assert_eq!(st, 202, "{job}");
    let id = job["id"].as_i64().unwrap();
    // Kill once the job is running.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, j) = s.get(&format!("jobs/{id}"));
        if j["status"] == "processing" {
            break;
        }
        assert_ne!(j["status"], "success", "the import finished before the kill; make the file larger");
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    s.kill();
    let s = Server::start_with(dir.path(), &envs);
    // At once on one node; on a stack once the dead node's lease runs out (src/node.rs).
    let j = s.wait_job(&job);
    let (_, detail) = s.get(&format!("tables/{t}"));
    let count = detail["rowsCount"].as_u64().unwrap();
    if j["status"] == "success" {
        assert_eq!(count, rows, "a finished import holds every new row");
    } else {
        assert_eq!(j["status"], "error", "{j}");
        assert_eq!(count, 2, "an interrupted import leaves the old rows");
        let (_, preview) = s.get(&format!("tables/{t}/data-preview?format=json"));
        assert_eq!(preview["rows"][0][1]["value"], "old");
    }
    // The table still takes loads after the restart.
    let file = s.upload("after.csv", b"id,name\n9,after\n".to_vec());
    let (_, job) = s.post_json(&format!("tables/{t}/import-async"), json!({"dataFileId": file, "incremental": 1}));
    assert_eq!(s.wait_job(&job)["status"], "success");
}
