//! Kubernetes resource quantities (`500m`, `1.5`, `2Gi`, `129e6`), parsed
//! exactly.
//!
//! Requests, limits and capacities decide whether a pod fits on a node, so a
//! rounding error could flip a scheduling decision. Quantities are therefore
//! held as an exact decimal (`mantissa * 10^exp10`) and never pass through
//! floating point. Conversions to integers round up, as the Kubernetes API
//! machinery does, so that `0.1m` of CPU still reserves one millicore.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// The most significant decimal digits a mantissa may hold: every 38-digit
/// number fits in an `i128`, while some 39-digit numbers do not.
const MAX_DIGITS: usize = 38;

/// A parsed resource quantity, held exactly as `mantissa * 10^exp10`.
///
/// The representation is normalised (no trailing decimal zeros in the
/// mantissa, and zero is always `0 * 10^0`), so the derived equality is
/// numeric equality: `1000m == 1 == 1e3m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity {
    mantissa: i128,
    exp10: i32,
}

impl Quantity {
    /// Parses a quantity in the Kubernetes syntax: an optional sign, a
    /// decimal number (`5`, `1.5`, `.5` or `5.`) and an optional suffix
    /// (`Ki`..`Ei`, `n`, `u`, `m`, `k`..`E`, or an exponent such as `e3`).
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        let err = |reason: String| QuantityError {
            input: s.to_owned(),
            reason,
        };
        if s.is_empty() {
            return Err(err("empty string".into()));
        }
        // Checked up front so that `1 Gi` gets a clearer message than
        // "unknown suffix ` Gi`".
        if s.chars().any(char::is_whitespace) {
            return Err(err("whitespace is not allowed".into()));
        }

