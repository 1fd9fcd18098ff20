// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The schema of the TSP's store (tspstore.h), in both backends' dialects
 * side by side, so that a change to one is made to the other in the same
 * place: step i brings version i to i + 1. SQLite keeps the version in
 * PRAGMA user_version, PostgreSQL in the one row of sealine_schema; each
 * backend runs a step in one transaction with its new version, so a crash
 * leaves the store at one version or the next, never between, and a
 * store newer than this code is refused (an older sealine must not write
 * into a schema it does not understand).
 *
 * The dialects differ only where they must: SQLite's BLOB, INTEGER and
 * GLOB are PostgreSQL's bytea, bigint and ~; flags are INTEGER 0/1 in
 * SQLite and boolean in PostgreSQL. Times are milliseconds since the
 * epoch (bigint) in both, tracking ids the same 64 bits as a signed
 * integer.
 */
#include "tspstore.h"

const struct sl_tsp_migration sl_tsp_migrations[] = {
	/* 0 -> 1: accounts, their bindings and authorised callers. */
	{
		.sqlite =
		"CREATE TABLE accounts ("
		"  number TEXT PRIMARY KEY NOT NULL"
		"    CHECK (length(number) = 12 AND number NOT GLOB '*[^0-9]*'),"
		"  name TEXT NOT NULL,"
		"  pubkey BLOB NOT NULL UNIQUE CHECK (length(pubkey) = 32),"
		"  phone TEXT NOT NULL,"
		"  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),"
		"  created_ms INTEGER NOT NULL"
		");"
		"CREATE TABLE bindings ("
		"  account TEXT NOT NULL REFERENCES accounts(number) ON DELETE CASCADE,"
		"  kind TEXT NOT NULL CHECK (kind IN ('caller-id', 'line')),"
		"  value TEXT NOT NULL,"
		"  PRIMARY KEY (account, kind, value)"
		");"
		"CREATE TABLE authorised_callers ("
		"  recipient TEXT NOT NULL REFERENCES accounts(number) ON DELETE CASCADE,"
		"  caller TEXT NOT NULL REFERENCES accounts(number) ON DELETE CASCADE,"
		"  PRIMARY KEY (recipient, caller)"
		");"
		/* For the cascade when a caller's account is removed. */
		"CREATE INDEX authorised_callers_caller ON authorised_callers(caller);",
		.postgresql =
		"CREATE TABLE accounts ("
		"  number text PRIMARY KEY CHECK (number ~ '^[0-9]{12}$'),"
		"  name text NOT NULL,"
		"  pubkey bytea NOT NULL UNIQUE CHECK (length(pubkey) = 32),"
		"  phone text NOT NULL,"
		"  enabled boolean NOT NULL DEFAULT true,"
		"  created_ms bigint NOT NULL"
		");"
		"CREATE TABLE bindings ("
		"  account text NOT NULL REFERENCES accounts(number) ON DELETE CASCADE,"
		"  kind text NOT NULL CHECK (kind IN ('caller-id', 'line')),"
		"  value text NOT NULL,"
		"  PRIMARY KEY (account, kind, value)"
		");"
		"CREATE TABLE authorised_callers ("
		"  recipient text NOT NULL REFERENCES accounts(number) ON DELETE CASCADE,"
		"  caller text NOT NULL REFERENCES accounts(number) ON DELETE CASCADE,"
		"  PRIMARY KEY (recipient, caller)"
		");"
		"CREATE INDEX authorised_callers_caller ON authorised_callers(caller);",
	},
	/* 1 -> 2: call detail records. */
	{
		.sqlite =
		"CREATE TABLE cdrs ("
		"  tracking_id INTEGER PRIMARY KEY NOT NULL,"
		"  instance TEXT NOT NULL,"
		"  line TEXT NOT NULL,"
		"  caller_id TEXT NOT NULL DEFAULT '',"
		"  ring_ms INTEGER NOT NULL,"
		"  answer_ms INTEGER,"
		"  end_ms INTEGER,"
		"  updated_ms INTEGER NOT NULL,"
		"  caller_account TEXT,"
		"  recipient_account TEXT,"
		"  bytes_up INTEGER NOT NULL DEFAULT 0,"
		"  bytes_down INTEGER NOT NULL DEFAULT 0,"
		"  outcome TEXT,"
		"  nak_reason TEXT,"
		"  CHECK ((end_ms IS NULL) = (outcome IS NULL))"
		");"
		"CREATE INDEX cdrs_ring ON cdrs(ring_ms);"
		/* Recovery looks for the open records of one instance. */
		"CREATE INDEX cdrs_open ON cdrs(instance) WHERE end_ms IS NULL;",
		.postgresql =
		"CREATE TABLE cdrs ("
		"  tracking_id bigint PRIMARY KEY,"
		"  instance text NOT NULL,"
		"  line text NOT NULL,"
		"  caller_id text NOT NULL DEFAULT '',"
		"  ring_ms bigint NOT NULL,"
		"  answer_ms bigint,"
		"  end_ms bigint,"
		"  updated_ms bigint NOT NULL,"
		"  caller_account text,"
		"  recipient_account text,"
		"  bytes_up bigint NOT NULL DEFAULT 0,"
		"  bytes_down bigint NOT NULL DEFAULT 0,"
		"  outcome text,"
		"  nak_reason text,"
		"  CHECK ((end_ms IS NULL) = (outcome IS NULL))"
		");"
		"CREATE INDEX cdrs_ring ON cdrs(ring_ms);"
		"CREATE INDEX cdrs_open ON cdrs(instance) WHERE end_ms IS NULL;",
	},
	/*
	 * 2 -> 3: several instances on one store. An account's limit of
	 * concurrent calls (0: none) and the mark of a record that counts
	 * against it (admitted: it passed every check); the instances'
	 * leases; the mark of a record closed by recovery rather than by
	 * its own instance (which may still close it). The open records of
	 * an account are found through two partial indexes.
	 */
	{
		.sqlite =
		"ALTER TABLE accounts ADD COLUMN max_calls INTEGER NOT NULL DEFAULT 0"
		"  CHECK (max_calls >= 0);"
		"ALTER TABLE cdrs ADD COLUMN admitted INTEGER NOT NULL DEFAULT 0"
		"  CHECK (admitted IN (0, 1));"
		"ALTER TABLE cdrs ADD COLUMN recovered INTEGER NOT NULL DEFAULT 0"
		"  CHECK (recovered IN (0, 1));"
		"CREATE INDEX cdrs_open_caller ON cdrs(caller_account)"
		"  WHERE end_ms IS NULL;"
		"CREATE INDEX cdrs_open_recipient ON cdrs(recipient_account)"
		"  WHERE end_ms IS NULL;"
		"CREATE TABLE leases ("
		"  instance TEXT PRIMARY KEY NOT NULL,"
		"  expires_ms INTEGER NOT NULL,"
		"  renewed_ms INTEGER NOT NULL"
		");",
		.postgresql =
		"ALTER TABLE accounts ADD COLUMN max_calls integer NOT NULL DEFAULT 0"
		"  CHECK (max_calls >= 0);"
		"ALTER TABLE cdrs ADD COLUMN admitted boolean NOT NULL DEFAULT false;"
		"ALTER TABLE cdrs ADD COLUMN recovered boolean NOT NULL DEFAULT false;"
		"CREATE INDEX cdrs_open_caller ON cdrs(caller_account)"
		"  WHERE end_ms IS NULL;"
		"CREATE INDEX cdrs_open_recipient ON cdrs(recipient_account)"
		"  WHERE end_ms IS NULL;"
		"CREATE TABLE leases ("
		"  instance text PRIMARY KEY,"
		"  expires_ms bigint NOT NULL,"
		"  renewed_ms bigint NOT NULL"
		");",
	},
	/*
	 * 3 -> 4: store and forward (Documentation/store-and-forward.rst,
	 * "Rows"): one row per envelope held, kept when closed as the
	 * record for billing. No foreign key to accounts: as call records,
	 * the rows outlive an account. Nothing in a row comes from inside
	 * an envelope.
	 */
	{
		.sqlite =
		"CREATE TABLE spool ("
		"  sid INTEGER PRIMARY KEY NOT NULL,"
		"  envelope BLOB NOT NULL CHECK (length(envelope) = 16),"
		"  sender TEXT NOT NULL,"
		"  recipient TEXT NOT NULL,"
		"  size INTEGER NOT NULL CHECK (size >= 0),"
		"  bucket INTEGER NOT NULL CHECK (bucket >= size),"
		"  sha256 BLOB CHECK (sha256 IS NULL OR length(sha256) = 32),"
		"  state TEXT NOT NULL CHECK (state IN ('receiving', 'held',"
		"    'delivering', 'delivered', 'expired', 'bounced', 'abandoned')),"
		"  instance TEXT NOT NULL,"
		"  received_ms INTEGER NOT NULL,"
		"  accepted_ms INTEGER NOT NULL DEFAULT 0,"
		"  not_before_ms INTEGER NOT NULL DEFAULT 0,"
		"  deliver_window INTEGER NOT NULL DEFAULT -1,"
		"  expires_ms INTEGER NOT NULL DEFAULT 0,"
		"  next_ms INTEGER NOT NULL DEFAULT 0,"
		"  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),"
		"  last_attempt_ms INTEGER NOT NULL DEFAULT 0,"
		"  done_ms INTEGER NOT NULL DEFAULT 0,"
		"  reason TEXT NOT NULL DEFAULT '',"
		"  receipt TEXT NOT NULL DEFAULT '',"
		"  collected_ms INTEGER NOT NULL DEFAULT 0,"
		"  UNIQUE (sender, envelope)"
		");"
		"CREATE INDEX spool_due ON spool(state, next_ms) WHERE done_ms = 0;"
		"CREATE INDEX spool_open_sender ON spool(sender) WHERE done_ms = 0;",
		.postgresql =
		"CREATE TABLE spool ("
		"  sid bigint PRIMARY KEY,"
		"  envelope bytea NOT NULL CHECK (length(envelope) = 16),"
		"  sender text NOT NULL,"
		"  recipient text NOT NULL,"
		"  size bigint NOT NULL CHECK (size >= 0),"
		"  bucket bigint NOT NULL CHECK (bucket >= size),"
		"  sha256 bytea CHECK (sha256 IS NULL OR length(sha256) = 32),"
		"  state text NOT NULL CHECK (state IN ('receiving', 'held',"
		"    'delivering', 'delivered', 'expired', 'bounced', 'abandoned')),"
		"  instance text NOT NULL,"
		"  received_ms bigint NOT NULL,"
		"  accepted_ms bigint NOT NULL DEFAULT 0,"
		"  not_before_ms bigint NOT NULL DEFAULT 0,"
		"  deliver_window integer NOT NULL DEFAULT -1,"
		"  expires_ms bigint NOT NULL DEFAULT 0,"
		"  next_ms bigint NOT NULL DEFAULT 0,"
		"  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),"
		"  last_attempt_ms bigint NOT NULL DEFAULT 0,"
		"  done_ms bigint NOT NULL DEFAULT 0,"
		"  reason text NOT NULL DEFAULT '',"
		"  receipt text NOT NULL DEFAULT '',"
		"  collected_ms bigint NOT NULL DEFAULT 0,"
		"  UNIQUE (sender, envelope)"
		");"
		"CREATE INDEX spool_due ON spool(state, next_ms) WHERE done_ms = 0;"
		"CREATE INDEX spool_open_sender ON spool(sender) WHERE done_ms = 0;",
	},
};

const int sl_tsp_schema_latest =
	(int)(sizeof(sl_tsp_migrations) / sizeof(sl_tsp_migrations[0]));

/* Test hook: stop migrating at this version (0: the latest). */
int sl_tsp_schema_limit;

int sl_tsp_schema_target(void)
{
	if (sl_tsp_schema_limit > 0 && sl_tsp_schema_limit < sl_tsp_schema_latest)
		return sl_tsp_schema_limit;
	return sl_tsp_schema_latest;
}
