//! JSON snapshots of the typed wire models: the serialized form of a fixed value must equal the
//! committed `tests/snapshots/<name>.json` byte for byte (field names, types, order, omissions).
//! After an intended change, regenerate with `UPDATE_SNAPSHOTS=1 cargo test --test wire_snapshots`
//! and review the diff.
use kbstack::storage::wire::token::{Admin, BucketPermissions, CreatorToken, Organization, Owner, Token, named_values};
use serde_json::{Map, json};

fn check(name: &str, value: &impl serde::Serialize) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(format!("{name}.json"));
    let actual = serde_json::to_string_pretty(value).unwrap() + "\n";
    if std::env::var("UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} is missing: run with UPDATE_SNAPSHOTS=1", path.display()));
    assert_eq!(actual, expected, "the wire shape of {name} changed");
}

fn owner() -> Owner {
    Owner {
        id: 1,
        name: "kbstack".into(),
        kind: "production".into(),
        region: "local".into(),
        created: "2026-01-02T03:04:05+0000".into(),
        expires: None,
        features: vec!["kbstack".into()],
        data_size_bytes: 2048,
        rows_count: 10,
        has_mysql: false,
        has_synapse: false,
        has_redshift: false,
        has_snowflake: true,
        has_exasol: false,
        has_teradata: false,
        has_bigquery: false,
        default_backend: "snowflake".into(),
        has_try_mode_on: "0".into(),
        limits: named_values(&[("components.jobsParallelism", 10)]),
        metrics: named_values(&[("storage.rowsCount", 10)]),
        is_disabled: false,
        billed_monthly_price: None,
        data_retention_time_in_days: 7,
        assigned_backends: vec!["snowflake".into()],
        file_storage_provider: "azure".into(),
    }
}

fn token(master: bool) -> Token {
    let mut perms = Map::new();
    if !master {
        perms.insert("in.c-main".into(), json!("read"));
    }
    Token {
        id: if master { "1" } else { "7" }.into(),
        token: master.then(|| "1-1-secret".to_string()),
        description: if master { "Master Token" } else { "reader" }.into(),
        created: "2026-01-02T03:04:05+0000".into(),
        refreshed: "2026-01-02T03:04:05+0000".into(),
        uri: "http://127.0.0.1:8000/v2/storage/tokens/1".into(),
        is_master_token: master,
        can_manage_buckets: master,
        can_manage_tokens: master,
        can_read_all_file_uploads: master,
        can_purge_trash: master,
        can_manage_protected_default_branch: false,
        can_create_jobs: master,
        expires: (!master).then(|| "2026-02-02T03:04:05+0000".to_string()),
        is_expired: false,
        is_disabled: false,
        is_byodb: false,
        daily_capacity: 0,
        bucket_permissions: BucketPermissions(if master { Map::new() } else { perms }),
        creator_token: (!master).then(|| CreatorToken { id: 1, description: Some("Master Token".into()) }),
        component_access: (!master).then(|| vec!["keboola.runner-config-test".into()]),
        admin: master.then(|| Admin {
            id: 1,
            name: "kbstack admin".into(),
            features: vec![],
            is_organization_member: true,
            role: "admin".into(),
            is_activated: true,
        }),
        organization: Organization { id: "1".into() },
        owner: owner(),
    }
}

#[test]
fn master_token_verify() {
    check("token_master", &token(true));
}

#[test]
fn limited_token_detail() {
    check("token_limited", &token(false));
}

fn bucket(tables: kbstack::storage::wire::bucket::BucketTables, metadata: bool) -> kbstack::storage::wire::bucket::Bucket {
    kbstack::storage::wire::bucket::Bucket {
        uri: "http://127.0.0.1:8000/v2/storage/buckets/in.c-main".into(),
        id: "in.c-main".into(),
        name: "c-main".into(),
        display_name: "main".into(),
        id_branch: 1,
        stage: "in".into(),
        description: "".into(),
        tables,
        created: "2026-01-02T03:04:05+0000".into(),
        last_change_date: Some("2026-01-02T03:04:05+0000".into()),
        updated: Some("2026-01-02T03:04:05+0000".into()),
        is_read_only: false,
        data_size_bytes: 2048,
        rows_count: 10,
        is_maintenance: false,
        backend: "snowflake".into(),
        sharing: None,
        sharing_parameters: json!([]),
        bucket_sharing_allowed: true,
        has_external_schema: false,
        database_name: "".into(),
        path: "p1_b1_in.c-main".into(),
        is_snowflake_shared_database: false,
        color: None,
        is_linked_bucket: false,
        backend_path: vec!["KBC_PRJ_1".into(), "in.c-main".into()],
        owner: None,
        source_bucket: None,
        attributes: vec![],
        metadata: metadata.then(|| vec![json!({"id": "1", "key": "KBC.description", "value": "d", "provider": "user", "timestamp": "2026-01-02T03:04:05+0000"})]),
        linked_by: None,
    }
}

#[test]
fn bucket_in_a_list() {
    check("bucket_list_item", &bucket(kbstack::storage::wire::bucket::BucketTables::Url("http://127.0.0.1:8000/v2/storage/buckets/in.c-main/tables".into()), false));
}

#[test]
fn bucket_detail_with_its_tables_and_metadata() {
    check("bucket_detail", &bucket(kbstack::storage::wire::bucket::BucketTables::List(vec![]), true));
}

