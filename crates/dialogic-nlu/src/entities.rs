//! Skill entities: dictionary values with synonyms (case-insensitive, multi-word, longest match,
//! plural/singular, fuzzy), pattern values (regex with capture groups) and contextual entities
//! (phrases annotated as `mentions` in intent examples).
//!
//! Rules (Watson's, as documented; choices marked as ours):
//! - A dictionary value matches its value text and each synonym, compared after normalisation
//!   (case, accents, punctuation), on whole words. Per entity the longest match wins; different
//!   entities may overlap (both are returned).
//! - English skills also match the singular/plural form of each word (ours: confidence 1).
//! - `fuzzy_match: true` also matches misspelled words (one edit for words of 4-7 letters, two
//!   from 8) with confidence `1 - edits / letters` (< 1); exact matches have confidence 1.
//! - Pattern values are regular expressions run on the original text; capture groups come back as
//!   `groups` (`group_0` is the whole match).
//! - Contextual entities: phrases annotated in examples are recognised as that entity, with the
//!   phrase itself as value, when the entity has no dictionary value for them.

use std::borrow::Cow;
use std::collections::HashMap;

use regex::Regex;
use serde_json::{json, Map, Value};

use crate::text::{tokenize, Normalized, Stemmer, Token};
use crate::NluError;

/// Watson's threshold: a fuzzy entity counts in a condition only above this confidence.
pub const FUZZY_THRESHOLD: f32 = 0.3;

/// Longest input considered for entity recognition, in characters (Watson caps input at 2,048).
const MAX_INPUT_CHARS: usize = 4096;

/// One recognised entity mention.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityMatch {
    /// Entity name (without `@`).
    pub entity: String,
    /// `[start, end)` character offsets in the input.
    pub location: (usize, usize),
    /// Canonical value.
    pub value: Value,
    /// Confidence in `[0, 1]`.
    pub confidence: f32,
    /// The input text at `location`.
    pub literal: String,
    /// Extra Watson fields (`groups`, `interpretation`, `role`, ...).
    pub extra: Map<String, Value>,
}

impl EntityMatch {
    /// Watson runtime entity object (`entity`, `location`, `value`, `confidence`, `literal`, plus
    /// the extra fields).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("entity".into(), json!(self.entity));
        m.insert("location".into(), json!([self.location.0, self.location.1]));
        m.insert("value".into(), self.value.clone());
        m.insert("confidence".into(), json!(crate::round4(self.confidence)));
        m.insert("literal".into(), json!(self.literal));
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }

    fn len(&self) -> usize {
        self.location.1 - self.location.0
    }
}

/// Orders matches by position (longer first at the same start) and drops a match that lies
/// inside a longer match of the same entity, or a `sys-number` inside a `sys-date`/`sys-time`.
pub fn sort_and_resolve(v: &mut Vec<EntityMatch>) {
    v.sort_by_key(|e| (e.location.0, std::cmp::Reverse(e.location.1)));
    let snapshot = v.clone();
    v.retain(|e| {
        !snapshot.iter().any(|o| {
            let contains = o.location.0 <= e.location.0 && e.location.1 <= o.location.1;
            let overlaps = o.location.0 < e.location.1 && e.location.0 < o.location.1;
            let longer = o.len() > e.len();
            (o.entity == e.entity && overlaps && longer)
                || (e.entity == "sys-number"
                    && contains
                    && longer
                    && matches!(o.entity.as_str(), "sys-date" | "sys-time"))
        })
    });
}

/// Characters of `text` in `[s, e)` (char offsets).
pub fn char_slice(text: &str, s: usize, e: usize) -> String {
    text.chars().skip(s).take(e.saturating_sub(s)).collect()
}

/// A word's matching key: its normalised form, singular for English.
fn key(word: &str, english: bool) -> String {
    if english {
        singular(word)
    } else {
        word.to_string()
    }
}

/// Simple English singular: "cities" -> "city", "boxes" -> "box", "cars" -> "car".
pub fn singular(word: &str) -> String {
    let n = word.chars().count();
    if n <= 3 || !word.is_ascii() {
        return word.to_string();
    }
    if let Some(stem) = word.strip_suffix("ies") {
        return format!("{stem}y");
    }
    for suf in ["sses", "shes", "ches", "xes", "zes"] {
        if word.ends_with(suf) {
            return word[..word.len() - 2].to_string();
        }
    }
    if word.ends_with("ss") || word.ends_with("us") || word.ends_with("is") {
        return word.to_string();
    }
    match word.strip_suffix('s') {
        Some(stem) => stem.to_string(),
        None => word.to_string(),
    }
}

