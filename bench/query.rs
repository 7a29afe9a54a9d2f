//! Query phase: the Query service's round trip as a client sees it — submit a statement for a
//! workspace (`POST /query/api/v1/branches/default/workspaces/{id}/queries`), poll the job every
//! 2 ms until `completed`, read the first result page — for a 1-row query and for an aggregate
//! over a 1M-row table in the workspace; beside it the same SQL on an open raw DuckDB connection
//! (execute + fetch every row), the practical limit. The statements go through kbstack's
//! Snowflake→DuckDB translation when sqlglot is installed (it is cached after the first run).
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use serde_json::{Value, json};

use super::{Server, TOKEN, percentile, t0};

const ROWS: u64 = 1_000_000;
const POLL: Duration = Duration::from_millis(2);
const ONE_ROW: &str = "SELECT 1 AS one";
const AGGREGATE: &str = "SELECT g, count(*) AS n, avg(v) AS mean FROM big GROUP BY g ORDER BY g";

#[derive(Clone, Debug, Default)]
pub struct QueryRow {
    pub name: String,
    pub runs: usize,
    pub kbstack_p50_ms: f64,
    pub kbstack_p90_ms: f64,
    pub raw_p50_ms: f64,
}

#[derive(Default)]
pub struct QueryResults {
    pub rows: Vec<QueryRow>,
}

struct Client<'a> {
    server: &'a Server,
    base: String,
}

impl Client<'_> {
    fn send(&self, req: reqwest::blocking::RequestBuilder, what: &str) -> Result<Value> {
        let resp = req.header("X-StorageApi-Token", TOKEN).send()?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().unwrap_or(Value::Null);
        ensure!((200..300).contains(&status), "{what}: HTTP {status}: {body}");
        Ok(body)
    }

    /// Submit → completed → first page; the job's id and the page.
    fn round_trip(&self, workspace: i64, sql: &str) -> Result<Value> {
        let url = format!("{}/branches/default/workspaces/{workspace}/queries", self.base);
        let job = self.send(self.server.client.post(url).json(&json!({"statements": [sql]})), "submit")?;
        let id = job["queryJobId"].as_str().ok_or_else(|| anyhow!("no queryJobId in {job}"))?.to_string();
        let started = Instant::now();
        let status = loop {
            let status = self.send(self.server.client.get(format!("{}/queries/{id}", self.base)), "status")?;
            match status["status"].as_str() {
                Some("completed") => break status,
                Some("failed") | Some("canceled") => return Err(anyhow!("query {id} ended: {status}")),
                _ => {}
            }
            ensure!(started.elapsed() < Duration::from_secs(120), "query {id} not done after 120 s");
            std::thread::sleep(POLL);
        };
        let statement = status["statements"][0]["id"].as_str().ok_or_else(|| anyhow!("no statement id in {status}"))?;
        self.send(self.server.client.get(format!("{}/queries/{id}/{statement}/results?offset=0&pageSize=500", self.base)), "results")
    }
}

fn timed_runs(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    let mut took = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        took.push(start.elapsed().as_secs_f64() * 1e3);
    }
    took.sort_by(f64::total_cmp);
    Ok(took)
}

const SETUP: &str = "CREATE TABLE big AS SELECT range AS id, range % 100 AS g, (range * 7919) % 1000 / 10.0 AS v FROM range(1000000)";

pub fn phase(server: &Server, r: &mut super::Results) -> Result<()> {
    let ws = server.post("workspaces", json!({"readOnlyStorageAccess": false}))?;
    let workspace = ws["id"].as_i64().ok_or_else(|| anyhow!("no workspace id in {ws}"))?;
    let client = Client { server, base: format!("{}/query/api/v1", server.url) };
    progress!("query: workspace {workspace}, a {ROWS}-row table in it");
    client.round_trip(workspace, SETUP).context("creating the 1M-row table")?;
    let raw = duckdb::Connection::open_in_memory()?;
    raw.execute_batch(SETUP)?;

    for (name, sql, runs) in [("1-row query (SELECT 1)", ONE_ROW, 50), ("aggregate over 1M rows (GROUP BY, 100 groups)", AGGREGATE, 20)] {
        // One untimed run: the translation is cached and the workspace's file warm afterwards.
        let page = client.round_trip(workspace, sql)?;
        let expected = if sql == ONE_ROW { 1 } else { 100 };
        ensure!(page["data"].as_array().map(Vec::len) == Some(expected), "{name}: unexpected page {page}");
        let kb = timed_runs(runs, || client.round_trip(workspace, sql).map(|_| ()))?;
        let rawt = timed_runs(runs, || {
            let mut stmt = raw.prepare(sql)?;
            let rows: Vec<String> = stmt.query_map([], |row| row.get::<_, duckdb::types::Value>(0).map(|v| format!("{v:?}")))?.collect::<Result<_, _>>()?;
            ensure!(rows.len() == expected, "raw {name}: {} rows", rows.len());
            Ok(())
        })?;
        let row = QueryRow {
            name: name.into(),
            runs,
            kbstack_p50_ms: percentile(&kb, 50.0),
            kbstack_p90_ms: percentile(&kb, 90.0),
            raw_p50_ms: percentile(&rawt, 50.0),
        };
        progress!("    {name}: kbstack p50 {:.1} ms (p90 {:.1}), raw DuckDB p50 {:.2} ms", row.kbstack_p50_ms, row.kbstack_p90_ms, row.raw_p50_ms);
        r.query.rows.push(row);
    }
    Ok(())
}

pub fn report_rows(rows: &[QueryRow]) -> String {
    let mut s = String::from(
        "| Query service round trip (submit → completed → first page) | runs | kbstack p50 | kbstack p90 | raw DuckDB p50 (open connection) |\n|---|---:|---:|---:|---:|\n",
    );
    for row in rows {
        s.push_str(&format!(
            "| {} | {} | {:.1} ms | {:.1} ms | {:.2} ms |\n",
            row.name, row.runs, row.kbstack_p50_ms, row.kbstack_p90_ms, row.raw_p50_ms
        ));
    }
    s.push('\n');
    s
}
