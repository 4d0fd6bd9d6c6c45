ALTER TABLE clicks ADD CONSTRAINT clicks_click_id_key UNIQUE (click_id);
