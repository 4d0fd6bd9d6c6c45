DROP INDEX shopify_webhooks_recent;
ALTER TABLE shopify_webhooks DROP COLUMN subject;
ALTER TABLE shopify_webhooks DROP COLUMN detail;
ALTER TABLE shopify_webhooks DROP COLUMN outcome;
DROP TABLE order_ids;
DROP TRIGGER campaign_events_no_delete;
DROP TRIGGER campaign_events_no_update;
DROP TABLE campaign_events;
