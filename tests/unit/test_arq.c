// SPDX-License-Identifier: GPL-2.0
/*
 * Reliable mode (kmod/arq.c): the ARQ header byte by byte, the RFC 6298
 * timer against a floating-point model, Karn's rule and the back-off,
 * fast resend, keystrokes, flow control, the nonce tripwire, stream resets,
 * adaptive frame size, the dead-line rule, and then the whole state machine
 * against the simulated lossy line of arq_sim.h: many runs with random
 * loss, duplication, corruption, reordering, bursts, outages and rekeys,
 * in frame mode and through the real COBS framing, asserting exactly-once
 * in-order delivery, bounded state and no nonce reuse.
 *
 *	SEALINE_ARQ_SOAK=n	n times as many simulated runs (default 1)
 *	SEALINE_ARQ_RUN=seed	only the soak run with that seed (as a
 *				failure prints it), in both modes
 *	SEALINE_ARQ_FIGURE=1	print the simulated goodput table that
 *				Documentation/protocol.rst shows
 *
 * Why one file of about 1,350 lines: it tests one module (arq.c), one
 * TEST() per property, and the long soak runs share the simulator set-up
 * of the short cases.
 */
#include "check.h"
#include "arq_sim.h"

#define RING	4096

/* ---- Two ends wired by hand ------------------------------------------- */

struct pair {
	struct sealine_arq a[2];
	uint8_t *tx[2], *rx[2];
	uint64_t counter[2];
};

static void pair_init(struct pair *p, u32 isn0, u32 isn1)
{
	int e;

	memset(p, 0, sizeof(*p));
	for (e = 0; e < 2; e++) {
		p->tx[e] = malloc(RING);
		p->rx[e] = malloc(RING);
		if (!p->tx[e] || !p->rx[e])
			abort();
		CHECK_EQ(sealine_arq_init(&p->a[e], p->tx[e], RING, p->rx[e],
					  RING, e ? isn1 : isn0, 0), 0);
	}
}

static void pair_free(struct pair *p)
{
	int e;

	for (e = 0; e < 2; e++) {
		free(p->tx[e]);
		free(p->rx[e]);
	}
}

static void pair_dead_ms(struct pair *p, u32 ms)
{
	struct sealine_arq_config cfg;
	int e;

	for (e = 0; e < 2; e++) {
		cfg = p->a[e].cfg;
		cfg.dead_ms = ms;
		CHECK_EQ(sealine_arq_set_config(&p->a[e], &cfg), 0);
	}
}

/* Builds end e's next frame into pt; its length, 0 if none. */
static int pair_build(struct pair *p, int e, u32 now, uint8_t *pt)
{
	int n = sealine_arq_tx_build(&p->a[e], now, 1, p->counter[e], pt,
				     SEALINE_MAX_PAYLOAD);

	CHECK(n >= 0);
	if (n > 0)
		p->counter[e]++;
	return n > 0 ? n : 0;
}

/* Hands a plaintext from end e to the other end, as the newest frame. */
static void pair_deliver(struct pair *p, int e, const uint8_t *pt, int n,
			 u32 now)
{
	CHECK_EQ(sealine_arq_rx(&p->a[1 - e], pt, (size_t)n, true, now), 0);
}

/* Sends everything end e has due at now straight to the other end. */
static int pair_flush(struct pair *p, int e, u32 now)
{
	uint8_t pt[SEALINE_MAX_PAYLOAD];
	int n, frames = 0;

	while (sealine_arq_tx_pending(&p->a[e], now) &&
	       (n = pair_build(p, e, now, pt)) > 0) {
		pair_deliver(p, e, pt, n, now);
		frames++;
	}
	return frames;
}

static void write_str(struct sealine_arq *a, const char *s)
{
	CHECK_EQ(sealine_arq_write(a, (const u8 *)s, strlen(s)), strlen(s));
}

static bool read_is(struct sealine_arq *a, const char *s)
{
	char buf[256] = { 0 };
	size_t n = sealine_arq_read(a, (u8 *)buf, sizeof(buf) - 1, 0);

	return CHECKF(n == strlen(s) && !memcmp(buf, s, n),
		      "read \"%s\", want \"%s\"", buf, s);
}

/* ---- The ARQ header ------------------------------------------------------- */

static const struct {
	const char *what;
	uint8_t bytes[20];
	size_t len;
	size_t hdr_len;
} doc_examples[] = {
	/* SYN | DATA, sid = offset = 0x0a0b0c0d, payload "hi". */
	{ "opening data frame",
	  { 0xc0, 0x0a, 0x0b, 0x0c, 0x0d, 0x0a, 0x0b, 0x0c, 0x0d, 'h', 'i' },
	  11, 9 },
	/* DATA | ACK: offset 0x00001000, ack 0x7f000010, window 4096, "x". */
	{ "data with a piggybacked ACK",
	  { 0x60, 0x00, 0x00, 0x10, 0x00, 0x7f, 0x00, 0x00, 0x10, 0x10, 0x00,
	    'x' },
	  12, 11 },
	/* ACK, 2 SACK blocks: ack 0x100, window 3072, +512..+768,
	 * +1024..+1152.
	 */
	{ "ACK with two SACK blocks",
	  { 0x28, 0x00, 0x00, 0x01, 0x00, 0x0c, 0x00, 0x02, 0x00, 0x01, 0x00,
	    0x04, 0x00, 0x00, 0x80 },
	  15, 15 },
	/* ACK | ECHO: ack 0x0a0b0c0f, window 4096, echo 0x0a0b0c0d. */
	{ "ACK echoing a new stream",
	  { 0x30, 0x0a, 0x0b, 0x0c, 0x0f, 0x10, 0x00, 0x0a, 0x0b, 0x0c, 0x0d },
	  11, 11 },
	{ "RST", { 0x02 }, 1, 1 },
};

TEST(hdr_documented_examples)
{
	struct sealine_arq_hdr h;
	uint8_t out[SEALINE_ARQ_HDR_MAX];
	size_t i;

	for (i = 0; i < sizeof(doc_examples) / sizeof(doc_examples[0]); i++) {
		const uint8_t *b = doc_examples[i].bytes;
		size_t len = doc_examples[i].len;
		uint8_t *copy = malloc(len);

		memcpy(copy, b, len);
		if (!CHECKF(!sealine_arq_hdr_parse(copy, len, &h), "%s",
			    doc_examples[i].what)) {
			free(copy);
			continue;
		}
		CHECKF(sealine_arq_hdr_put(out, &h) == doc_examples[i].hdr_len &&
		       !memcmp(out, b, doc_examples[i].hdr_len),
		       "%s: header does not re-encode", doc_examples[i].what);
		CHECK_EQ(h.payload_len, len - doc_examples[i].hdr_len);
		free(copy);
	}
	sealine_arq_hdr_parse(doc_examples[0].bytes, 11, &h);
	CHECK_EQ(h.sid, 0x0a0b0c0d);
	CHECK_EQ(h.offset, 0x0a0b0c0d);
	sealine_arq_hdr_parse(doc_examples[1].bytes, 12, &h);
	CHECK_EQ(h.ack, 0x7f000010);
	CHECK_EQ(h.window, 4096);
	sealine_arq_hdr_parse(doc_examples[2].bytes, 15, &h);
	CHECK_EQ(h.nsack, 2);
	CHECK_EQ(h.sack[0].start, 512);
	CHECK_EQ(h.sack[0].len, 256);
	CHECK_EQ(h.sack[1].start, 1024);
	CHECK_EQ(h.sack[1].len, 128);
	sealine_arq_hdr_parse(doc_examples[3].bytes, 11, &h);
	CHECK_EQ(h.echo, 0x0a0b0c0d);
	CHECK_EQ(SEALINE_ARQ_HDR_MAX, 31);
	CHECK_EQ(SEALINE_ARQ_MAX_DATA, 2017);
}

