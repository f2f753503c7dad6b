//! `@sys-number`, `@sys-percentage` and `@sys-currency`: digits ("1,234.5", "-3"), English number
//! words ("twenty five", "two hundred and six", "three point five", "minus four"), a scale after
//! digits ("5 million"), percentages ("15%", "fifteen percent") and amounts ("$20", "20 dollars",
//! "€5", "50 cents").

use super::scan::{Kind, Tok};

/// A number found in the token stream.
#[derive(Debug, Clone, PartialEq)]
pub struct NumSpan {
    /// Value.
    pub value: f64,
    /// First token index.
    pub first: usize,
    /// One past the last token index.
    pub last: usize,
}

fn unit_word(w: &str) -> Option<f64> {
    Some(match w {
        "zero" | "oh" => 0.0,
        "one" => 1.0,
        "two" => 2.0,
        "three" => 3.0,
        "four" => 4.0,
        "five" => 5.0,
        "six" => 6.0,
        "seven" => 7.0,
        "eight" => 8.0,
        "nine" => 9.0,
        _ => return None,
    })
}

fn teen_word(w: &str) -> Option<f64> {
    Some(match w {
        "ten" => 10.0,
        "eleven" => 11.0,
        "twelve" => 12.0,
        "thirteen" => 13.0,
        "fourteen" => 14.0,
        "fifteen" => 15.0,
        "sixteen" => 16.0,
        "seventeen" => 17.0,
        "eighteen" => 18.0,
        "nineteen" => 19.0,
        _ => return None,
    })
}

fn tens_word(w: &str) -> Option<f64> {
    Some(match w {
        "twenty" => 20.0,
        "thirty" => 30.0,
        "forty" | "fourty" => 40.0,
        "fifty" => 50.0,
        "sixty" => 60.0,
        "seventy" => 70.0,
        "eighty" => 80.0,
        "ninety" => 90.0,
        _ => return None,
    })
}

fn scale_word(w: &str) -> Option<f64> {
    Some(match w {
        "thousand" => 1e3,
        "million" => 1e6,
        "billion" => 1e9,
        "trillion" => 1e12,
        _ => return None,
    })
}

/// Ordinal words "first".."thirty-first" as single words or tens + unit ordinal.
pub fn ordinal_word(w: &str) -> Option<u32> {
    Some(match w {
        "first" => 1,
        "second" => 2,
        "third" => 3,
        "fourth" => 4,
        "fifth" => 5,
        "sixth" => 6,
        "seventh" => 7,
        "eighth" => 8,
        "ninth" => 9,
        "tenth" => 10,
        "eleventh" => 11,
        "twelfth" => 12,
        "thirteenth" => 13,
        "fourteenth" => 14,
        "fifteenth" => 15,
        "sixteenth" => 16,
        "seventeenth" => 17,
        "eighteenth" => 18,
        "nineteenth" => 19,
        "twentieth" => 20,
        "thirtieth" => 30,
        _ => return None,
    })
}

/// Whether `w` is an English number word (cardinal).
pub fn is_number_word(w: &str) -> bool {
    unit_word(w).is_some() || teen_word(w).is_some() || tens_word(w).is_some()
}

#[derive(Clone, Copy, PartialEq)]
enum Last {
    None,
    A,
    Unit,
    Teen,
    Tens,
    Hundred,
    Scale,
    And,
}

/// Parse English number words starting at `i`: `(value, next index)`.
fn words_at(toks: &[Tok], i: usize) -> Option<(f64, usize)> {
    let (mut total, mut current) = (0f64, 0f64);
    let mut last = Last::None;
    let mut j = i;
    let mut end = i;
    while j < toks.len() {
        let t = &toks[j];
        // "twenty-five": a hyphen between tens and a unit, written without spaces.
        if t.is_sym('-') && last == Last::Tens {
            let next_unit = toks
                .get(j + 1)
                .and_then(Tok::word)
                .and_then(unit_word)
                .is_some();
            if next_unit && toks[j - 1].end == t.start && t.end == toks[j + 1].start {
                j += 1;
                continue;
            }
            break;
        }
        let Some(w) = t.word() else { break };
        if w == "a" && last == Last::None {
            let next = toks.get(j + 1).and_then(Tok::word);
            if next.is_some_and(|n| n == "hundred" || scale_word(n).is_some()) {
                last = Last::A;
                j += 1;
                continue;
            }
            break;
        }
        if let Some(u) = unit_word(w) {
            if w == "oh" && last == Last::None {
                break;
            }
            match last {
                Last::None | Last::Hundred | Last::Scale | Last::And => current += u,
                Last::Tens if current % 10.0 == 0.0 => current += u,
                _ => break,
            }
            last = Last::Unit;
        } else if let Some(v) = teen_word(w).or_else(|| tens_word(w)) {
            if !matches!(last, Last::None | Last::Hundred | Last::Scale | Last::And) {
                break;
            }
            current += v;
            last = if v < 20.0 { Last::Teen } else { Last::Tens };
        } else if w == "hundred" {
            if !matches!(last, Last::A | Last::Unit | Last::Teen | Last::Tens) {
                break;
            }
            current = if current == 0.0 {
                100.0
            } else {
                current * 100.0
            };
            last = Last::Hundred;
        } else if let Some(s) = scale_word(w) {
            if !matches!(
                last,
                Last::A | Last::Unit | Last::Teen | Last::Tens | Last::Hundred
            ) {
                break;
            }
            total += if current == 0.0 { s } else { current * s };
            current = 0.0;
            last = Last::Scale;
        } else if w == "and" && matches!(last, Last::Hundred | Last::Scale) {
            let next = toks.get(j + 1).and_then(Tok::word);
            if next.is_some_and(is_number_word) {
                last = Last::And;
                j += 1;
                continue;
            }
            break;
        } else {
            break;
        }
        j += 1;
        end = j;
    }
    if end == i {
        return None;
    }
    let mut value = total + current;
    // "three point five".
    if toks.get(end).is_some_and(|t| t.is_word("point")) {
        let mut k = end + 1;
        let mut frac = String::new();
        while let Some(d) = toks.get(k).and_then(Tok::word).and_then(unit_word) {
            frac.push(char::from(b'0' + d as u8));
            k += 1;
        }
        if !frac.is_empty() {
            value += format!("0.{frac}").parse::<f64>().unwrap_or(0.0);
            end = k;
        }
    }
    Some((value, end))
}

