DROP TRIGGER stats_quarters_added;
DROP TRIGGER stats_quarters_grown;
DROP TABLE stats_days;
DROP TABLE stats_merchant_quarters;
DROP TRIGGER entries_balance;
DROP TABLE stats_quarters;
DROP TABLE ledger_balances;
