// SPDX-License-Identifier: GPL-2.0
/*
 * The courier's channel (agent/proto/cchan.c) and transfer protocol
 * (agent/proto/xfer.c) against a simulated line: two agents, each with
 * its channel and engine, joined by a serial line of a given speed with
 * the kernel's bounded control queue, that drops, duplicates, reorders
 * and corrupts messages, goes dead for a while, or is cut for good (the
 * transfer then starts again from where the recipient's spool is). The
 * recipient's "daemon" checks every chunk it is handed against the
 * envelope: each exactly once, in order. Every message either side seals
 * is recorded: no (session, counter) pair twice. Rekeys happen under
 * load. Time is simulated: nothing depends on the machine's speed.
 *
 * SEALINE_TEST_SEED reproduces a run; SEALINE_XFER_SOAK=n runs n times
 * as many random cases.
 *
 * Why one file of about 1,100 lines: every case runs in the one
 * simulated world above (the line and the kernel's queue, both agents'
 * channels and engines, the recipient's spool) or takes its messages
 * apart by hand; split, that world would become an interface with these
 * cases as its only users.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "crypto.h"
#include "agent_test.h"
#include "cchan.h"
#include "xfer.h"

/* ---- The envelope ------------------------------------------------------- */

static uint8_t *env;
static uint64_t env_size;

static int env_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	(void)ctx;
	if (off + len > env_size)
		return -EINVAL;
	memcpy(buf, env + off, len);
	return 0;
}

static void make_envelope(uint64_t size)
{
	free(env);
	env = malloc(size);
	env_size = size;
	check_fill_random(env, size);
}

/* ---- The line ------------------------------------------------------------- */

#define QMAX		4096
#define KQUEUE		16	/* SEALINE_MAX_QUEUED_CONTROL */
#define MAX_SEALED	400000

struct msg {
	uint64_t at;		/* arrives */
	size_t len;
	uint8_t b[SL_CCHAN_MAX_MSG];
};

struct dir {
	struct msg q[QMAX];	/* on the wire, in arrival order */
	unsigned int h, t;
	uint64_t busy_until;	/* the line sends until then */
	uint64_t kq[KQUEUE];	/* when each queued message leaves */
	unsigned int kn;
};

struct faults {
	unsigned int drop, dup, corrupt, reorder;	/* per 10,000 */
	uint64_t dead_from, dead_to;	/* everything lost between */
	bool dead_one_way;		/* only sender -> recipient */
	unsigned int baud;		/* 0: 115200 */
};

struct side {
	struct sl_cchan *ch;
	struct sl_xsend *xs;
	struct sl_xrecv *xr;
	uint32_t hsid;			/* current keys */
	/* (hsid, counter) of every message sealed, to find reuse. */
	uint64_t *sealed;
	size_t n_sealed;
};

static struct {
	uint64_t now;
	struct dir d[2];		/* d[0]: sender -> recipient */
	struct side s[2];
	struct faults f;
	/* The recipient's spool: chunks durable, in order. */
	uint64_t durable;
	uint64_t chunk_calls;
	bool order_broken;
	uint64_t complete_at;		/* when the "unpack" finishes */
	bool unpack_delay;
	uint64_t msgs_lost, msgs_sent;
	uint64_t enobufs;
	uint64_t pad_bytes;		/* the recipients' counts, summed */
	bool pad_refused;
} S;

static unsigned int wire_cost(size_t m)
{
	/* frame header and CRC, COBS, delimiter (protocol.rst) */
	return (unsigned int)(m + 5 + (m + 5) / 254 + 2);
}

/* The kernel's queue: what has left by now is gone. */
static void kq_drain(struct dir *d)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < d->kn; i++)
		if (d->kq[i] > S.now)
			d->kq[k++] = d->kq[i];
	d->kn = k;
}

static void push(struct dir *d, const struct msg *m)
{
	if (d->t - d->h >= QMAX)
		abort();
	d->q[d->t++ % QMAX] = *m;
}

/* SEND_CONTROL: -ENOBUFS when 16 wait; else it goes on the wire at the
 * line's speed, after what is queued. */
static int line_send(int from, const uint8_t *b, size_t len)
{
	struct dir *d = &S.d[from];
	unsigned int baud = S.f.baud ? S.f.baud : 115200;
	uint64_t start, took;
	struct msg m;

	kq_drain(d);
	if (d->kn >= KQUEUE) {
		S.enobufs++;
		return -ENOBUFS;
	}
	start = d->busy_until > S.now ? d->busy_until : S.now;
	took = (uint64_t)wire_cost(len) * 10 * 1000 / baud + 1;
	d->busy_until = start + took;
	d->kq[d->kn++] = d->busy_until;
	S.msgs_sent++;
	if (S.now >= S.f.dead_from && S.now < S.f.dead_to &&
	    (!S.f.dead_one_way || from == 0)) {
		S.msgs_lost++;
		return 0;
	}
	if (check_below(10000) < S.f.drop) {
		S.msgs_lost++;
		return 0;
	}
	m.at = d->busy_until + 2;	/* plus the other side's latency */
	m.len = len;
	memcpy(m.b, b, len);
	if (check_below(10000) < S.f.corrupt)
		m.b[check_below(len)] ^= (uint8_t)(1 + check_below(255));
	push(d, &m);
	if (check_below(10000) < S.f.dup)
		push(d, &m);
	if (check_below(10000) < S.f.reorder && d->t - d->h >= 2) {
		struct msg tmp = d->q[(d->t - 1) % QMAX];

		d->q[(d->t - 1) % QMAX] = d->q[(d->t - 2) % QMAX];
		d->q[(d->t - 2) % QMAX] = tmp;
	}
	return 0;
}

/* ---- The agents ------------------------------------------------------------ */

static bool note_sealed(struct side *s, const uint8_t *m)
{
	uint64_t hsid = (uint64_t)m[2] << 24 | m[3] << 16 | m[4] << 8 | m[5];
	uint64_t ctr = 0, key;

	for (int i = 6; i < 14; i++)
		ctr = ctr << 8 | m[i];
	key = hsid << 40 ^ ctr;
	for (size_t i = s->n_sealed; i-- > 0 && i + 64 > s->n_sealed;)
		if (s->sealed[i] == key)
			return false;
	/* Counters only ever grow within a session: the tail suffices
	 * once checked to increase. */
	if (s->n_sealed && (s->sealed[s->n_sealed - 1] >> 40) == hsid &&
	    s->sealed[s->n_sealed - 1] >= key)
		return false;
	if (s->n_sealed < MAX_SEALED)
		s->sealed[s->n_sealed++] = key;
	return true;
}

