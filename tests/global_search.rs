//! `GET global-search` through the real binary: names of buckets, tables, configurations
//! (typed flow / transformation / configuration) and rows; filters by type, branch type,
//! branch and project; paging; the response's shape; project isolation and token rights; and
//! keboola-mcp-server reading it (and `shared-buckets`, linking) with its own models.
mod common;

use std::process::Command;

use common::{MASTER_TOKEN, Server, call, ok};
use reqwest::Method;
use serde_json::{Value, json};

const P2_MASTER: &str = "2-90-projecttwomastertoken000000000000000";

fn config(s: &Server, token: &str, branch: &str, component: &str, name: &str) -> String {
    let c = ok("config", call(s, Method::POST, token, &format!("branch/{branch}/components/{component}/configs"), Some(json!({"name": name}))), 201);
    c["id"].as_str().unwrap().to_string()
}

/// Project 1: buckets `orders` and `customers` (with table `big_orders`), an extractor config
/// "Load orders" with row "orders row", a flow "Orders flow", a transformation "orders SQL";
/// a dev branch with bucket `dev_orders`. Project 2: bucket `orders`. Returns the dev branch id.
fn seed(s: &Server) -> i64 {
    // The branch first: a new dev branch copies the configurations of the default branch.
    let job = ok("branch", call(s, Method::POST, MASTER_TOKEN, "dev-branches", Some(json!({"name": "feature"}))), 202);
    let dev = s.wait_job(&job)["results"]["id"].as_i64().unwrap();
    ok("bucket", s.post_json("buckets", json!({"name": "orders"})), 201);
    ok("bucket", s.post_json("buckets", json!({"name": "customers"})), 201);
    ok("table", s.post_form("buckets/in.c-customers/tables", &[("name", "big_orders"), ("dataString", "id\n1\n")]), 201);
    let ex = config(s, MASTER_TOKEN, "default", "keboola.ex-db-mysql", "Load orders");
    ok(
        "row",
        call(s, Method::POST, MASTER_TOKEN, &format!("components/keboola.ex-db-mysql/configs/{ex}/rows"), Some(json!({"name": "orders row"}))),
        201,
    );
    config(s, MASTER_TOKEN, "default", "keboola.orchestrator", "Orders flow");
    config(s, MASTER_TOKEN, "default", "keboola.snowflake-transformation", "orders SQL");
    config(s, MASTER_TOKEN, "default", "keboola.ex-db-mysql", "unrelated");
    ok("dev bucket", call(s, Method::POST, MASTER_TOKEN, &format!("branch/{dev}/buckets"), Some(json!({"name": "dev_orders"}))), 201);
    ok("other project's bucket", call(s, Method::POST, P2_MASTER, "buckets", Some(json!({"name": "orders"}))), 201);
    dev
}

fn search(s: &Server, token: &str, query: &str) -> Value {
    ok(query, s.get_as(token, &format!("global-search?{query}")), 200)
}

fn found(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        v["items"].as_array().unwrap().iter().map(|i| (i["type"].as_str().unwrap().to_string(), i["name"].as_str().unwrap().to_string())).collect();
    out.sort();
    out
}

fn pair(t: &str, n: &str) -> (String, String) {
    (t.to_string(), n.to_string())
}

