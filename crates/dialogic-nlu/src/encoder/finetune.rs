//! Fine-tuning the encoder's top layer(s) on one skill's own training examples, at training time.
//!
//! The frozen layers run once over the training examples and their output token states are
//! kept in memory, so each epoch only runs, and backpropagates through, the trained layers. The
//! backward pass is written out by hand: layer norms, the GELU feed-forward block, the attention
//! output projection, scaled dot-product attention (per sequence, unpadded) and the fused
//! query / key / value projection; every matmul (forward and backward) runs on the packed SIMD
//! kernel ([`kernel::dense`]).
//!
//! Loss: softmax cross-entropy of a cosine head over the sentence embedding: logits
//! `scale * u . w_c`, where `u` is the unit-length mean-pooled output (the embedding the intent
//! head sees) and `w_c` a class vector started at class `c`'s unit centroid. Optimiser: Adam with
//! a linearly decaying learning rate; each mini-batch is split over the machine's cores.
//!
//! The result ([`Tuned`]) is the skill's own copy of the trained layers, packed for the same
//! kernel: classification runs the shared frozen layers, then these ([`super::Encoder::embed_tuned`]).

use pulp::Arch;

use super::bert::{l2_normalised, Bert};
use super::cache::MemoryCache;
use super::kernel::{self, Layer, Net, Norm, Packed};
use crate::classifier::{softmax, Rng};

/// How a skill's encoder layers are fine-tuned (part of the intent configuration, so of the
/// model cache's key).
#[derive(Debug, Clone, PartialEq)]
pub struct FinetuneConfig {
    /// Top layers trained (0 = off).
    pub layers: usize,
    /// Fewest training examples per intent (on average) of a skill that is fine-tuned.
    pub min_per_intent: f32,
    /// Most training examples per intent (on average, exclusive) of a fine-tuned skill.
    pub max_per_intent: f32,
    /// Passes over the training examples.
    pub epochs: usize,
    /// Adam learning rate of the encoder layers (decays linearly to 0).
    pub lr: f32,
    /// Adam learning rate of the class vectors of the loss's head.
    pub head_lr: f32,
    /// Logit scale of the cosine head.
    pub scale: f32,
    /// Examples per optimiser step.
    pub batch: usize,
    /// Shuffling seed.
    pub seed: u64,
    /// Share of the fine-tuning kept: the tuned weights are `base + mix (trained - base)`
    /// (a weight-space ensemble of the frozen and the trained layers; 1 = as trained).
    pub mix: f32,
    /// Cross-fitting folds (0 = off): each example's returned embedding comes from layers
    /// fine-tuned without its fold (so the intent head trains on embeddings of unseen inputs,
    /// as it will meet them), the returned layers from all examples.
    pub crossfit: usize,
    /// Share of the frozen encoder's embedding in the training examples' vectors the intent
    /// head learns from: `unit(s frozen + (1 - s) tuned)` (0 = the tuned embedding alone; 1 =
    /// the head never sees the fitted embeddings of its own examples). Not part of the tuned
    /// layers' identity (the layers do not depend on it).
    pub train_frozen: f32,
    /// The same share in the embedding of an input being classified.
    pub classify_frozen: f32,
    /// Join the frozen and tuned embeddings side by side, `unit([s frozen, (1 - s) tuned])`
    /// (twice as wide), instead of adding them, with the shares above.
    pub concat: bool,
    /// Loss: 0 = softmax cross-entropy of the cosine head; `n` > 0 = a SetFit-style pair loss
    /// instead: each example is paired with `n` examples of its own class (cosine target 1)
    /// and `n` of other classes (target 0), squared error of the cosines, the partners'
    /// embeddings taken from a snapshot refreshed every epoch.
    pub pairs: usize,
}

impl FinetuneConfig {
    /// `unit(s frozen + (1 - s) tuned)`, or with `concat` `unit([s frozen, (1 - s) tuned])`;
    /// `tuned` itself when `s` is 0 and the vectors are not joined.
    pub fn mixed(s: f32, concat: bool, frozen: &[f32], tuned: &[f32]) -> Vec<f32> {
        if concat {
            let v = frozen.iter().map(|f| s * f);
            return l2_normalised(v.chain(tuned.iter().map(|t| (1.0 - s) * t)).collect());
        }
        if s == 0.0 {
            return tuned.to_vec();
        }
        let v: Vec<f32> = frozen
            .iter()
            .zip(tuned)
            .map(|(f, t)| s * f + (1.0 - s) * t)
            .collect();
        l2_normalised(v)
    }
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        FinetuneConfig {
            layers: 2,
            min_per_intent: 16.0,
            max_per_intent: 60.0,
            epochs: 4,
            lr: 1e-4,
            head_lr: 1e-2,
            scale: 20.0,
            batch: 16,
            seed: 11,
            mix: 1.0,
            crossfit: 0,
            train_frozen: 0.0,
            classify_frozen: 0.0,
            concat: false,
            pairs: 0,
        }
    }
}

/// A layer's parameters in PyTorch layout (`Linear` weights `outputs x inputs`), in the order of
/// the index constants below; gradients use the same shape.
#[derive(Debug, Clone)]
pub struct Params {
    h: usize,
    inter: usize,
    eps: f32,
    t: Vec<Vec<f32>>,
}

const QKV_W: usize = 0;
const QKV_B: usize = 1;
const OUT_W: usize = 2;
const OUT_B: usize = 3;
const LN1_W: usize = 4;
const LN1_B: usize = 5;
const UP_W: usize = 6;
const UP_B: usize = 7;
const DOWN_W: usize = 8;
const DOWN_B: usize = 9;
const LN2_W: usize = 10;
const LN2_B: usize = 11;

