//! The Encryption service, served at `/encryption` (`api`): one-way encryption of secrets into
//! Keboola-format ciphers (`KBC::ProjectSecure::<base64>`, services.md §3). There is no decrypt
//! endpoint: only the runner opens ciphers, for the job's own scope, when it writes a job's
//! `config.json` (`decrypt_for_job`). Storage encrypts the `#` values of configurations it saves
//! (`encrypt_value`). Services call these functions, never the HTTP API.
//!
//! A cipher is AES-256-GCM under the key in `<data-dir>/keys/encryption.key` (mode 0600, made on
//! first start), with the scope its prefix names (`scope`) as associated data: a cipher opens only
//! for the component, project, configuration and branch type it was made for.
pub mod api;
pub mod scope;

use std::path::Path;

use base64::Engine;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde_json::Value;

use crate::app::AppState;
pub use scope::{Kind, Scope, is_cipher};

/// The key file, beside the other keys of the data dir.
pub const KEY_FILE: &str = "encryption.key";

/// Holds the cipher key; never printed.
pub struct Encryptor {
    key: LessSafeKey,
}

impl std::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encryptor(***)")
    }
}

impl Encryptor {
    /// The encryptor whose key is in `keys_dir`, created on first use (`secrets::load_or_create_key`).
    pub fn open_dir(keys_dir: &Path) -> anyhow::Result<Encryptor> {
        let key = crate::secrets::load_or_create_key(keys_dir, KEY_FILE)?;
        let unbound = UnboundKey::new(&AES_256_GCM, &key).map_err(|_| anyhow::anyhow!("invalid AES-256 key"))?;
        Ok(Encryptor { key: LessSafeKey::new(unbound) })
    }

    /// `plain` as a cipher of `kind`, bound to `scope`.
    fn seal(&self, kind: Kind, scope: &Scope, plain: &str) -> Result<String, String> {
        let aad = scope.associated_data(kind).ok_or_else(|| format!("The scope does not name everything a {} cipher binds.", kind.name()))?;
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut buf = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&aad[..]), &mut buf)
            .map_err(|_| "encryption failed".to_string())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{}{}", kind.prefix(), base64::engine::general_purpose::STANDARD.encode(out)))
    }

    /// The plain text of one of this stack's ciphers, if it was made for `scope`.
    fn open(&self, cipher: &str, scope: &Scope) -> Option<String> {
        let kind = Kind::of_cipher(cipher)?;
        let aad = scope.associated_data(kind)?;
        let raw = base64::engine::general_purpose::STANDARD.decode(&cipher[kind.prefix().len()..]).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let mut buf = rest.to_vec();
        let plain = self.key.open_in_place(Nonce::try_assume_unique_for_key(nonce).ok()?, Aad::from(&aad[..]), &mut buf).ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }

    /// A string made a cipher for `scope`, unless it already is one or is a variable placeholder.
    fn encrypt_text(&self, kind: Kind, scope: &Scope, text: &str) -> Result<String, String> {
        if is_cipher(text) || is_placeholder(text) {
            return Ok(text.to_string());
        }
        self.seal(kind, scope, text)
    }

    /// Every scalar under a `#` key (objects and arrays walked) encrypted.
    fn encrypt_tree(&self, kind: Kind, scope: &Scope, value: Value) -> Result<Value, String> {
        Ok(match value {
            Value::Object(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (k, v) in map {
                    let v = match v {
                        Value::Object(_) | Value::Array(_) => self.encrypt_tree(kind, scope, v)?,
                        scalar if k.starts_with('#') => Value::String(self.encrypt_text(kind, scope, &php_string(&scalar))?),
                        scalar => scalar,
                    };
                    out.insert(k, v);
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.encrypt_tree(kind, scope, v)).collect::<Result<_, _>>()?),
            scalar => scalar,
        })
    }
}

/// A scalar as PHP's `(string)` cast makes it (what Keboola encrypts).
fn php_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "1".into(),
        Value::Bool(false) | Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A whole-string variable placeholder (`{{ name }}`, `{{ vault.name }}`), left for the runner
