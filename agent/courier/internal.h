/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What the courier's files share and nobody else needs: the one-way Noise
 * pattern under the envelope header, refusal helpers, and byte order.
 */
#ifndef SEALINE_COURIER_INTERNAL_H
#define SEALINE_COURIER_INTERNAL_H

#include <stdarg.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "fdio.h"
#include "hex.h"
#include "log.h"
#include "noise.h"

#define SL_XPSK1_NAME	"Noise_Xpsk1_25519_ChaChaPoly_SHA256"
/* Message overhead: e, s and its tag, the payload's tag. */

/*
 * Noise_Xpsk1 (Noise specification, revision 34, sections 7.4 and 9):
 *
 *	<- s
 *	...
 *	-> e, es, s, ss, psk
 *
 * one message from the initiator (sender) to the responder (recipient),
 * whose static key the sender knows. sl_xpsk1_write() writes the whole
 * message (SL_NOISE_KEY_LEN + SL_NOISE_KEY_LEN + tag + len + tag bytes);
 * the reader goes in two steps because it learns whose PSK to use only
 * from the "s" token: read_s() (e, es, s: the sender's static key into
 * rs), then read_rest() (ss, psk, payload). Each leaves ss ready for
 * Split(); the caller keeps it in secure memory and wipes it.
 */
int sl_xpsk1_write(struct sl_noise_symmetric *ss, const void *prologue,
		   size_t prologue_len, const uint8_t s[SL_NOISE_KEY_LEN],
		   const uint8_t rs[SL_NOISE_KEY_LEN],
		   const uint8_t psk[SL_NOISE_KEY_LEN], const uint8_t *e,
		   const uint8_t *payload, size_t len, uint8_t *out);
int sl_xpsk1_read_s(struct sl_noise_symmetric *ss, const void *prologue,
		    size_t prologue_len, const uint8_t s[SL_NOISE_KEY_LEN],
		    const uint8_t s_pub[SL_NOISE_KEY_LEN], const uint8_t *msg,
		    uint8_t rs[SL_NOISE_KEY_LEN]);
int sl_xpsk1_read_rest(struct sl_noise_symmetric *ss,
		       const uint8_t s[SL_NOISE_KEY_LEN],
		       const uint8_t rs[SL_NOISE_KEY_LEN],
		       const uint8_t psk[SL_NOISE_KEY_LEN], const uint8_t *msg,
		       size_t len, uint8_t *payload);

/* Sets why (may be NULL) and returns reason. */
enum sl_env_reason sl_env_refuse(struct sl_env_refusal *why,
				 enum sl_env_reason reason, const char *fmt,
				 ...) __attribute__((format(printf, 3, 4)));

/* s as printable ASCII, other bytes as \xNN, cut to fit out. */
void sl_env_escape(char *out, size_t size, const char *s);

static inline void sl_env_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static inline uint64_t sl_env_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

#endif
