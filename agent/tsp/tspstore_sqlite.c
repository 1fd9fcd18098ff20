// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The SQLite backend of the TSP's store (tspstore.h).
 *
 * Why one file of about 1,100 lines: it is one backend of one interface
 * (struct sl_tsp_store_ops), its SQL statements prepared together at
 * open and used by every operation; the schema, its migrations and the
 * statements are easiest to check against each other in one place.
 *
 * One database file, in WAL mode so that sealctl can read while the TSP
 * writes; synchronous=FULL so that every commit is fsync()ed (in WAL mode
 * NORMAL would lose the last commits on power loss, and a closed call
 * record must survive); foreign keys on, so removing an account removes
 * its bindings and authorisations with it; a busy timeout, so a writer
 * waits for another instead of failing at once.
 *
 * The schema is versioned in PRAGMA user_version. migrations[] lists the
 * steps in order; step i brings version i to i + 1, each in its own
 * transaction together with the new user_version, so a crash leaves the
 * store at one version or the next, never between. A store whose version
 * is newer than this code knows is refused: an older sealine must not
 * write into a schema it does not understand.
 *
 * Tracking ids are random (getrandom), so ids from several TSP servers
 * sharing a store do not collide in practice (a collision is retried) and
 * an id says nothing about how many calls the TSP handles. They are kept
 * as SQLite's signed 64-bit INTEGER, the same 64 bits.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "tspstore.h"

/* Retries of a tracking id that collided with an existing one. */
#define SQLITE_ID_TRIES		8

static const char *const migrations[] = {
	/* 0 -> 1: accounts, their bindings and authorised callers. */
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

	/* 1 -> 2: call detail records. */
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
};

#define SCHEMA_LATEST ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* Test hook: stop migrating at this version (0: the latest). */
int sl_tsp_sqlite_schema_limit;

static sqlite3 *db_of(struct sl_tsp_store *st)
{
	return st->backend;
}

/* Map an SQLite result to an errno, with the message in st->err. */
static int db_fail(struct sl_tsp_store *st, int rc, const char *what)
{
	sqlite3 *db = db_of(st);
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	int ret = -EIO;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		ret = -EBUSY;
		break;
	case SQLITE_CONSTRAINT:
		ret = rc == SQLITE_CONSTRAINT_FOREIGNKEY ? -ENOENT : -EEXIST;
		break;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_CANTOPEN:
		ret = -EACCES;
		break;
	case SQLITE_NOMEM:
		ret = -ENOMEM;
		break;
	}
	return sl_tsp_fail(st, ret, "%s: %s", what, msg);
}

static int prepare(struct sl_tsp_store *st, const char *sql, sqlite3_stmt **stmt)
{
	int rc = sqlite3_prepare_v2(db_of(st), sql, -1, stmt, NULL);

	if (rc != SQLITE_OK) {
		*stmt = NULL;
		return db_fail(st, rc, "preparing a query");
	}
	return 0;
}