/*
 * The validity rule written out independently: which (flags, length,
 * SACK fields) the parser must accept.
 */
static bool model_valid(const uint8_t *p, size_t len)
{
	uint8_t f = p[0];
	size_t need = 1, nsack = (f >> 2) & 3, i, at;
	bool syn = f & 0x80, data = f & 0x40, ack = f & 0x20, echo = f & 0x10;
	unsigned int prev_end = 0;

	if (f & 1 || (syn && !data) || (!ack && (echo || nsack)))
		return false;
	need += (syn ? 4 : 0) + (data ? 4 : 0) + (ack ? 6 : 0) +
		(echo ? 4 : 0) + 4 * nsack;
	if (len < need)
		return false;
	if (data ? len == need : len != need)
		return false;
	at = need - 4 * nsack;
	for (i = 0; i < nsack; i++, at += 4) {
		unsigned int start = p[at] << 8 | p[at + 1];
		unsigned int blen = p[at + 2] << 8 | p[at + 3];

		if (!blen || start <= prev_end || start + blen > 0xffff)
			return false;
		prev_end = start + blen;
	}
	return true;
}

TEST(hdr_parse_vs_model)
{
	uint8_t buf[64];
	struct sealine_arq_hdr h;
	unsigned int flags, len, trial;

	for (flags = 0; flags < 256; flags++) {
		for (len = 1; len <= 40; len++) {
			for (trial = 0; trial < 20; trial++) {
				uint8_t *copy = malloc(len);
				int rc;

				check_fill_random(buf, sizeof(buf));
				buf[0] = (uint8_t)flags;
				/* Plausible SACK fields half of the time. */
				if (trial & 1)
					for (size_t i = 1; i + 3 < sizeof(buf);
					     i += 4) {
						buf[i] = 0;
						buf[i + 2] = 0;
					}
				memcpy(copy, buf, len);
				rc = sealine_arq_hdr_parse(copy, len, &h);
				CHECKF((rc == 0) == model_valid(buf, len),
				       "flags 0x%02x len %u", flags, len);
				free(copy);
			}
		}
	}
	CHECK(sealine_arq_hdr_parse(buf, 0, &h) != 0);
	CHECK(sealine_arq_hdr_parse(buf, SEALINE_MAX_PAYLOAD + 1, &h) != 0);
}

TEST(hdr_roundtrip_random)
{
	uint8_t out[SEALINE_ARQ_HDR_MAX + 8];
	struct sealine_arq_hdr h, g;
	int i;

	for (i = 0; i < 100000; i++) {
		size_t n;
		unsigned int k, at = 0;

		memset(&h, 0, sizeof(h));
		h.flags = (uint8_t)(check_rand() & 0xf2);
		if (h.flags & SEALINE_ARQ_F_SYN)
			h.flags |= SEALINE_ARQ_F_DATA;
		if (!(h.flags & SEALINE_ARQ_F_ACK))
			h.flags &= ~SEALINE_ARQ_F_ECHO;
		h.nsack = (h.flags & SEALINE_ARQ_F_ACK) ?
			  (uint8_t)check_below(4) : 0;
		h.sid = (u32)check_rand();
		h.offset = (u32)check_rand();
		h.ack = (u32)check_rand();
		h.window = (u16)check_rand();
		h.echo = (u32)check_rand();
		for (k = 0; k < h.nsack; k++) {
			h.sack[k].start = (u16)(at + 1 + check_below(1000));
			h.sack[k].len = (u16)(1 + check_below(1000));
			at = h.sack[k].start + h.sack[k].len;
		}
		n = sealine_arq_hdr_put(out, &h);
		if (h.flags & SEALINE_ARQ_F_DATA)
			out[n++] = 0x55;
		if (!CHECK(!sealine_arq_hdr_parse(out, n, &g)))
			break;
		CHECK_EQ(g.flags, (h.flags & ~SEALINE_ARQ_F_SACK_MASK) |
				  h.nsack << SEALINE_ARQ_F_SACK_SHIFT);
		if (h.flags & SEALINE_ARQ_F_SYN)
			CHECK_EQ(g.sid, h.sid);
		if (h.flags & SEALINE_ARQ_F_DATA)
			CHECK_EQ(g.offset, h.offset);
		if (h.flags & SEALINE_ARQ_F_ACK) {
			CHECK_EQ(g.ack, h.ack);
			CHECK_EQ(g.window, h.window);
		}
		if (h.flags & SEALINE_ARQ_F_ECHO)
			CHECK_EQ(g.echo, h.echo);
		for (k = 0; k < h.nsack; k++)
			CHECK(g.sack[k].start == h.sack[k].start &&
			      g.sack[k].len == h.sack[k].len);
		if (check_failing())
			break;
	}
}

/* ---- Set-up ----------------------------------------------------------------- */

TEST(init_refuses_bad_rings)
{
	struct sealine_arq a;
	uint8_t *r = malloc(SEALINE_ARQ_RING_MAX);
	struct sealine_arq_config cfg;

	CHECK_EQ(sealine_arq_init(&a, r, 1024, r, 4096, 0, 0), -EINVAL);
	CHECK_EQ(sealine_arq_init(&a, r, 4096, r, 3000, 0, 0), -EINVAL);
	CHECK_EQ(sealine_arq_init(&a, r, 65536, r, 4096, 0, 0), -EINVAL);
	CHECK_EQ(sealine_arq_init(&a, NULL, 4096, r, 4096, 0, 0), -EINVAL);
	CHECK_EQ(sealine_arq_init(&a, r, SEALINE_ARQ_RING_MIN, r,
				  SEALINE_ARQ_RING_MAX, 0, 0), 0);
	cfg = a.cfg;
	cfg.min_frame = 100;
	cfg.max_frame = 50;
	CHECK_EQ(sealine_arq_set_config(&a, &cfg), -EINVAL);
	cfg = a.cfg;
	cfg.dead_ms = 0;
	CHECK_EQ(sealine_arq_set_config(&a, &cfg), -EINVAL);
	cfg = a.cfg;
	cfg.max_frame = SEALINE_ARQ_MAX_DATA + 1;
	CHECK_EQ(sealine_arq_set_config(&a, &cfg), -EINVAL);
	cfg = a.cfg;
	cfg.rto_initial_ms = 10;
	CHECK_EQ(sealine_arq_set_config(&a, &cfg), -EINVAL);
	free(r);
}

/* What the rings and the state cost per line, and the tx/rx frame build
 * of a full frame stays inside the data frame's limits.
 */
TEST(memory_per_line)
{
	size_t state = sizeof(struct sealine_arq);

	printf("  struct sealine_arq: %zu bytes, rings %d + %d bytes\n", state,
	       SEALINE_ARQ_TX_RING, SEALINE_ARQ_RX_RING);
	CHECK(state <= 1024);
	CHECK(SEALINE_ARQ_TX_RING + SEALINE_ARQ_RX_RING + state <= 9 * 1024);
	CHECK(SEALINE_ARQ_HDR_MAX + SEALINE_ARQ_MAX_DATA == SEALINE_MAX_PAYLOAD);
}

/* ---- Opening, data, acknowledgement ------------------------------------- */

