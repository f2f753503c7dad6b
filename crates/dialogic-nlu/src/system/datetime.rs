//! `@sys-date` and `@sys-time` (English): relative days ("today", "tomorrow", "the day after
//! tomorrow"), weekdays ("friday", "next friday", "last monday"), relative periods ("next week",
//! "in 3 days", "2 weeks ago"), month-day dates ("May 5th, 2024", "the 5th of May", "2024-05-06",
//! "5/6/2024"), festivals ("christmas"), clock times ("5pm", "17:45", "5:30 a.m.", "noon",
//! "half past 4", "at 7"), relative times ("in 2 hours", "now"), and ranges ("from monday to
//! friday", "between 2pm and 4pm", "2-4pm") with `role` `date_from`/`date_to`/`time_from`/`time_to`.
//!
//! Choices (Watson does not document them): a weekday or month-day without a year means the next
//! occurrence from today (today included); "next friday" is the first Friday after today; "this
//! friday" the Friday of the current week; a bare hour after "at" keeps its 24-hour reading.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Weekday};
use serde_json::{json, Map, Value};

use super::numbers::{ordinal_word, NumSpan};
use super::scan::{Kind, Tok};

/// What a hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitKind {
    /// `@sys-date`.
    Date,
    /// `@sys-time`.
    Time,
}

/// A date or time found in the token stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Date or time.
    pub kind: HitKind,
    /// First token.
    pub first: usize,
    /// One past the last token.
    pub last: usize,
    /// `yyyy-MM-dd` or `HH:mm:ss`.
    pub value: String,
    /// Watson `interpretation` fields.
    pub interpretation: Map<String, Value>,
    /// `date_from`, `date_to`, `time_from`, `time_to`.
    pub role: Option<&'static str>,
}

fn weekday(w: &str) -> Option<Weekday> {
    Some(match w {
        "monday" | "mon" => Weekday::Mon,
        "tuesday" | "tue" | "tues" => Weekday::Tue,
        "wednesday" => Weekday::Wed,
        "thursday" | "thu" | "thur" | "thurs" => Weekday::Thu,
        "friday" | "fri" => Weekday::Fri,
        "saturday" => Weekday::Sat,
        "sunday" => Weekday::Sun,
        _ => return None,
    })
}

fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

/// Month number; `strict` words ("may", "march", abbreviations) need a day or year beside them.
fn month(w: &str) -> Option<(u32, bool)> {
    Some(match w {
        "january" => (1, false),
        "february" => (2, false),
        "march" => (3, true),
        "april" => (4, false),
        "may" => (5, true),
        "june" => (6, false),
        "july" => (7, false),
        "august" => (8, false),
        "september" => (9, false),
        "october" => (10, false),
        "november" => (11, false),
        "december" => (12, false),
        "jan" => (1, true),
        "feb" => (2, true),
        "mar" => (3, true),
        "apr" => (4, true),
        "jun" => (6, true),
        "jul" => (7, true),
        "aug" => (8, true),
        "sep" | "sept" => (9, true),
        "oct" => (10, true),
        "nov" => (11, true),
        "dec" => (12, true),
        _ => return None,
    })
}

fn add_months(d: NaiveDate, months: i32) -> NaiveDate {
    let total = d.year() * 12 + d.month0() as i32 + months;
    let (y, m) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
    let mut day = d.day();
    loop {
        if let Some(x) = NaiveDate::from_ymd_opt(y, m, day) {
            return x;
        }
        if day <= 28 {
            return d;
        }
        day -= 1;
    }
}

fn add_days(d: NaiveDate, n: i64) -> NaiveDate {
    d.checked_add_signed(Duration::days(n)).unwrap_or(d)
}

/// Next date with this month and day from `today` (today included).
fn next_month_day(today: NaiveDate, m: u32, day: u32) -> Option<NaiveDate> {
    for y in today.year()..today.year() + 5 {
        if let Some(d) = NaiveDate::from_ymd_opt(y, m, day) {
            if d >= today {
                return Some(d);
            }
        }
    }
    None
}

fn date_hit(first: usize, last: usize, d: NaiveDate, interp: Map<String, Value>) -> Hit {
    Hit {
        kind: HitKind::Date,
        first,
        last,
        value: d.format("%Y-%m-%d").to_string(),
        interpretation: interp,
        role: None,
    }
}

