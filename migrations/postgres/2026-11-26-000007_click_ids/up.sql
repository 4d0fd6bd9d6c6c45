-- A click id now starts with its row id (domain::links::click_id_for), so a lookup by click
-- id is a primary-key seek and clicks need no unique index on click_id: one index less to
-- maintain on the hottest insert. Row ids stay unique, so click ids do too.
ALTER TABLE clicks DROP CONSTRAINT clicks_click_id_key;
