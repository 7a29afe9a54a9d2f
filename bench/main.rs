//! kbstack benchmark: table loads and exports through the real `kbstack serve`, side by side with
//! the same work done by DuckDB in-process (the engine kbstack runs on, i.e. the practical limit).
//!
//! Phases (each repeated `--runs` times, medians reported):
//!  1. import: a ~1 GB CSV into an empty table, end to end (files/prepare, Put Block + Put Block
//!     List, import-async, job polling) vs `COPY t FROM 'file.csv' (HEADER)` into an empty VARCHAR table;
//!  2. incremental PK load: 1M rows (10% changed keys, 10% new keys, 80% unchanged) into a 5M-row
//!     table with primary key `id`, end to end (upload + import-async incremental) vs the same upsert
//!     in DuckDB (two formulations; the faster one is the reference);
//!  3. export: export-async gzip of that table vs `COPY (SELECT * FROM t) TO 'x.csv.gz'`;
//!  4. queue: 1,000 trivial jobs through the Queue API, one at a time (p50/p99 create→finished) and
//!     all at once (jobs/s) — `queue.rs`; no raw counterpart (there is no engine below the queue);
//!  5. peak server RSS (`VmHWM` of the server process);
//!  6. scale-out (`scaleout-import`, `scaleout-incremental`, after the others): the kbstack side of
//!     phases 1 and 2 again, through nginx in front of three nodes on PostgreSQL metadata, DuckLake
//!     (PostgreSQL catalog, Parquet in S3) and files in S3 (`scaleout.rs`); the raw DuckDB figures of
//!     phases 1 and 2 stay the reference; each node's peak RSS.
//!
//! Run through `./bench/run` (builds, runs, records BENCHMARKS.md). Progress goes to stderr.
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use base64::Engine;
use clap::Parser;
use serde_json::{Value, json};

const TOKEN: &str = "1-1-kbstackbenchmastertoken00000000000000000";
const BLOCK_BYTES: usize = 16 * 1024 * 1024;
const FULL_CSV_BYTES: f64 = 1.0e9;
const FULL_BASE_ROWS: f64 = 5.0e6;
const FULL_DELTA_ROWS: f64 = 1.0e6;
const POLL: Duration = Duration::from_millis(25);
/// "< 1 GB": DuckDB's own unit (its `memory_limit = '1GB'` is 10^9 bytes).
const RSS_TARGET_BYTES: u64 = 1_000_000_000;
/// Server environment the bench sets itself; any other `KBSTACK_*` variable reaches the server and is reported.
const SERVER_ENV_SET_BY_BENCH: [&str; 5] =
    ["KBSTACK_DATA_DIR", "KBSTACK_LISTEN", "KBSTACK_MASTER_TOKEN", "KBSTACK_PUBLIC_URL", "KBSTACK_LOG"];
/// Variables for the bench's own helpers, not the server (where crates/testkit finds SeaweedFS).
const BENCH_ONLY_ENV: [&str; 1] = ["KBSTACK_TEST_WEED"];

const TABLE_PHASES: [&str; 5] = ["import", "incremental", "export", "scaleout-import", "scaleout-incremental"];
/// Phases on a scale-out stack (`scaleout.rs`), run after the embedded server's.
const SCALEOUT_PHASES: [&str; 2] = ["scaleout-import", "scaleout-incremental"];

#[derive(Parser, Debug)]
#[command(about = "kbstack load/export benchmark against raw DuckDB, and the queue's job latency and throughput")]
struct Args {
    /// Data size factor: 1 = ~1 GB import CSV, 5M-row table, 1M-row incremental file.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Repetitions of each timed phase (medians are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The kbstack binary (default: `../kbstack` next to this example's directory).
    #[arg(long)]
    kbstack: Option<PathBuf>,
    /// Where data, the server's data dir and the DuckDB files go (default: a temp dir, removed after).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Insert/replace this run's section in the given markdown file (bench/run passes BENCHMARKS.md;
    /// a later `--record` wins, e.g. `--record /dev/null` for a smoke run that records nothing).
    #[arg(long, overrides_with = "record")]
    record: Option<PathBuf>,
    /// The command line to show in the record (bench/run passes its own).
    #[arg(long)]
    command: Option<String>,
    /// Source revision to show in the record.
    #[arg(long)]
    rev: Option<String>,
    /// Only these phases (comma-separated: import, incremental, export, queue, load, query, stream,
    /// scaleout-import, scaleout-incremental), e.g. to investigate one.
    #[arg(long, value_delimiter = ',', default_value = "import,incremental,export,queue,load,query,stream,scaleout-import,scaleout-incremental")]
    phases: Vec<String>,
    /// Seconds of load on `tokens/verify` in the load phase (the other routes get a third of it).
    #[arg(long, default_value_t = 60)]
    load_seconds: u64,
    /// Seconds of load on the Stream ingestion endpoint (and on each of its limits).
    #[arg(long, default_value_t = 15)]
    stream_seconds: u64,
}

// ---------------------------------------------------------------- progress

fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

macro_rules! progress {
    ($($arg:tt)*) => {
        eprintln!("[{:>7.1}s] {}", t0().elapsed().as_secs_f64(), format!($($arg)*))
    };
}

mod load;
mod query;
mod queue;
mod scaleout;
mod stream;

// ---------------------------------------------------------------- data

