-- Converge-NPS core schema: attendees, sessions, RSVPs, QR connections, messages.
CREATE TABLE attendees (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL UNIQUE CHECK (email = lower(email)),
    name          text NOT NULL,
    password_hash text NOT NULL,
    qr_code       text NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id        bigserial PRIMARY KEY,
    title     text NOT NULL,
    speaker   text NOT NULL,
    room      text NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at   timestamptz NOT NULL CHECK (ends_at > starts_at),
    capacity  integer NOT NULL CHECK (capacity > 0)
);

CREATE TABLE rsvps (
    session_id  bigint NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    attendee_id bigint NOT NULL REFERENCES attendees (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, attendee_id)
);

CREATE TABLE connections (
    id           bigserial PRIMARY KEY,
    attendee_id  bigint NOT NULL REFERENCES attendees (id) ON DELETE CASCADE,
    connected_id bigint NOT NULL REFERENCES attendees (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (attendee_id, connected_id),
    CHECK (attendee_id <> connected_id)
);

CREATE TABLE messages (
    id           bigserial PRIMARY KEY,
    sender_id    bigint NOT NULL REFERENCES attendees (id) ON DELETE CASCADE,
    recipient_id bigint NOT NULL REFERENCES attendees (id) ON DELETE CASCADE,
    body         text NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    created_at   timestamptz NOT NULL DEFAULT now()
);
