/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Call setup through a TSP (Documentation/handshake.rst, "Call setup
 * through the TSP"): the CALL_* messages on one leg of a call, for both
 * ends of that leg, as pure state machines in the style of handshake.h.
 * No I/O: the daemon hands in every call-setup control message received
 * on the line, its own decisions and the clock, and gets back an ordered
 * list of actions and the time of the one timer.
 *
 *  - struct sl_call, the endpoint (E): the caller (purpose CALL), which
 *    names the recipient, or the answerer (purpose ANSWER), whose modem
 *    answered T's ring. E is the Noise_XK initiator and the only side that
 *    retransmits.
 *  - struct sl_tsp_leg, the TSP (T): one per line of a call. It answers
 *    CALL_HELLO, authenticates CALL_AUTH and then does what the TSP
 *    daemon (account store, dialler, bridge) decides.
 *
 * Endpoint:
 *
 *	c = sl_call_new(&cfg, &err);		after sl_crypto_init()
 *	sl_call_start(c, SL_CALL_PURPOSE_CALL, "000000000002", now, &out);
 *	sl_call_input(c, msg, len, now, &out);	CONTROL_RECEIVED (setup)
 *	sl_call_timer(c, now, &out);		at out.next_timer
 *	sl_call_offer_reply(c, accept, reason, detail, now, &out);
 *						answerer, after OFFER
 *	sl_call_abort(c, now, &out);		LINE_DOWN, hangup, cancel
 *	sl_call_free(c);
 *
 * TSP, per line:
 *
 *	leg = sl_tsp_leg_new(&tcfg, &err);
 *	sl_tsp_leg_input(leg, msg, len, now, &out);
 *	sl_tsp_leg_timer(leg, now, &out);
 *	after AUTHENTICATED, one of:
 *	  sl_tsp_leg_refuse(leg, reason, detail, now, &out);	the leg ends
 *	  sl_tsp_leg_dialling(leg, tracking_id, now, &out);	caller's leg
 *	  sl_tsp_leg_offer(leg, caller, tracking_id, now, &out); answerer's
 *	then sl_tsp_leg_connected(leg, now, &out) (the answerer's leg after
 *	ACCEPTED, then the caller's), and sl_tsp_leg_end(leg, now, &out)
 *	when the call ends, just before T hangs the line up.
 *	sl_tsp_leg_free(leg);
 *
 * Every call that takes "out" resets and fills it (struct
 * sl_call_actions): actions in the order they must be carried out and
 * out->next_timer (0: none). Times are milliseconds of CLOCK_MONOTONIC,
 * never 0.
 *
 * Routing on the line: sl_call_msg_is_setup() says which control
 * messages are call setup (CALL_*). Until CONNECTED, NAKs go to the call
 * engine too; after it, NAKs and every other non-setup message are end to
 * end (sl_hs on the endpoints; T relays them), while a CALL_STATUS (the
 * "ended" of handshake.rst) still goes to the endpoint's call engine and
 * a CALL_AUTH or CALL_ACCEPT copy to T's leg.
 *
 * Secrets live in libgcrypt's secure memory: during the handshake a
 * block with the Noise state and the static key (SL_CALL_SECMEM_HS
 * bytes), after CALL_AUTH only the two CipherStates and, for purposes 3
 * and 4, the leg's courier keys (SL_CALL_SECMEM_KEYS bytes), and after
 * CONNECTED only the one that "ended" needs and those courier keys (the
 * rest is wiped). A TSP with hundreds of lines sizes its pool with
 * sl_crypto_init() accordingly; see SL_CALL_SECMEM_* below.
 *
 * Not thread-safe: one thread per engine.
 */
#ifndef SEALINE_AGENT_CALL_H
#define SEALINE_AGENT_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"		/* SL_SECMEM_POOL_SIZE */
#include "handshake.h"		/* message types, NAK reasons, timing */

/* ---- Wire (handshake.rst, "Call setup through the TSP") ---------- */

#define SL_CALL_HELLO_LEN		56
#define SL_CALL_REPLY_LEN		54
#define SL_CALL_AUTH_CALL_LEN		95	/* purpose 1 */
#define SL_CALL_AUTH_ANSWER_LEN		83	/* purpose 2 */
#define SL_CALL_STATUS_LEN		32
#define SL_CALL_OFFER_LEN		44
#define SL_CALL_ACCEPT_LEN		23
#define SL_CALL_MAX_MSG			95

enum sl_call_purpose {
	SL_CALL_PURPOSE_CALL = 1,
	SL_CALL_PURPOSE_ANSWER = 2,
	/* Store and forward (store-and-forward.rst): hand an envelope for
	 * the recipient named to T; pick up what T holds for us. T is the
	 * courier peer of the leg; nothing is dialled. */
	SL_CALL_PURPOSE_DEPOSIT = 3,
	SL_CALL_PURPOSE_COLLECT = 4,
};

enum sl_call_status_code {
	SL_CALL_STATUS_DIALLING = 1,
	SL_CALL_STATUS_CONNECTED = 2,
	SL_CALL_STATUS_ENDED = 3,
	SL_CALL_STATUS_DEPOSIT = 4,	/* purposes 3, 4: T takes the leg */
};

/* CALL_OFFER's flags byte (store-and-forward.rst, "The delivery call"). */
#define SL_CALL_OFFER_HELD		0x01	/* T delivers a held envelope */

/* The leg's courier keys (purposes 3 and 4, and 2 for a held delivery),
 * derived at CALL_AUTH:
 * k_e2t || k_t2e = HKDF-SHA-256(salt = ck, ikm = h, info = the label). */
#define SL_CALL_COURIER_KEYS_LEN	64
#define SL_CALL_COURIER_LABEL		"sealine v1 tsp leg courier"

/* ---- Timing ------------------------------------------------------ */

#define SL_CALL_DEADLINE_MS		20000	/* handshake.rst: call setup */
#define SL_CALL_DIALLING_MS		90000	/* after CALL_STATUS dialling */
#define SL_CALL_DIAL_RESEND_MS		8000	/* CALL_AUTH while T dials */
#define SL_CALL_OFFER_WAIT_MS		20000	/* T: CALL_ACCEPT after OFFER */

/*
 * Secure memory per engine, in bytes of payload (libgcrypt adds a small
 * header per block): while the handshake runs, and once keyed.
 */
#define SL_CALL_SECMEM_HS		512
#define SL_CALL_SECMEM_KEYS		192

/*
 * A pool for a TSP with n lines (sl_crypto_init()'s secmem_size): the
 * default pool for everything else, and per line the worst moment, a leg
 * replacing its handshake (two hs blocks) with libgcrypt's block headers
 * (at most 64 bytes each). 400 lines: about 615 KiB.
 */
#define SL_CALL_TSP_POOL_SIZE(n) \
	(SL_SECMEM_POOL_SIZE + (size_t)(n) * \
	 (2 * SL_CALL_SECMEM_HS + SL_CALL_SECMEM_KEYS + 3 * 64))

/* true for the CALL_* types, which belong to call setup. */
bool sl_call_msg_is_setup(uint8_t type);

/* ---- Actions (both sides) ---------------------------------------- */

enum sl_call_act {
	/* SEND_CONTROL msg (len bytes). type is msg[1], for logs. */
	SL_CALL_ACT_SEND = 1,
	/* Log a NAK sent (its bytes come as a SEND just before) or
	 * received (unauthenticated). After one that ended the call setup
	 * (ended), hang up: 0.1 s after sending, at once on receiving. */
	SL_CALL_ACT_NAK,
	/* E, caller: T dials the recipient (tracking_id); wait up to 90 s. */
	SL_CALL_ACT_DIALLING,
	/* E, answerer: T offers a call from account (tracking_id), or with
	 * flags SL_CALL_OFFER_HELD the delivery of an envelope account
	 * handed to T. Answer with sl_call_offer_reply(). */
	SL_CALL_ACT_OFFER,
	/* E: the call is bridged (tracking_id; account: the recipient for
	 * the caller, the caller for the answerer). Start pairing or a
	 * session end to end; with flags SL_CALL_OFFER_HELD, T is the
	 * courier peer instead (sl_call_courier_keys()). */
	SL_CALL_ACT_CONNECTED,
	/* E: T says the call ended (authentic CALL_STATUS ended): hang up
	 * and wipe the call's keys. */
	SL_CALL_ACT_ENDED,
	/* Either side: the setup (E) or the leg (T) ended without
	 * completing: reason (a NAK code or SL_NAK_NONE), detail, remote
	 * (the peer's NAK), unauthenticated (a received NAK is). Hang up. */
	SL_CALL_ACT_FAILED,
	/* T: an authentic CALL_AUTH: purpose, static_pub (E's key), account
	 * (the one E claims) and, for purpose CALL, peer (the recipient).
	 * Check them against the store and answer with refuse, dialling or
	 * offer. */
	SL_CALL_ACT_AUTHENTICATED,
	/* T: the answerer accepted the offer (authentic CALL_ACCEPT). */
	SL_CALL_ACT_ACCEPTED,
	/* E, purposes 3 and 4: T took the leg as the courier peer
	 * (authentic CALL_STATUS deposit; tracking_id, account: the
	 * recipient or ""). The courier runs under
	 * sl_call_courier_keys(); only "ended" may still come. */
	SL_CALL_ACT_DEPOSIT,
};

struct sl_call_action {
	enum sl_call_act type;
	/* SEND */
	uint8_t msg[SL_CALL_MAX_MSG];
	size_t len;
	uint8_t msg_type;
	/* DIALLING, OFFER, CONNECTED, ENDED, AUTHENTICATED */
	uint64_t tracking_id;
	uint8_t purpose;
	uint8_t flags;				/* OFFER, CONNECTED */
	char account[SL_ACCOUNT_LEN + 1];	/* see the action */
	char peer[SL_ACCOUNT_LEN + 1];		/* AUTHENTICATED, purpose 1 */
	uint8_t static_pub[SL_HS_KEY_LEN];	/* AUTHENTICATED */
	/* NAK, FAILED */
	uint32_t hsid;
	uint8_t reason, detail, ref_type, ver_min, ver_max;
	bool sent;			/* NAK: ours, else received */
	bool ended;			/* NAK: it ended the setup or leg */
	bool rate_limited;		/* NAK sent: suppressed (1 a second) */
	bool remote;			/* FAILED: the peer's NAK */
	bool unauthenticated;		/* received NAK */
	unsigned int auth_failures;	/* FAILED: messages that failed */
	const char *text;		/* FAILED: what happened, for logs */
};

#define SL_CALL_MAX_ACTIONS	6

struct sl_call_actions {
	unsigned int n;
	struct sl_call_action a[SL_CALL_MAX_ACTIONS];
	uint64_t next_timer;		/* call the timer then; 0: none */
	const char *dropped;		/* input: why it was dropped, or NULL */
};

/* Randomness, for tests only: fill buf with len bytes, return 0. */
typedef int (*sl_call_random_fn)(void *ctx, uint8_t *buf, size_t len);

/* ---- Endpoint ---------------------------------------------------- */

struct sl_call_config {
	char account[SL_ACCOUNT_LEN];	/* ours, 12 digits */
	const uint8_t *static_priv;	/* ours, 32 bytes (copied) */
	const uint8_t *tsp_pub;		/* T's pinned static key, 32 bytes */
	uint8_t ver_min, ver_max;	/* 0, 0: 1, 1 */
	unsigned int baud;		/* for RTO0; 0: unknown (1 s) */
	sl_call_random_fn test_random;	/* tests: hsids and ephemerals */
	void *test_ctx;
};

struct sl_call;

/* NULL with *err: -EINVAL (bad account, key or versions), -ENOMEM. */
struct sl_call *sl_call_new(const struct sl_call_config *cfg, int *err);

/* Wipes every secret and frees. c may be NULL. */
void sl_call_free(struct sl_call *c);

/*
 * Sends CALL_HELLO. purpose CALL needs recipient (12 digits, not our own
 * account); ANSWER takes NULL. -EINVAL for bad arguments, -EBUSY if
 * already started (one engine per call), -ENOMEM.
 */
int sl_call_start(struct sl_call *c, enum sl_call_purpose purpose,
		  const char *recipient, uint64_t now,
		  struct sl_call_actions *out);

/* A call-setup control message received on the line. */
int sl_call_input(struct sl_call *c, const uint8_t *msg, size_t len,
		  uint64_t now, struct sl_call_actions *out);

/* Retransmissions and deadlines. */
int sl_call_timer(struct sl_call *c, uint64_t now,
		  struct sl_call_actions *out);

/*
 * The answerer's decision on an OFFER: accept sends CALL_ACCEPT; else a
 * NAK with reason (e.g. NOT_AUTHORISED, BUSY) and detail (1: it is about
 * the caller) ends the setup. -EINVAL if no offer waits or for reason 0.
 */
int sl_call_offer_reply(struct sl_call *c, bool accept, uint8_t reason,
			uint8_t detail, uint64_t now,
			struct sl_call_actions *out);

/* LINE_DOWN or a cancel: FAILED (reason NONE) unless already over;
 * everything is wiped. */
int sl_call_abort(struct sl_call *c, uint64_t now,
		  struct sl_call_actions *out);

/*
 * The leg's courier keys after DEPOSIT (purposes 3 and 4), or after
 * CONNECTED of a held delivery (purpose 2, SL_CALL_OFFER_HELD): k_e2t,
 * then k_t2e, into out (the caller wipes it). -EINVAL before, or for
 * anything else.
 */
int sl_call_courier_keys(const struct sl_call *c,
			 uint8_t out[SL_CALL_COURIER_KEYS_LEN]);

/* "idle", "WAIT_REPLY", "WAIT_STATUS", "DIALLING", "WAIT_OFFER",
 * "DECIDE", "WAIT_CONNECTED", "CONNECTED", "ended". */
const char *sl_call_state(const struct sl_call *c);

/* ---- TSP leg ----------------------------------------------------- */

struct sl_tsp_config {
	const uint8_t *static_priv;	/* T's, 32 bytes (copied) */
	uint8_t ver_min, ver_max;	/* 0, 0: 1, 1 */
	unsigned int baud;		/* for RTO0/2; 0: unknown */
	sl_call_random_fn test_random;	/* tests: ephemerals */
	void *test_ctx;
};

struct sl_tsp_leg;

struct sl_tsp_leg *sl_tsp_leg_new(const struct sl_tsp_config *cfg, int *err);
void sl_tsp_leg_free(struct sl_tsp_leg *leg);

int sl_tsp_leg_input(struct sl_tsp_leg *leg, const uint8_t *msg, size_t len,
		     uint64_t now, struct sl_call_actions *out);
int sl_tsp_leg_timer(struct sl_tsp_leg *leg, uint64_t now,
		     struct sl_call_actions *out);

/*
 * T's decisions after AUTHENTICATED (or, for refuse, also after ACCEPTED,
 * or when the other leg failed). Each returns -EINVAL when it does not fit
 * the leg's state (nothing is sent).
 *
 * refuse: NAK reason/detail; the leg is over (copies of CALL_AUTH get the
 * same NAK). dialling: CALL_STATUS dialling (seq 0), caller's leg only.
 * offer: CALL_OFFER (seq 0) naming the caller, answerer's leg only.
 * connected: CALL_STATUS connected (seq 1): the caller's leg after
 * dialling, the answerer's after ACCEPTED. end: CALL_STATUS ended (next
 * seq) on a leg that has keys; the leg is over. deposit: CALL_STATUS
 * deposit (seq 0), purposes 3 and 4 only: T is the courier peer of this
 * leg from now on (sl_tsp_leg_courier_keys()), until end.
 */
int sl_tsp_leg_refuse(struct sl_tsp_leg *leg, uint8_t reason,
		      uint8_t detail, uint64_t now,
		      struct sl_call_actions *out);
int sl_tsp_leg_dialling(struct sl_tsp_leg *leg, uint64_t tracking_id,
			uint64_t now, struct sl_call_actions *out);
int sl_tsp_leg_offer(struct sl_tsp_leg *leg, const char *caller,
		     uint64_t tracking_id, uint64_t now,
		     struct sl_call_actions *out);
/* offer_held: as offer, for the delivery of an envelope sender handed
 * to T (SL_CALL_OFFER_HELD): after ACCEPTED and connected, T is the
 * courier peer of the leg (sl_tsp_leg_courier_keys()). */
int sl_tsp_leg_offer_held(struct sl_tsp_leg *leg, const char *sender,
			  uint64_t tracking_id, uint64_t now,
			  struct sl_call_actions *out);
int sl_tsp_leg_connected(struct sl_tsp_leg *leg, uint64_t now,
			 struct sl_call_actions *out);
int sl_tsp_leg_end(struct sl_tsp_leg *leg, uint64_t now,
		   struct sl_call_actions *out);
int sl_tsp_leg_deposit(struct sl_tsp_leg *leg, uint64_t tracking_id,
		       uint64_t now, struct sl_call_actions *out);
/* As sl_call_courier_keys(), T's side: after sl_tsp_leg_deposit(), or
 * connected after sl_tsp_leg_offer_held(). */
int sl_tsp_leg_courier_keys(const struct sl_tsp_leg *leg,
			    uint8_t out[SL_CALL_COURIER_KEYS_LEN]);

/* "WAIT_HELLO", "WAIT_AUTH", "DECIDE", "DIALLING", "WAIT_ACCEPT",
 * "ACCEPTED", "CONNECTED", "ended". */
const char *sl_tsp_leg_state(const struct sl_tsp_leg *leg);

#endif
