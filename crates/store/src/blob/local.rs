//! Objects as files on local disk: `<data-dir>/blobs/kbstack-files/<blob name>` (the layout of every
//! earlier version, so existing data dirs keep working). Staged blocks are files too,
//! `<data-dir>/blobs-blocks/<blob name>.blocks/<sha256(block id)>`, so that another process on the
//! same directory can commit them. Writes land in a temp dir on the same filesystem and are renamed
//! into place: a reader sees the old file or the new one.
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::ByteStream;
use super::backend::{BlobBackend, ObjectMeta, already_exists, block_key, never_uploaded};
use kbstack_core::{Error as ApiError, Result as ApiResult};

pub struct LocalBackend {
    root: PathBuf,
    blocks: PathBuf,
    /// Same filesystem as `root` (renames into place are atomic).
    tmp: PathBuf,
}

fn io(e: std::io::Error) -> ApiError {
    e.into()
}

fn panicked(e: tokio::task::JoinError) -> ApiError {
    ApiError::internal(format!("blob file task panicked: {e}"))
}

/// Stable while the file is unchanged (every write renames a new file into place).
fn etag(meta: &std::fs::Metadata) -> String {
    let nanos = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    format!("\"0x{nanos:X}{:X}\"", meta.len())
}

fn object_meta(name: &str, meta: &std::fs::Metadata) -> ObjectMeta {
    ObjectMeta { name: name.to_string(), size: meta.len(), modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), etag: etag(meta) }
}

/// `dir/leaf` of a prefix: the directory to look in and what entry names there start with.
fn split_prefix(prefix: &str) -> (&str, &str) {
    match prefix.rfind('/') {
        Some(i) => (&prefix[..i], &prefix[i + 1..]),
        None => ("", prefix),
    }
}

