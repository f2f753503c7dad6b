//! The encoder's forward pass: a BERT layer stack written as a few tight SIMD loops with `pulp`
//! (safe SIMD with runtime dispatch: AVX-512 or AVX2+FMA on x86-64 when the CPU has it, NEON on
//! aarch64, else a scalar path; no `unsafe` here).
//!
//! - Weights are packed once at load ([`Packed`]): each dense layer's matrix is cut into panels of
//!   `2 x lanes` output columns (16 with AVX2, 32 with AVX-512), stored k-major, so the matmul
//!   micro-kernel streams one panel while holding a tile of accumulators in registers ([`MR`] x
//!   16 with AVX2, [`MR_WIDE`] x 32 with AVX-512; fused multiply-add), then adds the bias in the
//!   same pass.
//! - The three attention projections are one matrix, with `1/sqrt(head_dim)` folded into the query
//!   weights and bias; the FFN applies bias + exact GELU (erf by a rational approximation,
//!   absolute error about 1e-7) as it stores; residual adds are fused into the output stores.
//! - A batch is a ragged concatenation of sequences (no padding): the matmuls run over all rows,
//!   attention over each sequence's own rows.
//!
//! One call runs on the caller's thread; buffers are sized to the batch, allocated once per call.

use pulp::{Arch, Simd, WithSimd};

use super::quant::{self, QPacked};

/// Rows of the matmul micro-kernel's register tile with 16 vector registers (AVX2: 6 x 2
/// accumulators, 2 weight vectors, 1 broadcast).
const MR: usize = 6;

/// Rows of the tile with 32 vector registers (AVX-512: 12 x 2 accumulators).
pub(super) const MR_WIDE: usize = 12;

/// Tile height for a SIMD level: wide vectors (AVX-512) come with 32 registers.
#[inline(always)]
pub(super) fn tile_rows<S: Simd>() -> usize {
    if S::F32_LANES >= 16 {
        MR_WIDE
    } else {
        MR
    }
}

/// Vector width (f32 lanes) of the SIMD level `arch` dispatches to.
pub fn lanes(arch: Arch) -> usize {
    struct Lanes;
    impl WithSimd for Lanes {
        type Output = usize;
        #[inline(always)]
        fn with_simd<S: Simd>(self, _: S) -> usize {
            S::F32_LANES
        }
    }
    arch.dispatch(Lanes)
}

/// A dense layer `y = x W + b` (`W`: `k x n`) packed for the micro-kernel: panels of `nr` output
/// columns, each `k` rows of `nr` values (zero-padded past `n`); or, once [`Packed::quantized`],
/// the same panels as int8 for the integer kernel ([`quant`]).
#[derive(Debug, Clone)]
pub struct Packed {
    k: usize,
    n: usize,
    nr: usize,
    data: Vec<f32>,
    bias: Vec<f32>,
    int8: Option<QPacked>,
}

impl Packed {
    /// Pack a PyTorch `Linear` weight (`n x k`, row-major: one row per output) and its bias
    /// for panels `nr` wide.
    pub fn from_linear(weight: &[f32], bias: &[f32], k: usize, nr: usize) -> Packed {
        let n = bias.len();
        assert_eq!(weight.len(), n * k, "weight shape");
        let panels = n.div_ceil(nr);
        let mut data = vec![0f32; panels * k * nr];
        for (j, row) in weight.chunks_exact(k).enumerate() {
            let (p, c) = (j / nr, j % nr);
            let panel = &mut data[p * k * nr..(p + 1) * k * nr];
            for (kk, &w) in row.iter().enumerate() {
                panel[kk * nr + c] = w;
            }
        }
        let mut b = vec![0f32; panels * nr];
        b[..n].copy_from_slice(bias);
        Packed {
            k,
            n,
            nr,
            data,
            bias: b,
            int8: None,
        }
    }

    /// Pack a matrix already laid out as `y = x w` (`w`: `k x n`, row-major: one row per
    /// input), with a zero bias: the transposed products of a backward pass need no transpose.
    pub fn from_kn(w: &[f32], k: usize, n: usize, nr: usize) -> Packed {
        assert_eq!(w.len(), k * n, "weight shape");
        let panels = n.div_ceil(nr);
        let mut data = vec![0f32; panels * k * nr];
        for (kk, row) in w.chunks_exact(n).enumerate() {
            for (p, cols) in row.chunks(nr).enumerate() {
                data[(p * k + kk) * nr..][..cols.len()].copy_from_slice(cols);
            }
        }
        Packed {
            k,
            n,
            nr,
            data,
            bias: vec![0f32; panels * nr],
            int8: None,
        }
    }

