//! `dialogic nlu eval SKILL TEST.tsv`: the intent model's accuracy on a test file.

use std::io::Write;
use std::path::Path;

use dialogic_nlu::{ModelChoice, NluOptions};

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
    let report =
        dialogic_nlu::eval::evaluate(&workspace, &tsv, &NluOptions { model }, &mut progress)?;
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
