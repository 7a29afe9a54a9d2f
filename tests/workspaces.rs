//! Storage workspaces through the real binary: create (sync, and async under a configuration),
//! load with columns, whereFilters and preserve, `tables-async`/`import-async` from a workspace
//! table, isolation of the SQL a workspace runs, password reset, delete, and cleanup of engine
//! files with their workspace or configuration.
mod common;

use common::Server;
use kbstack::workspace::duckdb::execute_in_file;
use serde_json::{Value, json};

fn ws_file(s: &Server, id: i64) -> std::path::PathBuf {
    s.data_dir.join("workspaces").join(format!("{}.duckdb", kbstack::workspace::database_name(id)))
}

fn people(s: &Server) {
    let (st, b) = s.post_form("buckets", &[("name", "ws"), ("stage", "in")]);
    assert_eq!(st, 201, "{b}");
    let data = s.upload("people.csv", b"id,name,city\n1,Ann,Prague\n2,Bob,Brno\n3,Cid,Prague\n".to_vec()).to_string();
    let (st, job) = s.post_form("buckets/in.c-ws/tables-async", &[("name", "people"), ("dataFileId", &data)]);
    assert_eq!(st, 202, "{job}");
    assert_eq!(s.wait_job(&job)["status"], "success");
}

fn create(s: &Server) -> Value {
    let (st, w) = s.post_form("workspaces", &[("readOnlyStorageAccess", "false")]);
    assert_eq!(st, 201, "{w}");
    w
}

fn load(s: &Server, id: i64, body: Value) -> Value {
    let (st, job) = s.post_json(&format!("workspaces/{id}/load"), body);
    assert_eq!(st, 202, "{job}");
    assert_eq!(job["operationName"], "workspaceLoad");
    s.wait_job(&job)
}

fn table_from_workspace(s: &Server, name: &str, ws: i64, object: &str) -> Value {
    let (st, job) =
        s.post_form("buckets/in.c-ws/tables-async", &[("name", name), ("dataWorkspaceId", &ws.to_string()), ("dataTableName", object)]);
    assert_eq!(st, 202, "{job}");
    s.wait_job(&job)
}

fn rows(s: &Server, id: i64, sql: &str) -> Vec<Vec<Option<String>>> {
    execute_in_file(&ws_file(s, id), id, sql, 100).unwrap_or_else(|e| panic!("{sql}: {e}")).rows
}

