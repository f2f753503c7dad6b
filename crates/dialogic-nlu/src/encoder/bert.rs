//! A BERT encoder (MiniLM and other `BertModel` checkpoints) on candle's CPU backend, with mean
//! pooling and L2 normalisation: what sentence-transformers computes for all-MiniLM-L6-v2.
//!
//! Weights load from `model.safetensors` (names with or without a `bert.` prefix). The three
//! attention projections are fused into one matrix and every weight is stored transposed and
//! contiguous, so each layer is four plain matmuls. Sequences are never padded beyond the longest
//! one of a batch.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

/// Errors of the encoder (wrapped into [`crate::NluError::ModelUnavailable`] by callers).
pub type Result<T> = std::result::Result<T, String>;

fn err(e: candle_core::Error) -> String {
    e.to_string()
}

/// `config.json` fields used here (defaults: all-MiniLM-L6-v2).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct BertConfig {
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f64,
    /// Longest sequence the position table covers.
    pub max_position_embeddings: usize,
    /// Activation (`gelu` = exact erf GELU, `gelu_new` = tanh approximation).
    pub hidden_act: String,
}

impl Default for BertConfig {
    fn default() -> Self {
        BertConfig {
            hidden_size: 384,
            num_hidden_layers: 6,
            num_attention_heads: 12,
            layer_norm_eps: 1e-12,
            max_position_embeddings: 512,
            hidden_act: "gelu".into(),
        }
    }
}

struct Norm {
    w: Tensor,
    b: Tensor,
    eps: f32,
}

impl Norm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.w, &self.b, self.eps).map_err(err)
    }
}

/// A dense layer: `x @ w + b` with `w` stored `(in, out)`.
struct Dense {
    w: Tensor,
    b: Tensor,
}

impl Dense {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.w)
            .and_then(|y| y.broadcast_add(&self.b))
            .map_err(err)
    }
}

struct Layer {
    qkv: Dense,
    out: Dense,
    ln1: Norm,
    up: Dense,
    down: Dense,
    ln2: Norm,
}

/// The loaded encoder.
pub struct Bert {
    config: BertConfig,
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    ln: Norm,
    layers: Vec<Layer>,
    tanh_gelu: bool,
}

impl std::fmt::Debug for Bert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bert")
            .field("config", &self.config)
            .finish()
    }
}

struct Weights {
    map: HashMap<String, Tensor>,
    prefix: &'static str,
}

impl Weights {
    fn get(&self, name: &str) -> Result<Tensor> {
        let t = self
            .map
            .get(&format!("{}{name}", self.prefix))
            .ok_or_else(|| format!("model.safetensors has no tensor `{name}`"))?;
        t.to_dtype(DType::F32).map_err(err)
    }

    fn dense(&self, name: &str) -> Result<Dense> {
        let w = self.get(&format!("{name}.weight"))?;
        Ok(Dense {
            w: w.t().and_then(|t| t.contiguous()).map_err(err)?,
            b: self.get(&format!("{name}.bias"))?,
        })
    }

    fn norm(&self, name: &str, eps: f32) -> Result<Norm> {
        Ok(Norm {
            w: self.get(&format!("{name}.weight"))?,
            b: self.get(&format!("{name}.bias"))?,
            eps,
        })
    }
}

