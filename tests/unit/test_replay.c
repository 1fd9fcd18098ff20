// SPDX-License-Identifier: GPL-2.0
/*
 * Receive counters (kmod/replay.c): rebuilding 64-bit counters from the 32
 * bits on the wire, and the replay window, checked case by case and then
 * against the plain reference model of ref.h over millions of random ops.
 */
#include "check.h"
#include "ref.h"

#define W	SEALINE_REPLAY_WINDOW
#define SPAN	(1ULL << 32)
#define HALF	(1ULL << 31)

static struct sealine_replay at(uint64_t top, uint64_t bitmap)
{
	struct sealine_replay r;

	sealine_replay_init(&r);
	r.started = true;
	r.top = top;
	r.bitmap = bitmap;
	return r;
}

/* top + off, clamped at 0: the model check never wraps below zero. */
static uint64_t near(uint64_t top, int64_t off)
{
	if (off < 0 && (uint64_t)-off > top)
		return 0;
	return top + (uint64_t)off;
}

static bool same_state(const struct sealine_replay *a,
		       const struct sealine_replay *b)
{
	return a->top == b->top && a->bitmap == b->bitmap &&
	       a->started == b->started;
}

TEST(expand_across_wrap)
{
	struct sealine_replay r = at(SPAN - 3, 1);

	CHECK_EQ(sealine_counter_expand(&r, 1), SPAN + 1);
	CHECK_EQ(sealine_counter_expand(&r, 0), SPAN);
	CHECK_EQ(sealine_counter_expand(&r, 0xffffffffu), SPAN - 1);
	CHECK_EQ(sealine_counter_expand(&r, 0xfffffffeu), SPAN - 2);
	CHECK_EQ(sealine_counter_expand(&r, 0xfffffffdu), SPAN - 3);
	CHECK_EQ(sealine_counter_expand(&r, 0xfffffff0u), SPAN - 16);

	/* Just past the wrap, old counters from before it. */
	r = at(SPAN + 2, 1);
	CHECK_EQ(sealine_counter_expand(&r, 0xfffffffeu), SPAN - 2);
	CHECK_EQ(sealine_counter_expand(&r, 3), SPAN + 3);

	/* A later wrap. */
	r = at(7 * SPAN - 1, 1);
	CHECK_EQ(sealine_counter_expand(&r, 0), 7 * SPAN);
	CHECK_EQ(sealine_counter_expand(&r, 0xffffffffu), 7 * SPAN - 1);
	CHECK_EQ(sealine_counter_expand(&r, 5), 7 * SPAN + 5);
}

TEST(expand_near_zero)
{
	struct sealine_replay r;

	/* Before any frame every counter32 is taken at face value. */
	sealine_replay_init(&r);
	CHECK_EQ(sealine_counter_expand(&r, 0), 0);
	CHECK_EQ(sealine_counter_expand(&r, 1), 1);
	CHECK_EQ(sealine_counter_expand(&r, 0x7fffffffu), 0x7fffffffULL);
	CHECK_EQ(sealine_counter_expand(&r, 0x80000000u), 0x80000000ULL);
	CHECK_EQ(sealine_counter_expand(&r, 0xffffffffu), 0xffffffffULL);

	/* Near zero a counter "behind" would be negative: it stays ahead. */
	r = at(0, 1);
	CHECK_EQ(sealine_counter_expand(&r, 0), 0);
	CHECK_EQ(sealine_counter_expand(&r, 1), 1);
	CHECK_EQ(sealine_counter_expand(&r, 0xffffffffu), 0xffffffffULL);
	r = at(5, 1);
	CHECK_EQ(sealine_counter_expand(&r, 3), 3);
	CHECK_EQ(sealine_counter_expand(&r, 0xfffffff0u), 0xfffffff0ULL);
}

/* Far ahead and far behind, up to half the 32-bit span from the next
 * expected counter, in several 2^32 epochs.
 */
