//! The fast intent model: lexical features, a softmax linear classifier, and a calibration that
//! turns its scores into Watson-like independent confidences (0.2 = "matches").
//!
//! Calibration is fitted at training time on the skill's own data only: some intents are held out
//! entirely (their examples play the out-of-scope inputs the model will meet in real traffic), and
//! some examples of the remaining intents are held out (the in-scope inputs). A small logistic model
//! over (own logit, log-partition, vocabulary coverage) separates the two, and its bias is set so
//! that a chosen share of correctly classified in-scope inputs lands at or above 0.2.

use std::sync::Arc;

use crate::classifier::{softmax, Linear, Rng, TrainParams};
use crate::encoder::finetune::FinetuneConfig;
use crate::features::{FeatureConfig, Featurizer, SparseVec};

/// Confidence at which `#intent` matches (Watson's threshold).
pub const THRESHOLD: f32 = 0.2;

/// Everything that shapes the fast intent model.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentConfig {
    /// Feature extraction.
    pub features: FeatureConfig,
    /// Classifier training for skills with many examples per intent (hinge loss).
    pub train: TrainParams,
    /// `train.epochs` for the fast model without a dense vector (no encoder, no distilled
    /// vectors): its hinge model gains from a longer schedule where the dense models do not
    /// (chosen by CV, see `BENCHMARKS.md`).
    pub fast_epochs: usize,
    /// Classifier training for skills with few examples per intent (softmax).
    pub train_small: TrainParams,
    /// Average examples per intent from which `train` is used instead of `train_small`.
    pub large_from: f32,
    /// Fit the out-of-scope calibration (off = softmax probabilities as confidences).
    pub calibrate: bool,
    /// Share of correctly classified held-out in-scope inputs that must reach the threshold.
    pub target_accept: f32,
    /// Weight of a counterexample relative to an intent example.
    pub counterexample_weight: f32,
    /// Extra copies of each example with one word dropped (augmentation for few-shot skills).
    pub dropout_copies: usize,
    /// Weight of a dropped-word copy.
    pub dropout_weight: f32,
    /// Weight of the nearest-centroid prior added to the classifier.
    pub centroid_weight: f32,
    /// Add each intent's name ("alarm_set" -> "alarm set") as one more example.
    pub name_examples: bool,
    /// Weight of the encoder's sentence embedding (unit length) beside the lexical features
    /// (each lexical group is unit length too), for `ModelChoice::Encoder`.
    pub encoder_weight: f32,
    /// Weight of the distilled static-vector sentence embedding, for the fast model with vectors.
    pub vectors_weight: f32,
    /// How distilled token vectors make a sentence vector (word weights, whole words).
    pub vectors: crate::distilled::VectorConfig,
    /// `proto_weight` for the fast model with distilled vectors (0 = off).
    pub vectors_proto: f32,
    /// `proto_weight_small` for the fast model with distilled vectors (0 = off).
    pub vectors_proto_small: f32,
    /// Weight of the prototype score (cosine between the input's dense vector and each class's
    /// unit centroid of training vectors) added to the class's logit, for skills with many
    /// examples per intent (hinge loss). 0 = off.
    pub proto_weight: f32,
    /// The same for skills with few examples per intent (softmax).
    pub proto_weight_small: f32,
    /// Fine-tuning of the encoder's top layer(s) on the skill's examples, for skills with
    /// `finetune.min_per_intent` to `finetune.max_per_intent` examples per intent,
    /// `ModelChoice::Encoder` only (see [`IntentConfig::fine_tunes`]).
    pub finetune: FinetuneConfig,
}

impl IntentConfig {
    /// Whether the encoder's top layers are fine-tuned for a skill with `examples` training
    /// examples over `intents` intents: few-shot, but not the fewest (see `FinetuneConfig`).
    pub fn fine_tunes(&self, examples: usize, intents: usize) -> bool {
        let per_intent = examples as f32 / intents.max(1) as f32;
        self.finetune.layers > 0
            && intents >= 2
            && per_intent >= self.finetune.min_per_intent
            && per_intent < self.finetune.max_per_intent
    }

