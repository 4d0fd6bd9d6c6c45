DROP INDEX shopify_webhooks_recent;
ALTER TABLE shopify_webhooks DROP COLUMN subject;
ALTER TABLE shopify_webhooks DROP COLUMN detail;
ALTER TABLE shopify_webhooks DROP COLUMN outcome;
DROP TABLE order_ids;
DROP TRIGGER campaign_events_fixed ON campaign_events;
DROP FUNCTION tandem_campaign_events_fixed();
DROP TABLE campaign_events;
