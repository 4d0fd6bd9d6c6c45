//! Campaigns: details, products, versioned commission rules and their states.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

use crate::db::models::{
    Campaign, CampaignFields, Collaboration, Influencer, NewCampaign, NewRuleVersion, Product,
    RuleOverride, RuleVersion,
};
use crate::db::{self, DbConn};
use crate::domain::campaign::{
    self as rules_domain, CampaignAction, CampaignState, CommissionRules,
};
use crate::domain::catalog::parse_category;
use crate::domain::money::{Currency, Money};
use crate::domain::product_csv::parse_sku;
use crate::domain::rate::RateBps;
use crate::domain::validate::{self, FieldErrors};
use crate::error::{AppError, AppResult};

use super::audit;
use super::merchant::org_of;

pub const DEFAULT_ATTRIBUTION_DAYS: i32 = 30;
pub const DEFAULT_HOLD_DAYS: i32 = 30;

/// Everything a merchant types for a campaign (details and, on creation, the rules).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct CampaignForm {
    pub name: String,
    pub description: String,
    pub category: String,
    pub product_scope: String,
    pub product_ids: Vec<String>,
    pub attribution_days: String,
    pub hold_days: String,
    pub visibility: String,
    pub starts_on: String,
    pub ends_on: String,
    pub min_followers: String,
    pub target_regions: Vec<String>,
    pub budget_cap: String,
    #[serde(flatten)]
    pub rules: RulesFormFields,
}

/// The commission rules as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct RulesFormFields {
    pub default_rate: String,
    pub sku_rates: String,
    pub category_rates: String,
    pub flat_per_order: String,
    pub flat_per_item: String,
}

fn parse_days(input: &str, default: i32, max: i32) -> Result<i32, String> {
    let s = input.trim();
    if s.is_empty() {
        return Ok(default);
    }
    match s.parse::<i32>() {
        Ok(n) if (0..=max).contains(&n) => Ok(n),
        _ => Err(format!("Enter a whole number of days from 0 to {max}.")),
    }
}

fn parse_date(input: &str, tz: Tz) -> Result<Option<NaiveDateTime>, String> {
    let s = input.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| "Enter a date as YYYY-MM-DD.".to_owned())?;
    let local = d.and_hms_opt(0, 0, 0).ok_or("Enter a real date.")?;
    let utc = tz
        .from_local_datetime(&local)
        .earliest()
        .ok_or("That date does not exist in your time zone.")?;
    Ok(Some(utc.naive_utc()))
}

fn optional_money(input: &str, currency: Currency, field: &str) -> Result<Option<i64>, String> {
    let s = input.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let m = Money::parse(s, currency).map_err(|e| e.to_string())?;
    if m.is_negative() {
        return Err(format!("The {field} cannot be negative."));
    }
    Ok(Some(m.minor()))
}

/// Validated rules, ready to store.
#[derive(Debug, Clone)]
pub struct ParsedRules {
    pub rules: CommissionRules,
}

pub fn parse_rules(
    form: &RulesFormFields,
    currency: Currency,
    errors: &mut FieldErrors,
) -> Option<ParsedRules> {
    let default_rate = errors.check("default_rate", RateBps::parse_percent(&form.default_rate));
    let sku_rates = errors.check(
        "sku_rates",
        rules_domain::parse_overrides(&form.sku_rates, parse_sku),
    );
    let category_rates = errors.check(
        "category_rates",
        rules_domain::parse_overrides(&form.category_rates, parse_category),
    );
    let per_order = errors.check(
        "flat_per_order",
        optional_money(&form.flat_per_order, currency, "amount"),
    );
    let per_item = errors.check(
        "flat_per_item",
        optional_money(&form.flat_per_item, currency, "amount"),
    );
    Some(ParsedRules {
        rules: CommissionRules {
            default_rate: default_rate?,
            sku_rates: sku_rates?,
            category_rates: category_rates?,
            flat_per_order_minor: per_order?.unwrap_or(0),
            flat_per_item_minor: per_item?.unwrap_or(0),
        },
    })
}