    /// Whether a skill with `examples` training examples over `intents` intents is few-shot
    /// (softmax head, `train_small`; below `large_from` examples per intent).
    pub fn is_small(&self, examples: usize, intents: usize) -> bool {
        (examples as f32 / intents.max(1) as f32) < self.large_from
    }
}

impl Default for IntentConfig {
    fn default() -> Self {
        IntentConfig {
            features: FeatureConfig::default(),
            train: TrainParams::default(),
            fast_epochs: 20,
            train_small: TrainParams {
                epochs: 20,
                lambda: 1e-5,
                eta0: 1.0,
                seed: 7,
                hinge: false,
                average: false,
            },
            large_from: 60.0,
            calibrate: true,
            target_accept: 0.995,
            counterexample_weight: 1.0,
            name_examples: true,
            centroid_weight: 0.0,
            dropout_copies: 0,
            dropout_weight: 0.5,
            encoder_weight: 1.0,
            vectors_weight: 1.0,
            vectors: crate::distilled::VectorConfig::default(),
            vectors_proto: 0.0,
            vectors_proto_small: 0.0,
            proto_weight: 1.0,
            proto_weight_small: 8.0,
            finetune: FinetuneConfig::default(),
        }
    }
}

/// One training utterance: text, class, and entity tokens found in it.
#[derive(Debug, Clone)]
pub struct Example {
    /// The utterance.
    pub text: String,
    /// Class index (intent index, or the irrelevant class).
    pub class: usize,
    /// Entity tokens (`@entity`, `@entity:value`) recognised in it.
    pub extra: Vec<String>,
    /// Dense sentence vector (encoder embedding or distilled vectors), when the model has one.
    pub dense: Option<Arc<[f32]>>,
}

/// Number of calibration features: own score, log-partition, vocabulary coverage, margin.
const NF: usize = 4;

/// Maps raw scores to confidences: `sigmoid(w . [z_c, logZ, coverage, margin_c] + bias)`, where
/// `margin_c` is the class's score minus the best other class's score.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    w: [f32; NF],
    bias: f32,
    /// When set, the softmax probability is used instead (tiny skills).
    softmax_only: bool,
}

impl Calibration {
    fn softmax() -> Calibration {
        Calibration {
            w: [0.0; NF],
            bias: 0.0,
            softmax_only: true,
        }
    }

    fn raw(&self, f: &[f32; NF]) -> f32 {
        self.w.iter().zip(f).map(|(a, b)| a * b).sum()
    }
}

/// Calibration features of every class in `z` (all classes, intents first).
fn class_features(z: &[f32], cov: f32) -> impl Iterator<Item = [f32; NF]> + '_ {
    // Log-mean-exp rather than log-sum-exp: comparable between the calibration rounds' models
    // (fewer classes) and the final one.
    let logz = logsumexp(z) - (z.len().max(1) as f32).ln();
    let (mut b1, mut b2, mut arg) = (f32::NEG_INFINITY, f32::NEG_INFINITY, 0);
    for (c, &v) in z.iter().enumerate() {
        if v > b1 {
            b2 = b1;
            b1 = v;
            arg = c;
        } else if v > b2 {
            b2 = v;
        }
    }
    let b2 = if b2.is_finite() { b2 } else { b1 };
    z.iter().enumerate().map(move |(c, &v)| {
        let other = if c == arg { b2 } else { b1 };
        [v, logz, cov, v - other]
    })
}

