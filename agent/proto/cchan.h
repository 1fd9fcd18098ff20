/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The courier channel of one line: the agents' own sealed messages
 * (COURIER, type 0x40) on the line's control channel, under the courier
 * keys of the line's session (Documentation/courier.rst, "Courier
 * messages"; the keys: handshake.rst, "Derived values").
 *
 *	offset	len	field
 *	0	1	ver	2
 *	1	1	type	0x40 (SL_MSG_COURIER)
 *	2	4	hsid	the session whose courier keys seal it
 *	6	8	counter	big-endian; nonce = 4 zero bytes || counter
 *			little-endian, as in Noise and the kernel's frames
 *	14	p	ciphertext
 *	14+p	16	tag	ChaCha20-Poly1305, AD = bytes 0..13
 *
 * Like the kernel's key slots (protocol.rst, "Key slots and rekeying"),
 * a channel holds up to three sessions' keys: next (staged by the
 * handshake, receive only), current (send and receive) and previous
 * (receive only). A message under the next session's keys promotes them,
 * as the kernel's first frame under a staged key does, so neither side
 * waits for the other's last handshake message; a rekey loses nothing in
 * flight. Each session's keys have their own counter from 0 and their own
 * 64-message replay window (kmod/replay.c), checked after the tag: a copy,
 * a replay or a message of another session or line is refused before its
 * plaintext is used. Every message sealed gets a new counter, a resent
 * one too, so no nonce is ever used twice under a key.
 *
 * Pure: no I/O, no clock. Keys in libgcrypt's secure memory, wiped when a
 * slot is dropped, replaced, cleared or freed.
 */
#ifndef SEALINE_AGENT_CCHAN_H
#define SEALINE_AGENT_CCHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/sealine.h>

#define SL_MSG_COURIER		0x40
#define SL_CCHAN_VERSION	2
#define SL_CCHAN_HEADER_LEN	14
#define SL_CCHAN_TAG_LEN	16
#define SL_CCHAN_OVERHEAD	(SL_CCHAN_HEADER_LEN + SL_CCHAN_TAG_LEN)
/* The largest message is one control message. */
#define SL_CCHAN_MAX_MSG	SEALINE_MAX_CONTROL
#define SL_CCHAN_MAX_PLAIN	(SL_CCHAN_MAX_MSG - SL_CCHAN_OVERHEAD)
/* Messages sealed under one session's keys at most; a rekey (every 20
 * minutes by default) comes long before. */
#define SL_CCHAN_MAX_COUNTER	(1ULL << 48)

struct sl_cchan;

struct sl_cchan_stats {
	uint64_t sealed, opened;
	uint64_t malformed;	/* not a courier message of ours */
	uint64_t unknown;	/* no keys with its hsid */
	uint64_t auth_failures;
	uint64_t replays;	/* copies, replays, too old */
	uint64_t promotions;	/* next keys made current by a message */
};

/* A channel without keys; NULL if secure memory is exhausted. */
struct sl_cchan *sl_cchan_new(void);
/* Wipes every key and frees. NULL is fine. */
void sl_cchan_free(struct sl_cchan *c);

/*
 * The handshake staged a session (STAGE_KEY): its hsid, its epoch and our
 * two courier keys (copied; the caller wipes its buffers). Replaces a
 * staged session. -EINVAL for hsid 0 or equal keys.
 */
int sl_cchan_stage(struct sl_cchan *c, uint32_t hsid, uint32_t epoch,
		   const uint8_t tx[SEALINE_KEY_LEN],
		   const uint8_t rx[SEALINE_KEY_LEN]);
/*
 * The session of epoch became current (ACTIVATE, or the handshake
 * completed): the staged keys move to current, current to previous, the
 * previous ones are wiped. 0 also if it is current already; -ENOKEY if
 * nothing of that epoch is staged.
 */
int sl_cchan_activate(struct sl_cchan *c, uint32_t epoch);
/* Every key wiped: line down, keys cleared or expired. */
void sl_cchan_clear(struct sl_cchan *c);

/* Whether a current session can seal; its hsid (0 if none). */
bool sl_cchan_ready(const struct sl_cchan *c);
uint32_t sl_cchan_hsid(const struct sl_cchan *c);

/*
 * Seals len bytes (at most SL_CCHAN_MAX_PLAIN) under the current session
 * into out (room for len + SL_CCHAN_OVERHEAD), *out_len set. -ENOKEY
 * without a current session, -EMSGSIZE, -ERANGE past SL_CCHAN_MAX_COUNTER.
 */
int sl_cchan_seal(struct sl_cchan *c, uint8_t *out, size_t *out_len,
		  const uint8_t *plain, size_t len);

/*
 * Opens a received message into plain (room for len bytes), *plain_len
 * set. -EINVAL: not a courier message (length, version, type); -ENOKEY:
 * no session with its hsid; -EBADMSG: the tag fails (plain is wiped);
 * -EALREADY: its counter was seen or is too old. Only an authentic new
 * message moves the replay window or promotes staged keys.
 */
int sl_cchan_open(struct sl_cchan *c, uint8_t *plain, size_t *plain_len,
		  const uint8_t *msg, size_t len);

void sl_cchan_get_stats(const struct sl_cchan *c, struct sl_cchan_stats *st);

/* A control message's type byte says COURIER. */
static inline bool sl_cchan_is_courier(const uint8_t *msg, size_t len)
{
	return len >= 2 && msg[1] == SL_MSG_COURIER;
}

#endif
