//! Words for people: a count with its noun in the right number ("1 payout", "3 payouts").

/// A whole number a count can be.
pub trait Count: Copy + std::fmt::Display {
    fn is_one(self) -> bool;
}

macro_rules! count_impl {
    ($($t:ty),*) => {$(
        impl Count for $t {
            fn is_one(self) -> bool {
                self == 1
            }
        }
    )*};
}
count_impl!(usize, u32, u64, i32, i64);

/// A count with its noun: `1 payout`, `3 payouts`, `0 payouts`.
pub fn count<N: Count>(n: N, one: &str, many: &str) -> String {
    format!("{n} {}", noun(n, one, many))
}

/// The noun for a count: `one` for 1, else `many`.
pub fn noun<'a, N: Count>(n: N, one: &'a str, many: &'a str) -> &'a str {
    if n.is_one() { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_everything_else_plural() {
        assert_eq!(count(1usize, "payout", "payouts"), "1 payout");
        assert_eq!(count(0i64, "payout", "payouts"), "0 payouts");
        assert_eq!(count(2u32, "day", "days"), "2 days");
        assert_eq!(count(-1i64, "day", "days"), "-1 days");
        assert_eq!(noun(1i32, "row", "rows"), "row");
    }
}
