//! Integer matmuls for the encoder's shared (frozen) layers.
//!
//! Weights are stored as int8 with one scale per output column; each call quantises its input
//! rows to int16 with one scale per row, and the products are summed in int32 with `madd`
//! (`vpmaddwd`: two int16 products per 32-bit lane in one instruction). Against the f32 kernel
//! that is half the instructions per multiply-add and a quarter of the weights' bytes (MiniLM's
//! layers shrink from 42 MB to 11 MB, which fits in the CPU's last-level cache).
//!
//! - Panels are laid out as in [`super::kernel::Packed`] (`2 x lanes` output columns), but
//!   k-pair-major: for each pair of inputs `(2i, 2i + 1)`, each column's two weights side by
//!   side, so that one `madd` of a column group against a broadcast pair of input values
//!   adds both products into the column's lane.
//! - The input range is chosen per matrix so that no int32 sum can overflow: at most
//!   [`A_MAX`] (8191, 14 bits), less for matrices with more than 2,113 inputs.
//! - It runs on AVX2 (8 lanes) and AVX-512 (16 lanes) through `pulp`'s safe x86 tokens; a
//!   scalar path does the same integer arithmetic elsewhere (and serves as the tests'
//!   reference). [`level`] says which one this CPU takes.
//! - On AVX-512 CPUs with VNNI (Intel since Ice Lake, AMD since Zen 4) the same code runs with
//!   VNNI on (`Vnni`), and the compiler fuses each `vpmaddwd` and its add into one
//!   `vpdpwssd`.

use pulp::x86::{V3, V4};
use pulp::{f32x16, f32x8, i16x16, i16x32, i8x16, i8x32, u32x16, u32x8, Simd};

use super::kernel::{store_rows, tile_rows, Epilogue, Store, MR_WIDE};

/// What the int8 encoder computes, for cache keys: a change to the rounding of the weights, the
/// inputs or anything else it runs in int8 must change it.
pub const VERSION: &str = "int8-1";

/// Largest weight magnitude after quantisation.
pub const W_MAX: i32 = 127;

/// Largest input magnitude after quantisation (for matrices of up to 2,113 inputs).
pub const A_MAX: i32 = 8191;

/// The integer kernel this CPU runs: i32 lanes per vector (16 with AVX-512, 8 with AVX2), or
/// `None` when it has neither (the f32 kernel is used there).
pub fn level() -> Option<usize> {
    if V4::try_new().is_some() {
        Some(16)
    } else if V3::try_new().is_some() {
        Some(8)
    } else {
        None
    }
}

/// Whether the AVX-512 kernel fuses its multiply and add with VNNI on this CPU.
pub fn has_vnni() -> bool {
    Vnni::try_new().is_some()
}

/// The integer kernel this CPU runs, for reports: "AVX-512 VNNI", "AVX-512", "AVX2" or "none".
pub fn kernel_name() -> &'static str {
    match level() {
        Some(16) if has_vnni() => "AVX-512 VNNI",
        Some(16) => "AVX-512",
        Some(_) => "AVX2",
        None => "none",
    }
}

/// A dense layer `y = x W + b` with int8 weights, packed for panels `nr` wide (`nr` = twice
/// the lanes of [`level`]).
#[derive(Debug, Clone)]
pub struct QPacked {
    k: usize,
    n: usize,
    nr: usize,
    /// Panels of `k.div_ceil(2)` pairs, each `nr` columns x 2 weights.
    data: Vec<i8>,
    /// Scale of each column (padded to whole panels).
    scale: Vec<f32>,
    /// Bias (padded to whole panels).
    bias: Vec<f32>,
    /// Input range of this matrix.
    a_max: i32,
}