fn time_hit(first: usize, last: usize, t: NaiveTime, mut interp: Map<String, Value>) -> Hit {
    interp.insert("hour".into(), json!(t.hour()));
    interp.insert("minute".into(), json!(t.minute()));
    interp.insert("second".into(), json!(t.second()));
    let part = match t.hour() {
        5..=11 => "morning",
        12..=16 => "afternoon",
        17..=20 => "evening",
        _ => "night",
    };
    interp.entry("part_of_day").or_insert(json!(part));
    Hit {
        kind: HitKind::Time,
        first,
        last,
        value: t.format("%H:%M:%S").to_string(),
        interpretation: interp,
        role: None,
    }
}

fn interp(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn glued(a: &Tok, b: &Tok) -> bool {
    a.end == b.start
}

/// A day-of-month token at `i`: "5", "5th", "fifth", "twenty first". `(day, next index)`.
fn day_of_month(toks: &[Tok], i: usize) -> Option<(u32, usize)> {
    let t = toks.get(i)?;
    if let Kind::Num(n) = t.kind {
        if n.fract() != 0.0 || !(1.0..=31.0).contains(&n) || t.raw.len() > 2 {
            return None;
        }
        let mut end = i + 1;
        if let Some(s) = toks.get(end) {
            if glued(t, s) && matches!(s.word(), Some("st" | "nd" | "rd" | "th")) {
                end += 1;
            }
        }
        return Some((n as u32, end));
    }
    let w = t.word()?;
    if let Some(o) = ordinal_word(w) {
        return Some((o, i + 1));
    }
    if matches!(w, "twenty" | "thirty") {
        let base = if w == "twenty" { 20 } else { 30 };
        let mut j = i + 1;
        if toks.get(j).is_some_and(|t| t.is_sym('-')) {
            j += 1;
        }
        if let Some(o) = toks.get(j).and_then(Tok::word).and_then(ordinal_word) {
            if o < 10 {
                return Some((base + o, j + 1));
            }
        }
    }
    None
}

/// A 4-digit year at `i` (optionally after a comma).
fn year_at(toks: &[Tok], i: usize) -> Option<(i32, usize)> {
    let mut j = i;
    if toks.get(j).is_some_and(|t| t.is_sym(',')) {
        j += 1;
    }
    let t = toks.get(j)?;
    let n = t.num()?;
    (t.raw.len() == 4 && n.fract() == 0.0).then_some((n as i32, j + 1))
}

/// Count for "in N days": digits, number words, "a"/"an".
fn count_at(toks: &[Tok], nums: &[NumSpan], i: usize) -> Option<(i64, usize)> {
    let t = toks.get(i)?;
    if t.is_word("a") || t.is_word("an") || t.is_word("one") {
        return Some((1, i + 1));
    }
    let n = nums.iter().find(|n| n.first == i)?;
    (n.value.fract() == 0.0 && n.value >= 0.0 && n.value < 10_000.0)
        .then_some((n.value as i64, n.last))
}

fn unit_word(w: &str) -> Option<&'static str> {
    Some(match w {
        "second" | "seconds" | "sec" | "secs" => "second",
        "minute" | "minutes" | "min" | "mins" => "minute",
        "hour" | "hours" | "hr" | "hrs" => "hour",
        "day" | "days" => "day",
        "week" | "weeks" => "week",
        "month" | "months" => "month",
        "year" | "years" => "year",
        _ => return None,
    })
}

/// Dates and times found in `toks`, given the local "now".
pub fn recognize(toks: &[Tok], nums: &[NumSpan], now: NaiveDateTime) -> Vec<Hit> {
    let today = now.date();
    let mut hits: Vec<Hit> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let found = date_at(toks, nums, i, now)
            .map(|h| vec![h])
            .or_else(|| relative_at(toks, nums, i, now))
            .or_else(|| time_at(toks, nums, i, today).map(|h| vec![h]));
        match found {
            Some(hs) if !hs.is_empty() => {
                i = hs.iter().map(|h| h.last).max().unwrap_or(i + 1).max(i + 1);
                hits.extend(hs);
            }
            _ => i += 1,
        }
    }
    link_ranges(toks, &mut hits);
    hits
}