TEST(expand_half_span)
{
	static const uint64_t tops[] = {
		HALF, HALF + 12345, SPAN + 100, 10 * SPAN + 100,
		10 * SPAN - 1, 10 * SPAN + HALF, 3 * SPAN + HALF - 1,
		(1ULL << 48) + 77,
	};
	size_t t;

	for (t = 0; t < sizeof(tops) / sizeof(tops[0]); t++) {
		struct sealine_replay r = at(tops[t], 1);
		uint64_t next = tops[t] + 1, c;

		/* Exactly half ahead and behind is the same counter32: the
		 * decoder takes the one ahead.
		 */
		CHECK_EQ(sealine_counter_expand(&r, (uint32_t)(next + HALF)),
			 next + HALF);
		c = next + HALF - 1;
		CHECK_EQ(sealine_counter_expand(&r, (uint32_t)c), c);
		c = next - HALF + 1;
		CHECK_EQ(sealine_counter_expand(&r, (uint32_t)c), c);
		c = next + HALF + 1;	/* = next - HALF + 1 + SPAN */
		CHECK_EQ(sealine_counter_expand(&r, (uint32_t)c), c - SPAN);
		CHECK_EQ(sealine_counter_expand(&r, (uint32_t)next), next);
		CHECK_EQ(sealine_counter_expand(&r, (uint32_t)tops[t]),
			 tops[t]);
		c = next + 1000000;
		CHECK_EQ(sealine_counter_expand(&r, (uint32_t)c), c);
		c = next - 1000000;
		CHECK_EQ(sealine_counter_expand(&r, (uint32_t)c), c);
	}
}

/* Any counter within (next - 2^31, next + 2^31] is rebuilt exactly from
 * its low 32 bits, and expand agrees with the reference everywhere.
 */
TEST(expand_random_vs_reference)
{
	unsigned long iter;

	for (iter = 0; iter < 1000000; iter++) {
		struct sealine_replay r;
		uint64_t top, c, got;
		int64_t off;
		uint32_t c32;

		switch (check_below(4)) {
		case 0:	top = check_below(SPAN * 4); break;
		case 1:	/* around a 2^32 boundary */
			top = near((1 + check_below(1000)) * SPAN,
				   (int64_t)check_below(400) - 200);
			break;
		case 2:	top = check_rand() >> 2; break;
		default: top = check_below(1000); break;
		}
		if (check_below(50) == 0) {
			sealine_replay_init(&r);
		} else {
			r = at(top, check_rand());
		}
		c32 = (uint32_t)check_rand();
		if (check_below(2)) {
			uint64_t next = r.started ? r.top + 1 : 0;

			off = (int64_t)check_below(SPAN) - (int64_t)HALF + 1;
			if (check_below(8) == 0)
				off = check_below(2) ? (int64_t)HALF :
						       -(int64_t)HALF + 1;
			c = next + (uint64_t)off;
			if ((int64_t)next + off >= 0) {
				got = sealine_counter_expand(&r, (uint32_t)c);
				if (!CHECKF(got == c, "top %" PRIu64 " counter %"
					    PRIu64 ": got %" PRIu64, (uint64_t)r.top, c,
					    got))
					return;
			}
			c32 = (uint32_t)c;
		}
		got = sealine_counter_expand(&r, c32);
		if (!CHECKF(got == ref_expand(r.started, r.top, c32),
			    "top %" PRIu64 " c32 0x%x: got %" PRIu64 " want %"
			    PRIu64, (uint64_t)r.top, c32, got,
			    ref_expand(r.started, r.top, c32)))
			return;
		CHECK_EQ((uint32_t)got, c32);
	}
}

TEST(window_in_order)
{
	struct sealine_replay r;
	uint64_t c;

	sealine_replay_init(&r);
	for (c = 0; c < 1000; c++) {
		CHECK(sealine_replay_check(&r, c));
		CHECK(sealine_replay_accept(&r, c));
		CHECK(!sealine_replay_accept(&r, c));
		CHECK_EQ(r.top, c);
	}
	for (c = 0; c < 1000; c++)
		CHECK(!sealine_replay_check(&r, c));
	CHECK(sealine_replay_check(&r, 1000));
}

