//! Products: the fields a merchant gives (one by one or as CSV rows) and their rules.
//!
//! CSV columns (header row required, any order): `sku, title, category, price, currency,
//! product_url, image_url, active`. `image_url` and `active` may be left out (`active`
//! defaults to true).

use std::collections::HashSet;

use super::catalog::parse_category;
use super::money::{Currency, Money};
use super::shop_domain::url_on_domains;
use super::validate::FieldErrors;

/// Largest CSV accepted, in bytes and in rows.
pub const MAX_CSV_BYTES: usize = 2 * 1024 * 1024;
pub const MAX_CSV_ROWS: usize = 5_000;

/// A valid product, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductInput {
    pub sku: String,
    pub title: String,
    pub category: String,
    pub price: Money,
    pub product_url: String,
    pub image_url: Option<String>,
    pub active: bool,
}

/// The raw text of one product, from a form or a CSV row.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct ProductRaw {
    pub sku: String,
    pub title: String,
    pub category: String,
    pub price: String,
    pub currency: String,
    pub product_url: String,
    pub image_url: String,
    pub active: String,
}

pub fn parse_sku(input: &str) -> Result<String, String> {
    let s = input.trim();
    if s.is_empty() || s.len() > 64 {
        return Err("Enter a SKU of 1 to 64 characters.".to_owned());
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("A SKU uses letters, digits, dashes, dots and underscores only.".to_owned());
    }
    Ok(s.to_owned())
}

fn parse_bool(input: &str) -> Result<bool, String> {
    match input.trim().to_ascii_lowercase().as_str() {
        "" | "true" | "yes" | "1" | "y" | "on" => Ok(true),
        "false" | "no" | "0" | "n" | "off" => Ok(false),
        _ => Err("Use true or false.".to_owned()),
    }
}

fn parse_image(input: &str) -> Result<Option<String>, String> {
    let s = input.trim();
    if s.is_empty() {
        return Ok(None);
    }
    match url::Url::parse(s) {
        Ok(u)
            if matches!(u.scheme(), "https" | "http")
                && u.host_str().is_some()
                && s.len() <= 2000 =>
        {
            Ok(Some(u.to_string()))
        }
        _ => Err("Use a full image address starting with https://, or leave it empty.".to_owned()),
    }
}

/// Validates one product against the merchant's shop domains.
pub fn validate(raw: &ProductRaw, domains: &[String]) -> Result<ProductInput, FieldErrors> {
    let mut errors = FieldErrors::new();
    let sku = errors.check("sku", parse_sku(&raw.sku));
    let title = errors.check("title", {
        let t = raw.title.trim();
        if t.is_empty() || t.chars().count() > 200 {
            Err("Enter a title of 1 to 200 characters.".to_owned())
        } else if let Some(c) =
            super::validate::hidden_char(t).or(t.chars().find(|c| c.is_control()))
        {
            Err(format!(
                "The title {}.",
                super::validate::hidden_char_message(c)
            ))
        } else {
            Ok(t.to_owned())
        }
    });
    let category = errors.check("category", parse_category(&raw.category));
    let currency = errors.check(
        "currency",
        Currency::parse(&raw.currency).map_err(|e| e.to_string()),
    );
    let price = currency.and_then(|c| {
        errors.check(
            "price",
            Money::parse(&raw.price, c)
                .map_err(|e| e.to_string())
                .and_then(|m| {
                    if m.is_negative() {
                        Err("A price cannot be negative.".to_owned())
                    } else {
                        Ok(m)
                    }
                }),
        )
    });
    let product_url = errors.check("product_url", url_on_domains(&raw.product_url, domains));
    let image_url = errors.check("image_url", parse_image(&raw.image_url));
    let active = errors.check("active", parse_bool(&raw.active));
    match (sku, title, category, price, product_url, image_url, active) {
        (
            Some(sku),
            Some(title),
            Some(category),
            Some(price),
            Some(product_url),
            Some(image_url),
            Some(active),
        ) => Ok(ProductInput {
            sku,
            title,
            category,
            price,
            product_url,
            image_url,
            active,
        }),
        _ => Err(errors),
    }
}

/// One data row of a CSV file: its line number and what it parsed to.
#[derive(Debug, Clone)]
pub struct CsvRow {
    pub line: u64,
    pub sku: String,
    pub result: Result<ProductInput, Vec<String>>,
}