/// Damerau-Levenshtein (optimal string alignment) distance, giving up above `max`.
pub fn edit_distance(a: &[char], b: &[char], max: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let w = b.len() + 1;
    let mut prev2 = vec![0usize; w];
    let mut prev: Vec<usize> = (0..w).collect();
    let mut cur = vec![0usize; w];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[b.len()];
    (d <= max).then_some(d)
}

/// The word and every string made from it by deleting up to `d` characters.
fn deletions(word: &[char], d: usize) -> Vec<String> {
    let mut out: Vec<Vec<char>> = vec![word.to_vec()];
    let mut frontier: Vec<Vec<char>> = vec![word.to_vec()];
    for _ in 0..d {
        let mut next = Vec::new();
        for w in &frontier {
            if w.len() <= 1 {
                continue;
            }
            for k in 0..w.len() {
                let mut v = w.clone();
                v.remove(k);
                next.push(v);
            }
        }
        next.sort_unstable();
        next.dedup();
        out.extend(next.iter().cloned());
        frontier = next;
    }
    out.sort_unstable();
    out.dedup();
    out.into_iter().map(|v| v.into_iter().collect()).collect()
}

/// Edits tolerated for a word of `n` letters.
fn allowed_edits(n: usize) -> usize {
    match n {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// One dictionary phrase (value text or synonym) as word keys.
#[derive(Debug, Clone)]
struct Phrase {
    entity: usize,
    /// Value index in the entity; `None` = contextual phrase (value is the literal).
    value: Option<usize>,
    keys: Vec<String>,
    chars: Vec<Vec<char>>,
    /// Stems of the words (fuzzy phrases only; empty otherwise).
    stems: Vec<String>,
}

#[derive(Debug, Clone)]
struct PatternValue {
    entity: usize,
    value: String,
    regex: Regex,
}

#[derive(Debug, Clone)]
struct EntityDef {
    name: String,
    fuzzy: bool,
    values: Vec<String>,
}

/// The skill's entity recognizer (everything except system entities).
#[derive(Default)]
pub struct EntityRecognizer {
    english: bool,
    /// Snowball stemmer of the skill language (fuzzy matching includes stemming).
    stemmer: Stemmer,
    /// Fuzzy phrases by the stem of their first word.
    fuzzy_stem_first: HashMap<String, Vec<usize>>,
    entities: Vec<EntityDef>,
    phrases: Vec<Phrase>,
    /// First word key -> phrases starting with it.
    by_first: HashMap<String, Vec<usize>>,
    /// Fuzzy phrases by deletion variants of their first word (symmetric-deletion index: a word
    /// within `d` edits of an input token shares a variant with `d` or fewer deletions).
    fuzzy_first: HashMap<String, Vec<usize>>,
    /// Whether a phrase belongs to a fuzzy entity.
    fuzzy_phrase: Vec<bool>,
    patterns: Vec<PatternValue>,
    /// Patterns that failed to compile: `(entity, pattern)`.
    rejected_patterns: Vec<(String, String)>,
}

fn words_of(text: &str) -> Vec<Token> {
    tokenize(&Normalized::new(text))
}

impl std::fmt::Debug for EntityRecognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntityRecognizer")
            .field("entities", &self.entities.len())
            .field("phrases", &self.phrases.len())
            .field("patterns", &self.patterns.len())
            .finish()
    }
}

