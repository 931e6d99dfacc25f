//! Decimal numbers in text (`0.5`, `1.25s`, `2e-3`), read exactly with integers.
//!
//! Configuration values such as `min.cleanable.dirty.ratio` and scenario durations such as
//! `1.5s` are decimals that the model keeps as whole numbers of a small unit (millionths,
//! milliseconds). Reading them through `f64` made some exact inputs inexact (`1.001s` came out
//! as 1000.9999999999999 ms and was refused), and it put the float parser and its tables in the
//! classroom's bundle. Here the digits are read into an integer and scaled by powers of ten, so a
//! decimal that is a whole number of the unit is always read as exactly that number.

use std::fmt;

/// A decimal read and scaled to a whole number of some unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scaled {
    /// The number times the scale, rounded half up to a whole number.
    pub value: u64,
    /// How `value` came from the number.
    pub rounding: Rounding,
}

/// How a scaled decimal was rounded to its whole number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    /// Not at all: the number is exactly the value.
    Exact,
    /// Down: the number is a little above the value.
    Down,
    /// Up: the number is a little below the value (`0.9999996` in millionths is 1,000,000),
    /// which a range check needs to know.
    Up,
}

/// Reads `text`, a non-negative decimal (digits with an optional fraction and an optional
/// exponent: `5`, `0.5`, `.5`, `5.`, `+1.5e3`, `25E-2`), and gives it times `scale`. `None` if
/// the text is not such a number, or if its significant digits times the scale pass 38 digits,
/// or if the scaled value does not fit in a `u64`.
pub fn scaled(text: &str, scale: u64) -> Option<Scaled> {
    let text = text.strip_prefix('+').unwrap_or(text);
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.len() + fraction.len() == 0
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let exponent: i64 = match exponent {
        // `str::parse` would take a sign of its own after ours.
        Some(e) if e.trim_start_matches(['+', '-']).len() + 1 < e.len() => return None,
        Some(e) => e.strip_prefix('+').unwrap_or(e).parse().ok()?,
        None => 0,
    };
    // Leading zeros and a fraction's trailing zeros carry nothing; the rest, times the scale,
    // must fit in a u128 (38 digits).
    let fraction = fraction.trim_end_matches('0');
    let mut n: u128 = 0;
    for d in whole
        .bytes()
        .chain(fraction.bytes())
        .skip_while(|&b| b == b'0')
    {
        n = n.checked_mul(10)?.checked_add(u128::from(d - b'0'))?;
    }
    n = n.checked_mul(u128::from(scale))?;
    let scaled = |value, rounding| Some(Scaled { value, rounding });
    if n == 0 {
        return scaled(0, Rounding::Exact);
    }
    let shift = exponent.checked_sub(fraction.len() as i64)?;
    if shift >= 0 {
        // A nonzero n overflows within 39 steps, so a huge exponent ends the loop early.
        for _ in 0..shift {
            n = n.checked_mul(10)?;
        }
        return scaled(u64::try_from(n).ok()?, Rounding::Exact);
    }
    if shift < -38 {
        // 10^39 is above u128::MAX >= n, so the quotient is below one half: it rounds to zero.
        return scaled(0, Rounding::Down);
    }
    let p = 10u128.pow(shift.unsigned_abs() as u32);
    let (q, r) = (n / p, n % p);
    let rounding = match r {
        0 => Rounding::Exact,
        r if r >= p - r => Rounding::Up,
        _ => Rounding::Down,
    };
    let up = u128::from(rounding == Rounding::Up);
    scaled(u64::try_from(q + up).ok()?, rounding)
}

/// Shows `value / 10^decimals` as a decimal with no trailing zeros (`500000` with 6 decimals
/// is `0.5`; `1000000` is `1`).
pub fn show(value: u64, decimals: u32) -> impl fmt::Display {
    Shown { value, decimals }
}

struct Shown {
    value: u64,
    decimals: u32,
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = 10u64.pow(self.decimals);
        let (whole, mut fraction) = (self.value / unit, self.value % unit);
        write!(f, "{whole}")?;
        if fraction == 0 {
            return Ok(());
        }
        let mut width = self.decimals as usize;
        while fraction % 10 == 0 {
            fraction /= 10;
            width -= 1;
        }
        write!(f, ".{fraction:0width$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(value: u64) -> Option<Scaled> {
        Some(Scaled {
            value,
            rounding: Rounding::Exact,
        })
    }

