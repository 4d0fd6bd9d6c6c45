//! Field rules for forms, and the collection of field errors shown next to each field.

use serde::Serialize;

/// Errors keyed by form field, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FieldErrors(Vec<FieldError>);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldErrors {
    pub fn new() -> Self {
        FieldErrors(Vec::new())
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// Keeps the value on success, records the message on failure.
    pub fn check<T, E: Into<String>>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e);
                None
            }
        }
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldError> {
        self.0.iter()
    }

    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

/// Whether `s` holds a character no one-line text takes: any control character (tabs and
/// line breaks too) or a [`hidden_char`].
pub fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control) || hidden_char(s).is_some()
}

/// Characters that change the direction text is shown in (U+202E "right-to-left override"
/// makes "gpj.exe" read "exe.jpg"): never wanted in a name, label or note.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Characters that show as nothing: Unicode's format characters (general category Cf, as of
/// Unicode 15.1: the zero-width space U+200B, the soft hyphen U+00AD, the byte-order mark
/// U+FEFF, word joiners, the text-direction controls, tags ...), the line and paragraph
/// separators U+2028 and U+2029, and the Hangul fillers, which are letters that print blank.
/// "Acme\u{200B}" would pass for "Acme" everywhere it is shown.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{115F}'..='\u{1160}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    ) || is_bidi_control(c)
}

/// The zero-width non-joiner and joiner (U+200C, U+200D) are spelling in some scripts
/// (Persian "می‌خواهم", Indic conjuncts) and glue emoji sequences ("👩‍💻"): taken between
/// two visible characters when the one before is not ASCII. Between Latin letters, at an
/// end or beside a space they only hide ("Ad\u{200D}min").
fn is_joiner_in_place(prev: Option<char>, c: char, next: Option<char>) -> bool {
    let visible = |x: char| !x.is_whitespace() && !x.is_control() && !is_invisible(x);
    matches!(c, '\u{200C}' | '\u{200D}')
        && prev.is_some_and(|p| !p.is_ascii() && visible(p))
        && next.is_some_and(visible)
}

/// The first character of `s` that no text field takes: a control character (tabs and line
/// breaks aside), a text-direction control or another invisible character
/// ([`is_invisible`]; joiners where a script or an emoji needs them aside).
pub fn hidden_char(s: &str) -> Option<char> {
    let chars: Vec<char> = s.chars().collect();
    chars.iter().enumerate().find_map(|(i, &c)| {
        let hidden = (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
            || (is_invisible(c)
                && !is_joiner_in_place(
                    i.checked_sub(1).map(|p| chars[p]),
                    c,
                    chars.get(i + 1).copied(),
                ));
        hidden.then_some(c)
    })
}

/// The message for a field holding [`hidden_char`] `c`.
pub fn hidden_char_message(c: char) -> String {
    let what = match c {
        '\u{00AD}' => " (a soft hyphen)",
        '\u{200B}' => " (a zero-width space)",
        '\u{200C}' | '\u{200D}' => " (a zero-width joiner)",
        '\u{2028}' | '\u{2029}' => " (a line separator)",
        '\u{2060}' | '\u{FEFF}' => " (a word joiner or byte-order mark)",
        c if is_bidi_control(c) => " (a text-direction control)",
        c if c.is_control() => " (a control character)",
        _ => "",
    };
    format!(
        "contains an invisible character, U+{:04X}{what}; remove it",
        u32::from(c)
    )
}

/// The message for a one-line text holding a control or invisible character.
fn special_message(s: &str) -> String {
    match hidden_char(s) {
        Some(c) => {
            let m = hidden_char_message(c);
            let mut chars = m.chars();
            chars
                .next()
                .map(|f| f.to_uppercase().chain(chars).collect::<String>() + ".")
                .unwrap_or_default()
        }
        None => "Remove the tabs and line breaks.".to_owned(),
    }
}

/// A person's or a display name: 1 to 80 characters, no control characters.
pub fn name(input: &str, what: &str) -> Result<String, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err(format!("Enter {what}."));
    }
    if s.chars().count() > 80 {
        return Err("Use at most 80 characters.".to_owned());
    }
    if has_control(s) {
        return Err(special_message(s));
    }
    Ok(s.to_owned())
}

/// An organisation's name: 2 to 100 characters.
pub fn org_name(input: &str) -> Result<String, String> {
    let s = input.trim();
    if s.chars().count() < 2 {
        return Err("Enter your organisation's name (at least 2 characters).".to_owned());
    }
    if s.chars().count() > 100 {
        return Err("Use at most 100 characters.".to_owned());
    }
    if has_control(s) {
        return Err(special_message(s));
    }
    Ok(s.to_owned())
}