/* Seal and send everything the side's engines want sent now. */
static void pump(int i)
{
	struct side *s = &S.s[i];
	uint8_t plain[SL_CCHAN_MAX_PLAIN], wire[SL_CCHAN_MAX_MSG];

	for (int guard = 0; guard < 64; guard++) {
		size_t n = 0, wl;
		bool from_sender = false;

		if (s->xr)
			n = sl_xrecv_output(s->xr, S.now, plain);
		if (!n && s->xs) {
			n = sl_xsend_output(s->xs, S.now, plain);
			from_sender = n > 0;
		}
		if (!n)
			return;
		if (!sl_cchan_ready(s->ch)) {
			/* no keys: as the daemon, it cannot go out */
			if (from_sender)
				sl_xsend_unsent(s->xs, S.now);
			else
				sl_xrecv_unsent(s->xr, S.now);
			return;
		}
		CHECK_EQ(sl_cchan_seal(s->ch, wire, &wl, plain, n), 0);
		CHECKF(note_sealed(s, wire), "side %d sealed a counter twice", i);
		if (line_send(i, wire, wl)) {
			if (from_sender)
				sl_xsend_unsent(s->xs, S.now);
			else
				sl_xrecv_unsent(s->xr, S.now);
			return;
		}
	}
}

/* The recipient's daemon: accept from its spool, verify chunks. */
static void recipient_work(void)
{
	struct side *r = &S.s[1];
	struct sl_xrecv_status st;
	const uint8_t *buf;
	uint64_t idx;
	size_t len;

	if (!r->xr)
		return;
	while (sl_xrecv_take_chunk(r->xr, &idx, &buf, &len)) {
		S.chunk_calls++;
		if (idx != S.durable)
			S.order_broken = true;
		CHECKF(len == sl_xfer_chunk_len(env_size, idx) &&
		       !memcmp(buf, env + SL_XFER_HEADER_LEN +
			       idx * SL_XFER_CHUNK_WIRE, len),
		       "chunk %llu arrived changed", (unsigned long long)idx);
		S.durable = idx + 1;
		sl_xrecv_chunk_done(r->xr, S.now);
	}
	sl_xrecv_get_status(r->xr, &st);
	if (st.state == SL_XRECV_COMPLETE) {
		if (!S.complete_at)
			S.complete_at = S.now + (S.unpack_delay ? 12000 : 5);
		if (S.now >= S.complete_at) {
			sl_xrecv_result(r->xr, 0, "receipt", 7, S.now);
			S.complete_at = 0;
		}
	}
	if (sl_xrecv_finished(r->xr, S.now)) {
		S.pad_bytes += st.pad_bytes;
		S.pad_refused |= st.pad_refused;
		sl_xrecv_free(r->xr);
		r->xr = NULL;
	}
}

static void deliver(int to, struct msg *m)
{
	struct side *s = &S.s[to];
	uint8_t plain[SL_CCHAN_MAX_MSG];
	size_t n;
	uint8_t kind;
	uint32_t id;

	if (sl_cchan_open(s->ch, plain, &n, m->b, m->len))
		return;			/* corrupted, a copy, old keys */
	if (!sl_xfer_peek(plain, n, &kind, &id))
		return;
	if (sl_xfer_for_sender(kind)) {
		if (s->xs && id == sl_xsend_id(s->xs))
			sl_xsend_input(s->xs, plain, n, S.now);
		return;
	}
	if (kind == SL_XFER_OFFER &&
	    (!s->xr || sl_xrecv_offer(s->xr)->id != id)) {
		sl_xrecv_free(s->xr);
		s->xr = NULL;
		if (sl_xrecv_new(&s->xr, plain, n, S.now))
			return;
		S.complete_at = 0;
		sl_xrecv_accept(s->xr, S.durable, S.now);
		return;
	}
	if (s->xr && sl_xrecv_offer(s->xr)->id == id)
		sl_xrecv_input(s->xr, plain, n, S.now);
}

static uint64_t next_event(void)
{
	uint64_t t = UINT64_MAX, v;

	for (int i = 0; i < 2; i++) {
		struct dir *d = &S.d[i];

		if (d->h != d->t && d->q[d->h % QMAX].at < t)
			t = d->q[d->h % QMAX].at;
		if (S.s[i].xs && (v = sl_xsend_next_timer(S.s[i].xs)) && v < t)
			t = v;
		if (S.s[i].xr && (v = sl_xrecv_next_timer(S.s[i].xr)) && v < t)
			t = v;
	}
	if (S.complete_at && S.complete_at < t)
		t = S.complete_at;
	return t;
}

/* ---- Keys ---------------------------------------------------------------- */

static uint32_t next_hsid = 0x5ea10000;
static uint32_t next_epoch = 1;

/* Both sides stage a fresh session; `first` activates now, the other
 * later (as R and then I do), or on the first message under it. */
static void rekey(int first, bool activate_other)
{
	uint8_t k1[32], k2[32];
	uint32_t hsid = ++next_hsid, epoch = next_epoch++;

	check_fill_random(k1, 32);
	check_fill_random(k2, 32);
	CHECK_EQ(sl_cchan_stage(S.s[0].ch, hsid, epoch, k1, k2), 0);
	CHECK_EQ(sl_cchan_stage(S.s[1].ch, hsid, epoch, k2, k1), 0);
	CHECK_EQ(sl_cchan_activate(S.s[first].ch, epoch), 0);
	if (activate_other)
		CHECK_EQ(sl_cchan_activate(S.s[!first].ch, epoch), 0);
	sl_wipe(k1, 32);
	sl_wipe(k2, 32);
}

