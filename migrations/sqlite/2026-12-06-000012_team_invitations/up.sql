-- Issue 20: the owner of a merchant organisation invites teammates by email. The link
-- carries a random single-use token; only its SHA-256 is stored, so a copy of the table
-- lets nobody join.
CREATE TABLE team_invitations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    email TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    invited_by BIGINT NOT NULL REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    -- Set once, when the invitee joins (user_id) or the owner revokes it.
    accepted_at TIMESTAMP,
    user_id BIGINT REFERENCES users(id),
    revoked_at TIMESTAMP
);
CREATE INDEX team_invitations_merchant ON team_invitations (merchant_id, created_at);
