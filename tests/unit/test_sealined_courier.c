// SPDX-License-Identifier: GPL-2.0
/*
 * sealined's courier (agent/sealined/courier*.c, outbox.c, spool.c,
 * cstore.c, unpacker.c) on the host: two sealined instances in one
 * process, a sender and a recipient, each with its own state directory
 * (key store, outbox, spool, staging, inbox, receipts, logs), its own line
 * manager (lines.c) and the real handshake driver (hs_noise.c), joined by
 * a fake kernel behind the seam of lines.h (struct sl_kernel_ops): what
 * one side sends as a control message arrives at the other as
 * CONTROL_RECEIVED, as through the line discipline. The fake drops,
 * duplicates or cuts the courier's messages where a case says so.
 *
 * The files are packed by the real packer (sl_env_pack_pipe, as sealctl
 * send does) onto a pipe handed to the courier with a "send" request, and
 * the outcome is read back through sealctl's requests ("outbox",
 * "outbox-receipt") and from the state directories.
 *
 * A wiretap holds the sessions' courier keys (taken at STAGE_KEY through
 * the line hooks) and opens every courier message a side sends, before
 * the fake decides its fate: the checks count DATA messages, see ACKs,
 * ANSWERs and RESULTs without trusting the daemons' own counters.
 *
 * Time: the daemons get a virtual monotonic clock, moved to the next
 * timer whenever nothing else is to be done, so that resends and their
 * timeouts take no wall-clock time; while an envelope is packed or
 * unpacked (a pipe, a thread) the test waits for it in real time.
 *
 * Why one file of about 1,400 lines: the fake kernel, the wiretap, the
 * two daemons' event loop and sealctl's side are this test's world and
 * nobody else's; the cases read best next to them.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>

#include <gcrypt.h>

#include "check.h"
#include "courier_internal.h"
#include "crypto.h"
#include "envelope.h"
#include "hs_driver.h"
#include "ipc.h"
#include "keystore.h"
#include "lines.h"
#include "receipt.h"
#include "sessionlog.h"
#include "sign.h"
#include "xfer.h"
#include "daemon_test.h"

#define SENDER		"000000000001"
#define RECIPIENT	"000000000002"
#define TTY		"ttyS0"
#define KQUEUE_MAX	16	/* control messages the kernel queues */
#define RANDOM_BYTES	(300 * 1024)	/* 5 chunks, incompressible */
#define MAX_SEQ		4096	/* DATA pieces the wiretap tells apart */
#define PIECES_PER_CHUNK	((SL_XFER_CHUNK_WIRE + SL_XFER_PIECE_DEFAULT - 1) / \
				 SL_XFER_PIECE_DEFAULT)

enum { SND, RCP };

/* The kernel's view of the one line of a side. */
struct kline {
	bool attached;
	uint32_t agent;
	uint8_t state;
	bool have_key, have_staged;
	uint32_t key_epoch, staged_epoch;
};

struct wmsg {
	struct wmsg *next;
	size_t len;
	uint8_t b[];
};

/* What the wiretap saw one side send, as sent (before losses). */
struct seen {
	unsigned int data, data_repeats, offers, answers, acks, results, aborts;
	unsigned int unopened;
	uint32_t min_data_chunk, max_data_chunk;
	uint32_t max_durable;	/* the highest ACK's durable chunks */
	uint8_t answer_code;
	uint32_t answer_from;
	uint8_t result_code;
	uint8_t pieces[MAX_SEQ / 8];	/* (chunk, offset) sent before */
};

struct node {
	const char *name, *account, *peer, *role;
	char dir[PATH_MAX];
	char courier_conf[256];		/* [courier] lines */
	struct sl_config *cfg;
	struct sl_keystore ks;
	struct sl_slog slog;
	struct sl_lines L;
	struct sl_courier *c;
	struct sl_line_hooks hooks;	/* the courier's, with the tap */
	bool running;
	uint32_t portid;
	struct kline k;
	struct wmsg *q_head, *q_tail;	/* sent, not yet delivered */
	unsigned int q_len;
	struct sl_cchan *tap;		/* its courier keys, mirrored */
	struct seen seen;
	uint8_t receipt_key[SL_SIGN_PUB_LEN];	/* derived here, not asked */
	struct node *other;
};

static struct node N[2];
static int64_t now_ms;
static uint32_t next_portid = 100;

/* The fake's behaviour: the line cut; every nth courier message (and
 * handshake message, if faults_on_handshakes) lost or doubled; every nth
 * delivery overtaken by the message after it; the recipient's RESULTs
 * lost. */
static bool link_up;
static unsigned int drop_every, dup_every, swap_every, msg_count, deliveries;
static bool faults_on_handshakes, lose_results;
static unsigned int dropped, doubled, swapped;

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* ---- The wiretap ---------------------------------------------------- */

static struct node *node_of(const struct sl_line *line)
{
	return (struct node *)((char *)line->owner - offsetof(struct node, L));
}

/* STAGE_KEY: the courier takes its keys, and the tap the same ones
 * mirrored (it opens what this side seals); a message under them
 * promotes them in the tap as in the peer's channel. */
static void tap_stage(void *ctx, struct sl_line *line,
		      const struct sl_drv_action *a)
{
	struct node *n = node_of(line);

	n->c->hooks.stage(ctx, line, a);
	if (a->courier_tx && a->courier_rx)
		CHECK(!sl_cchan_stage(n->tap, a->hsid, a->epoch, a->courier_rx,
				      a->courier_tx));
}

static void reset_seen(struct node *n)
{
	memset(&n->seen, 0, sizeof(n->seen));
	n->seen.min_data_chunk = UINT32_MAX;
}

/* A courier message n sends, opened; its kind (0: not opened). DATA
 * pieces are told apart by chunk and offset (the default piece size). */
static uint8_t watch(struct node *n, const uint8_t *msg, size_t len)
{
	uint8_t plain[SL_CCHAN_MAX_MSG];
	struct seen *s = &n->seen;
	uint8_t kind;
	size_t pn;
	uint32_t chunk, seq;

	if (sl_cchan_open(n->tap, plain, &pn, msg, len) || pn < 5) {
		s->unopened++;
		return 0;
	}
	kind = plain[0];
	switch (kind) {
	case SL_XFER_OFFER:
		s->offers++;
		break;
	case SL_XFER_ANSWER:
		s->answers++;
		s->answer_code = plain[5];
		s->answer_from = pn >= 10 ? be32(plain + 6) : 0;
		break;
	case SL_XFER_DATA:
		s->data++;
		chunk = be32(plain + 5);
		seq = chunk * PIECES_PER_CHUNK +
		      be32(plain + 9) / SL_XFER_PIECE_DEFAULT;
		if (chunk < s->min_data_chunk)
			s->min_data_chunk = chunk;
		if (chunk > s->max_data_chunk)
			s->max_data_chunk = chunk;
		if (seq < MAX_SEQ) {
			if (s->pieces[seq / 8] & (1u << (seq % 8)))
				s->data_repeats++;
			s->pieces[seq / 8] |= (uint8_t)(1u << (seq % 8));
		}
		break;
	case SL_XFER_ACK:
		s->acks++;
		if (be32(plain + 5) > s->max_durable)
			s->max_durable = be32(plain + 5);
		break;
	case SL_XFER_RESULT:
		s->results++;
		s->result_code = plain[5];
		break;
	case SL_XFER_ABORT:
		s->aborts++;
		break;
	}
	sl_wipe(plain, sizeof(plain));
	return kind;
}

