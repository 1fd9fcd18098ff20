// SPDX-License-Identifier: GPL-2.0
/*
 * The TSP's side of a delivery (agent/tsp/delivery.c) against the
 * courier's real recipient engine (proto/xfer.c), message by message:
 * Documentation/store-and-forward.rst, "The delivery call".
 *
 * The recipient here is the engine plus what sealined's receiver does
 * with it: it keeps what arrives, checks it is the envelope byte for
 * byte, and answers with a receipt signed by its identity key (courier/
 * receipt.c), or refuses. A receipt makes the row delivered and removes
 * the file; the first receipt again with REPLAY too; a receipt for
 * another envelope, or a forged one, is a failed attempt; a refusal for
 * good bounces, a retryable one and a cut transfer retry (and the next
 * attempt resumes where the recipient stopped); DAMAGED twice bounces; a
 * call refused at setup bounces, busy retries.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gcrypt.h>

#include "check.h"
#include "crypto.h"
#include "delivery.h"
#include "envelope.h"
#include "padwire.h"
#include "receipt.h"

#define SENDER		"100000000001"
#define RECIPIENT	"100000000002"
#define WALL		1800000000000LL
#define MAX_STEPS	200000

static char tmpdir[] = "/tmp/sealine-tspdelivery-XXXXXX";
static unsigned int seq;
static struct sl_sign_key rcpt_key;

struct world {
	struct sl_tsp_store st;
	struct sl_tsp_spool sp;
	char dir[512];
	uint8_t *env;
	uint64_t size;
	uint64_t sid;
};

static uint8_t *make_envelope(uint8_t tag, uint64_t payload, uint64_t *size)
{
	uint64_t chunks = payload ? (payload + 65535) / 65536 : 1;
	uint8_t *e;

	*size = SL_ENV_HEADER_LEN + payload + SL_ENV_TAG_LEN * chunks;
	e = malloc(*size);
	if (!e)
		return NULL;
	for (uint64_t i = 0; i < *size; ++i)
		e[i] = (uint8_t)(tag * 3 + i * 29 + (i >> 10));
	memcpy(e, SL_ENV_MAGIC, SL_ENV_MAGIC_LEN);
	e[SL_ENV_MAGIC_LEN] = SL_ENV_VERSION;
	memset(e + 8, tag, SL_ENV_ID_LEN);
	return e;
}

/* A store, a spool and one envelope held in it, due now. */
static bool world_open(struct world *w, uint64_t payload)
{
	struct sl_tsp_spool_offer o = {
		.sender = SENDER, .recipient = RECIPIENT,
		.window = SL_TSP_WINDOW_NONE,
	};
	struct sl_tsp_spool_recovery rec;
	struct sl_tsp_spool_row row;
	char err[512], p[600];
	uint64_t resume;

	memset(w, 0, sizeof(*w));
	snprintf(w->dir, sizeof(w->dir), "%s/w%u", tmpdir, ++seq);
	w->env = make_envelope((uint8_t)(0x60 + seq), payload, &w->size);
	if (!w->env || mkdir(w->dir, 0700))
		return false;
	snprintf(p, sizeof(p), "%s/tsp.db", w->dir);
	if (sl_tsp_store_open(&w->st, p, "tsp1",
			      SL_TSP_OPEN_CREATE | SL_TSP_OPEN_SERVER, err,
			      sizeof(err))) {
		printf("  store: %s\n", err);
		return false;
	}
	snprintf(p, sizeof(p), "%s/spool", w->dir);
	if (sl_tsp_spool_open(&w->sp, p, &w->st, NULL, WALL, &rec, err,
			      sizeof(err))) {
		printf("  spool: %s\n", err);
		return false;
	}
	memcpy(o.envelope, w->env + 8, SL_ENV_ID_LEN);
	o.size = w->size;
	if (sl_tsp_spool_receive_begin(&w->sp, &o, WALL, &row, &resume) ||
	    sl_tsp_spool_receive_write(&w->sp, row.sid, 0, w->env, w->size) ||
	    sl_tsp_spool_receive_done(&w->sp, row.sid, WALL, 0, &row))
		return false;
	w->sid = row.sid;
	return true;
}

static void world_close(struct world *w)
{
	sl_tsp_spool_close(&w->sp);
	sl_tsp_store_close(&w->st);
	free(w->env);
}

