-- The live board (issue 29). A stream is live from the moment its creator marks it live
-- (or its scheduled start) until they end it; its figures minute by minute are kept in
-- `stream_minutes`, the same columns as `stats_quarters` per UTC minute, for streams only
-- (rows of stream 0 are never written). Kept as `stats_quarters` is: orders, refunds and
-- rejections in their own transaction; clicks by the click commit on PostgreSQL and by the
-- rollup job on SQLite (whose readers add the clicks after its mark).
ALTER TABLE streams ADD COLUMN started_at TIMESTAMP;
ALTER TABLE streams ADD COLUMN ended_at TIMESTAMP;

CREATE TABLE stream_minutes (
    id INTEGER PRIMARY KEY,
    stream_id BIGINT NOT NULL,
    merchant_id BIGINT NOT NULL,
    campaign_id BIGINT NOT NULL,
    influencer_id BIGINT NOT NULL,
    link_id BIGINT NOT NULL,
    currency TEXT NOT NULL,
    -- UTC start of the minute, seconds since 1970 (a multiple of 60).
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
    coupon_orders BIGINT NOT NULL DEFAULT 0,
    coupon_commission_minor BIGINT NOT NULL DEFAULT 0,
    UNIQUE (stream_id, bucket, merchant_id, campaign_id, influencer_id, link_id, currency)
);

-- A stream's latest orders, newest first.
CREATE INDEX conversions_stream_time ON conversions (stream_id, occurred_at);

-- What is there already: clicks up to the rollup job's mark (it folds in the rest), orders,
-- refunds and rejections of streams.
INSERT INTO stream_minutes (stream_id, merchant_id, campaign_id, influencer_id, link_id,
                            currency, bucket, clicks, unique_clicks, bot_clicks)
SELECT l.stream_id, l.merchant_id, l.campaign_id, l.influencer_id, l.id, '',
       CAST(strftime('%s', c.created_at) AS INTEGER) / 60 * 60 AS mi,
       count(*), sum(CASE WHEN c.is_bot = 0 AND c.is_repeat = 0 THEN 1 ELSE 0 END),
       sum(CASE WHEN c.is_bot <> 0 THEN 1 ELSE 0 END)
FROM clicks c JOIN links l ON l.id = c.link_id
WHERE c.id <= (SELECT through_id FROM click_rollup) AND l.stream_id IS NOT NULL
GROUP BY l.id, mi;

INSERT INTO stream_minutes (stream_id, merchant_id, campaign_id, influencer_id, link_id,
                            currency, bucket, orders, gmv_minor, commission_minor, fee_minor,
                            coupon_orders, coupon_commission_minor)
SELECT v.stream_id, v.merchant_id, coalesce(v.campaign_id, 0) AS ca,
       coalesce(v.influencer_id, 0) AS inf, coalesce(v.link_id, 0) AS li, v.currency,
       (CAST(strftime('%s', v.occurred_at) AS INTEGER) / 60 * 60) AS mi, count(*),
       sum(v.base_minor), coalesce(sum(c.amount_minor), 0), coalesce(sum(c.fee_minor), 0),
       sum(CASE WHEN v.link_id IS NULL AND v.influencer_id IS NOT NULL THEN 1 ELSE 0 END),
       sum(CASE WHEN v.link_id IS NULL AND v.influencer_id IS NOT NULL
                THEN coalesce(c.amount_minor, 0) ELSE 0 END)
FROM conversions v LEFT JOIN commissions c ON c.conversion_id = v.id
WHERE v.stream_id IS NOT NULL
GROUP BY v.stream_id, v.merchant_id, ca, inf, li, v.currency, mi;

INSERT INTO stream_minutes (stream_id, merchant_id, campaign_id, influencer_id, link_id,
                            currency, bucket, refunds, refund_minor, refund_commission_minor,
                            refund_fee_minor, coupon_commission_minor)
SELECT v.stream_id, v.merchant_id, coalesce(v.campaign_id, 0) AS ca,
       coalesce(v.influencer_id, 0) AS inf, coalesce(v.link_id, 0) AS li, v.currency,
       (CAST(strftime('%s', r.occurred_at) AS INTEGER) / 60 * 60) AS mi, count(*),
       sum(r.amount_minor), sum(r.commission_minor), sum(r.fee_minor),
       -sum(CASE WHEN v.link_id IS NULL AND v.influencer_id IS NOT NULL
                 THEN r.commission_minor ELSE 0 END)
FROM refunds r JOIN conversions v ON v.id = r.conversion_id
WHERE v.stream_id IS NOT NULL
GROUP BY v.stream_id, v.merchant_id, ca, inf, li, v.currency, mi
ON CONFLICT (stream_id, bucket, merchant_id, campaign_id, influencer_id, link_id, currency)
DO UPDATE SET refunds = refunds + excluded.refunds,
    refund_minor = refund_minor + excluded.refund_minor,
    refund_commission_minor = refund_commission_minor + excluded.refund_commission_minor,
    refund_fee_minor = refund_fee_minor + excluded.refund_fee_minor,
    coupon_commission_minor = coupon_commission_minor + excluded.coupon_commission_minor;

INSERT INTO stream_minutes (stream_id, merchant_id, campaign_id, influencer_id, link_id,
                            currency, bucket, rejected_commission_minor, rejected_fee_minor,
                            coupon_commission_minor)
SELECT v.stream_id, v.merchant_id, coalesce(v.campaign_id, 0) AS ca,
       coalesce(v.influencer_id, 0) AS inf, coalesce(v.link_id, 0) AS li, v.currency,
       (CAST(strftime('%s', e.created_at) AS INTEGER) / 60 * 60) AS mi,
       sum(m.amount_minor - coalesce((SELECT sum(r.commission_minor) FROM refunds r
                                      WHERE r.conversion_id = m.conversion_id), 0)) AS rc,
       sum(m.fee_minor - coalesce((SELECT sum(r.fee_minor) FROM refunds r
                                   WHERE r.conversion_id = m.conversion_id), 0)),
       -sum(CASE WHEN v.link_id IS NULL AND v.influencer_id IS NOT NULL
                 THEN m.amount_minor - coalesce((SELECT sum(r.commission_minor) FROM refunds r
                                                 WHERE r.conversion_id = m.conversion_id), 0)
                 ELSE 0 END)
FROM commission_events e
JOIN commissions m ON m.id = e.commission_id
JOIN conversions v ON v.id = m.conversion_id
WHERE e.to_state = 'rejected' AND v.stream_id IS NOT NULL
GROUP BY v.stream_id, v.merchant_id, ca, inf, li, v.currency, mi
ON CONFLICT (stream_id, bucket, merchant_id, campaign_id, influencer_id, link_id, currency)
DO UPDATE SET rejected_commission_minor = rejected_commission_minor
        + excluded.rejected_commission_minor,
    rejected_fee_minor = rejected_fee_minor + excluded.rejected_fee_minor,
    coupon_commission_minor = coupon_commission_minor + excluded.coupon_commission_minor;
