//! The Storage API on the DuckLake table backend (`--tables-backend ducklake`), through the real
//! binary: the catalog in PostgreSQL, data files in a directory. What clients see is the same as
//! on the embedded DuckDB file.
mod common;
use common::Server;

fn ducklake_server(dir: &std::path::Path) -> Server {
    let catalog = kbstack_testkit::postgres::database();
    let data = dir.join("lake-data");
    let extensions = kbstack_testkit::duckdb_extensions();
    Server::start_with_env(&[
        ("KBSTACK_TABLES_BACKEND", "ducklake"),
        ("KBSTACK_DUCKLAKE_CATALOG", &catalog),
        ("KBSTACK_DUCKLAKE_DATA_PATH", &format!("{}/", data.display())),
        ("KBSTACK_DUCKDB_EXTENSIONS", &extensions.display().to_string()),
    ])
}

#[test]
fn tables_load_preview_export_and_delete_on_ducklake() {
    let dir = tempfile::tempdir().unwrap();
    let s = ducklake_server(dir.path());
    let (st, b) = s.post_form("buckets", &[("stage", "in"), ("name", "lake")]);
    assert_eq!(st, 201, "{b}");
    let (st, t) = s.post_form("buckets/in.c-lake/tables", &[("name", "t"), ("dataString", "id,v\n1,a\n2,b\n"), ("primaryKey", "id")]);
    assert!(st == 201 || st == 202, "{t}");
    assert_eq!(s.preview_rows("in.c-lake.t", ""), [["1", "a"], ["2", "b"]]);

    // Incremental load with the primary key: one row changes, one arrives, a column is added.
    let file = s.upload("inc.csv", b"id,v,w\n2,B,x\n3,c,y\n".to_vec());
    let (st, job) = s.post_form("tables/in.c-lake.t/import-async", &[("dataFileId", &file.to_string()), ("incremental", "1")]);
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(s.preview_rows("in.c-lake.t", ""), [["1", "a", ""], ["2", "B", "x"], ["3", "c", "y"]]);
    let (_, table) = s.get("tables/in.c-lake.t");
    assert_eq!(table["rowsCount"], 3, "{table}");

    // Export, then the file holds the rows.
    let (st, job) = s.post_form("tables/in.c-lake.t/export-async", &[]);
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    let exported = String::from_utf8(s.download(job["results"]["file"]["id"].as_i64().unwrap())).unwrap();
    let mut lines: Vec<&str> = exported.lines().collect();
    lines.sort();
    assert_eq!(lines, [r#""1","a","""#, r#""2","B","x""#, r#""3","c","y""#]);

    // The data is in the lake's data path as Parquet, not in a tables.duckdb.
    assert!(!s.data_dir.join("tables.duckdb").exists());
    let parquet = walk(&dir.path().join("lake-data")).into_iter().filter(|p| p.extension().is_some_and(|e| e == "parquet")).count();
    assert!(parquet > 0, "no Parquet files in the data path");

    let (st, _) = s.delete("tables/in.c-lake.t");
    assert!(st == 204 || st == 202, "{st}");
    let (st, _) = s.get("tables/in.c-lake.t");
    assert_eq!(st, 404);
}

#[test]
fn a_bad_catalog_stops_the_start_with_an_error_that_hides_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_kbstack");
    let out = std::process::Command::new(bin)
        .arg("serve")
        .env("KBSTACK_DATA_DIR", dir.path())
        .env("KBSTACK_LISTEN", "127.0.0.1:0")
        .env("KBSTACK_TABLES_BACKEND", "ducklake")
        .env("KBSTACK_DUCKLAKE_CATALOG", "postgres://kbstack:sup3rsecret@127.0.0.1:1/nowhere")
        .env("KBSTACK_DUCKLAKE_DATA_PATH", dir.path().join("data").display().to_string())
        .env("KBSTACK_DUCKDB_EXTENSIONS", kbstack_testkit::duckdb_extensions())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DuckLake"), "{text}");
    assert!(!text.contains("sup3rsecret"), "the password leaked: {text}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `kbstack export` and `import` carry a stack from the embedded default to DuckLake and back.
#[test]
fn a_stack_moves_from_the_embedded_default_to_ducklake_and_back() {
    if common::single_node_only("starts the embedded default and a DuckLake node itself, and exports an embedded data dir") {
        return;
    }
    let embedded = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(embedded.path());
    assert_eq!(s.post_form("buckets", &[("stage", "in"), ("name", "moved")]).0, 201);
    let (st, t) = s.post_form("buckets/in.c-moved/tables", &[("name", "t"), ("dataString", "id,v\n1,a\n2,\n3,\"x,y\"\n"), ("primaryKey", "id")]);
    assert_eq!(st, 201, "{t}");
    let before = s.preview_rows("in.c-moved.t", "");
    s.kill();

    let work = tempfile::tempdir().unwrap();
    let lake_env = [
        ("KBSTACK_TABLES_BACKEND", "ducklake".to_string()),
        ("KBSTACK_DUCKLAKE_CATALOG", kbstack_testkit::postgres::database()),
        ("KBSTACK_DUCKLAKE_DATA_PATH", format!("{}/", work.path().join("lake").display())),
        ("KBSTACK_DUCKDB_EXTENSIONS", kbstack_testkit::duckdb_extensions().display().to_string()),
    ];
    let run = |args: &[&str], dir: &std::path::Path, env: &[(&str, String)]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kbstack"))
            .args(args)
            .env("KBSTACK_DATA_DIR", dir)
            .env("KBSTACK_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    };
    let first = work.path().join("from-embedded");
    run(&["export", "--to", first.to_str().unwrap(), "--include-keys"], embedded.path(), &[]);
    let lake_dir = work.path().join("lake-node");
    run(&["import", first.to_str().unwrap()], &lake_dir, &lake_env);
    let env: Vec<(&str, &str)> = lake_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut s = Server::start_with(&lake_dir, &env);
    assert_eq!(s.preview_rows("in.c-moved.t", ""), before, "the rows in DuckLake");
    assert!(!lake_dir.join("tables.duckdb").exists());
    s.kill();

    let second = work.path().join("from-ducklake");
    run(&["export", "--to", second.to_str().unwrap(), "--include-keys"], &lake_dir, &lake_env);
    let back = work.path().join("embedded-again");
    run(&["import", second.to_str().unwrap()], &back, &[]);
    let s = Server::start_in(&back);
    assert_eq!(s.preview_rows("in.c-moved.t", ""), before, "the rows back in DuckDB");
}

/// One node on all three engines of the scale-out profile at once: metadata in PostgreSQL,
/// tables in a DuckLake (catalog in PostgreSQL, data in S3) and files in S3. Nothing of the stack
/// is left in the node's data dir but its keys.
#[test]
fn one_node_on_postgres_ducklake_and_s3() {
    let mut env = kbstack_testkit::scale_out::Engines::fresh().node_env();
    env.push(("KBSTACK_DUCKDB_EXTENSIONS".into(), kbstack_testkit::duckdb_extensions().display().to_string()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let s = Server::start_with_env(&env);
    assert_eq!(s.post_form("buckets", &[("stage", "in"), ("name", "all")]).0, 201);
    let file = s.upload("rows.csv", b"id,v\n1,a\n2,b\n".to_vec());
    let (st, job) = s.post_form("buckets/in.c-all/tables-async", &[("name", "t"), ("dataFileId", &file.to_string()), ("primaryKey", "id")]);
    assert_eq!(st, 202, "{job}");
    assert_eq!(s.wait_job(&job)["status"], "success");
    let more = s.upload("more.csv", b"id,v\n2,B\n3,c\n".to_vec());
    let (st, job) = s.post_form("tables/in.c-all.t/import-async", &[("dataFileId", &more.to_string()), ("incremental", "1")]);
    assert_eq!(st, 202, "{job}");
    assert_eq!(s.wait_job(&job)["status"], "success");
    assert_eq!(s.preview_rows("in.c-all.t", ""), [["1", "a"], ["2", "B"], ["3", "c"]]);
    let (st, job) = s.post_form("tables/in.c-all.t/export-async", &[]);
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    let exported = String::from_utf8(s.download(job["results"]["file"]["id"].as_i64().unwrap())).unwrap();
    assert_eq!(exported.lines().count(), 3, "{exported}");
    for local in ["metadata.sqlite", "tables.duckdb", "blobs/kbstack-files"] {
        let p = s.data_dir.join(local);
        let empty = !p.exists() || (p.is_dir() && std::fs::read_dir(&p).unwrap().next().is_none());
        assert!(empty, "{local} holds data on the node");
    }
}
