/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared bits of the libFuzzer targets: an assertion that aborts (so
 * libFuzzer records the input as a crash) and says what failed.
 */
#ifndef SEALINE_FUZZ_H
#define SEALINE_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_ASSERT(c) do {						\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: assertion failed: %s\n",	\
			__FILE__, __LINE__, #c);			\
		abort();						\
	}								\
} while (0)

static inline void *fuzz_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		abort();
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* SEALINE_FUZZ_H */
