-- +goose Up
-- Event handling (an erased user's devices are deleted) acts for no caller; it
-- declares the system purpose.
CREATE POLICY devices_system ON devices USING (app_purpose() = 'system');

-- +goose Down
DROP POLICY devices_system ON devices;
