-- +goose Up
-- Event handling (an erased user's contacts are deleted) acts for no caller; it
-- declares the system purpose.
CREATE POLICY emergency_contacts_system ON emergency_contacts USING (app_purpose() = 'system');

-- +goose Down
DROP POLICY emergency_contacts_system ON emergency_contacts;
