/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The handshake engine's own header; handshake.h is its API. The engine
 * is four files, one concern each:
 *
 *   hs_engine.c   the engine's life, its actions and the end of a
 *                 handshake, starting one as initiator, the timer, the
 *                 status (and the choices where handshake.rst leaves one)
 *   hs_input.c    messages received: a peer's first message (step 3), a
 *                 later one to its handler, a NAK; sl_hs_input()
 *   hs_pair.c     pairing: the operator's window, PAIR_*, the SAS
 *   hs_session.c  sessions and rekeys, REKEY_REQUEST, SESSION_CLOSE
 *
 * What they share is here: the engine's state and, with the prefix hs_,
 * the functions one file calls in another. None of it is API.
 *
 * Layout: one engine per line holds the handshake in progress (or the one
 * that just ended, lingering to answer late copies) in "cur", a "spare"
 * run in which a new first message from the peer is processed before it
 * may replace cur, the current key's handshake (its Noise CipherStates,
 * for REKEY_REQUEST), the line's epochs, the last 8 hsids, the last NAK
 * that refused a first message, and the rekey/retry timers. All secrets
 * are in one block of secure memory (struct hs_secrets).
 */
#ifndef SL_HS_INTERNAL_H
#define SL_HS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "handshake.h"
#include "hs_common.h"
#include "noise.h"

/* Sealed messages: envelope, seq, ciphertext, tag. */
#define SEALED_LEN(p)	(SL_HS_SEALED_AD_LEN + (p) + SL_NOISE_TAG_LEN)

/* Labels of the derived values (handshake.rst, "Cryptography"). */
#define PROLOGUE	"sealine"
#define L_COMMIT	"sealine v1 commit"
#define L_SAS		"sealine v2 SAS"
#define L_LTK		"sealine v1 LTK"
#define L_KEYS		"sealine v1 kernel keys"
#define L_COURIER	"sealine v1 courier keys"

/* ---- State ------------------------------------------------------- */

enum state {
	ST_IDLE = 0,
	ST_I_WAIT_RESP,
	ST_I_WAIT_DONE,
	ST_R_WAIT_CONF,
	ST_P_WAIT_EPH,
	ST_P_WAIT_FINISH,
	ST_P_SHOW_SAS,
	ST_P_WAIT_DONE,
	ST_R_WAIT_REVEAL,
	ST_R_TYPE_SAS,
	ST_R_WAIT_CONFIRM,
	ST_ENDED,
};

/* The secrets of one handshake. */
struct run_secrets {
	struct sl_noise_hs noise;
	struct sl_noise_cipher c_i2r, c_r2i;
	uint8_t kk[2 * SL_HS_KEY_LEN];	/* k_i2r || k_r2i */
	uint8_t cc[2 * SL_HS_KEY_LEN];	/* courier: cc_i2r || cc_r2i */
	uint8_t ltk[SL_HS_KEY_LEN];	/* pairing: derived; session: psk */
	uint8_t e[SL_HS_KEY_LEN];	/* our ephemeral private key */
};

struct hs_secrets {
	uint8_t s[SL_HS_KEY_LEN];		/* our static private key */
	struct run_secrets run[2];
	struct sl_noise_cipher key_i2r, key_r2i;	/* current key's */
	struct sl_noise_cipher snap_i2r, snap_r2i;	/* sl_hs_action_failed */
	uint8_t peer_ltk[SL_HS_KEY_LEN];	/* the peer we connect to */
	uint8_t snap_peer_ltk[SL_HS_KEY_LEN];
};

struct run {
	enum state st;
	enum sl_hs_kind kind;
	bool initiator;
	uint32_t hsid;
	uint8_t ver;
	uint64_t started, deadline, linger_until;

	/* Retransmission of out (initiator). */
	uint64_t tx_at;
	uint32_t rto0, rto;
	unsigned int sends;
	bool unlimited;

	/* The last message sent and the last one accepted. */
	uint8_t out[SL_HS_MAX_MSG];
	size_t out_len;
	uint8_t in[SL_HS_MAX_MSG];
	size_t in_len;
	bool answered;			/* out is the reply to in */
	uint64_t replied_at;		/* out last sent as a reply */

