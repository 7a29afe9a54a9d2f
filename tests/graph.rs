//! Graph through the real binary: the lineage of a three-step pipeline (extractor → SQL
//! transformation → writer, run by a flow) as JSON nodes and edges for the project, a table and
//! a configuration, narrowed by depth and direction, and as SVG; the token's rights bound it.
mod common;

use common::{MASTER_TOKEN, Server};
use serde_json::{Value, json};

fn graph(s: &Server, token: &str, path: &str) -> (u16, Value) {
    s.send(s.client.get(format!("{}/graph/v1/lineage{path}", s.url)).header("X-StorageApi-Token", token))
}

fn config(s: &Server, component: &str, name: &str, configuration: Value) -> String {
    let (st, c) = s.post_json(&format!("components/{component}/configs"), json!({"name": name, "configuration": configuration}));
    assert_eq!(st, 201, "{c}");
    c["id"].as_str().unwrap().to_string()
}

struct Pipeline {
    ex: String,
    tr: String,
    wr: String,
    flow: String,
}

fn pipeline(s: &Server) -> Pipeline {
    let (st, b) = s.post_form("buckets", &[("name", "ex"), ("stage", "in")]);
    assert_eq!(st, 201, "{b}");
    let file = s.upload("orders.csv", b"id,customer_id,amount\n1,7,10\n".to_vec()).to_string();
    let (st, job) = s.post_form("buckets/in.c-ex/tables-async", &[("name", "orders"), ("dataFileId", &file)]);
    assert_eq!(st, 202, "{job}");
    assert_eq!(s.wait_job(&job)["status"], "success");

    let ex = config(s, "keboola.ex-http", "Orders API", json!({
        "parameters": {"baseUrl": "https://example.com/orders.csv"},
        "storage": {"output": {"tables": [{"source": "orders.csv", "destination": "in.c-ex.orders"}]}}
    }));
    let tr = config(s, "keboola.snowflake-transformation", "Summary", json!({
        "storage": {
            "input": {"tables": [{"source": "in.c-ex.orders", "destination": "orders"}]},
            "output": {"tables": [{"source": "summary", "destination": "out.c-tr.summary"}]}
        },
        "parameters": {"blocks": [{"name": "Block 1", "codes": [{"name": "Summary", "script": [
            "CREATE TABLE \"summary\" AS SELECT \"customer_id\", SUM(\"amount\") AS \"total\" FROM \"orders\" GROUP BY 1;"
        ]}]}]}
    }));
    let wr = config(s, "keboola.wr-db-snowflake", "Warehouse", json!({
        "storage": {"input": {"tables": [{"source": "out.c-tr.summary", "destination": "summary.csv"}]}}
    }));
    let flow = config(s, "keboola.flow", "Nightly", json!({
        "phases": [{"id": 1, "name": "All"}],
        "tasks": [
            {"id": 1, "phase": 1, "task": {"componentId": "keboola.ex-http", "configId": ex, "mode": "run"}},
            {"id": 2, "phase": 1, "task": {"componentId": "keboola.snowflake-transformation", "configId": tr, "mode": "run"}},
            {"id": 3, "phase": 1, "task": {"componentId": "keboola.wr-db-snowflake", "configId": wr, "mode": "run"}}
        ]
    }));
    Pipeline { ex, tr, wr, flow }
}

fn edges(g: &Value) -> Vec<(String, String, String)> {
    g["edges"].as_array().unwrap().iter().map(|e| (e["from"].as_str().unwrap().into(), e["to"].as_str().unwrap().into(), e["type"].as_str().unwrap().into())).collect()
}