TEST(open_and_echo)
{
	struct pair p;
	uint8_t pt[SEALINE_MAX_PAYLOAD];
	struct sealine_arq_hdr h;
	struct sealine_arq_info info;
	int n;

	pair_init(&p, 0x0a0b0c0d, 0x77777777);
	write_str(&p.a[0], "hi");
	n = pair_build(&p, 0, 0, pt);
	CHECK_EQ(n, 11);
	CHECK_MEM(pt, doc_examples[0].bytes, 11);
	pair_deliver(&p, 0, pt, n, 5);
	CHECK(read_is(&p.a[1], "hi"));
	/* The first frame of a stream is acknowledged at once, with the
	 * echo that opens the stream at the sender.
	 */
	CHECK(sealine_arq_tx_pending(&p.a[1], 5));
	n = pair_build(&p, 1, 5, pt);
	CHECK(!sealine_arq_hdr_parse(pt, (size_t)n, &h));
	CHECK_EQ(h.flags, SEALINE_ARQ_F_ACK | SEALINE_ARQ_F_ECHO);
	CHECK_EQ(h.ack, 0x0a0b0c0f);
	CHECK_EQ(h.echo, 0x0a0b0c0d);
	CHECK(n == 11 && !memcmp(pt, doc_examples[3].bytes, 11));
	sealine_arq_get_info(&p.a[0], &info);
	CHECK(!info.opened);
	pair_deliver(&p, 1, pt, n, 10);
	sealine_arq_get_info(&p.a[0], &info);
	CHECK(info.opened);
	CHECK_EQ(info.in_flight, 0);
	CHECK_EQ(sealine_arq_chars_in_buffer(&p.a[0]), 0);
	/* Opened: no SYN any more. */
	write_str(&p.a[0], "x");
	n = pair_build(&p, 0, 20, pt);
	CHECK(!sealine_arq_hdr_parse(pt, (size_t)n, &h));
	CHECK_EQ(h.flags, SEALINE_ARQ_F_DATA);
	CHECK_EQ(h.offset, 0x0a0b0c0f);
	pair_free(&p);
}

TEST(ack_without_echo_does_not_open)
{
	struct pair p;
	uint8_t pt[64];
	struct sealine_arq_info info;
	struct sealine_arq_hdr h = { 0 };
	size_t n;

	pair_init(&p, 1000, 2000);
	write_str(&p.a[0], "abc");
	pair_build(&p, 0, 0, pt);
	/* An ACK for our bytes but without our sid: from an older stream. */
	h.flags = SEALINE_ARQ_F_ACK;
	h.ack = 1003;
	h.window = 4096;
	n = sealine_arq_hdr_put(pt, &h);
	CHECK_EQ(sealine_arq_rx(&p.a[0], pt, n, true, 1), 0);
	sealine_arq_get_info(&p.a[0], &info);
	CHECK(!info.opened);
	CHECK_EQ(info.in_flight, 3);
	/* With another stream's sid: still nothing. */
	h.flags |= SEALINE_ARQ_F_ECHO;
	h.echo = 999;
	n = sealine_arq_hdr_put(pt, &h);
	sealine_arq_rx(&p.a[0], pt, n, true, 2);
	sealine_arq_get_info(&p.a[0], &info);
	CHECK(!info.opened);
	/* An ACK beyond what was sent is ignored too. */
	h.echo = 1000;
	h.ack = 1004;
	n = sealine_arq_hdr_put(pt, &h);
	sealine_arq_rx(&p.a[0], pt, n, true, 3);
	sealine_arq_get_info(&p.a[0], &info);
	CHECK(!info.opened);
	h.ack = 1003;
	n = sealine_arq_hdr_put(pt, &h);
	sealine_arq_rx(&p.a[0], pt, n, true, 4);
	sealine_arq_get_info(&p.a[0], &info);
	CHECK(info.opened);
	CHECK_EQ(info.in_flight, 0);
	pair_free(&p);
}

/* A keystroke leaves at once, alone, however large frames are. */
TEST(keystroke_leaves_at_once)
{
	struct pair p;
	uint8_t pt[SEALINE_MAX_PAYLOAD];
	struct sealine_arq_hdr h;
	struct sealine_arq_info info;
	int n, i;

	pair_init(&p, 0, 0);
	sealine_arq_get_info(&p.a[0], &info);
	CHECK_EQ(info.frame_size, SEALINE_ARQ_MAX_DATA);
	for (i = 0; i < 5; i++) {
		u32 now = 100 * (u32)i;

		write_str(&p.a[0], "k");
		CHECK(sealine_arq_tx_pending(&p.a[0], now));
		n = pair_build(&p, 0, now, pt);
		CHECK(!sealine_arq_hdr_parse(pt, (size_t)n, &h));
		CHECK_EQ(h.payload_len, 1);
		pair_deliver(&p, 0, pt, n, now + 1);
		pair_flush(&p, 1, now + 1 + SEALINE_ARQ_ACK_DELAY_MS);
		pair_flush(&p, 0, now + 20);
	}
	CHECK(read_is(&p.a[1], "kkkkk"));
	pair_free(&p);
}

/* In-order data is acknowledged after the ACK delay, or at once on the
 * second frame; anything out of order at once.
 */
TEST(ack_timing)
{
	struct pair p;
	uint8_t pt[SEALINE_MAX_PAYLOAD], f[3][SEALINE_MAX_PAYLOAD];
	int n[3], i;

	pair_init(&p, 0, 0);
	write_str(&p.a[0], "a");
	n[0] = pair_build(&p, 0, 0, pt);
	pair_deliver(&p, 0, pt, n[0], 0);
	pair_flush(&p, 1, 0);		/* SYN: at once */
	pair_flush(&p, 0, 0);
	for (i = 0; i < 3; i++) {
		write_str(&p.a[0], "b");
		n[i] = pair_build(&p, 0, 10, f[i]);
	}
	pair_deliver(&p, 0, f[0], n[0], 10);
	CHECK(!sealine_arq_tx_pending(&p.a[1], 10));
	CHECK_EQ(sealine_arq_timeout(&p.a[1], 10), SEALINE_ARQ_ACK_DELAY_MS);
	CHECK(sealine_arq_tx_pending(&p.a[1], 10 + SEALINE_ARQ_ACK_DELAY_MS));
	pair_deliver(&p, 0, f[1], n[1], 11);
	CHECK(sealine_arq_tx_pending(&p.a[1], 11));	/* second frame */
	pair_flush(&p, 1, 11);
	/* A repeat is acknowledged at once. */
	pair_deliver(&p, 0, f[1], n[1], 12);
	CHECK(sealine_arq_tx_pending(&p.a[1], 12));
	CHECK_EQ(p.a[1].stats.duplicates_rx, 1);
	pair_flush(&p, 1, 12);
	pair_deliver(&p, 0, f[2], n[2], 13);
	pair_flush(&p, 1, 13 + SEALINE_ARQ_ACK_DELAY_MS);
	CHECK(read_is(&p.a[1], "abbb"));
	pair_free(&p);
}

/* ---- Loss ------------------------------------------------------------------- */