impl Params {
    /// Tensor sizes for width `h` and FFN width `inter`, in the order of the indices above.
    fn sizes(h: usize, inter: usize) -> [usize; 12] {
        [
            3 * h * h,
            3 * h,
            h * h,
            h,
            h,
            h,
            inter * h,
            inter,
            h * inter,
            h,
            h,
            h,
        ]
    }

    /// The parameters a packed layer was built from.
    pub fn of_layer(l: &Layer) -> Params {
        let (qw, qb) = l.qkv.to_linear();
        let (ow, ob) = l.out.to_linear();
        let (uw, ub) = l.up.to_linear();
        let (dw, db) = l.down.to_linear();
        Params {
            h: l.out.n(),
            inter: l.up.n(),
            eps: l.ln1.eps,
            t: vec![
                qw,
                qb,
                ow,
                ob,
                l.ln1.w.clone(),
                l.ln1.b.clone(),
                uw,
                ub,
                dw,
                db,
                l.ln2.w.clone(),
                l.ln2.b.clone(),
            ],
        }
    }

    /// Packed for the kernel (panels `nr` wide).
    pub fn packed(&self, nr: usize) -> Layer {
        let (h, t) = (self.h, &self.t);
        let norm = |w: usize, b: usize| Norm {
            w: t[w].clone(),
            b: t[b].clone(),
            eps: self.eps,
        };
        Layer {
            qkv: Packed::from_linear(&t[QKV_W], &t[QKV_B], h, nr),
            out: Packed::from_linear(&t[OUT_W], &t[OUT_B], h, nr),
            ln1: norm(LN1_W, LN1_B),
            up: Packed::from_linear(&t[UP_W], &t[UP_B], h, nr),
            down: Packed::from_linear(&t[DOWN_W], &t[DOWN_B], self.inter, nr),
            ln2: norm(LN2_W, LN2_B),
        }
    }

    /// All zero, same shapes.
    fn zeros(&self) -> Params {
        Params {
            t: self.t.iter().map(|v| vec![0.0; v.len()]).collect(),
            ..self.clone()
        }
    }

    /// `self = base + mix (self - base)`.
    fn blend(&mut self, base: &Params, mix: f32) {
        for (a, b) in self.t.iter_mut().zip(&base.t) {
            a.iter_mut()
                .zip(b)
                .for_each(|(x, y)| *x = y + mix * (*x - y));
        }
    }

    /// `self += other`.
    fn add(&mut self, other: &Params) {
        for (a, b) in self.t.iter_mut().zip(&other.t) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
    }
}

/// The layers' weights for the backward pass, packed as `dx = dy W` (no transposes).
struct Back {
    qkv: Packed,
    out: Packed,
    up: Packed,
    down: Packed,
}

impl Back {
    fn of(p: &Params, nr: usize) -> Back {
        let (h, i, t) = (p.h, p.inter, &p.t);
        Back {
            qkv: Packed::from_kn(&t[QKV_W], 3 * h, h, nr),
            out: Packed::from_kn(&t[OUT_W], h, h, nr),
            up: Packed::from_kn(&t[UP_W], i, h, nr),
            down: Packed::from_kn(&t[DOWN_W], h, i, nr),
        }
    }
}

/// What one layer's forward pass keeps for its backward pass (rows = tokens of the batch).
struct Cache {
    x: Vec<f32>,
    qkv: Vec<f32>,
    /// Attention probabilities: per sequence, per head, `t x t`.
    probs: Vec<f32>,
    ctx: Vec<f32>,
    xhat1: Vec<f32>,
    rstd1: Vec<f32>,
    a: Vec<f32>,
    pre: Vec<f32>,
    act: Vec<f32>,
    xhat2: Vec<f32>,
    rstd2: Vec<f32>,
}

/// Exact GELU, as the kernel computes it.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + kernel::erf_scalar(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// `d gelu(x) / dx = Phi(x) + x phi(x)`.
fn gelu_grad(x: f32) -> f32 {
    let cdf = 0.5 * (1.0 + kernel::erf_scalar(x * std::f32::consts::FRAC_1_SQRT_2));
    let pdf = (-0.5 * x * x).exp() / (2.0 * std::f32::consts::PI).sqrt();
    cdf + x * pdf
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += alpha * x);
}

/// In-place layer norm of rows `norm.w.len()` wide; returns the normalised rows and `1/std`.
fn layer_norm(x: &mut [f32], norm: &Norm) -> (Vec<f32>, Vec<f32>) {
    let h = norm.w.len();
    let mut xhat = vec![0f32; x.len()];
    let mut rstd = Vec::with_capacity(x.len() / h);
    for (row, xh) in x.chunks_exact_mut(h).zip(xhat.chunks_exact_mut(h)) {
        let mean = row.iter().sum::<f32>() / h as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
        let r = 1.0 / (var + norm.eps).sqrt();
        for (((v, xh), g), b) in row.iter_mut().zip(xh).zip(&norm.w).zip(&norm.b) {
            *xh = (*v - mean) * r;
            *v = *xh * g + b;
        }
        rstd.push(r);
    }
    (xhat, rstd)
}

