//! `T(String).format(...)`: the common subset of Java's `Formatter`
//! (`%s %d %f %.2f %,d %x %e %b %c %n %%`, flags `-0+, `, width, precision).

use serde_json::Value;

use crate::eval::EvalError;
use crate::value::{check_len, java_string, num_lenient, Num};

const MAX_WIDTH: usize = 1000;

fn group_thousands(digits: &str) -> String {
    let mut out = String::new();
    let n = digits.len();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn format(fmt: &str, args: &[Value]) -> Result<String, EvalError> {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut next_arg = 0usize;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek() {
            if "-0+, #".contains(f) {
                flags.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        // `%1$s` explicit argument index.
        let mut explicit = None;
        if chars.peek() == Some(&'$') {
            chars.next();
            explicit = width.parse::<usize>().ok().and_then(|i| i.checked_sub(1));
            width.clear();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                width.push(d);
                chars.next();
            }
        }
        let mut precision = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse::<usize>().unwrap_or(0).min(100));
        }
        let conv = chars
            .next()
            .ok_or_else(|| EvalError::new("format string ends with `%`"))?;
        let width = width.parse::<usize>().unwrap_or(0);
        if width > MAX_WIDTH {
            return Err(EvalError::new("format width too large"));
        }
        let body = match conv {
            '%' => "%".to_string(),
            'n' => "\n".to_string(),
            _ => {
                let idx = explicit.unwrap_or_else(|| {
                    next_arg += 1;
                    next_arg - 1
                });
                let arg = args.get(idx).ok_or_else(|| {
                    EvalError::new(format!("format: missing argument for `%{conv}`"))
                })?;
                convert(conv, &flags, precision, arg)?
            }
        };
        let len = body.chars().count();
        if len < width {
            let fill = width - len;
            if flags.contains('-') {
                out.push_str(&body);
                out.extend(std::iter::repeat_n(' ', fill));
            } else if flags.contains('0') && matches!(conv, 'd' | 'f' | 'x' | 'X' | 'e') {
                let (sign, digits) = match body.strip_prefix(['-', '+']) {
                    Some(rest) => (&body[..1], rest),
                    None => ("", body.as_str()),
                };
                out.push_str(sign);
                out.extend(std::iter::repeat_n('0', fill));
                out.push_str(digits);
            } else {
                out.extend(std::iter::repeat_n(' ', fill));
                out.push_str(&body);
            }
        } else {
            out.push_str(&body);
        }
        check_len(out.len())?;
    }
    Ok(out)
}

fn number(arg: &Value, conv: char) -> Result<Num, EvalError> {
    num_lenient(arg).ok_or_else(|| {
        EvalError::new(format!(
            "format: `%{conv}` needs a number, got a {}",
            crate::value::type_name(arg)
        ))
    })
}

fn convert(
    conv: char,
    flags: &str,
    precision: Option<usize>,
    arg: &Value,
) -> Result<String, EvalError> {
    let sign = |neg: bool| {
        if neg {
            "-"
        } else if flags.contains('+') {
            "+"
        } else if flags.contains(' ') {
            " "
        } else {
            ""
        }
    };
    Ok(match conv {
        's' | 'S' => {
            let s = java_string(arg).into_owned();
            let s = match precision {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            };
            if conv == 'S' {
                s.to_uppercase()
            } else {
                s
            }
        }
        'b' | 'B' => match arg {
            Value::Null => "false".into(),
            Value::Bool(b) => b.to_string(),
            _ => "true".into(),
        },
        'c' => java_string(arg)
            .chars()
            .next()
            .map(String::from)
            .unwrap_or_default(),
        'd' => {
            let i = match number(arg, conv)? {
                Num::I(i) => i,
                Num::F(_) => return Err(EvalError::new("format: `%d` needs an integer")),
            };
            let digits = i.unsigned_abs().to_string();
            let digits = if flags.contains(',') {
                group_thousands(&digits)
            } else {
                digits
            };
            format!("{}{digits}", sign(i < 0))
        }
        'x' | 'X' => {
            let i = match number(arg, conv)? {
                Num::I(i) => i,
                Num::F(_) => return Err(EvalError::new("format: `%x` needs an integer")),
            };
            let s = format!("{i:x}");
            if conv == 'X' {
                s.to_uppercase()
            } else {
                s
            }
        }
        'f' => {
            let f = number(arg, conv)?.f();
            let p = precision.unwrap_or(6);
            let s = format!("{:.*}", p, f.abs());
            let s = if flags.contains(',') {
                let (int_part, frac) = s.split_once('.').unwrap_or((&s, ""));
                let g = group_thousands(int_part);
                if frac.is_empty() {
                    g
                } else {
                    format!("{g}.{frac}")
                }
            } else {
                s
            };
            format!("{}{s}", sign(f < 0.0))
        }
        'e' | 'E' => {
            let f = number(arg, conv)?.f();
            let s = format!("{:.*e}", precision.unwrap_or(6), f);
            if conv == 'E' {
                s.to_uppercase()
            } else {
                s
            }
        }
        other => {
            return Err(EvalError::new(format!(
                "format: unsupported conversion `%{other}`"
            )))
        }
    })
}