fn mix(mut x: u64) -> u64 {
    // splitmix64
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

const FIRST: [&str; 16] = [
    "Alice", "Bohumil", "Carla", "David", "Eva", "Frantisek", "Greta", "Hana", "Ivan", "Jana", "Karel", "Lucie", "Martin",
    "Nina", "Otakar", "Petra",
];
const LAST: [&str; 16] = [
    "Novak", "Svoboda", "Novotna", "Dvorak", "Cerna", "Prochazka", "Kucera", "Vesela", "Horak", "Nemcova", "Marek",
    "Pospisil", "Hajek", "Jelinek", "Kral", "Ruzicka",
];
const CITIES: [&str; 16] = [
    "Prague", "Brno", "Ostrava", "Plzen", "Liberec", "Olomouc", "Usti", "Hradec", "Pardubice", "Zlin", "Havirov",
    "Kladno", "Most", "Opava", "Jihlava", "Teplice",
];
const WORDS: [&str; 32] = [
    "order", "shipped", "returned", "customer", "invoice", "paid", "pending", "warehouse", "express", "standard",
    "discount", "coupon", "gift", "priority", "delayed", "damaged", "replacement", "refund", "online", "store",
    "mobile", "partner", "wholesale", "retail", "subscription", "renewal", "trial", "premium", "basic", "bundle",
    "sample", "loyalty",
];

pub const HEADER: &str = "id,name,city,comment,amount,quantity\n";

/// One CSV row; its values depend only on (id, version), so an unchanged row is byte-identical.
/// About 1 row in 20 has a quoted comment containing commas, 1 in 100 an escaped double quote.
fn write_row(out: &mut Vec<u8>, id: u64, version: u64) {
    let h = mix(id.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ version.wrapping_mul(0x9E37_79B9));
    let comma = (h >> 20) % 20 == 0;
    let quote = (h >> 26) % 100 == 0;
    let words = 3 + (h >> 12) % 8;
    write!(out, "{id},{} {},{},", FIRST[(h & 15) as usize], LAST[((h >> 4) & 15) as usize], CITIES[((h >> 8) & 15) as usize])
        .unwrap();
    if comma || quote {
        out.push(b'"');
    }
    let mut w = h;
    for i in 0..words {
        w = mix(w);
        if i > 0 {
            out.extend_from_slice(if comma && i == 1 { b", " } else { b" " });
        }
        if quote && i == 1 {
            out.extend_from_slice(b"\"\"");
            out.extend_from_slice(WORDS[(w & 31) as usize].as_bytes());
            out.extend_from_slice(b"\"\"");
        } else {
            out.extend_from_slice(WORDS[(w & 31) as usize].as_bytes());
        }
    }
    if comma || quote {
        out.push(b'"');
    }
    let cents = (h >> 32) % 10_000_000;
    writeln!(out, ",{}.{:02},{}", cents / 100, cents % 100, (h >> 56) % 200).unwrap();
}

struct CsvWriter {
    w: BufWriter<File>,
    buf: Vec<u8>,
    bytes: u64,
    rows: u64,
}

impl CsvWriter {
    fn create(path: &Path) -> Result<CsvWriter> {
        let mut w = BufWriter::with_capacity(4 << 20, File::create(path).with_context(|| format!("creating {}", path.display()))?);
        w.write_all(HEADER.as_bytes())?;
        Ok(CsvWriter { w, buf: Vec::with_capacity(256), bytes: HEADER.len() as u64, rows: 0 })
    }

    fn row(&mut self, id: u64, version: u64) -> Result<()> {
        self.buf.clear();
        write_row(&mut self.buf, id, version);
        self.w.write_all(&self.buf)?;
        self.bytes += self.buf.len() as u64;
        self.rows += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<(u64, u64)> {
        self.w.flush()?;
        Ok((self.bytes, self.rows))
    }
}

/// The generated CSVs (all empty when no table phase runs).
#[derive(Default)]
struct DataSet {
    big: PathBuf,
    big_bytes: u64,
    big_rows: u64,
    base: PathBuf,
    base_bytes: u64,
    base_rows: u64,
    delta: PathBuf,
    delta_bytes: u64,
    delta_rows: u64,
    delta_changed: u64,
    delta_new: u64,
    /// An id whose values the delta changes, and its new `amount` (spot check after the load).
    changed_sample: (u64, String),
}

/// The `amount` value of a generated row (the second-to-last field, never quoted).
fn amount_of(row: &[u8]) -> String {
    let s = String::from_utf8_lossy(row);
    s.trim_end().rsplit(',').nth(1).unwrap_or_default().to_string()
}

fn generate(dir: &Path, scale: f64) -> Result<DataSet> {
    let target = (FULL_CSV_BYTES * scale).max(10_000.0) as u64;
    let big = dir.join("import.csv");
    progress!("generating {} (~{:.0} MB)", big.display(), target as f64 / 1e6);
    let started = Instant::now();
    let mut w = CsvWriter::create(&big)?;
    let mut next_report = target / 10;
    let mut id = 0u64;
    while w.bytes < target {
        id += 1;
        w.row(id, 0)?;
        if w.bytes >= next_report {
            progress!("  {:>3.0}% ({:.0} MB, {} rows)", 100.0 * w.bytes as f64 / target as f64, w.bytes as f64 / 1e6, w.rows);
            next_report += target / 10;
        }
    }
    let (big_bytes, big_rows) = w.finish()?;
    progress!("generated {big_rows} rows, {:.0} MB in {:.1}s", big_bytes as f64 / 1e6, started.elapsed().as_secs_f64());

    let base_rows_wanted = (FULL_BASE_ROWS * scale).round().max(100.0) as u64;
    let delta_rows_wanted = (FULL_DELTA_ROWS * scale).round().max(20.0) as u64;
    let base = dir.join("base.csv");
    progress!("generating {} ({base_rows_wanted} rows)", base.display());
    let mut w = CsvWriter::create(&base)?;
    for id in 1..=base_rows_wanted {
        w.row(id, 0)?;
    }
    let (base_bytes, base_rows) = w.finish()?;

    // Delta: row i targets existing key 1 + i*stride; i%10 == 0 changes it, i%10 == 1 is a new
    // key instead, the rest repeat the stored row unchanged. Keys are distinct.
    let stride = (base_rows / delta_rows_wanted).max(1);
    ensure!(stride * delta_rows_wanted <= base_rows, "base table too small for the delta");
    let delta = dir.join("delta.csv");
    progress!("generating {} ({delta_rows_wanted} rows: 10% changed, 10% new, 80% unchanged)", delta.display());
    let mut w = CsvWriter::create(&delta)?;
    let (mut changed, mut new) = (0, 0);
    let mut changed_sample = None;
    for i in 0..delta_rows_wanted {
        match i % 10 {
            0 => {
                let id = 1 + i * stride;
                w.row(id, 1)?;
                changed += 1;
                if changed_sample.is_none() && i >= delta_rows_wanted / 2 {
                    let mut row = Vec::new();
                    write_row(&mut row, id, 1);
                    changed_sample = Some((id, amount_of(&row)));
                }
            }
            1 => {
                new += 1;
                w.row(base_rows + new, 0)?;
            }
            _ => w.row(1 + i * stride, 0)?,
        }
    }
    let (delta_bytes, delta_rows) = w.finish()?;
    progress!(
        "generated base {base_rows} rows ({:.0} MB), delta {delta_rows} rows ({:.0} MB)",
        base_bytes as f64 / 1e6,
        delta_bytes as f64 / 1e6
    );
    Ok(DataSet {
        big,
        big_bytes,
        big_rows,
        base,
        base_bytes,
        base_rows,
        delta,
        delta_bytes,
        delta_rows,
        delta_changed: changed,
        delta_new: new,
        changed_sample: changed_sample.ok_or_else(|| anyhow!("no changed row sampled"))?,
    })
}

// ---------------------------------------------------------------- kbstack server

struct Server {
    /// The server (the scale-out stack's node 1).
    child: Child,
    /// Where requests go: the server's own URL, or the scale-out stack's balancer.
    url: String,
    client: reqwest::blocking::Client,
    /// Transport errors on GET requests that were retried (reported: they should not happen).
    get_errors: std::cell::RefCell<Vec<String>>,
    /// The scale-out stack's other nodes and nginx (stopped after `child`, on drop).
    stack: Option<scaleout::Stack>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn check(status: u16, body: &Value, what: &str) -> Result<()> {
    if !(200..300).contains(&status) {
        bail!("{what}: HTTP {status}: {body}");
    }
    Ok(())
}

impl Server {
    /// The embedded default: one process on its data dir, port 0.
    fn start(bin: &Path, data_dir: &Path) -> Result<Server> {
        let (child, url) = Server::spawn_node(bin, data_dir, "127.0.0.1:0", &[])?;
        Server::new(child, url)
    }

    fn new(child: Child, url: String) -> Result<Server> {
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(3600)).build()?;
        Ok(Server { child, url, client, get_errors: Default::default(), stack: None })
    }

    /// `kbstack serve` on `data_dir` listening on `listen`, with `envs` on top of the bench's own
    /// settings; the process and the URL it printed once serving.
    fn spawn_node(bin: &Path, data_dir: &Path, listen: &str, envs: &[(String, String)]) -> Result<(Child, String)> {
        ensure!(bin.exists(), "kbstack binary {} not found (build it first, or pass --kbstack)", bin.display());
        std::fs::create_dir_all(data_dir)?;
        let mut child = Command::new(bin)
            .arg("serve")
            .env("KBSTACK_DATA_DIR", data_dir)
            .env("KBSTACK_LISTEN", listen)
            .env("KBSTACK_MASTER_TOKEN", TOKEN)
            .env_remove("KBSTACK_PUBLIC_URL")
            .env("KBSTACK_LOG", std::env::var("KBSTACK_LOG").unwrap_or_else(|_| "warn".into()))
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut reader = BufReader::new(child.stdout.take().expect("piped stdout"));
        let deadline = Instant::now() + Duration::from_secs(120);
        let url = loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                bail!("kbstack exited before printing its URL");
            }
            if let Some(rest) = line.trim().strip_prefix("kbstack listening on ") {
                break rest.to_string();
            }
            ensure!(Instant::now() < deadline, "kbstack printed no URL");
        };
        std::thread::spawn(move || for _ in reader.lines() {});
        Ok((child, url))
    }

    fn api(&self, path: &str) -> String {
        format!("{}/v2/storage/{}", self.url, path.trim_start_matches('/'))
    }

    fn send(&self, req: reqwest::blocking::RequestBuilder) -> Result<(u16, Value)> {
        let resp = req.header("X-StorageApi-Token", TOKEN).send()?;
        let status = resp.status().as_u16();
        let text = resp.text()?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    /// GET; a transport error (not an HTTP error) is retried up to 3 times and recorded, so that a
    /// dropped connection while polling a job neither aborts the phase nor goes unreported.
    fn get(&self, path: &str) -> Result<Value> {
        let mut attempt = 0;
        let (status, body) = loop {
            match self.send(self.client.get(self.api(path))) {
                Ok(r) => break r,
                Err(e) if attempt < 3 && e.downcast_ref::<reqwest::Error>().is_some() => {
                    attempt += 1;
                    let msg = format!("GET {path}: {e:#}");
                    progress!("    WARNING transport error, retrying: {msg}");
                    self.get_errors.borrow_mut().push(msg);
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        };
        check(status, &body, &format!("GET {path}"))?;
        Ok(body)
    }

    fn post(&self, path: &str, body: Value) -> Result<Value> {
        let (status, resp) = self.send(self.client.post(self.api(path)).json(&body))?;
        check(status, &resp, &format!("POST {path}"))?;
        Ok(resp)
    }

    fn delete(&self, path: &str) -> Result<()> {
        let (status, body) = self.send(self.client.delete(self.api(path)))?;
        check(status, &body, &format!("DELETE {path}"))
    }

    /// Poll the job until it ends; an `error` job is an error of the benchmark.
    fn wait_job(&self, job: &Value, what: &str) -> Result<Value> {
        let id = job["id"].as_i64().ok_or_else(|| anyhow!("{what}: no job id in {job}"))?;
        let started = Instant::now();
        let mut next_report = Duration::from_secs(10);
        let mut j = job.clone();
        loop {
            match j["status"].as_str() {
                Some("success") => return Ok(j),
                Some("error") => bail!("{what}: job {id} failed: {}", j["error"]),
                _ => {}
            }
            if started.elapsed() >= next_report {
                progress!("    {what}: job {id} {} for {:.0}s", j["status"].as_str().unwrap_or("?"), started.elapsed().as_secs_f64());
                next_report += Duration::from_secs(10);
            }
            std::thread::sleep(POLL);
            j = self.get(&format!("jobs/{id}"))?;
        }
    }

    /// Start a job with `POST path` and wait for its success.
    fn run_job(&self, path: &str, body: Value, what: &str) -> Result<Value> {
        let job = self.post(path, body)?;
        self.wait_job(&job, what)
    }

    /// files/prepare + Put Block (16 MiB blocks read from disk) + Put Block List; the file id.
    fn upload(&self, path: &Path, verbose: bool) -> Result<i64> {
        Ok(self.upload_timed(path, verbose)?.0)
    }

    /// `upload`, also returning how long the final Put Block List took (the server assembles the blob then).
    fn upload_timed(&self, path: &Path, verbose: bool) -> Result<(i64, Duration)> {
        let size = std::fs::metadata(path)?.len();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("data.csv");
        let prepared = self.post("files/prepare", json!({"name": name, "sizeBytes": size}))?;
        let file_id = prepared["id"].as_i64().ok_or_else(|| anyhow!("files/prepare: no id in {prepared}"))?;
        let params = &prepared["absUploadParams"];
        let blob = params["blobName"].as_str().ok_or_else(|| anyhow!("files/prepare: no absUploadParams.blobName"))?;
        let container = params["container"].as_str().ok_or_else(|| anyhow!("files/prepare: no absUploadParams.container"))?;
        let conn = params["absCredentials"]["SASConnectionString"]
            .as_str()
            .ok_or_else(|| anyhow!("files/prepare: no absCredentials.SASConnectionString"))?;
        let (mut endpoint, mut sas) = (None, None);
        for part in conn.split(';') {
            match part.split_once('=') {
                Some(("BlobEndpoint", v)) => endpoint = Some(v.trim_end_matches('/').to_string()),
                Some(("SharedAccessSignature", v)) => sas = Some(v.to_string()),
                _ => {}
            }
        }
        let (endpoint, sas) = endpoint.zip(sas).ok_or_else(|| anyhow!("unexpected connection string {conn}"))?;
        const SEGMENT: &percent_encoding::AsciiSet =
            &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');
        let blob_url = format!("{endpoint}/{container}/{}", percent_encoding::utf8_percent_encode(blob, SEGMENT));

        let mut file = File::open(path)?;
        let blocks = size.div_ceil(BLOCK_BYTES as u64).max(1);
        let mut ids = Vec::new();
        let mut sent = 0u64;
        let mut next_report = blocks / 4;
        loop {
            let mut buf = Vec::with_capacity(BLOCK_BYTES);
            (&mut file).take(BLOCK_BYTES as u64).read_to_end(&mut buf)?;
            if buf.is_empty() && !ids.is_empty() {
                break;
            }
            let n = buf.len();
            let id = base64::engine::general_purpose::STANDARD.encode(format!("block-{:08}", ids.len()));
            let url = format!("{blob_url}?comp=block&blockid={}&{sas}", percent_encoding::utf8_percent_encode(&id, percent_encoding::NON_ALPHANUMERIC));
            let resp = self.client.put(&url).header("x-ms-version", "2021-08-06").body(buf).send()?;
            let status = resp.status().as_u16();
            ensure!(status == 201, "Put Block {}: HTTP {status}: {}", ids.len(), resp.text().unwrap_or_default());
            ids.push(id);
            sent += n as u64;
            if verbose && blocks >= 8 && ids.len() as u64 >= next_report && sent < size {
                progress!("    uploaded {}/{blocks} blocks ({:.0} MB)", ids.len(), sent as f64 / 1e6);
                next_report += blocks / 4;
            }
            if n < BLOCK_BYTES {
                break;
            }
        }
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for id in &ids {
            xml.push_str(&format!("<Latest>{id}</Latest>"));
        }
        xml.push_str("</BlockList>");
        let list_start = Instant::now();
        let resp = self
            .client
            .put(format!("{blob_url}?comp=blocklist&{sas}"))
            .header("x-ms-version", "2021-08-06")
            .header("Content-Type", "application/xml")
            .body(xml)
            .send()?;
        let status = resp.status().as_u16();
        ensure!(status == 201, "Put Block List: HTTP {status}: {}", resp.text().unwrap_or_default());
        let list_time = list_start.elapsed();
        ensure!(sent == size, "uploaded {sent} of {size} bytes");
        Ok((file_id, list_time))
    }

    fn table_rows(&self, table_id: &str) -> Result<u64> {
        let t = self.get(&format!("tables/{table_id}"))?;
        t["rowsCount"].as_u64().ok_or_else(|| anyhow!("table {table_id}: no rowsCount in {t}"))
    }

    fn vm_hwm(&self) -> Option<u64> {
        proc_status_kib(self.child.id(), "VmHWM").map(|k| k * 1024)
    }
}

fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// (parent pid, CPU time in clock ticks: user + system, its own and that of its children it waited for).
fn proc_stat_ppid_ticks(pid: u32) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at ") ".
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state), rest[1] field 4 (ppid); utime and stime are fields 14 and 15; cutime/cstime 16, 17.
    let ticks = (11..=14).map(|i| f.get(i)?.parse::<u64>().ok()).sum::<Option<u64>>()?;
    Some((f.get(1)?.parse().ok()?, ticks))
}

/// CPU time of the bench and everything it started (the server or the scale-out stack's nodes,
/// PostgreSQL, SeaweedFS, nginx, and whatever they started), in clock ticks.
fn tree_cpu_ticks() -> u64 {
    let procs: Vec<(u32, u32, u64)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| proc_stat_ppid_ticks(pid).map(|(ppid, ticks)| (pid, ppid, ticks)))
        .collect();
    let mut tree = vec![std::process::id()];
    let mut total = 0;
    while let Some(pid) = tree.pop() {
        for (child, ppid, ticks) in &procs {
            if *child == pid {
                total += ticks;
            }
            if *ppid == pid {
                tree.push(*child);
            }
        }
    }
    total
}