impl QPacked {
    /// Quantise a PyTorch `Linear` weight (`n x k`, one row per output) and its bias.
    pub fn from_linear(weight: &[f32], bias: &[f32], k: usize, nr: usize) -> QPacked {
        let n = bias.len();
        assert_eq!(weight.len(), n * k, "weight shape");
        let pairs = k.div_ceil(2);
        let panels = n.div_ceil(nr);
        let mut data = vec![0i8; panels * pairs * nr * 2];
        let mut scale = vec![0f32; panels * nr];
        for (j, row) in weight.chunks_exact(k).enumerate() {
            let max = row.iter().fold(0f32, |m, w| m.max(w.abs()));
            let s = if max > 0.0 { max / W_MAX as f32 } else { 1.0 };
            scale[j] = s;
            let (p, c) = (j / nr, j % nr);
            let panel = &mut data[p * pairs * nr * 2..][..pairs * nr * 2];
            for (kk, &w) in row.iter().enumerate() {
                let q = (w / s).round().clamp(-W_MAX as f32, W_MAX as f32) as i8;
                panel[(kk / 2) * nr * 2 + c * 2 + kk % 2] = q;
            }
        }
        let mut b = vec![0f32; panels * nr];
        b[..n].copy_from_slice(bias);
        // Worst case of one column's sum: every pair at full range, 2 * pairs products.
        let room = i32::MAX as i64 / (2 * pairs as i64 * W_MAX as i64);
        QPacked {
            k,
            n,
            nr,
            data,
            scale,
            bias: b,
            a_max: room.clamp(1, A_MAX as i64) as i32,
        }
    }

    /// Whether the integer kernel, on this CPU, computes this layer as the f32 weights `weight`
    /// and `bias` it was made from say it should: two probe rows go through [`matmul`], and
    /// each output must be within the quantisation's own error bound of the exact product (a
    /// wrong layout or a broken SIMD path misses it by far). Checked at load, so that a CPU
    /// whose path has never been tested falls back to f32 instead of answering wrongly.
    pub fn agrees_with(&self, weight: &[f32], bias: &[f32]) -> bool {
        let (k, n) = (self.k, self.n);
        if weight.len() != n * k || bias.len() != n {
            return false;
        }
        let mut seed = 0x9e37_79b9u32;
        let probe: Vec<f32> = (0..2 * k)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect();
        let mut out = vec![0f32; 2 * n];
        matmul(
            &probe,
            self,
            &mut out,
            Epilogue::Bias,
            &mut Scratch::default(),
        );
        let (back, _) = self.to_linear();
        probe
            .chunks_exact(k)
            .zip(out.chunks_exact(n))
            .all(|(x, y)| {
                let x_step = x.iter().fold(0f32, |m, v| m.max(v.abs())) / self.a_max as f32;
                (0..n).all(|j| {
                    let w = &weight[j * k..(j + 1) * k];
                    let wq = &back[j * k..(j + 1) * k];
                    let exact: f64 = bias[j] as f64
                        + x.iter()
                            .zip(w)
                            .map(|(&a, &b)| a as f64 * b as f64)
                            .sum::<f64>();
                    // |x w - xq wq| <= |x| |w - wq| + |wq| |x - xq|, each half a step at most.
                    let bound: f64 = x
                        .iter()
                        .zip(wq)
                        .map(|(&a, &b)| {
                            (a.abs() * self.scale[j] * 0.5 + b.abs() * x_step * 0.5) as f64
                        })
                        .sum();
                    let err = (y[j] as f64 - exact).abs();
                    err <= bound * 1.01 + 1e-4 * (1.0 + exact.abs())
                })
            })
    }

    /// The weights this holds, back in f32 (`n x k`, one row per output) with the bias.
    pub fn to_linear(&self) -> (Vec<f32>, Vec<f32>) {
        let (k, n, nr) = (self.k, self.n, self.nr);
        let pairs = k.div_ceil(2);
        let mut w = vec![0f32; n * k];
        for (j, row) in w.chunks_exact_mut(k).enumerate() {
            let panel = &self.data[(j / nr) * pairs * nr * 2..];
            for (kk, v) in row.iter_mut().enumerate() {
                *v = panel[(kk / 2) * nr * 2 + (j % nr) * 2 + kk % 2] as f32 * self.scale[j];
            }
        }
        (w, self.bias[..n].to_vec())
    }

