//! The PostgreSQL schema as versioned migrations, recorded in `schema_version` (one row per
//! migration applied). Version numbers are SQLite's (crates/store/src/meta/schema.rs): PostgreSQL
//! version N has the tables and columns of SQLite version N, so a dump made at a version restores
//! on either. The first entry is SQLite's schema up to 18 in one step; every later SQLite
//! migration gets its PostgreSQL twin under the same number (a unit test holds the two lists to
//! the same newest version).
//!
//! Several nodes may start at once: the migration runs under a session advisory lock, so one
//! node migrates and the others, once they get the lock, find nothing left to do.

/// `(version, SQL)`, in order.
pub const MIGRATIONS: &[(i64, &str)] = &[(18, include_str!("schema_v18.sql")), (19, include_str!("schema_v19.sql"))];

/// The advisory lock key every node migrates under ("kbstmeta").
const MIGRATION_LOCK: i64 = 0x6b62_7374_6d65_7461;

pub(crate) fn newest() -> i64 {
    MIGRATIONS.last().map(|(v, _)| *v).unwrap_or(0)
}

pub(crate) fn current_version(c: &mut postgres::Client) -> Result<i64, postgres::Error> {
    let exists: bool = c.query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])?.get(0);
    if !exists {
        return Ok(0);
    }
    c.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])?.try_get(0)
}

/// Bring the schema to the newest version, one migration per transaction. A database written by a
/// newer build is refused rather than misread.
pub(crate) fn migrate(c: &mut postgres::Client) -> anyhow::Result<()> {
    c.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let applied = apply(c);
    // Released whatever happened; a dropped connection releases it too.
    let released = c.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    applied?;
    released?;
    Ok(())
}

fn apply(c: &mut postgres::Client) -> anyhow::Result<()> {
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, applied TIMESTAMPTZ NOT NULL DEFAULT now())",
    )?;
    let current = current_version(c)?;
    let newest = newest();
    if current > newest {
        anyhow::bail!(
            "the metadata database is at schema version {current}, newer than this build knows ({newest}): run a newer kbstack on it"
        );
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let mut tx = c.transaction()?;
        tx.batch_execute(sql)?;
        tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[version])?;
        tx.commit()?;
        tracing::info!(version, "metadata schema migrated (PostgreSQL)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_like_sqlite_and_as_new() {
        let versions: Vec<i64> = MIGRATIONS.iter().map(|(v, _)| *v).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "in order: {versions:?}");
        assert_eq!(
            newest(),
            crate::meta::schema::MIGRATIONS.last().unwrap().0,
            "every SQLite migration needs its PostgreSQL twin (same number) in pg/migrate.rs"
        );
    }
}
