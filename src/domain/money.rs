//! Money: `i64` minor units plus an ISO 4217 currency. Arithmetic goes through
//! `rust_decimal`; no float is ever involved. See DESIGN.md §3 "Money".

use std::fmt;
use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// A currency Tandem knows: its code, how many minor-unit digits it has, and the symbol it
/// is shown with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    digits: u32,
    symbol: &'static str,
    name: &'static str,
}

/// Supported currencies. Extend this table to add one.
const CURRENCIES: &[Currency] = &[
    Currency {
        code: "USD",
        digits: 2,
        symbol: "$",
        name: "US dollar",
    },
    Currency {
        code: "CNY",
        digits: 2,
        symbol: "¥",
        name: "Chinese yuan",
    },
    Currency {
        code: "EUR",
        digits: 2,
        symbol: "€",
        name: "Euro",
    },
    Currency {
        code: "GBP",
        digits: 2,
        symbol: "£",
        name: "Pound sterling",
    },
    Currency {
        code: "JPY",
        digits: 0,
        symbol: "JP¥",
        name: "Japanese yen",
    },
    Currency {
        code: "HKD",
        digits: 2,
        symbol: "HK$",
        name: "Hong Kong dollar",
    },
    Currency {
        code: "TWD",
        digits: 2,
        symbol: "NT$",
        name: "New Taiwan dollar",
    },
    Currency {
        code: "KRW",
        digits: 0,
        symbol: "₩",
        name: "South Korean won",
    },
    Currency {
        code: "SGD",
        digits: 2,
        symbol: "S$",
        name: "Singapore dollar",
    },
    Currency {
        code: "MYR",
        digits: 2,
        symbol: "RM",
        name: "Malaysian ringgit",
    },
    Currency {
        code: "THB",
        digits: 2,
        symbol: "฿",
        name: "Thai baht",
    },
    Currency {
        code: "IDR",
        digits: 2,
        symbol: "Rp",
        name: "Indonesian rupiah",
    },
    Currency {
        code: "VND",
        digits: 0,
        symbol: "₫",
        name: "Vietnamese dong",
    },
    Currency {
        code: "PHP",
        digits: 2,
        symbol: "₱",
        name: "Philippine peso",
    },
    Currency {
        code: "INR",
        digits: 2,
        symbol: "₹",
        name: "Indian rupee",
    },
    Currency {
        code: "AUD",
        digits: 2,
        symbol: "A$",
        name: "Australian dollar",
    },
    Currency {
        code: "CAD",
        digits: 2,
        symbol: "CA$",
        name: "Canadian dollar",
    },
    Currency {
        code: "BRL",
        digits: 2,
        symbol: "R$",
        name: "Brazilian real",
    },
    Currency {
        code: "MXN",
        digits: 2,
        symbol: "MX$",
        name: "Mexican peso",
    },
    Currency {
        code: "KWD",
        digits: 3,
        symbol: "KD",
        name: "Kuwaiti dinar",
    },
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency \"{0}\"; use an ISO 4217 code such as USD or CNY")]
    UnknownCurrency(String),
    #[error(
        "\"{0}\" is not an amount; write it as digits with an optional decimal point, e.g. 12.50"
    )]
    NotAnAmount(String),
    #[error("{currency} has {digits} decimal places; \"{input}\" has more")]
    TooManyDecimals {
        input: String,
        currency: &'static str,
        digits: u32,
    },
    #[error("amount is too large")]
    TooLarge,
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(&'static str, &'static str),
}

impl Currency {
    pub fn all() -> &'static [Currency] {
        CURRENCIES
    }

    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let upper = code.trim().to_ascii_uppercase();
        CURRENCIES
            .iter()
            .copied()
            .find(|c| c.code == upper)
            .ok_or_else(|| MoneyError::UnknownCurrency(code.trim().to_owned()))
    }

    pub fn code(&self) -> &'static str {
        self.code
    }
    pub fn digits(&self) -> u32 {
        self.digits
    }
    pub fn symbol(&self) -> &'static str {
        self.symbol
    }
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

/// Largest absolute amount accepted, in minor units (10^15: a quadrillion cents). Sums of
/// millions of such amounts still fit in an `i64`.
pub const MAX_MINOR: i64 = 1_000_000_000_000_000;

