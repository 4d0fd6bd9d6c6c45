DROP INDEX login_attempts_time;
DROP INDEX login_attempts_email_ip;
ALTER TABLE login_attempts DROP COLUMN pending;
DROP TABLE sessions;
