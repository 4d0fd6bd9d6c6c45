-- The dashboards' rollup (DESIGN.md "Metrics"; issue 16): clicks, orders, refunds and
-- rejections summed per 15-minute UTC bucket and per what they belong to (merchant,
-- campaign, influencer, link, stream; 0 where there is none: an unattributed order has no
-- influencer, a coupon sale no link). Days are the reader's local days, and every time zone's
-- offset is a whole number of quarter hours, so a local day (or hour) is a whole set of
-- buckets. Kept as rows arrive (orders, refunds and rejections in their own transaction;
-- clicks as link_daily is: by the click commit on PostgreSQL, by the rollup job on SQLite).
-- Click rows have currency ''; order rows carry their order's currency.
CREATE TABLE stats_quarters (
    id INTEGER PRIMARY KEY,
    merchant_id BIGINT NOT NULL,
    campaign_id BIGINT NOT NULL,
    influencer_id BIGINT NOT NULL,
    link_id BIGINT NOT NULL,
    stream_id BIGINT NOT NULL,
    currency TEXT NOT NULL,
    -- UTC start of the quarter hour, seconds since 1970 (a multiple of 900).
    bucket BIGINT NOT NULL,
    clicks BIGINT NOT NULL DEFAULT 0,
    unique_clicks BIGINT NOT NULL DEFAULT 0,
    bot_clicks BIGINT NOT NULL DEFAULT 0,
    -- Orders by their order time: count, order value (the commissionable base), the
    -- commission and platform fee as earned.
    orders BIGINT NOT NULL DEFAULT 0,
    gmv_minor BIGINT NOT NULL DEFAULT 0,
    commission_minor BIGINT NOT NULL DEFAULT 0,
    fee_minor BIGINT NOT NULL DEFAULT 0,
    -- Refunds by their refund time: count, amount refunded, commission and fee they took back.
    refunds BIGINT NOT NULL DEFAULT 0,
    refund_minor BIGINT NOT NULL DEFAULT 0,
    refund_commission_minor BIGINT NOT NULL DEFAULT 0,
    refund_fee_minor BIGINT NOT NULL DEFAULT 0,
    -- Frozen commissions rejected after review, by the review's time: what it took back.
    rejected_commission_minor BIGINT NOT NULL DEFAULT 0,
    rejected_fee_minor BIGINT NOT NULL DEFAULT 0,
    UNIQUE (merchant_id, influencer_id, campaign_id, link_id, stream_id, currency, bucket)
);
CREATE INDEX stats_quarters_influencer ON stats_quarters (influencer_id, bucket);
CREATE INDEX stats_quarters_merchant ON stats_quarters (merchant_id, bucket);

-- Account balances kept as entries arrive (a trigger below), so finance's home reads one row
-- per account instead of summing every entry; `tandem ledger check` compares them with the
-- entries. (ledger_accounts rows are written once, so the balance lives beside them.)
CREATE TABLE ledger_balances (
    account_id BIGINT PRIMARY KEY REFERENCES ledger_accounts(id),
    -- The raw sum of the account's entries (debits positive).
    balance_minor BIGINT NOT NULL
);
INSERT INTO ledger_balances (account_id, balance_minor)
SELECT account_id, sum(amount_minor) FROM entries GROUP BY account_id;
CREATE TRIGGER entries_balance AFTER INSERT ON entries
BEGIN
    INSERT INTO ledger_balances (account_id, balance_minor)
    VALUES (NEW.account_id, NEW.amount_minor)
    ON CONFLICT (account_id) DO UPDATE SET balance_minor = balance_minor + excluded.balance_minor;
END;

-- What is there already. Clicks up to the rollup job's mark (it folds the rest in, into both
-- rollups); orders, refunds and rejections all.
INSERT INTO stats_quarters (merchant_id, campaign_id, influencer_id, link_id, stream_id,
                            currency, bucket, clicks, unique_clicks, bot_clicks)
SELECT l.merchant_id, l.campaign_id, l.influencer_id, l.id, coalesce(l.stream_id, 0), '',
       CAST(strftime('%s', c.created_at) AS INTEGER) / 900 * 900 AS q,
       count(*), sum(CASE WHEN c.is_bot = 0 AND c.is_repeat = 0 THEN 1 ELSE 0 END),
       sum(CASE WHEN c.is_bot <> 0 THEN 1 ELSE 0 END)
