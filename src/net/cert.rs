//! The local certificate authority and the stack's certificate, generated once in
//! `<data-dir>/tls/`: `ca.pem` (what clients trust: `SSL_CERT_FILE`), `ca-key.pem`, and per suffix
//! `<suffix>.pem` (certificate + CA chain) and `<suffix>-key.pem`. Keys are mode 0600.
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// The CA lives long: every client that trusts it would have to be set up again.
const CA_DAYS: i64 = 3650;
/// Within what TLS clients accept for a server certificate (825 days).
const LEAF_DAYS: i64 = 825;
/// A certificate older than this is issued again at the next start, well before it expires.
const LEAF_RENEW_DAYS: u64 = 700;

pub struct CertFiles {
    /// The CA certificate clients trust.
    pub ca: PathBuf,
    /// The served certificate followed by the CA's.
    pub chain: PathBuf,
    pub key: PathBuf,
    /// Whether anything was written now (false: all were there already).
    pub created: bool,
}

/// The CA and the certificate for `names` (`certificate_names(suffix)`), created if missing,
/// the certificate issued again when it is old or the CA is new.
pub fn ensure(data_dir: &Path, suffix: &str, names: Vec<String>) -> anyhow::Result<CertFiles> {
    let dir = data_dir.join("tls");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    let files = CertFiles {
        ca: dir.join("ca.pem"),
        chain: dir.join(format!("{suffix}.pem")),
        key: dir.join(format!("{suffix}-key.pem")),
        created: false,
    };
    let ca_key_path = dir.join("ca-key.pem");
    let mut created = false;
    let ca_key = if files.ca.exists() && ca_key_path.exists() {
        let pem = std::fs::read_to_string(&ca_key_path).with_context(|| format!("reading {}", ca_key_path.display()))?;
        KeyPair::from_pem(&pem).with_context(|| format!("parsing {}", ca_key_path.display()))?
    } else {
        let key = KeyPair::generate()?;
        let cert = ca_params().self_signed(&key)?;
        write_file(&ca_key_path, key.serialize_pem().as_bytes(), 0o600)?;
        write_file(&files.ca, cert.pem().as_bytes(), 0o644)?;
        created = true;
        key
    };
    if created || !files.key.exists() || !recent(&files.chain) {
        let issuer = Issuer::new(ca_params(), ca_key);
        let key = KeyPair::generate()?;
        let cert = leaf_params(suffix, names)?.signed_by(&key, &issuer)?;
        let ca_pem = std::fs::read_to_string(&files.ca)?;
        write_file(&files.key, key.serialize_pem().as_bytes(), 0o600)?;
        write_file(&files.chain, format!("{}{ca_pem}", cert.pem()).as_bytes(), 0o644)?;
        created = true;
    }
    Ok(CertFiles { created, ..files })
}

/// The CA's parameters; also what the `Issuer` of later certificates is built from (its name and
/// key identifier come out the same from the same key), so no certificate parser is needed.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, "kbstack local CA");
    params.distinguished_name.push(DnType::OrganizationName, "kbstack");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    set_validity(&mut params, CA_DAYS);
    params
}

fn leaf_params(suffix: &str, names: Vec<String>) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(names).context("certificate names")?;
    params.distinguished_name.push(DnType::CommonName, format!("*.{suffix}"));
    params.distinguished_name.push(DnType::OrganizationName, "kbstack");
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    set_validity(&mut params, LEAF_DAYS);
    Ok(params)
}

/// From yesterday (clocks differ a little) to `days` from now, at day granularity.
fn set_validity(params: &mut CertificateParams, days: i64) {
    use chrono::Datelike;
    let day = |d: chrono::DateTime<chrono::Utc>| rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8);
    let now = chrono::Utc::now();
    params.not_before = day(now - chrono::Duration::days(1));
    params.not_after = day(now + chrono::Duration::days(days));
}

/// Whether `path` exists and was written within `LEAF_RENEW_DAYS`.
fn recent(path: &Path) -> bool {
    let age = std::fs::metadata(path).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
    age.is_some_and(|a| a.as_secs() < LEAF_RENEW_DAYS * 86_400)
}

/// Writes through a temporary file renamed into place, so a crash never leaves half a key; the
/// mode is set explicitly (the umask could only narrow it, and an older file may be wider).
fn write_file(path: &Path, content: &[u8], mode: u32) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.write_all(content)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
