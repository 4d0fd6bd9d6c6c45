DROP TABLE audit_events;
DROP TABLE outbox_emails;
DROP TABLE login_attempts;
DROP TABLE password_resets;
DROP TABLE influencers;
DROP TABLE merchant_members;
DROP TABLE merchants;
DROP TABLE users;
