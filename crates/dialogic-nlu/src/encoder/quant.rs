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

use pulp::x86::{V3, V4};
use pulp::{i16x16, i16x32, i8x16, i8x32, Simd};

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
        (32, Some(v4), _) => go(v4, a, w, out, epi, s),
        (16, _, Some(v3)) => go(v3, a, w, out, epi, s),
        _ => scalar(a, w, out, epi, s),
    }
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
trait Madd: Simd {
    /// `2 x lanes` int8 weights.
    type W: Copy + pulp::bytemuck::Pod;
    /// The same, widened.
    type Wide: Copy;
    fn widen(self, w: Self::W) -> Self::Wide;
    /// `acc + (w[2l] x[0] + w[2l + 1] x[1])` in each lane `l` (`pair` holds `x` as two i16).
    fn madd(self, acc: Self::u32s, w: Self::Wide, pair: Self::u32s) -> Self::u32s;
    /// The lanes as f32.
    fn to_f32s(self, acc: Self::u32s) -> Self::f32s;
    /// Run `call` with this level's target features on.
    fn vectorized(self, call: Call<'_, '_, Self>);
}

impl Madd for V3 {
    type W = i8x16;
    type Wide = i16x16;
    #[inline(always)]
    fn widen(self, w: i8x16) -> i16x16 {
        self.convert_i8x16_to_i16x16(w)
    }
    #[inline(always)]
    fn madd(self, acc: Self::u32s, w: i16x16, pair: Self::u32s) -> Self::u32s {
        let p = self.multiply_wrapping_add_adjacent_i16x16(w, pulp::cast(pair));
        self.add_u32s(acc, pulp::cast(p))
    }
    #[inline(always)]
    fn to_f32s(self, acc: Self::u32s) -> Self::f32s {
        self.convert_i32x8_to_f32x8(pulp::cast(acc))
    }
    fn vectorized(self, call: Call<'_, '_, Self>) {
        self.vectorize(call)
    }
}

impl Madd for V4 {
    type W = i8x32;
    type Wide = i16x32;
    #[inline(always)]
    fn widen(self, w: i8x32) -> i16x32 {
        self.convert_i8x32_to_i16x32(w)
    }
    #[inline(always)]
    fn madd(self, acc: Self::u32s, w: i16x32, pair: Self::u32s) -> Self::u32s {
        let p = self.multiply_wrapping_add_adjacent_i16x32(w, pulp::cast(pair));
        self.add_u32s(acc, pulp::cast(p))
    }
    #[inline(always)]
    fn to_f32s(self, acc: Self::u32s) -> Self::f32s {
        self.convert_i32x16_to_f32x16(pulp::cast(acc))
    }
    fn vectorized(self, call: Call<'_, '_, Self>) {
        self.vectorize(call)
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
fn run<S: Madd>(
    simd: S,
    a: &[f32],
    w: &QPacked,
    out: &mut [f32],
    epi: Epilogue<'_>,
    s: &mut Scratch,
) {
    let (k, n, nr) = (w.k, w.n, w.nr);
    let m = a.len() / k;
    let pairs = k.div_ceil(2);
    debug_assert_eq!(nr, 2 * S::F32_LANES);
    // The same register budget as the f32 tile: 2 x R accumulators, 2 weight vectors, 1 broadcast.
    let mr = tile_rows::<S>();
    quantise_rows(a, k, mr, w.a_max, s);
    for p in 0..n.div_ceil(nr) {
        let panel = &w.data[p * pairs * nr * 2..][..pairs * nr * 2];
        let panel: &[S::W] = pulp::bytemuck::cast_slice(panel);
        let (groups, _) = pulp::as_arrays::<2, S::W>(panel);
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
            let t = (simd, groups, colscale, block, scales, &store, r0);
            match rows {
                1 => tile::<S, 1>(t, out),
                2 => tile::<S, 2>(t, out),
                3 => tile::<S, 3>(t, out),
                4 => tile::<S, 4>(t, out),
                5 => tile::<S, 5>(t, out),
                6 => tile::<S, 6>(t, out),
                7 => tile::<S, 7>(t, out),
                8 => tile::<S, 8>(t, out),
                9 => tile::<S, 9>(t, out),
                10 => tile::<S, 10>(t, out),
                11 => tile::<S, 11>(t, out),
                _ => tile::<S, MR_WIDE>(t, out),
            }
        }
    }
}

/// A tile's inputs: the SIMD token, the panel's weight groups, its column scales, the rows'
/// pairs and scales, where the results go, and the first row.
type TileArgs<'a, S> = (
    S,
    &'a [[<S as Madd>::W; 2]],
    &'a [f32],
    &'a [u32],
    &'a [f32],
    &'a Store<'a>,
    usize,
);

/// Rows `r0..r0 + R` times one panel, then the f32 epilogue.
#[inline(always)]
fn tile<S: Madd, const R: usize>(t: TileArgs<'_, S>, out: &mut [f32]) {
    let (simd, groups, colscale, block, scales, store, r0) = t;
    let zero = simd.splat_u32s(0);
    let mut acc = [[zero; 2]; R];
    let (xs, _) = pulp::as_arrays::<R, u32>(block);
    for (g, x) in groups.iter().zip(xs) {
        let w0 = simd.widen(g[0]);
        let w1 = simd.widen(g[1]);
        for r in 0..R {
            let pair = simd.splat_u32s(x[r]);
            acc[r][0] = simd.madd(acc[r][0], w0, pair);
            acc[r][1] = simd.madd(acc[r][1], w1, pair);
        }
    }
    let lanes = S::F32_LANES;
    let (cs, _) = S::as_simd_f32s(&colscale[..2 * lanes]);
    let mut y = [[simd.splat_f32s(0.0); 2]; R];
    for r in 0..R {
        let sa = simd.splat_f32s(scales[r]);
        for h in 0..2 {
            y[r][h] = simd.mul_f32s(simd.to_f32s(acc[r][h]), simd.mul_f32s(cs[h], sa));
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