TEST(window_duplicate)
{
	struct sealine_replay r;

	sealine_replay_init(&r);
	CHECK(sealine_replay_accept(&r, 500));
	CHECK(!sealine_replay_accept(&r, 500));
	CHECK(!sealine_replay_check(&r, 500));
	CHECK(sealine_replay_accept(&r, 498));
	CHECK(!sealine_replay_accept(&r, 498));
	CHECK(sealine_replay_accept(&r, 501));
	CHECK(!sealine_replay_accept(&r, 498));
	CHECK(!sealine_replay_accept(&r, 500));
	CHECK(!sealine_replay_accept(&r, 501));
	CHECK(sealine_replay_accept(&r, 499));
	CHECK(!sealine_replay_accept(&r, 499));
}

TEST(window_out_of_order)
{
	struct sealine_replay r;
	uint64_t c;

	sealine_replay_init(&r);
	CHECK(sealine_replay_accept(&r, 1000));
	/* Every counter 1..W-1 behind is accepted once, in any order. */
	for (c = 1000 - 1; c > 1000 - W; c -= 2)
		CHECK(sealine_replay_accept(&r, c));
	for (c = 1000 - 2; c > 1000 - W; c -= 2)
		CHECK(sealine_replay_accept(&r, c));
	for (c = 1000 - W + 1; c <= 1000; c++)
		CHECKF(!sealine_replay_accept(&r, c), "%" PRIu64 " twice", c);
	CHECK_EQ(r.bitmap, ~0ULL);
	CHECK_EQ(r.top, 1000);
}

TEST(window_too_old)
{
	struct sealine_replay r;

	sealine_replay_init(&r);
	CHECK(sealine_replay_accept(&r, 1000));
	CHECK(sealine_replay_check(&r, 1000 - W + 1));
	CHECK(!sealine_replay_check(&r, 1000 - W));
	CHECK(!sealine_replay_accept(&r, 1000 - W));
	CHECK(!sealine_replay_accept(&r, 0));
	CHECK(!sealine_replay_accept(&r, 1000 - W - 1));
	CHECK(sealine_replay_accept(&r, 1000 - W + 1));
	/* Moving ahead by one pushes the oldest slot out. */
	CHECK(sealine_replay_accept(&r, 1001));
	CHECK(!sealine_replay_check(&r, 1001 - W));
	CHECK(sealine_replay_check(&r, 1002 - W));
	/* Far behind a top in a high 2^32 epoch. */
	r = at(5 * SPAN + 3, 1);
	CHECK(!sealine_replay_check(&r, 4 * SPAN + 3));
	CHECK(!sealine_replay_check(&r, 3));
	CHECK(sealine_replay_check(&r, 5 * SPAN + 3 - W + 1));
}

TEST(window_jump_ahead)
{
	struct sealine_replay r;
	uint64_t c, jump;

	for (jump = W - 2; jump <= W + 2; jump++) {
		sealine_replay_init(&r);
		for (c = 0; c <= 10; c++)
			CHECK(sealine_replay_accept(&r, 100 + c));
		CHECK(sealine_replay_accept(&r, 110 + jump));
		if (jump >= W) {
			CHECK_EQ(r.bitmap, 1);
		} else {
			/* Old bits shifted along, those past W dropped. */
			CHECK_EQ(r.bitmap, ((0x7ffULL << jump) | 1));
		}
		/* Everything not yet seen inside the new window is still
		 * accepted once; everything seen or too old is not.
		 */
		for (c = 110 + jump - W + 1; c < 110 + jump; c++) {
			bool seen = c >= 100 && c <= 110;

			CHECKF(sealine_replay_check(&r, c) == !seen,
			       "jump %" PRIu64 " counter %" PRIu64, jump, c);
		}
		CHECK(!sealine_replay_check(&r, 110 + jump - W));
		CHECK(!sealine_replay_check(&r, 100));
	}

	/* A huge jump, and a counter right below the new top. */
	sealine_replay_init(&r);
	CHECK(sealine_replay_accept(&r, 7));
	CHECK(sealine_replay_accept(&r, 1ULL << 40));
	CHECK_EQ(r.bitmap, 1);
	CHECK(!sealine_replay_check(&r, 7));
	CHECK(sealine_replay_accept(&r, (1ULL << 40) - 1));
	CHECK(sealine_replay_accept(&r, (1ULL << 40) - W + 1));
	CHECK(!sealine_replay_accept(&r, (1ULL << 40) - W));
}

