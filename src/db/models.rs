//! Row structs (what a query returns) and `New*` structs (what an insert takes).
//!
//! Every `Insertable` here says `treat_none_as_default_value = false`: a `None` is bound as
//! NULL instead of leaving the column out, so each insert has one fixed SQL text that diesel
//! prepares once per connection and caches (with the default, an insert with an `Option`
//! field is compiled again on every call). No nullable column relies on a database default.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::*;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub display_name: String,
    pub time_zone: String,
    pub session_version: i64,
    pub disabled_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_login_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub display_name: &'a str,
    pub time_zone: &'a str,
    pub session_version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = merchants)]
pub struct Merchant {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub website: Option<String>,
    pub default_currency: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = merchants, treat_none_as_default_value = false)]
pub struct NewMerchant<'a> {
    pub name: &'a str,
    pub slug: &'a str,
    pub website: Option<&'a str>,
    pub default_currency: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = merchant_members)]
pub struct MerchantMember {
    pub id: i64,
    pub merchant_id: i64,
    pub user_id: i64,
    pub member_role: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = merchant_members, treat_none_as_default_value = false)]
pub struct NewMerchantMember<'a> {
    pub merchant_id: i64,
    pub user_id: i64,
    pub member_role: &'a str,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = influencers)]
pub struct Influencer {
    pub id: i64,
    pub user_id: i64,
    pub handle: String,
    pub display_name: String,
    pub bio: String,
    pub country: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Comma-separated language codes, e.g. `zh,en`.
    pub languages: String,
    /// Sum of followers over the social accounts (kept in step by the service).
    pub total_followers: i64,
    /// Follower-weighted engagement rate of the social accounts, basis points.
    pub engagement_bps: i32,
    pub payout_method: Option<String>,
    pub payout_currency: Option<String>,
    /// JSON with the bank or PayPal details; shown masked, never logged.
    pub payout_details: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = influencers, treat_none_as_default_value = false)]
pub struct NewInfluencer<'a> {
    pub user_id: i64,
    pub handle: &'a str,
    pub display_name: &'a str,
    pub bio: &'a str,
    pub country: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = team_invitations)]
pub struct TeamInvitation {
    pub id: i64,
    pub merchant_id: i64,
    pub email: String,
    pub token_hash: String,
    pub invited_by: i64,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub accepted_at: Option<NaiveDateTime>,
    pub user_id: Option<i64>,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = team_invitations)]
pub struct NewTeamInvitation<'a> {
    pub merchant_id: i64,
    pub email: &'a str,
    pub token_hash: &'a str,
    pub invited_by: i64,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = password_resets)]
pub struct PasswordReset {
    pub id: i64,
    pub user_id: i64,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = password_resets, treat_none_as_default_value = false)]
pub struct NewPasswordReset<'a> {
    pub user_id: i64,
    pub token_hash: &'a str,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = outbox_emails)]
pub struct OutboxEmail {
    pub id: i64,
    pub kind: String,
    pub to_address: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub created_at: NaiveDateTime,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    pub failed_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = outbox_emails, treat_none_as_default_value = false)]
pub struct NewOutboxEmail<'a> {
    pub kind: &'a str,
    pub to_address: &'a str,
    pub subject: &'a str,
    pub text_body: &'a str,
    pub html_body: &'a str,
    pub created_at: NaiveDateTime,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: i64,
    pub actor_user_id: Option<i64>,
    pub action: String,
    pub subject_type: String,
    pub subject_id: Option<i64>,
    pub detail: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub struct NewAuditEvent<'a> {
    pub actor_user_id: Option<i64>,
    pub action: &'a str,
    pub subject_type: &'a str,
    pub subject_id: Option<i64>,
    pub detail: &'a str,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = social_accounts)]
pub struct SocialAccount {
    pub id: i64,
    pub influencer_id: i64,
    pub platform: String,
    pub handle: String,
    pub followers: i64,
    pub avg_views: i64,
    pub engagement_bps: i32,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = social_accounts, treat_none_as_default_value = false)]
pub struct NewSocialAccount<'a> {
    pub influencer_id: i64,
    pub platform: &'a str,
    pub handle: &'a str,
    pub followers: i64,
    pub avg_views: i64,
    pub engagement_bps: i32,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = shop_domains)]
