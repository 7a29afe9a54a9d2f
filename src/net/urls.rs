//! Every URL kbstack hands out is built here: the index's `services[]`, `BlobEndpoint` and SAS
//! URLs, job/file/table/event URIs, `KBC_URL` of components. Two layouts:
//! - path-based (no stack suffix): `http://127.0.0.1:8000/v2/storage`, `http://127.0.0.1:8000/queue`,
//!   blobs at `http://127.0.0.1:8000/abs/kbstack`;
//! - host-based (a suffix): `https://connection.<suffix>/v2/storage`, `https://queue.<suffix>`,
//!   blobs at `https://abs.<suffix>/kbstack`, because the MCP server and keboola-cli find services
//!   only by host name.

#[derive(Clone, Debug)]
pub enum PublicUrls {
    /// Every service under one base URL (no trailing slash).
    PathBased { base: String },
    /// Every service on its own host under `suffix`; `port` is the TLS port when it is not 443
    /// (tests; real clients always drop the port).
    HostBased { suffix: String, port: Option<u16> },
}

impl PublicUrls {
    pub fn path_based(base: &str) -> PublicUrls {
        PublicUrls::PathBased { base: base.trim_end_matches('/').to_string() }
    }

    pub fn host_based(suffix: &str, tls_port: u16) -> PublicUrls {
        PublicUrls::HostBased { suffix: suffix.to_string(), port: (tls_port != 443).then_some(tls_port) }
    }

    /// The stack URL clients are configured with (`KBC_URL`): Storage paths start under it.
    pub fn root(&self) -> String {
        self.host_url(kbstack_http::host::STORAGE_LABEL)
    }

    /// `…/v2/storage`.
    pub fn storage(&self) -> String {
        format!("{}/v2/storage", self.root())
    }

    /// The base URL of the service mounted at `/<id>`.
    pub fn service(&self, id: &str) -> String {
        match self {
            PublicUrls::PathBased { base } => format!("{base}/{id}"),
            PublicUrls::HostBased { .. } => self.host_url(id),
        }
    }

    /// The `BlobEndpoint` of connection strings: the account under the blob service.
    pub fn blob_endpoint(&self) -> String {
        format!("{}/{}", self.service(crate::blob::MOUNT), crate::blob::ACCOUNT)
    }

    /// `https://<label>.<suffix>[:port]`, or the base URL in the path-based layout.
    fn host_url(&self, label: &str) -> String {
        match self {
            PublicUrls::PathBased { base } => base.clone(),
            PublicUrls::HostBased { suffix, port: None } => format!("https://{label}.{suffix}"),
            PublicUrls::HostBased { suffix, port: Some(p) } => format!("https://{label}.{suffix}:{p}"),
        }
    }

    /// The stack's host name (`KBC_STACKID`): `connection.<suffix>`, or the base URL's host.
    pub fn stack_id(&self) -> String {
        let root = self.root();
        let url = root.trim_start_matches("https://").trim_start_matches("http://");
        url.split('/').next().unwrap_or(url).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_based_urls_share_the_base() {
        let urls = PublicUrls::path_based("http://127.0.0.1:8000/");
        assert_eq!(urls.storage(), "http://127.0.0.1:8000/v2/storage");
        assert_eq!(urls.service("queue"), "http://127.0.0.1:8000/queue");
        assert_eq!(urls.blob_endpoint(), "http://127.0.0.1:8000/abs/kbstack");
        assert_eq!(urls.stack_id(), "127.0.0.1:8000");
    }

    #[test]
    fn host_based_urls_name_each_service_by_host() {
        let urls = PublicUrls::host_based("local.keboola.dev", 443);
        assert_eq!(urls.root(), "https://connection.local.keboola.dev");
        assert_eq!(urls.storage(), "https://connection.local.keboola.dev/v2/storage");
        assert_eq!(urls.service("queue"), "https://queue.local.keboola.dev");
        assert_eq!(urls.blob_endpoint(), "https://abs.local.keboola.dev/kbstack");
        assert_eq!(urls.stack_id(), "connection.local.keboola.dev");
        let urls = PublicUrls::host_based("local.keboola.dev", 8443);
        assert_eq!(urls.service("queue"), "https://queue.local.keboola.dev:8443");
    }
}
