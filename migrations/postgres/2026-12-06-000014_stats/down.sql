DROP TRIGGER entries_balance ON entries;
DROP FUNCTION tandem_entry_balance();
DROP TABLE stats_quarters;
DROP TABLE ledger_balances;
