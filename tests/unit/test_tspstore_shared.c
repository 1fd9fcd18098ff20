// SPDX-License-Identifier: GPL-2.0
/*
 * The TSP's store as several instances share it (agent/tsp/tspstore*.c),
 * the same cases against each backend: SQLite always, PostgreSQL when
 * SEALINE_TEST_PG names a server's database (a libpq connection string;
 * tests/tsp/test-cluster.sh starts a real server and runs this with it).
 * Without it the PostgreSQL cases are not run, and the program says so.
 *
 * Two store handles with different instance ids stand for two TSP
 * servers; forked children stand for servers racing for one account's
 * last call. Every time is given explicitly: no case depends on the
 * clock or the machine's speed (the race's outcome is exact whatever the
 * interleaving).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "check.h"
#include "tspstore.h"

/* Children racing for one call slot. */
#define RACERS 4

static char tmpdir[] = "/tmp/sealine-tspshared-XXXXXX";
static unsigned int seq;
static const char *pg_base;	/* SEALINE_TEST_PG */
static bool pg;			/* the backend of the cases now running */
static char loc[1024];		/* the store of the case now running */

static void quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Run SQL on the store outside the code under test. */
static bool raw_sql(const char *sql)
{
	if (pg) {
		PGconn *c = PQconnectdb(pg_base);
		PGresult *r;
		bool ok;

		PQsetNoticeProcessor(c, quiet, NULL);
		r = PQexec(c, sql);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
			  PQresultStatus(r) == PGRES_TUPLES_OK;

		if (!ok)
			printf("  raw: %s", PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
		return ok;
	} else {
		sqlite3 *db;
		bool ok;

		if (sqlite3_open(loc, &db) != SQLITE_OK)
			return false;
		ok = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
		sqlite3_close(db);
		return ok;
	}
}

/* A new empty store for the case. */
static void fresh(void)
{
	if (pg) {
		snprintf(loc, sizeof(loc), "%s", pg_base);
		/* every table there is, so a table a later schema adds
		 * needs no line here */
		CHECK(raw_sql("DO $$ DECLARE t text; BEGIN "
			"FOR t IN SELECT tablename FROM pg_tables "
			"WHERE schemaname = current_schema() LOOP "
			"EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', t); "
			"END LOOP; END $$"));
	} else {
		snprintf(loc, sizeof(loc), "%s/s%u.db", tmpdir, ++seq);
	}
}

static bool open_as(struct sl_tsp_store *st, const char *instance)
{
	char err[SL_TSP_ERR_MAX];
	int ret = sl_tsp_store_open(st, loc, instance,
				    SL_TSP_OPEN_CREATE |
				    (instance ? SL_TSP_OPEN_SERVER : 0),
				    err, sizeof(err));

	if (ret)
		printf("  open %s as %s: %s\n", loc, instance ? instance : "-", err);
	return !ret;
}

static void make_account(struct sl_tsp_account *a, const char *number,
			 uint8_t key_byte, unsigned int max_calls)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->number, sizeof(a->number), "%s", number);
	snprintf(a->name, sizeof(a->name), "Account %s", number);
	memset(a->pub, key_byte, sizeof(a->pub));
	snprintf(a->phone, sizeof(a->phone), "5550%s", number + 8);
	a->enabled = true;
	a->created_ms = 1700000000000LL;
	a->max_calls = max_calls;
}

static bool add_accounts(struct sl_tsp_store *st)
{
	static const struct { const char *n; unsigned int max; } accts[] = {
		{ "100000000001", 0 }, { "100000000002", 1 },
		{ "100000000003", 0 }, { "200000000001", 1 },
	};
	struct sl_tsp_account a;

	for (size_t i = 0; i < sizeof(accts) / sizeof(accts[0]); ++i) {
		make_account(&a, accts[i].n, (uint8_t)(0x41 + i), accts[i].max);
		if (!CHECK(!sl_tsp_account_add(st, &a)))
			return false;
	}
	return true;
}

static uint64_t open_call(struct sl_tsp_store *st, const char *line,
			  int64_t ring_ms)
{
	struct sl_tsp_cdr_start s = { .line = line, .ring_ms = ring_ms };
	uint64_t id = 0;

	CHECK(!sl_tsp_cdr_open(st, &s, &id));
	return id;
}