FROM clicks c JOIN links l ON l.id = c.link_id
WHERE c.id <= (SELECT through_id FROM click_rollup)
GROUP BY l.id, q;

INSERT INTO stats_quarters (merchant_id, campaign_id, influencer_id, link_id, stream_id,
                            currency, bucket, orders, gmv_minor, commission_minor, fee_minor)
SELECT v.merchant_id, coalesce(v.campaign_id, 0) AS ca, coalesce(v.influencer_id, 0) AS inf,
       coalesce(v.link_id, 0) AS li, coalesce(v.stream_id, 0) AS st, v.currency,
       (CAST(strftime('%s', v.occurred_at) AS INTEGER) / 900 * 900) AS q, count(*), sum(v.base_minor),
       coalesce(sum(m.amount_minor), 0), coalesce(sum(m.fee_minor), 0)
FROM conversions v LEFT JOIN commissions m ON m.conversion_id = v.id
WHERE true
GROUP BY v.merchant_id, ca, inf, li, st, v.currency, q;

INSERT INTO stats_quarters (merchant_id, campaign_id, influencer_id, link_id, stream_id,
                            currency, bucket, refunds, refund_minor, refund_commission_minor,
                            refund_fee_minor)
SELECT v.merchant_id, coalesce(v.campaign_id, 0) AS ca, coalesce(v.influencer_id, 0) AS inf,
       coalesce(v.link_id, 0) AS li, coalesce(v.stream_id, 0) AS st, v.currency,
       (CAST(strftime('%s', r.occurred_at) AS INTEGER) / 900 * 900) AS q, count(*), sum(r.amount_minor), sum(r.commission_minor),
       sum(r.fee_minor)
FROM refunds r JOIN conversions v ON v.id = r.conversion_id
WHERE true
GROUP BY v.merchant_id, ca, inf, li, st, v.currency, q
ON CONFLICT (merchant_id, influencer_id, campaign_id, link_id, stream_id, currency, bucket)
DO UPDATE SET refunds = stats_quarters.refunds + excluded.refunds,
    refund_minor = stats_quarters.refund_minor + excluded.refund_minor,
    refund_commission_minor = stats_quarters.refund_commission_minor
        + excluded.refund_commission_minor,
    refund_fee_minor = stats_quarters.refund_fee_minor + excluded.refund_fee_minor;

-- A rejection takes back what was left after the refunds before it (later refunds take
-- nothing from a rejected commission).
INSERT INTO stats_quarters (merchant_id, campaign_id, influencer_id, link_id, stream_id,
                            currency, bucket, rejected_commission_minor, rejected_fee_minor)
SELECT v.merchant_id, coalesce(v.campaign_id, 0) AS ca, coalesce(v.influencer_id, 0) AS inf,
       coalesce(v.link_id, 0) AS li, coalesce(v.stream_id, 0) AS st, v.currency,
       (CAST(strftime('%s', e.created_at) AS INTEGER) / 900 * 900) AS q,
       sum(m.amount_minor - coalesce((SELECT sum(r.commission_minor) FROM refunds r
                                      WHERE r.conversion_id = m.conversion_id), 0)),
       sum(m.fee_minor - coalesce((SELECT sum(r.fee_minor) FROM refunds r
                                   WHERE r.conversion_id = m.conversion_id), 0))
FROM commission_events e
JOIN commissions m ON m.id = e.commission_id
JOIN conversions v ON v.id = m.conversion_id
WHERE e.to_state = 'rejected'
GROUP BY v.merchant_id, ca, inf, li, st, v.currency, q
ON CONFLICT (merchant_id, influencer_id, campaign_id, link_id, stream_id, currency, bucket)
DO UPDATE SET rejected_commission_minor = stats_quarters.rejected_commission_minor
        + excluded.rejected_commission_minor,
    rejected_fee_minor = stats_quarters.rejected_fee_minor + excluded.rejected_fee_minor;

