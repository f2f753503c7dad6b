//! The fast intent model: lexical features, a softmax linear classifier, and a calibration that
//! turns its scores into Watson-like independent confidences (0.2 = "matches").
//!
//! Calibration is fitted at training time on the skill's own data only: some intents are held out
//! entirely (their examples play the out-of-scope inputs the model will meet in real traffic), and
//! some examples of the remaining intents are held out (the in-scope inputs). A small logistic model
//! over (own logit, log-partition, vocabulary coverage) separates the two, and its bias is set so
//! that a chosen share of correctly classified in-scope inputs lands at or above 0.2.

use crate::classifier::{softmax, Linear, Rng, TrainParams};
use crate::features::{FeatureConfig, Featurizer, SparseVec};

/// Confidence at which `#intent` matches (Watson's threshold).
pub const THRESHOLD: f32 = 0.2;

/// Everything that shapes the fast intent model.
#[derive(Debug, Clone, PartialEq)]
pub struct IntentConfig {
    /// Feature extraction.
    pub features: FeatureConfig,
    /// Classifier training.
    pub train: TrainParams,
    /// Fit the out-of-scope calibration (off = softmax probabilities as confidences).
    pub calibrate: bool,
    /// Share of correctly classified held-out in-scope inputs that must reach the threshold.
    pub target_accept: f32,
    /// Weight of a counterexample relative to an intent example.
    pub counterexample_weight: f32,
    /// Weight of the nearest-centroid prior added to the classifier.
    pub centroid_weight: f32,
    /// Add each intent's name ("alarm_set" -> "alarm set") as one more example.
    pub name_examples: bool,
}

impl Default for IntentConfig {
    fn default() -> Self {
        IntentConfig {
            features: FeatureConfig::default(),
            train: TrainParams::default(),
            calibrate: true,
            target_accept: 0.97,
            counterexample_weight: 1.0,
            name_examples: true,
            centroid_weight: 0.0,
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
}

/// Maps raw scores to confidences: `sigmoid(w_z * z_c + w_lz * logZ + w_cov * coverage + bias)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    w_z: f32,
    w_lz: f32,
    w_cov: f32,
    bias: f32,
    /// When set, the softmax probability is used instead (tiny skills).
    softmax_only: bool,
}

impl Calibration {
    fn softmax() -> Calibration {
        Calibration {
            w_z: 0.0,
            w_lz: 0.0,
            w_cov: 0.0,
            bias: 0.0,
            softmax_only: true,
        }
    }

