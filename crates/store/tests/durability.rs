//! A commit acknowledged to a client must survive a power cut: the metadata store fsyncs every
//! commit unless the operator chose otherwise.
use kbstack_store::meta::{Durability, Locking, SqliteMetaStore};

#[test]
fn metadata_commits_are_fsynced_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteMetaStore::open(&dir.path().join("m.sqlite")).unwrap();
    assert_eq!(store.synchronous().unwrap(), 2, "synchronous=FULL");
    drop(store);
    let store = SqliteMetaStore::open_with(&dir.path().join("m.sqlite"), Durability::Normal, Locking::Exclusive).unwrap();
    assert_eq!(store.synchronous().unwrap(), 1, "synchronous=NORMAL when asked for");
}
