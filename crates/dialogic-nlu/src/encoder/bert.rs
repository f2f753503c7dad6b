//! A BERT encoder (MiniLM and other `BertModel` checkpoints) with mean pooling and L2
//! normalisation: what sentence-transformers computes for all-MiniLM-L6-v2.
//!
//! Weights load from `model.safetensors` (names with or without a `bert.` prefix; f32, f16 or
//! bf16) and are packed once for the SIMD forward pass in [`super::kernel`]: the three attention
//! projections are fused into one matrix with the attention scale folded into the query part.
//! Sequences of a batch are never padded (they are concatenated).

use std::path::Path;

use pulp::Arch;
use safetensors::{Dtype, SafeTensors};

use super::kernel::{self, Layer, Net, Norm, Packed};

/// Errors of the encoder (wrapped into [`crate::NluError::ModelUnavailable`] by callers).
pub type Result<T> = std::result::Result<T, String>;

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

/// The loaded encoder.
pub struct Bert {
    config: BertConfig,
    net: Net,
    arch: Arch,
    vocab: usize,
}

impl std::fmt::Debug for Bert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bert")
            .field("config", &self.config)
            .finish()
    }
}

/// A tensor as f32 values and its shape.
struct Tensor {
    shape: Vec<usize>,
    values: Vec<f32>,
}

/// The tensors of `model.safetensors`.
struct Weights<'a> {
    file: SafeTensors<'a>,
    prefix: &'static str,
}

/// Little-endian f16 bits to f32.
fn f16_to_f32(bits: u16) -> f32 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let frac = f32::from(bits & 0x3ff);
    match exp {
        0 => sign * frac * (2f32).powi(-24),
        31 if frac == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        _ => sign * (1.0 + frac / 1024.0) * (2f32).powi(exp - 15),
    }
}

impl Weights<'_> {
    fn get(&self, name: &str) -> Result<Tensor> {
        let full = format!("{}{name}", self.prefix);
        let t = self
            .file
            .tensor(&full)
            .map_err(|_| format!("model.safetensors has no tensor `{name}`"))?;
        let data = t.data();
        let values: Vec<f32> = match t.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
                .collect(),
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
            other => return Err(format!("tensor `{name}`: unsupported dtype {other:?}")),
        };
        let shape = t.shape().to_vec();
        if shape.iter().product::<usize>() != values.len() {
            return Err(format!(
                "tensor `{name}`: shape {shape:?} does not match its data"
            ));
        }
        Ok(Tensor { shape, values })
    }

    /// A vector of `n` values.
    fn vector(&self, name: &str, n: usize) -> Result<Vec<f32>> {
        let t = self.get(name)?;
        if t.values.len() != n {
            return Err(format!(
                "tensor `{name}`: {:?}, expected {n} values",
                t.shape
            ));
        }
        Ok(t.values)
    }

    /// A `Linear` layer with `k` inputs: its `(n x k)` weight and `n` biases, times `scale`.
    fn linear(&self, name: &str, k: usize, scale: f32) -> Result<(Vec<f32>, Vec<f32>)> {
        let w = self.get(&format!("{name}.weight"))?;
        let n = w.shape.first().copied().unwrap_or(0);
        if w.shape.len() != 2 || w.shape[1] != k {
            return Err(format!(
                "tensor `{name}.weight`: {:?}, expected (_, {k})",
                w.shape
            ));
        }
        let b = self.vector(&format!("{name}.bias"), n)?;
        let scaled = |v: Vec<f32>| v.into_iter().map(|x| x * scale).collect::<Vec<f32>>();
        Ok((scaled(w.values), scaled(b)))
    }

    fn norm(&self, name: &str, h: usize, eps: f32) -> Result<Norm> {
        Ok(Norm {
            w: self.vector(&format!("{name}.weight"), h)?,
            b: self.vector(&format!("{name}.bias"), h)?,
            eps,
        })
    }

    /// Layer `i`, packed for panels `nr` wide.
    fn layer(&self, i: usize, h: usize, heads: usize, eps: f32, nr: usize) -> Result<Layer> {
        let p = format!("encoder.layer.{i}");
        let scale = 1.0 / ((h / heads) as f32).sqrt();
        let (mut w, mut b) = self.linear(&format!("{p}.attention.self.query"), h, scale)?;
        for part in ["key", "value"] {
            let (pw, pb) = self.linear(&format!("{p}.attention.self.{part}"), h, 1.0)?;
            w.extend(pw);
            b.extend(pb);
        }
        if b.len() != 3 * h {
            return Err(format!("{p}: attention projections are not {h} wide"));
        }
        let dense = |name: &str, k: usize| -> Result<Packed> {
            let (w, b) = self.linear(&format!("{p}.{name}"), k, 1.0)?;
            Ok(Packed::from_linear(&w, &b, k, nr))
        };
        let up = dense("intermediate.dense", h)?;
        let down = dense("output.dense", up.n())?;
        let out = dense("attention.output.dense", h)?;
        if out.n() != h || down.n() != h {
            return Err(format!("{p}: output projections are not {h} wide"));
        }
        Ok(Layer {
            qkv: Packed::from_linear(&w, &b, h, nr),
            out,
            ln1: self.norm(&format!("{p}.attention.output.LayerNorm"), h, eps)?,
            up,
            down,
            ln2: self.norm(&format!("{p}.output.LayerNorm"), h, eps)?,
        })
    }
}