#[test]
fn create_load_and_read_back() {
    let s = Server::start();
    people(&s);
    let w = create(&s);
    let id = w["id"].as_i64().expect("integer id");
    assert_eq!(w["type"], "table");
    let c = &w["connection"];
    assert_eq!(c["backend"], "snowflake");
    for key in ["host", "database", "schema", "user", "password"] {
        assert!(c[key].as_str().is_some_and(|v| !v.is_empty()), "connection.{key}: {w}");
    }
    assert_eq!(c["schema"], format!("WORKSPACE_{id}"));
    assert_eq!(c["database"], format!("KBSTACK_WS_{id}"));
    let created = w["created"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_str(created, "%Y-%m-%dT%H:%M:%S%z").is_ok() && created.ends_with("+0000"), "{created}");
    assert!(w["creatorToken"]["id"].is_i64(), "{w}");
    // Detail and list never show the password.
    let (st, d) = s.get(&format!("workspaces/{id}"));
    assert_eq!(st, 200, "{d}");
    assert!(d["connection"].get("password").is_none(), "{d}");
    let (_, list) = s.get("workspaces");
    assert!(list.as_array().unwrap().iter().any(|x| x["id"] == id), "{list}");
    let (st, d) = s.get(&format!("branch/default/workspaces/{id}"));
    assert_eq!(st, 200, "branch-scoped route: {d}");

    // Columns (one renamed, one typed) and a where filter.
    let job = load(
        &s,
        id,
        json!({"input": [{
            "source": "in.c-ws.people",
            "destination": "prague",
            "columns": [{"source": "id", "type": "INTEGER"}, {"source": "name", "destination": "person"}],
            "whereFilters": [{"column": "city", "operator": "eq", "values": ["Prague"]}],
        }]}),
    );
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(
        rows(&s, id, "SELECT id, person FROM prague ORDER BY id"),
        vec![vec![Some("1".into()), Some("Ann".into())], vec![Some("3".into()), Some("Cid".into())]]
    );

    // tables-async and import-async from the workspace table.
    let j = table_from_workspace(&s, "back", id, "prague");
    assert_eq!(j["status"], "success", "{j}");
    assert_eq!(s.preview_rows("in.c-ws.back", ""), vec![vec!["1", "Ann"], vec!["3", "Cid"]]);
    let (st, job) = s.post_json(
        "tables/in.c-ws.back/import-async",
        json!({"dataWorkspaceId": id, "dataObject": "prague", "incremental": true}),
    );
    assert_eq!(st, 202, "{job}");
    assert_eq!(s.wait_job(&job)["status"], "success");
    assert_eq!(s.preview_rows("in.c-ws.back", "").len(), 4);
    let j = table_from_workspace(&s, "nothing", id, "no_such_table");
    assert_eq!((j["status"].as_str(), j["error"]["code"].as_str()), (Some("error"), Some("storage.workspaces.tableNotFound")), "{j}");

    // preserve keeps what is there; without it the workspace is emptied first.
    let job = load(&s, id, json!({"input": [{"source": "in.c-ws.people", "destination": "all_people"}], "preserve": true}));
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(rows(&s, id, "SELECT count(*) FROM prague"), vec![vec![Some("2".into())]]);
    assert_eq!(rows(&s, id, "SELECT count(*) FROM all_people"), vec![vec![Some("3".into())]]);
    let job = load(&s, id, json!({"input": [{"source": "in.c-ws.people", "destination": "all_people"}], "preserve": true}));
    assert_eq!(job["status"], "error", "an existing table is not replaced without overwrite: {job}");
    // kbcstorage's form encoding, load-clone, preserve=false.
    let (st, job) = s.post_form(
        &format!("workspaces/{id}/load-clone"),
        &[("preserve", "false"), ("input[0][source]", "in.c-ws.people"), ("input[0][destination]", "only")],
    );
    assert_eq!(st, 202, "{job}");
    assert_eq!(s.wait_job(&job)["status"], "success");
    let tables = rows(&s, id, "SELECT table_name FROM duckdb_tables() ORDER BY 1");
    assert_eq!(tables, vec![vec![Some("only".into())]]);

    // A table of a bucket the token cannot read is not loaded.
    let (st, t) = s.post_json("tokens", json!({"description": "no buckets"}));
    assert_eq!(st, 201, "{t}");
    let token = t["token"].as_str().unwrap();
    let (st, other) = s.send(s.client.post(s.api("workspaces")).header("X-StorageApi-Token", token).form(&[("backend", "snowflake")]));
    assert_eq!(st, 201, "{other}");
    let (st, refused) = s.post_json_as(token, &format!("workspaces/{}/load", other["id"]), json!({"input": [{"source": "in.c-ws.people", "destination": "x"}]}));
    assert_eq!((st, refused["code"].as_str()), (404, Some("storage.tables.notFound")), "{refused}");
    // Nor does that token see the master's workspace.
    let (st, _) = s.get_as(token, &format!("workspaces/{id}"));
    assert_eq!(st, 404);
}

#[test]
fn workspace_sql_sees_only_its_own_workspace() {
    let s = Server::start();
    people(&s);
    let a = create(&s)["id"].as_i64().unwrap();
    let b = create(&s)["id"].as_i64().unwrap();
    assert_eq!(load(&s, a, json!({"input": [{"source": "in.c-ws.people", "destination": "secret"}]}))["status"], "success");
    assert_eq!(rows(&s, a, "SELECT count(*) FROM secret"), vec![vec![Some("3".into())]]);
    let refused = |sql: &str| {
        let r = execute_in_file(&ws_file(&s, b), b, sql, 10);
        assert!(r.is_err(), "workspace {b} ran {sql}: {r:?}");
    };
    refused("SELECT * FROM secret");
    refused(&format!("SELECT * FROM \"WORKSPACE_{a}\".secret"));
    refused(&format!("SELECT * FROM \"KBSTACK_WS_{a}\".\"WORKSPACE_{a}\".secret"));
    refused("SELECT * FROM read_csv('/etc/passwd')");
    refused("SELECT * FROM read_text('/etc/passwd')");
    refused(&format!("ATTACH '{}' AS a", ws_file(&s, a).display()));
    refused(&format!("ATTACH '{}' AS t (READ_ONLY)", s.data_dir.join("tables.duckdb").display()));
    refused("SET enable_external_access = true");
    assert!(rows(&s, b, "SELECT table_name FROM duckdb_tables()").is_empty());
}

