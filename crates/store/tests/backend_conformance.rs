//! The conformance suite every `TableBackend` must pass: DuckDB on a local file, and DuckLake
//! with a local catalog and with the scale-out profile's catalog in PostgreSQL and data in S3.
//! It checks the trait's contract directly, below the HTTP layer.
use std::io::Write;
use std::path::{Path, PathBuf};

use kbstack_store::backend::duckdb::{DuckDbBackend, DuckLakeSettings};
use kbstack_store::backend::{ColumnDef, CsvSource, ExportFormat, ExportSpec, Filter, LoadSpec, Operator, Select, TableBackend, TableLocation};

fn backends(dir: &Path) -> Vec<(&'static str, Box<dyn TableBackend>)> {
    let local_lake = DuckLakeSettings {
        extension_dir: kbstack_testkit::duckdb_extensions(),
        catalog: dir.join("catalog.ducklake").display().to_string(),
        data_path: format!("{}/", dir.join("lake-data").display()),
        s3: None,
        scratch_dir: dir.join("scratch-local"),
    };
    vec![
        ("duckdb", Box::new(DuckDbBackend::open(&dir.join("conformance.duckdb")).unwrap())),
        ("ducklake-local", Box::new(DuckDbBackend::open_ducklake(&local_lake, "600MB").unwrap())),
        ("ducklake-postgres-s3", Box::new(DuckDbBackend::open_ducklake(&scale_out_lake(dir), "600MB").unwrap())),
    ]
}

/// The scale-out profile's DuckLake: a fresh catalog database and bucket per call.
fn scale_out_lake(dir: &Path) -> DuckLakeSettings {
    use kbstack_testkit::s3;
    DuckLakeSettings {
        extension_dir: kbstack_testkit::duckdb_extensions(),
        catalog: kbstack_testkit::postgres::database(),
        data_path: {
            let (bucket, prefix) = s3::fresh_prefix();
            format!("s3://{bucket}/{prefix}/tables/")
        },
        s3: Some(kbstack_store::s3::S3Settings {
            endpoint: s3::server().endpoint(),
            region: s3::REGION.into(),
            access_key_id: s3::ACCESS_KEY.into(),
            secret_access_key: s3::SECRET_KEY.into(),
            path_style: true,
        }),
        scratch_dir: dir.join("scratch-s3"),
    }
}

fn loc(table: &str) -> TableLocation {
    TableLocation { project_id: 1, branch_id: 1, bucket_id: "in.c-conf".into(), table: table.into() }
}

fn cols(names: &[&str]) -> Vec<ColumnDef> {
    names.iter().map(|n| ColumnDef::untyped(n)).collect()
}

fn csv(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p).unwrap().write_all(body.as_bytes()).unwrap();
    p
}

fn source(path: PathBuf, columns: &[&str]) -> CsvSource {
    CsvSource {
        paths: vec![path],
        delimiter: ',',
        enclosure: Some('"'),
        escaped_by: None,
        columns: columns.iter().map(|c| c.to_string()).collect(),
        has_header: true,
    }
}

fn load(b: &dyn TableBackend, l: &TableLocation, src: CsvSource, incremental: bool, pk: &[&str], at: i64) {
    b.load(
        l,
        &LoadSpec {
            source: src,
            incremental,
            primary_key: pk.iter().map(|c| c.to_string()).collect(),
            typed: false,
            timestamp: chrono::DateTime::from_timestamp(at, 0).unwrap(),
            once_key: None,
        },
    )
    .unwrap();
}

fn rows(b: &dyn TableBackend, l: &TableLocation, select: &Select) -> Vec<Vec<String>> {
    let (_, rows) = b.preview(l, select).unwrap();
    let mut out: Vec<Vec<String>> = rows.into_iter().map(|r| r.into_iter().map(|v| v.unwrap_or_else(|| "<null>".into())).collect()).collect();
    out.sort();
    out
}

fn strs(rows: &[&[&str]]) -> Vec<Vec<String>> {
    let mut v: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|s| s.to_string()).collect()).collect();
    v.sort();
    v
}

