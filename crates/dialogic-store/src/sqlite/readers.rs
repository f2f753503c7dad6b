//! Point reads on the caller's thread: a stateful turn's session load is one primary-key
//! lookup, usually from pages already in SQLite's cache, a few microseconds of work. Sent to
//! sqlx's pool it crossed two threads and back (sqlx runs each SQLite connection on a worker
//! thread of its own), which cost more than the read itself: about 37 µs of sqlx thread time
//! per stateful message plus the wake-ups in the tokio workers (bench/cpu_per_message.sh's
//! split, session 7).
//!
//! So these reads run synchronously, inline, on a connection taken from a small stack of idle
//! rusqlite read connections (opened on demand, `query_only`). A read in WAL mode never waits
//! for the writer; it can only meet a lock in the rare moments another process recovers the
//! WAL, so the busy timeout here is short, and a caller that gets an error falls back to the
//! async pool, which waits as long as it must.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;

use crate::error::Result;

/// How long an inline read waits for a lock before its caller falls back to the async pool.
const BUSY_TIMEOUT: Duration = Duration::from_millis(20);
/// Idle connections kept; more are opened while more threads read at once, then closed.
const MAX_IDLE: usize = 8;

/// Read connections to one database file.
#[derive(Debug)]
pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(super) fn new(path: &Path) -> Self {
        Readers {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` on an idle connection (or a new one), on this thread.
    pub(super) fn with<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => open(&self.path)?,
        };
        let out = read(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
        out
    }
}

fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA query_only = ON")?;
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}