        let (negative, rest) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let int_len = count_digits(rest);
        let int_digits = &rest[..int_len];
        let rest = &rest[int_len..];
        let (frac_digits, suffix) = match rest.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = count_digits(after_dot);
                (&after_dot[..frac_len], &after_dot[frac_len..])
            }
            None => ("", rest),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            let reason = if !suffix.is_empty() && parse_suffix(suffix).is_ok() {
                format!("missing number before the suffix `{suffix}`")
            } else {
                "expected a number, as in 500m, 1.5 or 2Gi".to_owned()
            };
            return Err(err(reason));
        }
        let suffix = parse_suffix(suffix).map_err(err)?;

        // Every digit, integer and fraction alike, goes into one mantissa;
        // the fraction's length becomes a negative power of ten. Exponents
        // are computed in i64 so that absurd inputs cannot overflow before
        // the range check below.
        let mut exp10 = -(frac_digits.len() as i64);
        // The digits from the first non-zero one to the last non-zero one
        // form the mantissa; trailing zeros go into the exponent. Read in
        // one pass, with no copy of the digits.
        let mut mantissa = 0_i128;
        let mut significant = 0_usize;
        let mut zeros = 0_usize;
        for d in int_digits.bytes().chain(frac_digits.bytes()) {
            if d == b'0' {
                // Leading zeros count for nothing; others wait for a
                // non-zero digit after them.
                zeros += usize::from(significant > 0);
                continue;
            }
            significant += zeros + 1;
            if significant > MAX_DIGITS {
                return Err(err(format!(
                    "too many significant digits (at most {MAX_DIGITS} are supported)"
                )));
            }
            // Cannot overflow: at most MAX_DIGITS digits.
            for _ in 0..zeros {
                mantissa *= 10;
            }
            zeros = 0;
            mantissa = mantissa * 10 + i128::from(d - b'0');
        }
        exp10 += zeros as i64;
        if negative {
            mantissa = -mantissa;
        }

        exp10 += suffix.exp10;
        if suffix.pow1024 > 0 {
            mantissa = 1024_i128
                .checked_pow(suffix.pow1024)
                .and_then(|factor| mantissa.checked_mul(factor))
                .ok_or_else(|| err("value is too large to hold exactly".into()))?;
        }
        Self::normalized(mantissa, exp10).ok_or_else(|| err("exponent is out of range".into()))
    }

    /// Builds the canonical form: trailing decimal zeros move from the
    /// mantissa into the exponent, which keeps derived equality numeric.
    /// Returns `None` when the exponent does not fit in an `i32`.
    fn normalized(mut mantissa: i128, mut exp10: i64) -> Option<Quantity> {
        if mantissa == 0 {
            return Some(Quantity {
                mantissa: 0,
                exp10: 0,
            });
        }
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exp10 += 1;
        }
        let exp10 = i32::try_from(exp10).ok()?;
        Some(Quantity { mantissa, exp10 })
    }

    /// The value in thousandths of a unit (CPU millicores), rounded up to
    /// the next integer when not exact (`0.1m` gives 1) and saturated to
    /// the `i64` range (`1E` gives `i64::MAX`).
    pub fn milli_value(&self) -> i64 {
        self.scaled_ceil(3)
    }

    /// The value in whole units (bytes, pod counts), rounded up to the next
    /// integer when not exact and saturated to the `i64` range.
    pub fn value(&self) -> i64 {
        self.scaled_ceil(0)
    }

    /// Whether the quantity is below zero (`-0` is not negative).
    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    /// Whether the quantity is above zero.
    pub fn is_positive(&self) -> bool {
        self.mantissa > 0
    }

    /// `ceil(self * 10^shift)`, saturated to `i64`.
    fn scaled_ceil(&self, shift: i64) -> i64 {
        let saturated = || {
            if self.mantissa < 0 {
                i64::MIN
            } else {
                i64::MAX
            }
        };
        let exp = i64::from(self.exp10) + shift;
        let exact: i128 = if exp >= 0 {
            // An exponent too large for `pow` overflows just like a product
            // too large for i128: either way the result saturates.
            match u32::try_from(exp)
                .ok()
                .and_then(|e| 10_i128.checked_pow(e))
                .and_then(|factor| self.mantissa.checked_mul(factor))
            {
                Some(v) => v,
                None => return saturated(),
            }
        } else {
            match u32::try_from(-exp)
                .ok()
                .and_then(|e| 10_i128.checked_pow(e))
            {
                Some(divisor) => ceil_div(self.mantissa, divisor),
                // The divisor exceeds every i128, hence |mantissa|, so the
                // value lies strictly between -1 and 1 (and is non-zero,
                // as zero is stored with exponent 0).
                None => i128::from(self.mantissa > 0),
            }
        };
        i64::try_from(exact).unwrap_or_else(|_| saturated())
    }
}

/// Division rounding toward positive infinity, for a positive divisor.
fn ceil_div(numerator: i128, divisor: i128) -> i128 {
    // Integer division truncates toward zero, which is already the ceiling
    // for negative quotients; positive ones need a bump when inexact.
    let quotient = numerator / divisor;
    if numerator % divisor > 0 {
        quotient + 1
    } else {
        quotient
    }
}

/// Length of the leading run of ASCII digits.
fn count_digits(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

/// What a suffix multiplies the number by: `10^exp10 * 1024^pow1024`.
struct Suffix {
    exp10: i64,
    pow1024: u32,
}

const SUFFIX_HELP: &str = "expected one of Ki, Mi, Gi, Ti, Pi, Ei, n, u, m, k, M, G, T, P, E, \
                           or an exponent such as e3";

fn parse_suffix(suffix: &str) -> Result<Suffix, String> {
    let decimal = |exp10| Ok(Suffix { exp10, pow1024: 0 });
    let binary = |pow1024| Ok(Suffix { exp10: 0, pow1024 });
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        // A lone `E` is exa; `E` followed by digits is an exponent.
        "E" => decimal(18),
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        "e" => Err("the exponent `e` needs an integer after it, as in 1e3".to_owned()),
        _ => match suffix.strip_prefix(['e', 'E']) {
            Some(exponent) => match parse_exponent(exponent) {
                Some(exp10) => decimal(exp10),
                None => Err(format!(
                    "invalid exponent `{suffix}` (expected e or E and an integer, as in e3 or E-3)"
                )),
            },
            None if suffix.starts_with('.') => {
                Err("a number may have only one decimal point".to_owned())
            }
            None => Err(format!("unknown suffix `{suffix}` ({SUFFIX_HELP})")),
        },
    }
}