/* ---- The fake kernel -------------------------------------------------- */

static void enqueue(struct node *n, const uint8_t *msg, size_t len)
{
	struct wmsg *m = malloc(sizeof(*m) + len);

	if (!m)
		abort();
	m->next = NULL;
	m->len = len;
	memcpy(m->b, msg, len);
	if (n->q_tail)
		n->q_tail->next = m;
	else
		n->q_head = m;
	n->q_tail = m;
	n->q_len++;
}

static void flush_queue(struct node *n)
{
	while (n->q_head) {
		struct wmsg *m = n->q_head;

		n->q_head = m->next;
		free(m);
	}
	n->q_tail = NULL;
	n->q_len = 0;
}

static uint32_t fk_portid(void *ctx)
{
	return ((struct node *)ctx)->portid;
}

static int fk_get_line(void *ctx, const char *tty, struct sl_attrs *a)
{
	struct node *n = ctx;

	if (!n->k.attached || strcmp(tty, TTY))
		return -ENODEV;
	memset(a, 0, sizeof(*a));
	a->cmd = SEALINE_CMD_GET_LINE;
	a->present = SL_HAS(SEALINE_A_LINE_INDEX) | SL_HAS(SEALINE_A_LINE_TTY) |
		     SL_HAS(SEALINE_A_LINE_STATE);
	snprintf(a->tty, sizeof(a->tty), "%s", TTY);
	a->state = n->k.state;
	if (n->k.agent) {
		a->present |= SL_HAS(SEALINE_A_AGENT_PORTID);
		a->agent_portid = n->k.agent;
	}
	if (n->k.have_key) {
		a->present |= SL_HAS(SEALINE_A_KEY_EPOCH);
		a->key_epoch = n->k.key_epoch;
	}
	if (n->k.have_staged) {
		a->present |= SL_HAS(SEALINE_A_NEXT_EPOCH);
		a->next_epoch = n->k.staged_epoch;
	}
	return 0;
}

static int fk_register(void *ctx, const char *tty)
{
	struct node *n = ctx;

	if (!n->k.attached || strcmp(tty, TTY))
		return -ENODEV;
	n->k.agent = n->portid;
	return 0;
}

static int fk_send(void *ctx, const char *tty, const uint8_t *msg, size_t len)
{
	struct node *n = ctx;
	bool lose = !link_up, twice = false;

	if (!n->k.attached || n->k.agent != n->portid || strcmp(tty, TTY))
		return -ENODEV;
	if (len > SEALINE_MAX_CONTROL)
		return -EMSGSIZE;
	if (n->q_len >= KQUEUE_MAX)
		return -ENOBUFS;
	if (sl_cchan_is_courier(msg, len) || faults_on_handshakes) {
		uint8_t kind = sl_cchan_is_courier(msg, len) ?
			       watch(n, msg, len) : 0;

		msg_count++;
		if (drop_every && msg_count % drop_every == 0)
			lose = true;
		if (dup_every && msg_count % dup_every == 0)
			twice = true;
		if (lose_results && kind == SL_XFER_RESULT)
			lose = true;
	}
	if (lose) {
		dropped++;
		return 0;
	}
	enqueue(n, msg, len);
	if (twice) {
		doubled++;
		enqueue(n, msg, len);
	}
	return 0;
}

static int fk_set_key(void *ctx, const char *tty, uint32_t epoch,
		      uint8_t cipher, const uint8_t *tx, const uint8_t *rx)
{
	struct node *n = ctx;

	(void)cipher;
	(void)tx;
	(void)rx;
	if (!n->k.attached || strcmp(tty, TTY))
		return -ENODEV;
	n->k.have_staged = true;
	n->k.staged_epoch = epoch;
	return 0;
}

static int fk_activate(void *ctx, const char *tty, uint32_t epoch)
{
	struct node *n = ctx;

	if (!n->k.attached || strcmp(tty, TTY))
		return -ENODEV;
	if (!n->k.have_staged || n->k.staged_epoch != epoch)
		return -ENOKEY;
	n->k.have_staged = false;
	n->k.have_key = true;
	n->k.key_epoch = epoch;
	n->k.state = SEALINE_STATE_KEYED;
	return 0;
}

static int fk_clear(void *ctx, const char *tty)
{
	struct node *n = ctx;

	if (!n->k.attached || strcmp(tty, TTY))
		return -ENODEV;
	n->k.have_key = n->k.have_staged = false;
	n->k.state = SEALINE_STATE_NOKEY;
	return 0;
}

static const struct sl_kernel_ops fake_kernel = {
	.portid = fk_portid,
	.get_line = fk_get_line,
	.register_agent = fk_register,
	.send_control = fk_send,
	.set_key = fk_set_key,
	.activate_key = fk_activate,
	.clear_keys = fk_clear,
};

/* An event from n's kernel to its daemon. */
static void kernel_event(struct node *n, uint8_t cmd, const uint8_t *msg,
			 size_t len)
{
	struct sl_attrs a;

	if (!n->running)
		return;
	memset(&a, 0, sizeof(a));
	a.cmd = cmd;
	a.present = SL_HAS(SEALINE_A_LINE_TTY) | SL_HAS(SEALINE_A_LINE_INDEX);
	snprintf(a.tty, sizeof(a.tty), "%s", TTY);
	a.control = msg;
	a.control_len = len;
	sl_lines_enqueue(&a, &n->L);
	sl_lines_process(&n->L, now_ms);
}

/* The oldest message n sent reaches the other side's daemon, if it has
 * one registered. */
static bool deliver_one(struct node *n)
{
	struct wmsg *m = n->q_head;
	struct node *to = n->other;

	if (!m)
		return false;
	if (swap_every && m->next && ++deliveries % swap_every == 0) {
		/* The next message overtakes this one. */
		struct wmsg *second = m->next;

		m->next = second->next;
		second->next = m;
		if (n->q_tail == second)
			n->q_tail = m;
		n->q_head = m = second;
		swapped++;
	}
	n->q_head = m->next;
	if (!n->q_head)
		n->q_tail = NULL;
	n->q_len--;
	if (to->k.attached && to->k.agent == to->portid)
		kernel_event(to, SEALINE_CMD_CONTROL_RECEIVED, m->b, m->len);
	free(m);
	return true;
}

