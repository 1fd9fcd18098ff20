/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reference models and helpers for the host unit tests and the fuzz
 * targets (tests/fuzz includes this file too). The models are written
 * independently of kmod/frame.c and kmod/replay.c, as plainly as possible:
 * they are the specification the real code is checked against.
 */
#ifndef SEALINE_TEST_REF_H
#define SEALINE_TEST_REF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "replay.h"

/* ---- COBS ---------------------------------------------------------- */

/* The COBS worst case as a constant expression, for array sizes only; the
 * tests check the encoder against the module's own sealine_cobs_max().
 */
#define REF_COBS_MAX(n)	((n) + (n) / 254 + 1)

/*
 * Decodes a COBS block (no delimiter) from in to out (at least len bytes).
 * Returns the decoded length or -1: a block is valid when it has no 0x00
 * and every code byte's run ends inside the block. A run that is not 0xff
 * is followed by a zero in the output unless it ends the block.
 */
static inline long ref_cobs_decode(const uint8_t *in, size_t len, uint8_t *out)
{
	size_t p = 0, o = 0, k;

	for (k = 0; k < len; k++)
		if (in[k] == 0)
			return -1;
	while (p < len) {
		size_t code = in[p];

		if (p + code > len)
			return -1;
		memcpy(out + o, in + p + 1, code - 1);
		o += code - 1;
		p += code;
		if (code < 0xff && p < len)
			out[o++] = 0;
	}
	return (long)o;
}

/* ---- Frames -------------------------------------------------------- */

/* COBS-encodes raw into out and appends the delimiter; returns the total.
 * out must hold sealine_cobs_max(len) + 1 bytes.
 */
static inline size_t ref_wire(const uint8_t *raw, size_t len, uint8_t *out)
{
	size_t n = sealine_cobs_encode(raw, len, out);

	out[n] = 0;
	return n + 1;
}

/* A data or keepalive frame: header, counter, "ciphertext" and "tag" (any
 * bytes; the frame layer does not look inside). Returns its length.
 */
static inline size_t ref_aead_frame(uint8_t *out, enum sealine_frame_type type,
				    uint32_t epoch, uint64_t counter,
				    const uint8_t *body, size_t body_len)
{
	out[0] = sealine_frame_header(type, epoch);
	sealine_put_counter32(out + 1, counter);
	memcpy(out + SEALINE_AAD_LEN, body, body_len);
	return SEALINE_AAD_LEN + body_len;
}

/* CRC-32 (IEEE, reflected), table-driven: a second implementation to
 * check the module's bitwise one against.
 */
