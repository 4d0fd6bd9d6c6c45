-- Issue 28, merchant billing: the ledger's new kinds (see the SQLite migration for what each
-- is for).
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_kind_check;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_kind_check CHECK (kind IN (
    'receivable', 'pending', 'available', 'in_payout', 'paid', 'fee_revenue', 'cash',
    'paid_out', 'tax_payable'));
ALTER TABLE journals DROP CONSTRAINT journals_kind_check;
ALTER TABLE journals ADD CONSTRAINT journals_kind_check CHECK (kind IN ('accrual', 'maturation',
    'reversal', 'clawback', 'payout_start', 'payout_settle', 'payout_fail', 'merchant_payment',
    'freeze', 'release', 'reject', 'payment_reversal', 'payout_return', 'invoice_tax',
    'credit_note'));
-- Invoices sum a period's journals by time.
CREATE INDEX journals_created ON journals (created_at);
