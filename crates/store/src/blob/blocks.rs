//! Uncommitted blocks (Put Block) and their commit (Put Block List).
//!
//! The blocks of one blob are appended, as they arrive, to one staging file, and an index in memory
//! maps each block id to its byte range there. Committing a list that names the blocks in the order
//! they arrived, each once (what every sequential uploader sends), is then one fsync and a rename:
//! the data is written to disk once. Any other list (reordered, partial, a block re-sent) copies the
//! named ranges into a new file with `copy_file_range`.
//!
//! Azure keeps uncommitted blocks for a week; here they live as long as the process: the index is
//! not persisted, so after a restart a commit of earlier blocks fails with `InvalidBlockList` (a
//! 4xx; the client uploads again), and `BlobStore::open` clears their files.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ByteStream;

use kbstack_core::{Code, Error as ApiError, Result as ApiResult};

/// Staged blocks of every blob being uploaded in blocks, keyed by the blob's staging directory.
#[derive(Default)]
pub struct StagedBlocks {
    blobs: parking_lot::Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<Staged>>>>,
}

/// One blob's staging file and index. Locked for a whole Put Block (appends do not interleave) and
/// a whole commit.
#[derive(Default)]
struct Staged {
    len: u64,
    blocks: HashMap<String, (u64, u64)>,
    /// Block ids in the order their current ranges lie in the file.
    arrival: Vec<String>,
    /// Committed: the file is gone; a request that waited for the lock takes a fresh entry.
    retired: bool,
}

/// A commit that is ready to be published: the data is in `file`, fsynced.
pub struct Assembled {
    pub file: PathBuf,
}

fn data_file(dir: &Path) -> PathBuf {
    dir.join("data")
}

fn never_uploaded(id: &str) -> ApiError {
    ApiError::new(Code::InvalidBlockList, format!("The block \"{id}\" was never uploaded (or the server restarted since)."))
}

impl StagedBlocks {
    async fn lock(&self, dir: &Path) -> tokio::sync::OwnedMutexGuard<Staged> {
        loop {
            let entry = self.blobs.lock().entry(dir.to_path_buf()).or_default().clone();
            let guard = entry.lock_owned().await;
            if !guard.retired {
                return guard;
            }
        }
    }

    /// Append a block's body to the blob's staging file under `dir`; a body that breaks off leaves
    /// the file as it was.
    pub async fn put(&self, dir: &Path, id: &str, body: ByteStream) -> ApiResult<()> {
        let staged = self.lock(dir).await;
        // A task of its own keeps the lock until the writer thread is done, even when the request
        // is dropped (client gone): the next block must not start while stale bytes still land.
        tokio::spawn(append(staged, dir.to_path_buf(), id.to_string(), body))
            .await
            .map_err(|e| ApiError::internal(format!("block writer panicked: {e}")))?
    }

    /// Build the blob the list names from the staged blocks under `dir`, then forget them (Azure
    /// discards uncommitted blocks on commit). The caller publishes `Assembled::file` and removes `dir`.
    pub async fn commit(&self, dir: &Path, ids: &[String], scratch: PathBuf) -> ApiResult<Assembled> {
        let mut staged = self.lock(dir).await;
        let ranges: Vec<(u64, u64)> = ids.iter().map(|id| staged.blocks.get(id).copied().ok_or_else(|| never_uploaded(id))).collect::<ApiResult<_>>()?;
        let in_arrival_order = ids.len() == staged.arrival.len() && ids.iter().zip(&staged.arrival).all(|(a, b)| a == b);
        let whole_file = in_arrival_order && ranges.iter().map(|r| r.1).sum::<u64>() == staged.len;
        let source = data_file(dir);
        let assembled = if ids.is_empty() {
            tokio::task::spawn_blocking(move || write_empty(&scratch).map(|()| scratch)).await
        } else if whole_file {
            tokio::task::spawn_blocking(move || std::fs::File::open(&source).and_then(|f| f.sync_all()).map(|()| source)).await
        } else {
            tokio::task::spawn_blocking(move || copy_ranges(&source, &ranges, &scratch).map(|()| scratch)).await
        };
        let file = assembled.map_err(|e| ApiError::internal(format!("block list assembly panicked: {e}")))??;
        staged.retired = true;
        self.blobs.lock().remove(dir);
        Ok(Assembled { file })
    }
}

async fn append(mut staged: tokio::sync::OwnedMutexGuard<Staged>, dir: PathBuf, id: String, body: ByteStream) -> ApiResult<()> {
    tokio::fs::create_dir_all(&dir).await?;
    let file = std::fs::OpenOptions::new().create(true).write(true).truncate(false).open(data_file(&dir))?;
    let offset = staged.len;
    let appended = async {
        let mut file = file;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))?;
        super::body::write_body(body, file).await
    }
    .await;
    let written = match appended {
        Ok((written, _)) => written,
        Err(e) => {
            if let Ok(f) = std::fs::OpenOptions::new().write(true).open(data_file(&dir)) {
                let _ = f.set_len(offset);
            }
            return Err(e);
        }
    };
    if staged.blocks.insert(id.clone(), (offset, written)).is_some() {
        staged.arrival.retain(|b| *b != id);
    }
    staged.arrival.push(id);
    staged.len += written;
    Ok(())
}

fn write_empty(path: &Path) -> std::io::Result<()> {
    std::fs::File::create(path)?.sync_all()
}

/// The named byte ranges of `source`, in order, as a new durable file (`std::io::copy` between
/// files is `copy_file_range` on Linux: an in-kernel copy).
fn copy_ranges(source: &Path, ranges: &[(u64, u64)], out: &Path) -> std::io::Result<()> {
    use std::io::{Read, Seek};
    let mut src = std::fs::File::open(source)?;
    let mut dst = std::fs::File::create(out)?;
    for &(offset, len) in ranges {
        src.seek(std::io::SeekFrom::Start(offset))?;
        let copied = std::io::copy(&mut (&mut src).take(len), &mut dst)?;
        if copied != len {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "a staged block is shorter than recorded"));
        }
    }
    dst.sync_all()
}
