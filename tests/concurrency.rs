//! Parallel writers against one object: nothing lost, nothing duplicated, each caller told the
//! truth. (Parallel creates of one table through tables-async: tests/security.rs
//! `concurrent_creates_of_one_table_keep_exactly_one`.)
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{MASTER_TOKEN, Server};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const N: usize = 12;

/// Runs `f(i)` on N threads released together; the results in order.
fn in_parallel<T: Send + 'static>(f: impl Fn(usize) -> T + Send + Sync + 'static) -> Vec<T> {
    let f = std::sync::Arc::new(f);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(N));
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let (f, barrier) = (f.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                f(i)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn call(req: reqwest::blocking::RequestBuilder) -> (u16, Value) {
    let resp = req.header("X-StorageApi-Token", MASTER_TOKEN).send().unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

fn wait_job(client: &Client, jobs: &str, job: &Value) -> Value {
    loop {
        let (_, j) = call(client.get(format!("{jobs}/{}", job["id"])));
        if j["status"] == "success" || j["status"] == "error" {
            return j;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn parallel_incremental_loads_into_one_table_all_land() {
    let s = Server::start();
    assert_eq!(s.post_json("buckets", json!({"name": "b"})).0, 201);
    let first = s.upload("t.csv", b"id,v\n0,seed\n".to_vec());
    let (st, job) = s.post_json("buckets/in.c-b/tables-async", json!({"name": "t", "dataFileId": first}));
    assert_eq!(st, 202, "{job}");
    assert_eq!(s.wait_job(&job)["status"], "success");
    // Each loader brings 50 rows of its own ids.
    let files: Vec<i64> = (0..N)
        .map(|i| {
            let csv: String = std::iter::once("id,v\n".to_string()).chain((0..50).map(|r| format!("{},{i}\n", 1000 * (i + 1) + r))).collect();
            s.upload(&format!("l{i}.csv"), csv.into_bytes())
        })
        .collect();
    let (import, jobs) = (s.api("tables/in.c-b.t/import-async"), s.api("jobs"));
    let outcomes = in_parallel(move |i| {
        let client = Client::new();
        let (st, job) = call(client.post(&import).json(&json!({"dataFileId": files[i], "incremental": 1})));
        assert_eq!(st, 202, "{job}");
        wait_job(&client, &jobs, &job)
    });
    for j in &outcomes {
        assert_eq!(j["status"], "success", "{j}");
    }
    let (st, t) = s.get("tables/in.c-b.t");
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["rowsCount"], json!(1 + 50 * N), "{t}");
    let rows = s.preview_rows("in.c-b.t", "&limit=1000");
    let ids: BTreeSet<String> = rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(ids.len(), 1 + 50 * N, "every row once");
}

#[test]
fn parallel_creates_of_one_bucket_keep_exactly_one() {
    let s = Server::start();
    let url = s.api("buckets");
    let outcomes = in_parallel(move |_| call(Client::new().post(&url).json(&json!({"name": "race", "stage": "in"}))));
    assert_eq!(outcomes.iter().filter(|(st, _)| *st == 201).count(), 1, "{outcomes:?}");
    for (st, b) in outcomes.iter().filter(|(st, _)| *st != 201) {
        assert_eq!((*st, b["code"].as_str()), (400, Some("storage.buckets.alreadyExists")), "{b}");
    }
    let (_, list) = s.get("buckets");
    assert_eq!(list.as_array().unwrap().iter().filter(|b| b["id"] == "in.c-race").count(), 1);
}

#[test]
fn parallel_updates_of_one_configuration_get_consecutive_versions() {
    let s = Server::start();
    let (st, c) = s.post_json("components/keboola.ex-http/configs", json!({"name": "c"}));
    assert_eq!(st, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    let url = s.api(&format!("components/keboola.ex-http/configs/{id}"));
    let outcomes = in_parallel(move |i| {
        call(Client::new().put(&url).json(&json!({"configuration": {"writer": i}, "changeDescription": format!("update {i}")})))
    });
    let mut versions: Vec<i64> = outcomes
        .iter()
        .map(|(st, u)| {
            assert_eq!(*st, 200, "{u}");
            u["version"].as_i64().unwrap()
        })
        .collect();
    versions.sort();
    assert_eq!(versions, (2..2 + N as i64).collect::<Vec<_>>(), "unique, consecutive versions");
    let (st, listed) = s.get(&format!("components/keboola.ex-http/configs/{id}/versions"));
    assert_eq!(st, 200, "{listed}");
    let recorded: BTreeSet<String> =
        listed.as_array().unwrap().iter().filter_map(|v| v["changeDescription"].as_str().map(str::to_string)).collect();
    for i in 0..N {
        assert!(recorded.contains(&format!("update {i}")), "update {i} recorded: {recorded:?}");
    }
    // The final state is the one of the last version.
    let (_, last) = s.get(&format!("components/keboola.ex-http/configs/{id}/versions/{}", 1 + N));
    let (_, now) = s.get(&format!("components/keboola.ex-http/configs/{id}"));
    assert_eq!(last["configuration"], now["configuration"]);
}

#[test]
fn parallel_token_creates_give_distinct_working_tokens() {
    let s = Server::start();
    let url = s.api("tokens");
    let outcomes = in_parallel(move |i| call(Client::new().post(&url).json(&json!({"description": format!("t{i}")}))));
    let mut ids = BTreeSet::new();
    for (st, t) in &outcomes {
        assert_eq!(*st, 201, "{t}");
        assert!(ids.insert(t["id"].to_string()), "ids are unique: {t}");
        let (st, v) = s.get_as(t["token"].as_str().unwrap(), "tokens/verify");
        assert_eq!((st, &v["description"]), (200, &t["description"]), "{v}");
    }
}