impl Bert {
    /// Load `model.safetensors` with `config` from a directory; with `int8`, the layers'
    /// matrices are quantized for the integer kernel ([`super::quant`]).
    pub fn load(dir: &Path, config: BertConfig, int8: bool) -> Result<Bert> {
        let path = dir.join("model.safetensors");
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file =
            SafeTensors::deserialize(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let prefix = if file.tensor("embeddings.word_embeddings.weight").is_ok() {
            ""
        } else {
            "bert."
        };
        let w = Weights { file, prefix };
        let eps = config.layer_norm_eps as f32;
        let h = config.hidden_size;
        let heads = config.num_attention_heads;
        if h == 0 || heads == 0 || !h.is_multiple_of(heads) {
            return Err(format!(
                "config: hidden_size {h} is not a multiple of num_attention_heads {heads}"
            ));
        }
        let arch = Arch::new();
        let nr = 2 * kernel::lanes(arch);
        let layers = (0..config.num_hidden_layers)
            .map(|i| w.layer(i, h, heads, eps, nr))
            .collect::<Result<Vec<Layer>>>()?;
        // All layers int8, or (should the integer kernel fail its check here) none.
        let layers = match int8 {
            true => {
                let q: Vec<Layer> = layers.iter().cloned().map(Layer::quantized).collect();
                if q.iter().all(Layer::is_quantized) {
                    q
                } else {
                    layers
                }
            }
            false => layers,
        };
        let word = w.get("embeddings.word_embeddings.weight")?;
        if word.shape.len() != 2 || word.shape[1] != h {
            return Err(format!(
                "word embeddings {:?} do not match hidden_size {h}",
                word.shape
            ));
        }
        let vocab = word.shape[0];
        let mut position = w.get("embeddings.position_embeddings.weight")?;
        let token_type = w.get("embeddings.token_type_embeddings.weight")?;
        if position.shape.len() != 2 || position.shape[1] != h || token_type.values.len() < h {
            return Err("position or token type embeddings do not match hidden_size".into());
        }
        // Every input is one segment (token type 0): add its row to the position table once.
        for row in position.values.chunks_exact_mut(h) {
            row.iter_mut()
                .zip(&token_type.values[..h])
                .for_each(|(p, t)| *p += t);
        }
        let max_len = config.max_position_embeddings.min(position.shape[0]);
        let net = Net {
            hidden: h,
            heads,
            word: word.values,
            position: position.values,
            ln: w.norm("embeddings.LayerNorm", h, eps)?,
            layers,
            tanh_gelu: config.hidden_act != "gelu",
        };
        Ok(Bert {
            config: BertConfig {
                max_position_embeddings: max_len,
                ..config
            },
            net,
            arch,
            vocab,
        })
    }

    /// Width of the embeddings.
    pub fn dim(&self) -> usize {
        self.config.hidden_size
    }

    /// Vocabulary size of the embedding table.
    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    /// Longest sequence (tokens, special ones included) the model accepts.
    pub fn max_len(&self) -> usize {
        self.config.max_position_embeddings
    }

    /// Multiply-adds per token in the dense layers (attention scores excluded).
    pub fn mul_adds_per_token(&self) -> usize {
        self.net
            .layers
            .iter()
            .map(|l| l.qkv.k() * l.qkv.n() + l.out.k() * l.out.n())
            .chain(
                self.net
                    .layers
                    .iter()
                    .map(|l| l.up.k() * l.up.n() + l.down.k() * l.down.n()),
            )
            .sum()
    }

    /// Bytes held by the weights.
    pub fn memory_bytes(&self) -> usize {
        let mut n = 4 * (self.net.word.len() + self.net.position.len());
        for l in &self.net.layers {
            n += l.qkv.bytes() + l.out.bytes() + l.up.bytes() + l.down.bytes();
        }
        n
    }

    /// Mean-pooled, L2-normalised embeddings of token-id sequences (each already framed with
    /// `[CLS]`/`[SEP]`, at most [`Bert::max_len`] long; ids at or above [`Bert::vocab_size`]
    /// read as 0). The sequences run together in one pass, unpadded.
    pub fn embed(&self, seqs: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        self.embed_tail(seqs, &[])
    }

    /// [`Bert::embed`] with the last `tail.len()` layers replaced by `tail` (a skill's
    /// fine-tuned layers).
    pub fn embed_tail(&self, seqs: &[Vec<u32>], tail: &[Layer]) -> Result<Vec<Vec<f32>>> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let ids = self.checked(seqs)?;
        let ids: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        let rows = kernel::forward_tail(self.arch, &self.net, tail, &ids);
        Ok(rows.into_iter().map(l2_normalised).collect())
    }