/* ------------------------------------------------------------ cases */

TEST(account_limits)
{
	struct sl_tsp_store st;
	struct sl_tsp_account a;

	fresh();
	if (!open_as(&st, NULL))
		return;
	make_account(&a, "100000000001", 0x41, 3);
	CHECK(!sl_tsp_account_add(&st, &a));
	CHECK(!sl_tsp_account_get(&st, "100000000001", &a));
	CHECK_EQ(a.max_calls, 3u);
	CHECK(!sl_tsp_account_set_max_calls(&st, "100000000001", 0));
	CHECK(!sl_tsp_account_get(&st, "100000000001", &a));
	CHECK_EQ(a.max_calls, 0u);
	CHECK_EQ(sl_tsp_account_set_max_calls(&st, "100000000001",
					      SL_TSP_MAX_CALLS_LIMIT + 1), -EINVAL);
	CHECK(strstr(sl_tsp_store_error(&st), "limit of concurrent calls"));
	CHECK_EQ(sl_tsp_account_set_max_calls(&st, "100000000009", 1), -ENOENT);
	make_account(&a, "100000000002", 0x42, SL_TSP_MAX_CALLS_LIMIT + 1);
	CHECK_EQ(sl_tsp_account_add(&st, &a), -EINVAL);
	sl_tsp_store_close(&st);
}

/* A record opened with an id the caller chose: a replay finds its own
 * record, another record's id is refused. */
TEST(open_with_id)
{
	struct sl_tsp_store st;
	struct sl_tsp_cdr_start s = { .line = "tsp-1", .caller_id = "5551",
				      .ring_ms = 5000 };
	struct sl_tsp_cdr c;

	fresh();
	if (!open_as(&st, "tsp-a"))
		return;
	CHECK(!sl_tsp_cdr_open_id(&st, &s, 0x8000000000000001ULL));
	CHECK(!sl_tsp_cdr_open_id(&st, &s, 0x8000000000000001ULL));
	s.ring_ms = 5001;
	CHECK_EQ(sl_tsp_cdr_open_id(&st, &s, 0x8000000000000001ULL), -EEXIST);
	CHECK_EQ(sl_tsp_cdr_open_id(&st, &s, 0), -EINVAL);
	CHECK(!sl_tsp_cdr_get(&st, 0x8000000000000001ULL, &c));
	CHECK_EQ(c.ring_ms, 5000);
	CHECK(!strcmp(c.caller_id, "5551"));
	CHECK_EQ(c.outcome, SL_TSP_OUTCOME_OPEN);
	sl_tsp_store_close(&st);
}

struct collected {
	struct sl_tsp_cdr c[8];
	int n;
};

static int collect(const struct sl_tsp_cdr *c, void *arg)
{
	struct collected *k = arg;

	if (k->n < 8)
		k->c[k->n] = *c;
	k->n++;
	return 0;
}

/* Whole records (a migration): identical ones are no conflict. */
TEST(put_records)
{
	struct sl_tsp_store st;
	struct sl_tsp_cdr done = {
		.tracking_id = 0xfedcba9876543210ULL, .instance = "old",
		.line = "ttyS1", .caller_id = "5550001", .ring_ms = 1000,
		.answer_ms = 2000, .end_ms = 9000, .updated_ms = 9000,
		.caller_account = "100000000001",
		.recipient_account = "200000000001", .bytes_up = 12,
		.bytes_down = 34, .outcome = SL_TSP_OUTCOME_COMPLETED,
	}, nak = {
		.tracking_id = 7, .instance = "old", .line = "ttyS2",
		.ring_ms = 1500, .end_ms = 1600, .updated_ms = 1600,
		.outcome = SL_TSP_OUTCOME_NAK, .nak_reason = "UNKNOWN_ACCOUNT",
	}, open = {
		.tracking_id = 8, .instance = "old", .line = "ttyS3",
		.ring_ms = 1700, .updated_ms = 1700,
		.outcome = SL_TSP_OUTCOME_OPEN,
	}, bad;
	struct collected k = { 0 };

	fresh();
	if (!open_as(&st, NULL))
		return;
	CHECK(!sl_tsp_cdr_put(&st, &done));
	CHECK(!sl_tsp_cdr_put(&st, &nak));
	CHECK(!sl_tsp_cdr_put(&st, &open));
	CHECK(!sl_tsp_cdr_put(&st, &done));	/* again: the same */
	bad = done;
	bad.bytes_up = 13;
	CHECK_EQ(sl_tsp_cdr_put(&st, &bad), -EEXIST);
	bad = nak;
	bad.tracking_id = 9;
	bad.nak_reason[0] = '\0';
	CHECK_EQ(sl_tsp_cdr_put(&st, &bad), -EINVAL);
	bad = open;
	bad.tracking_id = 10;
	bad.end_ms = 1800;
	CHECK_EQ(sl_tsp_cdr_put(&st, &bad), -EINVAL);
	CHECK(!sl_tsp_cdr_list(&st, INT64_MIN, INT64_MAX, collect, &k));
	if (CHECK_EQ(k.n, 3)) {
		CHECK(sl_tsp_cdr_same(&k.c[0], &done));
		CHECK(sl_tsp_cdr_same(&k.c[1], &nak));
		CHECK(sl_tsp_cdr_same(&k.c[2], &open));
	}
	sl_tsp_store_close(&st);
}