/// Upper quantile of the standard normal for a share `p` in (0.5, 1) (Acklam-style rational
/// approximation of the tail, accurate to about 1e-3: plenty for a threshold).
fn normal_quantile(p: f32) -> f32 {
    let p = p.clamp(0.5, 0.999_999);
    let t = (-2.0 * (1.0 - p).ln()).sqrt();
    t - (2.515_517 + 0.802_853 * t + 0.010_328 * t * t)
        / (1.0 + 1.432_788 * t + 0.189_269 * t * t + 0.001_308 * t * t * t)
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn logsumexp(z: &[f32]) -> f32 {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !m.is_finite() {
        return 0.0;
    }
    m + z.iter().map(|x| (x - m).exp()).sum::<f32>().ln()
}

/// A trained intent model.
#[derive(Debug)]
pub struct IntentModel {
    names: Vec<String>,
    /// Total classes (intents + the irrelevant class when there are counterexamples).
    classes: usize,
    head: Trained,
    calibration: Calibration,
    hinge: bool,
}

/// Scale applied to hinge scores before a softmax (tiny skills without a fitted calibration).
const HINGE_SOFTMAX_SCALE: f32 = 4.0;

/// Per-class unit centroids of the training examples' dense vectors: the prototype score
/// `weight * cos(x, centroid_c)` is added to class `c`'s logit (a nearest-centroid prior that
/// the linear model alone learns poorly from few examples).
#[derive(Debug)]
struct Prototypes {
    dim: usize,
    /// `classes x dim`, each row unit length (or zero for a class without vectors).
    rows: Vec<f32>,
    weight: f32,
}

impl Prototypes {
    /// Centroids of `examples`' dense vectors; `None` without vectors or with weight 0.
    fn fit(examples: &[&Example], classes: usize, weight: f32) -> Option<Prototypes> {
        let dim = dense_dim(examples);
        if dim == 0 || weight == 0.0 {
            return None;
        }
        let mut rows = vec![0f32; classes * dim];
        for e in examples {
            if let (Some(d), Some(row)) = (
                e.dense.as_deref(),
                rows.get_mut(e.class * dim..(e.class + 1) * dim),
            ) {
                row.iter_mut().zip(d).for_each(|(r, v)| *r += v);
            }
        }
        for row in rows.chunks_exact_mut(dim) {
            let n = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            if n > 0.0 {
                row.iter_mut().for_each(|v| *v /= n);
            }
        }
        Some(Prototypes { dim, rows, weight })
    }

    /// Add each class's prototype score for the unit vector `dense` to `z`.
    fn add_scores(&self, dense: &[f32], z: &mut [f32]) {
        if dense.len() != self.dim {
            return;
        }
        for (zc, row) in z.iter_mut().zip(self.rows.chunks_exact(self.dim)) {
            let cos: f32 = row.iter().zip(dense).map(|(a, b)| a * b).sum();
            *zc += self.weight * cos;
        }
    }

    fn memory_bytes(&self) -> usize {
        self.rows.len() * std::mem::size_of::<f32>()
    }
}

/// A trained scorer: lexical (+ dense) features, the linear model, and the prototype score.
#[derive(Debug)]
struct Trained {
    featurizer: Featurizer,
    linear: Linear,
    dense_weight: f32,
    prototypes: Option<Prototypes>,
}

impl Trained {
    /// Class scores of an input into `z` (length = classes); returns its vocabulary coverage.
    fn scores(&self, text: &str, extra: &[String], dense: Option<&[f32]>, z: &mut [f32]) -> f32 {
        let (x, cov) = features(&self.featurizer, text, extra, dense, self.dense_weight);
        self.linear.logits(&x, z);
        if let (Some(p), Some(d)) = (&self.prototypes, dense) {
            p.add_scores(d, z);
        }
        cov
    }
}

/// Lexical features of a text, followed by its dense vector (times `weight`) when there is one.
fn features(
    featurizer: &Featurizer,
    text: &str,
    extra: &[String],
    dense: Option<&[f32]>,
    weight: f32,
) -> (SparseVec, f32) {
    let (mut x, cov) = featurizer.transform_with_coverage(text, extra);
    if let Some(d) = dense.filter(|_| weight != 0.0) {
        let base = featurizer.dim() as u32;
        x.extend(
            d.iter()
                .enumerate()
                .map(|(k, v)| (base + k as u32, weight * v)),
        );
    }
    (x, cov)
}

/// Width of the examples' dense vectors (0 = none).
fn dense_dim(examples: &[&Example]) -> usize {
    examples
        .iter()
        .find_map(|e| e.dense.as_ref().map(|d| d.len()))
        .unwrap_or(0)
}

fn fit(
    examples: &[&Example],
    classes: usize,
    irrelevant: Option<usize>,
    language: &str,
    cfg: &IntentConfig,
    dense_weight: f32,
) -> Trained {
    let ddim = dense_dim(examples);
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let extras: Vec<Vec<String>> = examples.iter().map(|e| e.extra.clone()).collect();
    let featurizer = Featurizer::fit(cfg.features.clone(), language, &texts, &extras);
    let mut xs: Vec<SparseVec> = Vec::with_capacity(examples.len());
    let mut ys: Vec<usize> = Vec::with_capacity(examples.len());
    let mut ws: Vec<f32> = Vec::with_capacity(examples.len());
    let mut rng = Rng::new(cfg.train.seed ^ 0xd20b);
    for e in examples {
        let w = if Some(e.class) == irrelevant {
            cfg.counterexample_weight
        } else {
            1.0
        };
        xs.push(
            features(
                &featurizer,
                &e.text,
                &e.extra,
                e.dense.as_deref(),
                dense_weight,
            )
            .0,
        );
        ys.push(e.class);
        ws.push(w);
        let words: Vec<&str> = e.text.split_whitespace().collect();
        if words.len() >= 3 {
            for _ in 0..cfg.dropout_copies {
                let drop = rng.below(words.len());
                let text: Vec<&str> = words
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| *k != drop)
                    .map(|(_, w)| *w)
                    .collect();
                let text = text.join(" ");
                xs.push(
                    features(
                        &featurizer,
                        &text,
                        &e.extra,
                        e.dense.as_deref(),
                        dense_weight,
                    )
                    .0,
                );
                ys.push(e.class);
                ws.push(w * cfg.dropout_weight);
            }
        }
    }
    let dim = featurizer.dim() + ddim;
    let mut linear = Linear::train(&xs, &ys, &ws, classes, dim, &cfg.train);
    linear.add_centroids(&xs, &ys, cfg.centroid_weight);
    Trained {
        featurizer,
        linear,
        dense_weight,
        prototypes: Prototypes::fit(examples, classes, cfg.proto_weight),
    }
}

