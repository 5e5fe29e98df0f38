-- +goose Up
CREATE TABLE devices (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint      NOT NULL CHECK (user_id > 0),
    imei           text,
    android_id     text,
    advertising_id text,
    sim_serial     text,
    device_model   text,
    os_version     text,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT devices_identifier_present CHECK (num_nonnulls(imei, android_id, advertising_id) > 0)
);
-- An IMEI belongs to one user; the softer identifiers are unique per user.
CREATE UNIQUE INDEX devices_imei_key ON devices (imei);
CREATE UNIQUE INDEX devices_user_android_id_key ON devices (user_id, android_id);
CREATE UNIQUE INDEX devices_user_advertising_id_key ON devices (user_id, advertising_id);
CREATE INDEX devices_user_id_idx ON devices (user_id);

-- +goose Down
DROP TABLE devices;