    /// This layer with int8 weights (one scale per output column) for the integer kernel,
    /// which runs it with int16 inputs; the f32 weights are dropped. Unchanged (f32) when the
    /// integer kernel fails its check on this CPU ([`QPacked::agrees_with`]).
    pub fn quantized(self) -> Packed {
        if self.int8.is_some() {
            return self;
        }
        let (w, b) = self.to_linear();
        let q = QPacked::from_linear(&w, &b, self.k, self.nr);
        if !q.agrees_with(&w, &b) {
            return self;
        }
        Packed {
            int8: Some(q),
            data: Vec::new(),
            ..self
        }
    }

    /// Whether the weights are int8 ([`Packed::quantized`]).
    pub fn is_quantized(&self) -> bool {
        self.int8.is_some()
    }

    /// The PyTorch `Linear` weight (`n x k`, one row per output) and bias this was packed from
    /// (as the int8 weights read back, once quantized).
    pub fn to_linear(&self) -> (Vec<f32>, Vec<f32>) {
        if let Some(q) = &self.int8 {
            return q.to_linear();
        }
        let (k, n, nr) = (self.k, self.n, self.nr);
        let mut w = vec![0f32; n * k];
        for (j, row) in w.chunks_exact_mut(k).enumerate() {
            let panel = &self.data[(j / nr) * k * nr..];
            for (kk, v) in row.iter_mut().enumerate() {
                *v = panel[kk * nr + j % nr];
            }
        }
        (w, self.bias[..n].to_vec())
    }

    /// Panel width this was packed for.
    pub fn nr(&self) -> usize {
        self.nr
    }

    /// Inputs.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Outputs.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Bytes held (weights and bias).
    pub fn bytes(&self) -> usize {
        4 * (self.data.len() + self.bias.len()) + self.int8.as_ref().map_or(0, QPacked::bytes)
    }
}

/// What the matmul does with `x W + b` as it stores it.
#[derive(Clone, Copy)]
pub enum Epilogue<'a> {
    /// Store `x W + b`.
    Bias,
    /// Store `gelu(x W + b)` (exact erf GELU).
    Gelu,
    /// Store `x W + b + r` (`r` laid out like the output).
    Residual(&'a [f32]),
}

/// Layer norm parameters.
#[derive(Debug, Clone)]
pub struct Norm {
    /// Scale.
    pub w: Vec<f32>,
    /// Shift.
    pub b: Vec<f32>,
    /// Epsilon.
    pub eps: f32,
}

/// One transformer layer.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Fused query/key/value projection (query pre-scaled by `1/sqrt(head_dim)`).
    pub qkv: Packed,
    /// Attention output projection.
    pub out: Packed,
    /// Norm after attention.
    pub ln1: Norm,
    /// FFN up-projection (GELU applied on store).
    pub up: Packed,
    /// FFN down-projection.
    pub down: Packed,
    /// Norm after the FFN.
    pub ln2: Norm,
}

impl Layer {
    /// Whether all four matrices are int8.
    pub fn is_quantized(&self) -> bool {
        [&self.qkv, &self.out, &self.up, &self.down]
            .iter()
            .all(|p| p.is_quantized())
    }

    /// This layer with int8 weights in its four matrices ([`Packed::quantized`]).
    pub fn quantized(self) -> Layer {
        Layer {
            qkv: self.qkv.quantized(),
            out: self.out.quantized(),
            up: self.up.quantized(),
            down: self.down.quantized(),
            ..self
        }
    }
}

/// The network's weights, ready for [`forward`].
#[derive(Debug, Clone)]
pub struct Net {
    /// Width of the hidden states.
    pub hidden: usize,
    /// Attention heads.
    pub heads: usize,
    /// Token embeddings (`vocab x hidden`).
    pub word: Vec<f32>,
    /// Position embeddings (`max_len x hidden`), token type 0 already added.
    pub position: Vec<f32>,
    /// Embedding layer norm.
    pub ln: Norm,
    /// Layers.
    pub layers: Vec<Layer>,
    /// `gelu_new` (tanh approximation) instead of the exact erf GELU.
    pub tanh_gelu: bool,
}