impl EntityRecognizer {
    /// Build from the workspace `entities` (and `mentions` in intent examples).
    pub fn from_workspace(workspace: &Value, language: &str) -> Result<Self, NluError> {
        let english = language
            .split(['-', '_'])
            .next()
            .is_some_and(|b| b.eq_ignore_ascii_case("en"));
        let mut r = EntityRecognizer {
            english,
            stemmer: Stemmer::for_language(language),
            ..EntityRecognizer::default()
        };
        let list = match workspace.get("entities") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => return Err(NluError::Invalid("`entities` is not an array".into())),
        };
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for ent in list {
            let Some(name) = ent.get("entity").and_then(Value::as_str) else {
                return Err(NluError::Invalid("an entity has no `entity` name".into()));
            };
            if name.starts_with("sys-") {
                continue;
            }
            let idx = r.entities.len();
            by_name.insert(name.to_string(), idx);
            r.entities.push(EntityDef {
                name: name.to_string(),
                fuzzy: ent.get("fuzzy_match").and_then(Value::as_bool) == Some(true),
                values: Vec::new(),
            });
            for v in ent
                .get("values")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                let Some(value) = v.get("value").and_then(Value::as_str) else {
                    continue;
                };
                let vi = r.entities[idx].values.len();
                r.entities[idx].values.push(value.to_string());
                let is_pattern = v.get("type").and_then(Value::as_str) == Some("patterns");
                if is_pattern {
                    for p in v
                        .get("patterns")
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or(&[])
                        .iter()
                        .filter_map(Value::as_str)
                    {
                        match regex::RegexBuilder::new(p).size_limit(1 << 20).build() {
                            Ok(regex) => r.patterns.push(PatternValue {
                                entity: idx,
                                value: value.to_string(),
                                regex,
                            }),
                            Err(_) => r.rejected_patterns.push((name.to_string(), p.to_string())),
                        }
                    }
                } else {
                    let syns = v
                        .get("synonyms")
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or(&[]);
                    let texts = std::iter::once(value).chain(syns.iter().filter_map(Value::as_str));
                    for t in texts {
                        r.add_phrase(idx, Some(vi), t);
                    }
                }
            }
        }
        // Contextual entities: annotated mentions in intent examples.
        for it in workspace
            .get("intents")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            for ex in it
                .get("examples")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                let Some(text) = ex.get("text").and_then(Value::as_str) else {
                    continue;
                };
                for m in ex
                    .get("mentions")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                {
                    let (Some(name), Some(loc)) = (
                        m.get("entity").and_then(Value::as_str),
                        m.get("location").and_then(Value::as_array),
                    ) else {
                        continue;
                    };
                    let (Some(s), Some(e)) = (
                        loc.first().and_then(Value::as_u64),
                        loc.get(1).and_then(Value::as_u64),
                    ) else {
                        continue;
                    };
                    let phrase = char_slice(text, s as usize, e as usize);
                    let idx = match by_name.get(name) {
                        Some(&i) => i,
                        None => {
                            let i = r.entities.len();
                            r.entities.push(EntityDef {
                                name: name.to_string(),
                                fuzzy: false,
                                values: Vec::new(),
                            });
                            by_name.insert(name.to_string(), i);
                            i
                        }
                    };
                    if !r.matches_dictionary(idx, &phrase) {
                        r.add_phrase(idx, None, &phrase);
                    }
                }
            }
        }
        Ok(r)
    }

    fn matches_dictionary(&self, entity: usize, text: &str) -> bool {
        let keys: Vec<String> = words_of(text)
            .iter()
            .map(|t| key(&t.text, self.english))
            .collect();
        self.phrases
            .iter()
            .any(|p| p.entity == entity && p.keys == keys)
    }

    fn add_phrase(&mut self, entity: usize, value: Option<usize>, text: &str) {
        let toks = words_of(text);
        if toks.is_empty() {
            return;
        }
        let keys: Vec<String> = toks.iter().map(|t| key(&t.text, self.english)).collect();
        if self
            .phrases
            .iter()
            .any(|p| p.entity == entity && p.value == value && p.keys == keys)
        {
            return;
        }
        let chars = toks.iter().map(|t| t.text.chars().collect()).collect();
        let id = self.phrases.len();
        self.by_first.entry(keys[0].clone()).or_default().push(id);
        let fuzzy = self.entities.get(entity).is_some_and(|d| d.fuzzy) && value.is_some();
        self.fuzzy_phrase.push(fuzzy);
        if fuzzy {
            let first: Vec<char> = toks[0].text.chars().collect();
            for variant in deletions(&first, allowed_edits(first.len())) {
                let v = self.fuzzy_first.entry(variant).or_default();
                if v.last() != Some(&id) {
                    v.push(id);
                }
            }
        }
        let stems: Vec<String> = if fuzzy {
            toks.iter()
                .map(|t| self.stemmer.stem(&t.text).into_owned())
                .collect()
        } else {
            Vec::new()
        };
        if let Some(first) = stems.first() {
            self.fuzzy_stem_first
                .entry(first.clone())
                .or_default()
                .push(id);
        }
        self.phrases.push(Phrase {
            entity,
            value,
            keys,
            chars,
            stems,
        });
    }

    /// Patterns that did not compile (entity, pattern): reported at load, never matched.
    pub fn rejected_patterns(&self) -> &[(String, String)] {
        &self.rejected_patterns
    }

    /// Entity tokens for the intent model: `@entity` and `@entity:value` per exact dictionary hit.
    pub fn feature_tokens(&self, text: &str) -> Vec<String> {
        if self.phrases.is_empty() {
            return Vec::new();
        }
        self.tokens_of(&self.dictionary_matches(text, false))
    }

    /// `@entity` and `@entity:value` of each match.
    fn tokens_of(&self, matches: &[RawMatch]) -> Vec<String> {
        let mut out = Vec::new();
        for m in matches {
            let name = &self.entities[m.entity].name;
            out.push(format!("@{name}"));
            if let Some(v) = m.value {
                out.push(format!("@{name}:{}", self.entities[m.entity].values[v]));
            }
        }
        out
    }

    /// Scan `text` once for both [`Self::feature_tokens`] and [`Self::recognize`]: the
    /// exact matches are the fuzzy scan's matches without edits, resolved on their own.
    pub fn scan<'t>(&self, text: &'t str) -> Scan<'t> {
        let cut = truncated(text);
        if self.phrases.is_empty() || cut.len() < text.len() {
            // Features read the whole input, entities its first MAX_INPUT_CHARS: scan twice.
            return Scan {
                feature_tokens: self.feature_tokens(text),
                matches: self.dictionary_matches(&cut, true),
                text: cut,
            };
        }
        let found = self.raw_dictionary_matches(text, true);
        let exact: Vec<RawMatch> = found.iter().filter(|m| m.edits == 0).cloned().collect();
        Scan {
            feature_tokens: self.tokens_of(&resolve(exact)),
            matches: resolve(found),
            text: cut,
        }
    }

    /// Dictionary matches over normalised tokens: `(phrase, token range, edits)`.
    fn dictionary_matches(&self, text: &str, fuzzy: bool) -> Vec<RawMatch> {
        resolve(self.raw_dictionary_matches(text, fuzzy))
    }

    /// Every dictionary match, overlapping ones included, in scan order.
    fn raw_dictionary_matches(&self, text: &str, fuzzy: bool) -> Vec<RawMatch> {
        let norm = Normalized::new(text);
        let toks = tokenize(&norm);
        let keys: Vec<String> = toks.iter().map(|t| key(&t.text, self.english)).collect();
        let chars: Vec<Vec<char>> = toks.iter().map(|t| t.text.chars().collect()).collect();
        let stems: Vec<String> = if fuzzy && !self.fuzzy_first.is_empty() {
            toks.iter()
                .map(|t| self.stemmer.stem(&t.text).into_owned())
                .collect()
        } else {
            Vec::new()
        };
        let mut found: Vec<RawMatch> = Vec::new();
        for i in 0..toks.len() {
            if let Some(ids) = self.by_first.get(&keys[i]) {
                for &id in ids {
                    let p = &self.phrases[id];
                    let n = p.keys.len();
                    if i + n <= keys.len() && keys[i..i + n] == p.keys[..] {
                        found.push(RawMatch::new(p, id, i, i + n, 0, 0, &toks, &norm));
                    }
                }
            }
            if fuzzy && !self.fuzzy_first.is_empty() {
                let mut candidates: Vec<usize> = self
                    .by_first
                    .get(&keys[i])
                    .map(|v| {
                        v.iter()
                            .copied()
                            .filter(|&id| self.fuzzy_phrase[id])
                            .collect()
                    })
                    .unwrap_or_default();
                // A word of n letters may differ by `allowed_edits(n)` at most, so deletion
                // variants deeper than that can never lead to a match.
                if chars[i].len() <= 32 && allowed_edits(chars[i].len()) > 0 {
                    self.deletion_candidates(&chars[i], &mut candidates);
                }
                if let Some(ids) = stems.get(i).and_then(|st| self.fuzzy_stem_first.get(st)) {
                    candidates.extend(ids);
                }
                candidates.sort_unstable();
                candidates.dedup();
                for &id in &candidates {
                    let p = &self.phrases[id];
                    let n = p.keys.len();
                    if i + n > keys.len() || keys[i..i + n] == p.keys[..] {
                        continue;
                    }
                    let mut edits = 0;
                    let mut letters = 0;
                    let mut ok = true;
                    for k in 0..n {
                        let (a, b) = (&chars[i + k], &p.chars[k]);
                        letters += b.len();
                        if keys[i + k] == p.keys[k] {
                            continue;
                        }
                        // Same stem ("running" / "run"): one edit's worth of doubt.
                        if stems
                            .get(i + k)
                            .is_some_and(|st| p.stems.get(k) == Some(st))
                        {
                            edits += 1;
                            continue;
                        }
                        match edit_distance(a, b, allowed_edits(b.len().min(a.len()))) {
                            Some(d) if d > 0 => edits += d,
                            Some(_) => {}
                            None => {
                                ok = false;
                                break;
                            }
                        }
                    }
                    if ok && edits > 0 {
                        found.push(RawMatch::new(p, id, i, i + n, edits, letters, &toks, &norm));
                    }
                }
            }
        }
        found
    }

    /// Adds the fuzzy phrases whose first word shares a deletion variant with `word` (the
    /// symmetric-deletion index lookup), some more than once.
    fn deletion_candidates(&self, word: &[char], candidates: &mut Vec<usize>) {
        let d = allowed_edits(word.len());
        if d != 1 {
            for variant in deletions(word, d) {
                if let Some(ids) = self.fuzzy_first.get(&variant) {
                    candidates.extend(ids);
                }
            }
            return;
        }
        // The word and its one-letter deletions, built in one buffer.
        let mut variant = String::with_capacity(word.len() * 4);
        for skip in std::iter::once(None).chain((0..word.len()).map(Some)) {
            variant.clear();
            variant.extend(
                word.iter()
                    .enumerate()
                    .filter(|&(k, _)| Some(k) != skip)
                    .map(|(_, c)| c),
            );
            if let Some(ids) = self.fuzzy_first.get(variant.as_str()) {
                candidates.extend(ids);
            }
        }
    }

    /// Recognise dictionary, fuzzy, contextual and pattern entities in `text`.
    pub fn recognize(&self, text: &str) -> Vec<EntityMatch> {
        let text = truncated(text);
        let matches = self.dictionary_matches(&text, true);
        self.entities_of(&text, matches)
    }

    /// [`Self::recognize`] of a scanned text.
    pub fn recognize_scan(&self, scan: Scan<'_>) -> Vec<EntityMatch> {
        self.entities_of(&scan.text, scan.matches)
    }

    /// The entity mentions of `text` (at most MAX_INPUT_CHARS): its resolved dictionary
    /// `matches`, then its pattern matches.
    fn entities_of(&self, text: &str, matches: Vec<RawMatch>) -> Vec<EntityMatch> {
        let mut out = Vec::new();
        for m in matches {
            let def = &self.entities[m.entity];
            let literal = char_slice(text, m.location.0, m.location.1);
            let value = match m.value {
                Some(v) => def.values[v].clone(),
                None => literal.clone(),
            };
            let confidence = if m.edits == 0 {
                1.0
            } else {
                (1.0 - m.edits as f32 / m.letters.max(1) as f32).clamp(0.0, 0.99)
            };
            out.push(EntityMatch {
                entity: def.name.clone(),
                location: m.location,
                value: Value::String(value),
                confidence,
                literal,
                extra: Map::new(),
            });
        }
        out.extend(self.pattern_matches(text));
        out.sort_by_key(|e| e.location.0);
        out
    }

    fn pattern_matches(&self, text: &str) -> Vec<EntityMatch> {
        if self.patterns.is_empty() {
            return Vec::new();
        }
        // Byte offset -> char offset.
        let mut char_at = vec![0usize; text.len() + 1];
        let mut c = 0;
        for (b, ch) in text.char_indices() {
            for slot in char_at.iter_mut().skip(b).take(ch.len_utf8()) {
                *slot = c;
            }
            c += 1;
        }
        char_at[text.len()] = c;
        let mut out: Vec<EntityMatch> = Vec::new();
        for p in &self.patterns {
            for caps in p.regex.captures_iter(text) {
                let Some(whole) = caps.get(0) else { continue };
                if whole.as_str().is_empty() {
                    continue;
                }
                let loc = (char_at[whole.start()], char_at[whole.end()]);
                let groups: Vec<Value> = caps
                    .iter()
                    .enumerate()
                    .filter_map(|(gi, g)| {
                        g.map(|g| {
                            json!({"group": format!("group_{gi}"), "location": [char_at[g.start()], char_at[g.end()]]})
                        })
                    })
                    .collect();
                let name = &self.entities[p.entity].name;
                // One match per entity and span (several patterns may match the same text).
                if out.iter().any(|o| &o.entity == name && o.location == loc) {
                    continue;
                }
                let mut extra = Map::new();
                extra.insert("groups".into(), Value::Array(groups));
                out.push(EntityMatch {
                    entity: name.clone(),
                    location: loc,
                    value: Value::String(p.value.clone()),
                    confidence: 1.0,
                    literal: whole.as_str().to_string(),
                    extra,
                });
            }
        }
        out
    }

    /// Approximate heap bytes.
    pub fn memory_bytes(&self) -> usize {
        self.phrases
            .iter()
            .map(|p| 64 + p.keys.iter().map(|k| k.len() * 5 + 48).sum::<usize>())
            .sum::<usize>()
            + self.patterns.len() * 4096
    }
}