    /// Inputs.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Outputs.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len() + 4 * (self.scale.len() + self.bias.len())
    }
}

/// Reusable buffers of [`matmul`]: the input rows as int16 pairs, and their scales.
#[derive(Debug, Default)]
pub struct Scratch {
    pairs: Vec<u32>,
    scales: Vec<f32>,
    /// One row's values.
    q: Vec<i16>,
}

/// `out = epilogue(a W + b)` for `a` with `w.k()` columns (row-major, as many rows as `out`).
pub fn matmul(a: &[f32], w: &QPacked, out: &mut [f32], epi: Epilogue<'_>, s: &mut Scratch) {
    fn go<S: Madd>(
        simd: S,
        a: &[f32],
        w: &QPacked,
        out: &mut [f32],
        e: Epilogue<'_>,
        s: &mut Scratch,
    ) {
        simd.vectorized(Call {
            simd,
            a,
            w,
            out,
            epi: e,
            s,
        });
    }
    match (w.nr, V4::try_new(), V3::try_new()) {
        (32, Some(v4), _) => match Vnni::try_new() {
            Some(vnni) => go(vnni, a, w, out, epi, s),
            None => go(v4, a, w, out, epi, s),
        },
        (16, _, Some(v3)) => go(v3, a, w, out, epi, s),
        _ => scalar(a, w, out, epi, s),
    }
}

/// [`matmul`] on AVX-512 without VNNI even where the CPU has it (the tests' second path).
#[cfg(test)]
fn matmul_without_vnni(a: &[f32], w: &QPacked, out: &mut [f32], s: &mut Scratch) -> bool {
    let Some(v4) = V4::try_new() else {
        return false;
    };
    assert_eq!(w.nr, 32);
    v4.vectorized(Call {
        simd: v4,
        a,
        w,
        out,
        epi: Epilogue::Bias,
        s,
    });
    true
}

/// One [`matmul`] on a SIMD level, as `vectorize` takes it (a closure would not be inlined into
/// the target-feature context, and the intrinsics would become calls).
struct Call<'a, 'b, S> {
    simd: S,
    a: &'b [f32],
    w: &'b QPacked,
    out: &'b mut [f32],
    epi: Epilogue<'a>,
    s: &'b mut Scratch,
}

impl<S: Madd> pulp::NullaryFnOnce for Call<'_, '_, S> {
    type Output = ();
    #[inline(always)]
    fn call(self) {
        run(self.simd, self.a, self.w, self.out, self.epi, self.s);
    }
}

/// Integer dot products of a SIMD level: the weights of one k-pair for `lanes` columns (`W`),
/// widened to int16 once, then multiplied with a broadcast pair of inputs.
trait Madd: Copy {
    /// The vector operations of this level.
    type S: Simd;
    /// `2 x lanes` int8 weights.
    type W: Copy + pulp::bytemuck::Pod;
    /// The same, widened.
    type Wide: Copy;
    fn simd(self) -> Self::S;
    fn widen(self, w: Self::W) -> Self::Wide;
    /// `acc + (w[2l] x[0] + w[2l + 1] x[1])` in each lane `l` (`pair` holds `x` as two i16).
    fn madd(self, acc: U32s<Self>, w: Self::Wide, pair: U32s<Self>) -> U32s<Self>;
    /// The lanes as f32.
    fn to_f32s(self, acc: U32s<Self>) -> <Self::S as Simd>::f32s;
    /// Run `call` with this level's target features on.
    fn vectorized(self, call: Call<'_, '_, Self>);
}

/// A level's vector of u32 lanes (the int32 sums).
type U32s<M> = <<M as Madd>::S as Simd>::u32s;

