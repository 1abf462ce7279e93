-- Built models (intent, BTYD, cross-sell, question likelihoods, …), versioned per kind.
CREATE TABLE models (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    kind TEXT NOT NULL,
    version INTEGER NOT NULL,
    built_at INTEGER NOT NULL,
    report TEXT NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (workspace_id, kind, version)
);
