//! A small scanner for system-entity recognition: digits, words and symbols with their character
//! offsets in the original text.

/// What a scanned token is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Digits, with `,` thousands groups and a `.` fraction (`1,234.5`).
    Num(f64),
    /// A word, lower case, accents kept (`o'clock` keeps its apostrophe).
    Word(String),
    /// Any other non-space character.
    Sym(char),
}

/// One scanned token.
#[derive(Debug, Clone, PartialEq)]
pub struct Tok {
    /// Kind and value.
    pub kind: Kind,
    /// Character offset where it starts.
    pub start: usize,
    /// Character offset where it ends (exclusive).
    pub end: usize,
    /// The digits as written (for `Num`): to tell "05" from "5" and count digits.
    pub raw: String,
}

impl Tok {
    /// The word, if this is one.
    pub fn word(&self) -> Option<&str> {
        match &self.kind {
            Kind::Word(w) => Some(w),
            _ => None,
        }
    }
    /// The number, if this is one.
    pub fn num(&self) -> Option<f64> {
        match self.kind {
            Kind::Num(n) => Some(n),
            _ => None,
        }
    }
    /// Whether this is the symbol `c`.
    pub fn is_sym(&self, c: char) -> bool {
        self.kind == Kind::Sym(c)
    }
    /// Whether this is the word `w`.
    pub fn is_word(&self, w: &str) -> bool {
        self.word() == Some(w)
    }
}

/// Scan `text` into tokens.
pub fn scan(text: &str) -> Vec<Tok> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let mut raw = String::new();
            while i < chars.len() && chars[i].is_ascii_digit() {
                raw.push(chars[i]);
                i += 1;
            }
            // Thousands groups: ",ddd" (exactly three digits, not followed by a digit).
            while i + 3 < chars.len()
                && chars[i] == ','
                && !raw.is_empty()
                && chars[i + 1..i + 4].iter().all(char::is_ascii_digit)
                && !chars.get(i + 4).is_some_and(char::is_ascii_digit)
            {
                raw.extend(&chars[i + 1..i + 4]);
                i += 4;
            }
            if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
                raw.push('.');
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    raw.push(chars[i]);
                    i += 1;
                }
            }
            let value = if raw.starts_with('.') {
                format!("0{raw}").parse().unwrap_or(0.0)
            } else {
                raw.parse().unwrap_or(0.0)
            };
            out.push(Tok {
                kind: Kind::Num(value),
                start,
                end: i,
                raw,
            });
            continue;
        }
        if c.is_alphabetic() {
            let mut w = String::new();
            while i < chars.len()
                && (chars[i].is_alphabetic()
                    || ((chars[i] == '\'' || chars[i] == '\u{2019}')
                        && chars.get(i + 1).is_some_and(|c| c.is_alphabetic())))
            {
                if chars[i] == '\u{2019}' {
                    w.push('\'');
                } else {
                    w.extend(chars[i].to_lowercase());
                }
                i += 1;
            }
            out.push(Tok {
                kind: Kind::Word(w),
                start,
                end: i,
                raw: String::new(),
            });
            continue;
        }
        out.push(Tok {
            kind: Kind::Sym(c),
            start,
            end: i + 1,
            raw: String::new(),
        });
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_numbers_words_and_symbols_with_char_offsets() {
        let t = scan("é $1,234.50 at 5pm, o'clock .5");
        let kinds: Vec<Kind> = t.iter().map(|t| t.kind.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                Kind::Word("é".into()),
                Kind::Sym('$'),
                Kind::Num(1234.5),
                Kind::Word("at".into()),
                Kind::Num(5.0),
                Kind::Word("pm".into()),
                Kind::Sym(','),
                Kind::Word("o'clock".into()),
                Kind::Num(0.5),
            ]
        );
        assert_eq!((t[2].start, t[2].end), (3, 11));
    }

    #[test]
    fn comma_between_numbers_is_not_a_thousands_group() {
        let t = scan("1,2 and 12,34");
        assert_eq!(t[0].kind, Kind::Num(1.0));
        assert_eq!(t[1].kind, Kind::Sym(','));
    }
}