impl LocalBackend {
    pub fn open(root: PathBuf, blocks: PathBuf, tmp: PathBuf) -> std::io::Result<LocalBackend> {
        for dir in [&root, &blocks, &tmp] {
            std::fs::create_dir_all(dir)?;
        }
        Ok(LocalBackend { root, blocks, tmp })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn block_dir(&self, name: &str) -> PathBuf {
        self.blocks.join(format!("{name}.blocks"))
    }

    fn tmp_file(&self, what: &str) -> PathBuf {
        self.tmp.join(format!("{}.{what}", uuid::Uuid::new_v4().simple()))
    }

    /// Move a complete file to the object's place. With `no_overwrite` the check and the move are
    /// one step: a hard link fails when the name exists.
    fn publish(&self, staged: &Path, name: &str, no_overwrite: bool) -> ApiResult<ObjectMeta> {
        let dest = self.path(name);
        let result = (|| {
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            if no_overwrite {
                match std::fs::hard_link(staged, &dest) {
                    Ok(()) => std::fs::remove_file(staged).map_err(io),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(already_exists()),
                    Err(e) => Err(io(e)),
                }
            } else {
                std::fs::rename(staged, &dest).map_err(io)
            }
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(staged);
        }
        result?;
        Ok(object_meta(name, &std::fs::metadata(&dest)?))
    }

    fn remove_matching(dir: &Path, leaf: &str) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if !entry.file_name().to_string_lossy().starts_with(leaf) {
                continue;
            }
            let removed = if entry.file_type()?.is_dir() { std::fs::remove_dir_all(entry.path()) } else { std::fs::remove_file(entry.path()) };
            match removed {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    fn walk(&self, dir: &Path, name_prefix: &str, out: &mut Vec<ObjectMeta>) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let meta = entry.metadata()?;
            let Some(rel) = entry.path().strip_prefix(&self.root).ok().and_then(|p| p.to_str()).map(str::to_string) else { continue };
            if meta.is_dir() {
                // Only directories that may hold matching names.
                let as_dir = format!("{rel}/");
                if as_dir.starts_with(name_prefix) || name_prefix.starts_with(&as_dir) {
                    self.walk(&entry.path(), name_prefix, out)?;
                }
            } else if rel.starts_with(name_prefix) {
                out.push(object_meta(&rel, &meta));
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl BlobBackend for LocalBackend {
    async fn put_file(&self, name: &str, file: &Path, no_overwrite: bool) -> ApiResult<ObjectMeta> {
        if no_overwrite && self.path(name).exists() {
            let _ = std::fs::remove_file(file);
            return Err(already_exists());
        }
        // A file on another filesystem is copied beside the objects first (a rename cannot cross).
        let staged = if file.starts_with(&self.tmp) {
            file.to_path_buf()
        } else {
            let to = self.tmp_file("part");
            let from = file.to_path_buf();
            let to2 = to.clone();
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                if std::fs::rename(&from, &to2).is_err() {
                    std::fs::copy(&from, &to2)?;
                    std::fs::File::open(&to2)?.sync_all()?;
                    let _ = std::fs::remove_file(&from);
                }
                Ok(())
            })
            .await
            .map_err(panicked)??;
            to
        };
        self.publish(&staged, name, no_overwrite)
    }

    async fn put_bytes(&self, name: &str, data: bytes::Bytes) -> ApiResult<ObjectMeta> {
        let tmp = self.tmp_file("put");
        std::fs::write(&tmp, &data)?;
        self.publish(&tmp, name, false)
    }

    async fn head(&self, name: &str) -> ApiResult<Option<ObjectMeta>> {
        match tokio::fs::metadata(self.path(name)).await {
            Ok(m) if m.is_file() => Ok(Some(object_meta(name, &m))),
            _ => Ok(None),
        }
    }

    async fn get_range(&self, name: &str, range: Range<u64>) -> ApiResult<ByteStream> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let mut file = tokio::fs::File::open(self.path(name)).await?;
        file.seek(std::io::SeekFrom::Start(range.start)).await?;
        let len = range.end.saturating_sub(range.start);
        Ok(Box::pin(tokio_util::io::ReaderStream::with_capacity(file.take(len), 256 * 1024)))
    }

    async fn download(&self, name: &str, to: &Path) -> ApiResult<u64> {
        let (from, to) = (self.path(name), to.to_path_buf());
        Ok(tokio::task::spawn_blocking(move || std::fs::copy(from, to)).await.map_err(panicked)??)
    }

    async fn delete(&self, name: &str) -> ApiResult<()> {
        match std::fs::remove_file(self.path(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> ApiResult<()> {
        let (dir, leaf) = split_prefix(prefix);
        for base in [&self.root, &self.blocks] {
            if leaf.is_empty() && !dir.is_empty() {
                // A whole directory (a file's `<project>/<file>/`): it goes too.
                match std::fs::remove_dir_all(base.join(dir)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            } else {
                Self::remove_matching(&base.join(dir), leaf)?;
            }
        }
        Ok(())
    }

    async fn list(&self, prefix: &str) -> ApiResult<Vec<ObjectMeta>> {
        let (dir, _) = split_prefix(prefix);
        let mut out = Vec::new();
        self.walk(&self.root.join(dir), prefix, &mut out)?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn stage_block(&self, name: &str, block_id: &str, body: ByteStream) -> ApiResult<u64> {
        let tmp = self.tmp_file("block");
        let received = async {
            let file = std::fs::File::create(&tmp)?;
            let (written, _) = super::body::write_body(body, file).await?;
            let dir = self.block_dir(name);
            tokio::fs::create_dir_all(&dir).await?;
            tokio::fs::rename(&tmp, dir.join(block_key(block_id))).await?;
            Ok::<u64, ApiError>(written)
        }
        .await;
        if received.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        received
    }

    async fn commit_blocks(&self, name: &str, block_ids: &[String], no_overwrite: bool) -> ApiResult<ObjectMeta> {
        let dir = self.block_dir(name);
        let sources: Vec<PathBuf> = block_ids
            .iter()
            .map(|id| {
                let p = dir.join(block_key(id));
                if p.is_file() { Ok(p) } else { Err(never_uploaded(id)) }
            })
            .collect::<ApiResult<_>>()?;
        if no_overwrite && self.path(name).exists() {
            return Err(already_exists());
        }
        let out = self.tmp_file("commit");
        let out2 = out.clone();
        // One block (a small upload) is renamed into place; more are copied in order (`std::io::copy`
        // between files is `copy_file_range` on Linux: an in-kernel copy).
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let [only] = sources.as_slice() {
                return std::fs::rename(only, &out2);
            }
            let mut dst = std::fs::File::create(&out2)?;
            for src in &sources {
                std::io::copy(&mut std::fs::File::open(src)?, &mut dst)?;
            }
            dst.sync_all()
        })
        .await
        .map_err(panicked)?
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&out);
        })?;
        let meta = self.publish(&out, name, no_overwrite)?;
        // Azure discards the blob's uncommitted blocks on commit (a nested blob's blocks stay).
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_file()) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let _ = std::fs::remove_dir(&dir);
        Ok(meta)
    }

    fn local_path(&self, name: &str) -> Option<PathBuf> {
        Some(self.path(name))
    }
}