static int exec(struct sl_tsp_store *st, const char *sql, const char *what)
{
	int rc = sqlite3_exec(db_of(st), sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : db_fail(st, rc, what);
}

/* BEGIN IMMEDIATE takes the write lock at once, so the checks a
 * transaction makes before it writes still hold when it writes. */
static int begin(struct sl_tsp_store *st)
{
	return exec(st, "BEGIN IMMEDIATE", "starting a transaction");
}

static int commit(struct sl_tsp_store *st)
{
	return exec(st, "COMMIT", "committing");
}

static void rollback(struct sl_tsp_store *st)
{
	/* Fails harmlessly when SQLite already rolled back on an error. */
	sqlite3_exec(db_of(st), "ROLLBACK", NULL, NULL, NULL);
}

/* The end of a transaction: its changes stay if all went well (ret 0),
 * none of them otherwise; the first error is what the caller returns. */
static int end_tx(struct sl_tsp_store *st, int ret)
{
	if (ret) {
		rollback(st);
		return ret;
	}
	return commit(st);
}

/* Step a statement that returns no row; finalizes it. */
static int step_done(struct sl_tsp_store *st, sqlite3_stmt *stmt,
		     const char *what)
{
	int rc = sqlite3_step(stmt);
	int ret = rc == SQLITE_DONE ? 0 : db_fail(st, rc, what);

	sqlite3_finalize(stmt);
	return ret;
}

/* One integer from a query with one text parameter (or none). */
static int query_int(struct sl_tsp_store *st, const char *sql,
		     const char *param, int64_t *out)
{
	sqlite3_stmt *stmt;
	int ret = prepare(st, sql, &stmt), rc;

	*out = 0;
	if (ret)
		return ret;
	if (param)
		sqlite3_bind_text(stmt, 1, param, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(stmt, 0);
		ret = 0;
	} else {
		ret = db_fail(st, rc, "reading the store");
	}
	sqlite3_finalize(stmt);
	return ret;
}

static void copy_text(char *dst, size_t len, sqlite3_stmt *stmt, int col)
{
	const unsigned char *t = sqlite3_column_text(stmt, col);

	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

/* ------------------------------------------------------------ open */

/*
 * Create the missing directories of path's parent with 0700; existing
 * ones are left as they are (the admin chose them; a test's /tmp).
 */
static int make_parent(struct sl_tsp_store *st, const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return sl_tsp_fail(st, -ENAMETOOLONG, "%s: path too long", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; ; ++p) {
		bool end = !*p;

		if (*p != '/' && !end)
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return sl_tsp_fail(st, -errno, "cannot create directory %s: %s",
					   dir, strerror(errno));
		if (end)
			break;
		*p = '/';
	}
	return 0;
}

/*
 * Create the file ourselves, 0600 from the start: SQLite gives its -wal
 * and -shm files the database file's permissions, so they are 0600 too.
 * An existing file of ours with wider permissions is narrowed.
 */
static int prepare_file(struct sl_tsp_store *st, const char *path,
			unsigned int flags)
{
	struct stat sb;
	int fd, ret = 0;

	if (flags & SL_TSP_OPEN_CREATE) {
		ret = make_parent(st, path);
		if (ret)
			return ret;
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	} else {
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0) {
		if (errno == ENOENT && !(flags & SL_TSP_OPEN_CREATE))
			return sl_tsp_fail(st, -ENOENT,
					   "no TSP account store at %s (\"sealctl tsp accounts add\" creates one)",
					   path);
		return sl_tsp_fail(st, -errno, "cannot open %s: %s", path,
				   strerror(errno));
	}
	if (fstat(fd, &sb) < 0) {
		ret = sl_tsp_fail(st, -errno, "%s: %s", path, strerror(errno));
	} else if (!S_ISREG(sb.st_mode)) {
		ret = sl_tsp_fail(st, -EINVAL, "%s is not a regular file", path);
	} else if ((sb.st_mode & 077) && sb.st_uid == geteuid() &&
		   fchmod(fd, 0600) < 0) {
		ret = sl_tsp_fail(st, -errno, "cannot make %s mode 0600: %s",
				  path, strerror(errno));
	}
	close(fd);
	return ret;
}

static int migrate(struct sl_tsp_store *st, const char *path)
{
	int limit = SCHEMA_LATEST;
	int64_t version;
	int ret;

	if (sl_tsp_sqlite_schema_limit > 0 && sl_tsp_sqlite_schema_limit < limit)
		limit = sl_tsp_sqlite_schema_limit;
	ret = query_int(st, "PRAGMA user_version", NULL, &version);
	if (ret)
		return ret;
	if (version > SCHEMA_LATEST)
		return sl_tsp_fail(st, -EPROTO,
				   "%s has schema version %lld, newer than the %d this sealine knows: upgrade sealine (or restore a store it wrote)",
				   path, (long long)version, SCHEMA_LATEST);
	if (version < 0)
		return sl_tsp_fail(st, -EPROTO, "%s has an invalid schema version %lld",
				   path, (long long)version);
	for (int v = (int)version; v < limit; ++v) {
		char sql[64];

		ret = begin(st);
		if (ret)
			return ret;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		ret = exec(st, migrations[v], "migrating the schema");
		if (!ret)
			ret = exec(st, sql, "migrating the schema");
		if (!ret)
			ret = commit(st);
		if (ret) {
			char why[SL_TSP_ERR_MAX];

			snprintf(why, sizeof(why), "%s", sl_tsp_store_error(st));
			rollback(st);
			return sl_tsp_fail(st, ret,
					   "%s: migrating schema version %d to %d failed: %s",
					   path, v, v + 1, why);
		}
	}
	return 0;
}

static void sq_close(struct sl_tsp_store *st)
{
	if (st->backend)
		sqlite3_close_v2(st->backend);
	st->backend = NULL;
}

static int sq_open(struct sl_tsp_store *st, const char *path,
		   unsigned int flags)
{
	char mode[16] = "";
	sqlite3_stmt *stmt;
	sqlite3 *db = NULL;
	int rc, ret;

	ret = prepare_file(st, path, flags);
	if (ret)
		return ret;
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
			     SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		ret = sl_tsp_fail(st, -EIO, "%s: %s", path,
				  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close_v2(db);
		return ret;
	}
	st->backend = db;
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, SL_TSP_BUSY_TIMEOUT_MS);

	/* journal_mode answers with the mode it ended up in. */
	ret = prepare(st, "PRAGMA journal_mode = WAL", &stmt);
	if (ret)
		goto out_close;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		copy_text(mode, sizeof(mode), stmt, 0);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW) {
		ret = db_fail(st, rc, path);
		goto out_close;
	}
	if (strcmp(mode, "wal")) {
		ret = sl_tsp_fail(st, -EIO, "%s: cannot switch to WAL mode (still %s)",
				  path, mode);
		goto out_close;
	}
	ret = exec(st, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON",
		   path);
	if (ret)
		goto out_close;
	ret = migrate(st, path);
	if (ret)
		goto out_close;
	return 0;

out_close:
	sq_close(st);
	return ret;
}

