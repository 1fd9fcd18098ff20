// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The SQLite backend of the TSP's store (tspstore.h).
 *
 * Why one file of about 1,450 lines: it is one backend of one interface
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
 * The schema (tspstore_schema.c) is versioned in PRAGMA user_version;
 * each step of its migrations runs in its own transaction together with
 * the new user_version.
 *
 * Tracking ids are kept as SQLite's signed 64-bit INTEGER, the same 64
 * bits.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "tspstore.h"

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
	int fd, ret;

	/*
	 * By path, never by opening the file: closing any descriptor of a
	 * file drops every POSIX lock the process holds on it, so an
	 * open() and close() here would silently take the locks of another
	 * connection of this process to the same store (sealtspd has two:
	 * the store thread's and the spool's), and the next process to
	 * close its connection would think itself the last and delete the
	 * WAL with the commits in it. Only a file that does not exist yet
	 * (no lock on it anywhere) is created with open().
	 */
	if (lstat(path, &sb) < 0) {
		if (errno != ENOENT)
			return sl_tsp_fail(st, -errno, "cannot open %s: %s",
					   path, strerror(errno));
		if (!(flags & SL_TSP_OPEN_CREATE))
			return sl_tsp_fail(st, -ENOENT,
					   "no TSP account store at %s (\"sealctl tsp accounts add\" creates one)",
					   path);
		ret = make_parent(st, path);
		if (ret)
			return ret;
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
			  O_NOFOLLOW, 0600);
		if (fd < 0 && errno != EEXIST)
			return sl_tsp_fail(st, -errno, "cannot open %s: %s",
					   path, strerror(errno));
		if (fd >= 0)
			close(fd);
		if (lstat(path, &sb) < 0)
			return sl_tsp_fail(st, -errno, "%s: %s", path,
					   strerror(errno));
	}
	if (!S_ISREG(sb.st_mode))
		return sl_tsp_fail(st, -EINVAL, "%s is not a regular file", path);
	if ((sb.st_mode & 077) && sb.st_uid == geteuid() &&
	    chmod(path, 0600) < 0)
		return sl_tsp_fail(st, -errno, "cannot make %s mode 0600: %s",
				   path, strerror(errno));
	return 0;
}