fn node_ids(g: &Value) -> Vec<String> {
    let mut ids: Vec<String> = g["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

fn e(from: &str, to: &str, kind: &str) -> (String, String, String) {
    (from.into(), to.into(), kind.into())
}

#[test]
fn a_three_step_pipeline_as_json_lineage() {
    let s = Server::start();
    let p = pipeline(&s);
    let ex = format!("config:keboola.ex-http/{}", p.ex);
    let tr = format!("config:keboola.snowflake-transformation/{}", p.tr);
    let wr = format!("config:keboola.wr-db-snowflake/{}", p.wr);
    let flow = format!("config:keboola.flow/{}", p.flow);

    let (st, g) = graph(&s, MASTER_TOKEN, "");
    assert_eq!(st, 200, "{g}");
    let all = edges(&g);
    for expected in [
        e(&ex, "table:in.c-ex.orders", "output"),
        e("table:in.c-ex.orders", &tr, "input"),
        e(&tr, "table:out.c-tr.summary", "output"),
        e("table:out.c-tr.summary", &wr, "input"),
        e(&flow, &ex, "task"),
        e(&flow, &tr, "task"),
        e(&flow, &wr, "task"),
    ] {
        assert!(all.contains(&expected), "missing {expected:?} in {all:?}");
    }
    assert_eq!(all.len(), 7, "{all:?}");
    let nodes = g["nodes"].as_array().unwrap();
    let node = |id: &str| nodes.iter().find(|n| n["id"] == id).unwrap_or_else(|| panic!("no node {id}: {g}"));
    assert_eq!(node("table:in.c-ex.orders")["exists"], true);
    assert_eq!(node("table:out.c-tr.summary")["exists"], false, "not made yet");
    assert_eq!((node(&ex)["componentType"].as_str(), node(&wr)["componentType"].as_str()), (Some("extractor"), Some("writer")));
    assert_eq!(node(&flow)["type"], "flow");
    // The transformation's SQL, through the SQLdep analyzer: which columns of its input it uses.
    assert_eq!(node(&tr)["sql"]["valid"], true, "{}", node(&tr));
    assert_eq!(node(&tr)["sql"]["reads"], json!(["orders"]));
    let input = g["edges"].as_array().unwrap().iter().find(|x| x["to"] == tr.as_str() && x["type"] == "input").unwrap();
    assert_eq!(input["columns"], json!(["amount", "customer_id"]), "{input}");

    // Around the output table, upstream: what it is made from.
    let (st, up) = graph(&s, MASTER_TOKEN, "/tables/out.c-tr.summary?direction=upstream");
    assert_eq!(st, 200, "{up}");
    assert_eq!(up["focus"], "table:out.c-tr.summary");
    let mut expected = vec!["table:out.c-tr.summary".to_string(), tr.clone(), "table:in.c-ex.orders".into(), ex.clone(), flow.clone()];
    expected.sort();
    assert_eq!(node_ids(&up), expected);
    // Downstream only: the writer.
    let (_, down) = graph(&s, MASTER_TOKEN, "/tables/out.c-tr.summary?direction=downstream");
    let mut expected = vec!["table:out.c-tr.summary".to_string(), wr.clone()];
    expected.sort();
    assert_eq!(node_ids(&down), expected);

    // Around the extractor, one step downstream: its table only.
    let (st, one) = graph(&s, MASTER_TOKEN, &format!("/components/keboola.ex-http/configs/{}?direction=downstream&depth=1", p.ex));
    assert_eq!(st, 200, "{one}");
    let mut expected = vec![ex.clone(), "table:in.c-ex.orders".into()];
    expected.sort();
    assert_eq!(node_ids(&one), expected);
    assert_eq!(one["depth"], 1);
    // Any depth downstream: the whole chain to the writer, not the flow.
    let (_, chain) = graph(&s, MASTER_TOKEN, &format!("/components/keboola.ex-http/configs/{}?direction=downstream", p.ex));
    assert_eq!(node_ids(&chain).len(), 5, "{chain}");
    assert!(!node_ids(&chain).contains(&flow));

    // Unknown ones are 404s in the service's envelope; bad parameters 400s.
    for (path, status) in [
        ("/tables/in.c-ex.nope".to_string(), 404),
        ("/components/keboola.ex-http/configs/999999".to_string(), 404),
        (format!("/components/keboola.ex-http/configs/{}?direction=sideways", p.ex), 400),
        (format!("/components/keboola.ex-http/configs/{}?depth=-1", p.ex), 400),
    ] {
        let (st, err) = graph(&s, MASTER_TOKEN, &path);
        assert_eq!(st, status, "{path}: {err}");
        assert!(err["code"] == status && err["exceptionId"].as_str().unwrap().starts_with("graph-"), "{err}");
    }
}

/// A minimal well-formedness check: every tag closed in order, no stray `<` or `&` in text.
fn well_formed(xml: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        if text.contains('&') && !text.split('&').skip(1).all(|t| ["amp;", "lt;", "gt;", "quot;", "apos;"].iter().any(|e| t.starts_with(e))) {
            return Err(format!("bad entity in {text:?}"));
        }
        let close = rest[open..].find('>').ok_or("unclosed tag")? + open;
        let tag = &rest[open + 1..close];
        if let Some(name) = tag.strip_prefix('/') {
            let top = stack.pop().ok_or(format!("closing {name} with nothing open"))?;
            if top != name.trim() {
                return Err(format!("closing {name} but {top} is open"));
            }
        } else if !tag.ends_with('/') && !tag.starts_with('?') && !tag.starts_with('!') {
            stack.push(tag.split_whitespace().next().unwrap_or_default().to_string());
        }
        rest = &rest[close + 1..];
    }
    if stack.is_empty() { Ok(()) } else { Err(format!("unclosed: {stack:?}")) }
}

#[test]
fn the_pipeline_as_svg() {
    let s = Server::start();
    let p = pipeline(&s);
    for path in ["?format=svg".to_string(), "/svg".to_string(), format!("/components/keboola.snowflake-transformation/configs/{}/svg", p.tr)] {
        let resp = s.client.get(format!("{}/graph/v1/lineage{path}", s.url)).header("X-StorageApi-Token", MASTER_TOKEN).send().unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("image/svg+xml"), "{path}");
        let svg = resp.text().unwrap();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
        well_formed(&svg).unwrap_or_else(|e| panic!("{path}: {e}\n{svg}"));
        for label in ["Orders API", "Summary", "Warehouse", "in.c-ex.orders", "out.c-tr.summary"] {
            assert!(svg.contains(label), "{path}: no {label} in {svg}");
        }
        assert!(svg.contains(&format!("data-id=\"config:keboola.snowflake-transformation/{}\"", p.tr)), "{svg}");
        assert!(svg.matches("<path class=\"edge").count() >= 4, "{svg}");
    }
}

