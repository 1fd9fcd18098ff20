// SPDX-License-Identifier: GPL-2.0
/*
 * The TSP's store thread and record backlog (agent/tsp/tspq.c): the
 * backlog's text form both ways and its refusals; record events through
 * the thread into an SQLite store; the store locked by another process
 * past its busy timeout (unreachable, as a database that is down): the
 * events go to the backlog on disk, call checks are answered
 * "unavailable", and once the lock is gone the backlog is written in
 * order and emptied, nothing lost; a TSP stopped with a backlog leaves it
 * for the next start, which writes it first.
 *
 * The waits poll for an outcome with a generous bound; no check depends
 * on how fast the machine is.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "check.h"
#include "clock.h"
#include "tspq.h"

/* The longest a wait for the thread may take before the case fails. */
#define WAIT_MS 60000

static char tmpdir[] = "/tmp/sealine-tspq-XXXXXX";

TEST(backlog_text)
{
	struct sl_tspq_req r = { .type = SL_TSPQ_CDR_OPEN, .id = 0xab },
			   back;
	char line[SL_TSPQ_LINE_MAX];
	static const char *const bad[] = {
		"", "open\n", "open\t00000000000000ab\n",
		"open\t0000000000000000\t1\tl\t\n",
		"open\tzz\t1\tl\t\n", "open\t00000000000000ab\tx\tl\t\n",
		"shut\t00000000000000ab\t1\tl\t\n",
		"close\t00000000000000ab\t5\tfinished\t\n",
		"update\t00000000000000ab\t1\t2\t3\n",
		"update\t00000000000000ab\t1\t2\ta\tb\t3\t-4\t5\n",
		"open\t00000000000000ab\t1\tl\tc\textra\n",
	};

	snprintf(r.open.line, sizeof(r.open.line), "tsp-1");
	snprintf(r.open.caller_id, sizeof(r.open.caller_id), "5550001");
	r.open.ring_ms = 1234;
	CHECK(sl_tspq_format(line, sizeof(line), &r) > 0);
	CHECK(!strcmp(line, "open\t00000000000000ab\t1234\ttsp-1\t5550001\n"));
	if (CHECK(!sl_tspq_parse(line, &back))) {
		CHECK_EQ(back.type, SL_TSPQ_CDR_OPEN);
		CHECK_EQ(back.id, 0xabu);
		CHECK(!strcmp(back.open.caller_id, "5550001"));
		CHECK_EQ(back.open.ring_ms, 1234);
	}
	/* No caller ID: an empty field. */
	r.open.caller_id[0] = '\0';
	CHECK(sl_tspq_format(line, sizeof(line), &r) > 0);
	CHECK(!sl_tspq_parse(line, &back) && !back.open.caller_id[0]);

	memset(&r, 0, sizeof(r));
	r.type = SL_TSPQ_CDR_UPDATE;
	r.id = 0xffffffffffffffffULL;
	r.update.u.set = SL_TSP_CDR_SET_CALLER | SL_TSP_CDR_SET_BYTES;
	snprintf(r.update.caller, sizeof(r.update.caller), "100000000001");
	r.update.u.bytes_up = 1ULL << 40;
	r.update.u.bytes_down = 7;
	r.update.u.now_ms = 99;
	CHECK(sl_tspq_format(line, sizeof(line), &r) > 0);
	if (CHECK(!sl_tspq_parse(line, &back))) {
		CHECK_EQ(back.update.u.set, r.update.u.set);
		CHECK(!strcmp(back.update.u.caller_account, "100000000001"));
		CHECK_EQ(back.update.u.bytes_up, 1ULL << 40);
		CHECK_EQ(back.update.u.bytes_down, 7u);
		CHECK_EQ(back.update.u.now_ms, 99);
	}

	memset(&r, 0, sizeof(r));
	r.type = SL_TSPQ_CDR_CLOSE;
	r.id = 5;
	r.close.end_ms = 77;
	r.close.outcome = SL_TSP_OUTCOME_NAK;
	snprintf(r.close.reason, sizeof(r.close.reason), "UNAVAILABLE");
	CHECK(sl_tspq_format(line, sizeof(line), &r) > 0);
	CHECK(!strcmp(line, "close\t0000000000000005\t77\tnak\tUNAVAILABLE\n"));
	if (CHECK(!sl_tspq_parse(line, &back))) {
		CHECK_EQ(back.close.outcome, SL_TSP_OUTCOME_NAK);
		CHECK(!strcmp(back.close.reason, "UNAVAILABLE"));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i)
		CHECKF(sl_tspq_parse(bad[i], &back) == -EINVAL, "accepted: %s",
		       bad[i]);
}

