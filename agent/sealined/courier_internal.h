/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What the courier's files share (courier.h lists them); not for the
 * rest of the daemon.
 */
#ifndef SEALINE_AGENT_COURIER_INTERNAL_H
#define SEALINE_AGENT_COURIER_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "cchan.h"
#include "courier.h"
#include "envelope.h"
#include "outbox.h"
#include "sign.h"
#include "spool.h"
#include "xfer.h"

#define SL_COURIER_MAX_INTAKES	4	/* sends being packed at once */
#define SL_COURIER_MAX_WAITERS	32	/* sealctl send --wait at once */
#define SL_COURIER_MAX_QUEUE	64	/* envelopes waiting to unpack */
/* A call the courier placed: keyed within this, or hung up. */
#define SL_COURIER_CALL_KEY_MS	150000
/* ... and hung up this long after its last transfer either way. */
#define SL_COURIER_CALL_IDLE_MS	3000
#define SL_COURIER_PROGRESS_MS	500	/* progress records at most */
#define SL_COURIER_PRUNE_MS	3600000	/* outbox records pruned hourly */
/* Store and forward: while envelopes are held at the TSP, a collection
 * call this often; after a leg that did not reach the TSP, again after
 * this, doubling up to the maximum; a leg waiting for a busy line looks
 * again this often. */
#define SL_CTSP_COLLECT_MS	(30 * 60 * 1000)
#define SL_CTSP_RETRY_MS	(60 * 1000)
#define SL_CTSP_RETRY_MAX_MS	(4 * 3600 * 1000)
#define SL_CTSP_POLL_MS		1000

/* One line's courier (struct sl_line's courier). */
struct sl_cline {
	struct sl_courier *owner;
	struct sl_line *line;
	struct sl_cchan *ch;
	char peer[SL_ACCOUNT_LEN + 1];	/* the session's, "" while none */
	bool up;			/* keyed with peer */

	/* A held delivery (courier_held.c): T is the courier peer, ch is
	 * under the leg's keys, messages go through the dialer's framing. */
	bool held;
	char held_from[SL_ACCOUNT_LEN + 1];	/* whom T named */
	uint64_t held_tracking;

	/* Sending: one envelope at a time; the last one lingers to answer
	 * copies of its RESULT with END. */
	struct sl_xsend *xs;
	uint8_t xs_id[SL_ENV_ID_LEN];
	int env_fd;
	uint64_t xs_wire;		/* bytes of its messages sealed */
	int64_t xs_progress_at;
	struct sl_xsend *linger;
	int64_t linger_until;

	/* Receiving: one envelope at a time. */
	struct sl_xrecv *xr;
	struct sl_sp_item rx_item;
	uint8_t *rx_key;		/* payload key, secure; NULL: none */
	uint64_t rx_wire;

	/* A call the courier placed on this (dial-up) line. */
	char calling[SL_ACCOUNT_LEN + 1];
	uint8_t call_for[SL_ENV_ID_LEN];	/* the envelope it was for */
	bool call_transferred;		/* a transfer started on it */
	int64_t call_deadline;		/* keyed by, else hung up */
	int64_t idle_since;		/* both ways idle since, 0: busy */
};

struct sl_intake;
struct sl_unpacker;
struct sl_safleg;

/*
 * Store and forward, the sender's side (courier_tsp.c): one leg to the
 * TSP at a time, on a dial-up line, to hand an envelope over (purpose 3)
 * or to collect receipts and notices (purpose 4).
 */
struct sl_ctsp {
	struct sl_line *line;		/* the leg's line; NULL: no leg */
	struct sl_safleg *leg;		/* once CONNECT */
	bool deposit;			/* else a collection */
	uint8_t id[SL_ENV_ID_LEN];	/* deposit: the envelope */
	int env_fd;
	bool decided;			/* the hand-over's outcome is known */
	int64_t collect_at;		/* monotonic ms: the next collection
					 * while envelopes are held; 0: none */
	int64_t collect_backoff_ms;	/* after a failed collection */
	struct sl_ipc_client *waiting;	/* sealctl outbox collect */
	bool collect_asked;		/* ... before a line was free */
	unsigned int stored;		/* NOTEs stored on this leg */
};

