//! Embedding caches: a bounded in-memory map for repeated texts at classification time, and
//! training-set embeddings on disk keyed by model and skill hash (a restart does not re-embed).
//! The trained intent model of an encoder skill is kept in the same directory
//! (`intents-<model id>-<hash>.bin`, see `Nlu::train_with`), so a restart does not retrain either.
//!
//! Disk format (little endian): magic `DLGE1\0\0\0`, `u32` dim, `u32` rows, then `rows * dim`
//! `f32`. Files are written to a temporary name and renamed, so a crash never leaves a torn file;
//! a file that does not parse is ignored (and rewritten).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const MAGIC: &[u8; 8] = b"DLGE1\0\0\0";

/// FNV-1a 64: a hash that is stable across runs, platforms and Rust versions (file names).
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Feed bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        for &x in b {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }
    /// Feed a string and a separator (so `["ab","c"]` and `["a","bc"]` differ).
    pub fn text(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes()).bytes(&[0xff])
    }
    /// The hash.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// A bounded map from text to embedding; when full it is cleared (cheap, and repeated texts
/// come back quickly).
#[derive(Debug)]
pub struct MemoryCache {
    map: Mutex<HashMap<String, Arc<[f32]>>>,
    capacity: usize,
}

impl MemoryCache {
    /// A cache of at most `capacity` texts (0 = off).
    pub fn new(capacity: usize) -> MemoryCache {
        MemoryCache {
            map: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The cached embedding of `text`.
    pub fn get(&self, text: &str) -> Option<Arc<[f32]>> {
        self.map.lock().ok()?.get(text).cloned()
    }

    /// Remember an embedding (texts over 1,000 bytes are not kept).
    pub fn put(&self, text: &str, v: Arc<[f32]>) {
        if self.capacity == 0 || text.len() > 1000 {
            return;
        }
        if let Ok(mut m) = self.map.lock() {
            if m.len() >= self.capacity {
                m.clear();
            }
            m.insert(text.to_string(), v);
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Write a matrix (`rows` of width `dim`) atomically.
pub fn save_matrix(path: &Path, dim: usize, rows: &[f32]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let n = rows.len() / dim.max(1);
    let mut buf = Vec::with_capacity(16 + rows.len() * 4);
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&(dim as u32).to_le_bytes());
    buf.extend_from_slice(&(n as u32).to_le_bytes());
    for x in rows {
        buf.extend_from_slice(&x.to_le_bytes());
    }
    save_bytes(path, &buf)
}

/// Write a file atomically (temporary name, then rename), creating its directory.
pub fn save_bytes(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Read a matrix written by [`save_matrix`]: `(dim, values)`, or `None` when missing or invalid.
pub fn load_matrix(path: &Path) -> Option<(usize, Vec<f32>)> {
    let data = std::fs::read(path).ok()?;
    if data.len() < 16 || &data[..8] != MAGIC {
        return None;
    }
    let dim = u32::from_le_bytes(data[8..12].try_into().ok()?) as usize;
    let n = u32::from_le_bytes(data[12..16].try_into().ok()?) as usize;
    let body = &data[16..];
    if dim == 0 || body.len() != n.checked_mul(dim)?.checked_mul(4)? {
        return None;
    }
    let values = body
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Some((dim, values))
}

/// The default cache directory: `$DIALOGIC_CACHE_DIR`, else `$XDG_CACHE_HOME/dialogic`, else
/// `$HOME/.cache/dialogic`, else the system temporary directory's `dialogic-cache`.
pub fn default_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = env("DIALOGIC_CACHE_DIR") {
        return d;
    }
    if let Some(d) = env("XDG_CACHE_HOME") {
        return d.join("dialogic");
    }
    if let Some(h) = env("HOME") {
        return h.join(".cache").join("dialogic");
    }
    std::env::temp_dir().join("dialogic-cache")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrices_round_trip_and_bad_files_are_ignored() {
        let dir = std::env::temp_dir().join(format!("dialogic-cache-test-{}", std::process::id()));
        let p = dir.join("m.bin");
        save_matrix(&p, 2, &[1.0, 2.0, 3.0, -4.5]).expect("writes");
        assert_eq!(load_matrix(&p), Some((2, vec![1.0, 2.0, 3.0, -4.5])));
        std::fs::write(&p, b"DLGE1\0\0\0garbage").expect("writes");
        assert_eq!(load_matrix(&p), None);
        assert_eq!(load_matrix(&dir.join("missing")), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn memory_cache_is_bounded() {
        let c = MemoryCache::new(2);
        for t in ["a", "b", "c"] {
            c.put(t, Arc::from(vec![1.0f32]));
        }
        assert!(c.len() <= 2);
        assert!(c.get("c").is_some());
    }

    #[test]
    fn fnv_separates_texts() {
        let a = Fnv::default().text("ab").text("c").finish();
        let b = Fnv::default().text("a").text("bc").finish();
        assert_ne!(a, b);
    }
}