/// An amount of one currency, in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    pub fn from_minor(minor: i64, currency: Currency) -> Result<Money, MoneyError> {
        if minor.checked_abs().is_none_or(|m| m > MAX_MINOR) {
            return Err(MoneyError::TooLarge);
        }
        Ok(Money { minor, currency })
    }

    pub fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    /// Parses a decimal string such as `"12.50"` or `"-3"`. More decimal places than the
    /// currency has is an error, never a silent rounding. No exponents, no separators, no
    /// `NaN` or `inf`: what a float would accept is refused.
    pub fn parse(input: &str, currency: Currency) -> Result<Money, MoneyError> {
        let s = input.trim();
        let not_amount = || MoneyError::NotAnAmount(input.to_owned());
        let unsigned = s.strip_prefix('-').unwrap_or(s);
        let (int_part, frac_part) = match unsigned.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (unsigned, None),
        };
        if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(not_amount());
        }
        if let Some(f) = frac_part
            && (f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(not_amount());
        }
        let frac_len = frac_part.map_or(0, str::len);
        if frac_len > currency.digits as usize {
            // Trailing zeros beyond the currency's digits are still extra digits: "1.230" USD
            // is refused, so what was sent is exactly what is stored.
            return Err(MoneyError::TooManyDecimals {
                input: input.to_owned(),
                currency: currency.code,
                digits: currency.digits,
            });
        }
        if int_part.len() > 20 {
            return Err(MoneyError::TooLarge);
        }
        let value = Decimal::from_str_exact(s).map_err(|_| MoneyError::TooLarge)?;
        Money::from_decimal_exact(value, currency)
    }

    /// Converts an exact decimal that already fits the currency's digits.
    pub fn from_decimal_exact(value: Decimal, currency: Currency) -> Result<Money, MoneyError> {
        let scaled = value
            .checked_mul(Decimal::from(10_i64.pow(currency.digits)))
            .ok_or(MoneyError::TooLarge)?;
        if !scaled.fract().is_zero() {
            return Err(MoneyError::TooManyDecimals {
                input: value.to_string(),
                currency: currency.code,
                digits: currency.digits,
            });
        }
        let minor = scaled.to_i64().ok_or(MoneyError::TooLarge)?;
        Money::from_minor(minor, currency)
    }

    /// Rounds an exact decimal once to the currency's minor unit, half away from zero
    /// (commercial rounding: 1.825 -> 1.83, -1.825 -> -1.83).
    pub fn from_decimal_rounded(value: Decimal, currency: Currency) -> Result<Money, MoneyError> {
        let rounded = round_half_away(value, currency.digits);
        Money::from_decimal_exact(rounded, currency)
    }

    pub fn minor(&self) -> i64 {
        self.minor
    }
    pub fn currency(&self) -> Currency {
        self.currency
    }
    pub fn is_zero(&self) -> bool {
        self.minor == 0
    }
    pub fn is_negative(&self) -> bool {
        self.minor < 0
    }

    pub fn to_decimal(&self) -> Decimal {
        Decimal::new(self.minor, self.currency.digits)
    }

    pub fn checked_add(&self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::TooLarge)?;
        Money::from_minor(minor, self.currency)
    }

    pub fn checked_sub(&self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::TooLarge)?;
        Money::from_minor(minor, self.currency)
    }

    fn same_currency(&self, other: Money) -> Result<(), MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(
                self.currency.code,
                other.currency.code,
            ));
        }
        Ok(())
    }

    /// The plain decimal form, `"1234.50"`: what `parse` reads back.
    pub fn to_plain_string(&self) -> String {
        let d = self.to_decimal();
        format!("{:.*}", self.currency.digits as usize, d)
    }

    /// For people: symbol, thousands separators and the currency's digits, `¥1,234.50`.
    pub fn display(&self) -> String {
        display_plain(&self.to_plain_string(), self.currency)
    }
}

/// Minor units for people ("¥1,234.50"); the bare number if they cannot be money.
pub fn display_minor(minor: i64, currency: Currency) -> String {
    Money::from_minor(minor, currency).map_or_else(|_| minor.to_string(), |m| m.display())
}

/// Minor units in a currency given by its code ("¥1,234.50"; "12 XYZ" for an unknown code).
pub fn display_in(minor: i64, code: &str) -> String {
    match Currency::parse(code) {
        Ok(c) => display_minor(minor, c),
        Err(_) => format!("{minor} {code}"),
    }
}

/// The plain amount (`1825.50`) of minor units in a currency given by its code, as CSV files
/// carry it; the bare number when the code is unknown.
pub fn plain_in(minor: i64, code: &str) -> String {
    Currency::parse(code)
        .ok()
        .and_then(|c| Money::from_minor(minor, c).ok())
        .map_or_else(|| minor.to_string(), |m| m.to_plain_string())
}

