// SPDX-License-Identifier: GPL-2.0
/*
 * The TSP's account store and call records (agent/tsp/tspstore.c and its
 * SQLite backend agent/tsp/tspstore_sqlite.c): schema migrations, every
 * lookup the TSP makes, refusals of bad input, the CDR lifecycle, a TSP
 * killed with SIGKILL mid-call, the export formats, and the durability
 * settings and permissions the store promises.
 *
 * Every time is given explicitly: nothing here depends on the clock or
 * on how fast the machine is.
 *
 * Why one file of about 1,000 lines: it tests one interface (tspstore.h)
 * through its one backend, one TEST() per operation or promise.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <sqlite3.h>

#include "check.h"
#include "tspstore.h"

static char tmpdir[] = "/tmp/sealine-tspstore-XXXXXX";
static unsigned int db_seq;

/* A fresh store path under tmpdir, in a directory that does not exist. */
static void fresh_path(char *out, size_t len)
{
	snprintf(out, len, "%s/d%u/tsp/accounts.db", tmpdir, ++db_seq);
}

static int open_new(struct sl_tsp_store *st, char *path, size_t len,
		    const char *instance, unsigned int flags)
{
	char err[SL_TSP_ERR_MAX];
	int ret;

	fresh_path(path, len);
	ret = sl_tsp_store_open(st, path, instance, flags | SL_TSP_OPEN_CREATE,
				err, sizeof(err));
	if (ret)
		printf("  open %s: %s\n", path, err);
	return ret;
}

static int reopen(struct sl_tsp_store *st, const char *path,
		  const char *instance, unsigned int flags)
{
	char err[SL_TSP_ERR_MAX];
	int ret = sl_tsp_store_open(st, path, instance, flags, err, sizeof(err));

	if (ret)
		printf("  reopen %s: %s\n", path, err);
	return ret;
}

static void make_account(struct sl_tsp_account *a, const char *number,
			 uint8_t key_byte)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->number, sizeof(a->number), "%s", number);
	snprintf(a->name, sizeof(a->name), "Account %s", number);
	memset(a->pub, key_byte, sizeof(a->pub));
	a->pub[0] = 0x40;
	snprintf(a->phone, sizeof(a->phone), "5550%s", number + 8);
	a->enabled = true;
	a->created_ms = 1700000000000LL + key_byte;
}

/* A fresh store with the accounts N0000000000N for N = 1 to n (at most
 * 9), each made by make_account with key byte N. */
static bool open_with_accounts(struct sl_tsp_store *st, char *path,
			       size_t len, int n)
{
	struct sl_tsp_account a;
	char number[SL_ACCOUNT_LEN + 1];

	if (open_new(st, path, len, NULL, 0))
		return false;
	memset(number, '0', SL_ACCOUNT_LEN);
	number[SL_ACCOUNT_LEN] = '\0';
	for (int i = 1; i <= n && i <= 9; i++) {
		number[0] = number[SL_ACCOUNT_LEN - 1] = (char)('0' + i);
		make_account(&a, number, (uint8_t)i);
		if (!CHECK(!sl_tsp_account_add(st, &a))) {
			sl_tsp_store_close(st);
			return false;
		}
	}
	return true;
}

static unsigned int mode_of(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) < 0)
		return 0xffff;
	return sb.st_mode & 07777;
}

/* ------------------------------------------------------------ open */

TEST(fresh_store_settings_and_permissions)
{
	struct sl_tsp_store st;
	struct sl_tsp_store_info info;
	struct sl_tsp_account a;
	char path[512], side[600];

	if (!CHECK(!open_new(&st, path, sizeof(path), NULL, 0)))
		return;
	CHECK(!sl_tsp_store_info(&st, &info));
	CHECK(!strcmp(info.backend, "sqlite"));
	CHECK_EQ(info.schema_version, 4);
	CHECK_EQ(info.schema_latest, 4);
	CHECKF(!strcmp(info.journal_mode, "wal"), "journal mode %s",
	       info.journal_mode);
	CHECK_EQ(info.synchronous, 2);	/* FULL */
	CHECK(info.foreign_keys);
	CHECK_EQ(info.busy_timeout_ms, SL_TSP_BUSY_TIMEOUT_MS);

	make_account(&a, "100000000001", 1);
	CHECK(!sl_tsp_account_add(&st, &a));
	CHECK_EQ(mode_of(path), 0600);
	snprintf(side, sizeof(side), "%s-wal", path);
	CHECK_EQ(mode_of(side), 0600);
	snprintf(side, sizeof(side), "%s-shm", path);
	CHECK_EQ(mode_of(side), 0600);
	/* Both directories it had to create. */
	snprintf(side, sizeof(side), "%s", path);
	*strrchr(side, '/') = '\0';
	CHECK_EQ(mode_of(side), 0700);
	*strrchr(side, '/') = '\0';
	CHECK_EQ(mode_of(side), 0700);
	sl_tsp_store_close(&st);

	/* A file made readable by others is narrowed on the next open. */
	CHECK(!chmod(path, 0644));
	if (!CHECK(!reopen(&st, path, NULL, 0)))
		return;
	CHECK_EQ(mode_of(path), 0600);
	CHECK(!sl_tsp_account_get(&st, "100000000001", &a));
	CHECK(!sl_tsp_store_info(&st, &info));
	CHECK_EQ(info.schema_version, 4);
	sl_tsp_store_close(&st);
}

/* Run sql on the SQLite file at path, outside the store's code. */
static bool raw_sql(const char *path, const char *sql)
{
	sqlite3 *db;
	bool ok;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return false;
	ok = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
	sqlite3_close(db);
	return ok;
}

/* Each step keeps what the earlier schema held: an account of version 1,
 * a record of version 2, both as the code of their time wrote them. */
