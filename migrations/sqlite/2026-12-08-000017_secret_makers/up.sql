-- Issue 27 §4: integration secrets are the owner's. Who made each postback secret and who
-- last saved the Shopify webhook secret (and when), so that when the owner removes a team
-- member Tandem can say which secrets that person knows. NULL: made before this was kept
-- (by anyone who was on the team then).
ALTER TABLE postback_secrets ADD COLUMN created_by BIGINT;
ALTER TABLE merchants ADD COLUMN shopify_secret_set_by BIGINT;
ALTER TABLE merchants ADD COLUMN shopify_secret_set_at TIMESTAMP;
