// SPDX-License-Identifier: GPL-2.0
/*
 * The TSP's spool (agent/tsp/tspspool.c) and its store rows
 * (tspstore_spool.c, both backends): Documentation/store-and-forward.rst,
 * "The spool". SQLite always; PostgreSQL too when SEALINE_TEST_PG names a
 * server's database (tests/tsp/test-cluster.sh runs it so).
 *
 * The centre is crash_everywhere: a scenario (five envelopes handed
 * over by one sender, one delivered at once, one after a busy attempt,
 * one refused by the recipient, one past its holding time, a second
 * hand-over of one of them, the receipts collected) runs in a forked TSP
 * that _exit()s, as kill -9 would, after its k-th durable step, for every
 * k in turn; then a second forked TSP dies at its first repair of the
 * recovery, and a third recovers and completes the scenario. After each,
 * the invariants of store-and-forward.rst must hold: no accepted envelope
 * lost, none in the inbox twice, one row per envelope, exactly the
 * expected outcome, no file left in the spool, every receipt the
 * recipient's.
 *
 * The sender and the recipient are simulated with their own durable
 * state (an acceptance file per envelope; an inbox committed with
 * link(), which refuses a second copy as RENAME_NOREPLACE does in
 * sealined), so they survive the TSP's crashes as real ones would. Every
 * time is given explicitly: nothing depends on the clock.
 *
 * Why one file of about 1,100 lines: the cases before crash_everywhere
 * are its steps one at a time, on the same worlds (the store in either
 * backend, the spool, the durable sender and recipient); split, those
 * would become an interface with these cases as its only users.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <gcrypt.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "check.h"
#include "tspspool.h"
#include "xfer.h"

#define SENDER		"100000000001"
#define RECIPIENT	"100000000002"
#define T0		1800000000000LL		/* 2027-01-15T08:00:00Z */
#define HOUR		3600000LL
#define DAY		(24 * HOUR)
#define CRASH_STATUS	99
#define MAX_CRASH_POINTS 400

static char tmpdir[] = "/tmp/sealine-tspspool-XXXXXX";
static unsigned int seq;
static const char *pg_base;
static bool pg;
static char loc[1024];		/* the store of the case now running */
static char base[512];		/* its directory: spool/, inbox/, sender/ */

/* ------------------------------------------------------------ worlds */

static void quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static void fresh(void)
{
	snprintf(base, sizeof(base), "%s/w%u", tmpdir, ++seq);
	CHECK(!mkdir(base, 0700));
	if (pg) {
		PGconn *c = PQconnectdb(pg_base);
		PGresult *r;

		PQsetNoticeProcessor(c, quiet, NULL);
		r = PQexec(c, "DROP TABLE IF EXISTS spool, cdrs, leases, authorised_callers, bindings, accounts, sealine_schema CASCADE");
		CHECK(PQresultStatus(r) == PGRES_COMMAND_OK);
		PQclear(r);
		PQfinish(c);
		snprintf(loc, sizeof(loc), "%s", pg_base);
	} else {
		snprintf(loc, sizeof(loc), "%s/tsp.db", base);
	}
}

static bool open_store(struct sl_tsp_store *st, const char *instance)
{
	char err[SL_TSP_ERR_MAX];
	int ret = sl_tsp_store_open(st, loc, instance,
				    SL_TSP_OPEN_CREATE |
				    (instance ? SL_TSP_OPEN_SERVER : 0),
				    err, sizeof(err));

	if (ret)
		printf("  open %s: %s\n", loc, err);
	return !ret;
}

static void path_of(char *out, size_t len, const char *sub)
{
	snprintf(out, len, "%s/%s", base, sub);
}

static int open_spool(struct sl_tsp_spool *sp, struct sl_tsp_store *st,
		      const struct sl_tsp_spool_limits *lim, int64_t now,
		      struct sl_tsp_spool_recovery *rec)
{
	char dir[600], err[512];
	int ret;

	path_of(dir, sizeof(dir), "spool");
	ret = sl_tsp_spool_open(sp, dir, st, lim, now, rec, err, sizeof(err));
	if (ret)
		printf("  spool: %s\n", err);
	return ret;
}