TEST(migrations_step_by_step)
{
	struct sl_tsp_store st;
	struct sl_tsp_store_info info;
	struct sl_tsp_account a;
	struct sl_tsp_cdr c;
	char path[512];

	sl_tsp_schema_limit = 1;
	if (!CHECK(!open_new(&st, path, sizeof(path), NULL, 0)))
		goto out;
	CHECK(!sl_tsp_store_info(&st, &info));
	CHECK_EQ(info.schema_version, 1);
	sl_tsp_store_close(&st);
	CHECK(raw_sql(path, "INSERT INTO accounts (number, name, pubkey, phone, enabled, created_ms)"
		      " VALUES ('100000000001', 'Account 100000000001', zeroblob(32), '5550001', 1, 7)"));

	sl_tsp_schema_limit = 2;
	if (!CHECK(!reopen(&st, path, NULL, 0)))
		goto out;
	CHECK(!sl_tsp_store_info(&st, &info));
	CHECK_EQ(info.schema_version, 2);
	sl_tsp_store_close(&st);
	CHECK(raw_sql(path, "INSERT INTO cdrs (tracking_id, instance, line, ring_ms, updated_ms)"
		      " VALUES (4660, 'tsp-a', 'ttyS1', 1000, 1000)"));

	sl_tsp_schema_limit = 3;
	if (!CHECK(!reopen(&st, path, "tsp-a", SL_TSP_OPEN_SERVER)))
		goto out;
	CHECK(!sl_tsp_store_info(&st, &info));
	CHECK_EQ(info.schema_version, 3);
	sl_tsp_store_close(&st);

	/* 3 -> 4 adds the spool's table, empty and usable. */
	sl_tsp_schema_limit = 0;
	if (!CHECK(!reopen(&st, path, "tsp-a", SL_TSP_OPEN_SERVER)))
		goto out;
	CHECK(!sl_tsp_store_info(&st, &info));
	CHECK_EQ(info.schema_version, 4);
	{
		struct sl_tsp_spool_row r = {
			.sid = 77, .sender = "100000000001",
			.recipient = "100000000001", .size = 169,
			.bucket = 65536, .state = SL_TSP_SPOOL_RECEIVING,
			.instance = "tsp-a", .received_ms = 5,
			.window = SL_TSP_WINDOW_NONE,
		}, old, got;

		CHECK(!sl_tsp_spool_insert(&st, &r, 1 << 20, 10, &old));
		CHECK(!sl_tsp_spool_get(&st, 77, &got));
		CHECK_EQ(got.size, 169);
		CHECK_EQ(got.window, SL_TSP_WINDOW_NONE);
	}
	CHECK(!sl_tsp_account_get(&st, "100000000001", &a));
	CHECK(!strcmp(a.name, "Account 100000000001"));
	CHECK_EQ(a.max_calls, 0u);
	CHECK(!sl_tsp_cdr_get(&st, 4660, &c));
	CHECK_EQ(c.outcome, SL_TSP_OUTCOME_OPEN);
	sl_tsp_store_close(&st);
out:
	sl_tsp_schema_limit = 0;
}

TEST(newer_schema_is_refused)
{
	struct sl_tsp_store st;
	char path[512], err[SL_TSP_ERR_MAX];
	sqlite3 *db;

	if (!CHECK(!open_new(&st, path, sizeof(path), NULL, 0)))
		return;
	sl_tsp_store_close(&st);
	if (!CHECK(sqlite3_open(path, &db) == SQLITE_OK))
		return;
	CHECK(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL) ==
	      SQLITE_OK);
	sqlite3_close(db);
	CHECK_EQ(sl_tsp_store_open(&st, path, NULL, SL_TSP_OPEN_CREATE, err,
				   sizeof(err)), -EPROTO);
	CHECKF(strstr(err, "schema version 99") && strstr(err, "newer"),
	       "message: %s", err);
	CHECK(st.ops == NULL);
}

TEST(open_refusals)
{
	struct sl_tsp_store st;
	char path[512], err[SL_TSP_ERR_MAX];

	fresh_path(path, sizeof(path));
	CHECK_EQ(sl_tsp_store_open(&st, path, NULL, 0, err, sizeof(err)), -ENOENT);
	CHECKF(strstr(err, "no TSP account store"), "message: %s", err);
	CHECK_EQ(mode_of(path), 0xffff);	/* not created */
	CHECK_EQ(sl_tsp_store_open(&st, "mysql:host=db", NULL, 0, err,
				   sizeof(err)), -EPROTONOSUPPORT);
	CHECKF(strstr(err, "unknown store backend 'mysql'") &&
	       strstr(err, "postgresql://"), "message: %s", err);
	CHECK_EQ(sl_tsp_store_open(&st, path, NULL,
				   SL_TSP_OPEN_CREATE | SL_TSP_OPEN_SERVER,
				   err, sizeof(err)), -EINVAL);
	CHECK_EQ(sl_tsp_store_open(&st, path, "bad id", SL_TSP_OPEN_CREATE,
				   err, sizeof(err)), -EINVAL);
	CHECK_EQ(sl_tsp_store_open(&st, "", NULL, 0, err, sizeof(err)), -EINVAL);
	/* A directory is not a store. */
	CHECK(sl_tsp_store_open(&st, tmpdir, NULL, SL_TSP_OPEN_CREATE, err,
				sizeof(err)) < 0);
	/* "sqlite:" names the backend explicitly. */
	{
		char loc[600];
		char e2[SL_TSP_ERR_MAX];

		snprintf(loc, sizeof(loc), "sqlite:%s", path);
		if (CHECK(!sl_tsp_store_open(&st, loc, NULL, SL_TSP_OPEN_CREATE,
					     e2, sizeof(e2))))
			sl_tsp_store_close(&st);
	}
}

/* ------------------------------------------------------------ accounts */

struct collect {
	char items[16][64];
	unsigned int n;
};

static int collect_account(const struct sl_tsp_account *a, void *arg)
{
	struct collect *c = arg;

	if (c->n < 16)
		snprintf(c->items[c->n], sizeof(c->items[0]), "%s", a->number);
	c->n++;
	return 0;
}

static int collect_binding(enum sl_tsp_binding_kind kind, const char *value,
			   void *arg)
{
	struct collect *c = arg;

	if (c->n < 16)
		snprintf(c->items[c->n], sizeof(c->items[0]), "%s:%s",
			 kind == SL_TSP_BIND_LINE ? "line" : "cid", value);
	c->n++;
	return 0;
}

static int collect_number(const char *number, void *arg)
{
	struct collect *c = arg;

	if (c->n < 16)
		snprintf(c->items[c->n], sizeof(c->items[0]), "%s", number);
	c->n++;
	return 0;
}

static int stop_after_one(const struct sl_tsp_account *a, void *arg)
{
	(void)a;
	++*(unsigned int *)arg;
	return 7;
}