/* The limit counts calls on every instance: 200000000001 may have one
 * call, 100000000002 one too. */
TEST(limits_across_instances)
{
	struct sl_tsp_store a, b;
	enum sl_tsp_limited who;
	uint64_t c1, c2, c3;

	fresh();
	if (!open_as(&a, "tsp-a"))
		return;
	if (!open_as(&b, "tsp-b")) {
		sl_tsp_store_close(&a);
		return;
	}
	if (!add_accounts(&a))
		goto out;
	c1 = open_call(&a, "a1", 1000);
	c2 = open_call(&b, "b1", 1001);
	c3 = open_call(&b, "b2", 1002);
	CHECK(!sl_tsp_call_admit(&a, c1, "100000000001", "200000000001", &who));
	CHECK_EQ(sl_tsp_call_admit(&b, c2, "100000000003", "200000000001", &who),
		 -EUSERS);
	CHECK_EQ(who, SL_TSP_LIMIT_RECIPIENT);
	CHECK(strstr(sl_tsp_store_error(&b), "200000000001"));
	/* No limit on 100000000001 or 100000000003: calls between them pass. */
	CHECK(!sl_tsp_call_admit(&b, c3, "100000000003", "100000000001", &who));
	CHECK_EQ(who, SL_TSP_LIMIT_NONE);
	/* The first call ends: the second gets through. */
	CHECK(!sl_tsp_cdr_close(&a, c1, 2000, SL_TSP_OUTCOME_COMPLETED, NULL));
	CHECK(!sl_tsp_call_admit(&b, c2, "100000000003", "200000000001", &who));
	/* 100000000002's own limit, as a caller. */
	c1 = open_call(&a, "a2", 3000);
	CHECK(!sl_tsp_call_admit(&a, c1, "100000000002", "100000000001", &who));
	c2 = open_call(&b, "b3", 3001);
	CHECK_EQ(sl_tsp_call_admit(&b, c2, "100000000002", "100000000003", &who),
		 -EUSERS);
	CHECK_EQ(who, SL_TSP_LIMIT_CALLER);
	/* A closed record is not admitted. */
	CHECK(!sl_tsp_cdr_close(&b, c2, 3500, SL_TSP_OUTCOME_BUSY, NULL));
	CHECK_EQ(sl_tsp_call_admit(&b, c2, "100000000001", "100000000003", &who),
		 -EALREADY);
out:
	sl_tsp_store_close(&b);
	sl_tsp_store_close(&a);
}

/* RACERS servers admit a call to 200000000001 (limit 1) at once:
 * exactly one gets it. */
static void racer(int i, int go, int result)
{
	struct sl_tsp_store st;
	enum sl_tsp_limited who;
	char name[32], c;
	uint64_t id = 0;
	int ret = -1;
	struct sl_tsp_cdr_start s = { .line = "x", .ring_ms = 1000 + i };

	snprintf(name, sizeof(name), "racer-%d", i);
	if (!open_as(&st, name) || sl_tsp_cdr_open(&st, &s, &id))
		_exit(2);
	if (read(go, &c, 1) == 1)
		ret = sl_tsp_call_admit(&st, id, "100000000001", "200000000001",
					&who);
	sl_tsp_store_close(&st);
	if (write(result, &ret, sizeof(ret)) != sizeof(ret))
		_exit(3);
	_exit(0);
}

