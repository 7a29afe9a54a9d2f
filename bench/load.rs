//! Load phase: many concurrent keep-alive clients (`wrk`, from Debian) against cheap, frequent
//! calls of the same server — `tokens/verify` (every client's first call), the index and a small
//! `data-preview` — and, as the practical limit, a route that reaches the same HTTP stack and
//! middleware but does no store work (an unknown route: 404 envelope). Requests/s, p50/p99 and
//! errors (socket errors and non-2xx answers; the limit row expects its 404s).
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use serde_json::json;

use super::{Server, TOKEN, t0};

/// wrk settings: threads (one per core of this 2-core machine class) and open connections.
const THREADS: usize = 2;
const CONNECTIONS: usize = 32;

#[derive(Clone, Debug, Default)]
pub struct LoadRow {
    pub name: String,
    pub req_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    pub requests: u64,
    pub seconds: u64,
    /// (min req/s, max p99 ms) when the route has a target.
    pub target: Option<(f64, f64)>,
}

#[derive(Default)]
pub struct LoadResults {
    pub rows: Vec<LoadRow>,
}

/// `93.14ms`, `1.02s`, `640.00us` → milliseconds.
fn millis(text: &str) -> Option<f64> {
    let (num, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic())?);
    let v: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => v / 1e3,
        "ms" => v,
        "s" => v * 1e3,
        "m" => v * 60e3,
        _ => return None,
    })
}

fn parse_wrk(out: &str) -> Result<(f64, f64, f64, u64, u64)> {
    let mut rate = None;
    let (mut p50, mut p99) = (None, None);
    let (mut errors, mut requests) = (0, 0);
    for line in out.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", v] => rate = v.parse().ok(),
            ["50%", v] => p50 = millis(v),
            ["99%", v] => p99 = millis(v),
            ["Non-2xx", "or", "3xx", "responses:", n] => errors += n.parse::<u64>().unwrap_or(0),
            [n, "requests", "in", ..] => requests = n.parse().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                errors += rest.iter().filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok()).sum::<u64>()
            }
            _ => {}
        }
    }
    match (rate, p50, p99) {
        (Some(r), Some(a), Some(b)) => Ok((r, a, b, errors, requests)),
        _ => bail!("cannot read wrk's output:\n{out}"),
    }
}

fn wrk(url: &str, seconds: u64) -> Result<String> {
    let out = Command::new("wrk")
        .args(["-t", &THREADS.to_string(), "-c", &CONNECTIONS.to_string(), "-d", &format!("{seconds}s"), "--latency"])
        .args(["-H", &format!("X-StorageApi-Token: {TOKEN}"), url])
        .output()
        .context("running wrk (Debian package `wrk`; bench/run installs it when it can)")?;
    ensure!(out.status.success(), "wrk failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn phase(server: &Server, work: &Path, seconds: u64, r: &mut super::Results) -> Result<()> {
    // A small table for data-preview: 10 rows.
    let csv = work.join("load-preview.csv");
    std::fs::write(&csv, "id,name\n1,a\n2,b\n3,c\n4,d\n5,e\n6,f\n7,g\n8,h\n9,i\n10,j\n")?;
    let file_id = server.upload(&csv, false)?;
    let table = server.run_job(
        "buckets/in.c-bench/tables-async",
        json!({"name": "load_preview", "dataFileId": file_id}),
        "create the preview table",
    )?;
    let table_id = table["results"]["id"].as_str().unwrap_or("in.c-bench.load_preview").to_string();
    let api = format!("{}/v2/storage", server.url);
    let routes: [(&str, String, u64, Option<(f64, f64)>, bool); 4] = [
        ("GET tokens/verify", format!("{api}/tokens/verify"), seconds, Some((20_000.0, 5.0)), false),
        ("GET index (/v2/storage?exclude=components)", format!("{api}?exclude=components"), seconds / 3, None, false),
        ("GET data-preview of a 10-row table", format!("{api}/tables/{table_id}/data-preview"), seconds / 3, None, false),
        ("limit: unknown route (404 envelope, no store work)", format!("{}/no-such-route", server.url), seconds / 3, None, true),
    ];
    for (name, url, secs, target, expect_404) in routes {
        let secs = secs.max(5);
        progress!("load: {name}, {secs} s, {CONNECTIONS} connections");
        let (req_per_s, p50_ms, p99_ms, mut errors, requests) = parse_wrk(&wrk(&url, secs)?)?;
        if expect_404 {
            // Its answers are all 404 by design: only socket errors count.
            errors = errors.saturating_sub(requests);
        }
        progress!("    {req_per_s:.0} req/s, p50 {p50_ms:.2} ms, p99 {p99_ms:.2} ms, {errors} errors");
        r.load.rows.push(LoadRow { name: name.into(), req_per_s, p50_ms, p99_ms, errors, requests, seconds: secs, target });
    }
    Ok(())
}

/// Rows of the load table in the report.
pub fn report_rows(rows: &[LoadRow]) -> String {
    let mut s = String::from(
        "| load (wrk, 2 threads, 32 connections) | req/s | p50 | p99 | errors / requests | target | met? |\n|---|---:|---:|---:|---:|---|---|\n",
    );
    for row in rows {
        let (target, met) = match row.target {
            Some((rate, p99)) => (
                format!("≥ {rate:.0} req/s, p99 < {p99} ms, 0 errors"),
                if row.req_per_s >= rate && row.p99_ms < p99 && row.errors == 0 { "yes" } else { "**no**" },
            ),
            None => ("–".to_string(), "–"),
        };
        s.push_str(&format!(
            "| {} ({} s) | {:.0} | {:.2} ms | {:.2} ms | {} / {} | {target} | {met} |\n",
            row.name, row.seconds, row.req_per_s, row.p50_ms, row.p99_ms, row.errors, row.requests
        ));
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let out = "Running 10s test @ http://x\n  2 threads and 32 connections\n  Latency Distribution\n     50%  640.00us\n     75%    1.20ms\n     90%    2.00ms\n     99%    4.50ms\n  123456 requests in 10.00s, 50.00MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 4\nRequests/sec:  12345.60\nTransfer/sec:      5.00MB\n";
        let (rate, p50, p99, errors, requests) = parse_wrk(out).unwrap();
        assert_eq!((rate, p50, p99, errors, requests), (12345.6, 0.64, 4.5, 7, 123456));
        assert!(parse_wrk("nothing").is_err());
    }
}
