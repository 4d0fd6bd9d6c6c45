-- The clicks not yet rolled up go into link_daily first: the earlier code adds each commit's
-- clicks to it and would never add these.
INSERT INTO link_daily (link_id, day, clicks, unique_clicks, bot_clicks)
SELECT link_id, substr(created_at, 1, 10), count(*),
       sum(CASE WHEN is_bot = 0 AND is_repeat = 0 THEN 1 ELSE 0 END),
       sum(CASE WHEN is_bot <> 0 THEN 1 ELSE 0 END)
FROM clicks
WHERE id > (SELECT through_id FROM click_rollup)
GROUP BY link_id, substr(created_at, 1, 10)
ON CONFLICT (link_id, day) DO UPDATE SET
    clicks = clicks + excluded.clicks,
    unique_clicks = unique_clicks + excluded.unique_clicks,
    bot_clicks = bot_clicks + excluded.bot_clicks;
DROP TABLE click_rollup;
