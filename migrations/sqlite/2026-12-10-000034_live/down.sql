DROP INDEX conversions_stream_time;
DROP TABLE stream_minutes;
ALTER TABLE streams DROP COLUMN ended_at;
ALTER TABLE streams DROP COLUMN started_at;
