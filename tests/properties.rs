//! Property tests of the parsers every request goes through: the form / PHP-bracket parser, the
//! time parsers, the CSV options. A seeded generator (deterministic: a failure reproduces with
//! the printed seed and case) and a time bound; no server needed.
use std::time::{Duration, Instant};

use chrono::{Datelike, Utc};
use kbstack::http::Params;
use kbstack::queue::search::parse_when;
use kbstack::storage::tables::import::csv_options;
use kbstack::storage::tables::select::parse_time;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

const SEED: u64 = 0x6b62_7374_6163_6b;
const CASES: usize = 3000;

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items.choose(rng).unwrap()
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn any_text(rng: &mut StdRng, max: usize) -> String {
    const PARTS: &[&str] = &["a", "Z", "0", " ", "[", "]", "=", "&", "%", "+", "\0", "é", "😀", "\n", "'", "\"", ",", "%FF", "%00", "[]"];
    (0..rng.gen_range(0..=max)).map(|_| pick(rng, PARTS)).collect()
}

#[test]
fn the_form_parser_never_panics_and_keeps_php_semantics() {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(SEED);
    for case in 0..CASES {
        // Arbitrary input: parsed or refused as bad input, never a panic.
        let raw = any_text(&mut rng, 120);
        if let Err(e) = Params::from_query(Some(&raw)) {
            assert!(e.code.status() == 400, "case {case}: {raw:?} → {e}");
        }

        // Well-formed input: each key sent plain (`k=v`, repeated) or appended (`k[]=v`): as a
        // list it is every value in order, read as one value it is the last (PHP).
        let keys = ["a", "b", "include", "limit"];
        let bracketed: Vec<bool> = keys.iter().map(|_| rng.gen_bool(0.5)).collect();
        let mut sent: Vec<(usize, String)> = Vec::new();
        for _ in 0..rng.gen_range(1..8) {
            sent.push((rng.gen_range(0..keys.len()), any_text(&mut rng, 10)));
        }
        let query = sent
            .iter()
            .map(|(k, v)| format!("{}{}={}", keys[*k], if bracketed[*k] { "[]" } else { "" }, encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let p = Params::from_query(Some(&query)).unwrap_or_else(|e| panic!("case {case}: {query:?} → {e}"));
        for (i, key) in keys.iter().enumerate() {
            let expected: Vec<String> = sent.iter().filter(|(k, _)| *k == i).map(|(_, v)| v.clone()).collect();
            if expected.is_empty() {
                assert!(p.get(key).is_none(), "case {case}: {query:?}: {key}");
                continue;
            }
            assert_eq!(p.list(key), expected, "case {case}: {query:?}: list of {key}");
            assert_eq!(p.str(key).as_deref(), expected.last().map(String::as_str), "case {case}: {query:?}: value of {key}");
        }
    }
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
}

#[test]
fn the_time_parsers_never_panic_and_stay_in_range() {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(SEED + 1);
    const UNITS: &[&str] = &["sec", "second", "min", "minute", "hour", "day", "week", "month", "year", "fortnight", ""];
    const WORDS: &[&str] = &["now", "today", "yesterday", "tomorrow", "midnight", "last", "next", "this", "monday", "fri", "ago", "+", "-", "T", ":"];
    for case in 0..CASES {
        let amount: i64 = match rng.gen_range(0..4) {
            0 => rng.gen_range(-1000..1000),
            1 => rng.gen_range(-10_000_000_000_000..10_000_000_000_000),
            2 => *[i64::MAX, i64::MIN, i64::MAX / 86_400, 100_000_000_000, -100_000_000_000].choose(&mut rng).unwrap(),
            _ => rng.r#gen(),
        };
        let unit = pick(&mut rng, UNITS);
        let plural = if rng.gen_bool(0.5) { "s" } else { "" };
        let ago = if rng.gen_bool(0.3) { " ago" } else { "" };
        let phrases = [
            format!("{amount} {unit}{plural}{ago}"),
            format!("+{amount} {unit}"),
            amount.to_string(),
            (0..rng.gen_range(1..4)).map(|_| pick(&mut rng, WORDS)).collect::<Vec<_>>().join(" "),
            format!("{}-{:02}-{:02}", rng.gen_range(-300_000..300_000), rng.gen_range(0..14), rng.gen_range(0..33)),
            any_text(&mut rng, 20),
        ];
        for phrase in &phrases {
            if let Ok(t) = parse_time("t", phrase) {
                assert!((1..=9999).contains(&t.year()), "case {case}: {phrase:?} → {t}");
            } else if let Err(e) = parse_time("t", phrase) {
                assert_eq!(e.code.status(), 400, "case {case}: {phrase:?}");
            }
            if let Some(ms) = parse_when(phrase) {
                let t = chrono::DateTime::from_timestamp_millis(ms).unwrap();
                assert!((1..=9999).contains(&t.year()), "case {case}: {phrase:?} → {t}");
            }
        }
        // A sane relative time is understood and lands where it says.
        let days: i64 = rng.gen_range(-700_000..2_900_000);
        let t = parse_time("t", &format!("{days} days")).unwrap_or_else(|e| panic!("case {case}: {days} days → {e}"));
        let drift = (t - Utc::now()).num_seconds() - days * 86_400;
        assert!(drift.abs() < 60, "case {case}: {days} days → {t}");
        assert!(parse_when(&format!("{days} days")).is_some(), "case {case}");
    }
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
}

#[test]
fn csv_options_accepted_are_usable_by_the_byte_level_reader() {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(SEED + 2);
    const CHARS: &[&str] = &[",", ";", "\t", "\\t", "|", "\"", "'", "\\", "", "ab", "\0", "\n", "\r", "é", "😀", " ", "a", "#"];
    for case in 0..CASES {
        let mut values = Map::new();
        for key in ["delimiter", "enclosure", "escapedBy"] {
            if rng.gen_bool(0.7) {
                values.insert(key.into(), Value::String(pick(&mut rng, CHARS).to_string()));
            }
        }
        let sent = values.clone();
        let p = Params { values, files: Vec::new() };
        match csv_options(&p) {
            Ok(o) => {
                let used: Vec<char> = std::iter::once(o.delimiter).chain(o.enclosure).chain(o.escaped_by).collect();
                for c in &used {
                    assert!(c.is_ascii() && !matches!(c, '\0' | '\n' | '\r'), "case {case}: {sent:?} → {o:?}");
                }
                assert!(o.enclosure != Some(o.delimiter) && o.escaped_by != Some(o.delimiter), "case {case}: {sent:?} → {o:?}");
                assert!(o.enclosure.is_none() || o.escaped_by.is_none(), "case {case}: {sent:?} → {o:?}");
            }
            Err(e) => assert_eq!(e.code.status(), 400, "case {case}: {sent:?} → {e}"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
}
