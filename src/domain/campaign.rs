//! Campaigns: their states, and commission rules with the most-specific-wins resolution
//! (influencer override > SKU > category > campaign default).

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use super::rate::RateBps;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignState {
    Draft,
    Active,
    Paused,
    Ended,
}

impl CampaignState {
    pub fn parse(s: &str) -> Option<CampaignState> {
        Some(match s {
            "draft" => CampaignState::Draft,
            "active" => CampaignState::Active,
            "paused" => CampaignState::Paused,
            "ended" => CampaignState::Ended,
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            CampaignState::Draft => "draft",
            CampaignState::Active => "active",
            CampaignState::Paused => "paused",
            CampaignState::Ended => "ended",
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            CampaignState::Draft => "Draft",
            CampaignState::Active => "Active",
            CampaignState::Paused => "Paused",
            CampaignState::Ended => "Ended",
        }
    }

    /// Rules edited in these states take effect at once as a new version (the history is
    /// kept); in a draft the single version is replaced.
    pub fn is_live(&self) -> bool {
        matches!(self, CampaignState::Active | CampaignState::Paused)
    }
}

/// Why a campaign paid nothing for an order placed at `at`, or `None` when it was live then:
/// active (not a draft, not paused, not ended) by its recorded history (`state_then`; `None`
/// when it did not exist yet), started, and before its end date.
pub fn not_live_at(
    name: &str,
    starts_at: NaiveDateTime,
    ends_at: Option<NaiveDateTime>,
    state_then: Option<CampaignState>,
    at: NaiveDateTime,
) -> Option<String> {
    let utc = |t: NaiveDateTime| t.format("%Y-%m-%d %H:%M UTC").to_string();
    match state_then {
        None | Some(CampaignState::Draft) => {
            return Some(format!(
                "campaign “{name}” was not yet active at the order time"
            ));
        }
        Some(CampaignState::Paused) => {
            return Some(format!("campaign “{name}” was paused at the order time"));
        }
        Some(CampaignState::Ended) => {
            return Some(format!("campaign “{name}” had ended at the order time"));
        }
        Some(CampaignState::Active) => {}
    }
    if at < starts_at {
        return Some(format!(
            "campaign “{name}” had not started at the order time (it starts {})",
            utc(starts_at)
        ));
    }
    match ends_at {
        Some(end) if at >= end => Some(format!(
            "campaign “{name}” was past its end date ({}) at the order time",
            utc(end)
        )),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignAction {
    Activate,
    Pause,
    Resume,
    End,
}

impl CampaignAction {
    pub fn parse(s: &str) -> Option<CampaignAction> {
        Some(match s {
            "activate" => CampaignAction::Activate,
            "pause" => CampaignAction::Pause,
            "resume" => CampaignAction::Resume,
            "end" => CampaignAction::End,
            _ => return None,
        })
    }
}

/// The state after `action`, or why it is not allowed.
pub fn transition(from: CampaignState, action: CampaignAction) -> Result<CampaignState, String> {
    use CampaignAction as A;
    use CampaignState as S;
    match (from, action) {
        (S::Draft, A::Activate) => Ok(S::Active),
        (S::Active, A::Pause) => Ok(S::Paused),
        (S::Paused, A::Resume) => Ok(S::Active),
        (S::Active | S::Paused, A::End) => Ok(S::Ended),
        (S::Ended, _) => Err("This campaign has ended; it cannot change any more.".to_owned()),
        (from, action) => Err(format!(
            "A {} campaign cannot {}.",
            from.label().to_lowercase(),
            match action {
                A::Activate => "be activated",
                A::Pause => "be paused",
                A::Resume => "be resumed",
                A::End => "be ended",
            }
        )),
    }
}

/// Where a rate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateSource {
    Influencer,
    Sku,
    Category,
    Default,
}

impl RateSource {
    pub fn label(&self) -> &'static str {
        match self {
            RateSource::Influencer => "your personal rate",
            RateSource::Sku => "product rate",
            RateSource::Category => "category rate",
            RateSource::Default => "campaign rate",
        }
    }
}

/// One version of a campaign's commission rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommissionRules {
    pub default_rate: RateBps,
    pub sku_rates: BTreeMap<String, RateBps>,
    pub category_rates: BTreeMap<String, RateBps>,
    /// Flat amounts in the campaign currency's minor units.
    pub flat_per_order_minor: i64,
    pub flat_per_item_minor: i64,
}

impl CommissionRules {
    /// The rate for one product: the most specific rule wins.
    pub fn rate_for(
        &self,
        sku: &str,
        category: &str,
        influencer: Option<RateBps>,
    ) -> (RateBps, RateSource) {
        if let Some(r) = influencer {
            return (r, RateSource::Influencer);
        }
        if let Some(r) = self.sku_rates.get(sku) {
            return (*r, RateSource::Sku);
        }
        if let Some(r) = self.category_rates.get(category) {
            return (*r, RateSource::Category);
        }
        (self.default_rate, RateSource::Default)
    }

    /// The highest percentage any product of the campaign can earn (for listings).
    pub fn best_rate(&self) -> RateBps {
        self.sku_rates
            .values()
            .chain(self.category_rates.values())
            .copied()
            .fold(self.default_rate, RateBps::max)
    }
}

