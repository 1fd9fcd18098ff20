// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The handshake driver "noise-v1": the seam of agent.h mapped onto the
 * protocol core of handshake.h, one engine (struct sl_hs) per line. It
 * is the driver of the default build (agent/Makefile:
 * SEALINED_HS_OBJS = hs_noise.o handshake.o noise.o).
 *
 *	seam input		engine call
 *	LINE_READY		sl_hs_new() with the kernel's epochs; on a
 *				keyless line whose role allows it,
 *				sl_hs_connect() with the line's peer
 *	CONTROL			sl_hs_input()
 *	TIMER			sl_hs_timer()
 *	ACTION_FAILED		sl_hs_action_failed()
 *	REKEY_NEEDED		sl_hs_rekey_needed()
 *	KEY_EXPIRED		sl_hs_key_expired()
 *	PAIR			role initiator: sl_hs_pair(); responder:
 *				sl_hs_pair_arm(); auto: both (crossing
 *				pairings make one side the responder)
 *	SAS_CONFIRM, SAS_TYPED	sl_hs_sas_confirm(), sl_hs_sas_typed()
 *	OPERATOR_GONE		a pairing in its SAS step is refused
 *				(NAK SAS_MISMATCH), an earlier one aborted
 *	PEERS_CHANGED		a keyless, idle initiator tries again
 *	LINE_DOWN		sl_hs_abort()
 *	LINE_INFO		nothing (GET_LINE is asked synchronously,
 *				env->line_info)
 *
 * Engine actions become seam actions of the same names; NAK becomes LOG
 * (NOTICE, ALERT for a possible man in the middle), a dropped message LOG
 * at DEBUG level, and out.next_timer the one TIMER. Key pointers in the
 * actions point into the engine's secure memory, valid until the next
 * call, as the seam requires.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "agent.h"
#include "handshake.h"

struct hsn {
	const struct sl_drv_env *env;
	struct sl_hs *hs;
	/* The engine's last list: SEND actions point into it. */
	struct sl_hs_actions out;
};

/* ---- The engine's callbacks ---------------------------------------- */

static enum sl_hs_peer_status peer_status(const struct sl_peer *p)
{
	if (p->revoked)
		return SL_PEER_REVOKED;
	return p->authorised ? SL_PEER_AUTHORISED : SL_PEER_NOT_AUTHORISED;
}

static bool usable(const struct sl_peer *p)
{
	return p->has_pub && p->ltk;
}

static void fill_peer(struct sl_hs_peer *out, const struct sl_peer *p)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->account, p->account, SL_ACCOUNT_LEN);
	memcpy(out->static_pub, p->pub, SL_HS_KEY_LEN);
	out->ltk = p->ltk;
	out->status = peer_status(p);
}

/*
 * The responder's candidates: the line's configured peer only, if there
 * is one, else every stored peer with a key (revoked ones included, so
 * that they get their own NAK).
 */
static int peer_fn(void *ctx, unsigned int index, struct sl_hs_peer *out)
{
	const struct sl_drv_env *env = ctx;
	const struct sl_keystore *ks = env->ks;
	unsigned int n = 0;

	if (env->conf->peer[0]) {
		for (size_t i = 0; i < ks->n_peers && !index; i++)
			if (!strcmp(ks->peers[i].account, env->conf->peer) &&
			    usable(&ks->peers[i])) {
				fill_peer(out, &ks->peers[i]);
				return 0;
			}
		return -ENOENT;
	}
	for (size_t i = 0; i < ks->n_peers; i++) {
		if (!usable(&ks->peers[i]))
			continue;
		if (n++ == index) {
			fill_peer(out, &ks->peers[i]);
			return 0;
		}
	}
	return -ENOENT;
}

static int key_epoch_fn(void *ctx, uint32_t *epoch)
{
	const struct sl_drv_env *env = ctx;
	struct sl_drv_line_info info;
	int err;

	if (!env->line_info)
		return -ENOSYS;
	err = env->line_info(env->line_ctx, &info);
	if (err)
		return err;
	if (!info.have_key)
		return -ENOKEY;
	*epoch = info.key_epoch;
	return 0;
}

/*
 * The peer an initiator connects to: the configured one, else the only
 * stored peer that may connect. NULL if there is none (or several).
 */