-- Coarser levels of the same figures, so that a merchant's home (hundreds of thousands of
-- clicks) reads a few thousand rows: per UTC day without the link (tables over a range read
-- whole days from here and the partial days at its ends from stats_quarters), and per quarter
-- hour per merchant and currency only (its charts). Both are kept from stats_quarters by the
-- triggers below, in the same statement that changes it.
CREATE TABLE stats_days (
    merchant_id BIGINT NOT NULL,
    campaign_id BIGINT NOT NULL,
    influencer_id BIGINT NOT NULL,
    stream_id BIGINT NOT NULL,
    currency TEXT NOT NULL,
    -- UTC midnight, seconds since 1970.
    bucket BIGINT NOT NULL,
    clicks BIGINT NOT NULL DEFAULT 0,
    unique_clicks BIGINT NOT NULL DEFAULT 0,
    bot_clicks BIGINT NOT NULL DEFAULT 0,
    orders BIGINT NOT NULL DEFAULT 0,
    gmv_minor BIGINT NOT NULL DEFAULT 0,
    commission_minor BIGINT NOT NULL DEFAULT 0,
    fee_minor BIGINT NOT NULL DEFAULT 0,
    refunds BIGINT NOT NULL DEFAULT 0,
    refund_minor BIGINT NOT NULL DEFAULT 0,
    refund_commission_minor BIGINT NOT NULL DEFAULT 0,
    refund_fee_minor BIGINT NOT NULL DEFAULT 0,
    rejected_commission_minor BIGINT NOT NULL DEFAULT 0,
    rejected_fee_minor BIGINT NOT NULL DEFAULT 0,
    -- In a merchant's range order, so that a range is read in one sweep (SQLite: the table
    -- is this key, WITHOUT ROWID).
    PRIMARY KEY (merchant_id, bucket, influencer_id, campaign_id, stream_id, currency)
) WITHOUT ROWID;
CREATE TABLE stats_merchant_quarters (
    merchant_id BIGINT NOT NULL,
    currency TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    clicks BIGINT NOT NULL DEFAULT 0,
    unique_clicks BIGINT NOT NULL DEFAULT 0,
    bot_clicks BIGINT NOT NULL DEFAULT 0,
    orders BIGINT NOT NULL DEFAULT 0,
    gmv_minor BIGINT NOT NULL DEFAULT 0,
    commission_minor BIGINT NOT NULL DEFAULT 0,
    fee_minor BIGINT NOT NULL DEFAULT 0,
    refunds BIGINT NOT NULL DEFAULT 0,
    refund_minor BIGINT NOT NULL DEFAULT 0,
    refund_commission_minor BIGINT NOT NULL DEFAULT 0,
    refund_fee_minor BIGINT NOT NULL DEFAULT 0,
    rejected_commission_minor BIGINT NOT NULL DEFAULT 0,
    rejected_fee_minor BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (merchant_id, bucket, currency)
) WITHOUT ROWID;

-- The coarser levels of what is there already, then the triggers that keep them.
INSERT INTO stats_days (merchant_id, campaign_id, influencer_id, stream_id, currency, bucket,
                        clicks, unique_clicks, bot_clicks, orders, gmv_minor, commission_minor, fee_minor, refunds, refund_minor, refund_commission_minor, refund_fee_minor, rejected_commission_minor, rejected_fee_minor)
SELECT merchant_id, campaign_id, influencer_id, stream_id, currency, bucket / 86400 * 86400 AS d,
       sum(clicks), sum(unique_clicks), sum(bot_clicks), sum(orders), sum(gmv_minor), sum(commission_minor), sum(fee_minor), sum(refunds), sum(refund_minor), sum(refund_commission_minor), sum(refund_fee_minor), sum(rejected_commission_minor), sum(rejected_fee_minor)