/// "in 2 hours", "3 days ago", "2 weeks from now", "now": a date and, for hours and less, a time.
fn relative_at(toks: &[Tok], nums: &[NumSpan], i: usize, now: NaiveDateTime) -> Option<Vec<Hit>> {
    let t = &toks[i];
    if t.is_word("now") {
        let mut v = vec![date_hit(
            i,
            i + 1,
            now.date(),
            interp(&[("granularity", json!("day")), ("relative_day", json!(0))]),
        )];
        v.push(time_hit(
            i,
            i + 1,
            now.time().with_nanosecond(0)?,
            interp(&[
                ("granularity", json!("second")),
                ("relative_second", json!(0)),
            ]),
        ));
        return Some(v);
    }
    let (start, j) = if t.is_word("in") || t.is_word("within") {
        (i, i + 1)
    } else {
        (i, i)
    };
    let (n, k) = count_at(toks, nums, j)?;
    let unit = toks.get(k).and_then(Tok::word).and_then(unit_word)?;
    let mut end = k + 1;
    let mut sign = 1i64;
    if j == i {
        // Without "in": needs "ago", "from now", "later".
        match toks.get(end).and_then(Tok::word) {
            Some("ago") => {
                sign = -1;
                end += 1;
            }
            Some("later") => end += 1,
            Some("from") if toks.get(end + 1).is_some_and(|t| t.is_word("now")) => end += 2,
            _ => return None,
        }
    } else if toks.get(end).is_some_and(|t| t.is_word("from"))
        && toks.get(end + 1).is_some_and(|t| t.is_word("now"))
    {
        end += 2;
    }
    let n = n * sign;
    let rel = |k: &str| interp(&[("granularity", json!(unit)), (k, json!(n))]);
    let at = match unit {
        "second" => now.checked_add_signed(Duration::seconds(n))?,
        "minute" => now.checked_add_signed(Duration::minutes(n))?,
        "hour" => now.checked_add_signed(Duration::hours(n))?,
        "day" => now.checked_add_signed(Duration::days(n))?,
        "week" => now.checked_add_signed(Duration::weeks(n))?,
        "month" => add_months(now.date(), n as i32).and_time(now.time()),
        _ => add_months(now.date(), (n * 12) as i32).and_time(now.time()),
    };
    let key = format!("relative_{unit}");
    let mut v = vec![date_hit(start, end, at.date(), rel(&key))];
    if matches!(unit, "second" | "minute" | "hour") {
        v.push(time_hit(
            start,
            end,
            at.time().with_nanosecond(0)?,
            rel(&key),
        ));
    }
    Some(v)
}