impl Madd for V3 {
    type S = V3;
    type W = i8x16;
    type Wide = i16x16;
    #[inline(always)]
    fn simd(self) -> V3 {
        self
    }
    #[inline(always)]
    fn widen(self, w: i8x16) -> i16x16 {
        self.convert_i8x16_to_i16x16(w)
    }
    #[inline(always)]
    fn madd(self, acc: u32x8, w: i16x16, pair: u32x8) -> u32x8 {
        let p = self.multiply_wrapping_add_adjacent_i16x16(w, pulp::cast(pair));
        self.add_u32s(acc, pulp::cast(p))
    }
    #[inline(always)]
    fn to_f32s(self, acc: u32x8) -> f32x8 {
        self.convert_i32x8_to_f32x8(pulp::cast(acc))
    }
    fn vectorized(self, call: Call<'_, '_, Self>) {
        self.vectorize(call)
    }
}

impl Madd for V4 {
    type S = V4;
    type W = i8x32;
    type Wide = i16x32;
    #[inline(always)]
    fn simd(self) -> V4 {
        self
    }
    #[inline(always)]
    fn widen(self, w: i8x32) -> i16x32 {
        self.convert_i8x32_to_i16x32(w)
    }
    #[inline(always)]
    fn madd(self, acc: u32x16, w: i16x32, pair: u32x16) -> u32x16 {
        let p = self.multiply_wrapping_add_adjacent_i16x32(w, pulp::cast(pair));
        self.add_u32s(acc, pulp::cast(p))
    }
    #[inline(always)]
    fn to_f32s(self, acc: u32x16) -> f32x16 {
        self.convert_i32x16_to_f32x16(pulp::cast(acc))
    }
    fn vectorized(self, call: Call<'_, '_, Self>) {
        self.vectorize(call)
    }
}

pulp::simd_type! {
    /// [`V4`]'s features and AVX512-VNNI, for `Vnni`.
    struct V4VnniFeatures {
        pub sse: "sse",
        pub sse2: "sse2",
        pub fxsr: "fxsr",
        pub sse3: "sse3",
        pub ssse3: "ssse3",
        pub sse4_1: "sse4.1",
        pub sse4_2: "sse4.2",
        pub popcnt: "popcnt",
        pub avx: "avx",
        pub avx2: "avx2",
        pub bmi1: "bmi1",
        pub bmi2: "bmi2",
        pub fma: "fma",
        pub lzcnt: "lzcnt",
        pub avx512f: "avx512f",
        pub avx512bw: "avx512bw",
        pub avx512cd: "avx512cd",
        pub avx512dq: "avx512dq",
        pub avx512vl: "avx512vl",
        pub avx512vnni: "avx512vnni",
    }
}

/// AVX-512 with VNNI: the [`V4`] kernel compiled with VNNI on, where the compiler turns each
/// `vpmaddwd` and the add after it into one `vpdpwssd` (same sums, one instruction fewer per
/// multiply-add).
#[derive(Debug, Clone, Copy)]
struct Vnni {
    v4: V4,
    features: V4VnniFeatures,
}

impl Vnni {
    /// The token, on a CPU with AVX-512 (as [`V4`] needs it) and AVX512-VNNI.
    fn try_new() -> Option<Vnni> {
        Some(Vnni {
            v4: V4::try_new()?,
            features: V4VnniFeatures::try_new()?,
        })
    }
}

impl Madd for Vnni {
    type S = V4;
    type W = i8x32;
    type Wide = i16x32;
    #[inline(always)]
    fn simd(self) -> V4 {
        self.v4
    }
    #[inline(always)]
    fn widen(self, w: i8x32) -> i16x32 {
        self.v4.widen(w)
    }
    #[inline(always)]
    fn madd(self, acc: u32x16, w: i16x32, pair: u32x16) -> u32x16 {
        self.v4.madd(acc, w, pair)
    }
    #[inline(always)]
    fn to_f32s(self, acc: u32x16) -> f32x16 {
        self.v4.to_f32s(acc)
    }
    fn vectorized(self, call: Call<'_, '_, Self>) {
        self.features.vectorize(call)
    }
}

