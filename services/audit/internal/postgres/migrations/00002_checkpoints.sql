-- +goose Up
-- Signed checkpoints of the chain's head. The signature (Vault transit key
-- audit-chain, which only the audit service may use) covers seq and hash, so a
-- database owner can neither forge a checkpoint nor cut the chain's tail below
-- one unnoticed.
CREATE TABLE audit_checkpoints (
    seq         bigint PRIMARY KEY,
    hash        bytea       NOT NULL,
    key_version integer     NOT NULL,
    signature   bytea       NOT NULL,
    signed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER audit_checkpoints_no_update_delete BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- +goose StatementBegin
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT DISTINCT grantee FROM information_schema.role_table_grants
             WHERE table_schema = current_schema() AND table_name = 'audit_checkpoints'
               AND privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE') AND grantee <> current_user
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON audit_checkpoints FROM %I', r.grantee);
    END LOOP;
END
$$;
-- +goose StatementEnd

ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_checkpoints_read ON audit_checkpoints FOR SELECT
    USING (app_has_role('auditor', 'admin') OR app_purpose() IN ('system', 'admin'));
CREATE POLICY audit_checkpoints_append ON audit_checkpoints FOR INSERT
    WITH CHECK (app_purpose() = 'system');

-- +goose Down
DROP TABLE audit_checkpoints;