/// Mean-pooled (not yet normalised) last hidden states of each sequence (token ids already
/// checked against the vocabulary and the position table, every sequence non-empty).
pub fn forward(arch: Arch, net: &Net, seqs: &[&[u32]]) -> Vec<Vec<f32>> {
    forward_tail(arch, net, &[], seqs)
}

/// [`forward`] with the last `tail.len()` layers of `net` replaced by `tail` (a skill's
/// fine-tuned layers, see [`super::finetune`]).
pub fn forward_tail(arch: Arch, net: &Net, tail: &[Layer], seqs: &[&[u32]]) -> Vec<Vec<f32>> {
    let keep = net.layers.len().saturating_sub(tail.len());
    let layers: Vec<&Layer> = net.layers[..keep].iter().chain(tail).collect();
    let x = arch.dispatch(Forward {
        net,
        layers: &layers,
        seqs,
        input: None,
    });
    mean_pool(&x, seqs, net.hidden)
}

/// Token hidden states (rows of `net.hidden`, sequences one after another) after the first
/// `upto` layers: the input of the layers a skill fine-tunes.
pub fn hidden_states(arch: Arch, net: &Net, upto: usize, seqs: &[&[u32]]) -> Vec<f32> {
    let layers: Vec<&Layer> = net.layers.iter().take(upto).collect();
    arch.dispatch(Forward {
        net,
        layers: &layers,
        seqs,
        input: None,
    })
}

/// `layers` run on token hidden states `input` (from [`hidden_states`]) of sequences with
/// `lens` tokens each; returns the output rows.
pub fn run_layers(
    arch: Arch,
    net: &Net,
    layers: &[Layer],
    input: &[f32],
    lens: &[usize],
) -> Vec<f32> {
    let layers: Vec<&Layer> = layers.iter().collect();
    // Attention only needs each sequence's length: stand-in ids of the right lengths.
    let ids: Vec<Vec<u32>> = lens.iter().map(|&t| vec![0; t]).collect();
    let seqs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
    arch.dispatch(Forward {
        net,
        layers: &layers,
        seqs: &seqs,
        input: Some(input),
    })
}

/// `out = a W + b` (`a`: rows of `w.k()`, `out`: as many rows of `w.n()`).
pub fn dense(arch: Arch, a: &[f32], w: &Packed, out: &mut [f32]) {
    struct Dense<'a> {
        a: &'a [f32],
        w: &'a Packed,
        out: &'a mut [f32],
    }
    impl WithSimd for Dense<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) {
            matmul(
                simd,
                self.a,
                self.w,
                self.out,
                Epilogue::Bias,
                &mut Scratch::default(),
            );
        }
    }
    arch.dispatch(Dense { a, w, out });
}

/// A forward pass: `layers` over the embeddings of `seqs`, or over `input` rows when given.
struct Forward<'a> {
    net: &'a Net,
    layers: &'a [&'a Layer],
    seqs: &'a [&'a [u32]],
    input: Option<&'a [f32]>,
}

impl WithSimd for Forward<'_> {
    type Output = Vec<f32>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> Self::Output {
        let Forward {
            net,
            layers,
            seqs,
            input,
        } = self;
        let h = net.hidden;
        let rows: usize = seqs.iter().map(|s| s.len()).sum();
        let inter = layers.first().map_or(0, |l| l.up.n);
        let mut x = vec![0f32; rows * h];
        let mut qkv = vec![0f32; rows * 3 * h];
        let mut ctx = vec![0f32; rows * h];
        let mut a = vec![0f32; rows * h];
        let mut up = vec![0f32; rows * inter];
        let mut scratch = Scratch::default();
        let s = &mut scratch;
        match input {
            Some(rows) => x.copy_from_slice(rows),
            None => embed(simd, net, seqs, &mut x),
        }
        for l in layers {
            matmul(simd, &x, &l.qkv, &mut qkv, Epilogue::Bias, s);
            attention(simd, &qkv, seqs, h, net.heads, &mut ctx);
            matmul(simd, &ctx, &l.out, &mut a, Epilogue::Residual(&x), s);
            layer_norm(simd, &mut a, &l.ln1);
            if net.tanh_gelu {
                matmul(simd, &a, &l.up, &mut up, Epilogue::Bias, s);
                up.iter_mut().for_each(|v| *v = gelu_tanh(*v));
            } else {
                matmul(simd, &a, &l.up, &mut up, Epilogue::Gelu, s);
            }
            matmul(simd, &up, &l.down, &mut x, Epilogue::Residual(&a), s);
            layer_norm(simd, &mut x, &l.ln2);
        }
        x
    }
}