struct env {
	char db[256], backlog[256];
	struct sl_tspq *q;
	int efd;
};

static bool start(struct env *e, struct sl_tspq_started *s)
{
	struct sl_tspq_conf conf = { .backlog = e->backlog, .lease_ms = 30000 };
	struct sl_tsp_store st;
	char err[SL_TSP_ERR_MAX];

	if (!CHECKF(!sl_tsp_store_open(&st, e->db, "tsp-q",
				       SL_TSP_OPEN_CREATE | SL_TSP_OPEN_SERVER,
				       err, sizeof(err)), "%s", err))
		return false;
	return CHECKF(!sl_tspq_start(&e->q, &st, &conf, &e->efd, s, err,
				     sizeof(err)), "%s", err);
}

static void stop(struct env *e)
{
	sl_tspq_stop(e->q);
	sl_tspq_free(e->q);
	e->q = NULL;
}

/* The record as a new handle sees it; outcome OPEN-1 if there is none. */
static enum sl_tsp_outcome outcome_of(struct env *e, uint64_t id)
{
	struct sl_tsp_store st;
	struct sl_tsp_cdr c;
	char err[SL_TSP_ERR_MAX];
	int ret;

	if (sl_tsp_store_open(&st, e->db, NULL, 0, err, sizeof(err)))
		return (enum sl_tsp_outcome)-1;
	ret = sl_tsp_cdr_get(&st, id, &c);
	sl_tsp_store_close(&st);
	return ret ? (enum sl_tsp_outcome)-1 : c.outcome;
}

static void call_events(struct env *e, uint64_t id, int64_t t)
{
	struct sl_tsp_cdr_start s = { .line = "tsp-1", .caller_id = "555",
				      .ring_ms = t };
	struct sl_tsp_cdr_update u = {
		.set = SL_TSP_CDR_SET_BYTES, .bytes_up = 100, .bytes_down = 200,
		.now_ms = t + 5,
	};

	sl_tspq_cdr_open(e->q, id, &s);
	sl_tspq_cdr_update(e->q, id, &u);
	sl_tspq_cdr_close(e->q, id, t + 9, SL_TSP_OUTCOME_COMPLETED, NULL);
}

/* Wait for the thread to answer one check. */
static struct sl_tspq_req *answer(struct env *e)
{
	struct pollfd p = { .fd = e->efd, .events = POLLIN };
	struct sl_tspq_req *r;

	if (poll(&p, 1, WAIT_MS) != 1)
		return NULL;
	sl_tspq_ack(e->q);
	r = sl_tspq_answer(e->q);
	return r;
}

static bool wait_for(bool (*cond)(struct env *e, uint64_t id),
		     struct env *e, uint64_t id)
{
	int64_t until = sl_now_ms() + WAIT_MS;

	while (!cond(e, id)) {
		if (sl_now_ms() > until)
			return false;
		usleep(20000);
	}
	return true;
}

static bool completed(struct env *e, uint64_t id)
{
	return outcome_of(e, id) == SL_TSP_OUTCOME_COMPLETED;
}

static bool backlog_has(struct env *e, uint64_t n)
{
	return sl_tspq_backlog(e->q) >= n;
}

/* Up again: the backlog written and emptied (in that order). */
static bool caught_up(struct env *e, uint64_t unused)
{
	(void)unused;
	return sl_tspq_up(e->q) && !sl_tspq_backlog(e->q);
}

