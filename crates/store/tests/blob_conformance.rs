//! The blob backend conformance suite, for every implementation: local disk (two backends on one
//! data dir) and S3 (two backends on one fresh prefix of the test process's SeaweedFS bucket).
use std::sync::Arc;

use kbstack_store::blob::BlobBackend;
use kbstack_store::blob::local::LocalBackend;
use kbstack_store::blob::s3::S3Backend;
use kbstack_store::s3::S3Settings;

type Pair = (Arc<dyn BlobBackend>, Arc<dyn BlobBackend>);

mod local {
    use super::*;

    async fn make() -> Pair {
        // Leaked: the directory must outlive both backends, and the test process is short-lived.
        let dir = Box::leak(Box::new(tempfile::tempdir().unwrap())).path().to_path_buf();
        let open = || -> Arc<dyn BlobBackend> {
            Arc::new(LocalBackend::open(dir.join("blobs/kbstack-files"), dir.join("blobs-blocks"), dir.join("blobs-staging")).unwrap())
        };
        (open(), open())
    }

    kbstack_store::blob_backend_suite!(make);
}

mod s3 {
    use super::*;

    /// One bucket for the process, a fresh prefix per test: SeaweedFS gives every bucket volumes
    /// of its own, and a few dozen buckets exhaust `weed mini`'s volume slots.
    fn bucket() -> String {
        static BUCKET: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        BUCKET.get_or_init(kbstack_testkit::s3::bucket).clone()
    }

    async fn make() -> Pair {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let (server, bucket) = tokio::task::spawn_blocking(|| (kbstack_testkit::s3::server().endpoint(), bucket())).await.unwrap();
        let settings = S3Settings {
            endpoint: server,
            region: kbstack_testkit::s3::REGION.into(),
            access_key_id: kbstack_testkit::s3::ACCESS_KEY.into(),
            secret_access_key: kbstack_testkit::s3::SECRET_KEY.into(),
            path_style: true,
        };
        // Under a prefix, as a deployment sharing a bucket would be.
        let prefix = format!("test-{}/files/", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let open = || -> Arc<dyn BlobBackend> { Arc::new(S3Backend::new(&settings, &bucket, &prefix).unwrap()) };
        (open(), open())
    }

    kbstack_store::blob_backend_suite!(make);
}
