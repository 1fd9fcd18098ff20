// SPDX-License-Identifier: GPL-2.0
/*
 * The TSP's side of a hand-over (agent/tsp/deposit.c) against the
 * courier's real sender engine (proto/xfer.c), message by message:
 * Documentation/store-and-forward.rst, "The hand-over".
 *
 * A whole hand-over ends with a signed acceptance that verifies under
 * the TSP's key and names exactly what is on disk; a cut one resumes at
 * the first chunk not on disk, and nothing acknowledged is sent again; a
 * duplicate gets the first acceptance again, byte for byte, and no chunk
 * moves; a lying sender (not an envelope, another version, a size no
 * envelope has, the same id with another size, over the limit or its
 * quota, a new header for a half-sent envelope) is refused with the
 * courier's codes, or starts over, and nothing it sent is held as
 * accepted. SQLite store; the times are given, nothing depends on the
 * clock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "crypto.h"
#include "deposit.h"
#include "tsptext.h"
#include "envelope.h"
#include "hex.h"
#include "padwire.h"

#define SENDER		"100000000001"
#define RECIPIENT	"100000000002"
#define WALL		1800000000000LL
#define MAX_STEPS	200000

static char tmpdir[] = "/tmp/sealine-tspdeposit-XXXXXX";
static unsigned int seq;
static struct sl_sign_key tsp_key;

struct world {
	struct sl_tsp_store st;
	struct sl_tsp_spool sp;
	struct sl_tsp_spool_limits lim;
	char dir[512];
};

static bool world_open(struct world *w, const struct sl_tsp_spool_limits *lim)
{
	char err[512], db[600];
	struct sl_tsp_spool_recovery rec;

	snprintf(w->dir, sizeof(w->dir), "%s/w%u", tmpdir, ++seq);
	if (mkdir(w->dir, 0700))
		return false;
	snprintf(db, sizeof(db), "%s/tsp.db", w->dir);
	if (sl_tsp_store_open(&w->st, db, "tsp1",
			      SL_TSP_OPEN_CREATE | SL_TSP_OPEN_SERVER, err,
			      sizeof(err))) {
		printf("  store: %s\n", err);
		return false;
	}
	snprintf(db, sizeof(db), "%s/spool", w->dir);
	if (lim)
		w->lim = *lim;
	else
		sl_tsp_spool_limits_default(&w->lim);
	if (sl_tsp_spool_open(&w->sp, db, &w->st, &w->lim, WALL, &rec, err,
			      sizeof(err))) {
		printf("  spool: %s\n", err);
		sl_tsp_store_close(&w->st);
		return false;
	}
	return true;
}

static void world_close(struct world *w)
{
	sl_tsp_spool_close(&w->sp);
	sl_tsp_store_close(&w->st);
}

/* An envelope's bytes as a sender would have them: the clear part of a
 * version 1 header, then bytes no key is needed to carry. */
static uint8_t *make_envelope(uint8_t tag, uint64_t payload, uint64_t *size)
{
	uint64_t chunks = payload ? (payload + 65535) / 65536 : 1;
	uint8_t *e;

	*size = SL_ENV_HEADER_LEN + payload + SL_ENV_TAG_LEN * chunks;
	e = malloc(*size);
	if (!e)
		return NULL;
	for (uint64_t i = 0; i < *size; ++i)
		e[i] = (uint8_t)(tag + i * 13 + (i >> 11));
	memcpy(e, SL_ENV_MAGIC, SL_ENV_MAGIC_LEN);
	e[SL_ENV_MAGIC_LEN] = SL_ENV_VERSION;
	memset(e + 8, tag, SL_ENV_ID_LEN);
	return e;
}

struct source {
	const uint8_t *env;
	uint64_t size;
};

static int read_env(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	const struct source *s = ctx;

	if (off > s->size || len > s->size - off)
		return -EINVAL;
	memcpy(buf, s->env + off, len);
	return 0;
}

/* The padding test's: the sender pads to pad_to, and what it sends
 * crosses a counted wire (padwire.h). */
static uint64_t pad_to;
static struct padwire *wire;