static void world_reset(const struct faults *f)
{
	for (int i = 0; i < 2; i++) {
		sl_xsend_free(S.s[i].xs);
		sl_xrecv_free(S.s[i].xr);
		sl_cchan_free(S.s[i].ch);
		free(S.s[i].sealed);
	}
	memset(&S, 0, sizeof(S));
	S.f = *f;
	S.now = 1000;
	for (int i = 0; i < 2; i++) {
		S.s[i].ch = sl_cchan_new();
		S.s[i].sealed = calloc(MAX_SEALED, sizeof(uint64_t));
	}
	rekey(1, true);
}

static uint8_t header_of_env[SL_XFER_HEADER_LEN];
static bool padded;		/* the sender pads to the bucket */

static void start_sender(uint16_t piece)
{
	struct sl_xsend_cfg cfg = {
		.id = (uint32_t)check_rand() | 1,
		.size = env_size,
		.header = env,
		.piece = piece,
		.read = env_read,
		.pad_to = padded ? sl_xfer_bucket(env_size) : 0,
	};

	memcpy(header_of_env, env, SL_XFER_HEADER_LEN);
	sl_xsend_free(S.s[0].xs);
	S.s[0].xs = NULL;
	CHECK_EQ(sl_xsend_new(&S.s[0].xs, &cfg, S.now), 0);
}

/*
 * Runs until the sender's attempt ends or `until`. rekey_every: a rekey
 * (either side first) every so many ms of simulated time, 0: none.
 */
static enum sl_xsend_state run_until(uint64_t until, uint64_t rekey_every)
{
	struct sl_xsend_status st;
	uint64_t next_rekey = rekey_every ? S.now + rekey_every : 0;
	int pending_other = -1;
	uint64_t other_at = 0;

	uint64_t last_now = 0, stuck = 0;

	for (;;) {
		uint64_t t;

		/* A timer that fires without anything happening would spin
		 * here for ever: a bug in an engine's next_timer. */
		stuck = S.now == last_now ? stuck + 1 : 0;
		last_now = S.now;
		if (!CHECKF(stuck < 10000, "no progress at %llu ms",
			    (unsigned long long)S.now))
			return SL_XSEND_FAILED;
		for (int i = 0; i < 2; i++)
			pump(i);
		recipient_work();
		pump(1);
		sl_xsend_get_status(S.s[0].xs, &st);
		if (st.state == SL_XSEND_DONE || st.state == SL_XSEND_FAILED ||
		    st.state == SL_XSEND_ABORTED) {
			/* Let the END and the last answers go out. */
			for (int k = 0; k < 4; k++) {
				pump(0);
				pump(1);
			}
			return st.state;
		}
		t = next_event();
		if (next_rekey && next_rekey < t)
			t = next_rekey;
		if (pending_other >= 0 && other_at < t)
			t = other_at;
		if (t == UINT64_MAX || t > until)
			return st.state;
		if (t > S.now)
			S.now = t;
		if (next_rekey && S.now >= next_rekey) {
			int first = (int)check_below(2);

			rekey(first, false);
			pending_other = !first;
			other_at = S.now + 30;
			next_rekey = S.now + rekey_every;
		}
		if (pending_other >= 0 && S.now >= other_at) {
			/* 0 or -ENOKEY: a message may have promoted it. */
			sl_cchan_activate(S.s[pending_other].ch, next_epoch - 1);
			pending_other = -1;
		}
		for (int i = 0; i < 2; i++) {
			struct dir *d = &S.d[i];

			while (d->h != d->t && d->q[d->h % QMAX].at <= S.now) {
				struct msg m = d->q[d->h++ % QMAX];

				deliver(!i, &m);
			}
		}
	}
}

static void status(struct sl_xsend_status *st)
{
	sl_xsend_get_status(S.s[0].xs, st);
}

/* ---- Cases ------------------------------------------------------------------ */

TEST(cchan_layout_and_replay)
{
	struct sl_cchan *a = sl_cchan_new(), *b = sl_cchan_new();
	uint8_t k1[32], k2[32], m[SL_CCHAN_MAX_MSG], m2[SL_CCHAN_MAX_MSG];
	uint8_t p[SL_CCHAN_MAX_MSG];
	struct sl_cchan_stats st;
	size_t n, n2, pn;

	memset(k1, 1, 32);
	memset(k2, 2, 32);
	CHECK_EQ(sl_cchan_seal(a, m, &n, (const uint8_t *)"x", 1), -ENOKEY);
	CHECK_EQ(sl_cchan_stage(a, 0, 1, k1, k2), -EINVAL);
	CHECK_EQ(sl_cchan_stage(a, 7, 1, k1, k1), -EINVAL);
	CHECK_EQ(sl_cchan_stage(a, 0x11223344, 1, k1, k2), 0);
	CHECK(!sl_cchan_ready(a));
	CHECK_EQ(sl_cchan_activate(a, 2), -ENOKEY);
	CHECK_EQ(sl_cchan_activate(a, 1), 0);
	CHECK(sl_cchan_ready(a));
	CHECK_EQ(sl_cchan_hsid(a), 0x11223344);
	CHECK_EQ(sl_cchan_stage(b, 0x11223344, 1, k2, k1), 0);
	CHECK_EQ(sl_cchan_seal(a, m, &n, (const uint8_t *)"hello", 5), 0);
	CHECK_EQ(n, 5 + SL_CCHAN_OVERHEAD);
	CHECK_HEX(m, 14, "02 40 11223344 0000000000000000");
	/* The staged side opens it and promotes the keys. */
	CHECK_EQ(sl_cchan_open(b, p, &pn, m, n), 0);
	CHECK_EQ(pn, 5);
	CHECK_MEM(p, "hello", 5);
	CHECK(sl_cchan_ready(b));
	/* A copy, a replay: refused. */
	CHECK_EQ(sl_cchan_open(b, p, &pn, m, n), -EALREADY);
	CHECK_EQ(sl_cchan_seal(a, m2, &n2, (const uint8_t *)"hello", 5), 0);
	CHECK_HEX(m2 + 6, 8, "0000000000000001");
	CHECK(memcmp(m + 14, m2 + 14, 5));	/* another nonce */
	/* Any bit changed fails. */
	for (size_t i = 0; i < n2; i++) {
		uint8_t c[SL_CCHAN_MAX_MSG];

		memcpy(c, m2, n2);
		c[i] ^= 0x20;
		CHECKF(sl_cchan_open(b, p, &pn, c, n2) < 0, "bit in byte %zu", i);
	}
	CHECK_EQ(sl_cchan_open(b, p, &pn, m2, n2), 0);
	/* Too short, too long, another type or version. */
	CHECK_EQ(sl_cchan_open(b, p, &pn, m2, 29), -EINVAL);
	CHECK_EQ(sl_cchan_open(b, p, &pn, m2, SL_CCHAN_MAX_MSG + 1), -EINVAL);
	m2[1] = 0x20;
	CHECK_EQ(sl_cchan_open(b, p, &pn, m2, n2), -EINVAL);
	CHECK_EQ(sl_cchan_seal(a, m, &n, p, SL_CCHAN_MAX_PLAIN + 1), -EMSGSIZE);
	CHECK_EQ(sl_cchan_seal(a, m, &n, p, SL_CCHAN_MAX_PLAIN), 0);
	CHECK_EQ(n, SL_CCHAN_MAX_MSG);
	/* A rekey: the old session's message still opens (previous). */
	CHECK_EQ(sl_cchan_seal(a, m2, &n2, (const uint8_t *)"old", 3), 0);
	CHECK_EQ(sl_cchan_stage(a, 0x55667788, 2, k2, k1), 0);
	CHECK_EQ(sl_cchan_stage(b, 0x55667788, 2, k1, k2), 0);
	CHECK_EQ(sl_cchan_activate(b, 2), 0);
	CHECK_EQ(sl_cchan_hsid(b), 0x55667788);
	CHECK_EQ(sl_cchan_open(b, p, &pn, m2, n2), 0);
	CHECK_MEM(p, "old", 3);
	/* Another session's keys: unknown. */
	CHECK_EQ(sl_cchan_activate(a, 2), 0);
	CHECK_EQ(sl_cchan_stage(a, 0x99, 3, k1, k2), 0);
	CHECK_EQ(sl_cchan_activate(a, 3), 0);
	CHECK_EQ(sl_cchan_seal(a, m, &n, (const uint8_t *)"new", 3), 0);
	CHECK_EQ(sl_cchan_open(b, p, &pn, m, n), -ENOKEY);
	sl_cchan_get_stats(b, &st);
	CHECK_EQ(st.opened, 3);
	CHECK_EQ(st.promotions, 1);
	CHECK(st.replays >= 1);
	CHECK(st.auth_failures >= 1);
	CHECK(st.unknown >= 1);
	CHECK(st.malformed >= 1);
	sl_cchan_clear(b);
	CHECK(!sl_cchan_ready(b));
	sl_cchan_free(a);
	sl_cchan_free(b);
	check_secmem_returned();
}

