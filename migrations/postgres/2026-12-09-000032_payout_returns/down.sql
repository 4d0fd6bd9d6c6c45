-- Back to payouts before the returned state, and settle journals of two lines (fails while
-- a payout is returned).
-- Settle journals back to their two lines (see the SQLite down migration).
ALTER TABLE entries DISABLE TRIGGER entries_append_only;
DELETE FROM entries
WHERE journal_id IN (SELECT id FROM journals WHERE kind = 'payout_settle')
  AND account_id IN (SELECT id FROM ledger_accounts
                     WHERE owner_kind = 'platform' AND kind IN ('cash', 'paid_out'));
ALTER TABLE entries ENABLE TRIGGER entries_append_only;
UPDATE ledger_balances SET balance_minor = (
    SELECT coalesce(sum(e.amount_minor), 0) FROM entries e
    WHERE e.account_id = ledger_balances.account_id)
WHERE account_id IN (SELECT id FROM ledger_accounts
                     WHERE owner_kind = 'platform' AND kind IN ('cash', 'paid_out'));
DELETE FROM ledger_balances
WHERE account_id IN (SELECT a.id FROM ledger_accounts a WHERE a.kind = 'paid_out'
                     AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.account_id = a.id));
ALTER TABLE ledger_accounts DISABLE TRIGGER ledger_accounts_written_once;
DELETE FROM ledger_accounts
WHERE kind = 'paid_out' AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.account_id = ledger_accounts.id);
ALTER TABLE ledger_accounts ENABLE TRIGGER ledger_accounts_written_once;

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

CREATE OR REPLACE FUNCTION tandem_payout_item_guard() RETURNS trigger AS $$
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
ALTER TABLE payouts DROP COLUMN returned_at;
ALTER TABLE payouts DROP COLUMN returned_reason;
ALTER TABLE payouts DROP CONSTRAINT payouts_state_check;
ALTER TABLE payouts ADD CONSTRAINT payouts_state_check
    CHECK (state IN ('draft', 'approved', 'exported', 'paid', 'failed', 'cancelled'));