struct run {
	struct sl_xsend_status sender;
	struct sl_tsp_deposit_status tsp;
	bool offered;
};

/*
 * One hand-over over a lossless channel: the sender's engine against a
 * deposit. cut_at: stop (the line drops) once the TSP has made this many
 * chunks durable; 0: run to the end.
 */
static void hand_over(struct world *w, const uint8_t *env, uint64_t size,
		      uint64_t cut_at, struct run *r)
{
	static uint64_t now = 1000;
	struct source src = { env, size };
	struct sl_xsend_cfg xc = {
		.id = (uint32_t)(0x1000 + seq * 7 + now),
		.size = size, .header = env, .read = read_env, .ctx = &src,
	};
	struct sl_tsp_deposit_cfg dc = {
		.sp = &w->sp, .sender = SENDER, .recipient = RECIPIENT,
		.window = SL_TSP_WINDOW_NONE, .delay_ms = 60000,
		.key = &tsp_key,
	};
	uint8_t buf[SL_CCHAN_MAX_PLAIN], carried[SL_CCHAN_MAX_MSG];
	struct sl_tsp_deposit *d = NULL;
	struct sl_xsend *xs;

	memset(r, 0, sizeof(*r));
	xc.pad_to = pad_to;
	if (!CHECK(!sl_xsend_new(&xs, &xc, now)))
		return;
	for (int step = 0; step < MAX_STEPS; ++step) {
		bool moved = false;
		size_t n;

		while ((n = sl_xsend_output(xs, now, buf))) {
			const uint8_t *m = buf;

			moved = true;
			if (wire) {
				n = padwire_carry(wire, buf, n, carried);
				m = carried;
				if (!CHECK(n))
					goto out;
			}
			if (!d) {
				if (!CHECK(!sl_tsp_deposit_new(&d, &dc, m, n, now, WALL)))
					goto out;
				r->offered = true;
			} else {
				/* A sender padding past the bucket is refused
				 * (-EMSGSIZE), its PADs after that dropped. */
				int ret = sl_tsp_deposit_input(d, m, n, now, WALL);

				CHECK(!ret || pad_to > sl_xfer_bucket(size));
			}
		}
		while (d && (n = sl_tsp_deposit_output(d, now, buf))) {
			moved = true;
			sl_xsend_input(xs, buf, n, now);
		}
		if (d && cut_at) {
			sl_tsp_deposit_get_status(d, &r->tsp);
			if (r->tsp.xfer.durable >= cut_at)
				break;
		}
		if (sl_xsend_finished(xs, now) &&
		    (!d || sl_tsp_deposit_finished(d, now)))
			break;
		if (!moved) {
			uint64_t t = sl_xsend_next_timer(xs);
			uint64_t u = d ? sl_tsp_deposit_next_timer(d) : 0;

			if (u && (!t || u < t))
				t = u;
			now = t > now ? t : now + 1;
		}
	}
out:
	sl_xsend_get_status(xs, &r->sender);
	if (d)
		sl_tsp_deposit_get_status(d, &r->tsp);
	sl_xsend_free(xs);
	sl_tsp_deposit_free(d);
	now += 100000;
}

/* The acceptance's signature verifies under the TSP's key, and its
 * fields are the row's. */
static bool acceptance_ok(const char *text, size_t len,
			  const struct sl_tsp_spool_row *row)
{
	const char *sig = strstr(text, "signature ");
	uint8_t s[SL_SIGN_SIG_LEN];
	char want[200], hex[65];

	if (!CHECKF(sig && len > 0 && text[len - 1] == '\n', "%.*s", (int)len, text))
		return false;
	if (!CHECK(!sl_hex_decode(s, sizeof(s), sig + 10, 2 * SL_SIGN_SIG_LEN)))
		return false;
	if (!CHECK(!sl_sign_verify(tsp_key.pub, text, (size_t)(sig - text), s)))
		return false;
	if (!CHECK(!strncmp(text, "sealine-acceptance 1\n", 21)))
		return false;
	sl_hex_encode(hex, row->sha256, 32);
	snprintf(want, sizeof(want), "\nsha256 %s\nsize %llu\nsender %s\nrecipient %s\n",
		 hex, (unsigned long long)row->size, SENDER, RECIPIENT);
	if (!CHECKF(strstr(text, want), "%s", text))
		return false;
	snprintf(want, sizeof(want), "\nspool %016llx\n",
		 (unsigned long long)row->sid);
	return CHECKF(strstr(text, want), "%s", text);
}

