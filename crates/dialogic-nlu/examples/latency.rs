//! Training time, per-utterance latency percentiles and model size of the fast model on one set:
//! `cargo run --release -p dialogic-nlu --example latency -- [SET] [VECTORS_MODEL_DIR]` (default
//! clinc150; with a model directory, the fast model with distilled vectors from it).

use std::time::Instant;

use dialogic_nlu::{Nlu, NluOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let set = std::env::args().nth(1).unwrap_or_else(|| "clinc150".into());
    let dir = format!("{}/../../../shared/nlu/{set}", env!("CARGO_MANIFEST_DIR"));
    let skill: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/skill.json"))?)?;
    let tsv = std::fs::read_to_string(format!("{dir}/test.tsv"))?;
    let texts: Vec<&str> = tsv
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .collect();
    let t0 = Instant::now();
    let options = NluOptions {
        vectors_dir: std::env::args().nth(2).map(Into::into),
        cache_dir: Some(dialogic_nlu::encoder::cache::default_dir()),
        ..NluOptions::default()
    };
    let nlu = Nlu::train(&skill, &options)?;
    let train = t0.elapsed().as_secs_f64();
    println!(
        "set {set}: train {train:.2} s (wall), model {:.1} MiB",
        nlu.memory_bytes() as f64 / 1048576.0
    );
    // Every utterance 5 times in a row: all calls, and the best of 5 per utterance (what the
    // code costs, without the scheduler's preemptions on a shared machine).
    let mut all: Vec<f64> = Vec::with_capacity(texts.len() * 5);
    let mut best: Vec<f64> = Vec::with_capacity(texts.len());
    for t in &texts {
        let mut b = f64::INFINITY;
        for _ in 0..5 {
            let s = Instant::now();
            let r = nlu.classify(t);
            let us = s.elapsed().as_secs_f64() * 1e6;
            std::hint::black_box(r);
            all.push(us);
            b = b.min(us);
        }
        best.push(b);
    }
    for (name, lat) in [
        ("all calls", &mut all),
        ("best of 5 per utterance", &mut best),
    ] {
        lat.sort_by(f64::total_cmp);
        let n = lat.len();
        let pct = |p: f64| lat[((n as f64 - 1.0) * p) as usize];
        println!(
            "classify, {name} ({n}): p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, max {:.1} us",
            pct(0.5),
            pct(0.9),
            pct(0.99),
            pct(1.0)
        );
    }
    Ok(())
}
