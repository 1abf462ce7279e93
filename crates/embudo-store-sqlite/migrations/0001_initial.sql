-- embudo on SQLite: the initial schema. Never edit a migration that has shipped; add one.
-- Times are milliseconds since the Unix epoch (UTC). Structured data is JSON text written by
-- embudo_store::json. Every table carries workspace_id and every query filters on it.

CREATE TABLE workspaces (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    kind TEXT NOT NULL CHECK (kind IN ('write', 'admin')),
    hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id, id);

-- The durable event log. seq is the rowid: events are never deleted, so it only grows, and the
-- single writer makes commit order equal seq order.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT,
    anonymous_id TEXT,
    user_id TEXT,
    previous_id TEXT,
    group_id TEXT,
    timestamp INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    properties TEXT NOT NULL,
    traits TEXT NOT NULL,
    context TEXT NOT NULL,
    profile_id INTEGER
);
CREATE UNIQUE INDEX events_message ON events (workspace_id, message_id);
-- Partial: appends (profile_id still NULL) do not pay for it.
CREATE INDEX events_profile ON events (workspace_id, profile_id, seq) WHERE profile_id IS NOT NULL;

CREATE TABLE profiles (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    user_id TEXT,
    email TEXT,
    anonymous_ids TEXT NOT NULL,
    traits TEXT NOT NULL,
    aggregates TEXT NOT NULL,
    state TEXT NOT NULL,
    phase TEXT,
    substate TEXT,
    stage TEXT,
    confidence REAL,
    intent REAL,
    p_alive REAL,
    clv REAL,
    audiences TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    merged_into INTEGER
);
CREATE INDEX profiles_last_seen ON profiles (workspace_id, last_seen, id) WHERE merged_into IS NULL;
CREATE INDEX profiles_intent ON profiles (workspace_id, COALESCE(intent, -1e300), id) WHERE merged_into IS NULL;
CREATE INDEX profiles_p_alive ON profiles (workspace_id, COALESCE(p_alive, -1e300), id) WHERE merged_into IS NULL;
CREATE INDEX profiles_clv ON profiles (workspace_id, COALESCE(clv, -1e300), id) WHERE merged_into IS NULL;
CREATE INDEX profiles_phase ON profiles (workspace_id, phase, substate, stage) WHERE merged_into IS NULL;
CREATE INDEX profiles_merged ON profiles (merged_into) WHERE merged_into IS NOT NULL;

CREATE TABLE identities (
    workspace_id INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('anonymous', 'user', 'email')),
    value TEXT NOT NULL,
    profile_id INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, kind, value)
) WITHOUT ROWID;
CREATE INDEX identities_profile ON identities (workspace_id, profile_id);

CREATE TABLE orders (
    workspace_id INTEGER NOT NULL,
    order_id TEXT NOT NULL,
    profile_id INTEGER,
    placed_at INTEGER NOT NULL,
    total REAL NOT NULL,
    currency TEXT,
    lines TEXT NOT NULL,
    refunded REAL NOT NULL,
    cancelled INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, order_id)
);
CREATE INDEX orders_profile ON orders (workspace_id, profile_id, placed_at);
CREATE INDEX orders_placed ON orders (workspace_id, placed_at, order_id);

CREATE TABLE transitions (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    profile_id INTEGER NOT NULL,
    dimension TEXT NOT NULL,
    from_value TEXT,
    to_value TEXT NOT NULL,
    at INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX transitions_profile ON transitions (workspace_id, profile_id, id);

CREATE TABLE identity_conflicts (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    profile_id INTEGER NOT NULL,
    conflicting TEXT NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX identity_conflicts_workspace ON identity_conflicts (workspace_id, id);

-- Processors' positions in the log.
CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);

-- Id counters handed out in blocks (profile ids are reserved before their batch commits).
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    next INTEGER NOT NULL
);
INSERT INTO counters (name, next) VALUES ('profile_id', 1);
