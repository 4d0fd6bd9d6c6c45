-- Issue 15: payouts. A schedule (cron in a time zone, a currency, a minimum) makes runs;
-- a run, keyed by (schedule, fire time), holds one payout per influencer; a payout lists
-- what it settles, one item per commission or clawback. The partial unique indexes make
-- "settled by at most one payout" a property of the database: an item stops counting
-- (active false) only when its payout fails or is cancelled, which returns the money.
CREATE TABLE payout_schedules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    cron TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    currency TEXT NOT NULL,
    minimum_minor BIGINT NOT NULL CHECK (minimum_minor >= 0),
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    -- The latest fire time the scheduler has run (missed slots before it are caught up).
    last_fire_at TIMESTAMP
);

CREATE TABLE payout_runs (
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

CREATE TABLE payouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id BIGINT NOT NULL REFERENCES payout_runs(id),
    influencer_id BIGINT NOT NULL REFERENCES influencers(id),
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    state TEXT NOT NULL CHECK (state IN ('draft', 'approved', 'exported', 'paid', 'failed', 'cancelled')),
    method TEXT NOT NULL,
    reference TEXT,
    failure_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (run_id, influencer_id)
);
CREATE INDEX payouts_influencer ON payouts (influencer_id, created_at);

CREATE TABLE payout_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payout_id BIGINT NOT NULL REFERENCES payouts(id),
    commission_id BIGINT REFERENCES commissions(id),
    refund_id BIGINT REFERENCES refunds(id),
    amount_minor BIGINT NOT NULL,
    active BOOLEAN NOT NULL,
    CHECK ((commission_id IS NULL) <> (refund_id IS NULL))
);
CREATE INDEX payout_items_payout ON payout_items (payout_id);
CREATE UNIQUE INDEX payout_items_commission ON payout_items (commission_id) WHERE active = 1;
CREATE UNIQUE INDEX payout_items_refund ON payout_items (refund_id) WHERE active = 1;

-- Who a run left out, and why (shown on their earnings page).
CREATE TABLE payout_exclusions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id BIGINT NOT NULL REFERENCES payout_runs(id),
    influencer_id BIGINT NOT NULL REFERENCES influencers(id),
    currency TEXT NOT NULL,
    available_minor BIGINT NOT NULL,
    reason TEXT NOT NULL,
    UNIQUE (run_id, influencer_id)
);
