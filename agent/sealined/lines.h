/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * sealined's lines: the [line TTY] sections of the configuration, each
 * followed through its life in the kernel, and the handshake object that
 * keys it (agent.h is the seam to the handshake core).
 *
 * A configured line is
 *
 *	detached	not attached to sealine (no ldattach yet, or gone);
 *			LINE_UP or the periodic rescan brings it back
 *	registered	attached, and this daemon is its agent
 *			(SEALINE_CMD_REGISTER_AGENT): control messages and key
 *			events come to us, and the kernel wipes the line's keys
 *			when our socket closes
 *	busy		attached, but another socket is the line's agent (another
 *			sealined?); we do not take a line over, the rescan checks
 *			again
 *	failed		attaching failed for another reason (logged); retried
 *
 * Kernel requests go through struct sl_kernel_ops, so that the host unit
 * tests can run this file against a fake kernel; sl_kernel_netlink is the
 * real one (ctx: a struct sl_nl). Its SET_KEY helper wipes the key buffers
 * it was given, and the request buffer is wiped by netlink.c.
 *
 * Netlink messages that arrive while a request is in flight cannot be
 * handled there (a handler would issue requests of its own), so the
 * socket's event handler only queues them (sl_lines_enqueue) and the event
 * loop hands them over later (sl_lines_process).
 */
#ifndef SEALINE_AGENT_LINES_H
#define SEALINE_AGENT_LINES_H

#include <stdbool.h>
#include <poll.h>
#include <stdint.h>

#include "hs_driver.h"
#include "clock.h"
#include "config.h"
#include "ipc.h"
#include "keystore.h"
#include "netlink.h"
#include "sessionlog.h"

struct sl_kernel_ops {
	uint32_t (*portid)(void *ctx);
	/* GET_LINE by tty name; out->control is not used. */
	int (*get_line)(void *ctx, const char *tty, struct sl_attrs *out);
	int (*register_agent)(void *ctx, const char *tty);
	int (*send_control)(void *ctx, const char *tty, const uint8_t *msg,
			    size_t len);
	/* Must not keep tx or rx; the caller wipes them afterwards. */
	int (*set_key)(void *ctx, const char *tty, uint32_t epoch,
		       uint8_t cipher, const uint8_t *tx, const uint8_t *rx);
	int (*activate_key)(void *ctx, const char *tty, uint32_t epoch);
	/* CLEAR_KEYS: the line is fail-closed again. */
	int (*clear_keys)(void *ctx, const char *tty);
	/* SET_LINE's MODE (only while the line has no current key). */
	int (*set_mode)(void *ctx, const char *tty, uint8_t mode);
};

extern const struct sl_kernel_ops sl_kernel_netlink;

enum sl_line_status {
	SL_LINE_DETACHED,
	SL_LINE_REGISTERED,
	SL_LINE_BUSY,
	SL_LINE_FAILED,
};

const char *sl_line_status_name(enum sl_line_status status);

struct sl_line {
	struct sl_lines *owner;
	const struct sl_line_conf *conf;
	enum sl_line_status status;
	int64_t since;			/* wall clock of the last change */
	uint32_t index;			/* REGISTERED/BUSY: /dev/ttySL<index> */
	uint32_t agent_portid;		/* the kernel's view, last seen */
	int last_err;			/* FAILED: why */
	struct sl_drv_line_info info;	/* last seen */
	uint64_t tx_bytes, rx_bytes;	/* application bytes, last seen */

	void *hs;			/* handshake object, or NULL */
	struct sl_drv_env env;		/* what it was created with */
	/* A dialled line's call, once bridged (env.call_peer). */
	char call_peer[SL_ACCOUNT_LEN + 1];
	bool call_caller;
	int64_t timer_ms;		/* its timer (monotonic), 0: none */

	bool in_session;		/* a DONE(SESSION) opened a record */
	struct sl_session_rec rec;
	uint64_t base_tx, base_rx;

	struct sl_ipc_client *op;	/* operator of a pairing */

	uint32_t epoch_high;		/* highest epoch staged (state_dir) */
	bool epoch_loaded;

	struct sl_dialer *dial;		/* modem = yes: dialer.h */

	uint64_t control_dropped;	/* no handshake to take them */
	int64_t drop_logged_ms;

	void *courier;			/* the courier's state of the line */
};

/*
 * What the rest of the daemon (the courier, courier.h) hears of a line,
 * without lines.c knowing it: all optional, ctx is theirs. stage: a
 * STAGE_KEY went into the kernel (the action's courier keys, hsid and
 * epoch; they are wiped after the call); activate: an ACTIVATE did;
 * session: a session (fresh) or rekey (not fresh) completed with peer;
 * down: the line's keys are gone (line down, call over, keys cleared or
 * expired, the daemon stopping); control: a control message that is not
 * the handshake's, true if taken; call_ended: a call attempt on a dial-up
 * line ended, connected or not; status: fields for its status record;
 * held: the TSP offers a held delivery from sender on a dial-up line
 * (dialer.h, struct sl_dialer_ops: held).
 */