/// Below this many in-scope calibration points a softmax model uses [`SOFTMAX_DEFAULT_W`]
/// instead of fitting weights (only the threshold is placed on the skill's own data).
const MIN_POINTS_TO_FIT: usize = 150;

/// Calibration weights fitted on few-shot skills (stable across them), for tiny skills.
const SOFTMAX_DEFAULT_W: [f32; NF] = [0.32, 0.16, 2.3, 0.37];

/// Typical fitted bias of softmax models (few-shot skills) and its weight in points.
const SOFTMAX_DEFAULT_BIAS: f32 = -2.6;
const BIAS_PRIOR_WEIGHT: f32 = 30.0;

/// Calibration points: (features of the top class, is a correct in-scope answer).
type Point = ([f32; NF], bool);

fn top_point(t: &Trained, e: &Example, n_intents: usize, z: &mut [f32]) -> (usize, [f32; NF]) {
    let cov = t.scores(&e.text, &e.extra, e.dense.as_deref(), z);
    let top = (0..n_intents)
        .max_by(|&a, &b| z[a].total_cmp(&z[b]))
        .unwrap_or(0);
    let f = class_features(z, cov).nth(top).unwrap_or([0.0; NF]);
    (top, f)
}

/// Held-out-intent rounds on the skill's own data.
fn calibration_points(
    examples: &[Example],
    n_intents: usize,
    irrelevant: Option<usize>,
    language: &str,
    cfg: &IntentConfig,
    dense_weight: f32,
) -> Vec<Point> {
    let n = examples.len();
    let rounds = if n > 4000 {
        1
    } else if n > 1500 {
        2
    } else {
        4
    };
    let mut rng = Rng::new(cfg.train.seed ^ 0x5eed);
    let mut intent_order: Vec<usize> = (0..n_intents).collect();
    rng.shuffle(&mut intent_order);
    let groups = 4.min(n_intents).max(1);
    let mut points = Vec::new();
    for r in 0..rounds.min(groups) {
        // Intents in group r are unknown this round.
        let unknown: Vec<bool> = {
            let mut u = vec![false; n_intents];
            for (k, &i) in intent_order.iter().enumerate() {
                u[i] = k % groups == r;
            }
            u
        };
        // Map known intents to dense classes.
        let mut map = vec![usize::MAX; n_intents + 1];
        let mut k = 0;
        for i in 0..n_intents {
            if !unknown[i] {
                map[i] = k;
                k += 1;
            }
        }
        let known_intents = k;
        let irr_class = irrelevant.map(|_| {
            map[n_intents] = k;
            k += 1;
            k - 1
        });
        let mut train: Vec<Example> = Vec::new();
        let mut held_in: Vec<Example> = Vec::new();
        let mut held_out: Vec<&Example> = Vec::new();
        for e in examples {
            let is_irr = Some(e.class) == irrelevant;
            if !is_irr && unknown[e.class] {
                held_out.push(e);
                continue;
            }
            let class = if is_irr { map[n_intents] } else { map[e.class] };
            let ex = Example {
                text: e.text.clone(),
                class,
                extra: e.extra.clone(),
                dense: e.dense.clone(),
            };
            if rng.below(5) == 0 {
                if is_irr {
                    held_out.push(e);
                } else {
                    held_in.push(ex);
                }
            } else {
                train.push(ex);
            }
        }
        if known_intents < 2 || train.is_empty() || held_in.is_empty() || held_out.is_empty() {
            continue;
        }
        let refs: Vec<&Example> = train.iter().collect();
        let t = fit(&refs, k, irr_class, language, cfg, dense_weight);
        let mut z = vec![0f32; k];
        for e in &held_in {
            let (top, f) = top_point(&t, e, known_intents, &mut z);
            if top == e.class {
                points.push((f, true));
            }
        }
        for e in held_out {
            let (_, f) = top_point(&t, e, known_intents, &mut z);
            points.push((f, false));
        }
    }
    points
}

