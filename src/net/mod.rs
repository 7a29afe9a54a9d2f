//! How clients reach the stack: the URLs it hands out (`urls`), the host names it answers to
//! (`hosts`: routing, certificate names, `/etc/hosts` lines) and TLS (`cert`, `tls`).
pub mod cert;
pub mod hosts;
pub mod tls;
pub mod urls;

use std::path::PathBuf;

pub use urls::PublicUrls;

use crate::config::Config;

/// The certificate the TLS listener serves.
pub struct TlsFiles {
    pub chain: PathBuf,
    pub key: PathBuf,
    /// The generated CA clients must trust; `None` for a certificate the operator gave.
    pub ca: Option<PathBuf>,
    /// Whether the generated files were written now.
    pub created: bool,
}

/// The operator's `--tls-cert`/`--tls-key`, or the CA and certificate for the suffix in
/// `<data-dir>/tls` (created the first time).
pub fn tls_files(config: &Config) -> anyhow::Result<TlsFiles> {
    if let Some((chain, key)) = &config.tls_files {
        return Ok(TlsFiles { chain: chain.clone(), key: key.clone(), ca: None, created: false });
    }
    let Some(suffix) = &config.stack_suffix else {
        anyhow::bail!("a certificate is generated for a stack suffix: give --stack-suffix (or --tls-cert and --tls-key)");
    };
    let files = cert::ensure(&config.data_dir, suffix, hosts::certificate_names(suffix))?;
    Ok(TlsFiles { chain: files.chain, key: files.key, ca: Some(files.ca), created: files.created })
}

/// What a client machine needs to reach the stack by host name: trust the CA, resolve the hosts.
pub fn client_setup(config: &Config, ca: Option<&std::path::Path>) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(ca) = ca {
        lines.push(format!("TLS CA certificate: {}", ca.display()));
        lines.push(format!("  export SSL_CERT_FILE={0} REQUESTS_CA_BUNDLE={0}", ca.display()));
    }
    if let (Some(suffix), Some(tls_listen)) = (&config.stack_suffix, &config.tls_listen) {
        lines.push("/etc/hosts lines (`kbstack hosts` prints them):".into());
        lines.extend(hosts::hosts_lines(suffix, hosts::hosts_ip(tls_listen)));
    }
    lines
}