/// Parses a whole CSV file. A problem with the file itself (no header, too large, missing
/// columns) is an `Err`; problems with single rows are in the rows.
pub fn parse_csv(text: &str, domains: &[String]) -> Result<Vec<CsvRow>, String> {
    if text.len() > MAX_CSV_BYTES {
        return Err(format!(
            "The file is larger than {} MB.",
            MAX_CSV_BYTES / 1024 / 1024
        ));
    }
    let text = text.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return Err("The file is empty. The first line names the columns: sku,title,category,price,currency,product_url,image_url,active".to_owned());
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("The header line cannot be read: {e}"))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let required = [
        "sku",
        "title",
        "category",
        "price",
        "currency",
        "product_url",
    ];
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|r| !headers.iter().any(|h| h == r))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "The header line lacks the column{} {}.",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        ));
    }
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (c_sku, c_title, c_cat, c_price, c_cur, c_url, c_img, c_active) = (
        col("sku"),
        col("title"),
        col("category"),
        col("price"),
        col("currency"),
        col("product_url"),
        col("image_url"),
        col("active"),
    );
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for record in reader.records() {
        if rows.len() >= MAX_CSV_ROWS {
            return Err(format!(
                "The file has more than {MAX_CSV_ROWS} products; split it."
            ));
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                rows.push(CsvRow {
                    line,
                    sku: String::new(),
                    result: Err(vec![format!("unreadable row: {e}")]),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let get = |c: Option<usize>| c.and_then(|i| record.get(i)).unwrap_or("").to_owned();
        let raw = ProductRaw {
            sku: get(c_sku),
            title: get(c_title),
            category: get(c_cat),
            price: get(c_price),
            currency: get(c_cur),
            product_url: get(c_url),
            image_url: get(c_img),
            active: get(c_active),
        };
        let mut result = validate(&raw, domains).map_err(|errs| {
            errs.iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect()
        });
        if let Ok(p) = &result
            && !seen.insert(p.sku.clone())
        {
            result = Err(vec![format!("sku: {} appears earlier in the file", p.sku)]);
        }
        rows.push(CsvRow {
            line,
            sku: raw.sku.trim().to_owned(),
            result,
        });
    }
    if rows.is_empty() {
        return Err("The file has a header line but no products.".to_owned());
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains() -> Vec<String> {
        vec!["tea.example".to_owned()]
    }

    #[test]
    fn good_and_bad_rows() {
        let csv = "\u{feff}sku,title,category,price,currency,product_url,active\n\
                   TEA-1,Dragon Well 100g,tea,128.00,CNY,https://tea.example/p/1,true\n\
                   TEA-2,Bad price,tea,12.345,CNY,https://tea.example/p/2,\n\
                   TEA-3,Wrong shop,tea,10,CNY,https://evil.example/p/3,yes\n\
                   ,,,,,,\n\
                   TEA-1,Duplicate,tea,1,CNY,https://tea.example/p/1,true\n\
                   TEA-4,\"Quoted, title\",TEA,5,cny,https://www.tea.example/p/4,no\n";
        let rows = parse_csv(csv, &domains()).unwrap();
        assert_eq!(rows.len(), 5, "the blank row is skipped");
        assert!(rows[0].result.is_ok());
        assert_eq!(rows[0].line, 2);
        assert!(
            rows[1].result.as_ref().unwrap_err()[0].starts_with("price: CNY has 2 decimal places")
        );
        assert!(rows[2].result.as_ref().unwrap_err()[0].contains("not one of your shop domains"));
        assert!(rows[3].result.as_ref().unwrap_err()[0].contains("appears earlier"));
        let p = rows[4].result.as_ref().unwrap();
        assert_eq!(p.title, "Quoted, title");
        assert_eq!(p.category, "tea");
        assert!(!p.active);
    }

    #[test]
    fn file_level_errors() {
        assert!(parse_csv("", &domains()).is_err());
        assert!(
            parse_csv("sku,title\nA,B\n", &domains())
                .unwrap_err()
                .contains("category, price, currency, product_url")
        );
        assert!(
            parse_csv(
                "sku,title,category,price,currency,product_url\n",
                &domains()
            )
            .unwrap_err()
            .contains("no products")
        );
    }
}