fn queue_job(finished: bool) -> kbstack::queue::store::Job {
    kbstack::queue::store::Job {
        id: 42,
        project_id: 1,
        branch_id: 1,
        run_id: "41.42".into(),
        parent_run_id: "41".into(),
        token_id: 1,
        token_description: "Master Token".into(),
        token_secret: None,
        component: "keboola.runner-config-test".into(),
        config: Some("123".into()),
        config_row_ids: vec![],
        mode: "run".into(),
        kind: "standard".into(),
        status: if finished { kbstack_core::QueueJobStatus::Success } else { kbstack_core::QueueJobStatus::Created },
        desired_status: kbstack_core::QueueJobStatus::Processing,
        tag: None,
        variable_values_id: None,
        lock_key: None,
        created_ms: 1_767_322_800_000,
        updated_ms: 1_767_322_800_000,
        start_ms: finished.then_some(1_767_322_801_000),
        end_ms: finished.then_some(1_767_322_803_000),
        delayed_start_ms: None,
        duration_seconds: if finished { 2 } else { 0 },
        definition: json!({"projectName": "kbstack", "branchType": "default", "orchestrationJobId": 41, "configData": {}}),
        result: if finished { json!({"message": "Component processing finished."}) } else { json!(null) },
        usage_data: json!(null),
        metrics: json!(null),
    }
}

#[test]
fn queue_job_created() {
    check("queue_job_created", &kbstack::queue::wire::QueueJob::of(&queue_job(false), "http://127.0.0.1:8000/queue/jobs"));
}

#[test]
fn queue_job_finished() {
    check("queue_job_finished", &kbstack::queue::wire::QueueJob::of(&queue_job(true), "http://127.0.0.1:8000/queue/jobs"));
}

#[test]
fn typed_table_detail() {
    let table = kbstack::storage::wire::table::Table {
        uri: "http://127.0.0.1:8000/v2/storage/tables/in.c-main.orders".into(),
        id: "in.c-main.orders".into(),
        name: "orders".into(),
        display_name: "orders".into(),
        transactional: false,
        primary_key: vec!["id".into()],
        index_type: None,
        index_key: vec![],
        distribution_type: None,
        distribution_key: vec![],
        synthetic_primary_key_enabled: false,
        created: "2026-01-02T03:04:05+0000".into(),
        last_import_date: None,
        last_change_date: Some("2026-01-02T03:04:05+0000".into()),
        rows_count: 0,
        data_size_bytes: 0,
        is_alias: false,
        is_aliasable: true,
        is_typed: true,
        table_type: "table".into(),
        timestamp_type: "MANAGED".into(),
        path: "/in.c-main/orders".into(),
        backend_path: vec!["KBC_PRJ_1".into(), "in.c-main".into(), "orders".into()],
        columns: vec!["id".into(), "amount".into()],
        metadata: Some(vec![]),
        // Typed tables carry KBC.datatype.* items (provider storage) per column.
        column_metadata: Some(json!({
            "id": [
                {"id": "1", "key": "KBC.datatype.type", "value": "INTEGER", "provider": "storage", "timestamp": "2026-01-02T03:04:05+0000"},
                {"id": "2", "key": "KBC.datatype.nullable", "value": "0", "provider": "storage", "timestamp": "2026-01-02T03:04:05+0000"},
                {"id": "3", "key": "KBC.datatype.basetype", "value": "INTEGER", "provider": "storage", "timestamp": "2026-01-02T03:04:05+0000"}
            ],
            "amount": [
                {"id": "4", "key": "KBC.datatype.type", "value": "NUMERIC", "provider": "storage", "timestamp": "2026-01-02T03:04:05+0000"},
                {"id": "5", "key": "KBC.datatype.nullable", "value": "1", "provider": "storage", "timestamp": "2026-01-02T03:04:05+0000"},
                {"id": "6", "key": "KBC.datatype.basetype", "value": "NUMERIC", "provider": "storage", "timestamp": "2026-01-02T03:04:05+0000"},
                {"id": "7", "key": "KBC.datatype.length", "value": "12,2", "provider": "storage", "timestamp": "2026-01-02T03:04:05+0000"}
            ]
        })),
        definition: Some(json!({"primaryKeysNames": ["id"], "columns": [
            {"name": "id", "definition": {"type": "INTEGER", "nullable": false, "length": null, "default": null}, "basetype": "INTEGER", "canBeFiltered": true},
            {"name": "amount", "definition": {"type": "NUMERIC", "nullable": true, "length": "12,2", "default": null}, "basetype": "NUMERIC", "canBeFiltered": true}
        ]})),
        source_table: None,
        bucket: Some(bucket(kbstack::storage::wire::bucket::BucketTables::Url("http://127.0.0.1:8000/v2/storage/buckets/in.c-main/tables".into()), false)),
    };
    check("table_typed_detail", &table);
}

#[test]
fn storage_job_failed() {
    use kbstack::storage::wire::job::{CreatorToken, StorageJob};
    let job = StorageJob {
        id: 12,
        status: "error".into(),
        url: "http://127.0.0.1:8000/v2/storage/jobs/12".into(),
        table_id: Some("in.c-main.orders".into()),
        operation_name: "tableImport".into(),
        operation_params: json!({"tableId": "in.c-main.orders", "source": {"type": "file", "fileId": 5}}),
        created_time: "2026-01-02T03:04:05+0000".into(),
        start_time: Some("2026-01-02T03:04:05+0000".into()),
        end_time: Some("2026-01-02T03:04:06+0000".into()),
        run_id: None,
        results: json!({"missingColumns": ["amount"]}),
        creator_token: CreatorToken { id: "1".into(), description: "Master Token".into() },
        metrics: json!({"inCompressed": false, "inBytes": 0, "inBytesUncompressed": 0, "outCompressed": false, "outBytes": 0, "outBytesUncompressed": 0}),
        error: Some(json!({"code": "csvImport.columnsNotMatch", "message": "Some columns are missing in the csv file. Missing columns: amount.", "exceptionId": "exception-1"})),
    };
    check("storage_job_failed", &job);
}

