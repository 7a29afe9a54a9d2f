//! The scale-out fault test (issue 13): three nodes behind nginx take a bounded workload —
//! uploads in blocks that land on different nodes, full and incremental loads, Queue jobs with a
//! transformation — and one node is killed with SIGKILL mid-job, then restarted. Afterwards every
//! accepted job is in a final state, no job ran twice, each table holds exactly its old or its
//! new rows, every file reads back byte for byte, and nothing is left `processing`.
mod common;
mod queue_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{MASTER_TOKEN, Server, metadata_query, parse_connection_string};
use queue_support::*;
use serde_json::{Value, json};
use sha2::Digest;

const BUCKET: &str = "in.c-fault";
/// Rows of each table before the loads; the tables the killed node loads are bigger, so that
/// their loads are still running when it dies.
const BASE_ROWS: usize = 2_000;
const BIG_ROWS: usize = 300_000;

fn csv(rows: impl Iterator<Item = (usize, String)>) -> Vec<u8> {
    let mut out = b"id,v\n".to_vec();
    for (id, v) in rows {
        out.extend_from_slice(format!("{id},{v}\n").as_bytes());
    }
    out
}

/// A table's rows as `id -> v`.
type Rows = BTreeMap<String, String>;

fn rows_of(csv: &[u8]) -> Rows {
    String::from_utf8_lossy(csv)
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (id, v) = l.split_once(',').unwrap();
            (id.trim_matches('"').to_string(), v.trim_matches('"').to_string())
        })
        .collect()
}

/// files/prepare, then Put Block for each `block` bytes and Put Block List, as the Azure SDK
/// uploads big files: through nginx, the blocks go to every node in turn.
fn upload_in_blocks(s: &Server, name: &str, data: &[u8], block: usize) -> i64 {
    let (st, f) = s.post_form("files/prepare", &[("name", name), ("federationToken", "1"), ("sizeBytes", &data.len().to_string())]);
    assert_eq!(st, 201, "{f}");
    let params = &f["absUploadParams"];
    let (endpoint, sas) = parse_connection_string(params["absCredentials"]["SASConnectionString"].as_str().unwrap());
    let blob = format!("{endpoint}/{}/{}", params["container"].as_str().unwrap(), params["blobName"].as_str().unwrap());
    let mut ids = Vec::new();
    for (i, chunk) in data.chunks(block).enumerate() {
        let id = base64::engine::general_purpose::STANDARD.encode(format!("block-{i:06}"));
        let url = format!("{blob}?comp=block&blockid={}&{sas}", common::urlencode(&id));
        let resp = s.client.put(url).body(chunk.to_vec()).send().unwrap();
        assert_eq!(resp.status().as_u16(), 201, "Put Block {i}: {}", resp.text().unwrap_or_default());
        ids.push(id);
    }
    let list: String = ids.iter().map(|id| format!("<Latest>{id}</Latest>")).collect();
    let resp = s.client.put(format!("{blob}?comp=blocklist&{sas}")).body(format!("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>{list}</BlockList>")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 201, "Put Block List: {}", resp.text().unwrap_or_default());
    f["id"].as_i64().unwrap()
}

/// A table's rows, read through an export (every row, whatever the size).
fn table_rows(s: &Server, table: &str) -> Rows {
    let (st, job) = s.post_form(&format!("tables/{table}/export-async"), &[]);
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    let data = s.download(job["results"]["file"]["id"].as_i64().unwrap());
    let mut rows = Rows::new();
    for line in String::from_utf8(data).unwrap().lines().filter(|l| !l.is_empty()) {
        let (id, v) = line.split_once(',').unwrap();
        rows.insert(id.trim_matches('"').to_string(), v.trim_matches('"').to_string());
    }
    rows.remove("id");
    rows
}

/// One table's load in the workload: the rows before and after it, and the job doing it.
struct Load {
    table: String,
    old: Rows,
    new: Rows,
    job: Value,
}

/// Send a request to one node directly (past nginx): the storage job runs where it was accepted.
fn post_form_on(s: &Server, node_url: &str, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    s.send(s.client.post(format!("{node_url}/v2/storage/{path}")).header("X-StorageApi-Token", MASTER_TOKEN).form(form))
}

