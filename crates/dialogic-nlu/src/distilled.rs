//! Static token vectors distilled from the encoder (as model2vec does): every vocabulary token
//! goes once through the encoder as `[CLS] token [SEP]`, mean-pooled; the table's mean is
//! removed (the common direction every static vector shares) and rows are re-normalised. A
//! sentence vector is then a weighted mean of its words' rows: microseconds, no network at
//! classification time. The fast model adds it as dense features.
//!
//! The table is built once per model (about a minute on 2 cores) and kept on disk in the cache
//! directory (`vectors-r2.<recipe>-<model id>.bin`, 47 MB for MiniLM; the name changes with the
//! recipe, so a changed recipe builds a new table; the file before session 6,
//! `vectors-<model id>.bin`, is no longer read); a process shares one table across skills. Per
//! skill, [`SkillVectors`] adds what the skill's own training examples say: SIF word weights
//! (on by default) and, as measured options, IDF / Zipf weights, whole-word and word-pair vectors
//! through the encoder, and common-component removal.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::encoder::bert::l2_normalised;
use crate::encoder::cache;
use crate::encoder::tokenize::Tokenizer;
use crate::encoder::{Encoder, Precision, MAX_TOKENS};
use crate::NluError;

/// Version of the table recipe, part of the cache file's name (a changed recipe rebuilds it).
const RECIPE: &str = "r2";

/// Token vectors and the tokenizer that maps text to rows.
pub struct StaticVectors {
    tokenizer: Tokenizer,
    dim: usize,
    /// `rows x dim`, centred, unit rows.
    table: Vec<f32>,
    /// The mean the table was centred by (of the raw unit-length token embeddings).
    mean: Vec<f32>,
    /// Per token id: a WordPiece continuation (`##x`).
    continuation: Vec<bool>,
    /// Where the encoder files are (for whole-word vectors at training time).
    model_dir: PathBuf,
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
        StaticVectors::load_recipe(model_dir, cache_dir, 0)
    }

    /// [`StaticVectors::load`] for a table recipe: 0 = each token framed as `[CLS] token [SEP]`,
    /// mean-pooled; 1 = the token alone (no frame), its own output.
    pub fn load_recipe(
        model_dir: &Path,
        cache_dir: Option<&Path>,
        recipe: u8,
    ) -> Result<Arc<StaticVectors>, NluError> {
        let mut key = model_dir
            .canonicalize()
            .map_err(|e| NluError::ModelUnavailable(format!("{}: {e}", model_dir.display())))?;
        let mut map = loaded()
            .lock()
            .map_err(|_| NluError::ModelUnavailable("vector registry poisoned".into()))?;
        let dir = key.clone();
        key.push(format!("#recipe{recipe}"));
        if let Some(v) = map.get(&key) {
            return Ok(Arc::clone(v));
        }
        let v = Arc::new(StaticVectors::load_uncached(&dir, cache_dir, recipe)?);
        map.insert(key, Arc::clone(&v));
        Ok(v)
    }

    fn load_uncached(
        dir: &Path,
        cache_dir: Option<&Path>,
        recipe: u8,
    ) -> Result<StaticVectors, NluError> {
        // The table is made once and cached: from the checkpoint's own f32 arithmetic.
        let encoder = Encoder::load(dir, Precision::F32)?;
        let tokenizer = Tokenizer::load(dir, MAX_TOKENS)
            .map_err(|e| NluError::ModelUnavailable(format!("{}: {e}", dir.display())))?;
        let path =
            cache_dir.map(|c| c.join(format!("vectors-{RECIPE}.{recipe}-{}.bin", encoder.id())));
        let rows = encoder.bert().vocab_size();
        let dim = match recipe {
            2 | 3 => PCA_DIM,
            _ => encoder.dim(),
        };
        let continuation = (0..rows as u32)
            .map(|id| tokenizer.token(id).is_some_and(|t| t.starts_with("##")))
            .collect();
        // The file holds the table and, as one more row, the mean it was centred by.
        let stored = path
            .as_deref()
            .and_then(cache::load_matrix)
            .filter(|(d, t)| *d == dim && t.len() == (rows + 1) * dim);
        let mut table = match stored {
            Some((_, t)) => t,
            None => {
                let (mut t, mut mean) = distil(&encoder, recipe)?;
                if (2..=4).contains(&recipe) {
                    t = pca(&t, encoder.dim(), dim, recipe != 2);
                    // Whole-word and word-pair vectors are not projected: no mean for them.
                    mean = vec![0.0; dim];
                }
                t.extend(mean);
                if let Some(p) = &path {
                    let _ = cache::save_matrix(p, dim, &t);
                }
                t
            }
        };
        let mean = table.split_off(rows * dim);
        Ok(StaticVectors {
            tokenizer,
            dim,
            table,
            mean,
            continuation,
            model_dir: dir.to_path_buf(),
        })
    }

    /// Vector width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Bytes held (shared by every skill of the process).
    pub fn memory_bytes(&self) -> usize {
        self.table.len() * 4 + self.continuation.len()
    }

    fn row(&self, id: u32) -> Option<&[f32]> {
        let start = id as usize * self.dim;
        self.table.get(start..start + self.dim)
    }

    /// The text's words as WordPiece id runs (a word = a piece and its `##` continuations).
    fn words(&self, text: &str) -> Vec<Vec<u32>> {
        let mut out: Vec<Vec<u32>> = Vec::new();
        for id in self.tokenizer.encode_plain(text) {
            let cont = self.continuation.get(id as usize).copied().unwrap_or(false);
            match out.last_mut() {
                Some(w) if cont => w.push(id),
                _ => out.push(vec![id]),
            }
        }
        out
    }

    /// Mean of the text's token vectors, unit length (zero when it has no tokens).
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; self.dim];
        for id in self.tokenizer.encode_plain(text) {
            if let Some(row) = self.row(id) {
                for (a, b) in v.iter_mut().zip(row) {
                    *a += b;
                }
            }
        }
        l2_normalised(v)
    }
}

