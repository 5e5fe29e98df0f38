-- +goose Up
CREATE TABLE emergency_contacts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint      NOT NULL CHECK (user_id > 0),
    contact_name  text        NOT NULL,
    contact_phone text        NOT NULL,
    relation      text CHECK (relation IN ('spouse', 'parent', 'sibling', 'child', 'relative', 'friend', 'colleague', 'other')),
    is_primary    boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT emergency_contacts_user_phone_key UNIQUE (user_id, contact_phone)
);
-- At most one primary contact per user, whatever the application does.
CREATE UNIQUE INDEX emergency_contacts_one_primary ON emergency_contacts (user_id) WHERE is_primary;

-- +goose Down
DROP TABLE emergency_contacts;