TEST(accounts)
{
	struct sl_tsp_store st;
	struct sl_tsp_account a, b, got;
	struct collect c = { 0 };
	uint8_t key[SL_TSP_KEY_LEN];
	unsigned int calls = 0;
	char path[512];

	if (!CHECK(!open_new(&st, path, sizeof(path), NULL, 0)))
		return;
	make_account(&b, "200000000002", 2);
	make_account(&a, "100000000001", 1);
	snprintf(a.name, sizeof(a.name), "Müller & Söhne, \"GmbH\"");
	CHECK(!sl_tsp_account_add(&st, &b));
	CHECK(!sl_tsp_account_add(&st, &a));

	CHECK(!sl_tsp_account_get(&st, "100000000001", &got));
	CHECK(!strcmp(got.name, a.name));
	CHECK_MEM(got.pub, a.pub, SL_TSP_KEY_LEN);
	CHECK(!strcmp(got.phone, a.phone));
	CHECK(got.enabled);
	CHECK_EQ(got.created_ms, a.created_ms);

	CHECK(!sl_tsp_account_by_key(&st, b.pub, &got));
	CHECK(!strcmp(got.number, "200000000002"));
	memset(key, 0x77, sizeof(key));
	CHECK_EQ(sl_tsp_account_by_key(&st, key, &got), -ENOENT);
	CHECK_EQ(sl_tsp_account_get(&st, "300000000003", &got), -ENOENT);
	CHECKF(strstr(sl_tsp_store_error(&st), "no account 300000000003"),
	       "message: %s", sl_tsp_store_error(&st));

	/* Duplicates, each with its own message. */
	CHECK_EQ(sl_tsp_account_add(&st, &a), -EEXIST);
	CHECK(strstr(sl_tsp_store_error(&st), "exists already") != NULL);
	make_account(&got, "300000000003", 3);
	memcpy(got.pub, a.pub, sizeof(got.pub));
	CHECK_EQ(sl_tsp_account_add(&st, &got), -EEXIST);
	CHECKF(strstr(sl_tsp_store_error(&st), "belongs to account 100000000001"),
	       "message: %s", sl_tsp_store_error(&st));

	CHECK(!sl_tsp_account_list(&st, collect_account, &c));
	CHECK_EQ(c.n, 2);
	CHECK(!strcmp(c.items[0], "100000000001"));
	CHECK(!strcmp(c.items[1], "200000000002"));
	CHECK_EQ(sl_tsp_account_list(&st, stop_after_one, &calls), 7);
	CHECK_EQ(calls, 1);

	CHECK(!sl_tsp_account_set_enabled(&st, "100000000001", false));
	CHECK(!sl_tsp_account_get(&st, "100000000001", &got));
	CHECK(!got.enabled);
	CHECK(!sl_tsp_account_set_enabled(&st, "100000000001", true));
	CHECK(!sl_tsp_account_get(&st, "100000000001", &got));
	CHECK(got.enabled);
	CHECK_EQ(sl_tsp_account_set_enabled(&st, "300000000003", true), -ENOENT);

	/* A new key: not one another account holds; its own is fine. */
	CHECK_EQ(sl_tsp_account_set_key(&st, "100000000001", b.pub), -EEXIST);
	CHECK(!sl_tsp_account_set_key(&st, "100000000001", a.pub));
	CHECK(!sl_tsp_account_set_key(&st, "100000000001", key));
	CHECK(!sl_tsp_account_by_key(&st, key, &got));
	CHECK(!strcmp(got.number, "100000000001"));
	CHECK_EQ(sl_tsp_account_by_key(&st, a.pub, &got), -ENOENT);
	CHECK_EQ(sl_tsp_account_set_key(&st, "300000000003", a.pub), -ENOENT);

	CHECK(!sl_tsp_account_remove(&st, "200000000002"));
	CHECK_EQ(sl_tsp_account_remove(&st, "200000000002"), -ENOENT);
	CHECK_EQ(sl_tsp_account_by_key(&st, b.pub, &got), -ENOENT);
	sl_tsp_store_close(&st);
}

TEST(account_bad_inputs)
{
	static const char *const bad_numbers[] = {
		"", "12345678901", "1234567890123", "12345678901a",
		"+12345678901", " 12345678901",
	};
	static const char *const bad_phones[] = {
		"", "+15551234", "555 1234", "555-1234",
		"123456789012345678901234567890123",	/* 33 digits */
	};
	struct sl_tsp_store st;
	struct sl_tsp_account a, got;
	char path[512];
	size_t i;

	if (!CHECK(!open_new(&st, path, sizeof(path), NULL, 0)))
		return;
	for (i = 0; i < sizeof(bad_numbers) / sizeof(bad_numbers[0]); ++i) {
		CHECKF(sl_tsp_account_get(&st, bad_numbers[i], &got) == -EINVAL,
		       "number '%s'", bad_numbers[i]);
		CHECK(strstr(sl_tsp_store_error(&st), "not an account number"));
		if (strlen(bad_numbers[i]) >= sizeof(a.number))	/* cannot fit */
			continue;
		make_account(&a, "100000000001", 1);
		snprintf(a.number, sizeof(a.number), "%s", bad_numbers[i]);
		CHECKF(sl_tsp_account_add(&st, &a) == -EINVAL, "number '%s'",
		       bad_numbers[i]);
	}
	CHECK_EQ(sl_tsp_account_get(&st, NULL, &got), -EINVAL);
	for (i = 0; i < sizeof(bad_phones) / sizeof(bad_phones[0]); ++i) {
		make_account(&a, "100000000001", 1);
		snprintf(a.phone, sizeof(a.phone), "%s", bad_phones[i]);
		if (strlen(bad_phones[i]) >= sizeof(a.phone))	/* too long to fit */
			continue;
		CHECKF(sl_tsp_account_add(&st, &a) == -EINVAL, "phone '%s'",
		       bad_phones[i]);
	}
	make_account(&a, "100000000001", 1);
	a.name[0] = '\0';
	CHECK_EQ(sl_tsp_account_add(&st, &a), -EINVAL);
	snprintf(a.name, sizeof(a.name), "line\nbreak");
	CHECK_EQ(sl_tsp_account_add(&st, &a), -EINVAL);
	snprintf(a.name, sizeof(a.name), " padded");
	CHECK_EQ(sl_tsp_account_add(&st, &a), -EINVAL);
	snprintf(a.name, sizeof(a.name), "tab\there");
	CHECK_EQ(sl_tsp_account_add(&st, &a), -EINVAL);
	memset(a.name, 'x', SL_TSP_NAME_MAX);
	a.name[SL_TSP_NAME_MAX] = '\0';
	CHECK(!sl_tsp_account_add(&st, &a));	/* the longest is fine */
	CHECK(!sl_tsp_phone_valid("123456789012345678901234567890123"));
	CHECK(sl_tsp_phone_valid("12345678901234567890123456789012"));
	sl_tsp_store_close(&st);
}

/* The call limit as sealctl and sealine-ui read it: one rule for both. */
TEST(max_calls_parse)
{
	static const char *const bad[] = {
		"", " 5", "5 ", "+5", "-1", "5x", "0x10", "100001", "1000000",
		"0000005", "18446744073709551621",
	};
	unsigned int n = 7;
	size_t i;

	CHECK(!sl_tsp_max_calls_parse("0", &n) && n == 0);
	CHECK(!sl_tsp_max_calls_parse("12", &n) && n == 12);
	CHECK(!sl_tsp_max_calls_parse("100000", &n) && n == SL_TSP_MAX_CALLS_LIMIT);
	CHECK(!sl_tsp_max_calls_parse("000005", &n) && n == 5);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
		n = 7;
		CHECKF(sl_tsp_max_calls_parse(bad[i], &n) == -EINVAL && n == 7,
		       "'%s'", bad[i]);
	}
	CHECK(sl_tsp_max_calls_parse(NULL, &n) == -EINVAL);
}

