// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The PostgreSQL backend of the TSP's store (tspstore.h): one database
 * shared by several TSP instances (servers), through libpq.
 *
 * Why one file of about 1,550 lines: it is one backend of one interface
 * (struct sl_tsp_store_ops), the SQL of every operation next to its
 * parameters; it mirrors tspstore_sqlite.c operation by operation, which
 * is easiest to check with each in one file.
 *
 * It uses libpq's synchronous calls: in sealtspd every store call runs on
 * the store's own thread (tspq.h), never on the event loop, and sealctl
 * has nothing else to do while it waits. The connection is opened with
 * TCP keepalives, a TCP user timeout and a connect timeout, so that a
 * database that vanishes is noticed within seconds rather than when the
 * kernel gives up; each session sets a lock timeout (SL_TSP_BUSY_TIMEOUT_MS,
 * as SQLite's busy timeout) and a statement timeout. A call on a broken
 * connection reconnects once (PQreset) before it fails with -ENOTCONN,
 * which the TSP takes for "the store is down" (sl_tsp_store_transient()).
 *
 * Every commit is durable: synchronous_commit is on for these sessions
 * whatever the server's default. Schema migrations (tspstore_schema.c)
 * take a transaction-level advisory lock, so that instances starting
 * together migrate once; the version is the one row of sealine_schema.
 *
 * The limit of concurrent calls is enforced across instances by locking
 * both accounts' rows (FOR UPDATE, in number order, so two admissions
 * never wait for each other crosswise) while the open calls are counted.
 * Large lists (accounts, the records of a whole cluster) are read in
 * pages of PG_PAGE_ROWS rows (keyset pagination), never whole: a list's
 * callback may call the store itself (sealctl's account list does).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "tspstore.h"

/* Seconds: to connect; until keepalives give up on a silent server. */
#define PG_CONNECT_TIMEOUT	"10"
#define PG_KEEPALIVE_IDLE	"5"
#define PG_KEEPALIVE_INTERVAL	"2"
#define PG_KEEPALIVE_COUNT	"3"
/* Milliseconds unacknowledged data may wait (TCP_USER_TIMEOUT). */
#define PG_TCP_USER_TIMEOUT	"10000"
/* The longest any statement may run. */
#define PG_STATEMENT_TIMEOUT_MS	30000
/* Parameters of one statement at most. */
#define PG_MAX_PARAMS		24
/* The advisory lock migrations take ("sealine" in ASCII, folded). */
#define PG_MIGRATION_LOCK	0x5ea11e
/* An int64 as decimal text, with sign and NUL. */
#define PG_INT_LEN		24

struct pg {
	PGconn *conn;
	char *location;
};

static PGconn *conn_of(struct sl_tsp_store *st)
{
	return ((struct pg *)st->backend)->conn;
}

/* ------------------------------------------------------------ helpers */

struct params {
	int n;
	const char *v[PG_MAX_PARAMS];
	int len[PG_MAX_PARAMS];
	int fmt[PG_MAX_PARAMS];
	char num[PG_MAX_PARAMS][PG_INT_LEN];
};

/* NULL is SQL NULL. */
static void p_text(struct params *p, const char *s)
{
	p->v[p->n] = s;
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	p->n++;
}

/* "" is SQL NULL: the optional text columns. */
static void p_opt_text(struct params *p, const char *s)
{
	p_text(p, *s ? s : NULL);
}

static void p_int(struct params *p, int64_t v)
{
	snprintf(p->num[p->n], sizeof(p->num[0]), "%" PRId64, v);
	p_text(p, p->num[p->n]);
}

/* 0 is SQL NULL: the optional times. */
static void p_opt_int(struct params *p, int64_t v)
{
	if (v)
		p_int(p, v);
	else
		p_text(p, NULL);
}

static void p_id(struct params *p, uint64_t id)
{
	p_int(p, (int64_t)id);
}

static void p_bool(struct params *p, bool b)
{
	p_text(p, b ? "t" : "f");
}

static void p_bytes(struct params *p, const uint8_t *b, int len)
{
	p->v[p->n] = (const char *)b;
	p->len[p->n] = len;
	p->fmt[p->n] = 1;
	p->n++;
}

/* The error of res (or of the connection) as an errno, the message in
 * st->err. Clears res. */
static int pg_fail(struct sl_tsp_store *st, PGresult *res, const char *what)
{
	PGconn *conn = conn_of(st);
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : "";
	char text[SL_TSP_ERR_MAX];
	size_t n;
	int ret = -EIO;

	if (!msg || !*msg)
		msg = conn ? PQerrorMessage(conn) : "no connection";
	snprintf(text, sizeof(text), "%s", msg);
	n = strlen(text);
	while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
		text[--n] = '\0';
	if (!conn || PQstatus(conn) != CONNECTION_OK)
		ret = -ENOTCONN;
	else if (!state)
		ret = -EIO;
	else if (!strcmp(state, "23505"))	/* unique_violation */
		ret = -EEXIST;
	else if (!strcmp(state, "23503"))	/* foreign_key_violation */
		ret = -ENOENT;
	else if (!strcmp(state, "40001") || !strcmp(state, "40P01") ||
		 !strcmp(state, "55P03"))	/* serialization, deadlock, lock */
		ret = -EBUSY;
	else if (!strcmp(state, "57014"))	/* statement timeout */
		ret = -ETIMEDOUT;
	else if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3))
		ret = -ENOTCONN;		/* connection, shutdown */
	else if (!strcmp(state, "42501"))	/* insufficient_privilege */
		ret = -EACCES;
	PQclear(res);
	return sl_tsp_fail(st, ret, "%s: %s", what, text);
}

static void session_setup(PGconn *conn)
{
	char sql[160];
	PGresult *res;

	snprintf(sql, sizeof(sql),
		 "SET synchronous_commit = on; SET lock_timeout = %d;"
		 " SET statement_timeout = %d; SET client_min_messages = warning",
		 SL_TSP_BUSY_TIMEOUT_MS, PG_STATEMENT_TIMEOUT_MS);
	res = PQexec(conn, sql);
	PQclear(res);
}

/* A connection that broke (the server restarted, the network failed) is
 * reset once; -ENOTCONN if that fails too. */
static int ensure_conn(struct sl_tsp_store *st)
{
	PGconn *conn = conn_of(st);

	if (PQstatus(conn) == CONNECTION_OK)
		return 0;
	PQreset(conn);
	if (PQstatus(conn) != CONNECTION_OK)
		return pg_fail(st, NULL, "the store's database is unreachable");
	session_setup(conn);
	return 0;
}

/*
 * Run sql with p's parameters; NULL with st->err set on failure (*ret).
 * A connection that broke since the last call is reset first, and a
 * statement outside a transaction that fails because it broke is tried
 * once more on a new connection.
 */
