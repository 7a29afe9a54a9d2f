//! File storage: blobs on local disk (the Azure-Blob-compatible endpoint that presents them to
//! clients is wire, in the `kbstack` crate's `blob` module).
pub mod blocks;
pub mod body;

use std::path::{Path, PathBuf};

use anyhow::Context;

/// An upload as it arrives: chunks, or the failure that broke it off.
pub type ByteStream = futures::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>;

/// The storage account name clients see in connection strings and manifest URLs.
pub const ACCOUNT: &str = "kbstack";
/// The one container holding every project's files.
pub const CONTAINER: &str = "kbstack-files";

pub struct BlobStore {
    root: PathBuf,
    staging: PathBuf,
    /// Secret for signing SAS tokens; kept in `<data-dir>/keys/sas.key` with mode 0600.
    pub sas_key: Vec<u8>,
    /// Uncommitted blocks of blobs uploaded in blocks.
    pub blocks: blocks::StagedBlocks,
}

impl BlobStore {
    pub fn open(data_dir: &Path) -> anyhow::Result<BlobStore> {
        let root = data_dir.join("blobs").join(CONTAINER);
        let staging = data_dir.join("blobs-staging");
        std::fs::create_dir_all(&root)?;
        std::fs::create_dir_all(&staging)?;
        // Staged blocks are indexed in memory only: those of an earlier process are unreachable.
        match std::fs::remove_dir_all(staging.join("blocks")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).context("clearing staged blocks"),
            _ => {}
        }
        let sas_key = crate::secrets::load_or_create_key(data_dir, "sas.key")?.to_vec();
        Ok(BlobStore { root, staging, sas_key, blocks: Default::default() })
    }

    /// Where a blob of the container lives on disk. Blob names never contain `..` (checked by callers
    /// through `valid_blob_name`).
    pub fn local_path(&self, blob_name: &str) -> PathBuf {
        self.root.join(blob_name)
    }

    /// A scratch directory on the same filesystem (uploads are written there, then renamed into place).
    pub fn staging_dir(&self) -> &Path {
        &self.staging
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