/// Backward of [`layer_norm`]: gradient of its input; adds the gain's and shift's gradients.
fn layer_norm_backward(
    dy: &[f32],
    xhat: &[f32],
    rstd: &[f32],
    gain: &[f32],
    dgain: &mut [f32],
    dshift: &mut [f32],
) -> Vec<f32> {
    let h = gain.len();
    let mut dx = vec![0f32; dy.len()];
    let rows = dy.chunks_exact(h).zip(xhat.chunks_exact(h));
    for ((dyr, xh), (dxr, &r)) in rows.zip(dx.chunks_exact_mut(h).zip(rstd)) {
        let mut m1 = 0.0;
        let mut m2 = 0.0;
        for k in 0..h {
            dgain[k] += dyr[k] * xh[k];
            dshift[k] += dyr[k];
            let d = dyr[k] * gain[k];
            m1 += d;
            m2 += d * xh[k];
        }
        let (m1, m2) = (m1 / h as f32, m2 / h as f32);
        for k in 0..h {
            dxr[k] = r * (dyr[k] * gain[k] - m1 - xh[k] * m2);
        }
    }
    dx
}

/// Attention of each sequence over its own rows (`qkv` rows `[q | k | v]`, `q` pre-scaled):
/// the heads' outputs and the probabilities.
fn attention(qkv: &[f32], lens: &[usize], h: usize, heads: usize) -> (Vec<f32>, Vec<f32>) {
    let (hd, w) = (h / heads, 3 * h);
    let mut ctx = vec![0f32; qkv.len() / 3];
    let mut probs = Vec::with_capacity(lens.iter().map(|t| t * t * heads).sum());
    let mut start = 0;
    for &t in lens {
        for off in (0..heads).map(|k| k * hd) {
            for i in start..start + t {
                let q = &qkv[i * w + off..][..hd];
                let base = probs.len();
                probs.extend((start..start + t).map(|j| dot(q, &qkv[j * w + h + off..][..hd])));
                softmax(&mut probs[base..]);
                let c = &mut ctx[i * h + off..][..hd];
                for (j, &p) in (start..start + t).zip(&probs[base..]) {
                    axpy(p, &qkv[j * w + 2 * h + off..][..hd], c);
                }
            }
        }
        start += t;
    }
    (ctx, probs)
}

/// Backward of [`attention`]: the gradient of `qkv` from the gradient of the heads' outputs.
fn attention_backward(
    qkv: &[f32],
    probs: &[f32],
    dctx: &[f32],
    lens: &[usize],
    h: usize,
    heads: usize,
) -> Vec<f32> {
    let (hd, w) = (h / heads, 3 * h);
    let mut dqkv = vec![0f32; qkv.len()];
    let mut dp = Vec::new();
    let (mut start, mut base) = (0, 0);
    for &t in lens {
        for off in (0..heads).map(|k| k * hd) {
            for i in start..start + t {
                let p = &probs[base..base + t];
                base += t;
                let dc = &dctx[i * h + off..][..hd];
                dp.clear();
                dp.extend((start..start + t).map(|j| dot(dc, &qkv[j * w + 2 * h + off..][..hd])));
                let s = dot(p, &dp);
                for (jj, j) in (start..start + t).enumerate() {
                    let ds = p[jj] * (dp[jj] - s);
                    let (q, k) = (i * w + off, j * w + h + off);
                    for d in 0..hd {
                        dqkv[q + d] += ds * qkv[k + d];
                        dqkv[k + d] += ds * qkv[q + d];
                        dqkv[j * w + 2 * h + off + d] += p[jj] * dc[d];
                    }
                }
            }
        }
        start += t;
    }
    dqkv
}

/// `out[j] += sum over rows of d[row][j]` (`d` rows `out.len()` wide).
fn add_column_sums(d: &[f32], out: &mut [f32]) {
    for row in d.chunks_exact(out.len()) {
        out.iter_mut().zip(row).for_each(|(o, v)| *o += v);
    }
}

/// The kernel plus what the training loop needs of the network's shape.
#[derive(Clone, Copy)]
struct Shape {
    arch: Arch,
    nr: usize,
    heads: usize,
}

impl Shape {
    /// `a` (rows of `w.k()`) times `w`, as a new matrix.
    fn times(&self, a: &[f32], w: &Packed) -> Vec<f32> {
        let mut out = vec![0f32; a.len() / w.k() * w.n()];
        kernel::dense(self.arch, a, w, &mut out);
        out
    }

