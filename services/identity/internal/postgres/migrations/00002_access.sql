-- +goose Up
-- Row-level security: a request sees only its caller's row, staff see all, and the
-- login and registration code paths declare their purpose. A query without a
-- caller context sees nothing.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_read ON users FOR SELECT
    USING (id = app_user_id() OR app_has_role('ops', 'admin') OR app_purpose() IN ('register', 'login', 'admin'));
CREATE POLICY users_register ON users FOR INSERT
    WITH CHECK (app_purpose() = 'register');
CREATE POLICY users_update ON users FOR UPDATE
    USING (id = app_user_id() OR app_has_role('admin') OR app_purpose() IN ('login', 'admin'))
    WITH CHECK (id = app_user_id() OR app_has_role('admin') OR app_purpose() IN ('login', 'admin'));

-- One live login code per user, stored only as Vault's keyed hash (vault:vN:…).
CREATE TABLE otp_codes (
    user_id     bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    code_hmac   text        NOT NULL,
    expires_at  timestamptz NOT NULL,
    attempts    integer     NOT NULL DEFAULT 0,
    consumed_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE otp_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE otp_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY otp_codes_login ON otp_codes USING (app_purpose() = 'login') WITH CHECK (app_purpose() = 'login');

-- Opaque refresh tokens, stored as SHA-256; rotated on use within a family.
CREATE TABLE refresh_tokens (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    family_id   uuid        NOT NULL,
    user_id     bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea       NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY refresh_tokens_login ON refresh_tokens USING (app_purpose() = 'login') WITH CHECK (app_purpose() = 'login');

-- Sliding-window rate limits shared by every replica; keys are keyed hashes.
CREATE TABLE rate_limit_hits (
    key text        NOT NULL,
    at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rate_limit_hits_key_at_idx ON rate_limit_hits (key, at);
ALTER TABLE rate_limit_hits ENABLE ROW LEVEL SECURITY;
ALTER TABLE rate_limit_hits FORCE ROW LEVEL SECURITY;
CREATE POLICY rate_limit_hits_login ON rate_limit_hits USING (app_purpose() = 'login') WITH CHECK (app_purpose() = 'login');

-- +goose Down
DROP TABLE rate_limit_hits;
DROP TABLE refresh_tokens;
DROP TABLE otp_codes;
DROP POLICY users_update ON users;
DROP POLICY users_register ON users;
DROP POLICY users_read ON users;
ALTER TABLE users NO FORCE ROW LEVEL SECURITY;
ALTER TABLE users DISABLE ROW LEVEL SECURITY;