TEST(fast_resend_on_sack_gap)
{
	struct pair p;
	uint8_t f[5][SEALINE_MAX_PAYLOAD], pt[SEALINE_MAX_PAYLOAD], want[500];
	uint8_t got[600];
	struct sealine_arq_hdr h;
	int n[5], i, m;
	u32 t = 100;

	pair_init(&p, 5, 9);
	write_str(&p.a[0], "o");
	m = pair_build(&p, 0, 0, pt);
	pair_deliver(&p, 0, pt, m, 1);
	pair_flush(&p, 1, 1);
	sealine_arq_read(&p.a[1], got, sizeof(got), 1);
	for (i = 0; i < 5; i++) {
		check_fill_random(want + 100 * i, 100);
		CHECK_EQ(sealine_arq_write(&p.a[0], want + 100 * i, 100), 100);
		n[i] = pair_build(&p, 0, t, f[i]);
	}
	/* Frame 1 is lost; the others arrive. */
	pair_deliver(&p, 0, f[0], n[0], t + 5);
	for (i = 2; i < 5; i++)
		pair_deliver(&p, 0, f[i], n[i], t + 5);
	CHECK_EQ(sealine_arq_rx_avail(&p.a[1]), 100);
	CHECK(sealine_arq_tx_pending(&p.a[1], t + 5));
	m = pair_build(&p, 1, t + 5, pt);
	CHECK(!sealine_arq_hdr_parse(pt, (size_t)m, &h));
	CHECK_EQ(h.nsack, 1);
	CHECK_EQ(h.sack[0].start, 100);
	CHECK_EQ(h.sack[0].len, 300);
	pair_deliver(&p, 1, pt, m, t + 10);
	CHECK_EQ(p.a[0].stats.fast_retransmits, 1);
	/* The resend goes now, long before the RTO. */
	CHECK(sealine_arq_tx_pending(&p.a[0], t + 10));
	m = pair_build(&p, 0, t + 10, pt);
	CHECK(!sealine_arq_hdr_parse(pt, (size_t)m, &h));
	CHECK_EQ(h.offset, 5 + 1 + 100);
	CHECK_EQ(h.payload_len, 100);
	CHECK_EQ(p.a[0].stats.retransmits, 1);
	CHECK_EQ(p.a[0].stats.timeouts, 0);
	pair_deliver(&p, 0, pt, m, t + 15);
	CHECK_EQ(sealine_arq_read(&p.a[1], got, sizeof(got), t + 15), 500);
	CHECK_MEM(got, want, 500);
	pair_flush(&p, 1, t + 15 + SEALINE_ARQ_ACK_DELAY_MS);
	CHECK_EQ(sealine_arq_chars_in_buffer(&p.a[0]), 0);
	pair_free(&p);
}

/* Reference RFC 6298 estimator in floating point. */
struct rto_model {
	bool have;
	double srtt, rttvar, rto;
};

static void rto_model_sample(struct rto_model *m, double r)
{
	if (!m->have) {
		m->srtt = r;
		m->rttvar = r / 2;
		m->have = true;
	} else {
		m->rttvar = 0.75 * m->rttvar + 0.25 * fabs(m->srtt - r);
		m->srtt = 0.875 * m->srtt + 0.125 * r;
	}
	m->rto = m->srtt + (4 * m->rttvar > 1 ? 4 * m->rttvar : 1);
	if (m->rto < SEALINE_ARQ_RTO_MIN_MS)
		m->rto = SEALINE_ARQ_RTO_MIN_MS;
	if (m->rto > SEALINE_ARQ_RTO_CEILING_MS)
		m->rto = SEALINE_ARQ_RTO_CEILING_MS;
}

TEST(rto_follows_rfc6298)
{
	static const u32 rtts[] = { 100, 120, 80, 300, 50, 50, 50, 50, 900,
				    40, 40, 40, 40, 40, 40, 40, 40, 2000 };
	struct sealine_arq_config cfg;
	struct sealine_arq_info info;
	struct rto_model m = { 0 };
	uint8_t pt[SEALINE_MAX_PAYLOAD];
	struct pair p;
	u32 t = 0;
	size_t i;
	int n, e;

	pair_init(&p, 0, 0);
	for (e = 0; e < 2; e++) {
		cfg = p.a[e].cfg;
		cfg.ack_delay_ms = 0;
		CHECK_EQ(sealine_arq_set_config(&p.a[e], &cfg), 0);
	}
	sealine_arq_get_info(&p.a[0], &info);
	CHECK_EQ(info.rto_ms, SEALINE_ARQ_RTO_INITIAL_MS);
	for (i = 0; i < sizeof(rtts) / sizeof(rtts[0]); i++) {
		write_str(&p.a[0], "0123456789");
		n = pair_build(&p, 0, t, pt);
		pair_deliver(&p, 0, pt, n, t + rtts[i] / 2);
		n = pair_build(&p, 1, t + rtts[i] / 2, pt);
		CHECK(n > 0);
		pair_deliver(&p, 1, pt, n, t + rtts[i]);
		rto_model_sample(&m, rtts[i]);
		sealine_arq_get_info(&p.a[0], &info);
		CHECKF(fabs(info.srtt_ms - m.srtt) <= 2 &&
		       fabs(info.rttvar_ms - m.rttvar) <= 2 &&
		       fabs(info.rto_ms - m.rto) <= 3,
		       "sample %zu (%u ms): srtt %u rttvar %u rto %u, model "
		       "%.1f %.1f %.1f", i, rtts[i], info.srtt_ms,
		       info.rttvar_ms, info.rto_ms, m.srtt, m.rttvar, m.rto);
		CHECK_EQ(info.in_flight, 0);
		t += rtts[i] + 1000;
		sealine_arq_read(&p.a[1], pt, sizeof(pt), t);
	}
	pair_free(&p);
}

TEST(rto_backoff_and_karn)
{
	struct pair p;
	uint8_t pt[SEALINE_MAX_PAYLOAD], resend[SEALINE_MAX_PAYLOAD];
	struct sealine_arq_info info;
	u32 t = 0, expect[] = { 1000, 2000, 4000, 8000, 16000 };
	int n, i, rn = 0;

	pair_init(&p, 0, 0);
	pair_dead_ms(&p, 600000);
	write_str(&p.a[0], "lost");
	n = pair_build(&p, 0, 0, pt);
	CHECK(n > 0);
	/* Nothing arrives: the RTO doubles each time; with no round trip
	 * measured yet, RTO_MAX does not stop it.
	 */
	for (i = 0; i < 5; i++) {
		u32 wait = sealine_arq_timeout(&p.a[0], t);

		/* Backed-off probes come up to an eighth early. */
		CHECKF(wait <= expect[i] && wait >= expect[i] - expect[i] / 8,
		       "timeout %d: %u, want %u", i, wait, expect[i]);
		sealine_arq_tick(&p.a[0], t + wait - 1);
		CHECK_EQ(p.a[0].stats.timeouts, (u64)i);
		t += wait;
		sealine_arq_tick(&p.a[0], t);
		CHECK_EQ(p.a[0].stats.timeouts, (u64)i + 1);
		/* One frame probes the line, no more. */
		rn = pair_build(&p, 0, t, resend);
		CHECK(rn > 0);
		CHECK(!sealine_arq_tx_pending(&p.a[0], t));
	}
	CHECK_EQ(p.a[0].stats.retransmits, 5);
	sealine_arq_get_info(&p.a[0], &info);
	CHECK_EQ(info.backoff, 5);
	/* The line is back: the last resend arrives and is acknowledged.
	 * Karn: no sample from a frame sent six times, and the back-off
	 * stays.
	 */
	pair_deliver(&p, 0, resend, rn, t + 50);
	n = pair_build(&p, 1, t + 50, pt);
	pair_deliver(&p, 1, pt, n, t + 100);
	sealine_arq_get_info(&p.a[0], &info);
	CHECK_EQ(info.in_flight, 0);
	CHECK_EQ(info.srtt_ms, 0);
	CHECK_EQ(info.backoff, 5);
	CHECK_EQ(info.rto_ms, 32000);
	CHECK(read_is(&p.a[1], "lost"));
	/* A frame sent once gives a sample; the back-off ends. */
	t += 1000;
	write_str(&p.a[0], "ok");
	n = pair_build(&p, 0, t, pt);
	pair_deliver(&p, 0, pt, n, t + 40);
	/* The ACK leaves and arrives at t + 50. */
	pair_flush(&p, 1, t + 40 + SEALINE_ARQ_ACK_DELAY_MS);
	sealine_arq_get_info(&p.a[0], &info);
	CHECK_EQ(info.backoff, 0);
	CHECK_EQ(info.srtt_ms, 50);
	CHECK_EQ(info.rto_ms, SEALINE_ARQ_RTO_MIN_MS);
	pair_free(&p);
}

