-- Marketplace: influencer profile details, shop domains, products, campaigns with versioned
-- commission rules, and collaborations with their history.

ALTER TABLE influencers ADD COLUMN languages TEXT NOT NULL DEFAULT '';
ALTER TABLE influencers ADD COLUMN total_followers BIGINT NOT NULL DEFAULT 0;
ALTER TABLE influencers ADD COLUMN engagement_bps INTEGER NOT NULL DEFAULT 0;
ALTER TABLE influencers ADD COLUMN payout_method TEXT;
ALTER TABLE influencers ADD COLUMN payout_currency TEXT;
ALTER TABLE influencers ADD COLUMN payout_details TEXT;
CREATE INDEX influencers_followers ON influencers (total_followers);

CREATE TABLE influencer_categories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    influencer_id BIGINT NOT NULL REFERENCES influencers(id),
    category TEXT NOT NULL,
    UNIQUE (influencer_id, category)
);
CREATE INDEX influencer_categories_category ON influencer_categories (category, influencer_id);

CREATE TABLE influencer_regions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    influencer_id BIGINT NOT NULL REFERENCES influencers(id),
    region TEXT NOT NULL,
    UNIQUE (influencer_id, region)
);
CREATE INDEX influencer_regions_region ON influencer_regions (region, influencer_id);

CREATE TABLE social_accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    influencer_id BIGINT NOT NULL REFERENCES influencers(id),
    platform TEXT NOT NULL,
    handle TEXT NOT NULL,
    followers BIGINT NOT NULL,
    avg_views BIGINT NOT NULL,
    engagement_bps INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (influencer_id, platform, handle)
);
CREATE INDEX social_accounts_platform ON social_accounts (platform, influencer_id);

CREATE TABLE shop_domains (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    domain TEXT NOT NULL UNIQUE,
    verified_at TIMESTAMP,
    verified_by BIGINT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX shop_domains_merchant ON shop_domains (merchant_id);

CREATE TABLE products (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    sku TEXT NOT NULL,
    title TEXT NOT NULL,
    category TEXT NOT NULL,
    price_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    product_url TEXT NOT NULL,
    image_url TEXT,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (merchant_id, sku)
);
CREATE INDEX products_merchant_category ON products (merchant_id, category);

CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    product_scope TEXT NOT NULL CHECK (product_scope IN ('selected', 'category')),
    currency TEXT NOT NULL,
    attribution_days INTEGER NOT NULL,
    hold_days INTEGER NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('open', 'invite')),
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP,
    min_followers BIGINT,
    target_regions TEXT NOT NULL,
    budget_cap_minor BIGINT,
    state TEXT NOT NULL CHECK (state IN ('draft', 'active', 'paused', 'ended')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX campaigns_merchant ON campaigns (merchant_id, state);
CREATE INDEX campaigns_state ON campaigns (state, visibility);

CREATE TABLE campaign_products (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    product_id BIGINT NOT NULL REFERENCES products(id),
    UNIQUE (campaign_id, product_id)
);

CREATE TABLE campaign_rule_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    version INTEGER NOT NULL,
    effective_at TIMESTAMP NOT NULL,
    default_rate_bps INTEGER NOT NULL,
    flat_per_order_minor BIGINT NOT NULL,
    flat_per_item_minor BIGINT NOT NULL,
    created_by BIGINT NOT NULL REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (campaign_id, version)
);

CREATE TABLE campaign_rule_overrides (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_version_id BIGINT NOT NULL REFERENCES campaign_rule_versions(id),
    kind TEXT NOT NULL CHECK (kind IN ('sku', 'category')),
    match_key TEXT NOT NULL,
    rate_bps INTEGER NOT NULL,
    UNIQUE (rule_version_id, kind, match_key)
);

CREATE TABLE collaborations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    influencer_id BIGINT NOT NULL REFERENCES influencers(id),
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    state TEXT NOT NULL CHECK (state IN ('applied', 'invited', 'active', 'declined', 'ended')),
    custom_rate_bps INTEGER,
    coupon_code TEXT,
    message TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (campaign_id, influencer_id),
    UNIQUE (merchant_id, coupon_code)
);
CREATE INDEX collaborations_influencer ON collaborations (influencer_id, state);

CREATE TABLE collaboration_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collaboration_id BIGINT NOT NULL REFERENCES collaborations(id),
    from_state TEXT,
    to_state TEXT NOT NULL,
    actor_user_id BIGINT NOT NULL REFERENCES users(id),
    note TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX collaboration_events_collaboration ON collaboration_events (collaboration_id);
