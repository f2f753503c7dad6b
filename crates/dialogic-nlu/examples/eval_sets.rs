//! Evaluate the fast model on the benchmark sets in `../shared/nlu` (or the folders given).
//!
//! `cargo run --release -p dialogic-nlu --example eval_sets -- [--sets a,b] [--no-bigrams]
//!  [--no-words] [--no-chars] [--no-stem] [--no-calib] [--target 0.97] [--epochs N]
//!  [--lambda X] [--eta X] [--char-weight X] [--char-max N]`

use std::path::PathBuf;

use dialogic_nlu::eval::{evaluate_with, EvalReport};
use dialogic_nlu::intents::IntentConfig;
use dialogic_nlu::NluOptions;

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
        let tsv = std::fs::read_to_string(dir.join("test.tsv"))?;
        let r: EvalReport =
            evaluate_with(&skill, &tsv, &NluOptions::default(), &cfg, &mut |_, _| {})?;
        if show_errors {
            for l in r.results.iter().filter(|l| !l.correct) {
                println!("ERR\t{}\t{:?}\t{:?}", l.text, l.expected, l.top);
            }
        }
        if set.starts_with("braun") {
            braun.0 += r.correct;
            braun.1 += r.lines;
        }
        println!(
            "{:<24} {:>8.4} {:>9.4} {:>7.4} {:>8} {:>8.2} {:>10.0} {:>8.1}",
            set,
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
