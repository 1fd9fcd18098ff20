/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The seam between sealined's infrastructure (lines.c, the event loop, the
 * key store, the session log, the control socket) and a handshake core
 * (the pure state machines of Documentation/handshake.rst).
 *
 * The core never touches a socket, a file or the clock. The daemon keeps
 * one handshake object per registered line and drives it with inputs;
 * each call returns a batch of actions, which the daemon carries out in
 * order:
 *
 *	input (daemon -> core)		action (core -> daemon)
 *	LINE_READY  line registered	SEND        SEALINE_CMD_SEND_CONTROL
 *	CONTROL     message received	STAGE_KEY   SEALINE_CMD_SET_KEY, then
 *	TIMER       its timer expired	            the key buffers are wiped
 *	LINE_INFO   answer to QUERY	ACTIVATE    SEALINE_CMD_ACTIVATE_KEY
 *	ACTION_FAILED  a STAGE_KEY,	QUERY_LINE  SEALINE_CMD_GET_LINE, answered
 *	            ACTIVATE or		            by a LINE_INFO input
 *	            STORE_PEER failed	STORE_PEER  key store (sl_ks_store_pair),
 *	REKEY_NEEDED, KEY_EXPIRED	            then the LTK buffer is wiped
 *	            kernel key events	SHOW_SAS    to the operator's `sealctl pair`
 *	PAIR        `sealctl pair LINE`	ASK_SAS     to the operator's `sealctl pair`
 *	SAS_CONFIRM operator: yes/no	PAIR_WAIT,  to the operator's `sealctl pair`
 *	                            	SAS_MATCHED
 *	SAS_TYPED   operator: the code	CLEAR_KEYS  SEALINE_CMD_CLEAR_KEYS: the
 *	OPERATOR_GONE  sealctl left	            peer closed the session
 *	PEERS_CHANGED  authorise/	TIMER       (re)arm the object's one timer
 *	            revoke/forget/reload DONE       session log, syslog, operator
 *	CLOSE       the session's peer	FAILED      session log, syslog, operator
 *	            may not connect	LOG         syslog
 *	            (then CLEAR_KEYS)
 *	LINE_DOWN   line detached (then destroy())
 *
 * Rules of the seam:
 *
 *  - input() is called with one input and an empty batch (n = 0) to fill;
 *    at most SL_DRV_MAX_ACTIONS actions. It returns 0, or a negative errno
 *    for a bug or resource failure: the daemon then logs it, destroys the
 *    object and creates a new one (nothing it staged is activated by that).
 *  - Actions run in order. If a STAGE_KEY, ACTIVATE or STORE_PEER fails,
 *    the rest of the batch is skipped (their secret buffers still wiped)
 *    and the core gets ACTION_FAILED with the failed action's type and
 *    errno; it then typically sends NAK INTERNAL and reports FAILED. A
 *    failed SEND is only logged: the retransmission timer covers losses.
 *  - QUERY_LINE is answered with a LINE_INFO input once the batch is done.
 *  - Pointers in an action (msg, key_tx, key_rx, courier_tx, courier_rx,
 *    ltk) point into memory the core owns and must stay valid until the
 *    next call into the core. Secret buffers (the keys, ltk) must be
 *    secure memory (sl_secure_alloc); the daemon wipes them (sl_wipe) as
 *    soon as the action ran, whether it succeeded or not, and never copies
 *    them except into the kernel (SET_KEY), the key store (STORE_PEER) or
 *    the line's courier channel (the courier keys of a STAGE_KEY, into its
 *    own secure memory: cchan.h).
 *  - The core has one timer: TIMER with ms > 0 (re)arms it, ms = 0
 *    cancels it. Time in inputs is CLOCK_MONOTONIC in milliseconds.
 *  - The key store (env->ks) may be read at any time inside a call
 *    (sl_ks_find(), env->ks->peers); pointers into it must not be kept
 *    across calls: PEERS_CHANGED says it changed.
 *  - SAS_TYPED carries what the operator typed, already normalised by
 *    sl_sas_normalize() (5 symbols); invalid entries never reach the core.
 *  - DONE and FAILED are reports, not requests: DONE kind SESSION opens a
 *    session-log record (closed at line down, key expiry, a new session
 *    or daemon stop), REKEY counts a rekey in it, PAIRING writes a pairing
 *    record and ends the operator's `sealctl pair`; FAILED writes a record
 *    (with the NAK reason) and, for a pairing, ends `sealctl pair` with an
 *    error. A core reports every handshake it ends with exactly one of
 *    them.
 *
 * The names are sl_drv_* and SL_DRV_* so that an adapter can include both
 * this header and agent/handshake.h, whose engine uses sl_hs_*. Such an
 * adapter maps the seam onto the engine's calls one to one: LINE_READY
 * -> sl_hs_new() (the line's epochs are in the input's info) and, on a
 * keyless line whose role allows it, sl_hs_connect(); CONTROL ->
 * sl_hs_input(); TIMER -> sl_hs_timer() (its out->next_timer becomes a
 * TIMER action); PAIR -> sl_hs_pair() or, to join a pairing that waits
 * for an operator, sl_hs_pair_prompt(); SAS_CONFIRM, SAS_TYPED ->
 * sl_hs_sas_confirm(), sl_hs_sas_typed(); OPERATOR_GONE ->
 * sl_hs_pair_end(); CLOSE -> sl_hs_close(); REKEY_NEEDED, KEY_EXPIRED ->
 * sl_hs_rekey_needed(), sl_hs_key_expired(); ACTION_FAILED ->
 * sl_hs_action_failed(); LINE_DOWN -> sl_hs_abort(). Its SL_HS_ACT_* actions become the SL_DRV_* ones of the
 * same names (NAK -> LOG; DONE/FAILED with kind, initiator, reason,
 * remote, alert); its peer_fn reads env->ks, its key_epoch_fn calls
 * env->line_info.
 *
 * A build links one driver: sl_hs_builtin_driver() returns it, or NULL.
 * The default build links hs_noise.c (agent/Makefile: SEALINED_HS_OBJS),
 * the adapter of the core in proto/hs_*.c and noise.c. A build whose
 * driver returns NULL still works: sealined then registers as the lines'
 * agent and keeps the lines fail-closed, and says in its log and in
 * `sealctl status` that pairing and sessions are not available. It never
 * installs a key of its own.
 */