/// Refuses SKU rates for products the merchant does not have (a typo would silently never
/// apply), naming them.
fn check_skus_known(
    conn: &mut DbConn,
    merchant_id: i64,
    rules: Option<&ParsedRules>,
    errors: &mut FieldErrors,
) -> AppResult<()> {
    let Some(r) = rules else {
        return Ok(());
    };
    let mut unknown = Vec::new();
    for sku in r.rules.sku_rates.keys() {
        if db::catalog::find_by_sku(conn, merchant_id, sku)?.is_none() {
            unknown.push(sku.as_str());
        }
    }
    if !unknown.is_empty() {
        errors.add(
            "sku_rates",
            format!(
                "Not in your catalogue: {}. Use the SKU of one of your products.",
                unknown.join(", ")
            ),
        );
    }
    Ok(())
}

/// Campaign details after validation.
struct Details {
    name: String,
    description: String,
    category: String,
    scope: &'static str,
    product_ids: Vec<i64>,
    attribution_days: i32,
    hold_days: i32,
    visibility: &'static str,
    starts_at: NaiveDateTime,
    ends_at: Option<NaiveDateTime>,
    min_followers: Option<i64>,
    target_regions: String,
    budget_cap_minor: Option<i64>,
}

fn parse_details(
    conn: &mut DbConn,
    merchant_id: i64,
    now: NaiveDateTime,
    tz: Tz,
    form: &CampaignForm,
    currency: Currency,
    errors: &mut FieldErrors,
) -> AppResult<Option<Details>> {
    let name = errors.check("name", {
        let n = form.name.trim();
        if n.chars().count() < 3 || n.chars().count() > 120 {
            Err("Use 3 to 120 characters.".to_owned())
        } else {
            Ok(n.to_owned())
        }
    });
    let description = errors.check("description", validate::bio(&form.description));
    let category = errors.check("category", parse_category(&form.category));
    let scope = match form.product_scope.as_str() {
        "category" => Some("category"),
        "selected" | "" => Some("selected"),
        _ => {
            errors.add(
                "product_scope",
                "Choose which products the campaign covers.",
            );
            None
        }
    };
    let mut product_ids = Vec::new();
    if scope == Some("selected") {
        let mine: Vec<i64> = db::catalog::all_of(conn, merchant_id)?
            .into_iter()
            .map(|p| p.id)
            .collect();
        for raw in &form.product_ids {
            match raw.parse::<i64>() {
                Ok(id) if mine.contains(&id) => product_ids.push(id),
                _ => errors.add("product_ids", "Choose products from your catalog."),
            }
        }
        product_ids.sort_unstable();
        product_ids.dedup();
    }
    let attribution_days = errors.check(
        "attribution_days",
        parse_days(&form.attribution_days, DEFAULT_ATTRIBUTION_DAYS, 365),
    );
    let hold_days = errors.check(
        "hold_days",
        parse_days(&form.hold_days, DEFAULT_HOLD_DAYS, 365),
    );
    let visibility = match form.visibility.as_str() {
        "open" | "" => Some("open"),
        "invite" => Some("invite"),
        _ => {
            errors.add("visibility", "Choose open or invite-only.");
            None
        }
    };
    let starts_at = errors
        .check("starts_on", parse_date(&form.starts_on, tz))
        .map(|d| d.unwrap_or(now));
    let ends_at = errors.check("ends_on", parse_date(&form.ends_on, tz));
    if let (Some(s), Some(Some(e))) = (starts_at, ends_at)
        && e <= s
    {
        errors.add("ends_on", "The end date comes after the start date.");
    }
    let min_followers = errors.check("min_followers", {
        let s: String = form
            .min_followers
            .trim()
            .chars()
            .filter(|c| *c != ',')
            .collect();
        if s.is_empty() {
            Ok(None)
        } else {
            s.parse::<i64>()
                .ok()
                .filter(|n| (0..=5_000_000_000).contains(n))
                .map(Some)
                .ok_or_else(|| "Enter a whole number, e.g. 10000.".to_owned())
        }
    });
    let regions = errors.check(
        "target_regions",
        form.target_regions
            .iter()
            .map(|r| {
                validate::country(r)
                    .and_then(|c| c.ok_or_else(|| "Choose regions from the list.".to_owned()))
            })
            .collect::<Result<Vec<_>, _>>(),
    );
    let budget = errors.check(
        "budget_cap",
        optional_money(&form.budget_cap, currency, "budget"),
    );
    let (
        Some(name),
        Some(description),
        Some(category),
        Some(scope),
        Some(attribution_days),
        Some(hold_days),
        Some(visibility),
        Some(starts_at),
        Some(ends_at),
        Some(min_followers),
        Some(mut regions),
        Some(budget),
    ) = (
        name,
        description,
        category,
        scope,
        attribution_days,
        hold_days,
        visibility,
        starts_at,
        ends_at,
        min_followers,
        regions,
        budget,
    )
    else {
        return Ok(None);
    };
    regions.sort();
    regions.dedup();
    Ok(Some(Details {
        name,
        description,
        category,
        scope,
        product_ids,
        attribution_days,
        hold_days,
        visibility,
        starts_at,
        ends_at,
        min_followers,
        target_regions: regions.join(","),
        budget_cap_minor: budget,
    }))
}