/// to resolve (object-encryptor `RegexHelper::matchesVariable`).
pub fn is_placeholder(s: &str) -> bool {
    let Some(inner) = s.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")) else { return false };
    let name = inner.trim_matches(|c: char| c == ' ' || c == '\t');
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// `value` encrypted for `scope` as the Encryption API does it: a string (or number) whole, an
/// object or array in its `#` keys. `Err` is a user error (an invalid scope, a null).
pub fn encrypt_value(state: &AppState, scope: &Scope, value: Value) -> Result<Value, String> {
    let kind = scope.kind()?;
    let enc = &state.encryption;
    match value {
        Value::Object(_) | Value::Array(_) => enc.encrypt_tree(kind, scope, value),
        Value::Null => Err("Only a string, an object or an array can be encrypted.".into()),
        scalar => Ok(Value::String(enc.encrypt_text(kind, scope, &php_string(&scalar))?)),
    }
}

/// A configuration with its `#` values in clear for a job, and those values (the runner hides
/// them in the job's log).
#[derive(Debug)]
pub struct Decrypted {
    pub value: Value,
    pub secrets: Vec<String>,
}

/// The `#` values of `value` opened for the job's scope (`Scope` with component, project, the
/// configuration if any, and the branch type). A cipher made for another scope, another stack
/// (Azure/GCP flavours) or by a legacy wrapper is a user error, as on Keboola. Plain values pass
/// (configurations saved before encryption existed, placeholders) and are hidden in logs too.
pub fn decrypt_for_job(state: &AppState, scope: &Scope, value: &Value) -> Result<Decrypted, String> {
    let mut secrets = Vec::new();
    let value = decrypt_tree(&state.encryption, scope, value, &mut secrets)?;
    Ok(Decrypted { value, secrets })
}

/// One value opened for the job's scope, as a `#` value would be (a Vault variable's cipher);
/// `name` names it in the error. Its plain text joins `secrets`.
pub fn decrypt_one(state: &AppState, scope: &Scope, name: &str, text: &str, secrets: &mut Vec<String>) -> Result<String, String> {
    decrypt_text(&state.encryption, scope, name, text, secrets)
}

fn decrypt_tree(enc: &Encryptor, scope: &Scope, value: &Value, secrets: &mut Vec<String>) -> Result<Value, String> {
    Ok(match value {
        Value::Object(map) => {
            let mut out = serde_json::Map::with_capacity(map.len());
            for (k, v) in map {
                let v = match v {
                    Value::Object(_) | Value::Array(_) => decrypt_tree(enc, scope, v, secrets)?,
                    Value::String(s) if k.starts_with('#') => Value::String(decrypt_text(enc, scope, k, s, secrets)?),
                    other => other.clone(),
                };
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| decrypt_tree(enc, scope, v, secrets)).collect::<Result<_, _>>()?),
        other => other.clone(),
    })
}

fn decrypt_text(enc: &Encryptor, scope: &Scope, key: &str, text: &str, secrets: &mut Vec<String>) -> Result<String, String> {
    let plain = if is_placeholder(text) || !is_cipher(text) {
        text.to_string()
    } else {
        enc.open(text, scope).ok_or_else(|| {
            format!(
                "Invalid cipher text for key {key} Value \"{text}\" is not an encrypted value. \
                 It was encrypted for another project, component, configuration, branch type or stack."
            )
        })?
    };
    if !plain.is_empty() && !is_placeholder(&plain) {
        secrets.push(plain.clone());
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encryptor() -> (tempfile::TempDir, Encryptor) {
        let dir = tempfile::tempdir().unwrap();
        let enc = Encryptor::open_dir(dir.path()).unwrap();
        (dir, enc)
    }

    fn scope(c: &str, p: &str, cfg: Option<&str>, b: Option<&str>) -> Scope {
        Scope { component: Some(c.into()), project: Some(p.into()), config: cfg.map(Into::into), branch_type: b.map(Into::into) }
    }

    #[test]
    fn ciphers_open_only_in_their_scope() {
        let (_dir, enc) = encryptor();
        let own = scope("keboola.ex-db", "1", Some("42"), Some("default"));
        for kind in Kind::ALL {
            let c = enc.seal(kind, &own, "hunter2").unwrap();
            assert!(c.starts_with(&kind.prefix()) && !c.contains("hunter2"), "{c}");
            assert_eq!(enc.open(&c, &own).as_deref(), Some("hunter2"), "{kind:?}");
        }
        let project = enc.seal(Kind::Project, &own, "s").unwrap();
        assert_eq!(enc.open(&project, &scope("keboola.ex-db", "1", Some("other"), Some("dev"))).as_deref(), Some("s"));
        assert_eq!(enc.open(&project, &scope("keboola.ex-db", "2", None, None)), None, "another project");
        assert_eq!(enc.open(&project, &scope("keboola.other", "1", None, None)), None, "another component");
        let config = enc.seal(Kind::Config, &own, "s").unwrap();
        assert_eq!(enc.open(&config, &scope("keboola.ex-db", "1", Some("43"), None)), None, "another configuration");
        assert_eq!(enc.open(&config, &scope("keboola.ex-db", "1", None, None)), None, "a job without configuration");
        let branch = enc.seal(Kind::BranchType, &own, "s").unwrap();
        assert_eq!(enc.open(&branch, &scope("keboola.ex-db", "1", Some("42"), Some("dev"))), None, "another branch type");
        // A cipher of another data dir's key does not open.
        let (_other_dir, other) = encryptor();
        assert_eq!(other.open(&project, &own), None);
    }

    #[test]
    fn trees_encrypt_hash_keys_only_and_keep_ciphers_and_placeholders() {
        let (_dir, enc) = encryptor();
        let s = scope("c", "1", None, None);
        let v = json!({
            "user": "u", "#pass": "p", "#n": 5, "#cipher": "KBC::ProjectSecureKV::abc", "#var": "{{ vault.token }}",
            "nested": {"#deep": "d", "list": [{"#item": "i"}, "#not-a-key"]}, "#obj": {"plain": "x"}
        });
        let out = enc.encrypt_tree(Kind::Project, &s, v).unwrap();
        assert_eq!(out["user"], "u");
        for p in ["/#pass", "/#n", "/nested/#deep", "/nested/list/0/#item"] {
            assert!(out.pointer(p).unwrap().as_str().unwrap().starts_with("KBC::ProjectSecure::"), "{p}: {out}");
        }
        assert_eq!(out["#cipher"], "KBC::ProjectSecureKV::abc");
        assert_eq!(out["#var"], "{{ vault.token }}");
        assert_eq!(out["nested"]["list"][1], "#not-a-key");
        assert_eq!(out["#obj"], json!({"plain": "x"}));
        // Another stack's cipher does not open here.
        let err = decrypt_tree(&enc, &s, &out, &mut Vec::new()).unwrap_err();
        assert!(err.starts_with("Invalid cipher text for key #cipher"), "{err}");
        let mut out = out;
        out.as_object_mut().unwrap().shift_remove("#cipher");
        let mut secrets = Vec::new();
        let back = decrypt_tree(&enc, &s, &out, &mut secrets).unwrap();
        assert_eq!(back["#pass"], "p");
        assert_eq!(back["#n"], "5");
        assert_eq!(back["nested"]["list"][0]["#item"], "i");
        assert!(secrets.contains(&"p".to_string()) && secrets.contains(&"i".to_string()));
        let err = decrypt_tree(&enc, &scope("c", "2", None, None), &out, &mut Vec::new()).unwrap_err();
        assert!(err.starts_with("Invalid cipher text for key #pass"), "{err}");
    }

    #[test]
    fn placeholders() {
        for yes in ["{{ a }}", "{{a}}", "{{ vault.en-dash }}", "{{\tx_1\t}}"] {
            assert!(is_placeholder(yes), "{yes}");
        }
        for no in ["{{ }}", "{{ 1a }}", "x {{ a }}", "{{ a b }}", "{{{ a }}}"] {
            assert!(!is_placeholder(no), "{no}");
        }
    }

    #[test]
    fn key_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, enc) = encryptor();
        let path = dir.path().join(KEY_FILE);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap().len(), 32);
        // The key never shows in a debug print (a log line of the state would carry it).
        assert_eq!(format!("{enc:?}"), "Encryptor(***)");
        // The same key comes back: ciphers survive a restart.
        let c = enc.seal(Kind::Generic, &Scope::default(), "x").unwrap();
        assert_eq!(Encryptor::open_dir(dir.path()).unwrap().open(&c, &Scope::default()).as_deref(), Some("x"));
    }
}
