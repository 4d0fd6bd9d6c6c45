PRAGMA foreign_keys = OFF;
BEGIN;
DROP TRIGGER payout_runs_no_replace;
DROP TRIGGER payout_runs_born;
DROP TRIGGER payout_runs_fixed;
DROP TRIGGER payout_runs_lifecycle;
DROP TRIGGER payout_runs_empty;
DROP TRIGGER payout_runs_no_delete;
DROP TRIGGER payouts_no_replace;
DROP TRIGGER payouts_born;
DROP TRIGGER payouts_fixed;
DROP TRIGGER payouts_lifecycle;
DROP TRIGGER payouts_no_delete;
DROP TRIGGER payout_items_no_replace;
DROP TRIGGER payout_items_born;
DROP TRIGGER payout_items_fixed;
DROP TRIGGER payout_items_no_delete;
ALTER TABLE payouts DROP COLUMN destination;
CREATE TABLE payout_runs_old (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id BIGINT NOT NULL REFERENCES payout_schedules(id),
    fire_at TIMESTAMP NOT NULL,
    currency TEXT NOT NULL,
    minimum_minor BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('draft', 'approved', 'exported', 'paid', 'cancelled')),
    started_by BIGINT REFERENCES users(id),
    approved_by BIGINT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (schedule_id, fire_at)
);
INSERT INTO payout_runs_old SELECT id, schedule_id, fire_at, currency, minimum_minor,
    CASE WHEN state = 'empty' THEN 'draft' ELSE state END,
    started_by, approved_by, created_at, updated_at FROM payout_runs;
DROP TABLE payout_runs;
ALTER TABLE payout_runs_old RENAME TO payout_runs;
ALTER TABLE payout_schedules DROP COLUMN updated_by;
COMMIT;
PRAGMA foreign_keys = ON;
