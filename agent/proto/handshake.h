/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The protocol core of sealined: the handshakes of
 * Documentation/handshake.rst (version negotiation, NAK, pairing with a
 * SAS, session, rekey) for one line, as a pure state machine. It does no
 * I/O of its own: the daemon hands it every control message received on
 * the line, the operator's answers and the clock, and it answers with a
 * list of actions (send this message, stage this key, store this peer,
 * log this NAK, ...) that the daemon carries out in order.
 *
 * Call setup through a TSP (CALL_* messages) is call.h's: on a dial-up
 * line the daemon hands CALL_* messages to the call engine and starts
 * this one only once the call is bridged, with the account the call named
 * as the line's configured peer (dialer.c). A CALL_HELLO that reaches
 * this engine is refused with NAK NOT_AUTHORISED (this end is no TSP) and
 * the other CALL_* types are dropped as unexpected.
 *
 * Using it (one struct sl_hs per attached line):
 *
 *	hs = sl_hs_new(&cfg, &err);		after sl_crypto_init()
 *	sl_hs_connect(hs, &peer, now, &out);	keyless line: start a session
 *	sl_hs_pair(hs, &opts, now, &out);	an operator waits to pair
 *	sl_hs_pair_end(hs, now, &out);		that operator left
 *	sl_hs_pair_prompt(hs, now, &out);	an operator joins a pairing
 *	sl_hs_close(hs, reason, now, &out);	the peer may no longer connect
 *	sl_hs_input(hs, msg, len, now, &out);	CONTROL_RECEIVED
 *	sl_hs_timer(hs, now, &out);		at out.next_timer
 *	sl_hs_sas_confirm(hs, yes, now, &out);	I's operator compared the SAS
 *	sl_hs_sas_typed(hs, text, now, &out);	R's operator typed the SAS
 *	sl_hs_rekey_needed(hs, limit, now, &out)  REKEY_NEEDED
 *	sl_hs_key_expired(hs, now, &out);	KEY_EXPIRED
 *	sl_hs_action_failed(hs, act, err, now, &out)  an action failed
 *	sl_hs_abort(hs, now, &out);		LINE_DOWN, operator cancel
 *	sl_hs_actions_done(hs);			after carrying out a list
 *	sl_hs_free(hs);
 *
 * Every call that takes "out" resets it and fills it: the actions in the
 * order they must be carried out, and out->next_timer, the time at which
 * sl_hs_timer() must be called next (0: no timer). Times are milliseconds
 * of a monotonic clock (CLOCK_MONOTONIC), never 0.
 *
 * Carrying out the actions: in order, each before the next. If a
 * STAGE_KEY, ACTIVATE_KEY or STORE_PEER action fails, skip the rest of
 * the list and call sl_hs_action_failed(); it ends the handshake with
 * NAK INTERNAL. So no message that announces a key (SESSION_CONFIRM after
 * I's STAGE_KEY, SESSION_DONE after R's ACTIVATE_KEY, PAIR_DONE after R's
 * STORE_PEER) leaves if that key or peer is not in place.
 *
 * Key material in actions (STAGE_KEY's tx/rx and courier keys,
 * STORE_PEER's ltk) points into the engine's secure memory and is valid
 * only until sl_hs_actions_done() or the next call on hs, which wipe it
 * (the agent keeps no copy once SET_KEY has the keys). Call
 * sl_hs_actions_done() right after carrying out a list (also after
 * sl_hs_action_failed()'s). The daemon must not copy the keys anywhere
 * but into the SET_KEY request, its key store, or (the courier keys) the
 * secure memory of the line's courier channel (cchan.h).
 *
 * Secrets (our static key, ephemeral keys, chaining keys, Noise cipher
 * keys, LTKs, kernel keys) live in libgcrypt's secure memory
 * (sl_secure_alloc()) and are wiped when no longer needed and by
 * sl_hs_free(). An engine holds about 1.6 KiB of it, and up to 0.5 KiB
 * more during a call (SL_SECMEM_POOL_SIZE serves about 30 lines).
 *
 * Not thread-safe: one thread per engine (the daemon's event loop).
 */
#ifndef SEALINE_AGENT_HANDSHAKE_H
#define SEALINE_AGENT_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* ---- Wire constants (handshake.rst, "Messages") ------------------ */

#define SL_HS_VERSION		2	/* the version this code writes */

/*
 * The short authentication string of a pairing (handshake.rst, "Derived
 * values"): SHA-256("sealine v2 SAS" || PAIR_COMMIT || e_R || e_I), the
 * first 25 bits as 5 symbols. Only values fixed before either side (or a
 * man in the middle on either leg) sees the other's contribution go in:
 * the 40 bytes of PAIR_COMMIT (hsid, versions, commitment), R's and then
 * I's ephemeral public key. Never the static keys or accounts, which are
 * sent later and which an attacker could otherwise grind. 0 or -EIO.
 */
int sl_hs_pair_sas(char sas[6], const uint8_t commit_msg[40],
		   const uint8_t e_r[32], const uint8_t e_i[32]);


/* ---- Timing (handshake.rst, "Robustness", "Rekey", "Pairing") ---- */

#define SL_HS_DEADLINE_MS		20000	/* session, rekey, to PAIR_FINISH */
#define SL_HS_SAS_TIMEOUT_MS		180000	/* from PAIR_FINISH */
#define SL_HS_LINGER_MS			30000	/* answer late copies */
#define SL_HS_RTO_MIN_MS		1000
#define SL_HS_RTO_MAX_MS		8000
#define SL_HS_MAX_SENDS			5
#define SL_HS_NAK_INTERVAL_MS		1000	/* at most one NAK a second */
#define SL_HS_PAIR_WAIT_MS		600000	/* sealctl pair's default */
#define SL_HS_PAIR_RETRY_MS		3000	/* I waiting for R's operator */
#define SL_HS_REKEY_INTERVAL_MS		1200000
#define SL_HS_REKEY_HOLDOFF_MS		10000	/* requests after a rekey */
#define SL_HS_REKEY_RETRY_MS		30000	/* doubling to the max */
#define SL_HS_RETRY_MS			5000	/* direct line, doubling */
#define SL_HS_RETRY_MAX_MS		300000
#define SL_HS_RECENT_HSIDS		8

/* ---- Configuration ----------------------------------------------- */

enum sl_hs_peer_status {
	SL_PEER_AUTHORISED = 0,
	SL_PEER_NOT_AUTHORISED,		/* paired, not on the authorised list */
	SL_PEER_REVOKED,
};

/*
 * A paired peer as the key store holds it. ltk (and ss, if given) point to
 * secure memory owned by the caller; they are read during the call that
 * receives the struct and copied where needed, never kept.
 */
struct sl_hs_peer {
	char account[SL_ACCOUNT_LEN];		/* 12 digits, no NUL needed */
	uint8_t static_pub[SL_HS_KEY_LEN];
	const uint8_t *ltk;			/* 32 bytes */
	/*
	 * Optional: DH(our static key, static_pub), cached by the key store
	 * so that a responder trying every stored peer pays no X25519 per
	 * try. NULL: computed.
	 */
	const uint8_t *ss;
	enum sl_hs_peer_status status;
};

/*
 * The responder's candidates for an incoming SESSION_INIT, in the order
 * of handshake.rst ("Which peer"): the caller a TSP announced (only that
 * one), else the line's configured peer, else every stored peer, revoked
 * and unauthorised ones included (so that they get their own NAK). Fills
 * *peer with candidate number index (0, 1, ...) and returns 0, or returns
 * -ENOENT after the last. Called synchronously from sl_hs_input().
 */
typedef int (*sl_hs_peer_fn)(void *ctx, unsigned int index,
			     struct sl_hs_peer *peer);

/*
 * The kernel's current key epoch (GET_LINE's KEY_EPOCH): 0 and *epoch, or
 * -ENOKEY if no key is current, or another negative errno. Called
 * synchronously from sl_hs_timer() by an initiator still waiting for
 * SESSION_DONE: if the epoch is the one it staged, R has activated it and
 * only SESSION_DONE was lost. May be NULL (then that case fails at the
 * deadline, the key staying staged, as if R never activated it).
 */
typedef int (*sl_hs_key_epoch_fn)(void *ctx, uint32_t *epoch);

/*
 * May this pairing store a peer with this account and static key? Called
 * synchronously when a pairing learns the peer's identity (R on
 * PAIR_REVEAL, I on PAIR_FINISH), before any SAS is shown: 0 yes,
 * -EEXIST no (a stored record with a key, or a revoked one, that the
 * operator did not ask to replace): the pairing ends with NAK REFUSED,
 * detail ALREADY_PAIRED. May be NULL (always yes).
 */
typedef int (*sl_hs_pair_allowed_fn)(void *ctx, const char *account,
				     const uint8_t static_pub[32]);

/* Randomness, for tests only: fill buf with len bytes, return 0. */
typedef int (*sl_hs_random_fn)(void *ctx, uint8_t *buf, size_t len);

#define SL_HS_MAX_CIPHERS	4

struct sl_hs_config {
	/* Our account number and static X25519 private key (copied). */
	char account[SL_ACCOUNT_LEN];
	const uint8_t *static_priv;

	/* Versions spoken: 0, 0 means 2, 2 (the only one spoken). Other
	 * ranges are for tests: of negotiation, and of a peer that speaks
	 * the old version 1 (refused by a version 2 peer). Every version
	 * is written with version 2's layouts and SAS. */
	uint8_t ver_min, ver_max;

	/* SEALINE_CIPHER_* in order of preference, 0-terminated; empty:
	 * ChaCha20-Poly1305 only. As initiator all are offered, as
	 * responder the first that the initiator offers is chosen. */
	uint8_t ciphers[SL_HS_MAX_CIPHERS];

	/*
	 * The line's keys when the engine starts (0: none), from GET_LINE
	 * and what the agent remembers: epoch_next is one more than the
	 * highest epoch staged or current on this line since it attached
	 * (0 means 1). The engine tracks them from then on through its own
	 * STAGE_KEY and ACTIVATE_KEY actions.
	 */
	uint32_t epoch_next, epoch_cur, epoch_prev, epoch_staged;

	/* Line speed for the retransmission timer; 0: unknown (1 s). */
	unsigned int baud;

	/* Rekey interval of the current key's initiator; 0: the default
	 * (SL_HS_REKEY_INTERVAL_MS), UINT32_MAX: never. */
	uint32_t rekey_interval_ms;

	/* A direct line: a failed session is retried after 5 s, doubling
	 * to 300 s (not after reasons that need an operator). On a dialled
	 * line the daemon hangs up instead (see SL_HS_ACT_NAK). */
	bool direct_line;

	/* Answer PAIR_COMMIT with no operator waiting (configuration:
	 * an operator joins the pairing later, sl_hs_pair_prompt()). */
	bool pair_enabled;

	/* Through a TSP: the peer's account (the one called, or the caller
	 * T announced); pairing and sessions with another account fail with
	 * IDENTITY_MISMATCH. NULL: a direct line. */
	const char *expected_peer;

	sl_hs_peer_fn peer_fn;
	sl_hs_key_epoch_fn key_epoch_fn;
	sl_hs_pair_allowed_fn pair_allowed_fn;
	void *ctx;			/* for the callbacks */

	/* Tests only: deterministic hsids and ephemeral keys. NULL: the
	 * system's (libgcrypt's) randomness. */
	sl_hs_random_fn test_random;
	void *test_ctx;
};

/* ---- Actions ----------------------------------------------------- */

enum sl_hs_act {
	/* SEND_CONTROL msg (len bytes). type is msg[1], for logs. */
	SL_HS_ACT_SEND = 1,
	/* Initiator's operator: show sas and the peer's claimed account
	 * and key, ask "read it to the other operator; confirm when they
	 * say it is correct [y/N]" until deadline, then call
	 * sl_hs_sas_confirm(). Log that a pairing waits. */
	SL_HS_ACT_SHOW_SAS,
	/* Responder's operator: show the peer's claimed account and key,
	 * "type the code the other operator reads to you" (attempts_left
	 * of 3; fewer: the last one was wrong), until deadline, then call
	 * sl_hs_sas_typed(). The SAS is never shown on this side. */
	SL_HS_ACT_ASK_SAS,
	/* SET_KEY: stage epoch with cipher, tx and rx keys; and give the
	 * courier the session's own pair of keys (courier_tx, courier_rx,
	 * Documentation/courier.rst "Transfer"), under the same epoch and
	 * the handshake's hsid. */
	SL_HS_ACT_STAGE_KEY,
	/* ACTIVATE_KEY epoch. */
	SL_HS_ACT_ACTIVATE_KEY,
	/* Store (or replace) the paired peer: account, static key, LTK,
	 * authorised, with the time of pairing. */
	SL_HS_ACT_STORE_PEER,
	/* Log a NAK sent or received (the NAK's bytes, if sent, come as a
	 * SEND just before). On a dialled line, hang up 0.1 s after sending
	 * one, or at once on receiving one that ended a handshake
	 * (ended). */
	SL_HS_ACT_NAK,
	/* A handshake completed. */
	SL_HS_ACT_DONE,
	/* A handshake ended without completing. */
	SL_HS_ACT_FAILED,
	/* The operator's pairing waits for the other side (wait.reason:
	 * NOT_ARMED, its operator has not started yet; TIMEOUT, no answer
	 * at all) and tries again by itself until wait.until. */
	SL_HS_ACT_PAIR_WAIT,
	/* Clear the line's keys (CLEAR_KEYS): the peer ended the session
	 * for good with an authentic SESSION_CLOSE (close.reason). The
	 * engine forgot the key and starts no session by itself. */
	SL_HS_ACT_CLEAR_KEYS,
};

enum sl_hs_kind {
	SL_HS_PAIR = 1,
	SL_HS_SESSION,		/* SESSION_INIT kind 1 */
	SL_HS_REKEY,		/* SESSION_INIT kind 2 */
};

struct sl_hs_nak_info {
	bool sent;			/* else received (unauthenticated) */
	bool ended;			/* it ended a handshake of ours */
	bool rate_limited;		/* sent: suppressed, one a second */
	bool alert;			/* possible man in the middle */
	uint32_t hsid;
	uint8_t reason, detail, ver_min, ver_max, ref_type;
	char peer_account[SL_ACCOUNT_LEN + 1];	/* if known, else "" */
};

struct sl_hs_result {
	enum sl_hs_kind kind;
	bool initiator;
	uint32_t hsid;
	uint8_t version;
	char peer_account[SL_ACCOUNT_LEN + 1];	/* if known, else "" */
	/* DONE of a session or rekey: the key now current. */
	uint32_t epoch;
	uint8_t cipher;
	uint64_t elapsed_ms;
	/* FAILED: */
	uint8_t reason;			/* NAK reason, SL_NAK_NONE if none */
	uint8_t detail;			/* the NAK's detail */
	uint8_t ver_min, ver_max;	/* remote: the NAK's sender's range */
	bool remote;			/* the peer's NAK, else ours/local */
	bool alert;			/* possible man in the middle */
	unsigned int auth_failures;	/* messages that failed to open */
	uint64_t retry_at;		/* when the engine retries, or 0 */
	const char *text;		/* what happened, for the log */
};

struct sl_hs_action {
	enum sl_hs_act type;
	union {
		struct {
			uint8_t msg[SL_HS_MAX_MSG];
			size_t len;
			uint8_t type;
		} send;
		struct {
			char sas[6];		/* SHOW_SAS only */
			unsigned int attempts_left;	/* ASK_SAS only */
			char peer_account[SL_ACCOUNT_LEN + 1];
			uint8_t peer_static[SL_HS_KEY_LEN];
			uint64_t deadline;	/* the SAS timeout */
		} sas;
		struct {
			uint8_t reason;		/* SL_NAK_NOT_ARMED, TIMEOUT */
			uint64_t until;		/* the operator's deadline */
		} wait;
		struct {
			uint8_t reason;		/* enum sl_close_reason */
			char peer_account[SL_ACCOUNT_LEN + 1];
		} close;
		struct {
			uint8_t cipher;		/* SEALINE_CIPHER_* */
			uint32_t epoch;
			uint32_t hsid;		/* the session's handshake */
			const uint8_t *tx, *rx;	/* 32 bytes, secure */
			/* The courier's keys of this session, 32 bytes
			 * each, secure; wiped like tx and rx. */
			const uint8_t *courier_tx, *courier_rx;
		} stage;
		struct {
			uint32_t epoch;
		} activate;
		struct {
			char account[SL_ACCOUNT_LEN + 1];
			uint8_t static_pub[SL_HS_KEY_LEN];
			const uint8_t *ltk;	/* 32 bytes, secure */
		} store;
		struct sl_hs_nak_info nak;
		struct sl_hs_result result;	/* DONE, FAILED */
	};
};

#define SL_HS_MAX_ACTIONS	12

struct sl_hs_actions {
	unsigned int n;
	struct sl_hs_action a[SL_HS_MAX_ACTIONS];
	uint64_t next_timer;		/* call sl_hs_timer() then; 0: none */
	/* sl_hs_input(): why the message was dropped (log at debug
	 * level), or NULL if it was acted on. */
	const char *dropped;
};

/* ---- Engine ------------------------------------------------------ */

struct sl_hs;

/*
 * A new engine for one line. NULL with *err: -EINVAL (a bad account,
 * key, version range or cipher), -ENOMEM (secure memory exhausted).
 */
struct sl_hs *sl_hs_new(const struct sl_hs_config *cfg, int *err);

/* Wipes every secret and frees the engine. hs may be NULL. */
void sl_hs_free(struct sl_hs *hs);

/*
 * Start a session (kind 1) as initiator with peer, whose copy the engine
 * keeps for its rekeys and retries. -EBUSY if a handshake is in progress,
 * -EINVAL for a bad peer.
 */
int sl_hs_connect(struct sl_hs *hs, const struct sl_hs_peer *peer,
		  uint64_t now, struct sl_hs_actions *out);

/*
 * An operator waits to pair (sealctl pair), until "until" at the latest:
 * the operator's pairing window. respond: answer the peer's PAIR_COMMIT
 * while the window is open (armed); initiate: send PAIR_COMMIT now (or
 * as soon as a handshake in progress ends) and, while the peer is not
 * armed (NAK NOT_ARMED) or does not answer, again every 3 s (PAIR_WAIT
 * says so). Both: the two sides' roles are decided by the protocol (two
 * crossing PAIR_COMMITs: the higher hsid initiates, the other answers,
 * and the operator of neither is told of a failure). The window closes
 * when the pairing completes or fails, at sl_hs_pair_end(), or at until
 * with no pairing in progress (FAILED TIMEOUT). -EALREADY if a window is
 * open, -EINVAL for neither role or until <= now.
 */
struct sl_hs_pair_opts {
	bool initiate, respond;
	uint64_t until;
};
int sl_hs_pair(struct sl_hs *hs, const struct sl_hs_pair_opts *opts,
	       uint64_t now, struct sl_hs_actions *out);

/*
 * The operator left (sealctl pair ended): the window closes, nothing is
 * armed any more, and a pairing in progress ends with NAK REFUSED.
 */
int sl_hs_pair_end(struct sl_hs *hs, uint64_t now, struct sl_hs_actions *out);

/*
 * An operator joins a pairing that waits for one (pair_enabled answered
 * it): the SHOW_SAS or ASK_SAS it waits with, again. -ENOENT if no
 * pairing waits in its SAS step.
 */
int sl_hs_pair_prompt(struct sl_hs *hs, uint64_t now,
		      struct sl_hs_actions *out);

/*
 * The peer of the current key may no longer connect (revoked, forgotten,
 * not authorised): send it an authentic SESSION_CLOSE (reason), resent
 * on a timer, and forget the key and the peer, so that no rekey or retry
 * goes to it. The daemon clears the kernel's keys itself. -ENOTCONN if
 * there is no key of ours.
 */
int sl_hs_close(struct sl_hs *hs, uint8_t reason, uint64_t now,
		struct sl_hs_actions *out);

/* Through a TSP: the peer of this call (12 digits), or NULL. */
int sl_hs_set_expected_peer(struct sl_hs *hs, const char *account);

/* A control message received on the line (CONTROL_RECEIVED). */
int sl_hs_input(struct sl_hs *hs, const uint8_t *msg, size_t len,
		uint64_t now, struct sl_hs_actions *out);

/* A list was carried out: wipe the key material it pointed to. */
void sl_hs_actions_done(struct sl_hs *hs);

/* Retransmissions, deadlines, linger, rekey and retry timers. */
int sl_hs_timer(struct sl_hs *hs, uint64_t now, struct sl_hs_actions *out);

/*
 * The initiator's operator compared the SAS: true sends PAIR_CONFIRM,
 * false ends the pairing with NAK REFUSED (the operator said no: not, by
 * itself, evidence of an attack). false is also how either operator
 * refuses a pairing anywhere in the SAS step. -EINVAL if there is
 * nothing to confirm or refuse.
 */
int sl_hs_sas_confirm(struct sl_hs *hs, bool match, uint64_t now,
		      struct sl_hs_actions *out);

/*
 * What the responder's operator typed (sl_sas_normalize() rules).
 * -EINVAL: not a valid SAS, ask again (does not count); else 0 and out
 * has the outcome: STORE_PEER etc. if it matched and PAIR_CONFIRM is
 * already in, nothing yet if it matched and PAIR_CONFIRM is not, ASK_SAS
 * again (attempts_left) after a wrong one, NAK SAS_MISMATCH after the
 * third: the two sides computed different codes, which only a man in
 * the middle (or three slips of the tongue) produces, so it is an alert. -EALREADY if
 * no SAS is asked for (or it was already typed right).
 */
int sl_hs_sas_typed(struct sl_hs *hs, const char *typed, uint64_t now,
		    struct sl_hs_actions *out);

/*
 * The kernel's REKEY_NEEDED (limit: SEALINE_LIMIT_*), or the operator
 * asking for a rekey (limit 0): the initiator of the current key starts a
 * rekey, the responder sends REKEY_REQUEST (resent on its timer until a
 * SESSION_INIT comes). -ENOTCONN if the line has no key of ours.
 */
int sl_hs_rekey_needed(struct sl_hs *hs, uint8_t limit, uint64_t now,
		       struct sl_hs_actions *out);

/*
 * The kernel's KEY_EXPIRED: the line is keyless. The current key's
 * initiator starts a new session at once (kind 1), the responder asks
 * for one with REKEY_REQUEST.
 */
int sl_hs_key_expired(struct sl_hs *hs, uint64_t now,
		      struct sl_hs_actions *out);

/*
 * A STAGE_KEY, ACTIVATE_KEY or STORE_PEER action failed with err (the
 * rest of its list was skipped): the handshake ends with NAK INTERNAL.
 */
int sl_hs_action_failed(struct sl_hs *hs, enum sl_hs_act type, int err,
			uint64_t now, struct sl_hs_actions *out);

/*
 * LINE_DOWN or an operator's cancel: ends the handshake in progress
 * without a NAK (FAILED, reason NONE), cancels retries; nothing staged
 * is touched.
 */
int sl_hs_abort(struct sl_hs *hs, uint64_t now, struct sl_hs_actions *out);

/* ---- Status ------------------------------------------------------ */

struct sl_hs_status {
	const char *state;		/* "idle", "I_WAIT_RESP", ... */
	bool busy;			/* a handshake in progress */
	enum sl_hs_kind kind;		/* of the one in progress */
	bool initiator;
	uint32_t hsid;
	char peer_account[SL_ACCOUNT_LEN + 1];

	/* The key this engine installed last and the line's epochs. */
	bool keyed, key_initiator;
	uint32_t epoch_cur, epoch_prev, epoch_staged, epoch_next;
	uint8_t cipher;
	char key_peer[SL_ACCOUNT_LEN + 1];

	bool pair_armed;
	uint64_t pair_until;		/* the operator's window, 0: none */

	/* Counters since sl_hs_new(). */
	uint64_t rx, tx, dropped, auth_failures, naks_sent, naks_received;
	uint64_t completed, failed;
};

void sl_hs_get_status(const struct sl_hs *hs, uint64_t now,
		      struct sl_hs_status *st);

#endif
