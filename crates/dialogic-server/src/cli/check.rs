//! `dialogic config check`: load, validate, compile every skill; print every problem.

use std::io::Write;

use crate::config::{LoadedConfig, Problem};
use crate::registry::Registry;

/// Every problem of a loaded config (validation first, then every skill).
pub fn problems(loaded: &LoadedConfig) -> Vec<Problem> {
    let mut problems = loaded.config.validate();
    // Skills are compiled even when the config has problems, so one run shows everything.
    if let Err(skill_problems) = Registry::build(&loaded.config, &loaded.base_dir, false) {
        problems.extend(skill_problems);
    }
    problems
}

/// Print the verdict; true when the config is valid.
pub fn report(loaded: &LoadedConfig, out: &mut dyn Write) -> std::io::Result<bool> {
    let problems = problems(loaded);
    if problems.is_empty() {
        let envs: usize = loaded
            .config
            .assistants
            .iter()
            .map(|a| {
                2 + a
                    .environments
                    .iter()
                    .filter(|e| e.id != "draft" && e.id != "live")
                    .count()
            })
            .sum();
        writeln!(
            out,
            "configuration OK: {} assistant(s), {} environment(s), every skill compiled",
            loaded.config.assistants.len(),
            envs
        )?;
        return Ok(true);
    }
    writeln!(out, "{} problem(s):", problems.len())?;
    for p in &problems {
        writeln!(out, "  - {p}")?;
    }
    Ok(false)
}