	bool have_peer;
	char peer[SL_ACCOUNT_LEN + 1];
	uint8_t peer_static[SL_HS_KEY_LEN];

	/* Session. */
	uint8_t cipher;
	uint32_t epoch;

	/* Pairing: what the SAS covers (sl_hs_pair_sas()). */
	uint8_t first[40];			/* PAIR_COMMIT, prologue */
	uint8_t e_r[SL_HS_KEY_LEN], e_i[SL_HS_KEY_LEN];
	char sas[SL_SAS_LEN + 1];
	unsigned int sas_misses;
	bool sas_ok;				/* R: typed right */
	bool confirm_in;			/* R: PAIR_CONFIRM authentic */
	bool alert;				/* failure is an alert */
	uint8_t nak_detail;			/* of the NAK that ends it */
	uint8_t nak_ver[2];			/* a received NAK's range */
	bool ver_retried;			/* restarted after NAK VERSION */

	unsigned int auth_failures;
	bool keys_out;		/* kk handed out: wipe on the next call */
	struct run_secrets *sec;
};

/*
 * A sealed message on the current key (REKEY_REQUEST, SESSION_CLOSE),
 * resent on its own timer, at most SL_HS_MAX_SENDS times.
 */
struct resend {
	bool active;
	uint8_t msg[24];
	uint64_t tx_at;
	uint32_t rto;
	unsigned int sends;
};

/* The handshake that made the current key. */
struct key_rec {
	bool valid;
	bool initiator;
	uint32_t hsid;
	uint8_t ver;
	uint32_t epoch;
	uint8_t cipher;
	char peer[SL_ACCOUNT_LEN + 1];
	uint64_t done_at;
	enum sl_hs_kind kind;

	/* Sealed messages on the key's CipherStates after the handshake
	 * (REKEY_REQUEST, SESSION_CLOSE): the last seq accepted in the
	 * direction we receive, and the next one we send on c_i2r (the
	 * handshake itself used seq 0 each way). */
	uint8_t rx_last;
	uint8_t tx_next;
	/* Initiator: the last REKEY_REQUEST read (its copies). */
	uint8_t rr_in[24];
	bool rr_in_valid;

	/* Responder: its REKEY_REQUEST. */
	struct resend rr;
};

/* What sl_hs_action_failed() restores. */
struct line_state {
	uint32_t epoch_next, epoch_cur, epoch_prev, epoch_staged;
	bool keyed;
	struct key_rec key;
	bool have_peer;
	char peer[SL_ACCOUNT_LEN + 1];
	uint8_t peer_static[SL_HS_KEY_LEN];
	uint64_t rekey_at, start_at;
	enum sl_hs_kind start_kind;
	uint32_t rekey_backoff, retry_backoff;
};

/* The operator's pairing window (sl_hs_pair()). */
struct pair_window {
	bool open;
	bool initiate, respond;
	uint64_t until;
	uint8_t waiting;		/* last PAIR_WAIT reason, 0: none */
};

struct sl_hs {
	char account[SL_ACCOUNT_LEN + 1];
	uint8_t s_pub[SL_HS_KEY_LEN];
	uint8_t ver_min, ver_max;
	uint8_t ciphers[SL_HS_MAX_CIPHERS];
	unsigned int n_ciphers;
	uint8_t offered;		/* bit c-1 per cipher c */
	unsigned int baud;
	uint32_t rekey_interval;	/* UINT32_MAX: never */
	bool direct_line, pair_enabled;
	bool have_expected;
	char expected[SL_ACCOUNT_LEN + 1];
	sl_hs_peer_fn peer_fn;
	sl_hs_key_epoch_fn key_epoch_fn;
	sl_hs_pair_allowed_fn pair_allowed_fn;
	void *ctx;
	sl_hs_random_fn test_random;
	void *test_ctx;

	struct hs_secrets *sec;
	struct run runs[2];
	struct run *cur, *spare;

	struct line_state ls, snap;
	/* Key actions of the last batch, replayed by action_failed. */
	struct {
		enum sl_hs_act type;
		uint32_t epoch;
	} batch[4];
	unsigned int n_batch;
	uint32_t batch_hsid;
	bool batch_done;	/* the batch completed a handshake */

	struct pair_window win;
	struct resend close;
	uint64_t last_nak_at;
	bool nak_sent;

