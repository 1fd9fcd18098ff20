/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the two protocol simulations (fuzz_handshake, fuzz_call) share:
 * the deterministic randomness they give the engines, so that an input
 * replays the same run, and libgcrypt's one-time allocations kept out of
 * LeakSanitizer's report.
 */
#ifndef SEALINE_FUZZ_SIM_H
#define SEALINE_FUZZ_SIM_H

#include <stddef.h>
#include <stdint.h>

/* SplitMix64 output bytes from the state *s: not cryptographic, only
 * reproducible, which is what a fuzzer needs of an engine's hsids and
 * ephemerals. */
static inline void fuzz_splitmix(uint64_t *s, uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		buf[i] = (uint8_t)(z ^ (z >> 31));
	}
}

/* libgcrypt allocates once and keeps it until exit. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libgcrypt.so\n";
}

#endif /* SEALINE_FUZZ_SIM_H */
