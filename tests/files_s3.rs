//! Files on S3-compatible storage (`[files] backend = "s3"`), end to end through the real binary on
//! the test process's SeaweedFS: the Azure SDK uploads a file in blocks, it is loaded into a table,
//! the table is exported and the export downloaded; every object is in the bucket, none in the
//! data dir.
mod common;

use std::sync::Arc;

use common::Server;
use kbstack_store::blob::BlobBackend;
use kbstack_store::blob::s3::S3Backend;
use kbstack_store::s3::S3Settings;
use serde_json::json;

const PREFIX: &str = "node-files";

fn settings() -> S3Settings {
    S3Settings {
        endpoint: kbstack_testkit::s3::server().endpoint(),
        region: kbstack_testkit::s3::REGION.into(),
        access_key_id: kbstack_testkit::s3::ACCESS_KEY.into(),
        secret_access_key: kbstack_testkit::s3::SECRET_KEY.into(),
        path_style: true,
    }
}

fn start_on_s3(bucket: &str) -> Server {
    let s3 = settings();
    Server::start_with_env(&[
        ("KBSTACK_FILES_BACKEND", "s3"),
        ("KBSTACK_FILES_BUCKET", bucket),
        ("KBSTACK_FILES_PREFIX", PREFIX),
        ("KBSTACK_S3_ENDPOINT", &s3.endpoint),
        ("KBSTACK_S3_REGION", &s3.region),
        ("KBSTACK_S3_ACCESS_KEY_ID", &s3.access_key_id),
        ("KBSTACK_S3_SECRET_ACCESS_KEY", &s3.secret_access_key),
        ("KBSTACK_S3_PATH_STYLE", "true"),
    ])
}

/// The bucket's objects under the files prefix, as names and sizes.
fn bucket_objects(bucket: &str, prefix: &str) -> Vec<(String, u64)> {
    objects_under(bucket, PREFIX, prefix)
}

/// Staged blocks (objects under the files prefix's `_staging/`).
fn staged_blocks(bucket: &str) -> Vec<(String, u64)> {
    objects_under(bucket, &format!("{PREFIX}/_staging"), "")
}

fn objects_under(bucket: &str, key_prefix: &str, prefix: &str) -> Vec<(String, u64)> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let backend: Arc<dyn BlobBackend> = Arc::new(S3Backend::new(&settings(), bucket, key_prefix).unwrap());
    rt.block_on(backend.list(prefix)).unwrap().into_iter().map(|m| (m.name, m.size)).collect()
}

/// Every regular file under `dir`.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() { out.extend(files_under(&p)) } else { out.push(p) }
        }
    }
    out
}