pub struct ShopDomain {
    pub id: i64,
    pub merchant_id: i64,
    pub domain: String,
    pub verified_at: Option<NaiveDateTime>,
    pub verified_by: Option<i64>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = shop_domains, treat_none_as_default_value = false)]
pub struct NewShopDomain<'a> {
    pub merchant_id: i64,
    pub domain: &'a str,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = products)]
pub struct Product {
    pub id: i64,
    pub merchant_id: i64,
    pub sku: String,
    pub title: String,
    pub category: String,
    pub price_minor: i64,
    pub currency: String,
    pub product_url: String,
    pub image_url: Option<String>,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = products, treat_none_as_default_value = false)]
pub struct ProductFields<'a> {
    pub sku: &'a str,
    pub title: &'a str,
    pub category: &'a str,
    pub price_minor: i64,
    pub currency: &'a str,
    pub product_url: &'a str,
    #[diesel(treat_none_as_null = true)]
    pub image_url: Option<&'a str>,
    pub active: bool,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = products, treat_none_as_default_value = false)]
pub struct NewProduct<'a> {
    pub merchant_id: i64,
    #[diesel(embed)]
    pub fields: ProductFields<'a>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = campaigns)]
pub struct Campaign {
    pub id: i64,
    pub merchant_id: i64,
    pub name: String,
    pub description: String,
    pub category: String,
    pub product_scope: String,
    pub currency: String,
    pub attribution_days: i32,
    pub hold_days: i32,
    pub visibility: String,
    pub starts_at: NaiveDateTime,
    pub ends_at: Option<NaiveDateTime>,
    pub min_followers: Option<i64>,
    /// Comma-separated country codes; empty: anywhere.
    pub target_regions: String,
    pub budget_cap_minor: Option<i64>,
    pub state: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = campaigns, treat_none_as_default_value = false)]
pub struct CampaignFields<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub category: &'a str,
    pub product_scope: &'a str,
    pub attribution_days: i32,
    pub hold_days: i32,
    pub visibility: &'a str,
    pub starts_at: NaiveDateTime,
    #[diesel(treat_none_as_null = true)]
    pub ends_at: Option<NaiveDateTime>,
    #[diesel(treat_none_as_null = true)]
    pub min_followers: Option<i64>,
    pub target_regions: &'a str,
    #[diesel(treat_none_as_null = true)]
    pub budget_cap_minor: Option<i64>,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = campaigns, treat_none_as_default_value = false)]
pub struct NewCampaign<'a> {
    pub merchant_id: i64,
    pub currency: &'a str,
    pub state: &'a str,
    #[diesel(embed)]
    pub fields: CampaignFields<'a>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = campaign_rule_versions)]
pub struct RuleVersion {
    pub id: i64,
    pub campaign_id: i64,
    pub version: i32,
    pub effective_at: NaiveDateTime,
    pub default_rate_bps: i32,
    pub flat_per_order_minor: i64,
    pub flat_per_item_minor: i64,
    pub created_by: i64,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = campaign_rule_versions, treat_none_as_default_value = false)]
pub struct NewRuleVersion {
    pub campaign_id: i64,
    pub version: i32,
    pub effective_at: NaiveDateTime,
    pub default_rate_bps: i32,
    pub flat_per_order_minor: i64,
    pub flat_per_item_minor: i64,
    pub created_by: i64,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = campaign_rule_overrides)]
pub struct RuleOverride {
    pub id: i64,
    pub rule_version_id: i64,
    pub kind: String,
    pub match_key: String,
    pub rate_bps: i32,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = campaign_rule_overrides, treat_none_as_default_value = false)]
pub struct NewRuleOverride<'a> {
    pub rule_version_id: i64,
    pub kind: &'a str,
    pub match_key: &'a str,
    pub rate_bps: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = collaborations)]
pub struct Collaboration {
    pub id: i64,
    pub campaign_id: i64,
    pub influencer_id: i64,
    pub merchant_id: i64,
    pub state: String,
    pub custom_rate_bps: Option<i32>,
    pub coupon_code: Option<String>,
    pub message: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = collaborations, treat_none_as_default_value = false)]