/// Parses override lines such as `TEA-001 = 15` or `beauty: 12.5 %`, one per line. Errors
/// name the line.
pub fn parse_overrides(
    text: &str,
    key_check: impl Fn(&str) -> Result<String, String>,
) -> Result<BTreeMap<String, RateBps>, String> {
    let mut out = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let Some((key, rate)) = line.split_once(['=', ':']) else {
            return Err(format!(
                "Line {}: write it as KEY = rate %, e.g. TEA-001 = 15",
                n + 1
            ));
        };
        let key = key_check(key.trim()).map_err(|e| format!("Line {}: {e}", n + 1))?;
        let rate = RateBps::parse_percent(rate).map_err(|e| format!("Line {}: {e}", n + 1))?;
        if out.insert(key.clone(), rate).is_some() {
            return Err(format!("Line {}: {key} appears twice.", n + 1));
        }
    }
    Ok(out)
}

/// The override lines as a merchant typed them (for re-editing).
pub fn format_overrides(map: &BTreeMap<String, RateBps>) -> String {
    map.iter()
        .map(|(k, r)| format!("{k} = {}", r.form_value()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> CommissionRules {
        CommissionRules {
            default_rate: RateBps::new(1000).unwrap(),
            sku_rates: BTreeMap::from([("TEA-1".to_owned(), RateBps::new(1500).unwrap())]),
            category_rates: BTreeMap::from([("tea".to_owned(), RateBps::new(1200).unwrap())]),
            flat_per_order_minor: 0,
            flat_per_item_minor: 0,
        }
    }

    #[test]
    fn a_campaign_pays_only_while_live() {
        let t = |d: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 3, d)
                .unwrap()
                .and_hms_opt(12, 0, 0)
                .unwrap()
        };
        let live = |state, at| not_live_at("Tea", t(5), Some(t(20)), state, at);
        assert_eq!(live(Some(CampaignState::Active), t(10)), None);
        assert_eq!(
            live(Some(CampaignState::Paused), t(10)).unwrap(),
            "campaign “Tea” was paused at the order time"
        );
        assert!(
            live(Some(CampaignState::Ended), t(10))
                .unwrap()
                .contains("had ended")
        );
        assert!(
            live(Some(CampaignState::Draft), t(10))
                .unwrap()
                .contains("not yet active")
        );
        assert!(live(None, t(10)).unwrap().contains("not yet active"));
        assert!(
            live(Some(CampaignState::Active), t(4))
                .unwrap()
                .contains("had not started")
        );
        assert!(
            live(Some(CampaignState::Active), t(20))
                .unwrap()
                .contains("past its end date (2026-03-20 12:00 UTC)")
        );
        assert_eq!(
            not_live_at("Tea", t(5), None, Some(CampaignState::Active), t(30)),
            None
        );
    }

    #[test]
    fn most_specific_rule_wins() {
        let r = rules();
        let personal = Some(RateBps::new(2000).unwrap());
        assert_eq!(
            r.rate_for("TEA-1", "tea", personal),
            (RateBps::new(2000).unwrap(), RateSource::Influencer)
        );
        assert_eq!(
            r.rate_for("TEA-1", "tea", None),
            (RateBps::new(1500).unwrap(), RateSource::Sku)
        );
        assert_eq!(
            r.rate_for("TEA-2", "tea", None),
            (RateBps::new(1200).unwrap(), RateSource::Category)
        );
        assert_eq!(
            r.rate_for("CUP-1", "home", None),
            (RateBps::new(1000).unwrap(), RateSource::Default)
        );
        assert_eq!(r.best_rate(), RateBps::new(1500).unwrap());
    }

    #[test]
    fn states_move_only_along_allowed_edges() {
        use CampaignAction as A;
        use CampaignState as S;
        let states = [S::Draft, S::Active, S::Paused, S::Ended];
        let actions = [A::Activate, A::Pause, A::Resume, A::End];
        let allowed = [
            (S::Draft, A::Activate, S::Active),
            (S::Active, A::Pause, S::Paused),
            (S::Paused, A::Resume, S::Active),
            (S::Active, A::End, S::Ended),
            (S::Paused, A::End, S::Ended),
        ];
        for s in states {
            for a in actions {
                let expected = allowed
                    .iter()
                    .find(|(f, x, _)| *f == s && *x == a)
                    .map(|(_, _, t)| *t);
                assert_eq!(transition(s, a).ok(), expected, "{s:?} {a:?}");
            }
        }
    }

    #[test]
    fn override_lines() {
        let ok = parse_overrides("TEA-1 = 15\n\n beauty: 12.5 % ", |k| Ok(k.to_owned())).unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok["beauty"].bps(), 1250);
        assert!(
            parse_overrides("TEA-1 15", |k| Ok(k.to_owned()))
                .unwrap_err()
                .starts_with("Line 1")
        );
        assert!(
            parse_overrides("a = 1\na = 2", |k| Ok(k.to_owned()))
                .unwrap_err()
                .contains("twice")
        );
        assert!(parse_overrides("a = 101", |k| Ok(k.to_owned())).is_err());
        assert_eq!(format_overrides(&ok), "TEA-1 = 15\nbeauty = 12.5");
    }
}