#ifndef SEALINE_AGENT_HS_DRIVER_H
#define SEALINE_AGENT_HS_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/sealine.h>

#include "config.h"
#include "crypto.h"
#include "keystore.h"
#include "wire.h"

#define SL_DRV_MAX_ACTIONS	8

/* What a DONE or FAILED is about. */
enum sl_drv_kind {
	SL_DRV_KIND_SESSION = 1,
	SL_DRV_KIND_REKEY,
	SL_DRV_KIND_PAIRING,
};

enum sl_drv_role {
	SL_DRV_ROLE_INITIATOR = 1,
	SL_DRV_ROLE_RESPONDER,
};

/* How a FAILED came about. */
enum sl_drv_how {
	SL_DRV_NAK_SENT = 1,	/* we refused: reason is the NAK's */
	SL_DRV_NAK_RECEIVED,	/* the peer refused (unauthenticated) */
	SL_DRV_TIMEOUT,		/* a deadline passed */
	SL_DRV_LOCAL,		/* a local failure (reason INTERNAL) */
	SL_DRV_ABORTED,		/* line down, replaced by a new handshake */
};

const char *sl_drv_kind_name(enum sl_drv_kind kind);
const char *sl_drv_role_name(enum sl_drv_role role);

/* The kernel's view of the line (GET_LINE). */
struct sl_drv_line_info {
	uint8_t state;		/* enum sealine_line_state */
	bool have_key;
	uint32_t key_epoch;	/* current key, if have_key */
	bool have_staged;
	uint32_t staged_epoch;	/* staged key, if have_staged */
	uint8_t cipher;		/* of the current key */
};