static const struct sl_peer *line_peer(const struct sl_drv_env *env)
{
	const struct sl_keystore *ks = env->ks;
	const struct sl_peer *found = NULL;

	for (size_t i = 0; i < ks->n_peers; i++) {
		const struct sl_peer *p = &ks->peers[i];

		if (env->conf->peer[0] && strcmp(p->account, env->conf->peer))
			continue;
		if (!usable(p) || !p->authorised || p->revoked)
			continue;
		if (found)
			return NULL;
		found = p;
	}
	return found;
}

/* ---- Translation ----------------------------------------------------- */

static enum sl_drv_kind drv_kind(enum sl_hs_kind k)
{
	return k == SL_HS_PAIR ? SL_DRV_KIND_PAIRING :
	       k == SL_HS_REKEY ? SL_DRV_KIND_REKEY : SL_DRV_KIND_SESSION;
}

static enum sl_drv_how drv_how(const struct sl_hs_result *r)
{
	if (r->remote)
		return SL_DRV_NAK_RECEIVED;
	if (r->reason == SL_NAK_NONE)
		return SL_DRV_ABORTED;
	if (r->reason == SL_NAK_TIMEOUT)
		return SL_DRV_TIMEOUT;
	if (r->reason == SL_NAK_INTERNAL)
		return SL_DRV_LOCAL;
	return SL_DRV_NAK_SENT;
}

static void hsid_hex(char out[9], uint32_t hsid)
{
	snprintf(out, 9, "%08x", hsid);
}

/*
 * Room in the batch for one more action besides what is still to come:
 * the engine's actions after number j, a LOG for a dropped message and
 * the TIMER.
 */
static bool room_after(const struct sl_drv_actions *acts,
		       const struct sl_hs_actions *o, unsigned int j)
{
	unsigned int later = o->n - j - 1 + (o->dropped ? 1 : 0) + 1;

	return acts->n + later < SL_DRV_MAX_ACTIONS;
}

/*
 * A refused first message (unknown, revoked or unauthorised peer, no
 * common version, busy, ...) starts no handshake, so the engine reports
 * no FAILED for it; but the peer's refusal must be in this side's session
 * log too ("every NAK is logged by both sides"), not only in syslog. The
 * NAK becomes a FAILED report of its own (responder, NAK sent). Rate
 * limited NAKs (not sent) get none, so a flood of forged first messages
 * cannot grow the session log faster than one record a second.
 */
static void refusal_record(struct sl_drv_action *d,
			   const struct sl_hs_nak_info *nak)
{
	char hsid[9];

	d->kind = nak->ref_type == SL_MSG_PAIR_COMMIT ? SL_DRV_KIND_PAIRING :
		  SL_DRV_KIND_SESSION;
	d->role = SL_DRV_ROLE_RESPONDER;
	d->how = SL_DRV_NAK_SENT;
	d->reason = nak->reason;
	d->alert = nak->alert;
	d->refusal = true;
	memcpy(d->peer, nak->peer_account, sizeof(d->peer));
	hsid_hex(hsid, nak->hsid);
	snprintf(d->text, sizeof(d->text), "refused the peer's %s (hsid %s)",
		 sl_hs_msg_name(nak->ref_type), hsid);
}

