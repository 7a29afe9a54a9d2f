//! The host names a stack with a suffix answers to: how they route, which names its certificate
//! carries, and the `/etc/hosts` lines that make them resolve.
use std::net::IpAddr;

use kbstack_http::host::{HostRouting, STORAGE_LABEL};

/// Services keboola-cli and the MCP server derive from `connection.<suffix>`. They are in the
/// hosts lines before kbstack serves them, so `/etc/hosts` need not change when one arrives; until
/// then their host answers a 404 envelope (better than a name that does not resolve).
const CLIENT_DERIVED: &[&str] = &[
    "queue",
    "query",
    "encryption",
    "scheduler",
    "sync-actions",
    "stream",
    "metastore",
    "ai",
    "data-science",
    "notification",
    "billing",
    "editor",
];

/// Ids of the services mounted at `/<id>`: those the index advertises and the blob endpoint.
fn mounted_services() -> Vec<String> {
    let mut ids: Vec<String> = crate::storage::index::SERVICE_IDS.iter().map(|s| s.to_string()).collect();
    ids.push(crate::blob::MOUNT.to_string());
    // The Stream service's ingestion endpoint (a source's `http.url`), host `stream-in.<suffix>`.
    ids.push(crate::stream::INGEST_MOUNT.to_string());
    ids
}

/// How requests for `suffix`'s hosts reach the services; the Azure-style blob host is served
/// from the blob endpoint's account path.
pub fn routing(suffix: &str) -> HostRouting {
    HostRouting {
        suffix: suffix.to_string(),
        services: mounted_services(),
        aliases: vec![(crate::blob::azure_host(), format!("/{}/{}", crate::blob::MOUNT, crate::blob::ACCOUNT))],
    }
}

/// Every host name of the stack, Storage's first.
pub fn host_names(suffix: &str) -> Vec<String> {
    let mut labels: Vec<String> = vec![STORAGE_LABEL.to_string()];
    for id in mounted_services().into_iter().chain(CLIENT_DERIVED.iter().map(|s| s.to_string())) {
        if !labels.contains(&id) {
            labels.push(id);
        }
    }
    let mut names: Vec<String> = labels.iter().map(|l| format!("{l}.{suffix}")).collect();
    names.push(crate::blob::azure_host());
    names
}

/// The names the generated certificate is valid for: every host of the suffix (one wildcard),
/// the suffix itself, the Azure-style blob host, and loopback for plain `https://127.0.0.1`.
pub fn certificate_names(suffix: &str) -> Vec<String> {
    vec![format!("*.{suffix}"), suffix.to_string(), crate::blob::azure_host(), "localhost".into(), "127.0.0.1".into()]
}

/// The address the hosts lines point at: the TLS listener's, or loopback when it listens on all
/// addresses (or on a name).
pub fn hosts_ip(tls_listen: &str) -> IpAddr {
    let host = crate::config::listen_host(tls_listen).trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) if !ip.is_unspecified() => ip,
        _ => IpAddr::from([127, 0, 0, 1]),
    }
}

/// `/etc/hosts` lines, one host per line.
pub fn hosts_lines(suffix: &str, ip: IpAddr) -> Vec<String> {
    host_names(suffix).into_iter().map(|name| format!("{ip} {name}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lines_cover_storage_services_and_the_blob_host() {
        let lines = hosts_lines("local.keboola.dev", hosts_ip("0.0.0.0:443"));
        assert_eq!(lines[0], "127.0.0.1 connection.local.keboola.dev");
        assert!(lines.contains(&"127.0.0.1 queue.local.keboola.dev".to_string()));
        assert!(lines.contains(&"127.0.0.1 abs.local.keboola.dev".to_string()));
        assert!(lines.contains(&"127.0.0.1 kbstack.blob.core.windows.net".to_string()));
        assert_eq!(lines.iter().filter(|l| l.contains(" queue.")).count(), 1);
        assert_eq!(hosts_ip("10.99.0.1:443").to_string(), "10.99.0.1");
        assert_eq!(hosts_ip("[::1]:443").to_string(), "::1");
    }
}