/// (busy, total) clock ticks of the whole machine since boot.
fn machine_cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal ...
    let idle = v.get(3)? + v.get(4).unwrap_or(&0);
    let total: u64 = v.iter().take(8).sum();
    Some((total - idle, total))
}

/// How much of the machine other processes used while the bench ran (a noisy-neighbour check:
/// on a shared box, concurrent builds distort every figure).
struct CpuWatch {
    start: Option<(u64, u64)>,
}

impl CpuWatch {
    fn start() -> CpuWatch {
        CpuWatch { start: machine_cpu_ticks() }
    }

    /// Share of the machine's CPU time used by processes other than the bench and the server.
    fn others_share(&self, ours_ticks: u64) -> Option<f64> {
        let (b0, t0) = self.start?;
        let (b1, t1) = machine_cpu_ticks()?;
        let total = t1.checked_sub(t0)?;
        if total == 0 {
            return None;
        }
        Some((b1 - b0).saturating_sub(ours_ticks) as f64 / total as f64)
    }
}

// ---------------------------------------------------------------- raw DuckDB

fn lit(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "''"))
}

/// A fresh raw DuckDB database.
fn duck(path: &Path) -> Result<duckdb::Connection> {
    remove_db(path);
    duck_open(path)
}

/// Raw DuckDB with its defaults (memory limit 80% of RAM, every core), except that insertion order
/// is not preserved: kbstack sets the same, and any bulk loader would.
fn duck_open(path: &Path) -> Result<duckdb::Connection> {
    let conn = duckdb::Connection::open(path)?;
    conn.execute_batch(RAW_SETTINGS)?;
    Ok(conn)
}

const RAW_SETTINGS: &str = "SET preserve_insertion_order = false;";

fn count(conn: &duckdb::Connection, table: &str) -> Result<u64> {
    let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
    Ok(n as u64)
}

fn remove_db(path: &Path) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(format!("{}.wal", path.display()));
}

// ---------------------------------------------------------------- measurements

#[derive(Default, Clone)]
struct Samples(Vec<f64>);

impl Samples {
    fn push(&mut self, d: Duration) {
        self.0.push(d.as_secs_f64());
    }
    fn median(&self) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }
    fn runs(&self) -> String {
        self.0.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>().join(", ")
    }
}

/// The `p`th percentile of ascending `sorted` samples (nearest rank).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(Duration, T)> {
    let start = Instant::now();
    let v = f()?;
    Ok((start.elapsed(), v))
}