/* With a round trip measured, the back-off stops at RTO_MAX, or at the
 * RTO itself on a line slower than that; after five timeouts in a row the
 * estimate is dropped and the doubling goes on (RFC 6298, section 5).
 */
TEST(rto_backoff_cap)
{
	static const u32 fast[] = { 600, 1200, 2400, 3000, 6000, 12000,
				    24000 };
	static const u32 slow[] = { 15000, 15000, 15000, 15000, 30000, 60000,
				    60000, 60000 };
	const u32 *want;
	struct pair p;
	uint8_t pt[SEALINE_MAX_PAYLOAD];
	int i, n, k, count;
	u32 t, rtt;

	for (k = 0; k < 2; k++) {
		want = k ? slow : fast;
		count = k ? 8 : 7;
		rtt = k ? 5000 : 100;
		pair_init(&p, 0, 0);
		pair_dead_ms(&p, 600000);
		write_str(&p.a[0], "a");
		n = pair_build(&p, 0, 0, pt);
		pair_deliver(&p, 0, pt, n, rtt / 2);
		n = pair_build(&p, 1, rtt / 2, pt);
		pair_deliver(&p, 1, pt, n, rtt);
		t = rtt + 1000;
		write_str(&p.a[0], "b");
		pair_build(&p, 0, t, pt);
		/* The first wait is the RTO itself. */
		t += sealine_arq_timeout(&p.a[0], t);
		sealine_arq_tick(&p.a[0], t);
		pair_build(&p, 0, t, pt);
		for (i = 0; i < count; i++) {
			u32 wait = sealine_arq_timeout(&p.a[0], t);

			CHECKF(wait <= want[i] && wait >= want[i] - want[i] / 8,
			       "rtt %u, timeout %d: %u, want %u", rtt, i, wait,
			       want[i]);
			t += wait;
			sealine_arq_tick(&p.a[0], t);
			pair_build(&p, 0, t, pt);
		}
		pair_free(&p);
	}
}

/* ---- Nonces ------------------------------------------------------------------- */

TEST(nonce_tripwire)
{
	struct pair p;
	uint8_t pt[SEALINE_MAX_PAYLOAD];
	struct sealine_arq before;

	pair_init(&p, 0, 0);
	write_str(&p.a[0], "abcdef");
	CHECK(sealine_arq_tx_build(&p.a[0], 0, 7, 5, pt, sizeof(pt)) > 0);
	write_str(&p.a[0], "g");
	before = p.a[0];
	/* The same counter, or an older one, under the same key: refused,
	 * and nothing changes.
	 */
	CHECK_EQ(sealine_arq_tx_build(&p.a[0], 0, 7, 5, pt, sizeof(pt)),
		 -EINVAL);
	CHECK_EQ(sealine_arq_tx_build(&p.a[0], 0, 7, 4, pt, sizeof(pt)),
		 -EINVAL);
	CHECK(!memcmp(&before, &p.a[0], sizeof(before)));
	CHECK(sealine_arq_tx_build(&p.a[0], 0, 7, 6, pt, sizeof(pt)) > 0);
	/* A new key starts its counters at 0. */
	write_str(&p.a[0], "h");
	CHECK(sealine_arq_tx_build(&p.a[0], 0, 8, 0, pt, sizeof(pt)) > 0);
	/* Too little room is refused before anything is decided. */
	write_str(&p.a[0], "i");
	CHECK_EQ(sealine_arq_tx_build(&p.a[0], 0, 8, 1, pt, 100), -EINVAL);
	pair_free(&p);
}

/* The simulated sealer's own check fires when a nonce repeats. */
TEST(sim_sealer_catches_nonce_reuse)
{
	struct arq_sim s;
	struct arq_sim_key *k;

	arq_sim_init(&s, 1, RING, RING);
	k = &s.end[0].keys[s.end[0].cur];
	arq_sim_seal_check(&s, k, 3);
	arq_sim_seal_check(&s, k, 4);
	CHECK_EQ(s.nonce_reuse, 0);
	arq_sim_seal_check(&s, k, 4);
	CHECK_EQ(s.nonce_reuse, 1);
	CHECK(s.fail[0]);
	arq_sim_free(&s);
}

/* A resend is a new plaintext: it acknowledges what arrived meanwhile. */
TEST(resend_carries_fresh_ack)
{
	struct pair p;
	uint8_t pt[SEALINE_MAX_PAYLOAD], first[SEALINE_MAX_PAYLOAD];
	struct sealine_arq_hdr h;
	int n, fn;

	pair_init(&p, 100, 200);
	/* Both streams open. */
	write_str(&p.a[0], "a");
	write_str(&p.a[1], "b");
	pair_flush(&p, 0, 0);
	pair_flush(&p, 1, 0);
	pair_flush(&p, 0, 0);
	pair_flush(&p, 1, 0);
	sealine_arq_read(&p.a[0], pt, sizeof(pt), 0);
	sealine_arq_read(&p.a[1], pt, sizeof(pt), 0);
	write_str(&p.a[0], "data");
	fn = pair_build(&p, 0, 100, first);
	/* The peer sends meanwhile; then the RTO resends "data". */
	write_str(&p.a[1], "more");
	n = pair_build(&p, 1, 150, pt);
	pair_deliver(&p, 1, pt, n, 160);
	sealine_arq_tick(&p.a[0], 100 + SEALINE_ARQ_RTO_INITIAL_MS);
	n = pair_build(&p, 0, 100 + SEALINE_ARQ_RTO_INITIAL_MS, pt);
	CHECK(!sealine_arq_hdr_parse(pt, (size_t)n, &h));
	CHECK(h.flags & SEALINE_ARQ_F_ACK);
	CHECK_EQ(h.ack, 205);
	CHECK(n != fn || memcmp(pt, first, (size_t)n));
	CHECK_EQ(h.payload_len, 4);
	CHECK(!memcmp(h.payload, "data", 4));
	pair_free(&p);
}

/* ---- Stream resets ------------------------------------------------------------ */