    /// `out += dᵀ x` for `d` (`m x n`) and `x` (`m x k`): a weight gradient (`n x k`).
    fn add_weight_grad(&self, d: &[f32], x: &[f32], n: usize, out: &mut [f32]) {
        let m = d.len() / n;
        let k = x.len() / m.max(1);
        if m == 0 {
            return;
        }
        let mut dt = vec![0f32; n * m];
        for (r, row) in d.chunks_exact(n).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                dt[j * m + r] = v;
            }
        }
        let g = self.times(&dt, &Packed::from_kn(x, m, k, self.nr));
        out.iter_mut().zip(&g).for_each(|(o, v)| *o += v);
    }

    /// One layer forward on rows `x` of sequences `lens` long: its output and cache.
    fn forward(&self, l: &Layer, x: Vec<f32>, lens: &[usize]) -> (Vec<f32>, Cache) {
        let h = l.out.n();
        let qkv = self.times(&x, &l.qkv);
        let (ctx, probs) = attention(&qkv, lens, h, self.heads);
        let mut a = self.times(&ctx, &l.out);
        a.iter_mut().zip(&x).for_each(|(a, x)| *a += x);
        let (xhat1, rstd1) = layer_norm(&mut a, &l.ln1);
        let pre = self.times(&a, &l.up);
        let act: Vec<f32> = pre.iter().map(|&v| gelu(v)).collect();
        let mut y = self.times(&act, &l.down);
        y.iter_mut().zip(&a).for_each(|(y, a)| *y += a);
        let (xhat2, rstd2) = layer_norm(&mut y, &l.ln2);
        let cache = Cache {
            x,
            qkv,
            probs,
            ctx,
            xhat1,
            rstd1,
            a,
            pre,
            act,
            xhat2,
            rstd2,
        };
        (y, cache)
    }

    /// One layer backward (its parameters, and their packs for `dx = dy W`): adds the
    /// parameter gradients to `g`, returns the input's gradient (empty unless `need_dx`).
    fn backward(
        &self,
        (p, back): (&Params, &Back),
        c: &Cache,
        lens: &[usize],
        dy: &[f32],
        g: &mut Params,
        need_dx: bool,
    ) -> Vec<f32> {
        let (h, inter) = (p.h, p.inter);
        let [qw, qb, ow, ob, l1w, l1b, uw, ub, dw, db, l2w, l2b] = &mut g.t[..] else {
            unreachable!("12 tensors")
        };
        let dy = layer_norm_backward(dy, &c.xhat2, &c.rstd2, &p.t[LN2_W], l2w, l2b);
        add_column_sums(&dy, db);
        self.add_weight_grad(&dy, &c.act, h, dw);
        let mut dpre = self.times(&dy, &back.down);
        dpre.iter_mut()
            .zip(&c.pre)
            .for_each(|(d, &x)| *d *= gelu_grad(x));
        add_column_sums(&dpre, ub);
        self.add_weight_grad(&dpre, &c.a, inter, uw);
        let mut da = self.times(&dpre, &back.up);
        da.iter_mut().zip(&dy).for_each(|(a, d)| *a += d);
        let da = layer_norm_backward(&da, &c.xhat1, &c.rstd1, &p.t[LN1_W], l1w, l1b);
        add_column_sums(&da, ob);
        self.add_weight_grad(&da, &c.ctx, h, ow);
        let dctx = self.times(&da, &back.out);
        let dqkv = attention_backward(&c.qkv, &c.probs, &dctx, lens, h, self.heads);
        add_column_sums(&dqkv, qb);
        self.add_weight_grad(&dqkv, &c.x, 3 * h, qw);
        if !need_dx {
            return Vec::new();
        }
        let mut dx = self.times(&dqkv, &back.qkv);
        dx.iter_mut().zip(&da).for_each(|(x, d)| *x += d);
        dx
    }
}

/// Gradients of one mini-batch (summed over the threads' parts).
struct Grads {
    loss: f32,
    layers: Vec<Params>,
    head: Vec<f32>,
}

/// Adam moments of one tensor.
#[derive(Clone)]
struct Moments {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Moments {
    fn new(n: usize) -> Moments {
        Moments {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// One Adam step (`t` counts from 1).
    fn step(&mut self, p: &mut [f32], g: &[f32], lr: f32, t: i32) {
        let (b1, b2) = (0.9f32, 0.999f32);
        let c1 = 1.0 - b1.powi(t);
        let c2 = 1.0 - b2.powi(t);
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(&mut self.m).zip(&mut self.v) {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p -= lr * (*m / c1) / ((*v / c2).sqrt() + 1e-8);
        }
    }
}

/// The training state: cached inputs of the trained layers, their parameters and the head.
struct Trainer<'a> {
    shape: Shape,
    h: usize,
    states: &'a [f32],
    /// First row of each example in `states`.
    offsets: Vec<usize>,
    lens: &'a [usize],
    classes: &'a [usize],
    n_classes: usize,
    scale: f32,
    params: Vec<Params>,
    packed: Vec<Layer>,
    back: Vec<Back>,
    /// Class vectors, `n_classes x h`.
    head: Vec<f32>,
    /// Pair loss: partners per example and side (0 = cosine-head cross-entropy).
    pairs: usize,
    /// Pair loss: every example's embedding at the start of the epoch, `n x h`.
    snapshot: Vec<f32>,
    /// Pair loss: the examples of each class.
    members: Vec<Vec<usize>>,
}

impl<'a> Trainer<'a> {
    fn new(
        shape: Shape,
        params: Vec<Params>,
        states: &'a [f32],
        lens: &'a [usize],
        classes: &'a [usize],
        n_classes: usize,
        scale: f32,
    ) -> Trainer<'a> {
        let h = params.first().map_or(0, |p| p.h);
        let offsets = lens
            .iter()
            .scan(0, |row, &t| {
                *row += t;
                Some(*row - t)
            })
            .collect();
        let mut t = Trainer {
            shape,
            h,
            states,
            offsets,
            lens,
            classes,
            n_classes,
            scale,
            params,
            packed: Vec::new(),
            back: Vec::new(),
            head: Vec::new(),
            pairs: 0,
            snapshot: Vec::new(),
            members: Vec::new(),
        };
        t.repack();
        t.head = t.centroids();
        t
    }

    /// Use the pair loss with `n` partners per example and side (0 = cross-entropy).
    fn with_pairs(mut self, n: usize) -> Trainer<'a> {
        self.pairs = n;
        self.members = vec![Vec::new(); self.n_classes];
        for (i, &c) in self.classes.iter().enumerate() {
            self.members[c].push(i);
        }
        self
    }

    /// Pair loss: take every example's current embedding as the partners' snapshot.
    fn refresh_snapshot(&mut self) {
        if self.pairs == 0 {
            return;
        }
        let all: Vec<usize> = (0..self.lens.len()).collect();
        self.snapshot = all
            .chunks(64)
            .flat_map(|c| self.embeddings(c))
            .flatten()
            .collect();
    }