fn fields_of<'a>(d: &'a Details, now: NaiveDateTime) -> CampaignFields<'a> {
    CampaignFields {
        name: &d.name,
        description: &d.description,
        category: &d.category,
        product_scope: d.scope,
        attribution_days: d.attribution_days,
        hold_days: d.hold_days,
        visibility: d.visibility,
        starts_at: d.starts_at,
        ends_at: d.ends_at,
        min_followers: d.min_followers,
        target_regions: &d.target_regions,
        budget_cap_minor: d.budget_cap_minor,
        updated_at: now,
    }
}

fn store_rules(
    conn: &mut DbConn,
    campaign_id: i64,
    version: i32,
    now: NaiveDateTime,
    user_id: i64,
    rules: &CommissionRules,
) -> AppResult<()> {
    let overrides: Vec<(&str, &str, i32)> = rules
        .sku_rates
        .iter()
        .map(|(k, r)| ("sku", k.as_str(), r.bps()))
        .chain(
            rules
                .category_rates
                .iter()
                .map(|(k, r)| ("category", k.as_str(), r.bps())),
        )
        .collect();
    db::campaigns::insert_rules(
        conn,
        &NewRuleVersion {
            campaign_id,
            version,
            effective_at: now,
            default_rate_bps: rules.default_rate.bps(),
            flat_per_order_minor: rules.flat_per_order_minor,
            flat_per_item_minor: rules.flat_per_item_minor,
            created_by: user_id,
            created_at: now,
        },
        &overrides,
    )?;
    Ok(())
}

#[tracing::instrument(skip(conn, form))]
pub fn create_campaign(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    tz: Tz,
    form: &CampaignForm,
) -> AppResult<i64> {
    let (merchant, _) = org_of(conn, user_id)?;
    let currency =
        Currency::parse(&merchant.default_currency).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut errors = FieldErrors::new();
    let details = parse_details(conn, merchant.id, now, tz, form, currency, &mut errors)?;
    let rules = parse_rules(&form.rules, currency, &mut errors);
    check_skus_known(conn, merchant.id, rules.as_ref(), &mut errors)?;
    let (Some(details), Some(rules), true) = (details, rules, errors.is_empty()) else {
        return Err(AppError::Validation(errors));
    };
    db::write_tx(conn, |conn| {
        let id = db::campaigns::insert(
            conn,
            &NewCampaign {
                merchant_id: merchant.id,
                currency: currency.code(),
                state: "draft",
                fields: fields_of(&details, now),
                created_at: now,
            },
        )?;
        db::campaigns::set_products(conn, id, &details.product_ids)?;
        store_rules(conn, id, 1, now, user_id, &rules.rules)?;
        audit(
            conn,
            now,
            Some(user_id),
            "campaign.create",
            ("campaign", id),
            &details.name,
        )?;
        Ok(id)
    })
}

pub fn get_for_merchant(conn: &mut DbConn, user_id: i64, id: i64) -> AppResult<Campaign> {
    let (merchant, _) = org_of(conn, user_id)?;
    db::campaigns::find_for_merchant(conn, merchant.id, id)?.ok_or(AppError::NotFound)
}

#[tracing::instrument(skip(conn, form))]
pub fn update_campaign(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    tz: Tz,
    id: i64,
    form: &CampaignForm,
) -> AppResult<()> {
    let campaign = get_for_merchant(conn, user_id, id)?;
    if campaign.state == "ended" {
        return Err(AppError::Conflict(
            "This campaign has ended; it cannot be edited.".to_owned(),
        ));
    }
    let currency = Currency::parse(&campaign.currency).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut errors = FieldErrors::new();
    let details = parse_details(
        conn,
        campaign.merchant_id,
        campaign.starts_at,
        tz,
        form,
        currency,
        &mut errors,
    )?;
    let (Some(details), true) = (details, errors.is_empty()) else {
        return Err(AppError::Validation(errors));
    };
    db::write_tx(conn, |conn| {
        db::campaigns::update_fields(conn, id, &fields_of(&details, now))?;
        db::campaigns::set_products(conn, id, &details.product_ids)?;
        audit(
            conn,
            now,
            Some(user_id),
            "campaign.update",
            ("campaign", id),
            &details.name,
        )?;
        Ok(())
    })
}