/// How a skill turns token vectors into a sentence vector (chosen by CV, `BENCHMARKS.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct VectorConfig {
    /// Word weight = `idf ^ idf_power`, with `idf = ln((1 + n) / (1 + df)) + 1` over the skill's
    /// training examples (0 = every word weighs 1).
    pub idf_power: f32,
    /// SIF weight `a / (a + p(w))`, `p(w)` the word's share of the training examples' words
    /// (0 = off; default 0.001, chosen by CV: `BENCHMARKS.md`, session 6). A word the skill
    /// never saw weighs 1.
    pub sif_a: f32,
    /// Zipf weight from the WordPiece id's rank (the vocabulary is in frequency order after the
    /// special and single-char tokens): 0 = off, 1 = `ln(1 + rank)`, 2 = SIF weight
    /// `a / (a + p)` with Zipf's `p = 1 / (rank H)` (`a` = `sif_a`, else 0.001).
    pub zipf: u8,
    /// Weight of vectors of the skill's word pairs (adjacent words of its training examples,
    /// embedded through the encoder at training time) added where the pair occurs (0 = off).
    pub bigrams: f32,
    /// Weight of a `##` continuation piece (1 = every piece alike, 0 = a word's first piece
    /// only).
    pub subword: f32,
    /// Embed the skill's multi-piece words whole through the encoder at training time.
    pub whole_words: bool,
    /// Multiplier of the weight of a word the skill's training examples never had (1 = as
    /// the weighting gives it).
    pub unseen: f32,
    /// Weight of a max-pooled vector (per component, over the text's pieces) appended to the
    /// mean (0 = off: the mean alone).
    pub max_pool: f32,
    /// Weight of the plain (unweighted) mean appended to the weighted one (0 = off).
    pub plain_concat: f32,
    /// Table recipe ([`StaticVectors::load_recipe`]): 0 = framed tokens, 1 = unframed, 2 = framed
    /// projected on the table's top 256 principal components, 3 = the same whitened, 4 = all
    /// 384 components whitened, 5 = each framed token's own output row instead of the frame's
    /// mean.
    pub table: u8,
    /// Remove the projection on the top principal directions of the training examples'
    /// sentence vectors (SIF's common-component removal; 0 = off).
    pub remove_pcs: usize,
}