    /// Pair loss of unit embedding `u` of example `i` and its gradient added to `du`, scaled
    /// by `1 / total`; partners drawn with `rng`.
    fn pair_loss(&self, i: usize, u: &[f32], du: &mut [f32], total: usize, rng: &mut Rng) -> f32 {
        let (h, n) = (self.h, self.lens.len());
        let own = &self.members[self.classes[i]];
        let mut partners: Vec<(usize, f32)> = Vec::with_capacity(2 * self.pairs);
        if own.len() > 1 {
            while partners.len() < self.pairs {
                let j = own[rng.below(own.len())];
                if j != i {
                    partners.push((j, 1.0));
                }
            }
        }
        if own.len() < n {
            for _ in 0..self.pairs {
                let j = loop {
                    let j = rng.below(n);
                    if self.classes[j] != self.classes[i] {
                        break j;
                    }
                };
                partners.push((j, 0.0));
            }
        }
        let scale = 1.0 / (total * partners.len().max(1)) as f32;
        let mut loss = 0.0;
        for (j, target) in partners {
            let v = &self.snapshot[j * h..][..h];
            let err = dot(u, v) - target;
            loss += err * err * scale;
            axpy(2.0 * err * scale, v, du);
        }
        loss
    }

    /// Pack the current parameters for the forward and backward passes.
    fn repack(&mut self) {
        let nr = self.shape.nr;
        self.packed = self.params.iter().map(|p| p.packed(nr)).collect();
        self.back = self.params.iter().map(|p| Back::of(p, nr)).collect();
    }

    /// Unit-length embeddings of examples `idx` under the current parameters.
    fn embeddings(&self, idx: &[usize]) -> Vec<Vec<f32>> {
        let (x, lens) = self.gather(idx);
        let y = self
            .packed
            .iter()
            .fold(x, |x, l| self.shape.forward(l, x, &lens).0);
        pooled(&y, &lens, self.h)
            .into_iter()
            .map(|(v, _)| v)
            .collect()
    }

    /// Unit centroid of each class's embeddings, `n_classes x h`.
    fn centroids(&self) -> Vec<f32> {
        let h = self.h;
        let mut c = vec![0f32; self.n_classes * h];
        let all: Vec<usize> = (0..self.lens.len()).collect();
        for (k, e) in all.chunks(64).flat_map(|idx| {
            let e = self.embeddings(idx);
            idx.iter().copied().zip(e).collect::<Vec<_>>()
        }) {
            axpy(1.0, &e, &mut c[self.classes[k] * h..][..h]);
        }
        c.chunks_exact(h)
            .flat_map(|r| l2_normalised(r.to_vec()))
            .collect()
    }

    /// The input rows and lengths of examples `idx`.
    fn gather(&self, idx: &[usize]) -> (Vec<f32>, Vec<usize>) {
        let lens: Vec<usize> = idx.iter().map(|&i| self.lens[i]).collect();
        let mut x = Vec::with_capacity(lens.iter().sum::<usize>() * self.h);
        for &i in idx {
            x.extend_from_slice(&self.states[self.offsets[i] * self.h..][..self.lens[i] * self.h]);
        }
        (x, lens)
    }

    /// Loss and gradients of examples `idx`, the loss averaged over `total` examples.
    fn grads(&self, idx: &[usize], total: usize, seed: u64) -> Grads {
        let h = self.h;
        let (x, lens) = self.gather(idx);
        let mut caches = Vec::with_capacity(self.packed.len());
        let mut y = x;
        for l in &self.packed {
            let (out, c) = self.shape.forward(l, y, &lens);
            caches.push(c);
            y = out;
        }
        let mut loss = 0.0;
        let mut head = vec![0f32; self.head.len()];
        let mut dy = vec![0f32; y.len()];
        let mut row = 0;
        let mut rng = Rng::new(seed);
        for ((&i, (u, norm)), &t) in idx.iter().zip(pooled(&y, &lens, h)).zip(&lens) {
            let mut du = vec![0f32; h];
            if self.pairs > 0 {
                loss += self.pair_loss(i, &u, &mut du, total, &mut rng);
            } else {
                loss += self.cross_entropy(i, &u, &mut du, &mut head, total);
            }
            // Through the normalisation (u = v / |v|) and the mean over the t tokens.
            let ud = dot(&u, &du);
            let dv: Vec<f32> = du
                .iter()
                .zip(&u)
                .map(|(d, u)| (d - u * ud) / (norm * t as f32))
                .collect();
            for r in dy[row * h..(row + t) * h].chunks_exact_mut(h) {
                r.copy_from_slice(&dv);
            }
            row += t;
        }
        let mut layers: Vec<Params> = self.params.iter().map(Params::zeros).collect();
        for k in (0..self.params.len()).rev() {
            let (p, b, c) = (&self.params[k], &self.back[k], &caches[k]);
            dy = self
                .shape
                .backward((p, b), c, &lens, &dy, &mut layers[k], k > 0);
        }
        Grads { loss, layers, head }
    }

    /// Cross-entropy of the cosine head for unit embedding `u` of example `i`: the loss over
    /// `total`, its gradient added to `du` and to the class vectors' `head`.
    fn cross_entropy(
        &self,
        i: usize,
        u: &[f32],
        du: &mut [f32],
        head: &mut [f32],
        total: usize,
    ) -> f32 {
        let (h, s) = (self.h, self.scale);
        {
            let mut p: Vec<f32> = self.head.chunks_exact(h).map(|w| s * dot(u, w)).collect();
            softmax(&mut p);
            let y_true = self.classes[i];
            let loss = -p[y_true].max(1e-30).ln() / total as f32;
            p[y_true] -= 1.0;
            for ((dl, w), gw) in p
                .iter()
                .zip(self.head.chunks_exact(h))
                .zip(head.chunks_exact_mut(h))
            {
                let dl = dl * s / total as f32;
                axpy(dl, u, gw);
                axpy(dl, w, du);
            }
            loss
        }
    }

