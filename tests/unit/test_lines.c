// SPDX-License-Identifier: GPL-2.0
/*
 * Host tests of the line manager and action executor
 * (agent/sealined/lines.c, line_hs.c, operator.c) driven against a fake
 * kernel and a fake handshake core through the seam of
 * agent/sealined/hs_driver.h.
 */
#include <errno.h>
#include <poll.h>

#include "check.h"
#include "hs_driver.h"
#include "ipc.h"
#include "keystore.h"
#include "lines.h"
#include "sessionlog.h"
#include "daemon_test.h"

/* A kernel with a few lines, recording what it was asked. */
struct fake_line {
	const char *tty;
	uint32_t index;
	bool attached;
	uint32_t agent;
	uint8_t state;
	bool have_key, have_staged;
	uint32_t key_epoch, staged_epoch;
	uint64_t tx_bytes, rx_bytes;
	uint8_t mode;		/* SET_LINE's MODE, as the kernel keeps it */
};

struct fake_kernel {
	uint32_t portid;
	struct fake_line lines[3];
	unsigned int sends, set_keys, activates, registers, clears, set_modes;
	uint8_t last_msg[64];
	size_t last_len;
	uint8_t last_tx[SEALINE_KEY_LEN], last_rx[SEALINE_KEY_LEN];
	uint32_t last_epoch;
	int set_key_result;
};

static struct fake_line *fk_find(struct fake_kernel *k, const char *tty)
{
	for (size_t i = 0; i < 3; ++i)
		if (k->lines[i].tty && !strcmp(k->lines[i].tty, tty) &&
		    k->lines[i].attached)
			return &k->lines[i];
	return NULL;
}

static uint32_t fk_portid(void *ctx)
{
	return ((struct fake_kernel *)ctx)->portid;
}

static int fk_get_line(void *ctx, const char *tty, struct sl_attrs *a)
{
	struct fake_line *l = fk_find(ctx, tty);

	if (!l)
		return -ENODEV;
	memset(a, 0, sizeof(*a));
	a->cmd = SEALINE_CMD_GET_LINE;
	a->present = SL_HAS(SEALINE_A_LINE_INDEX) | SL_HAS(SEALINE_A_LINE_TTY) |
		     SL_HAS(SEALINE_A_LINE_STATE);
	a->index = l->index;
	snprintf(a->tty, sizeof(a->tty), "%s", l->tty);
	a->state = l->state;
	if (l->agent) {
		a->present |= SL_HAS(SEALINE_A_AGENT_PORTID);
		a->agent_portid = l->agent;
	}
	if (l->have_key) {
		a->present |= SL_HAS(SEALINE_A_KEY_EPOCH);
		a->key_epoch = l->key_epoch;
	}
	if (l->have_staged) {
		a->present |= SL_HAS(SEALINE_A_NEXT_EPOCH);
		a->next_epoch = l->staged_epoch;
	}
	a->stat_present = SL_HAS(SEALINE_STAT_TX_BYTES) | SL_HAS(SEALINE_STAT_RX_BYTES);
	a->stats[SEALINE_STAT_TX_BYTES] = l->tx_bytes;
	a->stats[SEALINE_STAT_RX_BYTES] = l->rx_bytes;
	return 0;
}

static int fk_register(void *ctx, const char *tty)
{
	struct fake_kernel *k = ctx;
	struct fake_line *l = fk_find(k, tty);

	if (!l)
		return -ENODEV;
	l->agent = k->portid;
	k->registers++;
	return 0;
}

static int fk_send(void *ctx, const char *tty, const uint8_t *msg, size_t len)
{
	struct fake_kernel *k = ctx;

	if (!fk_find(k, tty))
		return -ENODEV;
	k->sends++;
	k->last_len = len < sizeof(k->last_msg) ? len : sizeof(k->last_msg);
	memcpy(k->last_msg, msg, k->last_len);
	return 0;
}

static int fk_set_key(void *ctx, const char *tty, uint32_t epoch,
		      uint8_t cipher, const uint8_t *tx, const uint8_t *rx)
{
	struct fake_kernel *k = ctx;
	struct fake_line *l = fk_find(k, tty);

	(void)cipher;
	if (!l)
		return -ENODEV;
	if (k->set_key_result)
		return k->set_key_result;
	k->set_keys++;
	memcpy(k->last_tx, tx, SEALINE_KEY_LEN);
	memcpy(k->last_rx, rx, SEALINE_KEY_LEN);
	k->last_epoch = epoch;
	l->have_staged = true;
	l->staged_epoch = epoch;
	return 0;
}

static int fk_activate(void *ctx, const char *tty, uint32_t epoch)
{
	struct fake_kernel *k = ctx;
	struct fake_line *l = fk_find(k, tty);

	if (!l)
		return -ENODEV;
	if (!l->have_staged || l->staged_epoch != epoch)
		return -ENOKEY;
	k->activates++;
	l->have_staged = false;
	l->have_key = true;
	l->key_epoch = epoch;
	l->state = SEALINE_STATE_KEYED;
	return 0;
}

