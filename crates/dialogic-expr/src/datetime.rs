//! Date/time values as Watson has them: strings in `yyyy-MM-dd`, `HH:mm[:ss]`,
//! `yyyy-MM-dd HH:mm:ss[ zone]` forms; `now()`/`today()`; comparison, arithmetic and
//! `reformatDateTime` with Java `SimpleDateFormat` patterns.

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use serde_json::Value;

use crate::eval::{Ev, EvalError};
use crate::methods::{arity, Args};
use crate::value::{int_arg, java_string, Num};

/// A parsed date/time string.
#[derive(Debug, Clone)]
pub(crate) struct Dt {
    date: Option<NaiveDate>,
    time: Option<NaiveTime>,
    /// Offset of the value, when it names one.
    offset: Option<FixedOffset>,
    /// Text after the time (` GMT+01:00`, ` Europe/London`), kept when re-rendering.
    suffix: String,
    /// `T` between date and time (ISO form).
    iso: bool,
}

pub(crate) fn is_date_method(name: &str) -> bool {
    matches!(
        name,
        "before"
            | "after"
            | "sameMoment"
            | "sameOrAfter"
            | "sameOrBefore"
            | "reformatDateTime"
            | "plusDays"
            | "minusDays"
            | "plusWeeks"
            | "minusWeeks"
            | "plusMonths"
            | "minusMonths"
            | "plusYears"
            | "minusYears"
            | "plusHours"
            | "minusHours"
            | "plusMinutes"
            | "minusMinutes"
            | "plusSeconds"
            | "minusSeconds"
            | "toEpochMilli"
            | "toEpochSecond"
    )
}