    /// Gradients of a mini-batch, its parts computed on `threads` threads.
    fn batch_grads(&self, idx: &[usize], threads: usize, seed: u64) -> Grads {
        let part = idx.len().div_ceil(threads.max(1)).max(1);
        let total = idx.len();
        let mut parts: Vec<Grads> = std::thread::scope(|s| {
            let handles: Vec<_> = idx
                .chunks(part)
                .enumerate()
                .skip(1)
                .map(|(k, c)| s.spawn(move || self.grads(c, total, seed ^ ((k as u64) << 32))))
                .collect();
            let mut out = vec![self.grads(&idx[..part.min(total)], total, seed)];
            out.extend(handles.into_iter().filter_map(|h| h.join().ok()));
            out
        });
        let mut g = parts.remove(0);
        for other in parts {
            g.loss += other.loss;
            g.layers
                .iter_mut()
                .zip(&other.layers)
                .for_each(|(a, b)| a.add(b));
            axpy(1.0, &other.head, &mut g.head);
        }
        g
    }
}

/// Each sequence's mean row, as (unit vector, norm before normalising).
fn pooled(y: &[f32], lens: &[usize], h: usize) -> Vec<(Vec<f32>, f32)> {
    let mut rows = y.chunks_exact(h);
    lens.iter()
        .map(|&t| {
            let mut v = vec![0f32; h];
            for r in rows.by_ref().take(t) {
                axpy(1.0 / t as f32, r, &mut v);
            }
            let n = dot(&v, &v).sqrt().max(1e-12);
            v.iter_mut().for_each(|x| *x /= n);
            (v, n)
        })
        .collect()
}

/// Adam over the layers and the head, with a linearly decaying learning rate.
struct Optimiser {
    layers: Vec<Vec<Moments>>,
    head: Moments,
    t: i32,
    steps: usize,
    lr: f32,
    head_lr: f32,
}

impl Optimiser {
    fn new(tr: &Trainer<'_>, steps: usize, lr: f32, head_lr: f32) -> Optimiser {
        Optimiser {
            layers: tr
                .params
                .iter()
                .map(|p| p.t.iter().map(|v| Moments::new(v.len())).collect())
                .collect(),
            head: Moments::new(tr.head.len()),
            t: 0,
            steps: steps.max(1),
            lr,
            head_lr,
        }
    }

    fn step(&mut self, tr: &mut Trainer<'_>, g: &Grads) {
        let decay = 1.0 - self.t as f32 / self.steps as f32;
        self.t += 1;
        for ((p, m), gp) in tr.params.iter_mut().zip(&mut self.layers).zip(&g.layers) {
            for ((v, m), gv) in p.t.iter_mut().zip(m).zip(&gp.t) {
                m.step(v, gv, self.lr * decay, self.t);
            }
        }
        self.head
            .step(&mut tr.head, &g.head, self.head_lr * decay, self.t);
        tr.repack();
    }
}

/// A skill's fine-tuned top layers, packed, with their own embedding cache.
pub struct Tuned {
    layers: Vec<Layer>,
    memory: MemoryCache,
    /// Share of the frozen encoder's embedding in a classified input's embedding
    /// ([`FinetuneConfig::classify_frozen`]).
    frozen_share: f32,
    /// Frozen and tuned embeddings joined side by side ([`FinetuneConfig::concat`]).
    concat: bool,
}

impl std::fmt::Debug for Tuned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tuned")
            .field("layers", &self.layers.len())
            .finish()
    }
}

/// Texts the embedding cache of a fine-tuned skill remembers.
const TUNED_CACHE: usize = 10_000;

impl Tuned {
    fn new(layers: Vec<Layer>) -> Tuned {
        Tuned {
            layers,
            memory: MemoryCache::new(TUNED_CACHE),
            frozen_share: 0.0,
            concat: false,
        }
    }

    /// These layers, with inputs embedded as `unit(s frozen + (1 - s) tuned)`.
    /// (joined side by side with `concat`).
    pub fn with_frozen_share(self, s: f32, concat: bool) -> Tuned {
        Tuned {
            frozen_share: s,
            concat,
            ..self
        }
    }

    /// Share of the frozen encoder's embedding in a classified input's embedding, and whether
    /// the two are joined side by side.
    pub fn frozen_share(&self) -> (f32, bool) {
        (self.frozen_share, self.concat)
    }

    /// The layers that replace the network's top ones.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Embedding cache of this skill (its embeddings differ from the shared encoder's).
    pub fn memory(&self) -> &MemoryCache {
        &self.memory
    }

    /// Every parameter, layer after layer, in PyTorch layout (the disk cache).
    pub fn to_flat(&self) -> Vec<f32> {
        self.layers
            .iter()
            .flat_map(|l| Params::of_layer(l).t.into_iter().flatten())
            .collect()
    }

    /// [`Tuned::to_flat`]'s values read back for the top layers of `net`; `None` when the
    /// count does not match.
    pub fn from_flat(values: &[f32], net: &Net, nr: usize) -> Option<Tuned> {
        let base = net.layers.last()?;
        let (h, inter, eps) = (base.out.n(), base.up.n(), base.ln1.eps);
        let sizes = Params::sizes(h, inter);
        let per: usize = sizes.iter().sum();
        let n = values.len() / per;
        if n == 0 || n > net.layers.len() || values.len() != n * per {
            return None;
        }
        let layers = values
            .chunks_exact(per)
            .map(|chunk| {
                let mut rest = chunk;
                let t = sizes
                    .iter()
                    .map(|&s| {
                        let (a, b) = rest.split_at(s);
                        rest = b;
                        a.to_vec()
                    })
                    .collect();
                Params { h, inter, eps, t }.packed(nr)
            })
            .collect();
        Some(Tuned::new(layers))
    }

