// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sim-endpoints: many simulated sealine endpoint installations in one
 * process, for the host tests of the TSP (tests/tsp/test-tsp.sh).
 *
 * Each endpoint has its own pseudo-terminal line of the simulated exchange
 * (tests/exchange), its own account number and static X25519 key (both
 * derived from --seed and its index, so that the test script can enrol
 * them with "sim-endpoints keys"), and runs the agent's real modem driver
 * (agent/lib/modem.c) and call-setup engine (agent/proto/call*.c), with
 * control frames framed in user space (agent/tsp/rawline.c). No kernel
 * support.
 *
 * A caller dials the TSP, names its recipient in call setup and, once
 * CONNECTED, sends one end-to-end control message (the TSP relays byte
 * for byte from the caller's first end-to-end message on, handshake.rst)
 * and then K bytes of deterministic pseudo-random data raw through the
 * bridge. The answerer checks them byte for byte, then sends K bytes of
 * its own, which the caller checks; the caller hangs up (+++, ATH) and
 * the answerer expects the TSP's authenticated CALL_STATUS "ended".
 * End-to-end keys are not part of this test: the data is only bytes
 * through the TSP's relay. The directions take turns, so that every byte
 * has left both ends when the caller hangs up (a modem hangup flushes the
 * tty's queues).
 *
 * One process, one poll() loop, a state machine per endpoint.
 *
 * Why one file of about 1,600 lines: it is one state machine per
 * endpoint (dial, set up, exchange, check, hang up) run by one poll()
 * loop, and each step reads and writes the same struct endpoint; its
 * checks are its purpose, so they sit next to the steps they check.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "call.h"
#include "clock.h"
#include "crypto.h"
#include "handshake.h"
#include "modem.h"
#include "rawline.h"

/* ---- Limits (all in one place) ----------------------------------- */

#define SIM_MAX_ENDPOINTS	1100	/* accounts ACCOUNT_BASE + 0..1099 */
#define SIM_MAX_CALLS		SIM_MAX_ENDPOINTS
#define SIM_ACCOUNT_BASE	100000000000ULL
#define SIM_PHONE_BASE		5550000UL	/* --phone-base default */
#define SIM_MAX_BYTES		(1024 * 1024)	/* K per direction */
#define SIM_DEFAULT_BYTES	4096
#define SIM_DEFAULT_TIMEOUT_S	120
#define SIM_READ_CHUNK		4096
#define SIM_ERR_MAX		160
#define SIM_POLL_MAX_MS		200
/* call.h: after our NAK ended the setup, hang up 0.1 s later (a modem
 * hangup flushes what the tty still holds). */
#define SIM_NAK_HANGUP_MS	100
/*
 * The escape sequence "+++" reaches the exchange in data mode, and the
 * exchange relays it like any data (as real modems do: a modem knows it
 * was an escape only after the guard time), so the TSP relays it too and
 * it counts in the caller's bytes.
 */
#define SIM_ESCAPE_LEN		3
/* "\r\nNO CARRIER\r\n", as sl_modem_data_scan() finds it. */
#define SIM_NO_CARRIER_LEN	14

/* The end-to-end message a caller starts the relay with: a SESSION_INIT
 * envelope with a marker instead of a real handshake. */
static const char sim_marker[] = "sim-endpoints e2e start";

/* ---- Model ------------------------------------------------------- */

enum outcome {
	OUT_NONE,		/* not finished */
	OUT_CONNECTED,		/* data both ways, hung up */
	OUT_NAK,		/* a NAK from the TSP (reason, detail) */
	OUT_DROPPED,		/* NO CARRIER while connected */
	OUT_FAILED,		/* anything else: see err */
};

static const char *const outcome_names[] = {
	[OUT_NONE] = "none", [OUT_CONNECTED] = "connected",
	[OUT_NAK] = "nak", [OUT_DROPPED] = "dropped",
	[OUT_FAILED] = "failed",
};

struct sim_call {
	unsigned int caller;		/* endpoint index */
	int rcpt;			/* endpoint index, -1: not ours */
	char rcpt_acct[SL_ACCOUNT_LEN + 1];
	bool refuse;			/* the recipient refuses this caller */
	size_t bytes;
	unsigned int hold_ms, at_ms;
	/* expected */
	enum outcome exp;
	uint8_t exp_reason, exp_detail;	/* 0xff: any detail */
	/* result, caller side */
	enum outcome out;
	uint8_t reason, detail;
	uint64_t tracking;
	uint64_t up;			/* caller's bytes into the bridge */
	uint64_t down;			/* answerer's */
	size_t rx_caller, rx_answerer;	/* data bytes checked */
	size_t bad_caller, bad_answerer;	/* of them wrong */
	int64_t t_connected, t_end;
	int64_t t_dial, t_first;	/* ATDT; the answerer's first relayed
					 * byte (the caller's message) */
	char err[SIM_ERR_MAX];
	/* answerer side: "-" (not reached), "ended", "refused", ... */
	const char *ans;
	bool caller_done, answerer_done;
	uint8_t *data_up, *data_down;	/* expected streams */
};

enum phase {
	P_CLOSED,	/* not used in this run */
	P_INIT,		/* modem init */
	P_READY,	/* caller: waiting to dial; answerer: for a RING */
	P_DIALLING,
	P_ANSWERING,
	P_SETUP,	/* call setup on the line */
	P_CONNECTED,	/* caller: sending, then receiving; answerer:
			 * waiting for the caller's first message */
	P_RAW_RX,	/* answerer: receiving the caller's data */
	P_WAIT_END,	/* answerer: data sent, waiting for "ended" */
	P_HOLD,		/* caller: all done, holding the call */
	P_HANGUP,
	P_DONE,
};

struct ep {
	unsigned int idx;
	char account[SL_ACCOUNT_LEN + 1];
	char phone[24];
	uint8_t *priv;			/* secure memory */
	uint8_t pub[SL_X25519_KEY_LEN];
	char path[PATH_MAX];
	int fd;
	struct sim_call *call;		/* as caller or answerer */
	bool is_caller;
	enum phase ph;
	struct sl_modem modem;
	struct sl_rawline rl;
	struct sl_byteq out;
	struct sl_call *eng;
	int64_t eng_timer, at, hold_until;
	int64_t hangup_at;		/* a NAK we sent must leave first */
	bool nak_sent;
	size_t sent, rcvd;		/* raw data bytes */
	uint64_t wire;			/* bytes written into the bridge */
	bool counting;			/* wire counts from now on */
};

static struct {
	struct ep eps[SIM_MAX_ENDPOINTS];
	unsigned int n_eps;		/* highest index used + 1 */
	struct sim_call calls[SIM_MAX_CALLS];
	unsigned int n_calls;
	uint8_t tsp_pub[SL_X25519_KEY_LEN];
	char tsp_number[SL_MODEM_NUMBER_MAX + 1];
	char line_fmt[PATH_MAX];
	uint64_t seed;
	unsigned long phone_base;
	size_t bytes;
	unsigned int baud, timeout_s;
	bool verbose;
	int64_t start;
} sim = {
	.seed = 1, .phone_base = SIM_PHONE_BASE, .bytes = SIM_DEFAULT_BYTES,
	.baud = 9600, .timeout_s = SIM_DEFAULT_TIMEOUT_S,
};

static void vlog(const struct ep *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void vlog(const struct ep *e, const char *fmt, ...)
{
	va_list ap;

	if (!sim.verbose)
		return;
	fprintf(stderr, "%.3f ep%u: ", (double)(sl_now_ms() - sim.start) / 1000,
		e->idx);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void modem_log(void *ctx, int level, const char *msg)
{
	const struct ep *e = ctx;

	if (level <= LOG_WARNING || sim.verbose)
		vlog(e, "%s", msg);
	if (level <= LOG_WARNING && !sim.verbose)
		fprintf(stderr, "sim-endpoints: ep%u: %s\n", e->idx, msg);
}

/* Records the first error of a call (later ones follow from it). */
static void call_err(struct sim_call *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void call_err(struct sim_call *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	for (char *p = c->err; *p; ++p)
		if (isspace((unsigned char)*p))
			*p = '_';
}

/* ---- Identities -------------------------------------------------- */

/*
 * key = HKDF-SHA-256(salt "sealine sim-endpoints", ikm seed (8 bytes, big
 * endian) || index (4 bytes, big endian), info "static key"): stable
 * across runs, so enrolment and calls agree.
 */
static int ep_identity(struct ep *e, unsigned int idx)
{
	static const char salt[] = "sealine sim-endpoints";
	static const char info[] = "static key";
	uint8_t ikm[12];

	e->idx = idx;
	snprintf(e->account, sizeof(e->account), "%012" PRIu64,
		 (uint64_t)(SIM_ACCOUNT_BASE + idx));
	snprintf(e->phone, sizeof(e->phone), "%lu", sim.phone_base + idx);
	for (int i = 0; i < 8; ++i)
		ikm[i] = (uint8_t)(sim.seed >> (56 - 8 * i));
	for (int i = 0; i < 4; ++i)
		ikm[8 + i] = (uint8_t)(idx >> (24 - 8 * i));
	e->priv = sl_secure_alloc(SL_X25519_KEY_LEN);
	if (!e->priv)
		return -ENOMEM;
	if (sl_hkdf(e->priv, SL_X25519_KEY_LEN, salt, sizeof(salt) - 1, ikm,
		    sizeof(ikm), info, sizeof(info) - 1) ||
	    sl_x25519_public(e->pub, e->priv))
		return -EIO;
	return 0;
}

/* ---- Data streams ------------------------------------------------ */

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Both ends derive a direction's stream from the two accounts. */
static uint8_t *make_stream(const char *from, const char *to, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	uint64_t s = 0xcbf29ce484222325ULL ^ sim.seed;

	if (!p)
		return NULL;
	for (const char *q = from; *q; ++q)
		s = (s ^ (uint8_t)*q) * 0x100000001b3ULL;
	s = (s ^ '>') * 0x100000001b3ULL;
	for (const char *q = to; *q; ++q)
		s = (s ^ (uint8_t)*q) * 0x100000001b3ULL;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = splitmix64(&s);

		for (size_t j = 0; j < 8 && i + j < len; ++j)
			p[i + j] = (uint8_t)(v >> (8 * j));
	}
	return p;
}

/* ---- Lines ------------------------------------------------------- */

static void ep_flush(struct ep *e)
{
	ssize_t n;

	if (e->fd < 0 || !sl_byteq_len(&e->out))
		return;
	n = sl_byteq_flush(&e->out, e->fd);
	if (n > 0 && e->counting)
		e->wire += (uint64_t)n;
	if (n < 0 && e->call)
		call_err(e->call, "write: %s", strerror((int)-n));
}

static void ep_send_frame(struct ep *e, const uint8_t *msg, size_t len)
{
	if (sl_rawline_send(&e->out, msg, len) && e->call)
		call_err(e->call, "control frame not queued");
	ep_flush(e);
}

static void ep_finish(struct ep *e);
static void ep_hangup(struct ep *e, int64_t now);

static void eng_actions(struct ep *e, const struct sl_call_actions *out,
			int64_t now);

static void modem_events(struct ep *e, const struct sl_modem_events *ev,
			 int64_t now)
{
	struct sim_call *c = e->call;

	for (unsigned int i = 0; i < ev->n && e->fd >= 0; ++i) {
		const struct sl_modem_event *m = &ev->ev[i];
		struct sl_modem_events ev2;
		char text[256];

		vlog(e, "%s", sl_modem_event_str(&e->modem, m, text,
						 sizeof(text)));
		switch (m->type) {
		case SL_MODEM_EV_READY:
			if (e->ph == P_INIT)
				e->ph = P_READY;
			break;
		case SL_MODEM_EV_RING:
			/* Answerers take the call at once: the caller ID is
			 * the TSP's business, not theirs. */
			if (!e->is_caller && e->ph == P_READY &&
			    !sl_modem_answer(&e->modem, now, &ev2)) {
				e->ph = P_ANSWERING;
				modem_events(e, &ev2, now);
			}
			break;
		case SL_MODEM_EV_CONNECT:
			if (e->ph != P_DIALLING && e->ph != P_ANSWERING) {
				ep_hangup(e, now);
				break;
			}
			{
				struct sl_call_config cc = {
					.static_priv = e->priv,
					.tsp_pub = sim.tsp_pub,
					.baud = sim.baud,
				};
				struct sl_call_actions out;
				int err;

				memcpy(cc.account, e->account, SL_ACCOUNT_LEN);
				e->eng = sl_call_new(&cc, &err);
				if (!e->eng) {
					call_err(c, "sl_call_new: %s",
						 strerror(-err));
					ep_hangup(e, now);
					break;
				}
				sl_rawline_init(&e->rl);
				e->ph = P_SETUP;
				if (e->is_caller) {
					sl_call_start(e->eng,
						      SL_CALL_PURPOSE_CALL,
						      c->rcpt_acct,
						      (uint64_t)now, &out);
				} else {
					sl_call_start(e->eng,
						      SL_CALL_PURPOSE_ANSWER,
						      NULL, (uint64_t)now,
						      &out);
				}
				eng_actions(e, &out, now);
			}
			break;
		case SL_MODEM_EV_BUSY:
		case SL_MODEM_EV_NO_ANSWER:
		case SL_MODEM_EV_NO_DIALTONE:
		case SL_MODEM_EV_ERROR:
		case SL_MODEM_EV_TIMEOUT:
			if (c && e->is_caller && c->out == OUT_NONE) {
				c->out = OUT_FAILED;
				call_err(c, "modem: %s",
					 sl_modem_event_str(&e->modem, m, text,
							    sizeof(text)));
			}
			if (e->ph == P_DIALLING || e->ph == P_INIT)
				ep_finish(e);
			break;
		case SL_MODEM_EV_NO_CARRIER:
			if (e->ph == P_HANGUP)
				break;
			if (e->is_caller && c->out == OUT_NONE) {
				c->out = e->ph >= P_CONNECTED ? OUT_DROPPED :
					 OUT_FAILED;
				if (e->ph < P_CONNECTED)
					call_err(c, "NO CARRIER in %s",
						 e->eng ?
						 sl_call_state(e->eng) :
						 "dialling");
				c->t_end = now;
			}
			if (!e->is_caller && c && !c->ans)
				c->ans = e->ph >= P_CONNECTED ? "dropped" :
					 "no-carrier";
			ep_finish(e);
			break;
		case SL_MODEM_EV_HUNG_UP:
			if (e->is_caller && c && c->out == OUT_CONNECTED &&
			    !c->t_end)
				c->t_end = now;
			ep_finish(e);
			break;
		case SL_MODEM_EV_IO_ERROR:
			if (c)
				call_err(c, "line: %s", strerror(m->err));
			if (c && e->is_caller && c->out == OUT_NONE)
				c->out = OUT_FAILED;
			ep_finish(e);
			break;
		case SL_MODEM_EV_CALLER_ID:
			break;
		}
	}
}

/* The call is over for this endpoint: no more I/O on it. */
static void ep_finish(struct ep *e)
{
	struct sim_call *c = e->call;

	sl_call_free(e->eng);
	e->eng = NULL;
	e->eng_timer = 0;
	sl_byteq_drop(&e->out);
	if (e->ph == P_DONE)
		return;
	e->ph = P_DONE;
	if (!c)
		return;
	if (e->is_caller) {
		c->caller_done = true;
		if (c->out == OUT_NONE) {
			c->out = OUT_FAILED;
			call_err(c, "the line ended the call");
		}
	} else {
		c->answerer_done = true;
		if (!c->ans)
			c->ans = "hung-up";
	}
}

static void ep_hangup(struct ep *e, int64_t now)
{
	struct sl_modem_events ev;

	sl_call_free(e->eng);
	e->eng = NULL;
	e->eng_timer = 0;
	sl_byteq_drop(&e->out);
	e->counting = false;
	if (e->ph == P_HANGUP || e->ph == P_DONE)
		return;
	e->ph = P_HANGUP;
	if (sl_modem_state(&e->modem) == SL_MODEM_READY) {
		ep_finish(e);
		return;
	}
	if (sl_modem_hangup(&e->modem, now, &ev)) {
		ep_finish(e);
		return;
	}
	modem_events(e, &ev, now);
}

/* ---- Data phase -------------------------------------------------- */

/* Queue as much of our data as fits. */
static void pump(struct ep *e)
{
	struct sim_call *c = e->call;
	const uint8_t *src = e->is_caller ? c->data_up : c->data_down;

	while (e->sent < c->bytes) {
		size_t room = sl_byteq_room(&e->out);
		size_t n = c->bytes - e->sent;

		if (n > room)
			n = room;
		if (n > SIM_READ_CHUNK)
			n = SIM_READ_CHUNK;
		if (!n || sl_byteq_push(&e->out, src + e->sent, n))
			break;
		e->sent += n;
		ep_flush(e);
		if (sl_byteq_len(&e->out) > SL_OUTQ_HIGH)
			break;
	}
}

static void caller_connected(struct ep *e, uint64_t tracking, int64_t now)
{
	struct sim_call *c = e->call;
	uint8_t msg[SL_HS_ENVELOPE_LEN + sizeof(sim_marker) - 1] = {
		SL_HS_VERSION, SL_MSG_SESSION_INIT,
	};

	c->tracking = tracking;
	c->t_connected = now;
	e->ph = P_CONNECTED;
	e->counting = true;
	e->wire = 0;
	memcpy(msg + SL_HS_ENVELOPE_LEN, sim_marker, sizeof(sim_marker) - 1);
	ep_send_frame(e, msg, sizeof(msg));
	pump(e);
}

/* The call went as planned: the caller ends it. */
static void caller_hangup(struct ep *e, int64_t now)
{
	e->call->out = OUT_CONNECTED;
	ep_hangup(e, now);
}

/* The caller has everything: hold the call or hang up. */
static void caller_check_done(struct ep *e, int64_t now)
{
	struct sim_call *c = e->call;

	if (e->ph != P_CONNECTED || e->sent < c->bytes ||
	    sl_byteq_len(&e->out) || e->rcvd < c->bytes)
		return;
	c->up = e->wire + SIM_ESCAPE_LEN;
	if (c->hold_ms) {
		e->ph = P_HOLD;
		e->hold_until = now + c->hold_ms;
		return;
	}
	caller_hangup(e, now);
}

/* Raw bytes of the other end's stream: compare. Returns bytes used. */
static size_t take_data(struct ep *e, const uint8_t *p, size_t n)
{
	struct sim_call *c = e->call;
	const uint8_t *ref = e->is_caller ? c->data_down : c->data_up;
	size_t *bad = e->is_caller ? &c->bad_caller : &c->bad_answerer;
	size_t want = c->bytes - e->rcvd;

	if (n > want)
		n = want;
	for (size_t i = 0; i < n; ++i)
		if (p[i] != ref[e->rcvd + i])
			++*bad;
	e->rcvd += n;
	if (e->is_caller)
		c->rx_caller = e->rcvd;
	else
		c->rx_answerer = e->rcvd;
	return n;
}

static void on_frame(void *ctx, const uint8_t *msg, size_t len)
{
	struct ep *e = ctx;
	struct sim_call *c = e->call;
	int64_t now = sl_now_ms();
	struct sl_call_actions out;

	if (len < SL_HS_ENVELOPE_LEN)
		return;
	if (sl_call_msg_is_setup(msg[1]) ||
	    (msg[1] == SL_MSG_NAK && e->ph == P_SETUP)) {
		if (e->eng && !sl_call_input(e->eng, msg, len, (uint64_t)now,
					     &out))
			eng_actions(e, &out, now);
		return;
	}
	/* End to end: only the answerer expects one, the caller's first. */
	if (!e->is_caller && e->ph == P_CONNECTED &&
	    len == SL_HS_ENVELOPE_LEN + sizeof(sim_marker) - 1 &&
	    !memcmp(msg + SL_HS_ENVELOPE_LEN, sim_marker, len -
		    SL_HS_ENVELOPE_LEN)) {
		e->ph = P_RAW_RX;
		c->t_first = now;
		sl_rawline_stop(&e->rl);
		return;
	}
	call_err(c, "unexpected %s message (%zu bytes) in %s",
		 sl_hs_msg_name(msg[1]), len, e->is_caller ? "caller" :
		 "answerer");
}

static void data_in(struct ep *e, const uint8_t *p, size_t n, int64_t now)
{
	while (n && e->fd >= 0) {
		size_t used;

		switch (e->ph) {
		case P_SETUP:
		case P_WAIT_END:
			used = sl_rawline_decode(&e->rl, p, n, on_frame, e);
			break;
		case P_CONNECTED:
			if (e->is_caller) {
				used = take_data(e, p, n);
				if (used < n)
					call_err(e->call, "%zu bytes more than sent",
						 n - used);
				used = n;
				caller_check_done(e, now);
			} else {
				used = sl_rawline_decode(&e->rl, p, n,
							 on_frame, e);
			}
			break;
		case P_RAW_RX:
			used = take_data(e, p, n);
			if (e->rcvd == e->call->bytes) {
				/* Our turn: the caller's data is all in. */
				e->ph = P_WAIT_END;
				sl_rawline_init(&e->rl);
				e->counting = true;
				pump(e);
			}
			break;
		case P_HOLD:
			call_err(e->call, "%zu bytes while holding", n);
			used = n;
			break;
		default:
			used = n;	/* hanging up: whatever */
			break;
		}
		if (!used && e->ph != P_RAW_RX)
			break;
		p += used;
		n -= used;
	}
}

static void eng_actions(struct ep *e, const struct sl_call_actions *out,
			int64_t now)
{
	struct sim_call *c = e->call;

	e->eng_timer = (int64_t)out->next_timer;
	for (unsigned int i = 0; i < out->n && e->fd >= 0; ++i) {
		const struct sl_call_action *a = &out->a[i];
		struct sl_call_actions out2;

		switch (a->type) {
		case SL_CALL_ACT_SEND:
			ep_send_frame(e, a->msg, a->len);
			break;
		case SL_CALL_ACT_NAK:
			vlog(e, "NAK %s %s detail %u", a->sent ? "sent" :
			     "received", sl_nak_reason_name(a->reason),
			     a->detail);
			if (a->sent && a->ended)
				e->nak_sent = true;
			break;
		case SL_CALL_ACT_DIALLING:
			vlog(e, "TSP dials, tracking %016" PRIx64,
			     a->tracking_id);
			c->tracking = a->tracking_id;
			break;
		case SL_CALL_ACT_OFFER: {
			bool ok = !c->refuse &&
				  !strcmp(a->account,
					  sim.eps[c->caller].account);

			vlog(e, "offer from %s: %s", a->account,
			     ok ? "accept" : "refuse");
			if (!ok)
				c->ans = "refused";
			if (!sl_call_offer_reply(e->eng, ok,
						 ok ? 0 : SL_NAK_NOT_AUTHORISED,
						 ok ? 0 : SL_NAK_DETAIL_CALLER,
						 (uint64_t)now, &out2))
				eng_actions(e, &out2, now);
			return;
		}
		case SL_CALL_ACT_CONNECTED:
			vlog(e, "connected to %s, tracking %016" PRIx64,
			     a->account, a->tracking_id);
			if (e->is_caller) {
				sl_rawline_stop(&e->rl);
				caller_connected(e, a->tracking_id, now);
			} else {
				e->ph = P_CONNECTED;
				if (c->tracking && c->tracking != a->tracking_id)
					call_err(c, "tracking ids differ");
			}
			break;
		case SL_CALL_ACT_ENDED:
			vlog(e, "ended by the TSP");
			if (!e->is_caller) {
				if (e->ph != P_WAIT_END)
					call_err(c, "answerer: ended in phase %d",
						 e->ph);
				else if (!c->ans)
					c->ans = "ended";
				c->down = e->wire;
			} else if (c->out == OUT_NONE) {
				c->out = OUT_DROPPED;
				call_err(c, "ended by the TSP");
				c->t_end = now;
			}
			ep_hangup(e, now);
			return;
		case SL_CALL_ACT_FAILED:
			vlog(e, "call setup failed: %s, reason %s detail %u%s",
			     a->text ? a->text : "-",
			     sl_nak_reason_name(a->reason), a->detail,
			     a->remote ? " (remote)" : "");
			if (e->is_caller && c->out == OUT_NONE) {
				if (a->remote && a->reason) {
					c->out = OUT_NAK;
					c->reason = a->reason;
					c->detail = a->detail;
				} else {
					c->out = OUT_FAILED;
					call_err(c, "setup: %s", a->text ?
						 a->text : "failed");
				}
				c->t_end = now;
			} else if (!e->is_caller && !c->ans) {
				c->ans = "setup-failed";
			}
			if (e->nak_sent) {
				sl_call_free(e->eng);
				e->eng = NULL;
				e->eng_timer = 0;
				e->hangup_at = now + SIM_NAK_HANGUP_MS;
				return;
			}
			ep_hangup(e, now);
			return;
		default:
			break;
		}
	}
}

/* ---- Loop -------------------------------------------------------- */

static void ep_readable(struct ep *e, int64_t now)
{
	uint8_t buf[SIM_READ_CHUNK];
	ssize_t n = read(e->fd, buf, sizeof(buf));
	size_t off = 0;

	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (e->call)
			call_err(e->call, "line: %s", n ? strerror(errno) :
				 "end of file");
		ep_finish(e);
		return;
	}
	while (off < (size_t)n && e->fd >= 0 && e->ph != P_DONE) {
		struct sl_modem_events ev;
		size_t used;

		if (sl_modem_wants_read(&e->modem)) {
			used = sl_modem_input(&e->modem, buf + off,
					      (size_t)n - off, now, &ev);
			modem_events(e, &ev, now);
			if (!used && !ev.n)
				break;
		} else if (sl_modem_state(&e->modem) == SL_MODEM_DATA) {
			used = sl_modem_data_scan(&e->modem, buf + off,
						  (size_t)n - off, &ev);
			/* Bytes before NO CARRIER are the call's. */
			data_in(e, buf + off, !ev.n ? used :
				used > SIM_NO_CARRIER_LEN ?
				used - SIM_NO_CARRIER_LEN : 0, now);
			if (ev.n)
				modem_events(e, &ev, now);
		} else {
			break;
		}
		off += used;
	}
}

static void ep_timers(struct ep *e, int64_t now)
{
	struct sl_modem_events ev;
	int64_t due = sl_modem_next_timer(&e->modem);

	if (e->fd < 0 || e->ph == P_DONE || e->ph == P_CLOSED)
		return;
	if (due && now >= due) {
		sl_modem_timer(&e->modem, now, &ev);
		modem_events(e, &ev, now);
	}
	if (e->eng && e->eng_timer && now >= e->eng_timer) {
		struct sl_call_actions out;

		e->eng_timer = 0;
		if (!sl_call_timer(e->eng, (uint64_t)now, &out))
			eng_actions(e, &out, now);
	}
	if (e->is_caller && e->ph == P_READY && now >= e->at) {
		int ret = sl_modem_dial(&e->modem, sim.tsp_number, now, &ev);

		if (ret) {
			e->call->out = OUT_FAILED;
			call_err(e->call, "dial: %s", strerror(-ret));
			ep_finish(e);
			return;
		}
		e->ph = P_DIALLING;
		e->call->t_dial = now;
		modem_events(e, &ev, now);
	}
	if (e->ph == P_HOLD && now >= e->hold_until)
		caller_hangup(e, now);
	if (e->hangup_at && now >= e->hangup_at) {
		e->hangup_at = 0;
		ep_hangup(e, now);
	}
}

static int64_t ep_next_timer(const struct ep *e)
{
	int64_t c[5] = {
		sl_modem_next_timer(&e->modem), e->eng ? e->eng_timer : 0,
		e->is_caller && e->ph == P_READY ? e->at : 0,
		e->ph == P_HOLD ? e->hold_until : 0, e->hangup_at,
	};
	int64_t next = 0;

	for (int i = 0; i < 5; ++i)
		if (c[i] && (!next || c[i] < next))
			next = c[i];
	return next;
}

static bool all_done(void)
{
	for (unsigned int i = 0; i < sim.n_calls; ++i) {
		const struct sim_call *c = &sim.calls[i];

		if (!c->caller_done)
			return false;
		/* The answerer of a connected call must see it end too. */
		if (c->rcpt >= 0 && sim.eps[c->rcpt].ph != P_DONE &&
		    sim.eps[c->rcpt].ph >= P_DIALLING)
			return false;
	}
	return true;
}

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static int run_loop(void)
{
	static struct pollfd pfd[SIM_MAX_ENDPOINTS];
	static struct ep *pep[SIM_MAX_ENDPOINTS];
	int64_t deadline = sim.start + (int64_t)sim.timeout_s * 1000;

	for (;;) {
		int64_t now = sl_now_ms(), next = 0, timeout;
		unsigned int n = 0;
		int r;

		for (unsigned int i = 0; i < sim.n_eps; ++i)
			ep_timers(&sim.eps[i], now);
		if (all_done())
			return 0;
		if (now >= deadline || stop_signal)
			return -ETIMEDOUT;
		for (unsigned int i = 0; i < sim.n_eps; ++i) {
			struct ep *e = &sim.eps[i];
			int64_t d;

			if (e->fd < 0 || e->ph == P_DONE || e->ph == P_CLOSED)
				continue;
			/* Each side sends in its turn only (see the top). */
			if ((e->is_caller && e->ph == P_CONNECTED) ||
			    (!e->is_caller && e->ph == P_WAIT_END)) {
				pump(e);
				if (e->is_caller)
					caller_check_done(e, now);
			}
			pfd[n].fd = e->fd;
			pfd[n].events = 0;
			if (sl_modem_wants_read(&e->modem) ||
			    sl_modem_state(&e->modem) == SL_MODEM_DATA)
				pfd[n].events |= POLLIN;
			if (sl_byteq_len(&e->out) ||
			    sl_modem_wants_write(&e->modem))
				pfd[n].events |= POLLOUT;
			pep[n++] = e;
			d = ep_next_timer(e);
			if (d && (!next || d < next))
				next = d;
		}
		timeout = next ? (next > now ? next - now : 0) : SIM_POLL_MAX_MS;
		if (timeout > SIM_POLL_MAX_MS)
			timeout = SIM_POLL_MAX_MS;
		r = poll(pfd, n, (int)timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		now = sl_now_ms();
		for (unsigned int i = 0; i < n && r > 0; ++i) {
			struct ep *e = pep[i];

			if (!pfd[i].revents)
				continue;
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				ep_readable(e, now);
			if (e->fd >= 0 && e->ph != P_DONE &&
			    (pfd[i].revents & POLLOUT)) {
				struct sl_modem_events ev;

				ep_flush(e);
				if (sl_modem_wants_write(&e->modem)) {
					sl_modem_output(&e->modem, now, &ev);
					modem_events(e, &ev, now);
				}
			}
		}
	}
}

/* ---- Scenario ---------------------------------------------------- */

static int parse_u(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	errno = 0;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	*v = strtoul(s, &end, 10);
	if (errno || *end || *v > max)
		return -EINVAL;
	return 0;
}

static int nak_code(const char *name, uint8_t *code)
{
	for (unsigned int r = 1; r < 256; ++r) {
		if (!strcmp(sl_nak_reason_name((uint8_t)r), "unknown"))
			continue;
		if (!strcasecmp(name, sl_nak_reason_name((uint8_t)r))) {
			*code = (uint8_t)r;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_expect(struct sim_call *c, const char *s, char *err,
			size_t err_len)
{
	char buf[64], *reason, *detail;
	unsigned long d;

	c->exp_detail = 0xff;
	if (!strcmp(s, "connected")) {
		c->exp = OUT_CONNECTED;
		return 0;
	}
	if (!strcmp(s, "dropped")) {
		c->exp = OUT_DROPPED;
		return 0;
	}
	if (!strcmp(s, "busy") || !strcmp(s, "no-answer")) {
		c->exp = OUT_NAK;
		c->exp_reason = s[0] == 'b' ? SL_NAK_BUSY : SL_NAK_NO_ANSWER;
		c->exp_detail = SL_NAK_DETAIL_RECIPIENT;
		return 0;
	}
	if (strncmp(s, "nak:", 4) || strlen(s) >= sizeof(buf))
		goto bad;
	snprintf(buf, sizeof(buf), "%s", s + 4);
	reason = buf;
	detail = strchr(buf, ':');
	if (detail)
		*detail++ = '\0';
	if (nak_code(reason, &c->exp_reason))
		goto bad;
	c->exp = OUT_NAK;
	if (detail) {
		if (parse_u(detail, 2, &d))
			goto bad;
		c->exp_detail = (uint8_t)d;
	}
	return 0;
bad:
	snprintf(err, err_len, "bad expected outcome '%s' (connected, dropped, busy, no-answer, nak:REASON[:DETAIL])",
		 s);
	return -EINVAL;
}

/* "CALLER RECIPIENT EXPECT [bytes=K] [hold=MS] [at=MS] [refuse]" */
static int add_call(char *spec, char *err, size_t err_len)
{
	struct sim_call *c;
	char *tok[8], *save = NULL;
	unsigned int n = 0;
	unsigned long v;

	for (char *t = strtok_r(spec, " \t\r\n", &save); t;
	     t = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == 8) {
			snprintf(err, err_len, "too many fields");
			return -EINVAL;
		}
		tok[n++] = t;
	}
	if (!n)
		return 0;
	if (n < 3) {
		snprintf(err, err_len, "a call needs CALLER RECIPIENT EXPECT");
		return -EINVAL;
	}
	if (sim.n_calls == SIM_MAX_CALLS) {
		snprintf(err, err_len, "more than %d calls", SIM_MAX_CALLS);
		return -E2BIG;
	}
	c = &sim.calls[sim.n_calls];
	memset(c, 0, sizeof(*c));
	c->bytes = sim.bytes;
	if (parse_u(tok[0], SIM_MAX_ENDPOINTS - 1, &v)) {
		snprintf(err, err_len, "caller '%s': an endpoint index 0..%d",
			 tok[0], SIM_MAX_ENDPOINTS - 1);
		return -EINVAL;
	}
	c->caller = (unsigned int)v;
	if (strlen(tok[1]) == SL_ACCOUNT_LEN) {
		if (strspn(tok[1], "0123456789") != SL_ACCOUNT_LEN) {
			snprintf(err, err_len, "recipient '%s': not 12 digits",
				 tok[1]);
			return -EINVAL;
		}
		c->rcpt = -1;
		snprintf(c->rcpt_acct, sizeof(c->rcpt_acct), "%s", tok[1]);
	} else if (!parse_u(tok[1], SIM_MAX_ENDPOINTS - 1, &v)) {
		c->rcpt = (int)v;
		snprintf(c->rcpt_acct, sizeof(c->rcpt_acct), "%012" PRIu64,
			 (uint64_t)(SIM_ACCOUNT_BASE + v));
	} else {
		snprintf(err, err_len, "recipient '%s': an endpoint index or a 12-digit account",
			 tok[1]);
		return -EINVAL;
	}
	if (c->rcpt == (int)c->caller) {
		snprintf(err, err_len, "endpoint %u calls itself", c->caller);
		return -EINVAL;
	}
	if (parse_expect(c, tok[2], err, err_len))
		return -EINVAL;
	for (unsigned int i = 3; i < n; ++i) {
		if (!strcmp(tok[i], "refuse")) {
			c->refuse = true;
		} else if (!strncmp(tok[i], "bytes=", 6) &&
			   !parse_u(tok[i] + 6, SIM_MAX_BYTES, &v)) {
			c->bytes = v;
		} else if (!strncmp(tok[i], "hold=", 5) &&
			   !parse_u(tok[i] + 5, 3600000, &v)) {
			c->hold_ms = (unsigned int)v;
		} else if (!strncmp(tok[i], "at=", 3) &&
			   !parse_u(tok[i] + 3, 3600000, &v)) {
			c->at_ms = (unsigned int)v;
		} else {
			snprintf(err, err_len, "option '%s' (bytes=K up to %d, hold=MS, at=MS, refuse)",
				 tok[i], SIM_MAX_BYTES);
			return -EINVAL;
		}
	}
	/* One call per endpoint per run: each has one line. */
	for (unsigned int i = 0; i < sim.n_calls; ++i) {
		const struct sim_call *o = &sim.calls[i];
		unsigned int a[2] = { c->caller, (unsigned int)c->rcpt };
		unsigned int b[2] = { o->caller, (unsigned int)o->rcpt };

		for (int x = 0; x < 2; ++x)
			for (int y = 0; y < 2; ++y)
				if ((x == 0 || c->rcpt >= 0) &&
				    (y == 0 || o->rcpt >= 0) && a[x] == b[y]) {
					snprintf(err, err_len, "endpoint %u is in two calls (one line each)",
						 a[x]);
					return -EINVAL;
				}
	}
	sim.n_calls++;
	return 0;
}

static int read_scenario(const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char line[512], err[256];
	unsigned int lineno = 0;

	if (!f) {
		fprintf(stderr, "sim-endpoints: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *hash = strchr(line, '#');

		++lineno;
		if (hash)
			*hash = '\0';
		if (add_call(line, err, sizeof(err))) {
			fprintf(stderr, "sim-endpoints: %s:%u: %s\n", path, lineno,
				err);
			if (f != stdin)
				fclose(f);
			return -1;
		}
	}
	if (f != stdin)
		fclose(f);
	return 0;
}

/* ---- Results ----------------------------------------------------- */

static bool call_as_expected(const struct sim_call *c)
{
	if (c->out != c->exp)
		return false;
	if (c->exp == OUT_NAK)
		return c->reason == c->exp_reason &&
		       (c->exp_detail == 0xff || c->detail == c->exp_detail);
	if (c->exp == OUT_CONNECTED)
		return !c->err[0] && c->rx_caller == c->bytes &&
		       c->rx_answerer == c->bytes && !c->bad_caller &&
		       !c->bad_answerer && c->ans && !strcmp(c->ans, "ended");
	return true;
}

static void print_result(const struct sim_call *c)
{
	bool ok = call_as_expected(c);
	char outcome[64];
	char expect[64];

	if (c->out == OUT_NAK)
		snprintf(outcome, sizeof(outcome), "nak:%s:%u",
			 sl_nak_reason_name(c->reason), c->detail);
	else
		snprintf(outcome, sizeof(outcome), "%s", outcome_names[c->out]);
	if (c->exp == OUT_NAK && c->exp_detail != 0xff)
		snprintf(expect, sizeof(expect), "nak:%s:%u",
			 sl_nak_reason_name(c->exp_reason), c->exp_detail);
	else if (c->exp == OUT_NAK)
		snprintf(expect, sizeof(expect), "nak:%s",
			 sl_nak_reason_name(c->exp_reason));
	else
		snprintf(expect, sizeof(expect), "%s", outcome_names[c->exp]);
	printf("call caller=%s recipient=%s outcome=%s expected=%s tracking=%016" PRIx64
	       " up=%" PRIu64 " down=%" PRIu64 " sent=%zu rx_caller=%zu rx_answerer=%zu bad=%zu duration=%.3f setup=%.3f answerer=%s errors=%s %s\n",
	       sim.eps[c->caller].account, c->rcpt_acct, outcome, expect,
	       c->tracking, c->up, c->down, c->bytes, c->rx_caller,
	       c->rx_answerer, c->bad_caller + c->bad_answerer,
	       c->t_connected && c->t_end ?
	       (double)(c->t_end - c->t_connected) / 1000 : 0.0,
	       c->t_dial && c->t_first ?
	       (double)(c->t_first - c->t_dial) / 1000 : 0.0,
	       c->ans ? c->ans : "-", c->err[0] ? c->err : "-",
	       ok ? "ok" : "FAIL");
}

/* ---- Commands ---------------------------------------------------- */

static void usage(FILE *f)
{
	fputs(
"NAME\n"
"    sim-endpoints - simulated sealine endpoints calling through a TSP\n"
"\n"
"SYNOPSIS\n"
"    sim-endpoints keys --count N [--seed S] [--phone-base P]\n"
"    sim-endpoints run --tsp-key HEX --tsp-number NUMBER --lines FORMAT\n"
"                  [--scenario FILE|-] [--call SPEC]... [--pairs N]\n"
"                  [--bytes K] [--seed S] [--phone-base P] [--baud B]\n"
"                  [--timeout S] [-v]\n"
"\n"
"DESCRIPTION\n"
"    Simulates endpoint installations for the host tests of the TSP,\n"
"    sealtspd, each on its own line of the simulated exchange\n"
"    (tests/exchange/sealine-exchange, pty lines), with the agent's own\n"
"    modem driver and call-setup engine and no kernel support.\n"
"\n"
"    Endpoint I (0 to 1099) has account 100000000000+I, phone number\n"
"    P+I (--phone-base, default 5550000) and a static X25519 key derived\n"
"    from the seed and I with HKDF-SHA-256, so every run with the same\n"
"    --seed has the same identities.\n"
"\n"
"    keys prints one line per endpoint, \"ACCOUNT PUBLIC-KEY-HEX PHONE\",\n"
"    for enrolment with sealctl tsp accounts add.\n"
"\n"
"    run places the calls of the scenario. A caller dials the TSP's\n"
"    NUMBER, authenticates the TSP by its pinned key (--tsp-key), names\n"
"    the recipient and, once connected, sends one end-to-end control\n"
"    message (which starts the TSP's byte-for-byte relay) and K bytes of\n"
"    pseudo-random data; the recipient, an answerer that answers every\n"
"    RING, accepts the offer from its caller (or refuses it, option\n"
"    refuse, with NAK NOT_AUTHORISED detail 1), checks the K bytes\n"
"    byte for byte and sends K bytes of its own, which the caller checks.\n"
"    The caller then hangs up (+++, ATH) after holding the call for\n"
"    hold=MS, and the answerer expects the TSP's authenticated\n"
"    CALL_STATUS \"ended\".\n"
"\n"
"SCENARIO\n"
"    One call per line (--scenario; # starts a comment) or per --call:\n"
"        CALLER RECIPIENT EXPECT [bytes=K] [hold=MS] [at=MS] [refuse]\n"
"    CALLER is an endpoint index; RECIPIENT an endpoint index or any\n"
"    12-digit account (one that is not simulated); EXPECT one of\n"
"        connected         data byte-exact both ways, answerer got ended\n"
"        nak:REASON[:D]    the TSP's NAK (e.g. nak:CALLER_ID_MISMATCH:1)\n"
"        busy, no-answer   nak:BUSY:2, nak:NO_ANSWER:2\n"
"        dropped           connected, then the line went dead\n"
"    at=MS dials MS after the start. --pairs N adds the calls I -> N+I\n"
"    (I = 0 .. N-1), expecting connected. An endpoint takes part in one\n"
"    call per run.\n"
"\n"
"OPTIONS\n"
"    --tsp-key HEX       the TSP's static public key (64 hex digits)\n"
"    --tsp-number NUMBER the number endpoints dial\n"
"    --lines FORMAT      endpoint I's line: FORMAT with %u replaced by I\n"
"                        (e.g. /tmp/t/ep%u)\n"
"    --bytes K           data per direction (default 4096, up to 1 MiB)\n"
"    --seed S            identity and data seed (default 1)\n"
"    --phone-base P      phone numbers P+I (default 5550000)\n"
"    --baud B            line speed (default 9600)\n"
"    --timeout S         give up after S seconds (default 120)\n"
"    -v, --verbose       log every endpoint's events to standard error\n"
"    -h, --help          this manual\n"
"\n"
"OUTPUT\n"
"    One line per call:\n"
"        call caller=A recipient=B outcome=O expected=E tracking=ID\n"
"             up=N down=N sent=K rx_caller=N rx_answerer=N bad=N\n"
"             duration=S setup=S answerer=X errors=TEXT ok|FAIL\n"
"    up: bytes the caller wrote into the bridge after CONNECTED (its\n"
"    end-to-end message framed, its data, and the 3-byte escape that\n"
"    the exchange relays); down: the answerer's; duration: CONNECTED to\n"
"    the end of the caller's hangup; setup: ATDT to the caller's first\n"
"    relayed byte at the answerer (ring delays included); answerer:\n"
"    ended, refused, dropped\n"
"    or - (never answered). Last line:\n"
"        sim-endpoints: N calls, N as expected, N not\n"
"\n"
"EXIT STATUS\n"
"    0 if every call ended as expected, 1 if not (or on a timeout),\n"
"    2 on usage errors.\n", f);
}

static int hex_key(const char *s, uint8_t out[SL_X25519_KEY_LEN])
{
	if (strlen(s) != 2 * SL_X25519_KEY_LEN)
		return -EINVAL;
	for (int i = 0; i < SL_X25519_KEY_LEN; ++i) {
		unsigned int v;

		if (!isxdigit((unsigned char)s[2 * i]) ||
		    !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static void wipe_identities(void)
{
	for (unsigned int i = 0; i < SIM_MAX_ENDPOINTS; ++i) {
		sl_secure_free(sim.eps[i].priv, SL_X25519_KEY_LEN);
		sim.eps[i].priv = NULL;
	}
}

static int cmd_keys(unsigned int count)
{
	for (unsigned int i = 0; i < count; ++i) {
		struct ep *e = &sim.eps[i];

		if (ep_identity(e, i)) {
			fprintf(stderr, "sim-endpoints: cannot derive key %u\n", i);
			wipe_identities();
			return 1;
		}
		printf("%s ", e->account);
		for (int j = 0; j < SL_X25519_KEY_LEN; ++j)
			printf("%02x", e->pub[j]);
		printf(" %s\n", e->phone);
		sl_secure_free(e->priv, SL_X25519_KEY_LEN);
		e->priv = NULL;
	}
	return fflush(stdout) ? 1 : 0;
}

static int open_ep(struct ep *e, bool caller, struct sim_call *c,
		   int64_t now)
{
	struct sl_modem_events ev;
	char err[256];
	int ret;

	if (snprintf(e->path, sizeof(e->path), sim.line_fmt, e->idx) >=
	    (int)sizeof(e->path))
		return -ENAMETOOLONG;
	ret = sl_modem_open_tty(e->path, sim.baud, false, &e->fd, err,
				sizeof(err));
	if (ret) {
		fprintf(stderr, "sim-endpoints: endpoint %u: %s\n", e->idx, err);
		e->fd = -1;
		return ret;
	}
	e->call = c;
	e->is_caller = caller;
	e->ph = P_INIT;
	e->at = sim.start + (caller ? c->at_ms : 0);
	sl_modem_setup(&e->modem, e->account, e->fd, modem_log, e);
	ret = sl_modem_init(&e->modem, NULL, now, &ev);
	if (ret) {
		fprintf(stderr, "sim-endpoints: endpoint %u: modem init: %s\n",
			e->idx, strerror(-ret));
		return ret;
	}
	modem_events(e, &ev, now);
	return 0;
}

static int cmd_run(void)
{
	unsigned int as_expected = 0;
	int64_t now;
	int ret;

	sim.start = sl_now_ms();
	now = sim.start;
	for (unsigned int i = 0; i < SIM_MAX_ENDPOINTS; ++i) {
		sim.eps[i].fd = -1;
		sl_byteq_init(&sim.eps[i].out, SL_OUTQ_MAX);
	}
	for (unsigned int i = 0; i < sim.n_calls; ++i) {
		struct sim_call *c = &sim.calls[i];
		unsigned int idx[2] = { c->caller, (unsigned int)c->rcpt };

		for (int j = 0; j < (c->rcpt >= 0 ? 2 : 1); ++j) {
			if (ep_identity(&sim.eps[idx[j]], idx[j])) {
				fprintf(stderr, "sim-endpoints: cannot derive key %u\n",
					idx[j]);
				return 1;
			}
			if (idx[j] + 1 > sim.n_eps)
				sim.n_eps = idx[j] + 1;
		}
		c->data_up = make_stream(sim.eps[c->caller].account,
					 c->rcpt_acct, c->bytes);
		c->data_down = make_stream(c->rcpt_acct,
					   sim.eps[c->caller].account, c->bytes);
		if (!c->data_up || !c->data_down) {
			fprintf(stderr, "sim-endpoints: out of memory\n");
			return 1;
		}
	}
	/* Answerers first: their modems must be ready before a ring. */
	for (unsigned int i = 0; i < sim.n_calls; ++i) {
		struct sim_call *c = &sim.calls[i];

		if (c->rcpt >= 0 && open_ep(&sim.eps[c->rcpt], false, c, now))
			return 1;
	}
	for (unsigned int i = 0; i < sim.n_calls; ++i) {
		struct sim_call *c = &sim.calls[i];

		if (open_ep(&sim.eps[c->caller], true, c, now))
			return 1;
	}
	ret = run_loop();
	if (ret == -ETIMEDOUT)
		fprintf(stderr, "sim-endpoints: %s after %u s; unfinished calls fail\n",
			stop_signal ? "stopped by a signal" : "timeout",
			sim.timeout_s);
	else if (ret)
		fprintf(stderr, "sim-endpoints: poll: %s\n", strerror(-ret));
	for (unsigned int i = 0; i < sim.n_calls; ++i) {
		struct sim_call *c = &sim.calls[i];

		if (!c->caller_done || (c->exp == OUT_CONNECTED && !c->ans)) {
			call_err(c, "unfinished: caller %s, answerer %s",
				 sim.eps[c->caller].eng ?
				 sl_call_state(sim.eps[c->caller].eng) :
				 "no engine",
				 c->rcpt >= 0 && sim.eps[c->rcpt].eng ?
				 sl_call_state(sim.eps[c->rcpt].eng) : "-");
			if (c->out == OUT_CONNECTED)
				c->out = OUT_FAILED;
		}
		print_result(c);
		if (call_as_expected(c))
			as_expected++;
	}
	printf("sim-endpoints: %u calls, %u as expected, %u not\n", sim.n_calls,
	       as_expected, sim.n_calls - as_expected);
	/* Before any exit-time sanitizer report, which ends with _exit(). */
	fflush(stdout);
	for (unsigned int i = 0; i < sim.n_eps; ++i) {
		struct ep *e = &sim.eps[i];

		sl_call_free(e->eng);
		sl_byteq_free(&e->out);
		if (e->fd >= 0) {
			sl_modem_release(&e->modem);
			close(e->fd);
		}
	}
	for (unsigned int i = 0; i < sim.n_calls; ++i) {
		free(sim.calls[i].data_up);
		free(sim.calls[i].data_down);
	}
	return as_expected == sim.n_calls && !ret ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "phone-base", required_argument, NULL, 'P' },
		{ "tsp-key", required_argument, NULL, 'k' },
		{ "tsp-number", required_argument, NULL, 'N' },
		{ "lines", required_argument, NULL, 'l' },
		{ "scenario", required_argument, NULL, 'S' },
		{ "call", required_argument, NULL, 'c' },
		{ "pairs", required_argument, NULL, 'p' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "baud", required_argument, NULL, 'B' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd, *scenario = NULL;
	char *calls[SIM_MAX_CALLS];
	unsigned int n_call_opts = 0;
	unsigned long count = 0, pairs = 0, v;
	bool have_key = false;
	char err[256];
	int o, li = 0, status;

	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (strcmp(cmd, "keys") && strcmp(cmd, "run")) {
		fprintf(stderr, "sim-endpoints: unknown command '%s' (keys, run; --help)\n",
			cmd);
		return 2;
	}
	optind = 2;
	while ((o = getopt_long(argc, argv, "vh", opts, &li)) != -1) {
		switch (o) {
		case 'n':
			if (parse_u(optarg, SIM_MAX_ENDPOINTS, &count) || !count)
				goto bad_value;
			break;
		case 's':
			errno = 0;
			sim.seed = strtoull(optarg, NULL, 10);
			if (errno || !isdigit((unsigned char)optarg[0]))
				goto bad_value;
			break;
		case 'P':
			if (parse_u(optarg, 99999999999999UL, &sim.phone_base))
				goto bad_value;
			break;
		case 'k':
			if (hex_key(optarg, sim.tsp_pub))
				goto bad_value;
			have_key = true;
			break;
		case 'N':
			if (sl_modem_check_number(optarg) ||
			    strlen(optarg) > SL_MODEM_NUMBER_MAX)
				goto bad_value;
			snprintf(sim.tsp_number, sizeof(sim.tsp_number), "%s",
				 optarg);
			break;
		case 'l':
			if (!strstr(optarg, "%u") || strchr(strstr(optarg, "%u") + 2, '%') ||
			    strchr(optarg, '%') != strstr(optarg, "%u") ||
			    strlen(optarg) >= PATH_MAX - 8)
				goto bad_value;
			snprintf(sim.line_fmt, sizeof(sim.line_fmt), "%s", optarg);
			break;
		case 'S':
			scenario = optarg;
			break;
		case 'c':
			if (n_call_opts == SIM_MAX_CALLS)
				goto bad_value;
			calls[n_call_opts++] = optarg;
			break;
		case 'p':
			if (parse_u(optarg, SIM_MAX_ENDPOINTS / 2, &pairs))
				goto bad_value;
			break;
		case 'b':
			if (parse_u(optarg, SIM_MAX_BYTES, &v))
				goto bad_value;
			sim.bytes = v;
			break;
		case 'B':
			if (parse_u(optarg, 4000000, &v) || v < 300)
				goto bad_value;
			sim.baud = (unsigned int)v;
			break;
		case 't':
			if (parse_u(optarg, 86400, &v) || !v)
				goto bad_value;
			sim.timeout_s = (unsigned int)v;
			break;
		case 'v':
			sim.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "sim-endpoints: see --help\n");
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sim-endpoints: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (sl_crypto_init(SL_CALL_TSP_POOL_SIZE(SIM_MAX_ENDPOINTS) +
			   SIM_MAX_ENDPOINTS * 64, 0, err, sizeof(err))) {
		fprintf(stderr, "sim-endpoints: cryptography: %s\n", err);
		return 1;
	}
	if (!strcmp(cmd, "keys")) {
		if (!count) {
			fprintf(stderr, "sim-endpoints: keys needs --count N (1 to %d)\n",
				SIM_MAX_ENDPOINTS);
			return 2;
		}
		return cmd_keys((unsigned int)count);
	}
	if (!have_key || !sim.tsp_number[0] || !sim.line_fmt[0]) {
		fprintf(stderr, "sim-endpoints: run needs --tsp-key, --tsp-number and --lines\n");
		return 2;
	}
	if (scenario && read_scenario(scenario))
		return 2;
	for (unsigned int i = 0; i < n_call_opts; ++i) {
		if (add_call(calls[i], err, sizeof(err))) {
			fprintf(stderr, "sim-endpoints: --call '%s': %s\n", calls[i],
				err);
			return 2;
		}
	}
	for (unsigned long i = 0; i < pairs; ++i) {
		char spec[64];

		snprintf(spec, sizeof(spec), "%lu %lu connected", i, pairs + i);
		if (add_call(spec, err, sizeof(err))) {
			fprintf(stderr, "sim-endpoints: --pairs: %s\n", err);
			return 2;
		}
	}
	if (!sim.n_calls) {
		fprintf(stderr, "sim-endpoints: no calls (--scenario, --call or --pairs)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	status = cmd_run();
	wipe_identities();
	return status;

bad_value:
	fprintf(stderr, "sim-endpoints: bad value '%s' for --%s (see --help)\n",
		optarg, opts[li].name);
	return 2;
}
