//! The three engines of one scale-out stack, and what a node needs to run on them.

/// Fresh engines for one stack: a metadata database and a DuckLake catalog database on the test
/// PostgreSQL, and a prefix of its own in the test S3 bucket (tables and files under it).
#[derive(Clone, Debug)]
pub struct Engines {
    pub metadata: String,
    pub catalog: String,
    pub bucket: String,
    pub prefix: String,
}

impl Engines {
    /// Starts the test PostgreSQL and S3 servers if this process has not yet.
    pub fn fresh() -> Engines {
        let (bucket, prefix) = crate::s3::fresh_prefix();
        Engines {
            metadata: crate::postgres::database(),
            catalog: crate::postgres::database(),
            bucket,
            prefix,
        }
    }

    /// The environment of a node on these engines (`KBSTACK_*`): PostgreSQL metadata, DuckLake
    /// tables (catalog in PostgreSQL, Parquet in S3) and S3 files. Nodes of one stack also share
    /// a keys dir and a public URL, which the caller adds.
    pub fn node_env(&self) -> Vec<(String, String)> {
        use crate::s3;
        [
            ("KBSTACK_METADATA_URL", self.metadata.clone()),
            ("KBSTACK_TABLES_BACKEND", "ducklake".into()),
            ("KBSTACK_DUCKLAKE_CATALOG", self.catalog.clone()),
            (
                "KBSTACK_DUCKLAKE_DATA_PATH",
                format!("s3://{}/{}/tables/", self.bucket, self.prefix),
            ),
            ("KBSTACK_FILES_BACKEND", "s3".into()),
            ("KBSTACK_FILES_BUCKET", self.bucket.clone()),
            ("KBSTACK_FILES_PREFIX", format!("{}/files/", self.prefix)),
            ("KBSTACK_S3_ENDPOINT", s3::server().endpoint()),
            ("KBSTACK_S3_REGION", s3::REGION.into()),
            ("KBSTACK_S3_ACCESS_KEY_ID", s3::ACCESS_KEY.into()),
            ("KBSTACK_S3_SECRET_ACCESS_KEY", s3::SECRET_KEY.into()),
            ("KBSTACK_S3_PATH_STYLE", "true".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// `n` distinct loopback ports nobody listens on now, one per node.
pub fn node_ports(n: usize) -> Vec<u16> {
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < n {
        let p = crate::free_port();
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    ports
}