struct sl_waiter {
	struct sl_ipc_client *client;	/* NULL: free slot */
	uint8_t id[SL_ENV_ID_LEN];
	int64_t progress_at;
};

struct sl_courier {
	const struct sl_config *cfg;
	struct sl_courier_conf conf;	/* paths resolved */
	struct sl_keystore *ks;
	struct sl_lines *L;
	struct sl_line_hooks hooks;

	struct sl_clog sent, received;
	struct sl_outbox ob;
	struct sl_spool sp;
	struct sl_sign_key sign;	/* our receipts' key */
	struct sl_env_limits limits;

	struct sl_intake *intakes[SL_COURIER_MAX_INTAKES];
	struct sl_waiter waiters[SL_COURIER_MAX_WAITERS];

	/* Every line state sl_cline_get() made, freed by sl_courier_fini():
	 * sealined frees its lines (sl_lines_fini) before its courier. */
	struct sl_cline *clines[SL_CONF_MAX_LINES];

	struct sl_unpacker *unp;
	uint8_t queue[SL_COURIER_MAX_QUEUE][SL_ENV_ID_LEN];
	unsigned int n_queue;
	bool unpacking;
	uint8_t unpacking_id[SL_ENV_ID_LEN];

	int64_t next_prune;
	uint64_t delivered, received_count;	/* since start */
	struct sl_ctsp tsp;
};

static inline struct sl_cline *sl_cline_of(const struct sl_line *line)
{
	return line->courier;
}

/* courier.c */
void sl_courier_schedule(struct sl_courier *c, int64_t now);
void sl_courier_sent(struct sl_courier *c, struct sl_cline *cl, int64_t now);
void sl_courier_notify(struct sl_courier *c, const struct sl_ob_item *it,
		       const char *state, const char *detail);
void sl_courier_progress(struct sl_courier *c, const struct sl_ob_item *it,
			 const struct sl_xsend_status *st, int64_t now);
bool sl_courier_waiting(struct sl_courier *c, struct sl_ipc_client *client,
			const uint8_t id[SL_ENV_ID_LEN]);
/* Every line's courier, with its line. */
struct sl_cline *sl_courier_line(struct sl_courier *c, unsigned int i);
void sl_courier_fail_attempt(struct sl_courier *c, struct sl_ob_item *it,
			     const char *why, int64_t now);

/* The receipt of one of our envelopes, checked (signature, the
 * recipient's key if known, this envelope, these accounts): 0 or -errno
 * with why. */
int sl_courier_check_receipt(struct sl_courier *c, struct sl_ob_item *it,
			     const char *text, size_t len, char *why,
			     size_t why_len);

/* courier_tsp.c */
/* Legs to the TSP: a hand-over due, a collection due. */
void sl_ctsp_schedule(struct sl_courier *c, int64_t now);
void sl_ctsp_timer(struct sl_courier *c, int64_t now);
int64_t sl_ctsp_next_timer(const struct sl_courier *c);
/* sealctl outbox collect: c waits for the collection's end. */
void sl_ctsp_collect(struct sl_courier *c, struct sl_ipc_client *client,
		     int64_t now);
void sl_ctsp_client_gone(struct sl_courier *c, struct sl_ipc_client *client);
void sl_ctsp_fini(struct sl_courier *c);
void sl_ctsp_status(struct sl_courier *c, struct sl_ipc_builder *b);
/* An envelope that travels by the TSP (via "tsp"). */
bool sl_ctsp_via(const struct sl_ob_item *it);
/* Whether a line of this sealined can call the TSP (modem = yes with
 * tsp_number and tsp_key). */
bool sl_ctsp_reachable(struct sl_courier *c);

/* courier_line.c */
struct sl_cline *sl_cline_get(struct sl_courier *c, struct sl_line *line);
void sl_cline_free(struct sl_cline *cl);
void sl_cline_hooks(struct sl_line_hooks *h, struct sl_courier *c);
/* Seal and send what its engines have to send now. */
void sl_cline_pump(struct sl_courier *c, struct sl_cline *cl, int64_t now);
int64_t sl_cline_next_timer(const struct sl_cline *cl);
void sl_cline_timer(struct sl_courier *c, struct sl_cline *cl, int64_t now);
/* Start sending envelope it on this line (keyed with its recipient). */
int sl_cline_send(struct sl_courier *c, struct sl_cline *cl,
		  struct sl_ob_item *it, int64_t now);
