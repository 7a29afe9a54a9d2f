//! The Storage API Importer (`/import`) through the real binary: `write-table` (gzip and plain
//! CSV, full and incremental loads, CSV dialects, headless data), its refusals in the PHP
//! envelope, the size limit, and `upload-file` read back through Storage Files.
mod common;

use std::io::Write;

use common::{MASTER_TOKEN, Server};
use reqwest::blocking::multipart::{Form, Part};
use serde_json::{Value, json};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn table(s: &Server, bucket: &str, name: &str, header: &str) -> String {
    let (st, b) = s.post_json("buckets", json!({"name": bucket.trim_start_matches("c-"), "stage": "in"}));
    assert_eq!(st, 201, "bucket: {b}");
    let (st, t) = s.post_form(&format!("buckets/in.{bucket}/tables"), &[("name", name), ("dataString", &format!("{header}\n"))]);
    assert_eq!(st, 201, "create table: {t}");
    t["id"].as_str().unwrap().to_string()
}

fn write_table(s: &Server, token: &str, form: Form) -> (u16, Value) {
    s.send(s.client.post(format!("{}/import/write-table", s.url)).header("X-StorageApi-Token", token).multipart(form))
}

fn data(bytes: Vec<u8>) -> Part {
    Part::bytes(bytes).file_name("data.csv")
}

fn rows(r: &[&[&str]]) -> Vec<Vec<String>> {
    r.iter().map(|row| row.iter().map(|c| c.to_string()).collect()).collect()
}

/// The importer's refusal: the PHP envelope with `message` beside `error`.
fn assert_refusal(status: u16, body: &Value, expected: u16) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["code"], json!(expected), "{body}");
    assert!(body["error"].is_string() && body["message"] == body["error"], "{body}");
    assert!(body["exceptionId"].as_str().is_some_and(|e| e.starts_with("import-")), "{body}");
}

#[test]
fn write_table_gzip_full_then_incremental() {
    let s = Server::start();
    let t = table(&s, "c-imp", "users", "id,name");
    let form = Form::new().text("tableId", t.clone()).part("data", data(gzip(b"id,name\n1,alice\n2,bob\n")));
    let (st, body) = write_table(&s, MASTER_TOKEN, form);
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["importedColumns"], json!(["id", "name"]), "{body}");
    assert_eq!(body["totalRowsCount"], 2, "{body}");
    assert!(body["totalDataSizeBytes"].is_number() && body["warnings"] == json!([]) && body.get("transaction").is_some(), "{body}");
    assert_eq!(s.preview_rows(&t, ""), rows(&[&["1", "alice"], &["2", "bob"]]));

    // incremental=1 appends (a plain CSV this time, tableId after data).
    let form = Form::new().part("data", data(b"id,name\n3,carol\n".to_vec())).text("incremental", "1").text("tableId", t.clone());
    let (st, body) = write_table(&s, MASTER_TOKEN, form);
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["totalRowsCount"], 3, "{body}");
    assert_eq!(s.preview_rows(&t, ""), rows(&[&["1", "alice"], &["2", "bob"], &["3", "carol"]]));

    // incremental=0 (the default) replaces.
    let form = Form::new().text("tableId", t.clone()).text("incremental", "0").part("data", data(b"id,name\n9,zed\n".to_vec()));
    let (st, body) = write_table(&s, MASTER_TOKEN, form);
    assert_eq!(st, 200, "{body}");
    assert_eq!(s.preview_rows(&t, ""), rows(&[&["9", "zed"]]));

    // The upload is a Storage file and the import a Storage job, as import-async makes them.
    let (_, jobs) = s.get("jobs");
    assert!(jobs.as_array().unwrap().iter().any(|j| j["operationName"] == "tableImport" && j["tableId"] == t.as_str()), "{jobs}");
}

#[test]
fn write_table_dialects_and_headless_data() {
    let s = Server::start();
    let t = table(&s, "c-imp", "things", "id,note");
    let form = Form::new()
        .text("tableId", t.clone())
        .text("delimiter", ";")
        .text("enclosure", "'")
        .part("data", data(b"id;note\n1;'a;b'\n2;'it''s'\n".to_vec()));
    let (st, body) = write_table(&s, MASTER_TOKEN, form);
    assert_eq!(st, 200, "{body}");
    assert_eq!(s.preview_rows(&t, ""), rows(&[&["1", "a;b"], &["2", "it's"]]));

    // Tab delimiter written as `\t`, no header: the columns are given.
    let form = Form::new()
        .text("tableId", t.clone())
        .text("delimiter", "\\t")
        .text("columns[]", "id")
        .text("columns[]", "note")
        .part("data", data(b"7\tseven\n8\teight\n".to_vec()));
    let (st, body) = write_table(&s, MASTER_TOKEN, form);
    assert_eq!(st, 200, "{body}");
    assert_eq!(s.preview_rows(&t, ""), rows(&[&["7", "seven"], &["8", "eight"]]));

    // withoutHeaders: the table's columns, in order.
    let form = Form::new().text("tableId", t.clone()).text("withoutHeaders", "1").text("incremental", "1").part("data", data(b"9,nine\n".to_vec()));
    let (st, body) = write_table(&s, MASTER_TOKEN, form);
    assert_eq!(st, 200, "{body}");
    assert_eq!(s.preview_rows(&t, ""), rows(&[&["7", "seven"], &["8", "eight"], &["9", "nine"]]));
}

