/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Call setup's own header; call.h is its API. What the endpoint's side
 * (call_endpoint.c) and the TSP's side (call_leg.c) share: the blocks of
 * secure memory (call.c, "Memory"), the payload sizes and, with the
 * prefix call_, the helpers in call.c. None of it is API.
 */
#ifndef SL_CALL_INTERNAL_H
#define SL_CALL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gcrypt.h>

#include "call.h"
#include "crypto.h"
#include "hs_common.h"
#include "noise.h"

#define PROLOGUE	"sealine"
#define PROLOGUE_LEN	7
#define STATUS_PAYLOAD	9
#define OFFER_PAYLOAD	21	/* caller, tracking id, flags */
#define AUTH_PAYLOAD_CALL	25
#define AUTH_PAYLOAD_ANSWER	13
#define NOISE_MSG1_LEN	48	/* e, es: key and empty tag */

struct hs_block {
	struct sl_noise_hs noise;
	uint8_t s[SL_HS_KEY_LEN];	/* our static private key */
	uint8_t e[SL_HS_KEY_LEN];	/* tests: the ephemeral */
};

struct key_block {
	struct sl_noise_cipher e2t, t2e;
	/* Purposes 2 (a held delivery), 3 and 4: the leg's courier keys
	 * (call.h); an answerer's are wiped at CONNECTED of a call. */
	uint8_t courier[SL_CALL_COURIER_KEYS_LEN];
	bool has_courier;
};

/* NAK rate limit: one a second per engine. */
struct nak_limit {
	uint64_t last;
	bool sent;
};

void call_put64(uint8_t *p, uint64_t v);
uint64_t call_get64(const uint8_t *p);
bool call_is_account_str(const char *s);
uint32_t call_rto0(unsigned int baud, size_t msg, size_t reply);
int call_check_versions(uint8_t *lo, uint8_t *hi);
struct sl_call_action *call_push(struct sl_call_actions *out,
				 enum sl_call_act type);
void call_begin(struct sl_call_actions *out);
int call_drop(struct sl_call_actions *out, const char *why);
void call_act_send(struct sl_call_actions *out, const uint8_t *m,
		   size_t len);
void call_build_nak(uint8_t nak[SL_HS_NAK_LEN], uint8_t ver, uint32_t hsid,
		    uint8_t reason, uint8_t detail, uint8_t lo, uint8_t hi,
		    uint8_t ref_type);
void call_emit_nak(struct sl_call_actions *out, struct nak_limit *lim,
		   uint64_t now, const uint8_t nak[SL_HS_NAK_LEN],
		   bool ended);
void call_act_failed(struct sl_call_actions *out, uint32_t hsid,
		     enum sl_call_purpose purpose, uint64_t tracking_id,
		     unsigned int auth_failures, uint8_t reason,
		     uint8_t detail, bool remote, const char *text);
struct sl_call_action *call_log_nak_in(struct sl_call_actions *out,
				       const uint8_t *m, bool ended);
struct hs_block *call_hs_alloc(const uint8_t *s);
void call_hs_release(struct hs_block **b);
void call_keys_release(struct key_block **k);
/* The courier keys of a purpose 3 or 4 leg, from the handshake's ck and
 * h after its last message. */
int call_courier_derive(const struct sl_noise_hs *hs, struct key_block *k);
/* The payload length of CALL_AUTH for purpose p; 0 for an unknown one. */
size_t call_auth_payload_len(uint8_t purpose);
/* Purposes that name a recipient (1 and 3). */
bool call_purpose_names_peer(uint8_t purpose);

#endif /* SL_CALL_INTERNAL_H */
