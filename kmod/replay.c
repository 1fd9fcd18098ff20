// SPDX-License-Identifier: GPL-2.0
/*
 * Receive counters and the replay window of sealine.
 *
 * The window is checked twice: cheaply before decryption, to spend no
 * cycles on an obvious replay, and authoritatively after the tag verified,
 * because only an authenticated frame may move the window (otherwise a
 * forged counter far ahead would make every genuine frame look old).
 */
#include "replay.h"

#define SEALINE_COUNTER32_SPAN	BIT_ULL(32)
#define SEALINE_COUNTER32_HALF	BIT_ULL(31)

void sealine_replay_init(struct sealine_replay *r)
{
	r->top = 0;
	r->bitmap = 0;
	r->started = false;
}

/*
 * Returns the 64-bit counter closest to the one expected next (top + 1)
 * whose low 32 bits are counter32.
 */
u64 sealine_counter_expand(const struct sealine_replay *r, u32 counter32)
{
	u64 expected = r->started ? r->top + 1 : 0;
	u64 candidate = (expected & ~(SEALINE_COUNTER32_SPAN - 1)) | counter32;

	if (candidate + SEALINE_COUNTER32_HALF <= expected &&
	    candidate <= ~0ULL - SEALINE_COUNTER32_SPAN)
		return candidate + SEALINE_COUNTER32_SPAN;
	if (candidate > expected + SEALINE_COUNTER32_HALF &&
	    candidate >= SEALINE_COUNTER32_SPAN)
		return candidate - SEALINE_COUNTER32_SPAN;
	return candidate;
}

/* True if counter may still be accepted: ahead of the window, or inside
 * it and not seen yet.
 */
bool sealine_replay_check(const struct sealine_replay *r, u64 counter)
{
	u64 age;

	if (!r->started || counter > r->top)
		return true;
	age = r->top - counter;
	if (age >= SEALINE_REPLAY_WINDOW)
		return false;
	return !(r->bitmap & (1ULL << age));
}

/* Records an authenticated counter. Returns false if it is a replay. */
bool sealine_replay_accept(struct sealine_replay *r, u64 counter)
{
	u64 shift;

	if (!sealine_replay_check(r, counter))
		return false;
	if (!r->started) {
		r->started = true;
		r->top = counter;
		r->bitmap = 1;
		return true;
	}
	if (counter > r->top) {
		shift = counter - r->top;
		r->bitmap = shift >= SEALINE_REPLAY_WINDOW ? 0 :
			    r->bitmap << shift;
		r->bitmap |= 1;
		r->top = counter;
		return true;
	}
	r->bitmap |= 1ULL << (r->top - counter);
	return true;
}
