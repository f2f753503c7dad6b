//! Static token vectors distilled from the encoder (as model2vec does): every vocabulary token
//! goes once through the encoder as `[CLS] token [SEP]`, mean-pooled; the table's mean is
//! removed (the common direction every static vector shares) and rows are re-normalised. A
//! sentence vector is then the mean of its tokens' rows: microseconds, no network at
//! classification time. The fast model adds it as dense features.
//!
//! The table is built once per model (about a minute on 2 cores) and kept on disk in the cache
//! directory (`vectors-<model id>.bin`, 47 MB for MiniLM); a process shares one table across
//! skills.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::encoder::bert::l2_normalised;
use crate::encoder::cache;
use crate::encoder::tokenize::Tokenizer;
use crate::encoder::{Encoder, MAX_TOKENS};
use crate::NluError;

/// Token vectors and the tokenizer that maps text to rows.
pub struct StaticVectors {
    tokenizer: Tokenizer,
    dim: usize,
    table: Vec<f32>,
}

impl std::fmt::Debug for StaticVectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticVectors")
            .field("dim", &self.dim)
            .field("rows", &(self.table.len() / self.dim.max(1)))
            .finish()
    }
}

fn loaded() -> &'static Mutex<HashMap<PathBuf, Arc<StaticVectors>>> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<StaticVectors>>>> = OnceLock::new();
    LOADED.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Token-id sequences distilled per batch.
const DISTIL_BATCH: usize = 256;

impl StaticVectors {
    /// The table for the encoder in `model_dir`: from this process, else from `cache_dir`, else
    /// distilled now (and saved there).
    pub fn load(
        model_dir: &Path,
        cache_dir: Option<&Path>,
    ) -> Result<Arc<StaticVectors>, NluError> {
        let key = model_dir
            .canonicalize()
            .map_err(|e| NluError::ModelUnavailable(format!("{}: {e}", model_dir.display())))?;
        let mut map = loaded()
            .lock()
            .map_err(|_| NluError::ModelUnavailable("vector registry poisoned".into()))?;
        if let Some(v) = map.get(&key) {
            return Ok(Arc::clone(v));
        }
        let v = Arc::new(StaticVectors::load_uncached(&key, cache_dir)?);
        map.insert(key, Arc::clone(&v));
        Ok(v)
    }

    fn load_uncached(dir: &Path, cache_dir: Option<&Path>) -> Result<StaticVectors, NluError> {
        let encoder = Encoder::load(dir)?;
        let tokenizer = Tokenizer::load(dir, MAX_TOKENS)
            .map_err(|e| NluError::ModelUnavailable(format!("{}: {e}", dir.display())))?;
        let path = cache_dir.map(|c| c.join(format!("vectors-{}.bin", encoder.id())));
        let rows = encoder.bert().vocab_size();
        if let Some((dim, table)) = path.as_deref().and_then(cache::load_matrix) {
            if dim == encoder.dim() && table.len() == rows * dim {
                return Ok(StaticVectors {
                    tokenizer,
                    dim,
                    table,
                });
            }
        }
        let table = distil(&encoder)?;
        if let Some(p) = &path {
            let _ = cache::save_matrix(p, encoder.dim(), &table);
        }
        Ok(StaticVectors {
            tokenizer,
            dim: encoder.dim(),
            table,
        })
    }

    /// Vector width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Bytes held (shared by every skill of the process).
    pub fn memory_bytes(&self) -> usize {
        self.table.len() * 4
    }

    /// Mean of the text's token vectors, unit length (zero when it has no tokens).
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; self.dim];
        let ids = self.tokenizer.encode_plain(text);
        for id in &ids {
            let start = *id as usize * self.dim;
            if let Some(row) = self.table.get(start..start + self.dim) {
                for (a, b) in v.iter_mut().zip(row) {
                    *a += b;
                }
            }
        }
        l2_normalised(v)
    }
}

/// Embed every vocabulary token through the encoder, centre the table, normalise rows.
fn distil(encoder: &Encoder) -> Result<Vec<f32>, NluError> {
    let (cls, sep) = encoder.tokenizer().specials();
    let rows = encoder.bert().vocab_size();
    let dim = encoder.dim();
    let seqs: Vec<Vec<u32>> = (0..rows as u32).map(|id| vec![cls, id, sep]).collect();
    let mut table = Vec::with_capacity(rows * dim);
    for chunk in seqs.chunks(DISTIL_BATCH) {
        for r in encoder.embed_ids(chunk)? {
            table.extend(r);
        }
    }
    let mut mean = vec![0f32; dim];
    for row in table.chunks_exact(dim) {
        for (m, x) in mean.iter_mut().zip(row) {
            *m += x / rows as f32;
        }
    }
    let mut out = Vec::with_capacity(table.len());
    for row in table.chunks_exact(dim) {
        let centred: Vec<f32> = row.iter().zip(&mean).map(|(x, m)| x - m).collect();
        out.extend(l2_normalised(centred));
    }
    Ok(out)
}