/// An optional website: empty, or an http(s) URL with a host.
pub fn website(input: &str) -> Result<Option<String>, String> {
    let s = input.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.len() > 200 {
        return Err("Use at most 200 characters.".to_owned());
    }
    let msg =
        "Enter a web address starting with https:// or http://, e.g. https://shop.example.com";
    let parsed = url::Url::parse(s).map_err(|_| msg.to_owned())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(msg.to_owned());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(msg.to_owned());
    }
    Ok(Some(parsed.to_string()))
}

/// An influencer's public handle: 3 to 30 of a-z, 0-9, `.` and `_`, lower-cased; a
/// leading `@` is dropped.
pub fn handle(input: &str) -> Result<String, String> {
    let s = input.trim().trim_start_matches('@').to_lowercase();
    if s.len() < 3 || s.len() > 30 {
        return Err("Use 3 to 30 characters.".to_owned());
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_')
    {
        return Err("Use only letters, digits, dots and underscores.".to_owned());
    }
    if s.starts_with('.') || s.ends_with('.') || s.contains("..") {
        return Err("A handle cannot start or end with a dot, or have two in a row.".to_owned());
    }
    Ok(s)
}

pub fn bio(input: &str) -> Result<String, String> {
    let s = input.trim();
    if s.chars().count() > 1000 {
        return Err("Use at most 1,000 characters.".to_owned());
    }
    if let Some(c) = hidden_char(s) {
        let m = hidden_char_message(c);
        return Err(format!("The text {m}."));
    }
    Ok(s.replace("\r\n", "\n"))
}

/// An optional ISO 3166-1 alpha-2 country code from the list Tandem shows.
pub fn country(input: &str) -> Result<Option<String>, String> {
    let s = input.trim().to_ascii_uppercase();
    if s.is_empty() {
        return Ok(None);
    }
    if COUNTRIES.iter().any(|(code, _)| *code == s) {
        Ok(Some(s))
    } else {
        Err("Choose a country from the list.".to_owned())
    }
}

pub fn country_name(code: &str) -> Option<&'static str> {
    COUNTRIES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// An IANA time zone name such as `Asia/Shanghai`; an old alias is kept as its current name
/// (`Asia/Calcutta` as `Asia/Kolkata`, the same clock).
pub fn time_zone(input: &str) -> Result<String, String> {
    let s = input.trim();
    s.parse::<chrono_tz::Tz>()
        .map(|tz| {
            super::zones::canonical(tz.name())
                .unwrap_or(tz.name())
                .to_owned()
        })
        .map_err(|_| "Choose a time zone from the list.".to_owned())
}

/// A new user's time zone: the one chosen (or detected by the browser), else `fallback`.
pub fn time_zone_or(input: &str, fallback: &str) -> Result<String, String> {
    if input.trim().is_empty() {
        time_zone(fallback)
    } else {
        time_zone(input)
    }
}

/// The time zone most of a country lives in (its capital's), for a default that a person can
/// change in their account settings.
pub fn country_time_zone(code: &str) -> Option<&'static str> {
    COUNTRY_ZONES
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(code))
        .map(|(_, z)| *z)
}

/// The zone of the country a currency is the home currency of (EUR: Central Europe), for a
/// merchant's default.
pub fn currency_time_zone(code: &str) -> Option<&'static str> {
    let country = match code.to_ascii_uppercase().as_str() {
        "CNY" => "CN",
        "USD" => "US",
        "EUR" => "DE",
        "GBP" => "GB",
        "JPY" => "JP",
        "KRW" => "KR",
        "HKD" => "HK",
        "TWD" => "TW",
        "SGD" => "SG",
        "MYR" => "MY",
        "THB" => "TH",
        "IDR" => "ID",
        "PHP" => "PH",
        "VND" => "VN",
        "INR" => "IN",
        "AUD" => "AU",
        "NZD" => "NZ",
        "CAD" => "CA",
        "MXN" => "MX",
        "BRL" => "BR",
        "CHF" => "CH",
        "SEK" => "SE",
        "NOK" => "NO",
        "DKK" => "DK",
        "PLN" => "PL",
        "CZK" => "CZ",
        "HUF" => "HU",
        "TRY" => "TR",
        "AED" => "AE",
        "SAR" => "SA",
        "ZAR" => "ZA",
        _ => return None,
    };
    country_time_zone(country)
}

