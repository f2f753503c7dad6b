//! Multinomial logistic regression on sparse features, trained by SGD with L2 regularisation.
//!
//! Weights are stored feature-major (`w[f * classes + c]`) so scoring a sparse input touches one
//! contiguous row per present feature. L2 shrinkage is applied lazily through a global scale.

use crate::features::SparseVec;

/// Training hyper-parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainParams {
    /// Passes over the data.
    pub epochs: usize,
    /// L2 strength (per example).
    pub lambda: f32,
    /// Initial learning rate (decays linearly to 0).
    pub eta0: f32,
    /// Shuffle seed.
    pub seed: u64,
    /// Multiclass hinge loss (Crammer-Singer) instead of softmax cross-entropy.
    pub hinge: bool,
    /// Average the weights of the second half of the epochs.
    pub average: bool,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            epochs: 10,
            lambda: 1e-4,
            eta0: 0.1,
            seed: 7,
            hinge: true,
            average: false,
        }
    }
}

/// A trained linear model.
#[derive(Clone)]
pub struct Linear {
    classes: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

/// Small deterministic PRNG (xorshift64*), enough for shuffling.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator (seed 0 is remapped).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// In-place softmax.
pub fn softmax(z: &mut [f32]) {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0;
    for x in z.iter_mut() {
        *x = (*x - m).exp();
        s += *x;
    }
    if s > 0.0 {
        for x in z.iter_mut() {
            *x /= s;
        }
    }
}

impl std::fmt::Debug for Linear {
    // The weights can be millions of numbers: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Linear")
            .field("classes", &self.classes)
            .field("features", &(self.w.len() / self.classes.max(1)))
            .finish()
    }
}

