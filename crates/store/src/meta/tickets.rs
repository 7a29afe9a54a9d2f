//! Tickets (unique, increasing ids, used as run ids) and the named sequences behind them: the
//! repository trait, its SQLite implementation and the conformance suite (`ticket_store_suite!`).
use crate::meta::Cached;
use rusqlite::Connection;

use super::SqliteMetaStore;
use kbstack_core::Result as ApiResult;

pub trait TicketStore {
    /// The next ticket: 1, 2, …, never given twice, kept across restarts.
    fn next_ticket(&self) -> ApiResult<i64>;
}

/// The next value of a named counter in the `sequences` table (1, 2, …), for SQLite code that
/// needs one inside its own transaction.
pub(crate) fn next_sequence(conn: &Connection, name: &str) -> rusqlite::Result<i64> {
    conn.query_row_cached(
        "INSERT INTO sequences (name, value) VALUES (?1, 1) \
         ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
        [name],
        |r| r.get(0),
    )
}

impl TicketStore for SqliteMetaStore {
    fn next_ticket(&self) -> ApiResult<i64> {
        self.with(|c| next_sequence(c, "tickets"))
    }
}

/// The behaviour every `TicketStore` must have; `ticket_store_suite!` runs each check as a named
/// test.
#[doc(hidden)]
pub mod suite {
    use super::*;

    pub fn counts_up_from_one<S: TicketStore>(s: &S) {
        let tickets: Vec<i64> = (0..3).map(|_| s.next_ticket().unwrap()).collect();
        assert_eq!(tickets, vec![1, 2, 3]);
    }
}

#[macro_export]
macro_rules! ticket_store_suite {
    ($make:expr) => {
        #[test]
        fn ticket_store_counts_up_from_one() {
            $crate::meta::tickets::suite::counts_up_from_one(&$make());
        }
    };
}