/* A message sealed under the session vector's courier key, as
 * tests/vectors/handshake_v2.py --c computes it independently. */
#define VEC_SESSION_C_I2R "822f5858b3f17cb4aaf9f39b3eb9d9745ebe21c812ea8896584678ec2704fb70"
#define VEC_SESSION_C_R2I "3d3eb6d04f5ff1a1da1010e66404dc7cdddb643bdb82cbec1774c85133611f7d"
#define VEC_COURIER_MSG "02405ea11e020000000000000000ac07fa83b6da01ed0c8ba3309bafd4cbbb62c168f5"

TEST(cchan_vector)
{
	struct sl_cchan *c = sl_cchan_new();
	uint8_t i2r[32], r2i[32], m[SL_CCHAN_MAX_MSG];
	size_t n;

	unhex(i2r, 32, VEC_SESSION_C_I2R);
	unhex(r2i, 32, VEC_SESSION_C_R2I);
	CHECK_EQ(sl_cchan_stage(c, 0x5ea11e02, 1, i2r, r2i), 0);
	CHECK_EQ(sl_cchan_activate(c, 1), 0);
	/* an END of transfer 0x01020304 */
	CHECK_EQ(sl_cchan_seal(c, m, &n, (const uint8_t *)"\x06\x01\x02\x03\x04",
			       5), 0);
	CHECK_HEX(m, n, VEC_COURIER_MSG);
	sl_cchan_free(c);
}