	uint32_t recent[SL_HS_RECENT_HSIDS];
	unsigned int n_recent, recent_pos;

	struct {
		bool valid;
		uint32_t hsid;
		uint8_t in[SL_HS_MAX_MSG];
		size_t in_len;
		uint8_t nak[SL_HS_NAK_LEN];
		uint64_t until;
	} refusal;

	struct {
		uint64_t rx, tx, dropped, auth_failures, naks_sent,
			 naks_received, completed, failed;
	} stats;
};

/* Outcome of processing a first message in the spare run. */
struct verdict {
	uint8_t reason;		/* SL_NAK_*: refuse with this, or 0 */
	const char *text;
	bool alert;
};

enum end_flags {
	END_NO_RETRY = 1u << 0,
	END_QUIET = 1u << 1,	/* no FAILED: it goes on under a new hsid */
	/* A pairing that the operator's window outlives: not answered,
	 * peer not armed, or replaced by the peer's crossing pairing. */
	END_WINDOW = 1u << 2,
};

/* ---- Small helpers ----------------------------------------------- */

static inline int hs_random(struct sl_hs *hs, uint8_t *buf, size_t len)
{
	return sl_hs_random(hs->test_random, hs->test_ctx, buf, len);
}

/* RTO0 = max(1 s, 4 x 10 x (wire bytes of both) / baud), in ms. */
static inline uint32_t hs_rto0(const struct sl_hs *hs, size_t msg, size_t reply)
{
	return sl_hs_rto0(hs->baud, msg, reply, UINT32_MAX / 4);
}

static inline bool hs_in_progress(const struct run *r)
{
	return r->st != ST_IDLE && r->st != ST_ENDED;
}

static inline bool hs_lingering(const struct run *r, uint64_t now)
{
	return r->st == ST_ENDED && now < r->linger_until;
}

/* Waiting for the reply to its own first message. */
static inline bool hs_first_wait(const struct run *r)
{
	return r->st == ST_I_WAIT_RESP || r->st == ST_P_WAIT_EPH;
}

/* The SAS step: an operator is (or both are) involved. */
static inline bool hs_operator_step(const struct run *r)
{
	return r->st == ST_P_SHOW_SAS || r->st == ST_P_WAIT_DONE ||
	       r->st == ST_R_TYPE_SAS || r->st == ST_R_WAIT_CONFIRM;
}

/* ---- hs_engine.c ------------------------------------------------- */

int hs_new_ephemeral(struct sl_hs *hs, uint8_t priv[SL_HS_KEY_LEN]);
void hs_recent_add(struct sl_hs *hs, uint32_t hsid);
bool hs_recent_has(const struct sl_hs *hs, uint32_t hsid);
void hs_run_clear(struct run *r);
int hs_derive(const struct sl_noise_hs *n, const char *label,
	      uint8_t *out, size_t len);
struct sl_hs_action *hs_push(struct sl_hs_actions *out,
			     enum sl_hs_act type);
void hs_act_send(struct sl_hs *hs, struct sl_hs_actions *out,
		 const uint8_t *msg, size_t len);
void hs_note_batch(struct sl_hs *hs, enum sl_hs_act type, uint32_t epoch);
void hs_act_stage(struct sl_hs *hs, struct sl_hs_actions *out,
		  struct run *r);
void hs_act_activate(struct sl_hs *hs, struct sl_hs_actions *out,
		     uint32_t epoch);
void hs_send_nak(struct sl_hs *hs, struct sl_hs_actions *out,
		 uint64_t now, uint32_t hsid, uint8_t ver, uint8_t reason,
		 uint8_t detail, uint8_t ref_type, bool ended, bool alert,
		 const char *peer, uint8_t nak[SL_HS_NAK_LEN]);
void hs_end_failed(struct sl_hs *hs, struct sl_hs_actions *out,
		   struct run *r, uint64_t now, uint8_t reason,
		   bool remote, const char *text, unsigned int flags);
void hs_fail_nak(struct sl_hs *hs, struct sl_hs_actions *out,
		 struct run *r, uint64_t now, uint8_t reason,
		 uint8_t ref_type, const char *text);
int hs_auth_failed(struct sl_hs *hs, struct sl_hs_actions *out,
		   struct run *r);
