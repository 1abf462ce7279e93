-- The log's events become narrow rows (seq, workspace, message id, profile: what the indexes
-- find them by) and their bodies move into compressed blocks of up to 500 consecutive events
-- (src/blocks.rs has the format). A row of fifteen columns an event cost SQLite's writer as
-- much as the rest of an import together.
--
-- Each old row's body becomes a block of its own, as a JSON array that src/blocks.rs reads
-- (the structured fields stay JSON texts).
CREATE TABLE event_blocks (
    first_seq INTEGER PRIMARY KEY,
    body BLOB NOT NULL
);
INSERT INTO event_blocks (first_seq, body)
    SELECT seq, CAST(json_array(kind, name, anonymous_id, user_id, previous_id, group_id,
        timestamp, received_at, properties, traits, context) AS BLOB)
    FROM events;

CREATE TABLE narrow_events (
    seq INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    profile_id INTEGER
);
INSERT INTO narrow_events (seq, workspace_id, message_id, profile_id)
    SELECT seq, workspace_id, message_id, profile_id FROM events;
DROP TABLE events;
ALTER TABLE narrow_events RENAME TO events;
CREATE UNIQUE INDEX events_message ON events (message_id, workspace_id);
CREATE INDEX events_profile ON events (profile_id, seq) WHERE profile_id IS NOT NULL;
