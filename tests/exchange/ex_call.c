// SPDX-License-Identifier: GPL-2.0
/*
 * ex_call.c - the exchange proper: dialling by number and hunt groups,
 * ringing and caller ID, answering, busy / no answer / unassigned
 * numbers, and the end of a call.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exchange.h"

void ex_stop_ringing(struct line *callee)
{
	callee->st = ST_IDLE;
	callee->peer = NULL;
	callee->rings = 0;
	callee->s[S_RINGCOUNT] = 0;
	callee->t_ring = callee->t_cid = 0;
}

static void go_online(struct line *l, struct line *peer, unsigned long speed, bool paced)
{
	uint64_t now = ex_now_ns();

	l->st = ST_ONLINE;
	l->peer = peer;
	l->speed = speed;
	l->paced = paced;
	l->next_free = now;
	l->call_start = now;
	l->call_sent = 0;
	l->last_rx = now;
	l->plus = 0;
	l->t_escape = 0;
	l->t_deadline = 0;
	l->cur_len = 0;
	l->cur_over = false;
	ex_result(l, RC_CONNECT);
}

void ex_answer(struct line *callee, const char *how)
{
	struct line *caller = callee->peer;
	unsigned long speed = caller->baud < callee->baud ? caller->baud : callee->baud;
	bool paced = caller->pace || callee->pace;

	ex_event("answer line=%s how=%s rings=%u", callee->id, how, callee->rings);
	callee->t_ring = callee->t_cid = 0;
	callee->rings = 0;
	callee->s[S_RINGCOUNT] = 0;
	go_online(caller, callee, speed, paced);
	go_online(callee, caller, speed, paced);
	ex_event("connect caller=%s callee=%s speed=%lu paced=%s", caller->id, callee->id,
	      speed, paced ? "yes" : "no");
}

/* End the call l is in; "by" is the side that hung up. */
void ex_end_call(struct line *by, const char *how)
{
	struct line *other = by->peer;
	struct line *caller = by->caller ? by : other;
	struct line *callee = by->caller ? other : by;
	uint64_t ms = (ex_now_ns() - by->call_start) / NSEC_PER_MSEC;

	ex_event("hangup caller=%s callee=%s by=%s how=%s caller_sent=%" PRIu64
	      " callee_sent=%" PRIu64 " secs=%" PRIu64 ".%03" PRIu64,
	      caller->id, callee->id, by->id, how, caller->call_sent, callee->call_sent,
	      ms / 1000, ms % 1000);
	for (int i = 0; i < 2; i++) {
		struct line *l = i ? other : by;

		l->st = ST_IDLE;
		l->peer = NULL;
		l->caller = false;
		l->t_escape = 0;
		l->paced = false;
	}
	ex_result(other, RC_NO_CARRIER);
}

static bool line_busy(const struct line *l)
{
	return l->f_busy || l->st != ST_IDLE;
}

/* ATD: returns false if a result code was given at once. */
void ex_dial(struct line *l, const char *number)
{
	struct line *callee = NULL;
	bool known = false;
	uint64_t now = ex_now_ns();
	unsigned long s7 = l->s[S_CARRIER_WAIT] ? l->s[S_CARRIER_WAIT] : 1;

	if (l->f_nodialtone) {
		ex_event("nodialtone line=%s to=%s", l->id, number);
		ex_result(l, RC_NO_DIALTONE);
		return;
	}
	ex_event("dial line=%s to=%s", l->id, number);
	for (size_t i = 0; i < ex_nlines; i++) {
		struct line *m = &ex_lines[i];

		if (strcmp(m->number, number))
			continue;
		known = true;
		if (m != l && !line_busy(m)) {
			callee = m;
			break;
		}
	}
	snprintf(l->dialled, sizeof(l->dialled), "%s", number);
	l->caller = true;
	if (!known) {
		/* the exchange's intercept: no such number, no carrier */
		l->st = ST_DIALING;
		l->peer = NULL;
		l->t_deadline = now + ex_unknown_ns;
		return;
	}
	if (!callee) {
		ex_event("busy line=%s to=%s", l->id, number);
		l->caller = false;
		ex_result(l, RC_BUSY);
		return;
	}
	l->st = ST_DIALING;
	l->peer = callee;
	l->t_deadline = now + s7 * NSEC_PER_SEC;
	callee->st = ST_RINGING;
	callee->peer = l;
	callee->caller = false;
	callee->rings = 0;
	callee->s[S_RINGCOUNT] = 0;
	callee->t_ring = now;	/* the first ring at once */
	callee->t_cid = 0;
}

/* The caller gave up (a key pressed, hung up, went away). */
void ex_abort_dial(struct line *l, const char *how, bool tell)
{
	ex_event("abort line=%s to=%s how=%s", l->id, l->dialled, how);
	if (l->peer)
		ex_stop_ringing(l->peer);
	l->st = ST_IDLE;
	l->peer = NULL;
	l->caller = false;
	l->t_deadline = 0;
	if (tell)
		ex_result(l, RC_NO_CARRIER);
}

void ex_ring(struct line *m, uint64_t now)
{
	struct line *caller = m->peer;

	if (ex_no_answer_rings && m->rings >= ex_no_answer_rings) {
		ex_event("noanswer line=%s to=%s rings=%u", caller->id, m->id, m->rings);
		ex_stop_ringing(m);
		caller->st = ST_IDLE;
		caller->peer = NULL;
		caller->caller = false;
		caller->t_deadline = 0;
		ex_result(caller, RC_NO_ANSWER);
		return;
	}
	m->rings++;
	m->t_ring = now + ex_ring_ns;
	if (m->s[S_RINGCOUNT] < 255)
		m->s[S_RINGCOUNT]++;
	ex_event("ring line=%s from=%s count=%u delivered=%s", m->id, caller->id, m->rings,
	      m->f_noanswer || !m->up ? "no" : "yes");
	/* forced noanswer, or no DTE there (a modem with DTR off does not
	 * answer): the phone rings on, unheard
	 */
	if (m->f_noanswer || !m->up)
		return;
	ex_result(m, RC_RING);
	if (m->rings == 1 && m->cid)
		m->t_cid = now + ex_ring_ns / 2;
	if (m->s[S_AUTOANSWER] && m->rings >= m->s[S_AUTOANSWER])
		ex_answer(m, "auto");
}

void ex_send_cid(struct line *m)
{
	char buf[160];
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	/* the MDMF fields as modems print them; NAME withheld ("O") */
	snprintf(buf, sizeof(buf),
		 "\r\nDATE = %02d%02d\r\nTIME = %02d%02d\r\nNMBR = %s\r\nNAME = O\r\n",
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, m->peer->number);
	ex_q_puts(m, buf);
	ex_event("cid line=%s nmbr=%s", m->id, m->peer->number);
}