/// Each row of `a` (`k` wide) as int16 pairs, in blocks of up to `mr` rows stored k-pair-major
/// (as [`super::kernel`] packs f32 rows), with the rows' scales. Written so that the compiler
/// vectorises it (no `f32::max`, no `round` call).
#[inline(always)]
fn quantise_rows(a: &[f32], k: usize, mr: usize, a_max: i32, s: &mut Scratch) {
    let m = a.len() / k;
    let pairs = k.div_ceil(2);
    s.pairs.clear();
    s.pairs.resize(m * pairs, 0);
    s.scales.clear();
    s.q.clear();
    s.q.resize(pairs * 2, 0);
    for r0 in (0..m).step_by(mr) {
        let rows = (m - r0).min(mr);
        let block = &mut s.pairs[r0 * pairs..(r0 + rows) * pairs];
        for (r, row) in a[r0 * k..(r0 + rows) * k].chunks_exact(k).enumerate() {
            let max = abs_max(row);
            let (scale, inv) = if max > 0.0 && max.is_finite() {
                (max / a_max as f32, a_max as f32 / max)
            } else {
                (0.0, 0.0)
            };
            s.scales.push(scale);
            for (d, &x) in s.q.iter_mut().zip(row) {
                *d = round(x * inv) as i16;
            }
            for (i, pair) in s.q.chunks_exact(2).enumerate() {
                block[i * rows + r] = (pair[0] as u16 as u32) | ((pair[1] as u16 as u32) << 16);
            }
        }
    }
}

/// `x` rounded to the nearest integer, ties to even, for `|x| < 2^22` (adding and removing
/// 1.5 x 2^23 leaves no fraction bits): plain arithmetic the compiler vectorises.
#[inline(always)]
fn round(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (x + MAGIC) - MAGIC
}

/// Largest `|x|` of a row (NaN ignored).
#[inline(always)]
fn abs_max(row: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let (chunks, tail) = pulp::as_arrays::<16, f32>(row);
    for c in chunks {
        for (m, &x) in lanes.iter_mut().zip(c) {
            let a = x.abs();
            *m = if a > *m { a } else { *m };
        }
    }
    let mut max = 0f32;
    for &x in lanes.iter().chain(tail) {
        let a = x.abs();
        max = if a > max { a } else { max };
    }
    max
}

#[inline(always)]
fn run<M: Madd>(
    level: M,
    a: &[f32],
    w: &QPacked,
    out: &mut [f32],
    epi: Epilogue<'_>,
    s: &mut Scratch,
) {
    let (k, n, nr) = (w.k, w.n, w.nr);
    let m = a.len() / k;
    let pairs = k.div_ceil(2);
    debug_assert_eq!(nr, 2 * M::S::F32_LANES);
    // The same register budget as the f32 tile: 2 x R accumulators, 2 weight vectors, 1 broadcast.
    let mr = tile_rows::<M::S>();
    quantise_rows(a, k, mr, w.a_max, s);
    for p in 0..n.div_ceil(nr) {
        let panel = &w.data[p * pairs * nr * 2..][..pairs * nr * 2];
        let panel: &[M::W] = pulp::bytemuck::cast_slice(panel);
        let (groups, _) = pulp::as_arrays::<2, M::W>(panel);
        let store = Store {
            n,
            col: p * nr,
            width: (n - p * nr).min(nr),
            bias: &w.bias[p * nr..(p + 1) * nr],
            epi,
        };
        let colscale = &w.scale[p * nr..(p + 1) * nr];
        for r0 in (0..m).step_by(mr) {
            let rows = (m - r0).min(mr);
            let block = &s.pairs[r0 * pairs..(r0 + rows) * pairs];
            let scales = &s.scales[r0..r0 + rows];
            let t = (level, groups, colscale, block, scales, &store, r0);
            match rows {
                1 => tile::<M, 1>(t, out),
                2 => tile::<M, 2>(t, out),
                3 => tile::<M, 3>(t, out),
                4 => tile::<M, 4>(t, out),
                5 => tile::<M, 5>(t, out),
                6 => tile::<M, 6>(t, out),
                7 => tile::<M, 7>(t, out),
                8 => tile::<M, 8>(t, out),
                9 => tile::<M, 9>(t, out),
                10 => tile::<M, 10>(t, out),
                11 => tile::<M, 11>(t, out),
                _ => tile::<M, MR_WIDE>(t, out),
            }
        }
    }
}