impl Bert {
    /// Load `model.safetensors` with `config` from a directory.
    pub fn load(dir: &Path, config: BertConfig) -> Result<Bert> {
        let path = dir.join("model.safetensors");
        let map = candle_core::safetensors::load(&path, &Device::Cpu)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let prefix = if map.contains_key("embeddings.word_embeddings.weight") {
            ""
        } else {
            "bert."
        };
        let w = Weights { map, prefix };
        let eps = config.layer_norm_eps as f32;
        let h = config.hidden_size;
        if h == 0
            || config.num_attention_heads == 0
            || !h.is_multiple_of(config.num_attention_heads)
        {
            return Err(format!(
                "config: hidden_size {h} is not a multiple of num_attention_heads {}",
                config.num_attention_heads
            ));
        }
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let q = w.dense(&format!("{p}.attention.self.query"))?;
            let k = w.dense(&format!("{p}.attention.self.key"))?;
            let v = w.dense(&format!("{p}.attention.self.value"))?;
            let qkv = Dense {
                w: Tensor::cat(&[&q.w, &k.w, &v.w], 1).map_err(err)?,
                b: Tensor::cat(&[&q.b, &k.b, &v.b], 0).map_err(err)?,
            };
            layers.push(Layer {
                qkv,
                out: w.dense(&format!("{p}.attention.output.dense"))?,
                ln1: w.norm(&format!("{p}.attention.output.LayerNorm"), eps)?,
                up: w.dense(&format!("{p}.intermediate.dense"))?,
                down: w.dense(&format!("{p}.output.dense"))?,
                ln2: w.norm(&format!("{p}.output.LayerNorm"), eps)?,
            });
        }
        let word = w.get("embeddings.word_embeddings.weight")?;
        if word.dims().get(1) != Some(&h) {
            return Err(format!(
                "word embeddings {:?} do not match hidden_size {h}",
                word.dims()
            ));
        }
        let token_type = w
            .get("embeddings.token_type_embeddings.weight")?
            .narrow(0, 0, 1)
            .map_err(err)?;
        Ok(Bert {
            word,
            position: w.get("embeddings.position_embeddings.weight")?,
            token_type,
            ln: w.norm("embeddings.LayerNorm", eps)?,
            layers,
            tanh_gelu: config.hidden_act != "gelu",
            config,
        })
    }

    /// Width of the embeddings.
    pub fn dim(&self) -> usize {
        self.config.hidden_size
    }

    /// Vocabulary size of the embedding table.
    pub fn vocab_size(&self) -> usize {
        self.word.dims().first().copied().unwrap_or(0)
    }

    /// Longest sequence (tokens, special ones included) the model accepts.
    pub fn max_len(&self) -> usize {
        self.config.max_position_embeddings
    }

    /// Bytes held by the weights.
    pub fn memory_bytes(&self) -> usize {
        let mut n = self.word.elem_count() + self.position.elem_count();
        for l in &self.layers {
            n += l.qkv.w.elem_count() + l.out.w.elem_count();
            n += l.up.w.elem_count() + l.down.w.elem_count();
        }
        n * 4
    }

    /// Mean-pooled, L2-normalised embeddings of token-id sequences (each already framed with
    /// `[CLS]`/`[SEP]`, at most [`Bert::max_len`] long, ids below [`Bert::vocab_size`]). Shorter
    /// sequences are padded to the longest one and masked.
    pub fn embed(&self, seqs: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        let b = seqs.len();
        let t = seqs.iter().map(Vec::len).max().unwrap_or(0);
        if b == 0 {
            return Ok(Vec::new());
        }
        if t == 0 || t > self.max_len() {
            return Err(format!("sequence length {t} out of range"));
        }
        let vocab = self.vocab_size() as u32;
        let h = self.dim();
        let mut ids = Vec::with_capacity(b * t);
        let mut mask = Vec::with_capacity(b * t);
        for s in seqs {
            for k in 0..t {
                let id = s.get(k).copied();
                ids.push(id.filter(|&i| i < vocab).unwrap_or(0));
                mask.push(if id.is_some() { 1f32 } else { 0f32 });
            }
        }
        let dev = Device::Cpu;
        let ids = Tensor::from_vec(ids, b * t, &dev).map_err(err)?;
        let mask = Tensor::from_vec(mask, (b, t), &dev).map_err(err)?;
        let pos = self.position.narrow(0, 0, t).map_err(err)?;
        let x = self
            .word
            .index_select(&ids, 0)
            .and_then(|x| x.reshape((b, t, h)))
            .and_then(|x| x.broadcast_add(&pos))
            .and_then(|x| x.broadcast_add(&self.token_type))
            .map_err(err)?;
        let mut x = self.ln.forward(&x)?.reshape((b * t, h)).map_err(err)?;
        // Additive attention mask: 0 for tokens, a large negative number for padding.
        let bias = if seqs.iter().all(|s| s.len() == t) {
            None
        } else {
            Some(
                mask.affine(1e4, -1e4)
                    .and_then(|m| m.reshape((b, 1, 1, t)))
                    .map_err(err)?,
            )
        };
        let heads = self.config.num_attention_heads;
        let hd = h / heads;
        let scale = 1.0 / (hd as f64).sqrt();
        for l in &self.layers {
            let qkv = l
                .qkv
                .forward(&x)?
                .reshape((b, t, 3, heads, hd))
                .map_err(err)?;
            let part = |i: usize| -> Result<Tensor> {
                qkv.narrow(2, i, 1)
                    .and_then(|p| p.squeeze(2))
                    .and_then(|p| p.transpose(1, 2))
                    .and_then(|p| p.contiguous())
                    .map_err(err)
            };
            let (q, k, v) = (part(0)?, part(1)?, part(2)?);
            let mut scores = q
                .matmul(&k.t().map_err(err)?)
                .and_then(|s| s.affine(scale, 0.0))
                .map_err(err)?;
            if let Some(bias) = &bias {
                scores = scores.broadcast_add(bias).map_err(err)?;
            }
            let probs = candle_nn::ops::softmax_last_dim(&scores).map_err(err)?;
            let ctx = probs
                .matmul(&v)
                .and_then(|c| c.transpose(1, 2))
                .and_then(|c| c.reshape((b * t, h)))
                .map_err(err)?;
            let a = l.out.forward(&ctx)?.add(&x).map_err(err)?;
            let a = l.ln1.forward(&a)?;
            let up = l.up.forward(&a)?;
            let up = if self.tanh_gelu {
                up.gelu()
            } else {
                up.gelu_erf()
            }
            .map_err(err)?;
            let y = l.down.forward(&up)?.add(&a).map_err(err)?;
            x = l.ln2.forward(&y)?;
        }
        // Mean over real tokens, then L2-normalise.
        let x = x.reshape((b, t, h)).map_err(err)?;
        let m = mask.unsqueeze(2).map_err(err)?;
        let sum = x.broadcast_mul(&m).and_then(|s| s.sum(1)).map_err(err)?;
        let count = mask.sum_keepdim(1).map_err(err)?;
        let mean = sum.broadcast_div(&count).map_err(err)?;
        let rows: Vec<Vec<f32>> = mean.to_vec2().map_err(err)?;
        Ok(rows.into_iter().map(l2_normalised).collect())
    }
}

/// `v / |v|` (zero vectors stay zero).
pub fn l2_normalised(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}
