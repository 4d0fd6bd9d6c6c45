CREATE INDEX clicks_link_time ON clicks (link_id, created_at);