TEST(peer_reset_rst_and_new_stream)
{
	struct pair p;
	uint8_t pt[SEALINE_MAX_PAYLOAD], old_syn[SEALINE_MAX_PAYLOAD];
	struct sealine_arq_info info;
	struct sealine_arq_hdr h;
	int n, old_n;
	u32 ev;

	pair_init(&p, 1000, 5000);
	write_str(&p.a[0], "one");
	old_n = pair_build(&p, 0, 0, old_syn);
	pair_deliver(&p, 0, old_syn, old_n, 1);
	write_str(&p.a[1], "uno");
	pair_flush(&p, 1, 1);
	pair_flush(&p, 0, 1);
	pair_flush(&p, 1, 1);
	CHECK(read_is(&p.a[1], "one"));
	CHECK(read_is(&p.a[0], "uno"));
	sealine_arq_take_events(&p.a[0]);
	sealine_arq_take_events(&p.a[1]);

	/* End 1 loses everything (its keys were cleared, a new session). */
	sealine_arq_reset(&p.a[1], 9000, 10);
	write_str(&p.a[0], "two");
	n = pair_build(&p, 0, 20, pt);
	pair_deliver(&p, 0, pt, n, 21);
	CHECK_EQ(sealine_arq_rx_avail(&p.a[1]), 0);
	n = pair_build(&p, 1, 21, pt);
	CHECK(!sealine_arq_hdr_parse(pt, (size_t)n, &h));
	CHECK_EQ(h.flags, SEALINE_ARQ_F_RST);
	/* An RST in a frame that is not the newest changes nothing. */
	CHECK_EQ(sealine_arq_rx(&p.a[0], pt, (size_t)n, false, 22), 0);
	CHECK_EQ(p.a[0].stats.stale_drops, 1);
	CHECK_EQ(sealine_arq_chars_in_buffer(&p.a[0]), 3);
	pair_deliver(&p, 1, pt, n, 22);
	ev = sealine_arq_take_events(&p.a[0]);
	CHECK(ev & SEALINE_ARQ_EV_TX_RESET);
	CHECK_EQ(sealine_arq_chars_in_buffer(&p.a[0]), 0);
	sealine_arq_get_info(&p.a[0], &info);
	CHECK(!info.opened);

	/* End 0's new stream opens on the fresh end 1. */
	write_str(&p.a[0], "three");
	pair_flush(&p, 0, 30);
	pair_flush(&p, 1, 30);
	CHECK(read_is(&p.a[1], "three"));
	sealine_arq_get_info(&p.a[0], &info);
	CHECK(info.opened);
	CHECK(!(sealine_arq_take_events(&p.a[1]) & SEALINE_ARQ_EV_RX_RESET));

	/* End 1's new stream replaces its old one at end 0. */
	write_str(&p.a[1], "tres");
	pair_flush(&p, 1, 40);
	CHECK(sealine_arq_take_events(&p.a[0]) & SEALINE_ARQ_EV_RX_RESET);
	CHECK(read_is(&p.a[0], "tres"));
	pair_flush(&p, 0, 40);

	/* An old opening frame held back and replayed as not the newest
	 * does not bring the old stream back.
	 */
	CHECK_EQ(sealine_arq_rx(&p.a[1], old_syn, (size_t)old_n, false, 50), 0);
	CHECK_EQ(sealine_arq_rx_avail(&p.a[1]), 0);
	CHECK(!(sealine_arq_take_events(&p.a[1]) & SEALINE_ARQ_EV_RX_RESET));
	write_str(&p.a[0], "four");
	pair_flush(&p, 0, 60);
	CHECK(read_is(&p.a[1], "four"));
	pair_free(&p);
}

/* A flushed tty drops what was not sent; what is in flight stays. */
TEST(flush_unsent)
{
	struct pair p;
	uint8_t pt[SEALINE_MAX_PAYLOAD];
	struct sealine_arq_config cfg;
	int n;

	pair_init(&p, 0, 0);
	cfg = p.a[0].cfg;
	cfg.max_frame = 4;
	cfg.min_frame = 1;
	CHECK_EQ(sealine_arq_set_config(&p.a[0], &cfg), 0);

	write_str(&p.a[0], "sentunsent");
	n = pair_build(&p, 0, 0, pt);
	CHECK_EQ(sealine_arq_chars_in_buffer(&p.a[0]), 10);
	sealine_arq_flush_unsent(&p.a[0]);
	CHECK_EQ(sealine_arq_chars_in_buffer(&p.a[0]), 4);
	pair_deliver(&p, 0, pt, n, 1);
	pair_flush(&p, 1, 1);
	CHECK(read_is(&p.a[1], "sent"));
	CHECK_EQ(sealine_arq_chars_in_buffer(&p.a[0]), 0);
	pair_free(&p);
}

/* ---- The simulated line ------------------------------------------------------ */

static void sim_report(struct arq_sim *s, const char *what, uint64_t seed)
{
	int e;

	CHECKF(!s->fail[0], "%s seed %llu: %s", what,
	       (unsigned long long)seed, s->fail);
	for (e = 0; e < 2; e++)
		CHECKF(!s->chan[e].overflow, "%s seed %llu: channel overflow",
		       what, (unsigned long long)seed);
}

/* A line at rate bytes a second on which end 0 writes bytes in bulk. */
static void sim_bulk(struct arq_sim *s, uint64_t seed, u32 rate,
		     uint64_t bytes)
{
	arq_sim_init(s, seed, RING, RING);
	s->rate = rate;
	s->end[0].writer = ARQ_SIM_W_BULK;
	s->end[0].to_write = bytes;
}

/* Flow control: a reader that stops fills the receive ring, then the
 * send ring; writers see no room; the line is not declared dead however
 * long it lasts; everything arrives once the reader is back.
 */
TEST(flow_control_stopped_reader)
{
	struct arq_sim s;
	struct sealine_arq_info info;
	u32 t;

	sim_bulk(&s, 42, 11520, 100000);
	s.end[1].reader = ARQ_SIM_R_STOPPED;
	arq_sim_run(&s, 20000, true);
	CHECK_EQ(sealine_arq_rx_avail(&s.end[1].arq), RING);
	CHECK_EQ(sealine_arq_write_room(&s.end[0].arq), 0);
	CHECK_EQ(s.end[0].written, 2 * RING);
	sealine_arq_get_info(&s.end[0].arq, &info);
	CHECK_EQ(info.peer_window, 0);
	/* Three dead times with a full peer: probed, never dead. */
	for (t = 20000; t < 20000 + 3 * SEALINE_ARQ_DEAD_MS; t += 10000) {
		arq_sim_run(&s, t, true);
		CHECK_EQ(sealine_arq_rx_avail(&s.end[1].arq), RING);
		CHECK(s.end[0].frames_tx < 500);
	}
	CHECK_EQ(s.end[0].dead_events, 0);
	s.end[1].reader = ARQ_SIM_R_FAST;
	arq_sim_run(&s, s.now + 60000, true);
	CHECK_EQ(s.end[1].readn, 100000);
	CHECK(arq_sim_drain(&s, 60000));
	sim_report(&s, "flow control", 42);
	arq_sim_free(&s);
}

/* A cut line: DEAD once, dead_ms after the last acknowledgement; memory
 * does not grow; when the line comes back, ALIVE and every byte arrives.
 */
TEST(dead_line_cut)
{
	struct arq_sim s;
	const u32 cut = 10000;

	sim_bulk(&s, 7, 11520, 1000000);
	s.end[1].writer = ARQ_SIM_W_KEYS;
	s.imp[0].cut_at = cut;
	s.imp[1].cut_at = cut;
	arq_sim_run(&s, cut + SEALINE_ARQ_DEAD_MS - 1000, true);
	CHECK_EQ(s.end[0].dead_events, 0);
	arq_sim_run(&s, cut + 2 * SEALINE_ARQ_DEAD_MS, true);
	CHECK_EQ(s.end[0].dead_events, 1);
	CHECK_EQ(s.end[1].dead_events, 1);
	CHECKF(s.end[0].first_dead_at >= cut + SEALINE_ARQ_DEAD_MS - 500 &&
	       s.end[0].first_dead_at <= cut + SEALINE_ARQ_DEAD_MS + 1000,
	       "dead at %u, cut at %u", s.end[0].first_dead_at, cut);
	CHECK(sealine_arq_chars_in_buffer(&s.end[0].arq) <= RING);
	CHECK_EQ(sealine_arq_write_room(&s.end[0].arq), 0);
	/* Probes with back-off, not a flood. */
	CHECK(s.end[0].arq.stats.retransmits <
	      20 + 2 * SEALINE_ARQ_DEAD_MS / SEALINE_ARQ_RTO_MAX_MS);
	s.imp[0].cut_at = 0;
	s.imp[1].cut_at = 0;
	arq_sim_run(&s, s.now + 70000, true);
	CHECK_EQ(s.end[0].alive_events, 1);
	CHECK(arq_sim_drain(&s, 600000));
	sim_report(&s, "dead line cut", 7);
	arq_sim_free(&s);
}

/* Slow is not dead: 300 baud, a long delay, someone typing (three keys a
 * second) while a file goes the other way.
 */
