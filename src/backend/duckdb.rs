//! DuckDB table backend (in progress).
