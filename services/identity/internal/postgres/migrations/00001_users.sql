-- +goose Up
CREATE TABLE users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text        NOT NULL,
    phone          text        NOT NULL,
    email          text        NOT NULL,
    dob            date,
    gender         text CHECK (gender IN ('male', 'female')),
    national_id    text,
    phone_verified boolean     NOT NULL DEFAULT false,
    roles          text[]      NOT NULL DEFAULT '{customer}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_phone_key UNIQUE (phone),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_national_id_key UNIQUE (national_id)
);

-- +goose Down
DROP TABLE users;
