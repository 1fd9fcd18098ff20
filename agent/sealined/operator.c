// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The operator's side of a pairing: `sealctl pair` on the control socket
 * attached to a line's handshake, the prompts and messages it gets, what
 * the operator answers. See lines.h and ipc.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dialer.h"
#include "lines.h"
#include "lines_internal.h"
#include "log.h"
#include "names.h"

/* ------------------------------------------------------------ operator */

/*
 * Why a pairing failed, in the operator's words: what happened and what
 * to do, no protocol internals. alert only where the protocol saw what
 * an honest peer never sends.
 */
void sl_line_op_failure(char *buf, size_t len,
			     const struct sl_drv_action *a)
{
	bool ours = a->how == SL_DRV_NAK_SENT;

	switch (a->how == SL_DRV_NAK_SENT || a->how == SL_DRV_NAK_RECEIVED ?
		a->reason : SL_NAK_NONE) {
	case SL_NAK_SAS_MISMATCH:
		snprintf(buf, len, "%s: the two sides computed different codes. Nothing is stored. This is what a man in the middle causes: check the line before pairing again",
			 ours ? "the code typed 3 times is not this side's code" :
				"the other operator typed a code different from theirs 3 times");
		return;
	case SL_NAK_REFUSED:
		if (a->detail == 1 && ours)
			snprintf(buf, len, "this installation holds a pairing with %s already (or has revoked it); to replace it, pair with sealctl pair --replace. Nothing is stored",
				 a->peer[0] ? a->peer : "that account");
		else if (a->detail == 1)
			snprintf(buf, len, "the other side holds a pairing with this installation's account already; its operator must pair with sealctl pair --replace. Nothing is stored");
		else
			snprintf(buf, len, ours ? "the pairing was refused here. Nothing is stored" :
				 "the other operator refused the pairing or left. Nothing is stored");
		return;
	case SL_NAK_NOT_ARMED:
		snprintf(buf, len, "the other side is not waiting to pair: its operator must run sealctl pair on its line");
		return;
	case SL_NAK_VERSION:
		snprintf(buf, len, "the two sides speak different protocol versions (%s side: %u to %u): update sealine on the older side",
			 ours ? "this" : "the other", a->ver_min, a->ver_max);
		return;
	case SL_NAK_IDENTITY_MISMATCH:
		snprintf(buf, len, "%s account is not the one this call is for: the call was connected to someone else. Nothing is stored",
			 ours ? "the other side's" : "this side's");
		return;
	case SL_NAK_BUSY:
		snprintf(buf, len, "the other side is busy with another handshake: try again in a moment");
		return;
	case SL_NAK_TIMEOUT:
		snprintf(buf, len, ours ? "no decision on the code in time. Nothing is stored" :
			 "the other side gave up waiting. Nothing is stored");
		return;
	case SL_NAK_BAD_MESSAGE:
		snprintf(buf, len, a->alert ?
			 "the other side's key did not match its commitment: this is what a man in the middle causes. Nothing is stored" :
			 "a malformed message ended the pairing (see the logs of both sides). Nothing is stored");
		return;
	case SL_NAK_INTERNAL:
		snprintf(buf, len, "%s failed internally (see its log). Nothing is stored",
			 ours ? "this side" : "the other side");
		return;
	}
	if (a->how == SL_DRV_ABORTED)
		snprintf(buf, len, "the pairing was cut off (%s). Nothing is stored",
			 a->note[0] ? a->note : "line down");
	else
		snprintf(buf, len, "%s. Nothing is stored",
			 a->note[0] ? a->note : "the pairing failed");
}

/*
 * The operator's pairing waits for the other side: reason 0 at the start,
 * NOT_ARMED (reachable, its operator not there yet) or TIMEOUT (no
 * answer at all) later; ms: the time the operator still waits.
 */
void sl_line_op_waiting(struct sl_line *line, uint8_t reason,
			     uint32_t ms)
{
	struct sl_ipc_builder b;

	if (!line->op)
		return;
	sl_ipc_build(&b, "waiting");
	sl_ipc_add(&b, "reason", reason == SL_NAK_NOT_ARMED ? "not-armed" :
		   reason == SL_NAK_TIMEOUT ? "no-answer" : "start");
	sl_ipc_addf(&b, "seconds", "%u", (ms + 999) / 1000);
	sl_ipc_send_record(line->op, &b);
}

/* SHOW_SAS or ASK_SAS to the operator: the code, or a request for it,
 * with the peer's claimed identity and the time left to decide. */
