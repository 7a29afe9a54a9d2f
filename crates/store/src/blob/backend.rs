//! The object storage behind the blob store: the trait every implementation (local disk, S3)
//! provides, and its conformance suite (`blob_backend_suite!`).
//!
//! Objects are named by blob names (`valid_blob_name`). Uncommitted blocks (Azure's Put Block) are
//! kept by the backend itself, never on a node's own disk, so that any node can take any block of an
//! upload and any node can commit the block list.
use std::ops::Range;
use std::path::Path;
use std::time::SystemTime;

use super::ByteStream;
use kbstack_core::{Code, Error as ApiError, Result as ApiResult};

/// What a backend knows of one stored object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectMeta {
    pub name: String,
    pub size: u64,
    pub modified: SystemTime,
    /// Quoted (`"…"`), stable while the object is unchanged.
    pub etag: String,
}

#[async_trait::async_trait]
pub trait BlobBackend: Send + Sync {
    /// Publish the complete file at `file` as the object `name`: readers see the old object or the
    /// new one, never a part. The file is consumed (moved or removed). With `no_overwrite` an
    /// existing object is an error (`BlobAlreadyExists`).
    async fn put_file(&self, name: &str, file: &Path, no_overwrite: bool) -> ApiResult<ObjectMeta>;

    /// A small object from memory (manifests), atomically like `put_file`.
    async fn put_bytes(&self, name: &str, data: bytes::Bytes) -> ApiResult<ObjectMeta>;

    /// The object's size and version, `None` when there is none.
    async fn head(&self, name: &str) -> ApiResult<Option<ObjectMeta>>;

    /// The bytes `range` of the object (the caller checked the range against its size).
    async fn get_range(&self, name: &str, range: Range<u64>) -> ApiResult<ByteStream>;

    /// Copy the whole object into the local file `to` (created or truncated); its size.
    async fn download(&self, name: &str, to: &Path) -> ApiResult<u64>;

    /// Remove the object; a missing one is no error.
    async fn delete(&self, name: &str) -> ApiResult<()>;

    /// Remove every object whose name starts with `prefix`, and every uncommitted block of such
    /// objects.
    async fn delete_prefix(&self, prefix: &str) -> ApiResult<()>;

    /// The objects whose name starts with `prefix`, sorted by name.
    async fn list(&self, prefix: &str) -> ApiResult<Vec<ObjectMeta>>;

    /// Keep the body as block `block_id` of the future object `name` (a block sent again replaces
    /// the earlier one); a body that breaks off stages nothing. Its size.
    async fn stage_block(&self, name: &str, block_id: &str, body: ByteStream) -> ApiResult<u64>;

    /// Build the object `name` from its staged blocks in the order of `block_ids` and publish it
    /// atomically; the blob's staged blocks are then discarded (Azure's Put Block List). A block
    /// that was never staged is `InvalidBlockList`.
    async fn commit_blocks(&self, name: &str, block_ids: &[String], no_overwrite: bool) -> ApiResult<ObjectMeta>;

    /// Where the object lies on this node's disk, when the backend keeps objects there: readers
    /// (DuckDB loads) then take it in place instead of a downloaded copy. Never for object stores.
    fn local_path(&self, _name: &str) -> Option<std::path::PathBuf> {
        None
    }
}

pub fn never_uploaded(id: &str) -> ApiError {
    ApiError::new(Code::InvalidBlockList, format!("The block \"{id}\" was never uploaded."))
}

pub fn already_exists() -> ApiError {
    ApiError::new(Code::BlobAlreadyExists, "The specified blob already exists.")
}

/// File names of staged blocks: block ids are client-chosen (up to 1 KB of anything).
pub fn block_key(block_id: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(block_id.as_bytes()))
}