TEST(message_layouts)
{
	struct sl_xsend *xs;
	struct sl_xrecv *xr;
	uint8_t buf[SL_CCHAN_MAX_PLAIN];
	struct sl_xsend_cfg cfg = { .id = 0x0a0b0c0d, .read = env_read };
	struct sl_xrecv *xr2_unused;
	size_t n;

	make_envelope(SL_XFER_HEADER_LEN + 3 * SL_XFER_CHUNK_WIRE - 1000);
	cfg.size = env_size;
	cfg.header = env;
	CHECK_EQ(sl_xfer_chunks(env_size), 3);
	CHECK_EQ(sl_xfer_chunk_len(env_size, 2), SL_XFER_CHUNK_WIRE - 1000);
	CHECK_EQ(sl_xfer_chunks(SL_XFER_HEADER_LEN + 15), 0);
	CHECK_EQ(sl_xfer_chunks(SL_XFER_HEADER_LEN + 16), 1);
	CHECK_EQ(sl_xsend_new(&xs, &cfg, 1), 0);
	n = sl_xsend_output(xs, 1, buf);
	CHECK_EQ(n, 168);
	CHECK_HEX(buf, 15, "01 0a0b0c0d 000000000002fce1 0788");
	CHECK_MEM(buf + 15, env, SL_XFER_HEADER_LEN);
	CHECK_EQ(sl_xsend_output(xs, 2, buf), 0);	/* waits */
	CHECK_EQ(sl_xrecv_new(&xr, buf, n, 5), 0);
	CHECK_EQ(sl_xrecv_offer(xr)->chunks, 3);
	CHECK(!sl_xrecv_offer(xr)->has_schedule);
	CHECK_EQ(sl_xrecv_offer(xr)->window, SL_XFER_WINDOW_NONE);
	sl_xrecv_accept(xr, 1, 5);
	n = sl_xrecv_output(xr, 5, buf);
	CHECK_HEX(buf, n, "02 0a0b0c0d 00 00000001");
	CHECK_EQ(sl_xsend_input(xs, buf, n, 6), 0);
	n = sl_xsend_output(xs, 6, buf);
	CHECK_EQ(n, SL_XFER_DATA_HDR + 1928);
	CHECK_HEX(buf, 13, "03 0a0b0c0d 00000001 00000000");
	CHECK_MEM(buf + 13, env + SL_XFER_HEADER_LEN + SL_XFER_CHUNK_WIRE,
		  1928);
	CHECK_EQ(sl_xrecv_input(xr, buf, n, 7), 0);
	/* One piece in order: the ACK waits 100 ms. */
	CHECK_EQ(sl_xrecv_output(xr, 7, buf), 0);
	n = sl_xrecv_output(xr, 7 + SL_XFER_ACK_DELAY_MS, buf);
	/* durable 1, next 35 (chunk 1's second piece), map empty */
	CHECK_HEX(buf, n, "04 0a0b0c0d 00000001 00000023 0000000000000000 00");
	sl_xrecv_result(xr, 10, "already delivered", 17, 8);
	n = sl_xrecv_output(xr, 8, buf);
	CHECK_EQ(n, 6 + 17);
	CHECK_HEX(buf, 6, "05 0a0b0c0d 0a");
	CHECK_EQ(sl_xsend_input(xs, buf, n, 9), 0);
	n = sl_xsend_output(xs, 9, buf);
	CHECK_HEX(buf, n, "06 0a0b0c0d");
	CHECK_EQ(sl_xrecv_input(xr, buf, n, 10), 0);
	CHECK(sl_xrecv_finished(xr, 10));
	CHECK(sl_xsend_finished(xs, 10));
	{
		struct sl_xsend_status st;

		sl_xsend_get_status(xs, &st);
		CHECK_EQ(st.state, SL_XSEND_DONE);
		CHECK_EQ(st.code, 10);
		CHECK(!strcmp(st.text, "already delivered"));
	}
	sl_xsend_abort(xs, SL_XFER_ABORT_CANCELLED, 11);	/* too late: no-op */
	CHECK_EQ(sl_xsend_output(xs, 11, buf), 0);
	sl_xsend_free(xs);
	sl_xrecv_free(xr);

	/* The schedule for a TSP (store-and-forward.rst): 12 more bytes,
	 * taken by any recipient, which a TSP reads. */
	cfg.has_schedule = true;
	cfg.not_before_ms = 1800000000000LL;
	cfg.window = 22 * 60 * 1440 + 6 * 60;	/* 22:00-06:00 */
	CHECK_EQ(sl_xsend_new(&xs, &cfg, 1), 0);
	n = sl_xsend_output(xs, 1, buf);
	CHECK_EQ(n, 180);
	CHECK_HEX(buf + 168, 12, "000001a3185c5000 001d0268");
	CHECK_EQ(sl_xrecv_new(&xr, buf, n, 5), 0);
	CHECK(sl_xrecv_offer(xr)->has_schedule);
	CHECK_EQ(sl_xrecv_offer(xr)->not_before_ms, 1800000000000LL);
	CHECK_EQ(sl_xrecv_offer(xr)->window, 22 * 60 * 1440 + 6 * 60);
	/* a copy of it is a copy, one without it too */
	CHECK_EQ(sl_xrecv_input(xr, buf, n, 6), 0);
	CHECK_EQ(sl_xrecv_input(xr, buf, 168, 6), 0);
	CHECK_EQ(sl_xrecv_new(&xr2_unused, buf, 175, 5), -EINVAL);
	sl_xrecv_free(xr);
	sl_xsend_free(xs);
	cfg.has_schedule = false;

	/* Offers no recipient takes. */
	memset(buf, 0, sizeof(buf));
	buf[0] = SL_XFER_OFFER;
	CHECK_EQ(sl_xrecv_new(&xr, buf, 168, 1), -EINVAL);	/* id 0 */
	cfg.piece = 100;
	CHECK_EQ(sl_xsend_new(&xs, &cfg, 1), -EINVAL);
	cfg.piece = SL_XFER_PIECE_MAX + 1;
	CHECK_EQ(sl_xsend_new(&xs, &cfg, 1), -EINVAL);
}

/* An OFFER the recipient cannot take as one (here cut short on its way) is
 * refused at once with BAD_FORMAT, and again when its copy comes: the
 * sender ends with that refusal instead of waiting for its timeout. */
TEST(malformed_offer_refused)
{
	struct sl_xsend *xs;
	struct sl_xrecv *xr;
	struct sl_xsend_status st;
	uint8_t buf[SL_CCHAN_MAX_PLAIN], out[SL_CCHAN_MAX_PLAIN];
	struct sl_xsend_cfg cfg = { .id = 0x01020304, .read = env_read };
	size_t n;

	make_envelope(SL_XFER_HEADER_LEN + SL_XFER_CHUNK_WIRE);
	cfg.size = env_size;
	cfg.header = env;
	CHECK_EQ(sl_xsend_new(&xs, &cfg, 1), 0);
	n = sl_xsend_output(xs, 1, buf);
	CHECK_EQ(n, 168);
	CHECK_EQ(sl_xrecv_new(&xr, buf, 100, 2), -EINVAL);
	CHECK_EQ(sl_xrecv_new_refused(&xr, buf, 100, 1, "malformed", 2), 0);
	n = sl_xrecv_output(xr, 2, out);
	CHECK_EQ(n, 10 + 9);
	CHECK_HEX(out, 10, "02 01020304 01 00000000");
	CHECK_MEM(out + 10, "malformed", 9);
	CHECK_EQ(sl_xrecv_output(xr, 3, buf), 0);	/* once */
	CHECK_EQ(sl_xrecv_input(xr, buf, 100, 4), 0);	/* its copy */
	CHECK_EQ(sl_xrecv_output(xr, 4, buf), 10 + 9);
	CHECK_EQ(sl_xsend_input(xs, out, n, 5), 0);
	sl_xsend_get_status(xs, &st);
	CHECK_EQ(st.state, SL_XSEND_DONE);
	CHECK_EQ(st.code, 1);
	CHECK(!strcmp(st.text, "malformed"));
	CHECK(sl_xrecv_finished(xr, 5 + 3600000));
	sl_xsend_free(xs);
	sl_xrecv_free(xr);

	/* Nothing to answer without a transfer id, or to what is no OFFER */
	memset(buf, 0, sizeof(buf));
	buf[0] = SL_XFER_OFFER;
	CHECK_EQ(sl_xrecv_new_refused(&xr, buf, 168, 1, "x", 1), -EINVAL);
	CHECK(!xr);
	buf[0] = SL_XFER_DATA;
	buf[4] = 1;
	CHECK_EQ(sl_xrecv_new_refused(&xr, buf, 168, 1, "x", 1), -EINVAL);
	CHECK_EQ(sl_xrecv_new_refused(&xr, buf, 4, 1, "x", 1), -EINVAL);
}

