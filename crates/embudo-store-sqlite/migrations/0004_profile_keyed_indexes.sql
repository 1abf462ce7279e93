-- Keys that led with the workspace id lead with a column that tells rows apart. Nearly every
-- database holds one workspace, so a leading workspace id compared equal at every step of every
-- index search, and SQLite then fell back from its one-column fast comparison to the general
-- one, field by field. (The profiles' own indexes keep the workspace first: their listings
-- range over one workspace.)
-- - A profile id is unique across workspaces: rows by profile need no workspace in their key
--   (every query still checks the workspace on the row).
-- - Message ids and identity values are unique per workspace: leading with them keeps that.
DROP INDEX events_message;
CREATE UNIQUE INDEX events_message ON events (message_id, workspace_id);
DROP INDEX events_profile;
CREATE INDEX events_profile ON events (profile_id, seq) WHERE profile_id IS NOT NULL;
DROP INDEX orders_profile;
CREATE INDEX orders_profile ON orders (profile_id, placed_at);
DROP INDEX transitions_profile;
CREATE INDEX transitions_profile ON transitions (profile_id, id);

CREATE TABLE identities_by_value (
    workspace_id INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('anonymous', 'user', 'email')),
    value TEXT NOT NULL,
    profile_id INTEGER NOT NULL,
    PRIMARY KEY (value, kind, workspace_id)
) WITHOUT ROWID;
INSERT INTO identities_by_value (workspace_id, kind, value, profile_id)
    SELECT workspace_id, kind, value, profile_id FROM identities;
DROP TABLE identities;
ALTER TABLE identities_by_value RENAME TO identities;
CREATE INDEX identities_profile ON identities (profile_id);
