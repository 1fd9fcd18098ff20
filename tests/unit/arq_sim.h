/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A simulated line for the ARQ core (kmod/arq.c): two ends, each with the
 * key slots, counters and replay window the line discipline has (the real
 * kmod/replay.c), a toy AEAD, and a channel per direction with a line rate,
 * a delay and impairments: loss, duplication, corruption, reordering, bursts,
 * outages and a cut; or, in byte mode, the real COBS framing and decoder
 * (kmod/frame.c) with bit flips, dropped and inserted bytes on the wire.
 *
 * What it checks, as it goes (the first failure ends up in sim->fail):
 * - every byte read on one end is the next byte written on the other
 *   (content is a function of the offset: a lost, repeated or misplaced
 *   byte is found at once), and at the end every byte written was read;
 * - the ARQ state stays within its bounds after every step
 *   (arq_sim_check());
 * - the sealer never seals under a (key, counter) it has used before, so no
 *   nonce covers two plaintexts;
 * - every authenticated reliable frame parses (sealine_arq_rx() never says
 *   -EBADMSG to its own peer).
 *
 * Shared by tests/unit/test_arq.c and tests/fuzz/fuzz_arq.c. Time is
 * simulated (milliseconds); nothing here reads a clock. Built with
 * -DARQ_SIM_TRACE it writes every frame, drop and event to stderr.
 *
 * Why one file of about 1,100 lines: it is one simulator, the two ends
 * and the channel between them, shared as a header by the unit test and
 * the fuzzer; every part of it (sealing, the channel's impairments, the
 * checks) reads and writes the same struct arq_sim.
 */
#ifndef SEALINE_ARQ_SIM_H
#define SEALINE_ARQ_SIM_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arq.h"
#include "frame.h"
#include "replay.h"

/* ---- Invariants of one struct sealine_arq ---------------------------- */

static inline bool arq_sim_before(u32 a, u32 b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool arq_sim_after(u32 a, u32 b)
{
	return (int32_t)(a - b) > 0;
}

/* NULL if the state is consistent, else what is wrong. */
static inline const char *arq_sim_check(const struct sealine_arq *a)
{
	u32 off = a->una;
	unsigned int i;

	if (arq_sim_after(a->una, a->nxt) || arq_sim_after(a->nxt, a->end))
		return "send offsets out of order (una <= nxt <= end)";
	if (a->end - a->una > a->tx_size)
		return "send ring holds more than its size";
	if (a->nsegs > SEALINE_ARQ_MAX_SEGS)
		return "too many frames in flight";
	for (i = 0; i < a->nsegs; i++) {
		const struct sealine_arq_seg *s = &a->segs[i];

		if (s->off != off)
			return "frames in flight do not tile [una, nxt)";
		if (!s->len || s->len > SEALINE_ARQ_MAX_DATA)
			return "frame in flight with a bad length";
		if (!s->tx_count)
			return "frame in flight never sent";
		off += s->len;
	}
	if (off != a->nxt)
		return "frames in flight do not end at nxt";
	if (!a->nsegs && a->rto_armed)
		return "retransmission timer armed with nothing in flight";
	if (!a->nsegs && a->waiting)
		return "dead-line timer running with nothing in flight";
	if (a->mss < 1 || a->mss > SEALINE_ARQ_MAX_DATA ||
	    a->mss > a->cfg.max_frame)
		return "frame size out of bounds";
	if (a->rto < 1 || a->rto > SEALINE_ARQ_RTO_CEILING_MS)
		return "RTO out of bounds";
	if (arq_sim_after(a->deliv, a->rcv_nxt))
		return "receive offsets out of order (deliv <= rcv_nxt)";
	if (a->rcv_nxt - a->deliv > a->rx_size)
		return "receive ring holds more than its size";
	if (a->nranges > SEALINE_ARQ_RX_RANGES)
		return "too many out-of-order ranges";
	off = a->rcv_nxt;
	for (i = 0; i < a->nranges; i++) {
		const struct sealine_arq_range *r = &a->ranges[i];

		if (!arq_sim_after(r->start, off))
			return "out-of-order ranges overlap, touch or are held";
		if (!arq_sim_after(r->end, r->start))
			return "empty out-of-order range";
		if (arq_sim_after(r->end, a->deliv + a->rx_size))
			return "out-of-order range beyond the receive ring";
		off = r->end;
	}
	if (!a->have_peer && (a->nranges || a->rcv_nxt != a->deliv ||
			      a->ack_pending))
		return "receive state without a peer stream";
	return NULL;
}

/* ---- Randomness and stream content ------------------------------------ */

static inline uint64_t arq_sim_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t arq_sim_rand(uint64_t *s)
{
	return arq_sim_mix(*s += 0x9e3779b97f4a7c15ULL);
}

/* Uniform in [0, n); n > 0. */
static inline uint32_t arq_sim_below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(arq_sim_rand(s) % n);
}

static inline double arq_sim_unit(uint64_t *s)
{
	return (double)(arq_sim_rand(s) >> 11) / 9007199254740992.0;
}

static inline bool arq_sim_chance(uint64_t *s, double p)
{
	return p > 0 && arq_sim_unit(s) < p;
}

