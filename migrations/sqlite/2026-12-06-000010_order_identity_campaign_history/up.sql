-- Issue 18, items 3-5: a campaign's state history (attribution asks what the state was at the
-- order time), every id an order is known by (one order, whichever channel reports it), and
-- what became of each Shopify delivery.

CREATE TABLE campaign_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    from_state TEXT,
    to_state TEXT NOT NULL CHECK (to_state IN ('draft', 'active', 'paused', 'ended')),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX campaign_events_campaign ON campaign_events (campaign_id, created_at);

-- The history so far: created as a draft; then each state change the audit log recorded
-- ("active -> paused"); a campaign whose recorded changes do not reach its state (rows made
-- before the audit log) moved to it when it was last updated.
INSERT INTO campaign_events (campaign_id, from_state, to_state, created_at)
SELECT id, NULL, 'draft', created_at FROM campaigns;
INSERT INTO campaign_events (campaign_id, from_state, to_state, created_at)
SELECT subject_id,
       substr(detail, 1, instr(detail, ' -> ') - 1),
       substr(detail, instr(detail, ' -> ') + 4),
       created_at
FROM audit_events
WHERE action = 'campaign.state' AND subject_type = 'campaign'
  AND subject_id IN (SELECT id FROM campaigns)
  AND substr(detail, instr(detail, ' -> ') + 4) IN ('draft', 'active', 'paused', 'ended')
ORDER BY id;
INSERT INTO campaign_events (campaign_id, from_state, to_state, created_at)
SELECT c.id, NULL, c.state, c.updated_at FROM campaigns c
WHERE c.state <> (SELECT e.to_state FROM campaign_events e WHERE e.campaign_id = c.id
                  ORDER BY e.created_at DESC, e.id DESC LIMIT 1);

CREATE TRIGGER campaign_events_no_update BEFORE UPDATE ON campaign_events
BEGIN SELECT RAISE(ABORT, 'a campaign''s history is never changed'); END;
CREATE TRIGGER campaign_events_no_delete BEFORE DELETE ON campaign_events
BEGIN SELECT RAISE(ABORT, 'a campaign''s history is never changed'); END;

-- Every id an order is known by, normalised (spaces and a leading '#' dropped: Shopify's
-- name "#1001" is its order_number 1001), unique per merchant across channels.
CREATE TABLE order_ids (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    conversion_id BIGINT NOT NULL REFERENCES conversions(id),
    alias TEXT NOT NULL,
    UNIQUE (merchant_id, alias)
);
CREATE INDEX order_ids_conversion ON order_ids (conversion_id);
INSERT OR IGNORE INTO order_ids (merchant_id, conversion_id, alias)
SELECT merchant_id, id, CASE WHEN trim(order_id) LIKE '#%' THEN trim(substr(trim(order_id), 2))
                             ELSE trim(order_id) END
FROM conversions ORDER BY id;

-- What became of each Shopify delivery: recorded, duplicate, conflict, rejected (with why),
-- ignored; and the order or refund it was about.
ALTER TABLE shopify_webhooks ADD COLUMN outcome TEXT NOT NULL DEFAULT 'recorded';
ALTER TABLE shopify_webhooks ADD COLUMN detail TEXT NOT NULL DEFAULT '';
ALTER TABLE shopify_webhooks ADD COLUMN subject TEXT NOT NULL DEFAULT '';
CREATE INDEX shopify_webhooks_recent ON shopify_webhooks (merchant_id, received_at);