#[test]
fn write_table_refusals() {
    let s = Server::start();
    let t = table(&s, "c-imp", "t", "id,v");
    let url = format!("{}/import/write-table", s.url);

    // No token.
    let (st, body) = s.send(s.client.post(&url).multipart(Form::new().text("tableId", t.clone()).part("data", data(b"id,v\n".to_vec()))));
    assert_refusal(st, &body, 401);

    // A token that may only read the bucket: refused, nothing written.
    let (st, reader) = s.post_json("tokens", json!({"description": "reader", "bucketPermissions": {"in.c-imp": "read"}}));
    assert_eq!(st, 201, "{reader}");
    let reader = reader["token"].as_str().unwrap().to_string();
    let (st, body) = write_table(&s, &reader, Form::new().text("tableId", t.clone()).part("data", data(b"id,v\n1,x\n".to_vec())));
    assert_refusal(st, &body, 403);
    // …also when tableId comes after the data.
    let (st, body) = write_table(&s, &reader, Form::new().part("data", data(b"id,v\n1,x\n".to_vec())).text("tableId", t.clone()));
    assert_refusal(st, &body, 403);
    assert!(s.preview_rows(&t, "").is_empty());
    // A token with write access may.
    let (_, writer) = s.post_json("tokens", json!({"description": "writer", "bucketPermissions": {"in.c-imp": "write"}}));
    let writer = writer["token"].as_str().unwrap().to_string();
    let (st, body) = write_table(&s, &writer, Form::new().text("tableId", t.clone()).part("data", data(b"id,v\n1,x\n".to_vec())));
    assert_eq!(st, 200, "{body}");

    // Missing tableId, missing data, an unknown table (the importer does not create tables).
    let (st, body) = write_table(&s, MASTER_TOKEN, Form::new().part("data", data(b"id,v\n1,x\n".to_vec())));
    assert_refusal(st, &body, 400);
    assert!(body["error"].as_str().unwrap().contains("tableId"), "{body}");
    let (st, body) = write_table(&s, MASTER_TOKEN, Form::new().text("tableId", t.clone()));
    assert_refusal(st, &body, 400);
    let (st, body) = write_table(&s, MASTER_TOKEN, Form::new().text("tableId", "in.c-imp.nope").part("data", data(b"id,v\n".to_vec())));
    assert_refusal(st, &body, 404);
    // Not multipart at all.
    let (st, body) = s.send(s.client.post(&url).header("X-StorageApi-Token", MASTER_TOKEN).json(&json!({"tableId": t})));
    assert_refusal(st, &body, 400);
    // Not a CSV (binary), and a CSV whose columns do not match: the job's error, as a 400.
    let (st, body) = write_table(&s, MASTER_TOKEN, Form::new().text("tableId", t.clone()).part("data", data(vec![0xff, 0xfe, 0x00, 0x01, 0x89, b'P', b'N', b'G'])));
    assert_refusal(st, &body, 400);
    let (st, body) = write_table(&s, MASTER_TOKEN, Form::new().text("tableId", t.clone()).part("data", data(b"other\n1\n".to_vec())));
    assert_refusal(st, &body, 400);
    assert_eq!(body["context"]["storageCode"], "csvImport.columnsNotMatch", "{body}");
    // Over Keboola's 2 GB (announced by Content-Length; nothing near that is sent).
    let (st, body) = announce_and_read(&s, &t, 3 * 1024 * 1024 * 1024);
    assert_refusal(st, &body, 413);
    // A bad dialect.
    let (st, body) = write_table(&s, MASTER_TOKEN, Form::new().text("tableId", t.clone()).text("delimiter", ";;").part("data", data(b"id,v\n".to_vec())));
    assert_refusal(st, &body, 400);
    // An empty upload.
    let (st, body) = write_table(&s, MASTER_TOKEN, Form::new().text("tableId", t.clone()).part("data", data(Vec::new())));
    assert_refusal(st, &body, 400);
    assert_eq!(s.preview_rows(&t, ""), rows(&[&["1", "x"]]));
}