/// Fit the logistic calibration on points, then place the 0.2 threshold.
fn fit_calibration(
    points: &[Point],
    target_accept: f32,
    small_default: Option<[f32; NF]>,
) -> Option<Calibration> {
    let pos = points.iter().filter(|p| p.1).count();
    let neg = points.len() - pos;
    if pos < 8 || neg < 8 {
        return None;
    }
    // Class-balanced logistic regression by gradient descent, features standardised.
    let (wp, wn) = (0.5 / pos as f32, 0.5 / neg as f32);
    let n = points.len() as f32;
    let mut mean = [0f32; NF];
    let mut sd = [0f32; NF];
    for (f, _) in points {
        for k in 0..NF {
            mean[k] += f[k] / n;
        }
    }
    for (f, _) in points {
        for k in 0..NF {
            sd[k] += (f[k] - mean[k]).powi(2) / n;
        }
    }
    for v in sd.iter_mut() {
        *v = v.sqrt().max(1e-6);
    }
    let mut w = [0f32; NF];
    let mut b = 0f32;
    let lr = 1.0;
    for _ in 0..300 {
        let mut g = [0f32; NF];
        let mut gb = 0f32;
        for (f, y) in points {
            let mut s = b;
            for k in 0..NF {
                s += w[k] * (f[k] - mean[k]) / sd[k];
            }
            let err = (sigmoid(s) - if *y { 1.0 } else { 0.0 }) * if *y { wp } else { wn };
            for k in 0..NF {
                g[k] += err * (f[k] - mean[k]) / sd[k];
            }
            gb += err;
        }
        for k in 0..NF {
            w[k] -= lr * (g[k] + 1e-2 * w[k]);
        }
        b -= lr * gb;
    }
    // Back to raw feature units; the own score and the margin must not lower a confidence.
    let mut raw = [0f32; NF];
    for k in 0..NF {
        raw[k] = w[k] / sd[k];
    }
    raw[0] = raw[0].max(0.0);
    raw[3] = raw[3].max(0.0);
    if raw[0] + raw[3] <= 1e-3 {
        raw[0] = 1.0;
    }
    if let Some(d) = small_default.filter(|_| pos < MIN_POINTS_TO_FIT) {
        raw = d;
    }
    let c = Calibration {
        w: raw,
        bias: 0.0,
        softmax_only: false,
    };
    let mut s: Vec<f32> = points
        .iter()
        .filter(|p| p.1)
        .map(|(f, _)| c.raw(f))
        .collect();
    s.sort_unstable_by(f32::total_cmp);
    let q = ((1.0 - target_accept).clamp(0.0, 1.0) * s.len() as f32) as usize;
    // With few points the empirical tail is optimistic: also extrapolate it from a normal fit
    // (mean - z * sd for the same share) and take the more lenient of the two.
    let nf = s.len() as f32;
    let mean = s.iter().sum::<f32>() / nf;
    let sd = (s.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / nf).sqrt();
    let t = s[q.min(s.len() - 1)].min(mean - normal_quantile(target_accept) * sd);
    let logit_threshold = (THRESHOLD / (1.0 - THRESHOLD)).ln();
    if std::env::var("NLU_DEBUG").is_ok() {
        eprintln!(
            "calib pos={pos} neg={neg} w={:?} bias={}",
            c.w,
            logit_threshold - t
        );
    }
    // Few points: shrink the threshold towards the one typical of few-shot skills.
    let mut bias = logit_threshold - t;
    if small_default.is_some() {
        let k = s.len() as f32;
        bias = (k * bias + BIAS_PRIOR_WEIGHT * SOFTMAX_DEFAULT_BIAS) / (k + BIAS_PRIOR_WEIGHT);
    }
    Some(Calibration { bias, ..c })
}