pub struct NewCollaboration<'a> {
    pub campaign_id: i64,
    pub influencer_id: i64,
    pub merchant_id: i64,
    pub state: &'a str,
    pub custom_rate_bps: Option<i32>,
    pub message: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = collaboration_events)]
pub struct CollaborationEvent {
    pub id: i64,
    pub collaboration_id: i64,
    pub from_state: Option<String>,
    pub to_state: String,
    pub actor_user_id: i64,
    pub note: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = collaboration_events, treat_none_as_default_value = false)]
pub struct NewCollaborationEvent<'a> {
    pub collaboration_id: i64,
    pub from_state: Option<&'a str>,
    pub to_state: &'a str,
    pub actor_user_id: i64,
    pub note: &'a str,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = streams)]
pub struct Stream {
    pub id: i64,
    pub influencer_id: i64,
    pub title: String,
    pub platform: String,
    pub scheduled_at: Option<NaiveDateTime>,
    pub published_url: Option<String>,
    pub created_at: NaiveDateTime,
    /// When its creator marked it live (`None`: not yet; the scheduled start then counts).
    pub started_at: Option<NaiveDateTime>,
    /// When its creator ended it.
    pub ended_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = streams, treat_none_as_default_value = false)]
pub struct NewStream<'a> {
    pub influencer_id: i64,
    pub title: &'a str,
    pub platform: &'a str,
    pub scheduled_at: Option<NaiveDateTime>,
    pub published_url: Option<&'a str>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = links)]
pub struct Link {
    pub id: i64,
    pub code: String,
    pub collaboration_id: i64,
    pub influencer_id: i64,
    pub merchant_id: i64,
    pub campaign_id: i64,
    pub product_id: Option<i64>,
    pub stream_id: Option<i64>,
    pub destination: String,
    pub label: String,
    pub disabled_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = links, treat_none_as_default_value = false)]
pub struct NewLink<'a> {
    pub code: &'a str,
    pub collaboration_id: i64,
    pub influencer_id: i64,
    pub merchant_id: i64,
    pub campaign_id: i64,
    pub product_id: Option<i64>,
    pub stream_id: Option<i64>,
    pub destination: &'a str,
    pub label: &'a str,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = clicks, treat_none_as_default_value = false)]
pub struct NewClick<'a> {
    /// From `db::links::next_click_ids`; the click id starts with it.
    pub id: i64,
    pub click_id: &'a str,
    pub link_id: i64,
    pub stream_id: Option<i64>,
    pub created_at: &'a BatchTime,
    pub ip_hash: &'a str,
    pub ua_hash: &'a str,
    pub referrer_host: Option<&'a str>,
    pub is_bot: bool,
    pub is_repeat: bool,
    pub visitor_key: i64,
}

/// A time bound to many rows at once (a batch of clicks), with its SQLite text made once:
/// diesel formats a `NaiveDateTime` anew for every row, about 5 % of the click writer's CPU.
#[derive(Debug, Clone, diesel::expression::AsExpression)]
#[diesel(sql_type = diesel::sql_types::Timestamp)]
pub struct BatchTime {
    at: NaiveDateTime,
    /// `at` as diesel writes a `NaiveDateTime` for SQLite.
    text: String,
}

impl BatchTime {
    pub fn new(at: NaiveDateTime) -> BatchTime {
        BatchTime {
            at,
            text: at.format("%F %T%.f").to_string(),
        }
    }

    pub fn at(&self) -> NaiveDateTime {
        self.at
    }

    /// As SQLite stores it.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl diesel::serialize::ToSql<diesel::sql_types::Timestamp, diesel::sqlite::Sqlite> for BatchTime {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::sqlite::Sqlite>,
    ) -> diesel::serialize::Result {
        out.set_value(self.text.as_str());
        Ok(diesel::serialize::IsNull::No)
    }
}

impl diesel::serialize::ToSql<diesel::sql_types::Timestamp, diesel::pg::Pg> for BatchTime {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
    ) -> diesel::serialize::Result {
        diesel::serialize::ToSql::<diesel::sql_types::Timestamp, diesel::pg::Pg>::to_sql(
            &self.at,
            &mut out.reborrow(),
        )
    }
}

/// A link's clicks on one day (`db::links::daily_of`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = link_daily)]
pub struct LinkDaily {
    pub link_id: i64,
    pub day: String,
    pub clicks: i64,
    pub unique_clicks: i64,
    pub bot_clicks: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = clicks)]