/* A clean line: the whole envelope, each chunk once, in order; the
 * acknowledgements cost little. */
/* PAD, message by message: counted while receiving, up to the bucket
 * less the envelope; dropped elsewhere; a lie about it refused. */
static size_t pad_msg(uint8_t *m, uint32_t id, size_t n)
{
	m[0] = SL_XFER_PAD;
	m[1] = (uint8_t)(id >> 24);
	m[2] = (uint8_t)(id >> 16);
	m[3] = (uint8_t)(id >> 8);
	m[4] = (uint8_t)id;
	memset(m + SL_XFER_PAD_HDR, 0xee, n);
	return SL_XFER_PAD_HDR + n;
}

TEST(pad_counted_and_lies_refused)
{
	const size_t full = SL_XFER_PIECE_DEFAULT + SL_XFER_DATA_HDR -
			    SL_XFER_PAD_HDR;
	struct sl_xsend_cfg cfg = { .id = 0x5ad, .read = env_read, .piece = 0 };
	uint8_t offer[SL_CCHAN_MAX_PLAIN], m[SL_CCHAN_MAX_PLAIN];
	struct sl_xrecv_status st;
	struct sl_xrecv *xr;
	struct sl_xsend *xs;
	uint64_t budget, left;
	size_t n;

	make_envelope(SL_XFER_HEADER_LEN + 2 * SL_XFER_CHUNK_WIRE + 777);
	cfg.size = env_size;
	cfg.header = env;
	budget = sl_xfer_bucket(env_size) - env_size;
	CHECK_EQ(sl_xfer_bucket(env_size), 262144);
	if (!CHECK(!sl_xsend_new(&xs, &cfg, 1000)))
		return;
	n = sl_xsend_output(xs, 1000, offer);
	sl_xsend_free(xs);
	if (!CHECK(n) || !CHECK(!sl_xrecv_new(&xr, offer, n, 1000)))
		return;
	/* Before the ANSWER: dropped, nothing counted. */
	CHECK_EQ(sl_xrecv_input(xr, m, pad_msg(m, 0x5ad, 100), 1000), -EINVAL);
	sl_xrecv_accept(xr, 0, 1000);
	/* Another transfer's: not this one's. */
	CHECK_EQ(sl_xrecv_input(xr, m, pad_msg(m, 0x5ae, 100), 1000), -EINVAL);
	/* As long as a full DATA: counted; up to the budget exactly. */
	for (left = budget; left; left -= n - SL_XFER_PAD_HDR) {
		n = pad_msg(m, 0x5ad, left < full ? (size_t)left : full);
		if (!CHECK_EQ(sl_xrecv_input(xr, m, n, 1001), 0))
			break;
	}
	sl_xrecv_get_status(xr, &st);
	CHECK_EQ(st.pad_bytes, budget);
	CHECK_EQ(st.pad_dropped, 1);
	CHECK(!st.pad_refused);
	CHECK_EQ(st.state, SL_XRECV_RECEIVING);
	/* One byte past it: refused, BAD_FORMAT, by the engine. */
	CHECK_EQ(sl_xrecv_input(xr, m, pad_msg(m, 0x5ad, 1), 1002), -EMSGSIZE);
	sl_xrecv_get_status(xr, &st);
	CHECK(st.pad_refused);
	CHECK_EQ(st.state, SL_XRECV_RESULT);
	n = sl_xrecv_output(xr, 1002, m);
	CHECK(n > 6 && m[0] == SL_XFER_RESULT && m[5] == SL_XFER_BAD_FORMAT);
	CHECK(n > 6 && memmem(m + 6, n - 6, "padding past", 12) != NULL);
	/* After the RESULT: dropped. */
	CHECK_EQ(sl_xrecv_input(xr, m, pad_msg(m, 0x5ad, 1), 1003), -EINVAL);
	sl_xrecv_free(xr);

	/* One PAD longer than a full DATA: refused at once. */
	if (!CHECK(!sl_xrecv_new(&xr, offer, SL_XFER_OFFER_LEN, 2000)))
		return;
	sl_xrecv_accept(xr, 0, 2000);
	CHECK_EQ(sl_xrecv_input(xr, m, pad_msg(m, 0x5ad, full + 1), 2000),
		 -EMSGSIZE);
	sl_xrecv_free(xr);

	/* Once every chunk is there (unpacking): dropped, not refused. */
	if (!CHECK(!sl_xrecv_new(&xr, offer, SL_XFER_OFFER_LEN, 3000)))
		return;
	sl_xrecv_accept(xr, 3, 3000);
	sl_xrecv_get_status(xr, &st);
	CHECK_EQ(st.state, SL_XRECV_COMPLETE);
	CHECK_EQ(sl_xrecv_input(xr, m, pad_msg(m, 0x5ad, 10), 3000), -EINVAL);
	sl_xrecv_get_status(xr, &st);
	CHECK(!st.pad_refused && !st.pad_bytes && st.pad_dropped == 1);
	sl_xrecv_free(xr);
}

/* A padded transfer on a clean line: every PAD before the last new
 * piece, as long as a full DATA but the last; DATA and PAD make up the
 * bucket. */
TEST(padded_clean_line)
{
	struct faults f = { 0 };
	struct sl_xsend_status st;

	world_reset(&f);
	make_envelope(SL_XFER_HEADER_LEN + 2 * SL_XFER_CHUNK_WIRE + 4000);
	padded = true;
	start_sender(0);
	padded = false;
	CHECK_EQ(run_until(S.now + 3600000, 0), SL_XSEND_DONE);
	status(&st);
	CHECK_EQ(st.code, 0);
	CHECK_EQ(st.pad_bytes, sl_xfer_bucket(env_size) - env_size);
	if (S.s[1].xr) {		/* still answering late copies */
		struct sl_xrecv_status rs;

		sl_xrecv_get_status(S.s[1].xr, &rs);
		S.pad_bytes += rs.pad_bytes;
		S.pad_refused |= rs.pad_refused;
	}
	CHECK_EQ(S.pad_bytes, st.pad_bytes);
	CHECK(!S.pad_refused);
	CHECK_EQ(st.data_bytes + st.pad_bytes + SL_XFER_HEADER_LEN,
		 sl_xfer_bucket(env_size));
}

