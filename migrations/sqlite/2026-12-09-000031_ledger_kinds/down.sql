-- Back to the kinds before issue 28 (fails while rows of the new kinds exist).
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE ledger_accounts_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_kind TEXT NOT NULL CHECK (owner_kind IN ('merchant', 'influencer', 'platform')),
    owner_id BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('receivable', 'pending', 'available', 'in_payout', 'paid', 'fee_revenue', 'cash')),
    currency TEXT NOT NULL,
    UNIQUE (owner_kind, owner_id, kind, currency)
);
INSERT INTO ledger_accounts_new (id, owner_kind, owner_id, kind, currency)
SELECT id, owner_kind, owner_id, kind, currency FROM ledger_accounts;
DROP TABLE ledger_accounts;
ALTER TABLE ledger_accounts_new RENAME TO ledger_accounts;
CREATE TRIGGER ledger_accounts_no_update BEFORE UPDATE ON ledger_accounts
BEGIN SELECT RAISE(ABORT, 'ledger accounts are never changed'); END;
CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
BEGIN SELECT RAISE(ABORT, 'ledger accounts are never changed'); END;

CREATE TABLE journals_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('accrual', 'maturation', 'reversal', 'clawback',
        'payout_start', 'payout_settle', 'payout_fail', 'merchant_payment', 'freeze', 'release',
        'reject')),
    ref_kind TEXT NOT NULL,
    ref_id BIGINT NOT NULL,
    currency TEXT NOT NULL,
    memo TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (kind, ref_kind, ref_id)
);
INSERT INTO journals_new (id, kind, ref_kind, ref_id, currency, memo, created_at)
SELECT id, kind, ref_kind, ref_id, currency, memo, created_at FROM journals;
DROP TABLE journals;
ALTER TABLE journals_new RENAME TO journals;
CREATE TRIGGER journals_no_update BEFORE UPDATE ON journals
BEGIN SELECT RAISE(ABORT, 'ledger journals are append-only'); END;
CREATE TRIGGER journals_no_delete BEFORE DELETE ON journals
BEGIN SELECT RAISE(ABORT, 'ledger journals are append-only'); END;
CREATE TRIGGER journals_no_replace BEFORE INSERT ON journals
WHEN (NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM journals WHERE id = NEW.id))
  OR EXISTS (SELECT 1 FROM journals
             WHERE kind = NEW.kind AND ref_kind = NEW.ref_kind AND ref_id = NEW.ref_id)
BEGIN SELECT RAISE(ABORT, 'ledger journals are append-only'); END;

COMMIT;
PRAGMA foreign_keys = ON;
