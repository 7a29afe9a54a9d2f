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
kbstack_store::storage_job_store_suite!(pg);
kbstack_store::node_store_suite!(pg);
kbstack_store::event_store_suite!(pg);
kbstack_store::configuration_store_suite!(pg);
kbstack_store::ticket_store_suite!(pg);
kbstack_store::file_record_store_suite!(pg);
kbstack_store::project_admin_store_suite!(pg);
kbstack_store::trigger_store_suite!(pg);
kbstack_store::schedule_store_suite!(pg);
kbstack_store::snapshot_store_suite!(pg);
kbstack_store::workspace_store_suite!(pg);
kbstack_store::vault_variable_store_suite!(pg);
kbstack_store::subscription_store_suite!(pg);
kbstack_store::metastore_store_suite!(pg);
kbstack_store::queue_job_store_suite!(pg);
kbstack_store::editor_session_store_suite!(pg);
kbstack_store::provisioning_store_suite!(pg);
kbstack_store::stream_store_suite!(pg);
kbstack_store::query_job_store_suite!(pg);
kbstack_store::merge_request_store_suite!(pg);
kbstack_store::search_store_suite!(pg);
kbstack_store::data_app_store_suite!(pg);
kbstack_store::oauth_store_suite!(pg);
kbstack_store::manage_store_suite!(pg);
kbstack_store::sharing_store_suite!(pg);
kbstack_store::organization_store_suite!(pg);
kbstack_store::developer_store_suite!(pg);

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

/// Two nodes (two stores on one database) claiming at once: every job is claimed once, and a lock
/// key never has two jobs processing, whichever node claimed them.
#[test]
fn nodes_claiming_at_once_keep_one_job_per_lock_key() {
    use kbstack_store::meta::queue_jobs::{NewQueueJob, QueueJobStore};
    use kbstack_store::meta::tokens::ProjectStore;
    let url = kbstack_testkit::postgres::database();
    let nodes = [PgMetaStore::connect_with(&url, 2).unwrap(), PgMetaStore::connect_with(&url, 2).unwrap()];
    nodes[0].ensure_project(1, "one", "2026-01-01T00:00:00+0000").unwrap();
    let jobs: Vec<i64> = (0..30)
        .map(|i| {
            let job = NewQueueJob {
                project_id: 1,
                branch_id: 10,
                component: "c".into(),
                mode: "run".into(),
                kind: "standard".into(),
                lock_key: Some(format!("key-{}", i % 5)),
                definition: serde_json::json!({}),
                ..NewQueueJob::default()
            };
            nodes[0].insert_queue_job(&job, "sealed", 1).unwrap().id
        })
        .collect();
    let claimed: Vec<i64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let node = &nodes[w % 2];
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    for round in 0..40 {
                        let claims = node.claim_queue_jobs(&format!("runner-{w}"), 2, usize::MAX, 10 + round, &mut |_| {}).unwrap();
                        for c in claims.claimed {
                            // Held by one node at a time: no other job of its key may be processing.
                            let job = node.queue_job(c.id.into()).unwrap().unwrap();
                            let others = node.running_queue_jobs().unwrap();
                            assert_eq!(others.iter().filter(|o| o.lock_key == job.lock_key).count(), 1, "{job:?}");
                            let end = kbstack_store::meta::queue_jobs::QueueJobEnd {
                                status: kbstack_core::QueueJobStatus::Success,
                                result: &serde_json::Value::Null,
                                usage: &serde_json::Value::Null,
                                metrics: &serde_json::Value::Null,
                            };
                            node.finish_queue_job(c.id.into(), &end, &serde_json::Value::Null, 20 + round).unwrap();
                            mine.push(c.id);
                        }
                    }
                    mine
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    let mut sorted = claimed.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), claimed.len(), "no job claimed twice");
    assert_eq!(sorted, jobs, "every job claimed");
}