static int fk_clear(void *ctx, const char *tty)
{
	struct fake_kernel *k = ctx;
	struct fake_line *l = fk_find(k, tty);

	if (!l)
		return -ENODEV;
	k->clears++;
	l->have_key = l->have_staged = false;
	l->state = SEALINE_STATE_NOKEY;
	return 0;
}

/* As the kernel: the mode changes only while the line has no current key. */
static int fk_set_mode(void *ctx, const char *tty, uint8_t mode)
{
	struct fake_kernel *k = ctx;
	struct fake_line *l = fk_find(k, tty);

	if (!l)
		return -ENODEV;
	if (l->have_key && l->mode != mode)
		return -EBUSY;
	k->set_modes++;
	l->mode = mode;
	return 0;
}

static const struct sl_kernel_ops fake_ops = {
	.portid = fk_portid,
	.get_line = fk_get_line,
	.register_agent = fk_register,
	.send_control = fk_send,
	.set_key = fk_set_key,
	.activate_key = fk_activate,
	.clear_keys = fk_clear,
	.set_mode = fk_set_mode,
};

/* A scripted handshake core: records its inputs, answers per input. */
struct fake_hs {
	const struct sl_drv_env *env;
	int inputs[32];
	unsigned int n_inputs;
	struct sl_drv_input last;
	uint8_t msg[8];
	uint8_t *tx, *rx, *ltk;
	bool destroyed;
};

static struct fake_hs *the_hs;
static unsigned int hs_created;
/* What the core answers to the next LINE_READY / CONTROL / TIMER. */
static int script;

enum { S_NONE, S_SESSION, S_PAIR_DONE, S_STAGE_TWICE, S_QUERY, S_TIMER,
       S_PAIR_FAIL, S_REFUSAL, S_ERROR };

static int fh_create(void **hs, const struct sl_drv_env *env)
{
	struct fake_hs *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	if (!env->self || !env->ks || !env->conf || !env->tty)
		goto free_h;
	h->tx = sl_secure_alloc(SEALINE_KEY_LEN);
	h->rx = sl_secure_alloc(SEALINE_KEY_LEN);
	h->ltk = sl_secure_alloc(SL_X25519_KEY_LEN);
	if (!h->tx || !h->rx || !h->ltk)
		goto free_keys;
	h->env = env;
	the_hs = h;
	hs_created++;
	*hs = h;
	return 0;
free_keys:
	sl_secure_free(h->tx, SEALINE_KEY_LEN);
	sl_secure_free(h->rx, SEALINE_KEY_LEN);
	sl_secure_free(h->ltk, SL_X25519_KEY_LEN);
free_h:
	free(h);
	return -ENOMEM;
}

static void fh_destroy(void *hs)
{
	struct fake_hs *h = hs;

	h->destroyed = true;
	sl_secure_free(h->tx, SEALINE_KEY_LEN);
	sl_secure_free(h->rx, SEALINE_KEY_LEN);
	sl_secure_free(h->ltk, SL_X25519_KEY_LEN);
	if (the_hs == h)
		the_hs = NULL;
	free(h);
}

static const char *fh_state(const void *hs)
{
	(void)hs;
	return "scripted";
}

static int fh_input(void *hs, const struct sl_drv_input *in,
		    struct sl_drv_actions *out)
{
	struct fake_hs *h = hs;
	struct sl_drv_action *a;