static bool spool_holds(struct world *w, uint64_t sid, const uint8_t *env,
			uint64_t size)
{
	uint8_t *got = malloc(size + 1);
	bool ok;

	if (!got)
		return false;
	ok = CHECK(!sl_tsp_spool_read(&w->sp, sid, 0, got, size)) &&
	     CHECK(!memcmp(got, env, size)) &&
	     CHECK_EQ(sl_tsp_spool_read(&w->sp, sid, 0, got, size + 1), -ENODATA);
	free(got);
	return ok;
}

TEST(whole_cut_resumed_duplicate)
{
	struct world w;
	struct run r;
	struct sl_tsp_spool_row row;
	uint64_t size;
	uint8_t *env = make_envelope(0x21, 200000, &size);	/* 4 chunks */
	char first[SL_TSP_ACCEPTANCE_MAX + 1];

	if (!CHECK(env) || !CHECK(world_open(&w, NULL)))
		goto out_free;
	/* The line drops after two chunks are durable. */
	hand_over(&w, env, size, 2, &r);
	CHECK(!r.tsp.decided);
	CHECK(r.tsp.sid != 0);
	CHECK(!sl_tsp_spool_get(&w.st, r.tsp.sid, &row));
	CHECK_EQ(row.state, SL_TSP_SPOOL_RECEIVING);
	/* The sender calls again: from chunk 2, nothing before it again. */
	hand_over(&w, env, size, 0, &r);
	CHECK_EQ(r.sender.state, SL_XSEND_DONE);
	CHECK_EQ(r.sender.code, 0);
	CHECK_EQ(r.sender.from, 2);
	CHECK_EQ(r.tsp.resumed_at, 2);
	CHECK_EQ(r.sender.data_bytes, size - SL_ENV_HEADER_LEN - 2 * 65552);
	CHECK(r.tsp.decided && r.tsp.code == 0);
	CHECK(!sl_tsp_spool_get(&w.st, r.tsp.sid, &row));
	CHECK_EQ(row.state, SL_TSP_SPOOL_HELD);
	CHECK_EQ(row.next_ms, WALL + 60000);
	CHECK(spool_holds(&w, row.sid, env, size));
	CHECK(acceptance_ok(r.sender.text, r.sender.text_len, &row));
	snprintf(first, sizeof(first), "%.*s", (int)r.sender.text_len,
		 r.sender.text);
	/* Handed over again (the acceptance was lost): the same
	 * acceptance, no chunk moves, one row. */
	hand_over(&w, env, size, 0, &r);
	CHECK_EQ(r.sender.state, SL_XSEND_DONE);
	CHECK_EQ(r.sender.code, 0);
	CHECK_EQ(r.sender.data_bytes, 0);
	CHECK_EQ(r.sender.text_len, strlen(first));
	CHECK(!memcmp(r.sender.text, first, strlen(first)));
	CHECK_EQ(r.tsp.sid, row.sid);
	world_close(&w);
out_free:
	free(env);
}

static void expect_refusal(struct world *w, const uint8_t *env, uint64_t size,
			   uint8_t code, const char *detail)
{
	struct run r;

	hand_over(w, env, size, 0, &r);
	CHECKF(r.sender.state == SL_XSEND_DONE && r.sender.code == code,
	       "state %d code %u, expected code %u (%.*s)", r.sender.state,
	       r.sender.code, code, (int)r.sender.text_len, r.sender.text);
	CHECKF(strstr(r.tsp.detail, detail), "detail '%s', expected '%s'",
	       r.tsp.detail, detail);
	CHECK_EQ(r.sender.data_bytes, 0);
}

