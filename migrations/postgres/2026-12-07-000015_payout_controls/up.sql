-- Issue 27, payout controls: who last changed a schedule (the checker of its runs must be
-- someone else), empty runs closed at once, the destination each payout pays, and the
-- database guarding payouts as it guards journals. Run the app under a role that does not
-- own the tables (README, "PostgreSQL in production"), so it cannot DISABLE TRIGGER.

ALTER TABLE payout_schedules ADD COLUMN updated_by BIGINT;
UPDATE payout_schedules SET updated_by = (
    SELECT a.actor_user_id FROM audit_events a
    WHERE a.subject_type = 'payout_schedule' AND a.subject_id = payout_schedules.id
    ORDER BY a.id DESC LIMIT 1);

ALTER TABLE payout_runs DROP CONSTRAINT payout_runs_state_check;
UPDATE payout_runs r SET state = 'empty'
WHERE r.state = 'draft' AND NOT EXISTS (SELECT 1 FROM payouts p WHERE p.run_id = r.id);
ALTER TABLE payout_runs ADD CONSTRAINT payout_runs_state_check
    CHECK (state IN ('draft', 'approved', 'exported', 'paid', 'cancelled', 'empty'));
ALTER TABLE payout_runs ADD COLUMN schedule_changed_by BIGINT REFERENCES users(id);

ALTER TABLE payouts ADD COLUMN destination TEXT;
UPDATE payouts SET destination = (
    SELECT i.payout_details FROM influencers i WHERE i.id = payouts.influencer_id)
WHERE state IN ('draft', 'approved', 'exported');

CREATE FUNCTION tandem_payout_run_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'payout runs are never deleted';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.state IS DISTINCT FROM 'draft' OR NEW.approved_by IS NOT NULL THEN
            RAISE EXCEPTION 'a payout run starts as a draft';
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.schedule_id, NEW.fire_at, NEW.currency, NEW.minimum_minor, NEW.started_by,
        NEW.schedule_changed_by, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.schedule_id, OLD.fire_at, OLD.currency, OLD.minimum_minor, OLD.started_by,
        OLD.schedule_changed_by, OLD.created_at)
       OR (NEW.approved_by IS DISTINCT FROM OLD.approved_by
           AND NOT (OLD.approved_by IS NULL AND OLD.state = 'draft' AND NEW.state = 'approved')) THEN
        RAISE EXCEPTION 'a payout run''s slot, currency, minimum and people never change';
    END IF;
    IF NEW.state IS DISTINCT FROM OLD.state AND (OLD.state || '>' || NEW.state) NOT IN (
        'draft>approved', 'draft>cancelled', 'draft>empty', 'approved>exported', 'exported>paid') THEN
        RAISE EXCEPTION 'a payout run''s state moves only along its lifecycle (not % to %)',
            OLD.state, NEW.state;
    END IF;
    IF NEW.state = 'empty' AND OLD.state IS DISTINCT FROM 'empty'
       AND EXISTS (SELECT 1 FROM payouts WHERE run_id = NEW.id) THEN
        RAISE EXCEPTION 'a payout run with payouts is not empty';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER payout_runs_guard BEFORE INSERT OR UPDATE OR DELETE ON payout_runs
FOR EACH ROW EXECUTE FUNCTION tandem_payout_run_guard();

CREATE FUNCTION tandem_payout_guard() RETURNS trigger AS $$
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
           AND NOT (OLD.state = 'draft' AND NEW.state = 'draft'))
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
CREATE TRIGGER payouts_guard BEFORE INSERT OR UPDATE OR DELETE ON payouts
FOR EACH ROW EXECUTE FUNCTION tandem_payout_guard();

CREATE FUNCTION tandem_payout_item_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'payout items are never deleted';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.active IS DISTINCT FROM TRUE
           OR NOT EXISTS (SELECT 1 FROM payouts p WHERE p.id = NEW.payout_id AND p.state = 'draft') THEN
            RAISE EXCEPTION 'a payout item is written active, with its draft payout';
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.payout_id, NEW.commission_id, NEW.refund_id, NEW.amount_minor)
       IS DISTINCT FROM (OLD.id, OLD.payout_id, OLD.commission_id, OLD.refund_id, OLD.amount_minor)
       OR (NEW.active IS DISTINCT FROM OLD.active
           AND NOT (OLD.active AND NOT NEW.active
                    AND EXISTS (SELECT 1 FROM payouts p WHERE p.id = OLD.payout_id
                                AND p.state IN ('failed', 'cancelled')))) THEN
        RAISE EXCEPTION 'a payout item never changes; it is released only with its failed or cancelled payout';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER payout_items_guard BEFORE INSERT OR UPDATE OR DELETE ON payout_items
FOR EACH ROW EXECUTE FUNCTION tandem_payout_item_guard();

CREATE FUNCTION tandem_payouts_no_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% rows are never removed', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER payout_runs_no_truncate BEFORE TRUNCATE ON payout_runs
FOR EACH STATEMENT EXECUTE FUNCTION tandem_payouts_no_truncate();
CREATE TRIGGER payouts_no_truncate BEFORE TRUNCATE ON payouts
FOR EACH STATEMENT EXECUTE FUNCTION tandem_payouts_no_truncate();
CREATE TRIGGER payout_items_no_truncate BEFORE TRUNCATE ON payout_items
FOR EACH STATEMENT EXECUTE FUNCTION tandem_payouts_no_truncate();