FROM stats_quarters GROUP BY merchant_id, campaign_id, influencer_id, stream_id, currency, d;
INSERT INTO stats_merchant_quarters (merchant_id, currency, bucket, clicks, unique_clicks, bot_clicks, orders, gmv_minor, commission_minor, fee_minor, refunds, refund_minor, refund_commission_minor, refund_fee_minor, rejected_commission_minor, rejected_fee_minor)
SELECT merchant_id, currency, bucket, sum(clicks), sum(unique_clicks), sum(bot_clicks), sum(orders), sum(gmv_minor), sum(commission_minor), sum(fee_minor), sum(refunds), sum(refund_minor), sum(refund_commission_minor), sum(refund_fee_minor), sum(rejected_commission_minor), sum(rejected_fee_minor)
FROM stats_quarters GROUP BY merchant_id, currency, bucket;
CREATE TRIGGER stats_quarters_added AFTER INSERT ON stats_quarters
BEGIN
    INSERT INTO stats_days (merchant_id, campaign_id, influencer_id, stream_id, currency,
                            bucket, clicks, unique_clicks, bot_clicks, orders, gmv_minor, commission_minor, fee_minor, refunds, refund_minor, refund_commission_minor, refund_fee_minor, rejected_commission_minor, rejected_fee_minor)
    VALUES (NEW.merchant_id, NEW.campaign_id, NEW.influencer_id, NEW.stream_id,
            NEW.currency, NEW.bucket / 86400 * 86400, NEW.clicks, NEW.unique_clicks, NEW.bot_clicks, NEW.orders, NEW.gmv_minor, NEW.commission_minor, NEW.fee_minor, NEW.refunds, NEW.refund_minor, NEW.refund_commission_minor, NEW.refund_fee_minor, NEW.rejected_commission_minor, NEW.rejected_fee_minor)
    ON CONFLICT (merchant_id, influencer_id, campaign_id, stream_id, currency, bucket)
    DO UPDATE SET clicks = stats_days.clicks + excluded.clicks, unique_clicks = stats_days.unique_clicks + excluded.unique_clicks, bot_clicks = stats_days.bot_clicks + excluded.bot_clicks, orders = stats_days.orders + excluded.orders, gmv_minor = stats_days.gmv_minor + excluded.gmv_minor, commission_minor = stats_days.commission_minor + excluded.commission_minor, fee_minor = stats_days.fee_minor + excluded.fee_minor, refunds = stats_days.refunds + excluded.refunds, refund_minor = stats_days.refund_minor + excluded.refund_minor, refund_commission_minor = stats_days.refund_commission_minor + excluded.refund_commission_minor, refund_fee_minor = stats_days.refund_fee_minor + excluded.refund_fee_minor, rejected_commission_minor = stats_days.rejected_commission_minor + excluded.rejected_commission_minor, rejected_fee_minor = stats_days.rejected_fee_minor + excluded.rejected_fee_minor;
    INSERT INTO stats_merchant_quarters (merchant_id, currency, bucket, clicks, unique_clicks, bot_clicks, orders, gmv_minor, commission_minor, fee_minor, refunds, refund_minor, refund_commission_minor, refund_fee_minor, rejected_commission_minor, rejected_fee_minor)
    VALUES (NEW.merchant_id, NEW.currency, NEW.bucket, NEW.clicks, NEW.unique_clicks, NEW.bot_clicks, NEW.orders, NEW.gmv_minor, NEW.commission_minor, NEW.fee_minor, NEW.refunds, NEW.refund_minor, NEW.refund_commission_minor, NEW.refund_fee_minor, NEW.rejected_commission_minor, NEW.rejected_fee_minor)
    ON CONFLICT (merchant_id, currency, bucket)
    DO UPDATE SET clicks = stats_merchant_quarters.clicks + excluded.clicks, unique_clicks = stats_merchant_quarters.unique_clicks + excluded.unique_clicks, bot_clicks = stats_merchant_quarters.bot_clicks + excluded.bot_clicks, orders = stats_merchant_quarters.orders + excluded.orders, gmv_minor = stats_merchant_quarters.gmv_minor + excluded.gmv_minor, commission_minor = stats_merchant_quarters.commission_minor + excluded.commission_minor, fee_minor = stats_merchant_quarters.fee_minor + excluded.fee_minor, refunds = stats_merchant_quarters.refunds + excluded.refunds, refund_minor = stats_merchant_quarters.refund_minor + excluded.refund_minor, refund_commission_minor = stats_merchant_quarters.refund_commission_minor + excluded.refund_commission_minor, refund_fee_minor = stats_merchant_quarters.refund_fee_minor + excluded.refund_fee_minor, rejected_commission_minor = stats_merchant_quarters.rejected_commission_minor + excluded.rejected_commission_minor, rejected_fee_minor = stats_merchant_quarters.rejected_fee_minor + excluded.rejected_fee_minor;
