DROP TRIGGER payouts_fixed;
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