/// Word + position (+ token type) embeddings, then the embedding layer norm.
#[inline(always)]
fn embed<S: Simd>(simd: S, net: &Net, seqs: &[&[u32]], x: &mut [f32]) {
    let h = net.hidden;
    let mut rows = x.chunks_exact_mut(h);
    for s in seqs {
        for (t, &id) in s.iter().enumerate() {
            let Some(row) = rows.next() else { return };
            let w = &net.word[id as usize * h..][..h];
            let p = &net.position[t * h..][..h];
            for ((d, &w), &p) in row.iter_mut().zip(w).zip(p) {
                *d = w + p;
            }
        }
    }
    layer_norm(simd, x, &net.ln);
}

/// Reusable buffers of a forward pass's matmuls.
#[derive(Default)]
struct Scratch {
    /// Input rows repacked in blocks of [`MR`] (AVX2) or [`MR_WIDE`] rows, k-major.
    rows: Vec<f32>,
    /// The integer kernel's own.
    int: quant::Scratch,
}

/// `out = epilogue(a W + b)` for `a` with `w.k` columns (row-major, as many rows as `out` has),
/// on the integer kernel when `w` is quantized.
#[inline(always)]
fn matmul<S: Simd>(
    simd: S,
    a: &[f32],
    w: &Packed,
    out: &mut [f32],
    epi: Epilogue<'_>,
    scratch: &mut Scratch,
) {
    if let Some(q) = &w.int8 {
        return quant::matmul(a, q, out, epi, &mut scratch.int);
    }
    let scratch = &mut scratch.rows;
    let (k, n, nr) = (w.k, w.n, w.nr);
    let m = a.len() / k;
    debug_assert_eq!(nr, 2 * S::F32_LANES);
    let mr = tile_rows::<S>();
    pack_rows(a, k, mr, scratch);
    for p in 0..n.div_ceil(nr) {
        let t = Tile {
            k,
            panel: &w.data[p * k * nr..(p + 1) * k * nr],
            store: Store {
                n,
                col: p * nr,
                width: (n - p * nr).min(nr),
                bias: &w.bias[p * nr..(p + 1) * nr],
                epi,
            },
        };
        for r0 in (0..m).step_by(mr) {
            let rows = (m - r0).min(mr);
            let block = &scratch[r0 * k..(r0 + rows) * k];
            match rows {
                1 => t.run::<S, 1>(simd, block, r0, out),
                2 => t.run::<S, 2>(simd, block, r0, out),
                3 => t.run::<S, 3>(simd, block, r0, out),
                4 => t.run::<S, 4>(simd, block, r0, out),
                5 => t.run::<S, 5>(simd, block, r0, out),
                6 => t.run::<S, 6>(simd, block, r0, out),
                7 => t.run::<S, 7>(simd, block, r0, out),
                8 => t.run::<S, 8>(simd, block, r0, out),
                9 => t.run::<S, 9>(simd, block, r0, out),
                10 => t.run::<S, 10>(simd, block, r0, out),
                11 => t.run::<S, 11>(simd, block, r0, out),
                _ => t.run::<S, MR_WIDE>(simd, block, r0, out),
            }
        }
    }
}

/// `a` (rows of `k`) as blocks of up to `mr` rows, each stored k-major (`k` groups of its
/// rows' values), into `out`.
fn pack_rows(a: &[f32], k: usize, mr: usize, out: &mut Vec<f32>) {
    out.clear();
    out.resize(a.len(), 0.0);
    let m = a.len() / k;
    for r0 in (0..m).step_by(mr) {
        let rows = (m - r0).min(mr);
        let block = &mut out[r0 * k..(r0 + rows) * k];
        for (r, row) in a[r0 * k..(r0 + rows) * k].chunks_exact(k).enumerate() {
            for (kk, &v) in row.iter().enumerate() {
                block[kk * rows + r] = v;
            }
        }
    }
}