/// A raw request whose headers announce `length` bytes, of which only the form's start is sent.
fn announce_and_read(s: &Server, table: &str, length: u64) -> (u16, Value) {
    use std::io::Read;
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let start = format!(
        "--b\r\nContent-Disposition: form-data; name=\"tableId\"\r\n\r\n{table}\r\n--b\r\nContent-Disposition: form-data; name=\"data\"; filename=\"d.csv\"\r\n\r\nid,v\n"
    );
    let head = format!(
        "POST /import/write-table HTTP/1.1\r\nHost: {addr}\r\nX-StorageApi-Token: {MASTER_TOKEN}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: {length}\r\n\r\n{start}"
    );
    conn.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the JSON body is complete (the server may keep the connection open).
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&answer);
        if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
            break;
        }
    }
    let text = String::from_utf8_lossy(&answer).to_string();
    let status: u16 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body.trim()).unwrap_or(Value::String(body.to_string())))
}

#[test]
fn uploads_over_the_limit_are_refused() {
    let s = Server::start_with_env(&[("KBSTACK_IMPORT_MAX_BYTES", "1000")]);
    let t = table(&s, "c-imp", "t", "id,v");
    // Announced larger than the limit (a 3 GB Content-Length): refused before the body is read,
    // while the client has sent only the start of it.
    let (st, body) = announce_and_read(&s, &t, 3_000_000_000);
    assert_refusal(st, &body, 413);
    // Within the announced slack but over the limit once counted while streaming.
    let mut csv = b"id,v\n".to_vec();
    while csv.len() <= 1500 {
        csv.extend_from_slice(b"1,x\n");
    }
    let (st, body) = write_table(&s, MASTER_TOKEN, Form::new().text("tableId", t.clone()).part("data", data(csv)));
    assert_refusal(st, &body, 413);
    let (st, body) = s.send(
        s.client
            .post(format!("{}/import/upload-file", s.url))
            .header("X-StorageApi-Token", MASTER_TOKEN)
            .multipart(Form::new().part("data", Part::bytes(vec![0u8; 2000]).file_name("x.bin"))),
    );
    assert_refusal(st, &body, 413);
    // Under the limit still works.
    let (st, body) = write_table(&s, MASTER_TOKEN, Form::new().text("tableId", t.clone()).part("data", data(b"id,v\n1,x\n".to_vec())));
    assert_eq!(st, 200, "{body}");
}

#[test]
fn upload_file_then_download_through_storage() {
    let s = Server::start();
    let content: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let form = Form::new()
        .text("tags[]", "first")
        .text("tags[]", "second")
        .text("isPermanent", "1")
        .text("notify", "0")
        .part("data", Part::bytes(content.clone()).file_name("My Data.bin"));
    let (st, f) = s.send(s.client.post(format!("{}/import/upload-file", s.url)).header("X-StorageApi-Token", MASTER_TOKEN).multipart(form));
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["name"], "my_data.bin", "{f}");
    assert_eq!(f["sizeBytes"], content.len(), "{f}");
    assert_eq!(f["tags"], json!(["first", "second"]), "{f}");
    assert!(f["url"].is_string() && f["creatorToken"]["id"].is_number(), "{f}");
    let id = f["id"].as_i64().unwrap();
    let (st, detail) = s.get(&format!("files/{id}"));
    assert_eq!(st, 200);
    assert_eq!(detail["id"], f["id"]);
    assert_eq!(detail["isPermanent"], true, "{detail}");
    assert_eq!(s.download(id), content);

    // `name` overrides the part's file name; the form-encoded variant takes `data` as text.
    let form = Form::new().text("name", "renamed.txt").part("data", Part::bytes(b"hello".to_vec()).file_name("orig.txt"));
    let (st, f) = s.send(s.client.post(format!("{}/import/upload-file", s.url)).header("X-StorageApi-Token", MASTER_TOKEN).multipart(form));
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["name"], "renamed.txt");
    let (st, f) = s.send(
        s.client
            .post(format!("{}/import/upload-file", s.url))
            .header("X-StorageApi-Token", MASTER_TOKEN)
            .form(&[("name", "note.txt"), ("data", "some data"), ("tags[]", "t")]),
    );
    assert_eq!(st, 200, "{f}");
    assert_eq!(s.download(f["id"].as_i64().unwrap()), b"some data");

    // No data, no token.
    let (st, body) = s.send(
        s.client.post(format!("{}/import/upload-file", s.url)).header("X-StorageApi-Token", MASTER_TOKEN).multipart(Form::new().text("name", "x")),
    );
    assert_refusal(st, &body, 400);
    let (st, body) = s.send(s.client.post(format!("{}/import/upload-file", s.url)).multipart(Form::new().part("data", Part::bytes(b"x".to_vec()))));
    assert_refusal(st, &body, 401);
}

#[test]
fn the_importer_is_in_the_storage_index() {
    let s = Server::start();
    let (_, index) = s.get("");
    assert!(index["services"].as_array().unwrap().iter().any(|svc| svc["id"] == "import"), "{index}");
}
