-- Lookups the API makes on every request of its kind.
CREATE INDEX messages_recipient_idx ON messages (recipient_id, id DESC);
CREATE INDEX messages_sender_idx ON messages (sender_id, id DESC);
CREATE INDEX rsvps_attendee_idx ON rsvps (attendee_id);
CREATE INDEX sessions_starts_idx ON sessions (starts_at);