/* Given to create(); valid for the object's whole life. */
struct sl_drv_env {
	const char *tty;			/* "ttyS1" */
	uint32_t index;				/* its /dev/ttySL<index> */
	const struct sl_line_conf *conf;	/* peer, role, rekey, ciphers */
	const struct sl_identity *self;		/* our account and key pair */
	const struct sl_keystore *ks;		/* peers; read-only */
	/*
	 * GET_LINE now, synchronously, for a core that must look at the
	 * kernel in the middle of a call (an initiator checking whether R
	 * activated the key it staged): 0 or a negative errno. QUERY_LINE is
	 * the asynchronous way.
	 */
	int (*line_info)(void *line_ctx, struct sl_drv_line_info *out);
	void *line_ctx;
	/*
	 * A dialled line's call (dialer.c), NULL on a direct line: the
	 * account the call named (the one called, or the caller the TSP
	 * announced), which every pairing and session on it must prove,
	 * else IDENTITY_MISMATCH; call_caller: we called (our end
	 * initiates), else we answered (our end responds).
	 */
	const char *call_peer;
	bool call_caller;
	/*
	 * The highest key epoch this daemon staged on the line before, kept
	 * in its state directory (0: none). The kernel forgets its epochs
	 * when it wipes a line's keys (agent gone, detach), so a new session
	 * numbers its keys above this one: every session gets a new epoch,
	 * also after a restart.
	 */
	uint32_t epoch_floor;
};

enum sl_drv_input_type {
	SL_DRV_IN_LINE_READY = 1,	/* info: line registered (again) */
	SL_DRV_IN_CONTROL,		/* msg, len */
	SL_DRV_IN_TIMER,
	SL_DRV_IN_LINE_INFO,		/* info */
	SL_DRV_IN_ACTION_FAILED,		/* failed_action, err, epoch */
	SL_DRV_IN_REKEY_NEEDED,		/* epoch, limit */
	SL_DRV_IN_KEY_EXPIRED,		/* epoch, limit */
	SL_DRV_IN_PAIR,			/* the operator ran `sealctl pair` */
	SL_DRV_IN_SAS_CONFIRM,		/* confirm */
	SL_DRV_IN_SAS_TYPED,		/* sas */
	SL_DRV_IN_OPERATOR_GONE,
	SL_DRV_IN_PEERS_CHANGED,
	SL_DRV_IN_CLOSE,		/* close_reason */
	SL_DRV_IN_LINE_DOWN,		/* only LOG/DONE/FAILED act after it */
};

struct sl_drv_input {
	enum sl_drv_input_type type;
	int64_t now_ms;			/* CLOCK_MONOTONIC */
	const uint8_t *msg;		/* CONTROL: valid during the call */
	size_t len;
	struct sl_drv_line_info info;	/* LINE_READY, LINE_INFO */
	int failed_action;		/* ACTION_FAILED: enum sl_drv_action_type */
	int err;			/* ACTION_FAILED: negative errno */
	uint32_t epoch;			/* ACTION_FAILED, key events */
	uint8_t limit;			/* key events: enum sealine_limit */
	bool confirm;			/* SAS_CONFIRM: the other side agreed */
	char sas[SL_SAS_LEN + 1];	/* SAS_TYPED, normalised */
	/* PAIR: how long the operator waits for the other side (ms);
	 * replace: a stored (or revoked) record of the peer may be
	 * replaced by this pairing (sealctl pair --replace). */
	uint32_t wait_ms;
	bool replace;
	uint8_t close_reason;		/* CLOSE: SL_CLOSE_* (wire.h) */
};

