-- Orders, attribution, commissions and the ledger (DESIGN.md §3). Idempotency lives in the
-- unique constraints: one conversion per (merchant, order id), one refund per (merchant,
-- refund id), one commission per conversion, one journal per (kind, what it is for).

ALTER TABLE merchants ADD COLUMN fee_bps INTEGER NOT NULL DEFAULT 0;
ALTER TABLE merchants ADD COLUMN shopify_webhook_secret TEXT;

-- Postback signing secrets. At most two are valid at once (during a rotation).
CREATE TABLE postback_secrets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    secret TEXT NOT NULL,
    prefix TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP
);
CREATE INDEX postback_secrets_merchant ON postback_secrets (merchant_id);

-- Shopify webhook deliveries already handled (Shopify retries; X-Shopify-Webhook-Id repeats).
CREATE TABLE shopify_webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    webhook_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    UNIQUE (merchant_id, webhook_id)
);

CREATE TABLE conversions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    order_id TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('api', 'shopify', 'csv')),
    request_hash TEXT NOT NULL,
    currency TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    click_id TEXT,
    coupon_code TEXT,
    customer_email_hash TEXT,
    base_minor BIGINT NOT NULL,
    signal TEXT NOT NULL CHECK (signal IN ('coupon', 'click', 'none')),
    attribution_note TEXT NOT NULL,
    collaboration_id BIGINT REFERENCES collaborations(id),
    campaign_id BIGINT REFERENCES campaigns(id),
    influencer_id BIGINT REFERENCES influencers(id),
    link_id BIGINT REFERENCES links(id),
    stream_id BIGINT REFERENCES streams(id),
    click_ref BIGINT REFERENCES clicks(id),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (merchant_id, order_id)
);
CREATE INDEX conversions_merchant_time ON conversions (merchant_id, occurred_at);
CREATE INDEX conversions_influencer ON conversions (influencer_id);

CREATE TABLE conversion_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversion_id BIGINT NOT NULL REFERENCES conversions(id),
    line_no INTEGER NOT NULL,
    sku TEXT NOT NULL,
    product_id BIGINT REFERENCES products(id),
    category TEXT,
    quantity BIGINT NOT NULL,
    unit_price_minor BIGINT NOT NULL,
    discount_minor BIGINT NOT NULL,
    base_minor BIGINT NOT NULL,
    rate_bps INTEGER NOT NULL,
    rate_source TEXT NOT NULL,
    flat_minor BIGINT NOT NULL,
    commission_minor BIGINT NOT NULL,
    UNIQUE (conversion_id, line_no)
);

CREATE TABLE commissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversion_id BIGINT NOT NULL UNIQUE REFERENCES conversions(id),
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    influencer_id BIGINT NOT NULL REFERENCES influencers(id),
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    collaboration_id BIGINT NOT NULL REFERENCES collaborations(id),
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    fee_bps INTEGER NOT NULL,
    fee_minor BIGINT NOT NULL,
    rule_version_id BIGINT NOT NULL REFERENCES campaign_rule_versions(id),
    state TEXT NOT NULL CHECK (state IN ('pending', 'available', 'in_payout', 'paid', 'frozen', 'rejected')),
    available_at TIMESTAMP NOT NULL,
    frozen_reason TEXT,
    explanation TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX commissions_influencer ON commissions (influencer_id, state);
CREATE INDEX commissions_state_time ON commissions (state, available_at);
CREATE INDEX commissions_merchant ON commissions (merchant_id);

CREATE TABLE commission_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    commission_id BIGINT NOT NULL REFERENCES commissions(id),
    from_state TEXT,
    to_state TEXT NOT NULL,
    actor_user_id BIGINT REFERENCES users(id),
    note TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX commission_events_commission ON commission_events (commission_id);

CREATE TABLE refunds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    refund_id TEXT NOT NULL,
    conversion_id BIGINT NOT NULL REFERENCES conversions(id),
    source TEXT NOT NULL CHECK (source IN ('api', 'shopify', 'csv')),
    request_hash TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    commission_minor BIGINT NOT NULL,
    fee_minor BIGINT NOT NULL,
    effect TEXT NOT NULL CHECK (effect IN ('none', 'reversal', 'clawback')),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (merchant_id, refund_id)
);
CREATE INDEX refunds_conversion ON refunds (conversion_id);

CREATE TABLE refund_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    refund_ref BIGINT NOT NULL REFERENCES refunds(id),
    line_no INTEGER NOT NULL,
    amount_minor BIGINT NOT NULL,
    commission_minor BIGINT NOT NULL,
    UNIQUE (refund_ref, line_no)
);

CREATE TABLE ledger_accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_kind TEXT NOT NULL CHECK (owner_kind IN ('merchant', 'influencer', 'platform')),
    owner_id BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('receivable', 'pending', 'available', 'in_payout', 'paid', 'fee_revenue', 'cash')),
    currency TEXT NOT NULL,
    UNIQUE (owner_kind, owner_id, kind, currency)
);

CREATE TABLE journals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('accrual', 'maturation', 'reversal', 'clawback', 'payout_start', 'payout_settle', 'payout_fail', 'merchant_payment', 'freeze', 'release', 'reject')),
    ref_kind TEXT NOT NULL,
    ref_id BIGINT NOT NULL,
    currency TEXT NOT NULL,
    memo TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (kind, ref_kind, ref_id)
);

CREATE TABLE entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    journal_id BIGINT NOT NULL REFERENCES journals(id),
    account_id BIGINT NOT NULL REFERENCES ledger_accounts(id),
    amount_minor BIGINT NOT NULL
);
CREATE INDEX entries_account ON entries (account_id);
CREATE INDEX entries_journal ON entries (journal_id);

-- Append-only, enforced by the database too.
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER journals_no_update BEFORE UPDATE ON journals
BEGIN SELECT RAISE(ABORT, 'ledger journals are append-only'); END;
CREATE TRIGGER journals_no_delete BEFORE DELETE ON journals
BEGIN SELECT RAISE(ABORT, 'ledger journals are append-only'); END;