struct count {
	unsigned int held, receiving;
};

static int count_row(const struct sl_tsp_spool_row *r, void *arg)
{
	struct count *c = arg;

	c->held += r->state == SL_TSP_SPOOL_HELD;
	c->receiving += r->state == SL_TSP_SPOOL_RECEIVING;
	return 0;
}

TEST(lying_sender)
{
	struct sl_tsp_spool_limits lim;
	struct world w;
	struct run r;
	struct count c = { 0 };
	uint64_t size, small_size, big_size;
	uint8_t *env = make_envelope(0x31, 1000, &size);
	uint8_t *small = make_envelope(0x31, 10, &small_size);
	uint8_t *big = make_envelope(0x32, 300000, &big_size);

	sl_tsp_spool_limits_default(&lim);
	lim.max_envelope = 250000;
	lim.quota_envelopes = 2;
	if (!CHECK(env && small && big) || !CHECK(world_open(&w, &lim)))
		goto out_free;
	env[0] ^= 1;			/* not an envelope */
	expect_refusal(&w, env, size, SL_ENV_BAD_FORMAT, "not a sealine envelope");
	env[0] ^= 1;
	env[7] = 2;			/* a version this TSP does not hold */
	expect_refusal(&w, env, size, SL_ENV_BAD_VERSION, "version 2");
	env[7] = 1;
	expect_refusal(&w, big, big_size, SL_ENV_TOO_BIG, "over the TSP's limit");
	hand_over(&w, env, size, 0, &r);
	CHECK_EQ(r.sender.code, 0);
	/* The same id with another size. */
	expect_refusal(&w, small, small_size, SL_ENV_REPLAY, "has this id");
	/* A second envelope fills the quota of two; a third is refused. */
	small[8] = 0x41;
	hand_over(&w, small, small_size, 0, &r);
	CHECK_EQ(r.sender.code, 0);
	small[8] = 0x42;
	expect_refusal(&w, small, small_size, SL_ENV_QUOTA, "at most");
	CHECK(!sl_tsp_spool_list(&w.st, false, count_row, &c));
	CHECK_EQ(c.held, 2);
	CHECK_EQ(c.receiving, 0);
	world_close(&w);
out_free:
	free(env);
	free(small);
	free(big);
}

/*
 * Padding to size buckets (store-and-forward.rst), counted on the wire:
 * the bytes of the hand-over's control frames, sealed and framed as the
 * line carries them (padwire.h), are the same for envelopes of any size
 * in one bucket (within one message), at least the bucket, and twice as
 * many in the next bucket; without padding they follow the size. T
 * counts and discards the padding; a sender that pads past the bucket is
 * refused (BAD_FORMAT), nothing accepted, and resumes honestly.
 */
