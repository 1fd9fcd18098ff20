// SPDX-License-Identifier: GPL-2.0
/*
 * The handshake driver "noise-v1" (agent/sealined/hs_noise.c), driven through the
 * seam of agent/sealined/hs_driver.h exactly as sealined's line manager drives it: two
 * driver objects with in-memory configurations and key stores, a
 * simulated kernel each, the daemon's rules for batches (secret buffers
 * wiped once used, the rest skipped after a failed key action, one
 * relative timer per object).
 */
#include <errno.h>
#include <string.h>
#include <syslog.h>

#include "check.h"
#include "crypto.h"
#include "hs_driver.h"
#include "agent_test.h"

struct kslot {
	bool used;
	uint32_t epoch;
	uint8_t tx[32], rx[32];
};

struct dside {
	struct sl_line_conf conf;
	struct sl_keystore ks;
	struct sl_peer peers[4];
	struct sl_drv_env env;
	void *obj;
	struct kslot next, cur, prev;
	int64_t timer_at;
	char sas[SL_SAS_LEN + 1];
	bool show, ask;
	int n_done, n_failed, n_store, n_stage, n_wait, n_matched, n_clear;
	struct sl_drv_action prompt, wait, clear;
	char call_peer[SL_ACCOUNT_LEN + 1];
	struct sl_drv_action done, failed;
	int fail_stage;
};

struct dmsg {
	int to;
	uint8_t b[SEALINE_MAX_CONTROL];
	size_t len;
};

static const struct sl_hs_driver *drv;
static struct dside D[2];
static struct dmsg q[256];
static unsigned int qh, qt;
static int64_t now;

static int line_info(void *ctx, struct sl_drv_line_info *out)
{
	struct dside *d = ctx;

	memset(out, 0, sizeof(*out));
	out->have_key = d->cur.used;
	out->key_epoch = d->cur.epoch;
	out->have_staged = d->next.used;
	out->staged_epoch = d->next.epoch;
	return 0;
}

static void dside_init(int i, enum sl_role role)
{
	struct dside *d = &D[i];
	uint8_t *priv = sl_secure_alloc(32);

	memset(d, 0, sizeof(*d));
	snprintf(d->conf.tty, sizeof(d->conf.tty), "ttyS%d", i);
	d->conf.role = role;
	d->conf.rekey_interval = 1200;
	d->conf.ciphers[0] = SEALINE_CIPHER_CHACHA20POLY1305;
	d->conf.n_ciphers = 1;
	snprintf(d->ks.id.account, sizeof(d->ks.id.account), "%s",
		 i ? "210987654321" : "123456789012");
	if (!priv || sl_x25519_keypair(priv, d->ks.id.pub))
		abort();
	d->ks.id.priv = priv;
	d->ks.peers = d->peers;
	d->env = (struct sl_drv_env){
		.tty = d->conf.tty, .index = (uint32_t)i, .conf = &d->conf,
		.self = &d->ks.id, .ks = &d->ks, .line_info = line_info,
		.line_ctx = d,
	};
	CHECK_EQ(drv->create(&d->obj, &d->env), 0);
}

static void dside_free(int i)
{
	struct dside *d = &D[i];

	drv->destroy(d->obj);
	sl_secure_free(d->ks.id.priv, 32);
	for (size_t p = 0; p < d->ks.n_peers; p++)
		sl_secure_free(d->peers[p].ltk, 32);
	sl_wipe(d, sizeof(*d));
}

/*
 * The key store's lookup, as the seam allows the driver to call it (the
 * real one, in keystore.c, searches its sorted array; these in-memory
 * stores are kept in insertion order).
 */
const struct sl_peer *sl_ks_find(const struct sl_keystore *ks,
				 const char *account)
{
	for (size_t j = 0; j < ks->n_peers; j++)
		if (!strcmp(ks->peers[j].account, account))
			return &ks->peers[j];
	return NULL;
}