static inline uint32_t ref_crc32(const uint8_t *p, size_t len)
{
	static uint32_t table[256];
	static bool ready;
	uint32_t crc = 0xffffffffu;
	size_t i;

	if (!ready) {
		for (i = 0; i < 256; i++) {
			uint32_t c = (uint32_t)i;
			int k;

			for (k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
		ready = true;
	}
	for (i = 0; i < len; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return crc ^ 0xffffffffu;
}

/* Rewrites the last four bytes of a control frame with its correct CRC. */
static inline void ref_fix_crc(uint8_t *raw, size_t len)
{
	uint32_t crc = ref_crc32(raw, len - SEALINE_CRC_LEN);

	raw[len - 4] = (uint8_t)crc;
	raw[len - 3] = (uint8_t)(crc >> 8);
	raw[len - 2] = (uint8_t)(crc >> 16);
	raw[len - 1] = (uint8_t)(crc >> 24);
}

/*
 * Whether sealine_frame_parse must accept raw[0..len), from protocol.h:
 * version 1; data: header, counter, at least a tag, at most
 * SEALINE_FRAME_MAX_RAW; keepalive: exactly header, counter and tag;
 * control: epoch bits 0, a message of 1..SEALINE_MAX_CONTROL bytes and a
 * matching little-endian CRC-32 over header and message; no type 3.
 */
static inline bool ref_frame_valid(const uint8_t *raw, size_t len)
{
	const size_t aead_min = SEALINE_AAD_LEN + SEALINE_TAG_LEN;
	uint32_t crc;

	if (len < 1 || raw[0] >> 6 != SEALINE_WIRE_VERSION)
		return false;
	switch ((raw[0] >> 4) & 3) {
	case SEALINE_FRAME_DATA:
		return len >= aead_min && len <= SEALINE_FRAME_MAX_RAW;
	case SEALINE_FRAME_KEEPALIVE:
		return len == aead_min;
	case SEALINE_FRAME_RELIABLE:
		return len > aead_min && len <= SEALINE_FRAME_MAX_RAW;
	case SEALINE_FRAME_CONTROL:
		if ((raw[0] & 0xf) || len < 1 + 1 + 4 ||
		    len - 5 > SEALINE_MAX_CONTROL)
			return false;
		crc = ref_crc32(raw, len - 4);
		return raw[len - 4] == (uint8_t)crc &&
		       raw[len - 3] == (uint8_t)(crc >> 8) &&
		       raw[len - 2] == (uint8_t)(crc >> 16) &&
		       raw[len - 1] == (uint8_t)(crc >> 24);
	default:
		return false;
	}
}

/* ---- Replay -------------------------------------------------------- */

#define REF_SPAN	(1ULL << 32)
#define REF_HALF	(1ULL << 31)

/*
 * The 64-bit counter nearest to next = top + 1 (0 before the first frame)
 * whose low 32 bits are c32: next + d when the forward distance d is at most
 * half the span, otherwise the one behind next, unless that would be
 * negative. Only meaningful while next + 2^32 does not overflow.
 */
static inline uint64_t ref_expand(bool started, uint64_t top, uint32_t c32)
{
	uint64_t next = started ? top + 1 : 0;
	uint64_t fwd = (uint32_t)(c32 - (uint32_t)next);
	uint64_t back = REF_SPAN - fwd;

	if (fwd <= REF_HALF || back > next)
		return next + fwd;
	return next - back;
}

/* Open-addressing set of u64, for the replay reference model. */
struct ref_set {
	uint64_t *keys;
	uint8_t *used;
	size_t cap;	/* power of two */
	size_t count;
};

static inline size_t ref_set_slot(uint64_t k, size_t cap)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return (size_t)k & (cap - 1);
}

static inline void ref_set_init(struct ref_set *s, size_t cap)
{
	s->cap = cap;
	s->count = 0;
	s->keys = calloc(cap, sizeof(*s->keys));
	s->used = calloc(cap, 1);
	if (!s->keys || !s->used)
		abort();
}

static inline void ref_set_free(struct ref_set *s)
{
	free(s->keys);
	free(s->used);
	s->keys = NULL;
	s->used = NULL;
}

static inline void ref_set_clear(struct ref_set *s)
{
	memset(s->used, 0, s->cap);
	s->count = 0;
}

static inline bool ref_set_has(const struct ref_set *s, uint64_t k)
{
	size_t i = ref_set_slot(k, s->cap);

	while (s->used[i]) {
		if (s->keys[i] == k)
			return true;
		i = (i + 1) & (s->cap - 1);
	}
	return false;
}

static inline void ref_set_add(struct ref_set *s, uint64_t k);

static inline void ref_set_grow(struct ref_set *s)
{
	struct ref_set n;
	size_t i;

	ref_set_init(&n, s->cap * 2);
	for (i = 0; i < s->cap; i++)
		if (s->used[i])
			ref_set_add(&n, s->keys[i]);
	ref_set_free(s);
	*s = n;
}

static inline void ref_set_add(struct ref_set *s, uint64_t k)
{
	size_t i;

	if ((s->count + 1) * 2 > s->cap)
		ref_set_grow(s);
	i = ref_set_slot(k, s->cap);
	while (s->used[i]) {
		if (s->keys[i] == k)
			return;
		i = (i + 1) & (s->cap - 1);
	}
	s->used[i] = 1;
	s->keys[i] = k;
	s->count++;
}

/*
 * The replay rule, stated plainly: a counter is accepted if it was never
 * accepted before and is not SEALINE_REPLAY_WINDOW or more behind the
 * highest counter accepted so far. The first counter is always accepted.
 */
struct ref_replay {
	struct ref_set seen;
	bool started;
	uint64_t max;
};

static inline void ref_replay_init(struct ref_replay *m)
{
	ref_set_init(&m->seen, 1024);
	m->started = false;
	m->max = 0;
}

static inline void ref_replay_reset(struct ref_replay *m)
{
	ref_set_clear(&m->seen);
	m->started = false;
	m->max = 0;
}

static inline void ref_replay_free(struct ref_replay *m)
{
	ref_set_free(&m->seen);
}

static inline bool ref_replay_check(const struct ref_replay *m, uint64_t c)
{
	if (!m->started)
		return true;
	if (ref_set_has(&m->seen, c))
		return false;
	return c > m->max || m->max - c < SEALINE_REPLAY_WINDOW;
}

static inline bool ref_replay_accept(struct ref_replay *m, uint64_t c)
{
	if (!ref_replay_check(m, c))
		return false;
	ref_set_add(&m->seen, c);
	if (!m->started || c > m->max)
		m->max = c;
	m->started = true;
	return true;
}

#endif /* SEALINE_TEST_REF_H */