/// Parses a signed decimal exponent; `None` when malformed or out of range.
/// Bounded well inside i64 so that later exponent sums cannot overflow.
fn parse_exponent(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || count_digits(digits) != digits.len() {
        return None;
    }
    let exponent: i64 = s.parse().ok()?;
    (exponent.abs() <= i64::from(i32::MAX)).then_some(exponent)
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

/// A canonical spelling, for messages: an integer when whole (`4`,
/// `1073741824`), else the largest of `m`, `u` or `n` that makes it whole
/// (`1500m`), falling back to exponent notation for extreme values.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Appending zeros to the mantissa's digits avoids any overflow.
        let with_zeros = |f: &mut fmt::Formatter<'_>, zeros: i32, suffix: &str| {
            let zeros = "0".repeat(zeros as usize);
            write!(f, "{}{zeros}{suffix}", self.mantissa)
        };
        match self.exp10 {
            e @ 0..=18 => with_zeros(f, e, ""),
            e @ -3..=-1 => with_zeros(f, e + 3, "m"),
            e @ -6..=-4 => with_zeros(f, e + 6, "u"),
            e @ -9..=-7 => with_zeros(f, e + 9, "n"),
            e => write!(f, "{}e{e}", self.mantissa),
        }
    }
}

/// Why a quantity could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantityError {
    /// The text as written.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid quantity `{}`: {}", self.input, self.reason)
    }
}

impl std::error::Error for QuantityError {}

/// Accepts strings (`"250m"`), integers (`cpu: 4`) and plain decimal
/// numbers (`cpu: 1.5`), since YAML authors write all three.
impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(QuantityVisitor)
    }
}

struct QuantityVisitor;

impl QuantityVisitor {
    /// `custom` lets the format (serde_yaml) attach the line and column.
    fn parse<E: de::Error>(text: &str) -> Result<Quantity, E> {
        Quantity::parse(text).map_err(E::custom)
    }
}