struct sl_drv_action;
struct sl_dialer_leg_ops;
struct sl_line_hooks {
	void *ctx;
	void (*stage)(void *ctx, struct sl_line *line,
		      const struct sl_drv_action *a);
	void (*activate)(void *ctx, struct sl_line *line, uint32_t epoch);
	void (*session)(void *ctx, struct sl_line *line, const char *peer,
			bool fresh, int64_t now_ms);
	void (*down)(void *ctx, struct sl_line *line, const char *why,
		     int64_t now_ms);
	bool (*control)(void *ctx, struct sl_line *line, const uint8_t *msg,
			size_t len, int64_t now_ms);
	void (*call_ended)(void *ctx, struct sl_line *line, const char *why,
			   int64_t now_ms);
	void (*status)(void *ctx, struct sl_line *line,
		       struct sl_ipc_builder *b);
	uint8_t (*held)(void *ctx, struct sl_line *line, const char *sender,
			const struct sl_dialer_leg_ops **leg, void **leg_ctx,
			char *why, size_t why_len);
};

struct sl_event {
	struct sl_event *next;
	struct sl_attrs a;		/* a.control points into control[] */
	uint8_t control[];
};

#define SL_LINES_MAX_QUEUE	1024

struct sl_lines {
	const struct sl_config *cfg;
	struct sl_keystore *ks;
	struct sl_slog *slog;
	const struct sl_hs_driver *drv;
	const struct sl_kernel_ops *kops;
	void *kctx;
	unsigned int n;
	struct sl_line *lines;
	struct sl_event *q_head, *q_tail;
	unsigned int q_len;
	uint64_t q_dropped;
	const struct sl_line_hooks *hooks;	/* NULL: none */
};

int sl_lines_init(struct sl_lines *L, const struct sl_config *cfg,
		  struct sl_keystore *ks, struct sl_slog *slog,
		  const struct sl_hs_driver *drv,
		  const struct sl_kernel_ops *kops, void *kctx);
/* End every session record and handshake (why: "agent stopped"). */
void sl_lines_fini(struct sl_lines *L, const char *why);

struct sl_line *sl_lines_find(struct sl_lines *L, const char *tty);

/* Look at every line in the kernel: attach what appeared, notice what is
 * gone or was taken over, refresh counters. */
void sl_lines_rescan(struct sl_lines *L, int64_t now_ms);
/* The netlink socket went away (module unloaded): every line detached. */
void sl_lines_detach_all(struct sl_lines *L, const char *why, int64_t now_ms);

/* The netlink event handler: copy the message into the queue. */
int sl_lines_enqueue(const struct sl_attrs *a, void *L);
/* Handle the queued messages. */
void sl_lines_process(struct sl_lines *L, int64_t now_ms);
/* Handle one message now (for tests and the queue). */
void sl_lines_event(struct sl_lines *L, const struct sl_attrs *a,
		    int64_t now_ms);

/* Expired handshake timers; and the next one (monotonic ms, 0: none). */
void sl_lines_timers(struct sl_lines *L, int64_t now_ms);
int64_t sl_lines_next_timer(const struct sl_lines *L);

/*
 * Dial-up lines (dialer.h). The dialers' serial ports join the event
 * loop: sl_lines_pollfds() fills at most max entries (one per dialer, fd
 * -1 when it waits for nothing) and sl_lines_poll_done() takes the
 * results back in the same order. Their timers are part of
 * sl_lines_timers() and sl_lines_next_timer().
 */
unsigned int sl_lines_pollfds(struct sl_lines *L, struct pollfd *pfd,
			      unsigned int max);
void sl_lines_poll_done(struct sl_lines *L, const struct pollfd *pfd,
			unsigned int n, int64_t now_ms);
/* `sealctl call` and `sealctl hangup`. 0 or a negative errno, err says. */
int sl_lines_call(struct sl_lines *L, const char *tty, const char *account,
		  struct sl_ipc_client *c, int64_t now_ms, char *err,
		  size_t err_len);
int sl_lines_hangup(struct sl_lines *L, const char *tty, int64_t now_ms,
		    char *err, size_t err_len);

/* One "line" record per configured line (refreshed from the kernel). */
void sl_lines_status(struct sl_lines *L, struct sl_ipc_client *c);

/*
 * The operator side of pairing (see ipc.h): c waits to pair on tty for
 * wait_s seconds (0: the default, 10 minutes), and may replace a stored
 * or revoked peer (replace). 0 or a negative errno with a reason in err.
 */
int sl_lines_pair(struct sl_lines *L, const char *tty, struct sl_ipc_client *c,
		  bool replace, uint32_t wait_s, int64_t now_ms, char *err,
		  size_t err_len);
int sl_lines_operator_confirm(struct sl_lines *L, struct sl_ipc_client *c,
			      bool yes, int64_t now_ms, char *err,
			      size_t err_len);
int sl_lines_operator_sas(struct sl_lines *L, struct sl_ipc_client *c,
			  const char *typed, int64_t now_ms, char *err,
			  size_t err_len);
void sl_lines_operator_gone(struct sl_lines *L, struct sl_ipc_client *c,
			    int64_t now_ms);

/*
 * The key store changed (authorise, revoke, forget, reload). A session
 * whose peer may no longer connect (revoked, no longer authorised,
 * forgotten) ends at once: the line's keys are cleared (CLEAR_KEYS), its
 * session-log record is closed with outcome "revoked" (or "forgotten",
 * "not-authorised") and the line's handshake starts afresh, so that the
 * peer's next session or rekey is refused.
 */
void sl_lines_peers_changed(struct sl_lines *L, int64_t now_ms);


#endif
