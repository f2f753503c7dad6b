//! System entities: `@sys-number`, `@sys-percentage`, `@sys-currency`, `@sys-date`, `@sys-time`.
//!
//! Each is enabled by a `sys-*` entry in the workspace `entities` (usually with empty `values`).
//! English gets the full grammar; other languages get what is language-neutral (digits, `%`,
//! currency symbols and ISO codes, numeric dates, `17:45` clock times), never an error.
//! `@sys-person` / `@sys-location` (removed by IBM in 2020) are accepted and never detected.

pub mod datetime;
pub mod numbers;
pub mod scan;

use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};

use crate::entities::{char_slice, EntityMatch};
use crate::AnalyzeContext;
use datetime::HitKind;
use numbers::{format_number, json_number};

/// Longest input considered, in characters.
const MAX_INPUT_CHARS: usize = 4096;

/// Which system entities a skill enabled.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SystemEntities {
    /// `@sys-number`.
    pub number: bool,
    /// `@sys-percentage`.
    pub percentage: bool,
    /// `@sys-currency`.
    pub currency: bool,
    /// `@sys-date`.
    pub date: bool,
    /// `@sys-time`.
    pub time: bool,
    english: bool,
}

impl SystemEntities {
    /// Enabled entities from the workspace's `sys-*` entity entries.
    pub fn from_workspace(workspace: &Value, language: &str) -> Self {
        let mut s = SystemEntities {
            english: language
                .split(['-', '_'])
                .next()
                .is_some_and(|b| b.eq_ignore_ascii_case("en")),
            ..SystemEntities::default()
        };
        for e in workspace
            .get("entities")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            match e.get("entity").and_then(Value::as_str) {
                Some("sys-number") => s.number = true,
                Some("sys-percentage") => s.percentage = true,
                Some("sys-currency") => s.currency = true,
                Some("sys-date") => s.date = true,
                Some("sys-time") => s.time = true,
                _ => {}
            }
        }
        s
    }

    /// All five enabled (for tests and tools).
    pub fn all(language: &str) -> Self {
        SystemEntities {
            number: true,
            percentage: true,
            currency: true,
            date: true,
            time: true,
            english: language.starts_with("en"),
        }
    }

    fn any(&self) -> bool {
        self.number || self.percentage || self.currency || self.date || self.time
    }

    /// Recognise the enabled system entities in `text`.
    pub fn recognize(&self, text: &str, ctx: &AnalyzeContext<'_>) -> Vec<EntityMatch> {
        if !self.any() {
            return Vec::new();
        }
        let tz_name = ctx.timezone.unwrap_or("GMT");
        let now: NaiveDateTime = match ctx.timezone.and_then(|t| t.parse::<chrono_tz::Tz>().ok()) {
            Some(tz) => ctx.reference_time.with_timezone(&tz).naive_local(),
            None => ctx.reference_time.naive_utc(),
        };
        let text: String = text.chars().take(MAX_INPUT_CHARS).collect();
        let toks = scan::scan(&text);
        let nums = numbers::numbers(&toks, self.english);
        let mut out = Vec::new();
        let span = |first: usize, last: usize| (toks[first].start, toks[last - 1].end);
        let mk = |entity: &str, loc: (usize, usize), value: Value, extra: Map<String, Value>| {
            EntityMatch {
                entity: entity.to_string(),
                location: loc,
                value,
                confidence: 1.0,
                literal: char_slice(&text, loc.0, loc.1),
                extra,
            }
        };
        let roles = number_ranges(&toks, &nums, self.english);
        for (k, n) in nums.iter().enumerate() {
            let numeric = json_number(n.value);
            if self.number {
                let mut extra = Map::new();
                let mut interp = json!({"numeric_value": numeric});
                if let Some((role, link)) = &roles[k] {
                    extra.insert("role".into(), json!({"type": role}));
                    interp["range_link"] = json!(link);
                }
                extra.insert("metadata".into(), json!({"numeric_value": numeric}));
                extra.insert("interpretation".into(), interp);
                out.push(mk(
                    "sys-number",
                    span(n.first, n.last),
                    json!(format_number(n.value)),
                    extra,
                ));
            }
            if self.percentage {
                if let Some(end) = numbers::percentage(&toks, n, self.english) {
                    let mut extra = Map::new();
                    extra.insert("metadata".into(), json!({"numeric_value": numeric}));
                    extra.insert("interpretation".into(), json!({"numeric_value": numeric}));
                    out.push(mk(
                        "sys-percentage",
                        span(n.first, end),
                        json!(format_number(n.value)),
                        extra,
                    ));
                }
            }
            if self.currency {
                if let Some((first, last, value, unit)) = numbers::currency(&toks, n, self.english)
                {
                    let v = json_number(value);
                    let mut extra = Map::new();
                    extra.insert("metadata".into(), json!({"numeric_value": v, "unit": unit}));
                    extra.insert(
                        "interpretation".into(),
                        json!({"numeric_value": v, "unit": unit}),
                    );
                    out.push(mk(
                        "sys-currency",
                        span(first, last),
                        json!(format_number(value)),
                        extra,
                    ));
                }
            }
        }
        if self.date || self.time {
            let hits = if self.english {
                datetime::recognize(&toks, &nums, now)
            } else {
                // Language-neutral forms only: numeric dates and hh:mm clock times.
                datetime::recognize(&toks, &nums, now)
                    .into_iter()
                    .filter(|h| toks[h.first..h.last].iter().all(|t| t.word().is_none()))
                    .collect()
            };
            for h in hits {
                let enabled = match h.kind {
                    HitKind::Date => self.date,
                    HitKind::Time => self.time,
                };
                if !enabled {
                    continue;
                }
                let mut interp = h.interpretation.clone();
                interp.insert("calendar_type".into(), json!("GREGORIAN"));
                interp.insert("timezone".into(), json!(tz_name));
                let mut extra = Map::new();
                extra.insert(
                    "metadata".into(),
                    json!({"calendar_type": "GREGORIAN", "timezone": tz_name}),
                );
                extra.insert("interpretation".into(), Value::Object(interp));
                if let Some(role) = h.role {
                    extra.insert("role".into(), json!({"type": role}));
                }
                let entity = match h.kind {
                    HitKind::Date => "sys-date",
                    HitKind::Time => "sys-time",
                };
                out.push(mk(entity, span(h.first, h.last), json!(h.value), extra));
            }
        }
        out
    }
}