/// New rules: a new version effective now for a live campaign (the old ones stay, for the
/// commissions that used them); the single version replaced for a draft.
#[tracing::instrument(skip(conn, form))]
pub fn update_rules(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    id: i64,
    form: &RulesFormFields,
) -> AppResult<i32> {
    let campaign = get_for_merchant(conn, user_id, id)?;
    let state = CampaignState::parse(&campaign.state).unwrap_or(CampaignState::Ended);
    if state == CampaignState::Ended {
        return Err(AppError::Conflict(
            "This campaign has ended; its rules cannot change.".to_owned(),
        ));
    }
    let currency = Currency::parse(&campaign.currency).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut errors = FieldErrors::new();
    let rules = parse_rules(form, currency, &mut errors);
    check_skus_known(conn, campaign.merchant_id, rules.as_ref(), &mut errors)?;
    let (Some(rules), true) = (rules, errors.is_empty()) else {
        return Err(AppError::Validation(errors));
    };
    db::write_tx(conn, |conn| {
        let history = db::campaigns::rule_history(conn, id)?;
        let version = if state.is_live() {
            history.first().map_or(1, |(v, _)| v.version + 1)
        } else {
            db::campaigns::delete_rules(conn, id)?;
            1
        };
        store_rules(conn, id, version, now, user_id, &rules.rules)?;
        audit(
            conn,
            now,
            Some(user_id),
            "campaign.rules",
            ("campaign", id),
            &format!("rules version {version}"),
        )?;
        Ok(version)
    })
}

pub fn change_state(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    id: i64,
    action: CampaignAction,
) -> AppResult<CampaignState> {
    let campaign = get_for_merchant(conn, user_id, id)?;
    let from = CampaignState::parse(&campaign.state)
        .ok_or_else(|| anyhow::anyhow!("bad campaign state"))?;
    let to = rules_domain::transition(from, action).map_err(AppError::Conflict)?;
    if to == CampaignState::Active
        && from == CampaignState::Draft
        && db::catalog::for_campaign(conn, &campaign)?
            .iter()
            .all(|p| !p.active)
    {
        return Err(AppError::Conflict(
            "Add at least one active product to the campaign before activating it.".to_owned(),
        ));
    }
    db::write_tx(conn, |conn| {
        if !db::campaigns::set_state(conn, id, from.as_str(), to.as_str(), now)? {
            return Err(AppError::Conflict(
                "The campaign changed meanwhile; reload and try again.".to_owned(),
            ));
        }
        audit(
            conn,
            now,
            Some(user_id),
            "campaign.state",
            ("campaign", id),
            &format!("{} -> {}", from.as_str(), to.as_str()),
        )?;
        Ok(to)
    })
}

/// Builds the domain rules from a stored version.
pub fn rules_of(version: &RuleVersion, overrides: &[RuleOverride]) -> CommissionRules {
    let rate = RateBps::saturating;
    let mut sku_rates = BTreeMap::new();
    let mut category_rates = BTreeMap::new();
    for o in overrides {
        let target = if o.kind == "sku" {
            &mut sku_rates
        } else {
            &mut category_rates
        };
        target.insert(o.match_key.clone(), rate(o.rate_bps));
    }
    CommissionRules {
        default_rate: rate(version.default_rate_bps),
        sku_rates,
        category_rates,
        flat_per_order_minor: version.flat_per_order_minor,
        flat_per_item_minor: version.flat_per_item_minor,
    }
}

/// A campaign page's data, for its merchant.
pub struct CampaignDetail {
    pub campaign: Campaign,
    pub products: Vec<Product>,
    pub history: Vec<(RuleVersion, CommissionRules)>,
    pub collaborations: Vec<(Collaboration, Influencer)>,
    /// The match score of each collaborating influencer (by influencer id), for reviewing
    /// applications.
    pub scores: std::collections::HashMap<i64, crate::domain::matching::MatchScore>,
    /// What the campaign has committed to pay (commissions net of reversals and
    /// rejections), against its budget cap.
    pub committed_minor: i64,
}

