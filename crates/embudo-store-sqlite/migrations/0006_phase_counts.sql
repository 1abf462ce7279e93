-- Live profiles counted by phase, sub-state and stage, kept by the processing writes
-- (src/counts.rs), in place of the profiles_phase index: nearly all of that index's keys were
-- alike, so every new profile's entry went into its middle, compared field by field down to
-- the rowid, and cost SQLite's writer more than any other profile index.
CREATE TABLE phase_counts (
    workspace_id INTEGER NOT NULL,
    phase TEXT,
    substate TEXT,
    stage TEXT,
    n INTEGER NOT NULL
);
CREATE INDEX phase_counts_workspace ON phase_counts (workspace_id);
INSERT INTO phase_counts (workspace_id, phase, substate, stage, n)
    SELECT workspace_id, phase, substate, stage, COUNT(*) FROM profiles
    WHERE merged_into IS NULL
    GROUP BY workspace_id, phase, substate, stage;
DROP INDEX profiles_phase;