TEST(admission_race)
{
	struct sl_tsp_store st;
	int go[2], res[2], won = 0, lost = 0, ret, status;
	pid_t pids[RACERS];

	fresh();
	if (!open_as(&st, NULL))
		return;
	if (!add_accounts(&st)) {
		sl_tsp_store_close(&st);
		return;
	}
	sl_tsp_store_close(&st);
	if (!CHECK(!pipe(go)) || !CHECK(!pipe(res)))
		return;
	fflush(stdout);
	for (int i = 0; i < RACERS; ++i) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(go[1]);
			close(res[0]);
			racer(i, go[0], res[1]);
		}
	}
	close(go[0]);
	close(res[1]);
	/* All start together: one byte each. */
	CHECK(write(go[1], "xxxxxxxx", RACERS) == RACERS);
	close(go[1]);
	while (read(res[0], &ret, sizeof(ret)) == sizeof(ret)) {
		if (ret == 0)
			won++;
		else if (ret == -EUSERS)
			lost++;
		else
			printf("  a racer got %d\n", ret);
	}
	close(res[0]);
	for (int i = 0; i < RACERS; ++i)
		CHECK(waitpid(pids[i], &status, 0) == pids[i] &&
		      WIFEXITED(status) && !WEXITSTATUS(status));
	CHECK_EQ(won, 1);
	CHECK_EQ(lost, RACERS - 1);
}

/* Leases: another instance closes a dead one's calls once its lease has
 * expired; the owner, if it lives after all, still has the last word. */
TEST(leases_and_recovery)
{
	struct sl_tsp_store a, b;
	struct sl_tsp_cdr_update u = { .set = SL_TSP_CDR_SET_BYTES };
	struct sl_tsp_cdr c;
	unsigned int n;
	bool held;
	uint64_t id;

	fresh();
	if (!open_as(&a, "tsp-a"))
		return;
	if (!open_as(&b, "tsp-b")) {
		sl_tsp_store_close(&a);
		return;
	}
	CHECK(!sl_tsp_lease_renew(&a, 1000, 500, &held));
	CHECK(!held);
	CHECK(!sl_tsp_lease_renew(&a, 1100, 500, &held));
	CHECK(held);
	id = open_call(&a, "a1", 900);
	u.bytes_up = 10;
	u.now_ms = 1200;
	CHECK(!sl_tsp_cdr_update(&a, id, &u));
	CHECK(!sl_tsp_store_recover(&b, 1600, false, &n));
	CHECK_EQ(n, 0u);		/* until 1600 the lease holds */
	CHECK(!sl_tsp_cdr_get(&b, id, &c));
	CHECK_EQ(c.outcome, SL_TSP_OUTCOME_OPEN);
	CHECK(!sl_tsp_store_recover(&b, 1601, false, &n));
	CHECK_EQ(n, 1u);
	CHECK(!sl_tsp_cdr_get(&b, id, &c));
	CHECK_EQ(c.outcome, SL_TSP_OUTCOME_INTERRUPTED);
	CHECK_EQ(c.end_ms, 1200);
	/* b's own update of a's record: not its record. */
	u.now_ms = 1650;
	CHECK_EQ(sl_tsp_cdr_update(&b, id, &u), -EALREADY);
	/* a lives: its updates and its close still count. */
	u.bytes_up = 20;
	u.now_ms = 1700;
	CHECK(!sl_tsp_cdr_update(&a, id, &u));
	CHECK(!sl_tsp_cdr_get(&a, id, &c));
	CHECK_EQ(c.outcome, SL_TSP_OUTCOME_INTERRUPTED);
	CHECK_EQ(c.end_ms, 1700);
	CHECK_EQ(c.bytes_up, 20u);
	CHECK(!sl_tsp_cdr_close(&a, id, 1800, SL_TSP_OUTCOME_COMPLETED, NULL));
	CHECK(!sl_tsp_cdr_get(&a, id, &c));
	CHECK_EQ(c.outcome, SL_TSP_OUTCOME_COMPLETED);
	CHECK_EQ(c.end_ms, 1800);
	CHECK_EQ(sl_tsp_cdr_close(&a, id, 1900, SL_TSP_OUTCOME_FAILED, NULL),
		 -EALREADY);
	/* A clean stop releases the lease: nothing to wait for. */
	CHECK(!sl_tsp_lease_release(&a));
	CHECK(!sl_tsp_lease_renew(&a, 1100, 500, &held));
	CHECK(!held);
	/* sealctl's handle (no instance) may not recover. */
	sl_tsp_store_close(&b);
	if (open_as(&b, NULL)) {
		CHECK_EQ(sl_tsp_store_recover(&b, 5000, false, &n), -EINVAL);
		sl_tsp_store_close(&b);
	}
	sl_tsp_store_close(&a);
}

