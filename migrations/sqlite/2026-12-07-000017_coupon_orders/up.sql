-- Orders by coupon code (no click led to them) counted apart in the dashboards' rollup, so
-- that conversion (orders after a click per unique click) and EPC (what those orders earned
-- per click) count only the orders a click led to (issue 27 §2). A stats_quarters row of an
-- influencer without a link (link_id 0) is a coupon sale; its orders and its commission net of
-- refunds and rejections are also counted in these columns, and the coarser levels carry them.
ALTER TABLE stats_quarters ADD COLUMN coupon_orders BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stats_quarters ADD COLUMN coupon_commission_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stats_days ADD COLUMN coupon_orders BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stats_days ADD COLUMN coupon_commission_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stats_merchant_quarters ADD COLUMN coupon_orders BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stats_merchant_quarters ADD COLUMN coupon_commission_minor BIGINT NOT NULL DEFAULT 0;

UPDATE stats_quarters SET coupon_orders = orders,
    coupon_commission_minor = commission_minor - refund_commission_minor - rejected_commission_minor
WHERE link_id = 0 AND influencer_id <> 0;
UPDATE stats_days SET
    coupon_orders = (SELECT coalesce(sum(q.coupon_orders), 0) FROM stats_quarters q
        WHERE q.merchant_id = stats_days.merchant_id AND q.campaign_id = stats_days.campaign_id
          AND q.influencer_id = stats_days.influencer_id AND q.stream_id = stats_days.stream_id
          AND q.currency = stats_days.currency AND q.bucket >= stats_days.bucket
          AND q.bucket < stats_days.bucket + 86400 AND q.link_id = 0),
    coupon_commission_minor = (SELECT coalesce(sum(q.coupon_commission_minor), 0) FROM stats_quarters q
        WHERE q.merchant_id = stats_days.merchant_id AND q.campaign_id = stats_days.campaign_id
          AND q.influencer_id = stats_days.influencer_id AND q.stream_id = stats_days.stream_id
          AND q.currency = stats_days.currency AND q.bucket >= stats_days.bucket
          AND q.bucket < stats_days.bucket + 86400 AND q.link_id = 0)
WHERE influencer_id <> 0;
UPDATE stats_merchant_quarters SET
    coupon_orders = (SELECT coalesce(sum(q.coupon_orders), 0) FROM stats_quarters q
        WHERE q.merchant_id = stats_merchant_quarters.merchant_id
          AND q.currency = stats_merchant_quarters.currency
          AND q.bucket = stats_merchant_quarters.bucket AND q.link_id = 0),
    coupon_commission_minor = (SELECT coalesce(sum(q.coupon_commission_minor), 0) FROM stats_quarters q
        WHERE q.merchant_id = stats_merchant_quarters.merchant_id
          AND q.currency = stats_merchant_quarters.currency
          AND q.bucket = stats_merchant_quarters.bucket AND q.link_id = 0)
WHERE currency <> '';

