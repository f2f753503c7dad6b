//! Sparse lexical features for the fast intent model: stemmed word 1-2 grams, char n-grams inside
//! word boundaries, and entity tokens, TF-IDF weighted and L2-normalised per group.
//!
//! Features are identified by a 64-bit hash of their text; the vocabulary maps the hashes seen in
//! training to dense column indices (a feature never seen in training has no weight anyway).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::lexicon::Lexicon;
use crate::text::{tokenize, Normalized, Stemmer};

/// A sparse vector: `(column, value)` pairs, columns unique.
pub type SparseVec = Vec<(u32, f32)>;

/// Which features to extract (switchable to measure what each adds).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureConfig {
    /// Stemmed word unigrams.
    pub words: bool,
    /// Stemmed word bigrams (with sentence start/end markers).
    pub bigrams: bool,
    /// Smallest char n-gram (0 = no char n-grams).
    pub char_min: usize,
    /// Largest char n-gram.
    pub char_max: usize,
    /// Stem words (Snowball, per skill language).
    pub stem: bool,
    /// Weight of the char group relative to the word group (each group is L2-normalised).
    pub char_weight: f32,
    /// Weight of the entity group.
    pub entity_weight: f32,
    /// Drop features seen in fewer documents than this.
    pub min_df: u32,
    /// Weight of the built-in concept lexicon group (0 = off; English only).
    pub concept_weight: f32,
    /// Also emit concept-word bigrams ("^up volume").
    pub concept_bigrams: bool,
    /// Also emit the unstemmed word when it differs from its stem.
    pub raw_words: bool,
    /// Weight of a word bigram relative to a word inside the word group (multiplies its IDF).
    pub bigram_weight: f32,
    /// Char n-grams of length `n` weigh `(n / 3) ^ char_len_power` inside the char group
    /// (0 = every length alike).
    pub char_len_power: f32,
    /// Weight of the word-pair group: every unordered pair of distinct stems of the text, at
    /// any distance (0 = off).
    pub pair_weight: f32,
    /// Spelled-out English numbers ("two", "forty") become the `<num>` word, as digits do.
    pub number_words: bool,
}

/// Spelled-out numbers read as `<num>` with `FeatureConfig::number_words`.
const NUMBER_WORDS: &[&str] = &[
    "zero",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "sixty",
    "seventy",
    "eighty",
    "ninety",
    "hundred",
    "thousand",
];

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            words: true,
            bigrams: true,
            char_min: 2,
            char_max: 5,
            stem: true,
            char_weight: 1.0,
            entity_weight: 0.7,
            min_df: 1,
            concept_weight: 0.5,
            concept_bigrams: false,
            raw_words: false,
            bigram_weight: 1.0,
            char_len_power: 0.0,
            pair_weight: 0.0,
            number_words: false,
        }
    }
}

const GROUP_WORD: u8 = 0;
const GROUP_CHAR: u8 = 1;
const GROUP_ENTITY: u8 = 2;
const GROUP_CONCEPT: u8 = 3;
const GROUP_PAIR: u8 = 4;
const GROUPS: usize = 5;

