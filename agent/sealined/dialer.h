/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * An endpoint's dial-up line ("modem = yes" in its [line TTY] section):
 * sealined owns the serial port, drives its modem (modem.h), calls the
 * TSP on `sealctl call ACCOUNT` and answers when it rings, attaches the
 * sealine line discipline after CONNECT, runs call setup (call.h) over
 * the line's control channel, and once the TSP bridged the call hands the
 * line to its handshake (pairing or session, end to end) with the peer
 * the call named. When either side hangs up (the TSP's authenticated
 * CALL_STATUS ended, `sealctl hangup`), the keys go, the discipline is
 * detached and the modem hangs up, ready for the next call.
 *
 * States: down (port not open; retried), init, idle, dialling,
 * answering, setup (call setup running), connected (bridged: the line's
 * handshake keys it), hangup, tsp-leg (a leg of store and forward: T
 * itself is the peer).
 *
 * Answering, call setup runs before the discipline is attached, its
 * control frames framed here (rawline.h) as on a leg to the TSP: until
 * CALL_OFFER the daemon cannot know whether the TSP bridges a call (then
 * the discipline is attached before CALL_ACCEPT goes out, and the rest of
 * the call runs through the kernel as when calling) or delivers an
 * envelope it holds (store-and-forward.rst): then the line stays without
 * the discipline, the courier takes the envelope under the leg's courier
 * keys, and no sealine module is needed.
 *
 * Dial-on-demand ("dial_on_demand = ACCOUNT"): the virtual tty exists
 * only during a call, so applications get a stable pseudo-terminal
 * instead, its slave published as a symlink (demand_link, 0600 root).
 * sealined relays bytes between the pty's master and the call's virtual
 * tty once the call's session is keyed, whichever side called. Bytes an
 * application writes while no call is up wait in a bounded buffer and
 * start a call to the configured account; when that call fails they are
 * dropped (logged), and for a back-off (doubling up to a limit) later
 * writes are dropped too instead of dialling a broken TSP in a loop. A
 * keyed call with no bytes relayed either way for idle_hangup seconds is
 * hung up. With dial-on-demand the dialer has several descriptors (port,
 * pty master, virtual tty); they sit in an epoll set so that the event
 * loop still polls one descriptor per dialer.
 */
#ifndef SEALINE_AGENT_DIALER_H
#define SEALINE_AGENT_DIALER_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "ipc.h"

struct sl_dialer;
struct sl_dialer_leg_ops;
struct sl_keystore;

/*
 * What a dialer needs of the line it dials for, and no more (lines.c
 * provides it; ctx is its line): the dialer does not know the line
 * manager.
 */
struct sl_dialer_ops {
	/* SEND_CONTROL on the line (call setup): 0 or a negative errno. */
	int (*send_control)(void *ctx, const uint8_t *msg, size_t len);
	/* The line discipline is attached: look for the line now. */
	void (*attached)(void *ctx, int64_t now_ms);
	/* The TSP bridged the call with peer (the account it named; we
	 * called it if caller, else it called us): key the line. */
	void (*connected)(void *ctx, const char *peer, bool caller,
			  int64_t now_ms);
	/* The call ended (why): the line's handshake, session record and
	 * keys go. */
	void (*over)(void *ctx, const char *why, int64_t now_ms);
	/* Whether the call's session is keyed, and then the index of its
	 * /dev/ttySL<index> (dial-on-demand relays to it). */
	bool (*keyed)(void *ctx, uint32_t *index);
	/* A call attempt ended, whether it ever connected or not (busy, no
	 * answer, call setup refused, hung up): why. May be NULL. */
	void (*ended)(void *ctx, const char *why, int64_t now_ms);
	/*
	 * The TSP offers the delivery of an envelope sender handed to it
	 * (CALL_OFFER with the held-delivery flag; sender is T's word until
	 * the envelope's header proves it): 0 and who runs the leg (*leg,
	 * *leg_ctx: its up() once T is the courier peer, every COURIER
	 * message through control(), ended() last), or the NAK's reason with
	 * why, for the log. May be NULL: every held delivery refused.
	 */
	uint8_t (*held)(void *ctx, const char *sender,
			const struct sl_dialer_leg_ops **leg, void **leg_ctx,
			char *why, size_t why_len);
};

/* Timing (milliseconds). */
#define SL_DIALER_REOPEN_MS	5000	/* a port that failed: again */
#define SL_DIALER_ATTACH_MS	10000	/* CONNECT to the line registered */
/* Our NAK ended call setup: hang up this much later (a modem hangup
 * drops what the tty still holds, the NAK too). */
#define SL_DIALER_NAK_HANGUP_MS	200
/* A held delivery with nothing from the TSP for this long: hung up. */
#define SL_DIALER_HELD_IDLE_MS	60000