static void add_peer(int i, const uint8_t *pub, const char *acct,
		     const uint8_t *ltk)
{
	struct dside *d = &D[i];
	struct sl_peer *p = (struct sl_peer *)sl_ks_find(&d->ks, acct);

	if (!p)
		p = &d->peers[d->ks.n_peers++];
	snprintf(p->account, sizeof(p->account), "%s", acct);
	p->has_pub = true;
	memcpy(p->pub, pub, 32);
	if (!p->ltk)
		p->ltk = sl_secure_alloc(32);
	memcpy(p->ltk, ltk, 32);
	p->authorised = true;
	p->revoked = false;
}

static void feed(int i, struct sl_drv_input *in);

/* The daemon's run_actions(), in short. */
static void run_actions(int i, struct sl_drv_actions *acts)
{
	struct dside *d = &D[i];
	struct sl_drv_input fu = { 0 };
	bool skip = false;

	CHECK(acts->n <= SL_DRV_MAX_ACTIONS);
	for (unsigned int j = 0; j < acts->n; j++) {
		struct sl_drv_action *a = &acts->a[j];

		if (skip) {
			if (a->key_tx)
				sl_wipe(a->key_tx, 32);
			if (a->key_rx)
				sl_wipe(a->key_rx, 32);
			if (a->ltk)
				sl_wipe(a->ltk, 32);
			continue;
		}
		switch (a->type) {
		case SL_DRV_SEND:
			q[qt % 256].to = !i;
			memcpy(q[qt % 256].b, a->msg, a->len);
			q[qt % 256].len = a->len;
			qt++;
			break;
		case SL_DRV_STAGE_KEY:
			d->n_stage++;
			if (d->fail_stage) {
				d->fail_stage--;
				fu.type = SL_DRV_IN_ACTION_FAILED;
				fu.failed_action = a->type;
				fu.err = -ENOMEM;
			} else {
				d->next.used = true;
				d->next.epoch = a->epoch;
				memcpy(d->next.tx, a->key_tx, 32);
				memcpy(d->next.rx, a->key_rx, 32);
			}
			sl_wipe(a->key_tx, 32);
			sl_wipe(a->key_rx, 32);
			skip = fu.type != 0;
			break;
		case SL_DRV_ACTIVATE:
			if (d->cur.used && d->cur.epoch == a->epoch)
				break;
			CHECK(d->next.used && d->next.epoch == a->epoch);
			d->prev = d->cur;
			d->cur = d->next;
			memset(&d->next, 0, sizeof(d->next));
			/* The keepalive promotes the peer's staged key. */
			if (D[!i].next.used && D[!i].next.epoch == a->epoch) {
				D[!i].prev = D[!i].cur;
				D[!i].cur = D[!i].next;
				memset(&D[!i].next, 0, sizeof(D[!i].next));
			}
			break;
		case SL_DRV_STORE_PEER:
			d->n_store++;
			add_peer(i, a->peer_pub, a->peer, a->ltk);
			sl_wipe(a->ltk, 32);
			break;
		case SL_DRV_SHOW_SAS:
			memcpy(d->sas, a->sas, sizeof(d->sas));
			d->show = true;
			d->prompt = *a;
			break;
		case SL_DRV_ASK_SAS:
			d->ask = true;
			d->prompt = *a;
			break;
		case SL_DRV_PAIR_WAIT:
			d->n_wait++;
			d->wait = *a;
			break;
		case SL_DRV_SAS_MATCHED:
			d->n_matched++;
			break;
		case SL_DRV_CLEAR_KEYS:
			d->n_clear++;
			d->clear = *a;
			memset(&d->next, 0, sizeof(d->next));
			memset(&d->cur, 0, sizeof(d->cur));
			memset(&d->prev, 0, sizeof(d->prev));
			break;
		case SL_DRV_TIMER:
			d->timer_at = a->ms ? now + a->ms : 0;
			break;
		case SL_DRV_DONE:
			d->n_done++;
			d->done = *a;
			break;
		case SL_DRV_FAILED:
			d->n_failed++;
			d->failed = *a;
			break;
		case SL_DRV_LOG:
			if (getenv("HS_DEBUG"))
				printf("  %s: log %d: %s\n", d->conf.tty,
				       a->level, a->text);
			break;
		default:
			CHECKF(0, "action %d", a->type);
		}
	}
	if (fu.type)
		feed(i, &fu);
}

