// SPDX-License-Identifier: GPL-2.0
/*
 * COBS: arbitrary input decodes exactly like the reference decoder, and
 * every decodable block re-encodes and decodes to the same bytes; arbitrary
 * input round-trips through encode and decode, and its encoding has no
 * 0x00 and stays within sealine_cobs_max(). All buffers are exactly the
 * size the API promises, so ASan sees any overrun.
 */
#include <string.h>

#include "fuzz.h"
#include "ref.h"

static void check_encoding(const uint8_t *in, size_t len)
{
	size_t max = sealine_cobs_max(len), n, i;
	uint8_t *enc = fuzz_malloc(max);

	n = sealine_cobs_encode(in, len, enc);
	FUZZ_ASSERT(n > len && n <= max);
	for (i = 0; i < n; i++)
		FUZZ_ASSERT(enc[i] != 0);
	FUZZ_ASSERT(sealine_cobs_decode(enc, n) == (long)len);
	FUZZ_ASSERT(!memcmp(enc, in, len));
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *blk = fuzz_malloc(size), *ref = fuzz_malloc(size);
	long got, want;

	/* Decode arbitrary bytes. */
	memcpy(blk, data, size);
	want = ref_cobs_decode(data, size, ref);
	got = sealine_cobs_decode(blk, size);
	FUZZ_ASSERT(got == want);
	if (got >= 0) {
		FUZZ_ASSERT((size_t)got < size || size == 0);
		FUZZ_ASSERT(!memcmp(blk, ref, (size_t)got));
		/* decode(encode(decode(x))) == decode(x) */
		check_encoding(blk, (size_t)got);
	}

	/* Encode arbitrary bytes. */
	check_encoding(data, size);

	free(blk);
	free(ref);
	return 0;
}