TEST(clean_line)
{
	struct faults f = { 0 };
	struct sl_xsend_status st;

	world_reset(&f);
	make_envelope(SL_XFER_HEADER_LEN + 20 * SL_XFER_CHUNK_WIRE + 777);
	start_sender(0);
	CHECK_EQ(run_until(S.now + 3600000, 0), SL_XSEND_DONE);
	status(&st);
	CHECK_EQ(st.code, 0);
	CHECK(!strcmp(st.text, "receipt"));
	CHECK_EQ(S.durable, 21);
	CHECK_EQ(S.chunk_calls, 21);
	CHECK(!S.order_broken);
	CHECK_EQ(st.resends, 0);
	CHECK_EQ(st.data_bytes, env_size - SL_XFER_HEADER_LEN);
	/* 115200 baud: the transfer takes about its bytes' line time
	 * (1.38 MB at 11.52 bytes/ms, plus 3 % of framing) and a little. */
	CHECKF(S.now - 1000 < 135000, "took %llu ms",
	       (unsigned long long)(S.now - 1000));
	CHECK_EQ(S.enobufs, 0);
	CHECK(st.window >= 8);
	printf("  %llu bytes in %llu ms, %llu messages, window %u, srtt %u ms\n",
	       (unsigned long long)env_size,
	       (unsigned long long)(S.now - 1000),
	       (unsigned long long)S.msgs_sent, st.window, st.srtt_ms);
}

/* One DATA lost: one resend, of that message only. */
TEST(one_loss_one_resend)
{
	struct faults f = { 0 };
	struct sl_xsend_status st;

	world_reset(&f);
	make_envelope(SL_XFER_HEADER_LEN + 4 * SL_XFER_CHUNK_WIRE);
	start_sender(0);
	/* Lose whatever leaves between 2.0 and 2.05 s: one DATA. */
	S.f.dead_from = 3000;
	S.f.dead_to = 3050;
	S.f.dead_one_way = true;
	CHECK_EQ(run_until(S.now + 600000, 0), SL_XSEND_DONE);
	status(&st);
	CHECK_EQ(st.code, 0);
	CHECKF(S.msgs_lost == 1, "%llu lost", (unsigned long long)S.msgs_lost);
	CHECKF(st.resends == 1, "%llu resends", (unsigned long long)st.resends);
	CHECK_EQ(S.chunk_calls, 4);
	CHECK(!S.order_broken);
}

/* A 9600 baud line: the window stays small, so a control message of
 * the handshake waits a few seconds at most behind the courier's. */
TEST(slow_line_small_window)
{
	struct faults f = { .baud = 9600 };
	struct sl_xsend_status st;

	world_reset(&f);
	make_envelope(SL_XFER_HEADER_LEN + 2 * SL_XFER_CHUNK_WIRE);
	start_sender(0);
	CHECK_EQ(run_until(S.now + 3600000, 0), SL_XSEND_DONE);
	status(&st);
	CHECK_EQ(st.code, 0);
	CHECKF(st.window <= 3, "window %u", st.window);
	CHECK(st.resends <= 2);
}

/* The recipient's unpacking takes longer than the idle deadline would
 * allow without its heartbeats. */
TEST(slow_unpack_heartbeats)
{
	struct faults f = { 0 };
	struct sl_xsend_status st;

	world_reset(&f);
	S.unpack_delay = true;
	make_envelope(SL_XFER_HEADER_LEN + SL_XFER_CHUNK_WIRE);
	start_sender(0);
	S.complete_at = 0;
	CHECK_EQ(run_until(S.now + 600000, 0), SL_XSEND_DONE);
	status(&st);
	CHECK_EQ(st.code, 0);
}

/* Nobody answers: the sender gives up after its OFFERs. */
TEST(no_answer_fails)
{
	struct faults f = { .drop = 10000 };
	struct sl_xsend_status st;

	world_reset(&f);
	make_envelope(SL_XFER_HEADER_LEN + 100);
	start_sender(0);
	CHECK_EQ(run_until(S.now + 3600000, 0), SL_XSEND_FAILED);
	status(&st);
	CHECK(!st.answered);
	CHECK(strstr(st.text, "does not answer") != NULL);
	CHECK_EQ(st.pieces_sent, 0);
}

/* The line dies mid-transfer for good: the sender fails within the
 * idle deadline; a new attempt resumes where the spool is, and sends
 * nothing of what was acknowledged. */
TEST(cut_and_resume)
{
	struct faults f = { 0 };
	struct sl_xsend_status st;
	uint64_t durable_at_cut, sent_before;

	world_reset(&f);
	make_envelope(SL_XFER_HEADER_LEN + 12 * SL_XFER_CHUNK_WIRE + 5);
	start_sender(0);
	S.f.dead_from = S.now + 30000;
	S.f.dead_to = UINT64_MAX;
	CHECK_EQ(run_until(S.now + 3600000, 0), SL_XSEND_FAILED);
	status(&st);
	durable_at_cut = S.durable;
	sent_before = st.data_bytes;
	CHECKF(durable_at_cut > 2 && durable_at_cut < 13, "durable %llu",
	       (unsigned long long)durable_at_cut);
	CHECK(st.durable <= durable_at_cut);
	/* The line comes back (a new call): a new attempt. */
	S.f.dead_from = S.f.dead_to = 0;
	rekey(0, true);
	start_sender(0);
	CHECK_EQ(run_until(S.now + 3600000, 0), SL_XSEND_DONE);
	status(&st);
	CHECK_EQ(st.code, 0);
	CHECK_EQ(st.from, durable_at_cut);
	CHECK_EQ(st.data_bytes,
		 env_size - SL_XFER_HEADER_LEN -
		 durable_at_cut * SL_XFER_CHUNK_WIRE);
	CHECK_EQ(S.chunk_calls, 13);
	CHECK(!S.order_broken);
	CHECK(sent_before > 0);
}