static void feed(int i, struct sl_drv_input *in)
{
	struct sl_drv_actions acts = { 0 };

	in->now_ms = now;
	CHECK_EQ(drv->input(D[i].obj, in, &acts), 0);
	run_actions(i, &acts);
}

static void feed_type(int i, enum sl_drv_input_type type)
{
	struct sl_drv_input in = { .type = type };

	feed(i, &in);
}

static void ready(int i)
{
	struct sl_drv_input in = { .type = SL_DRV_IN_LINE_READY };

	line_info(&D[i], &in.info);
	feed(i, &in);
}

static void run(int64_t limit)
{
	int64_t end = now + limit;

	for (int steps = 0; steps < 10000; steps++) {
		int64_t t = 0;
		int who = -1;

		if (qh != qt) {
			struct dmsg *m = &q[qh++ % 256];
			struct sl_drv_input in = {
				.type = SL_DRV_IN_CONTROL,
				.msg = m->b, .len = m->len,
			};

			feed(m->to, &in);
			continue;
		}
		for (int i = 0; i < 2; i++)
			if (D[i].timer_at && (!t || D[i].timer_at < t)) {
				t = D[i].timer_at;
				who = i;
			}
		if (who < 0 || t > end)
			return;
		if (t > now)
			now = t;
		D[who].timer_at = 0;
		feed_type(who, SL_DRV_IN_TIMER);
	}
	CHECKF(0, "no end");
}

static bool mirrored(void)
{
	return CHECK(D[0].cur.used && D[1].cur.used) &&
	       CHECK_EQ(D[0].cur.epoch, D[1].cur.epoch) &&
	       CHECK_MEM(D[0].cur.tx, D[1].cur.rx, 32) &&
	       CHECK_MEM(D[0].cur.rx, D[1].cur.tx, 32);
}

static void setup(enum sl_role a, enum sl_role b, bool paired)
{
	uint8_t ltk[32];

	qh = qt = 0;
	now = 5000000;
	dside_init(0, a);
	dside_init(1, b);
	if (paired) {
		check_fill_random(ltk, 32);
		add_peer(0, D[1].ks.id.pub, D[1].ks.id.account, ltk);
		add_peer(1, D[0].ks.id.pub, D[0].ks.id.account, ltk);
		sl_wipe(ltk, 32);
	}
}

static void teardown(void)
{
	dside_free(0);
	dside_free(1);
}

TEST(driver_named)
{
	CHECK(drv != NULL);
	CHECK(!strcmp(drv->name, "noise-v1"));
}

/* A keyless initiator connects on LINE_READY; the responder answers. */
TEST(driver_session)
{
	setup(SL_ROLE_INITIATOR, SL_ROLE_RESPONDER, true);
	ready(1);
	CHECK_EQ(qt, 0);
	ready(0);
	CHECK_EQ(qt, 1);
	CHECK(!strcmp(drv->state(D[0].obj), "connecting"));
	run(60000);
	CHECK_EQ(D[0].n_done, 1);
	CHECK_EQ(D[1].n_done, 1);
	CHECK_EQ(D[0].done.kind, SL_DRV_KIND_SESSION);
	CHECK_EQ(D[0].done.role, SL_DRV_ROLE_INITIATOR);
	CHECK_EQ(D[1].done.role, SL_DRV_ROLE_RESPONDER);
	CHECK(!strcmp(D[1].done.peer, D[0].ks.id.account));
	CHECK_EQ(D[0].done.epoch, 1);
	mirrored();
	CHECK(!strcmp(drv->state(D[0].obj), "keyed"));
	/* The kernel asks A for a rekey; then B. */
	struct sl_drv_input in = { .type = SL_DRV_IN_REKEY_NEEDED,
				   .limit = SEALINE_LIMIT_AGE };

	feed(0, &in);
	run(60000);
	CHECK_EQ(D[1].done.kind, SL_DRV_KIND_REKEY);
	CHECK_EQ(D[1].cur.epoch, 2);
	now += 20000;
	feed(1, &in);
	run(60000);
	CHECK_EQ(D[1].cur.epoch, 3);
	mirrored();
	/* The rekey timer of the configuration. */
	run(1200 * 1000 + 1000);
	CHECK_EQ(D[0].cur.epoch, 4);
	mirrored();
	/* Line down: nothing running, nothing to report. */
	feed_type(0, SL_DRV_IN_LINE_DOWN);
	CHECK_EQ(D[0].n_failed, 0);
	teardown();
}