/// All numbers in the token stream, left to right, non-overlapping.
pub fn numbers(toks: &[Tok], english: bool) -> Vec<NumSpan> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        let mut found: Option<(f64, usize)> = None;
        if let Kind::Num(n) = t.kind {
            let mut end = i + 1;
            let mut v = n;
            // Digits glued to letters ("5pm", "2nd", "3x") are left to other recognizers,
            // except a scale word.
            if english {
                if let Some(s) = toks.get(end).and_then(Tok::word).and_then(scale_word) {
                    v *= s;
                    end += 1;
                }
            }
            found = Some((v, end));
        } else if english {
            found = words_at(toks, i);
        }
        let Some((mut value, end)) = found else {
            i += 1;
            continue;
        };
        let mut first = i;
        // A sign: "-5" (glued) or "minus five" / "negative 5".
        if i > 0 {
            let p = &toks[i - 1];
            let glued_minus = p.is_sym('-')
                && p.end == t.start
                && (i < 2 || toks[i - 2].end < p.start || toks[i - 2].num().is_none());
            let word_minus = english && (p.is_word("minus") || p.is_word("negative"));
            if glued_minus || word_minus {
                value = -value;
                first = i - 1;
            }
        }
        out.push(NumSpan {
            value,
            first,
            last: end,
        });
        i = end;
    }
    out
}

/// A percentage: a number followed by `%`, "percent", "per cent" or "pct".
pub fn percentage(toks: &[Tok], n: &NumSpan, english: bool) -> Option<usize> {
    let next = toks.get(n.last)?;
    if next.is_sym('%') {
        return Some(n.last + 1);
    }
    if !english {
        return None;
    }
    if next.is_word("percent") || next.is_word("pct") || next.is_word("percentage") {
        return Some(n.last + 1);
    }
    if next.is_word("per") && toks.get(n.last + 1).is_some_and(|t| t.is_word("cent")) {
        return Some(n.last + 2);
    }
    None
}

/// An amount: `(first token, one past last token, value, ISO unit)`.
pub fn currency(
    toks: &[Tok],
    n: &NumSpan,
    english: bool,
) -> Option<(usize, usize, f64, &'static str)> {
    let symbol = |c: char| match c {
        '$' => Some("USD"),
        '€' => Some("EUR"),
        '£' => Some("GBP"),
        '¥' => Some("JPY"),
        '₹' => Some("INR"),
        _ => None,
    };
    if n.first > 0 {
        if let Kind::Sym(c) = toks[n.first - 1].kind {
            if let Some(unit) = symbol(c) {
                return Some((n.first - 1, n.last, n.value, unit));
            }
        }
        if let Some(w) = toks[n.first - 1].word() {
            if let Some(unit) = iso_code(w) {
                return Some((n.first - 1, n.last, n.value, unit));
            }
        }
    }
    let next = toks.get(n.last)?;
    if let Kind::Sym(c) = next.kind {
        if let Some(unit) = symbol(c) {
            return Some((n.first, n.last + 1, n.value, unit));
        }
        if c == '¢' {
            return Some((n.first, n.last + 1, n.value / 100.0, "USD"));
        }
    }
    let w = next.word()?;
    if let Some(unit) = iso_code(w) {
        return Some((n.first, n.last + 1, n.value, unit));
    }
    if !english {
        return None;
    }
    let unit = match w {
        "dollar" | "dollars" | "buck" | "bucks" => "USD",
        "euro" | "euros" => "EUR",
        "pound" | "pounds" | "quid" => "GBP",
        "yen" => "JPY",
        "rupee" | "rupees" => "INR",
        "franc" | "francs" => "CHF",
        "cent" | "cents" | "penny" | "pennies" | "pence" => {
            let unit = if matches!(w, "pence") { "GBP" } else { "USD" };
            return Some((n.first, n.last + 1, n.value / 100.0, unit));
        }
        _ => return None,
    };
    Some((n.first, n.last + 1, n.value, unit))
}

