//! Stream phase: Data Streams ingestion as batching clients drive it — N concurrent keep-alive
//! clients POST 200-byte JSON events to one HTTP source (with a table sink), each sending its next
//! event once the previous one is acknowledged ("OK" = fsynced on the server's disk, so concurrent
//! events share fsyncs). Events/s acknowledged, p50/p99 latency, errors. Beside it, the practical
//! limits on this machine:
//! - the same clients against the ingestion route of an unknown source (the same HTTP stack and
//!   routing, nothing parsed or stored: a 404) — what HTTP alone allows;
//! - one thread appending a 200-byte record and `fdatasync`ing it, in a loop — how many
//!   acknowledgements the disk allows without batching.
use std::io::{BufRead, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use super::{Server, t0};

const CLIENTS: usize = 64;
const BODY_BYTES: usize = 200;

#[derive(Clone, Debug, Default)]
pub struct StreamRow {
    pub name: String,
    pub per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    pub count: u64,
}

#[derive(Default)]
pub struct StreamResults {
    pub rows: Vec<StreamRow>,
}

/// A keep-alive HTTP/1.1 connection speaking just enough to POST an event and read the answer
/// (a load generator light enough to leave the CPU to the server on a small machine).
struct Conn {
    stream: std::io::BufReader<std::net::TcpStream>,
    head: String,
}

impl Conn {
    fn open(url: &str) -> Result<Conn> {
        let rest = url.strip_prefix("http://").context("only http:// URLs")?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let stream = std::net::TcpStream::connect(authority)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let head = format!("POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n");
        Ok(Conn { stream: std::io::BufReader::new(stream), head })
    }

    /// The answer's status.
    fn post(&mut self, body: &str) -> Result<u16> {
        let req = format!("{}Content-Length: {}\r\n\r\n{body}", self.head, body.len());
        self.stream.get_mut().write_all(req.as_bytes())?;
        let mut status = 0u16;
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            ensure!(self.stream.read_line(&mut line)? > 0, "connection closed");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if status == 0 {
                status = line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
            } else if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut rest = vec![0u8; length];
        self.stream.read_exact(&mut rest)?;
        Ok(status)
    }
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0
}

/// `CLIENTS` clients POSTing to `url` for `seconds`; an answer of status `expected` counts.
fn drive(name: &str, url: &str, seconds: u64, expected: u16) -> StreamRow {
    let padding = "x".repeat(BODY_BYTES.saturating_sub(40));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (stop, url, padding) = (stop.clone(), url.to_string(), padding.clone());
            std::thread::spawn(move || -> (Vec<Duration>, u64) {
                let mut conn: Option<Conn> = None;
                let (mut latencies, mut errors, mut n) = (Vec::new(), 0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    let body = format!(r#"{{"client":{c},"n":{n},"pad":"{padding}"}}"#);
                    let t = Instant::now();
                    if conn.is_none() {
                        conn = Conn::open(&url).ok();
                    }
                    match conn.as_mut().map(|k| k.post(&body)) {
                        Some(Ok(s)) if s == expected => latencies.push(t.elapsed()),
                        Some(Ok(_)) => errors += 1,
                        _ => {
                            errors += 1;
                            conn = None;
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                    n += 1;
                }
                (latencies, errors)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let (mut all, mut errors) = (Vec::new(), 0);
    for w in workers {
        let (l, e) = w.join().expect("stream bench client");
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let row = StreamRow {
        name: name.into(),
        per_s: all.len() as f64 / elapsed,
        p50_ms: percentile_ms(&all, 0.50),
        p99_ms: percentile_ms(&all, 0.99),
        errors,
        count: all.len() as u64,
    };
    progress!("    {name}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} errors", row.per_s, row.p50_ms, row.p99_ms, row.errors);
    row
}

/// One thread: append a record and `fdatasync`, for `seconds`, in the server's data dir's file system.
fn fsync_loop(dir: &std::path::Path, seconds: u64) -> Result<StreamRow> {
    let path = dir.join("fsync-probe");
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    let record = vec![b'x'; BODY_BYTES];
    let mut latencies = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        let t = Instant::now();
        f.write_all(&record)?;
        f.sync_data()?;
        latencies.push(t.elapsed());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    latencies.sort();
    let row = StreamRow {
        name: "limit: append + fdatasync, one record at a time (one thread, no HTTP)".into(),
        per_s: latencies.len() as f64 / elapsed,
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        errors: 0,
        count: latencies.len() as u64,
    };
    progress!("    {}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms", row.name, row.per_s, row.p50_ms, row.p99_ms);
    Ok(row)
}

fn post(server: &Server, url: &str, body: Value) -> Result<Value> {
    let (status, v) = server.send(server.client.post(url).json(&body))?;
    ensure!((200..300).contains(&status), "{url}: HTTP {status}: {v}");
    Ok(v)
}

pub fn phase(server: &Server, work: &std::path::Path, seconds: u64, r: &mut super::Results) -> Result<()> {
    let sources = format!("{}/stream/v1/branches/default/sources", server.url);
    let task = post(server, &sources, json!({"name": "bench", "type": "http"}))?;
    let source_id = task["outputs"]["sourceId"].as_str().context("no sourceId")?.to_string();
    let columns = json!([{"name": "id", "type": "uuid"}, {"name": "datetime", "type": "datetime"}, {"name": "body", "type": "body"}]);
    post(
        server,
        &format!("{sources}/{source_id}/sinks"),
        json!({"name": "events", "type": "table", "table": {"type": "keboola", "tableId": format!("in.c-{source_id}.events"), "mapping": {"columns": columns}}}),
    )?;
    let (_, source) = server.send(server.client.get(format!("{sources}/{source_id}")))?;
    let ingest = source["http"]["url"].as_str().context("no http.url")?.to_string();
    progress!("stream: {CLIENTS} clients, {seconds} s each → {ingest}");
    r.stream.rows.push(drive(&format!("stream ingestion, {CLIENTS} clients, {BODY_BYTES}-byte events (acknowledged = fsynced)"), &ingest, seconds, 200));
    // The same route of a source that does not exist: routing and HTTP only.
    let unknown = ingest.replace(&format!("/{source_id}/"), "/no-such-source/");
    r.stream.rows.push(drive(&format!("limit: the same {CLIENTS} clients, an unknown source (404, nothing stored)"), &unknown, seconds, 404));
    r.stream.rows.push(fsync_loop(work, seconds.min(5))?);
    Ok(())
}

pub fn report_rows(rows: &[StreamRow]) -> String {
    let mut s = String::from(
        "| Stream (target ≥ 20,000 events/s acknowledged) | per s | p50 | p99 | count | errors |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        s.push_str(&format!("| {} | {:.0} | {:.2} ms | {:.2} ms | {} | {} |\n", row.name, row.per_s, row.p50_ms, row.p99_ms, row.count, row.errors));
    }
    s.push('\n');
    s
}