#[test]
fn file_in_a_list() {
    use kbstack::storage::wire::file::{CreatorToken, File};
    let file = File {
        id: 5,
        created: "2026-01-02T03:04:05+0000".into(),
        is_public: false,
        is_sliced: false,
        is_encrypted: true,
        is_permanent: false,
        name: "orders.csv.gz".into(),
        file_type: "csv".into(),
        url: "http://127.0.0.1:8000/abs/kbstack-files/p1/f5/orders.csv.gz?sv=2020-10-02&sr=c&sp=r".into(),
        provider: "azure".into(),
        region: "local".into(),
        size_bytes: Some(1024),
        tags: vec!["export".into()],
        max_age_days: Some(15),
        run_id: Some("12".into()),
        run_ids: vec!["12".into()],
        creator_token: CreatorToken { id: 1, description: "Master Token".into() },
    };
    check("file_list_item", &file);
}

/// A configuration document as the handlers store it (key order included): the typed models read
/// it and send the same bytes.
fn stored_configuration() -> serde_json::Value {
    let creator = json!({"id": 1, "description": "Master Token"});
    let row = json!({
        "id": "236606823",
        "configuration": {"parameters": {"table": "orders"}},
        "state": {"cursor": 42},
        "name": "orders",
        "description": "",
        "isDisabled": false,
        "version": 1,
        "created": "2026-01-02T03:04:06+0000",
        "creatorToken": creator,
        "changeDescription": "Row 236606823 added",
        "versionIdentifier": "01KDZ4V8G0Q4ZJ5V3M1B7C9D2E",
    });
    json!({
        "id": "236606822",
        "name": "Extractor",
        "description": "Loads orders",
        "created": "2026-01-02T03:04:05+0000",
        "creatorToken": creator,
        "version": 2,
        "changeDescription": "Row 236606823 added",
        "isDisabled": false,
        "isDeleted": false,
        "configuration": {"parameters": {"db": {"host": "localhost"}}, "storage": {}},
        "rowsSortOrder": [],
        "rows": [row],
        "state": {},
        "currentVersion": {
            "created": "2026-01-02T03:04:06+0000",
            "creatorToken": creator,
            "changeDescription": "Row 236606823 added",
            "versionIdentifier": "01KDZ4V8G0Q4ZJ5V3M1B7C9D2E",
        },
    })
}

#[test]
fn configuration_detail() {
    use kbstack::storage::wire::configuration::Configuration;
    let stored = stored_configuration();
    let config = Configuration::of(stored.clone()).unwrap();
    assert_eq!(serde_json::to_string(&config).unwrap(), stored.to_string(), "sent as stored");
    check("configuration_detail", &config);
}

#[test]
fn configuration_row_detail() {
    use kbstack::storage::wire::row::Row;
    let stored = stored_configuration()["rows"][0].clone();
    let row = Row::of(stored.clone()).unwrap();
    assert_eq!(serde_json::to_string(&row).unwrap(), stored.to_string(), "sent as stored");
    check("configuration_row_detail", &row);
}

#[test]
fn external_event_in_a_dev_branch() {
    use kbstack::storage::wire::event::{Context, Event, Token};
    let event = Event {
        id: "31".into(),
        uuid: "01890a5d-ac96-774b-bcce-b302099a8057".into(),
        event: "ext.keboola.ex-db.".into(),
        component: "keboola.ex-db".into(),
        message: "Extraction done".into(),
        description: "".into(),
        kind: "success".into(),
        run_id: Some("100.200".into()),
        created: "2026-01-02T03:04:05+0000".into(),
        configuration_id: Some("cfg-1".into()),
        object_id: None,
        object_name: None,
        object_type: None,
        context: Context {
            remote_addr: Some("10.0.0.1".into()),
            http_referer: Some("".into()),
            http_user_agent: Some("kbcstorage".into()),
            api_version: "v2".into(),
            user_agent: Some("kbcstorage".into()),
            is_async: false,
        },
        params: json!({"rows": 3}),
        results: json!({}),
        performance: json!({}),
        token: Token { id: Some(1), name: Some("Master Token".into()) },
        id_branch: Some(2),
        uri: "http://127.0.0.1:8000/v2/storage/events/31".into(),
        attachments: vec![],
    };
    check("event_external", &event);
}

#[test]
fn server_event_on_a_table() {
    use kbstack::storage::wire::event::{Context, Event, Token};
    let event = Event {
        id: "32".into(),
        uuid: "01890a5d-ac96-774b-bcce-b302099a8058".into(),
        event: "storage.tableImportDone".into(),
        component: "storage".into(),
        message: "Imported table in.c-main.orders".into(),
        description: "".into(),
        kind: "info".into(),
        run_id: None,
        created: "2026-01-02T03:04:05+0000".into(),
        configuration_id: None,
        object_id: Some("in.c-main.orders".into()),
        object_name: Some("orders".into()),
        object_type: Some("table".into()),
        context: Context { remote_addr: None, http_referer: None, http_user_agent: None, api_version: "v2".into(), user_agent: None, is_async: false },
        params: json!({}),
        results: json!({"importedRowsCount": 3}),
        performance: json!({}),
        token: Token { id: Some(1), name: Some("Master Token".into()) },
        id_branch: None,
        uri: "http://127.0.0.1:8000/v2/storage/events/32".into(),
        attachments: vec![],
    };
    check("event_table_import", &event);
}