static int migrate(struct sl_tsp_store *st, const char *path)
{
	int limit = sl_tsp_schema_target();
	int64_t version;
	int ret;

	ret = query_int(st, "PRAGMA user_version", NULL, &version);
	if (ret)
		return ret;
	if (version > sl_tsp_schema_latest)
		return sl_tsp_fail(st, -EPROTO,
				   "%s has schema version %lld, newer than the %d this sealine knows: upgrade sealine (or restore a store it wrote)",
				   path, (long long)version, sl_tsp_schema_latest);
	if (version < 0)
		return sl_tsp_fail(st, -EPROTO, "%s has an invalid schema version %lld",
				   path, (long long)version);
	for (int v = (int)version; v < limit; ++v) {
		char sql[64];

		ret = begin(st);
		if (ret)
			return ret;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		ret = exec(st, sl_tsp_migrations[v].sqlite, "migrating the schema");
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
	info->schema_latest = sl_tsp_schema_latest;
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

#define ACCOUNT_COLS "number, name, pubkey, phone, enabled, created_ms, max_calls"

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
	a->max_calls = (unsigned int)sqlite3_column_int(stmt, 6);
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
		      ") VALUES (?, ?, ?, ?, ?, ?, ?)", &stmt);
	if (ret)
		goto out_end_tx;
	sqlite3_bind_text(stmt, 1, a->number, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(stmt, 3, a->pub, SL_TSP_KEY_LEN, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, a->phone, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 5, a->enabled);
	sqlite3_bind_int64(stmt, 6, a->created_ms);
	sqlite3_bind_int(stmt, 7, (int)a->max_calls);
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

static int sq_account_set_max_calls(struct sl_tsp_store *st,
				    const char *number, unsigned int n)
{
	sqlite3_stmt *stmt;
	int ret = prepare(st, "UPDATE accounts SET max_calls = ? WHERE number = ?",
			  &stmt);

	if (ret)
		return ret;
	sqlite3_bind_int(stmt, 1, (int)n);
	sqlite3_bind_text(stmt, 2, number, -1, SQLITE_STATIC);
	return account_change(st, stmt, number, "changing the limit");
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

/* The record id as it is stored, or -ENOENT. */
static int cdr_fetch(struct sl_tsp_store *st, uint64_t id, struct sl_tsp_cdr *c);

static int sq_cdr_open(struct sl_tsp_store *st, const struct sl_tsp_cdr_start *s,
		       uint64_t id)
{
	const char *cid = s->caller_id ? s->caller_id : "";
	struct sl_tsp_cdr c = { 0 };
	sqlite3_stmt *stmt;
	int ret;

	ret = prepare(st, "INSERT INTO cdrs (tracking_id, instance, line, caller_id, ring_ms, updated_ms)"
		      " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tracking_id) DO NOTHING",
		      &stmt);
	if (ret)
		return ret;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)id);
	sqlite3_bind_text(stmt, 2, st->instance, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, s->line, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, cid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, s->ring_ms);
	sqlite3_bind_int64(stmt, 6, s->ring_ms);
	ret = step_done(st, stmt, "opening a call record");
	if (ret || sqlite3_changes(db_of(st)))
		return ret;
	/* There already: the same record (a replay), or a collision. */
	ret = cdr_fetch(st, id, &c);
	if (ret)
		return ret;
	if (strcmp(c.instance, st->instance) || strcmp(c.line, s->line) ||
	    strcmp(c.caller_id, cid) || c.ring_ms != s->ring_ms)
		return sl_tsp_fail(st, -EEXIST, "tracking id %016llx belongs to another record",
				   (unsigned long long)id);
	return 0;
}

static int cdr_fetch(struct sl_tsp_store *st, uint64_t id, struct sl_tsp_cdr *c)
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

static int sq_cdr_get(struct sl_tsp_store *st, uint64_t id, struct sl_tsp_cdr *c)
{
	return cdr_fetch(st, id, c);
}

/* Why an update of an open record changed nothing. */
static int cdr_unchanged(struct sl_tsp_store *st, uint64_t id, int64_t end_ms)
{
	struct sl_tsp_cdr c = { 0 };
	int ret = cdr_fetch(st, id, &c);

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

	/* One statement, so one transaction; the flags pick the fields. A
	 * record recovery closed is still its own instance's to update
	 * (tspstore.h, "Leases"), its end moving with its last update. */
	ret = prepare(st, "UPDATE cdrs SET"
		      " caller_account = CASE WHEN ?1 THEN ?2 ELSE caller_account END,"
		      " recipient_account = CASE WHEN ?3 THEN ?4 ELSE recipient_account END,"
		      " answer_ms = CASE WHEN ?5 THEN ?6 ELSE answer_ms END,"
		      " bytes_up = CASE WHEN ?7 THEN ?8 ELSE bytes_up END,"
		      " bytes_down = CASE WHEN ?7 THEN ?9 ELSE bytes_down END,"
		      " updated_ms = max(updated_ms, ?10),"
		      " end_ms = CASE WHEN recovered THEN max(end_ms, ?10) END"
		      " WHERE tracking_id = ?11"
		      " AND (end_ms IS NULL OR (recovered AND instance = ?12))"
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
	sqlite3_bind_text(stmt, 12, st->instance, -1, SQLITE_STATIC);
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
		      " outcome = ?2, nak_reason = ?3, recovered = 0"
		      " WHERE tracking_id = ?4"
		      " AND (end_ms IS NULL OR (recovered AND instance = ?5))"
		      " AND ring_ms <= ?1 AND (answer_ms IS NULL OR answer_ms <= ?1)",
		      &stmt);
	if (ret)
		return ret;
	sqlite3_bind_int64(stmt, 1, end_ms);
	sqlite3_bind_text(stmt, 2, sl_tsp_outcome_name(outcome), -1, SQLITE_STATIC);
	if (nak_reason)
		sqlite3_bind_text(stmt, 3, nak_reason, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, 3);
	sqlite3_bind_int64(stmt, 4, (sqlite3_int64)id);
	sqlite3_bind_text(stmt, 5, st->instance, -1, SQLITE_STATIC);
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

static void bind_opt_text(sqlite3_stmt *stmt, int i, const char *s)
{
	if (*s)
		sqlite3_bind_text(stmt, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, i);
}

static void bind_opt_int(sqlite3_stmt *stmt, int i, int64_t v)
{
	if (v)
		sqlite3_bind_int64(stmt, i, v);
	else
		sqlite3_bind_null(stmt, i);
}

static int sq_cdr_put(struct sl_tsp_store *st, const struct sl_tsp_cdr *c)
{
	struct sl_tsp_cdr old = { 0 };
	sqlite3_stmt *stmt;
	int ret;

	ret = prepare(st, "INSERT INTO cdrs (" CDR_COLS ") VALUES"
		      " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
		      " ON CONFLICT (tracking_id) DO NOTHING", &stmt);
	if (ret)
		return ret;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)c->tracking_id);
	sqlite3_bind_text(stmt, 2, c->instance, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, c->line, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, c->caller_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, c->ring_ms);
	bind_opt_int(stmt, 6, c->answer_ms);
	bind_opt_int(stmt, 7, c->end_ms);
	sqlite3_bind_int64(stmt, 8, c->updated_ms);
	bind_opt_text(stmt, 9, c->caller_account);
	bind_opt_text(stmt, 10, c->recipient_account);
	sqlite3_bind_int64(stmt, 11, (sqlite3_int64)c->bytes_up);
	sqlite3_bind_int64(stmt, 12, (sqlite3_int64)c->bytes_down);
	if (c->outcome == SL_TSP_OUTCOME_OPEN)
		sqlite3_bind_null(stmt, 13);
	else
		sqlite3_bind_text(stmt, 13, sl_tsp_outcome_name(c->outcome), -1,
				  SQLITE_STATIC);
	bind_opt_text(stmt, 14, c->nak_reason);
	ret = step_done(st, stmt, "storing a call record");
	if (ret || sqlite3_changes(db_of(st)))
		return ret;
	ret = cdr_fetch(st, c->tracking_id, &old);
	if (!ret && !sl_tsp_cdr_same(&old, c))
		ret = sl_tsp_fail(st, -EEXIST, "another call record %016llx is there already",
				  (unsigned long long)c->tracking_id);
	return ret;
}

