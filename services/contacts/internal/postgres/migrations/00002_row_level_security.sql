-- +goose Up
-- A request sees and writes only its caller's contacts; staff see all. A query
-- without a caller context sees nothing.
ALTER TABLE emergency_contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE emergency_contacts FORCE ROW LEVEL SECURITY;
CREATE POLICY emergency_contacts_owner_or_staff ON emergency_contacts
    USING (user_id = app_user_id() OR app_has_role('ops', 'admin'))
    WITH CHECK (user_id = app_user_id() OR app_has_role('ops', 'admin'));

-- +goose Down
DROP POLICY emergency_contacts_owner_or_staff ON emergency_contacts;
ALTER TABLE emergency_contacts NO FORCE ROW LEVEL SECURITY;
ALTER TABLE emergency_contacts DISABLE ROW LEVEL SECURITY;
