//! Training time, per-utterance latency percentiles and model size of the fast model on one set:
//! `cargo run --release -p dialogic-nlu --example latency -- [SET]` (default clinc150).

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
    let nlu = Nlu::train(&skill, &NluOptions::default())?;
    let train = t0.elapsed().as_secs_f64();
    let mut lat: Vec<f64> = Vec::with_capacity(texts.len() * 3);
    for _ in 0..3 {
        for t in &texts {
            let s = Instant::now();
            let r = nlu.classify(t);
            lat.push(s.elapsed().as_secs_f64() * 1e6);
            std::hint::black_box(r);
        }
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize];
    println!(
        "set {set}: train {train:.2} s, model {:.1} MiB",
        nlu.memory_bytes() as f64 / 1048576.0
    );
    println!(
        "classify latency over {} calls: p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, max {:.1} us",
        lat.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}