static int sq_cdr_recover(struct sl_tsp_store *st, int64_t now_ms, bool own,
			  unsigned int *n)
{
	sqlite3_stmt *stmt;
	int ret = prepare(st, "UPDATE cdrs SET end_ms = updated_ms, outcome = 'interrupted',"
			  " recovered = 1 WHERE end_ms IS NULL"
			  " AND ((?3 AND instance = ?1) OR (instance <> ?1 AND NOT EXISTS"
			  " (SELECT 1 FROM leases WHERE leases.instance = cdrs.instance"
			  " AND expires_ms >= ?2)))", &stmt);

	*n = 0;
	if (ret)
		return ret;
	sqlite3_bind_text(stmt, 1, st->instance, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, now_ms);
	sqlite3_bind_int(stmt, 3, own);
	ret = step_done(st, stmt, "closing interrupted call records");
	if (!ret)
		*n = (unsigned int)sqlite3_changes(db_of(st));
	return ret;
}

/* In a transaction: the admitted open calls account takes part in. */
static int open_calls(struct sl_tsp_store *st, const char *number, uint64_t id,
		      int64_t *n)
{
	sqlite3_stmt *stmt;
	int ret = prepare(st, "SELECT count(*) FROM cdrs WHERE end_ms IS NULL AND admitted"
			  " AND tracking_id <> ?2"
			  " AND (caller_account = ?1 OR recipient_account = ?1)", &stmt), rc;

	*n = 0;
	if (ret)
		return ret;
	sqlite3_bind_text(stmt, 1, number, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*n = sqlite3_column_int64(stmt, 0);
	else
		ret = db_fail(st, rc, "counting calls");
	sqlite3_finalize(stmt);
	return ret;
}

static int sq_call_admit(struct sl_tsp_store *st, uint64_t id,
			 const char *caller, const char *recipient,
			 enum sl_tsp_limited *limited)
{
	const char *who[2] = { caller, recipient };
	sqlite3_stmt *stmt;
	int ret = begin(st);

	if (ret)
		return ret;
	for (int i = 0; i < 2 && !ret; ++i) {
		int64_t max, n;

		ret = query_int(st, "SELECT coalesce((SELECT max_calls FROM accounts WHERE number = ?), 0)",
				who[i], &max);
		if (ret || max <= 0)
			continue;
		ret = open_calls(st, who[i], id, &n);
		if (!ret && n >= max) {
			*limited = i ? SL_TSP_LIMIT_RECIPIENT : SL_TSP_LIMIT_CALLER;
			ret = sl_tsp_fail(st, -EUSERS, "account %s has %lld calls in progress, its limit",
					  who[i], (long long)n);
		}
	}
	if (ret)
		goto out_end_tx;
	ret = prepare(st, "UPDATE cdrs SET admitted = 1, caller_account = ?2, recipient_account = ?3"
		      " WHERE tracking_id = ?1 AND end_ms IS NULL", &stmt);
	if (ret)
		goto out_end_tx;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)id);
	sqlite3_bind_text(stmt, 2, caller, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, recipient, -1, SQLITE_STATIC);
	ret = step_done(st, stmt, "admitting a call");
	if (!ret && !sqlite3_changes(db_of(st)))
		ret = cdr_unchanged(st, id, 0);

