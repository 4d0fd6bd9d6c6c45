-- On SQLite the click commits no longer add to link_daily themselves (one upsert and one more
-- page written per commit, ~5 % of a redirect's CPU): a background job (jobs::rollup) folds
-- committed clicks into it in chunks, and readers add the clicks after its mark
-- (db::links::daily_of). SQLite only: click row ids there are given in commit order (the
-- largest plus one, under the write lock), so "every click up to this id" is a complete set;
-- PostgreSQL's come from a sequence in blocks, out of commit order, and its click commits
-- keep adding to link_daily themselves.
CREATE TABLE click_rollup (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- link_daily holds every click with a row id up to this one, and none after it.
    through_id BIGINT NOT NULL
);
-- Until now every commit added its clicks to link_daily: all of them are in.
INSERT INTO click_rollup (id, through_id) SELECT 1, coalesce(max(id), 0) FROM clicks;
