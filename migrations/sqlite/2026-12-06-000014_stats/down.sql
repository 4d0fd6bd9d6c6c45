DROP TRIGGER entries_balance;
DROP TABLE stats_quarters;
DROP TABLE ledger_balances;