out_end_tx:
	return end_tx(st, ret);
}

static int sq_lease_renew(struct sl_tsp_store *st, int64_t now_ms,
			  int64_t until_ms, bool *held)
{
	sqlite3_stmt *stmt;
	int64_t n;
	int ret = begin(st);

	if (ret)
		return ret;
	ret = prepare(st, "SELECT count(*) FROM leases WHERE instance = ? AND expires_ms >= ?",
		      &stmt);
	if (ret)
		goto out_end_tx;
	sqlite3_bind_text(stmt, 1, st->instance, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, now_ms);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int64(stmt, 0);
	else
		n = 0;
	sqlite3_finalize(stmt);
	*held = n > 0;
	ret = prepare(st, "INSERT INTO leases (instance, expires_ms, renewed_ms) VALUES (?1, ?2, ?3)"
		      " ON CONFLICT (instance) DO UPDATE SET expires_ms = ?2, renewed_ms = ?3",
		      &stmt);
	if (ret)
		goto out_end_tx;
	sqlite3_bind_text(stmt, 1, st->instance, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, until_ms);
	sqlite3_bind_int64(stmt, 3, now_ms);
	ret = step_done(st, stmt, "renewing the lease");

out_end_tx:
	return end_tx(st, ret);
}

static int sq_lease_release(struct sl_tsp_store *st)
{
	sqlite3_stmt *stmt;
	int ret = prepare(st, "DELETE FROM leases WHERE instance = ?", &stmt);

	if (ret)
		return ret;
	sqlite3_bind_text(stmt, 1, st->instance, -1, SQLITE_STATIC);
	return step_done(st, stmt, "releasing the lease");
}

/* ------------------------------------------------------------ spool */

#define SPOOL_COLS "sid, envelope, sender, recipient, size, bucket, sha256," \
	" state, instance, received_ms, accepted_ms, not_before_ms," \
	" deliver_window, expires_ms, next_ms, attempts, last_attempt_ms," \
	" done_ms, reason, receipt, collected_ms"