static unsigned int files_in(const char *sub)
{
	char dir[600];
	struct dirent *de;
	unsigned int n = 0;
	DIR *d;

	path_of(dir, sizeof(dir), sub);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* A made-up envelope: a header with the magic and id, then payload chunks
 * of random bytes; the size is one a real envelope of payload bytes has. */
static uint8_t *make_envelope(const uint8_t id[16], uint64_t payload,
			      uint64_t *size)
{
	uint64_t chunks = payload ? (payload + 65535) / 65536 : 1;
	uint8_t *e;

	*size = SL_TSP_SPOOL_HEADER_LEN + payload + 16 * chunks;
	e = malloc(*size);
	if (!e)
		return NULL;
	for (uint64_t i = 0; i < *size; ++i)
		e[i] = (uint8_t)(id[0] * 131 + i * 7 + (i >> 9));
	memcpy(e, "SEALENV\1", 8);
	memcpy(e + 8, id, 16);
	return e;
}

static void hex(char *out, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; ++i)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* ------------------------------------------------------------ basics */

TEST(sizes_buckets_windows)
{
	CHECK(sl_tsp_spool_size_valid(169));		/* empty payload */
	CHECK(!sl_tsp_spool_size_valid(168));
	CHECK(sl_tsp_spool_size_valid(153 + 65536 + 16));
	CHECK(!sl_tsp_spool_size_valid(153 + 65536 + 17));	/* no payload */
	CHECK(!sl_tsp_spool_size_valid(153 + 65536 + 32));
	CHECK(sl_tsp_spool_size_valid(153 + 65537 + 32));
	CHECK(sl_tsp_spool_size_valid(153 + 3 * 65536 + 48));
	for (uint64_t p = 0; p < 300000; p += 997) {
		uint64_t c = p ? (p + 65535) / 65536 : 1;

		if (!CHECKF(sl_tsp_spool_size_valid(153 + p + 16 * c),
			    "payload %llu", (unsigned long long)p))
			break;
	}
	CHECK_EQ(sl_xfer_bucket(169), 65536);
	CHECK_EQ(sl_xfer_bucket(65536), 65536);
	CHECK_EQ(sl_xfer_bucket(65537), 131072);
	CHECK_EQ(sl_xfer_bucket(1000000), 1048576);
	CHECK_EQ(sl_xfer_bucket(UINT64_MAX), 0);
	/* 22:00-06:00 wraps midnight; T0 is 08:00 UTC. */
	CHECK(sl_tsp_spool_in_window(SL_TSP_WINDOW_NONE, T0));
	CHECK(!sl_tsp_spool_in_window(22 * 60 * 1440 + 6 * 60, T0));
	CHECK(sl_tsp_spool_in_window(22 * 60 * 1440 + 6 * 60, T0 + 16 * HOUR));
	CHECK(sl_tsp_spool_in_window(22 * 60 * 1440 + 6 * 60, T0 + 21 * HOUR));
	CHECK(!sl_tsp_spool_in_window(22 * 60 * 1440 + 6 * 60, T0 + 22 * HOUR));
	CHECK(sl_tsp_spool_in_window(8 * 60 * 1440 + 9 * 60, T0));
	CHECK(!sl_tsp_spool_in_window(8 * 60 * 1440 + 9 * 60, T0 + HOUR));
}

/* Hand one envelope over whole; 0 or the error of the step that failed. */
static int hand_over(struct sl_tsp_spool *sp, const uint8_t id[16],
		     const uint8_t *env, uint64_t size, int64_t now,
		     int64_t not_before, int window, struct sl_tsp_spool_row *row)
{
	struct sl_tsp_spool_offer o = {
		.sender = SENDER, .recipient = RECIPIENT, .size = size,
		.not_before_ms = not_before, .window = window,
	};
	uint64_t resume;
	int ret;

	memcpy(o.envelope, id, 16);
	ret = sl_tsp_spool_receive_begin(sp, &o, now, row, &resume);
	if (ret)
		return ret;
	for (uint64_t off = resume; off < size; ) {
		size_t n = off ? 65552 : SL_TSP_SPOOL_HEADER_LEN;

		if (n > size - off)
			n = (size_t)(size - off);

		ret = sl_tsp_spool_receive_write(sp, row->sid, off, env + off, n);
		if (ret)
			return ret;
		off += n;
	}
	return sl_tsp_spool_receive_done(sp, row->sid, now, 0, row);
}

struct ids {
	size_t n;
	uint64_t sid[16];
};

static int add_id(const struct sl_tsp_spool_row *r, void *arg)
{
	struct ids *ids = arg;

	if (ids->n < 16)
		ids->sid[ids->n++] = r->sid;
	return 0;
}

TEST(handover_delivery_collect)
{
	struct sl_tsp_store st;
	struct sl_tsp_spool sp;
	struct sl_tsp_spool_recovery rec;
	struct sl_tsp_spool_row row, got;
	uint8_t id[16] = { 1, 2, 3 }, sha[32], buf[200000];
	uint64_t size;
	uint8_t *env = make_envelope(id, 100000, &size);
	struct ids due = { 0 };
	ssize_t n;
	int fd;

	fresh();
	if (!CHECK(env) || !CHECK(open_store(&st, "tsp1")))
		goto out_free;
	if (!CHECK(!open_spool(&sp, &st, NULL, T0, &rec)))
		goto out_store;
	CHECK(!hand_over(&sp, id, env, size, T0, T0 + 2 * HOUR,
			 SL_TSP_WINDOW_NONE, &row));
	CHECK_EQ(row.state, SL_TSP_SPOOL_HELD);
	CHECK_EQ(row.bucket, 131072);
	gcry_md_hash_buffer(GCRY_MD_SHA256, sha, env, size);
	CHECK(row.have_sha256 && !memcmp(row.sha256, sha, 32));
	CHECK_EQ(row.next_ms, T0 + 2 * HOUR);
	CHECK_EQ(row.expires_ms, T0 + SL_TSP_SPOOL_MAX_HOLD_MS);
	CHECK(!sl_tsp_spool_get(&st, row.sid, &got));
	CHECK(!strcmp(got.sender, SENDER) && !strcmp(got.recipient, RECIPIENT));
	CHECK(!strcmp(got.instance, "tsp1"));
	CHECK_EQ(files_in("spool"), 1);

	/* Not due before its time; then once. */
	CHECK(!sl_tsp_spool_due(&sp, T0 + HOUR, add_id, &due));
	CHECK_EQ(due.n, 0);
	CHECK(!sl_tsp_spool_due(&sp, T0 + 2 * HOUR, add_id, &due));
	CHECK_EQ(due.n, 1);
	CHECK(!sl_tsp_spool_deliver_begin(&sp, row.sid, T0 + 2 * HOUR, &fd));
	n = pread(fd, buf, sizeof(buf), 0);
	CHECK_EQ(n, size);
	CHECK(!memcmp(buf, env, size));
	close(fd);
	/* A second attempt while one runs, or after, never begins. */
	CHECK_EQ(sl_tsp_spool_deliver_begin(&sp, row.sid, T0 + 2 * HOUR, &fd),
		 -ESTALE);
	CHECK_EQ(fd, -1);
	CHECK(!sl_tsp_spool_delivered(&sp, row.sid, "the receipt\n", T0 + 3 * HOUR));
	CHECK_EQ(sl_tsp_spool_deliver_begin(&sp, row.sid, T0 + 4 * HOUR, &fd),
		 -ESTALE);
	CHECK_EQ(files_in("spool"), 0);
	CHECK(!sl_tsp_spool_get(&st, row.sid, &got));
	CHECK_EQ(got.state, SL_TSP_SPOOL_DELIVERED);
	CHECK_EQ(got.attempts, 1);
	CHECK_EQ(got.done_ms, T0 + 3 * HOUR);
	CHECK(!strcmp(got.receipt, "the receipt\n"));

	/* The sender picks the receipt up once. */
	due.n = 0;
	CHECK(!sl_tsp_spool_pending(&sp, SENDER, add_id, &due));
	CHECK_EQ(due.n, 1);
	CHECK(!sl_tsp_spool_collect(&sp, row.sid, T0 + 5 * HOUR));
	CHECK(!sl_tsp_spool_collect(&sp, row.sid, T0 + 6 * HOUR));
	CHECK(!sl_tsp_spool_get(&st, row.sid, &got));
	CHECK_EQ(got.collected_ms, T0 + 5 * HOUR);
	due.n = 0;
	CHECK(!sl_tsp_spool_pending(&sp, SENDER, add_id, &due));
	CHECK_EQ(due.n, 0);
	sl_tsp_spool_close(&sp);
out_store:
	sl_tsp_store_close(&st);
out_free:
	free(env);
}

TEST(refusals_duplicates_resume)
{
	struct sl_tsp_spool_limits lim;
	struct sl_tsp_store st;
	struct sl_tsp_spool sp;
	struct sl_tsp_spool_recovery rec;
	struct sl_tsp_spool_row row, again;
	struct sl_tsp_spool_offer o = {
		.sender = SENDER, .recipient = RECIPIENT,
		.window = SL_TSP_WINDOW_NONE,
	};
	uint8_t id[16] = { 9 };
	uint64_t size, resume;
	uint8_t *env = make_envelope(id, 200000, &size);

	fresh();
	sl_tsp_spool_limits_default(&lim);
	lim.quota_envelopes = 2;
	lim.max_envelope = 1 << 20;
	if (!CHECK(env) || !CHECK(open_store(&st, "tsp1")))
		goto out_free;
	if (!CHECK(!open_spool(&sp, &st, &lim, T0, &rec)))
		goto out_store;
	memcpy(o.envelope, id, 16);
	o.size = 153 + 65536 + 17;	/* no envelope has that size */
	CHECK_EQ(sl_tsp_spool_receive_begin(&sp, &o, T0, &row, &resume), -EINVAL);
	o.size = (1 << 20) + 169;
	CHECK_EQ(sl_tsp_spool_receive_begin(&sp, &o, T0, &row, &resume), -EFBIG);
	o.size = size;
	CHECK(!sl_tsp_spool_receive_begin(&sp, &o, T0, &row, &resume));
	CHECK_EQ(resume, 0);
	/* The header, two chunks and part of a third, then the line
	 * drops. */
	CHECK(!sl_tsp_spool_receive_write(&sp, row.sid, 0, env,
					  153 + 2 * 65552 + 100));
	CHECK_EQ(sl_tsp_spool_receive_write(&sp, row.sid, size - 10, env, 11),
		 -EMSGSIZE);
	CHECK_EQ(sl_tsp_spool_receive_done(&sp, row.sid, T0, 0, &again), -EPROTO);
	/* The sender calls again: the same row, from the third chunk. */
	CHECK(!sl_tsp_spool_receive_begin(&sp, &o, T0 + HOUR, &again, &resume));
	CHECK_EQ(again.sid, row.sid);
	CHECK_EQ(resume, 153 + 2 * 65552);
	CHECK(!sl_tsp_spool_receive_write(&sp, row.sid, resume, env + resume,
					  size - resume));
	CHECK(!sl_tsp_spool_receive_done(&sp, row.sid, T0 + HOUR, 0, &row));
	/* Handed over a third time: the held row, to acknowledge again. */
	CHECK_EQ(sl_tsp_spool_receive_begin(&sp, &o, T0 + 2 * HOUR, &again,
					    &resume), -EEXIST);
	CHECK_EQ(again.sid, row.sid);
	CHECK_EQ(again.state, SL_TSP_SPOOL_HELD);
	/* The same id with another size: a replay, refused. */
	o.size = 169;
	CHECK_EQ(sl_tsp_spool_receive_begin(&sp, &o, T0, &again, &resume),
		 -EALREADY);
	/* The quota: two envelopes held at most. */
	o.envelope[0] = 10;
	CHECK(!sl_tsp_spool_receive_begin(&sp, &o, T0, &again, &resume));
	o.envelope[0] = 11;
	CHECK_EQ(sl_tsp_spool_receive_begin(&sp, &o, T0, &again, &resume),
		 -EDQUOT);
	CHECKF(strstr(sl_tsp_store_error(&st), "quota"), "%s",
	       sl_tsp_store_error(&st));
	CHECK_EQ(files_in("spool"), 2);
	sl_tsp_spool_close(&sp);
out_store:
	sl_tsp_store_close(&st);
out_free:
	free(env);
}

TEST(retry_bounce_expire_abandon)
{
	struct sl_tsp_spool_limits lim;
	struct sl_tsp_store st;
	struct sl_tsp_spool sp;
	struct sl_tsp_spool_recovery rec;
	struct sl_tsp_spool_row a, b, c, got;
	struct sl_tsp_spool_offer o = {
		.sender = SENDER, .recipient = RECIPIENT, .size = 169,
		.window = SL_TSP_WINDOW_NONE,
	};
	enum sl_tsp_spool_state state;
	uint8_t ida[16] = { 0xa }, idb[16] = { 0xb };
	uint64_t size, resume;
	uint8_t *env = make_envelope(ida, 0, &size);
	unsigned int n;
	int fd;

	fresh();
	sl_tsp_spool_limits_default(&lim);
	lim.max_attempts = 3;
	if (!CHECK(env) || !CHECK(open_store(&st, "tsp1")))
		goto out_free;
	if (!CHECK(!open_spool(&sp, &st, &lim, T0, &rec)))
		goto out_store;
	CHECK(!hand_over(&sp, ida, env, size, T0, 0, SL_TSP_WINDOW_NONE, &a));
	CHECK(!hand_over(&sp, idb, env, size, T0, 0, SL_TSP_WINDOW_NONE, &b));
	/* a: busy twice (5 min, then 10), then bounced at the third. */
	CHECK(!sl_tsp_spool_deliver_begin(&sp, a.sid, T0, &fd));
	close(fd);
	CHECK(!sl_tsp_spool_retry(&sp, a.sid, "BUSY", T0, &state));
	CHECK_EQ(state, SL_TSP_SPOOL_HELD);
	CHECK(!sl_tsp_spool_get(&st, a.sid, &got));
	CHECK_EQ(got.next_ms, T0 + SL_TSP_SPOOL_RETRY_MS);
	CHECK(!sl_tsp_spool_deliver_begin(&sp, a.sid, T0 + HOUR, &fd));
	close(fd);
	CHECK(!sl_tsp_spool_retry(&sp, a.sid, "BUSY", T0 + HOUR, &state));
	CHECK(!sl_tsp_spool_get(&st, a.sid, &got));
	CHECK_EQ(got.next_ms, T0 + HOUR + 2 * SL_TSP_SPOOL_RETRY_MS);
	CHECK(!sl_tsp_spool_deliver_begin(&sp, a.sid, T0 + 2 * HOUR, &fd));
	close(fd);
	CHECK(!sl_tsp_spool_retry(&sp, a.sid, "NO_ANSWER", T0 + 2 * HOUR, &state));
	CHECK_EQ(state, SL_TSP_SPOOL_BOUNCED);
	CHECK(!sl_tsp_spool_get(&st, a.sid, &got));
	CHECK_EQ(got.state, SL_TSP_SPOOL_BOUNCED);
	CHECK(!strcmp(got.reason, "NO_ANSWER"));
	CHECK_EQ(got.attempts, 3);
	/* b: refused by the recipient for good. */
	CHECK(!sl_tsp_spool_deliver_begin(&sp, b.sid, T0, &fd));
	close(fd);
	CHECK(!sl_tsp_spool_bounce(&sp, b.sid, "NOT_FOR_US", T0));
	CHECK_EQ(sl_tsp_spool_collect(&sp, b.sid, T0), 0);
	/* c: held past max_hold; a stalled hand-over: abandoned. */
	CHECK(!hand_over(&sp, (uint8_t[16]){ 0xc }, env, size, T0, 0,
			 SL_TSP_WINDOW_NONE, &c));
	o.envelope[0] = 0xd;
	CHECK(!sl_tsp_spool_receive_begin(&sp, &o, T0, &got, &resume));
	CHECK(!sl_tsp_spool_expire(&sp, T0 + DAY - 1, &n));
	CHECK_EQ(n, 0);
	CHECK(!sl_tsp_spool_expire(&sp, T0 + DAY, &n));
	CHECK_EQ(n, 1);		/* the stalled hand-over */
	CHECK(!sl_tsp_spool_expire(&sp, T0 + SL_TSP_SPOOL_MAX_HOLD_MS, &n));
	CHECK_EQ(n, 1);		/* c */
	CHECK(!sl_tsp_spool_get(&st, c.sid, &got));
	CHECK_EQ(got.state, SL_TSP_SPOOL_EXPIRED);
	CHECK(!sl_tsp_spool_get(&st, got.sid, &got));
	CHECK_EQ(files_in("spool"), 0);
	/* A closed row cannot be delivered, retried or collected twice
	 * into another time. */
	CHECK_EQ(sl_tsp_spool_deliver_begin(&sp, c.sid, T0, &fd), -ESTALE);
	CHECK_EQ(sl_tsp_spool_retry(&sp, b.sid, "BUSY", T0, &state), -ESTALE);
	sl_tsp_spool_close(&sp);
out_store:
	sl_tsp_store_close(&st);
out_free:
	free(env);
}

/*
 * batch_interval: every next_ms the spool sets is a tick, and a row is
 * due only from the tick at or after its time (and window) on; min_free:
 * a hand-over that would leave less free is refused before any row.
 */
TEST(batches_and_min_free)
{
	const int64_t tick = 15 * 60000LL;
	struct sl_tsp_store st;
	struct sl_tsp_spool sp;
	struct sl_tsp_spool_limits lim;
	struct sl_tsp_spool_recovery rec;
	struct sl_tsp_spool_row a, b, c, got;
	struct sl_tsp_spool_offer o = {
		.sender = SENDER, .recipient = RECIPIENT,
		.window = SL_TSP_WINDOW_NONE,
	};
	/* 08:20-10:00 UTC; T0 is 08:00, a tick. */
	const int window = (8 * 60 + 20) * 1440 + 10 * 60;
	enum sl_tsp_spool_state state;
	uint8_t ida[16] = { 0x1a }, idb[16] = { 0x1b }, idc[16] = { 0x1c };
	struct ids due;
	uint64_t size, resume;
	uint8_t *env = make_envelope(ida, 500, &size);
	int fd;

	fresh();
	sl_tsp_spool_limits_default(&lim);
	lim.batch_ms = tick;
	CHECK_EQ(T0 % tick, 0);
	if (!CHECK(env) || !CHECK(open_store(&st, "tsp1")))
		goto out_free;
	if (!CHECK(!open_spool(&sp, &st, &lim, T0, &rec)))
		goto out_store;
	CHECK_EQ(sl_tsp_spool_tick_up(&sp, T0 + 1), T0 + tick);
	CHECK_EQ(sl_tsp_spool_tick_up(&sp, T0), T0);
	CHECK_EQ(sl_tsp_spool_tick(&sp, T0 + tick - 1), T0);
	/* a: accepted a second after a tick, due at the next one. */
	CHECK(!hand_over(&sp, ida, env, size, T0 + 1000, 0, SL_TSP_WINDOW_NONE, &a));
	CHECK_EQ(a.next_ms, T0 + tick);
	/* b: not before 08:20, so 08:30; c: in a window from 08:20 on. */
	CHECK(!hand_over(&sp, idb, env, size, T0, T0 + 20 * 60000LL,
			 SL_TSP_WINDOW_NONE, &b));
	CHECK_EQ(b.next_ms, T0 + 2 * tick);
	CHECK(!hand_over(&sp, idc, env, size, T0, 0, window, &c));
	CHECK_EQ(c.next_ms, T0);
	due.n = 0;
	CHECK(!sl_tsp_spool_due(&sp, T0 + tick - 1, add_id, &due));
	CHECK_EQ(due.n, 0);
	due.n = 0;
	CHECK(!sl_tsp_spool_due(&sp, T0 + tick, add_id, &due));
	CHECK_EQ(due.n, 1);
	CHECK_EQ(due.sid[0], a.sid);
	/* 08:20: b's time and c's window have come, the tick not yet. */
	due.n = 0;
	CHECK(!sl_tsp_spool_due(&sp, T0 + 20 * 60000LL, add_id, &due));
	CHECK_EQ(due.n, 1);
	due.n = 0;
	CHECK(!sl_tsp_spool_due(&sp, T0 + 2 * tick, add_id, &due));
	CHECK_EQ(due.n, 3);
	/* A retry's back-off (5 min) ends on a tick too. */
	CHECK(!sl_tsp_spool_deliver_begin(&sp, a.sid, T0 + tick + 60000, &fd));
	close(fd);
	CHECK(!sl_tsp_spool_retry(&sp, a.sid, "BUSY", T0 + tick + 60000, &state));
	CHECK(!sl_tsp_spool_get(&st, a.sid, &got));
	CHECK_EQ(got.next_ms, T0 + 2 * tick);
	sl_tsp_spool_close(&sp);

	/* min_free: more than any disk has. No row, no file. */
	lim.batch_ms = 0;
	lim.min_free = 1ULL << 60;
	if (!CHECK(!open_spool(&sp, &st, &lim, T0, &rec)))
		goto out_store;
	o.size = size;
	memset(o.envelope, 0x1d, sizeof(o.envelope));
	CHECK_EQ(sl_tsp_spool_receive_begin(&sp, &o, T0, &got, &resume), -ENOSPC);
	CHECK(strstr(sl_tsp_store_error(&st), "min_free") != NULL);
	CHECK_EQ(files_in("spool"), 3);		/* a, b and c's */
	due.n = 0;
	CHECK(!sl_tsp_spool_list(&st, false, add_id, &due));
	CHECK_EQ(due.n, 3);
	sl_tsp_spool_close(&sp);
	lim.min_free = 0;
	if (!CHECK(!open_spool(&sp, &st, &lim, T0, &rec)))
		goto out_store;
	CHECK(!sl_tsp_spool_receive_begin(&sp, &o, T0, &got, &resume));
	sl_tsp_spool_close(&sp);
out_store:
	sl_tsp_store_close(&st);
out_free:
	free(env);
}

TEST(recovery_repairs)
{
	struct sl_tsp_store st;
	struct sl_tsp_spool sp;
	struct sl_tsp_spool_recovery rec;
	struct sl_tsp_spool_row a, got;
	uint8_t id[16] = { 0x5 };
	uint64_t size;
	uint8_t *env = make_envelope(id, 1000, &size);
	char p[700];
	int fd;

	fresh();
	if (!CHECK(env) || !CHECK(open_store(&st, "tsp1")))
		goto out_free;
	if (!CHECK(!open_spool(&sp, &st, NULL, T0, &rec)))
		goto out_store;
	CHECK(!hand_over(&sp, id, env, size, T0, 0, SL_TSP_WINDOW_NONE, &a));
	CHECK(!sl_tsp_spool_deliver_begin(&sp, a.sid, T0, &fd));
	close(fd);
	sl_tsp_spool_close(&sp);
	/* A stray file no row names. */
	snprintf(p, sizeof(p), "%s/spool/00000000000000ff", base);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK(!open_spool(&sp, &st, NULL, T0 + HOUR, &rec));
	CHECK_EQ(rec.requeued, 1);
	CHECK_EQ(rec.unlinked, 1);
	CHECK_EQ(rec.lost, 0);
	CHECK(!sl_tsp_spool_get(&st, a.sid, &got));
	CHECK_EQ(got.state, SL_TSP_SPOOL_HELD);
	CHECK_EQ(got.next_ms, T0 + HOUR);
	CHECK_EQ(got.attempts, 1);
	sl_tsp_spool_close(&sp);
	/* An accepted envelope whose file vanished is reported, not
	 * dropped. */
	snprintf(p, sizeof(p), "%s/spool/%016llx", base,
		 (unsigned long long)a.sid);
	CHECK(!unlink(p));
	CHECK_EQ(open_spool(&sp, &st, NULL, T0 + HOUR, &rec), -EUCLEAN);
	CHECK_EQ(rec.lost, 1);
	sl_tsp_spool_close(&sp);
	/* A spool directory others can read is refused. */
	snprintf(p, sizeof(p), "%s/spool", base);
	CHECK(!chmod(p, 0755));
	CHECK_EQ(open_spool(&sp, &st, NULL, T0, &rec), -EACCES);
out_store:
	sl_tsp_store_close(&st);
out_free:
	free(env);
}

/* sealctl tsp migrate's copy: a whole row as it is, once. */
TEST(put_rows)
{
	struct sl_tsp_store st;
	struct sl_tsp_spool_row r = {
		.sid = 0x8000000000000001ULL, .sender = SENDER,
		.recipient = RECIPIENT, .size = 169, .bucket = 65536,
		.have_sha256 = true, .state = SL_TSP_SPOOL_DELIVERED,
		.instance = "old", .received_ms = T0, .accepted_ms = T0 + 1,
		.not_before_ms = T0 + 2, .window = 1, .expires_ms = T0 + DAY,
		.next_ms = T0 + 3, .attempts = 4, .last_attempt_ms = T0 + 5,
		.done_ms = T0 + 6, .reason = "BUSY", .receipt = "r\n",
		.collected_ms = T0 + 7,
	}, got;

	fresh();
	if (!CHECK(open_store(&st, NULL)))
		return;
	memset(r.envelope, 0xee, sizeof(r.envelope));
	memset(r.sha256, 0x5a, sizeof(r.sha256));
	CHECK(!sl_tsp_spool_put(&st, &r));
	CHECK(!sl_tsp_spool_put(&st, &r));		/* again: the same */
	CHECK(!sl_tsp_spool_get(&st, r.sid, &got));
	CHECK(sl_tsp_spool_same(&r, &got));
	r.attempts = 5;
	CHECK_EQ(sl_tsp_spool_put(&st, &r), -EEXIST);	/* differs */
	r.sid = 2;					/* same envelope */
	CHECK_EQ(sl_tsp_spool_put(&st, &r), -EEXIST);
	r.done_ms = 0;					/* closed without end */
	CHECK_EQ(sl_tsp_spool_put(&st, &r), -EINVAL);
	sl_tsp_store_close(&st);
}

/* ------------------------------------------------------------ crashes */

/* The scenario's envelopes: payload size, not-before, the recipient's
 * behaviour, the outcome expected. */
enum behaviour { TAKES, BUSY_FIRST, REFUSES };

static const struct plan {
	uint64_t payload;
	int64_t not_before;
	enum behaviour rb;
	enum sl_tsp_spool_state outcome;
} plan[] = {
	{ 1000, 0, TAKES, SL_TSP_SPOOL_DELIVERED },
	{ 140000, 0, BUSY_FIRST, SL_TSP_SPOOL_DELIVERED },	/* 3 chunks */
	{ 0, 0, REFUSES, SL_TSP_SPOOL_BOUNCED },
	{ 70000, 30 * DAY, TAKES, SL_TSP_SPOOL_EXPIRED },	/* never due */
	{ 5000, 0, TAKES, SL_TSP_SPOOL_DELIVERED },
};
#define PLAN_N (sizeof(plan) / sizeof(plan[0]))

static long crash_at;		/* the durable step to die after; 0: none */
static long crash_seen;
static bool crash_recovery_only;

static void crash_hook(void *arg, enum sl_tsp_spool_point p)
{
	(void)arg;
	if (crash_recovery_only && p != SL_TSP_SPOOL_AFTER_RECOVER)
		return;
	if (crash_at && ++crash_seen == crash_at)
		_exit(CRASH_STATUS);
}

static void env_id(uint8_t id[16], size_t i)
{
	memset(id, 0, 16);
	id[0] = (uint8_t)(0x40 + i);
	id[15] = 0x99;
}

static bool file_there(const char *sub, const char *name)
{
	char p[800];

	snprintf(p, sizeof(p), "%s/%s/%s", base, sub, name);
	return !access(p, F_OK);
}

/* Durable write of a small file, as a real sender or recipient would. */
static int put_file(const char *sub, const char *name, const void *b, size_t n)
{
	char p[800], tmp[810];
	int fd;

	snprintf(p, sizeof(p), "%s/%s/%s", base, sub, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, b, n) != (ssize_t)n || fsync(fd)) {
		close(fd);
		return -EIO;
	}
	close(fd);
	/* link(): never replaces, as RENAME_NOREPLACE in sealined. */
	if (link(tmp, p)) {
		int e = -errno;

		unlink(tmp);
		return e;
	}
	unlink(tmp);
	return 0;
}

