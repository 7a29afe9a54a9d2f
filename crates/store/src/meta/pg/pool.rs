//! A small blocking connection pool: up to `max` connections, opened on demand and kept open;
//! a caller waits when all are in use. A connection the server closed is dropped, not reused.
use std::ops::{Deref, DerefMut};

use parking_lot::{Condvar, Mutex};
use postgres::{Client, Config, NoTls};

pub(crate) struct Pool {
    config: Config,
    max: usize,
    state: Mutex<State>,
    freed: Condvar,
}

struct State {
    idle: Vec<Client>,
    /// Connections open: idle plus handed out plus being opened.
    open: usize,
}

/// A connection handed out; back to the pool when dropped.
pub(crate) struct Conn<'a> {
    pool: &'a Pool,
    client: Option<Client>,
}

impl Pool {
    pub(crate) fn new(config: Config, max: usize) -> Pool {
        Pool { config, max, state: Mutex::new(State { idle: Vec::new(), open: 0 }), freed: Condvar::new() }
    }

    pub(crate) fn get(&self) -> Result<Conn<'_>, postgres::Error> {
        let mut state = self.state.lock();
        loop {
            if let Some(client) = state.idle.pop() {
                if client.is_closed() {
                    state.open -= 1;
                    continue;
                }
                return Ok(Conn { pool: self, client: Some(client) });
            }
            if state.open < self.max {
                state.open += 1;
                // Opened outside the lock: a slow server must not stall callers with idle connections to take.
                drop(state);
                return match self.config.connect(NoTls) {
                    Ok(client) => Ok(Conn { pool: self, client: Some(client) }),
                    Err(e) => {
                        self.state.lock().open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            self.freed.wait(&mut state);
        }
    }
}

impl Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("a connection until dropped")
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("a connection until dropped")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else { return };
        let mut state = self.pool.state.lock();
        if client.is_closed() {
            state.open -= 1;
        } else {
            state.idle.push(client);
        }
        drop(state);
        self.pool.freed.notify_one();
    }
}

impl Drop for Pool {
    /// Closing a connection blocks on its own runtime, which may not run inside the server's: a
    /// store dropped in async code (a start that failed half-way) closes them through `blocking`.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.state.get_mut().idle);
        super::blocking(move || drop(idle));
    }
}