    fn raw(&self, z: f32, logz: f32, cov: f32) -> f32 {
        self.w_z * z + self.w_lz * logz + self.w_cov * cov
    }
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
    featurizer: Featurizer,
    linear: Linear,
    calibration: Calibration,
}

struct Trained {
    featurizer: Featurizer,
    linear: Linear,
}

fn fit(
    examples: &[&Example],
    classes: usize,
    irrelevant: Option<usize>,
    language: &str,
    cfg: &IntentConfig,
) -> Trained {
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let extras: Vec<Vec<String>> = examples.iter().map(|e| e.extra.clone()).collect();
    let featurizer = Featurizer::fit(cfg.features.clone(), language, &texts, &extras);
    let xs: Vec<SparseVec> = examples
        .iter()
        .map(|e| featurizer.transform(&e.text, &e.extra))
        .collect();
    let ys: Vec<usize> = examples.iter().map(|e| e.class).collect();
    let ws: Vec<f32> = examples
        .iter()
        .map(|e| {
            if Some(e.class) == irrelevant {
                cfg.counterexample_weight
            } else {
                1.0
            }
        })
        .collect();
    let mut linear = Linear::train(&xs, &ys, &ws, classes, featurizer.dim(), &cfg.train);
    linear.add_centroids(&xs, &ys, cfg.centroid_weight);
    Trained { featurizer, linear }
}

/// Calibration points: (features of the top class, is a correct in-scope answer).
type Point = ([f32; 3], bool);

fn top_point(t: &Trained, e: &Example, n_intents: usize, z: &mut [f32]) -> (usize, [f32; 3]) {
    let (x, cov) = t.featurizer.transform_with_coverage(&e.text, &e.extra);
    t.linear.logits(&x, z);
    let logz = logsumexp(z);
    let top = (0..n_intents)
        .max_by(|&a, &b| z[a].total_cmp(&z[b]))
        .unwrap_or(0);
    (top, [z[top], logz, cov])
}

/// Held-out-intent rounds on the skill's own data.
fn calibration_points(
    examples: &[Example],
    n_intents: usize,
    irrelevant: Option<usize>,
    language: &str,
    cfg: &IntentConfig,
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
        let t = fit(&refs, k, irr_class, language, cfg);
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
fn fit_calibration(points: &[Point], target_accept: f32) -> Option<Calibration> {
    let pos = points.iter().filter(|p| p.1).count();
    let neg = points.len() - pos;
    if pos < 8 || neg < 8 {
        return None;
    }
    // Class-balanced logistic regression by gradient descent on 4 parameters.
    let (wp, wn) = (0.5 / pos as f32, 0.5 / neg as f32);
    let mut w = [1.0f32, 0.0, 0.0, 0.0];
    let lr = 0.5;
    for _ in 0..400 {
        let mut g = [0f32; 4];
        for (f, y) in points {
            let s = w[0] * f[0] + w[1] * f[1] + w[2] * f[2] + w[3];
            let p = sigmoid(s);
            let err = (p - if *y { 1.0 } else { 0.0 }) * if *y { wp } else { wn };
            g[0] += err * f[0];
            g[1] += err * f[1];
            g[2] += err * f[2];
            g[3] += err;
        }
        for j in 0..4 {
            w[j] -= lr * (g[j] + 1e-3 * w[j] * if j < 3 { 1.0 } else { 0.0 });
        }
    }
    if w[0] <= 0.05 {
        w[0] = 0.05;
    }
    let c = Calibration {
        w_z: w[0],
        w_lz: w[1],
        w_cov: w[2],
        bias: 0.0,
        softmax_only: false,
    };
    let mut s: Vec<f32> = points
        .iter()
        .filter(|p| p.1)
        .map(|(f, _)| c.raw(f[0], f[1], f[2]))
        .collect();
    s.sort_unstable_by(f32::total_cmp);
    let q = ((1.0 - target_accept).clamp(0.0, 1.0) * s.len() as f32) as usize;
    let t = s[q.min(s.len() - 1)];
    let logit_threshold = (THRESHOLD / (1.0 - THRESHOLD)).ln();
    Some(Calibration {
        bias: logit_threshold - t,
        ..c
    })
}

impl IntentModel {
    /// Train on examples. Classes `0..names.len()` are intents; class `names.len()` is the
    /// irrelevant class (counterexamples), present when any example carries it.
    pub fn train(
        names: Vec<String>,
        examples: Vec<Example>,
        language: &str,
        cfg: &IntentConfig,
    ) -> IntentModel {
        let n_intents = names.len();
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
                let pts = calibration_points(&examples, n_intents, irrelevant, language, cfg);
                fit_calibration(&pts, cfg.target_accept).unwrap_or_else(Calibration::softmax)
            });
            let main = fit(&refs, classes, irrelevant, language, cfg);
            (
                main,
                calib.join().unwrap_or_else(|_| Calibration::softmax()),
            )
        });
        IntentModel {
            names,
            classes,
            featurizer: main.featurizer,
            linear: main.linear,
            calibration,
        }
    }

    /// Confidences per intent (not sorted), independent scores in [0,1].
    pub fn confidences(&self, text: &str, extra: &[String]) -> Vec<f32> {
        let n = self.names.len();
        if n == 0 {
            return Vec::new();
        }
        let (x, cov) = self.featurizer.transform_with_coverage(text, extra);
        let mut z = vec![0f32; self.classes];
        self.linear.logits(&x, &mut z);
        let c = &self.calibration;
        if c.softmax_only {
            softmax(&mut z);
            z.truncate(n);
            return z;
        }
        let logz = logsumexp(&z);
        z.truncate(n);
        for v in z.iter_mut() {
            *v = sigmoid(c.raw(*v, logz, cov) + c.bias);
        }
        z
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
        self.linear.memory_bytes() + self.featurizer.dim() * 24
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
    fn intent_names_become_words() {
        assert_eq!(name_as_text("alarm_set"), "alarm set");
        assert_eq!(name_as_text("DepartureTime"), "Departure Time");
        assert_eq!(name_as_text("Make Update"), "Make Update");
    }
}