impl Default for VectorConfig {
    fn default() -> Self {
        VectorConfig {
            idf_power: 0.0,
            sif_a: 0.001,
            zipf: 0,
            bigrams: 0.0,
            subword: 1.0,
            whole_words: false,
            remove_pcs: 0,
            table: 0,
            unseen: 1.0,
            max_pool: 0.0,
            plain_concat: 0.0,
        }
    }
}

/// First id of the frequency-ordered whole-word part of the BERT uncased vocabulary ("the").
const ZIPF_FIRST: u32 = 1996;

/// Harmonic number of the vocabulary size (Zipf's normaliser, about ln 30,000 + 0.58).
const ZIPF_H: f32 = 10.9;

/// A skill's sentence vectors: the shared table plus the skill's word weights and whole words.
#[derive(Debug, Clone)]
pub struct SkillVectors {
    base: Arc<StaticVectors>,
    cfg: VectorConfig,
    /// Words seen in training: weight.
    weights: HashMap<Vec<u32>, f32>,
    /// Weight of a word not seen in training.
    unseen: f32,
    /// Whole-word vectors (centred, unit length) of the skill's multi-piece words.
    whole: HashMap<Vec<u32>, Vec<f32>>,
    /// Vectors (centred, unit length) of the skill's adjacent word pairs.
    pairs: HashMap<(Vec<u32>, Vec<u32>), Vec<f32>>,
    /// Unit directions removed from every sentence vector.
    pcs: Vec<Vec<f32>>,
}

impl SkillVectors {
    /// Plain vectors (every word weighs 1) until [`SkillVectors::fit`].
    pub fn new(base: Arc<StaticVectors>, cfg: VectorConfig) -> SkillVectors {
        SkillVectors {
            base,
            cfg,
            weights: HashMap::new(),
            unseen: 1.0,
            whole: HashMap::new(),
            pairs: HashMap::new(),
            pcs: Vec::new(),
        }
    }