	if (h->n_inputs < 32)
		h->inputs[h->n_inputs++] = in->type;
	h->last = *in;
	if (in->type == SL_DRV_IN_CONTROL || in->type == SL_DRV_IN_LINE_READY ||
	    in->type == SL_DRV_IN_TIMER || in->type == SL_DRV_IN_PAIR) {
		int s = script;

		script = S_NONE;
		switch (s) {
		case S_SESSION:
			memset(h->msg, 0x5a, sizeof(h->msg));
			a = sl_drv_push(out, SL_DRV_SEND);
			a->msg = h->msg;
			a->len = sizeof(h->msg);
			memset(h->tx, 0x11, SEALINE_KEY_LEN);
			memset(h->rx, 0x22, SEALINE_KEY_LEN);
			a = sl_drv_push(out, SL_DRV_STAGE_KEY);
			a->epoch = 5;
			a->cipher = SEALINE_CIPHER_CHACHA20POLY1305;
			a->key_tx = h->tx;
			a->key_rx = h->rx;
			a = sl_drv_push(out, SL_DRV_ACTIVATE);
			a->epoch = 5;
			a = sl_drv_push(out, SL_DRV_DONE);
			a->kind = SL_DRV_KIND_SESSION;
			a->role = SL_DRV_ROLE_INITIATOR;
			a->epoch = 5;
			a->cipher = SEALINE_CIPHER_CHACHA20POLY1305;
			snprintf(a->peer, sizeof(a->peer), "210987654321");
			break;
		case S_PAIR_DONE:
			a = sl_drv_push(out, SL_DRV_SHOW_SAS);
			snprintf(a->sas, sizeof(a->sas), "RBW3F");
			memset(h->ltk, 0x33, SL_X25519_KEY_LEN);
			a = sl_drv_push(out, SL_DRV_STORE_PEER);
			snprintf(a->peer, sizeof(a->peer), "210987654321");
			memset(a->peer_pub, 0x44, sizeof(a->peer_pub));
			a->ltk = h->ltk;
			a = sl_drv_push(out, SL_DRV_DONE);
			a->kind = SL_DRV_KIND_PAIRING;
			a->role = SL_DRV_ROLE_INITIATOR;
			snprintf(a->peer, sizeof(a->peer), "210987654321");
			break;
		case S_STAGE_TWICE:
			memset(h->tx, 0x11, SEALINE_KEY_LEN);
			memset(h->rx, 0x22, SEALINE_KEY_LEN);
			a = sl_drv_push(out, SL_DRV_STAGE_KEY);
			a->epoch = 6;
			a->key_tx = h->tx;
			a->key_rx = h->rx;
			a = sl_drv_push(out, SL_DRV_SEND);
			a->msg = h->msg;
			a->len = 1;
			break;
		case S_QUERY:
			sl_drv_push(out, SL_DRV_QUERY_LINE);
			break;
		case S_TIMER:
			a = sl_drv_push(out, SL_DRV_TIMER);
			a->ms = 250;
			break;
		case S_PAIR_FAIL:
			a = sl_drv_push(out, SL_DRV_ASK_SAS);
			a->attempts = 3;
			a = sl_drv_push(out, SL_DRV_FAILED);
			a->kind = SL_DRV_KIND_PAIRING;
			a->role = SL_DRV_ROLE_RESPONDER;
			a->how = SL_DRV_NAK_SENT;
			a->reason = SL_NAK_SAS_MISMATCH;
			a->alert = true;
			snprintf(a->text, sizeof(a->text), "typed code did not match");
			break;
		case S_REFUSAL:
			a = sl_drv_push(out, SL_DRV_FAILED);
			a->kind = SL_DRV_KIND_PAIRING;
			a->role = SL_DRV_ROLE_RESPONDER;
			a->how = SL_DRV_NAK_SENT;
			a->reason = SL_NAK_BUSY;
			a->refusal = true;
			snprintf(a->text, sizeof(a->text), "refused the peer's PAIR_COMMIT");
			break;
		case S_ERROR:
			return -EFAULT;
		}
	}
	return 0;
}

static const struct sl_hs_driver fake_driver = {
	.name = "fake",
	.create = fh_create,
	.input = fh_input,
	.state = fh_state,
	.destroy = fh_destroy,
};

struct lines_env {
	struct sl_config *cfg;
	struct sl_keystore ks;
	struct sl_slog slog;
	struct sl_lines L;
	struct fake_kernel k;
	char log_path[PATH_MAX + 32];
};

static bool lines_setup(struct lines_env *e, const char *name,
			const struct sl_hs_driver *drv)
{
	char dir[PATH_MAX], err[512];

	memset(e, 0, sizeof(*e));
	e->cfg = new_cfg();
	if (parse(e->cfg, "[line ttyS1]\npeer = 210987654321\n[line ttyS2]\n[line ttyS3]\n",
		  err, sizeof(err)))
		return false;
	ks_dir(dir, sizeof(dir), name);
	if (sl_ks_open(&e->ks, dir, "123456789012", err, sizeof(err)))
		return false;
	snprintf(e->log_path, sizeof(e->log_path), "%s/sessions.log", dir);
	if (sl_slog_open(&e->slog, e->log_path, err, sizeof(err)))
		return false;
	e->k.portid = 4242;
	e->k.lines[0] = (struct fake_line){ .tty = "ttyS1", .index = 0,
					    .attached = true };
	e->k.lines[1] = (struct fake_line){ .tty = "ttyS2", .index = 1,
					    .attached = true, .agent = 777 };
	e->k.lines[2] = (struct fake_line){ .tty = "ttyS3", .index = 2 };
	script = S_NONE;
	hs_created = 0;
	return !sl_lines_init(&e->L, e->cfg, &e->ks, &e->slog, drv, &fake_ops,
			      &e->k);
}

static void lines_teardown(struct lines_env *e)
{
	sl_lines_fini(&e->L, "agent stopped");
	sl_slog_close(&e->slog);
	sl_ks_close(&e->ks);
	free(e->cfg);
}

static struct sl_attrs event(uint8_t cmd, const char *tty, uint32_t index)
{
	struct sl_attrs a;