/// Number ranges: "between 5 and 10", "from 5 to 10", "5 to 10", "5-10", "5 through 10" give
/// the two numbers the roles `number_from` / `number_to` and a shared `range_link`.
fn number_ranges(
    toks: &[scan::Tok],
    nums: &[numbers::NumSpan],
    english: bool,
) -> Vec<Option<(&'static str, String)>> {
    let mut roles = vec![None; nums.len()];
    let mut link = 0;
    for k in 1..nums.len() {
        let (a, b) = (&nums[k - 1], &nums[k]);
        if roles[k - 1].is_some() || b.first != a.last + 1 {
            continue;
        }
        let sep = &toks[a.last];
        let between = a.first > 0 && toks[a.first - 1].is_word("between");
        let ok = (sep.is_sym('-') && a.value <= b.value && a.value >= 0.0)
            || (english
                && (sep.is_word("to")
                    || sep.is_word("through")
                    || sep.is_word("thru")
                    || (sep.is_word("and") && between)));
        if ok {
            link += 1;
            let l = format!("number_range_{link}");
            roles[k - 1] = Some(("number_from", l.clone()));
            roles[k] = Some(("number_to", l));
        }
    }
    roles
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::sort_and_resolve;
    use chrono::TimeZone;

    /// Wednesday 2024-05-22 14:30:00 UTC.
    fn ctx(tz: Option<&str>) -> AnalyzeContext<'_> {
        AnalyzeContext {
            timezone: tz,
            reference_time: chrono::Utc
                .with_ymd_and_hms(2024, 5, 22, 14, 30, 0)
                .single()
                .expect("valid date"),
        }
    }

    fn found(text: &str) -> Vec<(String, String, String)> {
        found_in(text, "en", None)
    }

    fn found_in(text: &str, lang: &str, tz: Option<&str>) -> Vec<(String, String, String)> {
        let mut v = SystemEntities::all(lang).recognize(text, &ctx(tz));
        sort_and_resolve(&mut v);
        v.into_iter()
            .map(|e| {
                (
                    e.entity,
                    e.literal,
                    e.value.as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    fn has(text: &str, entity: &str, literal: &str, value: &str) {
        let f = found(text);
        assert!(
            f.iter()
                .any(|(e, l, v)| e == entity && l == literal && v == value),
            "{text}: expected {entity} {literal:?} = {value}, got {f:?}"
        );
    }

    fn first(text: &str, entity: &str) -> Value {
        let mut v = SystemEntities::all("en").recognize(text, &ctx(None));
        sort_and_resolve(&mut v);
        v.into_iter()
            .find(|e| e.entity == entity)
            .map(|e| e.to_json())
            .unwrap_or(Value::Null)
    }

    #[test]
    fn numbers_in_digits_and_words() {
        has("I need 21 tickets", "sys-number", "21", "21");
        has("twenty five please", "sys-number", "twenty five", "25");
        has("it costs 3.13", "sys-number", "3.13", "3.13");
        has("about 1,234 people", "sys-number", "1,234", "1234");
        has("it is -5 degrees", "sys-number", "-5", "-5");
        has("minus four", "sys-number", "minus four", "-4");
        has(
            "two hundred and six",
            "sys-number",
            "two hundred and six",
            "206",
        );
        let j = first("twenty", "sys-number");
        assert_eq!(j["metadata"]["numeric_value"], json!(20));
        assert_eq!(j["location"], json!([0, 6]));
        assert_eq!(j["confidence"], json!(1.0));
    }

    #[test]
    fn percentages_and_currency_keep_their_numbers() {
        has("raise it by 15%", "sys-percentage", "15%", "15");
        has("fifteen percent", "sys-percentage", "fifteen percent", "15");
        has("send $20 now", "sys-currency", "$20", "20");
        has("send $20 now", "sys-number", "20", "20");
        has("twenty dollars", "sys-currency", "twenty dollars", "20");
        has("€5.50", "sys-currency", "€5.50", "5.5");
        has("50 cents", "sys-currency", "50 cents", "0.5");
        let j = first("$1,234.56", "sys-currency");
        assert_eq!(j["metadata"]["unit"], json!("USD"));
        assert_eq!(j["metadata"]["numeric_value"], json!(1234.56));
        assert_eq!(j["location"], json!([0, 9]));
    }

    #[test]
    fn relative_days() {
        has("today", "sys-date", "today", "2024-05-22");
        has("can I come tomorrow?", "sys-date", "tomorrow", "2024-05-23");
        has("yesterday", "sys-date", "yesterday", "2024-05-21");
        has(
            "the day after tomorrow",
            "sys-date",
            "the day after tomorrow",
            "2024-05-24",
        );
        has(
            "day before yesterday",
            "sys-date",
            "day before yesterday",
            "2024-05-20",
        );
        let j = first("tomorrow", "sys-date");
        assert_eq!(j["interpretation"]["relative_day"], json!(1));
        assert_eq!(j["interpretation"]["granularity"], json!("day"));
    }

    #[test]
    fn weekdays() {
        has("on friday", "sys-date", "friday", "2024-05-24");
        has("wednesday", "sys-date", "wednesday", "2024-05-22");
        has("next friday", "sys-date", "next friday", "2024-05-24");
        has("next wednesday", "sys-date", "next wednesday", "2024-05-29");
        has("last monday", "sys-date", "last monday", "2024-05-20");
        has("this monday", "sys-date", "this monday", "2024-05-20");
        assert_eq!(
            first("next friday", "sys-date")["interpretation"]["specific_day_of_week"],
            json!("friday")
        );
    }

    #[test]
    fn periods_and_offsets() {
        has("next week", "sys-date", "next week", "2024-05-27");
        has("next month", "sys-date", "next month", "2024-06-01");
        has("last year", "sys-date", "last year", "2023-01-01");
        has("this weekend", "sys-date", "this weekend", "2024-05-25");
        has("in 3 days", "sys-date", "in 3 days", "2024-05-25");
        has("in two weeks", "sys-date", "in two weeks", "2024-06-05");
        has("2 days ago", "sys-date", "2 days ago", "2024-05-20");
        has("in a month", "sys-date", "in a month", "2024-06-22");
    }

    #[test]
    fn absolute_dates() {
        has("May 5th, 2025", "sys-date", "May 5th, 2025", "2025-05-05");
        has("on June 3", "sys-date", "June 3", "2024-06-03");
        has("on May 1", "sys-date", "May 1", "2025-05-01");
        has(
            "the 5th of July",
            "sys-date",
            "the 5th of July",
            "2024-07-05",
        );
        has("3 August 2024", "sys-date", "3 August 2024", "2024-08-03");
        has("2024-12-31", "sys-date", "2024-12-31", "2024-12-31");
        has("12/25/2024", "sys-date", "12/25/2024", "2024-12-25");
        has("on 6/1", "sys-date", "6/1", "2024-06-01");
        has(
            "july the fourth",
            "sys-date",
            "july the fourth",
            "2024-07-04",
        );
        has("christmas", "sys-date", "christmas", "2024-12-25");
        has("in september", "sys-date", "september", "2024-09-01");
        assert_eq!(
            first("christmas", "sys-date")["interpretation"]["festival"],
            json!("christmas")
        );
    }

    #[test]
    fn modal_may_and_march_are_not_dates() {
        assert!(found("may I ask a question")
            .iter()
            .all(|e| e.0 != "sys-date"));
        assert!(found("they march on").iter().all(|e| e.0 != "sys-date"));
    }

    #[test]
    fn clock_times() {
        has("at 5pm", "sys-time", "5pm", "17:00:00");
        has("5 pm", "sys-time", "5 pm", "17:00:00");
        has("at 5:30 a.m.", "sys-time", "5:30 a.m.", "05:30:00");
        has("17:45", "sys-time", "17:45", "17:45:00");
        has("at noon", "sys-time", "noon", "12:00:00");
        has("midnight", "sys-time", "midnight", "00:00:00");
        has("12am", "sys-time", "12am", "00:00:00");
        has("half past four", "sys-time", "half past four", "04:30:00");
        has("quarter to 6 pm", "sys-time", "quarter to 6 pm", "17:45:00");
        has("seven o'clock", "sys-time", "seven o'clock", "07:00:00");
        has("at 7", "sys-time", "7", "07:00:00");
        has(
            "at 7 in the evening",
            "sys-time",
            "7 in the evening",
            "19:00:00",
        );
        let j = first("5:30pm", "sys-time");
        assert_eq!(j["interpretation"]["hour"], json!(17));
        assert_eq!(j["interpretation"]["minute"], json!(30));
        assert_eq!(j["interpretation"]["granularity"], json!("minute"));
    }

    #[test]
    fn relative_times_give_date_and_time() {
        has("in 2 hours", "sys-time", "in 2 hours", "16:30:00");
        has("in 2 hours", "sys-date", "in 2 hours", "2024-05-22");
        has("in 30 minutes", "sys-time", "in 30 minutes", "15:00:00");
        has("in 10 hours", "sys-date", "in 10 hours", "2024-05-23");
        has("now", "sys-time", "now", "14:30:00");
    }

    #[test]
    fn timezone_shifts_now() {
        let f = found_in("now and today", "en", Some("Asia/Tokyo"));
        assert!(
            f.contains(&("sys-time".into(), "now".into(), "23:30:00".into())),
            "{f:?}"
        );
        let f = found_in("tomorrow", "en", Some("Pacific/Kiritimati"));
        assert_eq!(f[0].2, "2024-05-24");
        let j = SystemEntities::all("en").recognize("today", &ctx(Some("Europe/Berlin")));
        assert_eq!(
            j[0].to_json()["metadata"]["timezone"],
            json!("Europe/Berlin")
        );
        // An unknown zone falls back to UTC.
        assert_eq!(
            found_in("today", "en", Some("Mars/Base"))[0].2,
            "2024-05-22"
        );
    }

    #[test]
    fn date_and_time_together() {
        let f = found("tomorrow at 5pm");
        assert_eq!(
            f,
            vec![
                ("sys-date".into(), "tomorrow".into(), "2024-05-23".into()),
                ("sys-time".into(), "5pm".into(), "17:00:00".into()),
            ]
        );
    }

    #[test]
    fn ranges_get_roles() {
        let mut v = SystemEntities::all("en").recognize("from monday to friday", &ctx(None));
        sort_and_resolve(&mut v);
        let roles: Vec<Value> = v
            .iter()
            .map(|e| e.to_json()["role"]["type"].clone())
            .collect();
        assert_eq!(roles, vec![json!("date_from"), json!("date_to")]);
        let mut v = SystemEntities::all("en").recognize("between 2pm and 4pm", &ctx(None));
        sort_and_resolve(&mut v);
        let times: Vec<(String, Value)> = v
            .iter()
            .filter(|e| e.entity == "sys-time")
            .map(|e| {
                (
                    e.value.as_str().unwrap_or_default().to_string(),
                    e.to_json()["role"]["type"].clone(),
                )
            })
            .collect();
        assert_eq!(
            times,
            vec![
                ("14:00:00".into(), json!("time_from")),
                ("16:00:00".into(), json!("time_to"))
            ]
        );
        let f = found("2-4pm");
        assert!(
            f.contains(&("sys-time".into(), "2".into(), "14:00:00".into())),
            "{f:?}"
        );
        assert!(
            f.contains(&("sys-time".into(), "4pm".into(), "16:00:00".into())),
            "{f:?}"
        );
    }

    #[test]
    fn number_ranges_get_roles() {
        for text in ["between 5 and 10", "from 5 to 10", "5-10"] {
            let mut v = SystemEntities::all("en").recognize(text, &ctx(None));
            sort_and_resolve(&mut v);
            let nums: Vec<(String, Value)> = v
                .iter()
                .filter(|e| e.entity == "sys-number")
                .map(|e| {
                    (
                        e.value.as_str().unwrap_or_default().to_string(),
                        e.to_json()["role"]["type"].clone(),
                    )
                })
                .collect();
            assert_eq!(
                nums,
                vec![
                    ("5".into(), json!("number_from")),
                    ("10".into(), json!("number_to"))
                ],
                "{text}"
            );
        }
        let v = SystemEntities::all("en").recognize("5 and 10", &ctx(None));
        assert!(v.iter().all(|e| e.to_json().get("role").is_none()));
    }

    #[test]
    fn numbers_inside_dates_and_times_are_dropped() {
        let f = found("May 5th at 5pm");
        assert!(f.iter().all(|e| e.0 != "sys-number"), "{f:?}");
        let f = found("book 3 rooms");
        assert_eq!(f, vec![("sys-number".into(), "3".into(), "3".into())]);
    }

    #[test]
    fn disabled_entities_are_not_returned() {
        let ws = json!({"entities": [{"entity": "sys-number", "values": []}]});
        let s = SystemEntities::from_workspace(&ws, "en");
        let v = s.recognize("$5 tomorrow", &ctx(None));
        assert!(v.iter().all(|e| e.entity == "sys-number"));
        assert_eq!(v.len(), 1);
        assert!(SystemEntities::from_workspace(&json!({}), "en")
            .recognize("5", &ctx(None))
            .is_empty());
    }

    #[test]
    fn german_falls_back_to_language_neutral_forms() {
        let f = found_in(
            "Am 2024-12-24 um 17:30 für 20 € und morgen fünf",
            "de",
            None,
        );
        assert!(
            f.contains(&("sys-date".into(), "2024-12-24".into(), "2024-12-24".into())),
            "{f:?}"
        );
        assert!(
            f.contains(&("sys-time".into(), "17:30".into(), "17:30:00".into())),
            "{f:?}"
        );
        assert!(
            f.contains(&("sys-currency".into(), "20 €".into(), "20".into())),
            "{f:?}"
        );
        assert!(f.iter().all(|e| e.1 != "morgen" && e.1 != "fünf"), "{f:?}");
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        for t in [
            "",
            "$",
            "-",
            "99999999999999999999999",
            "12/45/2024",
            "2024-13-45",
            "31st of february",
            "at 99",
            "in 99999999 years",
            "::::",
            "half past",
            "quarter to",
            "a.m.",
            "new year's",
            "5.75pm",
        ] {
            let _ = found(t);
        }
        let f = found("31st of february");
        assert!(
            f.iter()
                .all(|e| !(e.0 == "sys-date" && e.1.starts_with("31"))),
            "{f:?}"
        );
    }
}