/* The engine's list (s->out) into the seam's batch, then the timer. */
static int translate(struct hsn *s, int64_t now, struct sl_drv_actions *acts)
{
	struct sl_hs_actions *o = &s->out;
	struct sl_drv_action *d;
	char hsid[9];

	for (unsigned int j = 0; j < o->n; j++) {
		const struct sl_hs_action *a = &o->a[j];
		const struct sl_hs_nak_info *nak = &a->nak;
		const struct sl_hs_result *r = &a->result;
		enum sl_drv_action_type t;

		switch (a->type) {
		case SL_HS_ACT_SEND:		t = SL_DRV_SEND; break;
		case SL_HS_ACT_SHOW_SAS:	t = SL_DRV_SHOW_SAS; break;
		case SL_HS_ACT_ASK_SAS:		t = SL_DRV_ASK_SAS; break;
		case SL_HS_ACT_STAGE_KEY:	t = SL_DRV_STAGE_KEY; break;
		case SL_HS_ACT_ACTIVATE_KEY:	t = SL_DRV_ACTIVATE; break;
		case SL_HS_ACT_STORE_PEER:	t = SL_DRV_STORE_PEER; break;
		case SL_HS_ACT_NAK:		t = SL_DRV_LOG; break;
		case SL_HS_ACT_DONE:		t = SL_DRV_DONE; break;
		case SL_HS_ACT_FAILED:		t = SL_DRV_FAILED; break;
		default:			return -EPROTO;
		}
		/* Never cut a list short: the daemon starts afresh instead,
		 * and nothing staged is activated by that. */
		d = sl_drv_push(acts, t);
		if (!d)
			return -ENOBUFS;
		switch (a->type) {
		case SL_HS_ACT_SEND:
			d->msg = a->send.msg;
			d->len = a->send.len;
			break;
		case SL_HS_ACT_SHOW_SAS:
			memcpy(d->sas, a->sas.sas, sizeof(d->sas));
			memcpy(d->peer, a->sas.peer_account, sizeof(d->peer));
			break;
		case SL_HS_ACT_ASK_SAS:
			d->attempts = a->sas.attempts_left;
			memcpy(d->peer, a->sas.peer_account, sizeof(d->peer));
			break;
		case SL_HS_ACT_STAGE_KEY:
			d->epoch = a->stage.epoch;
			d->cipher = a->stage.cipher;
			d->key_tx = (uint8_t *)a->stage.tx;
			d->key_rx = (uint8_t *)a->stage.rx;
			break;
		case SL_HS_ACT_ACTIVATE_KEY:
			d->epoch = a->activate.epoch;
			break;
		case SL_HS_ACT_STORE_PEER:
			memcpy(d->peer, a->store.account, sizeof(d->peer));
			memcpy(d->peer_pub, a->store.static_pub,
			       sizeof(d->peer_pub));
			d->ltk = (uint8_t *)a->store.ltk;
			break;
		case SL_HS_ACT_NAK:
			hsid_hex(hsid, nak->hsid);
			d->level = nak->alert ? LOG_ALERT : LOG_NOTICE;
			snprintf(d->text, sizeof(d->text),
				 "NAK %s %s: %s, detail %u, refusing %s, "
				 "hsid %s%s%s%s%s",
				 nak->sent ? "sent" : "received",
				 nak->sent ? "to the peer" : "(unauthenticated)",
				 sl_nak_reason_name(nak->reason),
				 nak->detail, sl_hs_msg_name(nak->ref_type),
				 hsid, nak->peer_account[0] ? ", peer " : "",
				 nak->peer_account,
				 nak->rate_limited ? " (not sent: one a second)" :
						     "",
				 nak->alert ?
				 " -- possible man-in-the-middle attack" : "");
			if (nak->sent && !nak->ended && !nak->rate_limited &&
			    room_after(acts, o, j))
				refusal_record(sl_drv_push(acts, SL_DRV_FAILED),
					       nak);
			break;
		case SL_HS_ACT_DONE:
		case SL_HS_ACT_FAILED:
			d->kind = drv_kind(r->kind);
			d->role = r->initiator ? SL_DRV_ROLE_INITIATOR :
						 SL_DRV_ROLE_RESPONDER;
			memcpy(d->peer, r->peer_account, sizeof(d->peer));
			d->epoch = r->epoch;
			d->cipher = r->cipher;
			if (a->type == SL_HS_ACT_DONE)
				break;
			d->how = drv_how(r);
			d->reason = r->reason;
			d->alert = r->alert;
			hsid_hex(hsid, r->hsid);
			snprintf(d->text, sizeof(d->text),
				 "%s (hsid %s, %u message%s failed "
				 "authentication%s)", r->text, hsid,
				 r->auth_failures,
				 r->auth_failures == 1 ? "" : "s",
				 r->retry_at ? ", will retry" : "");
			break;
		default:
			break;
		}
	}
	if (o->dropped) {
		d = sl_drv_push(acts, SL_DRV_LOG);
		if (!d)
			return -ENOBUFS;
		d->level = LOG_DEBUG;
		snprintf(d->text, sizeof(d->text), "control message dropped: %s",
			 o->dropped);
	}
	d = sl_drv_push(acts, SL_DRV_TIMER);
	if (!d)
		return -ENOBUFS;
	if (o->next_timer)
		d->ms = (int64_t)o->next_timer > now ?
			(uint32_t)((int64_t)o->next_timer - now) : 1;
	return 0;
}

