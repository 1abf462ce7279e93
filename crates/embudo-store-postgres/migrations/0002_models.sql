-- Built models (intent, BTYD, cross-sell, question likelihoods, …), versioned per kind.
CREATE TABLE models (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    kind TEXT NOT NULL,
    version BIGINT NOT NULL,
    built_at BIGINT NOT NULL,
    report TEXT NOT NULL,
    payload BYTEA NOT NULL,
    PRIMARY KEY (workspace_id, kind, version)
);
