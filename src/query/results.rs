//! Statement results on disk, so that no result is held in memory and none is run twice:
//! `<data-dir>/query-results/<jobId>/<statementId>.ndjson` has one JSON array per row (values
//! as text, NULL as null) and `<statementId>.idx` the byte offset of every `INDEX_STEP`th row
//! (little-endian u64). A page is read by seeking to the nearest indexed row: its cost is the
//! page, not the rows before it.
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::backend::{BackendError, BackendResult};
use crate::workspace::{ResultColumn, RowSink};

/// Rows between two index entries.
const INDEX_STEP: u64 = 1000;

fn io_error(e: impl std::fmt::Display) -> BackendError {
    BackendError::Internal(format!("query results: {e}"))
}

/// The folder of one job's results.
pub fn job_dir(root: &Path, job_id: &str) -> PathBuf {
    root.join(job_id)
}

fn data_file(root: &Path, job_id: &str, statement_id: &str) -> PathBuf {
    job_dir(root, job_id).join(format!("{statement_id}.ndjson"))
}

fn index_file(root: &Path, job_id: &str, statement_id: &str) -> PathBuf {
    job_dir(root, job_id).join(format!("{statement_id}.idx"))
}

/// Writes a statement's rows as they come (a `RowSink`).
pub struct ResultWriter {
    data: BufWriter<File>,
    index: BufWriter<File>,
    written: u64,
    rows: u64,
    pub columns: Vec<ResultColumn>,
    line: Vec<u8>,
}

impl ResultWriter {
    pub fn create(root: &Path, job_id: &str, statement_id: &str) -> BackendResult<ResultWriter> {
        std::fs::create_dir_all(job_dir(root, job_id)).map_err(io_error)?;
        let data = File::create(data_file(root, job_id, statement_id)).map_err(io_error)?;
        let index = File::create(index_file(root, job_id, statement_id)).map_err(io_error)?;
        Ok(ResultWriter {
            data: BufWriter::with_capacity(256 * 1024, data),
            index: BufWriter::new(index),
            written: 0,
            rows: 0,
            columns: Vec::new(),
            line: Vec::new(),
        })
    }

    pub fn finish(mut self) -> BackendResult<()> {
        self.data.flush().map_err(io_error)?;
        self.index.flush().map_err(io_error)
    }
}

impl RowSink for ResultWriter {
    fn columns(&mut self, columns: &[ResultColumn]) -> BackendResult<()> {
        self.columns = columns.to_vec();
        Ok(())
    }

    fn row(&mut self, values: &[Option<String>]) -> BackendResult<()> {
        if self.rows % INDEX_STEP == 0 {
            self.index.write_all(&self.written.to_le_bytes()).map_err(io_error)?;
        }
        self.line.clear();
        serde_json::to_writer(&mut self.line, values).map_err(io_error)?;
        self.line.push(b'\n');
        self.data.write_all(&self.line).map_err(io_error)?;
        self.written += self.line.len() as u64;
        self.rows += 1;
        Ok(())
    }
}

/// Rows `offset..offset + limit` of a statement's result (fewer at its end; none when it has
/// no result file).
pub fn read_page(root: &Path, job_id: &str, statement_id: &str, offset: u64, limit: u64) -> BackendResult<Vec<Value>> {
    let mut index = match File::open(index_file(root, job_id, statement_id)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(e)),
    };
    let entry = offset / INDEX_STEP;
    if index.seek(SeekFrom::Start(entry * 8)).is_err() {
        return Ok(Vec::new());
    }
    let mut bytes = [0u8; 8];
    match index.read_exact(&mut bytes) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(Vec::new()),
        Err(e) => return Err(io_error(e)),
    }
    let mut data = File::open(data_file(root, job_id, statement_id)).map_err(io_error)?;
    data.seek(SeekFrom::Start(u64::from_le_bytes(bytes))).map_err(io_error)?;
    let mut lines = BufReader::with_capacity(256 * 1024, data).lines();
    for _ in 0..(offset % INDEX_STEP) {
        if lines.next().is_none() {
            return Ok(Vec::new());
        }
    }
    let mut out = Vec::with_capacity(limit.min(10_000) as usize);
    for line in lines.take(limit as usize) {
        out.push(serde_json::from_str(&line.map_err(io_error)?).map_err(io_error)?);
    }
    Ok(out)
}

/// The whole result as lines of JSON arrays, for streaming (the file itself, read in chunks).
pub fn open_rows(root: &Path, job_id: &str, statement_id: &str) -> Option<File> {
    File::open(data_file(root, job_id, statement_id)).ok()
}

/// Remove a job's results; a job without any is not an error.
pub fn remove_job(root: &Path, job_id: &str) {
    let dir = job_dir(root, job_id);
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(job_id, "removing query results: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_read_from_any_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ResultWriter::create(dir.path(), "j", "s").unwrap();
        for i in 0..2500u64 {
            w.row(&[Some(i.to_string()), None]).unwrap();
        }
        w.finish().unwrap();
        let page = read_page(dir.path(), "j", "s", 1998, 5).unwrap();
        assert_eq!(page, (1998..2003).map(|i| serde_json::json!([i.to_string(), null])).collect::<Vec<_>>());
        assert_eq!(read_page(dir.path(), "j", "s", 2498, 10).unwrap().len(), 2);
        assert!(read_page(dir.path(), "j", "s", 2500, 10).unwrap().is_empty());
        assert!(read_page(dir.path(), "j", "s", 99_999, 10).unwrap().is_empty());
        assert!(read_page(dir.path(), "j", "other", 0, 10).unwrap().is_empty());
        assert_eq!(read_page(dir.path(), "j", "s", 0, 1).unwrap(), vec![serde_json::json!(["0", null])]);
        remove_job(dir.path(), "j");
        assert!(read_page(dir.path(), "j", "s", 0, 1).unwrap().is_empty());
    }
}
