// SPDX-License-Identifier: GPL-2.0
/*
 * The replay window and counter expansion, driven by a sequence of
 * operations from the input, against the plain reference model of
 * tests/unit/ref.h: after every operation both must agree on the answer
 * and on the highest counter accepted.
 *
 * Each operation is one opcode byte (low 3 bits) and its argument:
 *	0	reset both to the initial state
 *	1 b	accept top + (int8)b		(clamped at 0)
 *	2 b	check top + (int8)b; the state must not change
 *	3 hh	accept top + (int16)hh
 *	4 xxxx	expand counter32 xxxx, accept the result
 *	5 8 bytes	accept an absolute 64-bit counter
 *	6 hh	accept top + hh * 64 (a jump ahead)
 *	7 hh	expand the counter32 of top + 1 + (int16)hh * 2^16 + 1: it
 *		must come back as that counter
 * where top is the highest counter accepted (0 before any). Expansion is
 * compared with the reference only while top < 2^62 (the reference does
 * not model wrapping at 2^64; hard key limits end a key long before).
 */
#include <string.h>

#include "fuzz.h"
#include "ref.h"

static uint64_t be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

static uint64_t near(uint64_t top, int64_t off)
{
	if (off < 0 && (uint64_t)-off > top)
		return 0;
	if (off > 0 && top + (uint64_t)off < top)
		return ~0ULL;
	return top + (uint64_t)off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t arg_len[8] = { 0, 1, 1, 2, 4, 8, 2, 2 };
	struct sealine_replay r;
	struct ref_replay m;
	size_t i = 0;

	sealine_replay_init(&r);
	ref_replay_init(&m);
	while (i < size) {
		unsigned int op = data[i] & 7;
		const uint8_t *a = data + i + 1;
		uint64_t top = m.started ? m.max : 0, c;
		bool got, want;

		if (i + 1 + arg_len[op] > size)
			break;
		i += 1 + arg_len[op];

		switch (op) {
		case 0:
			sealine_replay_init(&r);
			ref_replay_reset(&m);
			continue;
		case 1:
			c = near(top, (int8_t)a[0]);
			break;
		case 2: {
			struct sealine_replay before = r;

			c = near(top, (int8_t)a[0]);
			FUZZ_ASSERT(sealine_replay_check(&r, c) ==
				    ref_replay_check(&m, c));
			FUZZ_ASSERT(r.top == before.top &&
				    r.bitmap == before.bitmap &&
				    r.started == before.started);
			continue;
		}
		case 3:
			c = near(top, (int16_t)be(a, 2));
			break;
		case 4:
			c = sealine_counter_expand(&r, (uint32_t)be(a, 4));
			FUZZ_ASSERT((uint32_t)c == (uint32_t)be(a, 4));
			if (top < (1ULL << 62))
				FUZZ_ASSERT(c == ref_expand(m.started, m.max,
							    (uint32_t)be(a, 4)));
			break;
		case 5:
			c = be(a, 8);
			break;
		case 6:
			c = near(top, (int64_t)(be(a, 2) << 6));
			break;
		default: {
			uint64_t next = m.started ? m.max + 1 : 0;
			/* within (next - 2^31, next + 2^31] */
			int64_t off = (int64_t)(int16_t)be(a, 2) * 65536 + 1;

			if (top >= (1ULL << 62) || (off < 0 &&
						    (uint64_t)-off > next))
				continue;
			c = next + (uint64_t)off;
			FUZZ_ASSERT(sealine_counter_expand(&r, (uint32_t)c) ==
				    c);
			continue;
		}
		}
		got = sealine_replay_accept(&r, c);
		want = ref_replay_accept(&m, c);
		FUZZ_ASSERT(got == want);
		FUZZ_ASSERT(r.started == m.started);
		FUZZ_ASSERT(!m.started || r.top == m.max);
	}
	ref_replay_free(&m);
	return 0;
}