pub fn detail(conn: &mut DbConn, user_id: i64, id: i64) -> AppResult<CampaignDetail> {
    let campaign = get_for_merchant(conn, user_id, id)?;
    let products = db::catalog::for_campaign(conn, &campaign)?;
    let history = db::campaigns::rule_history(conn, id)?
        .into_iter()
        .map(|(v, o)| {
            let r = rules_of(&v, &o);
            (v, r)
        })
        .collect();
    let collaborations = db::collaborations::for_campaign(conn, id)?;
    let fit = super::marketplace::campaign_fit(&campaign);
    let mut scores = std::collections::HashMap::new();
    let ids: Vec<i64> = collaborations.iter().map(|(_, i)| i.id).collect();
    let past = super::marketplace::histories_in(conn, Some(&ids), &campaign.category)?;
    for (_, influencer) in &collaborations {
        let f = super::marketplace::influencer_fit(conn, influencer)?;
        let perf = super::marketplace::performance(past.get(&influencer.id), &campaign.currency);
        scores.insert(
            influencer.id,
            crate::domain::matching::score(&fit, &f, perf.as_ref()),
        );
    }
    let committed_minor = db::campaigns::committed(conn, id)?;
    Ok(CampaignDetail {
        campaign,
        products,
        history,
        collaborations,
        scores,
        committed_minor,
    })
}

/// The merchant's campaigns with their current rules.
pub fn list(
    conn: &mut DbConn,
    user_id: i64,
    state: Option<&str>,
) -> AppResult<Vec<(Campaign, Option<CommissionRules>)>> {
    let (merchant, _) = org_of(conn, user_id)?;
    let campaigns = db::campaigns::list_for_merchant(conn, merchant.id, state)?;
    let ids: Vec<i64> = campaigns.iter().map(|c| c.id).collect();
    let latest = db::campaigns::latest_rules(conn, &ids)?;
    Ok(campaigns
        .into_iter()
        .map(|c| {
            let rules = latest
                .iter()
                .find(|(v, _)| v.campaign_id == c.id)
                .map(|(v, o)| rules_of(v, o));
            (c, rules)
        })
        .collect())
}

/// The form's text for an existing campaign (dates in the viewer's zone).
pub fn form_of(
    c: &Campaign,
    product_ids: &[i64],
    rules: Option<&CommissionRules>,
    tz: Tz,
) -> CampaignForm {
    let currency = Currency::parse(&c.currency).ok();
    let money = |minor: i64| {
        currency
            .and_then(|cur| Money::from_minor(minor, cur).ok())
            .map(|m| m.to_plain_string())
            .unwrap_or_default()
    };
    let date = |t: NaiveDateTime| {
        t.and_utc()
            .with_timezone(&tz)
            .format("%Y-%m-%d")
            .to_string()
    };
    CampaignForm {
        name: c.name.clone(),
        description: c.description.clone(),
        category: c.category.clone(),
        product_scope: c.product_scope.clone(),
        product_ids: product_ids.iter().map(i64::to_string).collect(),
        attribution_days: c.attribution_days.to_string(),
        hold_days: c.hold_days.to_string(),
        visibility: c.visibility.clone(),
        starts_on: date(c.starts_at),
        ends_on: c.ends_at.map(date).unwrap_or_default(),
        min_followers: c.min_followers.map(|n| n.to_string()).unwrap_or_default(),
        target_regions: super::influencer::split_list(&c.target_regions),
        budget_cap: c.budget_cap_minor.map(money).unwrap_or_default(),
        rules: rules.map(|r| rules_form_of(r, &money)).unwrap_or_default(),
    }
}

pub fn rules_form_of(r: &CommissionRules, money: &dyn Fn(i64) -> String) -> RulesFormFields {
    RulesFormFields {
        default_rate: r.default_rate.form_value(),
        sku_rates: rules_domain::format_overrides(&r.sku_rates),
        category_rates: rules_domain::format_overrides(&r.category_rates),
        flat_per_order: if r.flat_per_order_minor == 0 {
            String::new()
        } else {
            money(r.flat_per_order_minor)
        },
        flat_per_item: if r.flat_per_item_minor == 0 {
            String::new()
        } else {
            money(r.flat_per_item_minor)
        },
    }
}