    /// `texts` through the encoder, each embedding centred on the table's mean and made unit
    /// length (`None` where the encoder's width is not the table's).
    fn embed_centred(
        &self,
        texts: &[String],
        cache_dir: Option<&Path>,
    ) -> Result<Vec<Option<Vec<f32>>>, NluError> {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encoder = Encoder::load(&self.base.model_dir, Precision::F32)?;
        let rows = encoder.embed_cached(&refs, cache_dir)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (r.len() == self.base.dim).then(|| {
                    l2_normalised(r.iter().zip(&self.base.mean).map(|(x, m)| x - m).collect())
                })
            })
            .collect())
    }

    /// Fit word weights (and whole-word vectors) on the skill's training texts.
    pub fn fit(&mut self, texts: &[&str], cache_dir: Option<&Path>) -> Result<(), NluError> {
        let mut df: HashMap<Vec<u32>, f32> = HashMap::new();
        let mut tf: HashMap<Vec<u32>, f32> = HashMap::new();
        let mut total = 0f32;
        for t in texts {
            let words = self.base.words(t);
            total += words.len() as f32;
            for w in &words {
                *tf.entry(w.clone()).or_default() += 1.0;
            }
            let mut uniq = words;
            uniq.sort();
            uniq.dedup();
            for w in uniq {
                *df.entry(w).or_default() += 1.0;
            }
        }
        let n = texts.len() as f32;
        let weigh = |d: f32, c: f32| word_weight(&self.cfg, n, total, d, c);
        self.unseen = weigh(0.0, 0.0) * self.cfg.unseen;
        self.weights = df
            .iter()
            .map(|(w, &d)| (w.clone(), weigh(d, tf[w])))
            .collect();
        let word_text = |w: &[u32]| {
            w.iter()
                .filter_map(|&id| self.base.tokenizer.token(id))
                .map(|t| t.trim_start_matches("##").to_string())
                .collect::<String>()
        };
        self.pairs.clear();
        if self.cfg.bigrams > 0.0 {
            let mut keys: Vec<(Vec<u32>, Vec<u32>)> = Vec::new();
            for t in texts {
                let words = self.base.words(t);
                for p in words.windows(2) {
                    keys.push((p[0].clone(), p[1].clone()));
                }
            }
            keys.sort();
            keys.dedup();
            let texts: Vec<String> = keys
                .iter()
                .map(|(a, b)| format!("{} {}", word_text(a), word_text(b)))
                .collect();
            let rows = self.embed_centred(&texts, cache_dir)?;
            self.pairs = keys
                .into_iter()
                .zip(rows)
                .filter_map(|(k, r)| Some((k, r?)))
                .collect();
        }
        if self.cfg.whole_words {
            let multi: Vec<&Vec<u32>> = df.keys().filter(|w| w.len() > 1).collect();
            let texts: Vec<String> = multi.iter().map(|w| word_text(w)).collect();
            let rows = self.embed_centred(&texts, cache_dir)?;
            self.whole = multi
                .into_iter()
                .zip(rows)
                .filter_map(|(w, r)| Some((w.clone(), r?)))
                .collect();
        }
        self.pcs.clear();
        if self.cfg.remove_pcs > 0 {
            let rows: Vec<Vec<f32>> = texts.iter().map(|t| self.embed(t)).collect();
            self.pcs = top_directions(&rows, self.base.dim, self.cfg.remove_pcs);
        }
        Ok(())
    }

    /// Weighted mean of the text's word vectors, unit length (zero when it has no tokens).
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let base = &self.base;
        let mut v = vec![0f32; base.dim];
        let mut add = |row: &[f32], w: f32| {
            for (a, b) in v.iter_mut().zip(row) {
                *a += w * b;
            }
        };
        let words = base.words(text);
        let mut mx = vec![f32::NEG_INFINITY; if self.cfg.max_pool > 0.0 { base.dim } else { 0 }];
        if !mx.is_empty() {
            for id in words.iter().flatten() {
                if let Some(row) = base.row(*id) {
                    mx.iter_mut().zip(row).for_each(|(m, x)| *m = m.max(*x));
                }
            }
        }
        let mut ws = Vec::with_capacity(words.len());
        for word in &words {
            let mut w = self.weights.get(word).copied().unwrap_or(self.unseen);
            let rank = word[0].saturating_sub(ZIPF_FIRST).max(1) as f32;
            match self.cfg.zipf {
                1 => w *= (1.0 + rank).ln(),
                2 => {
                    let a = if self.cfg.sif_a > 0.0 {
                        self.cfg.sif_a
                    } else {
                        0.001
                    };
                    let p = 1.0 / (rank * ZIPF_H);
                    w *= a / (a + p);
                }
                _ => {}
            }
            ws.push(w);
            if let Some(row) = self.whole.get(word) {
                add(row, w);
                continue;
            }
            for (k, &id) in word.iter().enumerate() {
                let pw = if k == 0 { 1.0 } else { self.cfg.subword };
                if let Some(row) = base.row(id) {
                    add(row, w * pw);
                }
            }
        }
        if !self.pairs.is_empty() {
            for (k, p) in words.windows(2).enumerate() {
                if let Some(row) = self.pairs.get(&(p[0].clone(), p[1].clone())) {
                    add(row, self.cfg.bigrams * ws[k].min(ws[k + 1]));
                }
            }
        }
        let mut v = l2_normalised(v);
        if !self.pcs.is_empty() {
            for u in &self.pcs {
                let d: f32 = v.iter().zip(u).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(u).for_each(|(a, b)| *a -= d * b);
            }
            v = l2_normalised(v);
        }
        if !mx.is_empty() {
            mx.iter_mut()
                .filter(|m| !m.is_finite())
                .for_each(|m| *m = 0.0);
            let mx = l2_normalised(mx);
            v.extend(mx.iter().map(|x| x * self.cfg.max_pool));
            v = l2_normalised(v);
        }
        if self.cfg.plain_concat > 0.0 {
            let plain = base.embed(text);
            v.extend(plain.iter().map(|x| x * self.cfg.plain_concat));
            v = l2_normalised(v);
        }
        v
    }

    /// Bytes held by this skill (the shared table not included).
    pub fn memory_bytes(&self) -> usize {
        self.weights.keys().map(|k| k.len() * 4 + 40).sum::<usize>()
            + self.whole.len() * (self.base.dim * 4 + 48)
    }

    /// The shared table.
    pub fn base(&self) -> &StaticVectors {
        &self.base
    }
}