/// Per entity: longest first, then exact before fuzzy; overlapping shorter ones dropped;
/// in input order.
fn resolve(mut found: Vec<RawMatch>) -> Vec<RawMatch> {
    found.sort_by(|a, b| {
        (b.end - b.start)
            .cmp(&(a.end - a.start))
            .then(a.edits.cmp(&b.edits))
            .then(a.start.cmp(&b.start))
    });
    let mut kept: Vec<RawMatch> = Vec::new();
    for m in found {
        let clash = kept
            .iter()
            .any(|k| k.entity == m.entity && k.start < m.end && m.start < k.end);
        if !clash {
            kept.push(m);
        }
    }
    kept.sort_by_key(|m| m.start);
    kept
}

/// The first MAX_INPUT_CHARS characters of `text` (borrowed when it is no longer).
fn truncated(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(MAX_INPUT_CHARS) {
        Some((end, _)) => Cow::Owned(text[..end].to_owned()),
        None => Cow::Borrowed(text),
    }
}

/// One input's dictionary scan (see [`EntityRecognizer::scan`]).
#[derive(Debug, Clone)]
pub struct Scan<'t> {
    /// The input, cut at MAX_INPUT_CHARS.
    text: Cow<'t, str>,
    /// Resolved matches, fuzzy ones included.
    matches: Vec<RawMatch>,
    /// `@entity` / `@entity:value` of the exact matches of the whole input.
    pub feature_tokens: Vec<String>,
}