TEST(dead_line_slow)
{
	struct sealine_arq_config cfg;
	struct arq_sim s;

	sim_bulk(&s, 8, 30, 6000);
	s.delay = 600;
	cfg = s.end[0].arq.cfg;
	cfg.line_rate = 30;
	arq_sim_config(&s, &cfg);
	s.end[1].writer = ARQ_SIM_W_KEYS;
	s.end[1].key_gap_min = 150;
	s.end[1].key_gap_span = 400;
	s.end[1].key_len_max = 1;
	arq_sim_run(&s, 400000, true);
	CHECK(arq_sim_drain(&s, 600000));
	CHECK_EQ(s.end[0].dead_events, 0);
	CHECK_EQ(s.end[1].dead_events, 0);
	CHECK(s.end[1].readn == 6000);
	sim_report(&s, "slow line", 8);
	arq_sim_free(&s);

	/* A fast line with a 2 s delay each way. */
	sim_bulk(&s, 9, 11520, 200000);
	s.delay = 2000;
	s.end[1].writer = ARQ_SIM_W_KEYS;
	arq_sim_run(&s, 120000, true);
	CHECK(arq_sim_drain(&s, 600000));
	CHECK_EQ(s.end[0].dead_events, 0);
	CHECK_EQ(s.end[1].dead_events, 0);
	sim_report(&s, "long delay", 9);
	arq_sim_free(&s);
}

/* The frame size follows the error rate down and back up. */
TEST(adaptive_frame_size)
{
	struct sealine_arq_info info;
	struct arq_sim s;
	uint64_t before;

	sim_bulk(&s, 11, 11520, 100000000);
	s.imp[0].ber = 1e-3;
	arq_sim_run(&s, 120000, true);
	sealine_arq_get_info(&s.end[0].arq, &info);
	CHECKF(info.frame_size >= 64 && info.frame_size <= 400,
	       "frame size %u at 1e-3 per byte", info.frame_size);
	/* Goodput even so: at least half the line. */
	before = s.end[1].readn;
	arq_sim_run(&s, 180000, true);
	CHECKF(s.end[1].readn - before >= 60 * 11520 / 2,
	       "%llu bytes in 60 s at 1e-3",
	       (unsigned long long)(s.end[1].readn - before));
	s.imp[0].ber = 0;
	arq_sim_run(&s, 480000, true);
	sealine_arq_get_info(&s.end[0].arq, &info);
	CHECKF(info.frame_size == SEALINE_ARQ_MAX_DATA,
	       "frame size %u after 300 s clean", info.frame_size);
	s.imp[0].ber = 1e-5;
	arq_sim_run(&s, 780000, true);
	sealine_arq_get_info(&s.end[0].arq, &info);
	CHECKF(info.frame_size >= 1000, "frame size %u at 1e-5 per byte",
	       info.frame_size);
	CHECK(arq_sim_drain(&s, 0) || true);
	sim_report(&s, "adaptive", 11);
	arq_sim_free(&s);
}

/* Goodput in the simulator, unidirectional bulk at 115200 baud 8N1:
 * bytes read per second over the line's byte rate.
 */
static double sim_goodput(uint64_t seed, double ber, double loss, bool both,
			  bool byte_mode, unsigned int *frame_size)
{
	const u32 warm = 20000, span = 120000;
	struct sealine_arq_config cfg;
	struct arq_sim s;
	uint64_t before;
	double g;
	int e;

	arq_sim_init(&s, seed, SEALINE_ARQ_TX_RING, SEALINE_ARQ_RX_RING);
	s.rate = 11520;
	s.delay = 2;
	s.byte_mode = byte_mode;
	s.check_each_step = false;
	cfg = s.end[0].arq.cfg;
	cfg.line_rate = s.rate;
	arq_sim_config(&s, &cfg);
	for (e = 0; e < (both ? 2 : 1); e++) {
		s.end[e].writer = ARQ_SIM_W_FULL;
		s.end[e].to_write = 100000000;
		s.imp[e].ber = ber;
		s.imp[e].loss = loss;
		s.imp[1 - e].ber = ber;
		s.imp[1 - e].loss = loss;
	}
	arq_sim_run(&s, warm, true);
	before = s.end[1].readn;
	arq_sim_run(&s, warm + span, true);
	g = (double)(s.end[1].readn - before) / (span / 1000.0 * s.rate);
	if (s.fail[0])
		g = -1;
	if (frame_size)
		*frame_size = s.end[0].arq.mss;
	arq_sim_free(&s);
	return g;
}

TEST(sim_goodput_bounds)
{
	double clean = sim_goodput(1, 0, 0, false, false, NULL);
	double e5 = sim_goodput(2, 1e-5, 0, false, false, NULL);
	double e4 = sim_goodput(3, 1e-4, 0, false, false, NULL);
	double both = sim_goodput(4, 0, 0, true, false, NULL);

	printf("  simulated goodput / line rate: clean %.3f, 1e-5 %.3f, "
	       "1e-4 %.3f, both ways clean %.3f\n", clean, e5, e4, both);
	CHECK(clean >= 0.97);
	CHECK(e5 >= 0.90 * clean);
	CHECK(e4 >= 0.60 * clean);
	CHECK(both >= 0.90);
}

/* The table in Documentation/protocol.rst. */
static void print_figure(void)
{
	static const double bers[] = { 0, 1e-6, 1e-5, 1e-4, 3e-4, 1e-3 };
	unsigned int size;
	size_t i;

	printf("\n  SIMULATED (tests/unit/arq_sim.h), not measured on a line:\n"
	       "  115200 baud 8N1, 2 ms delay, bulk one way, 120 s each\n\n");
	printf("  byte error  reliable goodput / line rate   frame   datagram:\n");
	printf("  rate        frames       wire (COBS)       size    bytes kept\n");
	for (i = 0; i < sizeof(bers) / sizeof(bers[0]); i++) {
		double g = sim_goodput(100 + i, bers[i], 0, false, false, &size);
		double gb = sim_goodput(200 + i, bers[i], 0, false, true, NULL);
		/* Datagram mode: 2048-byte frames, about 2075 bytes on the
		 * wire; a frame hit anywhere is a hole of 2048 bytes.
		 */
		double d = pow(1 - bers[i], 2075);

		printf("  %-10.0e  %-11.3f  %-16.3f  %-6u  %.3f\n", bers[i], g,
		       gb, size, d);
	}
}

/* ---- Soak: many runs on random lossy lines -------------------------------------- */

static uint64_t soak_frames_total;

struct soak_totals {
	uint64_t runs, frames, bytes, retransmits, resyncs_like;
	uint64_t nokey, auth_failures, replays, stale_prev, rekeys;
};

static const char *const patterns[] = {
	"clean", "loss", "duplication", "corruption", "bit errors",
	"reordering", "bursts", "outages", "everything",
};

#define NPATTERNS (sizeof(patterns) / sizeof(patterns[0]))