static int sq_info(struct sl_tsp_store *st, struct sl_tsp_store_info *info)
{
	int64_t v;
	int ret;
	sqlite3_stmt *stmt;

	snprintf(info->backend, sizeof(info->backend), "sqlite");
	info->schema_latest = SCHEMA_LATEST;
	ret = query_int(st, "PRAGMA user_version", NULL, &v);
	if (ret)
		return ret;
	info->schema_version = (int)v;
	ret = query_int(st, "PRAGMA synchronous", NULL, &v);
	if (ret)
		return ret;
	info->synchronous = (int)v;
	ret = query_int(st, "PRAGMA foreign_keys", NULL, &v);
	if (ret)
		return ret;
	info->foreign_keys = v != 0;
	ret = query_int(st, "PRAGMA busy_timeout", NULL, &v);
	if (ret)
		return ret;
	info->busy_timeout_ms = (int)v;
	ret = prepare(st, "PRAGMA journal_mode", &stmt);
	if (ret)
		return ret;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		copy_text(info->journal_mode, sizeof(info->journal_mode), stmt, 0);
	sqlite3_finalize(stmt);
	return 0;
}

/* ------------------------------------------------------------ accounts */

#define ACCOUNT_COLS "number, name, pubkey, phone, enabled, created_ms"

static void row_account(sqlite3_stmt *stmt, struct sl_tsp_account *a)
{
	const void *key = sqlite3_column_blob(stmt, 2);

	memset(a, 0, sizeof(*a));
	copy_text(a->number, sizeof(a->number), stmt, 0);
	copy_text(a->name, sizeof(a->name), stmt, 1);
	if (key && sqlite3_column_bytes(stmt, 2) == SL_TSP_KEY_LEN)
		memcpy(a->pub, key, SL_TSP_KEY_LEN);
	copy_text(a->phone, sizeof(a->phone), stmt, 3);
	a->enabled = sqlite3_column_int(stmt, 4) != 0;
	a->created_ms = sqlite3_column_int64(stmt, 5);
}

/* Fetch one account by a text or blob parameter; -ENOENT if none. */
static int account_query(struct sl_tsp_store *st, const char *sql,
			 const char *text, const uint8_t *blob,
			 struct sl_tsp_account *a)
{
	sqlite3_stmt *stmt;
	int ret = prepare(st, sql, &stmt), rc;

	if (ret)
		return ret;
	if (text)
		sqlite3_bind_text(stmt, 1, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_blob(stmt, 1, blob, SL_TSP_KEY_LEN, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		row_account(stmt, a);
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ret = -ENOENT;
	} else {
		ret = db_fail(st, rc, "looking up an account");
	}
	sqlite3_finalize(stmt);
	return ret;
}

static int sq_account_get(struct sl_tsp_store *st, const char *number,
			  struct sl_tsp_account *a)
{
	int ret = account_query(st, "SELECT " ACCOUNT_COLS
				" FROM accounts WHERE number = ?", number, NULL, a);

	if (ret == -ENOENT)
		return sl_tsp_fail(st, ret, "no account %s", number);
	return ret;
}

static int sq_account_by_key(struct sl_tsp_store *st,
			     const uint8_t pub[SL_TSP_KEY_LEN],
			     struct sl_tsp_account *a)
{
	int ret = account_query(st, "SELECT " ACCOUNT_COLS
				" FROM accounts WHERE pubkey = ?", NULL, pub, a);