const COUNTRY_ZONES: &[(&str, &str)] = &[
    ("AR", "America/Argentina/Buenos_Aires"),
    ("AU", "Australia/Sydney"),
    ("AT", "Europe/Vienna"),
    ("BD", "Asia/Dhaka"),
    ("BE", "Europe/Brussels"),
    ("BR", "America/Sao_Paulo"),
    ("KH", "Asia/Phnom_Penh"),
    ("CA", "America/Toronto"),
    ("CL", "America/Santiago"),
    ("CN", "Asia/Shanghai"),
    ("CO", "America/Bogota"),
    ("CZ", "Europe/Prague"),
    ("DK", "Europe/Copenhagen"),
    ("EG", "Africa/Cairo"),
    ("FI", "Europe/Helsinki"),
    ("FR", "Europe/Paris"),
    ("DE", "Europe/Berlin"),
    ("GR", "Europe/Athens"),
    ("HK", "Asia/Hong_Kong"),
    ("HU", "Europe/Budapest"),
    ("IN", "Asia/Kolkata"),
    ("ID", "Asia/Jakarta"),
    ("IE", "Europe/Dublin"),
    ("IL", "Asia/Jerusalem"),
    ("IT", "Europe/Rome"),
    ("JP", "Asia/Tokyo"),
    ("KZ", "Asia/Almaty"),
    ("KE", "Africa/Nairobi"),
    ("KW", "Asia/Kuwait"),
    ("LA", "Asia/Vientiane"),
    ("MO", "Asia/Macau"),
    ("MY", "Asia/Kuala_Lumpur"),
    ("MX", "America/Mexico_City"),
    ("MN", "Asia/Ulaanbaatar"),
    ("MA", "Africa/Casablanca"),
    ("MM", "Asia/Yangon"),
    ("NL", "Europe/Amsterdam"),
    ("NZ", "Pacific/Auckland"),
    ("NG", "Africa/Lagos"),
    ("NO", "Europe/Oslo"),
    ("PK", "Asia/Karachi"),
    ("PE", "America/Lima"),
    ("PH", "Asia/Manila"),
    ("PL", "Europe/Warsaw"),
    ("PT", "Europe/Lisbon"),
    ("QA", "Asia/Qatar"),
    ("RO", "Europe/Bucharest"),
    ("SA", "Asia/Riyadh"),
    ("SG", "Asia/Singapore"),
    ("ZA", "Africa/Johannesburg"),
    ("KR", "Asia/Seoul"),
    ("ES", "Europe/Madrid"),
    ("LK", "Asia/Colombo"),
    ("SE", "Europe/Stockholm"),
    ("CH", "Europe/Zurich"),
    ("TW", "Asia/Taipei"),
    ("TH", "Asia/Bangkok"),
    ("TR", "Europe/Istanbul"),
    ("AE", "Asia/Dubai"),
    ("UA", "Europe/Kyiv"),
    ("GB", "Europe/London"),
    ("US", "America/New_York"),
    ("UZ", "Asia/Tashkent"),
    ("VN", "Asia/Ho_Chi_Minh"),
];

/// A text cell for a CSV file people open in a spreadsheet: one starting with = + - @ (a
/// formula) is prefixed with `'` so that it stays text.
pub fn csv_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// URL-safe slug of a name: lower-case ASCII letters and digits separated by dashes.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    let mut dash = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !slug.is_empty() {
                slug.push('-');
            }
            dash = false;
            slug.push(c.to_ascii_lowercase());
        } else {
            dash = true;
        }
    }
    slug.truncate(40);
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() {
        "merchant".to_owned()
    } else {
        slug
    }
}