/// A tile's inputs: the SIMD level, the panel's weight groups, its column scales, the rows'
/// pairs and scales, where the results go, and the first row.
type TileArgs<'a, M> = (
    M,
    &'a [[<M as Madd>::W; 2]],
    &'a [f32],
    &'a [u32],
    &'a [f32],
    &'a Store<'a>,
    usize,
);

/// Rows `r0..r0 + R` times one panel, then the f32 epilogue.
#[inline(always)]
fn tile<M: Madd, const R: usize>(t: TileArgs<'_, M>, out: &mut [f32]) {
    let (level, groups, colscale, block, scales, store, r0) = t;
    let simd = level.simd();
    let zero = simd.splat_u32s(0);
    let mut acc = [[zero; 2]; R];
    let (xs, _) = pulp::as_arrays::<R, u32>(block);
    for (g, x) in groups.iter().zip(xs) {
        let w0 = level.widen(g[0]);
        let w1 = level.widen(g[1]);
        for r in 0..R {
            let pair = simd.splat_u32s(x[r]);
            acc[r][0] = level.madd(acc[r][0], w0, pair);
            acc[r][1] = level.madd(acc[r][1], w1, pair);
        }
    }
    let lanes = M::S::F32_LANES;
    let (cs, _) = M::S::as_simd_f32s(&colscale[..2 * lanes]);
    let mut y = [[simd.splat_f32s(0.0); 2]; R];
    for r in 0..R {
        let sa = simd.splat_f32s(scales[r]);
        for h in 0..2 {
            y[r][h] = simd.mul_f32s(level.to_f32s(acc[r][h]), simd.mul_f32s(cs[h], sa));
        }
    }
    store_rows(simd, store, &y, r0, out);
}

