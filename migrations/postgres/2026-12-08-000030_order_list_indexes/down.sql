DROP INDEX commissions_merchant_money;
DROP INDEX refunds_conversion_money;
DROP INDEX commissions_conversion_money;
DROP INDEX conversions_merchant_list;
