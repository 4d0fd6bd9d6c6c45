-- The Orders and Earnings lists page, filter and add up a merchant's (an influencer's) rows
-- from indexes alone: the orders in list order (id breaks ties) with what their totals read,
-- and each order's commission and refunds with their money.
CREATE INDEX conversions_merchant_list ON conversions (merchant_id, occurred_at, id) INCLUDE (currency, base_minor, signal, influencer_id);
CREATE INDEX commissions_conversion_money ON commissions (conversion_id) INCLUDE (state, amount_minor, fee_minor);
CREATE INDEX refunds_conversion_money ON refunds (conversion_id) INCLUDE (amount_minor, commission_minor, fee_minor);
CREATE INDEX commissions_merchant_money ON commissions (merchant_id) INCLUDE (currency, state, amount_minor, fee_minor);
