/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the agent's tests (test_agent_crypto.c, test_noise.c,
 * test_hs_*.c, test_hs_noise.c, test_call.c): hex vectors, libgcrypt
 * set-up, and a check that all secure memory was given back. Include after check.h and crypto.h.
 */
#ifndef SEALINE_TEST_AGENT_TEST_H
#define SEALINE_TEST_AGENT_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Hex to bytes, skipping spaces and colons; returns the byte count. */
static inline size_t unhex(uint8_t *out, size_t max, const char *hex)
{
	size_t n = 0;
	int hi = -1;

	for (; *hex; hex++) {
		int v;

		if (*hex == ' ' || *hex == ':' || *hex == '\n')
			continue;
		if (*hex >= '0' && *hex <= '9')
			v = *hex - '0';
		else if (*hex >= 'a' && *hex <= 'f')
			v = *hex - 'a' + 10;
		else if (*hex >= 'A' && *hex <= 'F')
			v = *hex - 'A' + 10;
		else
			abort();	/* a typo in a vector */
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n == max)
			abort();
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	if (hi >= 0)
		abort();
	return n;
}

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
static inline char *tohex(char *out, const uint8_t *p, size_t n)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = 0;
	return out;
}

#define CHECK_HEX(buf, len, hex) ({					\
	uint8_t want_[1024];						\
	size_t wn_ = unhex(want_, sizeof(want_), (hex));		\
	CHECK_EQ((len), wn_) && CHECK_MEM((buf), want_, wn_);		\
})

/*
 * LeakSanitizer does not scan libgcrypt's secure memory pool, so what
 * libgcrypt keeps only from there (its entropy collector) looks leaked;
 * see test_agent_crypto.c. Secure memory is checked by secmem_capacity().
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libgcrypt.so\n";
}

const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}

static inline void init_or_die(size_t pool)
{
	char why[200];

	if (sl_crypto_init(pool, SL_CRYPTO_QUIET_SECMEM, why, sizeof(why))) {
		printf("sl_crypto_init: %s\n", why);
		exit(1);
	}
}

/* How many 64-byte secrets fit in the secure pool right now. */
static inline size_t secmem_capacity(void)
{
	static void *blocks[16384];
	size_t n = 0;

	while (n < sizeof(blocks) / sizeof(blocks[0]) &&
	       (blocks[n] = sl_secure_alloc(64)))
		n++;
	for (size_t i = n; i--;)
		sl_secure_free(blocks[i], 64);
	return n;
}

/*
 * The room secure_memory_not_leaked compares against: measured once
 * libgcrypt holds what it keeps in secure memory for good (its random
 * pools, the entropy collector), which exists from the first key on.
 */
static size_t secmem_baseline;

static inline void secmem_measure_baseline(void)
{
	uint8_t priv[32], pub[32];

	if (sl_x25519_keypair(priv, pub))
		exit(1);
	sl_wipe(priv, sizeof(priv));
	secmem_baseline = secmem_capacity();
}

/* Every secure allocation since the baseline was given back. */
static inline void check_secmem_returned(void)
{
	size_t now = secmem_capacity();

	CHECKF(now == secmem_baseline, "room for %zu secrets, %zu at start",
	       now, secmem_baseline);
}

#endif
