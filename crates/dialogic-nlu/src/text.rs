//! Text normalisation and tokenisation that keeps character offsets into the original input.
//!
//! Watson reports entity `location`s as character (not byte) offsets into the input text, so every
//! normalised character remembers which original character it came from.

use std::collections::HashMap;
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// A normalised text: lower case, accents stripped (NFKD minus combining marks), with a map from
/// each normalised char back to the index of the original char it came from.
#[derive(Debug, Clone, Default)]
pub struct Normalized {
    /// Normalised characters.
    pub chars: Vec<char>,
    /// `origin[i]` = character index in the original text of `chars[i]`.
    pub origin: Vec<usize>,
    /// Number of characters in the original text.
    pub original_len: usize,
}

impl Normalized {
    /// Normalise `text`.
    pub fn new(text: &str) -> Normalized {
        let mut chars = Vec::with_capacity(text.len());
        let mut origin = Vec::with_capacity(text.len());
        let mut n = 0;
        for (i, ch) in text.chars().enumerate() {
            n = i + 1;
            if ch.is_ascii() {
                chars.push(ch.to_ascii_lowercase());
                origin.push(i);
                continue;
            }
            decompose_compatible(ch, |d| {
                if is_combining_mark(d) {
                    return;
                }
                for l in d.to_lowercase() {
                    chars.push(map_punctuation(l));
                    origin.push(i);
                }
            });
        }
        Normalized {
            chars,
            origin,
            original_len: n,
        }
    }

    /// Original character span `[start, end)` of the normalised span `[s, e)`.
    pub fn original_span(&self, s: usize, e: usize) -> (usize, usize) {
        if s >= e || s >= self.chars.len() {
            let p = self.origin.get(s).copied().unwrap_or(self.original_len);
            return (p, p);
        }
        let start = self.origin[s];
        let end = self.origin[e - 1] + 1;
        (start, end)
    }

    /// The normalised text as a string.
    pub fn as_string(&self) -> String {
        self.chars.iter().collect()
    }
}

/// Typographic quotes and dashes to their ASCII forms, so "don’t" and "don't" tokenise alike.
fn map_punctuation(c: char) -> char {
    match c {
        '\u{2018}' | '\u{2019}' | '\u{02bc}' | '\u{2032}' => '\'',
        '\u{201c}' | '\u{201d}' => '"',
        '\u{2010}'..='\u{2015}' => '-',
        _ => c,
    }
}

/// One word of a normalised text.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The word (normalised; apostrophes inside a word dropped: "don't" -> "dont").
    pub text: String,
    /// Normalised char span `[start, end)`.
    pub start: usize,
    /// End (exclusive) in normalised chars.
    pub end: usize,
}

/// Split a normalised text into words: maximal runs of letters and digits, where an apostrophe
/// between two letters joins them.
pub fn tokenize(n: &Normalized) -> Vec<Token> {
    let mut out = Vec::new();
    let c = &n.chars;
    let mut i = 0;
    while i < c.len() {
        if !c[i].is_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        let mut word = String::new();
        while i < c.len() {
            if c[i].is_alphanumeric() {
                word.push(c[i]);
                i += 1;
            } else if c[i] == '\''
                && i + 1 < c.len()
                && c[i + 1].is_alphabetic()
                && i > start
                && c[i - 1].is_alphabetic()
            {
                i += 1;
            } else {
                break;
            }
        }
        out.push(Token {
            text: word,
            start,
            end: i,
        });
    }
    out
}

/// Stemmer per skill language (Snowball); `None` for languages without one.
#[derive(Default)]
pub struct Stemmer {
    /// The algorithm's number (its memo's index) and the stemmer.
    inner: Option<(usize, rust_stemmers::Stemmer)>,
}

/// Words longer than this are stemmed every time, not remembered.
const MEMO_WORD_MAX: usize = 32;
/// A thread's memo is emptied when it holds this many words (text from clients is unbounded).
const MEMO_CAP: usize = 20_000;