#[derive(Default)]
struct Results {
    queue: queue::QueueResults,
    load: load::LoadResults,
    query: query::QueryResults,
    stream: stream::StreamResults,
    // import
    kb_import: ImportSamples,
    raw_import: Samples,
    // incremental
    kb_incr: IncrSamples,
    raw_pk_full_load: Samples,
    raw_incr_replace: Samples,
    raw_incr_update: Samples,
    replay_stage: Samples,
    replay_update: Samples,
    replay_insert: Samples,
    replay_commit: Samples,
    replay_total: Samples,
    replay_count: Samples,
    raw_rows_after: u64,
    // export
    kb_export: Samples,
    raw_export: Samples,
    kb_export_bytes: u64,
    raw_export_bytes: u64,
    kb_rows_exported: u64,
    raw_rows_exported: u64,
    /// Phases that failed, with the error (the bench goes on with the next phase).
    failures: Vec<(&'static str, String)>,
    /// Transport errors on GET requests to the server (retried).
    get_errors: Vec<String>,
    /// Share of the machine's CPU other processes used during the phases (None: unknown).
    others_cpu: Option<f64>,
    load_before: String,
    load_after: String,
    // memory
    hwm_after: Vec<(&'static str, u64)>,
    bench_hwm: u64,
    // the same import and incremental load through the scale-out stack
    so_import: ImportSamples,
    so_incr: IncrSamples,
    /// Each node's peak RSS after the scale-out phases (None: the node was gone).
    so_node_hwms: Vec<Option<u64>>,
    /// Put Block requests per node (from nginx's access log).
    so_block_spread: String,
}

/// One kbstack import of the big CSV, end to end, per run.
#[derive(Default)]
struct ImportSamples {
    total: Samples,
    upload: Samples,
    /// Of the upload: the final Put Block List (the server assembles the blob then).
    blocklist: Samples,
    job: Samples,
}

/// One kbstack incremental PK load, end to end, per run (and its untimed setup).
#[derive(Default)]
struct IncrSamples {
    pk_full_load: Samples,
    total: Samples,
    upload: Samples,
    job: Samples,
    rows_after: u64,
}

/// What the phases share: the data, the server, and the tables/databases one phase leaves for the next.
struct Ctx<'a> {
    args: &'a Args,
    work: &'a Path,
    data: &'a DataSet,
    server: &'a Server,
    bucket: &'static str,
    /// The base file uploaded once (untimed) for the PK table setups.
    base_file: Option<i64>,
    /// kbstack table with primary key `id` (5M rows, 5.1M after a successful incremental load).
    pk_table: Option<String>,
    /// Raw DuckDB database holding the same table as `t`.
    raw_db: Option<PathBuf>,
}

impl Ctx<'_> {
    fn base_file(&mut self) -> Result<i64> {
        if let Some(id) = self.base_file {
            return Ok(id);
        }
        progress!("uploading the {}-row base file (untimed)", self.data.base_rows);
        let id = self.server.upload(&self.data.base, false)?;
        self.base_file = Some(id);
        Ok(id)
    }

    /// A fresh kbstack table loaded from the base file with primaryKey=id; its id and load time.
    fn kb_pk_table(&mut self, name: &str) -> Result<(String, Duration)> {
        let file = self.base_file()?;
        let (d, job) = timed(|| {
            self.server.run_job(
                &format!("buckets/{}/tables-async", self.bucket),
                json!({"name": name, "dataFileId": file, "primaryKey": "id"}),
                "tables-async (primaryKey=id)",
            )
        })?;
        let table_id = job["results"]["id"].as_str().map(str::to_string).unwrap_or_else(|| format!("{}.{name}", self.bucket));
        let rows = self.server.table_rows(&table_id)?;
        ensure!(rows == self.data.base_rows, "kbstack full load with PK: {rows} rows, expected {}", self.data.base_rows);
        Ok((table_id, d))
    }

    /// Replace the kept PK table (the previous one is dropped, untimed).
    fn keep_pk_table(&mut self, table_id: String) -> Result<()> {
        if let Some(old) = self.pk_table.replace(table_id) {
            self.server.delete(&format!("tables/{old}"))?;
        }
        Ok(())
    }
}

/// The header line of a generated CSV and its column names.
fn csv_header(path: &Path) -> Result<(String, Vec<String>)> {
    let mut line = String::new();
    BufReader::new(File::open(path)?).read_line(&mut line)?;
    let line = line.trim_end().to_string();
    let columns = line.split(',').map(|c| c.trim_matches('"').to_string()).collect();
    Ok((line, columns))
}

/// The kbstack side of the import phase on `c.server` (the embedded server, or the scale-out
/// stack's balancer): per run, the big CSV uploaded and imported into a fresh empty table.
fn kb_import_runs(c: &mut Ctx, label: &str, s: &mut ImportSamples) -> Result<()> {
    for run in 1..=c.args.runs {
        kb_import_run(c, label, run, s)?;
    }
    Ok(())
}

fn kb_import_run(c: &Ctx, label: &str, run: usize, s: &mut ImportSamples) -> Result<()> {
    let (args, data, server) = (c.args, c.data, c.server);
    let (header, _) = csv_header(&data.big)?;
    let header_file = c.work.join("header.csv");
    std::fs::write(&header_file, format!("{header}\n"))?;
    // Setup (untimed): an empty table with the file's columns.
    let name = format!("import_{run}");
    let empty = server.upload(&header_file, false)?;
    let job = server.run_job(&format!("buckets/{}/tables-async", c.bucket), json!({"name": name, "dataFileId": empty}), "tables-async (empty table)")?;
    let table_id = job["results"]["id"].as_str().map(str::to_string).unwrap_or_else(|| format!("{}.{name}", c.bucket));

    progress!("{label} run {run}/{}: kbstack (upload {:.0} MB + import-async)", args.runs, data.big_bytes as f64 / 1e6);
    let start = Instant::now();
    let (file_id, list_time) = server.upload_timed(&data.big, true)?;
    let uploaded = start.elapsed();
    s.blocklist.push(list_time);
    progress!("    uploaded in {:.1}s (Put Block List {:.1}s); import-async", uploaded.as_secs_f64(), list_time.as_secs_f64());
    server.run_job(&format!("tables/{table_id}/import-async"), json!({"dataFileId": file_id}), "import-async")?;
    let total = start.elapsed();
    s.total.push(total);
    s.upload.push(uploaded);
    s.job.push(total - uploaded);
    let rows = server.table_rows(&table_id)?;
    ensure!(rows == data.big_rows, "kbstack import: table has {rows} rows, expected {}", data.big_rows);
    progress!(
        "    kbstack import {:.1}s (upload {:.1}s, job {:.1}s), {rows} rows",
        total.as_secs_f64(),
        uploaded.as_secs_f64(),
        (total - uploaded).as_secs_f64()
    );
    // Keep the disk use flat: neither the table nor the file is needed any more (untimed).
    server.delete(&format!("tables/{table_id}"))?;
    let _ = server.delete(&format!("files/{file_id}"));
    Ok(())
}

fn phase_import(c: &mut Ctx, r: &mut Results) -> Result<()> {
    let (args, data) = (c.args, c.data);
    let (_, columns) = csv_header(&data.big)?;
    for run in 1..=args.runs {
        kb_import_run(c, "import", run, &mut r.kb_import)?;

        progress!("import run {run}/{}: raw DuckDB COPY FROM into an empty table", args.runs);
        let db = c.work.join("raw-import.duckdb");
        let conn = duck(&db)?;
        let defs: Vec<String> = columns.iter().map(|c| format!("\"{}\" VARCHAR", c.replace('"', "\"\""))).collect();
        conn.execute_batch(&format!("CREATE TABLE t ({})", defs.join(", ")))?;
        let (d, _) = timed(|| {
            conn.execute_batch(&format!("COPY t FROM {} (FORMAT csv, HEADER true)", lit(&data.big)))?;
            Ok(())
        })?;
        let rows = count(&conn, "t")?;
        ensure!(rows == data.big_rows, "raw import: {rows} rows, expected {}", data.big_rows);
        r.raw_import.push(d);
        progress!("    raw DuckDB import {:.1}s, {rows} rows", d.as_secs_f64());
        drop(conn);
        remove_db(&db);
    }
    Ok(())
}

/// The kbstack side of the incremental phase on `c.server` (the embedded server, or the
/// scale-out stack's balancer), per run.
fn kb_incremental_runs(c: &mut Ctx, label: &str, s: &mut IncrSamples) -> Result<()> {
    for run in 1..=c.args.runs {
        kb_incremental_run(c, label, run, s)?;
    }
    Ok(())
}

