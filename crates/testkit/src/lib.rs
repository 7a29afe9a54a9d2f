//! Throwaway servers for the scale-out profile's tests: a PostgreSQL cluster and an S3 endpoint
//! (SeaweedFS), each started once per test process on free loopback ports and killed with it
//! (the parent-death signal), whatever way the process ends. Tests take a database or a bucket
//! of their own, so they run in parallel on one server. nginx, the load balancer, is one per
//! stack (`nginx::start`); `free_port` gives a stack's nodes their ports.
mod process;
pub mod nginx;
pub mod postgres;
pub mod s3;
pub mod scale_out;

/// Where `scripts/build` puts DuckDB's extensions: `duckdb-extensions/` beside the binary, one
/// level above a test binary (`KBSTACK_DUCKDB_EXTENSIONS` overrides).
pub fn duckdb_extensions() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("KBSTACK_DUCKDB_EXTENSIONS") {
        return dir.into();
    }
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir").join("duckdb-extensions");
    assert!(dir.join("ducklake.duckdb_extension").is_file(), "{} has no DuckDB extensions: run scripts/build", dir.display());
    dir
}

/// A loopback port nobody listens on now (a scale-out node keeps its port across restarts, so
/// that the balancer in front of it needs no new config).
pub fn free_port() -> u16 {
    process::free_port()
}