	memset(&a, 0, sizeof(a));
	a.cmd = cmd;
	a.present = SL_HAS(SEALINE_A_LINE_TTY) | SL_HAS(SEALINE_A_LINE_INDEX);
	snprintf(a.tty, sizeof(a.tty), "%s", tty);
	a.index = index;
	return a;
}

static struct sl_ipc_client *fake_client(void)
{
	struct sl_ipc_client *c = calloc(1, sizeof(*c));

	if (!c)
		abort();
	c->fd = -1;
	c->pid = 1;
	return c;
}

static bool client_said(const struct sl_ipc_client *c, const char *what)
{
	return c->out && memmem(c->out, c->out_len, what, strlen(what));
}

TEST(lines_without_handshake)
{
	struct lines_env e;
	struct sl_ipc_client *c;
	struct sl_attrs a;
	uint8_t msg[3] = { 1, 2, 3 };
	char err[256];

	if (!CHECK(lines_setup(&e, "lines-none", NULL)))
		return;
	sl_lines_rescan(&e.L, 1000);
	/* ttyS1 registered, ttyS2 has another agent, ttyS3 not attached. */
	CHECK_EQ(e.L.lines[0].status, SL_LINE_REGISTERED);
	CHECK_EQ(e.k.lines[0].agent, 4242);
	CHECK_EQ(e.L.lines[1].status, SL_LINE_BUSY);
	CHECK_EQ(e.k.lines[1].agent, 777);
	CHECK_EQ(e.L.lines[2].status, SL_LINE_DETACHED);
	CHECK_EQ(e.k.registers, 1);
	/* Registered: the configured mode (reliable by default) is set
	 * before any key; a line another agent holds is left alone. */
	CHECK_EQ(e.k.lines[0].mode, SEALINE_MODE_RELIABLE);
	CHECK_EQ(e.k.lines[1].mode, SEALINE_MODE_DATAGRAM);
	CHECK_EQ(e.k.set_modes, 1);

	/* A control message cannot be answered: counted, nothing sent. */
	a = event(SEALINE_CMD_CONTROL_RECEIVED, "ttyS1", 0);
	a.control = msg;
	a.control_len = sizeof(msg);
	a.present |= SL_HAS(SEALINE_A_CONTROL);
	CHECK(!sl_lines_enqueue(&a, &e.L));
	CHECK_EQ(e.L.q_len, 1);
	sl_lines_process(&e.L, 1000);
	CHECK_EQ(e.L.q_len, 0);
	CHECK_EQ(e.L.lines[0].control_dropped, 1);
	CHECK_EQ(e.k.sends + e.k.set_keys + e.k.activates, 0);

	/* Status says so; pair is refused with ENOSYS. */
	c = fake_client();
	sl_lines_status(&e.L, c);
	CHECK(client_said(c, "line tty=ttyS1 status=registered"));
	CHECK(client_said(c, "agent_portid=4242"));
	CHECK(client_said(c, "handshake=unavailable"));
	CHECK(client_said(c, "control_dropped=1"));
	CHECK(client_said(c, "line tty=ttyS2 status=busy"));
	CHECK(client_said(c, "line tty=ttyS3 status=detached"));
	CHECK_EQ(sl_lines_pair(&e.L, "ttyS1", c, false, 0, 1000, err, sizeof(err)), -ENOSYS);
	CHECK(strstr(err, "no handshake implementation") != NULL);
	CHECK_EQ(sl_lines_pair(&e.L, "ttyS9", c, false, 0, 1000, err, sizeof(err)), -ENOENT);
	free(c->out);
	free(c);

	/* ttyS3 comes up: registered on the event. Down: detached. */
	e.k.lines[2].attached = true;
	a = event(SEALINE_CMD_LINE_UP, "ttyS3", 2);
	sl_lines_event(&e.L, &a, 1000);
	CHECK_EQ(e.L.lines[2].status, SL_LINE_REGISTERED);
	CHECK_EQ(e.k.registers, 2);
	CHECK_EQ(e.k.lines[2].mode, SEALINE_MODE_RELIABLE);
	/* The same LINE_UP again (it raced with a scan): nothing to do. */
	sl_lines_event(&e.L, &a, 1000);
	CHECK_EQ(e.L.lines[2].status, SL_LINE_REGISTERED);
	CHECK_EQ(e.k.registers, 2);
	/* A LINE_UP of a new attach whose LINE_DOWN was lost: the new line
	 * has no agent, so it is registered again. */
	e.k.lines[2].agent = 0;
	sl_lines_event(&e.L, &a, 1000);
	CHECK_EQ(e.L.lines[2].status, SL_LINE_REGISTERED);
	CHECK_EQ(e.k.registers, 3);
	CHECK_EQ(e.k.lines[2].agent, 4242);
	e.k.lines[2].attached = false;
	a = event(SEALINE_CMD_LINE_DOWN, "ttyS3", 2);
	sl_lines_event(&e.L, &a, 1000);
	CHECK_EQ(e.L.lines[2].status, SL_LINE_DETACHED);

	/* Another agent takes ttyS1 over: noticed by the rescan. */
	e.k.lines[0].agent = 999;
	sl_lines_rescan(&e.L, 2000);
	CHECK_EQ(e.L.lines[0].status, SL_LINE_BUSY);
	CHECK_EQ(e.k.lines[0].agent, 999);

	/* ttyS2's agent goes away leaving a key set by hand: the rescan
	 * registers us; the kernel refuses the mode under that key, which
	 * costs a warning, not the line. */
	e.k.lines[1].agent = 0;
	e.k.lines[1].have_key = true;
	sl_lines_rescan(&e.L, 3000);
	CHECK_EQ(e.L.lines[1].status, SL_LINE_REGISTERED);
	CHECK_EQ(e.k.lines[1].agent, 4242);
	CHECK_EQ(e.k.lines[1].mode, SEALINE_MODE_DATAGRAM);
	lines_teardown(&e);
}

