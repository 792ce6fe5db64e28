-- OAuth2 connections (docs/oauth.md): authorization states, their tombstones, and
-- what a connection records of its OAuth tokens (never a token: those live in the
-- connection's Durable Object and, for the access token, in the vault).
-- Never edit an applied migration; add a new numbered file instead.

-- One row per `_initiate`; the callback consumes it with DELETE ... RETURNING.
-- key: SHA-256 (hex) of the state's random part. verifier: the PKCE verifier sealed
-- by the vault (the tenant's key, bound to this key). mac_kid: the ring key the
-- state's MAC was derived from.
CREATE TABLE IF NOT EXISTS oauth_states (
  key            TEXT PRIMARY KEY,
  tenant_id      TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  connection_id  TEXT NOT NULL,
  sub            TEXT NOT NULL,
  verifier       TEXT NOT NULL,
  mac_kid        TEXT NOT NULL,
  redirect_uri   TEXT NOT NULL,
  return_to      TEXT,
  expires_at_ms  INTEGER NOT NULL,
  created_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS oauth_states_connection ON oauth_states(connection_id);
CREATE INDEX IF NOT EXISTS oauth_states_expiry ON oauth_states(expires_at_ms);

-- Used states, so a replay is told apart from an unknown state (kept a day).
CREATE TABLE IF NOT EXISTS oauth_states_used (
  key       TEXT PRIMARY KEY,
  used_at_ms  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS oauth_states_used_at ON oauth_states_used(used_at_ms);

-- pending_state: the key of the connection's latest initiation (an older state is
-- superseded). authorized_by: the `sub` that completed the flow. refresh_at_ms: when
-- an isolate must ask the connection's token keeper instead of using the replica.
ALTER TABLE connections ADD COLUMN pending_state TEXT;
ALTER TABLE connections ADD COLUMN authorized_by TEXT;
ALTER TABLE connections ADD COLUMN refresh_at_ms INTEGER;