/* ---- A sealined ---------------------------------------------------------- */

static void node_start(struct node *n)
{
	char text[PATH_MAX + 512], err[512];

	n->cfg = new_cfg();
	snprintf(text, sizeof(text),
		 "[agent]\naccount = %s\nstate_dir = %s\n"
		 "[line %s]\npeer = %s\nrole = %s\nrekey_interval = 0\n"
		 "[courier]\n%s",
		 n->account, n->dir, TTY, n->peer, n->role, n->courier_conf);
	if (parse(n->cfg, text, err, sizeof(err)) ||
	    sl_ks_open(&n->ks, n->dir, n->account, err, sizeof(err)) ||
	    sl_slog_open(&n->slog, n->cfg->session_log, err, sizeof(err))) {
		printf("%s: cannot start: %s\n", n->name, err);
		abort();
	}
	n->portid = next_portid++;
	if (sl_lines_init(&n->L, n->cfg, &n->ks, &n->slog,
			  sl_hs_builtin_driver(), &fake_kernel, n) ||
	    sl_courier_init(&n->c, n->cfg, &n->ks, &n->L, err, sizeof(err))) {
		printf("%s: cannot start: %s\n", n->name, err);
		abort();
	}
	n->hooks = n->c->hooks;
	n->hooks.stage = tap_stage;
	n->L.hooks = &n->hooks;
	n->running = true;
	sl_lines_rescan(&n->L, now_ms);
	sl_lines_process(&n->L, now_ms);
}

/* As sealined stops: its lines, its courier, and the kernel forgets it
 * as the lines' agent and wipes their keys (its socket closed). */
static void node_stop(struct node *n)
{
	if (!n->running)
		return;
	sl_lines_fini(&n->L, "agent stopped");
	n->L.hooks = &n->c->hooks;	/* its own table, which fini takes back */
	sl_courier_fini(n->c);
	n->c = NULL;
	sl_slog_close(&n->slog);
	sl_ks_close(&n->ks);
	free(n->cfg);
	n->cfg = NULL;
	n->k.agent = 0;
	n->k.have_key = n->k.have_staged = false;
	n->k.state = SEALINE_STATE_NOKEY;
	n->running = false;
}

/* The line attached (ldattach) or detached at both ends. */
static void line_attach(bool up)
{
	for (int i = 0; i < 2; i++) {
		struct node *n = &N[i];

		n->k.attached = up;
		n->k.agent = 0;
		n->k.have_key = n->k.have_staged = false;
		n->k.state = SEALINE_STATE_NOKEY;
		kernel_event(n, up ? SEALINE_CMD_LINE_UP : SEALINE_CMD_LINE_DOWN,
			     NULL, 0);
	}
}

/* Two installations paired with each other (the LTK a pairing would
 * have stored), the recipient with the [courier] settings given, started
 * on a line attached at both ends (with the fake's faults set before). */
static bool world_start(const char *name, const char *rcp_courier)
{
	uint8_t ltk[SL_X25519_KEY_LEN];
	struct sl_keystore ks[2];
	char err[512];

	memset(N, 0, sizeof(N));
	N[SND] = (struct node){ .name = "sender", .account = SENDER,
				.peer = RECIPIENT, .role = "initiator" };
	N[RCP] = (struct node){ .name = "recipient", .account = RECIPIENT,
				.peer = SENDER, .role = "responder" };
	snprintf(N[RCP].courier_conf, sizeof(N[RCP].courier_conf), "%s",
		 rcp_courier ? rcp_courier : "");
	N[SND].other = &N[RCP];
	N[RCP].other = &N[SND];
	now_ms = sl_now_ms();
	link_up = true;
	msg_count = deliveries = dropped = doubled = swapped = 0;
	gcry_randomize(ltk, sizeof(ltk), GCRY_STRONG_RANDOM);
	for (int i = 0; i < 2; i++) {
		char sub[64];

		snprintf(sub, sizeof(sub), "%s-%s", name, N[i].name);
		path_in(N[i].dir, sizeof(N[i].dir), sub);
		rm_rf(N[i].dir);
		if (sl_ks_open(&ks[i], N[i].dir, N[i].account, err,
			       sizeof(err))) {
			printf("  %s: %s\n", N[i].dir, err);
			abort();
		}
		N[i].tap = sl_cchan_new();
		reset_seen(&N[i]);
		N[i].k = (struct kline){ .attached = true,
					 .state = SEALINE_STATE_NOKEY };
	}
	for (int i = 0; i < 2; i++) {
		struct sl_sign_key key = { 0 };

		CHECK(!sl_ks_store_pair(&ks[i], N[i].peer, ks[!i].id.pub, ltk,
					err, sizeof(err)));
		CHECK(!sl_sign_key_derive(&key, ks[i].id.priv, N[i].account));
		memcpy(N[i].receipt_key, key.pub, SL_SIGN_PUB_LEN);
		sl_sign_key_wipe(&key);
	}
	sl_wipe(ltk, sizeof(ltk));
	sl_ks_close(&ks[0]);
	sl_ks_close(&ks[1]);
	node_start(&N[RCP]);
	node_start(&N[SND]);
	return !check_failing();
}

/* Both stopped, the fake's faults off again. */
static void world_stop(void)
{
	drop_every = dup_every = swap_every = 0;
	faults_on_handshakes = lose_results = false;
	for (int i = 0; i < 2; i++) {
		node_stop(&N[i]);
		flush_queue(&N[i]);
		sl_cchan_free(N[i].tap);
		N[i].tap = NULL;
	}
}

/* ---- Running both --------------------------------------------------------- */

/* One round of both event loops; true if anything happened. */
static bool step(void)
{
	bool busy = false;

	for (int i = 0; i < 2; i++) {
		struct node *n = &N[i];

		if (!n->running)
			continue;
		sl_lines_timers(&n->L, now_ms);
		sl_lines_process(&n->L, now_ms);
		sl_courier_timers(n->c, now_ms);
		sl_lines_process(&n->L, now_ms);
	}
	for (int i = 0; i < 2; i++)
		busy |= deliver_one(&N[i]);
	for (int i = 0; i < 2; i++) {
		struct node *n = &N[i];
		struct pollfd pfd[SL_COURIER_MAX_POLLFDS];
		unsigned int k;

		if (!n->running)
			continue;
		k = sl_courier_pollfds(n->c, pfd, SL_COURIER_MAX_POLLFDS);
		if (poll(pfd, k, 0) > 0)
			busy = true;
		sl_courier_poll_done(n->c, pfd, k, now_ms);
		sl_lines_process(&n->L, now_ms);
	}
	return busy;
}