/* Byte n of the stream an end writes: any loss, repeat or swap shows. */
static inline uint8_t arq_sim_byte(uint64_t seed, uint64_t n)
{
	return (uint8_t)(arq_sim_mix(seed ^ ((n >> 3) * 0x9e3779b97f4a7c15ULL))
			 >> (8 * (n & 7)));
}

/* ---- A toy AEAD ---------------------------------------------------------
 * Not cryptography: a keystream and a 128-bit keyed checksum with enough
 * mixing that a damaged frame, a wrong key or a wrong counter fail the
 * "tag" for all practical purposes, which is all the ARQ needs to see.
 */
static inline uint64_t arq_sim_ks(uint64_t key, uint64_t counter, size_t i)
{
	return arq_sim_mix(key ^ arq_sim_mix(counter + 0x5ea1) ^
			   ((uint64_t)(i >> 3) << 20));
}

static inline void arq_sim_tag(uint64_t key, uint64_t counter,
			       const uint8_t *p, size_t len, uint8_t tag[16])
{
	uint64_t h1 = key ^ 0x243f6a8885a308d3ULL, h2 = ~key;
	size_t i;

	for (i = 0; i < len; i++) {
		h1 = (h1 ^ p[i]) * 0x100000001b3ULL;
		h2 = (h2 + p[i] + 1) * 0xff51afd7ed558ccdULL;
		h2 ^= h2 >> 29;
	}
	h1 = arq_sim_mix(h1 ^ counter ^ (uint64_t)len << 48);
	h2 = arq_sim_mix(h2 + counter * 0x9e3779b97f4a7c15ULL);
	for (i = 0; i < 8; i++) {
		tag[i] = (uint8_t)(h1 >> (8 * i));
		tag[8 + i] = (uint8_t)(h2 >> (8 * i));
	}
}

/* frame: AAD (5), plaintext (n), room for the tag. */
static inline void arq_sim_seal(uint64_t key, uint64_t counter, uint8_t *frame,
				size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		frame[SEALINE_AAD_LEN + i] ^=
			(uint8_t)(arq_sim_ks(key, counter, i) >> (8 * (i & 7)));
	arq_sim_tag(key, counter, frame, SEALINE_AAD_LEN + n,
		    frame + SEALINE_AAD_LEN + n);
}

/* Opens in place; false if the tag does not verify. */
static inline bool arq_sim_open(uint64_t key, uint64_t counter, uint8_t *frame,
				size_t len)
{
	uint8_t tag[16];
	size_t n = len - SEALINE_AAD_LEN - SEALINE_TAG_LEN, i;

	arq_sim_tag(key, counter, frame, SEALINE_AAD_LEN + n, tag);
	if (memcmp(tag, frame + SEALINE_AAD_LEN + n, 16))
		return false;
	for (i = 0; i < n; i++)
		frame[SEALINE_AAD_LEN + i] ^=
			(uint8_t)(arq_sim_ks(key, counter, i) >> (8 * (i & 7)));
	return true;
}

/* ---- The two ends ------------------------------------------------------ */

#define ARQ_SIM_KEYS		4	/* prev, cur, next and one to stage */
#define ARQ_SIM_CHAN_MAX	256	/* frames in flight per direction */
#define ARQ_SIM_PKT_MAX		(2 * SEALINE_FRAME_MAX_WIRE + 64)

struct arq_sim_key {
	bool used;
	u32 epoch;
	uint64_t serial;	/* the key_id given to sealine_arq_tx_build */
	uint64_t tx_secret, rx_secret;
	uint64_t tx_counter;
	struct sealine_replay replay;
	bool sealed_any;
	uint64_t sealed_max;	/* highest counter sealed: nonces only grow */
};

/* BULK writes random chunks as room allows, FULL fills all the room (cat
 * of a file), KEYS types a few bytes now and then.
 */
enum arq_sim_writer {
	ARQ_SIM_W_NONE, ARQ_SIM_W_BULK, ARQ_SIM_W_FULL, ARQ_SIM_W_KEYS
};
enum arq_sim_reader { ARQ_SIM_R_FAST, ARQ_SIM_R_SLOW, ARQ_SIM_R_STOPPED };

struct arq_sim_end {
	struct sealine_arq arq;
	uint8_t *txr, *rxr;	/* exactly the ring sizes: ASan sees overruns */
	struct arq_sim_key keys[ARQ_SIM_KEYS];
	int prev, cur, next;	/* slot indices into keys, -1 if empty */
	bool keepalive_pending;
	bool sent_first_delimiter;
	struct sealine_decoder dec;

	/* The application on this end. */
	enum arq_sim_writer writer;
	enum arq_sim_reader reader;
	uint64_t seed;		/* content of the stream this end writes */
	uint64_t to_write;	/* bulk: bytes left to write */
	uint64_t written;
	uint64_t readn;
	u32 next_write, next_read;
	u32 key_gap_min, key_gap_span;	/* KEYS: ms between writes */
	u32 key_len_max;		/* KEYS: bytes per write */
	u32 stage_at;		/* a late SET_KEY waiting, if stage_pending */
	bool stage_pending;
	int stage_slot;

	/* What happened. */
	uint64_t frames_tx, acks_tx, keepalives_tx;
	uint64_t nokey, replays, auth_failures, stale_prev, malformed;
	uint64_t dead_events, alive_events, tx_resets, rx_resets;
	u32 first_dead_at, last_progress_at;
	u32 events;
};

