/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What the files of sealtspd share, beyond tsp.h: not for anything else.
 *
 *	tsp.c		the process: account store, identity, the epoll
 *			loop, the control socket (sealctl status)
 *	tspline.c	one line's state machine: its modem, its output,
 *			its timers
 *	routing.c	calls: the account checks, dialling the recipient,
 *			bridging and relaying two lines, the call record
 *	saf.c		store and forward: the spool, a leg on which T is
 *			the courier peer (hand-over, receipts and notices
 *			for the sender, delivery), expiry and the
 *			delivery schedule
 *
 * Line states:
 *
 *	DOWN		not open (failed); reopened after SL_TSP_REOPEN_MS
 *	INIT		the modem is being initialised
 *	IDLE		on hook, waiting for a RING; may be dialled out on
 *	RINGING		rang; answered once the caller ID came (or the
 *			second RING, for lines without caller ID)
 *	ANSWERING	ATA sent
 *	DIALLING	ATDT sent for a call: this line is its recipient's leg
 *	SETUP		connected; call setup runs on the line's leg engine
 *	BRIDGED		both legs connected: call-setup messages go to the
 *			leg (copies are answered), every other control
 *			message is forwarded to the other line
 *	RELAY		byte for byte, from the caller's first end-to-end
 *			message on
 *	COURIER		store and forward: T is the courier peer of the
 *			leg (saf.c); call-setup messages go to the leg,
 *			COURIER messages to the call's courier session
 *	CLOSING		a last message (NAK, CALL_STATUS ended) is queued;
 *			the modem hangs up once it is on the wire
 *	HANGUP		the modem is hanging up
 *
 * A call links the caller's line (the one that rang) and, once dialled,
 * the recipient's. Its record is opened when the caller's line answers and
 * closed exactly once (sl_tspd_call_end()), whatever ends it first.
 *
 * The loop never calls the store (tspq.h): record events are queued, and
 * the checks of a call are asked and answered later (routing.c). A call
 * that ends while a check is out stays allocated, marked ended, until
 * the answer comes back and finds it so.
 */
#ifndef SEALINE_AGENT_TSP_INTERNAL_H
#define SEALINE_AGENT_TSP_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "call.h"
#include "clock.h"
#include "config.h"
#include "ipc.h"
#include "keystore.h"
#include "modem.h"
#include "rawline.h"
#include "sign.h"
#include "telnet.h"
#include "tsp.h"
#include "tspq.h"
#include "tspspool.h"
#include "tspstore.h"

enum tl_state {
	TL_DOWN,
	TL_INIT,
	TL_IDLE,
	TL_RINGING,
	TL_ANSWERING,
	TL_DIALLING,
	TL_SETUP,
	TL_BRIDGED,
	TL_RELAY,
	TL_COURIER,
	TL_CLOSING,
	TL_HANGUP,
};

struct tsp;
struct tsp_call;

/* Where a line is: a serial port of this machine, or a terminal
 * server's port (tspport.c). */
enum tl_port {
	TL_PORT_TTY,
	TL_PORT_TCP,		/* raw TCP: the bytes as they are */
	TL_PORT_RFC2217,	/* Telnet with Com Port Control (telnet.h) */
};

struct tsp_line {
	struct tsp *t;
	char path[PATH_MAX];		/* the tty, or the port's URL */
	char name[SL_TSP_LINE_MAX + 1];	/* logs, records, bindings */
	int fd;
	bool has_dtr;			/* TIOCMBIC works: hang up by DTR */
	enum tl_port port;
	struct sockaddr_storage addr;	/* a terminal server's port */
	socklen_t addr_len;
	bool connecting;		/* connect() in progress */
	int64_t connect_deadline;
	struct sl_telnet *tn;		/* RFC 2217 lines' Telnet state */
	struct sl_byteq wire;		/* RFC 2217: escaped bytes, commands */
	bool ep_added;			/* fd is in the epoll set */
	uint32_t ep_mask;		/* with these events */
	bool dirty;			/* in t->dirty: look at its interest */
	enum tl_state st;
	struct sl_modem modem;
	struct sl_rawline rl;
	struct sl_byteq out;
	uint64_t written;

	struct sl_tsp_leg *leg;
	int64_t leg_timer;
	struct tsp_call *call;