/* Work that takes real time: packing on the pipe, unpacking. */
static bool real_work(void)
{
	for (int i = 0; i < 2; i++) {
		struct sl_courier *c = N[i].c;

		if (!N[i].running)
			continue;
		if (c->unpacking || c->n_queue)
			return true;
		for (int j = 0; j < SL_COURIER_MAX_INTAKES; j++)
			if (c->intakes[j])
				return true;
	}
	return false;
}

/* The earliest timer of both daemons (0: none). */
static int64_t next_timer(void)
{
	int64_t t = 0, v;

	for (int i = 0; i < 2; i++) {
		struct node *n = &N[i];

		if (!n->running)
			continue;
		v = sl_lines_next_timer(&n->L);
		if (v && (!t || v < t))
			t = v;
		for (unsigned int j = 0; j < n->L.n; j++) {
			struct sl_cline *cl = n->L.lines[j].courier;

			v = cl ? sl_cline_next_timer(cl) : 0;
			if (v && (!t || v < t))
				t = v;
		}
	}
	return t;
}

/*
 * Both daemons run until done() says so, at most limit_ms of virtual
 * time. Idle: real time while packing or unpacking, else the clock moves
 * to the next timer.
 */
static bool run_until(bool (*done)(void *), void *arg, int64_t limit_ms)
{
	int64_t end = now_ms + limit_ms;

	while (!done(arg)) {
		int64_t t;

		if (now_ms > end)
			return false;
		if (step())
			continue;
		if (real_work()) {
			poll(NULL, 0, 5);
			now_ms += 5;
			continue;
		}
		t = next_timer();
		if (!t)
			return done(arg);
		now_ms = t > now_ms ? t : now_ms + 1;
	}
	return true;
}

/* ---- sealctl's side: a client of the control socket ------------------------ */

struct client {
	struct sl_ipc_client ipc;
	pthread_t packer;
	bool packing;
	int wfd;
	const char *paths[4];
	size_t n_paths;
	int pack_ret;
	uint64_t files, bytes;
	char why[256];
};

static void *pack_thread(void *arg)
{
	struct client *cl = arg;

	cl->pack_ret = sl_env_pack_pipe(cl->wfd, cl->paths, cl->n_paths, 0,
					&cl->files, &cl->bytes, cl->why,
					sizeof(cl->why));
	close(cl->wfd);
	return NULL;
}

static void client_init(struct client *cl)
{
	memset(cl, 0, sizeof(*cl));
	cl->ipc.fd = -1;
	cl->ipc.fds[0] = cl->ipc.fds[1] = -1;
	cl->wfd = -1;
}

static void client_free(struct client *cl, struct node *n)
{
	if (cl->packing)
		pthread_join(cl->packer, NULL);
	if (n->running)
		sl_courier_client_gone(n->c, &cl->ipc);
	for (int i = 0; i < SL_IPC_MAX_FDS; i++)
		if (cl->ipc.fds[i] >= 0)
			close(cl->ipc.fds[i]);
	free(cl->ipc.out);
}

static void request(struct client *cl, struct node *n, const char *line)
{
	struct sl_ipc_req req;
	char err[256];

	if (!CHECK(!sl_ipc_parse_request(line, strlen(line), &req, err,
					 sizeof(err))))
		return;
	CHECK(sl_courier_request(n->c, &cl->ipc, &req, now_ms));
}

/* sealctl send --wait: the files packed onto a pipe by a thread. */
static void send_files(struct client *cl, struct node *n, const char *to,
		       const char *const *paths, size_t n_paths)
{
	char line[128];
	int p[2];

	if (pipe(p))
		abort();
	for (size_t i = 0; i < n_paths; i++)
		cl->paths[i] = paths[i];
	cl->n_paths = n_paths;
	cl->wfd = p[1];
	cl->ipc.fds[0] = p[0];
	cl->ipc.n_fds = 1;
	if (pthread_create(&cl->packer, NULL, pack_thread, cl))
		abort();
	cl->packing = true;
	snprintf(line, sizeof(line), "send %s wait", to);
	request(cl, n, line);
}

/* The last response line starting with prefix, parsed into rec (its
 * text in buf); false if none. */
static bool said(const struct client *cl, const char *prefix, char *buf,
		 size_t size, struct sl_ipc_record *rec)
{
	const char *p = cl->ipc.out, *end = p + cl->ipc.out_len;
	bool found = false;

	while (p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (len >= strlen(prefix) && !strncmp(p, prefix, strlen(prefix)) &&
		    len < size) {
			memcpy(buf, p, len);
			buf[len] = 0;
			found = true;
		}
		p = nl ? nl + 1 : NULL;
	}
	if (found && rec && sl_ipc_parse_record(buf, rec))
		return false;
	return found;
}

static bool client_ended(void *arg)
{
	char buf[SL_IPC_MAX_LINE];

	return said(arg, "ok ", buf, sizeof(buf), NULL) ||
	       said(arg, "err ", buf, sizeof(buf), NULL);
}

/* The outbox's record of one envelope, as sealctl outbox reads it. */
static bool outbox_record(struct node *n, const char *id, char *buf,
			  size_t size, struct sl_ipc_record *rec)
{
	struct client q;
	bool ok = false;

	client_init(&q);
	request(&q, n, "outbox");
	for (const char *p = q.ipc.out; p && p < q.ipc.out + q.ipc.out_len;) {
		const char *nl = memchr(p, '\n', q.ipc.out_len - (size_t)(p - q.ipc.out));
		size_t len = nl ? (size_t)(nl - p) : 0;

		if (len < size && len > 9 && !strncmp(p, "envelope ", 9)) {
			memcpy(buf, p, len);
			buf[len] = 0;
			if (!sl_ipc_parse_record(buf, rec) &&
			    !strcmp(sl_ipc_get(rec, "id"), id)) {
				ok = true;
				break;
			}
		}
		p = nl ? nl + 1 : NULL;
	}
	client_free(&q, n);
	return ok;
}

/* ---- Files ----------------------------------------------------------------- */

static uint8_t *random_bytes;
static size_t notes_len;

static void write_bytes(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, p, len) != (ssize_t)len)
		abort();
	close(fd);
}