/* ------------------------------------------------------------ recipient */

enum behaviour {
	TAKES,			/* verify, commit, receipt */
	REFUSES,		/* refuse the offer with code */
	REPLAYS,		/* REPLAY at once, with the first receipt */
	OTHER_RECEIPT,		/* a receipt for another envelope */
	FORGED_RECEIPT,		/* the right receipt, its signature broken */
};

struct recipient {
	struct padwire *wire;	/* T's messages cross it (padwire.h) */
	enum behaviour b;
	uint8_t code;
	uint64_t cut_at;	/* drop the line at this many durable chunks */
	uint8_t *got;		/* what arrived, where it belongs */
	uint64_t have;		/* chunks durable from earlier attempts */
	struct sl_xrecv *xr;
	struct sl_xrecv_status st;	/* its engine's, at the end */
	bool checked;		/* the whole envelope arrived intact */
};

static size_t make_receipt(const struct world *w, bool other, char *out)
{
	struct sl_rcpt r = { .size = w->size, .delivered = WALL / 1000,
			     .files = 1, .bytes = 1000 };
	char why[128];
	size_t len = 0;

	memcpy(r.id, w->env + 8, SL_ENV_ID_LEN);
	gcry_md_hash_buffer(GCRY_MD_SHA256, r.sha256, w->env, w->size);
	if (other)
		r.sha256[0] ^= 1;
	snprintf(r.sender, sizeof(r.sender), "%s", SENDER);
	snprintf(r.recipient, sizeof(r.recipient), "%s", RECIPIENT);
	if (sl_rcpt_sign(out, SL_RCPT_MAX_LEN + 1, &len, &r, &rcpt_key, why,
			 sizeof(why)))
		printf("  receipt: %s\n", why);
	return len;
}

static void recipient_offer(struct world *w, struct recipient *rc,
			    const uint8_t *msg, size_t n, uint64_t now)
{
	char text[SL_RCPT_MAX_LEN + 1];
	size_t len;

	if (!CHECK(!sl_xrecv_new(&rc->xr, msg, n, now)))
		return;
	CHECK(!memcmp(sl_xrecv_offer(rc->xr)->header, w->env, SL_ENV_HEADER_LEN));
	switch (rc->b) {
	case REFUSES:
		sl_xrecv_refuse(rc->xr, rc->code, "as told", now);
		break;
	case REPLAYS:
		len = make_receipt(w, false, text);
		sl_xrecv_result(rc->xr, SL_ENV_REPLAY, text, len, now);
		break;
	default:
		sl_xrecv_accept(rc->xr, rc->have, now);
	}
}

static void recipient_input(struct world *w, struct recipient *rc,
			    const uint8_t *msg, size_t n, uint64_t now)
{
	struct sl_xrecv_status st;
	const uint8_t *buf;
	uint64_t index;
	size_t len;

	sl_xrecv_input(rc->xr, msg, n, now);
	while (sl_xrecv_take_chunk(rc->xr, &index, &buf, &len)) {
		memcpy(rc->got + SL_ENV_HEADER_LEN + index * 65552, buf, len);
		sl_xrecv_chunk_done(rc->xr, now);
		rc->have = index + 1;
	}
	sl_xrecv_get_status(rc->xr, &st);
	if (st.state == SL_XRECV_COMPLETE && !rc->checked) {
		char text[SL_RCPT_MAX_LEN + 1];

		memcpy(rc->got, sl_xrecv_offer(rc->xr)->header, SL_ENV_HEADER_LEN);
		rc->checked = CHECK(!memcmp(rc->got, w->env, w->size));
		len = make_receipt(w, rc->b == OTHER_RECEIPT, text);
		if (rc->b == FORGED_RECEIPT)
			text[len - 2] = text[len - 2] == '0' ? '1' : '0';
		sl_xrecv_result(rc->xr, SL_ENV_OK, text, len, now);
	}
}

/* One delivery call: T's engine against the recipient, lossless. */
static int deliver(struct world *w, struct recipient *rc,
		   enum sl_tsp_spool_state *state, struct sl_xsend_status *xs)
{
	static uint64_t now = 5000;
	struct sl_tsp_delivery_cfg cfg = {
		.sp = &w->sp, .sid = w->sid, .xfer_id = (uint32_t)(now + seq),
	};
	uint8_t buf[SL_CCHAN_MAX_PLAIN], carried[SL_CCHAN_MAX_MSG];
	struct sl_tsp_delivery *d;
	int ret;

