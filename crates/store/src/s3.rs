//! Where an S3-compatible object store is and how to sign in to it: one `[s3]` section of the
//! configuration, shared by the file store (`[files] backend = "s3"`) and the DuckLake table
//! backend (`[tables] backend = "ducklake"` with an `s3://` data path).

#[derive(Clone, PartialEq, Eq, Default)]
pub struct S3Settings {
    /// `http://host:port` or `https://host:port`; empty for AWS itself.
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    /// Never logged or printed (`Debug` hides it).
    pub secret_access_key: String,
    /// Path-style addressing (`endpoint/bucket/key`), which self-hosted stores need.
    pub path_style: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<hidden>")
            .field("path_style", &self.path_style)
            .finish()
    }
}

impl S3Settings {
    /// The endpoint's host and port, and whether it speaks TLS.
    pub fn host_and_tls(&self) -> (String, bool) {
        let tls = !self.endpoint.starts_with("http://");
        let host = self.endpoint.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
        (host.to_string(), tls)
    }
}