/* ------------------------------------------------------------ lookups */

TEST(caller_bindings)
{
	struct sl_tsp_store st;
	struct sl_tsp_account a;
	struct collect c = { 0 };
	char path[512];
	bool ok = true;

	if (!CHECK(open_with_accounts(&st, path, sizeof(path), 1)))
		return;

	/* No binding at all: refused, whatever the caller ID or line. */
	CHECK(!sl_tsp_caller_bound(&st, "100000000001", "5551001", "ttyS1", &ok));
	CHECK(!ok);
	ok = true;
	CHECK(!sl_tsp_caller_bound(&st, "100000000001", NULL, NULL, &ok));
	CHECK(!ok);

	CHECK(!sl_tsp_binding_add(&st, "100000000001", SL_TSP_BIND_CALLER_ID, "5551001"));
	CHECK(!sl_tsp_binding_add(&st, "100000000001", SL_TSP_BIND_CALLER_ID, "5551002"));
	CHECK(!sl_tsp_binding_add(&st, "100000000001", SL_TSP_BIND_LINE, "ttyS3"));
	CHECK_EQ(sl_tsp_binding_add(&st, "100000000001", SL_TSP_BIND_CALLER_ID, "5551001"),
		 -EEXIST);
	CHECK_EQ(sl_tsp_binding_add(&st, "300000000003", SL_TSP_BIND_CALLER_ID, "5551001"),
		 -ENOENT);
	CHECK_EQ(sl_tsp_binding_add(&st, "100000000001", SL_TSP_BIND_CALLER_ID, "+5551001"),
		 -EINVAL);
	CHECK_EQ(sl_tsp_binding_add(&st, "100000000001", SL_TSP_BIND_LINE, "tty S3"),
		 -EINVAL);
	CHECK_EQ(sl_tsp_binding_add(&st, "100000000001", SL_TSP_BIND_LINE, ""),
		 -EINVAL);
	CHECK_EQ(sl_tsp_binding_add(&st, "100000000001", 7, "x"), -EINVAL);

	CHECK(!sl_tsp_caller_bound(&st, "100000000001", "5551001", "ttyS1", &ok));
	CHECK(ok);
	CHECK(!sl_tsp_caller_bound(&st, "100000000001", "5551002", NULL, &ok));
	CHECK(ok);
	CHECK(!sl_tsp_caller_bound(&st, "100000000001", "5559999", "ttyS1", &ok));
	CHECK(!ok);
	/* The line binding passes without a caller ID, or with a wrong one. */
	CHECK(!sl_tsp_caller_bound(&st, "100000000001", NULL, "ttyS3", &ok));
	CHECK(ok);
	CHECK(!sl_tsp_caller_bound(&st, "100000000001", "5559999", "ttyS3", &ok));
	CHECK(ok);
	/* A withheld caller ID ("P") binds nothing but is not an error. */
	CHECK(!sl_tsp_caller_bound(&st, "100000000001", "P", "ttyS1", &ok));
	CHECK(!ok);
	/* Another account's binding does not count. */
	make_account(&a, "200000000002", 2);
	CHECK(!sl_tsp_account_add(&st, &a));
	CHECK(!sl_tsp_caller_bound(&st, "200000000002", "5551001", "ttyS3", &ok));
	CHECK(!ok);
	ok = true;
	CHECK_EQ(sl_tsp_caller_bound(&st, "1", "5551001", NULL, &ok), -EINVAL);
	CHECK(!ok);

	CHECK(!sl_tsp_binding_list(&st, "100000000001", collect_binding, &c));
	CHECK_EQ(c.n, 3);
	CHECK(!strcmp(c.items[0], "cid:5551001"));
	CHECK(!strcmp(c.items[1], "cid:5551002"));
	CHECK(!strcmp(c.items[2], "line:ttyS3"));

	CHECK(!sl_tsp_binding_remove(&st, "100000000001", SL_TSP_BIND_CALLER_ID, "5551001"));
	CHECK_EQ(sl_tsp_binding_remove(&st, "100000000001", SL_TSP_BIND_CALLER_ID, "5551001"),
		 -ENOENT);
	CHECK(!sl_tsp_caller_bound(&st, "100000000001", "5551001", NULL, &ok));
	CHECK(!ok);

	/* Removing the account removes its bindings. */
	CHECK(!sl_tsp_account_remove(&st, "100000000001"));
	make_account(&a, "100000000001", 1);
	CHECK(!sl_tsp_account_add(&st, &a));
	memset(&c, 0, sizeof(c));
	CHECK(!sl_tsp_binding_list(&st, "100000000001", collect_binding, &c));
	CHECK_EQ(c.n, 0);
	sl_tsp_store_close(&st);
}

/* The per-account limits: the binding after the most is refused with
 * -ENOSPC and says why, and the limit is per account. */
TEST(binding_limit)
{
	struct sl_tsp_store st;
	char path[512], cid[16];
	int added = 0;

	if (!CHECK(open_with_accounts(&st, path, sizeof(path), 2)))
		return;
	for (int i = 0; i < SL_TSP_MAX_BINDINGS; i++) {
		snprintf(cid, sizeof(cid), "555%04d", i);
		added += !sl_tsp_binding_add(&st, "100000000001",
					     SL_TSP_BIND_CALLER_ID, cid);
	}
	CHECK_EQ(added, SL_TSP_MAX_BINDINGS);
	CHECK_EQ(sl_tsp_binding_add(&st, "100000000001", SL_TSP_BIND_LINE,
				    "ttyS9"), -ENOSPC);
	CHECKF(strstr(sl_tsp_store_error(&st), "account 100000000001 has 256 bindings") != NULL,
	       "error: %s", sl_tsp_store_error(&st));
	/* Nothing of the refused one stays; other accounts are not full. */
	CHECK_EQ(sl_tsp_binding_remove(&st, "100000000001", SL_TSP_BIND_LINE,
				       "ttyS9"), -ENOENT);
	CHECK(!sl_tsp_binding_add(&st, "200000000002", SL_TSP_BIND_LINE,
				  "ttyS9"));
	sl_tsp_store_close(&st);
}