	ret = sl_tsp_delivery_new(&d, &cfg, now, WALL + (int64_t)now);
	if (ret)
		return ret;
	rc->xr = NULL;
	rc->checked = false;
	for (int step = 0; step < MAX_STEPS; ++step) {
		bool moved = false;
		size_t n;

		while ((n = sl_tsp_delivery_output(d, now, buf))) {
			const uint8_t *m = buf;

			moved = true;
			if (rc->wire) {
				n = padwire_carry(rc->wire, buf, n, carried);
				m = carried;
				CHECK(n);
			}
			if (!rc->xr)
				recipient_offer(w, rc, m, n, now);
			else
				recipient_input(w, rc, m, n, now);
		}
		while (rc->xr && (n = sl_xrecv_output(rc->xr, now, buf))) {
			moved = true;
			sl_tsp_delivery_input(d, buf, n, now);
		}
		if (rc->cut_at && rc->have >= rc->cut_at)
			break;
		if (sl_tsp_delivery_finished(d, now) &&
		    (!rc->xr || sl_xrecv_finished(rc->xr, now)))
			break;
		if (!moved) {
			uint64_t t = sl_tsp_delivery_next_timer(d);
			uint64_t u = rc->xr ? sl_xrecv_next_timer(rc->xr) : 0;

			if (u && (!t || u < t))
				t = u;
			now = t > now ? t : now + 1;
		}
	}
	sl_tsp_delivery_get_status(d, xs);
	if (rc->xr)
		sl_xrecv_get_status(rc->xr, &rc->st);
	ret = sl_tsp_delivery_finish(d, WALL + (int64_t)now, state);
	sl_tsp_delivery_free(d);
	sl_xrecv_free(rc->xr);
	rc->xr = NULL;
	rc->cut_at = 0;
	now += 10000000;	/* past any back-off */
	return ret;
}

/* Make the row due again (the daemon waits for next_ms). */
static struct sl_tsp_spool_row row_of(struct world *w)
{
	struct sl_tsp_spool_row r;

	CHECK(!sl_tsp_spool_get(&w->st, w->sid, &r));
	return r;
}

static bool file_gone(struct world *w)
{
	uint8_t b;

	return sl_tsp_spool_read(&w->sp, w->sid, 0, &b, 1) == -ENOENT;
}

TEST(delivered_with_receipt)
{
	struct world w;
	struct recipient rc = { .b = TAKES };
	enum sl_tsp_spool_state state;
	struct sl_xsend_status xs;
	struct sl_tsp_spool_row r;
	char want[SL_RCPT_MAX_LEN + 1];

	if (!CHECK(world_open(&w, 150000)))
		goto out;
	rc.got = calloc(1, w.size);
	CHECK(!deliver(&w, &rc, &state, &xs));
	CHECK(rc.checked);
	CHECK_EQ(state, SL_TSP_SPOOL_DELIVERED);
	r = row_of(&w);
	CHECK_EQ(r.state, SL_TSP_SPOOL_DELIVERED);
	CHECK_EQ(r.attempts, 1);
	make_receipt(&w, false, want);
	CHECK(!strcmp(r.receipt, want));
	CHECK(file_gone(&w));
	/* Never again. */
	CHECK_EQ(deliver(&w, &rc, &state, &xs), -ESTALE);
	free(rc.got);
out:
	world_close(&w);
}

/*
 * T pads a delivery to the envelope's bucket (store-and-forward.rst),
 * counted on the wire T -> R (padwire.h): the same bytes for envelopes
 * of any size in one bucket, within one message; R counts and discards
 * the padding and takes the envelope byte for byte.
 */