static unsigned int count_lines(const char *path, const char *what)
{
	char text[16384], *p;
	unsigned int n = 0;

	if (!read_text(path, text, sizeof(text)))
		return 0;
	for (p = text; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

TEST(lines_session_actions)
{
	struct lines_env e;
	struct sl_attrs a;
	struct fake_hs *h;
	uint8_t msg[2] = { 9, 9 };
	uint8_t want_tx[SEALINE_KEY_LEN], want_rx[SEALINE_KEY_LEN];

	if (!CHECK(lines_setup(&e, "lines-session", &fake_driver)))
		return;
	/* Registration creates the object and feeds LINE_READY, whose
	 * answer runs: send, stage (keys then wiped), activate, DONE. */
	script = S_SESSION;
	sl_lines_rescan(&e.L, 1000);
	h = the_hs;
	if (!CHECK(h && e.L.lines[0].hs == h))
		goto out;
	CHECK_EQ(h->inputs[0], SL_DRV_IN_LINE_READY);
	CHECK_EQ(e.k.sends, 1);
	CHECK_EQ(e.k.last_len, 8);
	CHECK_EQ(e.k.last_msg[0], 0x5a);
	CHECK_EQ(e.k.set_keys, 1);
	memset(want_tx, 0x11, sizeof(want_tx));
	memset(want_rx, 0x22, sizeof(want_rx));
	CHECK_MEM(e.k.last_tx, want_tx, sizeof(want_tx));
	CHECK_MEM(e.k.last_rx, want_rx, sizeof(want_rx));
	CHECK(all_zero(h->tx, SEALINE_KEY_LEN));
	CHECK(all_zero(h->rx, SEALINE_KEY_LEN));
	CHECK_EQ(e.k.activates, 1);
	CHECK(e.L.lines[0].in_session);
	CHECK(!strcmp(e.L.lines[0].rec.peer, "210987654321"));

	/* Traffic, then a control message reaches the core as CONTROL. */
	e.k.lines[0].tx_bytes = 1000;
	e.k.lines[0].rx_bytes = 20;
	a = event(SEALINE_CMD_CONTROL_RECEIVED, "ttyS1", 0);
	a.control = msg;
	a.control_len = sizeof(msg);
	sl_lines_event(&e.L, &a, 1500);
	CHECK_EQ(h->last.type, SL_DRV_IN_CONTROL);
	CHECK_EQ(h->last.len, 2);

	/* Key events go in too; KEY_EXPIRED closes the session record. */
	a = event(SEALINE_CMD_REKEY_NEEDED, "ttyS1", 0);
	a.key_epoch = 5;
	a.limit = SEALINE_LIMIT_AGE;
	sl_lines_event(&e.L, &a, 1600);
	CHECK_EQ(h->last.type, SL_DRV_IN_REKEY_NEEDED);
	CHECK_EQ(h->last.epoch, 5);
	CHECK_EQ(h->last.limit, SEALINE_LIMIT_AGE);

	/* The rescan keeps the counters fresh (a line that went down cannot
	 * be asked any more). */
	sl_lines_rescan(&e.L, 1700);

	/* Line down: LINE_DOWN, object destroyed, record written with
	 * the bytes since the session started. */
	e.k.lines[0].attached = false;
	a = event(SEALINE_CMD_LINE_DOWN, "ttyS1", 0);
	sl_lines_event(&e.L, &a, 2000);
	CHECK(the_hs == NULL);
	CHECK(e.L.lines[0].hs == NULL);
	CHECK(!e.L.lines[0].in_session);
	CHECK_EQ(e.L.lines[0].status, SL_LINE_DETACHED);
	CHECK_EQ(count_lines(e.log_path, "\"kind\": \"session\""), 1);
	CHECK_EQ(count_lines(e.log_path, "\"bytes_tx\": 1000, \"bytes_rx\": 20"), 1);
	CHECK_EQ(count_lines(e.log_path, "\"detail\": \"line down\""), 1);

	/* Re-attached: a new object, registered again. */
	e.k.lines[0].attached = true;
	e.k.lines[0].agent = 0;
	a = event(SEALINE_CMD_LINE_UP, "ttyS1", 0);
	sl_lines_event(&e.L, &a, 3000);
	CHECK_EQ(e.L.lines[0].status, SL_LINE_REGISTERED);
	CHECK_EQ(e.k.lines[0].agent, 4242);
	CHECK(the_hs != NULL && the_hs != h);
	CHECK_EQ(hs_created, 2);
out:
	lines_teardown(&e);
}

TEST(lines_failed_action)
{
	struct lines_env e;
	struct fake_hs *h;
	unsigned int sends;

	if (!CHECK(lines_setup(&e, "lines-fail", &fake_driver)))
		return;
	sl_lines_rescan(&e.L, 1000);
	h = the_hs;
	if (!CHECK(h))
		goto out;
	/* SET_KEY refused: the key buffers are still wiped, the SEND after
	 * it is skipped, and the core hears ACTION_FAILED. */
	e.k.set_key_result = -EEXIST;
	sends = e.k.sends;
	script = S_STAGE_TWICE;
	sl_lines_timers(&e.L, 1000);	/* no timer armed: nothing */
	CHECK_EQ(h->n_inputs, 1);
	{
		struct sl_attrs a = event(SEALINE_CMD_CONTROL_RECEIVED, "ttyS1", 0);
		uint8_t m = 1;

		a.control = &m;
		a.control_len = 1;
		sl_lines_event(&e.L, &a, 1100);
	}
	CHECK(all_zero(h->tx, SEALINE_KEY_LEN) && all_zero(h->rx, SEALINE_KEY_LEN));
	CHECK_EQ(e.k.sends, sends);
	CHECK_EQ(h->last.type, SL_DRV_IN_ACTION_FAILED);
	CHECK_EQ(h->last.failed_action, SL_DRV_STAGE_KEY);
	CHECK_EQ(h->last.err, -EEXIST);
	CHECK_EQ(h->last.epoch, 6);

	/* QUERY_LINE is answered with LINE_INFO. */
	script = S_QUERY;
	e.k.lines[0].have_key = true;
	e.k.lines[0].key_epoch = 9;
	{
		struct sl_attrs a = event(SEALINE_CMD_CONTROL_RECEIVED, "ttyS1", 0);
		uint8_t m = 1;

		a.control = &m;
		a.control_len = 1;
		sl_lines_event(&e.L, &a, 1200);
	}
	CHECK_EQ(h->last.type, SL_DRV_IN_LINE_INFO);
	CHECK(h->last.info.have_key && h->last.info.key_epoch == 9);

	/* The synchronous way, through the environment (which outlives
	 * create()). */
	{
		struct sl_drv_line_info info = { 0 };

		e.k.lines[0].key_epoch = 10;
		CHECK(!strcmp(h->env->tty, "ttyS1"));
		CHECK(!strcmp(h->env->self->account, "123456789012"));
		CHECK(!h->env->line_info(h->env->line_ctx, &info));
		CHECK(info.have_key && info.key_epoch == 10);
	}

	/* TIMER arms the line's timer; it fires as a TIMER input. */
	script = S_TIMER;
	{
		struct sl_attrs a = event(SEALINE_CMD_CONTROL_RECEIVED, "ttyS1", 0);
		uint8_t m = 1;

		a.control = &m;
		a.control_len = 1;
		sl_lines_event(&e.L, &a, 2000);
	}
	CHECK_EQ(sl_lines_next_timer(&e.L), 2250);
	sl_lines_timers(&e.L, 2249);
	CHECK(h->last.type != SL_DRV_IN_TIMER);
	sl_lines_timers(&e.L, 2250);
	CHECK_EQ(h->last.type, SL_DRV_IN_TIMER);
	CHECK_EQ(sl_lines_next_timer(&e.L), 0);

	/* An internal error: the object is replaced by a fresh one. */
	script = S_ERROR;
	{
		struct sl_attrs a = event(SEALINE_CMD_CONTROL_RECEIVED, "ttyS1", 0);
		uint8_t m = 1;

		a.control = &m;
		a.control_len = 1;
		sl_lines_event(&e.L, &a, 3000);
	}
	CHECK(the_hs && the_hs != h);
	CHECK(the_hs && the_hs->inputs[0] == SL_DRV_IN_LINE_READY);
	CHECK_EQ(e.k.activates, 0);
out:
	lines_teardown(&e);
}

TEST(lines_pairing_operator)
{
	struct lines_env e;
	struct sl_ipc_client *c, *c2;
	const struct sl_peer *peer;
	char err[256];
	struct fake_hs *h;

	if (!CHECK(lines_setup(&e, "lines-pair", &fake_driver)))
		return;
	sl_lines_rescan(&e.L, 1000);
	h = the_hs;
	if (!CHECK(h))
		goto out;
	c = fake_client();
	c2 = fake_client();

	/* A pairing that completes: SAS to the operator, the peer stored
	 * (LTK buffer wiped), a pairing record, "ok peer=" to the operator. */
	script = S_PAIR_DONE;
	CHECK(!sl_lines_pair(&e.L, "ttyS1", c, false, 0, 1000, err, sizeof(err)));
	CHECK_EQ(h->last.type, SL_DRV_IN_PAIR);
	CHECK(client_said(c, "sas code=RBW3F"));
	CHECK(client_said(c, "ok peer=210987654321"));
	CHECK(c->pairing == NULL && e.L.lines[0].op == NULL);
	CHECK(all_zero(h->ltk, SL_X25519_KEY_LEN));
	peer = sl_ks_find(&e.ks, "210987654321");
	if (CHECK(peer && peer->ltk)) {
		uint8_t want[SL_X25519_KEY_LEN];

		memset(want, 0x33, sizeof(want));
		CHECK_MEM(peer->ltk, want, sizeof(want));
		CHECK(sl_ks_peer_allowed(peer));
	}
	CHECK_EQ(count_lines(e.log_path, "\"kind\": \"pairing\""), 1);

	/* A pairing that fails: ask-sas, then the error, an alert record. */
	c->out_len = 0;
	CHECK(!sl_lines_pair(&e.L, "ttyS1", c, false, 0, 2000, err, sizeof(err)));
	CHECK_EQ(sl_lines_pair(&e.L, "ttyS1", c2, false, 0, 2000, err, sizeof(err)), -EBUSY);
	CHECK_EQ(sl_lines_operator_sas(&e.L, c2, "RBW3F", 2000, err, sizeof(err)),
		 -EINVAL);
	CHECK_EQ(sl_lines_operator_sas(&e.L, c, "R0W3F", 2000, err, sizeof(err)),
		 -EINVAL);
	CHECK(!sl_lines_operator_sas(&e.L, c, "rbw-3f", 2000, err, sizeof(err)));
	CHECK_EQ(h->last.type, SL_DRV_IN_SAS_TYPED);
	CHECK(!strcmp(h->last.sas, "RBW3F"));
	CHECK(!sl_lines_operator_confirm(&e.L, c, true, 2000, err, sizeof(err)));
	CHECK(h->last.type == SL_DRV_IN_SAS_CONFIRM && h->last.confirm);
	script = S_PAIR_FAIL;
	sl_lines_operator_gone(&e.L, c, 2100);	/* also an input */
	CHECK_EQ(h->last.type, SL_DRV_IN_OPERATOR_GONE);
	CHECK(c->pairing == NULL);
	CHECK(!sl_lines_pair(&e.L, "ttyS1", c2, false, 0, 2200, err, sizeof(err)));
	CHECK(client_said(c2, "ask-sas attempts=3"));
	CHECK(client_said(c2, "err EKEYREJECTED"));
	CHECK(c2->pairing == NULL);
	CHECK_EQ(count_lines(e.log_path, "\"reason\": \"sas_mismatch\""), 1);
	CHECK_EQ(count_lines(e.log_path, "\"outcome\": \"nak-sent\""), 1);

	/* Peers changed reaches the core. */
	sl_lines_peers_changed(&e.L, 3000);
	CHECK_EQ(h->last.type, SL_DRV_IN_PEERS_CHANGED);
	free(c->out);
	free(c);
	free(c2->out);
	free(c2);
out:
	lines_teardown(&e);
	/* Stopping ends the handshake: LINE_DOWN, then destroy. */
	CHECK(the_hs == NULL);
}

/*
 * Revoking the peer of a running session ends it at once: CLEAR_KEYS, a
 * record with outcome "revoked", and the handshake told to close the
 * session (it forgets the key and tells the peer). Another peer's revocation leaves the session alone.
 */
TEST(lines_revoke_ends_session)
{
	struct lines_env e;
	uint8_t pub[SL_X25519_KEY_LEN], *ltk = sl_secure_alloc(SL_X25519_KEY_LEN);
	char err[256];
	struct fake_hs *h;

	if (!CHECK(ltk) || !CHECK(lines_setup(&e, "lines-revoke", &fake_driver))) {
		sl_secure_free(ltk, SL_X25519_KEY_LEN);
		return;
	}
	memset(pub, 0x44, sizeof(pub));
	memset(ltk, 0x55, SL_X25519_KEY_LEN);
	CHECK(!sl_ks_store_pair(&e.ks, "210987654321", pub, ltk, err, sizeof(err)));
	memset(pub, 0x45, sizeof(pub));
	CHECK(!sl_ks_store_pair(&e.ks, "333333333333", pub, ltk, err, sizeof(err)));
	sl_secure_free(ltk, SL_X25519_KEY_LEN);
	script = S_SESSION;
	sl_lines_rescan(&e.L, 1000);
	h = the_hs;
	if (!CHECK(h && e.L.lines[0].in_session))
		goto out;
	CHECK(e.k.lines[0].have_key);

	/* Another peer revoked: the session goes on. */
	CHECK(!sl_ks_revoke(&e.ks, "333333333333", err, sizeof(err)));
	sl_lines_peers_changed(&e.L, 2000);
	CHECK(e.L.lines[0].in_session);
	CHECK_EQ(e.k.clears, 0);
	CHECK(the_hs == h);
	CHECK_EQ(h->last.type, SL_DRV_IN_PEERS_CHANGED);

	/* The session's peer revoked: keys cleared, record closed. */
	e.k.lines[0].tx_bytes = 300;
	CHECK(!sl_ks_revoke(&e.ks, "210987654321", err, sizeof(err)));
	sl_lines_peers_changed(&e.L, 3000);
	CHECK_EQ(e.k.clears, 1);
	CHECK(!e.k.lines[0].have_key);
	CHECK(!e.L.lines[0].in_session);
	CHECK_EQ(count_lines(e.log_path, "\"outcome\": \"revoked\""), 1);
	CHECK_EQ(count_lines(e.log_path, "\"bytes_tx\": 300"), 1);
	/* The handshake was told to close the session with the peer
	 * (SESSION_CLOSE, so that its side clears its keys too). */
	CHECK_EQ(hs_created, 1);
	CHECK(the_hs == h);
	CHECK_EQ(h->last.type, SL_DRV_IN_CLOSE);
	CHECK_EQ(h->last.close_reason, SL_CLOSE_REVOKED);
	/* Nothing more to end the next time. */
	sl_lines_peers_changed(&e.L, 4000);
	CHECK_EQ(e.k.clears, 1);
	CHECK_EQ(count_lines(e.log_path, "\"outcome\": \"revoked\""), 1);
out:
	lines_teardown(&e);
}

/*
 * A refused first message (FAILED with refusal) is logged in the session
 * log but does not end the operator's pairing in progress.
 */
TEST(lines_refusal_keeps_operator)
{
	struct lines_env e;
	struct sl_ipc_client *c;
	struct sl_attrs a;
	uint8_t msg[2] = { 1, 0x10 };
	char err[256];

	if (!CHECK(lines_setup(&e, "lines-refusal", &fake_driver)))
		return;
	sl_lines_rescan(&e.L, 1000);
	c = fake_client();
	CHECK(!sl_lines_pair(&e.L, "ttyS1", c, false, 0, 1000, err, sizeof(err)));
	CHECK(e.L.lines[0].op == c);
	script = S_REFUSAL;
	a = event(SEALINE_CMD_CONTROL_RECEIVED, "ttyS1", 0);
	a.control = msg;
	a.control_len = sizeof(msg);
	sl_lines_event(&e.L, &a, 1500);
	CHECK_EQ(count_lines(e.log_path, "\"reason\": \"busy\""), 1);
	CHECK(e.L.lines[0].op == c && c->pairing != NULL);
	CHECK(!client_said(c, "err "));
	sl_lines_operator_gone(&e.L, c, 1600);
	free(c->out);
	free(c);
	lines_teardown(&e);
}

TEST(lines_queue_bounded)
{
	struct lines_env e;
	struct sl_attrs a = event(SEALINE_CMD_LINE_UP, "ttyS9", 9);

	if (!CHECK(lines_setup(&e, "lines-queue", NULL)))
		return;
	for (unsigned int i = 0; i < SL_LINES_MAX_QUEUE + 10; ++i)
		sl_lines_enqueue(&a, &e.L);
	CHECK_EQ(e.L.q_len, SL_LINES_MAX_QUEUE);
	CHECK_EQ(e.L.q_dropped, 10);
	sl_lines_process(&e.L, 1000);
	CHECK_EQ(e.L.q_len, 0);
	CHECK_EQ(e.L.q_dropped, 0);
	/* Events left in the queue at the end are freed by fini (ASan). */
	sl_lines_enqueue(&a, &e.L);
	lines_teardown(&e);
}

int main(int argc, char **argv)
{
	daemon_test_start(argc, argv, "test_lines");
	RUN(lines_without_handshake);
	RUN(lines_session_actions);
	RUN(lines_failed_action);
	RUN(lines_pairing_operator);
	RUN(lines_revoke_ends_session);
	RUN(lines_refusal_keeps_operator);
	RUN(lines_queue_bounded);
	return daemon_test_finish();
}
