//! The fixed vocabularies of the marketplace: product categories and social platforms.

/// Product and audience categories, as (slug, label).
pub const CATEGORIES: &[(&str, &str)] = &[
    ("beauty", "Beauty & skincare"),
    ("fashion", "Fashion"),
    ("tea", "Tea & coffee"),
    ("food", "Food & snacks"),
    ("electronics", "Electronics"),
    ("home", "Home & kitchen"),
    ("fitness", "Fitness & sport"),
    ("kids", "Mother & baby"),
    ("pets", "Pets"),
    ("gaming", "Gaming"),
    ("travel", "Travel"),
    ("books", "Books & learning"),
];

pub fn category_label(slug: &str) -> &str {
    CATEGORIES
        .iter()
        .find(|(s, _)| *s == slug)
        .map_or(slug, |(_, l)| *l)
}

/// A known category slug, or the error shown next to the field.
pub fn parse_category(input: &str) -> Result<String, String> {
    let s = input.trim().to_lowercase();
    if CATEGORIES.iter().any(|(slug, _)| *slug == s) {
        Ok(s)
    } else {
        Err(format!(
            "Choose a category: {}.",
            CATEGORIES
                .iter()
                .map(|(s, _)| *s)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// Social platforms, as (slug, label).
pub const PLATFORMS: &[(&str, &str)] = &[
    ("douyin", "Douyin"),
    ("kuaishou", "Kuaishou"),
    ("tiktok", "TikTok"),
    ("instagram", "Instagram"),
    ("youtube", "YouTube"),
    ("other", "Other"),
];

pub fn platform_label(slug: &str) -> &str {
    PLATFORMS
        .iter()
        .find(|(s, _)| *s == slug)
        .map_or(slug, |(_, l)| *l)
}

pub fn parse_platform(input: &str) -> Result<String, String> {
    let s = input.trim().to_lowercase();
    if PLATFORMS.iter().any(|(slug, _)| *slug == s) {
        Ok(s)
    } else {
        Err("Choose a platform from the list.".to_owned())
    }
}

/// Languages offered on profiles (ISO 639-1), as (code, name).
pub const LANGUAGES: &[(&str, &str)] = &[
    ("zh", "Chinese"),
    ("en", "English"),
    ("ja", "Japanese"),
    ("ko", "Korean"),
    ("id", "Indonesian"),
    ("ms", "Malay"),
    ("th", "Thai"),
    ("vi", "Vietnamese"),
    ("es", "Spanish"),
    ("pt", "Portuguese"),
    ("fr", "French"),
    ("de", "German"),
    ("ar", "Arabic"),
    ("hi", "Hindi"),
];

/// Follower counts for people: `1.2M`, `85K`, `940`.
pub fn compact_count(n: i64) -> String {
    let (value, unit) = if n >= 1_000_000 {
        (n * 10 / 1_000_000, "M")
    } else if n >= 1_000 {
        (n * 10 / 1_000, "K")
    } else {
        return n.to_string();
    };
    if value % 10 == 0 || value >= 1000 {
        format!("{}{unit}", value / 10)
    } else {
        format!("{}.{}{unit}", value / 10, value % 10)
    }
}

/// A count in short form with its noun: "1 follower", "12.5K followers".
pub fn compact_count_of(n: i64, one: &str, many: &str) -> String {
    format!("{} {}", compact_count(n), if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(compact_count(940), "940");
        assert_eq!(compact_count(85_000), "85K");
        assert_eq!(compact_count(1_250_000), "1.2M");
        assert_eq!(compact_count(120_000_000), "120M");
        assert_eq!(compact_count(1_500), "1.5K");
    }

    #[test]
    fn vocabularies() {
        assert_eq!(parse_category(" Beauty ").unwrap(), "beauty");
        assert!(parse_category("weapons").is_err());
        assert_eq!(parse_platform("TikTok").unwrap(), "tiktok");
        assert_eq!(category_label("tea"), "Tea & coffee");
    }
}