impl IntentModel {
    /// Train on examples. Classes `0..names.len()` are intents; class `names.len()` is the
    /// irrelevant class (counterexamples), present when any example carries it. Examples'
    /// dense vectors (all or none) become features weighted by `dense_weight`.
    pub fn train(
        names: Vec<String>,
        examples: Vec<Example>,
        language: &str,
        cfg: &IntentConfig,
        dense_weight: f32,
    ) -> IntentModel {
        let n_intents = names.len();
        let resolved;
        let cfg = if cfg.is_small(examples.len(), n_intents) {
            resolved = IntentConfig {
                train: cfg.train_small.clone(),
                proto_weight: cfg.proto_weight_small,
                ..cfg.clone()
            };
            &resolved
        } else {
            cfg
        };
        let irrelevant = examples
            .iter()
            .any(|e| e.class == n_intents)
            .then_some(n_intents);
        let classes = n_intents + usize::from(irrelevant.is_some());
        let refs: Vec<&Example> = examples.iter().collect();
        let (main, calibration) = std::thread::scope(|s| {
            let calib = s.spawn(|| {
                if !cfg.calibrate || n_intents < 3 {
                    return Calibration::softmax();
                }
                let pts = calibration_points(
                    &examples,
                    n_intents,
                    irrelevant,
                    language,
                    cfg,
                    dense_weight,
                );
                fit_calibration(
                    &pts,
                    cfg.target_accept,
                    (!cfg.train.hinge).then_some(SOFTMAX_DEFAULT_W),
                )
                .unwrap_or_else(Calibration::softmax)
            });
            let main = fit(&refs, classes, irrelevant, language, cfg, dense_weight);
            (
                main,
                calib.join().unwrap_or_else(|_| Calibration::softmax()),
            )
        });
        IntentModel {
            names,
            classes,
            head: main,
            calibration,
            hinge: cfg.train.hinge,
        }
    }

    /// Confidences per intent (not sorted), independent scores in `[0, 1]`. `dense` is the
    /// text's dense vector when the model was trained with them.
    pub fn confidences(&self, text: &str, extra: &[String], dense: Option<&[f32]>) -> Vec<f32> {
        let n = self.names.len();
        if n == 0 {
            return Vec::new();
        }
        let mut z = vec![0f32; self.classes];
        let cov = self.head.scores(text, extra, dense, &mut z);
        let c = &self.calibration;
        if c.softmax_only {
            // Hinge scores are margins (~1 apart): sharpen before the softmax.
            let t = if self.hinge { HINGE_SOFTMAX_SCALE } else { 1.0 };
            z.iter_mut().for_each(|v| *v *= t);
            softmax(&mut z);
            z.truncate(n);
            if self.classes == 1 {
                // One intent and nothing to compare it with: the softmax is always 1, so the
                // share of the input's words the skill knows is the only evidence.
                z[0] = cov;
            }
            return z;
        }
        let mut conf: Vec<f32> = class_features(&z, cov)
            .take(n)
            .map(|f| sigmoid(c.raw(&f) + c.bias))
            .collect();
        // Relative probabilities (hinge margins sharpened): a runner-up cannot score above the
        // top intent times its probability ratio, and the irrelevant class's share (from
        // counterexamples) is taken off every intent.
        let scale = if self.hinge { HINGE_SOFTMAX_SCALE } else { 1.0 };
        let mut p: Vec<f32> = z.iter().map(|v| v * scale).collect();
        softmax(&mut p);
        let keep = 1.0 - if self.classes > n { p[n] } else { 0.0 };
        if let Some(top) = (0..n).max_by(|&a, &b| z[a].total_cmp(&z[b])) {
            let (ct, pt) = (conf[top], p[top].max(1e-12));
            for (k, v) in conf.iter_mut().enumerate() {
                if k != top {
                    *v = v.min(ct * p[k] / pt);
                }
                *v *= keep;
            }
        }
        conf
    }

