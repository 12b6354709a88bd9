//! Go-style durations (`250ms`, `10s`, `1m30s`, `1.5h`) for scenario files.
//!
//! Scenario authors already know this syntax from Kubernetes and Go tools.
//! Values are parsed into whole nanoseconds with integer arithmetic only, so
//! the same file always yields the same simulated times on every machine.
//! Unlike Go, negative durations are rejected: simulated durations and
//! latencies cannot be negative.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SECOND: u64 = 1_000_000_000;
const NANOS_PER_MINUTE: u64 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: u64 = 60 * NANOS_PER_MINUTE;

const UNIT_HELP: &str = "expected ns, us, ms, s, m or h, as in 250ms or 1m30s";

/// The length in nanoseconds of a unit suffix, or `None` if unknown.
fn unit_nanos(unit: &str) -> Option<u64> {
    match unit {
        "ns" => Some(1),
        // U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU look alike;
        // Go accepts both, so a copied value works either way.
        "us" | "\u{b5}s" | "\u{3bc}s" => Some(NANOS_PER_MICRO),
        "ms" => Some(NANOS_PER_MILLI),
        "s" => Some(NANOS_PER_SECOND),
        "m" => Some(NANOS_PER_MINUTE),
        "h" => Some(NANOS_PER_HOUR),
        _ => None,
    }
}

/// Parses a Go-style duration into nanoseconds: one or more numbers, each
/// with an optional fraction and a unit (`1h30m`, `1.5s`, `.5s`), or a bare
/// `0`. Fractions finer than a nanosecond are truncated, as in Go.
pub fn parse_duration(s: &str) -> Result<u64, DurationError> {
    let err = |reason: String| DurationError {
        input: s.to_owned(),
        reason,
    };
    if s.is_empty() {
        return Err(err("empty string".into()));
    }
    let body = match s.as_bytes()[0] {
        b'-' => return Err(err("negative durations are not allowed".into())),
        b'+' => &s[1..],
        _ => s,
    };
    // Go's one exception to "every number needs a unit".
    if body == "0" {
        return Ok(0);
    }
    if body.is_empty() {
        return Err(err("expected a number after the sign".into()));
    }

    let mut total: u64 = 0;
    let mut rest = body;
    while !rest.is_empty() {
        let int_len = count_digits(rest);
        let (int_digits, after_int) = rest.split_at(int_len);
        let (frac_digits, after_number) = match after_int.strip_prefix('.') {
            Some(after_dot) => after_dot.split_at(count_digits(after_dot)),
            None => ("", after_int),
        };
        // As in Go, the unit runs up to the next digit or decimal point.
        let unit_len = after_number
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after_number.len());
        let (unit, after_unit) = after_number.split_at(unit_len);
        let number = &rest[..rest.len() - after_number.len()];

        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(err(if unit.is_empty() {
                "expected a number, as in 250ms or 1m30s".to_owned()
            } else {
                format!("missing number before `{unit}`")
            }));
        }
        let unit_ns = match unit_nanos(unit) {
            Some(ns) => ns,
            None if unit.is_empty() => {
                return Err(err(format!(
                    "missing unit after `{number}`: write e.g. {number}s"
                )));
            }
            None if unit_nanos(unit.trim()).is_some() => {
                return Err(err(
                    "whitespace is not allowed between a number and its unit".into(),
                ));
            }
            None => {
                return Err(err(format!("unknown unit `{}` ({UNIT_HELP})", unit.trim())));
            }
        };

        let overflow = || err("too large (the maximum is about 584 years)".into());
        let whole = parse_u64(int_digits).ok_or_else(overflow)?;
        let component = whole
            .checked_mul(unit_ns)
            .and_then(|ns| ns.checked_add(fraction_nanos(frac_digits, unit_ns)))
            .ok_or_else(overflow)?;
        total = total.checked_add(component).ok_or_else(overflow)?;
        rest = after_unit;
    }
    Ok(total)
}

