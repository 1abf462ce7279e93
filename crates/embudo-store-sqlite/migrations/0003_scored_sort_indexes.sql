-- The score sort indexes hold only scored profiles. Most profiles have no score until a model
-- scores them (none of those an import creates), and an entry for each cost every new profile
-- three index writes. A listing by a score reads the scored profiles through these and the
-- unscored ones in id order through profiles_live, whose entries a new profile appends at its
-- end (embudo_store::keyset::page_parts).
DROP INDEX profiles_intent;
DROP INDEX profiles_p_alive;
DROP INDEX profiles_clv;
CREATE INDEX profiles_intent ON profiles (workspace_id, intent, id)
    WHERE merged_into IS NULL AND intent IS NOT NULL;
CREATE INDEX profiles_p_alive ON profiles (workspace_id, p_alive, id)
    WHERE merged_into IS NULL AND p_alive IS NOT NULL;
CREATE INDEX profiles_clv ON profiles (workspace_id, clv, id)
    WHERE merged_into IS NULL AND clv IS NOT NULL;
CREATE INDEX profiles_live ON profiles (workspace_id, id) WHERE merged_into IS NULL;
