//! Queue phase: trivial jobs (`keboola.runner-config-test` with empty parameters: the whole runner
//! path — job row, data folder, `config.json`, events, status changes — and no data) through the
//! Queue API of the same server. Per run, two measurements:
//!
//! - latency: `JOBS` jobs created one after another by one client, each polled every millisecond
//!   until it is finished; create→finished as the client sees it (POST sent → first GET showing a
//!   finished status), p50 / p99 / max;
//! - throughput: `JOBS` jobs submitted at once by `CLIENTS` client threads, then waited for; jobs/s
//!   from the first POST to the moment no job is left unfinished.
//!
//! Every job must end in `success`: any other end fails the phase.
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail, ensure};
use serde_json::{Value, json};

use super::{Results, Samples, Server, TOKEN, percentile, t0};

pub const JOBS: usize = 1000;
const CLIENTS: usize = 4;
const POLL: Duration = Duration::from_millis(1);
const UNFINISHED: &str = "status[]=created&status[]=waiting&status[]=processing&status[]=terminating";

#[derive(Default)]
pub struct QueueResults {
    /// Latency percentiles of each run (seconds).
    pub p50: Samples,
    pub p99: Samples,
    pub max: Samples,
    /// Jobs per second of each burst.
    pub jobs_per_s: Vec<f64>,
    /// How long submitting each burst took (the POSTs alone).
    pub submit: Samples,
    pub workers: Option<String>,
}

/// A blocking client for the Queue API; cloneable into threads (the `Server` is not `Sync`).
#[derive(Clone)]
struct QueueClient {
    base: String,
    http: reqwest::blocking::Client,
}

impl QueueClient {
    fn send(&self, req: reqwest::blocking::RequestBuilder, what: &str) -> Result<Value> {
        let resp = req.header("X-StorageApi-Token", TOKEN).send()?;
        let status = resp.status().as_u16();
        let text = resp.text()?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        ensure!((200..300).contains(&status), "{what}: HTTP {status}: {body}");
        Ok(body)
    }

    fn create(&self) -> Result<i64> {
        let body = json!({"component": "keboola.runner-config-test", "mode": "run", "configData": {"parameters": {}}});
        let job = self.send(self.http.post(format!("{}/jobs", self.base)).json(&body), "POST /queue/jobs")?;
        job["id"].as_str().and_then(|s| s.parse().ok()).or_else(|| job["id"].as_i64()).ok_or_else(|| anyhow!("no job id in {job}"))
    }

    fn get(&self, path: &str) -> Result<Value> {
        self.send(self.http.get(format!("{}/{path}", self.base)), &format!("GET /queue/{path}"))
    }
}

/// One job at a time: create, poll until finished.
fn latency_run(q: &QueueClient) -> Result<Vec<f64>> {
    let mut took = Vec::with_capacity(JOBS);
    for i in 0..JOBS {
        let start = Instant::now();
        let id = q.create()?;
        loop {
            let job = q.get(&format!("jobs/{id}"))?;
            if job["isFinished"].as_bool() == Some(true) {
                ensure!(job["status"] == "success", "job {id} ended {}: {}", job["status"], job["result"]);
                break;
            }
            ensure!(start.elapsed() < Duration::from_secs(60), "job {id} not finished after 60 s: {}", job["status"]);
            std::thread::sleep(POLL);
        }
        took.push(start.elapsed().as_secs_f64());
        if (i + 1) % 250 == 0 {
            progress!("    latency: {}/{JOBS} jobs", i + 1);
        }
    }
    took.sort_by(f64::total_cmp);
    Ok(took)
}

/// `JOBS` jobs submitted at once from `CLIENTS` threads; (submit time, total time).
fn burst_run(q: &QueueClient) -> Result<(Duration, Duration)> {
    let start = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|t| {
            let q = q.clone();
            std::thread::spawn(move || -> Result<()> {
                for _ in (t..JOBS).step_by(CLIENTS) {
                    q.create()?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| anyhow!("submit thread panicked"))??;
    }
    let submitted = start.elapsed();
    loop {
        let left = q.get(&format!("search/jobs?{UNFINISHED}&limit=1"))?;
        if left.as_array().is_some_and(|a| a.is_empty()) {
            break;
        }
        ensure!(start.elapsed() < Duration::from_secs(600), "jobs still unfinished after 600 s");
        std::thread::sleep(POLL * 5);
    }
    Ok((submitted, start.elapsed()))
}

/// Every job the server knows ended in success (the phase creates all of them).
fn all_succeeded(q: &QueueClient, expected: usize) -> Result<()> {
    let failed = q.get("search/jobs?status[]=error&status[]=warning&status[]=cancelled&status[]=terminated&limit=5")?;
    if let Some(first) = failed.as_array().and_then(|a| a.first()) {
        bail!("a job did not succeed: {} {}: {}", first["id"], first["status"], first["result"]);
    }
    let mut seen = 0;
    loop {
        let page = q.get(&format!("search/jobs?status=success&limit=500&offset={seen}"))?;
        let n = page.as_array().map_or(0, Vec::len);
        seen += n;
        if n < 500 {
            break;
        }
    }
    ensure!(seen == expected, "{seen} successful jobs, expected {expected}");
    Ok(())
}

pub fn phase(server: &Server, runs: usize, r: &mut Results) -> Result<()> {
    let q = QueueClient { base: format!("{}/queue", server.url), http: server.client.clone() };
    r.queue.workers = Some(std::env::var("KBSTACK_QUEUE_WORKERS").unwrap_or_else(|_| "default (4)".into()));
    let mut done = 0;
    for run in 1..=runs {
        progress!("queue run {run}/{runs}: {JOBS} trivial jobs one at a time");
        let took = latency_run(&q)?;
        let (p50, p99, max) = (percentile(&took, 50.0), percentile(&took, 99.0), percentile(&took, 100.0));
        progress!("    p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", p50 * 1e3, p99 * 1e3, max * 1e3);
        r.queue.p50.0.push(p50);
        r.queue.p99.0.push(p99);
        r.queue.max.0.push(max);

        progress!("queue run {run}/{runs}: {JOBS} trivial jobs at once from {CLIENTS} clients");
        let (submitted, total) = burst_run(&q)?;
        let rate = JOBS as f64 / total.as_secs_f64();
        progress!("    submitted in {:.2} s, all finished after {:.2} s: {rate:.0} jobs/s", submitted.as_secs_f64(), total.as_secs_f64());
        r.queue.submit.push(submitted);
        r.queue.jobs_per_s.push(rate);
        done += 2 * JOBS;
        all_succeeded(&q, done)?;
    }
    Ok(())
}