/// A fresh PK table loaded from the base file (setup, timed apart), then the delta uploaded and
/// loaded incrementally, end to end; the row count and a changed row are checked afterwards.
fn kb_incremental_run(c: &mut Ctx, label: &str, run: usize, s: &mut IncrSamples) -> Result<()> {
    let (args, data, server) = (c.args, c.data, c.server);
    let expected_rows = data.base_rows + data.delta_new;
    progress!("{label} run {run}/{}: kbstack full load of {} rows with primaryKey=id (setup)", args.runs, data.base_rows);
    let (table_id, d) = c.kb_pk_table(&format!("pk_{run}"))?;
    s.pk_full_load.push(d);
    c.keep_pk_table(table_id.clone())?;
    progress!("    full load with PK {:.1}s; incremental import-async of {} rows (upload + job)", d.as_secs_f64(), data.delta_rows);

    let start = Instant::now();
    let delta_file = server.upload(&data.delta, false)?;
    let uploaded = start.elapsed();
    let job = server.run_job(
        &format!("tables/{table_id}/import-async"),
        json!({"dataFileId": delta_file, "incremental": 1}),
        "import-async incremental",
    )?;
    let total = start.elapsed();
    s.total.push(total);
    s.upload.push(uploaded);
    s.job.push(total - uploaded);
    let rows = server.table_rows(&table_id)?;
    s.rows_after = rows;
    ensure!(rows == expected_rows, "kbstack incremental: {rows} rows afterwards, expected {expected_rows} (job results: {})", job["results"]);
    // Spot check: a changed key carries the new value.
    let (id, amount) = &data.changed_sample;
    let preview = server.get(&format!("tables/{table_id}/data-preview?format=json&whereColumn=id&whereValues={id}"))?;
    let got = preview["rows"][0].as_array().and_then(|cells| {
        cells.iter().find(|c| c["columnName"] == "amount").and_then(|c| c["value"].as_str()).map(str::to_string)
    });
    ensure!(got.as_deref() == Some(amount.as_str()), "kbstack incremental: id {id} has amount {got:?}, expected {amount}");
    progress!(
        "    kbstack incremental {:.1}s (upload {:.1}s, job {:.1}s), {rows} rows",
        total.as_secs_f64(),
        uploaded.as_secs_f64(),
        (total - uploaded).as_secs_f64()
    );
    let _ = server.delete(&format!("files/{delta_file}"));
    Ok(())
}

fn phase_incremental(c: &mut Ctx, r: &mut Results) -> Result<()> {
    let (args, data) = (c.args, c.data);
    let expected_rows = data.base_rows + data.delta_new;
    for run in 1..=args.runs {
        kb_incremental_run(c, "incremental", run, &mut r.kb_incr)?;

        // Raw DuckDB, formulation 1: PRIMARY KEY + INSERT OR REPLACE.
        progress!("incremental run {run}/{}: raw DuckDB INSERT OR REPLACE (PRIMARY KEY)", args.runs);
        let db = c.work.join("raw-replace.duckdb");
        let conn = duck(&db)?;
        let (d, _) = timed(|| {
            conn.execute_batch(&format!(
                "CREATE TABLE t (id VARCHAR PRIMARY KEY, name VARCHAR, city VARCHAR, comment VARCHAR, amount VARCHAR, quantity VARCHAR);
                 INSERT INTO t SELECT * FROM read_csv({}, all_varchar = true);",
                lit(&data.base)
            ))?;
            Ok(())
        })?;
        r.raw_pk_full_load.push(d);
        let (d, _) = timed(|| {
            conn.execute_batch(&format!("INSERT OR REPLACE INTO t SELECT * FROM read_csv({}, all_varchar = true)", lit(&data.delta)))?;
            Ok(())
        })?;
        let rows = count(&conn, "t")?;
        ensure!(rows == expected_rows, "raw INSERT OR REPLACE: {rows} rows, expected {expected_rows}");
        r.raw_incr_replace.push(d);
        progress!("    raw INSERT OR REPLACE {:.1}s, {rows} rows", d.as_secs_f64());
        drop(conn);
        remove_db(&db);

        // Formulation 2: kbstack's semantics without the server: no index, update only changed rows, insert new keys.
        progress!("incremental run {run}/{}: raw DuckDB UPDATE … FROM + INSERT … WHERE NOT EXISTS", args.runs);
        let db = c.work.join("raw-incremental.duckdb");
        c.raw_db = None;
        let conn = duck(&db)?;
        conn.execute_batch(&format!("CREATE TABLE t AS SELECT * FROM read_csv({}, all_varchar = true)", lit(&data.base)))?;
        let (d, updated) = timed(|| {
            conn.execute_batch(&format!(
                "BEGIN; CREATE TEMP TABLE s AS SELECT * FROM read_csv({}, all_varchar = true);",
                lit(&data.delta)
            ))?;
            let updated = conn.execute(
                "UPDATE t SET name = s.name, city = s.city, comment = s.comment, amount = s.amount, quantity = s.quantity
                 FROM s WHERE t.id = s.id AND (t.name IS DISTINCT FROM s.name OR t.city IS DISTINCT FROM s.city
                   OR t.comment IS DISTINCT FROM s.comment OR t.amount IS DISTINCT FROM s.amount
                   OR t.quantity IS DISTINCT FROM s.quantity)",
                [],
            )?;
            conn.execute_batch(
                "INSERT INTO t SELECT * FROM s WHERE NOT EXISTS (SELECT 1 FROM t WHERE t.id = s.id); DROP TABLE s; COMMIT;",
            )?;
            Ok(updated as u64)
        })?;
        let rows = count(&conn, "t")?;
        ensure!(rows == expected_rows, "raw UPDATE+INSERT: {rows} rows, expected {expected_rows}");
        ensure!(updated == data.delta_changed, "raw UPDATE changed {updated} rows, expected {}", data.delta_changed);
        r.raw_rows_after = rows;
        r.raw_incr_update.push(d);
        c.raw_db = Some(db);
        progress!("    raw UPDATE+INSERT {:.1}s ({updated} updated), {rows} rows", d.as_secs_f64());

        // Diagnostic (not the reference): kbstack's own load statements replayed in-process with the
        // server's DuckDB settings, statement by statement: shows which SQL step dominates and how
        // much of the kbstack time is outside the SQL (HTTP, job, metadata, row count).
        progress!("incremental run {run}/{}: replaying kbstack's load statements in raw DuckDB (diagnostic)", args.runs);
        replay_kbstack_incremental(c, r)?;
    }
    Ok(())
}

/// The server's `read_csv(...)` for an untyped table's file (src/backend/duckdb.rs `read_csv_sql`).
fn kbstack_read_csv(path: &Path) -> String {
    let columns: Vec<String> = HEADER.trim().split(',').map(|c| format!("'{c}': 'VARCHAR'")).collect();
    format!(
        "read_csv([{}], delim = ',', quote = '\"', escape = '\"', header = true, columns = {{{}}}, auto_detect = false, \
         compression = 'none', strict_mode = true, null_padding = false, max_line_size = 8388608)",
        lit(path),
        columns.join(", ")
    )
}

/// Replays `DuckDbBackend::load` for an incremental load with primary key `id` into an untyped
/// table (as of this bench's writing; a diagnostic, it may drift from the server's code).
fn replay_kbstack_incremental(c: &mut Ctx, r: &mut Results) -> Result<()> {
    let data = c.data;
    let db = c.work.join("raw-replay.duckdb");
    remove_db(&db);
    let conn = duckdb::Connection::open(&db)?;
    let memory = std::env::var("KBSTACK_DUCKDB_MEMORY_LIMIT").unwrap_or_else(|_| "600MB".into());
    conn.execute_batch(&format!(
        "SET memory_limit = '{memory}'; SET temp_directory = {}; SET preserve_insertion_order = false;",
        lit(&db.with_extension("tmp"))
    ))?;
    let cols: Vec<&str> = HEADER.trim().split(',').collect();
    let q = |c: &str| format!("\"{c}\"");
    let defs: Vec<String> = cols.iter().map(|c| format!("{} VARCHAR NOT NULL DEFAULT ''", q(c))).collect();
    let list: Vec<String> = cols.iter().map(|c| q(c)).collect();
    let values: Vec<String> = cols.iter().map(|c| format!("COALESCE({}, '')", q(c))).collect();
    let ts = |t: chrono::DateTime<chrono::Utc>| format!("TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S%.6f"));
    // Setup as a full load with the key does it.
    conn.execute_batch(&format!(
        "CREATE TABLE t ({}, \"_timestamp\" TIMESTAMP);
         INSERT INTO t ({}, \"_timestamp\") SELECT {}, {} FROM {} QUALIFY row_number() OVER (PARTITION BY \"id\") = 1;",
        defs.join(", "),
        list.join(", "),
        values.join(", "),
        ts(chrono::Utc::now()),
        kbstack_read_csv(&data.base)
    ))?;
    let now = ts(chrono::Utc::now());
    let staged: Vec<String> = cols.iter().map(|c| format!("COALESCE({}, '') AS {}", q(c), q(c))).collect();
    let non_pk: Vec<&&str> = cols.iter().filter(|c| **c != "id").collect();
    let sets: Vec<String> = non_pk.iter().map(|c| format!("{} = s.{}", q(c), q(c))).collect();
    let differs: Vec<String> = non_pk.iter().map(|c| format!("t.{} IS DISTINCT FROM s.{}", q(c), q(c))).collect();
    let s_cols: Vec<String> = cols.iter().map(|c| format!("s.{}", q(c))).collect();
    let start = Instant::now();
    let (stage, _) = timed(|| {
        conn.execute_batch(&format!(
            "BEGIN TRANSACTION; CREATE TEMP TABLE __kbstack_stage AS SELECT {} FROM {} QUALIFY row_number() OVER (PARTITION BY \"id\") = 1;",
            staged.join(", "),
            kbstack_read_csv(&data.delta)
        ))?;
        let _: i64 = conn.query_row("SELECT count(*) FROM __kbstack_stage", [], |r| r.get(0))?;
        Ok(())
    })?;
    let (update, updated) = timed(|| {
        Ok(conn.execute(
            &format!(
                "UPDATE t AS t SET {}, \"_timestamp\" = {now} FROM __kbstack_stage AS s WHERE t.\"id\" = s.\"id\" AND ({})",
                sets.join(", "),
                differs.join(" OR ")
            ),
            [],
        )?)
    })?;
    let (insert, _) = timed(|| {
        conn.execute_batch(&format!(
            "INSERT INTO t ({}, \"_timestamp\") SELECT {}, {now} FROM __kbstack_stage AS s \
             WHERE NOT EXISTS (SELECT 1 FROM t AS t WHERE t.\"id\" = s.\"id\"); DROP TABLE __kbstack_stage;",
            list.join(", "),
            s_cols.join(", ")
        ))?;
        Ok(())
    })?;
    let (commit, _) = timed(|| {
        conn.execute_batch("COMMIT;")?;
        Ok(())
    })?;
    let total = start.elapsed();
    let (count_time, rows) = timed(|| count(&conn, "t"))?;
    ensure!(rows == data.base_rows + data.delta_new, "replay: {rows} rows");
    ensure!(updated as u64 == data.delta_changed, "replay: UPDATE changed {updated} rows, expected {}", data.delta_changed);
    r.replay_stage.push(stage);
    r.replay_update.push(update);
    r.replay_insert.push(insert);
    r.replay_commit.push(commit);
    r.replay_total.push(total);
    r.replay_count.push(count_time);
    progress!(
        "    replay {:.1}s: stage+dedup {:.1}s, UPDATE {:.1}s, INSERT {:.1}s, COMMIT {:.1}s (then count(*) {:.2}s)",
        total.as_secs_f64(),
        stage.as_secs_f64(),
        update.as_secs_f64(),
        insert.as_secs_f64(),
        commit.as_secs_f64(),
        count_time.as_secs_f64()
    );
    drop(conn);
    remove_db(&db);
    Ok(())
}