#[derive(Debug, Clone)]
struct RawMatch {
    entity: usize,
    value: Option<usize>,
    start: usize,
    end: usize,
    edits: usize,
    letters: usize,
    location: (usize, usize),
}

impl RawMatch {
    #[allow(clippy::too_many_arguments)]
    fn new(
        p: &Phrase,
        _id: usize,
        start: usize,
        end: usize,
        edits: usize,
        letters: usize,
        toks: &[Token],
        norm: &Normalized,
    ) -> RawMatch {
        let location = norm.original_span(toks[start].start, toks[end - 1].end);
        RawMatch {
            entity: p.entity,
            value: p.value,
            start,
            end,
            edits,
            letters,
            location,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recognizer(entities: Value) -> EntityRecognizer {
        EntityRecognizer::from_workspace(&json!({"language": "en", "entities": entities}), "en")
            .expect("valid entities")
    }

    fn summary(r: &EntityRecognizer, text: &str) -> Vec<(String, String, (usize, usize), f32)> {
        r.recognize(text)
            .into_iter()
            .map(|e| {
                (
                    e.entity,
                    e.value.as_str().unwrap_or_default().to_string(),
                    e.location,
                    e.confidence,
                )
            })
            .collect()
    }

    fn sizes() -> EntityRecognizer {
        recognizer(json!([
            {"entity": "size", "values": [
                {"value": "large", "synonyms": ["big", "extra large", "huge"]},
                {"value": "small", "synonyms": ["little"]}
            ]},
            {"entity": "city", "fuzzy_match": true, "values": [
                {"value": "New York", "synonyms": ["NYC", "big apple"]},
                {"value": "Munich", "synonyms": ["München"]}
            ]}
        ]))
    }

    #[test]
    fn synonyms_match_case_insensitively_with_value_and_char_location() {
        let r = sizes();
        assert_eq!(
            summary(&r, "I want a BIG pizza"),
            vec![("size".into(), "large".into(), (9, 12), 1.0)]
        );
    }

    #[test]
    fn multi_word_synonym_wins_over_its_shorter_part() {
        let r = sizes();
        assert_eq!(
            summary(&r, "an extra large one"),
            vec![("size".into(), "large".into(), (3, 14), 1.0)]
        );
    }

    #[test]
    fn value_text_itself_matches_and_whole_words_only() {
        let r = sizes();
        assert_eq!(
            summary(&r, "small"),
            vec![("size".into(), "small".into(), (0, 5), 1.0)]
        );
        assert!(summary(&r, "smallish bigger").is_empty());
    }

    #[test]
    fn plural_and_singular_match() {
        let r = recognizer(json!([{"entity": "fruit", "values": [
            {"value": "cherry", "synonyms": ["berries"]}
        ]}]));
        assert_eq!(summary(&r, "two cherries")[0].1, "cherry");
        assert_eq!(summary(&r, "one berry")[0].1, "cherry");
    }

    #[test]
    fn accents_and_punctuation_do_not_matter_and_offsets_count_chars() {
        let r = sizes();
        // "München" written without the umlaut, after a multi-byte char.
        assert_eq!(
            summary(&r, "é Munchen!"),
            vec![("city".into(), "Munich".into(), (2, 9), 1.0)]
        );
        assert_eq!(summary(&r, "to nyc.")[0].2, (3, 6));
    }

    #[test]
    fn fuzzy_entity_matches_misspellings_with_confidence_below_one() {
        let r = sizes();
        let m = summary(&r, "flights to Munnich");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].1, "Munich");
        assert!(m[0].3 < 1.0 && m[0].3 > FUZZY_THRESHOLD, "{}", m[0].3);
        let m = summary(&r, "the big appel");
        assert!(m
            .iter()
            .any(|x| x.0 == "city" && x.1 == "New York" && x.3 < 1.0));
    }

