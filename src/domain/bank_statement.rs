//! A bank statement of incoming transfers, as finance downloads it from the bank: a CSV file
//! with a header naming `date`, `amount`, `currency`, `reference` and `payer` (any case, any
//! order; other columns are allowed and ignored), one transfer a line.
//!
//! The file is read strictly, as the payout bank-result file is: text that is not UTF-8, a
//! quote left open or a line break inside a field, an empty file, a missing column, rows of
//! another width or more than [`MAX_ROWS`] rows refuse the whole file, with a message naming
//! the line (and column). A row that reads but does not hold a transfer we can record (a
//! date that is not `YYYY-MM-DD`, an unknown currency, an amount with thousands separators
//! or more digits than its currency has, an outgoing or zero amount, a reference with
//! hidden characters ...) keeps its problem: it is shown, and cannot be recorded.
//!
//! The file's digest ([`Statement::sha256`]) tells the same file uploaded twice: it is the
//! SHA-256 of its text with a byte-order mark dropped and line ends as `\n` (a browser sends
//! a file read into a form with `\r\n`), trailing line breaks aside.

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use super::money::{Currency, Money, MoneyError};
use super::validate::{hidden_char, hidden_char_message};

/// The most rows one file may hold.
pub const MAX_ROWS: usize = 5_000;
const MAX_ROWS_TEXT: &str = "5,000";

/// The columns every statement has, as the header names them.
pub const COLUMNS: [&str; 5] = ["date", "amount", "currency", "reference", "payer"];

/// The longest reference or payer name kept (what a payment takes).
pub const MAX_TEXT: usize = 140;

/// Why a file is refused whole: where, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The line of the file (the header is line 1); 0 for the file as a whole.
    pub line: usize,
    pub column: Option<String>,
    pub message: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, &self.column) {
            (0, _) => write!(f, "{}", self.message),
            (l, Some(c)) => write!(f, "Line {l}, column “{c}”: {}", self.message),
            (l, None) => write!(f, "Line {l}: {}", self.message),
        }
    }
}

fn refuse(line: usize, column: Option<&str>, message: impl Into<String>) -> FileError {
    FileError {
        line,
        column: column.map(str::to_owned),
        message: message.into(),
    }
}

/// One transfer of the statement, as read, with what it holds and its problem if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The row's line in the file (the header is line 1), as a spreadsheet numbers it.
    pub line: usize,
    /// The date as written, and the date when it reads.
    pub date_text: String,
    pub date: Option<NaiveDate>,
    /// The amount as written, and the amount when it reads in the currency.
    pub amount_text: String,
    pub amount: Option<Money>,
    /// The currency as written (upper case when it is known).
    pub currency_text: String,
    pub reference: String,
    pub payer: String,
    /// Why the row cannot be recorded (every reason, in column order).
    pub problem: Option<String>,
}

impl Row {
    /// A row without a problem: date, amount (more than zero) and currency all read.
    pub fn is_recordable(&self) -> bool {
        self.problem.is_none() && self.date.is_some() && self.amount.is_some()
    }
}

/// A statement file that reads: its rows, the columns it has that are not read, and its
/// digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sha256: String,
    pub ignored_columns: Vec<String>,
    pub rows: Vec<Row>,
}

/// The digest that tells the same file twice (see the module's notes).
pub fn digest(text: &str) -> String {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let normal = text.replace("\r\n", "\n").replace('\r', "\n");
    let normal = normal.trim_end_matches('\n');
    hex::encode(Sha256::digest(normal.as_bytes()))
}