#[test]
fn encryption_index() {
    let index = kbstack::encryption::api::Index {
        app_name: "encryption-api".into(),
        app_version: "0.1.0".into(),
        api_docs: "http://127.0.0.1:8000/encryption/docs/swagger.yaml".into(),
    };
    check("encryption_index", &index);
}

#[test]
fn sync_action_errors_and_list() {
    use kbstack::sync_actions::wire::{ActionList, ComponentError};
    check("sync_action_user_error", &ComponentError::user("Cannot connect".into(), "docker-0123456789abcdef0123456789abcdef".into()));
    check("sync_action_application_error", &ComponentError::application("docker-0123456789abcdef0123456789abcdef".into()));
    check("sync_action_list", &ActionList { actions: vec!["testConnection".into(), "listTables".into()] });
}

#[test]
fn scheduler_schedule() {
    use kbstack::meta::schedules::{ScheduleExecution, ScheduleRecord};
    let record = ScheduleRecord {
        id: 743,
        project_id: 1,
        branch_id: 1,
        configuration_id: "10850624".into(),
        configuration_version_id: "1".into(),
        token_id: 25147,
        sealed_token_secret: "sealed".into(),
        body: serde_json::json!({
            "schedule": {"cronTab": "0 * * * *", "timezone": "Europe/Prague", "state": "enabled"},
            "target": {"componentId": "keboola.ex-db-snowflake", "configurationId": "493493", "configurationRowIds": [], "mode": "run", "tag": ""},
        }),
        created_ms: 0,
        fired_through_ms: 0,
    };
    let runs = [ScheduleExecution { job_id: "1234".into(), execution_ms: 1_767_261_600_000 }];
    check("scheduler_schedule", &kbstack::scheduler::wire::Schedule::of(&record, &runs));
}

#[test]
fn notification_subscription() {
    use kbstack::meta::notification_subscriptions::SubscriptionRecord;
    let record = |id, recipient, expires_ms| SubscriptionRecord {
        id,
        project_id: 1,
        event: "job-failed".into(),
        filters: serde_json::json!([{"field": "job.component.id", "value": "keboola.ex-db-snowflake", "operator": "=="}]),
        recipient,
        expires_ms,
        created_ms: 1_767_261_600_000,
    };
    let email = record(12, serde_json::json!({"channel": "email", "address": "ops@example.com"}), None);
    check("notification_subscription_email", &kbstack::notification::wire::Subscription::of(&email));
    let hook = record(13, serde_json::json!({"channel": "webhook", "url": "https://hooks.example.com/x"}), Some(1_767_348_000_000));
    check("notification_subscription_webhook", &kbstack::notification::wire::Subscription::of(&hook));
}

fn table_snapshot(detail: bool) -> kbstack::storage::wire::snapshot::Snapshot {
    use kbstack::storage::wire::snapshot::{CreatorToken, Snapshot, SnapshotTable};
    Snapshot {
        id: "82629".into(),
        description: "before the change".into(),
        created_time: "2026-05-26T14:26:56+0200".into(),
        kind: "table".into(),
        creator_token: CreatorToken { id: 221, description: "Master Token".into() },
        uri: (!detail).then(|| "http://127.0.0.1:8000/v2/storage/snapshots/82629".into()),
        data_file_id: None,
        table: detail.then(|| SnapshotTable { id: "in.c-main.t".into(), primary_key: vec!["id".into()], columns: vec!["id".into(), "name".into()] }),
    }
}

#[test]
fn table_snapshot_in_a_list() {
    check("table_snapshot_list_item", &table_snapshot(false));
}

#[test]
fn table_snapshot_detail() {
    check("table_snapshot_detail", &table_snapshot(true));
}

fn workspace(password: Option<&str>) -> kbstack::storage::wire::workspace::Workspace {
    use kbstack::storage::wire::workspace::{Connection, CreatorToken, Workspace};
    Workspace {
        id: 12,
        name: "WORKSPACE_12".into(),
        kind: "table".into(),
        component: Some("keboola.snowflake-transformation".into()),
        configuration_id: Some("123".into()),
        created: "2026-05-26T14:26:56+0200".into(),
        backend_size: None,
        statement_timeout_seconds: 7200,
        connection: Connection {
            backend: "snowflake".into(),
            host: "127.0.0.1:8000".into(),
            region: "local".into(),
            database: "KBSTACK_WS_12".into(),
            schema: "WORKSPACE_12".into(),
            warehouse: "KBSTACK".into(),
            user: "KBSTACK_WORKSPACE_12".into(),
            login_type: "default".into(),
            password: password.map(str::to_string),
        },
        creator_token: CreatorToken { id: 221, description: "Master Token".into() },
        creator_user: None,
        read_only_storage_access: false,
        platform_usage_type: "user".into(),
        sso_login_available: false,
    }
}

#[test]
fn workspace_detail() {
    check("workspace_detail", &workspace(None));
}