    #[test]
    fn fuzzy_entity_matches_other_word_forms_by_stem() {
        let r = recognizer(
            json!([{"entity": "activity", "fuzzy_match": true, "values": [
                {"value": "run", "synonyms": ["jog"]}
            ]}]),
        );
        let m = summary(&r, "I was running and jogging");
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m
            .iter()
            .all(|x| x.1 == "run" && x.3 < 1.0 && x.3 > FUZZY_THRESHOLD));
    }

    #[test]
    fn non_fuzzy_entity_ignores_misspellings() {
        let r = sizes();
        assert!(summary(&r, "a smal one").is_empty());
    }

    #[test]
    fn different_entities_may_overlap() {
        let r = sizes();
        // "big" is @size, "big apple" is @city.
        let m = summary(&r, "the big apple");
        assert!(m.iter().any(|x| x.0 == "size"));
        assert!(m.iter().any(|x| x.0 == "city" && x.2 == (4, 13)));
    }

    #[test]
    fn pattern_entity_returns_groups_and_literal() {
        let r = recognizer(json!([{"entity": "phone", "values": [
            {"value": "us", "type": "patterns", "patterns": ["\\((\\d{3})\\) (\\d{3})-(\\d{4})"]}
        ]}]));
        let e = r.recognize("café (555) 123-4567");
        assert_eq!(e.len(), 1);
        let j = e[0].to_json();
        assert_eq!(j["location"], json!([5, 19]));
        assert_eq!(j["value"], json!("us"));
        assert_eq!(j["literal"], json!("(555) 123-4567"));
        assert_eq!(
            j["groups"][0],
            json!({"group": "group_0", "location": [5, 19]})
        );
        assert_eq!(
            j["groups"][1],
            json!({"group": "group_1", "location": [6, 9]})
        );
        assert_eq!(j["groups"].as_array().map(Vec::len), Some(4));
    }

    #[test]
    fn invalid_pattern_is_rejected_not_fatal() {
        let r = recognizer(json!([{"entity": "bad", "values": [
            {"value": "x", "type": "patterns", "patterns": ["(unclosed"]}
        ]}]));
        assert_eq!(r.rejected_patterns().len(), 1);
        assert!(r.recognize("(unclosed").is_empty());
    }

    #[test]
    fn contextual_mentions_are_recognised_with_literal_value() {
        let ws = json!({"language": "en", "intents": [{"intent": "order", "examples": [
            {"text": "I want a margherita please", "mentions": [{"entity": "pizza", "location": [9, 19]}]}
        ]}]});
        let r = EntityRecognizer::from_workspace(&ws, "en").expect("valid");
        assert_eq!(
            summary(&r, "one Margherita"),
            vec![("pizza".into(), "Margherita".into(), (4, 14), 1.0)]
        );
    }

    #[test]
    fn feature_tokens_name_entity_and_value() {
        let r = sizes();
        assert_eq!(r.feature_tokens("huge"), vec!["@size", "@size:large"]);
    }

    #[test]
    fn one_deletion_candidates_are_those_of_the_deletion_variants() {
        let r = sizes();
        for word in [
            "yorkk", "newy", "muich", "munich", "abcd", "aaaa", "münchen",
        ] {
            let chars: Vec<char> = word.chars().collect();
            let mut fast = Vec::new();
            r.deletion_candidates(&chars, &mut fast);
            let mut slow: Vec<usize> = deletions(&chars, 1)
                .iter()
                .filter_map(|v| r.fuzzy_first.get(v))
                .flatten()
                .copied()
                .collect();
            for v in [&mut fast, &mut slow] {
                v.sort_unstable();
                v.dedup();
            }
            assert_eq!(fast, slow, "{word}");
        }
    }

    #[test]
    fn one_scan_gives_the_feature_tokens_and_entities_of_two() {
        let r = recognizer(json!([
            {"entity": "size", "values": [
                {"value": "large", "synonyms": ["big", "extra large", "huge"]},
                {"value": "small", "synonyms": ["little"]}
            ]},
            {"entity": "city", "fuzzy_match": true, "values": [
                {"value": "New York", "synonyms": ["NYC", "big apple"]},
                {"value": "Munich", "synonyms": ["München"]},
                {"value": "York"}
            ]},
            {"entity": "num", "values": [{"value": "n", "type": "patterns", "patterns": ["\\d+"]}]}
        ]));
        let long = "big ".repeat(MAX_INPUT_CHARS / 4) + "huge New York";
        for text in [
            "",
            "huge",
            "an extra large pizza in New Yrok or york, big apple",
            "Nwe York and new york, little Munchen 42",
            "big apple big aple large smal",
            &long,
        ] {
            let scan = r.scan(text);
            assert_eq!(scan.feature_tokens, r.feature_tokens(text), "{text}");
            assert_eq!(r.recognize_scan(scan), r.recognize(text), "{text}");
        }
    }

    #[test]
    fn resolve_drops_shorter_same_entity_and_numbers_inside_dates() {
        let mk = |entity: &str, s, e| EntityMatch {
            entity: entity.into(),
            location: (s, e),
            value: json!(""),
            confidence: 1.0,
            literal: String::new(),
            extra: Map::new(),
        };
        let mut v = vec![
            mk("sys-number", 8, 9),
            mk("sys-date", 0, 12),
            mk("sys-currency", 20, 23),
            mk("sys-number", 21, 23),
            mk("a", 30, 35),
            mk("a", 31, 33),
        ];
        sort_and_resolve(&mut v);
        let kept: Vec<(&str, usize)> = v
            .iter()
            .map(|e| (e.entity.as_str(), e.location.0))
            .collect();
        assert_eq!(
            kept,
            vec![
                ("sys-date", 0),
                ("sys-currency", 20),
                ("sys-number", 21),
                ("a", 30)
            ]
        );
    }

    #[test]
    fn edit_distance_counts_transpositions_once() {
        let a: Vec<char> = "munich".chars().collect();
        let b: Vec<char> = "mucnih".chars().collect();
        assert_eq!(edit_distance(&a, &a, 1), Some(0));
        assert_eq!(
            edit_distance(&a, &"munihc".chars().collect::<Vec<_>>(), 1),
            Some(1)
        );
        assert_eq!(edit_distance(&a, &b, 1), None);
    }

    #[test]
    fn deletion_variants() {
        let w: Vec<char> = "abc".chars().collect();
        assert_eq!(deletions(&w, 1), vec!["ab", "abc", "ac", "bc"]);
        assert_eq!(deletions(&w, 0), vec!["abc"]);
    }

    #[test]
    fn singular_forms() {
        assert_eq!(singular("cities"), "city");
        assert_eq!(singular("boxes"), "box");
        assert_eq!(singular("cars"), "car");
        assert_eq!(singular("bus"), "bus");
        assert_eq!(singular("glass"), "glass");
    }
}
