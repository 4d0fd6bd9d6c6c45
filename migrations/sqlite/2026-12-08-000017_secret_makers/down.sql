ALTER TABLE merchants DROP COLUMN shopify_secret_set_at;
ALTER TABLE merchants DROP COLUMN shopify_secret_set_by;
ALTER TABLE postback_secrets DROP COLUMN created_by;