	char cid[SL_MODEM_CID_MAX + 1];	/* this ring's caller ID */
	int64_t ring_wall;		/* first RING, wall clock */
	int64_t setup_deadline;		/* SETUP: until CALL_AUTH */
	int64_t close_at;		/* CLOSING: hang up then */
	int64_t retry_at;		/* DOWN: reopen then */
};

struct tsp_call {
	uint64_t id;			/* record id = tracking id */
	struct tsp_line *caller, *callee;
	char caller_acct[SL_ACCOUNT_LEN + 1];
	char recipient[SL_ACCOUNT_LEN + 1];
	char phone[SL_TSP_PHONE_MAX + 1];	/* the recipient's */
	int64_t answer_deadline;	/* dialled: ACCEPTED by then */
	unsigned int dial_tries;	/* lines tried (glare) */
	bool connected;
	uint64_t up, down;		/* relayed bytes: to the recipient, back */
	int64_t cdr_saved;		/* bytes last written to the record */
	unsigned int asking;		/* store checks not answered yet */
	bool ended;			/* sl_tspd_call_end() was called */
	/* Store and forward: the caller's purpose (call.h), and the
	 * courier session once T is the leg's courier peer (saf.c). */
	uint8_t purpose;
	uint32_t hsid;			/* the courier leg's */
	struct tsp_saf *saf;
};

struct tsp {
	const struct sl_config *cfg;
	struct sl_ipc_server ipc;	/* sealctl status */
	int ipc_fds[SL_IPC_MAX_CLIENTS];	/* client fds in the epoll set */
	int64_t started;		/* wall clock, s */
	struct sl_keystore ks;
	struct sl_tspq *q;		/* the store, on its own thread */
	int qfd;			/* its answers' eventfd */
	char instance[SL_TSP_INSTANCE_MAX + 1];
	char store_shown[SL_TSP_ERR_MAX];	/* the location, no password */
	struct tsp_line *lines;
	unsigned int n;
	unsigned int *dirty;		/* lines touched since the last look */
	unsigned int n_dirty;
	int64_t last_scan;		/* the last look at every line */
	unsigned int next_out;		/* round robin for dialling out */
	int ep, sigfd;
	bool stop;
	unsigned int calls;		/* open calls */
	/* Store and forward (saf.c): the spool on a store connection of
	 * its own, T's signing key, the next look at the schedule. */
	struct sl_tsp_store spool_st;
	struct sl_tsp_spool sp;
	bool spool_open;
	struct sl_sign_key sign;
	int64_t next_upkeep;
	bool upkeep_failed;		/* logged once until it works again */
	/* Held rows whose file is gone (never made by this code: a disk
	 * replaced, a file removed by hand): logged once, never retried. */
	uint64_t lost[SL_TSP_LOST_MAX];
	unsigned int n_lost;
};

/* The other line of l's call, if it has one. */
static inline struct tsp_line *sl_tspd_partner(const struct tsp_line *l)
{
	if (!l->call)
		return NULL;
	return l->call->caller == l ? l->call->callee : l->call->caller;
}

/* tspport.c: where a line is. */
/* Parse a configured [NAME=]SCHEME://HOST:PORT into l (name, path,
 * address: resolved now, before the loop runs). 0 or -errno, err set. */
int sl_tspd_port_parse(struct tsp_line *l, const char *spec, char *err,
		       size_t err_len);
/* Open l's port: a tty, or a connection started (EPOLLOUT tells when it
 * is up: sl_tspd_port_connected()). 0 or -errno with err set. */
int sl_tspd_port_open(struct tsp_line *l, char *err, size_t err_len);
/* The connection is up (0), or failed (-errno, err set). */
int sl_tspd_port_connected(struct tsp_line *l, char *err, size_t err_len);
/* Bytes read from the port: Telnet decoded in place; the data's length. */
size_t sl_tspd_port_input(struct tsp_line *l, uint8_t *buf, size_t n);
/* Write what the line has queued; bytes of l->out written, or -errno. */
ssize_t sl_tspd_port_flush(struct tsp_line *l);
/* Before the port is closed to hang up: drop DTR where that is known. */
void sl_tspd_port_hangup(struct tsp_line *l);
/* Something still to write (Telnet's own bytes included)? */
bool sl_tspd_port_pending(const struct tsp_line *l);
void sl_tspd_port_close(struct tsp_line *l);