/// The conformance suite every `BlobBackend` passes. `$make` is an async fn (or closure returning a
/// future) giving a `(backend, second node's backend)` pair over the same storage.
#[macro_export]
macro_rules! blob_backend_suite {
    ($make:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn blob_backend_put_head_get_delete() {
            let (b, _) = $make().await;
            $crate::blob::backend::suite::put_head_get_delete(&*b).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn blob_backend_replace_is_atomic() {
            let (b, _) = $make().await;
            $crate::blob::backend::suite::replace_is_atomic(&*b).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn blob_backend_range_reads() {
            let (b, _) = $make().await;
            $crate::blob::backend::suite::range_reads(&*b).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn blob_backend_no_overwrite() {
            let (b, _) = $make().await;
            $crate::blob::backend::suite::no_overwrite(&*b).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn blob_backend_blocks_committed_by_another_node() {
            let (a, b) = $make().await;
            $crate::blob::backend::suite::blocks_committed_by_another_node(&*a, &*b).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn blob_backend_block_lists_reorder_and_fail_on_unknown() {
            let (a, _) = $make().await;
            $crate::blob::backend::suite::block_lists_reorder_and_fail_on_unknown(&*a).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn blob_backend_large_block_commit() {
            let (a, b) = $make().await;
            $crate::blob::backend::suite::large_block_commit(&*a, &*b).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn blob_backend_list_and_delete_prefix() {
            let (a, b) = $make().await;
            $crate::blob::backend::suite::list_and_delete_prefix(&*a, &*b).await;
        }
    };
}

pub mod suite {
    use super::*;
    use futures::StreamExt;

    fn body(data: &[u8]) -> ByteStream {
        // Two chunks, as a network body arrives.
        let data = bytes::Bytes::copy_from_slice(data);
        let half = data.len() / 2;
        let chunks = vec![Ok(data.slice(..half)), Ok(data.slice(half..))];
        Box::pin(futures::stream::iter(chunks))
    }

    fn broken_body(data: &[u8]) -> ByteStream {
        let chunks = vec![Ok(bytes::Bytes::copy_from_slice(data)), Err(std::io::Error::other("client went away"))];
        Box::pin(futures::stream::iter(chunks))
    }

    async fn read(b: &dyn BlobBackend, name: &str) -> Vec<u8> {
        let size = b.head(name).await.unwrap().expect("object exists").size;
        read_range(b, name, 0..size).await
    }

    async fn read_range(b: &dyn BlobBackend, name: &str, range: std::ops::Range<u64>) -> Vec<u8> {
        let mut stream = b.get_range(name, range).await.unwrap();
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        out
    }

    fn temp_file(data: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload");
        std::fs::write(&path, data).unwrap();
        (dir, path)
    }

    pub async fn put_head_get_delete(b: &dyn BlobBackend) {
        assert_eq!(b.head("p1/f1/a.csv").await.unwrap(), None);
        let (_dir, path) = temp_file(b"id,name\n1,a\n");
        let meta = b.put_file("p1/f1/a.csv", &path, false).await.unwrap();
        assert_eq!(meta.size, 12);
        assert!(meta.etag.starts_with('"'));
        let head = b.head("p1/f1/a.csv").await.unwrap().unwrap();
        assert_eq!((head.size, &head.etag), (12, &meta.etag));
        assert_eq!(read(b, "p1/f1/a.csv").await, b"id,name\n1,a\n");
        let local = tempfile::tempdir().unwrap();
        let to = local.path().join("copy");
        assert_eq!(b.download("p1/f1/a.csv", &to).await.unwrap(), 12);
        assert_eq!(std::fs::read(&to).unwrap(), b"id,name\n1,a\n");
        b.put_bytes("p1/f1/manifest", bytes::Bytes::from_static(b"{}")).await.unwrap();
        assert_eq!(read(b, "p1/f1/manifest").await, b"{}");
        b.delete("p1/f1/a.csv").await.unwrap();
        assert_eq!(b.head("p1/f1/a.csv").await.unwrap(), None);
        b.delete("p1/f1/a.csv").await.unwrap();
        assert!(b.download("p1/f1/a.csv", &to).await.is_err());
        // An empty object is an object.
        let (_dir, empty) = temp_file(b"");
        assert_eq!(b.put_file("p1/f1/empty", &empty, false).await.unwrap().size, 0);
        assert_eq!(b.head("p1/f1/empty").await.unwrap().unwrap().size, 0);
    }

    pub async fn replace_is_atomic(b: &dyn BlobBackend) {
        let old = vec![b'o'; 300_000];
        let new = vec![b'n'; 200_000];
        let (_d1, p1) = temp_file(&old);
        b.put_file("p1/f2/x", &p1, false).await.unwrap();
        let (_d2, p2) = temp_file(&new);
        // Readers racing the replace see the old object whole or the new one whole.
        let reader = async {
            for _ in 0..20 {
                if let Ok(Some(meta)) = b.head("p1/f2/x").await {
                    if let Ok(mut s) = b.get_range("p1/f2/x", 0..meta.size).await {
                        let mut got = Vec::new();
                        let mut ok = true;
                        while let Some(c) = s.next().await {
                            match c {
                                Ok(c) => got.extend_from_slice(&c),
                                Err(_) => ok = false,
                            }
                        }
                        if ok && !got.is_empty() {
                            assert!(got == old || got == new, "a reader saw a mix of {} bytes", got.len());
                        }
                    }
                }
            }
        };
        let (put, ()) = tokio::join!(b.put_file("p1/f2/x", &p2, false), reader);
        assert_eq!(put.unwrap().size, 200_000);
        assert_eq!(read(b, "p1/f2/x").await, new);
        // A failed upload (body broken off) leaves the object as it was.
        assert!(b.stage_block("p1/f2/x", "b1", broken_body(b"junk")).await.is_err());
        assert!(b.commit_blocks("p1/f2/x", &["b1".to_string()], false).await.is_err());
        assert_eq!(read(b, "p1/f2/x").await, new);
    }

    pub async fn range_reads(b: &dyn BlobBackend) {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let (_d, p) = temp_file(&data);
        b.put_file("p1/f3/r", &p, false).await.unwrap();
        assert_eq!(read_range(b, "p1/f3/r", 0..1).await, &data[..1]);
        assert_eq!(read_range(b, "p1/f3/r", 1000..50_123).await, &data[1000..50_123]);
        assert_eq!(read_range(b, "p1/f3/r", 99_990..100_000).await, &data[99_990..]);
    }

    pub async fn no_overwrite(b: &dyn BlobBackend) {
        let (_d, p) = temp_file(b"first");
        b.put_file("p1/f4/once", &p, true).await.unwrap();
        let (_d2, p2) = temp_file(b"second");
        let err = b.put_file("p1/f4/once", &p2, true).await.unwrap_err();
        assert_eq!(err.code, Code::BlobAlreadyExists);
        b.stage_block("p1/f4/once", "a", body(b"third")).await.unwrap();
        let err = b.commit_blocks("p1/f4/once", &["a".to_string()], true).await.unwrap_err();
        assert_eq!(err.code, Code::BlobAlreadyExists);
        assert_eq!(read(b, "p1/f4/once").await, b"first");
    }

    pub async fn blocks_committed_by_another_node(a: &dyn BlobBackend, b: &dyn BlobBackend) {
        // Blocks land on both nodes; a third request (to either) commits them.
        a.stage_block("p1/f5/data.csv", "QUFB", body(b"id,name\n")).await.unwrap();
        b.stage_block("p1/f5/data.csv", "QkJC", body(b"1,a\n")).await.unwrap();
        a.stage_block("p1/f5/data.csv", "Q0ND", body(b"2,b\n")).await.unwrap();
        let ids: Vec<String> = ["QUFB", "QkJC", "Q0ND"].map(String::from).to_vec();
        let meta = b.commit_blocks("p1/f5/data.csv", &ids, false).await.unwrap();
        assert_eq!(meta.size, 16);
        assert_eq!(read(a, "p1/f5/data.csv").await, b"id,name\n1,a\n2,b\n");
        // Committed blocks are gone: committing them again fails.
        let err = a.commit_blocks("p1/f5/data.csv", &ids, false).await.unwrap_err();
        assert_eq!(err.code, Code::InvalidBlockList);
        // Staged blocks are not objects.
        let names: Vec<String> = a.list("p1/f5/").await.unwrap().into_iter().map(|m| m.name).collect();
        assert_eq!(names, vec!["p1/f5/data.csv".to_string()]);
    }

    pub async fn block_lists_reorder_and_fail_on_unknown(a: &dyn BlobBackend) {
        a.stage_block("p1/f6/x", "1", body(b"one")).await.unwrap();
        a.stage_block("p1/f6/x", "2", body(b"two")).await.unwrap();
        a.stage_block("p1/f6/x", "1", body(b"ONE")).await.unwrap();
        let err = a.commit_blocks("p1/f6/x", &["1".into(), "9".into()], false).await.unwrap_err();
        assert_eq!(err.code, Code::InvalidBlockList);
        assert_eq!(a.head("p1/f6/x").await.unwrap(), None);
        // A block sent again replaces the earlier; a list may reorder and repeat.
        a.commit_blocks("p1/f6/x", &["2".into(), "1".into(), "2".into()], false).await.unwrap();
        assert_eq!(read(a, "p1/f6/x").await, b"twoONEtwo");
        // An empty list is an empty object.
        a.commit_blocks("p1/f6/empty", &[], false).await.unwrap();
        assert_eq!(a.head("p1/f6/empty").await.unwrap().unwrap().size, 0);
    }

    pub async fn large_block_commit(a: &dyn BlobBackend, b: &dyn BlobBackend) {
        // Blocks of SDK size (4 MiB and odd), across S3's 5 MiB part minimum.
        let blocks: Vec<Vec<u8>> = (0..4u8).map(|i| vec![b'a' + i; 4 * 1024 * 1024 + 17 * i as usize]).collect();
        let mut ids = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            let node = if i % 2 == 0 { a } else { b };
            let id = format!("block-{i:04}");
            assert_eq!(node.stage_block("p1/f7/big", &id, body(block)).await.unwrap(), block.len() as u64);
            ids.push(id);
        }
        let meta = a.commit_blocks("p1/f7/big", &ids, false).await.unwrap();
        let all: Vec<u8> = blocks.concat();
        assert_eq!(meta.size, all.len() as u64);
        assert_eq!(read(b, "p1/f7/big").await, all);
    }

    pub async fn list_and_delete_prefix(a: &dyn BlobBackend, b: &dyn BlobBackend) {
        for name in ["p2/f1/a", "p2/f1/sub/b", "p2/f10/c", "p2/f2/d"] {
            a.put_bytes(name, bytes::Bytes::from(name.to_string())).await.unwrap();
        }
        let names = |v: Vec<ObjectMeta>| v.into_iter().map(|m| m.name).collect::<Vec<_>>();
        assert_eq!(names(b.list("p2/f1/").await.unwrap()), vec!["p2/f1/a", "p2/f1/sub/b"]);
        assert_eq!(names(b.list("p2/").await.unwrap()), vec!["p2/f1/a", "p2/f1/sub/b", "p2/f10/c", "p2/f2/d"]);
        assert_eq!(b.list("p2/f1/").await.unwrap()[0].size, 7);
        assert!(b.list("p3/").await.unwrap().is_empty());
        // Deleting a file's prefix takes its objects and its uncommitted blocks, nothing else.
        a.stage_block("p2/f1/pending", "x", body(b"staged")).await.unwrap();
        b.delete_prefix("p2/f1/").await.unwrap();
        assert!(a.list("p2/f1/").await.unwrap().is_empty());
        assert_eq!(names(a.list("p2/").await.unwrap()), vec!["p2/f10/c", "p2/f2/d"]);
        let err = a.commit_blocks("p2/f1/pending", &["x".into()], false).await.unwrap_err();
        assert_eq!(err.code, Code::InvalidBlockList);
        b.delete_prefix("p9/").await.unwrap();
    }
}