struct arq_sim_impair {
	double loss;		/* each frame */
	double dup;
	double corrupt;		/* one random bit */
	double reorder;		/* extra delay up to jitter_ms */
	double ber;		/* per byte on the wire */
	double byte_drop;	/* byte mode */
	double byte_insert;	/* byte mode */
	double burst_enter, burst_leave, burst_loss; /* Gilbert-Elliott */
	u32 jitter_ms;
	u32 outage_every, outage_len;	/* ms; periodic outages */
	u32 cut_at;		/* ms; 0: never */
};

struct arq_sim_pkt {
	u32 at;
	u32 len;
	uint8_t data[ARQ_SIM_PKT_MAX];
};

struct arq_sim_chan {
	struct arq_sim_pkt *pool;
	uint8_t free_list[ARQ_SIM_CHAN_MAX];
	uint8_t order[ARQ_SIM_CHAN_MAX];	/* by arrival time */
	int nfree, n;
	uint64_t tx_free_us;	/* the sending UART is busy until then */
	uint64_t overflow;
	double ber_left;	/* bytes to the next damaged one */
	bool bad;		/* Gilbert-Elliott state */
};

struct arq_sim {
	uint64_t rng;
	u32 now;
	u32 rate;		/* bytes per second, each direction */
	u32 delay;		/* ms */
	bool byte_mode;
	bool check_each_step;
	struct arq_sim_end end[2];
	struct arq_sim_chan chan[2];	/* chan[i]: from end i to end 1 - i */
	struct arq_sim_impair imp[2];
	u32 rekey_every;	/* mean ms between rekeys; 0: none */
	double late_stage;	/* chance a rekey stages late on one end */
	u32 next_rekey;
	uint64_t next_serial;
	uint64_t frames;	/* transmitted, both ways, all kinds */
	uint64_t steps;
	uint64_t nonce_reuse;
	/* If set, each frame put on the line takes its fate from the next
	 * byte (a fuzzer's input) instead of the impairments: bit 0 drops
	 * it, bit 1 repeats it, bit 2 flips a bit in it, bits 3-7 delay it
	 * by that many ms more. Past the end the line is clean.
	 */
	const uint8_t *script;
	size_t script_len, script_pos;
	char fail[256];
};

static inline void arq_sim_failf(struct arq_sim *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline void arq_sim_failf(struct arq_sim *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->fail[0])
		return;
	n = snprintf(s->fail, sizeof(s->fail), "t=%u ms: ", s->now);
	va_start(ap, fmt);
	vsnprintf(s->fail + n, sizeof(s->fail) - (size_t)n, fmt, ap);
	va_end(ap);
}

static inline void *arq_sim_alloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (!p)
		abort();
	return p;
}

/* Puts a fresh key pair into a free slot of each end; returns the slots. */
static inline void arq_sim_new_keys(struct arq_sim *s, u32 epoch, int slot[2])
{
	uint64_t k01 = arq_sim_rand(&s->rng), k10 = arq_sim_rand(&s->rng);
	int e, i;

	for (e = 0; e < 2; e++) {
		struct arq_sim_end *x = &s->end[e];
		struct arq_sim_key *k = NULL;

		for (i = 0; i < ARQ_SIM_KEYS; i++) {
			if (i != x->prev && i != x->cur && i != x->next &&
			    !(x->stage_pending && i == x->stage_slot)) {
				k = &x->keys[i];
				break;
			}
		}
		if (!k)
			abort();
		memset(k, 0, sizeof(*k));
		k->used = true;
		k->epoch = epoch;
		k->serial = ++s->next_serial;
		k->tx_secret = e ? k10 : k01;
		k->rx_secret = e ? k01 : k10;
		sealine_replay_init(&k->replay);
		slot[e] = i;
	}
}

static inline void arq_sim_promote(struct arq_sim_end *x)
{
	if (x->prev >= 0)
		x->keys[x->prev].used = false;
	x->prev = x->cur;
	x->cur = x->next;
	x->next = -1;
}

/* Sets up both ends, keyed (epoch 1 current on both), clean channels. */
static inline void arq_sim_init(struct arq_sim *s, uint64_t seed,
				u32 tx_ring, u32 rx_ring)
{
	int e, slot[2];

	memset(s, 0, sizeof(*s));
	s->rng = seed;
	s->rate = 100000;
	s->delay = 5;
	s->check_each_step = true;
	for (e = 0; e < 2; e++) {
		struct arq_sim_end *x = &s->end[e];

		x->txr = arq_sim_alloc(tx_ring);
		x->rxr = arq_sim_alloc(rx_ring);
		if (sealine_arq_init(&x->arq, x->txr, tx_ring, x->rxr, rx_ring,
				     (u32)arq_sim_rand(&s->rng), 0))
			abort();
		x->prev = x->cur = x->next = -1;
		x->seed = arq_sim_rand(&s->rng);
		x->key_gap_min = 20;
		x->key_gap_span = 400;
		x->key_len_max = 8;
		sealine_decoder_init(&x->dec);
		s->chan[e].pool = arq_sim_alloc(sizeof(struct arq_sim_pkt) *
						ARQ_SIM_CHAN_MAX);
		s->chan[e].nfree = ARQ_SIM_CHAN_MAX;
		for (int i = 0; i < ARQ_SIM_CHAN_MAX; i++)
			s->chan[e].free_list[i] = (uint8_t)i;
		s->chan[e].ber_left = -1;
	}
	arq_sim_new_keys(s, 1, slot);
	for (e = 0; e < 2; e++) {
		s->end[e].next = slot[e];
		arq_sim_promote(&s->end[e]);
	}
}