/// Principal components kept by table recipes 2 and 3.
const PCA_DIM: usize = 256;

/// Rows of `table` (`dim` wide, centred) projected on their top `k` principal components
/// (divided by the component's standard deviation when `whiten`), rows re-normalised.
fn pca(table: &[f32], dim: usize, k: usize, whiten: bool) -> Vec<f32> {
    let n = table.len() / dim;
    let mut cov = vec![0f64; dim * dim];
    for row in table.chunks_exact(dim) {
        for i in 0..dim {
            let x = f64::from(row[i]);
            for j in i..dim {
                cov[i * dim + j] += x * f64::from(row[j]);
            }
        }
    }
    for i in 0..dim {
        for j in i..dim {
            cov[i * dim + j] /= n as f64;
            cov[j * dim + i] = cov[i * dim + j];
        }
    }
    let (vals, vecs) = jacobi_eigen(cov, dim);
    let mut order: Vec<usize> = (0..dim).collect();
    order.sort_by(|&a, &b| vals[b].total_cmp(&vals[a]));
    let comps: Vec<(Vec<f32>, f32)> = order
        .iter()
        .take(k)
        .map(|&c| {
            let v: Vec<f32> = (0..dim).map(|i| vecs[i * dim + c] as f32).collect();
            let s = if whiten {
                1.0 / vals[c].max(1e-12).sqrt() as f32
            } else {
                1.0
            };
            (v, s)
        })
        .collect();
    let mut out = Vec::with_capacity(n * k);
    for row in table.chunks_exact(dim) {
        let p: Vec<f32> = comps
            .iter()
            .map(|(v, s)| s * v.iter().zip(row).map(|(a, b)| a * b).sum::<f32>())
            .collect();
        out.extend(l2_normalised(p));
    }
    out
}

/// Eigenvalues and eigenvectors (columns of the returned `n x n` matrix) of a symmetric matrix,
/// cyclic Jacobi.
fn jacobi_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _ in 0..30 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        if off < 1e-18 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-15 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[k * n + p];
                    let akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[p * n + k];
                    let aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let vkp = v[k * n + p];
                    let vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// Weight of a word found in `df` of `n` training examples, `count` times among their `total`
/// words (`VectorConfig::idf_power` and `sif_a`).
fn word_weight(cfg: &VectorConfig, n: f32, total: f32, df: f32, count: f32) -> f32 {
    let mut w = 1.0;
    if cfg.idf_power != 0.0 {
        let idf = ((1.0 + n) / (1.0 + df)).ln() + 1.0;
        w *= idf.powf(cfg.idf_power);
    }
    if cfg.sif_a > 0.0 {
        let p = count / total.max(1.0);
        w *= cfg.sif_a / (cfg.sif_a + p);
    }
    w
}

/// The `k` leading (uncentred) principal directions of `rows`, by power iteration with
/// deflation.
fn top_directions(rows: &[Vec<f32>], dim: usize, k: usize) -> Vec<Vec<f32>> {
    let mut out: Vec<Vec<f32>> = Vec::new();
    for j in 0..k.min(dim) {
        let mut u: Vec<f32> = (0..dim).map(|i| 1.0 + ((i + j) % 7) as f32 * 0.1).collect();
        u = l2_normalised(u);
        for _ in 0..60 {
            let mut next = vec![0f32; dim];
            for r in rows {
                let mut x = r.clone();
                for p in &out {
                    let d: f32 = x.iter().zip(p).map(|(a, b)| a * b).sum();
                    x.iter_mut().zip(p).for_each(|(a, b)| *a -= d * b);
                }
                let d: f32 = x.iter().zip(&u).map(|(a, b)| a * b).sum();
                next.iter_mut().zip(&x).for_each(|(a, b)| *a += d * b);
            }
            u = l2_normalised(next);
        }
        out.push(u);
    }
    out
}