enum sl_drv_action_type {
	SL_DRV_SEND = 1,		/* msg, len (1..SEALINE_MAX_CONTROL) */
	SL_DRV_STAGE_KEY,	/* epoch, cipher, key_tx, key_rx; hsid,
				 * courier_tx, courier_rx (the session's
				 * courier keys, Documentation/courier.rst) */
	SL_DRV_ACTIVATE,		/* epoch */
	SL_DRV_QUERY_LINE,
	SL_DRV_STORE_PEER,	/* peer, peer_pub, ltk */
	SL_DRV_SHOW_SAS,		/* sas, peer, peer_pub, ms (left) */
	SL_DRV_ASK_SAS,		/* attempts (left), peer, peer_pub, ms */
	SL_DRV_PAIR_WAIT,	/* reason (NOT_ARMED, TIMEOUT), ms (left) */
	SL_DRV_SAS_MATCHED,	/* the code typed is right: waiting for the
				 * other operator's confirmation */
	SL_DRV_CLEAR_KEYS,	/* reason (SL_CLOSE_*), peer */
	SL_DRV_TIMER,		/* ms; 0 cancels */
	SL_DRV_DONE,		/* kind, role, peer, epoch, cipher */
	SL_DRV_FAILED,		/* kind, role, peer, how, reason, alert, text */
	SL_DRV_LOG,		/* level (LOG_*), text */
};

struct sl_drv_action {
	enum sl_drv_action_type type;
	const uint8_t *msg;
	size_t len;
	uint32_t epoch;
	uint8_t cipher;			/* enum sealine_cipher */
	uint8_t *key_tx;		/* SEALINE_KEY_LEN, secure memory */
	uint8_t *key_rx;		/* SEALINE_KEY_LEN, secure memory */
	uint8_t *courier_tx;		/* SEALINE_KEY_LEN, secure memory */
	uint8_t *courier_rx;		/* SEALINE_KEY_LEN, secure memory */
	uint32_t hsid;			/* STAGE_KEY: the session's handshake */
	char peer[SL_ACCOUNT_LEN + 1];	/* "" if not known */
	uint8_t peer_pub[SL_X25519_KEY_LEN];
	uint8_t *ltk;			/* SL_X25519_KEY_LEN, secure memory */
	char sas[SL_SAS_LEN + 1];
	unsigned int attempts;
	uint32_t ms;
	enum sl_drv_kind kind;
	enum sl_drv_role role;
	enum sl_drv_how how;
	uint8_t reason;			/* SL_NAK_* (wire.h) */
	uint8_t detail;			/* FAILED: the NAK's detail */
	uint8_t ver_min, ver_max;	/* FAILED: the NAK sender's versions */
	bool alert;			/* possible man in the middle */
	/* FAILED: a first message refused (no handshake of ours ended,
	 * so an operator's pairing in progress goes on). */
	bool refusal;
	int level;
	char text[160];
	/* FAILED: what happened in plain words, without protocol
	 * internals (hsid, message names), for the operator. */
	char note[96];
};

struct sl_drv_actions {
	unsigned int n;
	struct sl_drv_action a[SL_DRV_MAX_ACTIONS];
};

/* Append an action (zeroed, with its type); NULL if the batch is full. */
static inline struct sl_drv_action *sl_drv_push(struct sl_drv_actions *out,
					      enum sl_drv_action_type type)
{
	struct sl_drv_action *a;

	if (out->n >= SL_DRV_MAX_ACTIONS)
		return NULL;
	a = &out->a[out->n++];
	*a = (struct sl_drv_action){ .type = type };
	return a;
}

struct sl_hs_driver {
	const char *name;		/* "noise-v1" */
	int (*create)(void **hs, const struct sl_drv_env *env);
	int (*input)(void *hs, const struct sl_drv_input *in,
		     struct sl_drv_actions *out);
	/* A word for `sealctl status`: "idle", "pairing", "keyed", ... */
	const char *(*state)(const void *hs);
	/* Wipes every secret the object holds, then frees it. */
	void (*destroy)(void *hs);
};

/* The driver linked into this build (hs_noise.c), or NULL. */
const struct sl_hs_driver *sl_hs_builtin_driver(void);

#endif