static int row_spool(struct sl_tsp_store *st, sqlite3_stmt *stmt,
		     struct sl_tsp_spool_row *r)
{
	const void *env = sqlite3_column_blob(stmt, 1);
	const void *sha = sqlite3_column_blob(stmt, 6);
	const char *state = (const char *)sqlite3_column_text(stmt, 7);

	memset(r, 0, sizeof(*r));
	r->sid = (uint64_t)sqlite3_column_int64(stmt, 0);
	if (!env || sqlite3_column_bytes(stmt, 1) != SL_TSP_ENVELOPE_ID_LEN ||
	    !state || sl_tsp_spool_state_parse(state, &r->state))
		return sl_tsp_fail(st, -EIO, "spool row %016llx is damaged",
				   (unsigned long long)r->sid);
	memcpy(r->envelope, env, SL_TSP_ENVELOPE_ID_LEN);
	copy_text(r->sender, sizeof(r->sender), stmt, 2);
	copy_text(r->recipient, sizeof(r->recipient), stmt, 3);
	r->size = (uint64_t)sqlite3_column_int64(stmt, 4);
	r->bucket = (uint64_t)sqlite3_column_int64(stmt, 5);
	if (sha && sqlite3_column_bytes(stmt, 6) == SL_TSP_SHA256_LEN) {
		memcpy(r->sha256, sha, SL_TSP_SHA256_LEN);
		r->have_sha256 = true;
	}
	copy_text(r->instance, sizeof(r->instance), stmt, 8);
	r->received_ms = sqlite3_column_int64(stmt, 9);
	r->accepted_ms = sqlite3_column_int64(stmt, 10);
	r->not_before_ms = sqlite3_column_int64(stmt, 11);
	r->window = sqlite3_column_int(stmt, 12);
	r->expires_ms = sqlite3_column_int64(stmt, 13);
	r->next_ms = sqlite3_column_int64(stmt, 14);
	r->attempts = (unsigned int)sqlite3_column_int(stmt, 15);
	r->last_attempt_ms = sqlite3_column_int64(stmt, 16);
	r->done_ms = sqlite3_column_int64(stmt, 17);
	copy_text(r->reason, sizeof(r->reason), stmt, 18);
	copy_text(r->receipt, sizeof(r->receipt), stmt, 19);
	r->collected_ms = sqlite3_column_int64(stmt, 20);
	return 0;
}

/* The row of sql's one parameter (int64 or text), -ENOENT if none. */
static int spool_fetch(struct sl_tsp_store *st, const char *sql, int64_t id,
		       const char *sender, const uint8_t *env,
		       struct sl_tsp_spool_row *r)
{
	sqlite3_stmt *stmt;
	int ret = prepare(st, sql, &stmt), rc;

	if (ret)
		return ret;
	if (sender) {
		sqlite3_bind_text(stmt, 1, sender, -1, SQLITE_STATIC);
		sqlite3_bind_blob(stmt, 2, env, SL_TSP_ENVELOPE_ID_LEN,
				  SQLITE_STATIC);
	} else {
		sqlite3_bind_int64(stmt, 1, id);
	}
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		ret = row_spool(st, stmt, r);
	else if (rc == SQLITE_DONE)
		ret = sl_tsp_fail(st, -ENOENT, "no such envelope in the spool");
	else
		ret = db_fail(st, rc, "reading the spool");
	sqlite3_finalize(stmt);
	return ret;
}

static int sq_spool_get(struct sl_tsp_store *st, uint64_t sid,
			struct sl_tsp_spool_row *r)
{
	return spool_fetch(st, "SELECT " SPOOL_COLS " FROM spool WHERE sid = ?",
			   (int64_t)sid, NULL, NULL, r);
}

static int sq_spool_insert(struct sl_tsp_store *st,
			   const struct sl_tsp_spool_row *r,
			   uint64_t quota_bytes, unsigned int quota_count,
			   struct sl_tsp_spool_row *old)
{
	sqlite3_stmt *stmt;
	int ret = begin(st), rc;
	int64_t bytes = 0, count = 0;