TEST(store_locked_then_back)
{
	struct env e = { 0 };
	struct sl_tspq_started s;
	struct sl_tspq_req *r;
	sqlite3 *lock = NULL;
	struct stat sb;

	snprintf(e.db, sizeof(e.db), "%s/locked.db", tmpdir);
	snprintf(e.backlog, sizeof(e.backlog), "%s/locked.backlog", tmpdir);
	if (!start(&e, &s))
		return;
	CHECK_EQ(s.replayed, 0u);
	CHECK(sl_tspq_up(e.q));
	call_events(&e, 0x1001, 1000);
	CHECK(wait_for(completed, &e, 0x1001));

	/* Another process holds the write lock: the store is "down". */
	if (!CHECK(sqlite3_open(e.db, &lock) == SQLITE_OK) ||
	    !CHECK(sqlite3_exec(lock, "BEGIN EXCLUSIVE", NULL, NULL, NULL) ==
		   SQLITE_OK))
		goto out;
	call_events(&e, 0x1002, 2000);
	CHECK(wait_for(backlog_has, &e, 3));
	CHECK(!sl_tspq_up(e.q));
	CHECK(!stat(e.backlog, &sb) && (sb.st_mode & 0777) == 0600);
	/* A new call is refused at once. */
	r = sl_tspq_req_new(SL_TSPQ_CHECK_CALLER, 0x1003, NULL);
	if (CHECK(r)) {
		sl_tspq_ask(e.q, r);
		r = answer(&e);
		if (CHECK(r)) {
			CHECK_EQ(r->caller.reason, SL_NAK_UNAVAILABLE);
			CHECK_EQ(r->caller.outcome, SL_TSP_OUTCOME_NAK);
			free(r);
		}
	}
	/* The lock goes: the backlog is written, in order, and emptied. */
	sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(lock);
	lock = NULL;
	CHECK(wait_for(caught_up, &e, 0));
	CHECK_EQ(outcome_of(&e, 0x1002), SL_TSP_OUTCOME_COMPLETED);
	CHECK_EQ(outcome_of(&e, 0x1001), SL_TSP_OUTCOME_COMPLETED);
	CHECK(!stat(e.backlog, &sb) && sb.st_size == 0);
out:
	if (lock) {
		sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(lock);
	}
	stop(&e);
}

/* Stopped with a backlog: the next start writes it first. */
TEST(backlog_outlives_the_process)
{
	struct env e = { 0 };
	struct sl_tspq_started s;
	sqlite3 *lock = NULL;

	snprintf(e.db, sizeof(e.db), "%s/restart.db", tmpdir);
	snprintf(e.backlog, sizeof(e.backlog), "%s/restart.backlog", tmpdir);
	if (!start(&e, &s))
		return;
	if (!CHECK(sqlite3_open(e.db, &lock) == SQLITE_OK) ||
	    !CHECK(sqlite3_exec(lock, "BEGIN EXCLUSIVE", NULL, NULL, NULL) ==
		   SQLITE_OK)) {
		stop(&e);
		return;
	}
	call_events(&e, 0x2001, 3000);
	CHECK(wait_for(backlog_has, &e, 3));
	stop(&e);	/* the lease stays: the store did not answer */
	sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(lock);
	CHECK_EQ(outcome_of(&e, 0x2001), (enum sl_tsp_outcome)-1);
	if (!start(&e, &s))
		return;
	CHECK_EQ(s.replayed, 3u);
	CHECK_EQ(s.recovered, 0u);
	CHECK_EQ(outcome_of(&e, 0x2001), SL_TSP_OUTCOME_COMPLETED);
	CHECK_EQ(sl_tspq_backlog(e.q), 0u);
	stop(&e);
}

int main(int argc, char **argv)
{
	char cmd[300];

	check_init(argc, argv);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(backlog_text);
	RUN(store_locked_then_back);
	RUN(backlog_outlives_the_process);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("warning: could not remove %s\n", tmpdir);
	return check_summary();
}