/// The 1-based line of a byte offset.
fn line_at(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Reads a statement file (see the module's notes).
pub fn parse(bytes: &[u8]) -> Result<Statement, FileError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            return Err(refuse(
                line_at(bytes, e.valid_up_to()),
                None,
                "the file is not UTF-8 text (an encoding error): export the statement as CSV UTF-8, or save it as UTF-8, and upload it again",
            ));
        }
    };
    if let Some(at) = text.find('\u{FFFD}') {
        return Err(refuse(
            line_at(bytes, at),
            None,
            "the file holds U+FFFD, the mark of text that was not UTF-8 when it was read: export the statement as CSV UTF-8 and upload the file again",
        ));
    }
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(refuse(
            0,
            None,
            format!(
                "The file is empty: it needs a header line ({}) and a line for each transfer.",
                COLUMNS.join(",")
            ),
        ));
    }
    // Flexible, so that a quote left open is told as such (it swallows the next lines into
    // one short row): the width of every row is checked below.
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_lowercase()).collect(),
        Err(e) => return Err(refuse(1, None, format!("the header does not read: {e}"))),
    };
    if let Some(h) = headers.iter().find(|h| h.contains(['\n', '\r'])) {
        let h = h.lines().next().unwrap_or_default();
        return Err(refuse(
            1,
            Some(h),
            "a quote in the header is left open: the header is one line",
        ));
    }
    for (i, h) in headers.iter().enumerate() {
        if !h.is_empty() && headers[..i].contains(h) {
            return Err(refuse(
                1,
                Some(h),
                "the header names this column twice: which one holds the transfer's value?",
            ));
        }
    }
    let missing: Vec<&str> = COLUMNS
        .iter()
        .copied()
        .filter(|c| !headers.iter().any(|h| h == c))
        .collect();
    if !missing.is_empty() {
        return Err(refuse(
            1,
            None,
            format!(
                "the header has no column {}: a statement needs the columns {} (any order, any case; other columns are ignored)",
                missing
                    .iter()
                    .map(|m| format!("“{m}”"))
                    .collect::<Vec<_>>()
                    .join(", "),
                COLUMNS.join(", ")
            ),
        ));
    }
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap_or(0);
    let (c_date, c_amount, c_currency, c_reference, c_payer) = (
        col("date"),
        col("amount"),
        col("currency"),
        col("reference"),
        col("payer"),
    );
    let ignored_columns: Vec<String> = headers
        .iter()
        .filter(|h| !COLUMNS.contains(&h.as_str()))
        .map(|h| {
            if h.is_empty() {
                "(unnamed)".to_owned()
            } else {
                h.clone()
            }
        })
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e
                    .position()
                    .map_or(rows.len() + 2, |p| usize::try_from(p.line()).unwrap_or(0));
                return Err(refuse(line, None, format!("the row does not read: {e}")));
            }
        };
        let line = record
            .position()
            .map_or(rows.len() + 2, |p| usize::try_from(p.line()).unwrap_or(0));
        if let Some(i) = record.iter().position(|f| f.contains(['\n', '\r'])) {
            return Err(refuse(
                line,
                headers.get(i).map(String::as_str),
                "a field holds a line break (a quote left open?): every transfer is one line, and nothing was read",
            ));
        }
        if record.len() != headers.len() {
            return Err(refuse(
                line,
                None,
                format!(
                    "this row has {} field{}, the header {}: is a comma in an amount or a name not quoted?",
                    record.len(),
                    if record.len() == 1 { "" } else { "s" },
                    headers.len()
                ),
            ));
        }
        if rows.len() == MAX_ROWS {
            return Err(refuse(
                line,
                None,
                format!(
                    "the file has more than {MAX_ROWS_TEXT} rows: split it into files of at most {MAX_ROWS_TEXT} transfers"
                ),
            ));
        }
        let get = |c: usize| record.get(c).unwrap_or("").trim().to_owned();
        rows.push(read_row(
            line,
            &get(c_date),
            &get(c_amount),
            &get(c_currency),
            &get(c_reference),
            &get(c_payer),
        ));
    }
    // Every non-blank line after the header is one row: a quote that swallowed lines, or
    // lines the reader skipped, would make them differ.
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    if lines.saturating_sub(1) != rows.len() {
        return Err(refuse(
            0,
            None,
            format!(
                "The file has {} lines of transfers but {} read: a quote or a line break is out of place.",
                lines.saturating_sub(1),
                rows.len()
            ),
        ));
    }
    if rows.is_empty() {
        return Err(refuse(
            0,
            None,
            "The file has a header but no transfers: export the statement with its rows.",
        ));
    }
    Ok(Statement {
        sha256: digest(text),
        ignored_columns,
        rows,
    })
}

/// Reads one row's fields (already trimmed) into a [`Row`] with its problems.
pub fn read_row(
    line: usize,
    date: &str,
    amount: &str,
    currency: &str,
    reference: &str,
    payer: &str,
) -> Row {
    let mut problems: Vec<String> = Vec::new();
    let date_value = parse_date(date);
    match &date_value {
        Ok(_) => {}
        Err(m) => problems.push(m.clone()),
    }
    let currency_value = if currency.is_empty() {
        problems.push("No currency: give its ISO code, such as CNY or USD.".to_owned());
        None
    } else {
        match Currency::parse(currency) {
            Ok(c) => Some(c),
            Err(e) => {
                problems.push(sentence(&e.to_string()));
                None
            }
        }
    };
    let amount_value = match currency_value {
        Some(c) => match parse_amount(amount, c) {
            Ok(m) => Some(m),
            Err(m) => {
                problems.push(m);
                None
            }
        },
        None => None,
    };
    text_problem("reference", reference, &mut problems);
    if reference.is_empty() {
        problems.push(
            "No reference: a payment is recorded once by its bank reference; record this one by hand."
                .to_owned(),
        );
    }
    text_problem("payer", payer, &mut problems);
    Row {
        line,
        date_text: date.to_owned(),
        date: date_value.ok(),
        amount_text: amount.to_owned(),
        amount: amount_value,
        currency_text: currency_value.map_or_else(|| currency.to_owned(), |c| c.code().to_owned()),
        reference: reference.to_owned(),
        payer: payer.to_owned(),
        problem: (!problems.is_empty()).then(|| problems.join(" ")),
    }
}