	if (ret)
		return ret;
	ret = spool_fetch(st, "SELECT " SPOOL_COLS " FROM spool"
			  " WHERE sender = ? AND envelope = ?", 0, r->sender,
			  r->envelope, old);
	if (!ret)
		return end_tx(st, sl_tsp_fail(st, -EEXIST, "envelope already in the spool as %016llx",
					      (unsigned long long)old->sid));
	if (ret != -ENOENT)
		return end_tx(st, ret);
	ret = prepare(st, "SELECT coalesce(sum(size), 0), count(*) FROM spool"
		      " WHERE sender = ? AND done_ms = 0", &stmt);
	if (ret)
		return end_tx(st, ret);
	sqlite3_bind_text(stmt, 1, r->sender, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		bytes = sqlite3_column_int64(stmt, 0);
		count = sqlite3_column_int64(stmt, 1);
	} else {
		ret = db_fail(st, rc, "counting the sender's envelopes");
	}
	sqlite3_finalize(stmt);
	if (ret)
		return end_tx(st, ret);
	if ((uint64_t)bytes + r->size > quota_bytes || count + 1 > quota_count)
		return end_tx(st, sl_tsp_fail(st, -EDQUOT, "account %s holds %lld envelopes of %lld bytes at the TSP: one of %llu more passes its quota (%u envelopes, %llu bytes)",
					      r->sender, (long long)count,
					      (long long)bytes,
					      (unsigned long long)r->size,
					      quota_count,
					      (unsigned long long)quota_bytes));
	ret = prepare(st, "INSERT INTO spool (sid, envelope, sender, recipient,"
		      " size, bucket, state, instance, received_ms,"
		      " not_before_ms, deliver_window)"
		      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &stmt);
	if (ret)
		return end_tx(st, ret);
	sqlite3_bind_int64(stmt, 1, (int64_t)r->sid);
	sqlite3_bind_blob(stmt, 2, r->envelope, SL_TSP_ENVELOPE_ID_LEN,
			  SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, r->sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, r->recipient, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, (int64_t)r->size);
	sqlite3_bind_int64(stmt, 6, (int64_t)r->bucket);
	sqlite3_bind_text(stmt, 7, sl_tsp_spool_state_name(r->state), -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(stmt, 8, r->instance, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 9, r->received_ms);
	sqlite3_bind_int64(stmt, 10, r->not_before_ms);
	sqlite3_bind_int(stmt, 11, r->window);
	ret = step_done(st, stmt, "adding to the spool");
	return end_tx(st, ret);
}

static int sq_spool_update(struct sl_tsp_store *st,
			   enum sl_tsp_spool_state from,
			   const struct sl_tsp_spool_row *r)
{
	struct sl_tsp_spool_row now = { 0 };
	sqlite3_stmt *stmt;
	int ret = begin(st);

	if (ret)
		return ret;
	ret = prepare(st, "UPDATE spool SET state = ?, sha256 = ?,"
		      " accepted_ms = ?, expires_ms = ?, next_ms = ?,"
		      " attempts = ?, last_attempt_ms = ?, done_ms = ?,"
		      " reason = ?, receipt = ?, collected_ms = ?"
		      " WHERE sid = ? AND state = ?", &stmt);
	if (ret)
		return end_tx(st, ret);
	sqlite3_bind_text(stmt, 1, sl_tsp_spool_state_name(r->state), -1,
			  SQLITE_STATIC);
	if (r->have_sha256)
		sqlite3_bind_blob(stmt, 2, r->sha256, SL_TSP_SHA256_LEN,
				  SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, 2);
	sqlite3_bind_int64(stmt, 3, r->accepted_ms);
	sqlite3_bind_int64(stmt, 4, r->expires_ms);
	sqlite3_bind_int64(stmt, 5, r->next_ms);
	sqlite3_bind_int(stmt, 6, (int)r->attempts);
	sqlite3_bind_int64(stmt, 7, r->last_attempt_ms);
	sqlite3_bind_int64(stmt, 8, r->done_ms);
	sqlite3_bind_text(stmt, 9, r->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 10, r->receipt, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 11, r->collected_ms);
	sqlite3_bind_int64(stmt, 12, (int64_t)r->sid);
	sqlite3_bind_text(stmt, 13, sl_tsp_spool_state_name(from), -1,
			  SQLITE_STATIC);
	ret = step_done(st, stmt, "updating the spool");
	if (!ret && !sqlite3_changes(db_of(st))) {
		ret = sq_spool_get(st, r->sid, &now);
		if (!ret)
			ret = sl_tsp_fail(st, -ESTALE, "envelope %016llx is %s, not %s",
					  (unsigned long long)r->sid,
					  sl_tsp_spool_state_name(now.state),
					  sl_tsp_spool_state_name(from));
	}
	return end_tx(st, ret);
}

static int sq_spool_list(struct sl_tsp_store *st, bool open_only,
			 sl_tsp_spool_fn fn, void *arg)
{
	sqlite3_stmt *stmt;
	int ret = prepare(st, open_only ?
			  "SELECT " SPOOL_COLS " FROM spool WHERE done_ms = 0"
			  " ORDER BY received_ms, sid" :
			  "SELECT " SPOOL_COLS " FROM spool"
			  " ORDER BY received_ms, sid", &stmt), rc;

	if (ret)
		return ret;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct sl_tsp_spool_row r;

		ret = row_spool(st, stmt, &r);
		if (!ret)
			ret = fn(&r, arg);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = db_fail(st, rc, "listing the spool");
	sqlite3_finalize(stmt);
	return ret;
}

static int sq_spool_put(struct sl_tsp_store *st,
			const struct sl_tsp_spool_row *r)
{
	sqlite3_stmt *stmt;
	int ret = prepare(st, "INSERT INTO spool (" SPOOL_COLS ") VALUES"
			  " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
			  " ?, ?, ?, ?)", &stmt);

	if (ret)
		return ret;
	sqlite3_bind_int64(stmt, 1, (int64_t)r->sid);
	sqlite3_bind_blob(stmt, 2, r->envelope, SL_TSP_ENVELOPE_ID_LEN,
			  SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, r->sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, r->recipient, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, (int64_t)r->size);
	sqlite3_bind_int64(stmt, 6, (int64_t)r->bucket);
	if (r->have_sha256)
		sqlite3_bind_blob(stmt, 7, r->sha256, SL_TSP_SHA256_LEN,
				  SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, 7);
	sqlite3_bind_text(stmt, 8, sl_tsp_spool_state_name(r->state), -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(stmt, 9, r->instance, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 10, r->received_ms);
	sqlite3_bind_int64(stmt, 11, r->accepted_ms);
	sqlite3_bind_int64(stmt, 12, r->not_before_ms);
	sqlite3_bind_int(stmt, 13, r->window);
	sqlite3_bind_int64(stmt, 14, r->expires_ms);
	sqlite3_bind_int64(stmt, 15, r->next_ms);
	sqlite3_bind_int(stmt, 16, (int)r->attempts);
	sqlite3_bind_int64(stmt, 17, r->last_attempt_ms);
	sqlite3_bind_int64(stmt, 18, r->done_ms);
	sqlite3_bind_text(stmt, 19, r->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 20, r->receipt, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 21, r->collected_ms);
	return step_done(st, stmt, "copying a spool row");
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
	.account_set_max_calls = sq_account_set_max_calls,
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
	.cdr_put = sq_cdr_put,
	.cdr_recover = sq_cdr_recover,
	.call_admit = sq_call_admit,
	.lease_renew = sq_lease_renew,
	.lease_release = sq_lease_release,
	.spool_insert = sq_spool_insert,
	.spool_get = sq_spool_get,
	.spool_update = sq_spool_update,
	.spool_list = sq_spool_list,
	.spool_put = sq_spool_put,
};