/// Embed every vocabulary token through the encoder, centre the table, normalise rows: the
/// table and the mean it was centred by.
fn distil(encoder: &Encoder, recipe: u8) -> Result<(Vec<f32>, Vec<f32>), NluError> {
    let (cls, sep) = encoder.tokenizer().specials();
    let rows = encoder.bert().vocab_size();
    let dim = encoder.dim();
    let seqs: Vec<Vec<u32>> = (0..rows as u32)
        .map(|id| match recipe {
            1 => vec![id],
            _ => vec![cls, id, sep],
        })
        .collect();
    let mut table = Vec::with_capacity(rows * dim);
    if recipe == 5 {
        token_positions(encoder, &seqs, &mut table)?;
    } else {
        for chunk in seqs.chunks(DISTIL_BATCH) {
            for r in encoder.embed_ids(chunk)? {
                table.extend(r);
            }
        }
    }
    let mut mean = vec![0f32; dim];
    for row in table.chunks_exact(dim) {
        for (m, x) in mean.iter_mut().zip(row) {
            *m += x / rows as f32;
        }
    }
    let mut out = Vec::with_capacity(table.len() + dim);
    for row in table.chunks_exact(dim) {
        let centred: Vec<f32> = row.iter().zip(&mean).map(|(x, m)| x - m).collect();
        out.extend(l2_normalised(centred));
    }
    Ok((out, mean))
}

/// Table recipe 5: each framed token's own output row (`[CLS] token [SEP]`, the middle row of
/// the last layer), unit length, batches spread over the cores.
fn token_positions(
    encoder: &Encoder,
    seqs: &[Vec<u32>],
    table: &mut Vec<f32>,
) -> Result<(), NluError> {
    let (bert, dim) = (encoder.bert(), encoder.dim());
    let layers = bert.net().layers.len();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for block in seqs.chunks(DISTIL_BATCH * threads) {
        let states = bert
            .hidden_states_parallel(block, layers)
            .map_err(NluError::ModelUnavailable)?;
        for seq in states.chunks_exact(3 * dim) {
            table.extend(l2_normalised(seq[dim..2 * dim].to_vec()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sif_weights_frequent_words_down_and_unseen_words_at_one() {
        let cfg = VectorConfig::default();
        // 1,000 words in 100 examples: "the" 100 times, "alarm" 5 times.
        let the = word_weight(&cfg, 100.0, 1000.0, 100.0, 100.0);
        let alarm = word_weight(&cfg, 100.0, 1000.0, 5.0, 5.0);
        let unseen = word_weight(&cfg, 100.0, 1000.0, 0.0, 0.0);
        assert!((unseen - 1.0).abs() < 1e-6);
        assert!(the < 0.02 && alarm > 0.1 && alarm < unseen);
        let plain = VectorConfig {
            sif_a: 0.0,
            ..VectorConfig::default()
        };
        assert_eq!(word_weight(&plain, 100.0, 1000.0, 100.0, 100.0), 1.0);
    }

    #[test]
    fn jacobi_finds_the_eigenpairs() {
        // [[2, 1], [1, 2]]: eigenvalues 3 and 1, eigenvectors (1, 1) and (1, -1) / sqrt 2.
        let (vals, vecs) = jacobi_eigen(vec![2.0, 1.0, 1.0, 2.0], 2);
        let big = usize::from(vals[1] > vals[0]);
        assert!((vals[big] - 3.0).abs() < 1e-9 && (vals[1 - big] - 1.0).abs() < 1e-9);
        assert!((vecs[big].abs() - vecs[2 + big].abs()).abs() < 1e-9);
    }

    #[test]
    fn top_direction_is_the_shared_one() {
        let rows: Vec<Vec<f32>> = (0..20)
            .map(|i| {
                let e = if i % 2 == 0 { 0.3 } else { -0.3 };
                l2_normalised(vec![1.0, e, 0.1 * (i % 3) as f32])
            })
            .collect();
        let u = top_directions(&rows, 3, 1);
        assert_eq!(u.len(), 1);
        assert!(u[0][0].abs() > 0.95, "{:?}", u[0]);
    }
}