fn phase_export(c: &mut Ctx, r: &mut Results) -> Result<()> {
    let (args, data, server) = (c.args, c.data, c.server);
    // Normally the incremental phase left both tables; if it failed, load the base table instead.
    if c.pk_table.is_none() {
        progress!("export: no table from the incremental phase; loading the base file into kbstack (setup)");
        let (table_id, _) = c.kb_pk_table("export_source")?;
        c.pk_table = Some(table_id);
    }
    if c.raw_db.is_none() {
        progress!("export: no raw table from the incremental phase; loading the base file into DuckDB (setup)");
        let db = c.work.join("raw-export-source.duckdb");
        let conn = duck(&db)?;
        conn.execute_batch(&format!("CREATE TABLE t AS SELECT * FROM read_csv({}, all_varchar = true)", lit(&data.base)))?;
        c.raw_db = Some(db);
    }
    let table = c.pk_table.clone().unwrap();
    let kb_rows = server.table_rows(&table)?;
    r.kb_rows_exported = kb_rows;
    let raw = duck_open(c.raw_db.as_ref().unwrap())?;
    r.raw_rows_exported = count(&raw, "t")?;
    for run in 1..=args.runs {
        progress!("export run {run}/{}: kbstack export-async gzip of {table} ({kb_rows} rows)", args.runs);
        let (d, job) = timed(|| server.run_job(&format!("tables/{table}/export-async"), json!({"gzip": 1}), "export-async"))?;
        r.kb_export.push(d);
        let file_id = job["results"]["file"]["id"].as_i64().ok_or_else(|| anyhow!("export: no results.file.id in {job}"))?;
        let file = server.get(&format!("files/{file_id}"))?;
        r.kb_export_bytes = file["sizeBytes"].as_u64().unwrap_or(0);
        ensure!(r.kb_export_bytes > 0, "export: file {file_id} has no size: {file}");
        progress!("    kbstack export {:.1}s, {:.0} MB", d.as_secs_f64(), r.kb_export_bytes as f64 / 1e6);
        let _ = server.delete(&format!("files/{file_id}"));

        progress!("export run {run}/{}: raw DuckDB COPY TO csv.gz", args.runs);
        let out = c.work.join("raw-export.csv.gz");
        let _ = std::fs::remove_file(&out);
        let (d, _) = timed(|| {
            raw.execute_batch(&format!("COPY (SELECT * FROM t) TO {} (FORMAT csv, COMPRESSION gzip)", lit(&out)))?;
            Ok(())
        })?;
        r.raw_export.push(d);
        r.raw_export_bytes = std::fs::metadata(&out)?.len();
        progress!("    raw DuckDB export {:.1}s, {:.0} MB", d.as_secs_f64(), r.raw_export_bytes as f64 / 1e6);
        let _ = std::fs::remove_file(&out);
    }
    Ok(())
}

/// Run every phase; a failing phase is recorded (with its error) and the next one still runs.
fn run(args: &Args, work: &Path, bin: &Path) -> Result<(DataSet, Results)> {
    let data = if args.phases.iter().any(|p| TABLE_PHASES.contains(&p.as_str())) { generate(work, args.scale)? } else { DataSet::default() };
    let mut r = Results::default();

    let data_dir = work.join("kbstack-data");
    std::fs::create_dir_all(&data_dir)?;
    progress!("starting {}", bin.display());
    let server = Server::start(bin, &data_dir)?;
    progress!("kbstack listening on {}", server.url);
    server.post("buckets", json!({"name": "bench", "stage": "in"}))?;
    let mut c = Ctx { args, work, data: &data, server: &server, bucket: "in.c-bench", base_file: None, pk_table: None, raw_db: None };
    r.load_before = loadavg();
    let ticks_before = tree_cpu_ticks();
    let watch = CpuWatch::start();

    type Phase = fn(&mut Ctx, &mut Results) -> Result<()>;
    let phases: [(&'static str, Phase); 7] = [
        ("import", phase_import),
        ("incremental", phase_incremental),
        ("export", phase_export),
        ("queue", |c, r| queue::phase(c.server, c.args.runs, r)),
        ("load", |c, r| load::phase(c.server, c.work, c.args.load_seconds, r)),
        ("query", |c, r| query::phase(c.server, r)),
        ("stream", |c, r| stream::phase(c.server, c.work, c.args.stream_seconds, r)),
    ];
    for (name, phase) in phases {
        if !args.phases.iter().any(|p| p == name) {
            continue;
        }
        if let Err(e) = phase(&mut c, &mut r) {
            let msg = format!("{e:#}");
            progress!("PHASE {name} FAILED: {msg}");
            r.failures.push((name, msg));
        }
        match server.vm_hwm() {
            Some(b) => r.hwm_after.push((name, b)),
            None => progress!("server process is gone after phase {name}"),
        }
    }
    scaleout_phases(&mut c, &mut r, bin);
    let ticks_after = tree_cpu_ticks();
    r.others_cpu = watch.others_share(ticks_after.saturating_sub(ticks_before));
    r.load_after = loadavg();
    r.get_errors.splice(0..0, server.get_errors.borrow().iter().cloned());
    r.bench_hwm = proc_status_kib(std::process::id(), "VmHWM").unwrap_or(0) * 1024;
    Ok((data, r))
}

/// The `scaleout-*` phases, after the embedded ones: the same kbstack work as the import and
/// incremental phases through the balancer of a three-node stack (started for them, stopped after).
fn scaleout_phases(c: &mut Ctx, r: &mut Results, bin: &Path) {
    let wanted: Vec<&'static str> = SCALEOUT_PHASES.into_iter().filter(|name| c.args.phases.iter().any(|p| p == name)).collect();
    if wanted.is_empty() {
        return;
    }
    progress!("starting the scale-out stack: {} nodes on PostgreSQL, DuckLake and S3 behind nginx", scaleout::NODES);
    let stack = match scaleout::start(bin, c.work).and_then(|s| {
        s.post("buckets", json!({"name": "bench", "stage": "in"}))?;
        Ok(s)
    }) {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("starting the scale-out stack: {e:#}");
            progress!("SCALE-OUT FAILED: {msg}");
            r.failures.extend(wanted.iter().map(|name| (*name, msg.clone())));
            return;
        }
    };
    progress!("scale-out stack listening on {}", stack.url);
    let mut sc = Ctx { args: c.args, work: c.work, data: c.data, server: &stack, bucket: c.bucket, base_file: None, pk_table: None, raw_db: None };
    for name in wanted {
        let result = match name {
            "scaleout-import" => kb_import_runs(&mut sc, name, &mut r.so_import),
            _ => kb_incremental_runs(&mut sc, name, &mut r.so_incr),
        };
        if let Err(e) = result {
            let msg = format!("{e:#}");
            progress!("PHASE {name} FAILED: {msg}");
            r.failures.push((name, msg));
        }
    }
    r.so_node_hwms = scaleout::node_hwms(&stack);
    r.so_block_spread = scaleout::block_spread(&stack);
    r.get_errors.extend(stack.get_errors.borrow().iter().map(|e| format!("(scale-out) {e}")));
    progress!("stopping the scale-out stack");
    drop(sc);
    drop(stack);
    scaleout::remove_server_dirs();
}

