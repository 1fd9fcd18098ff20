/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Receive counters: rebuilding the 64-bit counter from the 32 bits on the
 * wire, and the replay window. Plain C: built into the module and the host
 * tests alike.
 */
#ifndef SEALINE_REPLAY_H
#define SEALINE_REPLAY_H

#include "protocol.h"

struct sealine_replay {
	u64 top;	/* highest counter accepted */
	u64 bitmap;	/* bit i set: counter top - i accepted */
	bool started;	/* any counter accepted yet */
};

void sealine_replay_init(struct sealine_replay *r);
u64 sealine_counter_expand(const struct sealine_replay *r, u32 counter32);
bool sealine_replay_check(const struct sealine_replay *r, u64 counter);
bool sealine_replay_accept(struct sealine_replay *r, u64 counter);

#endif /* SEALINE_REPLAY_H */