static void append_log(const char *line)
{
	char p[700];
	int fd;

	snprintf(p, sizeof(p), "%s/recv.log", base);
	fd = open(p, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd >= 0) {
		if (write(fd, line, strlen(line)) < 0)
			perror("recv.log");
		fsync(fd);
		close(fd);
	}
}

/* The recipient: takes an envelope into its inbox once, answers a copy
 * with the first receipt (REPLAY), or refuses. 0: receipt in rcpt. */
static int recipient_takes(size_t i, const uint8_t *buf, uint64_t size,
			   unsigned int attempt, char *rcpt, size_t len)
{
	uint8_t sha[32];
	char name[40], h[65];
	int ret;

	if (plan[i].rb == BUSY_FIRST && attempt == 1)
		return -EBUSY;
	if (plan[i].rb == REFUSES)
		return -EPERM;
	gcry_md_hash_buffer(GCRY_MD_SHA256, sha, buf, size);
	hex(h, sha, 32);
	hex(name, buf + 8, 16);
	snprintf(rcpt, len, "sealine-receipt test\nenvelope %s\nsha256 %s\n",
		 name, h);
	snprintf(h, sizeof(h), "%s\n", name);
	append_log(h);
	ret = put_file("inbox", name, buf, size);
	if (ret == -EEXIST)
		return 0;	/* REPLAY: the receipt of the first time */
	return ret;
}

