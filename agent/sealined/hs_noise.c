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
 *	PAIR			sl_hs_pair() with the operator's window:
 *				role initiator initiates, responder
 *				responds, auto both (crossing pairings
 *				make one side the responder); or, if a
 *				pairing waits for an operator (pairing =
 *				yes answered it), sl_hs_pair_prompt()
 *	SAS_CONFIRM, SAS_TYPED	sl_hs_sas_confirm(), sl_hs_sas_typed()
 *	OPERATOR_GONE		sl_hs_pair_end(): nothing stays armed, a
 *				pairing in progress is refused
 *	CLOSE			sl_hs_close()
 *	PEERS_CHANGED		a keyless, idle initiator tries again
 *	LINE_DOWN		sl_hs_abort()
 *
 * On a dialled line (env->call_peer) the call decides: the caller
 * initiates, the answerer responds, and the account the call named is
 * the one every pairing and session must prove (the engine's
 * expected_peer), else IDENTITY_MISMATCH.
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

#include "hs_driver.h"
#include "handshake.h"

struct hsn {
	const struct sl_drv_env *env;
	struct sl_hs *hs;
	bool replace;		/* the operator's sealctl pair --replace */
	/* The engine's last list: SEND actions point into it. */
	struct sl_hs_actions out;
};

/* Who starts handshakes on this line: the call's direction, else the
 * configured role. */
static enum sl_role line_role(const struct sl_drv_env *env)
{
	if (env->call_peer)
		return env->call_caller ? SL_ROLE_INITIATOR : SL_ROLE_RESPONDER;
	return env->conf->role;
}

/* The peer this line is for, if it names one: the call's, else the
 * configured one. NULL: any paired peer. */
static const char *named_peer(const struct sl_drv_env *env)
{
	if (env->call_peer)
		return env->call_peer;
	return env->conf->peer[0] ? env->conf->peer : NULL;
}

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
 * The responder's candidates: the peer the line names first (a direct
 * line's configured peer is then the only one); else, and after a
 * call's peer, every stored peer with a key, revoked ones included, so
 * that they get their own NAK, and so that a call answered by another
 * paired account is told apart from a stranger (IDENTITY_MISMATCH).
 */
static int peer_fn(void *ctx, unsigned int index, struct sl_hs_peer *out)
{
	const struct hsn *s = ctx;
	const struct sl_drv_env *env = s->env;
	const struct sl_keystore *ks = env->ks;
	const char *named = named_peer(env);
	const struct sl_peer *first = named ? sl_ks_find(ks, named) : NULL;
	unsigned int n = 0;

	if (first && !usable(first))
		first = NULL;
	if (first && index == n++) {
		fill_peer(out, first);
		return 0;
	}
	if (named && !env->call_peer)
		return -ENOENT;
	for (size_t i = 0; i < ks->n_peers; i++) {
		if (!usable(&ks->peers[i]) || &ks->peers[i] == first)
			continue;
		if (n++ == index) {
			fill_peer(out, &ks->peers[i]);
			return 0;
		}
	}
	return -ENOENT;
}

/*
 * A pairing never silently replaces a stored peer's key nor un-revokes
 * it: only with the operator's --replace. A record without a key that
 * is not revoked (authorised before pairing) is no obstacle.
 */
static int pair_allowed_fn(void *ctx, const char *account,
			   const uint8_t static_pub[32])
{
	const struct hsn *s = ctx;
	const struct sl_peer *p = sl_ks_find(s->env->ks, account);

	(void)static_pub;
	if (!p || (!p->has_pub && !p->revoked) || s->replace)
		return 0;
	return -EEXIST;
}