fn date_at(toks: &[Tok], nums: &[NumSpan], i: usize, now: NaiveDateTime) -> Option<Hit> {
    let today = now.date();
    let t = &toks[i];
    let gran = |g: &str| ("granularity", json!(g));
    if let Some(w) = t.word() {
        // Relative days.
        let rel_day = match w {
            "today" | "tonight" => Some(0),
            "tomorrow" | "tmrw" | "tmr" => Some(1),
            "yesterday" => Some(-1),
            _ => None,
        };
        if let Some(n) = rel_day {
            return Some(date_hit(
                i,
                i + 1,
                add_days(today, n),
                interp(&[gran("day"), ("relative_day", json!(n))]),
            ));
        }
        // "(the) day after tomorrow", "day before yesterday".
        if w == "day" {
            let a = toks.get(i + 1).and_then(Tok::word);
            let b = toks.get(i + 2).and_then(Tok::word);
            let first = if i > 0 && toks[i - 1].is_word("the") {
                i - 1
            } else {
                i
            };
            match (a, b) {
                (Some("after"), Some("tomorrow")) => {
                    return Some(date_hit(
                        first,
                        i + 3,
                        add_days(today, 2),
                        interp(&[gran("day"), ("relative_day", json!(2))]),
                    ))
                }
                (Some("before"), Some("yesterday")) => {
                    return Some(date_hit(
                        first,
                        i + 3,
                        add_days(today, -2),
                        interp(&[gran("day"), ("relative_day", json!(-2))]),
                    ))
                }
                _ => {}
            }
        }
        // Modifiers: next / this / last / coming + weekday or period.
        let modifier = match w {
            "next" | "coming" => Some(1),
            "this" => Some(0),
            "last" | "past" | "previous" => Some(-1),
            _ => None,
        };
        if let Some(m) = modifier {
            let nw = toks.get(i + 1).and_then(Tok::word)?;
            if let Some(d) = weekday(nw) {
                let date = match m {
                    1 => {
                        let ahead = (7 + d.num_days_from_monday() as i64
                            - today.weekday().num_days_from_monday() as i64)
                            % 7;
                        add_days(today, if ahead == 0 { 7 } else { ahead })
                    }
                    0 => add_days(
                        today,
                        d.num_days_from_monday() as i64
                            - today.weekday().num_days_from_monday() as i64,
                    ),
                    _ => {
                        let back = (7 + today.weekday().num_days_from_monday() as i64
                            - d.num_days_from_monday() as i64)
                            % 7;
                        add_days(today, -(if back == 0 { 7 } else { back }))
                    }
                };
                return Some(date_hit(
                    i,
                    i + 2,
                    date,
                    interp(&[
                        gran("day"),
                        ("specific_day_of_week", json!(weekday_name(d))),
                    ]),
                ));
            }
            let monday = add_days(today, -(today.weekday().num_days_from_monday() as i64));
            let (date, g, key) = match nw {
                "week" => (add_days(monday, 7 * m), "week", "relative_week"),
                "weekend" => (add_days(monday, 5 + 7 * m), "weekend", "relative_weekend"),
                "month" => (
                    add_months(today.with_day(1)?, m as i32),
                    "month",
                    "relative_month",
                ),
                "year" => (
                    NaiveDate::from_ymd_opt(today.year() + m as i32, 1, 1)?,
                    "year",
                    "relative_year",
                ),
                _ => return None,
            };
            return Some(date_hit(
                i,
                i + 2,
                date,
                interp(&[gran(g), (key, json!(m))]),
            ));
        }
        // Bare weekday: next occurrence, today included.
        if let Some(d) = weekday(w) {
            let ahead = (7 + d.num_days_from_monday() as i64
                - today.weekday().num_days_from_monday() as i64)
                % 7;
            return Some(date_hit(
                i,
                i + 1,
                add_days(today, ahead),
                interp(&[
                    gran("day"),
                    ("specific_day_of_week", json!(weekday_name(d))),
                ]),
            ));
        }
        // Festivals.
        if let Some((end, m, d, name)) = festival(toks, i) {
            let date = next_month_day(today, m, d)?;
            return Some(date_hit(
                i,
                end,
                date,
                interp(&[gran("day"), ("festival", json!(name))]),
            ));
        }
        // Month Day [Year] / Month Year.
        if let Some((m, strict)) = month(w) {
            let mut j = i + 1;
            if toks.get(j).is_some_and(|t| t.is_sym('.')) && strict {
                j += 1;
            }
            if toks.get(j).is_some_and(|t| t.is_word("the")) {
                j += 1;
            }
            if let Some((day, k)) = day_of_month(toks, j) {
                if let Some((y, k2)) = year_at(toks, k) {
                    let date = NaiveDate::from_ymd_opt(y, m, day)?;
                    return Some(date_hit(
                        i,
                        k2,
                        date,
                        interp(&[
                            gran("day"),
                            ("specific_day", json!(day)),
                            ("specific_month", json!(m)),
                            ("specific_year", json!(y)),
                        ]),
                    ));
                }
                let date = next_month_day(today, m, day)?;
                return Some(date_hit(
                    i,
                    k,
                    date,
                    interp(&[
                        gran("day"),
                        ("specific_day", json!(day)),
                        ("specific_month", json!(m)),
                    ]),
                ));
            }
            if let Some((y, k)) = year_at(toks, i + 1) {
                let date = NaiveDate::from_ymd_opt(y, m, 1)?;
                return Some(date_hit(
                    i,
                    k,
                    date,
                    interp(&[
                        gran("month"),
                        ("specific_month", json!(m)),
                        ("specific_year", json!(y)),
                    ]),
                ));
            }
            if !strict {
                let date = next_month_day(today, m, 1)?;

                return Some(date_hit(
                    i,
                    i + 1,
                    date,
                    interp(&[gran("month"), ("specific_month", json!(m))]),
                ));
            }
            return None;
        }
        // "the 5th (of May)".
        if w == "the" {
            let (day, k) = day_of_month(toks, i + 1)?;
            let is_ordinal = k > i + 2 || toks[i + 1].word().is_some();
            if let Some(h) = day_then_month(toks, i, day, k, today) {
                return Some(h);
            }
            if !is_ordinal {
                return None;
            }
            let mut date = NaiveDate::from_ymd_opt(today.year(), today.month(), day);
            if date.is_none_or(|d| d < today) {
                date = add_months(today.with_day(1)?, 1).with_day(day);
            }
            return Some(date_hit(
                i,
                k,
                date?,
                interp(&[gran("day"), ("specific_day", json!(day))]),
            ));
        }
        if let Some((day, k)) = day_of_month(toks, i) {
            return day_then_month(toks, i, day, k, today);
        }
        return None;
    }
    // Numeric dates.
    let n = t.num()?;
    // ISO yyyy-mm-dd.
    if t.raw.len() == 4 && toks.len() > i + 4 {
        let (a, b, c, d) = (&toks[i + 1], &toks[i + 2], &toks[i + 3], &toks[i + 4]);
        if (a.is_sym('-') || a.is_sym('/'))
            && (c.is_sym('-') || c.is_sym('/'))
            && glued(t, a)
            && glued(a, b)
            && glued(b, c)
            && glued(c, d)
        {
            let date = NaiveDate::from_ymd_opt(n as i32, b.num()? as u32, d.num()? as u32)?;
            return Some(date_hit(
                i,
                i + 5,
                date,
                interp(&[
                    gran("day"),
                    ("specific_day", json!(date.day())),
                    ("specific_month", json!(date.month())),
                    ("specific_year", json!(date.year())),
                ]),
            ));
        }
    }
    // US m/d[/yyyy].
    if t.raw.len() <= 2
        && toks.len() > i + 2
        && toks[i + 1].is_sym('/')
        && glued(t, &toks[i + 1])
        && glued(&toks[i + 1], &toks[i + 2])
    {
        let m = n as u32;
        let dt = &toks[i + 2];
        if dt.raw.len() > 2 {
            return None;
        }
        let day = dt.num()? as u32;
        if toks.len() > i + 4
            && toks[i + 3].is_sym('/')
            && glued(dt, &toks[i + 3])
            && glued(&toks[i + 3], &toks[i + 4])
        {
            let yt = &toks[i + 4];
            let mut y = yt.num()? as i32;
            if yt.raw.len() == 2 {
                y += 2000;
            }
            let date = NaiveDate::from_ymd_opt(y, m, day)?;
            return Some(date_hit(
                i,
                i + 5,
                date,
                interp(&[
                    gran("day"),
                    ("specific_day", json!(day)),
                    ("specific_month", json!(m)),
                    ("specific_year", json!(y)),
                ]),
            ));
        }
        let date = next_month_day(today, m, day)?;
        return Some(date_hit(
            i,
            i + 3,
            date,
            interp(&[
                gran("day"),
                ("specific_day", json!(day)),
                ("specific_month", json!(m)),
            ]),
        ));
    }
    let _ = nums;
    if let Some((day, k)) = day_of_month(toks, i) {
        return day_then_month(toks, i, day, k, today);
    }
    None
}

