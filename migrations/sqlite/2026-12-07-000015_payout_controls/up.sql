-- Issue 27, payout controls. Runs through its own transaction (metadata.toml): payout_runs
-- is rebuilt for its new state, which SQLite does only with foreign keys off, and that
-- pragma cannot change inside a transaction.
PRAGMA foreign_keys = OFF;
BEGIN;

-- Who last changed a schedule: the checker of the runs it makes must be someone else.
ALTER TABLE payout_schedules ADD COLUMN updated_by BIGINT;
UPDATE payout_schedules SET updated_by = (
    SELECT a.actor_user_id FROM audit_events a
    WHERE a.subject_type = 'payout_schedule' AND a.subject_id = payout_schedules.id
    ORDER BY a.id DESC LIMIT 1);

-- A run with nothing to pay is closed at once ('empty'); a run remembers who had last
-- changed its schedule when it was made.
CREATE TABLE payout_runs_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id BIGINT NOT NULL REFERENCES payout_schedules(id),
    fire_at TIMESTAMP NOT NULL,
    currency TEXT NOT NULL,
    minimum_minor BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('draft', 'approved', 'exported', 'paid', 'cancelled', 'empty')),
    started_by BIGINT REFERENCES users(id),
    approved_by BIGINT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    schedule_changed_by BIGINT REFERENCES users(id),
    UNIQUE (schedule_id, fire_at)
);
INSERT INTO payout_runs_new (id, schedule_id, fire_at, currency, minimum_minor, state,
    started_by, approved_by, created_at, updated_at, schedule_changed_by)
SELECT r.id, r.schedule_id, r.fire_at, r.currency, r.minimum_minor,
    CASE WHEN r.state = 'draft' AND NOT EXISTS (SELECT 1 FROM payouts p WHERE p.run_id = r.id)
         THEN 'empty' ELSE r.state END,
    r.started_by, r.approved_by, r.created_at, r.updated_at, NULL
FROM payout_runs r;
DROP TABLE payout_runs;
ALTER TABLE payout_runs_new RENAME TO payout_runs;

-- The destination a payout pays (the creator's payout details, sealed, as planned and
-- approved): a later change of details never redirects an approved payout.
ALTER TABLE payouts ADD COLUMN destination TEXT;
UPDATE payouts SET destination = (
    SELECT i.payout_details FROM influencers i WHERE i.id = payouts.influencer_id)
WHERE state IN ('draft', 'approved', 'exported');

-- What the database refuses (as for journals): payouts are guarded like the ledger.
CREATE TRIGGER payout_runs_no_replace BEFORE INSERT ON payout_runs
WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM payout_runs WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'payout runs are never replaced'); END;
CREATE TRIGGER payout_runs_born BEFORE INSERT ON payout_runs
WHEN NEW.state IS NOT 'draft' OR NEW.approved_by IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'a payout run starts as a draft'); END;
CREATE TRIGGER payout_runs_fixed BEFORE UPDATE ON payout_runs
WHEN NEW.id IS NOT OLD.id OR NEW.schedule_id IS NOT OLD.schedule_id
  OR NEW.fire_at IS NOT OLD.fire_at OR NEW.currency IS NOT OLD.currency
  OR NEW.minimum_minor IS NOT OLD.minimum_minor OR NEW.started_by IS NOT OLD.started_by
  OR NEW.schedule_changed_by IS NOT OLD.schedule_changed_by
  OR NEW.created_at IS NOT OLD.created_at
  OR (NEW.approved_by IS NOT OLD.approved_by
      AND NOT (OLD.approved_by IS NULL AND OLD.state = 'draft' AND NEW.state = 'approved'))
BEGIN SELECT RAISE(ABORT, 'a payout run''s slot, currency, minimum and people never change'); END;
CREATE TRIGGER payout_runs_lifecycle BEFORE UPDATE OF state ON payout_runs
WHEN NEW.state IS NOT OLD.state AND (OLD.state || '>' || NEW.state) NOT IN (
    'draft>approved', 'draft>cancelled', 'draft>empty', 'approved>exported', 'exported>paid')
BEGIN SELECT RAISE(ABORT, 'a payout run''s state moves only along its lifecycle'); END;
CREATE TRIGGER payout_runs_empty BEFORE UPDATE OF state ON payout_runs
WHEN NEW.state = 'empty' AND EXISTS (SELECT 1 FROM payouts WHERE run_id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'a payout run with payouts is not empty'); END;
CREATE TRIGGER payout_runs_no_delete BEFORE DELETE ON payout_runs
BEGIN SELECT RAISE(ABORT, 'payout runs are never deleted'); END;

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
      AND NOT (OLD.state = 'draft' AND NEW.state = 'draft'))
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

CREATE TRIGGER payout_items_no_replace BEFORE INSERT ON payout_items
WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM payout_items WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'payout items are never replaced'); END;
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
CREATE TRIGGER payout_items_no_delete BEFORE DELETE ON payout_items
BEGIN SELECT RAISE(ABORT, 'payout items are never deleted'); END;

COMMIT;
PRAGMA foreign_keys = ON;