#[test]
fn workspace_created() {
    check("workspace_created", &workspace(Some("s3cretPassw0rd")));
}

#[test]
fn workspace_password_reset() {
    check("workspace_password_reset", &kbstack::storage::wire::workspace::PasswordReset { password: "s3cretPassw0rd".into() });
}

fn merge_request(detail: bool) -> kbstack::storage::wire::merge_request::MergeRequest {
    use kbstack::storage::wire::merge_request::*;
    let log = ChangeLog {
        configurations: vec![ChangedConfiguration {
            is_deleted: false,
            component_id: "wr-db".into(),
            configuration_id: "main-1".into(),
            last_version_identifier: "01H5M1BDJHD1K6N3G14EZ8XDE2".into(),
        }],
    };
    MergeRequest {
        id: 11,
        creator: Creator { id: 7, name: "John Doe".into() },
        title: "Refactor DB extractors".into(),
        description: "DB exctractor have new columns now".into(),
        state: "in_review".into(),
        change_log: detail.then(|| log.clone()),
        content: detail.then_some(log),
        branches: Branches { branch_from_id: Some(124), branch_into_id: 123 },
        merge: Merge { merged_at: None, merger_id: None, merger_name: String::new() },
        external_id: Some("ticket-123".into()),
        auto_merge_strategy: Some("scheduled".into()),
        auto_merge_at: Some("2026-04-01T12:00:00+00:00".into()),
        approvals: vec![Approval { approver_id: 123, approver_name: "John Doe".into(), created_at: "2023-06-16T10:20:58+0200".into() }],
        reviewers: vec![
            Reviewer { id: 123, name: "John Doe".into(), email: String::new(), status: Some("approved".into()) },
            Reviewer { id: 124, name: "Jane Roe".into(), email: String::new(), status: None },
        ],
        created_at: "2023-06-15T10:20:58+0200".into(),
    }
}

#[test]
fn merge_request_in_a_list() {
    check("merge_request_list_item", &merge_request(false));
}

#[test]
fn merge_request_detail() {
    check("merge_request_detail", &merge_request(true));
}

#[test]
fn merge_request_conflict() {
    use kbstack::storage::wire::merge_request::Conflict;
    check(
        "merge_request_conflict",
        &Conflict {
            message: "Configuration \"main-1\" for component \"wr-db\" in the dev branch is not based on the latest version from the default branch. Version identifier in the dev branch: \"abc123\". Version identifier in the default branch: \"def456\".".into(),
            component_id: "wr-db".into(),
            configuration_id: "main-1".into(),
            is_deleted: false,
            dev_branch_version_identifier: "abc123".into(),
            default_branch_version_identifier: Some("def456".into()),
        },
    );
}

#[test]
fn query_job_status_results_and_history() {
    use kbstack::meta::query_jobs::{QueryJobState, StatementState, suite::job};
    use kbstack::query::wire::{Column, History, HistoryStatement, ResultPage};
    let mut j = job("3f1c2d4e-0000-4000-8000-000000000001", 1, 5, 1000, &["CREATE TABLE t (a INT)", "SELECT a FROM t", "SELECT 1"]);
    j.state = QueryJobState::Failed;
    j.statements[0].state = StatementState::Completed;
    j.statements[0].rows_affected = Some(0);
    j.statements[0].number_of_rows = Some(0);
    j.statements[0].executed_at = Some("2026-01-01T00:00:00.100Z".into());
    j.statements[0].completed_at = Some("2026-01-01T00:00:00.200Z".into());
    j.statements[1].state = StatementState::Failed;
    j.statements[1].error = Some("Catalog Error: Table with name t does not exist!".into());
    j.statements[1].executed_at = Some("2026-01-01T00:00:00.200Z".into());
    j.statements[1].completed_at = Some("2026-01-01T00:00:00.300Z".into());
    j.statements[2].state = StatementState::NotExecuted;
    let status = kbstack::query::api::job_wire(&j);
    check("query_job_status", &status);
    let page = ResultPage {
        status: "completed".into(),
        columns: vec![
            Column { name: "id".into(), kind: "fixed".into(), nullable: true, length: 0 },
            Column { name: "name".into(), kind: "text".into(), nullable: true, length: 16_777_216 },
        ],
        data: vec![json!(["1", "Ann"]), json!(["2", null])],
        rows_affected: None,
        number_of_rows: 2,
        message: None,
    };
    check("query_result_page", &page);
    let statement = status.statements.into_iter().next().unwrap();
    let history = History {
        statements: vec![HistoryStatement { statement, query_job_id: j.id.clone(), warehouse: "KBSTACK".into(), backend_size: None }],
    };
    check("query_history", &history);
}

#[test]
fn editor_session() {
    use kbstack::editor::wire::{Credentials, Session};
    check(
        "editor_session",
        &Session {
            id: "5b0f8c7e-1d2a-4c3b-9e8f-0a1b2c3d4e5f".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-01T00:00:00.000Z".into(),
            status: "ready".into(),
            user_id: "1".into(),
            branch_id: "1".into(),
            component_id: "keboola.snowflake-transformation".into(),
            configuration_id: "123".into(),
            workspace_schema: "WORKSPACE_7".into(),
            workspace_database: "KBSTACK_WS_7".into(),
            workspace_id: "7".into(),
            workspace_create_job_id: None,
            workspace_load_jobs: vec![],
            read_only_storage_access: false,
            backend_type: "snowflake".into(),
            backend_size: None,
            last_error: None,
            shared: false,
            workspace_login_type: "snowflake-person-sso".into(),
            last_loaded_at: None,
        },
    );
    check("editor_credentials", &Credentials { private_key: "-----BEGIN PRIVATE KEY-----\n…".into(), public_key: "-----BEGIN PUBLIC KEY-----\n…".into() });
}

