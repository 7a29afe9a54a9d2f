//! File storage: objects behind the `BlobBackend` trait (local disk or an S3-compatible bucket;
//! the Azure-Blob-compatible endpoint that presents them to clients is wire, in the `kbstack`
//! crate's `blob` module). `BlobStore` holds the backend, the SAS signing key and a node-local
//! scratch directory for temp files only.
pub mod backend;
pub mod body;
pub mod local;
pub mod s3;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

pub use backend::{BlobBackend, ObjectMeta};
use kbstack_core::Result as ApiResult;

/// An upload as it arrives: chunks, or the failure that broke it off.
pub type ByteStream = futures::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>;

/// The storage account name clients see in connection strings and manifest URLs.
pub const ACCOUNT: &str = "kbstack";
/// The one container holding every project's files.
pub const CONTAINER: &str = "kbstack-files";

/// Where file objects live (`[files]`).
#[derive(Clone, Debug, Default)]
pub enum FilesBackend {
    /// `<data-dir>/blobs/kbstack-files/` (the embedded default).
    #[default]
    Local,
    /// `s3://<bucket>/<prefix>` on the `[s3]` endpoint.
    S3 { settings: crate::s3::S3Settings, bucket: String, prefix: String },
}

pub struct BlobStore {
    backend: Arc<dyn BlobBackend>,
    scratch: PathBuf,
    /// Secret for signing SAS tokens; kept in `<data-dir>/keys/sas.key` with mode 0600.
    pub sas_key: Vec<u8>,
}

/// An object's content as a local file for readers that need one (DuckDB loads, job folders): the
/// object itself on local disk, or a downloaded temp copy (removed on drop).
pub enum LocalCopy {
    InPlace(PathBuf),
    Downloaded(tempfile::TempPath),
}

impl LocalCopy {
    pub fn path(&self) -> &Path {
        match self {
            LocalCopy::InPlace(p) => p,
            LocalCopy::Downloaded(t) => t,
        }
    }
}

impl AsRef<Path> for LocalCopy {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

/// Run a backend call from blocking code (handlers and jobs run on the blocking pool; the S3
/// client needs the runtime's reactor).
pub fn wait<F: std::future::Future>(f: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => tokio::task::block_in_place(|| handle.block_on(f)),
        Err(_) => futures::executor::block_on(f),
    }
}

impl BlobStore {
    pub fn open(data_dir: &Path, keys_dir: &Path, files: &FilesBackend) -> anyhow::Result<BlobStore> {
        let scratch = data_dir.join("blobs-staging");
        std::fs::create_dir_all(&scratch)?;
        // Blocks of earlier versions were indexed in memory only: unreachable now.
        match std::fs::remove_dir_all(scratch.join("blocks")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).context("clearing staged blocks"),
            _ => {}
        }
        let backend: Arc<dyn BlobBackend> = match files {
            FilesBackend::Local => Arc::new(local::LocalBackend::open(
                data_dir.join("blobs").join(CONTAINER),
                data_dir.join("blobs-blocks"),
                scratch.clone(),
            )?),
            FilesBackend::S3 { settings, bucket, prefix } => Arc::new(s3::S3Backend::new(settings, bucket, prefix)?),
        };
        let sas_key = crate::secrets::load_or_create_key(keys_dir, "sas.key")?.to_vec();
        Ok(BlobStore { backend, scratch, sas_key })
    }

    pub fn backend(&self) -> &dyn BlobBackend {
        &*self.backend
    }

    /// A node-local scratch directory for temp files (uploads before they are published, exports
    /// before upload, downloaded copies); never object data.
    pub fn staging_dir(&self) -> &Path {
        &self.scratch
    }

    pub fn head(&self, name: &str) -> ApiResult<Option<ObjectMeta>> {
        wait(self.backend.head(name))
    }

    /// Publish a local file (consumed) as the object `name`.
    pub fn put_file(&self, name: &str, file: &Path) -> ApiResult<ObjectMeta> {
        wait(self.backend.put_file(name, file, false))
    }

    pub fn put_bytes(&self, name: &str, data: impl Into<bytes::Bytes>) -> ApiResult<ObjectMeta> {
        wait(self.backend.put_bytes(name, data.into()))
    }

    pub fn list(&self, prefix: &str) -> ApiResult<Vec<ObjectMeta>> {
        wait(self.backend.list(prefix))
    }

    pub fn delete_prefix(&self, prefix: &str) -> ApiResult<()> {
        wait(self.backend.delete_prefix(prefix))
    }

    /// The object as a local file, `None` when there is no such object.
    pub fn local_copy(&self, name: &str) -> ApiResult<Option<LocalCopy>> {
        if let Some(path) = self.backend.local_path(name) {
            return Ok(path.is_file().then_some(LocalCopy::InPlace(path)));
        }
        if self.head(name)?.is_none() {
            return Ok(None);
        }
        let tmp = tempfile::NamedTempFile::new_in(&self.scratch)?.into_temp_path();
        wait(self.backend.download(name, &tmp))?;
        Ok(Some(LocalCopy::Downloaded(tmp)))
    }

    /// The whole object in memory (manifests), `None` when there is none.
    pub fn read_small(&self, name: &str) -> ApiResult<Option<Vec<u8>>> {
        use futures::TryStreamExt;
        let Some(meta) = self.head(name)? else { return Ok(None) };
        wait(async {
            let stream = self.backend.get_range(name, 0..meta.size).await?;
            let chunks: Vec<bytes::Bytes> = stream.try_collect().await?;
            Ok(Some(chunks.concat()))
        })
    }

    /// `azure://kbstack.blob.core.windows.net/kbstack-files/<blob>`: the manifest entry form every
    /// client parses (PHP regex, kbcstorage split on `blob.core.windows.net/<container>/`).
    pub fn entry_url(blob_name: &str) -> String {
        format!("azure://{ACCOUNT}.blob.core.windows.net/{CONTAINER}/{blob_name}")
    }

    /// The blob name inside a manifest entry URL, if it points into our container.
    pub fn blob_name_from_entry(url: &str) -> Option<String> {
        let marker = format!("blob.core.windows.net/{CONTAINER}/");
        url.split_once(&marker).map(|(_, name)| name.to_string())
    }
}

pub fn valid_blob_name(name: &str) -> bool {
    // Azure allows 1,024 characters; a path segment becomes a file name here (255 bytes at most).
    !name.is_empty()
        && name.len() <= 1024
        && !name.split('/').any(|seg| seg == ".." || seg == "." || seg.len() > 255)
        && !name.starts_with('/')
        && !name.contains('\0')
}