/* Pairing through the seam: arm, pair, SAS both ways, store, session. */
TEST(driver_pairing)
{
	struct sl_drv_input in = { 0 };

	setup(SL_ROLE_INITIATOR, SL_ROLE_RESPONDER, false);
	ready(1);
	ready(0);		/* no peer yet: nothing to connect to */
	CHECK_EQ(qt, 0);
	feed_type(1, SL_DRV_IN_PAIR);
	feed_type(0, SL_DRV_IN_PAIR);
	run(1000);
	CHECK(D[0].show && D[1].ask);
	CHECK(!strcmp(drv->state(D[0].obj), "pairing"));
	in.type = SL_DRV_IN_SAS_TYPED;
	memcpy(in.sas, D[0].sas, sizeof(in.sas));
	feed(1, &in);
	memset(&in, 0, sizeof(in));
	in.type = SL_DRV_IN_SAS_CONFIRM;
	in.confirm = true;
	feed(0, &in);
	run(60000);
	CHECK_EQ(D[0].n_store, 1);
	CHECK_EQ(D[1].n_store, 1);
	CHECK_MEM(D[0].peers[0].ltk, D[1].peers[0].ltk, 32);
	CHECK_MEM(D[0].peers[0].pub, D[1].ks.id.pub, 32);
	CHECK_EQ(D[0].n_done, 2);		/* pairing, then session */
	CHECK_EQ(D[0].done.kind, SL_DRV_KIND_SESSION);
	mirrored();
	teardown();
}

/* The operator of R leaves during the SAS step: REFUSED, no alert. */
TEST(driver_operator_gone)
{
	setup(SL_ROLE_INITIATOR, SL_ROLE_RESPONDER, false);
	ready(1);
	ready(0);
	feed_type(1, SL_DRV_IN_PAIR);
	feed_type(0, SL_DRV_IN_PAIR);
	run(1000);
	CHECK(D[1].ask);
	feed_type(1, SL_DRV_IN_OPERATOR_GONE);
	run(60000);
	CHECK_EQ(D[1].n_failed, 1);
	CHECK_EQ(D[1].failed.kind, SL_DRV_KIND_PAIRING);
	CHECK_EQ(D[1].failed.how, SL_DRV_NAK_SENT);
	CHECK_EQ(D[1].failed.reason, SL_NAK_REFUSED);
	CHECK(!D[1].failed.alert);
	CHECK_EQ(D[0].failed.how, SL_DRV_NAK_RECEIVED);
	CHECK_EQ(D[0].failed.reason, SL_NAK_REFUSED);
	CHECK(!D[0].failed.alert);
	CHECK(D[0].failed.note[0]);
	CHECK_EQ(D[0].n_store + D[1].n_store, 0);
	teardown();
}

/* The operators as they are: the default role (auto) on both sides,
 * one sealctl pair after the other, in either order. */
static void operator_types_and_confirms(void)
{
	struct sl_drv_input in = { .type = SL_DRV_IN_SAS_TYPED };
	int shower = D[0].show ? 0 : 1;

	if (!CHECKF(D[shower].show && D[!shower].ask, "show %d/%d ask %d/%d",
		    D[0].show, D[1].show, D[0].ask, D[1].ask))
		return;
	memcpy(in.sas, D[shower].sas, sizeof(in.sas));
	feed(!shower, &in);
	CHECK_EQ(D[!shower].n_matched, 1);
	memset(&in, 0, sizeof(in));
	in.type = SL_DRV_IN_SAS_CONFIRM;
	in.confirm = true;
	feed(shower, &in);
}

