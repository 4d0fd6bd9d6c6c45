PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TABLE clicks_old (
    id INTEGER PRIMARY KEY,
    click_id TEXT NOT NULL UNIQUE,
    link_id BIGINT NOT NULL REFERENCES links(id),
    stream_id BIGINT,
    created_at TIMESTAMP NOT NULL,
    ip_hash TEXT NOT NULL,
    ua_hash TEXT NOT NULL,
    referrer_host TEXT,
    is_bot BOOLEAN NOT NULL,
    is_repeat BOOLEAN NOT NULL
);
INSERT INTO clicks_old (id, click_id, link_id, stream_id, created_at, ip_hash, ua_hash,
                        referrer_host, is_bot, is_repeat)
SELECT id, click_id, link_id, stream_id, created_at, ip_hash, ua_hash, referrer_host,
       is_bot, is_repeat
FROM clicks;
DROP TABLE clicks;
ALTER TABLE clicks_old RENAME TO clicks;
CREATE INDEX clicks_visitor ON clicks (link_id, ip_hash, ua_hash, created_at);
COMMIT;
PRAGMA foreign_keys = ON;