TEST(authorised_callers)
{
	struct sl_tsp_store st;
	struct collect c = { 0 };
	char path[512];
	bool ok = true;

	if (!CHECK(open_with_accounts(&st, path, sizeof(path), 3)))
		return;

	/* An empty list lets nobody call. */
	CHECK(!sl_tsp_caller_authorised(&st, "200000000002", "100000000001", &ok));
	CHECK(!ok);

	CHECK(!sl_tsp_auth_add(&st, "200000000002", "100000000001"));
	CHECK(!sl_tsp_auth_add(&st, "200000000002", "300000000003"));
	CHECK_EQ(sl_tsp_auth_add(&st, "200000000002", "100000000001"), -EEXIST);
	CHECK_EQ(sl_tsp_auth_add(&st, "200000000002", "200000000002"), -EINVAL);
	CHECK_EQ(sl_tsp_auth_add(&st, "200000000002", "900000000009"), -ENOENT);
	CHECK(strstr(sl_tsp_store_error(&st), "900000000009") != NULL);
	CHECK_EQ(sl_tsp_auth_add(&st, "900000000009", "100000000001"), -ENOENT);
	CHECK_EQ(sl_tsp_auth_add(&st, "2", "100000000001"), -EINVAL);

	CHECK(!sl_tsp_caller_authorised(&st, "200000000002", "100000000001", &ok));
	CHECK(ok);
	/* Not symmetric. */
	CHECK(!sl_tsp_caller_authorised(&st, "100000000001", "200000000002", &ok));
	CHECK(!ok);

	CHECK(!sl_tsp_auth_list(&st, "200000000002", collect_number, &c));
	CHECK_EQ(c.n, 2);
	CHECK(!strcmp(c.items[0], "100000000001"));
	CHECK(!strcmp(c.items[1], "300000000003"));

	CHECK(!sl_tsp_auth_remove(&st, "200000000002", "100000000001"));
	CHECK_EQ(sl_tsp_auth_remove(&st, "200000000002", "100000000001"), -ENOENT);
	CHECK(!sl_tsp_caller_authorised(&st, "200000000002", "100000000001", &ok));
	CHECK(!ok);

	/* Removing a caller's account removes it from every list. */
	CHECK(!sl_tsp_account_remove(&st, "300000000003"));
	memset(&c, 0, sizeof(c));
	CHECK(!sl_tsp_auth_list(&st, "200000000002", collect_number, &c));
	CHECK_EQ(c.n, 0);
	sl_tsp_store_close(&st);
}

/* ------------------------------------------------------------ CDRs */

TEST(cdr_lifecycle)
{
	struct sl_tsp_store st;
	struct sl_tsp_cdr_start s = {
		.line = "ttyS1", .caller_id = "5551001", .ring_ms = 1700000000000LL,
	};
	struct sl_tsp_cdr_update u = { 0 };
	struct sl_tsp_cdr c;
	char path[512];
	uint64_t id, id2;

	if (!CHECK(!open_new(&st, path, sizeof(path), "tsp-a", SL_TSP_OPEN_SERVER)))
		return;
	CHECK(!sl_tsp_cdr_open(&st, &s, &id));
	CHECK(id != 0);
	CHECK(!sl_tsp_cdr_get(&st, id, &c));
	CHECK_EQ(c.tracking_id, id);
	CHECK(!strcmp(c.instance, "tsp-a"));
	CHECK(!strcmp(c.line, "ttyS1"));
	CHECK(!strcmp(c.caller_id, "5551001"));
	CHECK_EQ(c.ring_ms, s.ring_ms);
	CHECK_EQ(c.answer_ms, 0);
	CHECK_EQ(c.end_ms, 0);
	CHECK_EQ(c.outcome, SL_TSP_OUTCOME_OPEN);
	CHECK(!c.caller_account[0]);

	u.set = SL_TSP_CDR_SET_CALLER | SL_TSP_CDR_SET_RECIPIENT;
	u.caller_account = "100000000001";
	u.recipient_account = "200000000002";
	u.now_ms = s.ring_ms + 800;
	CHECK(!sl_tsp_cdr_update(&st, id, &u));
	u.set = SL_TSP_CDR_SET_ANSWER;
	u.answer_ms = s.ring_ms + 5000;
	u.now_ms = u.answer_ms;
	CHECK(!sl_tsp_cdr_update(&st, id, &u));
	u.set = SL_TSP_CDR_SET_BYTES;
	u.bytes_up = 123456;
	u.bytes_down = 789;
	u.now_ms = s.ring_ms + 60000;
	CHECK(!sl_tsp_cdr_update(&st, id, &u));
	CHECK(!sl_tsp_cdr_get(&st, id, &c));
	CHECK(!strcmp(c.caller_account, "100000000001"));
	CHECK(!strcmp(c.recipient_account, "200000000002"));
	CHECK_EQ(c.answer_ms, s.ring_ms + 5000);
	CHECK_EQ(c.bytes_up, 123456);
	CHECK_EQ(c.bytes_down, 789);
	CHECK_EQ(c.updated_ms, s.ring_ms + 60000);
	CHECK_EQ(sl_tsp_cdr_duration_ms(&c), 0);	/* still open */

	CHECK(!sl_tsp_cdr_close(&st, id, s.ring_ms + 65250, SL_TSP_OUTCOME_COMPLETED,
				NULL));
	CHECK(!sl_tsp_cdr_get(&st, id, &c));
	CHECK_EQ(c.end_ms, s.ring_ms + 65250);
	CHECK_EQ(c.outcome, SL_TSP_OUTCOME_COMPLETED);
	CHECK_EQ(sl_tsp_cdr_duration_ms(&c), 60250);
	CHECK_EQ(c.bytes_up, 123456);

	/* A closed record stays as it is. */
	CHECK_EQ(sl_tsp_cdr_close(&st, id, s.ring_ms + 70000, SL_TSP_OUTCOME_BUSY,
				  NULL), -EALREADY);
	CHECK_EQ(sl_tsp_cdr_update(&st, id, &u), -EALREADY);
	CHECK(!sl_tsp_cdr_get(&st, id, &c));
	CHECK_EQ(c.outcome, SL_TSP_OUTCOME_COMPLETED);

	/* A refused call: NAK with its reason, never answered. */
	CHECK(!sl_tsp_cdr_open(&st, &s, &id2));
	CHECK(id2 != id);
	CHECK_EQ(sl_tsp_cdr_close(&st, id2, s.ring_ms + 2000, SL_TSP_OUTCOME_NAK,
				  NULL), -EINVAL);
	CHECK_EQ(sl_tsp_cdr_close(&st, id2, s.ring_ms + 2000,
				  SL_TSP_OUTCOME_BUSY, "BUSY"), -EINVAL);
	CHECK_EQ(sl_tsp_cdr_close(&st, id2, s.ring_ms + 2000, SL_TSP_OUTCOME_NAK,
				  "CALLER ID"), -EINVAL);
	CHECK_EQ(sl_tsp_cdr_close(&st, id2, s.ring_ms + 2000,
				  SL_TSP_OUTCOME_OPEN, NULL), -EINVAL);
	CHECK_EQ(sl_tsp_cdr_close(&st, id2, s.ring_ms + 2000,
				  SL_TSP_OUTCOME_COUNT, NULL), -EINVAL);
	/* Before it rang. */
	CHECK_EQ(sl_tsp_cdr_close(&st, id2, s.ring_ms - 1, SL_TSP_OUTCOME_NAK,
				  "CALLER_ID_MISMATCH"), -EINVAL);
	CHECK(!sl_tsp_cdr_close(&st, id2, s.ring_ms + 2000, SL_TSP_OUTCOME_NAK,
				"CALLER_ID_MISMATCH"));
	CHECK(!sl_tsp_cdr_get(&st, id2, &c));
	CHECK_EQ(c.outcome, SL_TSP_OUTCOME_NAK);
	CHECK(!strcmp(c.nak_reason, "CALLER_ID_MISMATCH"));
	CHECK_EQ(sl_tsp_cdr_duration_ms(&c), 0);

	/* Unknown records and bad updates. */
	CHECK_EQ(sl_tsp_cdr_get(&st, 42, &c), -ENOENT);
	CHECK_EQ(sl_tsp_cdr_close(&st, 42, s.ring_ms, SL_TSP_OUTCOME_BUSY, NULL),
		 -ENOENT);
	u.set = SL_TSP_CDR_SET_CALLER;
	u.caller_account = "12";
	CHECK_EQ(sl_tsp_cdr_update(&st, id2, &u), -EINVAL);
	u.set = 0x100;
	CHECK_EQ(sl_tsp_cdr_update(&st, id2, &u), -EINVAL);
	s.line = "bad line";
	CHECK_EQ(sl_tsp_cdr_open(&st, &s, &id), -EINVAL);
	s.line = "ttyS1";
	s.caller_id = "555\n1";
	CHECK_EQ(sl_tsp_cdr_open(&st, &s, &id), -EINVAL);
	/* Without a caller ID at all. */
	s.caller_id = NULL;
	CHECK(!sl_tsp_cdr_open(&st, &s, &id));
	CHECK(!sl_tsp_cdr_get(&st, id, &c));
	CHECK(!c.caller_id[0]);
	sl_tsp_store_close(&st);

	/* An administrative open (no instance) cannot write call records. */
	if (!CHECK(!reopen(&st, path, NULL, 0)))
		return;
	s.caller_id = "5551001";
	CHECK_EQ(sl_tsp_cdr_open(&st, &s, &id), -EINVAL);
	sl_tsp_store_close(&st);
}