TEST(driver_pairing_auto_either_order)
{
	for (int first = 0; first < 2; first++) {
		setup(SL_ROLE_AUTO, SL_ROLE_AUTO, false);
		ready(0);
		ready(1);
		feed_type(first, SL_DRV_IN_PAIR);
		CHECK_EQ(D[first].n_wait, 1);	/* "waiting" at once */
		CHECK(D[first].wait.ms > 590000);
		run(20000);
		CHECK_EQ(D[first].n_failed, 0);
		CHECK_EQ(D[first].n_wait, 2);	/* then: not armed */
		CHECK_EQ(D[first].wait.reason, SL_NAK_NOT_ARMED);
		CHECK(!D[0].show && !D[1].show);
		feed_type(!first, SL_DRV_IN_PAIR);
		run(5000);
		operator_types_and_confirms();
		run(60000);
		CHECK_EQ(D[0].n_store, 1);
		CHECK_EQ(D[1].n_store, 1);
		CHECK_EQ(D[0].n_failed + D[1].n_failed, 0);
		mirrored();
		teardown();
	}
	/* Both at the same moment. */
	setup(SL_ROLE_AUTO, SL_ROLE_AUTO, false);
	ready(0);
	ready(1);
	feed_type(0, SL_DRV_IN_PAIR);
	feed_type(1, SL_DRV_IN_PAIR);
	run(5000);
	operator_types_and_confirms();
	run(60000);
	CHECK_EQ(D[0].n_store + D[1].n_store, 2);
	CHECK_EQ(D[0].n_failed + D[1].n_failed, 0);
	mirrored();
	teardown();
}

/* A pairing answered with pairing = yes waits for R's operator, who
 * joins it: the prompt again, with the peer's claimed key. */
TEST(driver_pairing_join)
{
	setup(SL_ROLE_INITIATOR, SL_ROLE_RESPONDER, false);
	D[1].conf.pairing = true;
	ready(1);
	ready(0);
	feed_type(0, SL_DRV_IN_PAIR);
	run(2000);
	CHECK(D[1].ask);
	D[1].ask = false;
	feed_type(1, SL_DRV_IN_PAIR);
	CHECK(D[1].ask);
	CHECK_EQ(D[1].n_wait, 0);
	CHECK_MEM(D[1].prompt.peer_pub, D[0].ks.id.pub, 32);
	CHECK(!strcmp(D[1].prompt.peer, D[0].ks.id.account));
	CHECK(D[1].prompt.ms > 170000 && D[1].prompt.ms <= 180000);
	operator_types_and_confirms();
	run(60000);
	CHECK_EQ(D[0].n_store + D[1].n_store, 2);
	teardown();
}

/*
 * A stored peer's key is never replaced silently: the pairing is
 * refused (REFUSED, "already paired") before a code is shown on that
 * side, unless its operator asked to replace it. A record made by
 * authorise (no key yet) is no obstacle.
 */
TEST(driver_pairing_replace)
{
	static const uint8_t zero[32];

	for (int replace = 0; replace < 2; replace++) {
		struct sl_drv_input in = {
			.type = SL_DRV_IN_PAIR, .replace = replace,
		};
		uint8_t old[32];

		setup(SL_ROLE_INITIATOR, SL_ROLE_RESPONDER, false);
		check_fill_random(old, 32);
		add_peer(1, old, D[0].ks.id.account, zero);
		D[1].peers[0].revoked = true;
		ready(1);
		ready(0);
		feed(1, &in);
		feed_type(0, SL_DRV_IN_PAIR);
		run(2000);
		if (!replace) {
			CHECK(!D[1].ask);
			CHECK_EQ(D[1].failed.reason, SL_NAK_REFUSED);
			CHECK_EQ(D[1].failed.detail, 1);
			CHECK_EQ(D[0].failed.reason, SL_NAK_REFUSED);
			CHECK_EQ(D[0].failed.detail, 1);
			CHECK(D[1].peers[0].revoked);
			CHECK_MEM(D[1].peers[0].pub, old, 32);
		} else {
			operator_types_and_confirms();
			run(60000);
			CHECK_EQ(D[1].n_store, 1);
			CHECK_MEM(D[1].peers[0].pub, D[0].ks.id.pub, 32);
		}
		teardown();
	}
	/* Authorised before pairing (no key): pairs without --replace. */
	setup(SL_ROLE_INITIATOR, SL_ROLE_RESPONDER, false);
	add_peer(1, zero, D[0].ks.id.account, zero);
	D[1].peers[0].has_pub = false;
	ready(1);
	ready(0);
	feed_type(1, SL_DRV_IN_PAIR);
	feed_type(0, SL_DRV_IN_PAIR);
	run(2000);
	operator_types_and_confirms();
	run(60000);
	CHECK_EQ(D[0].n_store + D[1].n_store, 2);
	teardown();
}