TEST(padded_to_the_bucket_on_the_wire)
{
	static const uint64_t payloads[][3] = {
		{ 10, 30000, 65000 },			/* 64 KiB */
		{ 70000, 100000, 130000 },		/* 128 KiB */
		{ 140000, 200000, 250000 },		/* 256 KiB */
	};
	/* One full DATA on the wire, with room: sealing and framing. */
	const uint64_t one_message = SL_XFER_PIECE_DEFAULT + 200;
	uint64_t lo[3], hi[3], bare[2] = { 0 };
	struct padwire pw;
	struct world w;
	struct run r;
	struct sl_tsp_spool_row row;
	uint8_t tag = 0x70;

	if (!CHECK(world_open(&w, NULL)))
		return;
	for (int b = 0; b < 3; ++b) {
		lo[b] = UINT64_MAX;
		hi[b] = 0;
		for (int i = 0; i < 3; ++i) {
			uint64_t size, bucket;
			uint8_t *env = make_envelope(tag++, payloads[b][i], &size);

			bucket = sl_xfer_bucket(size);
			if (!CHECK(env) || !CHECK(padwire_open(&pw)))
				goto out;
			pad_to = bucket;
			wire = &pw;
			hand_over(&w, env, size, 0, &r);
			wire = NULL;
			pad_to = 0;
			CHECK_EQ(bucket, 65536ULL << b);
			CHECKF(r.sender.state == SL_XSEND_DONE && r.sender.code == 0,
			       "%llu bytes: state %d code %u",
			       (unsigned long long)size, r.sender.state,
			       r.sender.code);
			CHECK_EQ(r.sender.pad_bytes, bucket - size);
			CHECK_EQ(r.tsp.xfer.pad_bytes, bucket - size);
			CHECK(!sl_tsp_spool_get(&w.st, r.tsp.sid, &row));
			CHECK(spool_holds(&w, row.sid, env, size));
			CHECKF(pw.bytes >= bucket, "%llu on the wire, bucket %llu",
			       (unsigned long long)pw.bytes,
			       (unsigned long long)bucket);
			printf("  envelope of %7llu bytes: %7llu bytes in %llu frames on the wire (bucket %llu)\n",
			       (unsigned long long)size,
			       (unsigned long long)pw.bytes,
			       (unsigned long long)pw.messages,
			       (unsigned long long)bucket);
			lo[b] = pw.bytes < lo[b] ? pw.bytes : lo[b];
			hi[b] = pw.bytes > hi[b] ? pw.bytes : hi[b];
			padwire_close(&pw);
			free(env);
		}
		CHECKF(hi[b] - lo[b] < one_message,
		       "bucket %d: %llu to %llu bytes on the wire", b,
		       (unsigned long long)lo[b], (unsigned long long)hi[b]);
		CHECKF(hi[b] < (65536ULL << b) / 100 * 105,
		       "bucket %d: %llu bytes: more than 5 %% over", b,
		       (unsigned long long)hi[b]);
		if (b)
			CHECKF(lo[b] > 2 * hi[b - 1] - 2 * one_message,
			       "bucket %d: %llu bytes, the one below %llu", b,
			       (unsigned long long)lo[b],
			       (unsigned long long)hi[b - 1]);
	}
	/* Without padding the wire tells the sizes apart (the check above
	 * can fail). */
	for (int i = 0; i < 2; ++i) {
		uint64_t size;
		uint8_t *env = make_envelope(tag++, payloads[0][2 * i], &size);

		if (!CHECK(env) || !CHECK(padwire_open(&pw)))
			goto out;
		wire = &pw;
		hand_over(&w, env, size, 0, &r);
		wire = NULL;
		CHECK_EQ(r.sender.pad_bytes, 0);
		bare[i] = pw.bytes;
		padwire_close(&pw);
		free(env);
	}
	CHECKF(bare[1] > bare[0] + 60000, "unpadded: %llu and %llu bytes",
	       (unsigned long long)bare[0], (unsigned long long)bare[1]);

	/* A sender that pads to twice the bucket: refused once past it,
	 * nothing accepted; its honest hand-over resumes and is held. */
	{
		uint64_t size;
		uint8_t *env = make_envelope(tag++, 100000, &size);

		if (!CHECK(env))
			goto out;
		pad_to = 2 * sl_xfer_bucket(size);
		hand_over(&w, env, size, 0, &r);
		pad_to = 0;
		CHECK_EQ(r.sender.state, SL_XSEND_DONE);
		CHECK_EQ(r.sender.code, SL_ENV_BAD_FORMAT);
		CHECK(strstr(r.sender.text, "padding past") != NULL);
		CHECK(r.tsp.decided && r.tsp.code == SL_ENV_BAD_FORMAT);
		CHECK(r.tsp.xfer.pad_refused);
		CHECK(!sl_tsp_spool_get(&w.st, r.tsp.sid, &row));
		CHECK_EQ(row.state, SL_TSP_SPOOL_RECEIVING);
		pad_to = sl_xfer_bucket(size);
		hand_over(&w, env, size, 0, &r);
		pad_to = 0;
		CHECK_EQ(r.sender.code, 0);
		CHECK(!sl_tsp_spool_get(&w.st, r.tsp.sid, &row));
		CHECK_EQ(row.state, SL_TSP_SPOOL_HELD);
		CHECK(spool_holds(&w, row.sid, env, size));
		free(env);
	}
out:
	world_close(&w);
}