#[test]
fn the_graph_shows_only_what_the_token_may_see() {
    let s = Server::start();
    let p = pipeline(&s);
    // A token for the extractor only, reading one bucket.
    let (st, t) = s.post_json("tokens", json!({"description": "ex only", "componentAccess": ["keboola.ex-http"], "bucketPermissions": {"in.c-ex": "read"}}));
    assert_eq!(st, 201, "{t}");
    let token = t["token"].as_str().unwrap();
    let (st, g) = graph(&s, token, "");
    assert_eq!(st, 200, "{g}");
    let mut expected = vec![format!("config:keboola.ex-http/{}", p.ex), "table:in.c-ex.orders".to_string()];
    expected.sort();
    assert_eq!(node_ids(&g), expected);
    let (st, err) = graph(&s, token, &format!("/components/keboola.wr-db-snowflake/configs/{}", p.wr));
    assert_eq!(st, 403, "{err}");
    let (st, err) = graph(&s, token, "/tables/out.c-tr.summary");
    assert_eq!(st, 404, "{err}");
    let (st, _) = graph(&s, "no-such-token", "");
    assert_eq!(st, 401);
}

#[test]
fn job_history_marks_what_ran() {
    let s = Server::start();
    let p = pipeline(&s);
    let (st, job) = s.send(
        s.client
            .post(format!("{}/queue/jobs", s.url))
            .header("X-StorageApi-Token", MASTER_TOKEN)
            .json(&json!({"component": "keboola.wr-db-snowflake", "config": p.wr, "mode": "run"})),
    );
    assert_eq!(st, 201, "{job}");
    let (st, g) = graph(&s, MASTER_TOKEN, &format!("/components/keboola.wr-db-snowflake/configs/{}?depth=0", p.wr));
    assert_eq!(st, 200, "{g}");
    let nodes = g["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{g}");
    assert_eq!(nodes[0]["lastJob"]["id"], job["id"], "{g}");
    assert!(nodes[0]["lastJob"]["status"].is_string(), "{g}");
    let (_, g) = graph(&s, MASTER_TOKEN, &format!("/components/keboola.ex-http/configs/{}?depth=0", p.ex));
    assert!(g["nodes"][0].get("lastJob").is_none(), "never ran: {g}");
}
