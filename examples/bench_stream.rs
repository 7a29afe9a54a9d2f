//! Stream ingestion benchmark: N concurrent clients POST events to one HTTP source of a `kbstack
//! serve` (started here on a temp data dir, or `--url`/`--token` of a running one) for a fixed
//! time; reports events/s acknowledged (each "OK" means fsynced on the server's disk) and latency
//! percentiles. Each client keeps one keep-alive connection and sends its next event as soon as
//! the previous one is acknowledged, so the server batches concurrent events into shared fsyncs.
//!
//! `cargo build --workspace --tests --bins --examples` then
//! `$CARGO_TARGET_DIR/debug/examples/bench_stream --clients 64 --seconds 10`.
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use serde_json::{Value, json};

const TOKEN: &str = "1-1-kbstackbenchmastertoken00000000000000000";

#[derive(Parser, Debug)]
#[command(about = "kbstack Stream ingestion: events/s acknowledged and latency with concurrent clients")]
struct Args {
    /// Concurrent clients (each one request in flight).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Event body size in bytes (a JSON object padded to about this size).
    #[arg(long, default_value_t = 200)]
    body_bytes: usize,
    /// The kbstack binary (default: `../kbstack` next to this example's directory).
    #[arg(long)]
    kbstack: Option<PathBuf>,
    /// A running server's base URL instead of starting one (needs `--token`).
    #[arg(long)]
    url: Option<String>,
    #[arg(long)]
    token: Option<String>,
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(bin: &PathBuf, dir: &std::path::Path) -> Result<(Server, String)> {
    ensure!(bin.exists(), "kbstack binary {} not found (build it first, or pass --kbstack)", bin.display());
    let mut child = Command::new(bin)
        .arg("serve")
        .env("KBSTACK_DATA_DIR", dir)
        .env("KBSTACK_LISTEN", "127.0.0.1:0")
        .env("KBSTACK_MASTER_TOKEN", TOKEN)
        .env_remove("KBSTACK_PUBLIC_URL")
        .env("KBSTACK_LOG", std::env::var("KBSTACK_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut reader = BufReader::new(child.stdout.take().expect("piped stdout"));
    let url = loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            bail!("kbstack exited before printing its URL");
        }
        if let Some(rest) = line.trim().strip_prefix("kbstack listening on ") {
            break rest.to_string();
        }
    };
    std::thread::spawn(move || for _ in reader.lines() {});
    Ok((Server(child), url))
}

fn call(client: &reqwest::blocking::Client, method: reqwest::Method, url: String, token: &str, body: Value) -> Result<Value> {
    let resp = client.request(method, &url).header("X-StorageApi-Token", token).json(&body).send()?;
    let status = resp.status().as_u16();
    let v: Value = resp.json().unwrap_or(Value::Null);
    ensure!((200..300).contains(&status), "{url}: HTTP {status}: {v}");
    Ok(v)
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
        use std::io::{Read, Write};
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let (_server, base, token) = match (&args.url, &args.token) {
        (Some(u), Some(t)) => (None, u.trim_end_matches('/').to_string(), t.clone()),
        (Some(_), None) => bail!("--url needs --token"),
        _ => {
            let bin = args.kbstack.clone().unwrap_or_else(|| {
                std::env::current_exe().expect("exe").parent().and_then(|p| p.parent()).expect("examples dir").join("kbstack")
            });
            let (s, url) = start(&bin, tmp.path())?;
            (Some(s), url, TOKEN.to_string())
        }
    };
    let admin = reqwest::blocking::Client::new();
    let sources = format!("{base}/stream/v1/branches/default/sources");
    let name = format!("bench-{}", std::process::id());
    let task = call(&admin, reqwest::Method::POST, sources.clone(), &token, json!({"name": name, "type": "http"}))?;
    let source_id = task["outputs"]["sourceId"].as_str().context("no sourceId")?.to_string();
    let columns = json!([{"name": "id", "type": "uuid"}, {"name": "datetime", "type": "datetime"}, {"name": "body", "type": "body"}]);
    let table = format!("in.c-{source_id}.events");
    call(&admin, reqwest::Method::POST, format!("{sources}/{source_id}/sinks"), &token,
        json!({"name": "events", "type": "table", "table": {"type": "keboola", "tableId": table, "mapping": {"columns": columns}}}))?;
    let source = admin.get(format!("{sources}/{source_id}")).header("X-StorageApi-Token", &token).send()?.json::<Value>()?;
    let ingest = source["http"]["url"].as_str().context("no http.url")?.to_string();
    let padding = "x".repeat(args.body_bytes.saturating_sub(40));
    eprintln!("{} clients for {}s → {ingest}", args.clients, args.seconds);

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.clients)
        .map(|c| {
            let (stop, ingest, padding) = (stop.clone(), ingest.clone(), padding.clone());
            std::thread::spawn(move || -> (Vec<Duration>, u64) {
                let mut conn: Option<Conn> = None;
                let mut latencies = Vec::new();
                let mut errors = 0;
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let body = format!(r#"{{"client":{c},"n":{n},"pad":"{padding}"}}"#);
                    let t = Instant::now();
                    if conn.is_none() {
                        conn = Conn::open(&ingest).ok();
                    }
                    match conn.as_mut().map(|k| k.post(&body)) {
                        Some(Ok(200)) => latencies.push(t.elapsed()),
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
    std::thread::sleep(Duration::from_secs(args.seconds));
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.join().expect("worker");
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    all.sort();
    let acked = all.len();
    println!(
        "stream ingestion: {} clients, {:.1}s: {acked} events acknowledged ({:.0} events/s), {errors} errors; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        args.clients,
        elapsed.as_secs_f64(),
        acked as f64 / elapsed.as_secs_f64(),
        percentile(&all, 0.50).as_secs_f64() * 1000.0,
        percentile(&all, 0.99).as_secs_f64() * 1000.0,
        all.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
    Ok(())
}