/* A sender that half-sends an envelope, then offers another seal under
 * the same id and size: none of the old chunks would open under the new
 * header, so the hand-over starts over and the file is the new one. */
TEST(new_header_starts_over)
{
	struct world w;
	struct run r;
	struct sl_tsp_spool_row row;
	uint64_t size;
	uint8_t *env = make_envelope(0x51, 140000, &size);	/* 3 chunks */
	uint8_t *again = malloc(size);

	if (!CHECK(env && again) || !CHECK(world_open(&w, NULL)))
		goto out_free;
	hand_over(&w, env, size, 1, &r);
	CHECK(!r.tsp.decided);
	memcpy(again, env, size);
	for (uint64_t i = 24; i < size; ++i)	/* new e, s, inner, chunks */
		again[i] ^= 0x5a;
	hand_over(&w, again, size, 0, &r);
	CHECK_EQ(r.sender.code, 0);
	CHECK_EQ(r.sender.from, 0);
	CHECK(!sl_tsp_spool_get(&w.st, r.tsp.sid, &row));
	CHECK(spool_holds(&w, row.sid, again, size));
	world_close(&w);
out_free:
	free(env);
	free(again);
}

/*
 * What T signs (sl_tsp_acceptance(), sl_tsp_notice()) is what a sender
 * checks (courier/tsptext.c, sealined and sim-courier): it verifies under
 * T's key, names the envelope, and every forgery a lying TSP or a man on
 * its disk would try is refused: another hash, another key (a text that
 * verifies under the key it names, but not T's pinned one), a changed
 * byte, another spelling, a byte more.
 */
