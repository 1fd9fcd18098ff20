/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What dialer.c, dialer_leg.c (lines without the discipline) and demand.c
 * (dial-on-demand) share; not for the rest of the daemon, which sees
 * dialer.h only.
 */
#ifndef SEALINE_AGENT_DIALER_INTERNAL_H
#define SEALINE_AGENT_DIALER_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "byteq.h"
#include "call.h"
#include "config.h"
#include "ipc.h"
#include "modem.h"
#include "rawline.h"

enum dl_state {
	DL_DOWN,
	DL_INIT,
	DL_IDLE,
	DL_DIALLING,
	DL_ANSWERING,
	DL_SETUP,
	DL_CONNECTED,
	DL_HANGUP,
	DL_LEG,			/* a leg to the TSP itself, framed here */
};

/* Which descriptor an epoll event is for. */
enum dl_tag { TAG_PORT = 1, TAG_MASTER, TAG_VTTY };

/* Dial-on-demand (dialer.h): the pty, the relay and the back-off. */
struct dl_demand {
	int epfd;
	int master;
	int slave;			/* held open: the master never sees a
					 * hangup when applications close */
	int vtty;			/* the call's virtual tty, keyed */
	char link[PATH_MAX];
	bool link_made;
	uint32_t ev_port, ev_master, ev_vtty;	/* registered in epfd */
	struct sl_byteq up;		/* application -> call */
	struct sl_byteq down;		/* call -> application */
	bool demand_call;		/* this call was started by a write */
	bool keyed;			/* this call's relay ran */
	int64_t key_deadline;		/* demand call: keyed by */
	int64_t last_io;		/* keyed: the last byte relayed */
	int64_t backoff_ms;		/* 0: last demand call went well */
	int64_t backoff_until;
	uint64_t backoff_dropped;	/* written while backing off */
};

struct sl_dialer {
	const struct sl_dialer_ops *ops;	/* the line it dials for */
	void *ctx;
	const struct sl_keystore *ks;		/* our identity, the peers */
	const struct sl_line_conf *base;	/* the configured line */
	char path[PATH_MAX];
	int fd;
	enum dl_state st;
	struct sl_modem modem;
	int64_t retry_at;
	int64_t attach_deadline;		/* SETUP: line registered by */

	bool caller;				/* we called, else answered */
	char recipient[SL_ACCOUNT_LEN + 1];	/* caller: whom we call */
	char peer[SL_ACCOUNT_LEN + 1];		/* the other end, once known */
	uint64_t tracking;
	struct sl_call *call;
	int64_t call_timer;
	struct sl_ipc_client *op;		/* `sealctl call` waiting */
	struct dl_demand *dod;			/* dial_on_demand, or NULL */

	/* No discipline on the line: its control frames framed here (a leg
	 * to the TSP, an answer's call setup until the offer). */
	bool framed;
	struct sl_rawline rl;
	struct sl_byteq leg_out;
	/* A leg to the TSP itself (sl_dialer_leg()), or a held delivery the
	 * TSP makes to us (sl_dialer_ops.held). */
	const struct sl_dialer_leg_ops *leg;	/* NULL: none */
	void *leg_ctx;
	bool caller_leg;			/* this attempt is a leg */
	uint32_t held_hsid;			/* a held delivery's channel */
	int64_t held_heard;			/* ... its last message */
	/* Answering: a call accepted once the discipline is attached and
	 * the line registered (sl_dialer_line_up()). */
	bool accept_pending;
	/* Our NAK ended call setup: hang up at this time (why). */
	int64_t nak_hangup_at;
	char nak_why[192];
};

const char *sl_dialer_tty(const struct sl_dialer *d);
/* Back to command mode and on hook; the call's keys and handshake go. */
void sl_dialer_end_call(struct sl_dialer *d, const char *why, int64_t now);
const char *sl_dialer_state_name(enum dl_state st);
void sl_dialer_set_state(struct sl_dialer *d, enum dl_state st);
/* What the modem driver and call setup said: acted on. */
void sl_dialer_modem_events(struct sl_dialer *d,
			    const struct sl_modem_events *ev, int64_t now);
void sl_dialer_call_actions(struct sl_dialer *d,
			    const struct sl_call_actions *out, int64_t now);
/* Our answer to T's offer: accept (reason SL_NAK_NONE) or a NAK. */
void sl_dialer_offer_reply(struct sl_dialer *d, uint8_t reason, int64_t now);

/* dialer_leg.c: a line without the discipline. */
/* After CONNECT: control frames framed here from now on. */
void sl_dialer_frame_here(struct sl_dialer *d);
/* A leg we placed is up (CONNECT). */
void sl_dialer_leg_up(struct sl_dialer *d, int64_t now);
/* Bytes after CONNECT: control frames, or the modem's NO CARRIER. */
void sl_dialer_leg_data(struct sl_dialer *d, const uint8_t *buf, size_t n,
			int64_t now);
/* T offers a held delivery from sender: asked of sl_dialer_ops.held. */
void sl_dialer_offer_held(struct sl_dialer *d, const char *sender,
			  int64_t now);
/* ... and, accepted, is connected (hsid: the leg's channel). */
void sl_dialer_held_connected(struct sl_dialer *d, uint32_t hsid,
			      int64_t now);

/* demand.c */
int sl_demand_new(struct sl_dialer *d);
void sl_demand_free(struct sl_dialer *d);
/* The relay follows the call: the virtual tty is ours while the call's
 * session is keyed; waiting bytes start a call. */
void sl_demand_sync(struct sl_dialer *d, int64_t now);
/* The pty's and the virtual tty's registrations in the epoll set. */
void sl_demand_events(struct sl_dialer *d);
/* fd's registration in the epoll set at want (0: not in it). */
void sl_demand_watch(struct dl_demand *m, int fd, enum dl_tag tag,
		     uint32_t *cur, uint32_t want);
void sl_demand_forget(struct dl_demand *m, int fd, uint32_t *cur);
/* The pty's or the virtual tty's events. */
void sl_demand_io(struct sl_dialer *d, enum dl_tag tag, uint32_t events,
		  int64_t now);
/* Queued bytes out to whoever can take them now. */
void sl_demand_flush(struct sl_dialer *d, int64_t now);
/* A call ended (why): bytes waiting for it are dropped, the back-off. */
void sl_demand_call_over(struct sl_dialer *d, const char *why, int64_t now);
void sl_demand_status(const struct sl_dialer *d, struct sl_ipc_builder *b);

#endif
