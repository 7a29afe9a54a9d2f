//! SAS tokens for the blob endpoint: an HMAC-SHA256 (keyed with `BlobStore::sas_key`) over the
//! permissions, the expiry and the one blob-name prefix (a file's directory) the token opens.
//!
//! The query uses only Azure SAS parameter names: the Azure SDK treats a connection-string
//! `SharedAccessSignature` as a SAS only when every key is one it knows (`_is_credential_sastoken`),
//! and then appends it verbatim to every request.
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::http::Params;

/// Service version we claim in `sv` (informational; not checked).
const SIGNED_VERSION: &str = "2021-08-06";
const EXPIRY_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// What a request needs from its SAS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    Read,
    Write,
}

impl Perm {
    fn letter(self) -> char {
        match self {
            Perm::Read => 'r',
            Perm::Write => 'w',
        }
    }
}

/// The SAS query string (no leading `?`) for `prefix`, permission letters `perms` (`r`, `c`, `w`)
/// until `expiry`.
pub fn sign(key: &[u8], prefix: &str, perms: &str, expiry: DateTime<Utc>) -> String {
    let se = expiry.format(EXPIRY_FORMAT).to_string();
    let sig = signature(key, perms, &se, prefix);
    let skoid = percent_encoding::utf8_percent_encode(prefix, percent_encoding::NON_ALPHANUMERIC);
    format!("sv={SIGNED_VERSION}&sr=c&sp={perms}&se={se}&skoid={skoid}&sig={sig}")
}

/// Checks the SAS carried in a request's query for `need` on `blob_name`. The error is the reason,
/// for the `AuthenticationFailed` message.
pub fn verify(key: &[u8], query: Option<&str>, blob_name: &str, need: Perm) -> Result<(), String> {
    let q = Params::from_query(query).map_err(|e| e.0.message)?;
    let (Some(sp), Some(se), Some(prefix), Some(sig)) = (q.str("sp"), q.str("se"), q.str("skoid"), q.str("sig")) else {
        return Err("Server failed to authenticate the request: no shared access signature.".into());
    };
    // Compared through the MAC: constant time whatever the mismatch.
    let given = hex::decode(&sig).map_err(|_| "Signature did not match.".to_string())?;
    let mut mac = mac(key);
    mac.update(string_to_sign(&sp, &se, &prefix).as_bytes());
    if mac.verify_slice(&given).is_err() {
        return Err("Signature did not match.".into());
    }
    let expiry = chrono::NaiveDateTime::parse_from_str(&se, EXPIRY_FORMAT)
        .map_err(|_| "Signed expiry is malformed.".to_string())?
        .and_utc();
    if expiry <= Utc::now() {
        return Err("Signed expiry time has passed.".into());
    }
    if prefix.is_empty() || !blob_name.starts_with(&prefix) {
        return Err("This signature does not grant access to this blob.".into());
    }
    if !sp.contains(need.letter()) && !(need == Perm::Write && sp.contains('c')) {
        return Err("This signature does not grant the permission this operation needs.".into());
    }
    Ok(())
}

/// The `SASConnectionString` clients hand to `BlobServiceClient.from_connection_string`;
/// `endpoint` is `PublicUrls::blob_endpoint`.
pub fn connection_string(endpoint: &str, sas: &str) -> String {
    format!("BlobEndpoint={endpoint};SharedAccessSignature={sas}")
}

fn string_to_sign(perms: &str, se: &str, prefix: &str) -> String {
    format!("{SIGNED_VERSION}\n{perms}\n{se}\n{prefix}")
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length")
}

fn signature(key: &[u8], perms: &str, se: &str, prefix: &str) -> String {
    let mut mac = mac(key);
    mac.update(string_to_sign(perms, se, prefix).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn query(sas: &str, extra: &str) -> String {
        format!("{extra}{sas}")
    }

    #[test]
    fn accepts_own_prefix_and_rejects_everything_else() {
        let exp = Utc::now() + chrono::Duration::hours(1);
        let sas = sign(KEY, "p1/f5/", "rcw", exp);
        assert!(verify(KEY, Some(&query(&sas, "comp=block&")), "p1/f5/data.csv", Perm::Write).is_ok());
        assert!(verify(KEY, Some(&sas), "p1/f5/data.csv", Perm::Read).is_ok());
        assert!(verify(KEY, Some(&sas), "p1/f50/data.csv", Perm::Read).is_err(), "other file's prefix");
        let read_only = sign(KEY, "p1/f5/", "r", exp);
        assert!(verify(KEY, Some(&read_only), "p1/f5/data.csv", Perm::Write).is_err(), "permission not granted");
        assert!(verify(b"another key another key another k", Some(&sas), "p1/f5/x", Perm::Read).is_err());
        let tampered = read_only.replace("sp=r&", "sp=rw&");
        assert!(verify(KEY, Some(&tampered), "p1/f5/x", Perm::Write).is_err(), "widened permissions");
        let moved = sas.replace("skoid=p1%2Ff5%2F", "skoid=p1%2F");
        assert!(verify(KEY, Some(&moved), "p1/f6/x", Perm::Read).is_err(), "widened prefix");
        assert!(verify(KEY, None, "p1/f5/x", Perm::Read).is_err());
    }

    #[test]
    fn expired_is_rejected() {
        let sas = sign(KEY, "p1/f5/", "r", Utc::now() - chrono::Duration::seconds(5));
        let err = verify(KEY, Some(&sas), "p1/f5/x", Perm::Read).unwrap_err();
        assert!(err.contains("expiry"), "{err}");
    }
}