fn project(id: i64, name: &str) -> kbstack::storage::wire::bucket::ProjectRef {
    kbstack::storage::wire::bucket::ProjectRef { id, name: name.into() }
}

#[test]
fn shared_bucket_with_its_links() {
    use kbstack::storage::wire::bucket::LinkedBy;
    let mut b = bucket(kbstack::storage::wire::bucket::BucketTables::Url("http://127.0.0.1:8000/v2/storage/buckets/in.c-main/tables".into()), false);
    b.sharing = Some("specific-projects".into());
    b.sharing_parameters = json!({"projects": [{"id": 2}]});
    b.linked_by = Some(vec![LinkedBy { id: "in.c-linked".into(), created: "2026-01-02T03:04:05+0000".into(), project: project(2, "other") }]);
    check("bucket_shared", &b);
}

#[test]
fn linked_bucket() {
    use kbstack::storage::wire::bucket::SourceBucket;
    let mut b = bucket(kbstack::storage::wire::bucket::BucketTables::Url("http://127.0.0.1:8000/v2/storage/buckets/in.c-main/tables".into()), false);
    b.is_read_only = true;
    b.is_linked_bucket = true;
    b.bucket_sharing_allowed = false;
    b.backend_path = vec!["KBC_PRJ_2".into(), "in.c-shared".into()];
    b.source_bucket = Some(SourceBucket { id: "in.c-shared".into(), name: "c-shared".into(), description: "".into(), project: project(2, "other") });
    check("bucket_linked", &b);
}

#[test]
fn shared_bucket_list_item() {
    use kbstack::storage::wire::shared_bucket::{SharedBucket, SharedBy, SharedTable};
    let item = SharedBucket {
        id: "in.c-shared".into(),
        name: "c-shared".into(),
        display_name: "shared".into(),
        stage: "in".into(),
        description: "".into(),
        sharing: "organization-project".into(),
        created: "2026-01-02T03:04:05+0000".into(),
        last_change_date: Some("2026-01-02T03:04:05+0000".into()),
        data_size_bytes: 1536,
        rows_count: 32,
        backend: "snowflake".into(),
        project: project(2, "other"),
        tables: vec![SharedTable { id: "in.c-shared.languages".into(), name: "languages".into(), display_name: "languages".into() }],
        color: None,
        sharing_parameters: json!([]),
        shared_by: SharedBy { id: 5, name: "Master Token".into(), date: "2026-01-02T03:04:05+0000".into() },
        owner: None,
        updated: Some("2026-01-02T03:04:05+0000".into()),
        metadata: None,
    };
    check("shared_bucket_list_item", &item);
}

#[test]
fn global_search_response() {
    use kbstack::storage::wire::search::{GlobalSearch, SearchItem};
    let item = SearchItem {
        id: "12".into(),
        kind: "configuration-row".into(),
        name: "orders".into(),
        full_path: json!({
            "project": {"id": 1, "name": "kbstack"},
            "branch": {"id": 1, "name": "Main", "isDefault": true, "isNative": true},
            "component": {"id": "keboola.ex-db-mysql", "name": "MySQL"},
            "configuration": {"id": "11", "name": "Load orders"}
        }),
        component_id: Some("keboola.ex-db-mysql".into()),
        organization_id: 1,
        project_id: 1,
        project_name: "kbstack".into(),
        created: "2026-01-02T03:04:05+0000".into(),
    };
    let response = GlobalSearch {
        all: 1,
        items: vec![item],
        by_type: [("configuration-row".to_string(), 1), ("total".to_string(), 1)].into_iter().collect(),
        by_project: [("1".to_string(), "kbstack".to_string())].into_iter().collect(),
    };
    check("global_search", &response);
}

#[test]
fn vault_variables() {
    use kbstack::meta::vault_variables::VaultVariable;
    let variable = |key: &str, value: &str, flags: &[&str], branch: Option<&str>| {
        let attributes = branch.map(|b| [("branchId".to_string(), b.to_string())].into_iter().collect()).unwrap_or_default();
        VaultVariable {
            project_id: 1,
            hash: kbstack::vault::hash(key, &attributes),
            key: key.into(),
            value: value.into(),
            flags: flags.iter().map(|f| f.to_string()).collect(),
            attributes,
            created: "2026-01-02T03:04:05+0000".into(),
        }
    };
    let list = [
        variable("mysqlHost", "mysql.example.com", &[], None),
        variable("mysqlPassword", "KBC::ProjectWideSecure::eJxLtDKxqs60MjGwBgAJ2gJ3", &["encrypted"], Some("123")),
    ];
    check("vault_variables", &kbstack::vault::wire::Variable::list(&list));
}