impl Linear {
    /// Train on `xs` with labels `ys` (< `classes`), sample weights `ws` (empty = all 1).
    pub fn train(
        xs: &[SparseVec],
        ys: &[usize],
        ws: &[f32],
        classes: usize,
        dim: usize,
        p: &TrainParams,
    ) -> Linear {
        let mut w = vec![0f32; dim * classes];
        let mut b = vec![0f32; classes];
        let mut order: Vec<usize> = (0..xs.len()).collect();
        let mut rng = Rng::new(p.seed);
        let total = (p.epochs * xs.len()).max(1) as f32;
        let mut step = 0f32;
        let mut scale = 1f32;
        let mut z = vec![0f32; classes];
        let mut active: Vec<usize> = Vec::with_capacity(classes);
        // Polyak averaging of the end-of-epoch weights over the second half of training.
        let avg_from = if p.average { p.epochs / 2 } else { p.epochs };
        let mut avg_w: Vec<f32> = Vec::new();
        let mut avg_b = vec![0f32; classes];
        let mut snapshots = 0f32;
        for epoch in 0..p.epochs {
            rng.shuffle(&mut order);
            for &i in &order {
                let eta = p.eta0 * (1.0 - step / total).max(0.02);
                step += 1.0;
                let x = &xs[i];
                z.copy_from_slice(&b);
                for &(f, v) in x {
                    let row = &w[f as usize * classes..(f as usize + 1) * classes];
                    let sv = scale * v;
                    for (zc, wc) in z.iter_mut().zip(row) {
                        *zc += sv * wc;
                    }
                }
                let sw = ws.get(i).copied().unwrap_or(1.0);
                if p.hinge {
                    // Gradient +1 on the most violating wrong class, -1 on the true class.
                    let y = ys[i];
                    let mut worst = usize::MAX;
                    let mut best = f32::NEG_INFINITY;
                    for (c, &v) in z.iter().enumerate() {
                        if c != y && v > best {
                            best = v;
                            worst = c;
                        }
                    }
                    let violated = worst != usize::MAX && z[y] - best < 1.0;
                    z.iter_mut().for_each(|v| *v = 0.0);
                    if violated {
                        z[y] = -1.0;
                        z[worst] = 1.0;
                    }
                } else {
                    softmax(&mut z);
                    z[ys[i]] -= 1.0;
                }
                scale *= 1.0 - eta * p.lambda;
                let g = eta * sw / scale;
                // Classes with a negligible gradient are skipped: once the model fits, only a
                // handful of classes per example still move, which makes epochs cheap.
                active.clear();
                active.extend((0..classes).filter(|&c| z[c].abs() > 1e-3));
                if active.len() * 3 > classes {
                    for &(f, v) in x {
                        let row = &mut w[f as usize * classes..(f as usize + 1) * classes];
                        let gv = g * v;
                        for (wc, zc) in row.iter_mut().zip(&z) {
                            *wc -= gv * zc;
                        }
                    }
                } else {
                    for &(f, v) in x {
                        let base = f as usize * classes;
                        let gv = g * v;
                        for &c in &active {
                            w[base + c] -= gv * z[c];
                        }
                    }
                }
                for (bc, zc) in b.iter_mut().zip(&z) {
                    *bc -= eta * sw * zc;
                }
                if scale < 1e-4 {
                    for x in w.iter_mut() {
                        *x *= scale;
                    }
                    scale = 1.0;
                }
            }
            if epoch >= avg_from {
                if avg_w.is_empty() {
                    avg_w = vec![0f32; w.len()];
                }
                for (a, x) in avg_w.iter_mut().zip(&w) {
                    *a += scale * x;
                }
                for (a, x) in avg_b.iter_mut().zip(&b) {
                    *a += x;
                }
                snapshots += 1.0;
            }
        }
        if snapshots > 0.0 {
            for a in avg_w.iter_mut() {
                *a /= snapshots;
            }
            for a in avg_b.iter_mut() {
                *a /= snapshots;
            }
            return Linear {
                classes,
                w: avg_w,
                b: avg_b,
            };
        }
        for x in w.iter_mut() {
            *x *= scale;
        }
        Linear { classes, w, b }
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Raw scores (logits) of `x` into `out` (length `classes`).
    pub fn logits(&self, x: &SparseVec, out: &mut [f32]) {
        out.copy_from_slice(&self.b);
        for &(f, v) in x {
            let start = f as usize * self.classes;
            if let Some(row) = self.w.get(start..start + self.classes) {
                for (o, wc) in out.iter_mut().zip(row) {
                    *o += v * wc;
                }
            }
        }
    }

    /// Add `beta` times each class's L2-normalised centroid of `xs` to its weights (a
    /// nearest-centroid prior that helps when a class has few examples).
    pub fn add_centroids(&mut self, xs: &[SparseVec], ys: &[usize], beta: f32) {
        if beta == 0.0 {
            return;
        }
        let c = self.classes;
        let mut cent = vec![0f32; self.w.len()];
        for (x, &y) in xs.iter().zip(ys) {
            for &(f, v) in x {
                if let Some(slot) = cent.get_mut(f as usize * c + y) {
                    *slot += v;
                }
            }
        }
        let mut norms = vec![0f32; c];
        for (i, v) in cent.iter().enumerate() {
            norms[i % c] += v * v;
        }
        for (i, (w, v)) in self.w.iter_mut().zip(&cent).enumerate() {
            let n = norms[i % c];
            if n > 0.0 {
                *w += beta * v / n.sqrt();
            }
        }
    }

    /// Bytes held by the weights.
    pub fn memory_bytes(&self) -> usize {
        (self.w.len() + self.b.len()) * std::mem::size_of::<f32>()
    }

    /// `(classes, weights, biases)`: what [`Linear::from_parts`] takes back (the model cache).
    pub fn parts(&self) -> (usize, &[f32], &[f32]) {
        (self.classes, &self.w, &self.b)
    }

    /// A model from [`Linear::parts`]; `None` when the sizes do not fit together.
    pub fn from_parts(classes: usize, w: Vec<f32>, b: Vec<f32>) -> Option<Linear> {
        (classes > 0 && b.len() == classes && w.len().is_multiple_of(classes)).then_some(Linear {
            classes,
            w,
            b,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_problem() {
        let xs: Vec<SparseVec> = vec![
            vec![(0, 1.0)],
            vec![(1, 1.0)],
            vec![(2, 1.0)],
            vec![(0, 0.7), (3, 0.7)],
        ];
        let ys = vec![0, 1, 2, 0];
        let m = Linear::train(&xs, &ys, &[], 3, 4, &TrainParams::default());
        let mut z = vec![0.0; 3];
        for (x, &y) in xs.iter().zip(&ys) {
            m.logits(x, &mut z);
            let best = (0..3)
                .max_by(|&a, &b| z[a].total_cmp(&z[b]))
                .unwrap_or(usize::MAX);
            assert_eq!(best, y);
        }
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut z = vec![1.0, 2.0, 3.0];
        softmax(&mut z);
        assert!((z.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(z[2] > z[1] && z[1] > z[0]);
    }
}