-- The triggers that keep the coarser levels, now with the coupon columns.
DROP TRIGGER stats_quarters_added;
DROP TRIGGER stats_quarters_grown;
CREATE TRIGGER stats_quarters_added AFTER INSERT ON stats_quarters
BEGIN
    INSERT INTO stats_days (merchant_id, campaign_id, influencer_id, stream_id, currency, bucket, clicks, unique_clicks, bot_clicks, orders, gmv_minor, commission_minor, fee_minor, refunds, refund_minor, refund_commission_minor, refund_fee_minor, rejected_commission_minor, rejected_fee_minor, coupon_orders, coupon_commission_minor)
    VALUES (NEW.merchant_id, NEW.campaign_id, NEW.influencer_id, NEW.stream_id, NEW.currency, NEW.bucket / 86400 * 86400, NEW.clicks, NEW.unique_clicks, NEW.bot_clicks, NEW.orders, NEW.gmv_minor, NEW.commission_minor, NEW.fee_minor, NEW.refunds, NEW.refund_minor, NEW.refund_commission_minor, NEW.refund_fee_minor, NEW.rejected_commission_minor, NEW.rejected_fee_minor, NEW.coupon_orders, NEW.coupon_commission_minor)
    ON CONFLICT (merchant_id, influencer_id, campaign_id, stream_id, currency, bucket)
    DO UPDATE SET clicks = stats_days.clicks + excluded.clicks, unique_clicks = stats_days.unique_clicks + excluded.unique_clicks, bot_clicks = stats_days.bot_clicks + excluded.bot_clicks, orders = stats_days.orders + excluded.orders, gmv_minor = stats_days.gmv_minor + excluded.gmv_minor, commission_minor = stats_days.commission_minor + excluded.commission_minor, fee_minor = stats_days.fee_minor + excluded.fee_minor, refunds = stats_days.refunds + excluded.refunds, refund_minor = stats_days.refund_minor + excluded.refund_minor, refund_commission_minor = stats_days.refund_commission_minor + excluded.refund_commission_minor, refund_fee_minor = stats_days.refund_fee_minor + excluded.refund_fee_minor, rejected_commission_minor = stats_days.rejected_commission_minor + excluded.rejected_commission_minor, rejected_fee_minor = stats_days.rejected_fee_minor + excluded.rejected_fee_minor, coupon_orders = stats_days.coupon_orders + excluded.coupon_orders, coupon_commission_minor = stats_days.coupon_commission_minor + excluded.coupon_commission_minor;
    INSERT INTO stats_merchant_quarters (merchant_id, currency, bucket, clicks, unique_clicks, bot_clicks, orders, gmv_minor, commission_minor, fee_minor, refunds, refund_minor, refund_commission_minor, refund_fee_minor, rejected_commission_minor, rejected_fee_minor, coupon_orders, coupon_commission_minor)
    VALUES (NEW.merchant_id, NEW.currency, NEW.bucket, NEW.clicks, NEW.unique_clicks, NEW.bot_clicks, NEW.orders, NEW.gmv_minor, NEW.commission_minor, NEW.fee_minor, NEW.refunds, NEW.refund_minor, NEW.refund_commission_minor, NEW.refund_fee_minor, NEW.rejected_commission_minor, NEW.rejected_fee_minor, NEW.coupon_orders, NEW.coupon_commission_minor)
    ON CONFLICT (merchant_id, currency, bucket)
    DO UPDATE SET clicks = stats_merchant_quarters.clicks + excluded.clicks, unique_clicks = stats_merchant_quarters.unique_clicks + excluded.unique_clicks, bot_clicks = stats_merchant_quarters.bot_clicks + excluded.bot_clicks, orders = stats_merchant_quarters.orders + excluded.orders, gmv_minor = stats_merchant_quarters.gmv_minor + excluded.gmv_minor, commission_minor = stats_merchant_quarters.commission_minor + excluded.commission_minor, fee_minor = stats_merchant_quarters.fee_minor + excluded.fee_minor, refunds = stats_merchant_quarters.refunds + excluded.refunds, refund_minor = stats_merchant_quarters.refund_minor + excluded.refund_minor, refund_commission_minor = stats_merchant_quarters.refund_commission_minor + excluded.refund_commission_minor, refund_fee_minor = stats_merchant_quarters.refund_fee_minor + excluded.refund_fee_minor, rejected_commission_minor = stats_merchant_quarters.rejected_commission_minor + excluded.rejected_commission_minor, rejected_fee_minor = stats_merchant_quarters.rejected_fee_minor + excluded.rejected_fee_minor, coupon_orders = stats_merchant_quarters.coupon_orders + excluded.coupon_orders, coupon_commission_minor = stats_merchant_quarters.coupon_commission_minor + excluded.coupon_commission_minor;