impl Visitor<'_> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a resource quantity such as 500m, 1.5, 4 or 2Gi")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
        Self::parse(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
        Self::parse(&v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
        Self::parse(&v.to_string())
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Quantity, E> {
        Self::parse(&v.to_string())
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Quantity, E> {
        Self::parse(&v.to_string())
    }

    /// The source text of a YAML float is gone by now; Rust's `Display`
    /// for `f64` prints the shortest text that reads back as the same
    /// number, which for what people write (`1.5`, `0.25`) is exactly
    /// what they wrote.
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
        if !v.is_finite() {
            return Err(E::custom(format!(
                "invalid quantity `{v}`: a quantity must be a finite number"
            )));
        }
        let text = v.to_string();
        // `Display` for f64 never uses exponent notation today; guard
        // anyway so a change there cannot silently alter the value.
        if text.contains(['e', 'E']) {
            return Err(E::custom(format!(
                "invalid quantity `{text}`: write this number as a quoted string, as in \"1e3\""
            )));
        }
        Self::parse(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn milli_values() {
        assert_eq!(q("500m").milli_value(), 500);
        assert_eq!(q("1.5").milli_value(), 1500);
        assert_eq!(q("1").milli_value(), 1000);
        assert_eq!(q("0").milli_value(), 0);
        assert_eq!(q("250m").milli_value(), 250);
        assert_eq!(q("100u").milli_value(), 1);
        assert_eq!(q("1e-3").milli_value(), 1);
        assert_eq!(q("1E-3").milli_value(), 1);
    }

    #[test]
    fn fractions_round_up() {
        assert_eq!(q("0.1m").milli_value(), 1);
        assert_eq!(q("1n").milli_value(), 1);
        assert_eq!(q("1e-100").milli_value(), 1);
        assert_eq!(q("1.5m").value(), 1);
        assert_eq!(q("0.5").value(), 1);
        assert_eq!(q("1.0000001").value(), 2);
        assert_eq!(q("0.1Ki").value(), 103); // 102.4
        // Ceiling for negatives too: toward positive infinity.
        assert_eq!(q("-0.1m").milli_value(), 0);
        assert_eq!(q("-1.5").value(), -1);
        assert_eq!(q("-1e-100").milli_value(), 0);
    }

    #[test]
    fn binary_suffixes() {
        assert_eq!(q("1Ki").value(), 1024);
        assert_eq!(q("1Gi").value(), 1_073_741_824);
        assert_eq!(q("123Mi").value(), 128_974_848);
        assert_eq!(q("100Gi").value(), 107_374_182_400);
        assert_eq!(q("1.5Gi").value(), 1_610_612_736);
        assert_eq!(q("1Ti").value(), 1 << 40);
        assert_eq!(q("1Pi").value(), 1 << 50);
        assert_eq!(q("1Ei").value(), 1 << 60);
        assert_eq!(q("0.5Ki").value(), 512);
    }

    #[test]
    fn decimal_suffixes_and_exponents() {
        assert_eq!(q("129e6").value(), 129_000_000);
        assert_eq!(q("129M").value(), 129_000_000);
        assert_eq!(q("129e+6").value(), 129_000_000);
        assert_eq!(q("1k").value(), 1000);
        assert_eq!(q("1G").value(), 1_000_000_000);
        assert_eq!(q("1T").value(), 1_000_000_000_000);
        assert_eq!(q("1P").value(), 1_000_000_000_000_000);
        assert_eq!(q("2E").value(), 2_000_000_000_000_000_000);
        assert_eq!(q("1E3").value(), 1000);
        assert_eq!(q("1500n").milli_value(), 1);
    }

    #[test]
    fn saturates() {
        assert_eq!(q("1E").milli_value(), i64::MAX);
        assert_eq!(q("10E").value(), i64::MAX);
        assert_eq!(q("-10E").value(), i64::MIN);
        assert_eq!(q("1e1000").value(), i64::MAX);
        assert_eq!(q("-1Ei").milli_value(), i64::MIN);
    }

    #[test]
    fn signs_and_loose_decimal_points() {
        assert!(q("-1").is_negative());
        assert!(!q("-0").is_negative());
        assert!(!q("+1").is_negative());
        assert_eq!(q("+1").value(), 1);
        assert_eq!(q(".5").milli_value(), 500);
        assert_eq!(q("5.").value(), 5);
        assert_eq!(q("-.5m").milli_value(), 0);
    }

    #[test]
    fn equality_is_numeric() {
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q("1k"), q("1e3"));
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!(q("0.5Ki"), q("512"));
        assert_eq!(q("-0"), q("0m"));
        assert_ne!(q("1"), q("1001m"));
    }

    #[test]
    fn large_but_exact() {
        // Trailing zeros cost nothing; only significant digits are bounded.
        let big = format!("1{}", "0".repeat(60));
        assert_eq!(q(&big), q("1e60"));
        let tiny = format!("0.{}1", "0".repeat(60));
        assert_eq!(q(&tiny), q("1e-61"));
        assert!(Quantity::parse(&"1".repeat(39)).is_err());
        assert!(Quantity::parse(&"1".repeat(38)).is_ok());
        // Zeros inside the significant digits count; those around do not.
        let inner = format!(
            "00{}1{}.{}1000",
            "1".repeat(10),
            "0".repeat(20),
            "0".repeat(6)
        );
        assert_eq!(
            Quantity::parse(&inner).unwrap().mantissa.to_string().len(),
            38
        );
        assert!(Quantity::parse(&format!("1{}.01", "0".repeat(36))).is_err());
        assert!(Quantity::parse(&format!("1{}.01", "0".repeat(35))).is_ok());
        assert_eq!(q("0012300.0400"), q("1230004e-2"));
        assert_eq!(q("0012300.0400").mantissa, 1230004);
        assert_eq!(q("000.000"), q("0"));
    }

    #[test]
    fn errors_name_the_input() {
        for bad in [
            "1.5K",
            "K",
            "abc",
            "",
            "1 Gi",
            " 1",
            "1.2.3",
            ".",
            "5Kb",
            "1e",
            "1ee3",
            "--1",
            "Gi",
            "1e3.5",
            "1e-",
            "1ki",
            "1µ",
            "1e99999999999",
        ] {
            let err = Quantity::parse(bad).expect_err(bad);
            assert_eq!(err.input, bad);
            let message = err.to_string();
            assert!(
                message.starts_with(&format!("invalid quantity `{bad}`: ")),
                "{message}"
            );
        }
    }

    #[test]
    fn error_messages() {
        let msg = |s: &str| Quantity::parse(s).unwrap_err().to_string();
        assert_eq!(
            msg("1.5K"),
            "invalid quantity `1.5K`: unknown suffix `K` (expected one of Ki, Mi, Gi, Ti, Pi, \
             Ei, n, u, m, k, M, G, T, P, E, or an exponent such as e3)"
        );
        assert!(msg("Gi").contains("missing number before the suffix `Gi`"));
        assert!(msg("1 Gi").contains("whitespace"));
        assert!(msg("1.2.3").contains("one decimal point"));
        assert!(msg("1e").contains("needs an integer"));
        assert!(msg("1ee3").contains("invalid exponent `ee3`"));
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!(q("1.5").to_string(), "1500m");
        assert_eq!(q("4").to_string(), "4");
        assert_eq!(q("0").to_string(), "0");
        assert_eq!(q("1Gi").to_string(), "1073741824");
        assert_eq!(q("1k").to_string(), "1000");
        assert_eq!(q("0.1m").to_string(), "100u");
        assert_eq!(q("-250m").to_string(), "-250m");
        assert_eq!(q("1e-12").to_string(), "1e-12");
        // Display output parses back to the same quantity.
        for s in ["1.5", "1Gi", "0.1m", "1e-12", "1e30", "-2.5n"] {
            assert_eq!(q(&q(s).to_string()), q(s), "{s}");
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct S {
        cpu: Quantity,
    }

    fn yaml(text: &str) -> Result<S, serde_yaml::Error> {
        serde_yaml::from_str(text)
    }

    #[test]
    fn deserializes_strings_integers_and_floats() {
        assert_eq!(yaml("cpu: 4").unwrap().cpu.milli_value(), 4000);
        assert_eq!(yaml("cpu: \"250m\"").unwrap().cpu.milli_value(), 250);
        assert_eq!(yaml("cpu: 250m").unwrap().cpu.milli_value(), 250);
        assert_eq!(yaml("cpu: 1.5").unwrap().cpu.milli_value(), 1500);
        assert_eq!(yaml("cpu: 0.5").unwrap().cpu.milli_value(), 500);
        assert_eq!(yaml("cpu: 0.1").unwrap().cpu.milli_value(), 100);
        assert_eq!(yaml("cpu: -2").unwrap().cpu.value(), -2);
        assert_eq!(yaml("cpu: 2Gi").unwrap().cpu.value(), 1 << 31);
        // Unquoted exponents are YAML floats; they still come out exact.
        assert_eq!(yaml("cpu: 129e6").unwrap().cpu.value(), 129_000_000);
        assert_eq!(yaml("cpu: 1e-7").unwrap().cpu, q("100n"));
        assert_eq!(yaml("cpu: .5").unwrap().cpu.milli_value(), 500);
    }

    #[test]
    fn deserialize_errors_carry_the_location() {
        let message = yaml("cpu: 1.5K").unwrap_err().to_string();
        assert!(message.contains("1.5K"), "{message}");
        assert!(message.contains("line 1"), "{message}");
        let message = yaml("cpu: .nan").unwrap_err().to_string();
        assert!(message.contains("finite"), "{message}");
        assert!(yaml("cpu: [1]").is_err());
    }
}