/* tsp.c: something happened to l: the loop looks at its interest and
 * timers before it waits again (lines it did not touch it looks at only
 * every SL_TSP_SCAN_MS, or when a timer is due). */
void sl_tspd_line_touch(struct tsp_line *l);

/* tspline.c: a line's state machine. */
const char *sl_tspd_state_name(enum tl_state st);
void sl_tspd_line_set(struct tsp_line *l, enum tl_state st);
/* Queue a control message (rawline framing) and write what fits. */
void sl_tspd_line_send(struct tsp_line *l, const uint8_t *msg, size_t len);
void sl_tspd_line_flush(struct tsp_line *l);
/* Open the port and start initialising its modem; DOWN if that fails. */
void sl_tspd_line_open(struct tsp_line *l, int64_t now);
/* Forget the line's leg and queued output, and put its modem on hook. */
void sl_tspd_line_hangup(struct tsp_line *l, int64_t now);
void sl_tspd_line_close_fd(struct tsp_line *l);
void sl_tspd_line_readable(struct tsp_line *l, int64_t now);
void sl_tspd_line_writable(struct tsp_line *l, int64_t now);
void sl_tspd_line_timers(struct tsp_line *l, int64_t now);
/* The line's earliest timer (monotonic ms), 0 if none. */
int64_t sl_tspd_line_next_timer(const struct tsp_line *l);
/* The epoll events the line waits for now. */
uint32_t sl_tspd_line_wanted(const struct tsp_line *l);
void sl_tspd_modem_events(struct tsp_line *l, const struct sl_modem_events *ev,
			  int64_t now);

/* routing.c: calls. */
/* Close c's record and unlink both lines (hanging up a dialled leg still
 * in setup); frees c. */
void sl_tspd_call_end(struct tsp *t, struct tsp_call *c,
		      enum sl_tsp_outcome outcome, const char *nak,
		      int64_t now);
/* NAK the caller (then it hangs up) and end the call. */
void sl_tspd_call_refuse(struct tsp *t, struct tsp_call *c, uint8_t reason,
			 uint8_t detail, enum sl_tsp_outcome outcome,
			 int64_t now);
/* The next idle line to dial out on, round robin; NULL if none. */
struct tsp_line *sl_tspd_free_line(struct tsp *t);
void sl_tspd_dial_out(struct tsp *t, struct tsp_call *c,
		      struct tsp_line *out_line, int64_t now);
/* Carry out what the line's leg engine asks (call.h). */
void sl_tspd_leg_actions(struct tsp_line *l, const struct sl_call_actions *out,
			 int64_t now);
/* A check the store answered (tspq.h). */
void sl_tspd_store_answer(struct tsp *t, struct sl_tspq_req *r);
/* Bytes the line's modem passed on in data mode. */
void sl_tspd_data_in(struct tsp_line *l, const uint8_t *p, size_t n);
/* NO CARRIER in data mode: the far end hung up. */
void sl_tspd_remote_hangup(struct tsp_line *l, int64_t now);

/* saf.c: store and forward (store-and-forward.rst). */
/* Open the spool (its own store connection, recovery of a crash) and
 * derive T's signing key. 0 or -errno with err set. */
int sl_tspd_saf_open(struct tsp *t, char *err, size_t err_len);
void sl_tspd_saf_close(struct tsp *t);
/* The caller's checks passed for purpose DEPOSIT or COLLECT: T takes the
 * leg as the courier peer. */
void sl_tspd_saf_begin(struct tsp_line *l, int64_t now);
/* A COURIER message on a COURIER line. */
void sl_tspd_saf_control(struct tsp_line *l, const uint8_t *msg, size_t len,
			 int64_t now);
void sl_tspd_saf_timers(struct tsp_line *l, int64_t now);
int64_t sl_tspd_saf_next_timer(const struct tsp_line *l);
/* The call ends (sl_tspd_call_end()): the session's last word to the
 * spool, then it is freed. */
void sl_tspd_saf_call_end(struct tsp *t, struct tsp_call *c,
			  enum sl_tsp_outcome outcome, const char *nak);
/* The recipient accepted a held delivery: T is the leg's courier peer. */
void sl_tspd_saf_accepted(struct tsp_line *l, int64_t now);
/* Expiry and due deliveries, at most every SL_TSP_UPKEEP_MS. */
void sl_tspd_saf_upkeep(struct tsp *t, int64_t now);

#endif