/* src/random.bin, src/notes.txt, src/tree/sub/x.txt under dir. */
static void make_files(const char *dir, char (*paths)[PATH_MAX])
{
	char p[PATH_MAX];
	char text[20000];

	for (size_t i = 0, j = 0; i + 60 < sizeof(text); i += (size_t)j)
		j = snprintf(text + i, sizeof(text) - i,
			     "line %zu of the notes, sent by the courier\n", i);
	snprintf(p, sizeof(p), "%s/src", dir);
	mkdir(p, 0755);
	snprintf(paths[0], PATH_MAX, "%s/src/random.bin", dir);
	write_bytes(paths[0], random_bytes, RANDOM_BYTES);
	snprintf(paths[1], PATH_MAX, "%s/src/notes.txt", dir);
	notes_len = strlen(text);
	write_bytes(paths[1], text, notes_len);
	snprintf(paths[2], PATH_MAX, "%s/src/tree", dir);
	mkdir(paths[2], 0755);
	snprintf(p, sizeof(p), "%s/src/tree/sub", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/src/tree/sub/x.txt", dir);
	write_bytes(p, "x\n", 2);
}

static bool same_file(const char *a, const char *b)
{
	char *pa = NULL, *pb = NULL;
	size_t la = 0, lb = 0;
	bool same = false;
	FILE *fa = fopen(a, "r"), *fb = fopen(b, "r");

	if (fa && fb) {
		fseek(fa, 0, SEEK_END);
		fseek(fb, 0, SEEK_END);
		la = (size_t)ftell(fa);
		lb = (size_t)ftell(fb);
		rewind(fa);
		rewind(fb);
		pa = malloc(la + 1);
		pb = malloc(lb + 1);
		same = pa && pb && la == lb && fread(pa, 1, la, fa) == la &&
		       fread(pb, 1, lb, fb) == lb && !memcmp(pa, pb, la);
	}
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	free(pa);
	free(pb);
	return same;
}

/* Lines of a daemon's log file (in its state directory) holding all of
 * the words given. */
static unsigned int log_lines(const struct node *n, const char *log,
			      const char *w1, const char *w2)
{
	char p[PATH_MAX + 32], line[65536];
	unsigned int count = 0;
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", n->dir, log);
	f = fopen(p, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		count += strstr(line, w1) && (!w2 || strstr(line, w2));
	fclose(f);
	return count;
}

/* The files of make_files() in the recipient's inbox, byte for byte. */
static void check_inbox(const char *id, char (*src)[PATH_MAX])
{
	char p[PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/inbox/%s/random.bin", N[RCP].dir, id);
	CHECKF(same_file(p, src[0]), "%s differs from %s", p, src[0]);
	snprintf(p, sizeof(p), "%s/inbox/%s/notes.txt", N[RCP].dir, id);
	CHECKF(same_file(p, src[1]), "%s differs from %s", p, src[1]);
	snprintf(p, sizeof(p), "%s/inbox/%s/tree/sub/x.txt", N[RCP].dir, id);
	CHECK(read_text(p, (char[8]){ 0 }, 8));
	snprintf(p, sizeof(p), "%s/inbox", N[RCP].dir);
	CHECK_EQ(count_entries(p, ""), 1);
	snprintf(p, sizeof(p), "%s/staging", N[RCP].dir);
	CHECK_EQ(count_entries(p, ""), 0);
}

/* SHA-256 of the sealed envelope waiting in the sender's outbox. */
static bool envelope_hash(const char *id, uint8_t out[32], uint64_t *size)
{
	char p[PATH_MAX + 64];
	uint8_t *buf;
	FILE *f;
	bool ok;

	snprintf(p, sizeof(p), "%s/outbox/%s.env", N[SND].dir, id);
	f = fopen(p, "r");
	if (!f)
		return false;
	fseek(f, 0, SEEK_END);
	*size = (uint64_t)ftell(f);
	rewind(f);
	buf = malloc(*size);
	ok = buf && fread(buf, 1, *size, f) == *size &&
	     !sl_sha256(out, buf, *size);
	free(buf);
	fclose(f);
	return ok;
}

/* DATA messages a whole transfer of chunks [from, end) takes. */
static unsigned int pieces_from(uint64_t size, uint64_t from)
{
	unsigned int n = 0;

	for (uint64_t i = from; i < sl_xfer_chunks(size); i++)
		n += (unsigned int)((sl_xfer_chunk_len(size, i) +
				     SL_XFER_PIECE_DEFAULT - 1) /
				    SL_XFER_PIECE_DEFAULT);
	return n;
}

/* The receipt the sender holds verifies under the recipient's own
 * identity key, names this envelope and these accounts and equals the
 * one the recipient keeps. */
static void check_receipt(const char *id, const uint8_t sha[32],
			  uint64_t size, uint64_t files, uint64_t bytes)
{
	char buf[SL_IPC_MAX_LINE + 1], why[256], mine[SL_RCPT_MAX_LEN + 1];
	char p[PATH_MAX + 64];
	struct sl_ipc_record rec;
	struct sl_rcpt r;
	struct client q;
	const char *text;

	client_init(&q);
	snprintf(p, sizeof(p), "outbox-receipt %s", id);
	request(&q, &N[SND], p);
	if (!CHECK(said(&q, "receipt ", buf, sizeof(buf), &rec)) ||
	    !CHECK((text = sl_ipc_get(&rec, "text"))))
		goto out;
	CHECKF(!sl_rcpt_verify(&r, text, strlen(text), N[RCP].receipt_key, why,
			       sizeof(why)), "receipt: %s", why);
	CHECK_MEM(r.sha256, sha, 32);
	CHECK_EQ(r.size, size);
	CHECK(!strcmp(r.sender, SENDER));
	CHECK(!strcmp(r.recipient, RECIPIENT));
	CHECK_EQ(r.files, files);
	CHECK_EQ(r.bytes, bytes);
	snprintf(p, sizeof(p), "%s/receipts/%s.receipt", N[RCP].dir, id);
	CHECK(read_text(p, mine, sizeof(mine)) && !strcmp(mine, text));
out:
	client_free(&q, &N[SND]);
}

/* ---- Cases ------------------------------------------------------------------ */

static bool keyed(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2; i++) {
		struct sl_cline *cl = N[i].L.n ? N[i].L.lines[0].courier : NULL;

		if (!N[i].running || !cl || !cl->up)
			return false;
	}
	return true;
}

/* Both sides done with their transfers (END reached the recipient; an
 * offer refused stays finished until the next message). */
static bool quiet(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2; i++) {
		struct sl_cline *cl = N[i].L.n ? N[i].L.lines[0].courier : NULL;

		if (N[i].running && cl && (cl->xs || (cl->xr &&
			!sl_xrecv_finished(cl->xr, (uint64_t)now_ms))))
			return false;
	}
	return !N[SND].q_len && !N[RCP].q_len;
}

static bool acked_two(void *arg)
{
	(void)arg;
	return N[RCP].seen.max_durable >= 2;
}

static bool result_sent(void *arg)
{
	(void)arg;
	return N[RCP].seen.results >= 1;
}

static bool result_settled(void *arg)
{
	return result_sent(arg) && quiet(arg);
}

/* The line cut and both ends reattached; restart's sealined (if not
 * NULL) restarted from its state directory meanwhile. */
static void cut(struct node *restart)
{
	link_up = false;
	flush_queue(&N[SND]);
	flush_queue(&N[RCP]);
	line_attach(false);
	if (restart) {
		node_stop(restart);
		node_start(restart);
	}
	reset_seen(&N[SND]);
	reset_seen(&N[RCP]);
	link_up = true;
	line_attach(true);
}

/* Nothing of a delivered envelope left in the recipient's spool or
 * staging, also after a restart. */
static void check_spool_empty(void)
{
	char p[PATH_MAX + 16];

	for (int round = 0; round < 2; round++) {
		snprintf(p, sizeof(p), "%s/spool", N[RCP].dir);
		CHECKF(count_entries(p, "") == 0, "round %d: %u files in %s",
		       round, count_entries(p, ""), p);
		snprintf(p, sizeof(p), "%s/staging", N[RCP].dir);
		CHECK_EQ(count_entries(p, ""), 0);
		node_stop(&N[RCP]);
		node_start(&N[RCP]);
	}
}

/* One case's envelope: its files, sealctl send --wait's client, and
 * what the outbox said once it was queued. */
struct scene {
	struct client cl;
	char src[3][PATH_MAX];
	char id[SL_CS_HEX_ID];
	uint8_t sha[32];		/* of the sealed envelope */
	uint64_t size, chunks;
	char buf[SL_IPC_MAX_LINE + 1];
	struct sl_ipc_record rec;
};

/*
 * Two paired daemons (the recipient with [courier] settings rcp_conf),
 * keyed unless online is false (the line detached at both ends), and
 * make_files() sent with sealctl send --wait until the outbox has
 * sealed and queued it: its id, hash and size.
 */
static bool scene_start(struct scene *s, const char *name,
			const char *rcp_conf, bool online)
{
	const char *paths[3];
	char dir[1024], sub[64];

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 3; i++)
		paths[i] = s->src[i];
	client_init(&s->cl);
	if (!world_start(name, rcp_conf))
		return false;
	snprintf(sub, sizeof(sub), "%s-files", name);
	path_in(dir, sizeof(dir), sub);
	mkdir(dir, 0755);
	make_files(dir, s->src);
	if (!online)
		line_attach(false);
	else if (!CHECKF(run_until(keyed, NULL, 60000), "not keyed"))
		return false;
	send_files(&s->cl, &N[SND], RECIPIENT, paths, 3);
	while (!said(&s->cl, "queued ", s->buf, sizeof(s->buf), &s->rec) &&
	       !client_ended(&s->cl)) {
		struct pollfd pfd[SL_COURIER_MAX_POLLFDS];
		unsigned int k = sl_courier_pollfds(N[SND].c, pfd,
						    SL_COURIER_MAX_POLLFDS);

		if (poll(pfd, k, 1000) > 0)
			sl_courier_poll_done(N[SND].c, pfd, k, now_ms);
	}
	if (!CHECK(said(&s->cl, "queued ", s->buf, sizeof(s->buf), &s->rec)))
		return false;
	pthread_join(s->cl.packer, NULL);
	s->cl.packing = false;
	CHECKF(!s->cl.pack_ret, "packing: %s", s->cl.why);
	snprintf(s->id, sizeof(s->id), "%s", sl_ipc_get(&s->rec, "id"));
	/* The hash before anything of it is sent. */
	if (!CHECK(envelope_hash(s->id, s->sha, &s->size)) ||
	    !CHECK_EQ(strtoull(sl_ipc_get(&s->rec, "size"), NULL, 10), s->size))
		return false;
	s->chunks = sl_xfer_chunks(s->size);
	return true;
}

