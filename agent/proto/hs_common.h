/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What the two message engines share: the end-to-end handshake
 * (hs_*.c) and call setup through a TSP (call*.c) speak the same
 * envelope, sealed-message layout, version ranges and retransmission
 * timing (Documentation/handshake.rst), so one copy of those rules
 * serves both.
 *
 * Header-only on purpose: the helpers are a few lines each, and every
 * build that compiles the handshake or call setup (the agent, the unit,
 * fuzz, line and TSP tests, the benchmarks) gets them without one more
 * object to list.
 */
#ifndef SL_HS_COMMON_H
#define SL_HS_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <gcrypt.h>

#include "handshake.h"		/* SL_ACCOUNT_LEN, SL_HS_RTO_MIN_MS */
#include "noise.h"

/* Sealed messages: envelope (version, type, hsid), seq, then ciphertext
 * and tag; the first SL_HS_SEALED_AD_LEN bytes are the AEAD's AD. */
#define SL_HS_SEALED_AD_LEN	7

/* Big-endian integers on the wire. */
static inline void sl_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t sl_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* The earlier of two timers, where 0 means "none". */
static inline uint64_t sl_min_timer(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

/* Random bytes: the test hook if one is set (its failure is -EIO),
 * libgcrypt's strong generator otherwise. */
static inline int sl_hs_random(int (*test_random)(void *, uint8_t *, size_t),
			       void *test_ctx, uint8_t *buf, size_t len)
{
	if (test_random)
		return test_random(test_ctx, buf, len) ? -EIO : 0;
	gcry_randomize(buf, len, GCRY_STRONG_RANDOM);
	return 0;
}

/* Line bytes of a message of m bytes (handshake.rst, "Sizes"). */
static inline uint32_t sl_hs_wire(size_t m)
{
	return (uint32_t)(m + 7 + (m + 5) / 254);
}

/* RTO0 = max(1 s, 4 x 10 x (wire bytes of both) / baud), in ms, at most
 * max_ms (each engine has its own ceiling); 1 s if the baud is unknown. */
static inline uint32_t sl_hs_rto0(unsigned int baud, size_t msg, size_t reply,
				  uint32_t max_ms)
{
	uint64_t ms;

	if (!baud)
		return SL_HS_RTO_MIN_MS;
	ms = 40ULL * (sl_hs_wire(msg) + sl_hs_wire(reply)) * 1000 / baud;
	if (ms < SL_HS_RTO_MIN_MS)
		ms = SL_HS_RTO_MIN_MS;
	if (ms > max_ms)
		ms = max_ms;
	return (uint32_t)ms;
}

static inline void sl_hs_envelope(uint8_t *m, uint8_t ver, uint8_t type,
				  uint32_t hsid)
{
	m[0] = ver;
	m[1] = type;
	sl_put32(m + 2, hsid);
}

/* The highest version in both ranges, 0 if none (or if theirs is not a
 * range). */
static inline uint8_t sl_hs_common_version(uint8_t my_lo, uint8_t my_hi,
					   uint8_t lo, uint8_t hi)
{
	uint8_t top = hi < my_hi ? hi : my_hi;
	uint8_t bot = lo > my_lo ? lo : my_lo;

	if (!lo || lo > hi || top < bot)
		return 0;
	return top;
}

/* A sealed message into m: envelope, seq, ciphertext and tag of
 * payload under k with seq as the nonce. */
static inline int sl_hs_seal(uint8_t *m, uint8_t ver, uint8_t type,
			     uint32_t hsid, uint8_t seq, const uint8_t *k,
			     const uint8_t *payload, size_t plen)
{
	sl_hs_envelope(m, ver, type, hsid);
	m[6] = seq;
	return sl_noise_seal(k, seq, m, SL_HS_SEALED_AD_LEN, payload, plen,
			     m + SL_HS_SEALED_AD_LEN);
}

/* The payload of a sealed message of len bytes (at least
 * SL_HS_SEALED_AD_LEN plus a tag: the caller checks). */
static inline int sl_hs_open(const uint8_t *m, size_t len, const uint8_t *k,
			     uint8_t *payload)
{
	return sl_noise_open(k, m[6], m, SL_HS_SEALED_AD_LEN,
			     m + SL_HS_SEALED_AD_LEN, len - SL_HS_SEALED_AD_LEN,
			     payload);
}

#endif /* SL_HS_COMMON_H */