TEST(tracking_id_bytes)
{
	uint8_t b[SL_TSP_TRACKING_LEN];
	static const uint8_t want[SL_TSP_TRACKING_LEN] = {
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	};

	sl_tsp_tracking_to_bytes(0x0123456789abcdefULL, b);
	CHECK_MEM(b, want, sizeof(want));
	CHECK_EQ(sl_tsp_tracking_from_bytes(want), 0x0123456789abcdefULL);
	for (int i = 0; i < 100; ++i) {
		uint64_t v = check_rand();

		sl_tsp_tracking_to_bytes(v, b);
		if (!CHECK_EQ(sl_tsp_tracking_from_bytes(b), v))
			break;
	}
}

/*
 * The child plays a TSP: opens four calls, closes two, updates one of the
 * open ones, then tells the parent their ids and waits to be killed. The
 * pipe, not a sleep, orders the two processes.
 */
static void killed_tsp_child(const char *path, int wfd)
{
	struct sl_tsp_store st;
	struct sl_tsp_cdr_start s = { .line = "ttyS1", .caller_id = "5551001" };
	struct sl_tsp_cdr_update u = { 0 };
	char err[SL_TSP_ERR_MAX];
	uint64_t ids[4];

	if (sl_tsp_store_open(&st, path, "tsp-a", SL_TSP_OPEN_SERVER, err,
			      sizeof(err)))
		_exit(2);
	for (int i = 0; i < 4; ++i) {
		s.ring_ms = 1000000 + i * 1000;
		if (sl_tsp_cdr_open(&st, &s, &ids[i]))
			_exit(3);
	}
	if (sl_tsp_cdr_close(&st, ids[0], 1500000, SL_TSP_OUTCOME_COMPLETED, NULL) ||
	    sl_tsp_cdr_close(&st, ids[1], 1600000, SL_TSP_OUTCOME_NO_ANSWER, NULL))
		_exit(4);
	u.set = SL_TSP_CDR_SET_ANSWER | SL_TSP_CDR_SET_BYTES;
	u.answer_ms = 1003500;
	u.bytes_up = 4096;
	u.bytes_down = 512;
	u.now_ms = 1007777;
	if (sl_tsp_cdr_update(&st, ids[2], &u))
		_exit(5);
	if (write(wfd, ids, sizeof(ids)) != (ssize_t)sizeof(ids))
		_exit(6);
	for (;;)
		pause();
}

TEST(sigkill_mid_call)
{
	struct sl_tsp_store st;
	struct sl_tsp_cdr_start s = { .line = "ttyS9", .ring_ms = 999000 };
	struct sl_tsp_cdr c;
	char path[512];
	uint64_t ids[4], other;
	unsigned int recovered;
	int fds[2], status;
	pid_t pid;
	ssize_t n;

	/* Another TSP instance sharing the store has a call open, and
	 * its lease until 2,000,000. */
	if (!CHECK(!open_new(&st, path, sizeof(path), "tsp-b", SL_TSP_OPEN_SERVER)))
		return;
	CHECK(!sl_tsp_cdr_open(&st, &s, &other));
	CHECK(!sl_tsp_lease_renew(&st, 1000000, 1000000, NULL));
	/* No connection may cross fork(). */
	sl_tsp_store_close(&st);

	if (!CHECK(!pipe(fds)))
		return;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		killed_tsp_child(path, fds[1]);
	}
	close(fds[1]);
	if (!CHECK(pid > 0))
		return;
	n = read(fds[0], ids, sizeof(ids));
	close(fds[0]);
	CHECK(!kill(pid, SIGKILL));
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	       "child status 0x%x", status);
	if (!CHECKF(n == (ssize_t)sizeof(ids), "child sent %zd bytes", n))
		return;

	/* sealctl opens without recovering: the calls still look open. */
	if (!CHECK(!reopen(&st, path, NULL, 0)))
		return;
	CHECK(!sl_tsp_cdr_get(&st, ids[2], &c));
	CHECK_EQ(c.outcome, SL_TSP_OUTCOME_OPEN);
	sl_tsp_store_close(&st);

	/* The TSP comes back, while tsp-b's lease holds. */
	if (!CHECK(!reopen(&st, path, "tsp-a", SL_TSP_OPEN_SERVER)))
		return;
	CHECK(!sl_tsp_store_recover(&st, 1500000, true, &recovered));
	CHECK_EQ(recovered, 2);
	CHECK(!sl_tsp_cdr_get(&st, ids[0], &c));
	CHECK_EQ(c.outcome, SL_TSP_OUTCOME_COMPLETED);
	CHECK_EQ(c.end_ms, 1500000);
	CHECK(!sl_tsp_cdr_get(&st, ids[1], &c));
	CHECK_EQ(c.outcome, SL_TSP_OUTCOME_NO_ANSWER);
	CHECK_EQ(c.end_ms, 1600000);
	CHECK(!sl_tsp_cdr_get(&st, ids[2], &c));
	CHECK_EQ(c.outcome, SL_TSP_OUTCOME_INTERRUPTED);
	CHECK_EQ(c.end_ms, 1007777);	/* its last update */
	CHECK_EQ(c.answer_ms, 1003500);
	CHECK_EQ(c.bytes_up, 4096);
	CHECK_EQ(sl_tsp_cdr_duration_ms(&c), 1007777 - 1003500);
	CHECK(!sl_tsp_cdr_get(&st, ids[3], &c));
	CHECK_EQ(c.outcome, SL_TSP_OUTCOME_INTERRUPTED);
	CHECK_EQ(c.end_ms, 1003000);	/* never updated: its ring time */
	/* The other instance's call is not this TSP's to close while its
	 * lease holds. */
	CHECK(!sl_tsp_cdr_get(&st, other, &c));
	CHECK_EQ(c.outcome, SL_TSP_OUTCOME_OPEN);
	sl_tsp_store_close(&st);

	/* Recovery happens once; tsp-b's lease expires, and its call is
	 * closed by the next recovery of any instance. */
	if (!CHECK(!reopen(&st, path, "tsp-a", SL_TSP_OPEN_SERVER)))
		return;
	CHECK(!sl_tsp_store_recover(&st, 2000000, true, &recovered));
	CHECK_EQ(recovered, 0);
	CHECK(!sl_tsp_store_recover(&st, 2000001, false, &recovered));
	CHECK_EQ(recovered, 1);
	CHECK(!sl_tsp_cdr_get(&st, other, &c));
	CHECK_EQ(c.outcome, SL_TSP_OUTCOME_INTERRUPTED);
	CHECK_EQ(c.end_ms, 999000);
	sl_tsp_store_close(&st);
}