/* Each schema step keeps what the one before held, and a schema newer
 * than the code is refused. */
TEST(migrations)
{
	struct sl_tsp_store st;
	struct sl_tsp_account a;
	struct sl_tsp_store_info info;
	struct sl_tsp_cdr c;
	char err[SL_TSP_ERR_MAX];

	fresh();
	sl_tsp_schema_limit = 1;
	if (!open_as(&st, NULL))
		goto out;
	CHECK(!sl_tsp_store_info(&st, &info));
	CHECK_EQ(info.schema_version, 1);
	sl_tsp_store_close(&st);
	CHECK(raw_sql(pg ? "INSERT INTO accounts (number, name, pubkey, phone, enabled, created_ms)"
		      " VALUES ('100000000001', 'One', decode(repeat('41', 32), 'hex'), '5550001', true, 7)" :
		      "INSERT INTO accounts (number, name, pubkey, phone, enabled, created_ms)"
		      " VALUES ('100000000001', 'One', zeroblob(32), '5550001', 1, 7)"));
	sl_tsp_schema_limit = 2;
	if (!open_as(&st, NULL))
		goto out;
	sl_tsp_store_close(&st);
	CHECK(raw_sql("INSERT INTO cdrs (tracking_id, instance, line, ring_ms, updated_ms)"
		      " VALUES (4660, 'old', 'ttyS1', 1000, 1000)"));
	sl_tsp_schema_limit = 0;
	if (!open_as(&st, NULL))
		goto out;
	CHECK(!sl_tsp_store_info(&st, &info));
	CHECK_EQ(info.schema_version, sl_tsp_schema_latest);
	CHECK(!strcmp(info.backend, pg ? "postgresql" : "sqlite"));
	CHECK(!sl_tsp_account_get(&st, "100000000001", &a));
	CHECK(!strcmp(a.name, "One"));
	CHECK_EQ(a.max_calls, 0u);
	CHECK(!sl_tsp_cdr_get(&st, 4660, &c));
	CHECK(!strcmp(c.instance, "old"));
	sl_tsp_store_close(&st);
	CHECK(raw_sql(pg ? "UPDATE sealine_schema SET version = 99" :
		      "PRAGMA user_version = 99"));
	CHECK_EQ(sl_tsp_store_open(&st, loc, NULL, 0, err, sizeof(err)), -EPROTO);
	CHECKF(strstr(err, "newer"), "%s", err);
out:
	sl_tsp_schema_limit = 0;
}

static void run_all(const char *backend)
{
	printf("backend %s\n", backend);
	RUN(account_limits);
	RUN(open_with_id);
	RUN(put_records);
	RUN(limits_across_instances);
	RUN(admission_race);
	RUN(leases_and_recovery);
	RUN(migrations);
}

int main(int argc, char **argv)
{
	char cmd[600];

	check_init(argc, argv);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	pg = false;
	run_all("sqlite");
	pg_base = getenv("SEALINE_TEST_PG");
	if (pg_base && *pg_base) {
		pg = true;
		run_all("postgresql");
	} else {
		printf("backend postgresql: not run here (SEALINE_TEST_PG unset; tests/tsp/test-cluster.sh runs it against a real server)\n");
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("warning: could not remove %s\n", tmpdir);
	return check_summary();
}
