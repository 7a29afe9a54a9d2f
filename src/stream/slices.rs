//! Slice files: a sink's received rows on local disk, before their import.
//!
//! A sink's directory `<data-dir>/stream/p<project>/b<branch>/<source>/<sink>/` holds its slices,
//! named by a slice id that is never reused (microseconds at opening, strictly increasing) and
//! a state suffix: `.open` (being written), `.closed` (complete, waiting for its import),
//! `.imported` (imported; kept 7 days, then removed).
//!
//! A slice is a sequence of frames `[length u32 LE][FNV-1a 32 of payload u32 LE][payload]`; the
//! first frame is the header (`{"columns": [...]}`), every other one is one CSV line. A crash
//! while a batch was being written leaves a torn last frame; `recover` cuts the file at the end of
//! its last whole frame. Nothing acknowledged is cut: an event is acknowledged only after the
//! frame holding it was written and fsynced (`writer`).
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub const OPEN: &str = "open";
pub const CLOSED: &str = "closed";
pub const IMPORTED: &str = "imported";

pub fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= *b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

pub fn frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&fnv1a(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The whole frames of a file (header first) and the length they span.
pub fn read_frames(path: &Path) -> std::io::Result<(Vec<Vec<u8>>, u64)> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    let mut frames = Vec::new();
    let mut at = 0usize;
    while at + 8 <= data.len() {
        let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let sum = u32::from_le_bytes(data[at + 4..at + 8].try_into().unwrap());
        let end = at + 8 + len;
        if end > data.len() || fnv1a(&data[at + 8..end]) != sum {
            break;
        }
        frames.push(data[at + 8..end].to_vec());
        at = end;
    }
    Ok((frames, at as u64))
}

pub fn file_name(slice_id: i64, state: &str) -> String {
    format!("{slice_id:020}.{state}")
}

/// `(slice id, state)` of a slice file name.
pub fn parse_name(name: &str) -> Option<(i64, String)> {
    let (id, state) = name.split_once('.')?;
    Some((id.parse().ok()?, state.to_string()))
}

pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Create a directory and make its entry durable (each new ancestor's entry too).
pub fn create_dir_durably(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_durably(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Rename `from` to `to` in one directory, durably.
pub fn rename_durably(dir: &Path, from: &str, to: &str) -> std::io::Result<()> {
    fs::rename(dir.join(from), dir.join(to))?;
    sync_dir(dir)
}

/// The slices of a sink's directory as `(id, state)`, oldest first.
pub fn list(dir: &Path) -> Vec<(i64, String)> {
    let mut out: Vec<(i64, String)> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).filter_map(|e| parse_name(&e.file_name().to_string_lossy())).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Every sink directory under the stream root (4 levels: project, branch, source, sink).
pub fn sink_dirs(root: &Path) -> Vec<PathBuf> {
    let mut level = vec![root.to_path_buf()];
    for _ in 0..4 {
        level = level
            .iter()
            .flat_map(|d| fs::read_dir(d).map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect::<Vec<_>>()).unwrap_or_default())
            .collect();
    }
    level
}

/// After a crash: every `.open` slice is cut after its last whole frame and closed (or removed
/// when it holds no row). Returns the highest slice id seen.
pub fn recover(root: &Path) -> std::io::Result<i64> {
    let mut max_id = 0;
    for dir in sink_dirs(root) {
        for (id, state) in list(&dir) {
            max_id = max_id.max(id);
            if state != OPEN {
                continue;
            }
            let name = file_name(id, OPEN);
            let path = dir.join(&name);
            let (frames, good) = read_frames(&path)?;
            if frames.len() <= 1 {
                fs::remove_file(&path)?;
                sync_dir(&dir)?;
                continue;
            }
            let f = OpenOptions::new().write(true).open(&path)?;
            f.set_len(good)?;
            f.sync_all()?;
            rename_durably(&dir, &name, &file_name(id, CLOSED))?;
            tracing::info!(slice = id, rows = frames.len() - 1, "stream: an open slice closed after a restart");
        }
    }
    Ok(max_id)
}

/// A closed slice as a CSV file with a header row: `(columns, rows)`.
pub fn to_csv(slice: &Path, out: &mut impl Write) -> std::io::Result<(Vec<String>, u64)> {
    let (frames, _) = read_frames(slice)?;
    let Some(header) = frames.first() else { return Ok((Vec::new(), 0)) };
    let columns: Vec<String> = serde_json::from_slice::<serde_json::Value>(header)
        .ok()
        .and_then(|h| serde_json::from_value(h["columns"].clone()).ok())
        .unwrap_or_default();
    let mut head = Vec::new();
    crate::stream::mapping::csv_line(&columns, &mut head);
    out.write_all(&head)?;
    for f in &frames[1..] {
        out.write_all(f)?;
    }
    Ok((columns, frames.len() as u64 - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_tail_is_cut_at_the_last_whole_frame() {
        let dir = tempfile::tempdir().unwrap();
        let sink = dir.path().join("p1/b2/src/snk");
        create_dir_durably(&sink).unwrap();
        let mut data = Vec::new();
        frame(br#"{"columns":["a"]}"#, &mut data);
        frame(b"\"1\"\n", &mut data);
        frame(b"\"2\"\n", &mut data);
        data.truncate(data.len() - 2);
        fs::write(sink.join(file_name(7, OPEN)), &data).unwrap();
        assert_eq!(recover(dir.path()).unwrap(), 7);
        let closed = sink.join(file_name(7, CLOSED));
        let mut csv = Vec::new();
        assert_eq!(to_csv(&closed, &mut csv).unwrap().1, 1);
        assert_eq!(csv, b"\"a\"\n\"1\"\n");
    }
}