static void scene_end(struct scene *s)
{
	client_free(&s->cl, &N[SND]);
	world_stop();
}

/* The outbox's record of the envelope's now: state and attempts. */
static void check_outbox(struct scene *s, const char *state,
			 const char *attempts)
{
	if (!CHECK(outbox_record(&N[SND], s->id, s->buf, sizeof(s->buf),
				 &s->rec)))
		return;
	CHECKF(!strcmp(sl_ipc_get(&s->rec, "state"), state),
	       "outbox: %s, not %s", sl_ipc_get(&s->rec, "state"), state);
	if (attempts)
		CHECKF(!strcmp(sl_ipc_get(&s->rec, "attempts"), attempts),
		       "outbox: %s attempts, not %s",
		       sl_ipc_get(&s->rec, "attempts"), attempts);
}

/* send --wait ended with "ok ... state=delivered" (wait: only if it
 * still waited); the files in the inbox, the receipt verifies; once
 * both sides are done, nothing left in the spool and one record each. */
static void check_delivered(struct scene *s, bool wait, const char *attempts)
{
	if (wait)
		CHECKF(said(&s->cl, "ok id=", s->buf, sizeof(s->buf), NULL) &&
		       strstr(s->buf, "state=delivered"),
		       "sealctl send --wait: %.*s", (int)s->cl.ipc.out_len,
		       s->cl.ipc.out);
	check_outbox(s, "delivered", attempts);
	check_inbox(s->id, s->src);
	check_receipt(s->id, s->sha, s->size, s->cl.files, s->cl.bytes);
	CHECK(run_until(quiet, NULL, 600000));
	check_spool_empty();
	CHECK_EQ(log_lines(&N[RCP], "received.log", s->id,
			   "\"outcome\": \"delivered\""), 1);
	CHECK_EQ(log_lines(&N[SND], "sent.log", s->id,
			   "\"outcome\": \"delivered\""), 1);
}

/* A send of real files, delivered byte-exact with a receipt that
 * verifies; every DATA message once. */
TEST(courier_delivers)
{
	struct scene s;

	if (!scene_start(&s, "delivers", NULL, true))
		goto out;
	CHECK(run_until(client_ended, &s.cl, 600000));
	CHECK_EQ(N[SND].seen.data, pieces_from(s.size, 0));
	CHECK_EQ(N[SND].seen.data_repeats, 0);
	CHECK_EQ(N[SND].seen.unopened + N[RCP].seen.unopened, 0);
	CHECK_EQ(N[SND].seen.offers, 1);
	CHECK_EQ(N[RCP].seen.answer_from, 0);
	CHECK_EQ(N[RCP].seen.result_code, 0);
	CHECK_EQ(strtoull(sl_ipc_get(&s.rec, "files"), NULL, 10), s.cl.files);
	CHECK_EQ(s.cl.bytes, RANDOM_BYTES + strlen("x\n") + notes_len);
	check_delivered(&s, true, "1");
out:
	scene_end(&s);
}

/*
 * Cut mid-transfer once two chunks are acknowledged, the recipient
 * restarted from its state dir: the next attempt resumes where its
 * spool ends, and no acknowledged chunk is sent again.
 */
