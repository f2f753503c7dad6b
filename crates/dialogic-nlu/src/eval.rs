//! Accuracy evaluation of a skill's intent model on a test file (`dialogic nlu eval`).
//!
//! Test file: `text<TAB>intent`, header first; an empty intent means out of scope. A line is
//! correct when the top intent at or above 0.2 equals the expected one, or, for an out-of-scope
//! line, when no intent reaches 0.2.

use std::fmt;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use crate::intents::{IntentConfig, THRESHOLD};
use crate::{Nlu, NluError, NluOptions};

/// One classified test line.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EvalLine {
    /// The utterance.
    pub text: String,
    /// Expected intent (`None` = out of scope).
    pub expected: Option<String>,
    /// Top intent at or above the threshold (`None` = irrelevant).
    pub predicted: Option<String>,
    /// Top intent whatever its confidence, and that confidence.
    pub top: Option<(String, f32)>,
    /// Whether the answer is right.
    pub correct: bool,
}

/// Evaluation summary and per-line results.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Model name.
    pub model: String,
    /// Test lines.
    pub lines: usize,
    /// Correct lines.
    pub correct: usize,
    /// Lines with an expected intent.
    pub in_scope: usize,
    /// ...of which correct.
    pub in_scope_correct: usize,
    /// ...of which the top intent is right whatever its confidence.
    pub in_scope_top1: usize,
    /// Out-of-scope lines.
    pub out_of_scope: usize,
    /// ...of which correctly irrelevant.
    pub out_of_scope_correct: usize,
    /// Training wall time in seconds.
    pub train_seconds: f64,
    /// Classification throughput (one thread).
    pub utterances_per_second: f64,
    /// Approximate model bytes.
    pub model_bytes: usize,
    /// Per-line results.
    pub results: Vec<EvalLine>,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

impl EvalReport {
    /// Share of correct lines.
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct, self.lines)
    }
    /// Share of in-scope lines answered with the right intent.
    pub fn in_scope_accuracy(&self) -> f64 {
        ratio(self.in_scope_correct, self.in_scope)
    }
    /// Share of in-scope lines whose top intent is right, ignoring the threshold.
    pub fn in_scope_top1(&self) -> f64 {
        ratio(self.in_scope_top1, self.in_scope)
    }
    /// Share of out-of-scope lines answered irrelevant.
    pub fn out_of_scope_recall(&self) -> f64 {
        ratio(self.out_of_scope_correct, self.out_of_scope)
    }
    /// JSON summary (without per-line results when `lines` is false).
    pub fn to_json(&self, lines: bool) -> Value {
        let mut v = serde_json::json!({
            "model": self.model,
            "lines": self.lines,
            "accuracy": self.accuracy(),
            "in_scope_accuracy": self.in_scope_accuracy(),
            "out_of_scope_recall": if self.out_of_scope > 0 { Value::from(self.out_of_scope_recall()) } else { Value::Null },
            "train_seconds": self.train_seconds,
            "utterances_per_second": self.utterances_per_second,
            "model_bytes": self.model_bytes,
        });
        if lines {
            v["results"] = serde_json::to_value(&self.results).unwrap_or(Value::Null);
        }
        v
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "model:               {}", self.model)?;
        writeln!(
            f,
            "accuracy:            {:.4} ({}/{})",
            self.accuracy(),
            self.correct,
            self.lines
        )?;
        writeln!(
            f,
            "in-scope accuracy:   {:.4} ({}/{})",
            self.in_scope_accuracy(),
            self.in_scope_correct,
            self.in_scope
        )?;
        if self.out_of_scope > 0 {
            writeln!(
                f,
                "out-of-scope recall: {:.4} ({}/{})",
                self.out_of_scope_recall(),
                self.out_of_scope_correct,
                self.out_of_scope
            )?;
        }
        writeln!(f, "training time:       {:.2} s", self.train_seconds)?;
        writeln!(
            f,
            "classification:      {:.0} utterances/s",
            self.utterances_per_second
        )?;
        write!(
            f,
            "model size:          {:.1} MiB",
            self.model_bytes as f64 / 1048576.0
        )
    }
}

/// Parse a test file into `(text, expected intent)`.
pub fn parse_tests(tsv: &str) -> Result<Vec<(String, Option<String>)>, NluError> {
    let mut out = Vec::new();
    for (i, line) in tsv.lines().enumerate() {
        if i == 0 || line.trim().is_empty() {
            continue;
        }
        let (text, intent) = line.split_once('\t').ok_or_else(|| {
            NluError::Invalid(format!("test line {}: expected text<TAB>intent", i + 1))
        })?;
        let intent = intent.trim();
        out.push((
            text.to_string(),
            (!intent.is_empty()).then(|| intent.to_string()),
        ));
    }
    Ok(out)
}

/// Train on `workspace`, classify every test line, report. `progress(done, total)` is called as
/// lines are classified.
pub fn evaluate(
    workspace: &Value,
    test_tsv: &str,
    options: &NluOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalReport, NluError> {
    evaluate_with(
        workspace,
        test_tsv,
        options,
        &IntentConfig::default(),
        progress,
    )
}

/// [`evaluate`] with an explicit intent-model configuration.
pub fn evaluate_with(
    workspace: &Value,
    test_tsv: &str,
    options: &NluOptions,
    config: &IntentConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalReport, NluError> {
    let tests = parse_tests(test_tsv)?;
    let t0 = Instant::now();
    let nlu = Nlu::train_with(workspace, options, config)?;
    let train_seconds = t0.elapsed().as_secs_f64();
    let mut report = EvalReport {
        model: nlu.model_name().to_string(),
        lines: tests.len(),
        correct: 0,
        in_scope: 0,
        in_scope_correct: 0,
        in_scope_top1: 0,
        out_of_scope: 0,
        out_of_scope_correct: 0,
        train_seconds,
        utterances_per_second: 0.0,
        model_bytes: nlu.memory_bytes(),
        results: Vec::with_capacity(tests.len()),
    };
    let total = tests.len();
    let t1 = Instant::now();
    for (i, (text, expected)) in tests.into_iter().enumerate() {
        let ranked = nlu.classify(&text);
        let top = ranked.first().map(|(n, c)| (n.to_string(), *c));
        let predicted = top
            .as_ref()
            .filter(|(_, c)| *c >= THRESHOLD)
            .map(|(n, _)| n.clone());
        let correct = predicted == expected;
        if expected.is_some() {
            report.in_scope += 1;
            report.in_scope_correct += usize::from(correct);
            report.in_scope_top1 += usize::from(top.as_ref().map(|t| &t.0) == expected.as_ref());
        } else {
            report.out_of_scope += 1;
            report.out_of_scope_correct += usize::from(correct);
        }
        report.correct += usize::from(correct);
        report.results.push(EvalLine {
            text,
            expected,
            predicted,
            top,
            correct,
        });
        if (i + 1) % 64 == 0 || i + 1 == total {
            progress(i + 1, total);
        }
    }
    let secs = t1.elapsed().as_secs_f64();
    report.utterances_per_second = if secs > 0.0 { total as f64 / secs } else { 0.0 };
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_header_blank_and_out_of_scope_lines() {
        let t = parse_tests("text\tintent\nhi there\tgreet\n\nwhat is pi\t\n").expect("parses");
        assert_eq!(
            t,
            vec![
                ("hi there".to_string(), Some("greet".to_string())),
                ("what is pi".to_string(), None)
            ]
        );
        assert!(parse_tests("h\nno tab here\n").is_err());
    }
}