static int key_epoch_fn(void *ctx, uint32_t *epoch)
{
	const struct hsn *s = ctx;
	const struct sl_drv_env *env = s->env;
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
 * The peer an initiator connects to: the one the line names, else the
 * only stored peer that may connect. NULL if there is none (or several).
 */
static const struct sl_peer *line_peer(const struct sl_drv_env *env)
{
	const struct sl_keystore *ks = env->ks;
	const char *named = named_peer(env);
	const struct sl_peer *found = NULL;

	for (size_t i = 0; i < ks->n_peers; i++) {
		const struct sl_peer *p = &ks->peers[i];

		if (named && strcmp(p->account, named))
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

/* Milliseconds from now until t (a time of the engine's), 0 if past. */
static uint32_t ms_until(uint64_t t, int64_t now)
{
	if (now < 0 || t <= (uint64_t)now)
		return 0;
	return t - (uint64_t)now > UINT32_MAX ? UINT32_MAX :
	       (uint32_t)(t - (uint64_t)now);
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
		case SL_HS_ACT_PAIR_WAIT:	t = SL_DRV_PAIR_WAIT; break;
		case SL_HS_ACT_CLEAR_KEYS:	t = SL_DRV_CLEAR_KEYS; break;
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
		case SL_HS_ACT_ASK_SAS:
			memcpy(d->sas, a->sas.sas, sizeof(d->sas));
			d->attempts = a->sas.attempts_left;
			memcpy(d->peer, a->sas.peer_account, sizeof(d->peer));
			memcpy(d->peer_pub, a->sas.peer_static,
			       sizeof(d->peer_pub));
			d->ms = ms_until(a->sas.deadline, now);
			break;
		case SL_HS_ACT_PAIR_WAIT:
			d->reason = a->wait.reason;
			d->ms = ms_until(a->wait.until, now);
			break;
		case SL_HS_ACT_CLEAR_KEYS:
			d->reason = a->close.reason;
			memcpy(d->peer, a->close.peer_account, sizeof(d->peer));
			break;
		case SL_HS_ACT_STAGE_KEY:
			d->epoch = a->stage.epoch;
			d->cipher = a->stage.cipher;
			d->key_tx = (uint8_t *)a->stage.tx;
			d->key_rx = (uint8_t *)a->stage.rx;
			d->courier_tx = (uint8_t *)a->stage.courier_tx;
			d->courier_rx = (uint8_t *)a->stage.courier_rx;
			d->hsid = a->stage.hsid;
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
			/* A pairing waiting for the other operator is routine. */
			d->level = nak->alert ? LOG_ALERT :
				   nak->reason == SL_NAK_NOT_ARMED ? LOG_INFO :
				   LOG_NOTICE;
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
			/* NOT_ARMED comes every 3 s while an operator waits
			 * for this side's: syslog, not the session log. */
			if (nak->sent && !nak->ended && !nak->rate_limited &&
			    nak->reason != SL_NAK_NOT_ARMED &&
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
			d->detail = r->detail;
			d->ver_min = r->ver_min;
			d->ver_max = r->ver_max;
			snprintf(d->note, sizeof(d->note), "%s", r->text);
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

static bool has_action(const struct sl_hs_actions *o, enum sl_hs_act type)
{
	for (unsigned int i = 0; i < o->n; i++)
		if (o->a[i].type == type)
			return true;
	return false;
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
	_Static_assert(SL_CONF_MAX_CIPHERS <= SL_HS_MAX_CIPHERS,
		       "the engine offers every cipher a line may list");
	for (unsigned int i = 0; i < conf->n_ciphers && i < SL_CONF_MAX_CIPHERS;
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
	c.direct_line = !env->call_peer;
	c.expected_peer = env->call_peer;
	c.pair_enabled = conf->pairing;
	c.peer_fn = peer_fn;
	c.key_epoch_fn = key_epoch_fn;
	c.pair_allowed_fn = pair_allowed_fn;
	c.ctx = s;
	s->hs = sl_hs_new(&c, &err);
	return s->hs ? 0 : err;
}

static int connect_peer(struct hsn *s, int64_t now,
			struct sl_drv_actions *acts)
{
	const struct sl_peer *p = line_peer(s->env);
	const char *named = named_peer(s->env);
	const struct sl_peer *rec = named ? sl_ks_find(s->env->ks, named) :
				    NULL;
	struct sl_hs_peer peer;
	char text[160];
	int err;

	if (!p) {
		/* The remedy depends on why: a revoked or unauthorised
		 * peer needs authorising, not a new pairing. */
		if (rec && usable(rec) && (rec->revoked || !rec->authorised))
			snprintf(text, sizeof(text),
				 "peer %s is %s here: sealctl peers authorise %s allows it again",
				 named, rec->revoked ? "revoked" :
				 "not authorised", named);
		else if (named)
			snprintf(text, sizeof(text),
				 "peer %s is not paired: sealctl pair first",
				 named);
		else
			snprintf(text, sizeof(text),
				 "no single paired peer to connect to: sealctl pair first, or name the peer in the configuration");
		log_action(acts, LOG_INFO, text);
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
	uint64_t now = in->now_ms > 0 ? (uint64_t)in->now_ms : 1;
	struct sl_hs_status st;
	enum sl_hs_act failed;
	int err = 0;

	memset(&s->out, 0, sizeof(s->out));
	if (in->type == SL_DRV_IN_LINE_READY) {
		err = engine_new(s, &in->info);
		if (err)
			return err;
		if (!in->info.have_key &&
		    line_role(s->env) != SL_ROLE_RESPONDER)
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
	case SL_DRV_IN_PAIR: {
		enum sl_role role = line_role(s->env);
		struct sl_hs_pair_opts o = {
			.initiate = role != SL_ROLE_RESPONDER,
			.respond = role != SL_ROLE_INITIATOR,
			.until = now + (in->wait_ms ? in->wait_ms :
					SL_HS_PAIR_WAIT_MS),
		};

		s->replace = in->replace;
		sl_hs_get_status(s->hs, now, &st);
		if (st.busy && st.kind == SL_HS_PAIR) {
			/* A pairing answered with no operator (pairing =
			 * yes): this operator takes it over. */
			log_action(acts, LOG_NOTICE,
				   "the operator joins the pairing in progress");
			err = sl_hs_pair_prompt(s->hs, now, &s->out);
		} else {
			struct sl_drv_action *d =
				sl_drv_push(acts, SL_DRV_PAIR_WAIT);

			if (!d)
				return -ENOBUFS;
			d->ms = ms_until(o.until, in->now_ms);
			err = sl_hs_pair(s->hs, &o, now, &s->out);
		}
		break;
	}
	case SL_DRV_IN_SAS_CONFIRM:
		err = sl_hs_sas_confirm(s->hs, in->confirm, now, &s->out);
		if (err == -EINVAL)
			err = sl_hs_timer(s->hs, now, &s->out);
		break;
	case SL_DRV_IN_SAS_TYPED:
		err = sl_hs_sas_typed(s->hs, in->sas, now, &s->out);
		if (err == -EINVAL || err == -EALREADY) {
			err = sl_hs_timer(s->hs, now, &s->out);
		} else if (!err && !has_action(&s->out, SL_HS_ACT_ASK_SAS) &&
			   !has_action(&s->out, SL_HS_ACT_FAILED) &&
			   !has_action(&s->out, SL_HS_ACT_DONE) &&
			   !sl_drv_push(acts, SL_DRV_SAS_MATCHED)) {
			/* Right, and PAIR_CONFIRM is still to come. */
			return -ENOBUFS;
		}
		break;
	case SL_DRV_IN_OPERATOR_GONE:
		s->replace = false;
		err = sl_hs_pair_end(s->hs, now, &s->out);
		break;
	case SL_DRV_IN_CLOSE:
		err = sl_hs_close(s->hs, in->close_reason, now, &s->out);
		if (err == -ENOTCONN || err == -ERANGE)
			err = 0;	/* nothing to tell the peer */
		break;
	case SL_DRV_IN_PEERS_CHANGED:
		sl_hs_get_status(s->hs, now, &st);
		if (!st.busy && !st.keyed &&
		    line_role(s->env) != SL_ROLE_RESPONDER)
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
