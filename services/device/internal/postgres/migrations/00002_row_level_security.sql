-- +goose Up
-- A request sees and writes only its caller's devices; staff see all. A query
-- without a caller context sees nothing.
ALTER TABLE devices ENABLE ROW LEVEL SECURITY;
ALTER TABLE devices FORCE ROW LEVEL SECURITY;
CREATE POLICY devices_owner_or_staff ON devices
    USING (user_id = app_user_id() OR app_has_role('ops', 'admin'))
    WITH CHECK (user_id = app_user_id() OR app_has_role('ops', 'admin'));

-- +goose Down
DROP POLICY devices_owner_or_staff ON devices;
ALTER TABLE devices NO FORCE ROW LEVEL SECURITY;
ALTER TABLE devices DISABLE ROW LEVEL SECURITY;