    /// Intent names (class order).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The fitted calibration (for reports).
    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    /// Approximate bytes held by the model.
    pub fn memory_bytes(&self) -> usize {
        self.head.linear.memory_bytes()
            + self.head.featurizer.dim() * 24
            + self
                .head
                .prototypes
                .as_ref()
                .map_or(0, Prototypes::memory_bytes)
    }

    /// The trained model as bytes (the on-disk model cache; read back by
    /// [`IntentModel::from_bytes`]). Little endian, after [`MODEL_MAGIC`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer(MODEL_MAGIC.to_vec());
        w.u32(self.classes as u32);
        w.u8(u8::from(self.hinge));
        w.f32s(&[self.head.dense_weight]);
        w.u32(self.names.len() as u32);
        for n in &self.names {
            w.bytes(n.as_bytes());
        }
        let c = &self.calibration;
        w.f32s(&c.w);
        w.f32s(&[c.bias]);
        w.u8(u8::from(c.softmax_only));
        let (classes, lw, lb) = self.head.linear.parts();
        w.u32(classes as u32);
        w.f32s(lw);
        w.f32s(lb);
        let (vocab, idf, group) = self.head.featurizer.parts();
        w.u32(vocab.len() as u32);
        for (h, col) in vocab {
            w.0.extend_from_slice(&h.to_le_bytes());
            w.0.extend_from_slice(&col.to_le_bytes());
        }
        w.f32s(idf);
        w.bytes(group);
        match &self.head.prototypes {
            None => w.u8(0),
            Some(p) => {
                w.u8(1);
                w.u32(p.dim as u32);
                w.f32s(&[p.weight]);
                w.f32s(&p.rows);
            }
        }
        w.0
    }

    /// A model written by [`IntentModel::to_bytes`] for a skill in `language` trained with
    /// `cfg`; `None` when the bytes are not such a model (truncated, corrupt, other version).
    pub fn from_bytes(data: &[u8], language: &str, cfg: &IntentConfig) -> Option<IntentModel> {
        let mut r = Reader(data.strip_prefix(MODEL_MAGIC.as_slice())?);
        let classes = r.u32()? as usize;
        let hinge = r.u8()? != 0;
        let dense_weight = *r.f32s()?.first()?;
        let names = (0..r.u32()?)
            .map(|_| String::from_utf8(r.bytes()?.to_vec()).ok())
            .collect::<Option<Vec<String>>>()?;
        let cw: [f32; NF] = r.f32s()?.try_into().ok()?;
        let bias = *r.f32s()?.first()?;
        let softmax_only = r.u8()? != 0;
        let lc = r.u32()? as usize;
        let linear = Linear::from_parts(lc, r.f32s()?, r.f32s()?)?;
        let n = r.u32()? as usize;
        let vocab = (0..n)
            .map(|_| Some((r.u64()?, r.u32()?)))
            .collect::<Option<Vec<(u64, u32)>>>()?;
        let idf = r.f32s()?;
        let group = r.bytes()?.to_vec();
        let featurizer = Featurizer::from_parts(cfg.features.clone(), language, vocab, idf, group)?;
        let prototypes = match r.u8()? {
            0 => None,
            1 => {
                let dim = r.u32()? as usize;
                let weight = *r.f32s()?.first()?;
                let rows = r.f32s()?;
                if dim == 0 || rows.len() % dim != 0 {
                    return None;
                }
                Some(Prototypes { dim, rows, weight })
            }
            _ => return None,
        };
        let ok = r.0.is_empty()
            && lc == classes
            && (classes == names.len() || classes == names.len() + 1)
            && linear.parts().1.len() / classes >= featurizer.dim();
        ok.then_some(IntentModel {
            names,
            classes,
            head: Trained {
                featurizer,
                linear,
                dense_weight,
                prototypes,
            },
            calibration: Calibration {
                w: cw,
                bias,
                softmax_only,
            },
            hinge,
        })
    }
}