#[test]
fn names_are_found_typed_filtered_and_paged() {
    let (s, _dir) = common::start_with_projects(&[(2, "two", P2_MASTER)]);
    let dev = seed(&s);

    let all = search(&s, MASTER_TOKEN, "query=ORDERS");
    assert_eq!(
        found(&all),
        vec![
            pair("bucket", "dev_orders"),
            pair("bucket", "orders"),
            pair("configuration", "Load orders"),
            pair("configuration-row", "orders row"),
            pair("flow", "Orders flow"),
            pair("table", "big_orders"),
            pair("transformation", "orders SQL"),
        ],
        "{all}"
    );
    assert_eq!(all["all"], 7);
    assert_eq!(
        all["byType"],
        json!({"total": 7, "bucket": 2, "configuration": 1, "configuration-row": 1, "flow": 1, "table": 1, "transformation": 1})
    );
    assert_eq!(all["byProject"], json!({"1": "kbstack"}), "project 2's bucket is not found by project 1");

    // The item's shape: string ids, fullPath with project, branch and parents.
    let items = all["items"].as_array().unwrap();
    let table = items.iter().find(|i| i["type"] == "table").unwrap();
    assert_eq!(table["id"], "in.c-customers.big_orders");
    assert_eq!(table["fullPath"]["bucket"], json!({"id": "in.c-customers", "name": "customers"}));
    assert_eq!(table["fullPath"]["project"], json!({"id": 1, "name": "kbstack"}));
    assert_eq!(table["fullPath"]["branch"]["isDefault"], true);
    assert_eq!((table["organizationId"].as_i64(), table["projectId"].as_i64(), table["projectName"].as_str()), (Some(1), Some(1), Some("kbstack")));
    let row = items.iter().find(|i| i["type"] == "configuration-row").unwrap();
    assert!(row["id"].is_string());
    assert_eq!(row["componentId"], "keboola.ex-db-mysql");
    assert_eq!(row["fullPath"]["configuration"]["name"], "Load orders");
    assert_eq!(row["fullPath"]["component"]["id"], "keboola.ex-db-mysql");
    let bucket = items.iter().find(|i| i["name"] == "dev_orders").unwrap();
    assert_eq!(bucket["fullPath"]["branch"], json!({"id": dev, "name": "feature", "isDefault": false, "isNative": false}));
    assert!(bucket.get("componentId").is_none());

    // Filters: types (PHP brackets as the MCP server sends them), branch types, branches, projects.
    assert_eq!(found(&search(&s, MASTER_TOKEN, "query=orders&types[]=bucket&types[]=flow")), vec![
        pair("bucket", "dev_orders"),
        pair("bucket", "orders"),
        pair("flow", "Orders flow")
    ]);
    assert_eq!(found(&search(&s, MASTER_TOKEN, "query=orders&types[]=bucket&branchTypes[]=production")), vec![pair("bucket", "orders")]);
    assert_eq!(found(&search(&s, MASTER_TOKEN, "query=orders&branchTypes=development")), vec![pair("bucket", "dev_orders")]);
    assert_eq!(found(&search(&s, MASTER_TOKEN, &format!("query=orders&branchIds[]={dev}"))), vec![pair("bucket", "dev_orders")]);
    assert_eq!(search(&s, MASTER_TOKEN, "query=orders&projectIds[]=1")["all"], 7);
    let other = search(&s, MASTER_TOKEN, "query=orders&projectIds[]=2");
    assert_eq!((other["all"].as_i64(), &other["byType"]), (Some(0), &json!({"total": 0})), "another project is never searched");
    assert_eq!(found(&search(&s, P2_MASTER, "query=orders")), vec![pair("bucket", "orders")], "project 2 finds its own");

    // Paging: `all` and `byType` count every hit, `items` is the page.
    let page = search(&s, MASTER_TOKEN, "query=orders&limit=2&offset=1");
    assert_eq!((page["all"].as_i64(), page["items"].as_array().unwrap().len()), (Some(7), 2));
    let rest = search(&s, MASTER_TOKEN, "query=orders&limit=100&offset=6");
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(search(&s, MASTER_TOKEN, "query=nothing-like-this")["items"], json!([]));

    // Bad input is a 400 in the Storage envelope.
    for bad in ["", "query=", "query=a&limit=0", "query=a&limit=x", "query=a&offset=-1", "query=a&types[]=bogus", "query=a&branchTypes=staging", "query=a&projectIds[]=x"] {
        let (st, e) = s.get(&format!("global-search?{bad}"));
        assert_eq!(st, 400, "{bad}: {e}");
        assert_eq!(e["status"], "error", "{bad}: {e}");
    }
}

#[test]
fn a_limited_token_finds_only_what_it_may_see() {
    let (s, _dir) = common::start_with_projects(&[(2, "two", P2_MASTER)]);
    seed(&s);
    let limited = ok(
        "token",
        s.post_json("tokens", json!({"description": "limited", "bucketPermissions": {"in.c-orders": "read"}, "componentAccess": ["keboola.orchestrator"]})),
        201,
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(found(&search(&s, &limited, "query=orders&branchTypes[]=production")), vec![pair("bucket", "orders"), pair("flow", "Orders flow")]);
    ok("no token", s.send(s.client.get(s.api("global-search?query=orders"))), 401);
    // The feature is announced where the MCP server looks for it.
    let verify = ok("verify", s.get("tokens/verify"), 200);
    assert!(verify["owner"]["features"].as_array().unwrap().contains(&json!("global-search")), "{verify}");
}

#[test]
fn keboola_mcp_server_reads_search_and_shared_buckets() {
    let Some(python) = common::venv_python("keboola_mcp_server") else {
        eprintln!("SKIPPED: no Python with keboola-mcp-server (scripts/test installs it into $HOME/.cache/kbstack-test/venv)");
        return;
    };
    let (s, _dir) = common::start_with_projects(&[(2, "two", P2_MASTER)]);
    seed(&s);
    ok("shared source", s.post_form("buckets/in.c-orders/tables", &[("name", "lines"), ("dataString", "id\n1\n2\n")]), 201);
    let job = ok("share", call(&s, Method::POST, MASTER_TOKEN, "buckets/in.c-orders/share-organization-project", None), 202);
    assert_eq!(s.wait_job(&job)["status"], "success");
    let out = Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/mcp_search_sharing.py"))
        .env("KBSTACK_URL", &s.url)
        .env("KBSTACK_TOKEN", MASTER_TOKEN)
        .env("KBSTACK_OTHER_TOKEN", P2_MASTER)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("mcp search and sharing ok"), "{stdout}");
    // What the MCP server linked is a read-only bucket of project 2 showing project 1's table.
    let t = ok("linked table", s.get_as(P2_MASTER, "tables/in.c-from_one.lines"), 200);
    assert_eq!(t["rowsCount"], 2);
}