TEST(padded_to_the_bucket_on_the_wire)
{
	static const uint64_t payloads[] = { 20, 40000, 65000, 70000, 129000 };
	uint64_t bytes[5];

	for (int i = 0; i < 5; ++i) {
		struct world w;
		struct padwire pw;
		struct recipient rc = { .b = TAKES, .wire = &pw };
		enum sl_tsp_spool_state state;
		struct sl_xsend_status xs;
		uint64_t bucket;

		bytes[i] = 0;
		if (!CHECK(world_open(&w, payloads[i])) || !CHECK(padwire_open(&pw)))
			goto next;
		bucket = sl_xfer_bucket(w.size);
		rc.got = calloc(1, w.size);
		CHECK(!deliver(&w, &rc, &state, &xs));
		CHECK(rc.checked);
		CHECK_EQ(state, SL_TSP_SPOOL_DELIVERED);
		CHECK_EQ(xs.pad_bytes, bucket - w.size);
		CHECK_EQ(rc.st.pad_bytes, bucket - w.size);
		CHECK_EQ(rc.st.pad_dropped, 0);
		CHECK(pw.bytes >= bucket && pw.bytes < bucket / 100 * 105);
		bytes[i] = pw.bytes;
		printf("  envelope of %6llu bytes: %6llu bytes on the wire to R (bucket %llu)\n",
		       (unsigned long long)w.size, (unsigned long long)pw.bytes,
		       (unsigned long long)bucket);
		free(rc.got);
next:
		padwire_close(&pw);
		world_close(&w);
	}
	for (int i = 1; i < 5; ++i) {
		uint64_t a = bytes[i - 1], b = bytes[i];
		bool same = i != 3;	/* 0-2: 64 KiB, 3-4: 128 KiB */

		CHECKF(same ? (a > b ? a - b : b - a) < SL_XFER_PIECE_DEFAULT + 200 :
		       b > 2 * a - 4000, "%llu then %llu bytes",
		       (unsigned long long)a, (unsigned long long)b);
	}
}

TEST(cut_then_resumed)
{
	struct world w;
	struct recipient rc = { .b = TAKES, .cut_at = 2 };
	enum sl_tsp_spool_state state;
	struct sl_xsend_status xs;
	struct sl_tsp_spool_row r;

	if (!CHECK(world_open(&w, 200000)))		/* 4 chunks */
		goto out;
	rc.got = calloc(1, w.size);
	CHECK(!deliver(&w, &rc, &state, &xs));
	CHECK_EQ(state, SL_TSP_SPOOL_HELD);
	r = row_of(&w);
	CHECK(!strcmp(r.reason, SL_TSP_REASON_CUT));
	CHECK(!file_gone(&w));
	/* The next attempt sends only what the recipient does not have. */
	CHECK(!deliver(&w, &rc, &state, &xs));
	CHECK_EQ(state, SL_TSP_SPOOL_DELIVERED);
	CHECK_EQ(xs.from, 2);
	CHECK_EQ(xs.data_bytes, w.size - SL_ENV_HEADER_LEN - 2 * 65552);
	CHECK(rc.checked);
	CHECK_EQ(row_of(&w).attempts, 2);
	free(rc.got);
out:
	world_close(&w);
}

TEST(replay_with_first_receipt)
{
	struct world w;
	struct recipient rc = { .b = REPLAYS };
	enum sl_tsp_spool_state state;
	struct sl_xsend_status xs;

	if (!CHECK(world_open(&w, 1000)))
		goto out;
	CHECK(!deliver(&w, &rc, &state, &xs));
	CHECK_EQ(state, SL_TSP_SPOOL_DELIVERED);
	CHECK_EQ(xs.data_bytes, 0);
	CHECK(file_gone(&w));
out:
	world_close(&w);
}

TEST(bad_receipts_are_failed_attempts)
{
	struct world w;
	struct recipient rc = { .b = OTHER_RECEIPT };
	enum sl_tsp_spool_state state;
	struct sl_xsend_status xs;

	if (!CHECK(world_open(&w, 1000)))
		goto out;
	rc.got = calloc(1, w.size);
	CHECK(!deliver(&w, &rc, &state, &xs));
	CHECK_EQ(state, SL_TSP_SPOOL_HELD);
	CHECK(!strcmp(row_of(&w).reason, SL_TSP_REASON_BAD_RECEIPT));
	rc.b = FORGED_RECEIPT;
	rc.have = 0;
	CHECK(!deliver(&w, &rc, &state, &xs));
	CHECK_EQ(state, SL_TSP_SPOOL_HELD);
	CHECK(!strcmp(row_of(&w).reason, SL_TSP_REASON_BAD_RECEIPT));
	CHECK(!file_gone(&w));
	rc.b = TAKES;
	rc.have = 0;
	CHECK(!deliver(&w, &rc, &state, &xs));
	CHECK_EQ(state, SL_TSP_SPOOL_DELIVERED);
	CHECK_EQ(row_of(&w).attempts, 3);
	free(rc.got);
out:
	world_close(&w);
}