/// Leading bytes (and format version) of a serialised [`IntentModel`].
pub const MODEL_MAGIC: &[u8; 8] = b"DLGM2\0\0\0";

/// Little-endian writer for [`IntentModel::to_bytes`].
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// Length-prefixed bytes.
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    /// Length-prefixed f32s.
    fn f32s(&mut self, v: &[f32]) {
        self.u32(v.len() as u32);
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
}

/// Reader for [`Writer`]'s output: every read is checked (`None` past the end).
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn f32s(&mut self) -> Option<Vec<f32>> {
        let n = self.u32()? as usize;
        let b = self.take(n.checked_mul(4)?)?;
        Some(
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }
}

/// An intent name as words: `alarm_set` -> "alarm set", `DepartureTime` -> "Departure Time".
pub fn name_as_text(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower = false;
    for c in name.chars() {
        if matches!(c, '_' | '-' | '.') {
            out.push(' ');
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower {
            out.push(' ');
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_round_trip_through_bytes_and_bad_bytes_are_refused() {
        let ex = |text: &str, class| Example {
            text: text.into(),
            class,
            extra: Vec::new(),
            dense: None,
        };
        let examples = vec![
            ex("turn on the light", 0),
            ex("switch the lamp on", 0),
            ex("what time is it", 1),
            ex("tell me the time", 1),
            ex("play some music", 2),
            ex("put on a song", 2),
        ];
        let cfg = IntentConfig::default();
        let names = vec!["light".into(), "time".into(), "music".into()];
        let m = IntentModel::train(names, examples, "en", &cfg, 0.0);
        let bytes = m.to_bytes();
        let back = IntentModel::from_bytes(&bytes, "en", &cfg).expect("reads back");
        for t in ["lamp on please", "what's the time", "nothing alike"] {
            assert_eq!(m.confidences(t, &[], None), back.confidences(t, &[], None));
        }
        assert_eq!(back.names(), m.names());
        assert!(IntentModel::from_bytes(&bytes[..bytes.len() - 3], "en", &cfg).is_none());
        let mut bad = bytes.clone();
        bad[0] ^= 1;
        assert!(IntentModel::from_bytes(&bad, "en", &cfg).is_none());
        let mut long = bytes;
        long.push(0);
        assert!(IntentModel::from_bytes(&long, "en", &cfg).is_none());
        assert!(IntentModel::from_bytes(b"", "en", &cfg).is_none());
    }

    #[test]
    fn intent_names_become_words() {
        assert_eq!(name_as_text("alarm_set"), "alarm set");
        assert_eq!(name_as_text("DepartureTime"), "Departure Time");
        assert_eq!(name_as_text("Make Update"), "Make Update");
    }

    #[test]
    fn prototype_score_is_the_weighted_cosine_to_each_centroid() {
        let ex = |class, v: [f32; 2]| Example {
            text: String::new(),
            class,
            extra: Vec::new(),
            dense: Some(Arc::from(&v[..])),
        };
        let (a, b, c) = (ex(0, [1.0, 0.0]), ex(1, [0.0, 1.0]), ex(1, [0.6, 0.8]));
        assert!(Prototypes::fit(&[&a, &b, &c], 2, 0.0).is_none());
        let p = Prototypes::fit(&[&a, &b, &c], 2, 2.0).expect("vectors present");
        let mut z = vec![0.5, 0.5];
        p.add_scores(&[0.0, 1.0], &mut z);
        // Class 1's centroid is (0.6, 1.8) normalised: cosine 1.8 / sqrt(3.6).
        assert!((z[0] - 0.5).abs() < 1e-6);
        assert!((z[1] - (0.5 + 2.0 * 1.8 / 3.6f32.sqrt())).abs() < 1e-5);
    }
}

#[cfg(test)]
mod quantile_tests {
    use super::*;

    #[test]
    fn normal_quantiles() {
        assert!((normal_quantile(0.975) - 1.96).abs() < 0.01);
        assert!((normal_quantile(0.995) - 2.576).abs() < 0.01);
        assert!(normal_quantile(0.5).abs() < 0.01);
    }
}