fn iso_code(w: &str) -> Option<&'static str> {
    Some(match w {
        "usd" => "USD",
        "eur" => "EUR",
        "gbp" => "GBP",
        "jpy" => "JPY",
        "chf" => "CHF",
        "cad" => "CAD",
        "aud" => "AUD",
        "inr" => "INR",
        "cny" => "CNY",
        _ => return None,
    })
}

/// A number as Watson writes it in `value`: integers without a fraction.
pub fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A number as a JSON number: integer when whole.
pub fn json_number(v: f64) -> serde_json::Value {
    if v.fract() == 0.0 && v.abs() < 9e15 {
        serde_json::Value::from(v as i64)
    } else {
        let rounded = (v * 1e6).round() / 1e6;
        serde_json::Value::from(rounded)
    }
}

#[cfg(test)]
mod tests {
    use super::super::scan::scan;
    use super::*;

    fn values(text: &str) -> Vec<f64> {
        let t = scan(text);
        numbers(&t, true).into_iter().map(|n| n.value).collect()
    }

    #[test]
    fn digits_decimals_commas_and_negatives() {
        assert_eq!(values("21"), vec![21.0]);
        assert_eq!(values("3.13 and 1,234,567.5"), vec![3.13, 1234567.5]);
        assert_eq!(values("it is -5 outside"), vec![-5.0]);
        assert_eq!(values("10-5"), vec![10.0, 5.0]);
        assert_eq!(values(".5"), vec![0.5]);
    }

    #[test]
    fn english_number_words() {
        assert_eq!(values("twenty five"), vec![25.0]);
        assert_eq!(values("twenty-five"), vec![25.0]);
        assert_eq!(values("two hundred and six"), vec![206.0]);
        assert_eq!(values("a hundred"), vec![100.0]);
        assert_eq!(values("one thousand two hundred thirty four"), vec![1234.0]);
        assert_eq!(values("three million"), vec![3e6]);
        assert_eq!(values("5 million"), vec![5e6]);
        assert_eq!(values("three point five"), vec![3.5]);
        assert_eq!(values("minus four"), vec![-4.0]);
        assert_eq!(values("zero"), vec![0.0]);
        assert_eq!(values("seventeen"), vec![17.0]);
    }

    #[test]
    fn separate_numbers_stay_separate() {
        assert_eq!(values("one two three"), vec![1.0, 2.0, 3.0]);
        assert_eq!(values("twenty thirty"), vec![20.0, 30.0]);
        assert_eq!(values("a dog and a cat"), Vec::<f64>::new());
    }

    #[test]
    fn non_english_gets_digits_only() {
        let t = scan("zwei 5");
        let v: Vec<f64> = numbers(&t, false).into_iter().map(|n| n.value).collect();
        assert_eq!(v, vec![5.0]);
    }

    #[test]
    fn percentages() {
        for (text, v) in [
            ("15%", 15.0),
            ("fifteen percent", 15.0),
            ("2.5 per cent", 2.5),
        ] {
            let t = scan(text);
            let n = &numbers(&t, true)[0];
            assert_eq!(n.value, v);
            assert_eq!(percentage(&t, n, true), Some(t.len()), "{text}");
        }
        let t = scan("15 apples");
        assert_eq!(percentage(&t, &numbers(&t, true)[0], true), None);
    }

    #[test]
    fn currencies() {
        for (text, v, unit) in [
            ("$20", 20.0, "USD"),
            ("20 dollars", 20.0, "USD"),
            ("twenty dollars", 20.0, "USD"),
            ("€5.50", 5.5, "EUR"),
            ("50 cents", 0.5, "USD"),
            ("10 USD", 10.0, "USD"),
            ("£3", 3.0, "GBP"),
            ("100 euros", 100.0, "EUR"),
        ] {
            let t = scan(text);
            let n = &numbers(&t, true)[0];
            let c = currency(&t, n, true);
            assert_eq!(c.map(|c| (c.2, c.3)), Some((v, unit)), "{text}");
            assert_eq!(c.map(|c| c.1 - c.0), Some(t.len()), "{text}");
        }
        let t = scan("20 apples");
        assert!(currency(&t, &numbers(&t, true)[0], true).is_none());
    }

    #[test]
    fn formats_values_like_watson() {
        assert_eq!(format_number(20.0), "20");
        assert_eq!(format_number(1234.56), "1234.56");
        assert_eq!(format_number(-0.5), "-0.5");
        assert_eq!(json_number(20.0), serde_json::json!(20));
        assert_eq!(json_number(0.25), serde_json::json!(0.25));
    }

    #[test]
    fn ordinals() {
        assert_eq!(ordinal_word("fifth"), Some(5));
        assert_eq!(ordinal_word("twelfth"), Some(12));
        assert_eq!(ordinal_word("table"), None);
    }
}
