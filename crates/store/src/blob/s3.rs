//! Objects in an S3-compatible bucket (`[files] backend = "s3"`): `<prefix><blob name>`, staged
//! blocks as objects `<prefix>_staging/<blob name>.blocks/<sha256(block id)>`, so that every node
//! sees every block. A commit streams the blocks in order into one multipart upload (its parts
//! are at least `PART` bytes whatever the block size: S3 wants 5 MiB but for the last); S3 makes a
//! put or a completed multipart upload visible whole, so readers see the old object or the new one.
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use super::ByteStream;
use super::backend::{BlobBackend, ObjectMeta, already_exists, block_key, never_uploaded};
use crate::s3::S3Settings;
use kbstack_core::{Error as ApiError, Result as ApiResult};

/// Multipart part size, and the size up to which an object goes in one PUT.
const PART: usize = 16 * 1024 * 1024;
/// Parts uploaded at once by one commit.
const PARTS_IN_FLIGHT: usize = 4;
const STAGING: &str = "_staging/";

pub struct S3Backend {
    store: Arc<AmazonS3>,
    /// Empty or ending in `/`.
    prefix: String,
}

fn s3_error(e: object_store::Error) -> ApiError {
    ApiError::internal(format!("object storage: {e}"))
}

fn io_error(e: object_store::Error) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

impl S3Backend {
    pub fn new(settings: &S3Settings, bucket: &str, prefix: &str) -> anyhow::Result<S3Backend> {
        // reqwest is built with rustls but no crypto provider of its own: ring (no aws-lc C build).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(if settings.region.is_empty() { "us-east-1" } else { settings.region.as_str() })
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(&settings.secret_access_key)
            .with_virtual_hosted_style_request(!settings.path_style)
            .with_allow_http(settings.endpoint.starts_with("http://"))
            // A few quick retries: a request that keeps failing is an error for the client to retry,
            // not minutes of backoff inside one API call.
            .with_retry(object_store::RetryConfig {
                max_retries: 3,
                retry_timeout: std::time::Duration::from_secs(20),
                ..Default::default()
            });
        if !settings.endpoint.is_empty() {
            builder = builder.with_endpoint(settings.endpoint.trim_end_matches('/'));
        }
        let store = builder.build().map_err(|e| anyhow::anyhow!("S3 file storage: {e}"))?;
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        Ok(S3Backend { store: Arc::new(store), prefix })
    }

    fn key(&self, name: &str) -> Key {
        Key::from(format!("{}{name}", self.prefix))
    }

    fn block_dir(&self, name: &str) -> Key {
        Key::from(format!("{}{STAGING}{name}.blocks", self.prefix))
    }

    fn block(&self, name: &str, block_id: &str) -> Key {
        Key::from(format!("{}/{}", self.block_dir(name).as_ref(), block_key(block_id)))
    }

    /// The blob name of a key (object_store percent-encodes the few characters it does not keep).
    fn name_of(&self, key: &Key) -> Option<String> {
        let raw = key.as_ref().strip_prefix(&self.prefix)?;
        Some(percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned())
    }

    fn meta(&self, name: &str, m: &object_store::ObjectMeta) -> ObjectMeta {
        // Azure's shape (`"0x…"` in upper-case hex), which clients see from the local store too:
        // S3's ETag (an MD5, `-<parts>` after a multipart upload) keeps its hex digits, so it stays
        // stable while the object is unchanged and changes with it.
        let etag = match &m.e_tag {
            Some(t) => format!("\"0x{}\"", t.chars().filter(char::is_ascii_hexdigit).collect::<String>().to_ascii_uppercase()),
            None => format!("\"0x{:X}{:X}\"", m.last_modified.timestamp_nanos_opt().unwrap_or_default(), m.size),
        };
        ObjectMeta { name: name.to_string(), size: m.size, modified: m.last_modified.into(), etag }
    }

