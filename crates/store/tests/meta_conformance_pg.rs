//! The metadata store's conformance suites against PostgreSQL (`PgMetaStore`), one suite per
//! repository ported so far; each test gets a fresh database on the process's throwaway cluster
//! (crates/testkit). The SQLite instantiations are in meta_conformance.rs.
use kbstack_store::meta::pg::PgMetaStore;

fn pg() -> PgMetaStore {
    PgMetaStore::connect_with(&kbstack_testkit::postgres::database(), 4).expect("a PostgreSQL metadata store")
}

kbstack_store::token_store_suite!(pg);
kbstack_store::branch_store_suite!(pg);
kbstack_store::bucket_store_suite!(pg);
kbstack_store::metadata_store_suite!(pg);
kbstack_store::table_store_suite!(pg);

/// Several nodes starting at once on an empty database: one migrates, the others find it done.
#[test]
fn concurrent_starts_migrate_once() {
    let url = kbstack_testkit::postgres::database();
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PgMetaStore::connect_with(&url, 1).expect("started").schema_version().unwrap())
        })
        .collect();
    let newest = kbstack_store::meta::pg::MIGRATIONS.last().unwrap().0;
    for h in handles {
        assert_eq!(h.join().unwrap(), newest);
    }
    let rows = kbstack_testkit::postgres::server()
        .psql(url.rsplit('/').next().unwrap(), "SELECT count(*) FROM schema_version")
        .unwrap();
    assert_eq!(rows, kbstack_store::meta::pg::MIGRATIONS.len().to_string(), "each migration recorded once");
}

/// A database a newer build migrated is refused, not misread.
#[test]
fn a_newer_schema_is_refused() {
    let url = kbstack_testkit::postgres::database();
    drop(PgMetaStore::connect(&url).unwrap());
    kbstack_testkit::postgres::server()
        .psql(url.rsplit('/').next().unwrap(), "INSERT INTO schema_version (version) VALUES (999)")
        .unwrap();
    let err = PgMetaStore::connect(&url).err().expect("refused").to_string();
    assert!(err.contains("newer"), "{err}");
}

/// The pool hands a connection to one caller at a time and waits when all are taken.
#[test]
fn a_small_pool_serves_many_threads() {
    use kbstack_store::meta::tokens::ProjectStore;
    let store = std::sync::Arc::new(PgMetaStore::connect_with(&kbstack_testkit::postgres::database(), 2).unwrap());
    let handles: Vec<_> = (1..=8)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    store.ensure_project(i, &format!("p{i}"), "2026-01-01T00:00:00+0000").unwrap();
                    assert_eq!(store.project(i).unwrap().unwrap().0, format!("p{i}"));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