/* ------------------------------------------------------------ export */

TEST(time_parsing)
{
	int64_t first, last;

	CHECK(!sl_tsp_time_parse("2026-01-02", &first, &last));
	CHECK_EQ(first, 1767312000000LL);
	CHECK_EQ(last, 1767312000000LL + 86400000 - 1);
	CHECK(!sl_tsp_time_parse("2026-01-02T03:04:05Z", &first, &last));
	CHECK_EQ(first, 1767312000000LL + (3 * 3600 + 4 * 60 + 5) * 1000LL);
	CHECK_EQ(last, first + 999);
	CHECK(!sl_tsp_time_parse("2026-01-02 03:04", &first, &last));
	CHECK_EQ(first, 1767312000000LL + (3 * 3600 + 4 * 60) * 1000LL);
	CHECK_EQ(last, first + 59999);
	CHECK(!sl_tsp_time_parse("2024-02-29", &first, &last));

	static const char *const bad[] = {
		"", "2026", "2026-1-02", "2026-01-02T", "2026-01-02T3:04",
		"2026-13-01", "2026-02-30", "2025-02-29", "2026-01-02T24:00",
		"2026-01-02T03:60", "2026-01-02T03:04:60", "2026-01-02+01:00",
		"2026-01-02T03:04:05+01:00", "2026-01-02T03:04:05.5Z",
		"1969-12-31", "yesterday", "2026-01-02ZZ", "2026-01-02 ",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i)
		CHECKF(sl_tsp_time_parse(bad[i], &first, &last) == -EINVAL,
		       "accepted '%s'", bad[i]);

	char s[SL_TSP_TIME_STR_LEN + 1];

	sl_tsp_time_format(s, 1767312000000LL + 3723456);
	CHECK(!strcmp(s, "2026-01-02T01:02:03.456Z"));
}

TEST(csv_quoting)
{
	struct sl_tsp_cdr c = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!CHECK(f))
		return;
	sl_tsp_csv_field(f, "plain");
	fputc('|', f);
	sl_tsp_csv_field(f, "a,b");
	fputc('|', f);
	sl_tsp_csv_field(f, "say \"hi\"");
	fputc('|', f);
	sl_tsp_csv_field(f, "two\r\nlines");
	fputc('|', f);
	sl_tsp_csv_field(f, "");
	fputc('\n', f);

	sl_tsp_cdr_csv_header(f);
	c.tracking_id = 0xfedcba9876543210ULL;
	snprintf(c.instance, sizeof(c.instance), "tsp-a");
	snprintf(c.line, sizeof(c.line), "ttyS1");
	snprintf(c.caller_id, sizeof(c.caller_id), "5,\"55\"");
	c.ring_ms = 1767312000000LL;
	c.answer_ms = c.ring_ms + 4000;
	c.end_ms = c.ring_ms + 65250;
	snprintf(c.caller_account, sizeof(c.caller_account), "100000000001");
	snprintf(c.recipient_account, sizeof(c.recipient_account), "200000000002");
	c.bytes_up = 10;
	c.bytes_down = 20;
	c.outcome = SL_TSP_OUTCOME_COMPLETED;
	sl_tsp_cdr_csv_row(f, &c);
	c.answer_ms = 0;
	c.end_ms = c.ring_ms + 1000;
	c.outcome = SL_TSP_OUTCOME_NAK;
	snprintf(c.nak_reason, sizeof(c.nak_reason), "NOT_AUTHORISED");
	c.caller_id[0] = '\0';
	sl_tsp_cdr_csv_row(f, &c);
	fclose(f);
	CHECKF(!strcmp(buf,
		       "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\r\nlines\"|\n"
		       "tracking_id,tsp_instance,line,caller_id,ring_time,answer_time,"
		       "end_time,duration_s,caller_account,recipient_account,"
		       "bytes_caller_to_recipient,bytes_recipient_to_caller,outcome,"
		       "nak_reason\r\n"
		       "fedcba9876543210,tsp-a,ttyS1,\"5,\"\"55\"\"\","
		       "2026-01-02T00:00:00.000Z,2026-01-02T00:00:04.000Z,"
		       "2026-01-02T00:01:05.250Z,61.250,100000000001,200000000002,"
		       "10,20,completed,\r\n"
		       "fedcba9876543210,tsp-a,ttyS1,,2026-01-02T00:00:00.000Z,,"
		       "2026-01-02T00:00:01.000Z,0.000,100000000001,200000000002,"
		       "10,20,nak,NOT_AUTHORISED\r\n"),
	       "got:\n%s", buf);
	free(buf);
}