static PGresult *run(struct sl_tsp_store *st, const char *sql,
		     const struct params *p, bool in_tx, int *ret,
		     const char *what)
{
	static const struct params none;
	PGresult *res;
	ExecStatusType s;

	if (!p)
		p = &none;
	for (int attempt = 0; ; ++attempt) {
		*ret = ensure_conn(st);
		if (*ret)
			return NULL;
		res = PQexecParams(conn_of(st), sql, p->n, NULL, p->v, p->len,
				   p->fmt, 0);
		s = PQresultStatus(res);
		if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
			return res;
		if (in_tx || attempt ||
		    PQstatus(conn_of(st)) == CONNECTION_OK)
			break;
		PQclear(res);
	}
	*ret = pg_fail(st, res, what);
	return NULL;
}

static int exec_simple(struct sl_tsp_store *st, const char *sql,
		       const struct params *p, bool in_tx, const char *what)
{
	int ret;
	PGresult *res = run(st, sql, p, in_tx, &ret, what);

	PQclear(res);
	return ret;
}

/* Several statements, no parameters (a migration), in a transaction. */
static int exec_script(struct sl_tsp_store *st, const char *sql,
		       const char *what)
{
	PGresult *res = PQexec(conn_of(st), sql);

	if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		return 0;
	}
	return pg_fail(st, res, what);
}

/* Rows an UPDATE/DELETE changed. */
static long changed(PGresult *res)
{
	return strtol(PQcmdTuples(res), NULL, 10);
}

static int begin(struct sl_tsp_store *st)
{
	return exec_simple(st, "BEGIN", NULL, false, "starting a transaction");
}

static int end_tx(struct sl_tsp_store *st, int ret)
{
	PGresult *res;

	if (ret) {
		res = PQexec(conn_of(st), "ROLLBACK");
		PQclear(res);
		return ret;
	}
	return exec_simple(st, "COMMIT", NULL, true, "committing");
}

