//! Text normalisation and tokenisation that keeps character offsets into the original input.
//!
//! Watson reports entity `location`s as character (not byte) offsets into the input text, so every
//! normalised character remembers which original character it came from.

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
    inner: Option<rust_stemmers::Stemmer>,
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
            inner: alg.map(rust_stemmers::Stemmer::create),
        }
    }

    /// Stem one normalised word (identity without a stemmer).
    pub fn stem<'a>(&self, word: &'a str) -> std::borrow::Cow<'a, str> {
        match &self.inner {
            Some(s) => s.stem(word),
            None => std::borrow::Cow::Borrowed(word),
        }
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
    fn stems_english_and_german_and_passes_unknown() {
        assert_eq!(Stemmer::for_language("en").stem("running"), "run");
        assert_eq!(Stemmer::for_language("de").stem("katzen"), "katz");
        assert_eq!(Stemmer::for_language("xx").stem("running"), "running");
    }
}