END;
CREATE TRIGGER stats_quarters_grown AFTER UPDATE ON stats_quarters
BEGIN
    INSERT INTO stats_days (merchant_id, campaign_id, influencer_id, stream_id, currency, bucket, clicks, unique_clicks, bot_clicks, orders, gmv_minor, commission_minor, fee_minor, refunds, refund_minor, refund_commission_minor, refund_fee_minor, rejected_commission_minor, rejected_fee_minor, coupon_orders, coupon_commission_minor)
    VALUES (NEW.merchant_id, NEW.campaign_id, NEW.influencer_id, NEW.stream_id, NEW.currency, NEW.bucket / 86400 * 86400, NEW.clicks - OLD.clicks, NEW.unique_clicks - OLD.unique_clicks, NEW.bot_clicks - OLD.bot_clicks, NEW.orders - OLD.orders, NEW.gmv_minor - OLD.gmv_minor, NEW.commission_minor - OLD.commission_minor, NEW.fee_minor - OLD.fee_minor, NEW.refunds - OLD.refunds, NEW.refund_minor - OLD.refund_minor, NEW.refund_commission_minor - OLD.refund_commission_minor, NEW.refund_fee_minor - OLD.refund_fee_minor, NEW.rejected_commission_minor - OLD.rejected_commission_minor, NEW.rejected_fee_minor - OLD.rejected_fee_minor, NEW.coupon_orders - OLD.coupon_orders, NEW.coupon_commission_minor - OLD.coupon_commission_minor)
    ON CONFLICT (merchant_id, influencer_id, campaign_id, stream_id, currency, bucket)
    DO UPDATE SET clicks = stats_days.clicks + excluded.clicks, unique_clicks = stats_days.unique_clicks + excluded.unique_clicks, bot_clicks = stats_days.bot_clicks + excluded.bot_clicks, orders = stats_days.orders + excluded.orders, gmv_minor = stats_days.gmv_minor + excluded.gmv_minor, commission_minor = stats_days.commission_minor + excluded.commission_minor, fee_minor = stats_days.fee_minor + excluded.fee_minor, refunds = stats_days.refunds + excluded.refunds, refund_minor = stats_days.refund_minor + excluded.refund_minor, refund_commission_minor = stats_days.refund_commission_minor + excluded.refund_commission_minor, refund_fee_minor = stats_days.refund_fee_minor + excluded.refund_fee_minor, rejected_commission_minor = stats_days.rejected_commission_minor + excluded.rejected_commission_minor, rejected_fee_minor = stats_days.rejected_fee_minor + excluded.rejected_fee_minor, coupon_orders = stats_days.coupon_orders + excluded.coupon_orders, coupon_commission_minor = stats_days.coupon_commission_minor + excluded.coupon_commission_minor;
    INSERT INTO stats_merchant_quarters (merchant_id, currency, bucket, clicks, unique_clicks, bot_clicks, orders, gmv_minor, commission_minor, fee_minor, refunds, refund_minor, refund_commission_minor, refund_fee_minor, rejected_commission_minor, rejected_fee_minor, coupon_orders, coupon_commission_minor)
    VALUES (NEW.merchant_id, NEW.currency, NEW.bucket, NEW.clicks - OLD.clicks, NEW.unique_clicks - OLD.unique_clicks, NEW.bot_clicks - OLD.bot_clicks, NEW.orders - OLD.orders, NEW.gmv_minor - OLD.gmv_minor, NEW.commission_minor - OLD.commission_minor, NEW.fee_minor - OLD.fee_minor, NEW.refunds - OLD.refunds, NEW.refund_minor - OLD.refund_minor, NEW.refund_commission_minor - OLD.refund_commission_minor, NEW.refund_fee_minor - OLD.refund_fee_minor, NEW.rejected_commission_minor - OLD.rejected_commission_minor, NEW.rejected_fee_minor - OLD.rejected_fee_minor, NEW.coupon_orders - OLD.coupon_orders, NEW.coupon_commission_minor - OLD.coupon_commission_minor)
    ON CONFLICT (merchant_id, currency, bucket)
    DO UPDATE SET clicks = stats_merchant_quarters.clicks + excluded.clicks, unique_clicks = stats_merchant_quarters.unique_clicks + excluded.unique_clicks, bot_clicks = stats_merchant_quarters.bot_clicks + excluded.bot_clicks, orders = stats_merchant_quarters.orders + excluded.orders, gmv_minor = stats_merchant_quarters.gmv_minor + excluded.gmv_minor, commission_minor = stats_merchant_quarters.commission_minor + excluded.commission_minor, fee_minor = stats_merchant_quarters.fee_minor + excluded.fee_minor, refunds = stats_merchant_quarters.refunds + excluded.refunds, refund_minor = stats_merchant_quarters.refund_minor + excluded.refund_minor, refund_commission_minor = stats_merchant_quarters.refund_commission_minor + excluded.refund_commission_minor, refund_fee_minor = stats_merchant_quarters.refund_fee_minor + excluded.refund_fee_minor, rejected_commission_minor = stats_merchant_quarters.rejected_commission_minor + excluded.rejected_commission_minor, rejected_fee_minor = stats_merchant_quarters.rejected_fee_minor + excluded.rejected_fee_minor, coupon_orders = stats_merchant_quarters.coupon_orders + excluded.coupon_orders, coupon_commission_minor = stats_merchant_quarters.coupon_commission_minor + excluded.coupon_commission_minor;
END;