    /// Objects under `prefix` (a key prefix, not only whole path segments).
    async fn list_keys(&self, prefix: &str) -> ApiResult<Vec<object_store::ObjectMeta>> {
        let dir = match prefix.rfind('/') {
            Some(i) => Some(Key::from(&prefix[..i])),
            None => None,
        };
        let full = Key::from(prefix.to_string());
        // `Key::from` drops a trailing `/`: compare against the prefix as a key, then by segment.
        let wanted = |k: &Key| {
            let k = k.as_ref();
            if prefix.ends_with('/') { k.starts_with(&format!("{}/", full.as_ref())) } else { k.starts_with(full.as_ref()) }
        };
        let all: Vec<object_store::ObjectMeta> = self.store.list(dir.as_ref()).try_collect().await.map_err(s3_error)?;
        Ok(all.into_iter().filter(|m| wanted(&m.location)).collect())
    }

    async fn delete_keys(&self, keys: Vec<Key>) -> ApiResult<()> {
        let stream = futures::stream::iter(keys.into_iter().map(Ok)).boxed();
        let results: Vec<_> = self.store.delete_stream(stream).collect().await;
        for r in results {
            match r {
                Err(e) if !is_not_found(&e) => return Err(s3_error(e)),
                _ => {}
            }
        }
        Ok(())
    }

    async fn put_head(&self, name: &str) -> ApiResult<ObjectMeta> {
        self.head(name).await?.ok_or_else(|| ApiError::internal("object storage: an object just written is missing"))
    }

