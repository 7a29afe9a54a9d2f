//! The scale-out profile's first fact, kept as a test: DuckDB 1.5.5 as kbstack links it (the
//! official libduckdb.so) loads DuckDB's official DuckLake, httpfs and postgres extensions from
//! their PyPI wheels, and ATTACHes a DuckLake whose catalog is in PostgreSQL and whose data files
//! are in S3, from two separate DuckDB instances (two nodes) that see each other's commits.
use kbstack_testkit::{postgres, s3};

fn node(catalog: &str, bucket: &str) -> duckdb::Connection {
    let conn = duckdb::Connection::open_in_memory().unwrap();
    let dir = kbstack_testkit::duckdb_extensions();
    for ext in ["postgres_scanner", "httpfs", "ducklake"] {
        let file = dir.join(format!("{ext}.duckdb_extension"));
        assert!(file.is_file(), "{} is missing: run scripts/build", file.display());
        conn.execute_batch(&format!("INSTALL '{}'; LOAD {ext};", file.display())).unwrap_or_else(|e| panic!("{ext}: {e}"));
    }
    let endpoint = s3::server().endpoint().trim_start_matches("http://").to_string();
    conn.execute_batch(&format!(
        "CREATE SECRET lake_s3 (TYPE s3, KEY_ID '{}', SECRET '{}', REGION '{}', ENDPOINT '{endpoint}', URL_STYLE 'path', USE_SSL false);
         ATTACH 'ducklake:postgres:{catalog}' AS lake (DATA_PATH 's3://{bucket}/tables/', DATA_INLINING_ROW_LIMIT 0);",
        s3::ACCESS_KEY,
        s3::SECRET_KEY,
        s3::REGION,
    ))
    .unwrap();
    conn
}

#[test]
fn ducklake_on_postgres_and_s3_is_shared_by_two_nodes() {
    let url = postgres::database();
    let bucket = s3::bucket();
    let a = node(&url, &bucket);
    let v: String = a.query_row("SELECT version()", [], |r| r.get(0)).unwrap();
    assert_eq!(v, "v1.5.5");
    a.execute_batch("CREATE TABLE lake.t (id INTEGER, name VARCHAR); INSERT INTO lake.t VALUES (1, 'a'), (2, 'b');").unwrap();

    let b = node(&url, &bucket);
    b.execute_batch("INSERT INTO lake.t VALUES (3, 'c');").unwrap();
    let (n, sum): (i64, i64) = a.query_row("SELECT count(*), sum(id) FROM lake.t", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((n, sum), (3, 6), "node a sees node b's commit");

    // The rows are Parquet files in the bucket, not on either node.
    let files: i64 = a
        .query_row(&format!("SELECT count(*) FROM glob('s3://{bucket}/tables/**/*.parquet')"), [], |r| r.get(0))
        .unwrap();
    assert!(files >= 2, "{files} data files in s3://{bucket}/tables/");
    // The catalog is PostgreSQL's.
    let snapshots = postgres::server().psql(url.rsplit('/').next().unwrap(), "SELECT count(*) FROM ducklake_snapshot").unwrap();
    assert!(snapshots.parse::<i64>().unwrap() >= 3, "{snapshots} snapshots");
}