/* The whole scenario from wherever the last run left it. */
static int scenario(struct sl_tsp_spool *sp)
{
	static const int64_t ticks[] = { T0 + HOUR, T0 + 2 * HOUR,
					 T0 + 3 * HOUR, T0 + 8 * DAY };
	struct sl_tsp_spool_row row;
	struct ids ids;
	int ret;

	/* The sender hands over what it has no acceptance for; it hands
	 * envelope 0 over twice (a duplicate after a lost acceptance). */
	for (size_t i = 0; i <= PLAN_N; ++i) {
		size_t e = i == PLAN_N ? 0 : i;
		uint8_t id[16];
		uint64_t size;
		uint8_t *env;
		char name[40];

		env_id(id, e);
		hex(name, id, 16);
		if (i < PLAN_N && file_there("sender", name))
			continue;
		env = make_envelope(id, plan[e].payload, &size);
		if (!env)
			return -ENOMEM;
		ret = hand_over(sp, id, env, size, T0,
				plan[e].not_before ? T0 + plan[e].not_before : 0,
				SL_TSP_WINDOW_NONE, &row);
		free(env);
		if (ret == -EEXIST)
			ret = 0;	/* held already: acknowledged again */
		if (ret)
			return ret;
		ret = put_file("sender", name, "accepted\n", 9);
		if (ret && ret != -EEXIST)
			return ret;
	}
	for (size_t t = 0; t < sizeof(ticks) / sizeof(ticks[0]); ++t) {
		unsigned int n;

		ret = sl_tsp_spool_expire(sp, ticks[t], &n);
		if (ret)
			return ret;
		ids.n = 0;
		ret = sl_tsp_spool_due(sp, ticks[t], add_id, &ids);
		if (ret)
			return ret;
		for (size_t k = 0; k < ids.n; ++k) {
			static uint8_t buf[200000];
			enum sl_tsp_spool_state state;
			char rcpt[300];
			ssize_t got;
			size_t i;
			int fd;

			ret = sl_tsp_spool_get(sp->st, ids.sid[k], &row);
			if (ret)
				return ret;
			i = (size_t)(row.envelope[0] - 0x40);
			ret = sl_tsp_spool_deliver_begin(sp, row.sid, ticks[t], &fd);
			if (ret)
				return ret;
			got = pread(fd, buf, sizeof(buf), 0);
			close(fd);
			if (got != (ssize_t)row.size)
				return -EIO;
			ret = recipient_takes(i, buf, row.size, row.attempts + 1,
					      rcpt, sizeof(rcpt));
			if (!ret)
				ret = sl_tsp_spool_delivered(sp, row.sid, rcpt,
							     ticks[t]);
			else if (ret == -EBUSY)
				ret = sl_tsp_spool_retry(sp, row.sid, "BUSY",
							 ticks[t], &state);
			else if (ret == -EPERM)
				ret = sl_tsp_spool_bounce(sp, row.sid,
							  "NOT_AUTHORISED", ticks[t]);
			if (ret)
				return ret;
		}
	}
	/* The sender collects its receipts and notices. */
	ids.n = 0;
	ret = sl_tsp_spool_pending(sp, SENDER, add_id, &ids);
	for (size_t k = 0; !ret && k < ids.n; ++k)
		ret = sl_tsp_spool_collect(sp, ids.sid[k], T0 + 9 * DAY);
	return ret;
}