static void log_action(struct sl_drv_actions *acts, int level,
		       const char *text)
{
	struct sl_drv_action *d = sl_drv_push(acts, SL_DRV_LOG);

	if (d) {
		d->level = level;
		snprintf(d->text, sizeof(d->text), "%s", text);
	}
}

/* ---- The driver ------------------------------------------------------ */

static void engine_free(struct hsn *s)
{
	sl_hs_free(s->hs);
	s->hs = NULL;
	sl_wipe(&s->out, sizeof(s->out));
}

static int engine_new(struct hsn *s, const struct sl_drv_line_info *info)
{
	const struct sl_drv_env *env = s->env;
	const struct sl_line_conf *conf = env->conf;
	struct sl_hs_config c = { 0 };
	uint32_t top;
	int err;

	engine_free(s);
	memcpy(c.account, env->self->account, SL_ACCOUNT_LEN);
	c.static_priv = env->self->priv;
	for (unsigned int i = 0; i < conf->n_ciphers && i < SL_HS_MAX_CIPHERS;
	     i++)
		c.ciphers[i] = conf->ciphers[i];
	if (info->have_key)
		c.epoch_cur = info->key_epoch;
	if (info->have_staged)
		c.epoch_staged = info->staged_epoch;
	top = c.epoch_cur > c.epoch_staged ? c.epoch_cur : c.epoch_staged;
	if (env->epoch_floor > top)
		top = env->epoch_floor;
	c.epoch_next = top < UINT32_MAX ? top + 1 : top;
	c.rekey_interval_ms = !conf->rekey_interval ? UINT32_MAX :
			      conf->rekey_interval >= UINT32_MAX / 1000 ?
			      UINT32_MAX - 1 : conf->rekey_interval * 1000;
	c.direct_line = true;		/* no TSP yet */
	c.pair_enabled = conf->pairing;
	c.peer_fn = peer_fn;
	c.key_epoch_fn = key_epoch_fn;
	c.ctx = (void *)env;
	s->hs = sl_hs_new(&c, &err);
	return s->hs ? 0 : err;
}

static int connect_peer(struct hsn *s, int64_t now,
			struct sl_drv_actions *acts)
{
	const struct sl_peer *p = line_peer(s->env);
	struct sl_hs_peer peer;
	int err;

	if (!p) {
		log_action(acts, LOG_INFO, s->env->conf->peer[0] ?
			   "the configured peer is not paired (or not "
			   "authorised): sealctl pair first" :
			   "no single paired peer to connect to: sealctl "
			   "pair first, or name the peer in the "
			   "configuration");
		return 0;
	}
	fill_peer(&peer, p);
	err = sl_hs_connect(s->hs, &peer, (uint64_t)now, &s->out);
	return err == -EBUSY ? 0 : err;
}

static int hsn_create(void **obj, const struct sl_drv_env *env)
{
	struct hsn *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->env = env;
	*obj = s;
	return 0;
}

static void hsn_destroy(void *obj)
{
	struct hsn *s = obj;

	if (!s)
		return;
	engine_free(s);
	free(s);
}

static const char *hsn_state(const void *obj)
{
	const struct hsn *s = obj;
	struct sl_hs_status st;

	if (!s->hs)
		return "idle";
	sl_hs_get_status(s->hs, 0, &st);
	if (st.busy)
		return st.kind == SL_HS_PAIR ? "pairing" :
		       st.kind == SL_HS_REKEY ? "rekeying" : "connecting";
	return st.keyed ? "keyed" : "idle";
}

static int hsn_input(void *obj, const struct sl_drv_input *in,
		     struct sl_drv_actions *acts)
{
	struct hsn *s = obj;
	const struct sl_line_conf *conf = s->env->conf;
	uint64_t now = in->now_ms > 0 ? (uint64_t)in->now_ms : 1;
	struct sl_hs_status st;
	enum sl_hs_act failed;
	int err = 0;

	memset(&s->out, 0, sizeof(s->out));
	if (in->type == SL_DRV_IN_LINE_READY) {
		err = engine_new(s, &in->info);
		if (err)
			return err;
		if (!in->info.have_key && conf->role != SL_ROLE_RESPONDER)
			err = connect_peer(s, in->now_ms, acts);
		goto out;
	}
	if (!s->hs)
		return 0;		/* nothing before LINE_READY */