    /// Bytes held by the packed layers.
    pub fn memory_bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.qkv.bytes() + l.out.bytes() + l.up.bytes() + l.down.bytes())
            .sum::<usize>()
    }
}

/// Fine-tune the top `cfg.layers` layers of `bert` on token sequences `seqs` (framed) with
/// classes `classes` (`< n_classes`); returns the tuned layers and every sequence's unit
/// embedding under them.
pub fn finetune(
    bert: &Bert,
    cfg: &FinetuneConfig,
    seqs: &[Vec<u32>],
    classes: &[usize],
    n_classes: usize,
) -> Result<(Tuned, Vec<Vec<f32>>), String> {
    let net = bert.net();
    let k = cfg.layers.min(net.layers.len());
    if k == 0 || net.tanh_gelu || seqs.is_empty() || seqs.len() != classes.len() {
        return Err("nothing to fine-tune".into());
    }
    let upto = net.layers.len() - k;
    let states = bert.hidden_states_parallel(seqs, upto)?;
    let lens: Vec<usize> = seqs.iter().map(Vec::len).collect();
    let shape = Shape {
        arch: bert.arch(),
        nr: net.layers[upto].qkv.nr(),
        heads: net.heads,
    };
    let base: Vec<Params> = net.layers[upto..].iter().map(Params::of_layer).collect();
    let mut tr = Trainer::new(
        shape,
        base.clone(),
        &states,
        &lens,
        classes,
        n_classes,
        cfg.scale,
    )
    .with_pairs(cfg.pairs);
    let folds = if cfg.crossfit >= 2 {
        crossfit(&mut tr, &base, cfg)
    } else {
        None
    };
    train(&mut tr, cfg);
    blend(&mut tr, &base, cfg.mix);
    let embeddings = match folds {
        Some(rows) => rows,
        None => {
            let all: Vec<usize> = (0..seqs.len()).collect();
            all.chunks(64).flat_map(|c| tr.embeddings(c)).collect()
        }
    };
    Ok((Tuned::new(tr.packed), embeddings))
}

/// `base + mix (trained - base)` for the trainer's layers.
fn blend(tr: &mut Trainer<'_>, base: &[Params], mix: f32) {
    if mix != 1.0 {
        tr.params
            .iter_mut()
            .zip(base)
            .for_each(|(p, b)| p.blend(b, mix));
        tr.repack();
    }
}

/// Out-of-fold embeddings of every example of `full` (`cfg.crossfit` folds, example `i` in
/// fold `i % folds`); `full`'s layers are back at `base` afterwards. `None` when a fold would
/// leave nothing to train on.
fn crossfit(
    full: &mut Trainer<'_>,
    base: &[Params],
    cfg: &FinetuneConfig,
) -> Option<Vec<Vec<f32>>> {
    let n = full.lens.len();
    let folds = cfg.crossfit;
    let mut rows = vec![Vec::new(); n];
    for f in 0..folds {
        let (held, kept): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| i % folds == f);
        if kept.is_empty() || held.is_empty() {
            return None;
        }
        let (states, lens) = full.gather(&kept);
        let classes: Vec<usize> = kept.iter().map(|&i| full.classes[i]).collect();
        let mut part = Trainer::new(
            full.shape,
            base.to_vec(),
            &states,
            &lens,
            &classes,
            full.n_classes,
            full.scale,
        )
        .with_pairs(cfg.pairs);
        train(&mut part, cfg);
        blend(&mut part, base, cfg.mix);
        full.packed = part.packed;
        for c in held.chunks(64) {
            for (&i, e) in c.iter().zip(full.embeddings(c)) {
                rows[i] = e;
            }
        }
    }
    full.repack();
    Some(rows)
}

