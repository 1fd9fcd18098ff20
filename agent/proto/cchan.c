// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The courier channel: sealing and opening the agents' COURIER messages
 * under the courier keys of the line's sessions (cchan.h).
 */
#include <errno.h>
#include <string.h>

#include "cchan.h"
#include "crypto.h"
#include "../kmod/replay.h"

enum { SLOT_NEXT, SLOT_CUR, SLOT_PREV, SLOTS };

struct slot {
	bool used;
	uint32_t hsid;
	uint32_t epoch;
	uint64_t tx_counter;
	struct sealine_replay rx;
	uint8_t tx[SEALINE_KEY_LEN];
	uint8_t rx_key[SEALINE_KEY_LEN];
};

/* All of it in secure memory: the keys and what surrounds them. */
struct sl_cchan {
	struct slot slot[SLOTS];
	struct sl_cchan_stats stats;
};

struct sl_cchan *sl_cchan_new(void)
{
	struct sl_cchan *c = sl_secure_alloc(sizeof(*c));

	if (c)
		memset(c, 0, sizeof(*c));
	return c;
}

void sl_cchan_free(struct sl_cchan *c)
{
	if (c)
		sl_secure_free(c, sizeof(*c));
}

static void drop(struct slot *s)
{
	sl_wipe(s, sizeof(*s));
}

void sl_cchan_clear(struct sl_cchan *c)
{
	for (int i = 0; i < SLOTS; i++)
		drop(&c->slot[i]);
}

int sl_cchan_stage(struct sl_cchan *c, uint32_t hsid, uint32_t epoch,
		   const uint8_t tx[SEALINE_KEY_LEN],
		   const uint8_t rx[SEALINE_KEY_LEN])
{
	struct slot *s = &c->slot[SLOT_NEXT];

	if (!hsid || sl_ct_memeq(tx, rx, SEALINE_KEY_LEN))
		return -EINVAL;
	drop(s);
	s->used = true;
	s->hsid = hsid;
	s->epoch = epoch;
	memcpy(s->tx, tx, SEALINE_KEY_LEN);
	memcpy(s->rx_key, rx, SEALINE_KEY_LEN);
	sealine_replay_init(&s->rx);
	return 0;
}

static void promote(struct sl_cchan *c)
{
	drop(&c->slot[SLOT_PREV]);
	c->slot[SLOT_PREV] = c->slot[SLOT_CUR];
	c->slot[SLOT_CUR] = c->slot[SLOT_NEXT];
	memset(&c->slot[SLOT_NEXT], 0, sizeof(c->slot[SLOT_NEXT]));
}

int sl_cchan_activate(struct sl_cchan *c, uint32_t epoch)
{
	if (c->slot[SLOT_CUR].used && c->slot[SLOT_CUR].epoch == epoch)
		return 0;
	if (!c->slot[SLOT_NEXT].used || c->slot[SLOT_NEXT].epoch != epoch)
		return -ENOKEY;
	promote(c);
	return 0;
}

bool sl_cchan_ready(const struct sl_cchan *c)
{
	return c->slot[SLOT_CUR].used;
}

uint32_t sl_cchan_hsid(const struct sl_cchan *c)
{
	return c->slot[SLOT_CUR].used ? c->slot[SLOT_CUR].hsid : 0;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* 4 zero bytes, then the counter little-endian (Noise, the kernel). */
static void nonce_of(uint8_t nonce[SL_AEAD_NONCE_LEN], uint64_t counter)
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++, counter >>= 8)
		nonce[4 + i] = (uint8_t)counter;
}

int sl_cchan_seal(struct sl_cchan *c, uint8_t *out, size_t *out_len,
		  const uint8_t *plain, size_t len)
{
	struct slot *s = &c->slot[SLOT_CUR];
	uint8_t nonce[SL_AEAD_NONCE_LEN];
	int err;

	if (!s->used)
		return -ENOKEY;
	if (len > SL_CCHAN_MAX_PLAIN)
		return -EMSGSIZE;
	if (s->tx_counter >= SL_CCHAN_MAX_COUNTER)
		return -ERANGE;
	out[0] = SL_CCHAN_VERSION;
	out[1] = SL_MSG_COURIER;
	put_be(out + 2, s->hsid, 4);
	put_be(out + 6, s->tx_counter, 8);
	nonce_of(nonce, s->tx_counter);
	err = sl_aead_seal(out + SL_CCHAN_HEADER_LEN, plain, len, out,
			   SL_CCHAN_HEADER_LEN, nonce, s->tx);
	if (err)
		return err;
	/* The counter moves even if the caller never sends it: a nonce is
	 * spent once it sealed something. */
	s->tx_counter++;
	c->stats.sealed++;
	*out_len = len + SL_CCHAN_OVERHEAD;
	return 0;
}

int sl_cchan_open(struct sl_cchan *c, uint8_t *plain, size_t *plain_len,
		  const uint8_t *msg, size_t len)
{
	static const int order[SLOTS] = { SLOT_CUR, SLOT_NEXT, SLOT_PREV };
	uint8_t nonce[SL_AEAD_NONCE_LEN];
	struct slot *s = NULL;
	uint64_t counter;
	uint32_t hsid;
	int which = -1;

	*plain_len = 0;
	if (len < SL_CCHAN_OVERHEAD || len > SL_CCHAN_MAX_MSG ||
	    msg[0] != SL_CCHAN_VERSION || msg[1] != SL_MSG_COURIER) {
		c->stats.malformed++;
		return -EINVAL;
	}
	hsid = (uint32_t)get_be(msg + 2, 4);
	counter = get_be(msg + 6, 8);
	for (int i = 0; i < SLOTS && !s; i++) {
		if (c->slot[order[i]].used && c->slot[order[i]].hsid == hsid) {
			which = order[i];
			s = &c->slot[which];
		}
	}
	if (!s) {
		c->stats.unknown++;
		return -ENOKEY;
	}
	if (!sealine_replay_check(&s->rx, counter)) {
		c->stats.replays++;
		return -EALREADY;
	}
	nonce_of(nonce, counter);
	if (sl_aead_open(plain, msg + SL_CCHAN_HEADER_LEN,
			 len - SL_CCHAN_HEADER_LEN, msg, SL_CCHAN_HEADER_LEN,
			 nonce, s->rx_key)) {
		c->stats.auth_failures++;
		return -EBADMSG;
	}
	sealine_replay_accept(&s->rx, counter);
	if (which == SLOT_NEXT) {
		promote(c);
		c->stats.promotions++;
	}
	c->stats.opened++;
	*plain_len = len - SL_CCHAN_OVERHEAD;
	return 0;
}

void sl_cchan_get_stats(const struct sl_cchan *c, struct sl_cchan_stats *st)
{
	*st = c->stats;
}