END;
CREATE TRIGGER stats_quarters_grown AFTER UPDATE ON stats_quarters
BEGIN
    INSERT INTO stats_days (merchant_id, campaign_id, influencer_id, stream_id, currency,
                            bucket, clicks, unique_clicks, bot_clicks, orders, gmv_minor, commission_minor, fee_minor, refunds, refund_minor, refund_commission_minor, refund_fee_minor, rejected_commission_minor, rejected_fee_minor)
    VALUES (NEW.merchant_id, NEW.campaign_id, NEW.influencer_id, NEW.stream_id,
            NEW.currency, NEW.bucket / 86400 * 86400, NEW.clicks - OLD.clicks, NEW.unique_clicks - OLD.unique_clicks, NEW.bot_clicks - OLD.bot_clicks, NEW.orders - OLD.orders, NEW.gmv_minor - OLD.gmv_minor, NEW.commission_minor - OLD.commission_minor, NEW.fee_minor - OLD.fee_minor, NEW.refunds - OLD.refunds, NEW.refund_minor - OLD.refund_minor, NEW.refund_commission_minor - OLD.refund_commission_minor, NEW.refund_fee_minor - OLD.refund_fee_minor, NEW.rejected_commission_minor - OLD.rejected_commission_minor, NEW.rejected_fee_minor - OLD.rejected_fee_minor)
    ON CONFLICT (merchant_id, influencer_id, campaign_id, stream_id, currency, bucket)
    DO UPDATE SET clicks = stats_days.clicks + excluded.clicks, unique_clicks = stats_days.unique_clicks + excluded.unique_clicks, bot_clicks = stats_days.bot_clicks + excluded.bot_clicks, orders = stats_days.orders + excluded.orders, gmv_minor = stats_days.gmv_minor + excluded.gmv_minor, commission_minor = stats_days.commission_minor + excluded.commission_minor, fee_minor = stats_days.fee_minor + excluded.fee_minor, refunds = stats_days.refunds + excluded.refunds, refund_minor = stats_days.refund_minor + excluded.refund_minor, refund_commission_minor = stats_days.refund_commission_minor + excluded.refund_commission_minor, refund_fee_minor = stats_days.refund_fee_minor + excluded.refund_fee_minor, rejected_commission_minor = stats_days.rejected_commission_minor + excluded.rejected_commission_minor, rejected_fee_minor = stats_days.rejected_fee_minor + excluded.rejected_fee_minor;
    INSERT INTO stats_merchant_quarters (merchant_id, currency, bucket, clicks, unique_clicks, bot_clicks, orders, gmv_minor, commission_minor, fee_minor, refunds, refund_minor, refund_commission_minor, refund_fee_minor, rejected_commission_minor, rejected_fee_minor)
    VALUES (NEW.merchant_id, NEW.currency, NEW.bucket, NEW.clicks - OLD.clicks, NEW.unique_clicks - OLD.unique_clicks, NEW.bot_clicks - OLD.bot_clicks, NEW.orders - OLD.orders, NEW.gmv_minor - OLD.gmv_minor, NEW.commission_minor - OLD.commission_minor, NEW.fee_minor - OLD.fee_minor, NEW.refunds - OLD.refunds, NEW.refund_minor - OLD.refund_minor, NEW.refund_commission_minor - OLD.refund_commission_minor, NEW.refund_fee_minor - OLD.refund_fee_minor, NEW.rejected_commission_minor - OLD.rejected_commission_minor, NEW.rejected_fee_minor - OLD.rejected_fee_minor)
    ON CONFLICT (merchant_id, currency, bucket)
    DO UPDATE SET clicks = stats_merchant_quarters.clicks + excluded.clicks, unique_clicks = stats_merchant_quarters.unique_clicks + excluded.unique_clicks, bot_clicks = stats_merchant_quarters.bot_clicks + excluded.bot_clicks, orders = stats_merchant_quarters.orders + excluded.orders, gmv_minor = stats_merchant_quarters.gmv_minor + excluded.gmv_minor, commission_minor = stats_merchant_quarters.commission_minor + excluded.commission_minor, fee_minor = stats_merchant_quarters.fee_minor + excluded.fee_minor, refunds = stats_merchant_quarters.refunds + excluded.refunds, refund_minor = stats_merchant_quarters.refund_minor + excluded.refund_minor, refund_commission_minor = stats_merchant_quarters.refund_commission_minor + excluded.refund_commission_minor, refund_fee_minor = stats_merchant_quarters.refund_fee_minor + excluded.refund_fee_minor, rejected_commission_minor = stats_merchant_quarters.rejected_commission_minor + excluded.rejected_commission_minor, rejected_fee_minor = stats_merchant_quarters.rejected_fee_minor + excluded.rejected_fee_minor;
END;
