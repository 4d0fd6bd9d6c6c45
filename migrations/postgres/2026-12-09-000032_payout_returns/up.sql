-- Issue 28, merchant billing: payouts draw on cash, and a paid payout the bank returns
-- becomes 'returned' (DESIGN.md §3 Payouts). See the SQLite migration for the why of each
-- part.

-- 1. Payouts draw on cash. A settle journal now posts four lines: the creator's in payout
-- and paid, and the platform's cash (credited: the money left) and paid_out (debited: the
-- mirror of the creators' paid). Settle journals written before have only the first two:
-- their two missing entries are appended here (entries are append-only; inserting is what
-- they allow), with the platform's accounts created where missing, so that the ledger check
-- can require the four-line shape of every settle journal. The entries_balance trigger
-- (stats migration) fires for each inserted row and keeps ledger_balances right.
INSERT INTO ledger_accounts (owner_kind, owner_id, kind, currency)
SELECT DISTINCT 'platform', 0, k.kind, j.currency
FROM journals j, (SELECT 'cash' AS kind UNION ALL SELECT 'paid_out' AS kind) k
WHERE j.kind = 'payout_settle'
  AND NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.owner_kind = 'platform'
                  AND a.owner_id = 0 AND a.kind = k.kind AND a.currency = j.currency);
-- What each settled: its in payout entry (+A, the creator's in payout debited). Cash -A.
INSERT INTO entries (journal_id, account_id, amount_minor)
SELECT j.id, pa.id, -e.amount_minor
FROM journals j
JOIN entries e ON e.journal_id = j.id
JOIN ledger_accounts ia ON ia.id = e.account_id AND ia.owner_kind = 'influencer' AND ia.kind = 'in_payout'
JOIN ledger_accounts pa ON pa.owner_kind = 'platform' AND pa.owner_id = 0 AND pa.kind = 'cash'
  AND pa.currency = j.currency
WHERE j.kind = 'payout_settle'
  AND NOT EXISTS (SELECT 1 FROM entries x JOIN ledger_accounts xa ON xa.id = x.account_id
                  WHERE x.journal_id = j.id AND xa.owner_kind = 'platform' AND xa.kind = 'cash')
ORDER BY j.id;
-- Paid out +A.
INSERT INTO entries (journal_id, account_id, amount_minor)
SELECT j.id, pa.id, e.amount_minor
FROM journals j
JOIN entries e ON e.journal_id = j.id
JOIN ledger_accounts ia ON ia.id = e.account_id AND ia.owner_kind = 'influencer' AND ia.kind = 'in_payout'
JOIN ledger_accounts pa ON pa.owner_kind = 'platform' AND pa.owner_id = 0 AND pa.kind = 'paid_out'
  AND pa.currency = j.currency
WHERE j.kind = 'payout_settle'
  AND NOT EXISTS (SELECT 1 FROM entries x JOIN ledger_accounts xa ON xa.id = x.account_id
                  WHERE x.journal_id = j.id AND xa.owner_kind = 'platform' AND xa.kind = 'paid_out')
ORDER BY j.id;

-- 2. The returned state, with its own reason and time (failure_reason stays why a payout
-- was never paid; a returned payout was paid, and keeps its reference).
ALTER TABLE payouts DROP CONSTRAINT payouts_state_check;
ALTER TABLE payouts ADD CONSTRAINT payouts_state_check
    CHECK (state IN ('draft', 'approved', 'exported', 'paid', 'failed', 'cancelled', 'returned'));
ALTER TABLE payouts ADD COLUMN returned_reason TEXT;
ALTER TABLE payouts ADD COLUMN returned_at TIMESTAMP;

CREATE OR REPLACE FUNCTION tandem_payout_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'payouts are never deleted';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.state IS DISTINCT FROM 'draft' OR NEW.reference IS NOT NULL
           OR NEW.failure_reason IS NOT NULL
           OR NEW.returned_reason IS NOT NULL OR NEW.returned_at IS NOT NULL
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
           AND NOT (OLD.failure_reason IS NULL AND NEW.state = 'failed' AND OLD.state <> 'failed'))
       OR ((NEW.returned_reason, NEW.returned_at) IS DISTINCT FROM (OLD.returned_reason, OLD.returned_at)
           AND NOT (OLD.returned_reason IS NULL AND OLD.returned_at IS NULL
                    AND NEW.returned_reason IS NOT NULL AND NEW.returned_at IS NOT NULL
                    AND OLD.state = 'paid' AND NEW.state = 'returned')) THEN
        RAISE EXCEPTION 'a payout''s amount, currency, creator, run and destination never change once planned';
    END IF;
    IF NEW.state IS DISTINCT FROM OLD.state AND (OLD.state || '>' || NEW.state) NOT IN (
        'draft>approved', 'draft>cancelled', 'approved>exported', 'exported>paid',
        'exported>failed', 'paid>returned') THEN
        RAISE EXCEPTION 'a payout''s state moves only along its lifecycle (not % to %)',
            OLD.state, NEW.state;
    END IF;
    IF NEW.state = 'returned' AND OLD.state IS DISTINCT FROM 'returned'
       AND (NEW.returned_reason IS NULL OR btrim(NEW.returned_reason) = ''
            OR NEW.returned_at IS NULL) THEN
        RAISE EXCEPTION 'a returned payout says why and when';
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
                                AND p.state IN ('failed', 'cancelled', 'returned')))) THEN
        RAISE EXCEPTION 'a payout item never changes; it is released only with its failed, cancelled or returned payout';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