static inline void arq_sim_free(struct arq_sim *s)
{
	int e;

	for (e = 0; e < 2; e++) {
		free(s->end[e].txr);
		free(s->end[e].rxr);
		free(s->chan[e].pool);
	}
}

/* Applies cfg (with the simulated line rate) to both ends. */
static inline void arq_sim_config(struct arq_sim *s,
				  const struct sealine_arq_config *cfg)
{
	int e;

	for (e = 0; e < 2; e++)
		if (sealine_arq_set_config(&s->end[e].arq, cfg))
			arq_sim_failf(s, "set_config refused");
}

/* ---- The channel ---------------------------------------------------------- */

static inline bool arq_sim_in_outage(const struct arq_sim_impair *imp, u32 t)
{
	if (imp->cut_at && !arq_sim_before(t, imp->cut_at))
		return true;
	return imp->outage_every && imp->outage_len &&
	       t % imp->outage_every >= imp->outage_every - imp->outage_len;
}

static inline void arq_sim_enqueue(struct arq_sim *s, int dir, u32 at,
				   const uint8_t *p, size_t len)
{
	struct arq_sim_chan *c = &s->chan[dir];
	struct arq_sim_pkt *pkt;
	int i, idx;

	if (!c->nfree || len > ARQ_SIM_PKT_MAX) {
		c->overflow++;
		return;
	}
	idx = c->free_list[--c->nfree];
	pkt = &c->pool[idx];
	pkt->at = at;
	pkt->len = (u32)len;
	memcpy(pkt->data, p, len);
	for (i = c->n; i > 0 && arq_sim_after(c->pool[c->order[i - 1]].at, at);
	     i--)
		c->order[i] = c->order[i - 1];
	c->order[i] = (uint8_t)idx;
	c->n++;
}

/* Bytes until the next damaged one, for a per-byte error rate. */
static inline double arq_sim_gap(struct arq_sim *s, double ber)
{
	double u = arq_sim_unit(&s->rng);

	return floor(log1p(-u) / log1p(-ber));
}

/* Flips one bit in each byte the error process hits; returns how many. */
static inline unsigned int arq_sim_ber(struct arq_sim *s, int dir, uint8_t *p,
				       size_t len)
{
	struct arq_sim_chan *c = &s->chan[dir];
	double ber = s->imp[dir].ber;
	unsigned int hits = 0;

	if (ber <= 0)
		return 0;
	if (c->ber_left < 0)
		c->ber_left = arq_sim_gap(s, ber);
	while (c->ber_left < (double)len) {
		p[(size_t)c->ber_left] ^= (uint8_t)(1u << arq_sim_below(&s->rng, 8));
		hits++;
		c->ber_left += 1 + arq_sim_gap(s, ber);
	}
	c->ber_left -= (double)len;
	return hits;
}

/*
 * The line discipline hands a frame to the UART while the UART still has
 * up to ARQ_SIM_BACKLOG bytes to send (the tty's WAKEUP_CHARS), so frames
 * leave back to back. Returns when end e may hand over its next frame.
 */
#define ARQ_SIM_BACKLOG	256

static inline u32 arq_sim_line_ready(const struct arq_sim *s, int e)
{
	uint64_t backlog = (uint64_t)ARQ_SIM_BACKLOG * 1000000 / s->rate;
	uint64_t us = s->chan[e].tx_free_us;

	if (us <= backlog)
		return 0;
	return (u32)((us - backlog + 999) / 1000);
}