/// "5 May", "5th of May 2024" (day first, then month).
fn day_then_month(toks: &[Tok], first: usize, day: u32, k: usize, today: NaiveDate) -> Option<Hit> {
    let mut j = k;
    if toks.get(j).is_some_and(|t| t.is_word("of")) {
        j += 1;
    }
    let (m, _) = month(toks.get(j)?.word()?)?;
    let gran = ("granularity", json!("day"));
    if let Some((y, k2)) = year_at(toks, j + 1) {
        let date = NaiveDate::from_ymd_opt(y, m, day)?;
        return Some(date_hit(
            first,
            k2,
            date,
            interp(&[
                gran,
                ("specific_day", json!(day)),
                ("specific_month", json!(m)),
                ("specific_year", json!(y)),
            ]),
        ));
    }
    let date = next_month_day(today, m, day)?;
    Some(date_hit(
        first,
        j + 1,
        date,
        interp(&[
            gran,
            ("specific_day", json!(day)),
            ("specific_month", json!(m)),
        ]),
    ))
}

/// Festivals: `(end, month, day, name)`.
fn festival(toks: &[Tok], i: usize) -> Option<(usize, u32, u32, &'static str)> {
    let w = |k: usize| toks.get(k).and_then(Tok::word);
    match w(i)? {
        "christmas" | "xmas" => {
            if matches!(w(i + 1), Some("eve")) {
                Some((i + 2, 12, 24, "christmas eve"))
            } else {
                let end = if matches!(w(i + 1), Some("day")) {
                    i + 2
                } else {
                    i + 1
                };
                Some((end, 12, 25, "christmas"))
            }
        }
        "halloween" => Some((i + 1, 10, 31, "halloween")),
        "new" => {
            if !matches!(w(i + 1), Some("year's" | "years" | "year")) {
                return None;
            }
            match w(i + 2) {
                Some("eve") => Some((i + 3, 12, 31, "new year's eve")),
                Some("day") => Some((i + 3, 1, 1, "new year's day")),
                _ => None,
            }
        }
        "valentine's" | "valentines" if matches!(w(i + 1), Some("day")) => {
            Some((i + 2, 2, 14, "valentine's day"))
        }
        "independence" if matches!(w(i + 1), Some("day")) => {
            Some((i + 2, 7, 4, "independence day"))
        }
        _ => None,
    }
}

