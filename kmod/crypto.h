/* SPDX-License-Identifier: GPL-2.0 */
#ifndef SEALINE_CRYPTO_H
#define SEALINE_CRYPTO_H

#include <linux/kref.h>
#include "replay.h"

struct crypto_aead;
struct aead_request;

/*
 * One key epoch: a key for each direction. The transmit side is used only
 * by the line's transmit work, the receive side only by the tty's receive
 * path, so each direction owns a preallocated request. Counters and the
 * replay window are protected by the line's lock.
 */
struct sealine_key {
	struct kref refcount;
	u32 epoch;
	u64 id;				/* unique per line: the ARQ's nonce guard */
	enum sealine_cipher cipher;
	struct crypto_aead *tx_tfm;
	struct crypto_aead *rx_tfm;
	struct aead_request *tx_req;
	struct aead_request *rx_req;
	u64 tx_counter;			/* next counter to send */
	struct sealine_replay replay;	/* receive counters */
	u64 born;			/* jiffies64 when activated */
	bool active;			/* has been the current key */
	bool rekey_signalled;
	bool expired;
};

struct sealine_key *sealine_key_create(enum sealine_cipher cipher, u32 epoch,
				       const u8 *tx_key, const u8 *rx_key);
void sealine_key_put(struct sealine_key *key);
int sealine_key_seal(struct sealine_key *key, u8 *frame, size_t len,
		     u64 counter);
int sealine_key_open(struct sealine_key *key, u8 *frame, size_t len,
		     u64 counter);
const char *sealine_cipher_name(enum sealine_cipher cipher);

#endif /* SEALINE_CRYPTO_H */