/* Puts a sealed frame on the line from end e at s->now. */
static inline void arq_sim_transmit(struct arq_sim *s, int e, uint8_t *raw,
				    size_t raw_len)
{
	const struct arq_sim_impair *imp = &s->imp[e];
	struct arq_sim_chan *c = &s->chan[e];
	uint8_t wire[ARQ_SIM_PKT_MAX];
	size_t wire_len = 0, i;
	u32 start, done, at;

	if (s->byte_mode) {
		if (!s->end[e].sent_first_delimiter) {
			wire[wire_len++] = 0;
			s->end[e].sent_first_delimiter = true;
		}
		wire_len += sealine_cobs_encode(raw, raw_len, wire + wire_len);
		wire[wire_len++] = 0;
	} else {
		memcpy(wire, raw, raw_len);
		wire_len = raw_len;
	}
	/* The UART's clock in microseconds, so that whole milliseconds per
	 * frame do not slow the line down.
	 */
	if (c->tx_free_us < (uint64_t)s->now * 1000)
		c->tx_free_us = (uint64_t)s->now * 1000;
	start = (u32)(c->tx_free_us / 1000);
	c->tx_free_us += ((uint64_t)(s->byte_mode ? wire_len :
				     sealine_cobs_max(raw_len) + 1) *
			  1000000 + s->rate - 1) / s->rate;
	done = (u32)((c->tx_free_us + 999) / 1000);
	s->frames++;
	at = done + s->delay;

	if (s->script) {
		uint8_t fate;

		if (s->script_pos >= s->script_len) {
			arq_sim_enqueue(s, e, at, wire, wire_len);
			return;
		}
		fate = s->script[s->script_pos++];
		if (fate & 1)
			return;
		if (fate & 4)
			wire[(fate >> 3) % wire_len] ^= 0x10;
		arq_sim_enqueue(s, e, at + (fate >> 3), wire, wire_len);
		if (fate & 2)
			arq_sim_enqueue(s, e, at + (fate >> 4), wire, wire_len);
		return;
	}
	if (arq_sim_in_outage(imp, start) || arq_sim_in_outage(imp, done))
		return;
	if (imp->burst_enter > 0) {
		if (c->bad ? arq_sim_chance(&s->rng, imp->burst_leave) :
			     arq_sim_chance(&s->rng, imp->burst_enter))
			c->bad = !c->bad;
		if (c->bad && arq_sim_chance(&s->rng, imp->burst_loss))
			return;
	}
	if (arq_sim_chance(&s->rng, imp->loss))
		return;
	arq_sim_ber(s, e, wire, wire_len);
	if (arq_sim_chance(&s->rng, imp->corrupt))
		wire[arq_sim_below(&s->rng, (u32)wire_len)] ^=
			(uint8_t)(1u << arq_sim_below(&s->rng, 8));
	if (s->byte_mode && (imp->byte_drop > 0 || imp->byte_insert > 0)) {
		uint8_t out[ARQ_SIM_PKT_MAX] = { 0 };
		size_t o = 0;

		for (i = 0; i < wire_len && o + 2 < sizeof(out); i++) {
			if (arq_sim_chance(&s->rng, imp->byte_insert))
				out[o++] = (uint8_t)arq_sim_rand(&s->rng);
			if (!arq_sim_chance(&s->rng, imp->byte_drop))
				out[o++] = wire[i];
		}
		memcpy(wire, out, o);
		wire_len = o;
	}
	if (!s->byte_mode && arq_sim_chance(&s->rng, imp->reorder) &&
	    imp->jitter_ms)
		at += 1 + arq_sim_below(&s->rng, imp->jitter_ms);
#ifdef ARQ_SIM_TRACE
	fprintf(stderr, "%6u %d~ wire %zu at %u ber_left %.0f\n", s->now, e,
		wire_len, at, c->ber_left);
#endif
	arq_sim_enqueue(s, e, at, wire, wire_len);
	if (arq_sim_chance(&s->rng, imp->dup))
		arq_sim_enqueue(s, e, at + (s->byte_mode ? 0 :
					    arq_sim_below(&s->rng, 3)),
				wire, wire_len);
}

/* ---- Sending and receiving, as the line discipline would ----------------- */

static inline void arq_sim_seal_check(struct arq_sim *s,
				      struct arq_sim_key *k, uint64_t counter)
{
	if (k->sealed_any && counter <= k->sealed_max) {
		s->nonce_reuse++;
		arq_sim_failf(s, "nonce reuse: key %llu counter %llu",
			      (unsigned long long)k->serial,
			      (unsigned long long)counter);
	}
	k->sealed_any = true;
	k->sealed_max = counter;
}

/* Builds, seals and sends one frame from end e; false if none was due. */
static inline bool arq_sim_send(struct arq_sim *s, int e)
{
	struct arq_sim_end *x = &s->end[e];
	uint8_t raw[SEALINE_FRAME_MAX_RAW];
	enum sealine_frame_type type;
	struct arq_sim_key *k;
	uint64_t counter;
	int n;

	if (x->cur < 0)
		return false;
	k = &x->keys[x->cur];
	counter = k->tx_counter;
	if (x->keepalive_pending) {
		x->keepalive_pending = false;
		type = SEALINE_FRAME_KEEPALIVE;
		n = 0;
		x->keepalives_tx++;
	} else {
		if (!sealine_arq_tx_pending(&x->arq, s->now))
			return false;
		n = sealine_arq_tx_build(&x->arq, s->now, k->serial, counter,
					 raw + SEALINE_AAD_LEN,
					 SEALINE_MAX_PAYLOAD);
		if (n < 0) {
			arq_sim_failf(s, "end %d: tx_build refused (%d)", e, n);
			return false;
		}
		if (!n)
			return false;
		type = SEALINE_FRAME_RELIABLE;
		x->frames_tx++;
	}
	k->tx_counter++;
#ifdef ARQ_SIM_TRACE
	if (n) {
		struct sealine_arq_hdr th;

		sealine_arq_hdr_parse(raw + SEALINE_AAD_LEN, (size_t)n, &th);
		fprintf(stderr, "%6u %d> f%02x sid %u off %u len %zu ack %u "
			"win %u sack %u echo %u | una %u nxt %u end %u "
			"nsegs %u open %d rto %u bo %u\n", s->now, e, th.flags,
			th.sid, th.offset, th.payload_len, th.ack, th.window,
			th.nsack, th.echo, x->arq.una, x->arq.nxt, x->arq.end,
			x->arq.nsegs, x->arq.opened, x->arq.rto,
			x->arq.backoff);
	}
#endif
	raw[0] = sealine_frame_header(type, k->epoch);
	sealine_put_counter32(raw + 1, counter);
	arq_sim_seal_check(s, k, counter);
	arq_sim_seal(k->tx_secret, counter, raw, (size_t)n);
	arq_sim_transmit(s, e, raw, SEALINE_AAD_LEN + (size_t)n +
			 SEALINE_TAG_LEN);
	return true;
}

