DROP TRIGGER payout_runs_no_truncate ON payout_runs;
DROP TRIGGER payouts_no_truncate ON payouts;
DROP TRIGGER payout_items_no_truncate ON payout_items;
DROP FUNCTION tandem_payouts_no_truncate();
DROP TRIGGER payout_items_guard ON payout_items;
DROP FUNCTION tandem_payout_item_guard();
DROP TRIGGER payouts_guard ON payouts;
DROP FUNCTION tandem_payout_guard();
DROP TRIGGER payout_runs_guard ON payout_runs;
DROP FUNCTION tandem_payout_run_guard();
ALTER TABLE payouts DROP COLUMN destination;
ALTER TABLE payout_runs DROP COLUMN schedule_changed_by;
ALTER TABLE payout_runs DROP CONSTRAINT payout_runs_state_check;
UPDATE payout_runs SET state = 'draft' WHERE state = 'empty';
ALTER TABLE payout_runs ADD CONSTRAINT payout_runs_state_check
    CHECK (state IN ('draft', 'approved', 'exported', 'paid', 'cancelled'));
ALTER TABLE payout_schedules DROP COLUMN updated_by;
