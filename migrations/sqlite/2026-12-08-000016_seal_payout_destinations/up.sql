-- Issue 27 §4, data at rest. The payout-controls migration copied each creator's payout
-- details into payouts.destination; on a database from before sealing those details were
-- plain text, and so are the copies. The key that seals them is in the app's configuration,
-- not in the database, so no migration can seal them: the app seals them at start-up
-- (service::influencer::seal_plain_details), in whatever state the payout is, and then
-- scrubs the file's free space and its write-ahead log (db::scrub_free_space).
--
-- The guard below is payouts_fixed as before, with one more change it lets through: a
-- destination that is plain text replaced by a sealed one ('sealed:v1:...'), with the
-- payout's method and state unchanged. The database cannot check that the sealed value
-- holds the same details (it has no key); plain-text destinations exist only until the
-- first start of this version, which seals them before it serves anything.
DROP TRIGGER payouts_fixed;
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