/* Counts a frame dropped before the ARQ saw it. */
static inline void arq_sim_drop(const struct arq_sim *s, int e,
				uint64_t *counter, const char *why)
{
	(*counter)++;
#ifdef ARQ_SIM_TRACE
	fprintf(stderr, "%6u <%d dropped: %s\n", s->now, e, why);
#else
	(void)s;
	(void)e;
	(void)why;
#endif
}

static inline void arq_sim_rx_raw(struct arq_sim *s, int e, uint8_t *raw,
				  size_t len)
{
	struct arq_sim_end *x = &s->end[e];
	int slots[3] = { x->cur, x->next, x->prev }, i, slot = -1;
	struct arq_sim_key *k;
	uint64_t counter;
	bool newest;
	u8 type;

	if (len < SEALINE_AAD_LEN + SEALINE_TAG_LEN ||
	    len > SEALINE_FRAME_MAX_RAW || (raw[0] >> 6) != 1) {
		arq_sim_drop(s, e, &x->malformed, "malformed");
		return;
	}
	type = (raw[0] >> 4) & 3;
	if (type != SEALINE_FRAME_RELIABLE && type != SEALINE_FRAME_KEEPALIVE) {
		arq_sim_drop(s, e, &x->malformed, "malformed");
		return;
	}
	for (i = 0; i < 3; i++) {
		if (slots[i] >= 0 && (x->keys[slots[i]].epoch & 0xf) ==
				     (raw[0] & 0xf)) {
			slot = slots[i];
			break;
		}
	}
	if (slot < 0) {
		arq_sim_drop(s, e, &x->nokey, "nokey");
		return;
	}
	k = &x->keys[slot];
	counter = sealine_counter_expand(&k->replay,
					 (u32)raw[1] << 24 | (u32)raw[2] << 16 |
					 (u32)raw[3] << 8 | raw[4]);
	if (!sealine_replay_check(&k->replay, counter)) {
		arq_sim_drop(s, e, &x->replays, "replays");
		return;
	}
	if (!arq_sim_open(k->rx_secret, counter, raw, len)) {
		arq_sim_drop(s, e, &x->auth_failures, "auth failures");
		return;
	}
	/* The integration's rule: once the peer sends under the current
	 * key, a frame under the previous one can only be one held back.
	 */
	if (slot == x->prev && x->cur >= 0 && x->keys[x->cur].replay.started) {
		arq_sim_drop(s, e, &x->stale_prev, "stale prev");
		return;
	}
	/* Above every counter accepted under its key, which is the current
	 * or staged key, or the previous one while the peer has not moved
	 * on (the rule above): no frame was held back and released late.
	 */
	newest = !k->replay.started || counter > k->replay.top;
	if (!sealine_replay_accept(&k->replay, counter)) {
		arq_sim_drop(s, e, &x->replays, "replays");
		return;
	}
	if (slot == x->next)
		arq_sim_promote(x);
	if (type == SEALINE_FRAME_KEEPALIVE)
		return;
#ifdef ARQ_SIM_TRACE
	fprintf(stderr, "%6u <%d type %u epoch %u slot %s counter %llu newest %d"
		" len %zu\n", s->now, e, type, k->epoch,
		slot == x->cur ? "cur" : slot == x->next ? "next" : "prev",
		(unsigned long long)counter, newest, len);
#endif
	if (sealine_arq_rx(&x->arq, raw + SEALINE_AAD_LEN,
			   len - SEALINE_AAD_LEN - SEALINE_TAG_LEN, newest,
			   s->now))
		arq_sim_failf(s, "end %d: authentic frame refused as malformed",
			      e);
}

/* Feeds whatever arrived on the wire to end e (the other end's channel). */
static inline void arq_sim_arrive(struct arq_sim *s, int e,
				  struct arq_sim_pkt *pkt)
{
	struct arq_sim_end *x = &s->end[e];
	size_t i = 0;

	if (!s->byte_mode) {
		arq_sim_rx_raw(s, e, pkt->data, pkt->len);
		return;
	}
	while (i < pkt->len) {
		enum sealine_decode_event ev;

		i += sealine_decoder_feed(&x->dec, pkt->data + i, pkt->len - i,
					  &ev);
#ifdef ARQ_SIM_TRACE
		fprintf(stderr, "%6u %d decoder event %d len %zu\n", s->now, e,
			ev, ev == SEALINE_DECODE_FRAME ? x->dec.frame_len : 0);
#endif
		if (ev == SEALINE_DECODE_FRAME)
			arq_sim_rx_raw(s, e, x->dec.buf, x->dec.frame_len);
	}
}

/* ---- The applications ------------------------------------------------------ */