/// One panel of a matmul: `k` x `nr` packed weights for output columns `col..col + nr`.
#[derive(Clone, Copy)]
struct Tile<'a> {
    k: usize,
    panel: &'a [f32],
    store: Store<'a>,
}

impl Tile<'_> {
    /// Rows `r0..r0 + R` (`block`: their values k-major, from [`pack_rows`]) times this panel.
    #[inline(always)]
    fn run<S: Simd, const R: usize>(&self, simd: S, block: &[f32], r0: usize, out: &mut [f32]) {
        let zero = simd.splat_f32s(0.0);
        let mut acc = [[zero; 2]; R];
        let (xs, _) = pulp::as_arrays::<R, f32>(block);
        let (panel, _) = S::as_simd_f32s(self.panel);
        let (pairs, _) = pulp::as_arrays::<2, S::f32s>(panel);
        for (wv, x) in pairs.iter().zip(xs).take(self.k) {
            for r in 0..R {
                let x = simd.splat_f32s(x[r]);
                acc[r][0] = simd.mul_add_f32s(x, wv[0], acc[r][0]);
                acc[r][1] = simd.mul_add_f32s(x, wv[1], acc[r][1]);
            }
        }
        store_rows(simd, &self.store, &acc, r0, out);
    }
}

/// Where a tile's products go: output columns `col..col + width` of rows `n` wide, with their
/// bias and the epilogue.
#[derive(Clone, Copy)]
pub(super) struct Store<'a> {
    /// Output row width.
    pub n: usize,
    /// First column.
    pub col: usize,
    /// Columns written (at most two vectors).
    pub width: usize,
    /// Bias of those columns.
    pub bias: &'a [f32],
    /// What is applied on the way out.
    pub epi: Epilogue<'a>,
}

/// Store rows `r0..` of a tile (two vectors of columns per row) through the bias and epilogue.
#[inline(always)]
pub(super) fn store_rows<S: Simd>(
    simd: S,
    st: &Store<'_>,
    acc: &[[S::f32s; 2]],
    r0: usize,
    out: &mut [f32],
) {
    let lanes = S::F32_LANES;
    for (r, acc) in acc.iter().enumerate() {
        let at = (r0 + r) * st.n + st.col;
        for (half, &v) in acc.iter().enumerate() {
            let lo = half * lanes;
            if lo >= st.width {
                break;
            }
            let hi = st.width.min(lo + lanes);
            let b = load(simd, &st.bias[lo..hi]);
            let mut y = simd.add_f32s(v, b);
            match st.epi {
                Epilogue::Bias => {}
                Epilogue::Gelu => y = gelu(simd, y),
                Epilogue::Residual(res) => {
                    y = simd.add_f32s(y, load(simd, &res[at + lo..at + hi]));
                }
            }
            let dst = &mut out[at + lo..at + hi];
            match S::as_mut_simd_f32s(dst) {
                ([d], []) => *d = y,
                _ => simd.partial_store_f32s(dst, y),
            }
        }
    }
}

/// A vector from up to one vector's worth of values (a full one is a plain load; `pulp`'s
/// partial load is a call).
#[inline(always)]
fn load<S: Simd>(simd: S, v: &[f32]) -> S::f32s {
    match S::as_simd_f32s(v) {
        ([x], []) => *x,
        _ => simd.partial_load_f32s(v),
    }
}