/* Rekeys every few seconds under load: nothing lost, nothing twice,
 * no counter sealed twice. */
TEST(rekeys_under_load)
{
	struct faults f = { .drop = 50 };
	struct sl_xsend_status st;

	world_reset(&f);
	make_envelope(SL_XFER_HEADER_LEN + 15 * SL_XFER_CHUNK_WIRE + 99);
	start_sender(0);
	CHECK_EQ(run_until(S.now + 3600000, 3000), SL_XSEND_DONE);
	status(&st);
	CHECK_EQ(st.code, 0);
	CHECK_EQ(S.chunk_calls, 16);
	CHECK(!S.order_broken);
	CHECK(next_epoch > 20);
}

/* The recipient withdraws nothing; the sender does: ABORT. */
TEST(abort_reaches_recipient)
{
	struct faults f = { 0 };
	struct sl_xrecv_status rs;

	world_reset(&f);
	make_envelope(SL_XFER_HEADER_LEN + 5 * SL_XFER_CHUNK_WIRE);
	start_sender(0);
	run_until(S.now + 4000, 0);
	CHECK(S.s[1].xr != NULL);
	sl_xsend_abort(S.s[0].xs, SL_XFER_ABORT_CANCELLED, S.now);
	pump(0);
	S.now += 2000;
	for (int i = 0; i < 2; i++) {
		struct dir *d = &S.d[i];

		while (d->h != d->t) {
			struct msg m = d->q[d->h++ % QMAX];

			deliver(!i, &m);
		}
	}
	CHECK(S.s[1].xr != NULL);
	sl_xrecv_get_status(S.s[1].xr, &rs);
	CHECK_EQ(rs.state, SL_XRECV_ABORTED);
	CHECK_EQ(rs.abort_reason, SL_XFER_ABORT_CANCELLED);
	CHECK(sl_xsend_finished(S.s[0].xs, S.now));
}

/*
 * Random lines: loss, copies, reordering, corruption, outages, cuts and
 * rekeys, every combination at several rates, seeds from the case's.
 * Each must deliver every chunk once, in order, or fail cleanly and then
 * complete on a clean retry that resumes at the spool.
 */
TEST(random_lossy_lines)
{
	const char *soak = getenv("SEALINE_XFER_SOAK");
	unsigned int runs = 40 * (soak ? (unsigned int)atoi(soak) : 1);
	unsigned int failed_attempts = 0, total_resends = 0;

	for (unsigned int r = 0; r < runs && !check_failing(); r++) {
		struct faults f = {
			.drop = (unsigned int)check_below(600),
			.dup = (unsigned int)check_below(300),
			.corrupt = (unsigned int)check_below(300),
			.reorder = (unsigned int)check_below(200),
			.baud = check_below(4) ? 115200 : 38400,
		};
		struct sl_xsend_status st;
		uint64_t chunks = 1 + check_below(8);
		enum sl_xsend_state out;
		uint16_t piece = check_below(3) ? 0 :
				 (uint16_t)(SL_XFER_PIECE_MIN +
					    check_below(SL_XFER_PIECE_MAX -
							SL_XFER_PIECE_MIN + 1));
		int attempts = 0;
		bool outage = false;

		world_reset(&f);
		padded = check_below(2);
		make_envelope(SL_XFER_HEADER_LEN +
			      (chunks - 1) * SL_XFER_CHUNK_WIRE + 16 +
			      check_below(SL_XFER_CHUNK_WIRE - 16));
		if (check_below(3) == 0) {
			outage = true;
			S.f.dead_from = S.now + check_below(20000);
			S.f.dead_to = S.f.dead_from +
				      (check_below(2) ? 500 : 5000 +
				       check_below(200000));
		}
		do {
			start_sender(piece);
			out = run_until(S.now + 7200000,
					check_below(3) ? 0 :
					2000 + check_below(20000));
			attempts++;
			if (out != SL_XSEND_DONE) {
				failed_attempts++;
				/* the next call: a new session */
				rekey(0, true);
				S.now += 1000;
			}
		} while (out != SL_XSEND_DONE && attempts < 5);
		status(&st);
		total_resends += (unsigned int)st.resends;
		/* Loss, copies, reordering and damage alone never end an
		 * attempt: only a long outage does. */
		CHECKF(outage || attempts == 1, "run %u: %d attempts without "
		       "an outage", r, attempts);
		CHECKF(out == SL_XSEND_DONE && st.code == 0,
		       "run %u: state %d after %d attempts (drop %u dup %u "
		       "corrupt %u reorder %u, %llu chunks)", r, out, attempts,
		       f.drop, f.dup, f.corrupt, f.reorder,
		       (unsigned long long)chunks);
		CHECKF(S.chunk_calls == chunks && S.durable == chunks &&
		       !S.order_broken, "run %u: %llu chunks handed out of %llu",
		       r, (unsigned long long)S.chunk_calls,
		       (unsigned long long)chunks);
		/* Padding that is lost or overtaken is never a lie. */
		CHECKF(!S.pad_refused, "run %u: honest padding refused", r);
		CHECKF(padded || !S.pad_bytes, "run %u: padding unasked", r);
	}
	padded = false;
	printf("  %u runs, %u failed attempts resumed, %u resends\n", runs,
	       failed_attempts, total_resends);
}

int main(int argc, char **argv)
{
	check_init(argc, argv);
	init_or_die(0);
	secmem_measure_baseline();
	RUN(cchan_layout_and_replay);
	RUN(cchan_vector);
	RUN(message_layouts);
	RUN(malformed_offer_refused);
	RUN(pad_counted_and_lies_refused);
	RUN(padded_clean_line);
	RUN(clean_line);
	RUN(one_loss_one_resend);
	RUN(slow_line_small_window);
	RUN(slow_unpack_heartbeats);
	RUN(no_answer_fails);
	RUN(cut_and_resume);
	RUN(rekeys_under_load);
	RUN(abort_reaches_recipient);
	RUN(random_lossy_lines);
	world_reset(&(struct faults){ 0 });
	for (int i = 0; i < 2; i++) {
		sl_cchan_free(S.s[i].ch);
		S.s[i].ch = NULL;
		free(S.s[i].sealed);
		S.s[i].sealed = NULL;
	}
	free(env);
	return check_summary();
}