    /// Token hidden states after the first `upto` layers (rows of [`Bert::dim`], sequences one
    /// after another), for fine-tuning the layers above.
    pub fn hidden_states(&self, seqs: &[Vec<u32>], upto: usize) -> Result<Vec<f32>> {
        let ids = self.checked(seqs)?;
        let ids: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        Ok(kernel::hidden_states(self.arch, &self.net, upto, &ids))
    }

    /// [`Bert::hidden_states`] with the sequences split evenly over the cores (one scoped
    /// thread each); the rows come back in the order of `seqs`.
    pub fn hidden_states_parallel(&self, seqs: &[Vec<u32>], upto: usize) -> Result<Vec<f32>> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let part = seqs.len().div_ceil(threads).max(1);
        let parts: Vec<Result<Vec<f32>>> = std::thread::scope(|s| {
            let handles: Vec<_> = seqs
                .chunks(part)
                .map(|c| s.spawn(move || self.hidden_states(c, upto)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("a thread failed".into())))
                .collect()
        });
        Ok(parts.into_iter().collect::<Result<Vec<_>>>()?.concat())
    }

    /// Whether the layers run on int8 weights ([`super::quant`]).
    pub fn is_quantized(&self) -> bool {
        self.net.layers.iter().any(Layer::is_quantized)
    }

    /// The packed network (read by fine-tuning).
    pub fn net(&self) -> &Net {
        &self.net
    }

    /// The SIMD level the kernel dispatches to.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// `seqs` checked for length, with ids past the vocabulary read as 0.
    fn checked(&self, seqs: &[Vec<u32>]) -> Result<Vec<Vec<u32>>> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(bad) = seqs
            .iter()
            .find(|s| s.is_empty() || s.len() > self.max_len())
        {
            return Err(format!("sequence length {} out of range", bad.len()));
        }
        let vocab = self.vocab as u32;
        Ok(seqs
            .iter()
            .map(|s| s.iter().map(|&i| if i < vocab { i } else { 0 }).collect())
            .collect())
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