static inline void arq_sim_read(struct arq_sim *s, int e, size_t max)
{
	struct arq_sim_end *x = &s->end[e];
	const struct arq_sim_end *w = &s->end[1 - e];
	uint8_t buf[4096];
	size_t n, i;

	while (max) {
		n = sealine_arq_read(&x->arq, buf, max < sizeof(buf) ? max :
						   sizeof(buf), s->now);
		if (!n)
			break;
		for (i = 0; i < n; i++) {
			if (buf[i] != arq_sim_byte(w->seed, x->readn + i)) {
				arq_sim_failf(s, "end %d read byte %llu wrong",
					      e, (unsigned long long)
					      (x->readn + i));
				break;
			}
		}
		x->readn += n;
		max -= n;
	}
	if (x->readn > w->written)
		arq_sim_failf(s, "end %d read more than was written", e);
}

static inline void arq_sim_write(struct arq_sim *s, int e, size_t want)
{
	struct arq_sim_end *x = &s->end[e];
	uint8_t buf[4096];
	size_t n, i;

	if (want > sizeof(buf))
		want = sizeof(buf);
	for (i = 0; i < want; i++)
		buf[i] = arq_sim_byte(x->seed, x->written + i);
	n = sealine_arq_write(&x->arq, buf, want);
	x->written += n;
}

static inline void arq_sim_apps(struct arq_sim *s, int e, bool writing)
{
	struct arq_sim_end *x = &s->end[e];

	if (writing && (x->writer == ARQ_SIM_W_BULK ||
			x->writer == ARQ_SIM_W_FULL) && x->to_write) {
		size_t room = sealine_arq_write_room(&x->arq), want;

		if (room) {
			want = x->writer == ARQ_SIM_W_FULL ? room :
			       1 + arq_sim_below(&s->rng, 3000);
			if (want > x->to_write)
				want = (size_t)x->to_write;
			if (want > room)
				want = room;
			arq_sim_write(s, e, want);
			x->to_write -= want;
		}
	}
	if (writing && x->writer == ARQ_SIM_W_KEYS &&
	    !arq_sim_before(s->now, x->next_write)) {
		arq_sim_write(s, e, 1 + arq_sim_below(&s->rng, x->key_len_max));
		x->next_write = s->now + x->key_gap_min +
				arq_sim_below(&s->rng, x->key_gap_span);
	}
	if (x->reader == ARQ_SIM_R_FAST) {
		arq_sim_read(s, e, (size_t)-1);
	} else if (x->reader == ARQ_SIM_R_SLOW &&
		   !arq_sim_before(s->now, x->next_read)) {
		arq_sim_read(s, e, 1 + arq_sim_below(&s->rng, 512));
		x->next_read = s->now + 20 + arq_sim_below(&s->rng, 200);
		/* Now and then the reader looks away for a while. */
		if (arq_sim_chance(&s->rng, 0.01))
			x->next_read += arq_sim_below(&s->rng, 20000);
	}
}

/* ---- Rekeying, as the agent would --------------------------------------- */

static inline void arq_sim_rekey(struct arq_sim *s)
{
	struct arq_sim_end *a = &s->end[0], *b = &s->end[1];
	int slot[2], act, late = -1, e;

	if (a->next >= 0 || b->next >= 0 || a->stage_pending ||
	    b->stage_pending || a->cur < 0 || b->cur < 0 ||
	    a->keys[a->cur].epoch != b->keys[b->cur].epoch)
		return;		/* the previous rekey has not completed */
	arq_sim_new_keys(s, a->keys[a->cur].epoch + 1, slot);
	act = (int)arq_sim_below(&s->rng, 2);
	if (arq_sim_chance(&s->rng, s->late_stage))
		late = 1 - act;
	for (e = 0; e < 2; e++) {
		if (e == late) {
			s->end[e].stage_pending = true;
			s->end[e].stage_slot = slot[e];
			s->end[e].stage_at = s->now + 1 +
					     arq_sim_below(&s->rng, 2000);
		} else {
			s->end[e].next = slot[e];
		}
	}
	arq_sim_promote(&s->end[act]);
	s->end[act].keepalive_pending = true;
}

/* ---- The event loop ---------------------------------------------------------- */

static inline void arq_sim_events(struct arq_sim *s, int e)
{
	struct arq_sim_end *x = &s->end[e];
	u32 ev = sealine_arq_take_events(&x->arq);

	x->events |= ev;
#ifdef ARQ_SIM_TRACE
	if (ev & (SEALINE_ARQ_EV_DEAD | SEALINE_ARQ_EV_ALIVE))
		fprintf(stderr, "%6u %d event %s\n", s->now, e,
			ev & SEALINE_ARQ_EV_DEAD ? "DEAD" : "ALIVE");
#endif
	if (ev & SEALINE_ARQ_EV_DEAD) {
		if (!x->dead_events)
			x->first_dead_at = s->now;
		x->dead_events++;
	}
	if (ev & SEALINE_ARQ_EV_ALIVE)
		x->alive_events++;
	if (ev & SEALINE_ARQ_EV_TX_RESET)
		x->tx_resets++;
	if (ev & SEALINE_ARQ_EV_RX_RESET)
		x->rx_resets++;
}

