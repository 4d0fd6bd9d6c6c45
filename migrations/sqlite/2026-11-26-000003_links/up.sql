-- Streams, stream links and the clicks they record (with daily rollups per link).

CREATE TABLE streams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    influencer_id BIGINT NOT NULL REFERENCES influencers(id),
    title TEXT NOT NULL,
    platform TEXT NOT NULL,
    scheduled_at TIMESTAMP,
    published_url TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX streams_influencer ON streams (influencer_id);

CREATE TABLE links (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL UNIQUE,
    collaboration_id BIGINT NOT NULL REFERENCES collaborations(id),
    influencer_id BIGINT NOT NULL REFERENCES influencers(id),
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    product_id BIGINT REFERENCES products(id),
    stream_id BIGINT REFERENCES streams(id),
    destination TEXT NOT NULL,
    label TEXT NOT NULL,
    disabled_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX links_influencer ON links (influencer_id);
CREATE INDEX links_collaboration ON links (collaboration_id);

CREATE TABLE clicks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
CREATE INDEX clicks_link_time ON clicks (link_id, created_at);
CREATE INDEX clicks_visitor ON clicks (link_id, ip_hash, ua_hash, created_at);

CREATE TABLE link_daily (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    link_id BIGINT NOT NULL REFERENCES links(id),
    day TEXT NOT NULL,
    clicks BIGINT NOT NULL,
    unique_clicks BIGINT NOT NULL,
    bot_clicks BIGINT NOT NULL,
    UNIQUE (link_id, day)
);