pub struct Click {
    pub id: i64,
    pub click_id: String,
    pub link_id: i64,
    pub stream_id: Option<i64>,
    pub created_at: NaiveDateTime,
    pub ip_hash: String,
    pub ua_hash: String,
    pub referrer_host: Option<String>,
    pub is_bot: bool,
    pub is_repeat: bool,
    /// `domain::links::visitor_key` of the two hashes (0 on clicks stored before it existed).
    pub visitor_key: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    pub id: i64,
    pub influencer_id: i64,
    pub name: String,
    pub token_hash: String,
    pub prefix: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = postback_secrets)]
pub struct PostbackSecret {
    pub id: i64,
    pub merchant_id: i64,
    pub secret: String,
    pub prefix: String,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    /// Who made it (`None`: the command line, or before this was kept).
    pub created_by: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, serde::Serialize)]
#[diesel(table_name = conversions)]
pub struct Conversion {
    pub id: i64,
    pub merchant_id: i64,
    pub order_id: String,
    pub source: String,
    pub request_hash: String,
    pub currency: String,
    pub occurred_at: NaiveDateTime,
    pub click_id: Option<String>,
    pub coupon_code: Option<String>,
    pub customer_email_hash: Option<String>,
    pub base_minor: i64,
    pub signal: String,
    pub attribution_note: String,
    pub collaboration_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub influencer_id: Option<i64>,
    pub link_id: Option<i64>,
    pub stream_id: Option<i64>,
    pub click_ref: Option<i64>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = conversions, treat_none_as_default_value = false)]
pub struct NewConversion<'a> {
    pub merchant_id: i64,
    pub order_id: &'a str,
    pub source: &'a str,
    pub request_hash: &'a str,
    pub currency: &'a str,
    pub occurred_at: NaiveDateTime,
    pub click_id: Option<&'a str>,
    pub coupon_code: Option<&'a str>,
    pub customer_email_hash: Option<&'a str>,
    pub base_minor: i64,
    pub signal: &'a str,
    pub attribution_note: &'a str,
    pub collaboration_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub influencer_id: Option<i64>,
    pub link_id: Option<i64>,
    pub stream_id: Option<i64>,
    pub click_ref: Option<i64>,
    pub created_at: NaiveDateTime,
}

impl<'a> NewConversion<'a> {
    /// The insert for a conversion built in memory (its `id` is ignored).
    pub fn of(c: &'a Conversion) -> NewConversion<'a> {
        NewConversion {
            merchant_id: c.merchant_id,
            order_id: &c.order_id,
            source: &c.source,
            request_hash: &c.request_hash,
            currency: &c.currency,
            occurred_at: c.occurred_at,
            click_id: c.click_id.as_deref(),
            coupon_code: c.coupon_code.as_deref(),
            customer_email_hash: c.customer_email_hash.as_deref(),
            base_minor: c.base_minor,
            signal: &c.signal,
            attribution_note: &c.attribution_note,
            collaboration_id: c.collaboration_id,
            campaign_id: c.campaign_id,
            influencer_id: c.influencer_id,
            link_id: c.link_id,
            stream_id: c.stream_id,
            click_ref: c.click_ref,
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = conversion_lines, treat_none_as_default_value = false)]
pub struct ConversionLine {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub conversion_id: i64,
    pub line_no: i32,
    pub sku: String,
    pub product_id: Option<i64>,
    pub category: Option<String>,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub discount_minor: i64,
    pub base_minor: i64,
    pub rate_bps: i32,
    pub rate_source: String,
    pub flat_minor: i64,
    pub commission_minor: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = commissions)]
pub struct CommissionRow {
    pub id: i64,
    pub conversion_id: i64,
    pub merchant_id: i64,
    pub influencer_id: i64,
    pub campaign_id: i64,
    pub collaboration_id: i64,
    pub currency: String,
    pub amount_minor: i64,
    pub fee_bps: i32,
    pub fee_minor: i64,
    pub rule_version_id: i64,
    pub state: String,
    pub available_at: NaiveDateTime,
    pub frozen_reason: Option<String>,
    pub explanation: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = commissions, treat_none_as_default_value = false)]
