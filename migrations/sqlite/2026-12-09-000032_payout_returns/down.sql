-- Back to payouts before the returned state, and settle journals of two lines (fails while
-- a payout is returned).
PRAGMA foreign_keys = OFF;
BEGIN;

-- Settle journals back to their two lines: the platform's cash and paid_out entries of
-- settle journals are taken out (the one time entries are deleted: this undoes exactly what
-- the up migration and this version's settles added), with the kept balances, and the
-- paid_out accounts left empty go. A database with payout returns cannot go back.
DROP TRIGGER entries_no_delete;
DELETE FROM entries
WHERE journal_id IN (SELECT id FROM journals WHERE kind = 'payout_settle')
  AND account_id IN (SELECT id FROM ledger_accounts
                     WHERE owner_kind = 'platform' AND kind IN ('cash', 'paid_out'));
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
UPDATE ledger_balances SET balance_minor = (
    SELECT coalesce(sum(e.amount_minor), 0) FROM entries e
    WHERE e.account_id = ledger_balances.account_id)
WHERE account_id IN (SELECT id FROM ledger_accounts
                     WHERE owner_kind = 'platform' AND kind IN ('cash', 'paid_out'));
DELETE FROM ledger_balances
WHERE account_id IN (SELECT a.id FROM ledger_accounts a WHERE a.kind = 'paid_out'
                     AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.account_id = a.id));
DROP TRIGGER ledger_accounts_no_delete;
DELETE FROM ledger_accounts
WHERE kind = 'paid_out' AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.account_id = ledger_accounts.id);
CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
BEGIN SELECT RAISE(ABORT, 'ledger accounts are never changed'); END;

DROP TRIGGER payout_items_born;
DROP TRIGGER payout_items_fixed;
DROP TRIGGER payout_runs_empty;
CREATE TABLE payouts_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id BIGINT NOT NULL REFERENCES payout_runs(id),
    influencer_id BIGINT NOT NULL REFERENCES influencers(id),
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    state TEXT NOT NULL CHECK (state IN ('draft', 'approved', 'exported', 'paid', 'failed', 'cancelled')),
    method TEXT NOT NULL,
    reference TEXT,
    failure_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    destination TEXT,
    UNIQUE (run_id, influencer_id)
);
INSERT INTO payouts_new (id, run_id, influencer_id, currency, amount_minor, state, method,
    reference, failure_reason, created_at, updated_at, destination)
SELECT id, run_id, influencer_id, currency, amount_minor, state, method,
    reference, failure_reason, created_at, updated_at, destination
FROM payouts;
DROP TABLE payouts;
ALTER TABLE payouts_new RENAME TO payouts;
CREATE INDEX payouts_influencer ON payouts (influencer_id, created_at);

CREATE TRIGGER payouts_no_replace BEFORE INSERT ON payouts
WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM payouts WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'payouts are never replaced'); END;
CREATE TRIGGER payouts_born BEFORE INSERT ON payouts
WHEN NEW.state IS NOT 'draft' OR NEW.reference IS NOT NULL OR NEW.failure_reason IS NOT NULL
  OR NOT EXISTS (SELECT 1 FROM payout_runs r
                 WHERE r.id = NEW.run_id AND r.state = 'draft' AND r.currency = NEW.currency)
BEGIN SELECT RAISE(ABORT, 'a payout is written as a draft, in a draft run of its currency'); END;
CREATE TRIGGER payouts_fixed BEFORE UPDATE ON payouts
WHEN NEW.id IS NOT OLD.id OR NEW.run_id IS NOT OLD.run_id
  OR NEW.influencer_id IS NOT OLD.influencer_id OR NEW.currency IS NOT OLD.currency
  OR NEW.amount_minor IS NOT OLD.amount_minor OR NEW.created_at IS NOT OLD.created_at
  OR ((NEW.method IS NOT OLD.method OR NEW.destination IS NOT OLD.destination)
      AND NOT (OLD.state = 'draft' AND NEW.state = 'draft')
      AND NOT (NEW.method IS OLD.method AND NEW.state IS OLD.state
               AND OLD.destination IS NOT NULL AND substr(OLD.destination, 1, 10) <> 'sealed:v1:'
               AND NEW.destination IS NOT NULL AND substr(NEW.destination, 1, 10) = 'sealed:v1:'))
  OR (NEW.reference IS NOT OLD.reference
      AND NOT (OLD.reference IS NULL AND NEW.state = 'paid' AND OLD.state IS NOT 'paid'))
  OR (NEW.failure_reason IS NOT OLD.failure_reason
      AND NOT (OLD.failure_reason IS NULL AND NEW.state = 'failed' AND OLD.state IS NOT 'failed'))
BEGIN SELECT RAISE(ABORT, 'a payout''s amount, currency, creator, run and destination never change once planned'); END;
CREATE TRIGGER payouts_lifecycle BEFORE UPDATE OF state ON payouts
WHEN NEW.state IS NOT OLD.state AND (OLD.state || '>' || NEW.state) NOT IN (
    'draft>approved', 'draft>cancelled', 'approved>exported', 'exported>paid', 'exported>failed')
BEGIN SELECT RAISE(ABORT, 'a payout''s state moves only along its lifecycle'); END;
CREATE TRIGGER payouts_no_delete BEFORE DELETE ON payouts
BEGIN SELECT RAISE(ABORT, 'payouts are never deleted'); END;

CREATE TRIGGER payout_items_born BEFORE INSERT ON payout_items
WHEN NEW.active IS NOT 1
  OR NOT EXISTS (SELECT 1 FROM payouts p WHERE p.id = NEW.payout_id AND p.state = 'draft')
BEGIN SELECT RAISE(ABORT, 'a payout item is written active, with its draft payout'); END;
CREATE TRIGGER payout_items_fixed BEFORE UPDATE ON payout_items
WHEN NEW.id IS NOT OLD.id OR NEW.payout_id IS NOT OLD.payout_id
  OR NEW.commission_id IS NOT OLD.commission_id OR NEW.refund_id IS NOT OLD.refund_id
  OR NEW.amount_minor IS NOT OLD.amount_minor
  OR (NEW.active IS NOT OLD.active AND NOT (OLD.active = 1 AND NEW.active = 0
      AND EXISTS (SELECT 1 FROM payouts p
                  WHERE p.id = OLD.payout_id AND p.state IN ('failed', 'cancelled'))))
BEGIN SELECT RAISE(ABORT, 'a payout item never changes; it is released only with its failed or cancelled payout'); END;
CREATE TRIGGER payout_runs_empty BEFORE UPDATE OF state ON payout_runs
WHEN NEW.state = 'empty' AND EXISTS (SELECT 1 FROM payouts WHERE run_id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'a payout run with payouts is not empty'); END;

COMMIT;
PRAGMA foreign_keys = ON;