/// Self-attention of every sequence over its own rows: `qkv` rows are `[q | k | v]` (`3h`
/// wide, heads side by side in each part, `q` pre-scaled), `ctx` gets the heads' outputs.
#[inline(always)]
fn attention<S: Simd>(
    simd: S,
    qkv: &[f32],
    seqs: &[&[u32]],
    h: usize,
    heads: usize,
    ctx: &mut [f32],
) {
    let hd = h / heads;
    let w = 3 * h;
    let longest = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut scores = vec![0f32; longest];
    let mut start = 0;
    for s in seqs {
        let t = s.len();
        for head in 0..heads {
            let off = head * hd;
            for i in start..start + t {
                let q = &qkv[i * w + off..][..hd];
                for (j, sc) in (start..start + t).zip(scores.iter_mut()) {
                    *sc = dot(simd, q, &qkv[j * w + h + off..][..hd]);
                }
                softmax(&mut scores[..t]);
                let c = &mut ctx[i * h + off..][..hd];
                c.fill(0.0);
                for (j, &p) in (start..start + t).zip(scores.iter()) {
                    axpy(simd, p, &qkv[j * w + 2 * h + off..][..hd], c);
                }
            }
        }
        start += t;
    }
}

/// `sum a[i] b[i]`.
#[inline(always)]
fn dot<S: Simd>(simd: S, a: &[f32], b: &[f32]) -> f32 {
    let (av, at) = S::as_simd_f32s(a);
    let (bv, bt) = S::as_simd_f32s(b);
    let mut acc = simd.splat_f32s(0.0);
    for (&x, &y) in av.iter().zip(bv) {
        acc = simd.mul_add_f32s(x, y, acc);
    }
    let tail: f32 = at.iter().zip(bt).map(|(x, y)| x * y).sum();
    simd.reduce_sum_f32s(acc) + tail
}

/// `y += alpha x`.
#[inline(always)]
fn axpy<S: Simd>(simd: S, alpha: f32, x: &[f32], y: &mut [f32]) {
    let al = simd.splat_f32s(alpha);
    let (xv, xt) = S::as_simd_f32s(x);
    let (yv, yt) = S::as_mut_simd_f32s(y);
    for (y, &x) in yv.iter_mut().zip(xv) {
        *y = simd.mul_add_f32s(al, x, *y);
    }
    for (y, &x) in yt.iter_mut().zip(xt) {
        *y += alpha * x;
    }
}

/// In-place softmax.
fn softmax(v: &mut [f32]) {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    let inv = 1.0 / sum;
    v.iter_mut().for_each(|x| *x *= inv);
}

/// In-place layer norm of every row (`norm.w.len()` wide).
#[inline(always)]
fn layer_norm<S: Simd>(simd: S, x: &mut [f32], norm: &Norm) {
    let h = norm.w.len();
    let inv_h = 1.0 / h as f32;
    for row in x.chunks_exact_mut(h) {
        let mean = sum(simd, row) * inv_h;
        let m = simd.splat_f32s(mean);
        let (rv, rt) = S::as_simd_f32s(row);
        let mut acc = simd.splat_f32s(0.0);
        for &v in rv {
            let d = simd.sub_f32s(v, m);
            acc = simd.mul_add_f32s(d, d, acc);
        }
        let var = (simd.reduce_sum_f32s(acc)
            + rt.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>())
            * inv_h;
        let rstd = 1.0 / (var + norm.eps).sqrt();
        for ((v, &g), &b) in row.iter_mut().zip(&norm.w).zip(&norm.b) {
            *v = (*v - mean) * rstd * g + b;
        }
    }
}

/// `sum v[i]`.
#[inline(always)]
fn sum<S: Simd>(simd: S, v: &[f32]) -> f32 {
    let (vv, vt) = S::as_simd_f32s(v);
    let mut acc = simd.splat_f32s(0.0);
    for &x in vv {
        acc = simd.add_f32s(acc, x);
    }
    simd.reduce_sum_f32s(acc) + vt.iter().sum::<f32>()
}

/// Exact GELU `x/2 (1 + erf(x / sqrt 2))` of a vector.
#[inline(always)]
fn gelu<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    let e = erf(
        simd,
        simd.mul_f32s(x, simd.splat_f32s(std::f32::consts::FRAC_1_SQRT_2)),
    );
    let half_x = simd.mul_f32s(x, simd.splat_f32s(0.5));
    simd.mul_add_f32s(half_x, e, half_x)
}

/// Numerator coefficients (odd powers 1..13) of the erf approximation.
const ERF_P: [f32; 7] = [
    -1.609_603_3e-2,
    -2.954_6e-3,
    -7.349_906_3e-4,
    -5.692_506_4e-5,
    -2.101_024e-6,
    2.770_681_4e-8,
    -2.726_142_3e-10,
];