thread_local! {
    /// Stems already computed on this thread, one map per algorithm: one message stems its
    /// words once per intent-model head and once more for the entity scan, and the same short
    /// words come back in message after message.
    static STEMS: std::cell::RefCell<Vec<HashMap<Box<str>, Box<str>>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl std::fmt::Debug for Stemmer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stemmer")
            .field("enabled", &self.inner.is_some())
            .finish()
    }
}

impl Stemmer {
    /// Stemmer for a Watson language code (`en`, `de`, `pt-br`, ...). Unknown codes get none.
    pub fn for_language(code: &str) -> Stemmer {
        use rust_stemmers::Algorithm as A;
        let base = code
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let alg = match base.as_str() {
            "en" => Some(A::English),
            "de" => Some(A::German),
            "fr" => Some(A::French),
            "es" => Some(A::Spanish),
            "pt" => Some(A::Portuguese),
            "it" => Some(A::Italian),
            "nl" => Some(A::Dutch),
            "sv" => Some(A::Swedish),
            "da" => Some(A::Danish),
            "no" | "nb" | "nn" => Some(A::Norwegian),
            "fi" => Some(A::Finnish),
            "ru" => Some(A::Russian),
            "hu" => Some(A::Hungarian),
            "ro" => Some(A::Romanian),
            "tr" => Some(A::Turkish),
            "ar" => Some(A::Arabic),
            _ => None,
        };
        Stemmer {
            inner: alg.map(|a| (a as usize, rust_stemmers::Stemmer::create(a))),
        }
    }

    /// Stem one normalised word (identity without a stemmer). Short words are remembered per
    /// thread (see `STEMS`): a lookup costs a few dozen instructions, a Snowball stem a thousand.
    pub fn stem<'a>(&self, word: &'a str) -> std::borrow::Cow<'a, str> {
        let Some((id, stemmer)) = &self.inner else {
            return std::borrow::Cow::Borrowed(word);
        };
        if word.len() > MEMO_WORD_MAX {
            return stemmer.stem(word);
        }
        STEMS.with(|memo| {
            let mut memo = memo.borrow_mut();
            if memo.len() <= *id {
                memo.resize_with(*id + 1, HashMap::new);
            }
            let map = &mut memo[*id];
            if let Some(stem) = map.get(word) {
                return std::borrow::Cow::Owned(stem.to_string());
            }
            let stem = stemmer.stem(word);
            if map.len() >= MEMO_CAP {
                map.clear();
            }
            map.insert(word.into(), stem.as_ref().into());
            stem
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_strips_accents_and_keeps_offsets() {
        let n = Normalized::new("Café ÉCOLE");
        assert_eq!(n.as_string(), "cafe ecole");
        assert_eq!(n.original_span(5, 10), (5, 10));
        assert_eq!(n.original_span(0, 4), (0, 4));
    }

    #[test]
    fn decomposed_input_maps_back_to_original_chars() {
        // "e" + combining acute: two original chars, one normalised char.
        let n = Normalized::new("e\u{301}x");
        assert_eq!(n.as_string(), "ex");
        assert_eq!(n.original_span(1, 2), (2, 3));
    }

    #[test]
    fn tokenizes_words_and_joins_apostrophes() {
        let n = Normalized::new("Don’t stop, it's 5pm!");
        let t: Vec<String> = tokenize(&n).into_iter().map(|t| t.text).collect();
        assert_eq!(t, vec!["dont", "stop", "its", "5pm"]);
    }

    #[test]
    fn remembered_stems_are_the_stems() {
        let en = Stemmer::for_language("en");
        let de = Stemmer::for_language("de");
        for _ in 0..3 {
            // The same word in two languages keeps two answers.
            assert_eq!(en.stem("katzen"), "katzen");
            assert_eq!(de.stem("katzen"), "katz");
            assert_eq!(en.stem("running"), "run");
        }
        let long = "running".repeat(10);
        assert_eq!(en.stem(&long), en.stem(&long));
    }

    #[test]
    fn stems_english_and_german_and_passes_unknown() {
        assert_eq!(Stemmer::for_language("en").stem("running"), "run");
        assert_eq!(Stemmer::for_language("de").stem("katzen"), "katz");
        assert_eq!(Stemmer::for_language("xx").stem("running"), "running");
    }
}
