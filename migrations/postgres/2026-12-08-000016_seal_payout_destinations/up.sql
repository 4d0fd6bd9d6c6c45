-- Issue 27 §4, data at rest. The payout-controls migration copied each creator's payout
-- details into payouts.destination; on a database from before sealing those details were
-- plain text, and so are the copies. The key that seals them is in the app's configuration,
-- not in the database, so no migration can seal them: the app seals them at start-up
-- (service::influencer::seal_plain_details), in whatever state the payout is.
--
-- The guard below is tandem_payout_guard as before, with one more change it lets through: a
-- destination that is plain text replaced by a sealed one ('sealed:v1:...'), with the
-- payout's method and state unchanged. The database cannot check that the sealed value
-- holds the same details (it has no key); plain-text destinations exist only until the
-- first start of this version, which seals them before it serves anything.
CREATE OR REPLACE FUNCTION tandem_payout_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'payouts are never deleted';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.state IS DISTINCT FROM 'draft' OR NEW.reference IS NOT NULL
           OR NEW.failure_reason IS NOT NULL
           OR NOT EXISTS (SELECT 1 FROM payout_runs r WHERE r.id = NEW.run_id
                          AND r.state = 'draft' AND r.currency = NEW.currency) THEN
            RAISE EXCEPTION 'a payout is written as a draft, in a draft run of its currency';
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.run_id, NEW.influencer_id, NEW.currency, NEW.amount_minor, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.run_id, OLD.influencer_id, OLD.currency, OLD.amount_minor, OLD.created_at)
       OR ((NEW.method, NEW.destination) IS DISTINCT FROM (OLD.method, OLD.destination)
           AND NOT (OLD.state = 'draft' AND NEW.state = 'draft')
           AND NOT (NEW.method IS NOT DISTINCT FROM OLD.method AND NEW.state = OLD.state
                    AND OLD.destination IS NOT NULL AND left(OLD.destination, 10) <> 'sealed:v1:'
                    AND NEW.destination IS NOT NULL AND left(NEW.destination, 10) = 'sealed:v1:'))
       OR (NEW.reference IS DISTINCT FROM OLD.reference
           AND NOT (OLD.reference IS NULL AND NEW.state = 'paid' AND OLD.state <> 'paid'))
       OR (NEW.failure_reason IS DISTINCT FROM OLD.failure_reason
           AND NOT (OLD.failure_reason IS NULL AND NEW.state = 'failed' AND OLD.state <> 'failed')) THEN
        RAISE EXCEPTION 'a payout''s amount, currency, creator, run and destination never change once planned';
    END IF;
    IF NEW.state IS DISTINCT FROM OLD.state AND (OLD.state || '>' || NEW.state) NOT IN (
        'draft>approved', 'draft>cancelled', 'approved>exported', 'exported>paid',
        'exported>failed') THEN
        RAISE EXCEPTION 'a payout''s state moves only along its lifecycle (not % to %)',
            OLD.state, NEW.state;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