fn parse_offset(s: &str) -> Option<FixedOffset> {
    let s = s.trim();
    let s = s
        .strip_prefix("GMT")
        .or_else(|| s.strip_prefix("UTC"))
        .unwrap_or(s);
    if s.is_empty() || s == "Z" {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| c.is_ascii_digit()).collect();
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

fn zone_offset(zone: &str, at: NaiveDateTime) -> Option<FixedOffset> {
    if let Some(o) = parse_offset(zone) {
        return Some(o);
    }
    let tz: Tz = zone.trim().parse().ok()?;
    tz.offset_from_local_datetime(&at)
        .earliest()
        .map(|o| o.fix())
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u32, |acc, d| {
        acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

/// `HH:mm`, `HH:mm:ss`, `HH:mm:ss.SSS` (hand-parsed: this is on the hot path of conditions).
fn parse_time(s: &str) -> Option<NaiveTime> {
    let b = s.as_bytes();
    if b.len() < 4 {
        return None;
    }
    let colon = b.iter().position(|c| *c == b':')?;
    let h = digits(&b[..colon]).filter(|_| (1..=2).contains(&colon))?;
    let rest = &b[colon + 1..];
    let (m, rest) = (digits(rest.get(..2)?)?, &rest[2..]);
    if rest.is_empty() {
        return NaiveTime::from_hms_opt(h, m, 0);
    }
    if rest[0] != b':' {
        return None;
    }
    let sec = digits(rest.get(1..3)?)?;
    let rest = &rest[3..];
    if rest.is_empty() {
        return NaiveTime::from_hms_opt(h, m, sec);
    }
    if rest[0] != b'.' || rest.len() < 2 {
        return None;
    }
    let frac = &rest[1..rest.len().min(10)];
    if rest.len() > 10 {
        return None;
    }
    let mut nanos = digits(frac)?;
    for _ in frac.len()..9 {
        nanos *= 10;
    }
    NaiveTime::from_hms_nano_opt(h, m, sec, nanos)
}

/// `yyyy-MM-dd`.
fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    NaiveDate::from_ymd_opt(
        i32::try_from(digits(&b[..4])?).ok()?,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
    )
}

/// Parse a Watson date/time string.
pub(crate) fn parse(s: &str) -> Option<Dt> {
    let s = s.trim();
    if s.len() > 64 {
        return None;
    }
    if let Some(t) = parse_time(s) {
        return Some(Dt {
            date: None,
            time: Some(t),
            offset: None,
            suffix: String::new(),
            iso: false,
        });
    }
    let date_part = s.get(..10)?;
    let date = parse_date(date_part)?;
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(Dt {
            date: Some(date),
            time: None,
            offset: None,
            suffix: String::new(),
            iso: false,
        });
    }
    let iso = rest.starts_with('T');
    if !(iso || rest.starts_with(' ')) {
        return None;
    }
    let rest = &rest[1..];
    // Time runs until a space, `Z`, `+` or `-`.
    let end = rest.find([' ', 'Z', '+', '-']).unwrap_or(rest.len());
    let time = parse_time(&rest[..end])?;
    let suffix = &rest[end..];
    let naive = date.and_time(time);
    let offset = if suffix.trim().is_empty() {
        None
    } else {
        Some(zone_offset(suffix, naive)?)
    };
    Some(Dt {
        date: Some(date),
        time: Some(time),
        offset,
        suffix: suffix.to_string(),
        iso,
    })
}

fn render(dt: &Dt) -> String {
    match (dt.date, dt.time) {
        (Some(d), None) => d.format("%Y-%m-%d").to_string(),
        (None, Some(t)) => t.format("%H:%M:%S").to_string(),
        (Some(d), Some(t)) => {
            let sep = if dt.iso { 'T' } else { ' ' };
            format!(
                "{}{sep}{}{}",
                d.format("%Y-%m-%d"),
                t.format("%H:%M:%S"),
                dt.suffix
            )
        }
        (None, None) => String::new(),
    }
}

/// The error for a value that is not a date/time (the value itself is not echoed: it may be
/// private).
fn bad_date(s: &str) -> EvalError {
    EvalError::new(format!(
        "a {}-character string is not a date/time value (expected yyyy-MM-dd, HH:mm[:ss] or yyyy-MM-dd HH:mm:ss[ zone])",
        s.chars().count()
    ))
}

/// Date methods on a string receiver.
pub(crate) fn method(
    ev: &Ev<'_>,
    name: &str,
    s: &str,
    args: Args<'_, '_>,
) -> Result<Value, EvalError> {
    let dt = parse(s).ok_or_else(|| bad_date(s))?;
    match name {
        "before" | "after" | "sameMoment" | "sameOrAfter" | "sameOrBefore" => {
            arity(name, args, 1, 1)?;
            let other_s = java_string(&args[0]);
            let Some(other) = parse(&other_s) else {
                return Err(bad_date(&other_s));
            };
            let Some(ord) = compare(&dt, &other) else {
                ev.log("error", "cannot compare a date with a time".to_string());
                return Ok(Value::Bool(false));
            };
            use std::cmp::Ordering::*;
            Ok(Value::Bool(match name {
                "before" => ord == Less,
                "after" => ord == Greater,
                "sameMoment" => ord == Equal,
                "sameOrAfter" => ord != Less,
                _ => ord != Greater,
            }))
        }
        "reformatDateTime" => {
            arity(name, args, 1, 1)?;
            let date = dt
                .date
                .unwrap_or(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default());
            let time = dt.time.unwrap_or_default();
            let offset = dt
                .offset
                .unwrap_or(FixedOffset::east_opt(0).unwrap_or(Utc.fix()));
            Ok(Value::String(format(
                &date.and_time(time),
                offset,
                &java_string(&args[0]),
            )?))
        }
        "toEpochMilli" | "toEpochSecond" => {
            let date = dt
                .date
                .unwrap_or(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default());
            let naive = date.and_time(dt.time.unwrap_or_default());
            let secs = naive.and_utc().timestamp()
                - i64::from(dt.offset.map_or(0, |o| o.local_minus_utc()));
            Ok(Value::Number(if name == "toEpochSecond" {
                secs.into()
            } else {
                (secs * 1000 + i64::from(naive.and_utc().timestamp_subsec_millis())).into()
            }))
        }
        _ => {
            arity(name, args, 1, 1)?;
            let n = int_arg(&args[0])
                .ok_or_else(|| EvalError::new(format!("`{name}` needs an integer")))?;
            let n = if name.starts_with("minus") {
                n.checked_neg().unwrap_or(0)
            } else {
                n
            };
            let shifted = shift(
                &dt,
                &name[if name.starts_with("plus") { 4 } else { 5 }..],
                n,
            )
            .ok_or_else(|| EvalError::new(format!("date/time `{name}({n})` out of range")))?;
            Ok(Value::String(render(&shifted)))
        }
    }
}

fn shift(dt: &Dt, unit: &str, n: i64) -> Option<Dt> {
    let mut out = dt.clone();
    let months = |d: NaiveDate, m: i64| -> Option<NaiveDate> {
        if m >= 0 {
            d.checked_add_months(Months::new(u32::try_from(m).ok()?))
        } else {
            d.checked_sub_months(Months::new(u32::try_from(-m).ok()?))
        }
    };
    let dur = match unit {
        "Days" => Duration::try_days(n),
        "Weeks" => Duration::try_weeks(n),
        "Hours" => Duration::try_hours(n),
        "Minutes" => Duration::try_minutes(n),
        "Seconds" => Duration::try_seconds(n),
        _ => None,
    };
    match (unit, dt.date, dt.time) {
        ("Months" | "Years", Some(d), _) => {
            let m = if unit == "Years" {
                n.checked_mul(12)?
            } else {
                n
            };
            out.date = Some(months(d, m)?);
        }
        ("Months" | "Years", None, _) => {}
        (_, Some(d), Some(t)) => {
            let r = d.and_time(t).checked_add_signed(dur?)?;
            out.date = Some(r.date());
            out.time = Some(r.time());
        }
        (_, Some(d), None) => {
            let r = d.and_time(NaiveTime::default()).checked_add_signed(dur?)?;
            out.date = Some(r.date());
        }
        (_, None, Some(t)) => {
            let secs = dur?.num_seconds().rem_euclid(86_400);
            out.time = Some(t.overflowing_add_signed(Duration::try_seconds(secs)?).0);
        }
        (_, None, None) => return None,
    }
    Some(out)
}

/// Order of two date/time values; None for a date against a time.
fn compare(a: &Dt, b: &Dt) -> Option<std::cmp::Ordering> {
    match (a.date, a.time, b.date, b.time) {
        (Some(ad), Some(at), Some(bd), Some(bt)) => {
            let x = ad.and_time(at);
            let y = bd.and_time(bt);
            match (a.offset, b.offset) {
                (Some(ao), Some(bo)) => {
                    let x = x - Duration::seconds(i64::from(ao.local_minus_utc()));
                    let y = y - Duration::seconds(i64::from(bo.local_minus_utc()));
                    Some(x.cmp(&y))
                }
                _ => Some(x.cmp(&y)),
            }
        }
        (Some(ad), _, Some(bd), _) => Some(ad.cmp(&bd)),
        (_, Some(at), _, Some(bt)) => Some(at.cmp(&bt)),
        _ => None,
    }
}

/// The current time in the environment's timezone (GMT when unset or unknown).
fn now_in(ev: &Ev<'_>, zone: Option<&str>) -> Result<(NaiveDateTime, FixedOffset), EvalError> {
    let utc = ev.sc.now;
    match zone {
        None => Ok((utc.naive_utc(), Utc.fix())),
        Some(z) => {
            if let Some(o) = parse_offset(z) {
                return Ok((utc.with_timezone(&o).naive_local(), o));
            }
            let tz: Tz = z
                .trim()
                .parse()
                .map_err(|_| EvalError::new(format!("unknown timezone `{z}`")))?;
            let local = utc.with_timezone(&tz);
            Ok((local.naive_local(), local.offset().fix()))
        }
    }
}

fn env_zone<'a>(ev: &'a Ev<'_>) -> Option<&'a str> {
    ev.sc.timezone.filter(|z| !z.trim().is_empty())
}

/// `now()` / `now('Europe/London')`.
pub(crate) fn now(ev: &Ev<'_>, zone: Option<&str>) -> Result<Value, EvalError> {
    match zone {
        None => {
            let (t, _) = now_in(ev, env_zone(ev)).or_else(|_| now_in(ev, None))?;
            Ok(Value::String(t.format("%Y-%m-%d %H:%M:%S").to_string()))
        }
        Some(z) => {
            let (t, o) = now_in(ev, Some(z))?;
            Ok(Value::String(format(
                &t,
                o,
                "yyyy-MM-dd HH:mm:ss 'GMT'XXX",
            )?))
        }
    }
}

/// `today()`.
pub(crate) fn today(ev: &Ev<'_>) -> Result<Value, EvalError> {
    let (t, _) = now_in(ev, env_zone(ev)).or_else(|_| now_in(ev, None))?;
    Ok(Value::String(t.format("%Y-%m-%d").to_string()))
}

/// `new Date(ms).format(pattern)` and friends: epoch milliseconds in the env timezone.
pub(crate) fn format_epoch_millis(ev: &Ev<'_>, n: Num, pattern: &str) -> Result<String, EvalError> {
    let ms = match n {
        Num::I(i) => i,
        Num::F(f) => f as i64,
    };
    let utc: DateTime<Utc> = DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| EvalError::new("epoch milliseconds out of range"))?;
    let (local, o) = match env_zone(ev).and_then(|z| z.parse::<Tz>().ok()) {
        Some(tz) => {
            let l = utc.with_timezone(&tz);
            (l.naive_local(), l.offset().fix())
        }
        None => (utc.naive_utc(), Utc.fix()),
    };
    format(&local, o, pattern)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn pad(out: &mut String, n: i64, width: usize) {
    let s = n.abs().to_string();
    if n < 0 {
        out.push('-');
    }
    for _ in s.len()..width.min(32) {
        out.push('0');
    }
    out.push_str(&s);
}

fn offset_text(o: FixedOffset, count: usize, letter: char) -> String {
    let secs = o.local_minus_utc();
    if letter == 'X' && secs == 0 {
        return "Z".to_string();
    }
    let sign = if secs < 0 { '-' } else { '+' };
    let (h, m) = (secs.abs() / 3600, secs.abs() % 3600 / 60);
    match (letter, count) {
        ('X', 1) => format!("{sign}{h:02}"),
        ('X', 2) | ('Z', _) => format!("{sign}{h:02}{m:02}"),
        _ => format!("{sign}{h:02}:{m:02}"),
    }
}

/// Format with a Java `SimpleDateFormat` pattern (English names).
pub(crate) fn format(
    t: &NaiveDateTime,
    o: FixedOffset,
    pattern: &str,
) -> Result<String, EvalError> {
    if pattern.len() > 256 {
        return Err(EvalError::new("date pattern too long"));
    }
    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted literal; '' is a single quote.
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        out.push('\'');
                        i += 2;
                        continue;
                    }
                    break;
                }
                out.push(chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        i += n;
        let hour12 = |h: u32| if h.is_multiple_of(12) { 12 } else { h % 12 };
        match c {
            'G' => out.push_str(if t.year() > 0 { "AD" } else { "BC" }),
            'y' | 'Y' | 'u' if c != 'u' || n > 1 => {
                if n == 2 {
                    pad(&mut out, i64::from(t.year().rem_euclid(100)), 2);
                } else {
                    pad(&mut out, i64::from(t.year()), n);
                }
            }
            'u' => pad(&mut out, i64::from(t.weekday().number_from_monday()), 1),
            'M' | 'L' => match n {
                1 | 2 => pad(&mut out, i64::from(t.month()), n),
                3 => out.push_str(&MONTHS[t.month0() as usize][..3]),
                _ => out.push_str(MONTHS[t.month0() as usize]),
            },
            'd' => pad(&mut out, i64::from(t.day()), n),
            'D' => pad(&mut out, i64::from(t.ordinal()), n),
            'E' => {
                let d = DAYS[t.weekday().num_days_from_monday() as usize];
                out.push_str(if n >= 4 { d } else { &d[..3] });
            }
            'F' => pad(&mut out, i64::from((t.day() - 1) / 7 + 1), n),
            'w' => pad(&mut out, i64::from(t.iso_week().week()), n),
            'a' => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
            'H' => pad(&mut out, i64::from(t.hour()), n),
            'k' => pad(
                &mut out,
                i64::from(if t.hour() == 0 { 24 } else { t.hour() }),
                n,
            ),
            'K' => pad(&mut out, i64::from(t.hour() % 12), n),
            'h' => pad(&mut out, i64::from(hour12(t.hour())), n),
            'm' => pad(&mut out, i64::from(t.minute()), n),
            's' => pad(&mut out, i64::from(t.second()), n),
            'S' => pad(
                &mut out,
                i64::from(t.and_utc().timestamp_subsec_millis()),
                n,
            ),
            'z' => {
                if o.local_minus_utc() == 0 {
                    out.push_str("GMT");
                } else {
                    out.push_str("GMT");
                    out.push_str(&offset_text(o, 3, 'z'));
                }
            }
            'Z' => out.push_str(&offset_text(o, n, 'Z')),
            'X' => out.push_str(&offset_text(o, n, 'X')),
            other => {
                return Err(EvalError::new(format!(
                    "illegal pattern character '{other}' in date format"
                )))
            }
        }
    }
    Ok(out)
}