/*
 * A dialled line (env.call_peer): the caller initiates, the answerer
 * responds, and an account other than the one the call named ends a
 * pairing or a session with IDENTITY_MISMATCH.
 */
TEST(driver_call_identity)
{
	struct sl_drv_input in = { 0 };

	/* A calls "999999999999" but B answers. */
	setup(SL_ROLE_AUTO, SL_ROLE_AUTO, false);
	snprintf(D[0].call_peer, sizeof(D[0].call_peer), "999999999999");
	D[0].env.call_peer = D[0].call_peer;
	D[0].env.call_caller = true;
	snprintf(D[1].call_peer, sizeof(D[1].call_peer), "%s",
		 D[0].ks.id.account);
	D[1].env.call_peer = D[1].call_peer;
	ready(0);
	ready(1);
	feed_type(1, SL_DRV_IN_PAIR);
	feed_type(0, SL_DRV_IN_PAIR);
	run(5000);
	CHECK(!D[0].show);
	CHECK_EQ(D[0].failed.reason, SL_NAK_IDENTITY_MISMATCH);
	CHECK(D[0].failed.alert);
	CHECK_EQ(D[0].n_store + D[1].n_store, 0);
	teardown();

	/* Paired with both: a session with the wrong one is refused as
	 * IDENTITY_MISMATCH, not taken for a stranger. */
	setup(SL_ROLE_AUTO, SL_ROLE_AUTO, true);
	snprintf(D[1].call_peer, sizeof(D[1].call_peer), "888888888888");
	D[1].env.call_peer = D[1].call_peer;
	add_peer(1, D[1].ks.id.pub, "888888888888", D[1].ks.id.pub);
	snprintf(D[0].call_peer, sizeof(D[0].call_peer), "%s",
		 D[1].ks.id.account);
	D[0].env.call_peer = D[0].call_peer;
	D[0].env.call_caller = true;
	ready(1);
	ready(0);
	run(5000);
	CHECK_EQ(D[1].failed.reason, SL_NAK_IDENTITY_MISMATCH);
	CHECK_EQ(D[0].failed.reason, SL_NAK_IDENTITY_MISMATCH);
	CHECK(!D[0].cur.used && !D[1].cur.used);
	teardown();
	(void)in;
}

/* Revoking the peer of a running session tells it: its keys go too. */
TEST(driver_close)
{
	struct sl_drv_input in = {
		.type = SL_DRV_IN_CLOSE,
		.close_reason = SL_CLOSE_REVOKED,
	};

	setup(SL_ROLE_INITIATOR, SL_ROLE_RESPONDER, true);
	ready(1);
	ready(0);
	run(5000);
	if (!mirrored())
		goto out;
	D[1].peers[0].revoked = true;
	feed(1, &in);
	run(5000);
	CHECK_EQ(D[0].n_clear, 1);
	CHECK_EQ(D[0].clear.reason, SL_CLOSE_REVOKED);
	CHECK(!strcmp(D[0].clear.peer, D[1].ks.id.account));
	CHECK(!D[0].cur.used);
	CHECK(!strcmp(drv->state(D[0].obj), "idle"));
	/* Closing again, or with no key: nothing to say. */
	feed(1, &in);
out:
	teardown();
}

/* Both sides "auto" and keyless: their first messages cross; one
 * session results. */