	switch (in->type) {
	case SL_DRV_IN_CONTROL:
		err = sl_hs_input(s->hs, in->msg, in->len, now, &s->out);
		break;
	case SL_DRV_IN_TIMER:
	case SL_DRV_IN_LINE_INFO:
		err = sl_hs_timer(s->hs, now, &s->out);
		break;
	case SL_DRV_IN_ACTION_FAILED:
		failed = in->failed_action == SL_DRV_STAGE_KEY ?
			 SL_HS_ACT_STAGE_KEY :
			 in->failed_action == SL_DRV_ACTIVATE ?
			 SL_HS_ACT_ACTIVATE_KEY : SL_HS_ACT_STORE_PEER;
		err = sl_hs_action_failed(s->hs, failed, in->err, now,
					  &s->out);
		if (err == -EINVAL)	/* not from the engine's last list */
			err = sl_hs_timer(s->hs, now, &s->out);
		break;
	case SL_DRV_IN_REKEY_NEEDED:
		err = sl_hs_rekey_needed(s->hs, in->limit, now, &s->out);
		if (err == -ENOTCONN || err == -EBUSY || err == -ERANGE) {
			log_action(acts, LOG_INFO,
				   "rekey needed, but this agent did not make "
				   "the line's key: the peer's agent rekeys");
			err = 0;
		}
		break;
	case SL_DRV_IN_KEY_EXPIRED:
		err = sl_hs_key_expired(s->hs, now, &s->out);
		if (err == -EBUSY || err == -ERANGE)
			err = 0;
		break;
	case SL_DRV_IN_PAIR:
		if (conf->role != SL_ROLE_INITIATOR) {
			sl_hs_pair_arm(s->hs, now);
			log_action(acts, LOG_NOTICE,
				   "pairing armed for 10 minutes: waiting for "
				   "the other side's PAIR_COMMIT");
		}
		if (conf->role != SL_ROLE_RESPONDER) {
			err = sl_hs_pair(s->hs, now, &s->out);
			if (err == -EBUSY) {
				struct sl_drv_action *d =
					sl_drv_push(acts, SL_DRV_FAILED);

				if (!d)
					return -ENOBUFS;
				d->kind = SL_DRV_KIND_PAIRING;
				d->role = SL_DRV_ROLE_INITIATOR;
				d->how = SL_DRV_LOCAL;
				d->reason = SL_NAK_BUSY;
				snprintf(d->text, sizeof(d->text),
					 "another handshake is in progress");
				err = sl_hs_timer(s->hs, now, &s->out);
			}
		}
		break;
	case SL_DRV_IN_SAS_CONFIRM:
		err = sl_hs_sas_confirm(s->hs, in->confirm, now, &s->out);
		if (err == -EINVAL)
			err = sl_hs_timer(s->hs, now, &s->out);
		break;
	case SL_DRV_IN_SAS_TYPED:
		err = sl_hs_sas_typed(s->hs, in->sas, now, &s->out);
		if (err == -EINVAL || err == -EALREADY)
			err = sl_hs_timer(s->hs, now, &s->out);
		break;
	case SL_DRV_IN_OPERATOR_GONE:
		sl_hs_get_status(s->hs, now, &st);
		if (!st.busy || st.kind != SL_HS_PAIR) {
			err = sl_hs_timer(s->hs, now, &s->out);
			break;
		}
		/* In the SAS step: refused; before it: abandoned. */
		err = sl_hs_sas_confirm(s->hs, false, now, &s->out);
		if (err == -EINVAL)
			err = sl_hs_abort(s->hs, now, &s->out);
		break;
	case SL_DRV_IN_PEERS_CHANGED:
		sl_hs_get_status(s->hs, now, &st);
		if (!st.busy && !st.keyed && conf->role != SL_ROLE_RESPONDER)
			err = connect_peer(s, in->now_ms, acts);
		if (!s->out.n && !err)
			err = sl_hs_timer(s->hs, now, &s->out);
		break;
	case SL_DRV_IN_LINE_DOWN:
		err = sl_hs_abort(s->hs, now, &s->out);
		break;
	default:
		return -EINVAL;
	}
out:
	if (err)
		return err;
	return translate(s, in->now_ms, acts);
}

static const struct sl_hs_driver noise_driver = {
	.name = "noise-v1",
	.create = hsn_create,
	.input = hsn_input,
	.state = hsn_state,
	.destroy = hsn_destroy,
};

const struct sl_hs_driver *sl_hs_builtin_driver(void)
{
	return &noise_driver;
}