#[test]
fn every_backend_conforms() {
    let dir = tempfile::tempdir().unwrap();
    for (name, b) in backends(dir.path()) {
        let b = b.as_ref();
        let l = loc(&format!("{name}_t"));
        b.create_table(&l, &cols(&["id", "v"]), false).unwrap();
        assert_eq!(b.columns(&l).unwrap(), ["id", "v"], "{name}");

        // Full load with a PK: one row per key, NULL stored as ''.
        load(b, &l, source(csv(dir.path(), "a.csv", "id,v\n1,a\n1,a\n2,\n"), &["id", "v"]), false, &["id"], 1000);
        assert_eq!(rows(b, &l, &Select::default()), strs(&[&["1", "a"], &["2", ""]]), "{name}");

        // Incremental with a PK: changed row and new row get the new timestamp; unchanged keep theirs.
        load(b, &l, source(csv(dir.path(), "b.csv", "id,v\n1,a\n2,x\n3,n\n"), &["id", "v"]), true, &["id"], 2000);
        let since = Select { changed_since: chrono::DateTime::from_timestamp(1500, 0), ..Default::default() };
        assert_eq!(rows(b, &l, &since), strs(&[&["2", "x"], &["3", "n"]]), "{name}");
        assert_eq!(b.stats(&l).unwrap().0, 3);

        // A new column arrives with a load and old rows read ''.
        load(b, &l, source(csv(dir.path(), "c.csv", "id,v,w\n4,d,z\n"), &["id", "v", "w"]), true, &[], 3000);
        assert_eq!(b.stats(&l).unwrap().0, 4, "{name}: statistics follow every load");
        assert_eq!(b.columns(&l).unwrap(), ["id", "v", "w"]);
        let only4 = Select {
            filters: vec![Filter { column: "id".into(), operator: Operator::Eq, values: vec!["4".into(), "1".into()], data_type: None }],
            ..Default::default()
        };
        assert_eq!(rows(b, &l, &only4), strs(&[&["1", "a", ""], &["4", "d", "z"]]));

        // A failed load changes nothing.
        let bad = source(csv(dir.path(), "d.csv", "id,v,w\n5,e\n"), &["id", "v", "w"]);
        let before = rows(b, &l, &Select::default());
        assert!(b.load(&l, &LoadSpec { source: bad, incremental: false, primary_key: vec![], typed: false, timestamp: chrono::Utc::now(), once_key: None }).is_err());
        assert_eq!(rows(b, &l, &Select::default()), before, "{name}: failed load is rolled back");

        // Export: headerless, every value quoted.
        let out = dir.path().join(format!("{name}_export"));
        std::fs::create_dir_all(&out).unwrap();
        let slices = b.export(&l, &ExportSpec { select: Select { columns: Some(vec!["v".into(), "id".into()]), ..Default::default() }, dir: out, format: ExportFormat::Csv { gzip: false } }).unwrap();
        let mut lines: Vec<String> = slices.iter().flat_map(|s| std::fs::read_to_string(s).unwrap().lines().map(str::to_string).collect::<Vec<_>>()).collect();
        lines.sort();
        assert_eq!(lines, [r#""a","1""#, r#""d","4""#, r#""n","3""#, r#""x","2""#]);

        // Delete rows, duplicates check, columns.
        assert_eq!(b.delete_rows(&l, &only4).unwrap(), 2);
        assert_eq!(b.stats(&l).unwrap().0, 2, "{name}: statistics follow a delete");
        assert!(!b.has_duplicates(&l, &["id".into()]).unwrap());
        b.add_column(&l, &ColumnDef::untyped("extra"), false).unwrap();
        b.drop_column(&l, "w").unwrap();
        assert_eq!(b.columns(&l).unwrap(), ["id", "v", "extra"]);
        b.drop_table(&l).unwrap();
        assert!(b.columns(&l).is_err());
    }
}

#[test]
fn every_backend_copies_a_table_whole_and_apart() {
    let dir = tempfile::tempdir().unwrap();
    for (name, b) in backends(dir.path()) {
        let b = b.as_ref();
        let from = loc(&format!("{name}_src"));
        let to = TableLocation { branch_id: 2, bucket_id: "_snapshots".into(), ..loc(&format!("{name}_copy")) };
        b.create_table(&from, &cols(&["id", "v"]), false).unwrap();
        load(b, &from, source(csv(dir.path(), "s.csv", "id,v\n1,a\n2,b\n"), &["id", "v"]), false, &["id"], 1000);
        b.copy_table(&from, &to).unwrap();
        assert_eq!(rows(b, &to, &Select::default()), strs(&[&["1", "a"], &["2", "b"]]), "{name}");
        assert_eq!(b.columns(&to).unwrap(), ["id", "v"]);
        // `_timestamp`s travel with the rows.
        let since = Select { changed_since: chrono::DateTime::from_timestamp(500, 0), ..Default::default() };
        assert_eq!(rows(b, &to, &since).len(), 2, "{name}");

        // The copy is independent: writes to the source do not reach it, and loads into the
        // copy work as into any table.
        b.delete_rows(&from, &Select::default()).unwrap();
        assert_eq!(b.stats(&to).unwrap().0, 2, "{name}");
        load(b, &to, source(csv(dir.path(), "t.csv", "id,v\n3,\n"), &["id", "v"]), true, &["id"], 2000);
        assert!(rows(b, &to, &Select::default()).contains(&vec!["3".to_string(), String::new()]), "{name}");

        // Copying again replaces the target whole.
        b.copy_table(&from, &to).unwrap();
        assert_eq!(b.stats(&to).unwrap().0, 0, "{name}");
        assert!(b.copy_table(&loc("missing"), &to).is_err(), "{name}");
    }
}

/// A load with a `once_key` happens once: repeating it (a retry after a crash) changes nothing,
/// a failed one records nothing, and a forgotten key can load again.
#[test]
fn every_backend_loads_a_keyed_source_once() {
    let dir = tempfile::tempdir().unwrap();
    for (name, b) in backends(dir.path()) {
        let b = b.as_ref();
        let l = loc(&format!("{name}_once"));
        b.create_table(&l, &cols(&["id"]), false).unwrap();
        let spec = |body: &str, file: &str| LoadSpec {
            source: source(csv(dir.path(), file, body), if body.starts_with("id,v") { &["id", "v"] } else { &["id"] }),
            incremental: true,
            primary_key: vec![],
            typed: false,
            timestamp: chrono::Utc::now(),
            once_key: Some("slice-1".into()),
        };
        assert!(!b.loaded_once("slice-1").unwrap(), "{name}");
        assert!(b.load(&l, &spec("id,v\n5\n", "bad.csv")).is_err(), "{name}");
        assert!(!b.loaded_once("slice-1").unwrap(), "{name}: a failed load records no key");
        let first = b.load(&l, &spec("id\n1\n2\n", "once.csv")).unwrap();
        assert_eq!((first.imported_rows, first.already_loaded), (2, false), "{name}");
        assert!(b.loaded_once("slice-1").unwrap(), "{name}");
        let again = b.load(&l, &spec("id\n1\n2\n", "once.csv")).unwrap();
        assert!(again.already_loaded, "{name}");
        assert_eq!(b.stats(&l).unwrap().0, 2, "{name}: the repeat changed nothing");
        b.forget_once("slice-1").unwrap();
        assert!(!b.loaded_once("slice-1").unwrap(), "{name}");
    }
}

/// Everything `export_all` writes comes back whole in a new backend of the same kind: columns,
/// rows, `_timestamp`s and once-keys.
#[test]
fn every_backend_exports_and_imports_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let target_dir = dir.path().join("target");
    std::fs::create_dir_all(&target_dir).unwrap();
    for ((name, b), (_, target)) in backends(dir.path()).into_iter().zip(backends(&target_dir)) {
        let (b, target) = (b.as_ref(), target.as_ref());
        let l = loc(&format!("{name}_exported"));
        let other = TableLocation { branch_id: 7, bucket_id: "out.c-odd \"name\"".into(), ..loc("t") };
        b.create_table(&l, &cols(&["id", "v"]), false).unwrap();
        b.create_table(&other, &cols(&["x"]), false).unwrap();
        load(b, &l, source(csv(dir.path(), "e.csv", "id,v\n1,a\n2,\n"), &["id", "v"]), false, &["id"], 1000);
        let keyed = LoadSpec {
            source: source(csv(dir.path(), "k.csv", "x\n9\n"), &["x"]),
            incremental: true,
            primary_key: vec![],
            typed: false,
            timestamp: chrono::Utc::now(),
            once_key: Some("exported-key".into()),
        };
        b.load(&other, &keyed).unwrap();

        let snapshot = dir.path().join(format!("{name}-snapshot"));
        b.export_all(&snapshot).unwrap();
        target.import_all(&snapshot).unwrap();
        assert_eq!(rows(target, &l, &Select::default()), rows(b, &l, &Select::default()), "{name}");
        assert_eq!(target.columns(&l).unwrap(), ["id", "v"], "{name}");
        let since = Select { changed_since: chrono::DateTime::from_timestamp(500, 0), ..Default::default() };
        assert_eq!(rows(target, &l, &since).len(), 2, "{name}: _timestamps travel");
        assert_eq!(rows(target, &other, &Select::default()), strs(&[&["9"]]), "{name}");
        assert!(target.loaded_once("exported-key").unwrap(), "{name}: once-keys travel");
        // The imported table takes loads like any other (NOT NULL defaults kept).
        load(target, &l, source(csv(dir.path(), "f.csv", "id\n3\n"), &["id"]), true, &["id"], 2000);
        assert_eq!(target.stats(&l).unwrap().0, 3, "{name}");
    }
}

/// Jobs writing their first tables into the same new bucket at once (a flow phase) all get
/// their tables: creating the bucket's schema concurrently is not an error.
#[test]
fn tables_created_at_once_in_a_new_bucket() {
    let dir = tempfile::tempdir().unwrap();
    for (name, b) in backends(dir.path()) {
        let b: std::sync::Arc<dyn TableBackend> = std::sync::Arc::from(b);
        for round in 0..5 {
            let bucket = format!("out.c-race{round}");
            let threads: Vec<_> = (0..4)
                .map(|i| {
                    let b = b.clone();
                    let bucket = bucket.clone();
                    std::thread::spawn(move || {
                        let l = TableLocation { project_id: 1, branch_id: 1, bucket_id: bucket, table: format!("t{i}") };
                        b.create_table(&l, &cols(&["a"]), false)
                    })
                })
                .collect();
            for t in threads {
                assert!(t.join().unwrap().is_ok(), "{name}: a table of round {round} was not created");
            }
        }
    }
}

/// Two nodes on one DuckLake (catalog in PostgreSQL, data in S3) load into one table at the same
/// time: incremental loads with a primary key all land (none lost to a conflict), and full loads
/// leave exactly one load's rows, never a mix.
#[test]
fn two_nodes_load_one_table_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let lake = scale_out_lake(dir.path());
    let node = |i: usize| -> std::sync::Arc<dyn TableBackend> {
        let mut settings = lake.clone();
        settings.scratch_dir = dir.path().join(format!("node{i}"));
        std::sync::Arc::new(DuckDbBackend::open_ducklake(&settings, "300MB").unwrap())
    };
    let nodes = [node(0), node(1)];
    let l = loc("shared");
    nodes[0].create_table(&l, &cols(&["id", "v"]), false).unwrap();

    // Incremental: each node loads its own keys, 5 loads each, all at once.
    let threads: Vec<_> = (0..2)
        .map(|n| {
            let b = nodes[n].clone();
            let (l, dir) = (l.clone(), dir.path().to_path_buf());
            std::thread::spawn(move || {
                for round in 0..5 {
                    let body = format!("id,v\nn{n}r{round}a,x\nn{n}r{round}b,y\n");
                    let src = source(csv(&dir, &format!("inc{n}_{round}.csv"), &body), &["id", "v"]);
                    load(b.as_ref(), &l, src, true, &["id"], 1_700_000_000 + round);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a node's loads failed");
    }
    for b in &nodes {
        assert_eq!(b.stats(&l).unwrap().0, 20, "every incremental load from both nodes is there");
    }

    // Full loads: the table ends as one of them, whole.
    let threads: Vec<_> = (0..2)
        .map(|n| {
            let b = nodes[n].clone();
            let (l, dir) = (l.clone(), dir.path().to_path_buf());
            std::thread::spawn(move || {
                let body: String = std::iter::once("id,v\n".to_string()).chain((0..(100 + n)).map(|i| format!("{i},n{n}\n"))).collect();
                let src = source(csv(&dir, &format!("full{n}.csv"), &body), &["id", "v"]);
                load(b.as_ref(), &l, src, false, &[], 1_700_000_100);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a node's full load failed");
    }
    let all = rows(nodes[1].as_ref(), &l, &Select::default());
    let writers: std::collections::BTreeSet<&str> = all.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(writers.len(), 1, "one load's rows only: {writers:?}");
    let n: usize = if writers.contains("n0") { 100 } else { 101 };
    assert_eq!(all.len(), n);
}