/// Length of the leading run of ASCII digits.
fn count_digits(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

/// Parses ASCII digits (possibly none, meaning zero); `None` on overflow.
fn parse_u64(digits: &str) -> Option<u64> {
    digits.bytes().try_fold(0_u64, |acc, d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// `floor(0.<digits> * unit_ns)`, exactly, for any number of digits.
///
/// Long multiplication from the last digit to the first: each step keeps
/// `floor` of everything to its right as the carry, and what carries out of
/// the first digit is the whole-nanosecond part. Intermediates stay below
/// `10 * unit_ns`, far inside u64 for units up to an hour.
fn fraction_nanos(digits: &str, unit_ns: u64) -> u64 {
    digits
        .bytes()
        .rev()
        .fold(0, |carry, d| (u64::from(d - b'0') * unit_ns + carry) / 10)
}

/// Formats nanoseconds as a Go-style duration for messages: `1.5s`,
/// `1m30s`, `2ms`, `0s`. Zero components are left out (`2h`, not
/// `2h0m0s`), and microseconds are written `us` to stay ASCII; the result
/// always parses back to the same value.
pub fn format_duration(ns: u64) -> String {
    if ns == 0 {
        return "0s".to_owned();
    }
    if ns < NANOS_PER_SECOND {
        let (unit_ns, unit) = if ns < NANOS_PER_MICRO {
            (1, "ns")
        } else if ns < NANOS_PER_MILLI {
            (NANOS_PER_MICRO, "us")
        } else {
            (NANOS_PER_MILLI, "ms")
        };
        return format!("{}{unit}", decimal(ns, unit_ns));
    }
    let hours = ns / NANOS_PER_HOUR;
    let minutes = ns % NANOS_PER_HOUR / NANOS_PER_MINUTE;
    let seconds = ns % NANOS_PER_MINUTE;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if seconds > 0 {
        out.push_str(&format!("{}s", decimal(seconds, NANOS_PER_SECOND)));
    }
    out
}

/// `value / unit` as a decimal with no trailing zeros (`1500, 1000` ->
/// `1.5`), where `unit` is a power of ten.
fn decimal(value: u64, unit: u64) -> String {
    let (whole, frac) = (value / unit, value % unit);
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let frac = format!("{frac:0width$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// Why a duration could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationError {
    /// The text as written.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid duration `{}`: {}", self.input, self.reason)
    }
}

impl std::error::Error for DurationError {}

/// A non-negative duration in nanoseconds, as written in scenario files.
///
/// Deserializes from a Go-style string (`250ms`, `1m30s`) or from the
/// integer `0`. Other bare numbers are rejected rather than guessed at, since
/// `10` could mean seconds or milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Duration(pub u64);

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }
}

struct DurationVisitor;

impl DurationVisitor {
    /// The error for a bare number: only a unit is missing, so say which.
    fn missing_unit<E: de::Error>(number: impl fmt::Display) -> E {
        E::custom(format!(
            "missing unit in duration `{number}`: write e.g. {number}s"
        ))
    }
}

// Errors go through `de::Error::custom` so serde_yaml appends the line and
// column of the offending value.
impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as 250ms, 10s or 1m30s")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).map(Duration).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        match v {
            0 => Ok(Duration(0)),
            _ => Err(Self::missing_unit(v)),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        match v {
            0 => Ok(Duration(0)),
            v if v < 0 => Err(E::custom(format!(
                "invalid duration `{v}`: negative durations are not allowed"
            ))),
            _ => Err(Self::missing_unit(v)),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        Err(Self::missing_unit(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = NANOS_PER_MILLI;
    const S: u64 = NANOS_PER_SECOND;

    fn ok(s: &str) -> u64 {
        parse_duration(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn reason(s: &str) -> String {
        parse_duration(s).expect_err(s).reason
    }

    #[test]
    fn parses_examples() {
        assert_eq!(ok("250ms"), 250 * MS);
        assert_eq!(ok("10s"), 10 * S);
        assert_eq!(ok("1m30s"), 90 * S);
        assert_eq!(ok("1.5s"), 1500 * MS);
        assert_eq!(ok("2h45m"), (2 * 3600 + 45 * 60) * S);
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("+0"), 0);
        assert_eq!(ok("0s"), 0);
        assert_eq!(ok("1.5h"), 5400 * S);
        assert_eq!(ok("1h1m1s1ms1us1ns"), 3_661_001_001_001);
        assert_eq!(ok("1\u{b5}s"), 1000);
        assert_eq!(ok("1\u{3bc}s"), 1000);
        assert_eq!(ok("+2s"), 2 * S);
    }

    #[test]
    fn loose_decimal_points_like_go() {
        assert_eq!(ok(".5s"), 500 * MS);
        assert_eq!(ok("5.s"), 5 * S);
        assert_eq!(ok("1.s.5s"), 1500 * MS);
    }

    #[test]
    fn fractions_are_exact_and_truncated() {
        assert_eq!(ok("1.5ns"), 1);
        assert_eq!(ok("0.9999999999s"), 999_999_999);
        assert_eq!(ok("0.1h"), 360 * S);
        assert_eq!(ok("0.000000000000000000000000001h"), 0);
        // Would be off by one with a truncated fraction or with floats.
        let long = format!("0.{}s", "3".repeat(40));
        assert_eq!(ok(&long), 333_333_333);
        assert_eq!(
            ok("0.3333333333333333333333333333333333333333333h"),
            1_199_999_999_999
        );
    }

    #[test]
    fn rejects_malformed() {
        assert!(reason("10 parsecs").contains("unknown unit `parsecs`"));
        assert_eq!(
            parse_duration("10 parsecs").unwrap_err().to_string(),
            "invalid duration `10 parsecs`: unknown unit `parsecs` \
             (expected ns, us, ms, s, m or h, as in 250ms or 1m30s)"
        );
        assert!(reason("-1s").contains("negative"));
        assert!(reason("-0").contains("negative"));
        assert!(reason("s").contains("missing number before `s`"));
        assert_eq!(reason(""), "empty string");
        assert!(reason("+").contains("expected a number"));
        assert!(reason(".").contains("expected a number"));
        assert!(reason(".s").contains("missing number"));
        assert_eq!(reason("10"), "missing unit after `10`: write e.g. 10s");
        assert_eq!(reason("1m30"), "missing unit after `30`: write e.g. 30s");
        assert!(reason("1.5").contains("missing unit after `1.5`"));
        assert!(reason("10 s").contains("whitespace"));
        assert!(reason("10S").contains("unknown unit `S`"));
        assert!(reason("1d").contains("unknown unit `d`"));
        assert!(reason("1h-1s").contains("unknown unit `h-`"));
    }

    #[test]
    fn rejects_overflow() {
        assert_eq!(ok("18446744073709551615ns"), u64::MAX);
        assert!(reason("18446744073709551616ns").contains("too large"));
        assert!(reason("99999999999999999999999h").contains("too large"));
        assert!(reason("5124096h").contains("too large"));
        assert!(reason("5124095h5124095h").contains("too large"));
        assert!(reason("18446744073709551615ns1ns").contains("too large"));
    }

    #[test]
    fn formats() {
        assert_eq!(format_duration(1_500_000_000), "1.5s");
        assert_eq!(format_duration(90 * S), "1m30s");
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(2 * MS), "2ms");
        assert_eq!(format_duration(1_500), "1.5us");
        assert_eq!(format_duration(7), "7ns");
        assert_eq!(format_duration(7200 * S), "2h");
        assert_eq!(format_duration(3600 * S + 500 * MS), "1h0.5s");
        assert_eq!(format_duration(S + 1), "1.000000001s");
        assert_eq!(Duration(250 * MS).to_string(), "250ms");
    }

    #[test]
    fn format_round_trips() {
        for ns in [
            1,
            999,
            1_000,
            1_001,
            123_456_789,
            S,
            61 * S + 5,
            3_661_001_001_001,
            u64::MAX,
        ] {
            assert_eq!(ok(&format_duration(ns)), ns, "{}", format_duration(ns));
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct Spec {
        timeout: Duration,
    }

    fn yaml(text: &str) -> Result<Spec, serde_yaml::Error> {
        serde_yaml::from_str(text)
    }

    #[test]
    fn deserializes() {
        assert_eq!(yaml("timeout: 250ms").unwrap().timeout, Duration(250 * MS));
        assert_eq!(
            yaml("timeout: \"1m30s\"").unwrap().timeout,
            Duration(90 * S)
        );
        assert_eq!(yaml("timeout: 0").unwrap().timeout, Duration(0));
        assert_eq!(yaml("timeout: 0s").unwrap().timeout, Duration(0));
    }

    #[test]
    fn deserialize_errors() {
        let message = yaml("timeout: 10").unwrap_err().to_string();
        assert!(
            message.contains("missing unit in duration `10`: write e.g. 10s"),
            "{message}"
        );
        assert!(message.contains("line 1"), "{message}");

        let message = yaml("x: 1\ntimeout: 10 parsecs").unwrap_err().to_string();
        assert!(message.contains("unknown unit `parsecs`"), "{message}");
        assert!(message.contains("line 2"), "{message}");

        let message = yaml("timeout: 1.5").unwrap_err().to_string();
        assert!(
            message.contains("missing unit in duration `1.5`"),
            "{message}"
        );
        let message = yaml("timeout: -5").unwrap_err().to_string();
        assert!(message.contains("negative"), "{message}");
        let message = yaml("timeout: -1s").unwrap_err().to_string();
        assert!(message.contains("negative"), "{message}");
    }
}