/// A plain decimal amount ("-1234.5", "1.825") for people, as [`Money::display`] shows
/// money: sign (the minus sign, U+2212), symbol, thousands separators ("−¥1,234.5"). Also
/// for exact values with more decimals than the currency has, so that every amount reads
/// the same way.
pub fn display_plain(plain: &str, currency: Currency) -> String {
    {
        // The minus sign (U+2212), not a hyphen, as every amount for people is shown.
        let (sign, unsigned) = match plain.strip_prefix('-') {
            Some(rest) => ("\u{2212}", rest),
            None => ("", plain),
        };
        let (int_part, frac_part) = match unsigned.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (unsigned, None),
        };
        let mut grouped = String::with_capacity(int_part.len() + int_part.len() / 3);
        for (i, ch) in int_part.chars().enumerate() {
            if i > 0 && (int_part.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        match frac_part {
            Some(f) => format!("{sign}{}{grouped}.{f}", currency.symbol()),
            None => format!("{sign}{}{grouped}", currency.symbol()),
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

/// Rounds to `dp` decimal places, half away from zero, the one rounding rule of Tandem.
pub fn round_half_away(value: Decimal, dp: u32) -> Decimal {
    value.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

/// Splits `total` into parts proportional to `weights` with the largest-remainder method:
/// the parts always sum exactly to `total`. Ties go to the earlier weight. All-zero weights
/// give the whole to nobody (every part zero) unless `total` is zero.
pub fn allocate(total: i64, weights: &[i64]) -> Option<Vec<i64>> {
    if weights.is_empty() || weights.iter().any(|w| *w < 0) {
        return None;
    }
    let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    if sum == 0 {
        return if total == 0 {
            Some(vec![0; weights.len()])
        } else {
            None
        };
    }
    let total_i = i128::from(total);
    let sign = if total_i < 0 { -1 } else { 1 };
    let abs_total = total_i.abs();
    let mut parts: Vec<i128> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let numerator = abs_total * i128::from(*w);
        parts.push(numerator / sum);
        remainders.push((numerator % sum, i));
    }
    let assigned: i128 = parts.iter().sum();
    let mut left = abs_total - assigned;
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
        .into_iter()
        .map(|p| i64::try_from(p * sign).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn parses_and_formats() {
        let cny = Currency::parse("cny").unwrap();
        let m = Money::parse("1234.5", cny).unwrap();
        assert_eq!(m.minor(), 123_450);
        assert_eq!(m.display(), "¥1,234.50");
        assert_eq!(m.to_plain_string(), "1234.50");
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(Money::parse("1500", jpy).unwrap().display(), "JP¥1,500");
        assert_eq!(
            Money::parse("-0.05", usd()).unwrap().display(),
            "\u{2212}$0.05"
        );
        assert_eq!(
            Money::parse("1000000", usd()).unwrap().display(),
            "$1,000,000.00"
        );
    }

    #[test]
    fn refuses_what_a_float_would_accept() {
        for bad in [
            "1e3", "1E3", "NaN", "inf", "-inf", "0x10", "1,000", ".5", "5.", "+5", " ", "",
            "1.2.3", "--1", "١٢",
        ] {
            assert!(
                Money::parse(bad, usd()).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn more_digits_than_the_currency_is_an_error() {
        assert!(matches!(
            Money::parse("1.234", usd()),
            Err(MoneyError::TooManyDecimals { .. })
        ));
        assert!(matches!(
            Money::parse("1.0", Currency::parse("JPY").unwrap()),
            Err(MoneyError::TooManyDecimals { .. })
        ));
        assert_eq!(
            Money::parse("1.234", Currency::parse("KWD").unwrap())
                .unwrap()
                .minor(),
            1234
        );
    }

    #[test]
    fn huge_amounts_are_refused() {
        assert_eq!(
            Money::parse("99999999999999999999999", usd()),
            Err(MoneyError::TooLarge)
        );
        assert_eq!(
            Money::parse("10000000000000.01", usd()),
            Err(MoneyError::TooLarge)
        );
        assert!(Money::parse("10000000000000.00", usd()).is_ok());
    }

    #[test]
    fn commercial_rounding() {
        let d = |s: &str| Decimal::from_str_exact(s).unwrap();
        assert_eq!(round_half_away(d("1.825"), 2), d("1.83"));
        assert_eq!(round_half_away(d("-1.825"), 2), d("-1.83"));
        assert_eq!(round_half_away(d("2.5"), 0), d("3"));
        assert_eq!(round_half_away(d("1.824999"), 2), d("1.82"));
        assert_eq!(
            Money::from_decimal_rounded(d("0.005"), usd())
                .unwrap()
                .minor(),
            1
        );
    }

    #[test]
    fn currencies_never_mix() {
        let a = Money::parse("1", usd()).unwrap();
        let b = Money::parse("1", Currency::parse("CNY").unwrap()).unwrap();
        assert!(matches!(
            a.checked_add(b),
            Err(MoneyError::CurrencyMismatch(..))
        ));
    }

    #[test]
    fn unknown_currency() {
        assert!(matches!(
            Currency::parse("XYZ"),
            Err(MoneyError::UnknownCurrency(_))
        ));
    }

    #[test]
    fn allocation_examples() {
        assert_eq!(allocate(100, &[1, 1, 1]).unwrap(), vec![34, 33, 33]);
        assert_eq!(allocate(-100, &[1, 1, 1]).unwrap(), vec![-34, -33, -33]);
        assert_eq!(allocate(5, &[0, 10]).unwrap(), vec![0, 5]);
        assert_eq!(allocate(0, &[0, 0]).unwrap(), vec![0, 0]);
        assert!(allocate(1, &[0, 0]).is_none());
    }

    fn currency_strategy() -> impl Strategy<Value = Currency> {
        (0..CURRENCIES.len()).prop_map(|i| CURRENCIES[i])
    }

    proptest! {
        #[test]
        fn plain_string_round_trips(minor in -MAX_MINOR..=MAX_MINOR, cur in currency_strategy()) {
            let m = Money::from_minor(minor, cur).unwrap();
            let back = Money::parse(&m.to_plain_string(), cur).unwrap();
            prop_assert_eq!(back, m);
        }

        #[test]
        fn display_round_trips_without_symbol_and_separators(minor in -MAX_MINOR..=MAX_MINOR, cur in currency_strategy()) {
            let m = Money::from_minor(minor, cur).unwrap();
            let shown = m.display();
            let stripped: String = shown
                .replace(cur.symbol(), "")
                .replace(',', "")
                .replace('\u{2212}', "-");
            prop_assert_eq!(Money::parse(&stripped, cur).unwrap(), m);
        }

        #[test]
        fn parse_accepts_exactly_the_digits_allowed(int in 0u64..10_000_000_000, frac in 0u32..100_000, frac_len in 0usize..6, cur in currency_strategy()) {
            let frac_str = format!("{:0width$}", frac % 10u32.pow(frac_len as u32).max(1), width = frac_len);
            let input = if frac_len == 0 { int.to_string() } else { format!("{int}.{frac_str}") };
            let result = Money::parse(&input, cur);
            if frac_len as u32 <= cur.digits() {
                let m = result.unwrap();
                prop_assert_eq!(m.to_decimal(), Decimal::from_str_exact(&input).unwrap());
            } else {
                let is_too_many = matches!(result, Err(MoneyError::TooManyDecimals { .. }));
                prop_assert!(is_too_many);
            }
        }

        #[test]
        fn allocation_sums_exactly(total in -1_000_000_000i64..1_000_000_000, weights in prop::collection::vec(0i64..1_000_000, 1..20)) {
            prop_assume!(weights.iter().any(|w| *w > 0));
            let parts = allocate(total, &weights).unwrap();
            prop_assert_eq!(parts.iter().sum::<i64>(), total);
            // Each part is within one minor unit of its exact share.
            let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
            for (p, w) in parts.iter().zip(&weights) {
                let exact_times_sum = i128::from(total) * i128::from(*w);
                let diff = (i128::from(*p) * sum - exact_times_sum).abs();
                prop_assert!(diff < sum, "part {} off its share", p);
            }
        }

        #[test]
        fn addition_is_exact(a in -MAX_MINOR/2..MAX_MINOR/2, b in -MAX_MINOR/2..MAX_MINOR/2) {
            let x = Money::from_minor(a, usd()).unwrap();
            let y = Money::from_minor(b, usd()).unwrap();
            prop_assert_eq!(x.checked_add(y).unwrap().minor(), a + b);
            prop_assert_eq!(x.checked_add(y).unwrap().to_decimal(), x.to_decimal() + y.to_decimal());
        }
    }
}
