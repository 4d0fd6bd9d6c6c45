-- What the database refuses (DESIGN.md §3 "Ledger"), so that a change behind the app's back
-- fails here instead of waiting for `tandem ledger check` to find it.

-- INSERT OR REPLACE / REPLACE INTO deletes the row it replaces without firing a DELETE
-- trigger: refuse an insert whose id (or, for journals, whose (kind, ref)) is taken. The app
-- looks a journal up before inserting it (db::ledger::post).
CREATE TRIGGER entries_no_replace BEFORE INSERT ON entries
WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM entries WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER journals_no_replace BEFORE INSERT ON journals
WHEN (NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM journals WHERE id = NEW.id))
  OR EXISTS (SELECT 1 FROM journals
             WHERE kind = NEW.kind AND ref_kind = NEW.ref_kind AND ref_id = NEW.ref_id)
BEGIN SELECT RAISE(ABORT, 'ledger journals are append-only'); END;

-- Commissions: money, currency, owners and references never change; the state moves only
-- along the lifecycle's edges (a state left as it is, is no move).
CREATE TRIGGER commissions_fixed BEFORE UPDATE ON commissions
WHEN NEW.id IS NOT OLD.id OR NEW.conversion_id IS NOT OLD.conversion_id
  OR NEW.merchant_id IS NOT OLD.merchant_id OR NEW.influencer_id IS NOT OLD.influencer_id
  OR NEW.campaign_id IS NOT OLD.campaign_id OR NEW.collaboration_id IS NOT OLD.collaboration_id
  OR NEW.currency IS NOT OLD.currency OR NEW.amount_minor IS NOT OLD.amount_minor
  OR NEW.fee_bps IS NOT OLD.fee_bps OR NEW.fee_minor IS NOT OLD.fee_minor
  OR NEW.rule_version_id IS NOT OLD.rule_version_id OR NEW.created_at IS NOT OLD.created_at
BEGIN SELECT RAISE(ABORT, 'a commission''s amounts, currency, owners and references never change'); END;
CREATE TRIGGER commissions_lifecycle BEFORE UPDATE OF state ON commissions
WHEN NEW.state IS NOT OLD.state AND (OLD.state || '>' || NEW.state) NOT IN (
    'pending>available', 'pending>frozen',
    'frozen>pending', 'frozen>rejected',
    'available>in_payout', 'available>frozen',
    'in_payout>paid', 'in_payout>available',
    'paid>available')
BEGIN SELECT RAISE(ABORT, 'a commission''s state moves only along its lifecycle'); END;
CREATE TRIGGER commissions_no_delete BEFORE DELETE ON commissions
BEGIN SELECT RAISE(ABORT, 'commissions are never deleted'); END;

-- Refunds, their lines and ledger accounts are written once.
CREATE TRIGGER refunds_no_update BEFORE UPDATE ON refunds
BEGIN SELECT RAISE(ABORT, 'refunds are never changed'); END;
CREATE TRIGGER refunds_no_delete BEFORE DELETE ON refunds
BEGIN SELECT RAISE(ABORT, 'refunds are never changed'); END;
CREATE TRIGGER refund_lines_no_update BEFORE UPDATE ON refund_lines
BEGIN SELECT RAISE(ABORT, 'refunds are never changed'); END;
CREATE TRIGGER refund_lines_no_delete BEFORE DELETE ON refund_lines
BEGIN SELECT RAISE(ABORT, 'refunds are never changed'); END;
CREATE TRIGGER ledger_accounts_no_update BEFORE UPDATE ON ledger_accounts
BEGIN SELECT RAISE(ABORT, 'ledger accounts are never changed'); END;
CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
BEGIN SELECT RAISE(ABORT, 'ledger accounts are never changed'); END;