/// am/pm after a time: `(is_pm, next index)`; accepts "pm", "p.m.", "p m".
fn meridiem(toks: &[Tok], j: usize) -> Option<(bool, usize)> {
    let t = toks.get(j)?;
    let w = t.word()?;
    match w {
        "am" | "a" | "pm" | "p" => {}
        _ => return None,
    }
    let pm = w.starts_with('p');
    if w.len() == 2 {
        let mut end = j + 1;
        if toks.get(end).is_some_and(|t| t.is_sym('.'))
            && toks.get(end).is_some_and(|d| d.start == t.end)
        {
            end += 1;
        }
        return Some((pm, end));
    }
    // "a.m." / "p.m."
    let (d1, m, d2) = (toks.get(j + 1)?, toks.get(j + 2)?, toks.get(j + 3));
    if d1.is_sym('.') && m.is_word("m") {
        let end = if d2.is_some_and(|d| d.is_sym('.')) {
            j + 4
        } else {
            j + 3
        };
        return Some((pm, end));
    }
    None
}

fn apply_meridiem(h: u32, pm: bool) -> Option<u32> {
    if !(1..=12).contains(&h) {
        return None;
    }
    Some(match (h, pm) {
        (12, false) => 0,
        (12, true) => 12,
        (h, true) => h + 12,
        (h, false) => h,
    })
}

/// "in the morning/afternoon/evening", "at night", "tonight" after an hour.
fn day_part(toks: &[Tok], j: usize) -> Option<(bool, usize)> {
    let w = |k: usize| toks.get(k).and_then(Tok::word);
    match (w(j), w(j + 1), w(j + 2)) {
        (Some("in"), Some("the"), Some("morning")) => Some((false, j + 3)),
        (Some("in"), Some("the"), Some("afternoon" | "evening")) => Some((true, j + 3)),
        (Some("at"), Some("night"), _) => Some((true, j + 2)),
        (Some("tonight"), _, _) => Some((true, j + 1)),
        _ => None,
    }
}

fn time_at(toks: &[Tok], nums: &[NumSpan], i: usize, _today: NaiveDate) -> Option<Hit> {
    let t = &toks[i];
    let gran = |g: &str| ("granularity", json!(g));
    if let Some(w) = t.word() {
        match w {
            "noon" | "midday" => {
                return Some(time_hit(
                    i,
                    i + 1,
                    NaiveTime::from_hms_opt(12, 0, 0)?,
                    interp(&[gran("hour")]),
                ))
            }
            "midnight" => {
                return Some(time_hit(
                    i,
                    i + 1,
                    NaiveTime::from_hms_opt(0, 0, 0)?,
                    interp(&[gran("hour")]),
                ))
            }
            "half" | "quarter" => {
                let dir = toks.get(i + 1).and_then(Tok::word)?;
                let (h, end) = hour_at(toks, nums, i + 2)?;
                let mins = if w == "half" { 30 } else { 15 };
                let (h, m) = match dir {
                    "past" | "after" => (h, mins),
                    "to" | "before" if w == "quarter" => ((h + 23) % 24, 45),
                    _ => return None,
                };
                let (h, end) = match meridiem(toks, end) {
                    Some((pm, e)) => (apply_meridiem(h, pm)?, e),
                    None => (h, end),
                };
                return Some(time_hit(
                    i,
                    end,
                    NaiveTime::from_hms_opt(h, m, 0)?,
                    interp(&[gran("minute")]),
                ));
            }
            "at" => {
                // "at 7", "at seven": a bare hour after "at".
                let (h, end) = hour_at(toks, nums, i + 1)?;
                if clock_at(toks, i + 1).is_some() {
                    return None;
                }
                if toks
                    .get(end)
                    .and_then(Tok::word)
                    .is_some_and(|w| unit_word(w).is_some() || w == "percent")
                {
                    return None;
                }
                let (h, end) = match day_part(toks, end) {
                    Some((pm, e)) if e > end => (if pm && h < 12 { h + 12 } else { h }, e),
                    _ => (h, end),
                };
                return Some(time_hit(
                    i + 1,
                    end,
                    NaiveTime::from_hms_opt(h, 0, 0)?,
                    interp(&[gran("hour")]),
                ));
            }
            _ => {}
        }
        // "five pm", "seven o'clock".
        let (h, end) = hour_at(toks, nums, i)?;
        if toks[i].num().is_some() {
            return None;
        }
        return clock_suffix(toks, i, h, 0, end, "hour");
    }
    clock_at(toks, i)
}