TEST(courier_cut_resumes)
{
	struct scene s;
	uint32_t acked, from;

	if (!scene_start(&s, "cut", NULL, true) ||
	    !CHECK(run_until(acked_two, NULL, 600000)))
		goto out;
	acked = N[RCP].seen.max_durable;
	CHECK(acked < s.chunks);
	cut(&N[RCP]);
	CHECK(run_until(client_ended, &s.cl, 600000));
	/* One new offer, resumed at or after what was acknowledged. */
	from = N[RCP].seen.answer_from;
	CHECK_EQ(N[SND].seen.offers, 1);
	CHECK_EQ(N[RCP].seen.answer_code, 0);
	CHECKF(from >= acked && from < s.chunks,
	       "resumed at chunk %u, %u were acknowledged", from, acked);
	CHECKF(N[SND].seen.min_data_chunk >= from, "chunk %u sent again",
	       N[SND].seen.min_data_chunk);
	CHECK_EQ(N[SND].seen.data, pieces_from(s.size, from));
	printf("  %" PRIu64 " chunks; cut with %u acknowledged; resumed at %u with %u DATA messages (%u for the whole)\n",
	       s.chunks, acked, from, N[SND].seen.data, pieces_from(s.size, 0));
	check_delivered(&s, true, "2");
out:
	scene_end(&s);
}

static bool delivered(void *id)
{
	char buf[SL_IPC_MAX_LINE + 1];
	struct sl_ipc_record rec;

	return outbox_record(&N[SND], id, buf, sizeof(buf), &rec) &&
	       !strcmp(sl_ipc_get(&rec, "state"), "delivered");
}

/*
 * The sender's sealined restarted mid-transfer (its outbox says
 * "sending"): the next session's attempt resumes where the recipient's
 * spool ends.
 */
TEST(courier_sender_restarts)
{
	struct scene s;
	uint32_t acked, from;

	if (!scene_start(&s, "restart", NULL, true) ||
	    !CHECK(run_until(acked_two, NULL, 600000)))
		goto out;
	acked = N[RCP].seen.max_durable;
	cut(&N[SND]);
	CHECK(run_until(delivered, s.id, 600000));
	from = N[RCP].seen.answer_from;
	CHECK_EQ(N[SND].seen.offers, 1);
	CHECKF(from >= acked, "resumed at chunk %u, %u were acknowledged",
	       from, acked);
	CHECK(N[SND].seen.min_data_chunk >= from);
	CHECK_EQ(N[SND].seen.data, pieces_from(s.size, from));
	check_delivered(&s, false, "2");
out:
	scene_end(&s);
}

/*
 * Delivered, but every RESULT lost: the sender's next attempt (after a
 * cut and a restart of the recipient) is a replay of a delivered
 * envelope, answered with the first receipt; nothing is sent or
 * unpacked twice.
 */
TEST(courier_replay_gets_first_receipt)
{
	char first[SL_RCPT_MAX_LEN + 1], again[SL_RCPT_MAX_LEN + 1];
	char p[PATH_MAX + 64];
	struct scene s;

	lose_results = true;
	if (!scene_start(&s, "replay", NULL, true) ||
	    !CHECK(run_until(result_sent, NULL, 600000)))
		goto out;
	CHECK(!client_ended(&s.cl));
	snprintf(p, sizeof(p), "%s/receipts/%s.receipt", N[RCP].dir, s.id);
	if (!CHECK(read_text(p, first, sizeof(first))))
		goto out;
	lose_results = false;
	cut(&N[RCP]);
	CHECK(run_until(client_ended, &s.cl, 600000));
	CHECK_EQ(N[SND].seen.offers, 1);
	CHECK_EQ(N[SND].seen.data, 0);
	CHECK(N[RCP].seen.results >= 1);
	CHECK_EQ(N[RCP].seen.result_code, 0);
	/* The receipt the sender keeps (check_receipt: the recipient's
	 * copy) is the first one, byte for byte. */
	check_delivered(&s, true, "2");
	CHECK(read_text(p, again, sizeof(again)) && !strcmp(first, again));
out:
	scene_end(&s);
}

/*
 * Over the recipient's size limit: refused at the offer, TOO_BIG and the
 * recipient's words in the sender's outbox and in send --wait's answer;
 * the sender keeps the envelope, the recipient holds nothing of it; no
 * attempt follows, until the limit is raised and the operator retries.
 */
TEST(courier_refusal_reaches_outbox)
{
	char p[PATH_MAX + 64];
	struct scene s;

	if (!scene_start(&s, "refusal", "max_envelope = 64K\n", true))
		goto out;
	CHECK(run_until(client_ended, &s.cl, 600000));
	CHECKF(said(&s.cl, "err ", s.buf, sizeof(s.buf), NULL) &&
	       strstr(s.buf, "ECONNREFUSED") && strstr(s.buf, "TOO_BIG") &&
	       strstr(s.buf, "over the limit of 65536"),
	       "sealctl send --wait: %.*s", (int)s.cl.ipc.out_len, s.cl.ipc.out);
	CHECK_EQ(N[RCP].seen.answer_code, SL_ENV_TOO_BIG);
	CHECK_EQ(N[SND].seen.data, 0);
	check_outbox(&s, "refused", "1");
	CHECK(sl_ipc_get(&s.rec, "reason") &&
	      !strcmp(sl_ipc_get(&s.rec, "reason"), "TOO_BIG"));
	CHECK(sl_ipc_get(&s.rec, "detail") &&
	      strstr(sl_ipc_get(&s.rec, "detail"), "over the limit"));
	snprintf(p, sizeof(p), "%s/outbox/%s.env", N[SND].dir, s.id);
	CHECK(exists(p));
	snprintf(p, sizeof(p), "%s/inbox", N[RCP].dir);
	CHECK_EQ(count_entries(p, ""), 0);
	CHECK(run_until(quiet, NULL, 120000));
	check_spool_empty();
	CHECK_EQ(log_lines(&N[RCP], "received.log", s.id, "too_big"), 1);
	CHECK_EQ(log_lines(&N[SND], "sent.log", s.id,
			   "\"outcome\": \"refused\""), 1);
	/* Refused for good: a new session brings no attempt. */
	cut(NULL);
	CHECK(run_until(keyed, NULL, 60000) && run_until(quiet, NULL, 60000));
	CHECK_EQ(N[SND].seen.offers, 0);
	/* The limit raised, sealctl outbox retry. */
	node_stop(&N[RCP]);
	N[RCP].courier_conf[0] = 0;
	node_start(&N[RCP]);
	cut(NULL);
	CHECK(run_until(keyed, NULL, 60000));
	client_free(&s.cl, &N[SND]);
	client_init(&s.cl);
	snprintf(p, sizeof(p), "outbox-retry %s", s.id);
	request(&s.cl, &N[SND], p);
	CHECK(said(&s.cl, "ok id=", s.buf, sizeof(s.buf), NULL));
	CHECK(run_until(delivered, s.id, 600000));
	check_inbox(s.id, s.src);
out:
	scene_end(&s);
}