    fn rounded_down(value: u64) -> Option<Scaled> {
        Some(Scaled {
            value,
            rounding: Rounding::Down,
        })
    }

    fn rounded_up(value: u64) -> Option<Scaled> {
        Some(Scaled {
            value,
            rounding: Rounding::Up,
        })
    }

    #[test]
    fn decimals_are_read_exactly() {
        assert_eq!(scaled("0.5", 1_000_000), exact(500_000));
        assert_eq!(scaled("1", 1_000_000), exact(1_000_000));
        assert_eq!(scaled("0", 1_000_000), exact(0));
        assert_eq!(scaled("000.000", 1000), exact(0));
        // Through f64, 1.001 * 1000 is 1000.9999999999999.
        assert_eq!(scaled("1.001", 1000), exact(1001));
        assert_eq!(scaled("0.1", 1000), exact(100));
        assert_eq!(scaled(".5", 1000), exact(500));
        assert_eq!(scaled("5.", 1000), exact(5000));
        assert_eq!(scaled("+2.5", 10), exact(25));
        assert_eq!(scaled("007", 1), exact(7));
    }

    #[test]
    fn exponents_shift_the_point() {
        assert_eq!(scaled("1.5e3", 1), exact(1500));
        assert_eq!(scaled("25E-2", 100), exact(25));
        assert_eq!(scaled("1e+2", 1), exact(100));
        assert_eq!(scaled("0e999999", 1), exact(0));
        assert_eq!(scaled("1e-400", 1_000_000), rounded_down(0));
        assert_eq!(scaled("1e400", 1), None);
    }

    #[test]
    fn what_does_not_fit_the_unit_rounds_half_up() {
        assert_eq!(scaled("0.1234565", 1_000_000), rounded_up(123_457));
        assert_eq!(scaled("0.1234564", 1_000_000), rounded_down(123_456));
        assert_eq!(scaled("1.0005", 1000), rounded_up(1001));
        assert_eq!(scaled("0.0000004", 1_000_000), rounded_down(0));
        assert_eq!(scaled("1.5", 1), rounded_up(2));
    }

    #[test]
    fn what_is_not_a_decimal_or_does_not_fit_is_none() {
        for text in [
            "", ".", "e3", "-1", "1.2.3", "1e", "1e+", "1e+-2", "1e--2", "1x", " 1", "inf", "NaN",
            "0x10", "1_000",
        ] {
            assert_eq!(scaled(text, 1), None, "{text}");
        }
        assert_eq!(scaled("18446744073709551615", 1), exact(u64::MAX));
        assert_eq!(scaled("18446744073709551616", 1), None);
        assert_eq!(scaled("99999999999999999999", 1000), None);
        assert_eq!(scaled(&"9".repeat(20), 1), None, "over u64::MAX");
        // Leading zeros, and a fraction's trailing zeros, do not count against the digits.
        assert_eq!(scaled("0.00000000000000000001", 1), rounded_down(0));
        assert_eq!(
            scaled("0.00000000000000000000000000000000000000000001", 1),
            rounded_down(0)
        );
        assert_eq!(
            scaled(&format!("0.5{}", "0".repeat(60)), 1_000_000),
            exact(500_000)
        );
        // 17 significant digits (what f64 prints for 0.1 + 0.2) still read, rounded.
        assert_eq!(
            scaled("0.30000000000000004", 1_000_000),
            rounded_down(300_000)
        );
        assert_eq!(scaled("0.9999996", 1_000_000), rounded_up(1_000_000));
        assert_eq!(scaled(&"9".repeat(40), 1), None);
    }

    #[test]
    fn shown_without_trailing_zeros() {
        assert_eq!(show(500_000, 6).to_string(), "0.5");
        assert_eq!(show(1_000_000, 6).to_string(), "1");
        assert_eq!(show(1, 6).to_string(), "0.000001");
        assert_eq!(show(1_250_000, 6).to_string(), "1.25");
        assert_eq!(show(0, 6).to_string(), "0");
        assert_eq!(show(42, 0).to_string(), "42");
        for v in [0, 1, 7, 10, 123_456, 500_000, 999_999, 1_000_000, 3_141_593] {
            assert_eq!(scaled(&show(v, 6).to_string(), 1_000_000), exact(v), "{v}");
        }
    }
}