/* The envelope being sent, if it is id: withdrawn (ABORT). */
bool sl_cline_withdraw(struct sl_courier *c, const uint8_t id[SL_ENV_ID_LEN],
		       int64_t now);
/* An unpacking finished: the line receiving id gets its RESULT. */
void sl_cline_result(struct sl_courier *c, const uint8_t id[SL_ENV_ID_LEN],
		     uint8_t code, const char *text, size_t len, int64_t now);
bool sl_cline_receiving(struct sl_courier *c, const uint8_t id[SL_ENV_ID_LEN],
			const struct sl_cline *except);
/* A COURIER control message for this line's channel (a session's, or a
 * held delivery's). */
void sl_cline_input(struct sl_courier *c, struct sl_cline *cl,
		    const uint8_t *msg, size_t len, int64_t now);
/* The line's courier keys are gone (why): what it received is kept for
 * the next attempt, what it sent fails this one. */
void sl_cline_down(struct sl_courier *c, struct sl_cline *cl, const char *why,
		   int64_t now);

/* courier_held.c: the recipient's side of store and forward. */
uint8_t sl_cheld_offer(void *ctx, struct sl_line *line, const char *sender,
		       const struct sl_dialer_leg_ops **leg, void **leg_ctx,
		       char *why, size_t why_len);

/* Receiving (courier_line.c): unpacking done or to do. */
void sl_courier_queue_unpack(struct sl_courier *c,
			     const uint8_t id[SL_ENV_ID_LEN]);
bool sl_courier_unpack_pending(const struct sl_courier *c,
			       const uint8_t id[SL_ENV_ID_LEN]);

/* courier_ipc.c */
int sl_courier_send_request(struct sl_courier *c, struct sl_ipc_client *cl,
			    const struct sl_ipc_req *req, int64_t now);

/* courier_intake.c: sealctl's pipe -> a sealed envelope in the outbox. */
struct sl_intake_args {
	struct sl_ipc_client *client;
	int pipe_fd;
	char to[SL_ACCOUNT_LEN + 1];
	char via[SL_OB_VIA_MAX];
	bool wait;
	int64_t deliver_after_ms;	/* via "tsp": 0 none */
	int32_t deliver_window;		/* via "tsp": -1 none */
};
int sl_intake_start(struct sl_courier *c, const struct sl_intake_args *a,
		    char *err, size_t err_len);
int sl_intake_fd(const struct sl_intake *in);
/* Readable: more records; returns true when the intake ended (and was
 * freed). */
bool sl_intake_ready(struct sl_courier *c, struct sl_intake *in, int64_t now);
void sl_intake_abort(struct sl_courier *c, struct sl_intake *in,
		     const char *why);
bool sl_intake_of(const struct sl_intake *in, const struct sl_ipc_client *cl);

/* unpacker.c: one unpacking at a time in a thread. */
struct sl_unpack_job {
	/* in */
	struct sl_sp_item it;
	int env_fd;
	int staging_fd;
	struct sl_env_self me;
	struct sl_env_peer peer;	/* its ltk: the job's secure copy */
	bool have_peer;
	struct sl_env_limits limits;
	/* out */
	enum sl_env_reason reason;
	struct sl_env_received got;
	struct sl_env_refusal why;
};
int sl_unpacker_new(struct sl_unpacker **u);
void sl_unpacker_free(struct sl_unpacker *u);
/* Starts job (taken over) in the thread; -EBUSY if one runs. */
int sl_unpacker_start(struct sl_unpacker *u, struct sl_unpack_job *job);
/* Readable when the job is done. */
int sl_unpacker_fd(const struct sl_unpacker *u);
/* The finished job (the caller frees it with sl_unpack_job_free), or
 * NULL if none finished. */
struct sl_unpack_job *sl_unpacker_done(struct sl_unpacker *u);
void sl_unpack_job_free(struct sl_unpack_job *job);

#endif
