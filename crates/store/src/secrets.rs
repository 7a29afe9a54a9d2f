//! Keys kept in `<data-dir>/keys/` (mode 0600, directory 0700) and secrets sealed with them, so
//! that what must be kept (a queued job's token until it runs) never sits in the metadata store
//! in plain text.
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// A 32-byte key from `<keys_dir>/<name>` (the data dir's `keys/` unless `--keys-dir` says
/// otherwise), created (randomly, mode 0600) when absent. Created exclusively: the key is
/// written to a file of its own and linked into place only if no key is there yet, so a crash
/// never leaves a short key and nodes starting at once on one shared keys dir all end up with
/// the same key (the loser of the race reads the winner's).
pub fn load_or_create_key(keys_dir: &Path, name: &str) -> anyhow::Result<[u8; 32]> {
    let dir = keys_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let path = dir.join(name);
    let read = |path: &Path| -> Option<[u8; 32]> {
        let bytes = std::fs::read(path).ok()?;
        <[u8; 32]>::try_from(&bytes[..bytes.len().min(32)]).ok()
    };
    if let Some(key) = read(&path) {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        return Ok(key);
    }
    let key: [u8; 32] = rand::random();
    let tmp = dir.join(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
    let mut f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(&key)?;
    f.sync_all()?;
    drop(f);
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(key),
        // A key too short to use (an older build's crash) is replaced; one another node made meanwhile is taken.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match read(&path) {
            Some(theirs) => Ok(theirs),
            None => {
                let tmp = dir.join(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
                std::fs::write(&tmp, key)?;
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
                std::fs::rename(&tmp, &path)?;
                Ok(key)
            }
        },
        Err(e) => Err(e).with_context(|| format!("writing {}", path.display())),
    }
}

/// Seals short secrets (ChaCha20-Poly1305, a random nonce each) as `kbstack:v1:<base64>`.
pub struct Sealer {
    key: LessSafeKey,
}

const PREFIX: &str = "kbstack:v1:";

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Sealer {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, key).expect("a 32-byte ChaCha20-Poly1305 key");
        Sealer { key: LessSafeKey::new(unbound) }
    }

    /// The sealer whose key is `<keys_dir>/<name>` (`load_or_create_key`).
    pub fn open_dir(keys_dir: &Path, name: &str) -> anyhow::Result<Sealer> {
        Ok(Sealer::new(&load_or_create_key(keys_dir, name)?))
    }

    pub fn seal(&self, plain: &str) -> String {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut buf = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::empty(), &mut buf)
            .expect("sealing a short secret cannot fail");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        format!("{PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(out))
    }

    /// The plain text of a sealed value; None when it is not one of ours or was tampered with.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let raw = base64::engine::general_purpose::STANDARD.decode(sealed.strip_prefix(PREFIX)?).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = rest.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::empty(), &mut buf).ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }

    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let sealer = Sealer::open_dir(dir.path(), "test.key").unwrap();
        let sealed = sealer.seal("1-2-secret");
        assert!(!sealed.contains("secret"));
        assert_eq!(sealer.open(&sealed).as_deref(), Some("1-2-secret"));
        assert_ne!(sealer.seal("1-2-secret"), sealed, "a fresh nonce each time");
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(sealer.open(std::str::from_utf8(&tampered).unwrap()), None);
        // The same key comes back from the file, which only the owner can read.
        let again = Sealer::open_dir(dir.path(), "test.key").unwrap();
        assert_eq!(again.open(&sealed).as_deref(), Some("1-2-secret"));
        let mode = std::fs::metadata(dir.path().join("test.key")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn nodes_starting_at_once_on_one_keys_dir_get_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| load_or_create_key(dir.path(), "shared.key").unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.iter().all(|k| *k == keys[0]), "every node reads the same key");
        assert_eq!(load_or_create_key(dir.path(), "shared.key").unwrap(), keys[0]);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("shared.key")], "no temp file is left behind");
    }
}
