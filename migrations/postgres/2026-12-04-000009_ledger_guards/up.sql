-- What the database refuses (DESIGN.md §3 "Ledger"), so that a change behind the app's back
-- fails here instead of waiting for `tandem ledger check` to find it. (PostgreSQL has no
-- REPLACE; entries and journals are append-only since the orders_ledger migration.) Run the
-- app under a role that does not own the tables (README, "PostgreSQL in production"), so it
-- cannot DISABLE TRIGGER.

-- Commissions: money, currency, owners and references never change; the state moves only
-- along the lifecycle's edges.
CREATE FUNCTION tandem_commission_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'commissions are never deleted';
    END IF;
    IF (NEW.id, NEW.conversion_id, NEW.merchant_id, NEW.influencer_id, NEW.campaign_id,
        NEW.collaboration_id, NEW.currency, NEW.amount_minor, NEW.fee_bps, NEW.fee_minor,
        NEW.rule_version_id, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.conversion_id, OLD.merchant_id, OLD.influencer_id, OLD.campaign_id,
        OLD.collaboration_id, OLD.currency, OLD.amount_minor, OLD.fee_bps, OLD.fee_minor,
        OLD.rule_version_id, OLD.created_at) THEN
        RAISE EXCEPTION 'a commission''s amounts, currency, owners and references never change';
    END IF;
    IF NEW.state IS DISTINCT FROM OLD.state AND (OLD.state || '>' || NEW.state) NOT IN (
        'pending>available', 'pending>frozen',
        'frozen>pending', 'frozen>rejected',
        'available>in_payout', 'available>frozen',
        'in_payout>paid', 'in_payout>available',
        'paid>available') THEN
        RAISE EXCEPTION 'a commission''s state moves only along its lifecycle (not % to %)',
            OLD.state, NEW.state;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER commissions_guard BEFORE UPDATE OR DELETE ON commissions
FOR EACH ROW EXECUTE FUNCTION tandem_commission_guard();

-- Refunds, their lines and ledger accounts are written once.
CREATE FUNCTION tandem_written_once() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% rows are never changed', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER refunds_written_once BEFORE UPDATE OR DELETE ON refunds
FOR EACH ROW EXECUTE FUNCTION tandem_written_once();
CREATE TRIGGER refund_lines_written_once BEFORE UPDATE OR DELETE ON refund_lines
FOR EACH ROW EXECUTE FUNCTION tandem_written_once();
CREATE TRIGGER ledger_accounts_written_once BEFORE UPDATE OR DELETE ON ledger_accounts
FOR EACH ROW EXECUTE FUNCTION tandem_written_once();
CREATE TRIGGER commissions_no_truncate BEFORE TRUNCATE ON commissions
FOR EACH STATEMENT EXECUTE FUNCTION tandem_written_once();
CREATE TRIGGER refunds_no_truncate BEFORE TRUNCATE ON refunds
FOR EACH STATEMENT EXECUTE FUNCTION tandem_written_once();
CREATE TRIGGER refund_lines_no_truncate BEFORE TRUNCATE ON refund_lines
FOR EACH STATEMENT EXECUTE FUNCTION tandem_written_once();
CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts
FOR EACH STATEMENT EXECUTE FUNCTION tandem_written_once();