void sl_line_op_prompt(struct sl_line *line, const struct sl_drv_action *a)
{
	char fp[SL_KS_FINGERPRINT_LEN + 1];
	struct sl_ipc_builder b;

	if (!line->op)
		return;
	sl_ks_fingerprint(fp, a->peer_pub);
	if (a->type == SL_DRV_SHOW_SAS) {
		sl_ipc_build(&b, "sas");
		sl_ipc_add(&b, "code", a->sas);
	} else {
		sl_ipc_build(&b, "ask-sas");
		sl_ipc_addf(&b, "attempts", "%u", a->attempts);
	}
	sl_ipc_add(&b, "peer", a->peer);
	sl_ipc_add(&b, "fingerprint", fp);
	sl_ipc_addf(&b, "seconds", "%u", (a->ms + 999) / 1000);
	sl_ipc_send_record(line->op, &b);
}

void sl_line_op_end(struct sl_line *line, int err, const char *peer,
			 const char *text)
{
	struct sl_ipc_client *c = line->op;

	if (!c)
		return;
	if (err) {
		sl_ipc_send_err(c, err, "%s", text);
	} else {
		struct sl_ipc_builder b;

		sl_ipc_build(&b, "ok");
		sl_ipc_add(&b, "peer", peer);
		sl_ipc_send_record(c, &b);
	}
	c->pairing = NULL;
	line->op = NULL;
}

/* ------------------------------------------------------------ operator */

int sl_lines_pair(struct sl_lines *L, const char *tty, struct sl_ipc_client *c,
		  bool replace, uint32_t wait_s, int64_t now_ms, char *err,
		  size_t err_len)
{
	struct sl_line *line = sl_lines_find(L, tty);
	struct sl_drv_input in = {
		.type = SL_DRV_IN_PAIR,
		.replace = replace,
		.wait_ms = (wait_s ? wait_s : SL_IPC_PAIR_WAIT_S) * 1000u,
	};

	if (!line)
		return sl_errf(err, err_len, -ENOENT,
			       "%s is not a line of this sealined (no [line %s] in %s)",
			       tty, tty, L->cfg->path);
	if (!L->drv)
		return sl_errf(err, err_len, -ENOSYS,
			       "pairing is not available: this sealined has no handshake implementation yet");
	if (c->pairing)
		return sl_errf(err, err_len, -EBUSY,
			       "this connection is already the operator of a pairing");
	if (line->status != SL_LINE_REGISTERED || !line->hs)
		return sl_errf(err, err_len, -ENOTCONN, "%s is %s, not ready to pair",
			       tty, sl_line_status_name(line->status));
	if (line->op)
		return sl_errf(err, err_len, -EBUSY,
			       "another operator is already pairing on %s", tty);
	line->op = c;
	c->pairing = line;
	sl_log(LOG_NOTICE, "%s: operator (pid %d) starts a pairing (waits %" PRIu32 " s%s)",
	       tty, (int)c->pid, in.wait_ms / 1000,
	       replace ? ", may replace a stored peer" : "");
	sl_line_feed(L, line, &in, now_ms);
	return 0;
}

static struct sl_line *operator_line(struct sl_lines *L,
				     struct sl_ipc_client *c)
{
	for (unsigned int i = 0; i < L->n; ++i)
		if (c->pairing == &L->lines[i] && L->lines[i].op == c)
			return &L->lines[i];
	return NULL;
}

int sl_lines_operator_confirm(struct sl_lines *L, struct sl_ipc_client *c,
			      bool yes, int64_t now_ms, char *err,
			      size_t err_len)
{
	struct sl_line *line = operator_line(L, c);
	struct sl_drv_input in = { .type = SL_DRV_IN_SAS_CONFIRM, .confirm = yes };

	if (!line || !line->hs)
		return sl_errf(err, err_len, -EINVAL,
			       "no pairing in progress on this connection");
	sl_line_feed(L, line, &in, now_ms);
	return 0;
}

int sl_lines_operator_sas(struct sl_lines *L, struct sl_ipc_client *c,
			  const char *typed, int64_t now_ms, char *err,
			  size_t err_len)
{
	struct sl_line *line = operator_line(L, c);
	struct sl_drv_input in = { .type = SL_DRV_IN_SAS_TYPED };

	if (!line || !line->hs)
		return sl_errf(err, err_len, -EINVAL,
			       "no pairing in progress on this connection");
	if (sl_sas_normalize(in.sas, typed))
		return sl_errf(err, err_len, -EINVAL,
			       "not a code: 5 characters from 2-9 and A-Z without I and O");
	sl_line_feed(L, line, &in, now_ms);
	sl_wipe(&in, sizeof(in));
	return 0;
}

void sl_lines_operator_gone(struct sl_lines *L, struct sl_ipc_client *c,
			    int64_t now_ms)
{
	struct sl_line *line = operator_line(L, c);

	for (unsigned int i = 0; i < L->n; ++i)
		if (L->lines[i].dial)
			sl_dialer_operator_gone(L->lines[i].dial, c);
	c->pairing = NULL;
	if (!line)
		return;
	line->op = NULL;
	sl_log(LOG_NOTICE, "%s: the pairing's operator went away", sl_line_tty(line));
	if (line->hs)
		sl_line_feed_simple(L, line, SL_DRV_IN_OPERATOR_GONE, now_ms);
}

