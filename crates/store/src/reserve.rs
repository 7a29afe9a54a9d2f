//! Disk space set aside at start and given back when the disk fills up. A job must always reach
//! a final state, but recording it is a write too: when an import or an upload has taken the last
//! free block, the reserve is deleted so the job's end (and its "disk full" error) still lands.
//! It is taken again at the next start, or by `reclaim` once space is free again.
use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

/// Enough for many job records and the SQLite WAL pages they touch.
pub const RESERVE_BYTES: usize = 8 << 20;

pub struct SpaceReserve {
    path: PathBuf,
    bytes: usize,
    /// Whether the file is in place (a lock, so release and reclaim never interleave).
    held: Mutex<bool>,
}

impl SpaceReserve {
    /// Holds `bytes` of real disk blocks in a file at `path` (written, not sparse); when the disk
    /// cannot spare them now, the reserve starts empty.
    pub fn claim(path: &Path, bytes: usize) -> SpaceReserve {
        let reserve = SpaceReserve { path: path.to_path_buf(), bytes, held: Mutex::new(false) };
        reserve.reclaim();
        reserve
    }

    pub fn is_held(&self) -> bool {
        *self.held.lock()
    }

    /// Gives the space back; true when this call freed it.
    pub fn release(&self) -> bool {
        let mut held = self.held.lock();
        if !*held {
            return false;
        }
        *held = false;
        match std::fs::remove_file(&self.path) {
            Ok(()) => {
                tracing::warn!("the disk is full: released the {} MB space reserve to record job results", self.bytes >> 20);
                true
            }
            Err(e) => {
                tracing::error!("cannot release the space reserve: {e}");
                false
            }
        }
    }

    /// Takes the reserve again when the disk has room for it; true when it is held afterwards.
    pub fn reclaim(&self) -> bool {
        let mut held = self.held.lock();
        if *held {
            return true;
        }
        match write_zeros(&self.path, self.bytes) {
            Ok(()) => *held = true,
            Err(e) => {
                let _ = std::fs::remove_file(&self.path);
                tracing::warn!("no room for the {} MB space reserve yet: {e}", self.bytes >> 20);
            }
        }
        *held
    }
}

fn write_zeros(path: &Path, bytes: usize) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    let chunk = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        file.write_all(&chunk[..n])?;
        left -= n;
    }
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_frees_the_file_and_reclaim_takes_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reserve");
        let reserve = SpaceReserve::claim(&path, 1 << 20);
        assert!(reserve.is_held());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 20);
        assert!(reserve.release());
        assert!(!path.exists());
        assert!(!reserve.release(), "a second release frees nothing");
        assert!(reserve.reclaim());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 20);
    }
}