pub struct NewCommission<'a> {
    pub conversion_id: i64,
    pub merchant_id: i64,
    pub influencer_id: i64,
    pub campaign_id: i64,
    pub collaboration_id: i64,
    pub currency: &'a str,
    pub amount_minor: i64,
    pub fee_bps: i32,
    pub fee_minor: i64,
    pub rule_version_id: i64,
    pub state: &'a str,
    pub available_at: NaiveDateTime,
    pub frozen_reason: Option<&'a str>,
    pub explanation: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl<'a> NewCommission<'a> {
    /// The insert for a commission built in memory (its `id` is ignored).
    pub fn of(c: &'a CommissionRow) -> NewCommission<'a> {
        NewCommission {
            conversion_id: c.conversion_id,
            merchant_id: c.merchant_id,
            influencer_id: c.influencer_id,
            campaign_id: c.campaign_id,
            collaboration_id: c.collaboration_id,
            currency: &c.currency,
            amount_minor: c.amount_minor,
            fee_bps: c.fee_bps,
            fee_minor: c.fee_minor,
            rule_version_id: c.rule_version_id,
            state: &c.state,
            available_at: c.available_at,
            frozen_reason: c.frozen_reason.as_deref(),
            explanation: &c.explanation,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = commission_events)]
pub struct CommissionEvent {
    pub id: i64,
    pub commission_id: i64,
    pub from_state: Option<String>,
    pub to_state: String,
    pub actor_user_id: Option<i64>,
    pub note: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = refunds)]
pub struct Refund {
    pub id: i64,
    pub merchant_id: i64,
    pub refund_id: String,
    pub conversion_id: i64,
    pub source: String,
    pub request_hash: String,
    pub amount_minor: i64,
    pub occurred_at: NaiveDateTime,
    pub commission_minor: i64,
    pub fee_minor: i64,
    pub effect: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = refunds, treat_none_as_default_value = false)]
pub struct NewRefund<'a> {
    pub merchant_id: i64,
    pub refund_id: &'a str,
    pub conversion_id: i64,
    pub source: &'a str,
    pub request_hash: &'a str,
    pub amount_minor: i64,
    pub occurred_at: NaiveDateTime,
    pub commission_minor: i64,
    pub fee_minor: i64,
    pub effect: &'a str,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = refund_lines, treat_none_as_default_value = false)]
pub struct RefundLine {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub refund_ref: i64,
    pub line_no: i32,
    pub amount_minor: i64,
    pub commission_minor: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = payout_schedules)]
pub struct PayoutSchedule {
    pub id: i64,
    pub name: String,
    pub cron: String,
    pub time_zone: String,
    pub currency: String,
    pub minimum_minor: i64,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_fire_at: Option<NaiveDateTime>,
    /// Who last created or changed it: the checker of the runs it makes is someone else.
    pub updated_by: Option<i64>,
    /// Pay a commission only once the invoice that holds it is paid in full.
    pub pay_when_paid: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = payout_runs)]
pub struct PayoutRun {
    pub id: i64,
    pub schedule_id: i64,
    pub fire_at: NaiveDateTime,
    pub currency: String,
    pub minimum_minor: i64,
    pub state: String,
    pub started_by: Option<i64>,
    pub approved_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Who had last changed the schedule when the run was made (maker-checker).
    pub schedule_changed_by: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = payouts)]
pub struct Payout {
    pub id: i64,
    pub run_id: i64,
    pub influencer_id: i64,
    pub currency: String,
    pub amount_minor: i64,
    pub state: String,
    pub method: String,
    pub reference: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The creator's payout details it pays, sealed, as planned (and, once approved, as
    /// approved: a later change of details never redirects it).
    pub destination: Option<String>,
    /// Why the bank returned the payout after it was paid (state `returned`), and when it
    /// was marked so.
    pub returned_reason: Option<String>,
    pub returned_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = payout_items)]
pub struct PayoutItem {
    pub id: i64,
    pub payout_id: i64,
    pub commission_id: Option<i64>,
    pub refund_id: Option<i64>,
    pub amount_minor: i64,
    pub active: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = payout_exclusions)]
pub struct PayoutExclusion {
    pub run_id: i64,
    pub influencer_id: i64,
    pub currency: String,
    pub available_minor: i64,
    pub reason: String,
}