TEST(cdr_json)
{
	struct sl_tsp_cdr c = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!CHECK(f))
		return;
	c.tracking_id = 1;
	snprintf(c.instance, sizeof(c.instance), "tsp-a");
	snprintf(c.line, sizeof(c.line), "ttyS1");
	snprintf(c.caller_id, sizeof(c.caller_id), "\"x\"");
	c.ring_ms = 1767312000000LL;
	sl_tsp_cdr_json(f, &c);
	fclose(f);
	CHECKF(!strcmp(buf,
		       "{\"tracking_id\": \"0000000000000001\", \"tsp_instance\": \"tsp-a\", "
		       "\"line\": \"ttyS1\", \"caller_id\": \"\\\"x\\\"\", "
		       "\"ring_time\": \"2026-01-02T00:00:00.000Z\", \"answer_time\": null, "
		       "\"end_time\": null, \"duration_s\": 0.000, \"caller_account\": null, "
		       "\"recipient_account\": null, \"bytes_caller_to_recipient\": 0, "
		       "\"bytes_recipient_to_caller\": 0, \"outcome\": \"open\", "
		       "\"nak_reason\": null}"),
	       "got:\n%s", buf);
	free(buf);
}

static int collect_cdr(const struct sl_tsp_cdr *cdr, void *arg)
{
	struct collect *c = arg;

	if (c->n < 16)
		snprintf(c->items[c->n], sizeof(c->items[0]), "%lld",
			 (long long)cdr->ring_ms);
	c->n++;
	return 0;
}

TEST(cdr_date_filter)
{
	/* Ring times around the edges of 2026-01-02 (UTC). */
	static const int64_t day = 1767312000000LL;
	static const int64_t rings[] = {
		day - 1, day, day + 43200000, day + 86400000 - 1, day + 86400000,
	};
	struct sl_tsp_store st;
	struct sl_tsp_cdr_start s = { .line = "ttyS1" };
	struct collect c = { 0 };
	int64_t from, to, unused;
	char path[512];
	uint64_t id;

	if (!CHECK(!open_new(&st, path, sizeof(path), "tsp-a", SL_TSP_OPEN_SERVER)))
		return;
	/* Opened out of order: the export sorts by ring time. */
	for (int i = 4; i >= 0; --i) {
		s.ring_ms = rings[i];
		CHECK(!sl_tsp_cdr_open(&st, &s, &id));
	}
	CHECK(!sl_tsp_time_parse("2026-01-02", &from, &to));
	CHECK(!sl_tsp_cdr_list(&st, from, to, collect_cdr, &c));
	CHECK_EQ(c.n, 3);
	CHECK_EQ(strtoll(c.items[0], NULL, 10), rings[1]);
	CHECK_EQ(strtoll(c.items[1], NULL, 10), rings[2]);
	CHECK_EQ(strtoll(c.items[2], NULL, 10), rings[3]);

	memset(&c, 0, sizeof(c));
	CHECK(!sl_tsp_cdr_list(&st, INT64_MIN, INT64_MAX, collect_cdr, &c));
	CHECK_EQ(c.n, 5);
	CHECK_EQ(strtoll(c.items[0], NULL, 10), rings[0]);
	CHECK_EQ(strtoll(c.items[4], NULL, 10), rings[4]);

	/* --from 2026-01-02T12:00 --to 2026-01-03: from noon to the end of
	 * the 3rd, both inclusive. */
	CHECK(!sl_tsp_time_parse("2026-01-02T12:00", &from, &unused));
	CHECK(!sl_tsp_time_parse("2026-01-03", &unused, &to));
	memset(&c, 0, sizeof(c));
	CHECK(!sl_tsp_cdr_list(&st, from, to, collect_cdr, &c));
	CHECK_EQ(c.n, 3);
	CHECK_EQ(strtoll(c.items[0], NULL, 10), rings[2]);
	sl_tsp_store_close(&st);
}

static void remove_tree(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("warning: could not remove %s\n", dir);
}

/*
 * Two connections of one process to one store (sealtspd: the store
 * thread's and the spool's) while other processes (sealctl) open and
 * close theirs: a commit on either is seen by the others at once. The
 * second open must not drop the first one's POSIX locks (an open() and
 * close() of the file did): the next process to close its connection
 * then took itself for the last, deleted the WAL, and every later commit
 * of this process went to a deleted file.
 */
/* In a new process (exec, not only fork: a forked child inherits
 * SQLite's view of this process's locks): open the store, look the
 * account up, close. */
static int child_get(const char *path, const char *number)
{
	struct sl_tsp_store c;
	struct sl_tsp_account a;
	char err[SL_TSP_ERR_MAX];
	int ret = sl_tsp_store_open(&c, path, NULL, SL_TSP_OPEN_CREATE, err,
				    sizeof(err));

	if (!ret) {
		ret = sl_tsp_account_get(&c, number, &a);
		sl_tsp_store_close(&c);
	}
	return ret ? 1 : 0;
}

static bool account_seen_by_child(const char *path, const char *number)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "test_tspstore", "--child-get", path,
		      number, (char *)NULL);
		_exit(127);
	}
	return pid > 0 && waitpid(pid, &status, 0) == pid &&
	       WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(two_connections_one_process)
{
	struct sl_tsp_store a, b;
	struct sl_tsp_account acct = { .number = "100000000071",
				       .name = "one", .phone = "5550071",
				       .enabled = true };
	char path[512];

	if (!CHECK(!open_new(&a, path, sizeof(path), "tsp-a",
			     SL_TSP_OPEN_SERVER)))
		return;
	CHECK(!sl_tsp_lease_renew(&a, 1000, 1000, NULL));
	if (!CHECK(!reopen(&b, path, "tsp-a", SL_TSP_OPEN_CREATE))) {
		sl_tsp_store_close(&a);
		return;
	}
	acct.pub[0] = 1;
	CHECK(!sl_tsp_account_add(&a, &acct));
	CHECK(account_seen_by_child(path, "100000000071"));
	snprintf(acct.number, sizeof(acct.number), "100000000072");
	acct.pub[0] = 2;
	CHECK(!sl_tsp_account_add(&b, &acct));
	CHECK(account_seen_by_child(path, "100000000072"));
	snprintf(acct.number, sizeof(acct.number), "100000000073");
	acct.pub[0] = 3;
	CHECK(!sl_tsp_account_add(&a, &acct));
	CHECK(account_seen_by_child(path, "100000000073"));
	sl_tsp_store_close(&b);
	sl_tsp_store_close(&a);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--child-get"))
		return child_get(argv[2], argv[3]);
	check_init(argc, argv);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(fresh_store_settings_and_permissions);
	RUN(migrations_step_by_step);
	RUN(newer_schema_is_refused);
	RUN(open_refusals);
	RUN(accounts);
	RUN(account_bad_inputs);
	RUN(max_calls_parse);
	RUN(caller_bindings);
	RUN(binding_limit);
	RUN(authorised_callers);
	RUN(cdr_lifecycle);
	RUN(tracking_id_bytes);
	RUN(sigkill_mid_call);
	RUN(time_parsing);
	RUN(csv_quoting);
	RUN(cdr_json);
	RUN(cdr_date_filter);
	RUN(two_connections_one_process);
	remove_tree(tmpdir);
	return check_summary();
}