/// `cfg.epochs` passes of shuffled mini-batches.
fn train(tr: &mut Trainer<'_>, cfg: &FinetuneConfig) {
    let n = tr.lens.len();
    let batch = cfg.batch.max(1);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut opt = Optimiser::new(tr, cfg.epochs * n.div_ceil(batch), cfg.lr, cfg.head_lr);
    let mut rng = Rng::new(cfg.seed);
    // The pair loss draws its partners from its own stream, so the shuffles stay as they were.
    let mut pair_rng = Rng::new(cfg.seed ^ 0x9a1e);
    let mut order: Vec<usize> = (0..n).collect();
    for _ in 0..cfg.epochs {
        rng.shuffle(&mut order);
        tr.refresh_snapshot();
        for idx in order.chunks(batch) {
            let g = tr.batch_grads(idx, threads, pair_rng.next_u64());
            opt.step(tr, &g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
        let mut r = Rng::new(seed);
        (0..n)
            .map(|_| ((r.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale)
            .collect()
    }

    /// A random layer of width `h` (FFN `2h`), layer-norm gains near 1.
    fn random_params(h: usize, seed: u64) -> Params {
        let sizes = Params::sizes(h, 2 * h);
        let mut t: Vec<Vec<f32>> = sizes
            .iter()
            .enumerate()
            .map(|(k, &s)| values(s, seed + k as u64, 0.5))
            .collect();
        for k in [LN1_W, LN2_W] {
            t[k].iter_mut().for_each(|v| *v = 1.0 + 0.5 * *v);
        }
        Params {
            h,
            inter: 2 * h,
            eps: 1e-12,
            t,
        }
    }

    /// Two random layers (width 8, 2 heads) for `arch`.
    fn setup(arch: Arch) -> (Shape, Vec<Params>) {
        let shape = Shape {
            arch,
            nr: 2 * kernel::lanes(arch),
            heads: 2,
        };
        (shape, vec![random_params(8, 1), random_params(8, 100)])
    }

    const LENS: [usize; 3] = [3, 2, 4];
    const CLASSES: [usize; 3] = [0, 1, 0];

    /// Checks `g`'s gradients of both layers' twelve tensors, at the three entries `picks`
    /// chooses from a tensor's length, against central differences of the loss; returns how
    /// many entries were checked and the largest analytic gradient among them.
    fn check_layer_gradients(
        tr: &mut Trainer<'_>,
        g: &Grads,
        picks: fn(usize) -> [usize; 3],
    ) -> (usize, f32) {
        let all = [0, 1, 2];
        let eps = 1e-2;
        let (mut checked, mut largest) = (0, 0f32);
        for layer in 0..2 {
            for tensor in 0..12 {
                for e in picks(tr.params[layer].t[tensor].len()) {
                    let orig = tr.params[layer].t[tensor][e];
                    tr.params[layer].t[tensor][e] = orig + eps;
                    tr.repack();
                    let up = tr.grads(&all, 3, 5).loss;
                    tr.params[layer].t[tensor][e] = orig - eps;
                    tr.repack();
                    let down = tr.grads(&all, 3, 5).loss;
                    tr.params[layer].t[tensor][e] = orig;
                    tr.repack();
                    let num = (up - down) / (2.0 * eps);
                    let ana = g.layers[layer].t[tensor][e];
                    assert!(
                        (num - ana).abs() <= 2e-3 + 5e-2 * ana.abs(),
                        "layer {layer} tensor {tensor} [{e}]: numeric {num} vs analytic {ana}"
                    );
                    checked += 1;
                    largest = largest.max(ana.abs());
                }
            }
        }
        (checked, largest)
    }

    #[test]
    fn backward_pass_matches_finite_differences() {
        for arch in [Arch::new(), Arch::Scalar] {
            let states = values(9 * 8, 7, 1.0);
            let (shape, params) = setup(arch);
            let mut tr = Trainer::new(shape, params, &states, &LENS, &CLASSES, 2, 4.0);
            tr.head = values(16, 9, 1.0);
            let all = [0, 1, 2];
            let g = tr.grads(&all, 3, 5);
            let eps = 1e-2;
            let (checked, largest) =
                check_layer_gradients(&mut tr, &g, |len| [0, len / 3, len - 1]);
            for e in [0, 5, 11] {
                let orig = tr.head[e];
                tr.head[e] = orig + eps;
                let up = tr.grads(&all, 3, 5).loss;
                tr.head[e] = orig - eps;
                let down = tr.grads(&all, 3, 5).loss;
                tr.head[e] = orig;
                let num = (up - down) / (2.0 * eps);
                assert!((num - g.head[e]).abs() <= 2e-3 + 5e-2 * g.head[e].abs());
            }
            assert_eq!(checked, 72);
            assert!(largest > 0.05, "gradients too small to check: {largest}");
        }
    }

    #[test]
    fn pair_loss_gradients_match_finite_differences() {
        let states = values(9 * 8, 13, 1.0);
        let (shape, params) = setup(Arch::new());
        let mut tr = Trainer::new(shape, params, &states, &LENS, &CLASSES, 2, 4.0).with_pairs(2);
        tr.refresh_snapshot();
        let all = [0, 1, 2];
        let g = tr.grads(&all, 3, 5);
        assert!(g.loss > 0.0 && g.head.iter().all(|&v| v == 0.0));
        let (_, largest) = check_layer_gradients(&mut tr, &g, |len| [0, len / 2, len - 1]);
        assert!(largest > 1e-3, "gradients too small to check: {largest}");
    }

    #[test]
    fn fine_tuning_steps_lower_the_loss() {
        let states = values(9 * 8, 3, 1.0);
        let (shape, params) = setup(Arch::new());
        let mut tr = Trainer::new(shape, params, &states, &LENS, &CLASSES, 2, 4.0);
        let all = [0, 1, 2];
        let before = tr.grads(&all, 3, 5).loss;
        let mut opt = Optimiser::new(&tr, 100, 1e-2, 1e-2);
        for _ in 0..5 {
            let g = tr.batch_grads(&all, 2, 5);
            opt.step(&mut tr, &g);
        }
        let after = tr.grads(&all, 3, 5).loss;
        assert!(after < before, "loss {before} -> {after}");
    }

    #[test]
    fn packed_layers_round_trip_through_their_parameters() {
        let p = random_params(8, 5);
        let nr = 2 * kernel::lanes(Arch::new());
        let back = Params::of_layer(&p.packed(nr));
        assert_eq!(back.t, p.t);
        let states = values(9 * 8, 4, 1.0);
        let (shape, _) = setup(Arch::new());
        // The training forward pass and the kernel's agree.
        let layer = p.packed(nr);
        let (y, _) = shape.forward(&layer, states.clone(), &LENS);
        let net = Net {
            hidden: 8,
            heads: 2,
            word: Vec::new(),
            position: Vec::new(),
            ln: layer.ln1.clone(),
            layers: vec![layer.clone()],
            tanh_gelu: false,
        };
        let k = kernel::run_layers(Arch::new(), &net, &[layer], &states, &LENS);
        for (a, b) in y.iter().zip(&k) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }
}