TEST(refusals)
{
	struct world w;
	struct recipient rc = { .b = REFUSES, .code = SL_ENV_NO_SPACE };
	enum sl_tsp_spool_state state;
	struct sl_xsend_status xs;
	struct sl_tsp_spool_row r;

	/* Retryable, then for good. */
	if (!CHECK(world_open(&w, 1000)))
		goto out;
	CHECK(!deliver(&w, &rc, &state, &xs));
	CHECK_EQ(state, SL_TSP_SPOOL_HELD);
	CHECK(!strcmp(row_of(&w).reason, "NO_SPACE"));
	rc.code = SL_ENV_NOT_FOR_US;	/* a lying sender's envelope */
	CHECK(!deliver(&w, &rc, &state, &xs));
	CHECK_EQ(state, SL_TSP_SPOOL_BOUNCED);
	r = row_of(&w);
	CHECK_EQ(r.state, SL_TSP_SPOOL_BOUNCED);
	CHECK(!strcmp(r.reason, "NOT_FOR_US"));
	CHECK_EQ(r.attempts, 2);
	CHECK(file_gone(&w));
	world_close(&w);

	/* DAMAGED once may be the line; twice it is the envelope. */
	if (!CHECK(world_open(&w, 1000)))
		goto out;
	rc.code = SL_ENV_DAMAGED;
	CHECK(!deliver(&w, &rc, &state, &xs));
	CHECK_EQ(state, SL_TSP_SPOOL_HELD);
	CHECK(!deliver(&w, &rc, &state, &xs));
	CHECK_EQ(state, SL_TSP_SPOOL_BOUNCED);
	CHECK(!strcmp(row_of(&w).reason, "DAMAGED"));
out:
	world_close(&w);
}

TEST(calls_that_fail)
{
	struct sl_tsp_delivery_cfg cfg = { .xfer_id = 7 };
	struct sl_tsp_delivery *d;
	enum sl_tsp_spool_state state;
	struct world w;

	if (!CHECK(world_open(&w, 1000)))
		goto out;
	cfg.sp = &w.sp;
	cfg.sid = w.sid;
	CHECK(!sl_tsp_delivery_new(&d, &cfg, 1, WALL));
	/* While one attempt runs, no other begins. */
	{
		struct sl_tsp_delivery *e;

		CHECK_EQ(sl_tsp_delivery_new(&e, &cfg, 1, WALL), -ESTALE);
	}
	CHECK(!sl_tsp_delivery_call_failed(d, "BUSY", false, WALL, &state));
	CHECK_EQ(sl_tsp_delivery_call_failed(d, "BUSY", false, WALL, &state),
		 -EALREADY);
	sl_tsp_delivery_free(d);
	CHECK_EQ(state, SL_TSP_SPOOL_HELD);
	CHECK(!sl_tsp_delivery_new(&d, &cfg, 1, WALL + 3600000));
	CHECK(!sl_tsp_delivery_call_failed(d, "NOT_AUTHORISED", true,
					   WALL + 3600000, &state));
	sl_tsp_delivery_free(d);
	CHECK_EQ(state, SL_TSP_SPOOL_BOUNCED);
	CHECK(!strcmp(row_of(&w).reason, "NOT_AUTHORISED"));
	CHECK(file_gone(&w));
out:
	world_close(&w);
}

int main(int argc, char **argv)
{
	char why[256], cmd[600];
	uint8_t priv[32];

	check_init(argc, argv);
	if (sl_crypto_init(0, 0, why, sizeof(why))) {
		printf("crypto: %s\n", why);
		return 1;
	}
	check_fill_random(priv, sizeof(priv));
	if (sl_sign_key_derive(&rcpt_key, priv, RECIPIENT)) {
		printf("cannot derive the recipient's key\n");
		return 1;
	}
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(delivered_with_receipt);
	RUN(padded_to_the_bucket_on_the_wire);
	RUN(cut_then_resumed);
	RUN(replay_with_first_receipt);
	RUN(bad_receipts_are_failed_attempts);
	RUN(refusals);
	RUN(calls_that_fail);
	sl_sign_key_wipe(&rcpt_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("warning: could not remove %s\n", tmpdir);
	return check_summary();
}