/// The same integer arithmetic without SIMD (CPUs with neither AVX2 nor AVX-512).
fn scalar(a: &[f32], w: &QPacked, out: &mut [f32], epi: Epilogue<'_>, s: &mut Scratch) {
    let (k, n, nr) = (w.k, w.n, w.nr);
    let pairs = k.div_ceil(2);
    quantise_rows(a, k, 1, w.a_max, s);
    let simd = pulp::Scalar::new();
    for (r, (xs, &sa)) in s.pairs.chunks_exact(pairs).zip(&s.scales).enumerate() {
        for j in 0..n {
            let panel = &w.data[(j / nr) * pairs * nr * 2..];
            let c = j % nr;
            let mut acc = 0i32;
            for (i, &x) in xs.iter().enumerate() {
                let w0 = panel[i * nr * 2 + c * 2] as i32;
                let w1 = panel[i * nr * 2 + c * 2 + 1] as i32;
                acc += w0 * (x as u16 as i16 as i32) + w1 * ((x >> 16) as u16 as i16 as i32);
            }
            let y = acc as f32 * (w.scale[j] * sa);
            let store = Store {
                n,
                col: j,
                width: 1,
                bias: &w.bias[j..j + 1],
                epi,
            };
            store_rows(simd, &store, &[[y, 0.0]], r, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::kernel::tests::{naive, values};
    use super::*;

    #[test]
    fn integer_matmul_is_close_to_f32_and_every_path_agrees() {
        // Panels 16 wide run on AVX2, 32 wide on AVX-512; either falls back to the scalar path
        // on a CPU without them.
        for nr in [16, 32] {
            for (m, k, n) in [
                (1, 3, 5),
                (7, 16, 40),
                (13, 33, 17),
                (15, 384, 70),
                (25, 1536, 9),
            ] {
                let a = values(m * k, 1);
                let wt = values(n * k, 2);
                let b = values(n, 3);
                let w = QPacked::from_linear(&wt, &b, k, nr);
                let mut out = vec![0f32; m * n];
                matmul(&a, &w, &mut out, Epilogue::Bias, &mut Scratch::default());
                let mut reference = vec![0f32; m * n];
                scalar(
                    &a,
                    &w,
                    &mut reference,
                    Epilogue::Bias,
                    &mut Scratch::default(),
                );
                let want = naive(&a, &wt, &b, k);
                // Each product's error is under 1/254 of the column's largest weight and
                // 1/16382 of the row's largest input: a random walk over k terms.
                let tol = 0.5 * 0.5 / 254.0 * (k as f32).sqrt() * 2.0 + 1e-4;
                for ((x, r), y) in out.iter().zip(&reference).zip(&want) {
                    assert!(
                        (x - r).abs() <= 1e-5 * (1.0 + r.abs()),
                        "{m}x{k}x{n}: {x} vs {r}"
                    );
                    assert!((x - y).abs() < tol, "{m}x{k}x{n}: {x} vs {y} (tol {tol})");
                }
            }
        }
    }

    #[test]
    fn the_vnni_kernel_gives_the_same_sums_as_plain_avx512() {
        if !has_vnni() {
            eprintln!("skipped: this CPU has no AVX512-VNNI (the plain AVX-512 kernel runs)");
            return;
        }
        for (m, k, n) in [(1, 3, 5), (13, 33, 17), (15, 384, 70), (25, 1536, 40)] {
            let a = values(m * k, 4);
            let w = QPacked::from_linear(&values(n * k, 5), &values(n, 6), k, 32);
            let mut fused = vec![0f32; m * n];
            matmul(&a, &w, &mut fused, Epilogue::Bias, &mut Scratch::default());
            let mut plain = vec![0f32; m * n];
            assert!(matmul_without_vnni(
                &a,
                &w,
                &mut plain,
                &mut Scratch::default()
            ));
            // The same integer sums and the same f32 epilogue: equal to the bit.
            assert_eq!(fused, plain, "{m}x{k}x{n}");
        }
    }

    #[test]
    fn the_load_check_passes_a_right_layer_and_fails_a_wrong_one() {
        let (k, n) = (384, 40);
        let wt = values(n * k, 7);
        let b = values(n, 8);
        for nr in [16, 32] {
            let q = QPacked::from_linear(&wt, &b, k, nr);
            assert!(q.agrees_with(&wt, &b), "nr {nr}");
            // Another layer's weights, and this layer with the two inputs of each pair swapped
            // (a layout mistake): both far outside the bound.
            assert!(!q.agrees_with(&values(n * k, 9), &b));
            let mut swapped = q.clone();
            for pair in swapped.data.chunks_exact_mut(2) {
                pair.swap(0, 1);
            }
            assert!(!swapped.agrees_with(&wt, &b));
        }
    }

    #[test]
    fn weights_round_trip_within_half_a_step() {
        let (k, n) = (33, 17);
        let wt = values(n * k, 5);
        let b = values(n, 6);
        let w = QPacked::from_linear(&wt, &b, k, 16);
        let (back, bias) = w.to_linear();
        assert_eq!(bias, b);
        for (j, (row, orig)) in back.chunks_exact(k).zip(wt.chunks_exact(k)).enumerate() {
            let step = w.scale[j];
            for (x, y) in row.iter().zip(orig) {
                assert!((x - y).abs() <= 0.5 * step + 1e-7, "{x} vs {y}");
            }
        }
    }

    #[test]
    fn sums_cannot_overflow_on_wide_inputs() {
        // 8,192 inputs all at the largest magnitude, against the largest weights.
        let k = 8192;
        let a = vec![1e3f32; k];
        let wt = vec![-2.0f32; k];
        let w = QPacked::from_linear(&wt, &[0.5], k, 16);
        assert!(w.a_max < A_MAX);
        let mut out = [0f32];
        matmul(&a, &w, &mut out, Epilogue::Bias, &mut Scratch::default());
        let want = 0.5 - 2e3 * k as f32;
        assert!(
            (out[0] - want).abs() < want.abs() * 1e-3,
            "{} vs {want}",
            out[0]
        );
    }
}