    /// No atomic "create if absent" across S3-compatible stores: checked just before the write
    /// (two uploads racing for the same new name may both succeed; the later wins).
    async fn check_absent(&self, name: &str, no_overwrite: bool) -> ApiResult<()> {
        if no_overwrite && self.head(name).await?.is_some() {
            return Err(already_exists());
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl BlobBackend for S3Backend {
    async fn put_file(&self, name: &str, file: &Path, no_overwrite: bool) -> ApiResult<ObjectMeta> {
        let result = async {
            self.check_absent(name, no_overwrite).await?;
            let size = tokio::fs::metadata(file).await?.len();
            if size as usize <= PART {
                let data = tokio::fs::read(file).await?;
                self.store.put(&self.key(name), PutPayload::from(data)).await.map_err(s3_error)?;
            } else {
                let upload = self.store.put_multipart(&self.key(name)).await.map_err(s3_error)?;
                let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
                let mut reader = tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::open(file).await?, 1024 * 1024);
                while let Some(chunk) = reader.next().await {
                    match chunk {
                        Ok(chunk) => {
                            writer.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(s3_error)?;
                            writer.put(chunk);
                        }
                        Err(e) => {
                            let _ = writer.abort().await;
                            return Err(e.into());
                        }
                    }
                }
                writer.finish().await.map_err(s3_error)?;
            }
            self.put_head(name).await
        }
        .await;
        let _ = tokio::fs::remove_file(file).await;
        result
    }

    async fn put_bytes(&self, name: &str, data: bytes::Bytes) -> ApiResult<ObjectMeta> {
        self.store.put(&self.key(name), PutPayload::from(data)).await.map_err(s3_error)?;
        self.put_head(name).await
    }

    async fn head(&self, name: &str) -> ApiResult<Option<ObjectMeta>> {
        match self.store.head(&self.key(name)).await {
            Ok(m) => Ok(Some(self.meta(name, &m))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(s3_error(e)),
        }
    }

    async fn get_range(&self, name: &str, range: Range<u64>) -> ApiResult<ByteStream> {
        if range.is_empty() {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let opts = GetOptions { range: Some(GetRange::Bounded(range)), ..Default::default() };
        let got = self.store.get_opts(&self.key(name), opts).await.map_err(|e| {
            if is_not_found(&e) { ApiError::new(kbstack_core::Code::BlobNotFound, "The specified blob does not exist.") } else { s3_error(e) }
        })?;
        Ok(got.into_stream().map_err(io_error).boxed())
    }

    async fn download(&self, name: &str, to: &Path) -> ApiResult<u64> {
        use tokio::io::AsyncWriteExt;
        let got = self.store.get(&self.key(name)).await.map_err(s3_error)?;
        let mut stream = got.into_stream();
        let mut file = tokio::fs::File::create(to).await?;
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(s3_error)?;
            file.write_all(&chunk).await?;
            written += chunk.len() as u64;
        }
        file.flush().await?;
        Ok(written)
    }

    async fn delete(&self, name: &str) -> ApiResult<()> {
        match self.store.delete(&self.key(name)).await {
            Err(e) if !is_not_found(&e) => Err(s3_error(e)),
            _ => Ok(()),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> ApiResult<()> {
        let mut keys: Vec<Key> = Vec::new();
        for p in [format!("{}{prefix}", self.prefix), format!("{}{STAGING}{prefix}", self.prefix)] {
            keys.extend(self.list_keys(&p).await?.into_iter().map(|m| m.location));
        }
        self.delete_keys(keys).await
    }

    async fn list(&self, prefix: &str) -> ApiResult<Vec<ObjectMeta>> {
        let staging = format!("{}{STAGING}", self.prefix);
        let mut out: Vec<ObjectMeta> = self
            .list_keys(&format!("{}{prefix}", self.prefix))
            .await?
            .iter()
            .filter(|m| !m.location.as_ref().starts_with(&staging))
            .filter_map(|m| self.name_of(&m.location).map(|name| self.meta(&name, m)))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn stage_block(&self, name: &str, block_id: &str, body: ByteStream) -> ApiResult<u64> {
        // A block is whole or absent: gathered, then one PUT (SDK blocks are 4–100 MiB).
        let chunks: Vec<bytes::Bytes> = body
            .try_collect()
            .await
            .map_err(|e| ApiError::new(kbstack_core::Code::BlobInvalidInput, format!("The request body could not be read: {e}")))?;
        let size = chunks.iter().map(|c| c.len() as u64).sum();
        let payload: PutPayload = chunks.into_iter().collect();
        self.store.put(&self.block(name, block_id), payload).await.map_err(s3_error)?;
        Ok(size)
    }

    async fn commit_blocks(&self, name: &str, block_ids: &[String], no_overwrite: bool) -> ApiResult<ObjectMeta> {
        // Every block must exist before anything is written.
        let mut total = 0u64;
        for id in block_ids {
            match self.store.head(&self.block(name, id)).await {
                Ok(m) => total += m.size,
                Err(e) if is_not_found(&e) => return Err(never_uploaded(id)),
                Err(e) => return Err(s3_error(e)),
            }
        }
        self.check_absent(name, no_overwrite).await?;
        let missing = |id: &str, e: object_store::Error| if is_not_found(&e) { never_uploaded(id) } else { s3_error(e) };
        if total as usize <= PART {
            let mut payload = Vec::with_capacity(total as usize);
            for id in block_ids {
                let got = self.store.get(&self.block(name, id)).await.map_err(|e| missing(id, e))?;
                payload.extend_from_slice(&got.bytes().await.map_err(s3_error)?);
            }
            self.store.put(&self.key(name), PutPayload::from(payload)).await.map_err(s3_error)?;
        } else {
            let upload = self.store.put_multipart(&self.key(name)).await.map_err(s3_error)?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
            for id in block_ids {
                let got = match self.store.get(&self.block(name, id)).await {
                    Ok(g) => g,
                    Err(e) => {
                        let _ = writer.abort().await;
                        return Err(missing(id, e));
                    }
                };
                let mut stream = got.into_stream();
                while let Some(chunk) = stream.next().await {
                    match chunk {
                        Ok(chunk) => {
                            writer.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(s3_error)?;
                            writer.put(chunk);
                        }
                        Err(e) => {
                            let _ = writer.abort().await;
                            return Err(s3_error(e));
                        }
                    }
                }
            }
            writer.finish().await.map_err(s3_error)?;
        }
        let meta = self.put_head(name).await?;
        // Azure discards the blob's uncommitted blocks on commit.
        let dir = format!("{}/", self.block_dir(name).as_ref());
        let staged: Vec<Key> = self.list_keys(&dir).await?.into_iter().map(|m| m.location).filter(|k| k.parts_count() == self.block_dir(name).parts_count() + 1).collect();
        self.delete_keys(staged).await?;
        Ok(meta)
    }
}