	if (ret == -ENOENT)
		return sl_tsp_fail(st, ret, "no account has this key");
	return ret;
}

/* In a transaction: does the key belong to an account other than number? */
static int key_taken(struct sl_tsp_store *st, const uint8_t pub[SL_TSP_KEY_LEN],
		     const char *number)
{
	struct sl_tsp_account other;
	int ret = account_query(st, "SELECT " ACCOUNT_COLS
				" FROM accounts WHERE pubkey = ?", NULL, pub,
				&other);

	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	if (number && !strcmp(other.number, number))
		return 0;
	return sl_tsp_fail(st, -EEXIST, "this key already belongs to account %s",
			   other.number);
}

static int sq_account_add(struct sl_tsp_store *st, const struct sl_tsp_account *a)
{
	struct sl_tsp_account old;
	sqlite3_stmt *stmt;
	int ret = begin(st);

	if (ret)
		return ret;
	ret = account_query(st, "SELECT " ACCOUNT_COLS
			    " FROM accounts WHERE number = ?", a->number, NULL,
			    &old);
	if (!ret)
		ret = sl_tsp_fail(st, -EEXIST, "account %s exists already",
				  a->number);
	else if (ret == -ENOENT)
		ret = key_taken(st, a->pub, NULL);
	if (ret)
		goto out_end_tx;
	ret = prepare(st, "INSERT INTO accounts (" ACCOUNT_COLS
		      ") VALUES (?, ?, ?, ?, ?, ?)", &stmt);
	if (ret)
		goto out_end_tx;
	sqlite3_bind_text(stmt, 1, a->number, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(stmt, 3, a->pub, SL_TSP_KEY_LEN, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, a->phone, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 5, a->enabled);
	sqlite3_bind_int64(stmt, 6, a->created_ms);
	ret = step_done(st, stmt, "adding the account");

out_end_tx:
	return end_tx(st, ret);
}

static int sq_account_list(struct sl_tsp_store *st, sl_tsp_account_fn fn,
			   void *arg)
{
	struct sl_tsp_account a;
	sqlite3_stmt *stmt;
	int ret = prepare(st, "SELECT " ACCOUNT_COLS
			  " FROM accounts ORDER BY number", &stmt), rc;

	if (ret)
		return ret;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		row_account(stmt, &a);
		ret = fn(&a, arg);
		if (ret)
			goto out;
	}
	if (rc != SQLITE_DONE)
		ret = db_fail(st, rc, "listing accounts");
out:
	sqlite3_finalize(stmt);
	return ret;
}

/* Run an UPDATE/DELETE on one account; -ENOENT if it changed nothing. */
static int account_change(struct sl_tsp_store *st, sqlite3_stmt *stmt,
			  const char *number, const char *what)
{
	int ret = step_done(st, stmt, what);

	if (!ret && !sqlite3_changes(db_of(st)))
		ret = sl_tsp_fail(st, -ENOENT, "no account %s", number);
	return ret;
}

static int sq_account_set_enabled(struct sl_tsp_store *st, const char *number,
				  bool enabled)
{
	sqlite3_stmt *stmt;
	int ret = prepare(st, "UPDATE accounts SET enabled = ? WHERE number = ?",
			  &stmt);

	if (ret)
		return ret;
	sqlite3_bind_int(stmt, 1, enabled);
	sqlite3_bind_text(stmt, 2, number, -1, SQLITE_STATIC);
	return account_change(st, stmt, number, "changing the account");
}

static int sq_account_set_key(struct sl_tsp_store *st, const char *number,
			      const uint8_t pub[SL_TSP_KEY_LEN])
{
	sqlite3_stmt *stmt;
	int ret = begin(st);

	if (ret)
		return ret;
	ret = key_taken(st, pub, number);
	if (ret)
		goto out_end_tx;
	ret = prepare(st, "UPDATE accounts SET pubkey = ? WHERE number = ?",
		      &stmt);
	if (ret)
		goto out_end_tx;
	sqlite3_bind_blob(stmt, 1, pub, SL_TSP_KEY_LEN, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, number, -1, SQLITE_STATIC);
	ret = account_change(st, stmt, number, "changing the key");

out_end_tx:
	return end_tx(st, ret);
}

static int sq_account_remove(struct sl_tsp_store *st, const char *number)
{
	sqlite3_stmt *stmt;
	int ret = prepare(st, "DELETE FROM accounts WHERE number = ?", &stmt);

	if (ret)
		return ret;
	sqlite3_bind_text(stmt, 1, number, -1, SQLITE_STATIC);
	return account_change(st, stmt, number, "removing the account");
}

/* In a transaction: -ENOENT unless the account exists. */
static int account_exists(struct sl_tsp_store *st, const char *number)
{
	int64_t n;
	int ret = query_int(st, "SELECT count(*) FROM accounts WHERE number = ?",
			    number, &n);

	if (!ret && !n)
		ret = sl_tsp_fail(st, -ENOENT, "no account %s", number);
	return ret;
}

/* ------------------------------------------------------------ bindings */

static const char *kind_name(enum sl_tsp_binding_kind kind)
{
	return kind == SL_TSP_BIND_LINE ? "line" : "caller-id";
}

static const char *kind_words(enum sl_tsp_binding_kind kind)
{
	return kind == SL_TSP_BIND_LINE ? "line" : "caller ID";
}

static int binding_stmt(struct sl_tsp_store *st, const char *sql,
			const char *number, enum sl_tsp_binding_kind kind,
			const char *value, sqlite3_stmt **stmt)
{
	int ret = prepare(st, sql, stmt);

	if (ret)
		return ret;
	sqlite3_bind_text(*stmt, 1, number, -1, SQLITE_STATIC);
	sqlite3_bind_text(*stmt, 2, kind_name(kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(*stmt, 3, value, -1, SQLITE_STATIC);
	return 0;
}

/* In a transaction: -ENOSPC if the account (the count query's
 * parameter) has most rows of a kind already. */
static int check_room(struct sl_tsp_store *st, const char *count_sql,
		      const char *number, int most, const char *what)
{
	int64_t n;
	int ret = query_int(st, count_sql, number, &n);

	if (!ret && n >= most)
		ret = sl_tsp_fail(st, -ENOSPC,
				  "account %s has %d %s, the most it may have",
				  number, most, what);
	return ret;
}

static int sq_binding_add(struct sl_tsp_store *st, const char *number,
			  enum sl_tsp_binding_kind kind, const char *value)
{
	sqlite3_stmt *stmt;
	int ret = begin(st);

	if (ret)
		return ret;
	ret = account_exists(st, number);
	if (!ret)
		ret = check_room(st, "SELECT count(*) FROM bindings WHERE account = ?",
				 number, SL_TSP_MAX_BINDINGS, "bindings");
	if (ret)
		goto out_end_tx;
	ret = binding_stmt(st, "INSERT INTO bindings (account, kind, value) VALUES (?, ?, ?)",
			   number, kind, value, &stmt);
	if (!ret)
		ret = step_done(st, stmt, "adding the binding");
	if (ret == -EEXIST)
		ret = sl_tsp_fail(st, ret, "%s %s is bound to account %s already",
				  kind_words(kind), value, number);

out_end_tx:
	return end_tx(st, ret);
}

static int sq_binding_remove(struct sl_tsp_store *st, const char *number,
			     enum sl_tsp_binding_kind kind, const char *value)
{
	sqlite3_stmt *stmt;
	int ret = binding_stmt(st, "DELETE FROM bindings WHERE account = ? AND kind = ? AND value = ?",
			       number, kind, value, &stmt);

	if (!ret)
		ret = step_done(st, stmt, "removing the binding");
	if (!ret && !sqlite3_changes(db_of(st)))
		ret = sl_tsp_fail(st, -ENOENT, "%s %s is not bound to account %s",
				  kind_words(kind), value, number);
	return ret;
}

static int sq_binding_list(struct sl_tsp_store *st, const char *number,
			   sl_tsp_binding_fn fn, void *arg)
{
	sqlite3_stmt *stmt;
	int ret = prepare(st, "SELECT kind, value FROM bindings WHERE account = ? ORDER BY kind, value",
			  &stmt), rc;

	if (ret)
		return ret;
	sqlite3_bind_text(stmt, 1, number, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *kind = (const char *)sqlite3_column_text(stmt, 0);

		ret = fn(kind && !strcmp(kind, "line") ? SL_TSP_BIND_LINE :
			 SL_TSP_BIND_CALLER_ID,
			 (const char *)sqlite3_column_text(stmt, 1), arg);
		if (ret)
			goto out;
	}
	if (rc != SQLITE_DONE)
		ret = db_fail(st, rc, "listing bindings");
out:
	sqlite3_finalize(stmt);
	return ret;
}

static int sq_binding_check(struct sl_tsp_store *st, const char *number,
			    enum sl_tsp_binding_kind kind, const char *value,
			    bool *bound, bool *any)
{
	sqlite3_stmt *stmt;
	int ret, rc;

	/* One indexed lookup (the primary key) and one existence test. */
	ret = binding_stmt(st, "SELECT EXISTS (SELECT 1 FROM bindings WHERE account = ?1 AND kind = ?2 AND value = ?3),"
			   " EXISTS (SELECT 1 FROM bindings WHERE account = ?1)",
			   number, kind, value, &stmt);
	if (ret)
		return ret;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*bound = sqlite3_column_int(stmt, 0) != 0;
		*any = sqlite3_column_int(stmt, 1) != 0;
	} else {
		ret = db_fail(st, rc, "checking a binding");
	}
	sqlite3_finalize(stmt);
	return ret;
}

/* ------------------------------------------------------------ authorisations */

static int auth_stmt(struct sl_tsp_store *st, const char *sql,
		     const char *recipient, const char *caller,
		     sqlite3_stmt **stmt)
{
	int ret = prepare(st, sql, stmt);

	if (ret)
		return ret;
	sqlite3_bind_text(*stmt, 1, recipient, -1, SQLITE_STATIC);
	sqlite3_bind_text(*stmt, 2, caller, -1, SQLITE_STATIC);
	return 0;
}

static int sq_auth_add(struct sl_tsp_store *st, const char *recipient,
		       const char *caller)
{
	sqlite3_stmt *stmt;
	int ret = begin(st);

	if (ret)
		return ret;
	ret = account_exists(st, recipient);
	if (!ret)
		ret = account_exists(st, caller);
	if (!ret)
		ret = check_room(st, "SELECT count(*) FROM authorised_callers WHERE recipient = ?",
				 recipient, SL_TSP_MAX_AUTHORISED,
				 "authorised callers");
	if (ret)
		goto out_end_tx;
	ret = auth_stmt(st, "INSERT INTO authorised_callers (recipient, caller) VALUES (?, ?)",
			recipient, caller, &stmt);
	if (!ret)
		ret = step_done(st, stmt, "authorising");
	if (ret == -EEXIST)
		ret = sl_tsp_fail(st, ret, "%s may call %s already", caller,
				  recipient);

out_end_tx:
	return end_tx(st, ret);
}

static int sq_auth_remove(struct sl_tsp_store *st, const char *recipient,
			  const char *caller)
{
	sqlite3_stmt *stmt;
	int ret = auth_stmt(st, "DELETE FROM authorised_callers WHERE recipient = ? AND caller = ?",
			    recipient, caller, &stmt);

	if (!ret)
		ret = step_done(st, stmt, "deauthorising");
	if (!ret && !sqlite3_changes(db_of(st)))
		ret = sl_tsp_fail(st, -ENOENT, "%s is not an authorised caller of %s",
				  caller, recipient);
	return ret;
}

static int sq_auth_list(struct sl_tsp_store *st, const char *recipient,
			sl_tsp_number_fn fn, void *arg)
{
	sqlite3_stmt *stmt;
	int ret = prepare(st, "SELECT caller FROM authorised_callers WHERE recipient = ? ORDER BY caller",
			  &stmt), rc;

	if (ret)
		return ret;
	sqlite3_bind_text(stmt, 1, recipient, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ret = fn((const char *)sqlite3_column_text(stmt, 0), arg);
		if (ret)
			goto out;
	}
	if (rc != SQLITE_DONE)
		ret = db_fail(st, rc, "listing authorised callers");
out:
	sqlite3_finalize(stmt);
	return ret;
}

static int sq_auth_check(struct sl_tsp_store *st, const char *recipient,
			 const char *caller, bool *allowed)
{
	sqlite3_stmt *stmt;
	int ret = auth_stmt(st, "SELECT EXISTS (SELECT 1 FROM authorised_callers WHERE recipient = ? AND caller = ?)",
			    recipient, caller, &stmt), rc;

	if (ret)
		return ret;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*allowed = sqlite3_column_int(stmt, 0) != 0;
	else
		ret = db_fail(st, rc, "checking an authorisation");
	sqlite3_finalize(stmt);
	return ret;
}

/* ------------------------------------------------------------ CDRs */

#define CDR_COLS "tracking_id, instance, line, caller_id, ring_ms, answer_ms, " \
	"end_ms, updated_ms, caller_account, recipient_account, bytes_up, " \
	"bytes_down, outcome, nak_reason"

static int row_cdr(struct sl_tsp_store *st, sqlite3_stmt *stmt,
		   struct sl_tsp_cdr *c)
{
	const unsigned char *outcome;

	memset(c, 0, sizeof(*c));
	c->tracking_id = (uint64_t)sqlite3_column_int64(stmt, 0);
	copy_text(c->instance, sizeof(c->instance), stmt, 1);
	copy_text(c->line, sizeof(c->line), stmt, 2);
	copy_text(c->caller_id, sizeof(c->caller_id), stmt, 3);
	c->ring_ms = sqlite3_column_int64(stmt, 4);
	c->answer_ms = sqlite3_column_int64(stmt, 5);	/* NULL reads as 0 */
	c->end_ms = sqlite3_column_int64(stmt, 6);
	c->updated_ms = sqlite3_column_int64(stmt, 7);
	copy_text(c->caller_account, sizeof(c->caller_account), stmt, 8);
	copy_text(c->recipient_account, sizeof(c->recipient_account), stmt, 9);
	c->bytes_up = (uint64_t)sqlite3_column_int64(stmt, 10);
	c->bytes_down = (uint64_t)sqlite3_column_int64(stmt, 11);
	copy_text(c->nak_reason, sizeof(c->nak_reason), stmt, 13);
	outcome = sqlite3_column_text(stmt, 12);
	if (!outcome) {
		c->outcome = SL_TSP_OUTCOME_OPEN;
		return 0;
	}
	if (sl_tsp_outcome_parse((const char *)outcome, &c->outcome) ||
	    c->outcome == SL_TSP_OUTCOME_OPEN)
		return sl_tsp_fail(st, -EIO, "record %016llx has an unknown outcome '%s'",
				   (unsigned long long)c->tracking_id, outcome);
	return 0;
}

static int random_id(struct sl_tsp_store *st, uint64_t *id)
{
	do {
		if (getrandom(id, sizeof(*id), 0) != sizeof(*id))
			return sl_tsp_fail(st, -EIO, "no random tracking id: %s",
					   strerror(errno));
	} while (!*id);	/* 0 means "no record" to callers */
	return 0;
}

static int sq_cdr_open(struct sl_tsp_store *st, const struct sl_tsp_cdr_start *s,
		       uint64_t *id)
{
	int ret = -EEXIST;

	for (int i = 0; i < SQLITE_ID_TRIES && ret == -EEXIST; ++i) {
		sqlite3_stmt *stmt;
		uint64_t try;

		ret = random_id(st, &try);
		if (ret)
			return ret;
		ret = prepare(st, "INSERT INTO cdrs (tracking_id, instance, line, caller_id, ring_ms, updated_ms)"
			      " VALUES (?, ?, ?, ?, ?, ?)", &stmt);
		if (ret)
			return ret;
		sqlite3_bind_int64(stmt, 1, (sqlite3_int64)try);
		sqlite3_bind_text(stmt, 2, st->instance, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, s->line, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 4, s->caller_id ? s->caller_id : "", -1,
				  SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 5, s->ring_ms);
		sqlite3_bind_int64(stmt, 6, s->ring_ms);
		ret = step_done(st, stmt, "opening a call record");
		if (!ret)
			*id = try;
	}
	return ret;
}

static int sq_cdr_get(struct sl_tsp_store *st, uint64_t id, struct sl_tsp_cdr *c)
{
	sqlite3_stmt *stmt;
	int ret = prepare(st, "SELECT " CDR_COLS " FROM cdrs WHERE tracking_id = ?",
			  &stmt), rc;

	if (ret)
		return ret;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		ret = row_cdr(st, stmt, c);
	else if (rc == SQLITE_DONE)
		ret = sl_tsp_fail(st, -ENOENT, "no call record %016llx",
				  (unsigned long long)id);
	else
		ret = db_fail(st, rc, "reading a call record");
	sqlite3_finalize(stmt);
	return ret;
}

/* Why an update of an open record changed nothing. */
static int cdr_unchanged(struct sl_tsp_store *st, uint64_t id, int64_t end_ms)
{
	struct sl_tsp_cdr c = { 0 };
	int ret = sq_cdr_get(st, id, &c);

	if (ret)
		return ret;
	if (c.end_ms || c.outcome != SL_TSP_OUTCOME_OPEN)
		return sl_tsp_fail(st, -EALREADY, "call record %016llx is closed already (%s)",
				   (unsigned long long)id,
				   sl_tsp_outcome_name(c.outcome));
	return sl_tsp_fail(st, -EINVAL, "call record %016llx: time %lld is before its ring time %lld",
			   (unsigned long long)id, (long long)end_ms,
			   (long long)c.ring_ms);
}

static int sq_cdr_update(struct sl_tsp_store *st, uint64_t id,
			 const struct sl_tsp_cdr_update *u)
{
	sqlite3_stmt *stmt;
	int ret;

	/* One statement, so one transaction; the flags pick the fields. */
	ret = prepare(st, "UPDATE cdrs SET"
		      " caller_account = CASE WHEN ?1 THEN ?2 ELSE caller_account END,"
		      " recipient_account = CASE WHEN ?3 THEN ?4 ELSE recipient_account END,"
		      " answer_ms = CASE WHEN ?5 THEN ?6 ELSE answer_ms END,"
		      " bytes_up = CASE WHEN ?7 THEN ?8 ELSE bytes_up END,"
		      " bytes_down = CASE WHEN ?7 THEN ?9 ELSE bytes_down END,"
		      " updated_ms = max(updated_ms, ?10)"
		      " WHERE tracking_id = ?11 AND end_ms IS NULL"
		      " AND ring_ms <= ?10 AND (NOT ?5 OR ring_ms <= ?6)", &stmt);
	if (ret)
		return ret;
	sqlite3_bind_int(stmt, 1, !!(u->set & SL_TSP_CDR_SET_CALLER));
	sqlite3_bind_text(stmt, 2, u->caller_account, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 3, !!(u->set & SL_TSP_CDR_SET_RECIPIENT));
	sqlite3_bind_text(stmt, 4, u->recipient_account, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 5, !!(u->set & SL_TSP_CDR_SET_ANSWER));
	sqlite3_bind_int64(stmt, 6, u->answer_ms);
	sqlite3_bind_int(stmt, 7, !!(u->set & SL_TSP_CDR_SET_BYTES));
	sqlite3_bind_int64(stmt, 8, (sqlite3_int64)u->bytes_up);
	sqlite3_bind_int64(stmt, 9, (sqlite3_int64)u->bytes_down);
	sqlite3_bind_int64(stmt, 10, u->now_ms);
	sqlite3_bind_int64(stmt, 11, (sqlite3_int64)id);
	ret = step_done(st, stmt, "updating a call record");
	if (!ret && !sqlite3_changes(db_of(st)))
		ret = cdr_unchanged(st, id, u->now_ms);
	return ret;
}

static int sq_cdr_close(struct sl_tsp_store *st, uint64_t id, int64_t end_ms,
			enum sl_tsp_outcome outcome, const char *nak_reason)
{
	sqlite3_stmt *stmt;
	int ret;

	ret = prepare(st, "UPDATE cdrs SET end_ms = ?1, updated_ms = max(updated_ms, ?1),"
		      " outcome = ?2, nak_reason = ?3"
		      " WHERE tracking_id = ?4 AND end_ms IS NULL AND ring_ms <= ?1"
		      " AND (answer_ms IS NULL OR answer_ms <= ?1)", &stmt);
	if (ret)
		return ret;
	sqlite3_bind_int64(stmt, 1, end_ms);
	sqlite3_bind_text(stmt, 2, sl_tsp_outcome_name(outcome), -1, SQLITE_STATIC);
	if (nak_reason)
		sqlite3_bind_text(stmt, 3, nak_reason, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, 3);
	sqlite3_bind_int64(stmt, 4, (sqlite3_int64)id);
	ret = step_done(st, stmt, "closing a call record");
	if (!ret && !sqlite3_changes(db_of(st)))
		ret = cdr_unchanged(st, id, end_ms);
	return ret;
}

static int sq_cdr_list(struct sl_tsp_store *st, int64_t from_ms, int64_t to_ms,
		       sl_tsp_cdr_fn fn, void *arg)
{
	struct sl_tsp_cdr c;
	sqlite3_stmt *stmt;
	int ret = prepare(st, "SELECT " CDR_COLS " FROM cdrs WHERE ring_ms BETWEEN ? AND ?"
			  " ORDER BY ring_ms, tracking_id", &stmt), rc;

	if (ret)
		return ret;
	sqlite3_bind_int64(stmt, 1, from_ms);
	sqlite3_bind_int64(stmt, 2, to_ms);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ret = row_cdr(st, stmt, &c);
		if (!ret)
			ret = fn(&c, arg);
		if (ret)
			goto out;
	}
	if (rc != SQLITE_DONE)
		ret = db_fail(st, rc, "listing call records");
out:
	sqlite3_finalize(stmt);
	return ret;
}

static int sq_cdr_recover(struct sl_tsp_store *st, unsigned int *n)
{
	sqlite3_stmt *stmt;
	int ret = prepare(st, "UPDATE cdrs SET end_ms = updated_ms, outcome = 'interrupted'"
			  " WHERE instance = ? AND end_ms IS NULL", &stmt);

	*n = 0;
	if (ret)
		return ret;
	sqlite3_bind_text(stmt, 1, st->instance, -1, SQLITE_STATIC);
	ret = step_done(st, stmt, "closing interrupted call records");
	if (!ret)
		*n = (unsigned int)sqlite3_changes(db_of(st));
	return ret;
}

const struct sl_tsp_store_ops sl_tsp_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.info = sq_info,
	.account_add = sq_account_add,
	.account_get = sq_account_get,
	.account_by_key = sq_account_by_key,
	.account_list = sq_account_list,
	.account_set_enabled = sq_account_set_enabled,
	.account_set_key = sq_account_set_key,
	.account_remove = sq_account_remove,
	.binding_add = sq_binding_add,
	.binding_remove = sq_binding_remove,
	.binding_list = sq_binding_list,
	.binding_check = sq_binding_check,
	.auth_add = sq_auth_add,
	.auth_remove = sq_auth_remove,
	.auth_list = sq_auth_list,
	.auth_check = sq_auth_check,
	.cdr_open = sq_cdr_open,
	.cdr_update = sq_cdr_update,
	.cdr_close = sq_cdr_close,
	.cdr_get = sq_cdr_get,
	.cdr_list = sq_cdr_list,
	.cdr_recover = sq_cdr_recover,
};
