-- +goose Up
-- The audit trail: one row per event, in arrival order, gap-free seq, each row's
-- hash covering the previous row's hash and the row's canonical form. Append-only.
CREATE TABLE audit_log (
    seq             bigint PRIMARY KEY CHECK (seq > 0),
    event_id        uuid        NOT NULL UNIQUE,
    type            text        NOT NULL,
    service         text        NOT NULL,
    actor_id        bigint,
    actor_roles     text[]      NOT NULL DEFAULT '{}',
    subject_user_id bigint,
    occurred_at     timestamptz NOT NULL,
    trace_id        text,
    client_ip       text,
    fields          text[]      NOT NULL DEFAULT '{}',
    refs            jsonb       NOT NULL DEFAULT '{}',
    attrs           jsonb       NOT NULL DEFAULT '{}',
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    prev_hash       bytea       NOT NULL,
    hash            bytea       NOT NULL
);
CREATE INDEX audit_log_subject_idx ON audit_log (subject_user_id, seq);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, seq);
CREATE INDEX audit_log_type_idx ON audit_log (type, seq);

-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- The serving role may only add and read: take back what default privileges gave.
-- +goose StatementBegin
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT DISTINCT grantee FROM information_schema.role_table_grants
             WHERE table_schema = current_schema() AND table_name = 'audit_log'
               AND privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE') AND grantee <> current_user
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM %I', r.grantee);
    END LOOP;
END
$$;
-- +goose StatementEnd

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_read ON audit_log FOR SELECT
    USING (app_has_role('auditor', 'admin') OR app_purpose() IN ('system', 'admin'));
CREATE POLICY audit_log_append ON audit_log FOR INSERT
    WITH CHECK (app_purpose() = 'system');

-- +goose Down
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