// ---------------------------------------------------------------- report

fn machine() -> (String, usize, f64) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem_kib = proc_meminfo_kib("MemTotal").unwrap_or(0);
    (cpu, cores, mem_kib as f64 / 1024.0 / 1024.0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

fn proc_meminfo_kib(key: &str) -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    info.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse().ok())
}

fn secs(s: f64) -> String {
    format!("{s:.2} s")
}

fn mb(b: u64) -> String {
    format!("{:.0} MB", b as f64 / 1e6)
}

fn report(args: &Args, data: &DataSet, r: &Results) -> (String, String) {
    let (cpu, cores, ram) = machine();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    // Settings that reach the server through the environment are part of the command.
    let env: Vec<String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("KBSTACK_") && !SERVER_ENV_SET_BY_BENCH.contains(&k.as_str()) && !BENCH_ONLY_ENV.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v} "))
        .collect();
    let command = format!(
        "{}{}",
        env.concat(),
        args.command.clone().unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" "))
    );
    let key = format!("{cpu} / {cores} cores / {command}");
    let failed = |phase: &str| r.failures.iter().any(|(p, _)| *p == phase);
    let med = |x: &Samples| if x.0.is_empty() { "–".to_string() } else { secs(x.median()) };
    let ratio_row = |phase: &str, name: &str, kb: &Samples, raw: f64, raw_text: String, target: f64| {
        if !args.phases.iter().any(|p| p == phase) {
            return format!("| {name} | – | – | – | ≤ {target}× | not run |\n");
        }
        if failed(phase) || kb.0.is_empty() {
            return format!("| {name} | {} | {raw_text} | – | ≤ {target}× | **no: failed** (below) |\n", med(kb));
        }
        if raw.is_nan() {
            // A scale-out phase run without its embedded phase, which measures the raw reference.
            return format!("| {name} | {} | – | – | ≤ {target}× | no reference (run the embedded phase too) |\n", med(kb));
        }
        let ratio = kb.median() / raw;
        format!(
            "| {name} | {} | {raw_text} | {ratio:.2}× | ≤ {target}× | {} |\n",
            med(kb),
            if ratio <= target { "yes" } else { "**no**" }
        )
    };
    let (rep, upd) = (r.raw_incr_replace.median(), r.raw_incr_update.median());
    let (raw_incr, raw_incr_which) = match (rep.is_nan(), upd.is_nan()) {
        (false, false) if rep <= upd => (rep, "INSERT OR REPLACE"),
        (false, _) if upd.is_nan() => (rep, "INSERT OR REPLACE"),
        (_, false) => (upd, "UPDATE+INSERT"),
        _ => (f64::NAN, "–"),
    };
    let hwm = r.hwm_after.iter().map(|(_, b)| *b).max().unwrap_or(0);
    let scaled_out = |what: String| format!("{what} (end to end; scale-out: {} nodes behind nginx)", scaleout::NODES);

    let mut s = String::new();
    s.push_str(&format!("### {date} · scale {} · runs: {}\n\n", args.scale, args.runs));
    s.push_str(&format!("- Command: `{command}`\n"));
    s.push_str(&format!("- Machine: {cpu}, {cores} cores, {ram:.1} GiB RAM\n"));
    if let Some(rev) = &args.rev {
        s.push_str(&format!("- kbstack revision: `{rev}`\n"));
    }
    s.push_str(&format!(
        "- Other load during the phases: {} of the machine's CPU time went to processes other than the bench and those it started (server, scale-out stack; other jobs, kernel threads such as disk writeback); load average {} before, {} after{}\n",
        r.others_cpu.map(|x| format!("{:.0}%", x * 100.0)).unwrap_or_else(|| "unknown".into()),
        r.load_before,
        r.load_after,
        if r.others_cpu.is_some_and(|x| x > 0.10) { " — **the figures are disturbed by concurrent work**" } else { "" }
    ));
    if data.big_rows > 0 {
        s.push_str(&format!(
        "- Data: import CSV {} ({} rows, 6 columns); base table {} rows ({}); incremental file {} rows ({}: {} changed, {} new, {} unchanged)\n",
        mb(data.big_bytes),
        data.big_rows,
        data.base_rows,
        mb(data.base_bytes),
        data.delta_rows,
        mb(data.delta_bytes),
        data.delta_changed,
        data.delta_new,
        data.delta_rows - data.delta_changed - data.delta_new
    ));
    }
    s.push_str(&queue_line(args, r));
    s.push_str("\n| phase | kbstack median | raw DuckDB median | ratio | target | met? |\n|---|---:|---:|---:|---:|---|\n");
    s.push_str(&ratio_row(
        "import",
        &if data.big_rows > 0 { format!("import {} CSV into an empty table (end to end)", mb(data.big_bytes)) } else { "import a CSV into an empty table (end to end)".into() },
        &r.kb_import.total,
        r.raw_import.median(),
        med(&r.raw_import),
        1.5,
    ));
    s.push_str(&ratio_row(
        "scaleout-import",
        &scaled_out(if data.big_rows > 0 { format!("import {} CSV into an empty table", mb(data.big_bytes)) } else { "import a CSV into an empty table".into() }),
        &r.so_import.total,
        r.raw_import.median(),
        med(&r.raw_import),
        1.5,
    ));
    s.push_str(&ratio_row(
        "incremental",
        &if data.big_rows > 0 {
            format!("incremental PK load, {} rows into {} (end to end)", data.delta_rows, data.base_rows)
        } else {
            "incremental PK load (end to end)".into()
        },
        &r.kb_incr.total,
        raw_incr,
        if raw_incr.is_nan() { "–".into() } else { format!("{} ({raw_incr_which})", secs(raw_incr)) },
        2.0,
    ));
    s.push_str(&ratio_row(
        "scaleout-incremental",
        &scaled_out(if data.big_rows > 0 {
            format!("incremental PK load, {} rows into {}", data.delta_rows, data.base_rows)
        } else {
            "incremental PK load".into()
        }),
        &r.so_incr.total,
        raw_incr,
        if raw_incr.is_nan() { "–".into() } else { format!("{} ({raw_incr_which})", secs(raw_incr)) },
        2.0,
    ));
    s.push_str(&ratio_row(
        "export",
        &if r.kb_rows_exported > 0 {
            format!("export {} rows to gzipped CSV", r.kb_rows_exported)
        } else {
            "export the PK table to gzipped CSV".to_string()
        },
        &r.kb_export,
        r.raw_export.median(),
        med(&r.raw_export),
        1.5,
    ));
    s.push_str(&queue_rows(args, r));
    s.push_str(&format!(
        "| peak server RSS (VmHWM) | {} | – | – | < 1 GB | {} |\n\n",
        if hwm > 0 { mb(hwm) } else { "–".into() },
        if hwm > 0 && hwm < RSS_TARGET_BYTES { "yes" } else { "**no**" }
    ));
    if !r.so_node_hwms.is_empty() {
        // The table ended with the line above; this row belongs to it.
        s.truncate(s.len() - 1);
        let each: Vec<String> = r.so_node_hwms.iter().map(|b| b.map_or("gone".to_string(), mb)).collect();
        let all_below = r.so_node_hwms.iter().all(|b| b.is_some_and(|b| b < RSS_TARGET_BYTES));
        s.push_str(&format!(
            "| peak RSS of each scale-out node (VmHWM; node 1 also serves the pinned paths) | {} | – | – | < 1 GB | {} |\n\n",
            each.join(" / "),
            if all_below { "yes" } else { "**no**" }
        ));
    }
    if !r.load.rows.is_empty() {
        s.push_str(&load::report_rows(&r.load.rows));
    }
    if !r.query.rows.is_empty() {
        s.push_str(&query::report_rows(&r.query.rows));
    }
    if !r.stream.rows.is_empty() {
        s.push_str(&stream::report_rows(&r.stream.rows));
    }
    if !r.get_errors.is_empty() {
        s.push_str(&format!(
            "Transport errors on GET requests to the server, each retried after 100 ms ({}): `{}`\n\n",
            r.get_errors.len(),
            r.get_errors.join("`, `").replace('\n', " ")
        ));
    }
    if !r.failures.is_empty() {
        s.push_str("Failed phases (the bench went on with the next phase):\n\n");
        for (phase, msg) in &r.failures {
            s.push_str(&format!("- {phase}: `{}`\n", msg.replace('`', "'").replace('\n', " ")));
        }
        s.push('\n');
    }
    s.push_str("<details><summary>Breakdown (seconds; median, then every run)</summary>\n\n| step | median | runs |\n|---|---:|---|\n");
    let mut row = |step: &str, x: &Samples| {
        if !x.0.is_empty() {
            s.push_str(&format!("| {step} | {:.2} | {} |\n", x.median(), x.runs()))
        }
    };
    row("kbstack import: files/prepare + Put Block ×16 MiB + Put Block List", &r.kb_import.upload);
    row("kbstack import: of which Put Block List (server assembles the blob)", &r.kb_import.blocklist);
    row("kbstack import: import-async job (POST → success)", &r.kb_import.job);
    row("scale-out import: files/prepare + Put Block ×16 MiB + Put Block List (blocks round robin over the nodes)", &r.so_import.upload);
    row("scale-out import: of which Put Block List", &r.so_import.blocklist);
    row("scale-out import: import-async job (POST → success)", &r.so_import.job);
    row("raw DuckDB import: COPY t FROM csv (empty VARCHAR table)", &r.raw_import);
    row("kbstack setup: full load of the base file with primaryKey=id (tables-async)", &r.kb_incr.pk_full_load);
    row("kbstack incremental: upload", &r.kb_incr.upload);
    row("kbstack incremental: import-async job (POST → success)", &r.kb_incr.job);
    row("scale-out setup: full load of the base file with primaryKey=id (tables-async)", &r.so_incr.pk_full_load);
    row("scale-out incremental: upload", &r.so_incr.upload);
    row("scale-out incremental: import-async job (POST → success)", &r.so_incr.job);
    row("raw DuckDB setup: CREATE TABLE (id PRIMARY KEY) + INSERT of the base file", &r.raw_pk_full_load);
    row("raw DuckDB incremental: INSERT OR REPLACE (PRIMARY KEY index)", &r.raw_incr_replace);
    row("raw DuckDB incremental: stage + UPDATE … FROM (changed rows only) + INSERT … WHERE NOT EXISTS (no index)", &r.raw_incr_update);
    row("diagnostic: kbstack's incremental load statements replayed in-process (server settings), total", &r.replay_total);
    row("… stage: CREATE TEMP TABLE AS read_csv + QUALIFY row_number() dedup, count(*)", &r.replay_stage);
    row("… UPDATE … FROM stage WHERE a value differs (sets _timestamp)", &r.replay_update);
    row("… INSERT … WHERE NOT EXISTS, DROP stage", &r.replay_insert);
    row("… COMMIT", &r.replay_commit);
    row("… (after the load) SELECT count(*) as the server does for rowsCount", &r.replay_count);
    row("kbstack export: export-async gzip (POST → success)", &r.kb_export);
    row("raw DuckDB export: COPY (SELECT * FROM t) TO csv.gz", &r.raw_export);
    row("queue: submitting the burst (POSTs from 4 clients)", &r.queue.submit);
    s.push('\n');
    let mut notes = Vec::new();
    if r.kb_incr.rows_after > 0 || r.raw_rows_after > 0 || r.so_incr.rows_after > 0 {
        notes.push(format!(
            "Rows after the incremental load: kbstack {}, scale-out {}, raw {}.",
            r.kb_incr.rows_after, r.so_incr.rows_after, r.raw_rows_after
        ));
    }
    if !r.so_block_spread.is_empty() {
        notes.push(format!("Scale-out Put Block requests per node, all uploads of the scale-out phases (nginx's access log): {}.", r.so_block_spread));
    }
    if r.kb_rows_exported > 0 || r.raw_rows_exported > 0 {
        notes.push(format!(
            "Rows exported: kbstack {}, raw {}; gzipped sizes: kbstack {}, raw {}.",
            r.kb_rows_exported,
            r.raw_rows_exported,
            mb(r.kb_export_bytes),
            mb(r.raw_export_bytes)
        ));
    }
    notes.push(format!(
        "Server VmHWM after each phase: {}. Bench process VmHWM (raw DuckDB runs in it): {}.",
        r.hwm_after.iter().map(|(p, b)| format!("{p} {}", mb(*b))).collect::<Vec<_>>().join(", "),
        mb(r.bench_hwm)
    ));
    s.push_str(&format!("{}\n\n</details>\n", notes.join(" ")));
    (key, s)
}