/// Identity hasher for keys that are already good 64-bit hashes.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// FNV-1a over the group tag and the feature's chars, finished with a mixer.
fn hash_chars(group: u8, kind: u8, chars: impl Iterator<Item = char>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in [group, kind] {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    for c in chars {
        h ^= u64::from(c as u32);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // splitmix64 finaliser: FNV's low bits are weak for the hash map.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Raw (unweighted) features of one text: hash -> (group, count).
#[derive(Debug, Default)]
struct Raw {
    /// `(hash, group, kind)`: kind 0 = plain, 1 = word bigram, `n` >= 2 = char n-gram of n.
    items: Vec<(u64, u8, u8)>,
}

/// Extracts features and holds the fitted vocabulary and IDF weights.
pub struct Featurizer {
    config: FeatureConfig,
    stemmer: Stemmer,
    lexicon: Lexicon,
    vocab: IdMap<u32>,
    idf: Vec<f32>,
    group: Vec<u8>,
}

impl std::fmt::Debug for Featurizer {
    // The vocabulary can hold hundreds of thousands of entries: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Featurizer")
            .field("config", &self.config)
            .field("features", &self.idf.len())
            .finish()
    }
}

impl Featurizer {
    /// A featurizer with no vocabulary yet (stemmer and lexicon set up for `language`).
    fn empty(config: FeatureConfig, language: &str) -> Featurizer {
        let stemmer = if config.stem {
            Stemmer::for_language(language)
        } else {
            Stemmer::for_language("none")
        };
        let lexicon = if config.concept_weight > 0.0 {
            // The lexicon is keyed by English stems whatever `stem` says.
            Lexicon::for_language(language, &Stemmer::for_language(language))
        } else {
            Lexicon::default()
        };
        Featurizer {
            config,
            stemmer,
            lexicon,
            vocab: IdMap::default(),
            idf: Vec::new(),
            group: Vec::new(),
        }
    }

    /// The fitted vocabulary as `(hash, column)` pairs sorted by column, the IDF weights and the
    /// feature groups: what [`Featurizer::from_parts`] takes back (the model cache).
    pub fn parts(&self) -> (Vec<(u64, u32)>, &[f32], &[u8]) {
        let mut vocab: Vec<(u64, u32)> = self.vocab.iter().map(|(&h, &c)| (h, c)).collect();
        vocab.sort_unstable_by_key(|&(_, c)| c);
        (vocab, &self.idf, &self.group)
    }

    /// A featurizer from [`Featurizer::parts`]; `None` when they do not fit together.
    pub fn from_parts(
        config: FeatureConfig,
        language: &str,
        vocab: Vec<(u64, u32)>,
        idf: Vec<f32>,
        group: Vec<u8>,
    ) -> Option<Featurizer> {
        let n = idf.len();
        if group.len() != n
            || vocab.len() != n
            || vocab.iter().any(|&(_, c)| c as usize >= n)
            || group.iter().any(|&g| g as usize >= GROUPS)
        {
            return None;
        }
        let mut f = Featurizer::empty(config, language);
        f.vocab = vocab.into_iter().collect();
        if f.vocab.len() != n {
            return None;
        }
        f.idf = idf;
        f.group = group;
        Some(f)
    }

    /// Fit the vocabulary and IDF on training texts. `extras[i]` are entity tokens of text i.
    pub fn fit(
        config: FeatureConfig,
        language: &str,
        texts: &[&str],
        extras: &[Vec<String>],
    ) -> Featurizer {
        let mut f = Featurizer::empty(config, language);
        let mut df: IdMap<(u32, u8, u8)> = IdMap::default();
        for (i, t) in texts.iter().enumerate() {
            let extra = extras.get(i).map(Vec::as_slice).unwrap_or(&[]);
            let mut raw = f.raw(t, extra);
            raw.items.sort_unstable();
            raw.items.dedup();
            for (h, g, k) in raw.items {
                let e = df.entry(h).or_insert((0, g, k));
                e.0 += 1;
            }
        }
        let n = texts.len() as f32;
        let mut keys: Vec<(u64, (u32, u8, u8))> = df
            .into_iter()
            .filter(|(_, (c, _, _))| *c >= f.config.min_df)
            .collect();
        keys.sort_unstable_by_key(|(h, _)| *h);
        for (h, (c, g, k)) in keys {
            let idx = f.idf.len() as u32;
            f.vocab.insert(h, idx);
            let kind = match k {
                0 => 1.0,
                1 => f.config.bigram_weight,
                len => (f32::from(len) / 3.0).powf(f.config.char_len_power),
            };
            f.idf
                .push((((1.0 + n) / (1.0 + c as f32)).ln() + 1.0) * kind);
            f.group.push(g);
        }
        f
    }

    /// Number of feature columns.
    pub fn dim(&self) -> usize {
        self.idf.len()
    }

    fn raw(&self, text: &str, extra: &[String]) -> Raw {
        let mut raw = Raw::default();
        let norm = Normalized::new(text);
        let tokens = tokenize(&norm);
        let c = &self.config;
        let mut stems: Vec<String> = Vec::with_capacity(tokens.len());
        for t in &tokens {
            let w = if t.text.chars().all(|c| c.is_ascii_digit())
                || (c.number_words && NUMBER_WORDS.contains(&t.text.as_str()))
            {
                "<num>".to_string()
            } else {
                self.stemmer.stem(&t.text).into_owned()
            };
            stems.push(w);
        }
        if c.words {
            for s in &stems {
                raw.items
                    .push((hash_chars(GROUP_WORD, 1, s.chars()), GROUP_WORD, 0));
            }
            if c.raw_words {
                for (t, s) in tokens.iter().zip(&stems) {
                    if &t.text != s {
                        raw.items
                            .push((hash_chars(GROUP_WORD, 3, t.text.chars()), GROUP_WORD, 0));
                    }
                }
            }
        }
        if c.bigrams {
            let mut prev: &str = "<s>";
            for s in stems
                .iter()
                .map(String::as_str)
                .chain(std::iter::once("</s>"))
            {
                let it = prev.chars().chain(std::iter::once(' ')).chain(s.chars());
                raw.items
                    .push((hash_chars(GROUP_WORD, 2, it), GROUP_WORD, 1));
                prev = s;
            }
        }
        if c.char_min > 0 {
            let mut buf: Vec<char> = Vec::with_capacity(32);
            for t in &tokens {
                buf.clear();
                buf.push(' ');
                buf.extend(t.text.chars());
                buf.push(' ');
                for n in c.char_min..=c.char_max {
                    if n > buf.len() {
                        break;
                    }
                    for w in buf.windows(n) {
                        raw.items.push((
                            hash_chars(GROUP_CHAR, n as u8, w.iter().copied()),
                            GROUP_CHAR,
                            n.max(2) as u8,
                        ));
                    }
                }
            }
        }
        if c.pair_weight > 0.0 {
            let mut uniq: Vec<&str> = stems.iter().map(String::as_str).collect();
            uniq.sort_unstable();
            uniq.dedup();
            for (i, a) in uniq.iter().enumerate() {
                for b in &uniq[i + 1..] {
                    let it = a.chars().chain(std::iter::once(' ')).chain(b.chars());
                    raw.items
                        .push((hash_chars(GROUP_PAIR, 0, it), GROUP_PAIR, 0));
                }
            }
        }
        if !self.lexicon.is_empty() {
            let concepts: Vec<&[&'static str]> =
                stems.iter().map(|s| self.lexicon.concepts(s)).collect();
            for (k, cs) in concepts.iter().enumerate() {
                for c in cs.iter() {
                    raw.items
                        .push((hash_chars(GROUP_CONCEPT, 0, c.chars()), GROUP_CONCEPT, 0));
                    if self.config.concept_bigrams {
                        if let Some(next) = stems.get(k + 1) {
                            let it = c.chars().chain(std::iter::once(' ')).chain(next.chars());
                            raw.items
                                .push((hash_chars(GROUP_CONCEPT, 1, it), GROUP_CONCEPT, 0));
                        }
                        if k > 0 {
                            let it = stems[k - 1]
                                .chars()
                                .chain(std::iter::once(' '))
                                .chain(c.chars());
                            raw.items
                                .push((hash_chars(GROUP_CONCEPT, 2, it), GROUP_CONCEPT, 0));
                        }
                    }
                }
            }
        }
        for e in extra {
            raw.items
                .push((hash_chars(GROUP_ENTITY, 0, e.chars()), GROUP_ENTITY, 0));
        }
        raw
    }

    /// TF-IDF vector of a text (sublinear TF, per-group L2 norm, group weights).
    pub fn transform(&self, text: &str, extra: &[String]) -> SparseVec {
        self.transform_with_coverage(text, extra).0
    }

    /// The TF-IDF vector and the share of the text's word features known to the vocabulary
    /// (1.0 for a text without words): a signal for out-of-scope inputs.
    pub fn transform_with_coverage(&self, text: &str, extra: &[String]) -> (SparseVec, f32) {
        let raw = self.raw(text, extra);
        let (mut words, mut known) = (0u32, 0u32);
        for (h, g, _) in &raw.items {
            if *g == GROUP_WORD {
                words += 1;
                if self.vocab.contains_key(h) {
                    known += 1;
                }
            }
        }
        let coverage = if words == 0 {
            1.0
        } else {
            known as f32 / words as f32
        };
        let mut counts: Vec<(u32, f32)> = raw
            .items
            .iter()
            .filter_map(|(h, _, _)| self.vocab.get(h).map(|&i| (i, 1.0)))
            .collect();
        counts.sort_unstable_by_key(|(i, _)| *i);
        let mut v: SparseVec = Vec::with_capacity(counts.len());
        for (i, c) in counts {
            match v.last_mut() {
                Some(last) if last.0 == i => last.1 += c,
                _ => v.push((i, c)),
            }
        }
        let mut norms = [0f32; GROUPS];
        for (i, x) in v.iter_mut() {
            *x = (1.0 + x.ln()) * self.idf[*i as usize];
            norms[self.group[*i as usize] as usize] += *x * *x;
        }
        let weights = [
            1.0,
            self.config.char_weight,
            self.config.entity_weight,
            self.config.concept_weight,
            self.config.pair_weight,
        ];
        let mut scale = [0f32; GROUPS];
        for g in 0..GROUPS {
            if norms[g] > 0.0 {
                scale[g] = weights[g] / norms[g].sqrt();
            }
        }
        for (i, x) in v.iter_mut() {
            *x *= scale[self.group[*i as usize] as usize];
        }
        (v, coverage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_features_regardless_of_case_punctuation_and_accents() {
        let f = Featurizer::fit(
            FeatureConfig::default(),
            "en",
            &["Book a table at the café", "cancel my order"],
            &[],
        );
        let a = f.transform("book a table at the cafe", &[]);
        let b = f.transform("BOOK a table, at the Café!!", &[]);
        assert_eq!(a, b);
        assert!(!a.is_empty());
    }

    #[test]
    fn unseen_text_has_few_features_and_groups_are_normalised() {
        let f = Featurizer::fit(FeatureConfig::default(), "en", &["hello there"], &[]);
        let v = f.transform("hello", &[]);
        let word: f32 = v
            .iter()
            .filter(|(i, _)| f.group[*i as usize] == GROUP_WORD)
            .map(|(_, x)| x * x)
            .sum();
        assert!((word - 1.0).abs() < 1e-4);
        assert!(f.transform("zzzz qqqq", &[]).is_empty());
    }

    #[test]
    fn entity_tokens_become_features() {
        let f = Featurizer::fit(
            FeatureConfig::default(),
            "en",
            &["i want a pizza"],
            &[vec!["@food".to_string()]],
        );
        let with = f.transform("i want sushi", &["@food".to_string()]);
        let without = f.transform("i want sushi", &[]);
        assert_eq!(with.len(), without.len() + 1);
    }
}
