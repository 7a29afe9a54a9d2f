//! Table statistics remembered between writes, in front of any `TableBackend`: listing tables
//! (`rowsCount`, `dataSizeBytes` of each) then does not count every table's rows again. Every
//! write through the backend bumps the table's generation and forgets its figures; a count taken
//! while a write ran is not kept (its generation moved on).
use std::collections::HashMap;
use std::path::PathBuf;

use parking_lot::Mutex;

use super::{BackendResult, ColumnDef, ExportSpec, LoadResult, LoadSpec, Select, TableBackend, TableLocation};

pub struct StatsCached<B> {
    inner: B,
    /// Per table: generation, and the figures taken at that generation.
    stats: Mutex<HashMap<TableLocation, (u64, Option<(u64, u64)>)>>,
}

impl<B: TableBackend> StatsCached<B> {
    pub fn new(inner: B) -> StatsCached<B> {
        StatsCached { inner, stats: Mutex::new(HashMap::new()) }
    }

    /// Run a write, then forget the table's figures (after it: a count racing the write is
    /// stored under the old generation and refused).
    fn write<T>(&self, loc: &TableLocation, f: impl FnOnce() -> BackendResult<T>) -> BackendResult<T> {
        let out = f();
        let mut stats = self.stats.lock();
        let entry = stats.entry(loc.clone()).or_insert((0, None));
        *entry = (entry.0 + 1, None);
        out
    }
}

impl<B: TableBackend> TableBackend for StatsCached<B> {
    fn create_table(&self, loc: &TableLocation, columns: &[ColumnDef], typed: bool) -> BackendResult<()> {
        self.write(loc, || self.inner.create_table(loc, columns, typed))
    }

    fn drop_table(&self, loc: &TableLocation) -> BackendResult<()> {
        self.write(loc, || self.inner.drop_table(loc))
    }

    fn columns(&self, loc: &TableLocation) -> BackendResult<Vec<String>> {
        self.inner.columns(loc)
    }

    fn add_column(&self, loc: &TableLocation, column: &ColumnDef, typed: bool) -> BackendResult<()> {
        self.write(loc, || self.inner.add_column(loc, column, typed))
    }

    fn drop_column(&self, loc: &TableLocation, column: &str) -> BackendResult<()> {
        self.write(loc, || self.inner.drop_column(loc, column))
    }

    fn stats(&self, loc: &TableLocation) -> BackendResult<(u64, u64)> {
        let generation = match self.stats.lock().get(loc) {
            Some((_, Some(figures))) => return Ok(*figures),
            Some((generation, None)) => *generation,
            None => 0,
        };
        let figures = self.inner.stats(loc)?;
        let mut stats = self.stats.lock();
        let entry = stats.entry(loc.clone()).or_insert((0, None));
        if entry.0 == generation {
            entry.1 = Some(figures);
        }
        Ok(figures)
    }

    fn project_stats(&self, project_id: i64) -> BackendResult<(u64, u64)> {
        self.inner.project_stats(project_id)
    }

    fn load(&self, loc: &TableLocation, spec: &LoadSpec) -> BackendResult<LoadResult> {
        self.write(loc, || self.inner.load(loc, spec))
    }

    fn export(&self, loc: &TableLocation, spec: &ExportSpec) -> BackendResult<Vec<PathBuf>> {
        self.inner.export(loc, spec)
    }

    fn preview(&self, loc: &TableLocation, select: &Select) -> BackendResult<(Vec<String>, Vec<Vec<Option<String>>>)> {
        self.inner.preview(loc, select)
    }

    fn delete_rows(&self, loc: &TableLocation, select: &Select) -> BackendResult<u64> {
        self.write(loc, || self.inner.delete_rows(loc, select))
    }

    fn has_duplicates(&self, loc: &TableLocation, columns: &[String]) -> BackendResult<bool> {
        self.inner.has_duplicates(loc, columns)
    }
}