static int64_t col_int(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static bool col_bool(PGresult *res, int row, int col)
{
	return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

static void col_text(char *dst, size_t len, PGresult *res, int row, int col)
{
	snprintf(dst, len, "%s", PQgetisnull(res, row, col) ? "" :
		 PQgetvalue(res, row, col));
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* A bytea in the server's hex output ("\x4041..."), exactly len bytes. */
static bool col_bytes(uint8_t *out, size_t len, PGresult *res, int row, int col)
{
	const char *v = PQgetvalue(res, row, col);

	if (PQgetisnull(res, row, col) || strncmp(v, "\\x", 2) ||
	    strlen(v) != 2 + 2 * len)
		return false;
	for (size_t i = 0; i < len; ++i) {
		int hi = hex_nibble(v[2 + 2 * i]), lo = hex_nibble(v[3 + 2 * i]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* Rows of a list fetched at once, at most: larger lists come in pages. */
#define PG_PAGE_ROWS		1000

/* ------------------------------------------------------------ open */

/* The schema version; 0 for a database without our tables. */
static int schema_version(struct sl_tsp_store *st, bool in_tx, int64_t *v)
{
	int ret;
	PGresult *res = run(st, "SELECT to_regclass('sealine_schema') IS NOT NULL",
			    NULL, in_tx, &ret, "reading the schema version");

	*v = 0;
	if (!res)
		return ret;
	if (!col_bool(res, 0, 0)) {
		PQclear(res);
		return 0;
	}
	PQclear(res);
	res = run(st, "SELECT version FROM sealine_schema", NULL, in_tx, &ret,
		  "reading the schema version");
	if (!res)
		return ret;
	if (PQntuples(res) == 1)
		*v = col_int(res, 0, 0);
	PQclear(res);
	return 0;
}

static int migrate(struct sl_tsp_store *st, unsigned int flags)
{
	int limit = sl_tsp_schema_target();
	struct params p = { 0 };
	int64_t version;
	int ret;

	ret = schema_version(st, false, &version);
	if (ret)
		return ret;
	if (!version && !(flags & SL_TSP_OPEN_CREATE))
		return sl_tsp_fail(st, -ENOENT,
				   "this database holds no TSP account store (\"sealctl tsp accounts add\" creates one, \"sealctl tsp migrate\" fills one)");
	if (version >= limit && version <= sl_tsp_schema_latest)
		return 0;
	p_int(&p, PG_MIGRATION_LOCK);
	for (;;) {
		struct params q = { 0 };
		int64_t v;

		ret = begin(st);
		if (ret)
			return ret;
		/* Another instance may be migrating: wait for it, then
		 * read the version again under the lock. */
		ret = exec_simple(st, "SELECT pg_advisory_xact_lock($1)", &p, true,
				  "locking the schema");
		if (!ret)
			ret = exec_simple(st, "CREATE TABLE IF NOT EXISTS sealine_schema (version integer NOT NULL)",
					  NULL, true, "creating the schema table");
		if (!ret)
			ret = schema_version(st, true, &v);
		if (!ret && v > sl_tsp_schema_latest)
			ret = sl_tsp_fail(st, -EPROTO,
					  "the database has schema version %lld, newer than the %d this sealine knows: upgrade sealine",
					  (long long)v, sl_tsp_schema_latest);
		if (ret || v >= limit)
			return end_tx(st, ret);
		ret = exec_script(st, sl_tsp_migrations[v].postgresql,
				  "migrating the schema");
		p_int(&q, v + 1);
		if (!ret)
			ret = exec_simple(st, v ? "UPDATE sealine_schema SET version = $1" :
					  "INSERT INTO sealine_schema (version) VALUES ($1)",
					  &q, true, "migrating the schema");
		ret = end_tx(st, ret);
		if (ret) {
			char why[SL_TSP_ERR_MAX];

			snprintf(why, sizeof(why), "%s", sl_tsp_store_error(st));
			return sl_tsp_fail(st, ret, "migrating schema version %lld to %lld failed: %s",
					   (long long)v, (long long)v + 1, why);
		}
	}
}

/* Notices ("relation exists, skipping") are not errors: not printed. */
static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static void pg_close(struct sl_tsp_store *st)
{
	struct pg *pg = st->backend;

	if (!pg)
		return;
	PQfinish(pg->conn);
	free(pg->location);
	free(pg);
	st->backend = NULL;
}

static int pg_open(struct sl_tsp_store *st, const char *location,
		   unsigned int flags)
{
	/* Ours first: what the location names overrides them. */
	const char *const keys[] = {
		"connect_timeout", "keepalives", "keepalives_idle",
		"keepalives_interval", "keepalives_count", "tcp_user_timeout",
		"application_name", "dbname", NULL,
	};
	const char *vals[] = {
		PG_CONNECT_TIMEOUT, "1", PG_KEEPALIVE_IDLE,
		PG_KEEPALIVE_INTERVAL, PG_KEEPALIVE_COUNT, PG_TCP_USER_TIMEOUT,
		"sealine", location, NULL,
	};
	struct pg *pg;
	int ret;

	pg = calloc(1, sizeof(*pg));
	if (!pg)
		return sl_tsp_fail(st, -ENOMEM, "out of memory");
	st->backend = pg;
	pg->location = strdup(location);
	pg->conn = PQconnectdbParams(keys, vals, 1);
	if (!pg->location || !pg->conn) {
		pg_close(st);
		return sl_tsp_fail(st, -ENOMEM, "out of memory");
	}
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		ret = pg_fail(st, NULL, "cannot connect to the store");
		pg_close(st);
		return ret;
	}
	PQsetNoticeProcessor(pg->conn, quiet, NULL);
	session_setup(pg->conn);
	ret = migrate(st, flags);
	if (ret)
		pg_close(st);
	return ret;
}

static int pg_info(struct sl_tsp_store *st, struct sl_tsp_store_info *info)
{
	const char *v;
	int64_t version;
	int ret;
	PGresult *res;

	snprintf(info->backend, sizeof(info->backend), "postgresql");
	info->schema_latest = sl_tsp_schema_latest;
	ret = schema_version(st, false, &version);
	if (ret)
		return ret;
	info->schema_version = (int)version;
	res = run(st, "SHOW synchronous_commit", NULL, false, &ret,
		  "reading the settings");
	if (!res)
		return ret;
	info->synchronous = !strcmp(PQgetvalue(res, 0, 0), "on") ? 2 : 0;
	PQclear(res);
	info->foreign_keys = true;
	info->busy_timeout_ms = SL_TSP_BUSY_TIMEOUT_MS;
	v = PQparameterStatus(conn_of(st), "server_version");
	snprintf(info->server, sizeof(info->server), "%s", v ? v : "");
	return 0;
}

/* ------------------------------------------------------------ accounts */

#define ACCOUNT_COLS "number, name, pubkey, phone, enabled, created_ms, max_calls"

static void row_account(PGresult *res, int row, struct sl_tsp_account *a)
{
	memset(a, 0, sizeof(*a));
	col_text(a->number, sizeof(a->number), res, row, 0);
	col_text(a->name, sizeof(a->name), res, row, 1);
	if (!col_bytes(a->pub, SL_TSP_KEY_LEN, res, row, 2))
		memset(a->pub, 0, sizeof(a->pub));
	col_text(a->phone, sizeof(a->phone), res, row, 3);
	a->enabled = col_bool(res, row, 4);
	a->created_ms = col_int(res, row, 5);
	a->max_calls = (unsigned int)col_int(res, row, 6);
}

/* One account by number (text) or key (blob); -ENOENT if none. */
static int account_query(struct sl_tsp_store *st, const char *text,
			 const uint8_t *blob, bool in_tx,
			 struct sl_tsp_account *a)
{
	struct params p = { 0 };
	int ret;
	PGresult *res;

	if (text)
		p_text(&p, text);
	else
		p_bytes(&p, blob, SL_TSP_KEY_LEN);
	res = run(st, text ? "SELECT " ACCOUNT_COLS " FROM accounts WHERE number = $1" :
		  "SELECT " ACCOUNT_COLS " FROM accounts WHERE pubkey = $1",
		  &p, in_tx, &ret, "looking up an account");
	if (!res)
		return ret;
	ret = -ENOENT;
	if (PQntuples(res) == 1) {
		row_account(res, 0, a);
		ret = 0;
	}
	PQclear(res);
	return ret;
}

static int pg_account_get(struct sl_tsp_store *st, const char *number,
			  struct sl_tsp_account *a)
{
	int ret = account_query(st, number, NULL, false, a);

	if (ret == -ENOENT)
		return sl_tsp_fail(st, ret, "no account %s", number);
	return ret;
}

static int pg_account_by_key(struct sl_tsp_store *st,
			     const uint8_t pub[SL_TSP_KEY_LEN],
			     struct sl_tsp_account *a)
{
	int ret = account_query(st, NULL, pub, false, a);

	if (ret == -ENOENT)
		return sl_tsp_fail(st, ret, "no account has this key");
	return ret;
}

/* In a transaction: does the key belong to an account other than number? */
static int key_taken(struct sl_tsp_store *st, const uint8_t pub[SL_TSP_KEY_LEN],
		     const char *number)
{
	struct sl_tsp_account other;
	int ret = account_query(st, NULL, pub, true, &other);

	if (ret == -ENOENT)
		return 0;
	if (ret)
		return ret;
	if (number && !strcmp(other.number, number))
		return 0;
	return sl_tsp_fail(st, -EEXIST, "this key already belongs to account %s",
			   other.number);
}

static int pg_account_add(struct sl_tsp_store *st, const struct sl_tsp_account *a)
{
	struct sl_tsp_account old;
	struct params p = { 0 };
	int ret = begin(st);

	if (ret)
		return ret;
	ret = account_query(st, a->number, NULL, true, &old);
	if (!ret)
		ret = sl_tsp_fail(st, -EEXIST, "account %s exists already",
				  a->number);
	else if (ret == -ENOENT)
		ret = key_taken(st, a->pub, NULL);
	if (ret)
		return end_tx(st, ret);
	p_text(&p, a->number);
	p_text(&p, a->name);
	p_bytes(&p, a->pub, SL_TSP_KEY_LEN);
	p_text(&p, a->phone);
	p_bool(&p, a->enabled);
	p_int(&p, a->created_ms);
	p_int(&p, a->max_calls);
	ret = exec_simple(st, "INSERT INTO accounts (" ACCOUNT_COLS
			  ") VALUES ($1, $2, $3, $4, $5, $6, $7)", &p, true,
			  "adding the account");
	return end_tx(st, ret);
}

static int pg_account_list(struct sl_tsp_store *st, sl_tsp_account_fn fn,
			   void *arg)
{
	char last[SL_ACCOUNT_LEN + 1] = "";
	int ret = 0, n;

	do {
		struct params p = { 0 };
		PGresult *res;

		p_text(&p, last);
		p_int(&p, PG_PAGE_ROWS);
		res = run(st, "SELECT " ACCOUNT_COLS " FROM accounts WHERE number > $1"
			  " ORDER BY number LIMIT $2", &p, false, &ret,
			  "listing accounts");
		if (!res)
			return ret;
		n = PQntuples(res);
		for (int i = 0; i < n && !ret; ++i) {
			struct sl_tsp_account a;

			row_account(res, i, &a);
			memcpy(last, a.number, sizeof(last));
			ret = fn(&a, arg);
		}
		PQclear(res);
	} while (!ret && n == PG_PAGE_ROWS);
	return ret;
}

/* An UPDATE/DELETE of one account; -ENOENT if it changed nothing. */
static int account_change(struct sl_tsp_store *st, const char *sql,
			  const struct params *p, bool in_tx,
			  const char *number, const char *what)
{
	int ret;
	PGresult *res = run(st, sql, p, in_tx, &ret, what);

	if (!res)
		return ret;
	if (!changed(res))
		ret = sl_tsp_fail(st, -ENOENT, "no account %s", number);
	PQclear(res);
	return ret;
}

static int pg_account_set_enabled(struct sl_tsp_store *st, const char *number,
				  bool enabled)
{
	struct params p = { 0 };

	p_bool(&p, enabled);
	p_text(&p, number);
	return account_change(st, "UPDATE accounts SET enabled = $1 WHERE number = $2",
			      &p, false, number, "changing the account");
}

static int pg_account_set_max_calls(struct sl_tsp_store *st,
				    const char *number, unsigned int n)
{
	struct params p = { 0 };

	p_int(&p, n);
	p_text(&p, number);
	return account_change(st, "UPDATE accounts SET max_calls = $1 WHERE number = $2",
			      &p, false, number, "changing the limit");
}

static int pg_account_set_key(struct sl_tsp_store *st, const char *number,
			      const uint8_t pub[SL_TSP_KEY_LEN])
{
	struct params p = { 0 };
	int ret = begin(st);

	if (ret)
		return ret;
	ret = key_taken(st, pub, number);
	p_bytes(&p, pub, SL_TSP_KEY_LEN);
	p_text(&p, number);
	if (!ret)
		ret = account_change(st, "UPDATE accounts SET pubkey = $1 WHERE number = $2",
				     &p, true, number, "changing the key");
	return end_tx(st, ret);
}

static int pg_account_remove(struct sl_tsp_store *st, const char *number)
{
	struct params p = { 0 };

	p_text(&p, number);
	return account_change(st, "DELETE FROM accounts WHERE number = $1", &p,
			      false, number, "removing the account");
}

/* In a transaction: -ENOENT unless the account exists. */
static int account_exists(struct sl_tsp_store *st, const char *number)
{
	struct sl_tsp_account a;
	int ret = account_query(st, number, NULL, true, &a);

	if (ret == -ENOENT)
		return sl_tsp_fail(st, ret, "no account %s", number);
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

/* In a transaction: -ENOSPC if the count query says most already. */
static int check_room(struct sl_tsp_store *st, const char *count_sql,
		      const char *number, int most, const char *what)
{
	struct params p = { 0 };
	int ret;
	PGresult *res;

	p_text(&p, number);
	res = run(st, count_sql, &p, true, &ret, "counting");
	if (!res)
		return ret;
	if (col_int(res, 0, 0) >= most)
		ret = sl_tsp_fail(st, -ENOSPC,
				  "account %s has %d %s, the most it may have",
				  number, most, what);
	PQclear(res);
	return ret;
}

static int pg_binding_add(struct sl_tsp_store *st, const char *number,
			  enum sl_tsp_binding_kind kind, const char *value)
{
	struct params p = { 0 };
	int ret = begin(st);

	if (ret)
		return ret;
	ret = account_exists(st, number);
	if (!ret)
		ret = check_room(st, "SELECT count(*) FROM bindings WHERE account = $1",
				 number, SL_TSP_MAX_BINDINGS, "bindings");
	p_text(&p, number);
	p_text(&p, kind_name(kind));
	p_text(&p, value);
	if (!ret)
		ret = exec_simple(st, "INSERT INTO bindings (account, kind, value) VALUES ($1, $2, $3)",
				  &p, true, "adding the binding");
	if (ret == -EEXIST)
		ret = sl_tsp_fail(st, ret, "%s %s is bound to account %s already",
				  kind_words(kind), value, number);
	return end_tx(st, ret);
}

static int pg_binding_remove(struct sl_tsp_store *st, const char *number,
			     enum sl_tsp_binding_kind kind, const char *value)
{
	struct params p = { 0 };
	int ret;
	PGresult *res;

	p_text(&p, number);
	p_text(&p, kind_name(kind));
	p_text(&p, value);
	res = run(st, "DELETE FROM bindings WHERE account = $1 AND kind = $2 AND value = $3",
		  &p, false, &ret, "removing the binding");
	if (!res)
		return ret;
	if (!changed(res))
		ret = sl_tsp_fail(st, -ENOENT, "%s %s is not bound to account %s",
				  kind_words(kind), value, number);
	PQclear(res);
	return ret;
}

static int pg_binding_list(struct sl_tsp_store *st, const char *number,
			   sl_tsp_binding_fn fn, void *arg)
{
	struct params p = { 0 };
	int ret;
	PGresult *res;

	/* At most SL_TSP_MAX_BINDINGS rows. */
	p_text(&p, number);
	res = run(st, "SELECT kind, value FROM bindings WHERE account = $1 ORDER BY kind, value",
		  &p, false, &ret, "listing bindings");
	if (!res)
		return ret;
	for (int i = 0; i < PQntuples(res) && !ret; ++i)
		ret = fn(!strcmp(PQgetvalue(res, i, 0), "line") ? SL_TSP_BIND_LINE :
			 SL_TSP_BIND_CALLER_ID, PQgetvalue(res, i, 1), arg);
	PQclear(res);
	return ret;
}

static int pg_binding_check(struct sl_tsp_store *st, const char *number,
			    enum sl_tsp_binding_kind kind, const char *value,
			    bool *bound, bool *any)
{
	struct params p = { 0 };
	int ret;
	PGresult *res;

	p_text(&p, number);
	p_text(&p, kind_name(kind));
	p_text(&p, value);
	res = run(st, "SELECT EXISTS (SELECT 1 FROM bindings WHERE account = $1 AND kind = $2 AND value = $3),"
		  " EXISTS (SELECT 1 FROM bindings WHERE account = $1)", &p, false,
		  &ret, "checking a binding");
	if (!res)
		return ret;
	*bound = col_bool(res, 0, 0);
	*any = col_bool(res, 0, 1);
	PQclear(res);
	return 0;
}

/* ------------------------------------------------------------ authorisations */

static int pg_auth_add(struct sl_tsp_store *st, const char *recipient,
		       const char *caller)
{
	struct params p = { 0 };
	int ret = begin(st);

	if (ret)
		return ret;
	ret = account_exists(st, recipient);
	if (!ret)
		ret = account_exists(st, caller);
	if (!ret)
		ret = check_room(st, "SELECT count(*) FROM authorised_callers WHERE recipient = $1",
				 recipient, SL_TSP_MAX_AUTHORISED,
				 "authorised callers");
	p_text(&p, recipient);
	p_text(&p, caller);
	if (!ret)
		ret = exec_simple(st, "INSERT INTO authorised_callers (recipient, caller) VALUES ($1, $2)",
				  &p, true, "authorising");
	if (ret == -EEXIST)
		ret = sl_tsp_fail(st, ret, "%s may call %s already", caller,
				  recipient);
	return end_tx(st, ret);
}

static int pg_auth_remove(struct sl_tsp_store *st, const char *recipient,
			  const char *caller)
{
	struct params p = { 0 };
	int ret;
	PGresult *res;

	p_text(&p, recipient);
	p_text(&p, caller);
	res = run(st, "DELETE FROM authorised_callers WHERE recipient = $1 AND caller = $2",
		  &p, false, &ret, "deauthorising");
	if (!res)
		return ret;
	if (!changed(res))
		ret = sl_tsp_fail(st, -ENOENT, "%s is not an authorised caller of %s",
				  caller, recipient);
	PQclear(res);
	return ret;
}

static int pg_auth_list(struct sl_tsp_store *st, const char *recipient,
			sl_tsp_number_fn fn, void *arg)
{
	struct params p = { 0 };
	int ret;
	PGresult *res;

	/* At most SL_TSP_MAX_AUTHORISED rows. */
	p_text(&p, recipient);
	res = run(st, "SELECT caller FROM authorised_callers WHERE recipient = $1 ORDER BY caller",
		  &p, false, &ret, "listing authorised callers");
	if (!res)
		return ret;
	for (int i = 0; i < PQntuples(res) && !ret; ++i)
		ret = fn(PQgetvalue(res, i, 0), arg);
	PQclear(res);
	return ret;
}

static int pg_auth_check(struct sl_tsp_store *st, const char *recipient,
			 const char *caller, bool *allowed)
{
	struct params p = { 0 };
	int ret;
	PGresult *res;

	p_text(&p, recipient);
	p_text(&p, caller);
	res = run(st, "SELECT EXISTS (SELECT 1 FROM authorised_callers WHERE recipient = $1 AND caller = $2)",
		  &p, false, &ret, "checking an authorisation");
	if (!res)
		return ret;
	*allowed = col_bool(res, 0, 0);
	PQclear(res);
	return 0;
}

/* ------------------------------------------------------------ CDRs */

#define CDR_COLS "tracking_id, instance, line, caller_id, ring_ms, answer_ms, " \
	"end_ms, updated_ms, caller_account, recipient_account, bytes_up, " \
	"bytes_down, outcome, nak_reason"

static int row_cdr(struct sl_tsp_store *st, PGresult *res, int row,
		   struct sl_tsp_cdr *c)
{
	memset(c, 0, sizeof(*c));
	c->tracking_id = (uint64_t)col_int(res, row, 0);
	col_text(c->instance, sizeof(c->instance), res, row, 1);
	col_text(c->line, sizeof(c->line), res, row, 2);
	col_text(c->caller_id, sizeof(c->caller_id), res, row, 3);
	c->ring_ms = col_int(res, row, 4);
	c->answer_ms = col_int(res, row, 5);
	c->end_ms = col_int(res, row, 6);
	c->updated_ms = col_int(res, row, 7);
	col_text(c->caller_account, sizeof(c->caller_account), res, row, 8);
	col_text(c->recipient_account, sizeof(c->recipient_account), res, row, 9);
	c->bytes_up = (uint64_t)col_int(res, row, 10);
	c->bytes_down = (uint64_t)col_int(res, row, 11);
	col_text(c->nak_reason, sizeof(c->nak_reason), res, row, 13);
	if (PQgetisnull(res, row, 12)) {
		c->outcome = SL_TSP_OUTCOME_OPEN;
		return 0;
	}
	if (sl_tsp_outcome_parse(PQgetvalue(res, row, 12), &c->outcome) ||
	    c->outcome == SL_TSP_OUTCOME_OPEN)
		return sl_tsp_fail(st, -EIO, "record %016llx has an unknown outcome '%s'",
				   (unsigned long long)c->tracking_id,
				   PQgetvalue(res, row, 12));
	return 0;
}

static int pg_cdr_get(struct sl_tsp_store *st, uint64_t id, struct sl_tsp_cdr *c)
{
	struct params p = { 0 };
	int ret;
	PGresult *res;

	p_id(&p, id);
	res = run(st, "SELECT " CDR_COLS " FROM cdrs WHERE tracking_id = $1",
		  &p, false, &ret, "reading a call record");
	if (!res)
		return ret;
	if (PQntuples(res) == 1)
		ret = row_cdr(st, res, 0, c);
	else
		ret = sl_tsp_fail(st, -ENOENT, "no call record %016llx",
				  (unsigned long long)id);
	PQclear(res);
	return ret;
}

static int pg_cdr_open(struct sl_tsp_store *st, const struct sl_tsp_cdr_start *s,
		       uint64_t id)
{
	const char *cid = s->caller_id ? s->caller_id : "";
	struct sl_tsp_cdr c = { 0 };
	struct params p = { 0 };
	int ret;
	PGresult *res;

	p_id(&p, id);
	p_text(&p, st->instance);
	p_text(&p, s->line);
	p_text(&p, cid);
	p_int(&p, s->ring_ms);
	res = run(st, "INSERT INTO cdrs (tracking_id, instance, line, caller_id, ring_ms, updated_ms)"
		  " VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (tracking_id) DO NOTHING",
		  &p, false, &ret, "opening a call record");
	if (!res)
		return ret;
	if (changed(res)) {
		PQclear(res);
		return 0;
	}
	PQclear(res);
	/* There already: the same record (a replay), or a collision. */
	ret = pg_cdr_get(st, id, &c);
	if (ret)
		return ret;
	if (strcmp(c.instance, st->instance) || strcmp(c.line, s->line) ||
	    strcmp(c.caller_id, cid) || c.ring_ms != s->ring_ms)
		return sl_tsp_fail(st, -EEXIST, "tracking id %016llx belongs to another record",
				   (unsigned long long)id);
	return 0;
}

/* Why an update of an open record changed nothing. */
static int cdr_unchanged(struct sl_tsp_store *st, uint64_t id, int64_t end_ms)
{
	struct sl_tsp_cdr c = { 0 };
	int ret = pg_cdr_get(st, id, &c);

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

/* Run an UPDATE of record id; a change of nothing says why. */
static int cdr_change(struct sl_tsp_store *st, const char *sql,
		      const struct params *p, uint64_t id, int64_t when,
		      const char *what)
{
	int ret;
	PGresult *res = run(st, sql, p, false, &ret, what);

	if (!res)
		return ret;
	if (!changed(res))
		ret = cdr_unchanged(st, id, when);
	PQclear(res);
	return ret;
}

static int pg_cdr_update(struct sl_tsp_store *st, uint64_t id,
			 const struct sl_tsp_cdr_update *u)
{
	struct params p = { 0 };

	p_bool(&p, u->set & SL_TSP_CDR_SET_CALLER);
	p_text(&p, u->caller_account);
	p_bool(&p, u->set & SL_TSP_CDR_SET_RECIPIENT);
	p_text(&p, u->recipient_account);
	p_bool(&p, u->set & SL_TSP_CDR_SET_ANSWER);
	p_int(&p, u->answer_ms);
	p_bool(&p, u->set & SL_TSP_CDR_SET_BYTES);
	p_int(&p, (int64_t)u->bytes_up);
	p_int(&p, (int64_t)u->bytes_down);
	p_int(&p, u->now_ms);
	p_id(&p, id);
	p_text(&p, st->instance);
	/* As tspstore_sqlite.c's: a record recovery closed is still its
	 * own instance's to update. */
	return cdr_change(st, "UPDATE cdrs SET"
			  " caller_account = CASE WHEN $1 THEN $2 ELSE caller_account END,"
			  " recipient_account = CASE WHEN $3 THEN $4 ELSE recipient_account END,"
			  " answer_ms = CASE WHEN $5 THEN $6 ELSE answer_ms END,"
			  " bytes_up = CASE WHEN $7 THEN $8 ELSE bytes_up END,"
			  " bytes_down = CASE WHEN $7 THEN $9 ELSE bytes_down END,"
			  " updated_ms = GREATEST(updated_ms, $10),"
			  " end_ms = CASE WHEN recovered THEN GREATEST(end_ms, $10) END"
			  " WHERE tracking_id = $11"
			  " AND (end_ms IS NULL OR (recovered AND instance = $12))"
			  " AND ring_ms <= $10 AND (NOT $5 OR ring_ms <= $6)",
			  &p, id, u->now_ms, "updating a call record");
}

static int pg_cdr_close(struct sl_tsp_store *st, uint64_t id, int64_t end_ms,
			enum sl_tsp_outcome outcome, const char *nak_reason)
{
	struct params p = { 0 };

	p_int(&p, end_ms);
	p_text(&p, sl_tsp_outcome_name(outcome));
	p_text(&p, nak_reason);
	p_id(&p, id);
	p_text(&p, st->instance);
	return cdr_change(st, "UPDATE cdrs SET end_ms = $1, updated_ms = GREATEST(updated_ms, $1),"
			  " outcome = $2, nak_reason = $3, recovered = false"
			  " WHERE tracking_id = $4"
			  " AND (end_ms IS NULL OR (recovered AND instance = $5))"
			  " AND ring_ms <= $1 AND (answer_ms IS NULL OR answer_ms <= $1)",
			  &p, id, end_ms, "closing a call record");
}

static int pg_cdr_list(struct sl_tsp_store *st, int64_t from_ms, int64_t to_ms,
		       sl_tsp_cdr_fn fn, void *arg)
{
	int64_t last_ring = from_ms, last_id = 0;
	bool first = true;
	int ret = 0, n;

	/* The first page from from_ms on, each next one after the last
	 * (ring time, tracking id) seen. */
	do {
		struct params p = { 0 };
		PGresult *res;

		p_int(&p, last_ring);
		p_int(&p, last_id);
		p_int(&p, to_ms);
		p_int(&p, PG_PAGE_ROWS);
		res = run(st, first ?
			  "SELECT " CDR_COLS " FROM cdrs WHERE ring_ms >= $1 AND $2 = $2"
			  " AND ring_ms <= $3 ORDER BY ring_ms, tracking_id LIMIT $4" :
			  "SELECT " CDR_COLS " FROM cdrs"
			  " WHERE (ring_ms, tracking_id) > ($1, $2) AND ring_ms <= $3"
			  " ORDER BY ring_ms, tracking_id LIMIT $4", &p, false, &ret,
			  "listing call records");
		first = false;
		if (!res)
			return ret;
		n = PQntuples(res);
		for (int i = 0; i < n && !ret; ++i) {
			struct sl_tsp_cdr c;

			ret = row_cdr(st, res, i, &c);
			if (ret)
				break;
			last_ring = c.ring_ms;
			last_id = (int64_t)c.tracking_id;
			ret = fn(&c, arg);
		}
		PQclear(res);
	} while (!ret && n == PG_PAGE_ROWS);
	return ret;
}

static int pg_cdr_put(struct sl_tsp_store *st, const struct sl_tsp_cdr *c)
{
	struct sl_tsp_cdr old = { 0 };
	struct params p = { 0 };
	int ret;
	PGresult *res;

	p_id(&p, c->tracking_id);
	p_text(&p, c->instance);
	p_text(&p, c->line);
	p_text(&p, c->caller_id);
	p_int(&p, c->ring_ms);
	p_opt_int(&p, c->answer_ms);
	p_opt_int(&p, c->end_ms);
	p_int(&p, c->updated_ms);
	p_opt_text(&p, c->caller_account);
	p_opt_text(&p, c->recipient_account);
	p_int(&p, (int64_t)c->bytes_up);
	p_int(&p, (int64_t)c->bytes_down);
	p_text(&p, c->outcome == SL_TSP_OUTCOME_OPEN ? NULL :
	       sl_tsp_outcome_name(c->outcome));
	p_opt_text(&p, c->nak_reason);
	res = run(st, "INSERT INTO cdrs (" CDR_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7,"
		  " $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (tracking_id) DO NOTHING",
		  &p, false, &ret, "storing a call record");
	if (!res)
		return ret;
	if (changed(res)) {
		PQclear(res);
		return 0;
	}
	PQclear(res);
	ret = pg_cdr_get(st, c->tracking_id, &old);
	if (!ret && !sl_tsp_cdr_same(&old, c))
		ret = sl_tsp_fail(st, -EEXIST, "another call record %016llx is there already",
				  (unsigned long long)c->tracking_id);
	return ret;
}

static int pg_cdr_recover(struct sl_tsp_store *st, int64_t now_ms, bool own,
			  unsigned int *n)
{
	struct params p = { 0 };
	int ret;
	PGresult *res;

	p_text(&p, st->instance);
	p_int(&p, now_ms);
	p_bool(&p, own);
	res = run(st, "UPDATE cdrs SET end_ms = updated_ms, outcome = 'interrupted', recovered = true"
		  " WHERE end_ms IS NULL AND (($3 AND instance = $1) OR (instance <> $1 AND NOT EXISTS"
		  " (SELECT 1 FROM leases WHERE leases.instance = cdrs.instance AND expires_ms >= $2)))",
		  &p, false, &ret, "closing interrupted call records");
	if (!res)
		return ret;
	*n = (unsigned int)changed(res);
	PQclear(res);
	return 0;
}

static int pg_call_admit(struct sl_tsp_store *st, uint64_t id,
			 const char *caller, const char *recipient,
			 enum sl_tsp_limited *limited)
{
	struct params p = { 0 }, q = { 0 };
	PGresult *res;
	int ret = begin(st);

	if (ret)
		return ret;
	/* Both rows locked in number order: admissions of the same
	 * accounts on other instances wait here, never crosswise. */
	p_text(&p, caller);
	p_text(&p, recipient);
	res = run(st, "SELECT number, max_calls FROM accounts WHERE number IN ($1, $2)"
		  " ORDER BY number FOR UPDATE", &p, true, &ret,
		  "locking the accounts");
	if (!res)
		return end_tx(st, ret);
	for (int i = 0; i < PQntuples(res) && !ret; ++i) {
		const char *number = PQgetvalue(res, i, 0);
		int64_t max = col_int(res, i, 1), n;
		struct params c = { 0 };
		PGresult *cr;

		if (max <= 0)
			continue;
		p_text(&c, number);
		p_id(&c, id);
		cr = run(st, "SELECT count(*) FROM cdrs WHERE end_ms IS NULL AND admitted"
			 " AND tracking_id <> $2 AND (caller_account = $1 OR recipient_account = $1)",
			 &c, true, &ret, "counting calls");
		if (!cr)
			break;
		n = col_int(cr, 0, 0);
		PQclear(cr);
		if (n >= max) {
			*limited = !strcmp(number, caller) ? SL_TSP_LIMIT_CALLER :
				   SL_TSP_LIMIT_RECIPIENT;
			ret = sl_tsp_fail(st, -EUSERS, "account %s has %lld calls in progress, its limit",
					  number, (long long)n);
		}
	}
	PQclear(res);
	if (ret)
		return end_tx(st, ret);
	p_id(&q, id);
	p_text(&q, caller);
	p_text(&q, recipient);
	res = run(st, "UPDATE cdrs SET admitted = true, caller_account = $2, recipient_account = $3"
		  " WHERE tracking_id = $1 AND end_ms IS NULL",
		  &q, true, &ret, "admitting a call");
	if (res && !changed(res))
		ret = cdr_unchanged(st, id, 0);
	PQclear(res);
	return end_tx(st, ret);
}

static int pg_lease_renew(struct sl_tsp_store *st, int64_t now_ms,
			  int64_t until_ms, bool *held)
{
	struct params p = { 0 }, q = { 0 };
	PGresult *res;
	int ret = begin(st);

	if (ret)
		return ret;
	p_text(&p, st->instance);
	p_int(&p, now_ms);
	res = run(st, "SELECT expires_ms >= $2 FROM leases WHERE instance = $1 FOR UPDATE",
		  &p, true, &ret, "reading the lease");
	if (!res)
		return end_tx(st, ret);
	*held = PQntuples(res) == 1 && col_bool(res, 0, 0);
	PQclear(res);
	p_text(&q, st->instance);
	p_int(&q, until_ms);
	p_int(&q, now_ms);
	ret = exec_simple(st, "INSERT INTO leases (instance, expires_ms, renewed_ms) VALUES ($1, $2, $3)"
			  " ON CONFLICT (instance) DO UPDATE SET expires_ms = $2, renewed_ms = $3",
			  &q, true, "renewing the lease");
	return end_tx(st, ret);
}

static int pg_lease_release(struct sl_tsp_store *st)
{
	struct params p = { 0 };

	p_text(&p, st->instance);
	return exec_simple(st, "DELETE FROM leases WHERE instance = $1", &p,
			   false, "releasing the lease");
}

/* ------------------------------------------------------------ spool */

#define SPOOL_COLS "sid, envelope, sender, recipient, size, bucket, sha256," \
	" state, instance, received_ms, accepted_ms, not_before_ms," \
	" deliver_window, expires_ms, next_ms, attempts, last_attempt_ms," \
	" done_ms, reason, receipt, collected_ms"

static int row_spool(struct sl_tsp_store *st, PGresult *res, int row,
		     struct sl_tsp_spool_row *r)
{
	memset(r, 0, sizeof(*r));
	r->sid = (uint64_t)col_int(res, row, 0);
	if (!col_bytes(r->envelope, SL_TSP_ENVELOPE_ID_LEN, res, row, 1) ||
	    sl_tsp_spool_state_parse(PQgetvalue(res, row, 7), &r->state))
		return sl_tsp_fail(st, -EIO, "spool row %016llx is damaged",
				   (unsigned long long)r->sid);
	col_text(r->sender, sizeof(r->sender), res, row, 2);
	col_text(r->recipient, sizeof(r->recipient), res, row, 3);
	r->size = (uint64_t)col_int(res, row, 4);
	r->bucket = (uint64_t)col_int(res, row, 5);
	r->have_sha256 = col_bytes(r->sha256, SL_TSP_SHA256_LEN, res, row, 6);
	col_text(r->instance, sizeof(r->instance), res, row, 8);
	r->received_ms = col_int(res, row, 9);
	r->accepted_ms = col_int(res, row, 10);
	r->not_before_ms = col_int(res, row, 11);
	r->window = (int)col_int(res, row, 12);
	r->expires_ms = col_int(res, row, 13);
	r->next_ms = col_int(res, row, 14);
	r->attempts = (unsigned int)col_int(res, row, 15);
	r->last_attempt_ms = col_int(res, row, 16);
	r->done_ms = col_int(res, row, 17);
	col_text(r->reason, sizeof(r->reason), res, row, 18);
	col_text(r->receipt, sizeof(r->receipt), res, row, 19);
	r->collected_ms = col_int(res, row, 20);
	return 0;
}

static int spool_fetch(struct sl_tsp_store *st, const char *sql,
		       const struct params *p, bool in_tx,
		       struct sl_tsp_spool_row *r)
{
	int ret;
	PGresult *res = run(st, sql, p, in_tx, &ret, "reading the spool");

	if (!res)
		return ret;
	if (PQntuples(res) != 1)
		ret = sl_tsp_fail(st, -ENOENT, "no such envelope in the spool");
	else
		ret = row_spool(st, res, 0, r);
	PQclear(res);
	return ret;
}

static int pg_spool_get_tx(struct sl_tsp_store *st, uint64_t sid, bool in_tx,
			   struct sl_tsp_spool_row *r)
{
	struct params p = { 0 };

	p_id(&p, sid);
	return spool_fetch(st, "SELECT " SPOOL_COLS " FROM spool WHERE sid = $1",
			   &p, in_tx, r);
}

static int pg_spool_get(struct sl_tsp_store *st, uint64_t sid,
			struct sl_tsp_spool_row *r)
{
	return pg_spool_get_tx(st, sid, false, r);
}

static int pg_spool_insert(struct sl_tsp_store *st,
			   const struct sl_tsp_spool_row *r,
			   uint64_t quota_bytes, unsigned int quota_count,
			   struct sl_tsp_spool_row *old)
{
	struct params k = { 0 }, q = { 0 }, d = { 0 }, p = { 0 };
	PGresult *res;
	int64_t bytes, count;
	int ret = begin(st);

	if (ret)
		return ret;
	/* One hand-over of a sender at a time, across instances: the
	 * quota counted here still holds at the insert. */
	p_text(&k, r->sender);
	ret = exec_simple(st, "SELECT pg_advisory_xact_lock(hashtext('spool ' || $1))",
			  &k, true, "locking the sender's spool");
	if (ret)
		return end_tx(st, ret);
	p_text(&d, r->sender);
	p_bytes(&d, r->envelope, SL_TSP_ENVELOPE_ID_LEN);
	ret = spool_fetch(st, "SELECT " SPOOL_COLS " FROM spool"
			  " WHERE sender = $1 AND envelope = $2", &d, true, old);
	if (!ret)
		return end_tx(st, sl_tsp_fail(st, -EEXIST, "envelope already in the spool as %016llx",
					      (unsigned long long)old->sid));
	if (ret != -ENOENT)
		return end_tx(st, ret);
	p_text(&q, r->sender);
	res = run(st, "SELECT coalesce(sum(size), 0), count(*) FROM spool"
		  " WHERE sender = $1 AND done_ms = 0", &q, true, &ret,
		  "counting the sender's envelopes");
	if (!res)
		return end_tx(st, ret);
	bytes = col_int(res, 0, 0);
	count = col_int(res, 0, 1);
	PQclear(res);
	if ((uint64_t)bytes + r->size > quota_bytes || count + 1 > quota_count)
		return end_tx(st, sl_tsp_fail(st, -EDQUOT, "account %s holds %lld envelopes of %lld bytes at the TSP: one of %llu more passes its quota (%u envelopes, %llu bytes)",
					      r->sender, (long long)count,
					      (long long)bytes,
					      (unsigned long long)r->size,
					      quota_count,
					      (unsigned long long)quota_bytes));
	p_id(&p, r->sid);
	p_bytes(&p, r->envelope, SL_TSP_ENVELOPE_ID_LEN);
	p_text(&p, r->sender);
	p_text(&p, r->recipient);
	p_int(&p, (int64_t)r->size);
	p_int(&p, (int64_t)r->bucket);
	p_text(&p, sl_tsp_spool_state_name(r->state));
	p_text(&p, r->instance);
	p_int(&p, r->received_ms);
	p_int(&p, r->not_before_ms);
	p_int(&p, r->window);
	ret = exec_simple(st, "INSERT INTO spool (sid, envelope, sender, recipient,"
			  " size, bucket, state, instance, received_ms,"
			  " not_before_ms, deliver_window)"
			  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
			  &p, true, "adding to the spool");
	return end_tx(st, ret);
}

static int pg_spool_update(struct sl_tsp_store *st,
			   enum sl_tsp_spool_state from,
			   const struct sl_tsp_spool_row *r)
{
	struct sl_tsp_spool_row now = { 0 };
	struct params p = { 0 };
	PGresult *res;
	int ret = begin(st);

	if (ret)
		return ret;
	p_text(&p, sl_tsp_spool_state_name(r->state));
	if (r->have_sha256)
		p_bytes(&p, r->sha256, SL_TSP_SHA256_LEN);
	else
		p_text(&p, NULL);
	p_int(&p, r->accepted_ms);
	p_int(&p, r->expires_ms);
	p_int(&p, r->next_ms);
	p_int(&p, r->attempts);
	p_int(&p, r->last_attempt_ms);
	p_int(&p, r->done_ms);
	p_text(&p, r->reason);
	p_text(&p, r->receipt);
	p_int(&p, r->collected_ms);
	p_id(&p, r->sid);
	p_text(&p, sl_tsp_spool_state_name(from));
	res = run(st, "UPDATE spool SET state = $1, sha256 = $2,"
		  " accepted_ms = $3, expires_ms = $4, next_ms = $5,"
		  " attempts = $6, last_attempt_ms = $7, done_ms = $8,"
		  " reason = $9, receipt = $10, collected_ms = $11"
		  " WHERE sid = $12 AND state = $13", &p, true, &ret,
		  "updating the spool");
	if (res && !changed(res)) {
		ret = pg_spool_get_tx(st, r->sid, true, &now);
		if (!ret)
			ret = sl_tsp_fail(st, -ESTALE, "envelope %016llx is %s, not %s",
					  (unsigned long long)r->sid,
					  sl_tsp_spool_state_name(now.state),
					  sl_tsp_spool_state_name(from));
	}
	PQclear(res);
	return end_tx(st, ret);
}

static int pg_spool_list(struct sl_tsp_store *st, bool open_only,
			 sl_tsp_spool_fn fn, void *arg)
{
	int64_t last_received = INT64_MIN, last_sid = INT64_MIN;
	int ret = 0, n;

	/* Pages after the last (received time, sid) seen. */
	do {
		struct params p = { 0 };
		PGresult *res;

		p_int(&p, last_received);
		p_int(&p, last_sid);
		p_int(&p, PG_PAGE_ROWS);
		res = run(st, open_only ?
			  "SELECT " SPOOL_COLS " FROM spool WHERE done_ms = 0"
			  " AND (received_ms, sid) > ($1, $2)"
			  " ORDER BY received_ms, sid LIMIT $3" :
			  "SELECT " SPOOL_COLS " FROM spool"
			  " WHERE (received_ms, sid) > ($1, $2)"
			  " ORDER BY received_ms, sid LIMIT $3", &p, false, &ret,
			  "listing the spool");
		if (!res)
			return ret;
		n = PQntuples(res);
		for (int i = 0; i < n && !ret; ++i) {
			struct sl_tsp_spool_row r;

			ret = row_spool(st, res, i, &r);
			if (ret)
				break;
			last_received = r.received_ms;
			last_sid = (int64_t)r.sid;
			ret = fn(&r, arg);
		}
		PQclear(res);
	} while (!ret && n == PG_PAGE_ROWS);
	return ret;
}

static int pg_spool_put(struct sl_tsp_store *st,
			const struct sl_tsp_spool_row *r)
{
	struct params p = { 0 };

	p_id(&p, r->sid);
	p_bytes(&p, r->envelope, SL_TSP_ENVELOPE_ID_LEN);
	p_text(&p, r->sender);
	p_text(&p, r->recipient);
	p_int(&p, (int64_t)r->size);
	p_int(&p, (int64_t)r->bucket);
	if (r->have_sha256)
		p_bytes(&p, r->sha256, SL_TSP_SHA256_LEN);
	else
		p_text(&p, NULL);
	p_text(&p, sl_tsp_spool_state_name(r->state));
	p_text(&p, r->instance);
	p_int(&p, r->received_ms);
	p_int(&p, r->accepted_ms);
	p_int(&p, r->not_before_ms);
	p_int(&p, r->window);
	p_int(&p, r->expires_ms);
	p_int(&p, r->next_ms);
	p_int(&p, r->attempts);
	p_int(&p, r->last_attempt_ms);
	p_int(&p, r->done_ms);
	p_text(&p, r->reason);
	p_text(&p, r->receipt);
	p_int(&p, r->collected_ms);
	return exec_simple(st, "INSERT INTO spool (" SPOOL_COLS ") VALUES ($1, $2,"
			   " $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
			   " $15, $16, $17, $18, $19, $20, $21)", &p, false,
			   "copying a spool row");
}

const struct sl_tsp_store_ops sl_tsp_pg_ops = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.info = pg_info,
	.account_add = pg_account_add,
	.account_get = pg_account_get,
	.account_by_key = pg_account_by_key,
	.account_list = pg_account_list,
	.account_set_enabled = pg_account_set_enabled,
	.account_set_key = pg_account_set_key,
	.account_remove = pg_account_remove,
	.account_set_max_calls = pg_account_set_max_calls,
	.binding_add = pg_binding_add,
	.binding_remove = pg_binding_remove,
	.binding_list = pg_binding_list,
	.binding_check = pg_binding_check,
	.auth_add = pg_auth_add,
	.auth_remove = pg_auth_remove,
	.auth_list = pg_auth_list,
	.auth_check = pg_auth_check,
	.cdr_open = pg_cdr_open,
	.cdr_update = pg_cdr_update,
	.cdr_close = pg_cdr_close,
	.cdr_get = pg_cdr_get,
	.cdr_list = pg_cdr_list,
	.cdr_put = pg_cdr_put,
	.cdr_recover = pg_cdr_recover,
	.call_admit = pg_call_admit,
	.lease_renew = pg_lease_renew,
	.lease_release = pg_lease_release,
	.spool_insert = pg_spool_insert,
	.spool_get = pg_spool_get,
	.spool_update = pg_spool_update,
	.spool_list = pg_spool_list,
	.spool_put = pg_spool_put,
};
