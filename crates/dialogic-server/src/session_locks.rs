//! A keyed async mutex: two messages on one session never run their turns at the same time
//! in this process (across processes, the store's version check catches the race).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Debug, Default)]
pub struct SessionLocks {
    map: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

/// Held while a session's turn runs; frees the map entry when the last holder leaves.
pub struct SessionGuard<'a> {
    locks: &'a SessionLocks,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl SessionLocks {
    pub async fn lock(&self, key: &str) -> SessionGuard<'_> {
        let m = {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.to_owned())
                .or_insert_with(|| Arc::new(AsyncMutex::new(())))
                .clone()
        };
        let guard = m.lock_owned().await;
        SessionGuard {
            locks: self,
            key: key.to_owned(),
            guard: Some(guard),
        }
    }

    /// Sessions with a lock entry (waiting or running).
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        let mut map = self.locks.map.lock().unwrap_or_else(|p| p.into_inner());
        drop(self.guard.take());
        // The map holds one reference; nobody else waiting means we can drop the entry.
        if map
            .get(&self.key)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serialises_per_key_and_cleans_up() {
        let locks = Arc::new(SessionLocks::default());
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let max_seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (l, c, m) = (locks.clone(), counter.clone(), max_seen.clone());
            tasks.push(tokio::spawn(async move {
                let _g = l.lock("s1").await;
                let now = c.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                m.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                tokio::task::yield_now().await;
                c.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(max_seen.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(locks.is_empty());
    }
}
