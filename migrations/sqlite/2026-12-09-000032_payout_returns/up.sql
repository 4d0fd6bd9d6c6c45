-- Issue 28, merchant billing: payouts draw on cash, and a paid payout the bank returns
-- becomes 'returned' (DESIGN.md §3 Payouts). Runs through its own transaction
-- (metadata.toml): payouts is rebuilt for its new state, which SQLite does only with foreign
-- keys off, and that pragma cannot change inside a transaction.
PRAGMA foreign_keys = OFF;
BEGIN;

-- 1. Payouts draw on cash. A settle journal now posts four lines: the creator's in payout
-- and paid, and the platform's cash (credited: the money left) and paid_out (debited: the
-- mirror of the creators' paid). Settle journals written before have only the first two:
-- their two missing entries are appended here (entries are append-only; inserting is what
-- they allow), with the platform's accounts created where missing, so that the ledger check
-- can require the four-line shape of every settle journal. The entries_balance trigger
-- (stats migration) fires for each inserted row and keeps ledger_balances right.
INSERT INTO ledger_accounts (owner_kind, owner_id, kind, currency)
SELECT DISTINCT 'platform', 0, k.kind, j.currency
FROM journals j, (SELECT 'cash' AS kind UNION ALL SELECT 'paid_out' AS kind) k
WHERE j.kind = 'payout_settle'
  AND NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.owner_kind = 'platform'
                  AND a.owner_id = 0 AND a.kind = k.kind AND a.currency = j.currency);
-- What each settled: its in payout entry (+A, the creator's in payout debited). Cash -A.
INSERT INTO entries (journal_id, account_id, amount_minor)
SELECT j.id, pa.id, -e.amount_minor
FROM journals j
JOIN entries e ON e.journal_id = j.id
JOIN ledger_accounts ia ON ia.id = e.account_id AND ia.owner_kind = 'influencer' AND ia.kind = 'in_payout'
JOIN ledger_accounts pa ON pa.owner_kind = 'platform' AND pa.owner_id = 0 AND pa.kind = 'cash'
  AND pa.currency = j.currency
WHERE j.kind = 'payout_settle'
  AND NOT EXISTS (SELECT 1 FROM entries x JOIN ledger_accounts xa ON xa.id = x.account_id
                  WHERE x.journal_id = j.id AND xa.owner_kind = 'platform' AND xa.kind = 'cash')
ORDER BY j.id;
-- Paid out +A.
INSERT INTO entries (journal_id, account_id, amount_minor)
SELECT j.id, pa.id, e.amount_minor
FROM journals j
JOIN entries e ON e.journal_id = j.id
JOIN ledger_accounts ia ON ia.id = e.account_id AND ia.owner_kind = 'influencer' AND ia.kind = 'in_payout'
JOIN ledger_accounts pa ON pa.owner_kind = 'platform' AND pa.owner_id = 0 AND pa.kind = 'paid_out'
  AND pa.currency = j.currency
WHERE j.kind = 'payout_settle'
  AND NOT EXISTS (SELECT 1 FROM entries x JOIN ledger_accounts xa ON xa.id = x.account_id
                  WHERE x.journal_id = j.id AND xa.owner_kind = 'platform' AND xa.kind = 'paid_out')
ORDER BY j.id;

-- 2. The returned state. A returned payout keeps its reference (it was paid) and gets its
-- own reason and time: failure_reason stays what it is, why a payout was never paid.
-- The triggers of other tables that read payouts are dropped while it is rebuilt, and
-- made again as they were (payout_items_fixed also lets a returned payout's items go).
DROP TRIGGER payout_items_born;
DROP TRIGGER payout_items_fixed;
DROP TRIGGER payout_runs_empty;
CREATE TABLE payouts_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id BIGINT NOT NULL REFERENCES payout_runs(id),
    influencer_id BIGINT NOT NULL REFERENCES influencers(id),
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    state TEXT NOT NULL CHECK (state IN ('draft', 'approved', 'exported', 'paid', 'failed', 'cancelled', 'returned')),
    method TEXT NOT NULL,
    reference TEXT,
    failure_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    destination TEXT,
    returned_reason TEXT,
    returned_at TIMESTAMP,
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
  OR NEW.returned_reason IS NOT NULL OR NEW.returned_at IS NOT NULL
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
  OR ((NEW.returned_reason IS NOT OLD.returned_reason OR NEW.returned_at IS NOT OLD.returned_at)
      AND NOT (OLD.returned_reason IS NULL AND OLD.returned_at IS NULL
               AND NEW.returned_reason IS NOT NULL AND NEW.returned_at IS NOT NULL
               AND OLD.state = 'paid' AND NEW.state = 'returned'))
BEGIN SELECT RAISE(ABORT, 'a payout''s amount, currency, creator, run and destination never change once planned'); END;
CREATE TRIGGER payouts_lifecycle BEFORE UPDATE OF state ON payouts
WHEN NEW.state IS NOT OLD.state AND (OLD.state || '>' || NEW.state) NOT IN (
    'draft>approved', 'draft>cancelled', 'approved>exported', 'exported>paid', 'exported>failed',
    'paid>returned')
BEGIN SELECT RAISE(ABORT, 'a payout''s state moves only along its lifecycle'); END;
CREATE TRIGGER payouts_returned BEFORE UPDATE OF state ON payouts
WHEN NEW.state = 'returned' AND OLD.state IS NOT 'returned'
  AND (NEW.returned_reason IS NULL OR trim(NEW.returned_reason) = '' OR NEW.returned_at IS NULL)
BEGIN SELECT RAISE(ABORT, 'a returned payout says why and when'); END;
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
                  WHERE p.id = OLD.payout_id AND p.state IN ('failed', 'cancelled', 'returned'))))
BEGIN SELECT RAISE(ABORT, 'a payout item never changes; it is released only with its failed, cancelled or returned payout'); END;
CREATE TRIGGER payout_runs_empty BEFORE UPDATE OF state ON payout_runs
WHEN NEW.state = 'empty' AND EXISTS (SELECT 1 FROM payouts WHERE run_id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'a payout run with payouts is not empty'); END;

COMMIT;
PRAGMA foreign_keys = ON;
