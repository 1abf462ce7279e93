-- Identifiers and codes compare byte for byte (COLLATE "C"), as every text does on SQLite.
-- Under a database's linguistic collation (en_US.UTF-8, or even C.UTF-8 from libc) every
-- comparison in these columns' B-trees went through strcoll: a message id's unique index is
-- searched on every append, an identity's on every event processed. Byte order is also the
-- order SQLite gives: orders listed by (placed_at, order_id), phase counts by (phase,
-- substate, stage), models by kind now come out the same on both backends. Only the indexes
-- are rebuilt; text to text is binary-coercible, so no table is rewritten.
ALTER TABLE events ALTER COLUMN message_id TYPE TEXT COLLATE "C";
ALTER TABLE identities
    ALTER COLUMN kind TYPE TEXT COLLATE "C",
    ALTER COLUMN value TYPE TEXT COLLATE "C";
ALTER TABLE orders ALTER COLUMN order_id TYPE TEXT COLLATE "C";
ALTER TABLE profiles
    ALTER COLUMN phase TYPE TEXT COLLATE "C",
    ALTER COLUMN substate TYPE TEXT COLLATE "C",
    ALTER COLUMN stage TYPE TEXT COLLATE "C";
ALTER TABLE api_keys ALTER COLUMN hash TYPE TEXT COLLATE "C";
ALTER TABLE models ALTER COLUMN kind TYPE TEXT COLLATE "C";
ALTER TABLE cursors ALTER COLUMN name TYPE TEXT COLLATE "C";
ALTER TABLE counters ALTER COLUMN name TYPE TEXT COLLATE "C";