static inline void arq_sim_min(u32 now, u32 *best, bool *have, u32 t)
{
	if (arq_sim_before(t, now))
		t = now;
	if (!*have || arq_sim_before(t, *best)) {
		*best = t;
		*have = true;
	}
}

/* Does everything due at s->now, then moves s->now to the next event, but
 * not past until. Returns false if nothing at all is left to happen.
 */
static inline bool arq_sim_step(struct arq_sim *s, u32 until, bool writing)
{
	u32 best = until;
	bool have = false;
	int e, guard;

	s->steps++;
	for (e = 0; e < 2; e++) {
		struct arq_sim_chan *c = &s->chan[1 - e];

		while (c->n && !arq_sim_after(c->pool[c->order[0]].at, s->now)) {
			int idx = c->order[0];

			memmove(c->order, c->order + 1, (size_t)(c->n - 1));
			c->n--;
			arq_sim_arrive(s, e, &c->pool[idx]);
			c->free_list[c->nfree++] = (uint8_t)idx;
		}
	}
	if (s->rekey_every && !arq_sim_before(s->now, s->next_rekey)) {
		arq_sim_rekey(s);
		s->next_rekey = s->now + s->rekey_every / 2 +
				arq_sim_below(&s->rng, s->rekey_every);
	}
	for (e = 0; e < 2; e++) {
		struct arq_sim_end *x = &s->end[e];

		if (x->stage_pending &&
		    !arq_sim_before(s->now, x->stage_at)) {
			x->stage_pending = false;
			x->next = x->stage_slot;
		}
		if (sealine_arq_timeout(&x->arq, s->now) == 0)
			sealine_arq_tick(&x->arq, s->now);
		arq_sim_apps(s, e, writing);
		for (guard = 0; guard < 1000; guard++) {
			if (arq_sim_after(arq_sim_line_ready(s, e), s->now))
				break;
			if (!arq_sim_send(s, e))
				break;
		}
		arq_sim_events(s, e);
		if (s->check_each_step) {
			const char *bad = arq_sim_check(&x->arq);

			if (bad)
				arq_sim_failf(s, "end %d: %s", e, bad);
		}
	}

	/* The next thing that can happen. */
	for (e = 0; e < 2; e++) {
		struct arq_sim_end *x = &s->end[e];
		u32 t = sealine_arq_timeout(&x->arq, s->now);
		u32 ready = arq_sim_line_ready(s, e);
		bool busy = arq_sim_after(ready, s->now);

		if (s->chan[1 - e].n)
			arq_sim_min(s->now, &best, &have,
				    s->chan[1 - e].pool[s->chan[1 - e].order[0]].at);
		if (t == 0 || (sealine_arq_tx_pending(&x->arq, s->now) ||
			       x->keepalive_pending))
			arq_sim_min(s->now, &best, &have,
				    busy ? ready : s->now + 1);
		else if (t != SEALINE_ARQ_NO_TIMEOUT)
			arq_sim_min(s->now, &best, &have, s->now + t);
		if (writing && (x->writer == ARQ_SIM_W_BULK ||
				x->writer == ARQ_SIM_W_FULL) && x->to_write &&
		    sealine_arq_write_room(&x->arq))
			arq_sim_min(s->now, &best, &have, s->now + 1);
		if (writing && x->writer == ARQ_SIM_W_KEYS)
			arq_sim_min(s->now, &best, &have, x->next_write);
		if (x->reader == ARQ_SIM_R_SLOW &&
		    sealine_arq_rx_avail(&x->arq))
			arq_sim_min(s->now, &best, &have, x->next_read);
		if (x->stage_pending)
			arq_sim_min(s->now, &best, &have, x->stage_at);
	}
	if (s->rekey_every)
		arq_sim_min(s->now, &best, &have, s->next_rekey);
	if (!have) {
		s->now = until;
		return false;
	}
	if (arq_sim_after(best, until))
		best = until;
	if (best == s->now)
		best++;
	s->now = best;
	return true;
}

/* Runs until s->now reaches until (or a failure). */
static inline void arq_sim_run(struct arq_sim *s, u32 until, bool writing)
{
	while (!s->fail[0] && arq_sim_before(s->now, until))
		arq_sim_step(s, until, writing);
}

static inline bool arq_sim_drained(const struct arq_sim *s)
{
	int e;

	for (e = 0; e < 2; e++) {
		const struct arq_sim_end *x = &s->end[e];

		if (s->end[1 - e].readn != x->written ||
		    sealine_arq_chars_in_buffer(&x->arq))
			return false;
	}
	return true;
}

/* Ends the impairments and the writing, reads fast, and runs until every
 * byte written was read (true) or max_ms passed (false).
 */
static inline bool arq_sim_drain(struct arq_sim *s, u32 max_ms)
{
	u32 until = s->now + max_ms;
	int e;

	for (e = 0; e < 2; e++) {
		memset(&s->imp[e], 0, sizeof(s->imp[e]));
		s->end[e].reader = ARQ_SIM_R_FAST;
	}
	s->rekey_every = 0;
	while (!s->fail[0] && arq_sim_before(s->now, until)) {
		if (arq_sim_drained(s))
			return true;
		arq_sim_step(s, until, false);
	}
	return arq_sim_drained(s);
}

#endif /* SEALINE_ARQ_SIM_H */
