DROP INDEX clicks_visitor;
CREATE INDEX clicks_visitor ON clicks (link_id, ip_hash, ua_hash, created_at);
ALTER TABLE clicks DROP COLUMN visitor_key;
ALTER TABLE clicks ADD CONSTRAINT clicks_click_id_key UNIQUE (click_id);
