-- Clicks are the hot table: every redirect inserts one. Two costs per insert go:
-- * AUTOINCREMENT, which writes sqlite_sequence on every insert. Clicks are never deleted,
--   so a plain INTEGER PRIMARY KEY (max + 1) never reuses an id either.
-- * clicks_link_time: every "clicks of a link" query is served by clicks_visitor, which
--   starts with link_id; the dashboards read link_daily.
-- SQLite cannot drop AUTOINCREMENT in place, so the table is rebuilt (ids kept).
CREATE TABLE clicks_lean (
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
INSERT INTO clicks_lean (id, click_id, link_id, stream_id, created_at, ip_hash, ua_hash,
                         referrer_host, is_bot, is_repeat)
SELECT id, click_id, link_id, stream_id, created_at, ip_hash, ua_hash, referrer_host,
       is_bot, is_repeat
FROM clicks;
DROP TABLE clicks;
ALTER TABLE clicks_lean RENAME TO clicks;
CREATE INDEX clicks_visitor ON clicks (link_id, ip_hash, ua_hash, created_at);