/* A forked TSP runs recovery and the scenario; its exit status. */
static int run_tsp(long crash, bool recovery_only)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct sl_tsp_store st;
		struct sl_tsp_spool sp;
		struct sl_tsp_spool_recovery rec;
		int ret;

		crash_at = crash;
		crash_seen = 0;
		crash_recovery_only = recovery_only;
		if (!open_store(&st, "tsp1"))
			_exit(2);
		sl_tsp_spool_set_crash_hook(crash_hook, NULL);
		ret = open_spool(&sp, &st, NULL, T0, &rec);
		if (!ret)
			ret = scenario(&sp);
		if (ret)
			printf("  scenario: %s (%s)\n", strerror(-ret),
			       sl_tsp_store_error(&st));
		sl_tsp_spool_close(&sp);
		sl_tsp_store_close(&st);
		_exit(ret ? 3 : 0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

struct outcome_ctx {
	unsigned int rows, closed, collected;
	unsigned int per[PLAN_N];
	bool wrong;
};

static int outcome_row(const struct sl_tsp_spool_row *r, void *arg)
{
	struct outcome_ctx *c = arg;
	size_t i = (size_t)(r->envelope[0] - 0x40);
	char name[40], want[300];

	c->rows++;
	if (i >= PLAN_N) {
		c->wrong = true;
		return 0;
	}
	c->per[i]++;
	if (sl_tsp_spool_closed(r->state))
		c->closed++;
	if (r->collected_ms)
		c->collected++;
	if (r->state != plan[i].outcome) {
		printf("  envelope %zu ended %s, not %s\n", i,
		       sl_tsp_spool_state_name(r->state),
		       sl_tsp_spool_state_name(plan[i].outcome));
		c->wrong = true;
	}
	if (r->state == SL_TSP_SPOOL_DELIVERED) {
		char h[65];

		hex(name, r->envelope, 16);
		hex(h, r->sha256, 32);
		snprintf(want, sizeof(want),
			 "sealine-receipt test\nenvelope %s\nsha256 %s\n", name, h);
		if (strcmp(r->receipt, want)) {
			printf("  envelope %zu: a receipt that is not the recipient's\n", i);
			c->wrong = true;
		}
	}
	return 0;
}

/* store-and-forward.rst's invariants, after a completed run. */
static bool invariants(const char *when)
{
	struct outcome_ctx c = { 0 };
	struct sl_tsp_store st;
	unsigned int inbox = 0, delivered = 0;
	bool ok = true;

	if (!open_store(&st, NULL))
		return false;
	ok &= CHECKF(!sl_tsp_spool_list(&st, false, outcome_row, &c), "%s", when);
	sl_tsp_store_close(&st);
	ok &= CHECKF(!c.wrong, "%s: an outcome or receipt is wrong", when);
	ok &= CHECKF(c.rows == PLAN_N, "%s: %u rows for %zu envelopes", when,
		     c.rows, PLAN_N);
	for (size_t i = 0; i < PLAN_N; ++i)
		ok &= CHECKF(c.per[i] == 1, "%s: envelope %zu has %u rows",
			     when, i, c.per[i]);
	ok &= CHECKF(c.closed == PLAN_N && c.collected == PLAN_N,
		     "%s: %u closed, %u collected", when, c.closed, c.collected);
	ok &= CHECKF(files_in("spool") == 0, "%s: %u files left in the spool",
		     when, files_in("spool"));
	ok &= CHECKF(files_in("sender") == PLAN_N, "%s: %u acceptances", when,
		     files_in("sender"));
	/* Each delivered envelope in the inbox once, byte for byte. */
	for (size_t i = 0; i < PLAN_N; ++i) {
		uint8_t id[16], *env, buf[200000];
		uint64_t size;
		char name[40], p[800];
		int fd;

		env_id(id, i);
		hex(name, id, 16);
		if (plan[i].outcome != SL_TSP_SPOOL_DELIVERED) {
			ok &= CHECKF(!file_there("inbox", name),
				     "%s: envelope %zu reached the inbox", when, i);
			continue;
		}
		delivered++;
		env = make_envelope(id, plan[i].payload, &size);
		snprintf(p, sizeof(p), "%s/inbox/%s", base, name);
		fd = open(p, O_RDONLY);
		ok &= CHECKF(fd >= 0, "%s: envelope %zu lost", when, i);
		if (fd >= 0) {
			ssize_t n = read(fd, buf, sizeof(buf));

			ok &= CHECKF(n == (ssize_t)size && !memcmp(buf, env, size),
				     "%s: envelope %zu changed", when, i);
			close(fd);
			inbox++;
		}
		free(env);
	}
	ok &= CHECKF(inbox == delivered && files_in("inbox") == delivered,
		     "%s: %u in the inbox, %u delivered", when, files_in("inbox"),
		     delivered);
	return ok;
}

static void make_dirs(void)
{
	static const char *const subs[] = { "inbox", "sender" };
	char p[700];

	for (size_t i = 0; i < 2; ++i) {
		snprintf(p, sizeof(p), "%s/%s", base, subs[i]);
		CHECK(!mkdir(p, 0700));
	}
}

TEST(crash_everywhere)
{
	long points = 0, crashes = 0, recovery_crashes = 0;
	int rc;

	/* A run without a crash: the scenario itself is right. */
	fresh();
	make_dirs();
	if (!CHECK_EQ(run_tsp(0, false), 0) || !invariants("no crash"))
		return;
	for (long k = 1; k <= MAX_CRASH_POINTS; ++k) {
		char when[80];

		fresh();
		make_dirs();
		rc = run_tsp(k, false);
		if (rc == 0) {
			points = k - 1;
			break;
		}
		if (!CHECKF(rc == CRASH_STATUS, "crash at step %ld: exit %d", k, rc))
			return;
		crashes++;
		/* Die again during recovery, if it has anything to repair. */
		rc = run_tsp(1, true);
		if (rc == CRASH_STATUS)
			recovery_crashes++;
		else if (!CHECKF(rc == 0, "recovery after step %ld: exit %d", k, rc))
			return;
		snprintf(when, sizeof(when), "after a crash at step %ld", k);
		if (!CHECKF(run_tsp(0, false) == 0, "%s: the restart failed", when) ||
		    !invariants(when))
			return;
	}
	CHECKF(points > 20, "only %ld durable steps", points);
	printf("  %ld durable steps, a crash after each (%ld), %ld of them again in recovery\n",
	       points, crashes, recovery_crashes);
}

static void run_all(const char *backend)
{
	printf("backend %s\n", backend);
	RUN(handover_delivery_collect);
	RUN(refusals_duplicates_resume);
	RUN(retry_bounce_expire_abandon);
	RUN(recovery_repairs);
	RUN(batches_and_min_free);
	RUN(put_rows);
	RUN(crash_everywhere);
}

int main(int argc, char **argv)
{
	char cmd[600];

	check_init(argc, argv);
	if (!gcry_check_version(GCRYPT_VERSION))
		return 1;
	gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(sizes_buckets_windows);
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