fn queue_line(args: &Args, r: &Results) -> String {
    if !args.phases.iter().any(|p| p == "queue") {
        return String::new();
    }
    format!(
        "- Queue: {} `keboola.runner-config-test` jobs (empty parameters) per measurement; queue workers: {}\n",
        queue::JOBS,
        r.queue.workers.as_deref().unwrap_or("–")
    )
}

/// Queue rows of the phase table: no raw counterpart, targets are absolute.
fn queue_rows(args: &Args, r: &Results) -> String {
    let q = &r.queue;
    let ran = args.phases.iter().any(|p| p == "queue");
    let failed = r.failures.iter().any(|(p, _)| *p == "queue");
    let verdict = |value: Option<f64>, ok: &dyn Fn(f64) -> bool| match value {
        _ if !ran => "not run".to_string(),
        _ if failed => "**no: failed** (below)".to_string(),
        Some(v) if ok(v) => "yes".to_string(),
        Some(_) => "**no**".to_string(),
        None => "–".to_string(),
    };
    let ms = |x: &Samples| if x.0.is_empty() { "–".to_string() } else { format!("{:.1} ms", x.median() * 1e3) };
    let p50 = (!q.p50.0.is_empty()).then(|| q.p50.median());
    let mut rates = q.jobs_per_s.clone();
    rates.sort_by(f64::total_cmp);
    let rate = (!rates.is_empty()).then(|| rates[rates.len() / 2]);
    let jobs = queue::JOBS;
    format!(
        "| queue: {jobs} trivial jobs one at a time, create→finished p50 | {} | – | – | < 50 ms | {} |\n\
         | queue: same, p99 (max {}) | {} | – | – | – | – |\n\
         | queue: {jobs} trivial jobs submitted at once, throughput | {} | – | – | ≥ 50 jobs/s | {} |\n",
        ms(&q.p50),
        verdict(p50, &|v| v < 0.050),
        ms(&q.max),
        ms(&q.p99),
        rate.map_or("–".to_string(), |v| format!("{v:.0} jobs/s")),
        verdict(rate, &|v| v >= 50.0),
    )
}

const RESULTS_MARKER: &str = "<!-- bench results: newest first; ./bench/run inserts a section, or replaces the one with the same machine and command -->";

fn record(path: &Path, key: &str, section: &str) -> Result<()> {
    let mut doc = std::fs::read_to_string(path).unwrap_or_default();
    if !doc.contains(RESULTS_MARKER) {
        if doc.is_empty() {
            doc.push_str("# Benchmarks\n\n");
        }
        doc.push_str(&format!("\n## Results\n\n{RESULTS_MARKER}\n"));
    }
    let key = key.replace("--", "-");
    let begin = format!("<!-- bench-run: {key} -->");
    let end = "<!-- /bench-run -->";
    let block = format!("{begin}\n{section}{end}\n");
    if let Some(start) = doc.find(&begin) {
        let stop = doc[start..].find(end).map(|i| start + i + end.len()).ok_or_else(|| anyhow!("unterminated section in {}", path.display()))?;
        let stop = if doc[stop..].starts_with('\n') { stop + 1 } else { stop };
        doc.replace_range(start..stop, &block);
    } else {
        let at = doc.find(RESULTS_MARKER).unwrap() + RESULTS_MARKER.len();
        doc.insert_str(at, &format!("\n\n{block}"));
        let at = at + 2 + block.len();
        // keep exactly one blank line after the inserted block
        while doc[at..].starts_with("\n\n") {
            doc.remove(at);
        }
        if !doc[at..].is_empty() && !doc[at..].starts_with('\n') {
            doc.insert(at, '\n');
        }
    }
    let doc = format!("{}\n", doc.trim_end());
    std::fs::write(path, doc)?;
    Ok(())
}

fn main() -> Result<()> {
    t0();
    // reqwest comes with rustls but no crypto provider of its own (ring only, as in the server): the process's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    ensure!(args.scale > 0.0, "--scale must be positive");
    ensure!(args.runs >= 1, "--runs must be at least 1");
    for p in &args.phases {
        ensure!(TABLE_PHASES.contains(&p.as_str()) || ["queue", "load", "query", "stream"].contains(&p.as_str()), "unknown phase {p}");
    }
    let bin = match &args.kbstack {
        Some(p) => p.clone(),
        None => {
            let exe = std::env::current_exe()?;
            exe.parent().and_then(Path::parent).map(|d| d.join("kbstack")).ok_or_else(|| anyhow!("cannot locate kbstack"))?
        }
    };
    let work = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            tempfile::tempdir_in(dir)?
        }
        None => tempfile::tempdir()?,
    };
    progress!("work dir {} (removed at the end)", work.path().display());
    let (data, results) = run(&args, work.path(), &bin)?;
    let (key, section) = report(&args, &data, &results);
    println!("{section}");
    if let Some(path) = &args.record {
        record(path, &key, &section)?;
        progress!("recorded in {}", path.display());
    }
    if !results.failures.is_empty() {
        bail!("{} phase(s) failed: {}", results.failures.len(), results.failures.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", "));
    }
    Ok(())
}