/// Denominator coefficients (even powers 0..8) of the erf approximation.
const ERF_Q: [f32; 5] = [
    -1.426_473_9e-2,
    -7.373_329e-3,
    -1.682_827e-3,
    -2.133_740_5e-4,
    -1.456_607_2e-5,
];

/// `erf(x)` of a vector: `x P(x^2) / Q(x^2)` on `[-4, 4]` (erf is +-1 in f32 beyond), the
/// rational approximation Eigen and XLA use; absolute error about 1e-7.
#[inline(always)]
fn erf<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    let x = simd.min_f32s(
        simd.max_f32s(x, simd.splat_f32s(-4.0)),
        simd.splat_f32s(4.0),
    );
    let x2 = simd.mul_f32s(x, x);
    let mut p = simd.splat_f32s(ERF_P[6]);
    for &c in ERF_P[..6].iter().rev() {
        p = simd.mul_add_f32s(x2, p, simd.splat_f32s(c));
    }
    let mut q = simd.splat_f32s(ERF_Q[4]);
    for &c in ERF_Q[..4].iter().rev() {
        q = simd.mul_add_f32s(x2, q, simd.splat_f32s(c));
    }
    simd.div_f32s(simd.mul_f32s(x, p), q)
}

/// Scalar `erf` with the same approximation (tests, and the tanh-free reference).
pub fn erf_scalar(x: f32) -> f32 {
    erf(pulp::Scalar::new(), x)
}

/// GELU with the tanh approximation (`gelu_new`).
fn gelu_tanh(x: f32) -> f32 {
    let c = (2.0 / std::f32::consts::PI).sqrt();
    0.5 * x * (1.0 + (c * (x + 0.044_715 * x * x * x)).tanh())
}

/// Mean of each sequence's rows.
pub fn mean_pool(x: &[f32], seqs: &[&[u32]], h: usize) -> Vec<Vec<f32>> {
    let mut rows = x.chunks_exact(h);
    seqs.iter()
        .map(|s| {
            let mut v = vec![0f32; h];
            for row in rows.by_ref().take(s.len()) {
                v.iter_mut().zip(row).for_each(|(d, &x)| *d += x);
            }
            let inv = 1.0 / s.len().max(1) as f32;
            v.iter_mut().for_each(|d| *d *= inv);
            v
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// erf by its Taylor series in f64 (exact enough on [-4, 4]).
    fn erf_series(x: f64) -> f64 {
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_approximation_is_accurate() {
        let mut worst = 0f64;
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            let want = if x.abs() >= 4.0 {
                x.signum() as f64
            } else {
                erf_series(x as f64)
            };
            worst = worst.max((erf_scalar(x) as f64 - want).abs());
        }
        assert!(worst < 1e-6, "max error {worst}");
    }

    /// `a W^T + b` by the definition (`wt`: one row of `k` per output).
    pub(in crate::encoder) fn naive(a: &[f32], wt: &[f32], b: &[f32], k: usize) -> Vec<f32> {
        let n = b.len();
        a.chunks_exact(k)
            .flat_map(|row| {
                (0..n).map(move |j| {
                    b[j] + row
                        .iter()
                        .zip(&wt[j * k..(j + 1) * k])
                        .map(|(x, w)| x * w)
                        .sum::<f32>()
                })
            })
            .collect()
    }

    /// `n` values in [-0.5, 0.5) from a small LCG.
    pub(in crate::encoder) fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn matmul_matches_a_naive_product_on_every_path() {
        let arches = [Arch::new(), Arch::Scalar];
        for arch in arches {
            let nr = 2 * lanes(arch);
            for (m, k, n) in [
                (1, 3, 5),
                (7, 16, 40),
                (13, 33, 17),
                (6, 8, 64),
                (25, 20, 70),
            ] {
                let a = values(m * k, 1);
                let wt = values(n * k, 2);
                let b = values(n, 3);
                let w = Packed::from_linear(&wt, &b, k, nr);
                let mut out = vec![0f32; m * n];
                dense(arch, &a, &w, &mut out);
                let want = naive(&a, &wt, &b, k);
                for (x, y) in out.iter().zip(&want) {
                    assert!((x - y).abs() < 1e-4, "{m}x{k}x{n}: {x} vs {y}");
                }
            }
        }
    }
}