TEST(window_check_is_pure)
{
	unsigned int iter;

	for (iter = 0; iter < 20000; iter++) {
		struct sealine_replay r, before;
		uint64_t c;
		int k;

		if (check_below(10) == 0)
			sealine_replay_init(&r);
		else
			r = at(check_rand() >> 1, check_rand() | 1);
		before = r;
		for (k = 0; k < 20; k++) {
			c = near(r.top, (int64_t)check_below(200) - 100);
			if (check_below(4) == 0)
				c = check_rand();
			(void)sealine_replay_check(&r, c);
			if (!CHECK(same_state(&r, &before)))
				return;
		}
		/* And a refused accept does not change state either. */
		if (r.started) {
			(void)sealine_replay_accept(&r, r.top);
			CHECK(same_state(&r, &before));
		}
	}
}

TEST(window_first_counter_any)
{
	static const uint64_t first[] = {
		0, 1, 63, 64, 0xffffffffULL, SPAN, HALF, 1ULL << 63,
		~0ULL - 1, ~0ULL,
	};
	size_t i;

	for (i = 0; i < sizeof(first) / sizeof(first[0]); i++) {
		struct sealine_replay r;

		sealine_replay_init(&r);
		CHECK(!r.started);
		CHECK(sealine_replay_check(&r, first[i]));
		CHECK(sealine_replay_accept(&r, first[i]));
		CHECK(r.started);
		CHECK_EQ(r.top, first[i]);
		CHECK_EQ(r.bitmap, 1);
		CHECK(!sealine_replay_accept(&r, first[i]));
		if (first[i] >= W)
			CHECK(!sealine_replay_check(&r, first[i] - W));
	}
}

/*
 * The random model check. Episodes start at interesting places (zero, just
 * before a 2^32 wrap, random 48-bit values) and apply random operations:
 * accept/check of counters near the top, behind it, just outside the
 * window, small and large jumps ahead, and counters rebuilt from 32 bits
 * with sealine_counter_expand. After each op the implementation must agree
 * with the reference model, and its top must be the model's max.
 */