#[test]
fn azure_blocks_to_table_to_export_on_s3() {
    let Some(python) = common::venv_python("azure.storage.blob") else {
        eprintln!("azure_blocks_to_table_to_export_on_s3: no Python with azure-storage-blob (set KBSTACK_TEST_PYTHON); not run");
        return;
    };
    let bucket = kbstack_testkit::s3::bucket();
    let s = start_on_s3(&bucket);

    // ~1.3 MB of CSV, uploaded by the Azure SDK in 256 KiB blocks, three at a time.
    let mut csv = String::from("id,name\n");
    for i in 0..60_000 {
        csv.push_str(&format!("{i},name-{i:06}\n"));
    }
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("big.csv");
    std::fs::write(&path, &csv).unwrap();
    let (st, f) = s.post_form("files/prepare", &[("name", "big.csv"), ("federationToken", "1")]);
    assert_eq!(st, 201, "{f}");
    let params = &f["absUploadParams"];
    let out = std::process::Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/upload_in_blocks.py"))
        .args([
            params["absCredentials"]["SASConnectionString"].as_str().unwrap(),
            params["container"].as_str().unwrap(),
            params["blobName"].as_str().unwrap(),
            path.to_str().unwrap(),
        ])
        .output()
        .expect("run python");
    let log = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{log}");
    let blocks: usize = log.split_whitespace().skip_while(|w| *w != "blocks").nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(blocks >= 5, "the upload went through blocks: {log}");
    let file_id = f["id"].as_i64().unwrap();
    let (_, detail) = s.get(&format!("files/{file_id}"));
    assert_eq!(detail["sizeBytes"], csv.len() as i64, "{detail}");
    assert_eq!(s.download(file_id), csv.as_bytes());

    // The object is in the bucket, whole; the staged blocks are gone.
    let blob = params["blobName"].as_str().unwrap().to_string();
    assert_eq!(bucket_objects(&bucket, &blob), vec![(blob.clone(), csv.len() as u64)]);
    assert!(staged_blocks(&bucket).is_empty(), "{:?}", staged_blocks(&bucket));

    // Loaded into a table (the loader reads a downloaded copy), exported, downloaded.
    assert_eq!(s.post_json("buckets", json!({"name": "s3"})).0, 201);
    let (st, job) = s.post_form("buckets/in.c-s3/tables-async", &[("name", "big"), ("dataFileId", &file_id.to_string()), ("primaryKey", "id")]);
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    let table = job["results"]["id"].as_str().unwrap().to_string();
    let (_, t) = s.get(&format!("tables/{table}"));
    assert_eq!(t["rowsCount"], 60_000, "{t}");
    let (st, job) = s.post_form(&format!("tables/{table}/export-async"), &[]);
    assert_eq!(st, 202, "{job}");
    let job = s.wait_job(&job);
    assert_eq!(job["status"], "success", "{job}");
    let export_id = job["results"]["file"]["id"].as_i64().unwrap();
    let exported = String::from_utf8(s.download(export_id)).unwrap();
    let mut lines: Vec<&str> = exported.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 60_000);
    assert!(lines.contains(&"\"59999\",\"name-059999\""), "{}", &exported[..200.min(exported.len())]);
    let (_, ef) = s.get(&format!("files/{export_id}?federationToken=1"));
    assert_eq!(ef["isSliced"], true);
    let export_dir = format!("{}/", ef["absPath"]["name"].as_str().unwrap().trim_end_matches('/').rsplit_once('/').unwrap().0);
    let objects = bucket_objects(&bucket, &export_dir);
    assert!(objects.iter().any(|(n, _)| n.ends_with("manifest")), "{objects:?}");
    assert!(objects.len() >= 2, "{objects:?}");

    // Nothing of the objects on the node's disk: no blob tree, an empty scratch dir.
    assert!(files_under(&s.data_dir.join("blobs")).is_empty(), "{:?}", files_under(&s.data_dir.join("blobs")));
    assert!(files_under(&s.data_dir.join("blobs-blocks")).is_empty());
    assert!(files_under(&s.data_dir.join("blobs-staging")).is_empty(), "{:?}", files_under(&s.data_dir.join("blobs-staging")));

    // Deleting the file removes its objects from the bucket.
    assert_eq!(s.delete(&format!("files/{file_id}")).0, 204);
    assert!(bucket_objects(&bucket, &blob).is_empty());
}

/// Blocks of one upload staged by two nodes (the server, and a second backend on the same bucket
/// standing in for another node) are committed by the server: nothing of a block is node-local.
#[test]
fn blocks_staged_on_one_node_are_committed_on_another() {
    let bucket = kbstack_testkit::s3::bucket();
    let a = start_on_s3(&bucket);
    let (st, f) = a.post_form("files/prepare", &[("name", "two-nodes.txt"), ("federationToken", "1")]);
    assert_eq!(st, 201, "{f}");
    let (endpoint, sas) = common::parse_connection_string(f["absUploadParams"]["absCredentials"]["SASConnectionString"].as_str().unwrap());
    let blob = f["absUploadParams"]["blobName"].as_str().unwrap().to_string();
    let url = format!("{endpoint}/kbstack-files/{blob}?{sas}");
    let resp = a.client.put(format!("{url}&comp=block&blockid=QQ==")).body("from node a, ").send().unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    // The block lives in the bucket (not listed as an object), not on the server's disk.
    assert!(bucket_objects(&bucket, "").is_empty());
    assert_eq!(staged_blocks(&bucket).len(), 1);
    assert!(files_under(&a.data_dir.join("blobs-staging")).is_empty());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let other_node: Arc<dyn BlobBackend> = Arc::new(S3Backend::new(&settings(), &bucket, PREFIX).unwrap());
    let body: kbstack_store::blob::ByteStream = Box::pin(futures::stream::iter(vec![Ok(bytes::Bytes::from_static(b"from node b"))]));
    rt.block_on(other_node.stage_block(&blob, "Qg==", body)).unwrap();
    let resp = a
        .client
        .put(format!("{url}&comp=blocklist"))
        .body("<BlockList><Latest>QQ==</Latest><Latest>Qg==</Latest></BlockList>")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(a.client.get(&url).send().unwrap().text().unwrap(), "from node a, from node b");
    assert!(staged_blocks(&bucket).is_empty());
    assert!(files_under(&a.data_dir.join("blobs-staging")).is_empty());
}