TEST(driver_auto_roles)
{
	setup(SL_ROLE_AUTO, SL_ROLE_AUTO, true);
	ready(0);
	ready(1);
	run(60000);
	CHECK_EQ(D[0].n_done, 1);
	CHECK_EQ(D[1].n_done, 1);
	CHECK(D[0].done.role != D[1].done.role);
	mirrored();
	teardown();
}

/* SET_KEY fails on the responder: the rest of its batch is skipped,
 * NAK INTERNAL, and the initiator retries later (a direct line). */
TEST(driver_action_failed)
{
	setup(SL_ROLE_INITIATOR, SL_ROLE_RESPONDER, true);
	D[1].fail_stage = 1;
	ready(1);
	ready(0);
	run(1000);
	CHECK_EQ(D[1].n_failed, 1);
	CHECK_EQ(D[1].failed.how, SL_DRV_LOCAL);
	CHECK_EQ(D[0].failed.reason, SL_NAK_INTERNAL);
	CHECK(!D[1].cur.used);
	run(60000);
	CHECK_EQ(D[0].n_done, 1);
	mirrored();
	teardown();
}

/*
 * A refused SESSION_INIT (revoked, then unknown peer) starts no
 * handshake, yet the responder reports it as a FAILED of its own (so the
 * daemon writes a session-log record on both sides), marked as a refusal
 * so that an operator's pairing is not ended by it.
 */
TEST(driver_refusal_reported)
{
	setup(SL_ROLE_INITIATOR, SL_ROLE_RESPONDER, true);
	D[1].peers[0].revoked = true;
	ready(1);
	ready(0);
	run(2000);
	CHECK_EQ(D[1].n_done + D[0].n_done, 0);
	CHECK_EQ(D[1].n_failed, 1);
	CHECK(D[1].failed.refusal);
	CHECK_EQ(D[1].failed.kind, SL_DRV_KIND_SESSION);
	CHECK_EQ(D[1].failed.role, SL_DRV_ROLE_RESPONDER);
	CHECK_EQ(D[1].failed.how, SL_DRV_NAK_SENT);
	CHECK_EQ(D[1].failed.reason, SL_NAK_REVOKED);
	CHECK(!strcmp(D[1].failed.peer, D[0].ks.id.account));
	CHECK_EQ(D[0].n_failed, 1);
	CHECK(!D[0].failed.refusal);
	CHECK_EQ(D[0].failed.how, SL_DRV_NAK_RECEIVED);
	CHECK_EQ(D[0].failed.reason, SL_NAK_REVOKED);
	CHECK(!D[0].cur.used && !D[1].cur.used);
	teardown();

	/* B paired with someone else (another key, another LTK): A is
	 * unknown to it. */
	setup(SL_ROLE_INITIATOR, SL_ROLE_RESPONDER, true);
	check_fill_random(D[1].peers[0].pub, 32);
	check_fill_random(D[1].peers[0].ltk, 32);
	snprintf(D[1].peers[0].account, sizeof(D[1].peers[0].account),
		 "999999999999");
	ready(1);
	ready(0);
	run(2000);
	CHECK_EQ(D[1].n_failed, 1);
	CHECK(D[1].failed.refusal);
	CHECK_EQ(D[1].failed.reason, SL_NAK_UNKNOWN_PEER);
	CHECK(!D[1].failed.peer[0]);
	CHECK_EQ(D[0].failed.reason, SL_NAK_UNKNOWN_PEER);
	CHECK(!D[0].cur.used && !D[1].cur.used);
	teardown();
}

TEST(secure_memory_not_leaked)
{
	check_secmem_returned();
}

int main(int argc, char **argv)
{
	check_init(argc, argv);
	init_or_die(0);
	secmem_measure_baseline();
	drv = sl_hs_builtin_driver();

	RUN(driver_named);
	RUN(driver_session);
	RUN(driver_pairing);
	RUN(driver_operator_gone);
	RUN(driver_pairing_auto_either_order);
	RUN(driver_pairing_join);
	RUN(driver_pairing_replace);
	RUN(driver_call_identity);
	RUN(driver_close);
	RUN(driver_auto_roles);
	RUN(driver_action_failed);
	RUN(driver_refusal_reported);
	RUN(secure_memory_not_leaked);
	return check_summary();
}