/*
 * A chunk changed on its way (here: in the sender's outbox, queued while
 * the line was down): the recipient refuses it as DAMAGED as soon as it
 * is complete (the sender never gets to the last chunk), keeps only the
 * verified chunks before it, and the sender queues the envelope for
 * another attempt, which resumes at that chunk.
 */
TEST(courier_damaged_chunk)
{
	off_t at = SL_ENV_HEADER_LEN + SL_ENV_CHUNK_WIRE_LEN + 100;
	char p[PATH_MAX + 64];
	struct scene s;
	uint8_t byte;
	int fd = -1;

	if (!scene_start(&s, "damaged", NULL, false))
		goto out;
	snprintf(p, sizeof(p), "%s/outbox/%s.env", N[SND].dir, s.id);
	fd = open(p, O_RDWR);
	if (!CHECK(fd >= 0 && pread(fd, &byte, 1, at) == 1))
		goto out;
	byte ^= 0x20;
	CHECK(pwrite(fd, &byte, 1, at) == 1);
	line_attach(true);
	CHECK(run_until(result_settled, NULL, 600000));
	CHECK_EQ(N[RCP].seen.result_code, SL_ENV_DAMAGED);
	CHECKF(N[SND].seen.max_data_chunk + 1 < s.chunks,
	       "refused only after chunk %u of %" PRIu64,
	       N[SND].seen.max_data_chunk, s.chunks);
	CHECKF(said(&s.cl, "state ", s.buf, sizeof(s.buf), &s.rec) &&
	       !strcmp(sl_ipc_get(&s.rec, "state"), "queued") &&
	       strstr(sl_ipc_get(&s.rec, "detail"),
		      "DAMAGED: chunk 1 does not authenticate"),
	       "sealctl send --wait: %.*s", (int)s.cl.ipc.out_len, s.cl.ipc.out);
	CHECK(!client_ended(&s.cl));
	snprintf(p, sizeof(p), "%s/inbox", N[RCP].dir);
	CHECK_EQ(count_entries(p, ""), 0);
	CHECK_EQ(log_lines(&N[RCP], "received.log", s.id,
			   "\"outcome\": \"refused\""), 1);
	/* Repaired; the next session tries at once and resumes at chunk 1. */
	byte ^= 0x20;
	CHECK(pwrite(fd, &byte, 1, at) == 1);
	cut(NULL);
	CHECK(run_until(client_ended, &s.cl, 600000));
	CHECK_EQ(N[RCP].seen.answer_from, 1);
	CHECK_EQ(N[SND].seen.data, pieces_from(s.size, 1));
	check_delivered(&s, true, "2");
out:
	if (fd >= 0)
		close(fd);
	scene_end(&s);
}

/*
 * sealctl outbox cancel mid-transfer: the sender withdraws (ABORT), the
 * recipient drops what it spooled, send --wait ends with the
 * cancellation, and the envelope is gone from the outbox.
 */
TEST(courier_cancel_withdraws)
{
	char p[PATH_MAX + 64];
	struct scene s;
	struct client q;

	client_init(&q);
	if (!scene_start(&s, "cancel", NULL, true) ||
	    !CHECK(run_until(acked_two, NULL, 600000)))
		goto out;
	snprintf(p, sizeof(p), "%s/spool/%s.env", N[RCP].dir, s.id);
	CHECK(exists(p));
	snprintf(p, sizeof(p), "outbox-cancel %s", s.id);
	request(&q, &N[SND], p);
	CHECK(said(&q, "ok id=", s.buf, sizeof(s.buf), NULL));
	CHECK(run_until(client_ended, &s.cl, 60000));
	CHECKF(said(&s.cl, "err ", s.buf, sizeof(s.buf), NULL) &&
	       strstr(s.buf, "ECANCELED") && strstr(s.buf, "cancelled"),
	       "sealctl send --wait: %.*s", (int)s.cl.ipc.out_len, s.cl.ipc.out);
	CHECK(run_until(quiet, NULL, 120000));
	CHECK(N[SND].seen.aborts >= 1);
	check_outbox(&s, "cancelled", NULL);
	snprintf(p, sizeof(p), "%s/outbox/%s.env", N[SND].dir, s.id);
	CHECK(!exists(p));
	snprintf(p, sizeof(p), "%s/inbox", N[RCP].dir);
	CHECK_EQ(count_entries(p, ""), 0);
	check_spool_empty();
	CHECK_EQ(log_lines(&N[SND], "sent.log", s.id,
			   "\"outcome\": \"cancelled\""), 1);
out:
	client_free(&q, &N[SND]);
	scene_end(&s);
}

/*
 * Every 7th control message lost, every 5th doubled, every 11th overtaken
 * by the next, both ways, from the first handshake on: delivered
 * byte-exact all the same; the sender resent what was lost, the
 * recipient's channel refused the copies.
 */
TEST(courier_lossy_line)
{
	struct sl_cchan_stats st;
	struct scene s;

	drop_every = 7;
	dup_every = 5;
	swap_every = 11;
	faults_on_handshakes = true;
	if (!scene_start(&s, "lossy", NULL, true))
		goto out;
	CHECK(run_until(client_ended, &s.cl, 3600000));
	CHECK(dropped > 0 && doubled > 0 && swapped > 0);
	CHECK(N[SND].seen.data_repeats > 0);
	CHECK_EQ(N[SND].seen.data - N[SND].seen.data_repeats,
		 pieces_from(s.size, 0));
	sl_cchan_get_stats(sl_cline_of(&N[RCP].L.lines[0])->ch, &st);
	CHECK(st.replays > 0);
	printf("  %u control messages lost, %u doubled, %u overtaken; %u DATA sent for %u pieces; the recipient's channel refused %" PRIu64 " copies\n",
	       dropped, doubled, swapped, N[SND].seen.data,
	       pieces_from(s.size, 0), st.replays);
	check_delivered(&s, true, NULL);
out:
	scene_end(&s);
}

int main(int argc, char **argv)
{
	daemon_test_start(argc, argv, "test_sealined_courier");
	signal(SIGPIPE, SIG_IGN);
	random_bytes = malloc(RANDOM_BYTES);
	check_fill_random(random_bytes, RANDOM_BYTES);
	RUN(courier_delivers);
	RUN(courier_cut_resumes);
	RUN(courier_sender_restarts);
	RUN(courier_replay_gets_first_receipt);
	RUN(courier_refusal_reaches_outbox);
	RUN(courier_damaged_chunk);
	RUN(courier_cancel_withdraws);
	RUN(courier_lossy_line);
	free(random_bytes);
	return daemon_test_finish();
}
