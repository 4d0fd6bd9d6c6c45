//! Commission rates in integer basis points (`1250` = 12.50 %), parsed from the percentage a
//! person types. Never a float.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RateBps(i32);

/// The highest rate accepted: 100 %.
pub const MAX_BPS: i32 = 10_000;

impl RateBps {
    pub fn new(bps: i32) -> Result<RateBps, String> {
        if (0..=MAX_BPS).contains(&bps) {
            Ok(RateBps(bps))
        } else {
            Err("A rate is between 0 % and 100 %.".to_owned())
        }
    }

    /// Parses a percentage such as `12.5`, `12.50 %` or `8`: at most two decimals.
    pub fn parse_percent(input: &str) -> Result<RateBps, String> {
        let s = input.trim().trim_end_matches('%').trim();
        let bad = || "Enter a percentage such as 12.5 (at most two decimals).".to_owned();
        let (int_part, frac_part) = s.split_once('.').unwrap_or((s, ""));
        if int_part.is_empty()
            || int_part.len() > 3
            || !int_part.bytes().all(|b| b.is_ascii_digit())
            || frac_part.len() > 2
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
            || (s.contains('.') && frac_part.is_empty())
        {
            return Err(bad());
        }
        let whole: i32 = int_part.parse().map_err(|_| bad())?;
        let mut frac: i32 = if frac_part.is_empty() {
            0
        } else {
            frac_part.parse().map_err(|_| bad())?
        };
        if frac_part.len() == 1 {
            frac *= 10;
        }
        RateBps::new(whole * 100 + frac)
    }

    /// A stored value, clamped into range (stored rates were validated when saved).
    pub fn saturating(bps: i32) -> RateBps {
        RateBps(bps.clamp(0, MAX_BPS))
    }

    pub fn bps(&self) -> i32 {
        self.0
    }

    /// `12.5%`, `8%`, `0.25%`.
    pub fn percent(&self) -> String {
        let whole = self.0 / 100;
        let frac = self.0 % 100;
        if frac == 0 {
            format!("{whole}%")
        } else if frac % 10 == 0 {
            format!("{whole}.{}%", frac / 10)
        } else {
            format!("{whole}.{frac:02}%")
        }
    }

    /// The plain number for a form field: `12.5`.
    pub fn form_value(&self) -> String {
        self.percent().trim_end_matches('%').to_owned()
    }
}

impl fmt::Display for RateBps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.percent())
    }
}

/// Shows a stored rate (basis points) as a percentage.
pub fn show_bps(bps: i32) -> String {
    RateBps(bps.clamp(0, MAX_BPS)).percent()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_percentages() {
        assert_eq!(RateBps::parse_percent("12.5").unwrap().bps(), 1250);
        assert_eq!(RateBps::parse_percent("12.50 %").unwrap().bps(), 1250);
        assert_eq!(RateBps::parse_percent("8").unwrap().bps(), 800);
        assert_eq!(RateBps::parse_percent("0.25").unwrap().bps(), 25);
        assert_eq!(RateBps::parse_percent("100").unwrap().bps(), 10_000);
        for bad in [
            "", "abc", "12.", ".5", "1.234", "100.01", "-5", "1e2", "12,5", "1000",
        ] {
            assert!(RateBps::parse_percent(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn shows_percentages() {
        assert_eq!(show_bps(1250), "12.5%");
        assert_eq!(show_bps(800), "8%");
        assert_eq!(show_bps(25), "0.25%");
    }

    proptest! {
        #[test]
        fn round_trips(bps in 0..=MAX_BPS) {
            let r = RateBps::new(bps).unwrap();
            prop_assert_eq!(RateBps::parse_percent(&r.percent()).unwrap(), r);
            prop_assert_eq!(RateBps::parse_percent(&r.form_value()).unwrap(), r);
        }
    }
}
