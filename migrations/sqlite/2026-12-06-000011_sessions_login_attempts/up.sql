-- Issue 19: sessions kept on the server (logout and "sign out other sessions" end them at
-- once), and login attempts recorded before the password is checked, with the client's
-- address salted and hashed.

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id),
    -- SHA-256 of the random token in the cookie: a copy of the table opens no session.
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    user_agent TEXT NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX sessions_user ON sessions (user_id, revoked_at);

-- Attempts so far held raw addresses; they only matter for 15 minutes.
DELETE FROM login_attempts;
-- A pending attempt is being checked: it counts against the limits, so concurrent guesses
-- cannot pass them.
ALTER TABLE login_attempts ADD COLUMN pending BOOLEAN NOT NULL DEFAULT 0;
CREATE INDEX login_attempts_email_ip ON login_attempts (email, ip, created_at);
CREATE INDEX login_attempts_time ON login_attempts (created_at);