TEST(texts_verify_at_the_sender)
{
	struct sl_tsp_spool_row row = {
		.sid = 0x8f3a01c2d4e5f607ULL, .size = 70185,
		.have_sha256 = true, .state = SL_TSP_SPOOL_HELD,
		.accepted_ms = 1796622888000LL, .expires_ms = 1797227688000LL,
		.done_ms = 1796789640000LL, .attempts = 3,
	};
	uint8_t other_priv[32] = { 7 }, other_sha[32];
	struct sl_sign_key other = { 0 };
	char text[SL_TSPTEXT_MAX_LEN + 1], bad[SL_TSPTEXT_MAX_LEN + 2], why[200];
	struct sl_tsptext t;
	char *p;
	int n;

	for (int i = 0; i < 16; i++)
		row.envelope[i] = (uint8_t)(0x10 + i);
	for (int i = 0; i < 32; i++)
		row.sha256[i] = (uint8_t)(0xa0 ^ i);
	memcpy(other_sha, row.sha256, 32);
	other_sha[31] ^= 1;
	snprintf(row.sender, sizeof(row.sender), "%s", SENDER);
	snprintf(row.recipient, sizeof(row.recipient), "%s", RECIPIENT);
	if (!CHECK(!sl_sign_key_derive(&other, other_priv, SL_TSP_SIGN_ACCOUNT)))
		return;

	n = sl_tsp_acceptance(text, sizeof(text), &row, &tsp_key);
	if (!CHECK(n > 0))
		goto out;
	CHECKF(!sl_tsptext_verify(&t, text, (size_t)n, tsp_key.pub, why,
				  sizeof(why)), "%s", why);
	CHECK_EQ(t.kind, SL_TSPTEXT_ACCEPTANCE);
	CHECK_EQ(t.spool, row.sid);
	CHECK_EQ(t.time, row.accepted_ms / 1000);
	CHECK_EQ(t.expires, row.expires_ms / 1000);
	CHECK(sl_tsptext_matches(&t, row.envelope, row.sha256, row.size,
				 SENDER, RECIPIENT));
	/* A TSP whose file is not the envelope sent: another hash. */
	CHECK(!sl_tsptext_matches(&t, row.envelope, other_sha, row.size,
				  SENDER, RECIPIENT));
	CHECK(!sl_tsptext_matches(&t, row.envelope, row.sha256, row.size + 1,
				  SENDER, RECIPIENT));
	CHECK(!sl_tsptext_matches(&t, row.envelope, row.sha256, row.size,
				  RECIPIENT, SENDER));
	/* A changed digit: the signature fails. */
	memcpy(bad, text, (size_t)n);
	p = strstr(bad, "\nsize ");
	p[6] = p[6] == '7' ? '8' : '7';
	CHECK_EQ(sl_tsptext_verify(&t, bad, (size_t)n, NULL, why, sizeof(why)),
		 -EBADMSG);
	/* Another spelling (upper-case hex), a byte more, a line less. */
	memcpy(bad, text, (size_t)n);
	p = strstr(bad, "\nenvelope ");
	p[10] = 'A';
	p[11] = 'B';
	CHECK_EQ(sl_tsptext_verify(&t, bad, (size_t)n, NULL, why, sizeof(why)),
		 -EINVAL);
	memcpy(bad, text, (size_t)n);
	bad[n] = '\n';
	CHECK_EQ(sl_tsptext_verify(&t, bad, (size_t)n + 1, NULL, why,
				   sizeof(why)), -EINVAL);
	CHECK_EQ(sl_tsptext_verify(&t, text, (size_t)n - 1, NULL, why,
				   sizeof(why)), -EINVAL);
	/* Signed by someone else: sound under the key it names, refused
	 * under T's. */
	n = sl_tsp_acceptance(text, sizeof(text), &row, &other);
	if (!CHECK(n > 0))
		goto out;
	CHECK(!sl_tsptext_verify(&t, text, (size_t)n, NULL, why, sizeof(why)));
	CHECK_EQ(sl_tsptext_verify(&t, text, (size_t)n, tsp_key.pub, why,
				   sizeof(why)), -EKEYREJECTED);

	/* The non-delivery notice. */
	row.state = SL_TSP_SPOOL_BOUNCED;
	snprintf(row.reason, sizeof(row.reason), "NOT_AUTHORISED");
	n = sl_tsp_notice(text, sizeof(text), &row, &tsp_key);
	if (!CHECK(n > 0))
		goto out;
	CHECKF(!sl_tsptext_verify(&t, text, (size_t)n, tsp_key.pub, why,
				  sizeof(why)), "%s", why);
	CHECK_EQ(t.kind, SL_TSPTEXT_NOTICE);
	CHECK(!strcmp(t.outcome, "bounced"));
	CHECK(!strcmp(t.reason, "NOT_AUTHORISED"));
	CHECK_EQ(t.attempts, 3);
	CHECK_EQ(t.time, row.done_ms / 1000);
	CHECK(sl_tsptext_matches(&t, row.envelope, row.sha256, row.size,
				 SENDER, RECIPIENT));
	row.state = SL_TSP_SPOOL_EXPIRED;
	row.reason[0] = 0;
	n = sl_tsp_notice(text, sizeof(text), &row, &other);
	if (!CHECK(n > 0))
		goto out;
	CHECK_EQ(sl_tsptext_verify(&t, text, (size_t)n, tsp_key.pub, why,
				   sizeof(why)), -EKEYREJECTED);
	CHECK(!sl_tsptext_verify(&t, text, (size_t)n, NULL, why, sizeof(why)));
	CHECK(!strcmp(t.outcome, "expired"));
	CHECK(!strcmp(t.reason, "none"));
	/* A receipt is neither. */
	CHECK_EQ(sl_tsptext_verify(&t, "sealine-receipt 1\n", 18, NULL, why,
				   sizeof(why)), -EINVAL);
out:
	sl_sign_key_wipe(&other);
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
	if (sl_sign_key_derive(&tsp_key, priv, SL_TSP_SIGN_ACCOUNT)) {
		printf("cannot derive the TSP's signing key\n");
		return 1;
	}
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(whole_cut_resumed_duplicate);
	RUN(lying_sender);
	RUN(new_header_starts_over);
	RUN(texts_verify_at_the_sender);
	RUN(padded_to_the_bucket_on_the_wire);
	sl_sign_key_wipe(&tsp_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("warning: could not remove %s\n", tmpdir);
	return check_summary();
}