fn sentence(s: &str) -> String {
    let mut chars = s.chars();
    let mut out: String = chars
        .next()
        .map(|f| f.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// A date written `YYYY-MM-DD`, exactly.
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if s.is_empty() {
        return Err("No date: write the value date as YYYY-MM-DD.".to_owned());
    }
    if !shaped {
        return Err(format!(
            "The date “{s}” is not written YYYY-MM-DD (e.g. 2026-12-03)."
        ));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("The date “{s}” is not a day of the calendar."))
}

/// An incoming amount in the currency: a decimal string with at most the currency's digits,
/// more than zero.
pub fn parse_amount(s: &str, currency: Currency) -> Result<Money, String> {
    if s.is_empty() {
        return Err("No amount.".to_owned());
    }
    let digits_around = |sep: char| {
        s.char_indices().any(|(i, c)| {
            c == sep
                && s[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|p| p.is_ascii_digit())
                && s[i + c.len_utf8()..]
                    .chars()
                    .next()
                    .is_some_and(|n| n.is_ascii_digit())
        })
    };
    let separators = [',', '\'', ' ', '_', '\u{a0}', '\u{202f}', '’'];
    if let Some(sep) = separators.iter().copied().find(|c| digits_around(*c)) {
        let what =
            if sep == ',' && !s.contains('.') && s.rsplit(',').next().is_some_and(|t| t.len() != 3)
            {
                "a decimal comma"
            } else {
                "a thousands separator"
            };
        return Err(format!(
            "The amount “{s}” has {what} (“{sep}”): write it with digits and a decimal point only, e.g. 1234.50."
        ));
    }
    match Money::parse(s, currency) {
        Ok(m) if m.minor() > 0 => Ok(m),
        Ok(_) => Err(format!(
            "Not an incoming transfer (the amount is {s}): skipped."
        )),
        Err(MoneyError::TooManyDecimals { digits, .. }) => Err(format!(
            "The amount “{s}” has more decimals than {} has ({digits}).",
            currency.code()
        )),
        Err(e) => Err(sentence(&e.to_string())),
    }
}

fn text_problem(field: &str, value: &str, problems: &mut Vec<String>) {
    if let Some(c) = hidden_char(value) {
        problems.push(format!("The {field} {}.", hidden_char_message(c)));
    } else if value.chars().any(char::is_control) {
        problems.push(format!(
            "The {field} holds a tab or another control character: remove it."
        ));
    }
    if value.chars().count() > MAX_TEXT {
        problems.push(format!("The {field} is longer than {MAX_TEXT} characters."));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cny() -> Currency {
        Currency::parse("CNY").unwrap()
    }

    const GOOD: &str = "date,amount,currency,reference,payer\n\
        2026-12-03,1234.50,CNY,Payment INV-2026-000002,Lumiere Beauty Ltd\n\
        2026-12-04,99.00,USD,Wire 7781,Voltix Electronics\n";

    #[test]
    fn reads_a_statement() {
        let s = parse(GOOD.as_bytes()).unwrap();
        assert_eq!(s.rows.len(), 2);
        let r = &s.rows[0];
        assert_eq!(r.line, 2);
        assert_eq!(r.date, NaiveDate::from_ymd_opt(2026, 12, 3));
        assert_eq!(r.amount.unwrap().minor(), 123_450);
        assert_eq!(r.currency_text, "CNY");
        assert_eq!(r.reference, "Payment INV-2026-000002");
        assert_eq!(r.payer, "Lumiere Beauty Ltd");
        assert!(r.is_recordable());
        assert_eq!(s.rows[1].line, 3);
        assert!(s.ignored_columns.is_empty());
        assert_eq!(s.sha256.len(), 64);
    }

    #[test]
    fn header_in_any_order_and_case_with_a_bom_and_other_columns() {
        let text = "\u{FEFF}Payer,REFERENCE,Balance,Amount,Currency,Date\r\n\
            \" Jade Leaf \",  INV-2026-000001 ,10.00,  5 ,cny,2026-12-01\r\n";
        let s = parse(text.as_bytes()).unwrap();
        assert_eq!(s.ignored_columns, vec!["balance".to_owned()]);
        let r = &s.rows[0];
        assert_eq!(r.payer, "Jade Leaf");
        assert_eq!(r.reference, "INV-2026-000001");
        assert_eq!(r.amount.unwrap().minor(), 500);
        assert_eq!(r.currency_text, "CNY");
        assert!(r.problem.is_none(), "{:?}", r.problem);
    }

    #[test]
    fn file_errors_refuse_the_whole_file_and_say_where() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "The file is empty"),
            (b"  \n\n".to_vec(), "The file is empty"),
            (b"date,amount,currency,reference,payer\n".to_vec(), "no transfers"),
            (
                b"date,amount,currency,reference\n2026-12-01,1,CNY,x\n".to_vec(),
                "Line 1: the header has no column “payer”",
            ),
            (
                b"date,amount,currency,reference,payer\n2026-12-01,1,CNY,x,\xff\n".to_vec(),
                "Line 2: the file is not UTF-8",
            ),
            (
                "date,amount,currency,reference,payer\n2026-12-01,1,CNY,x,Caf\u{FFFD}\n"
                    .as_bytes()
                    .to_vec(),
                "Line 2: the file holds U+FFFD",
            ),
            (
                b"date,amount,currency,reference,payer\n2026-12-01,1,CNY,\"x,y\n2026-12-02,2,CNY,z,w\n"
                    .to_vec(),
                "Line 2, column “reference”: a field holds a line break",
            ),
            (
                b"date,amount,currency,reference,payer\n2026-12-01,1,234.00,CNY,x,y\n".to_vec(),
                "Line 2: this row has 6 fields, the header 5",
            ),
            (
                b"date,amount,currency,reference,payer,date\n2026-12-01,1,CNY,x,y,z\n".to_vec(),
                "column “date”: the header names this column twice",
            ),
            (
                b"\"date,amount,currency,reference,payer\n2026-12-01,1,CNY,x,y\n".to_vec(),
                "Line 1",
            ),
        ];
        for (bytes, expected) in cases {
            let e = parse(&bytes).expect_err(&String::from_utf8_lossy(&bytes));
            assert!(
                e.to_string().contains(expected),
                "{:?}: {e}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    #[test]
    fn more_than_the_maximum_of_rows_is_refused() {
        let mut text = String::from("date,amount,currency,reference,payer\n");
        for i in 0..MAX_ROWS {
            text.push_str(&format!("2026-12-01,1.00,CNY,ref {i},someone\n"));
        }
        assert_eq!(parse(text.as_bytes()).unwrap().rows.len(), MAX_ROWS);
        text.push_str("2026-12-01,1.00,CNY,one more,someone\n");
        let e = parse(text.as_bytes()).unwrap_err();
        assert_eq!(e.line, MAX_ROWS + 2);
        assert!(e.to_string().contains("more than 5,000 rows"), "{e}");
    }

    #[test]
    fn row_problems_keep_the_row() {
        let text = "date,amount,currency,reference,payer\n\
            03/12/2026,10.00,CNY,a,b\n\
            2026-02-30,10.00,CNY,a,b\n\
            2026-12-01,\"1,234.50\",CNY,a,b\n\
            2026-12-01,12.345,USD,a,b\n\
            2026-12-01,12.5,JPY,a,b\n\
            2026-12-01,-12.00,CNY,refund,b\n\
            2026-12-01,0,CNY,zero,b\n\
            2026-12-01,10.00,XYZ,a,b\n\
            2026-12-01,10.00,CNY,a\u{200B}b,b\n\
            2026-12-01,10.00,CNY,a\tb,b\n\
            2026-12-01,10.00,CNY,,b\n\
            2026-12-01,\"12,50\",EUR,a,b\n\
            2026-12-01,¥10.00,CNY,a,b\n";
        let s = parse(text.as_bytes()).unwrap();
        let problems: Vec<String> = s
            .rows
            .iter()
            .map(|r| r.problem.clone().unwrap_or_default())
            .collect();
        let expected = [
            "is not written YYYY-MM-DD",
            "is not a day of the calendar",
            "a thousands separator",
            "more decimals than USD has (2)",
            "more decimals than JPY has (0)",
            "Not an incoming transfer",
            "Not an incoming transfer",
            "Unknown currency",
            "zero-width space",
            "tab",
            "No reference",
            "a decimal comma",
            "is not an amount",
        ];
        assert_eq!(problems.len(), expected.len());
        for (p, e) in problems.iter().zip(expected) {
            assert!(p.contains(e), "{p:?} should say {e:?}");
        }
        assert!(s.rows.iter().all(|r| !r.is_recordable()));
        assert_eq!(s.rows[0].date_text, "03/12/2026");
        assert_eq!(s.rows[2].amount_text, "1,234.50");
    }

    #[test]
    fn the_digest_ignores_line_ends_and_the_bom_only() {
        let lf = GOOD;
        let crlf = GOOD.replace('\n', "\r\n");
        let bom = format!("\u{FEFF}{GOOD}");
        let no_final = GOOD.trim_end();
        let d = parse(lf.as_bytes()).unwrap().sha256;
        for other in [crlf.as_str(), bom.as_str(), no_final] {
            assert_eq!(parse(other.as_bytes()).unwrap().sha256, d);
        }
        let changed = GOOD.replace("99.00", "99.01");
        assert_ne!(parse(changed.as_bytes()).unwrap().sha256, d);
    }

    #[test]
    fn amounts() {
        assert_eq!(parse_amount("1234.50", cny()).unwrap().minor(), 123_450);
        assert_eq!(parse_amount("7", cny()).unwrap().minor(), 700);
        assert!(
            parse_amount("1 234.50", cny())
                .unwrap_err()
                .contains("thousands")
        );
        assert!(parse_amount("1e3", cny()).is_err());
        assert!(parse_amount("NaN", cny()).is_err());
        assert!(parse_amount("", cny()).unwrap_err().contains("No amount"));
    }

    proptest! {
        /// Any rows written as a CSV writer writes them read back as they were.
        #[test]
        fn written_rows_read_back(
            rows in proptest::collection::vec(
                (
                    1i64..10_000_000,
                    prop::sample::select(vec!["CNY", "USD", "JPY", "EUR"]),
                    "[A-Za-z0-9 ,.\"'#/-]{1,40}",
                    "[A-Za-z0-9 ,.&'()-]{0,40}",
                    0u32..365,
                ),
                1..20,
            )
        ) {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(["reference", "date", "payer", "amount", "currency"]).unwrap();
            let mut expected = Vec::new();
            for (minor, code, reference, payer, day) in &rows {
                let c = Currency::parse(code).unwrap();
                let m = Money::from_minor(*minor, c).unwrap();
                let date = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(u64::from(*day));
                w.write_record([
                    reference.as_str(),
                    &date.format("%Y-%m-%d").to_string(),
                    payer.as_str(),
                    &m.to_plain_string(),
                    code,
                ]).unwrap();
                expected.push((m, date, reference.trim().to_owned(), payer.trim().to_owned()));
            }
            let bytes = w.into_inner().unwrap();
            let s = parse(&bytes).unwrap();
            prop_assert_eq!(s.rows.len(), expected.len());
            for (i, (r, (m, date, reference, payer))) in s.rows.iter().zip(expected).enumerate() {
                prop_assert_eq!(r.line, i + 2);
                prop_assert_eq!(r.amount, Some(m));
                prop_assert_eq!(r.date, Some(date));
                prop_assert_eq!(&r.reference, &reference);
                prop_assert_eq!(&r.payer, &payer);
                prop_assert!(r.is_recordable() || reference.is_empty(), "{:?}", r.problem);
            }
        }

        /// Whatever the bytes, the reader answers (a statement or a refusal), never panics,
        /// and a statement's rows each sit on their own line.
        #[test]
        fn any_bytes_answer(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(s) = parse(&bytes) {
                prop_assert!(!s.rows.is_empty() && s.rows.len() <= MAX_ROWS);
                for w in s.rows.windows(2) {
                    prop_assert!(w[0].line < w[1].line);
                }
            }
        }

        /// An amount with a grouping separator between digits is never read as a number.
        #[test]
        fn grouped_amounts_are_refused(
            head in 1u32..999,
            tail in 0u32..1000,
            sep in prop::sample::select(vec![",", "'", " ", "_"]),
        ) {
            let text = format!("{head}{sep}{tail:03}.00");
            prop_assert!(parse_amount(&text, cny()).is_err());
        }

        /// More digits than the currency has are refused, never rounded.
        #[test]
        fn extra_digits_are_refused(units in 0u64..1_000_000, frac in 0u32..1000) {
            let text = format!("{units}.{frac:03}");
            let e = parse_amount(&text, cny()).unwrap_err();
            prop_assert!(e.contains("more decimals"), "{}", e);
        }
    }
}
