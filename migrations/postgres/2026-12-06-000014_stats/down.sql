DROP TRIGGER stats_quarters_levels ON stats_quarters;
DROP FUNCTION tandem_stats_levels();
DROP TABLE stats_days;
DROP TABLE stats_merchant_quarters;
DROP TRIGGER entries_balance ON entries;
DROP FUNCTION tandem_entry_balance();
DROP TABLE stats_quarters;
DROP TABLE ledger_balances;