/// An hour 0-23 as digits or a word at `j`.
fn hour_at(toks: &[Tok], nums: &[NumSpan], j: usize) -> Option<(u32, usize)> {
    let t = toks.get(j)?;
    if let Some(n) = t.num() {
        return (n.fract() == 0.0 && (0.0..24.0).contains(&n) && t.raw.len() <= 2)
            .then_some((n as u32, j + 1));
    }
    let n = nums.iter().find(|n| n.first == j)?;
    (n.value.fract() == 0.0 && (0.0..24.0).contains(&n.value) && n.last == j + 1)
        .then_some((n.value as u32, n.last))
}

/// After an hour (and minutes): am/pm, "o'clock", or a part of day. Without one, not a time.
fn clock_suffix(toks: &[Tok], first: usize, h: u32, m: u32, end: usize, g: &str) -> Option<Hit> {
    let gran = ("granularity", json!(g));
    if let Some((pm, e)) = meridiem(toks, end) {
        let h = apply_meridiem(h, pm)?;
        return Some(time_hit(
            first,
            e,
            NaiveTime::from_hms_opt(h, m, 0)?,
            interp(&[gran]),
        ));
    }
    if toks
        .get(end)
        .is_some_and(|t| t.is_word("o'clock") || t.is_word("oclock"))
    {
        let (h, e) = match day_part(toks, end + 1) {
            Some((pm, e)) if e > end + 1 => (if pm && h < 12 { h + 12 } else { h }, e),
            _ => (h, end + 1),
        };
        return Some(time_hit(
            first,
            e,
            NaiveTime::from_hms_opt(h, m, 0)?,
            interp(&[gran]),
        ));
    }
    if let Some((pm, e)) = day_part(toks, end) {
        if e > end {
            let h = if pm && h < 12 { h + 12 } else { h };
            return Some(time_hit(
                first,
                e,
                NaiveTime::from_hms_opt(h, m, 0)?,
                interp(&[gran]),
            ));
        }
    }
    None
}

/// Digit clock times: "5pm", "5 pm", "17:45", "5:30:15 a.m.".
fn clock_at(toks: &[Tok], i: usize) -> Option<Hit> {
    let t = toks.get(i)?;
    let n = t.num()?;
    if n.fract() != 0.0 || t.raw.len() > 2 || !(0.0..24.0).contains(&n) {
        // "5.30pm" is scanned as 5.3: accept a two-digit fraction followed by am/pm.
        if t.raw.len() == 4 && t.raw.as_bytes().get(1) == Some(&b'.')
            || t.raw.len() == 5 && t.raw.as_bytes().get(2) == Some(&b'.')
        {
            let (hh, mm) = t.raw.split_once('.')?;
            let (h, m) = (hh.parse::<u32>().ok()?, mm.parse::<u32>().ok()?);
            let (pm, e) = meridiem(toks, i + 1)?;
            if m < 60 {
                return Some(time_hit(
                    i,
                    e,
                    NaiveTime::from_hms_opt(apply_meridiem(h, pm)?, m, 0)?,
                    interp(&[("granularity", json!("minute"))]),
                ));
            }
        }
        return None;
    }
    let h = n as u32;
    let colon = toks.get(i + 1).filter(|c| c.is_sym(':') && glued(t, c));
    if colon.is_some() {
        let mt = toks.get(i + 2)?;
        if mt.raw.len() != 2 {
            return None;
        }
        let m = mt.num()? as u32;
        let mut end = i + 3;
        let mut s = 0;
        let mut g = "minute";
        if toks.get(end).is_some_and(|c| c.is_sym(':')) {
            if let Some(st) = toks.get(end + 1).filter(|x| x.raw.len() == 2) {
                s = st.num()? as u32;
                end += 2;
                g = "second";
            }
        }
        if let Some((pm, e)) = meridiem(toks, end) {
            return Some(time_hit(
                i,
                e,
                NaiveTime::from_hms_opt(apply_meridiem(h, pm)?, m, s)?,
                interp(&[("granularity", json!(g))]),
            ));
        }
        let hit = time_hit(
            i,
            end,
            NaiveTime::from_hms_opt(h, m, s)?,
            interp(&[("granularity", json!(g))]),
        );
        return match day_part(toks, end) {
            Some((true, e)) if e > end && h < 12 => Some(time_hit(
                i,
                e,
                NaiveTime::from_hms_opt(h + 12, m, s)?,
                interp(&[("granularity", json!(g))]),
            )),
            _ => Some(hit),
        };
    }
    clock_suffix(toks, i, h, 0, i + 1, "hour")
}