#[test]
fn manage_token_verification_project_and_invitation() {
    use kbstack::manage::wire::*;
    let user = UserJson {
        id: 7,
        name: "Ann".into(),
        email: "ann@example.com".into(),
        mfa_enabled: false,
        features: vec!["early-adopter".into()],
        can_access_logs: true,
        is_super_admin: false,
        created: "2026-01-02T03:04:05+0000".into(),
    };
    let verify = TokenVerification {
        id: 3,
        description: "pat".into(),
        created: "2026-01-02T03:04:05+0000".into(),
        last_used: None,
        expires: None,
        is_session_token: false,
        is_expired: false,
        is_disabled: false,
        scopes: vec![],
        kind: "admin".into(),
        creator: Some(IdName { id: 7, name: "Ann".into() }),
        user: Some(user),
        token: None,
    };
    check("manage_token_verify", &verify);
    let project = ProjectJson {
        id: 2,
        name: "Alpha".into(),
        kind: "production".into(),
        region: "local".into(),
        created: "2026-01-02T03:04:05+0000".into(),
        expires: None,
        features: vec!["pay-as-you-go".into()],
        data_size_bytes: 1024,
        rows_count: 3,
        has_mysql: false,
        has_redshift: false,
        has_snowflake: true,
        has_synapse: false,
        has_exasol: false,
        has_teradata: false,
        default_backend: "snowflake".into(),
        has_try_mode_on: "0".into(),
        limits: kbstack::manage::project_limits(None),
        metrics: kbstack::storage::wire::token::named_values(&[("storage.dataSizeBytes", 1024), ("storage.rowsCount", 3)]),
        is_disabled: false,
        billed_monthly_price: None,
        data_retention_time_in_days: 7,
        description: String::new(),
        organization: ProjectOrganization {
            id: 1,
            name: "kbstack".into(),
            crm_id: String::new(),
            activity_center_project_id: None,
            created: "2026-01-01T00:00:00+0000".into(),
            allow_auto_join: true,
        },
        pay_as_you_go: PayAsYouGo { purchased_credits: 10.0 },
        is_deleted: None,
        deleted_time: None,
        is_purged: None,
        purged_time: None,
    };
    check("manage_project", &project);
    let invitation = InvitationJson {
        id: 113,
        created: "2026-01-02T03:04:05+0000".into(),
        expires: None,
        reason: "help".into(),
        role: "guest".into(),
        user: Some(IdNameEmail { id: 8, name: "bob@example.com".into(), email: "bob@example.com".into() }),
        project: None,
        creator: Some(IdNameEmail { id: 7, name: "Ann".into(), email: "ann@example.com".into() }),
    };
    check("manage_project_invitation", &invitation);
}

#[test]
fn metastore_objects() {
    use kbstack::meta::metastore::MetaObject;
    let object = |id: &str, scope: &str, targets: Vec<i64>, requested: Option<&str>| MetaObject {
        object_type: "semantic-metric".into(),
        id: id.into(),
        project_id: 1,
        organization_id: 1,
        name: "revenue".into(),
        branch: "main".into(),
        scope: scope.into(),
        target_project_ids: targets,
        schema_version: "1.0.0".into(),
        revision: 2,
        data: json!({"name": "revenue", "sql": "SUM(amount)", "dataset": "in.c-b.orders", "modelUUID": "6d1f0b0e-0000-4000-8000-000000000001"}),
        created_at: "2026-01-02T03:04:05.000Z".into(),
        last_updated: "2026-01-02T04:05:06.000Z".into(),
        scope_elevation_requested_at: requested.map(str::to_string),
    };
    let list = [
        object("6d1f0b0e-0000-4000-8000-000000000002", "project", vec![], Some("2026-01-03T00:00:00.000Z")),
        object("6d1f0b0e-0000-4000-8000-000000000003", "targeted", vec![2, 3], None),
        object("6d1f0b0e-0000-4000-8000-000000000004", "organization", vec![], None),
    ];
    check("metastore_objects", &json!({"data": kbstack::metastore::wire::Object::list(&list)}));
}

#[test]
fn templates_template_version_and_inputs() {
    use kbstack::templates::{inputs, repository, wire};
    let repo = repository::find("keboola").unwrap();
    let template = repo.template("csv-duckdb-report").unwrap();
    check("templates_template_detail", &wire::Template::of(repo, template, true));
    let version = template.version("1.0.0").unwrap();
    let defaults = std::collections::HashMap::new();
    check("templates_inputs", &wire::Inputs { step_groups: wire::step_groups(&version.body, &defaults), initial_state: inputs::initial_state(&version.body, &defaults) });
}

#[test]
fn templates_instance_and_task() {
    use kbstack::templates::wire::{ChangeInfo, Config, Instance, MainConfig, Task};
    let changed = ChangeInfo { date: "2026-01-02T03:04:05Z".into(), token_id: "1".into() };
    let instance = Instance {
        instance_id: "V1StGXR8IZ5jdHi6BAmyT".into(),
        template_id: "csv-duckdb-report".into(),
        version: "1.0.0".into(),
        repository_name: "keboola".into(),
        branch: "1".into(),
        name: "Sales by city".into(),
        created: changed.clone(),
        updated: changed,
        main_config: Some(MainConfig { component_id: "keboola.flow".into(), config_id: "12".into() }),
        template_detail: None,
        version_detail: None,
        configurations: vec![Config { component_id: "keboola.duckdb-transformation".into(), config_id: "11".into(), name: "Report: Sales by city".into() }],
    };
    check("templates_instance", &instance);
    let task = Task {
        id: "template.use/2026-01-02T03:04:05.000Z_abcde".into(),
        task_type: "template.use".into(),
        url: "https://templates.kbstack.local/v1/tasks/template.use/2026-01-02T03:04:05.000Z_abcde".into(),
        status: "success".into(),
        is_finished: true,
        created_at: "2026-01-02T03:04:05.000Z".into(),
        finished_at: Some("2026-01-02T03:04:05.120Z".into()),
        duration: Some(120),
        result: Some("template instance with id \"V1StGXR8IZ5jdHi6BAmyT\" created".into()),
        error: None,
        outputs: Some(json!({"instanceId": "V1StGXR8IZ5jdHi6BAmyT"})),
    };
    check("templates_task", &task);
}