TEST(replay_model_random)
{
	struct ref_replay m;
	unsigned long ops = 0, accepted = 0, refused = 0;
	unsigned int episode;

	ref_replay_init(&m);
	for (episode = 0; episode < 1000; episode++) {
		struct sealine_replay r;
		uint64_t base;
		unsigned int k;

		sealine_replay_init(&r);
		ref_replay_reset(&m);
		switch (episode % 4) {
		case 0: base = 0; break;
		case 1: base = SPAN * (1 + check_below(8)) - check_below(300);
			break;
		case 2: base = check_rand() >> 16; break;
		default: base = check_below(100); break;
		}
		for (k = 0; k < 6000; k++, ops++) {
			uint64_t top = m.started ? m.max : base, c;
			int op = (int)check_below(16);
			bool got, want;

			switch (op) {
			case 0: case 1: case 2: case 3: case 4:
				/* around the top */
				c = near(top, (int64_t)check_below(2 * W + 9) -
					      W - 4);
				break;
			case 5: case 6:
				c = top + 1;
				break;
			case 7:	/* exactly at the window edges */
				c = near(top, -(int64_t)W +
					      (int64_t)check_below(3));
				break;
			case 8:	/* small jump ahead */
				c = top + 1 + check_below(3 * W);
				break;
			case 9:	/* rare large jump ahead */
				c = top + (check_below(40) ? check_below(W) :
					   check_below(1ULL << 33));
				break;
			case 10: /* far behind */
				c = near(top, -(int64_t)check_below(1 << 20));
				break;
			case 11: case 12: { /* rebuilt from 32 bits */
				uint32_t c32 = (uint32_t)near(top,
					(int64_t)check_below(4 * W) - 2 * W);

				c = sealine_counter_expand(&r, c32);
				if (!CHECKF(c == ref_expand(m.started, m.max,
							    c32),
					    "expand mismatch"))
					goto out;
				break;
			}
			default:
				c = near(top, (int64_t)check_below(W) - W / 2);
				break;
			}
			if (op == 15) {
				got = sealine_replay_check(&r, c);
				want = ref_replay_check(&m, c);
			} else {
				got = sealine_replay_accept(&r, c);
				want = ref_replay_accept(&m, c);
				if (got)
					accepted++;
				else
					refused++;
			}
			if (!CHECKF(got == want, "episode %u op %u (%d): "
				    "counter %" PRIu64 " top %" PRIu64 ": %d, "
				    "model %d", episode, k, op, c, (uint64_t)r.top, got,
				    want))
				goto out;
			if (!CHECKF(r.started == m.started &&
				    (!m.started || r.top == m.max),
				    "top %" PRIu64 " model %" PRIu64, (uint64_t)r.top,
				    m.max))
				goto out;
		}
	}
out:
	printf("  replay model: %lu ops, %lu accepted, %lu refused\n", ops,
	       accepted, refused);
	ref_replay_free(&m);
}

/* Exhaustive over a small space: every set of accepted counters in
 * [0, W + 6) inserted in a random order gives the reference answer for
 * every counter in the space.
 */
TEST(replay_model_exhaustive_small)
{
	const unsigned int span = 12;	/* counters 0..11 plus offset */
	static const uint64_t offsets[] = { 0, W - 3, SPAN - 5 };
	struct ref_replay m;
	unsigned int mask, o;

	ref_replay_init(&m);
	for (o = 0; o < 3; o++) {
		for (mask = 0; mask < (1u << span); mask++) {
			struct sealine_replay r;
			unsigned int order[12], i, j, tmp, n = 0;
			uint64_t c;

			sealine_replay_init(&r);
			ref_replay_reset(&m);
			for (i = 0; i < span; i++)
				if (mask & (1u << i))
					order[n++] = i;
			for (i = n; i > 1; i--) {
				j = (unsigned int)check_below(i);
				tmp = order[i - 1];
				order[i - 1] = order[j];
				order[j] = tmp;
			}
			for (i = 0; i < n; i++) {
				/* stretch so that some land outside W */
				c = offsets[o] + order[i] * 7;
				CHECK_EQ(sealine_replay_accept(&r, c),
					 ref_replay_accept(&m, c));
			}
			for (c = offsets[o]; c < offsets[o] + span * 7 + W;
			     c++)
				CHECK_EQ(sealine_replay_check(&r, c),
					 ref_replay_check(&m, c));
			if (check_failing())
				goto out;
		}
	}
out:
	ref_replay_free(&m);
}

int main(int argc, char **argv)
{
	check_init(argc, argv);
	RUN(expand_across_wrap);
	RUN(expand_near_zero);
	RUN(expand_half_span);
	RUN(expand_random_vs_reference);
	RUN(window_in_order);
	RUN(window_duplicate);
	RUN(window_out_of_order);
	RUN(window_too_old);
	RUN(window_jump_ahead);
	RUN(window_check_is_pure);
	RUN(window_first_counter_any);
	RUN(replay_model_random);
	RUN(replay_model_exhaustive_small);
	return check_summary();
}