#[test]
fn password_reset_public_key_and_delete() {
    let s = Server::start();
    let w = create(&s);
    let id = w["id"].as_i64().unwrap();
    let first = w["connection"]["password"].as_str().unwrap().to_string();
    let (st, p) = s.post_form(&format!("workspaces/{id}/password"), &[]);
    assert_eq!(st, 201, "{p}");
    let second = p["password"].as_str().unwrap().to_string();
    assert!(second.len() >= 32 && second != first);
    // Stored as a hash only: neither password is anywhere in the metadata store.
    let stored = common::metadata_query(&s.data_dir, &format!("SELECT password_hash FROM workspaces WHERE id = {id}")).expect("the workspace");
    assert!(stored != second && stored != first && stored.len() == 64, "{stored}");
    for name in ["metadata.sqlite", "metadata.sqlite-wal"] {
        let bytes = std::fs::read(s.data_dir.join(name)).unwrap_or_default();
        for pw in [&first, &second] {
            assert!(!bytes.windows(pw.len()).any(|x| x == pw.as_bytes()), "a password in {name}");
        }
    }
    let (st, k) = s.post_json(&format!("workspaces/{id}/public-key"), json!({"publicKey": "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"}));
    assert_eq!(st, 201, "{k}");

    assert!(ws_file(&s, id).exists());
    let (st, _) = s.delete(&format!("workspaces/{id}"));
    assert_eq!(st, 204);
    assert!(!ws_file(&s, id).exists(), "the engine file goes with the workspace");
    let (st, g) = s.get(&format!("workspaces/{id}"));
    assert_eq!((st, g["code"].as_str()), (404, Some("storage.workspaces.notFound")), "{g}");
    // Asynchronously: a workspaceDrop job.
    let id = create(&s)["id"].as_i64().unwrap();
    let (st, job) = s.send(s.client.delete(s.api(&format!("workspaces/{id}?async=true"))).header("X-StorageApi-Token", common::MASTER_TOKEN));
    assert_eq!(st, 202, "{job}");
    assert_eq!(job["operationName"], "workspaceDrop");
    assert_eq!(s.wait_job(&job)["status"], "success");
    assert!(!ws_file(&s, id).exists());
}

#[test]
fn configuration_workspaces_listed_and_purged_with_it() {
    let s = Server::start();
    let (st, c) = s.post_json("components/keboola.ex-http/configs", json!({"name": "c"}));
    assert_eq!(st, 201, "{c}");
    let config = c["id"].as_str().unwrap().to_string();
    let base = format!("branch/default/components/keboola.ex-http/configs/{config}/workspaces");
    // As keboola-mcp-server does it.
    let (st, job) = s.post_json(
        &format!("{base}?async=true"),
        json!({"readOnlyStorageAccess": true, "loginType": "snowflake-person-sso", "backend": "snowflake"}),
    );
    assert_eq!(st, 202, "{job}");
    assert_eq!(job["operationName"], "workspaceCreate");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    let w = &job["results"];
    let id = w["id"].as_i64().expect("results carry the workspace");
    assert_eq!((w["component"].as_str(), w["configurationId"].as_str()), (Some("keboola.ex-http"), Some(config.as_str())));
    assert_eq!(w["connection"]["loginType"], "snowflake-person-sso");
    assert_eq!(w["readOnlyStorageAccess"], true);
    assert!(w["connection"].get("password").is_none(), "no password for SSO logins: {w}");
    let (st, sync) = s.post_json(&base, json!({}));
    assert_eq!(st, 201, "{sync}");
    let (st, list) = s.get(&base);
    assert_eq!(st, 200, "{list}");
    let ids: Vec<i64> = list.as_array().unwrap().iter().map(|w| w["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![id, sync["id"].as_i64().unwrap()]);
    let (st, none) = s.get("components/keboola.ex-http/configs/nope/workspaces");
    assert_eq!(st, 404, "{none}");

    // Trashed: kept. Purged: gone, engine files too.
    let (st, _) = s.delete(&format!("components/keboola.ex-http/configs/{config}"));
    assert_eq!(st, 204);
    assert!(ws_file(&s, id).exists());
    let (st, _) = s.delete(&format!("components/keboola.ex-http/configs/{config}"));
    assert_eq!(st, 204);
    assert!(!ws_file(&s, id).exists(), "a purged configuration leaves no workspace file");
    let (st, _) = s.get(&format!("workspaces/{id}"));
    assert_eq!(st, 404);
}

#[test]
fn bad_workspace_requests_are_client_errors() {
    let s = Server::start();
    let (st, e) = s.post_form("workspaces", &[("backend", "abs")]);
    assert_eq!((st, e["code"].as_str()), (400, Some("validation.failed")), "{e}");
    let (st, e) = s.post_form("workspaces", &[("loginType", "snowflake-service-keypair")]);
    assert_eq!(st, 400, "a key-pair login needs a key: {e}");
    let id = create(&s)["id"].as_i64().unwrap();
    let (st, e) = s.post_json(&format!("workspaces/{id}/load"), json!({"input": []}));
    assert_eq!(st, 400, "{e}");
    let (st, e) = s.post_json(&format!("workspaces/{id}/load"), json!({"input": [{"source": "in.c-none.t", "destination": "t"}]}));
    assert_eq!(st, 404, "{e}");
    let (st, e) = s.get("workspaces/abc");
    assert_eq!((st, e["code"].as_str()), (404, Some("storage.workspaces.notFound")), "{e}");
}