void hs_fail_internal(struct sl_hs *hs, struct sl_hs_actions *out,
		      struct run *r, uint64_t now);
void hs_begin(struct sl_hs *hs, struct sl_hs_actions *out);
int hs_finish(struct sl_hs *hs, uint64_t now, struct sl_hs_actions *out);
int hs_drop(struct sl_hs *hs, struct sl_hs_actions *out, const char *why);
void hs_arm_tx(struct sl_hs *hs, struct run *r, uint64_t now,
	       size_t reply_len, bool unlimited);
void hs_promote_spare(struct sl_hs *hs);
int hs_start_ver(struct sl_hs *hs, enum sl_hs_kind kind, uint8_t ver,
		 uint64_t now, struct sl_hs_actions *out);
int hs_start(struct sl_hs *hs, enum sl_hs_kind kind, uint64_t now,
	     struct sl_hs_actions *out);
void hs_act_done(struct sl_hs *hs, struct sl_hs_actions *out,
		 struct run *r, uint64_t now);

/* ---- hs_input.c -------------------------------------------------- */

void hs_accept_in(struct run *r, const uint8_t *m, size_t len,
		  bool answered, uint64_t now);
uint8_t hs_expected_type(const struct run *r);

/* ---- hs_pair.c --------------------------------------------------- */

void hs_window_close(struct sl_hs *hs);
void hs_pair_wait(struct sl_hs *hs, struct sl_hs_actions *out,
		  uint8_t reason);
void hs_window_expired(struct sl_hs *hs, uint64_t now,
		       struct sl_hs_actions *out);
int hs_start_pair(struct sl_hs *hs, struct run *r, uint64_t now);
int hs_pair_respond(struct sl_hs *hs, struct run *r, const uint8_t *m,
		    struct verdict *v);
int hs_on_pair_ephemeral(struct sl_hs *hs, struct run *r,
			 const uint8_t *m, size_t len, uint64_t now,
			 struct sl_hs_actions *out);
int hs_on_pair_reveal(struct sl_hs *hs, struct run *r, const uint8_t *m,
		      size_t len, uint64_t now, struct sl_hs_actions *out);
int hs_on_pair_finish(struct sl_hs *hs, struct run *r, const uint8_t *m,
		      size_t len, uint64_t now, struct sl_hs_actions *out);
int hs_on_pair_confirm(struct sl_hs *hs, struct run *r, const uint8_t *m,
		       size_t len, uint64_t now, struct sl_hs_actions *out);
int hs_on_pair_done(struct sl_hs *hs, struct run *r, const uint8_t *m,
		    size_t len, uint64_t now, struct sl_hs_actions *out);

/* ---- hs_session.c ------------------------------------------------ */

int hs_start_session(struct sl_hs *hs, struct run *r, uint64_t now);
enum sl_hs_kind hs_session_kind(const struct sl_hs *hs);
int hs_session_respond(struct sl_hs *hs, struct run *r, const uint8_t *m,
		       struct verdict *v);
int hs_on_session_resp(struct sl_hs *hs, struct run *r, const uint8_t *m,
		       size_t len, uint64_t now, struct sl_hs_actions *out);
int hs_on_session_confirm(struct sl_hs *hs, struct run *r,
			  const uint8_t *m, size_t len, uint64_t now,
			  struct sl_hs_actions *out);
int hs_on_session_done(struct sl_hs *hs, struct run *r, const uint8_t *m,
		       size_t len, uint64_t now, struct sl_hs_actions *out);
void hs_session_complete_i(struct sl_hs *hs, struct run *r, uint64_t now,
			   struct sl_hs_actions *out);
int hs_start_rekey(struct sl_hs *hs, uint64_t now,
		   struct sl_hs_actions *out);
void hs_resend_due(struct sl_hs *hs, struct sl_hs_actions *out,
		   struct resend *x, uint64_t now);
int hs_handle_rekey_request(struct sl_hs *hs, const uint8_t *m,
			    size_t len, uint64_t now,
			    struct sl_hs_actions *out);
int hs_handle_session_close(struct sl_hs *hs, const uint8_t *m,
			    size_t len, uint64_t now,
			    struct sl_hs_actions *out);

#endif /* SL_HS_INTERNAL_H */
