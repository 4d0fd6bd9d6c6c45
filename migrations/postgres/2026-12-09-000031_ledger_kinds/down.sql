DROP INDEX journals_created;
ALTER TABLE journals DROP CONSTRAINT journals_kind_check;
ALTER TABLE journals ADD CONSTRAINT journals_kind_check CHECK (kind IN ('accrual', 'maturation',
    'reversal', 'clawback', 'payout_start', 'payout_settle', 'payout_fail', 'merchant_payment',
    'freeze', 'release', 'reject'));
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_kind_check;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_kind_check CHECK (kind IN (
    'receivable', 'pending', 'available', 'in_payout', 'paid', 'fee_revenue', 'cash'));