/* Dial-on-demand. */
#define SL_DIALER_DEMAND_BUF	(64 * 1024)	/* application -> call, held
						 * while the call is set up */
#define SL_DIALER_RELAY_BUF	(16 * 1024)	/* call -> application */
#define SL_DIALER_KEY_MS	120000	/* demand call: dial to keyed */
#define SL_DIALER_BACKOFF_MS	30000	/* after a failed demand call */
#define SL_DIALER_BACKOFF_MAX_MS 600000	/* doubling up to this */

/* Creates the dialer of a modem line and opens its port; with
 * dial_on_demand also the pty and its link (an error if they cannot be
 * made: logged). */
int sl_dialer_new(const struct sl_line_conf *conf, const struct sl_keystore *ks,
		  const struct sl_dialer_ops *ops, void *ctx, int64_t now_ms,
		  struct sl_dialer **out);
/* Hangs up (closing the port drops DTR), removes the demand link and
 * frees. NULL is fine. */
void sl_dialer_free(struct sl_dialer *d);

/* The event loop: its fd and events (fd -1: none). Also where the
 * dial-on-demand relay follows the call (opens the virtual tty once the
 * session is keyed, starts a demand call), so it is called before every
 * poll. */
void sl_dialer_pollfd(struct sl_dialer *d, struct pollfd *pfd);
void sl_dialer_ready(struct sl_dialer *d, short revents, int64_t now_ms);
void sl_dialer_timer(struct sl_dialer *d, int64_t now_ms);
int64_t sl_dialer_next_timer(const struct sl_dialer *d);

/* The line registered after CONNECT: call setup starts. */
void sl_dialer_line_up(struct sl_dialer *d, int64_t now_ms);
/* Whether the call is bridged (the line's handshake may run). */
bool sl_dialer_connected(const struct sl_dialer *d);
/* Whether the modem waits for a call to place or answer. */
bool sl_dialer_idle(const struct sl_dialer *d);
/* The account of the call in progress (called or calling), "" if none. */
const char *sl_dialer_peer(const struct sl_dialer *d);
/* A control message: true if it was call setup's (taken), false if it
 * belongs to the line's handshake. */
bool sl_dialer_control(struct sl_dialer *d, const uint8_t *msg, size_t len,
		       int64_t now_ms);

/* `sealctl call`: c waits for the outcome (info records, then ok/err).
 * 0, or a negative errno with the reason in err. */
int sl_dialer_call(struct sl_dialer *d, const char *recipient,
		   struct sl_ipc_client *c, int64_t now_ms, char *err,
		   size_t err_len);
/*
 * A leg to the TSP itself (Documentation/store-and-forward.rst: a
 * hand-over or a collection, call setup purposes 3 and 4): the modem
 * dials the TSP and, after CONNECT, the line stays without the sealine
 * discipline: the leg carries only control frames (call setup, then
 * COURIER messages under the leg's own keys), which the dialer frames in
 * user space (rawline.h) as the TSP does on its lines. No session, no
 * key in the kernel: the caller (the courier) runs the leg's engine
 * (safleg.h) and hangs up with sl_dialer_hangup().
 */
struct sl_dialer_leg_ops {
	/* CONNECT: the leg may send (sl_dialer_leg_send()). */
	void (*up)(void *ctx, int64_t now_ms);
	/* A control message received on the leg. */
	void (*control)(void *ctx, const uint8_t *msg, size_t len,
			int64_t now_ms);
	/* The attempt ended, up or not (busy, no answer, no carrier, hung
	 * up): why. The last call for this leg. */
	void (*ended)(void *ctx, const char *why, int64_t now_ms);
};
/* 0, or a negative errno with the reason in err (-EBUSY: not idle). */
int sl_dialer_leg(struct sl_dialer *d, const struct sl_dialer_leg_ops *ops,
		  void *ctx, int64_t now_ms, char *err, size_t err_len);
/* One control message out on the leg: 0, -ENOTCONN, -ENOBUFS. */
int sl_dialer_leg_send(struct sl_dialer *d, const uint8_t *msg, size_t len);
/*
 * A held delivery's leg (in its up()): the courier keys (k_e2t || k_t2e,
 * the caller wipes them) and the hsid of its channel, the call's
 * tracking id. 0, or -EINVAL if no held delivery is connected.
 */
int sl_dialer_held_keys(const struct sl_dialer *d, uint8_t *keys,
			uint32_t *hsid, uint64_t *tracking);

/* `sealctl hangup`. 0 or -ENOTCONN (no call). */
int sl_dialer_hangup(struct sl_dialer *d, const char *why, int64_t now_ms);
/* The operator's connection closed. */
void sl_dialer_operator_gone(struct sl_dialer *d, struct sl_ipc_client *c);

/* Fields for the line's `sealctl status` record. */
struct sl_ipc_builder;
void sl_dialer_status(const struct sl_dialer *d, struct sl_ipc_builder *b);

#endif