/// Countries and territories offered in forms (ISO 3166-1 alpha-2), by name.
pub const COUNTRIES: &[(&str, &str)] = &[
    ("AR", "Argentina"),
    ("AU", "Australia"),
    ("AT", "Austria"),
    ("BD", "Bangladesh"),
    ("BE", "Belgium"),
    ("BR", "Brazil"),
    ("KH", "Cambodia"),
    ("CA", "Canada"),
    ("CL", "Chile"),
    ("CN", "China"),
    ("CO", "Colombia"),
    ("CZ", "Czechia"),
    ("DK", "Denmark"),
    ("EG", "Egypt"),
    ("FI", "Finland"),
    ("FR", "France"),
    ("DE", "Germany"),
    ("GR", "Greece"),
    ("HK", "Hong Kong"),
    ("HU", "Hungary"),
    ("IN", "India"),
    ("ID", "Indonesia"),
    ("IE", "Ireland"),
    ("IL", "Israel"),
    ("IT", "Italy"),
    ("JP", "Japan"),
    ("KZ", "Kazakhstan"),
    ("KE", "Kenya"),
    ("KW", "Kuwait"),
    ("LA", "Laos"),
    ("MO", "Macao"),
    ("MY", "Malaysia"),
    ("MX", "Mexico"),
    ("MN", "Mongolia"),
    ("MA", "Morocco"),
    ("MM", "Myanmar"),
    ("NL", "Netherlands"),
    ("NZ", "New Zealand"),
    ("NG", "Nigeria"),
    ("NO", "Norway"),
    ("PK", "Pakistan"),
    ("PE", "Peru"),
    ("PH", "Philippines"),
    ("PL", "Poland"),
    ("PT", "Portugal"),
    ("QA", "Qatar"),
    ("RO", "Romania"),
    ("SA", "Saudi Arabia"),
    ("SG", "Singapore"),
    ("ZA", "South Africa"),
    ("KR", "South Korea"),
    ("ES", "Spain"),
    ("LK", "Sri Lanka"),
    ("SE", "Sweden"),
    ("CH", "Switzerland"),
    ("TW", "Taiwan"),
    ("TH", "Thailand"),
    ("TR", "Türkiye"),
    ("AE", "United Arab Emirates"),
    ("UA", "Ukraine"),
    ("GB", "United Kingdom"),
    ("US", "United States"),
    ("UZ", "Uzbekistan"),
    ("VN", "Vietnam"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_country_has_a_valid_time_zone() {
        for (code, name) in COUNTRIES {
            let zone = country_time_zone(code).unwrap_or_else(|| panic!("{name} has no zone"));
            assert!(zone.parse::<chrono_tz::Tz>().is_ok(), "{zone}");
        }
        assert_eq!(currency_time_zone("cny"), Some("Asia/Shanghai"));
        assert_eq!(time_zone_or("", "Asia/Tokyo").unwrap(), "Asia/Tokyo");
        assert_eq!(
            time_zone_or("Europe/Berlin", "UTC").unwrap(),
            "Europe/Berlin"
        );
        assert!(time_zone_or("Mars/Olympus", "UTC").is_err());
    }

    #[test]
    fn invisible_characters_are_refused_in_names_and_text() {
        for c in [
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{2028}',
            '\u{2029}',
            '\u{2060}',
            '\u{2061}',
            '\u{2062}',
            '\u{2063}',
            '\u{2064}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{180E}',
            '\u{061C}',
            '\u{E0041}',
            '\u{3164}',
        ] {
            for s in [
                format!("Acme{c}"),
                format!("{c}Acme"),
                format!("Ac{c}me"),
                format!("Acme {c}Tea"),
            ] {
                assert_eq!(hidden_char(&s), Some(c), "{s:?}");
                if c.is_whitespace() && s.trim() != s {
                    // The line separators at an end are trimmed away with the spaces.
                    assert_eq!(name(&s, "a name").unwrap(), s.trim());
                    continue;
                }
                let e = name(&s, "a name").unwrap_err();
                assert!(
                    e.contains(&format!("U+{:04X}", u32::from(c))) && e.contains("invisible"),
                    "{e}"
                );
                assert!(org_name(&s).is_err(), "{s:?}");
                assert!(bio(&s).is_err(), "{s:?}");
            }
        }
        assert_eq!(
            name("Acme\u{200B}", "a name").unwrap_err(),
            "Contains an invisible character, U+200B (a zero-width space); remove it."
        );
        // Joiners where a script or an emoji needs them are text.
        for ok in [
            "می\u{200C}خواهم",
            "क्\u{200D}ष",
            "👩\u{200D}💻 Studio",
            "❤\u{FE0F}\u{200D}🔥",
        ] {
            assert_eq!(hidden_char(ok), None, "{ok:?}");
            assert!(name(ok, "a name").is_ok(), "{ok:?}");
        }
        // Tabs and line breaks: in a note, not in a name.
        assert_eq!(hidden_char("line\none\ttab"), None);
        assert!(bio("line\none").is_ok());
        assert!(name("line\none", "a name").is_err());
        assert!(name("Zoë Ørsted-Łukasz 李", "a name").is_ok());
    }

    #[test]
    fn handles() {
        assert_eq!(handle("@Mia.Streams").unwrap(), "mia.streams");
        assert!(handle("ab").is_err());
        assert!(handle("mia streams").is_err());
        assert!(handle(".mia").is_err());
        assert!(handle("mia..x").is_err());
    }

    #[test]
    fn websites() {
        assert_eq!(website("").unwrap(), None);
        assert_eq!(
            website("https://shop.example.com").unwrap().as_deref(),
            Some("https://shop.example.com/")
        );
        for bad in [
            "javascript:alert(1)",
            "shop.example.com",
            "ftp://x.com",
            "https://user:pw@x.com",
            "http://",
        ] {
            assert!(website(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Jade Leaf Tea Co."), "jade-leaf-tea-co");
        assert_eq!(slugify("¥¥¥"), "merchant");
    }

    #[test]
    fn zones_and_countries() {
        assert_eq!(time_zone("Asia/Shanghai").unwrap(), "Asia/Shanghai");
        assert!(time_zone("Mars/Olympus").is_err());
        assert_eq!(country("cn").unwrap().as_deref(), Some("CN"));
        assert!(country("XX").is_err());
        assert_eq!(country("").unwrap(), None);
    }
}