static void soak_impair(struct arq_sim *s, int dir, unsigned int pattern,
			bool byte_mode)
{
	struct arq_sim_impair *imp = &s->imp[dir];
	uint64_t *r = &s->rng;

	memset(imp, 0, sizeof(*imp));
	if (pattern == 1 || pattern == 8)
		imp->loss = 0.005 + 0.2 * arq_sim_unit(r);
	if (pattern == 2 || pattern == 8)
		imp->dup = 0.02 + 0.2 * arq_sim_unit(r);
	if (pattern == 3 || pattern == 8)
		imp->corrupt = 0.01 + 0.2 * arq_sim_unit(r);
	if (pattern == 4 || pattern == 8)
		imp->ber = pow(10, -5 + 2 * arq_sim_unit(r));
	if ((pattern == 5 || pattern == 8) && !byte_mode) {
		imp->reorder = 0.02 + 0.1 * arq_sim_unit(r);
		imp->jitter_ms = 5 + arq_sim_below(r, 60);
	}
	if (pattern == 6 || pattern == 8) {
		imp->burst_enter = 0.002 + 0.02 * arq_sim_unit(r);
		imp->burst_leave = 0.05 + 0.3 * arq_sim_unit(r);
		imp->burst_loss = 0.5 + 0.5 * arq_sim_unit(r);
	}
	if (pattern == 7 || pattern == 8) {
		imp->outage_len = arq_sim_chance(r, 0.5) ? 500 : 5000;
		imp->outage_every = imp->outage_len * 2 +
				    arq_sim_below(r, 20000);
	}
	if (byte_mode && (pattern == 4 || pattern == 8)) {
		imp->byte_drop = pow(10, -5 + arq_sim_unit(r));
		imp->byte_insert = pow(10, -5 + arq_sim_unit(r));
	}
}

static void soak_run(uint64_t seed, bool byte_mode, struct soak_totals *tot)
{
	static const u32 rings[] = { 2048, 4096, 8192, 32768 };
	static const u32 rates[] = { 11520, 100000, 1000000 };
	struct sealine_arq_config cfg;
	unsigned int pattern = (unsigned int)(seed % NPATTERNS);
	struct arq_sim s;
	uint64_t r = seed * 0x9e3779b97f4a7c15ULL + 1;
	char what[96];
	u32 duration;
	int e;

	arq_sim_init(&s, seed, rings[arq_sim_below(&r, 4)],
		     rings[arq_sim_below(&r, 4)]);
	s.byte_mode = byte_mode;
	s.rate = rates[arq_sim_below(&r, 3)];
	s.delay = arq_sim_below(&r, 30);
	s.rekey_every = 500 + arq_sim_below(&r, 5000);
	s.late_stage = 0.2;
	s.next_rekey = s.rekey_every;
	cfg = s.end[0].arq.cfg;
	cfg.max_frame = (u16)(arq_sim_chance(&r, 0.2) ? SEALINE_ARQ_MAX_DATA :
			      16 + arq_sim_below(&r, 400));
	cfg.min_frame = (u16)(1 + arq_sim_below(&r, cfg.max_frame));
	cfg.ack_delay_ms = (u16)arq_sim_below(&r, 30);
	cfg.line_rate = arq_sim_chance(&r, 0.5) ? s.rate : 0;
	/* Long enough that no outage here makes a line dead. */
	cfg.dead_ms = 60000;
	arq_sim_config(&s, &cfg);
	for (e = 0; e < 2; e++) {
		soak_impair(&s, e, pattern, byte_mode);
		s.end[e].writer = arq_sim_chance(&r, 0.7) ? ARQ_SIM_W_BULK :
							    ARQ_SIM_W_KEYS;
		s.end[e].to_write = 1000 + arq_sim_below(&r, 400000);
		s.end[e].reader = arq_sim_chance(&r, 0.7) ? ARQ_SIM_R_FAST :
							    ARQ_SIM_R_SLOW;
	}
	duration = 5000 + arq_sim_below(&r, 20000);
	arq_sim_run(&s, duration, true);
	snprintf(what, sizeof(what), "%s, %s, rate %u", patterns[pattern],
		 byte_mode ? "bytes" : "frames", s.rate);
	CHECKF(arq_sim_drain(&s, 900000), "%s seed %llu: not drained: "
	       "%llu/%llu and %llu/%llu bytes", what,
	       (unsigned long long)seed,
	       (unsigned long long)s.end[1].readn,
	       (unsigned long long)s.end[0].written,
	       (unsigned long long)s.end[0].readn,
	       (unsigned long long)s.end[1].written);
	sim_report(&s, what, seed);
	CHECKF(!s.nonce_reuse, "%s seed %llu: nonce reuse", what,
	       (unsigned long long)seed);
	for (e = 0; e < 2; e++) {
		CHECKF(!s.end[e].dead_events, "%s seed %llu: dead", what,
		       (unsigned long long)seed);
		CHECKF(!s.end[e].tx_resets && !s.end[e].rx_resets,
		       "%s seed %llu: stream reset", what,
		       (unsigned long long)seed);
		tot->bytes += s.end[e].written;
		tot->retransmits += s.end[e].arq.stats.retransmits;
		tot->nokey += s.end[e].nokey;
		tot->auth_failures += s.end[e].auth_failures +
				      s.end[e].malformed;
		tot->replays += s.end[e].replays;
		tot->stale_prev += s.end[e].stale_prev;
	}
	tot->rekeys += s.next_serial / 2 - 1;
	tot->frames += s.frames;
	tot->runs++;
	arq_sim_free(&s);
}

static unsigned int soak_factor(void)
{
	const char *v = getenv("SEALINE_ARQ_SOAK");
	unsigned long n = v ? strtoul(v, NULL, 0) : 1;

	return n ? (unsigned int)n : 1;
}

static void soak(bool byte_mode, unsigned int runs)
{
	const char *one = getenv("SEALINE_ARQ_RUN");
	struct soak_totals tot = { 0 };
	uint64_t i;

	/* SEALINE_ARQ_RUN=<seed> repeats the one run a failure named. */
	if (one) {
		soak_run(strtoull(one, NULL, 0), byte_mode, &tot);
		runs = 0;
	}
	for (i = 0; i < runs && !check_failing(); i++)
		soak_run(check_seed + i * 7919 + (byte_mode ? 1000003 : 0),
			 byte_mode, &tot);
	printf("  %llu runs (seeds from %llu), %llu frames, %llu bytes "
	       "written, %llu resends, %llu rekeys; dropped before the ARQ: "
	       "%llu damaged, %llu replayed, %llu no key, %llu stale prev\n",
	       (unsigned long long)tot.runs, (unsigned long long)check_seed,
	       (unsigned long long)tot.frames, (unsigned long long)tot.bytes,
	       (unsigned long long)tot.retransmits,
	       (unsigned long long)tot.rekeys,
	       (unsigned long long)tot.auth_failures,
	       (unsigned long long)tot.replays,
	       (unsigned long long)tot.nokey,
	       (unsigned long long)tot.stale_prev);
	soak_frames_total += tot.frames;
}

TEST(soak_frames)
{
	soak(false, 360 * soak_factor());
}

TEST(soak_wire_bytes)
{
	soak(true, 180 * soak_factor());
}

int main(int argc, char **argv)
{
	check_init(argc, argv);
	RUN(hdr_documented_examples);
	RUN(hdr_parse_vs_model);
	RUN(hdr_roundtrip_random);
	RUN(init_refuses_bad_rings);
	RUN(memory_per_line);
	RUN(open_and_echo);
	RUN(ack_without_echo_does_not_open);
	RUN(keystroke_leaves_at_once);
	RUN(ack_timing);
	RUN(fast_resend_on_sack_gap);
	RUN(rto_follows_rfc6298);
	RUN(rto_backoff_and_karn);
	RUN(rto_backoff_cap);
	RUN(nonce_tripwire);
	RUN(sim_sealer_catches_nonce_reuse);
	RUN(resend_carries_fresh_ack);
	RUN(peer_reset_rst_and_new_stream);
	RUN(flush_unsent);
	RUN(flow_control_stopped_reader);
	RUN(dead_line_cut);
	RUN(dead_line_slow);
	RUN(adaptive_frame_size);
	RUN(sim_goodput_bounds);
	RUN(soak_frames);
	RUN(soak_wire_bytes);
	printf("%s: %llu frames simulated in the soak runs\n", check_prog,
	       (unsigned long long)soak_frames_total);
	if (getenv("SEALINE_ARQ_FIGURE"))
		print_figure();
	return check_summary();
}