/// The Stream service's Task (`202` of every change, `GET /v1/tasks/{id}`) and list page.
#[test]
fn stream_task_and_page() {
    use kbstack::stream::wire::{Page, Task};
    check(
        "stream_task",
        &Task {
            task_id: "source.create.0123abcd".into(),
            kind: "source.create".into(),
            url: "https://stream.local.keboola.dev/v1/tasks/source.create.0123abcd".into(),
            status: "success".into(),
            is_finished: true,
            created_at: "2026-01-02T03:04:05.000Z".into(),
            finished_at: Some("2026-01-02T03:04:05.000Z".into()),
            duration: Some(0),
            result: Some("source.create done".into()),
            error: None,
            outputs: json!({"projectId": 1, "branchId": 2, "sourceId": "events", "url": "https://stream.local.keboola.dev/v1/branches/2/sources/events"}),
        },
    );
    check("stream_page", &Page { after_id: "".into(), last_id: "events".into(), limit: 100, total_count: 1 });
}

#[test]
fn syrup_job_finished() {
    let mut job = kbstack::syrup::wire::SyrupJob::of(&queue_job(true), "http://127.0.0.1:8000/syrup");
    // The serving process's pid: fixed here.
    job.process.pid = 4242;
    check("syrup_job_finished", &job);
}

#[test]
fn orchestrator_orchestration_and_job() {
    use kbstack::orchestrator::wire::{Job, Orchestration};
    use serde_json::json;
    let token = json!({"id": 1661, "description": "Orchestrator Main orchestrator"});
    let tasks = vec![json!({"id": 1, "component": "keboola.ex-db-snowflake", "componentUrl": null, "action": "run",
        "actionParameters": {"config": "493493"}, "continueOnFailure": false, "timeoutMinutes": null, "active": true, "phase": "extract"})];
    let orchestration = |detail: bool| Orchestration {
        id: 2362,
        name: "Main orchestrator".into(),
        crontab_record: Some("0 * * * *".into()),
        created_time: "2026-01-01T10:00:00+00:00".into(),
        last_scheduled_time: None,
        next_scheduled_time: Some("2026-01-01T11:00:00+00:00".into()),
        active: true,
        token: token.clone(),
        uri: "https://syrup.keboola.com/orchestrator/orchestrations/2362".into(),
        configuration_id: "2362".into(),
        notifications: detail.then(|| vec![json!({"email": "ops@example.com", "channel": "error", "parameters": {}})]),
        tasks: detail.then(|| tasks.clone()),
    };
    check("orchestrator_orchestration", &orchestration(true));
    check("orchestrator_orchestration_in_a_list", &orchestration(false));
    let job = Job {
        id: 123,
        orchestration_id: 2362,
        created_time: "2026-01-01T10:00:00+00:00".into(),
        start_time: Some("2026-01-01T10:00:01+00:00".into()),
        end_time: Some("2026-01-01T10:00:09+00:00".into()),
        status: "success".into(),
        initialized_by: "manually".into(),
        token,
        initiator_token: json!({"id": 1, "description": "Master Token", "userAgent": "Guzzle"}),
        results: json!({"message": "Orchestration finished successfully.", "tasks": [], "phases": []}),
        notifications_emails: vec!["notify@me.com".into()],
        tasks,
        run_id: json!(123),
        uri: "https://syrup.keboola.com/orchestrator/jobs/123".into(),
    };
    check("orchestrator_job", &job);
}

#[test]
fn sqldep_analysis_and_graph() {
    // The analysis of a fixed script is deterministic: its whole shape is the snapshot.
    let analysis = kbstack::sqldep::analyze("CREATE TABLE s AS SELECT o.id, SUM(o.amount) AS total FROM orders o GROUP BY 1;\nSELECT FROM", "duckdb");
    check("sqldep_analysis", &analysis);
    use kbstack::graph::wire::{Edge, Graph, Node};
    let graph = Graph {
        focus: Some("table:in.c-ex.orders".into()),
        direction: Some("both".into()),
        depth: Some(2),
        nodes: vec![
            Node {
                id: "table:in.c-ex.orders".into(),
                kind: "table".into(),
                label: "in.c-ex.orders".into(),
                table_id: Some("in.c-ex.orders".into()),
                bucket_id: Some("in.c-ex".into()),
                name: Some("orders".into()),
                exists: true,
                ..Node::default()
            },
            Node {
                id: "config:keboola.ex-http/1".into(),
                kind: "configuration".into(),
                label: "Orders API".into(),
                component_id: Some("keboola.ex-http".into()),
                config_id: Some("1".into()),
                component_type: Some("extractor".into()),
                rows: vec![json!({"id": "r1", "name": "row", "isDisabled": false})],
                exists: true,
                last_job: Some(json!({"id": "7", "status": "success", "createdTime": "2026-01-02T03:04:05+00:00"})),
                ..Node::default()
            },
        ],
        edges: vec![Edge { columns: vec!["id".into()], row_id: Some("r1".into()), ..Edge::new("config:keboola.ex-http/1", "table:in.c-ex.orders", "output") }],
    };
    check("graph_lineage", &graph);
}