#[test]
fn a_node_killed_mid_job_loses_nothing_and_leaves_nothing_running() {
    // Loads answer at once (no wait for the job), so node 2 dies while its loads run.
    let mut s = Server::start_scale_out_with(&[("KBSTACK_JOB_WAIT_MS", "0")]);
    let second = s.stack.as_ref().unwrap().node_urls[1].clone();
    assert_eq!(s.post_form("buckets", &[("stage", "in"), ("name", "fault")]).0, 201);

    // Tables 0-3 load through nginx, tables 4-5 on node 2 (the one that dies), bigger.
    let mut loads = Vec::new();
    let mut prepared = Vec::new();
    for i in 0..6usize {
        let big = i >= 4;
        let n = if big { BIG_ROWS } else { BASE_ROWS };
        let base = csv((0..n).map(|id| (id, format!("base{id}"))));
        let file = upload_in_blocks(&s, &format!("base{i}.csv"), &base, 64 * 1024);
        let (st, job) = s.post_form(&format!("buckets/{BUCKET}/tables-async"), &[("name", &format!("t{i}")), ("dataFileId", &file.to_string()), ("primaryKey", "id")]);
        assert_eq!(st, 202, "{job}");
        assert_eq!(s.wait_job(&job)["status"], "success");
        // Even tables get an incremental load (a tenth changed, as many new), odd ones a full one.
        let incremental = i % 2 == 0;
        let old = rows_of(&base);
        let delta: Vec<(usize, String)> = if incremental {
            (0..n / 10).map(|k| (k * 10, format!("changed{k}"))).chain((n..n + n / 10).map(|id| (id, format!("new{id}")))).collect()
        } else {
            (0..n / 2).map(|id| (id * 3, format!("full{id}"))).collect()
        };
        let mut new = if incremental { old.clone() } else { Rows::new() };
        new.extend(delta.iter().map(|(id, v)| (id.to_string(), v.clone())));
        let file = upload_in_blocks(&s, &format!("load{i}.csv"), &csv(delta.into_iter()), 256 * 1024);
        prepared.push((format!("{BUCKET}.t{i}"), old, new, file, incremental, big));
    }

    // Files whose blocks went to all three nodes read back whole.
    let mut files = Vec::new();
    for i in 0..3 {
        let data: Vec<u8> = (0..700_000u32).flat_map(|k| (k ^ i).to_le_bytes()).collect();
        let id = upload_in_blocks(&s, &format!("blob{i}.bin"), &data, 100_000);
        files.push((id, sha2::Sha256::digest(&data).to_vec()));
    }

    // Queue jobs: shell sleepers that log each start (to see a job never runs twice) and a
    // DuckDB transformation reading a table.
    let log_dir = shared_marker("runs");
    std::fs::create_dir_all(&log_dir).unwrap();
    register(&s, "test.fault-sleeper", sh(&format!("echo start >> {}/$KBSTACK_QUEUE_JOB_ID; sleep 6; echo end >> {}/$KBSTACK_QUEUE_JOB_ID", log_dir.display(), log_dir.display())));
    let mut queue_jobs: Vec<String> = (0..9).map(|_| id(&create_job(&s, json!({"component": "test.fault-sleeper", "configData": {}})))).collect();
    for _ in 0..2 {
        let job = create_job(&s, json!({"component": "keboola.duckdb-transformation", "configData": {
            "storage": {
                "input": {"tables": [{"source": format!("{BUCKET}.t1"), "destination": "t.csv"}]},
                "output": {"tables": [{"source": "n.csv", "destination": "out.c-fault.counted"}]}
            },
            "parameters": {"blocks": [{"name": "b", "codes": [{"name": "c", "script": [
                "CREATE TABLE \"n.csv\" AS SELECT count(*) AS n, (SELECT count(*) FROM range(150000000)) AS busy FROM \"t.csv\";"
            ]}]}]}
        }}));
        queue_jobs.push(id(&job));
    }

    // The loads: the big ones accepted by node 2, the others through nginx.
    for (table, old, new, file, incremental, big) in prepared {
        let path = format!("tables/{table}/import-async");
        let form = [("dataFileId", file.to_string()), ("incremental", (incremental as u8).to_string())];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (st, job) = if big { post_form_on(&s, &second, &path, &form) } else { s.post_form(&path, &form) };
        assert_eq!(st, 202, "{job}");
        loads.push(Load { table, old, new, job });
    }
    // Node 2 is mid-job: its loads were just accepted, and it claimed some of the Queue jobs.
    assert_ne!(metadata_query(&s.data_dir, "SELECT count(*) FROM jobs WHERE status IN ('waiting', 'processing')").as_deref(), Some("0"));
    s.kill_node(1);
    let killed_at = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    s.restart_node(1);

    // Every accepted job reaches a final state (the dead node's once its lease runs out).
    for load in &loads {
        let job = s.wait_job(&load.job);
        let status = job["status"].as_str().unwrap();
        assert!(status == "success" || (status == "error" && job["error"]["code"] == "storage.jobs.interrupted"), "{job}");
        let rows = table_rows(&s, &load.table);
        let (count, old_count, new_count) = (rows.len(), load.old.len(), load.new.len());
        if status == "success" {
            assert!(rows == load.new, "{}: a successful load left {count} rows, not its {new_count}", load.table);
        } else {
            assert!(rows == load.old || rows == load.new, "{}: {count} rows, neither the old {old_count} nor the new {new_count}", load.table);
        }
    }
    let mut interrupted = 0;
    for job_id in &queue_jobs {
        let done = wait_finished(&s, job_id, 120);
        match done["status"].as_str().unwrap() {
            "success" => {}
            "error" if done["result"]["message"].as_str().unwrap_or("").contains("interrupted") => interrupted += 1,
            other => panic!("job {job_id} ended {other}: {done}"),
        }
        if let Ok(log) = std::fs::read_to_string(log_dir.join(job_id)) {
            assert_eq!(log.matches("start").count(), 1, "job {job_id} ran more than once: {log}");
        }
    }
    let storage_interrupted = loads.iter().filter(|l| s.wait_job(&l.job)["status"] == "error").count();
    assert!(interrupted + storage_interrupted > 0, "the killed node was running nothing: the test proved nothing");
    for (id, sha) in &files {
        assert_eq!(sha2::Sha256::digest(s.download(*id)).to_vec(), *sha, "file {id} changed");
    }
    for sql in [
        "SELECT count(*) FROM jobs WHERE status IN ('waiting', 'processing')",
        "SELECT count(*) FROM queue_jobs WHERE status IN ('created', 'waiting', 'processing', 'terminating')",
    ] {
        assert_eq!(metadata_query(&s.data_dir, sql).as_deref(), Some("0"), "{sql}");
    }
    eprintln!(
        "fault test: {interrupted} Queue and {storage_interrupted} storage jobs of the killed node ended as interrupted, {:?} after the kill",
        killed_at.elapsed()
    );
    let _ = std::fs::remove_dir_all(&log_dir);
}