/// Mark "from X to Y" / "between X and Y" / "X - Y" / "X to Y" / "X until Y" pairs of the same
/// kind as ranges; a bare number before a time with am/pm ("2-4pm") becomes a time too.
fn link_ranges(toks: &[Tok], hits: &mut Vec<Hit>) {
    hits.sort_by_key(|h| (h.first, h.kind == HitKind::Time));
    // "2-4pm", "from 2 to 4pm", "between 2 and 4 pm": promote the bare hour.
    let mut extra = Vec::new();
    for h in hits.iter().filter(|h| h.kind == HitKind::Time) {
        if h.first < 2 {
            continue;
        }
        let sep = &toks[h.first - 1];
        let prev = &toks[h.first - 2];
        let is_sep = sep.is_sym('-')
            || sep.is_word("to")
            || sep.is_word("and")
            || sep.is_word("until")
            || sep.is_word("till");
        let Some(n) = prev.num() else { continue };
        if !is_sep
            || n.fract() != 0.0
            || prev.raw.len() > 2
            || hits
                .iter()
                .any(|o| o.first <= h.first - 2 && h.first - 2 < o.last)
        {
            continue;
        }
        let (hour, _) = (n as u32, ());
        let pm = h.value.as_str() >= "12:00:00";
        let hour = if pm && hour < 12 { hour + 12 } else { hour };
        if let Some(t) = NaiveTime::from_hms_opt(hour, 0, 0) {
            extra.push(time_hit(
                h.first - 2,
                h.first - 1,
                t,
                interp(&[("granularity", json!("hour"))]),
            ));
        }
    }
    hits.extend(extra);
    hits.sort_by_key(|h| (h.first, h.kind == HitKind::Time));
    let mut link = 0;
    for kind in [HitKind::Date, HitKind::Time] {
        let idx: Vec<usize> = (0..hits.len()).filter(|&k| hits[k].kind == kind).collect();
        for w in idx.windows(2) {
            let (a, b) = (w[0], w[1]);
            if hits[a].role.is_some() || hits[b].last <= hits[a].last {
                continue;
            }
            let between: Vec<&Tok> = toks[hits[a].last..hits[b].first].iter().collect();
            let sep_ok = match between.as_slice() {
                [s] => {
                    s.is_sym('-')
                        || s.is_word("to")
                        || s.is_word("until")
                        || s.is_word("till")
                        || s.is_word("through")
                        || s.is_word("and")
                        || s.is_word("thru")
                }
                _ => false,
            };
            if !sep_ok {
                continue;
            }
            let before = hits[a].first.checked_sub(1).map(|k| &toks[k]);
            let and_needs_between = between[0].is_word("and");
            if and_needs_between && !before.is_some_and(|t| t.is_word("between")) {
                continue;
            }
            link += 1;
            let (from, to, name) = match kind {
                HitKind::Date => ("date_from", "date_to", "date_range"),
                HitKind::Time => ("time_from", "time_to", "time_range"),
            };
            hits[a].role = Some(from);
            hits[b].role = Some(to);
            let l = json!(format!("{name}_{link}"));
            hits[a]
                .interpretation
                .insert("range_link".into(), l.clone());
            hits[b].interpretation.insert("range_link".into(), l);
        }
    }
}
