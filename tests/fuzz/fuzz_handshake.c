// SPDX-License-Identifier: GPL-2.0
/*
 * sealined's protocol core (agent/proto/hs_*.c, noise.c): every
 * message parser and the receive procedure, reached through real
 * handshakes. Two engines, A and B, that have paired before (and may pair
 * again), with simulated kernels; the input is a program that delivers,
 * drops, duplicates, damages or truncates the messages they send each
 * other, injects bytes of its own, moves the clock, plays the operators
 * and starts handshakes.
 *
 * Each operation is one opcode byte (op % 10) and its arguments:
 *	0	deliver the oldest message in flight
 *	1	drop it
 *	2	deliver it twice
 *	3 p x	deliver it with byte p (mod length) xor x
 *	4 n	inject n bytes from the input into side (op / 10) & 1
 *	5 t	advance the clock by t * 250 ms, run due timers
 *	6 a	operators: a & 1 picks the side; A confirms (a & 2) or
 *		refuses; B types the SAS A shows (a & 6 == 0), a wrong one,
 *		or something that is no SAS
 *	7 a	a % 11: A connects, B connects, A's operator pairs, A's
 *		and B's REKEY_NEEDED, A's KEY_EXPIRED, A aborts, B's
 *		operator pairs (a & 16: either role), an operator leaves,
 *		joins, or closes the session (side (a >> 4) & 1)
 *	8 n	deliver the oldest message truncated to n bytes
 *	9	deliver it to its sender instead (a reflection)
 *
 * Invariants, beyond ASan/UBSan: every action list and message is well
 * formed (lengths of handshake.rst); SET_KEY never meets an epoch clash
 * and ACTIVATE_KEY always finds its key (the epoch rules make both
 * impossible); keys of one epoch are the mirror image on both sides; a
 * stored peer is the other side with its real static key, and both sides
 * of one pairing store the same LTK.
 *
 * FUZZ_HS_DEBUG=1 prints every action (to replay a crash by hand).
 */
#include <errno.h>
#include <string.h>

#include "crypto.h"
#include "handshake.h"
#include "fuzz.h"
#include "fuzz_sim.h"

#define QMAX	64

struct slot {
	bool used;
	uint32_t epoch;
	uint8_t tx[32], rx[32];
};

struct seen_key {
	bool used;
	uint32_t epoch;
	uint8_t tx[32], rx[32];
};

struct side {
	struct sl_hs *hs;
	uint8_t *priv, pub[32];
	uint8_t *ltk;			/* its key store: the other side */
	char account[13];
	struct slot next, cur, prev;
	struct seen_key seen[32];
	uint64_t rng, next_timer;
	char sas[6];
	uint32_t pair_hsid;
	uint8_t pair_ltk[32];
	bool have_pair;
	uint8_t store_ltk[32];
	bool stored;
};

struct qmsg {
	int to;
	bool keepalive;
	uint32_t epoch;
	uint8_t key[32];
	uint8_t b[SL_HS_MAX_MSG];
	size_t len;
};

static struct side S[2];
static bool debug;		/* FUZZ_HS_DEBUG=1: print every action */
static struct qmsg Q[QMAX];
static unsigned int qh, qt;
static uint64_t now;

static int fuzz_random(void *ctx, uint8_t *buf, size_t len)
{
	struct side *s = ctx;

	fuzz_splitmix(&s->rng, buf, len);
	return 0;
}

static int peer_fn(void *ctx, unsigned int index, struct sl_hs_peer *p)
{
	struct side *s = ctx, *o = &S[s == &S[0]];

	if (index)
		return -ENOENT;
	memcpy(p->account, o->account, 12);
	memcpy(p->static_pub, o->pub, 32);
	p->ltk = s->ltk;
	p->status = SL_PEER_AUTHORISED;
	return 0;
}

static int key_epoch_fn(void *ctx, uint32_t *epoch)
{
	struct side *s = ctx;

	if (!s->cur.used)
		return -ENOKEY;
	*epoch = s->cur.epoch;
	return 0;
}

static void enqueue(const struct qmsg *m)
{
	if (qt - qh < QMAX)
		Q[qt++ % QMAX] = *m;
}

static void promote(int i)
{
	struct side *s = &S[i];
	struct qmsg m = { .to = !i, .keepalive = true };

	s->prev = s->cur;
	s->cur = s->next;
	memset(&s->next, 0, sizeof(s->next));
	m.epoch = s->cur.epoch;
	memcpy(m.key, s->cur.tx, 32);
	enqueue(&m);
}

/* Keys of one epoch must mirror the other side's keys of that epoch. */
static void note_key(int i, uint32_t epoch, const uint8_t *tx,
		     const uint8_t *rx)
{
	struct side *s = &S[i], *o = &S[!i];
	struct seen_key *k = &s->seen[epoch % 32];

	for (int j = 0; j < 32; j++)
		if (o->seen[j].used && o->seen[j].epoch == epoch)
			FUZZ_ASSERT(!memcmp(o->seen[j].tx, rx, 32) &&
				    !memcmp(o->seen[j].rx, tx, 32));
	k->used = true;
	k->epoch = epoch;
	memcpy(k->tx, tx, 32);
	memcpy(k->rx, rx, 32);
}

static void apply(int i, const struct sl_hs_actions *out)
{
	struct side *s = &S[i], *o = &S[!i];

	FUZZ_ASSERT(out->n <= SL_HS_MAX_ACTIONS);
	s->next_timer = out->next_timer;
	if (debug)
		for (unsigned int j = 0; j < out->n; j++)
			fprintf(stderr, "%llu %c: %s %s\n",
				(unsigned long long)now, "AB"[i],
				(const char *[]){ "?", "SEND", "SHOW_SAS",
				"ASK_SAS", "STAGE_KEY", "ACTIVATE_KEY",
				"STORE_PEER", "NAK", "DONE", "FAILED" }
				[out->a[j].type],
				out->a[j].type == SL_HS_ACT_SEND ?
				sl_hs_msg_name(out->a[j].send.type) :
				out->a[j].type >= SL_HS_ACT_DONE ?
				out->a[j].result.text : "");
	for (unsigned int j = 0; j < out->n; j++) {
		const struct sl_hs_action *a = &out->a[j];
		struct qmsg m = { .to = !i };
		uint32_t low;

		switch (a->type) {
		case SL_HS_ACT_SEND:
			FUZZ_ASSERT(a->send.len >= 6 &&
				    a->send.len <= SL_HS_MAX_MSG);
			FUZZ_ASSERT(a->send.msg[1] == a->send.type);
			FUZZ_ASSERT(a->send.len ==
				    sl_hs_msg_len(a->send.type));
			memcpy(m.b, a->send.msg, a->send.len);
			m.len = a->send.len;
			enqueue(&m);
			break;
		case SL_HS_ACT_SHOW_SAS:
			FUZZ_ASSERT(strlen(a->sas.sas) == SL_SAS_LEN);
			memcpy(s->sas, a->sas.sas, 6);
			break;
		case SL_HS_ACT_STAGE_KEY:
			low = a->stage.epoch & 15;
			FUZZ_ASSERT(memcmp(a->stage.tx, a->stage.rx, 32));
			FUZZ_ASSERT(!(s->cur.used &&
				      (s->cur.epoch & 15) == low));
			FUZZ_ASSERT(!(s->prev.used &&
				      (s->prev.epoch & 15) == low));
			note_key(i, a->stage.epoch, a->stage.tx, a->stage.rx);
			s->next.used = true;
			s->next.epoch = a->stage.epoch;
			memcpy(s->next.tx, a->stage.tx, 32);
			memcpy(s->next.rx, a->stage.rx, 32);
			break;
		case SL_HS_ACT_ACTIVATE_KEY:
			if (s->cur.used && s->cur.epoch == a->activate.epoch)
				break;
			FUZZ_ASSERT(s->next.used &&
				    s->next.epoch == a->activate.epoch);
			promote(i);
			break;
		case SL_HS_ACT_STORE_PEER:
			FUZZ_ASSERT(!strcmp(a->store.account, o->account));
			FUZZ_ASSERT(!memcmp(a->store.static_pub, o->pub, 32));
			memcpy(s->store_ltk, a->store.ltk, 32);
			memcpy(s->ltk, a->store.ltk, 32);
			s->stored = true;
			break;
		case SL_HS_ACT_DONE:
			if (a->result.kind == SL_HS_PAIR) {
				FUZZ_ASSERT(s->stored);
				s->pair_hsid = a->result.hsid;
				memcpy(s->pair_ltk, s->store_ltk, 32);
				s->have_pair = true;
				if (o->have_pair &&
				    o->pair_hsid == s->pair_hsid)
					FUZZ_ASSERT(!memcmp(o->pair_ltk,
							    s->pair_ltk, 32));
			}
			s->stored = false;
			break;
		case SL_HS_ACT_FAILED:
			s->stored = false;
			break;
		case SL_HS_ACT_CLEAR_KEYS:
			/* The peer closed the session: the daemon's
			 * CLEAR_KEYS. */
			memset(&s->next, 0, sizeof(s->next));
			memset(&s->cur, 0, sizeof(s->cur));
			memset(&s->prev, 0, sizeof(s->prev));
			break;
		case SL_HS_ACT_PAIR_WAIT:
			FUZZ_ASSERT(a->wait.until > now);
			break;
		case SL_HS_ACT_ASK_SAS:
		case SL_HS_ACT_NAK:
			break;
		default:
			FUZZ_ASSERT(0);
		}
	}
}

static void input(int i, const uint8_t *b, size_t len)
{
	struct sl_hs_actions out;

	FUZZ_ASSERT(sl_hs_input(S[i].hs, b, len, now, &out) == 0);
	apply(i, &out);
}

static bool pop(struct qmsg *m)
{
	if (qh == qt)
		return false;
	*m = Q[qh++ % QMAX];
	return true;
}

static void deliver(const struct qmsg *m)
{
	struct side *s = &S[m->to];

	if (m->keepalive) {
		if (s->next.used && (s->next.epoch & 15) == (m->epoch & 15) &&
		    !memcmp(s->next.rx, m->key, 32))
			promote(m->to);
		return;
	}
	input(m->to, m->b, m->len);
}

static void timers(void)
{
	for (int i = 0; i < 2; i++) {
		struct sl_hs_actions out;

		if (S[i].next_timer && S[i].next_timer <= now) {
			FUZZ_ASSERT(sl_hs_timer(S[i].hs, now, &out) == 0);
			apply(i, &out);
		}
	}
}

static void setup_once(void)
{
	static bool done;
	char why[200];

	if (done)
		return;
	done = true;
	debug = getenv("FUZZ_HS_DEBUG") != NULL;
	if (sl_crypto_init(1 << 20, SL_CRYPTO_QUIET_SECMEM, why, sizeof(why))) {
		fprintf(stderr, "sl_crypto_init: %s\n", why);
		abort();
	}
	for (int i = 0; i < 2; i++) {
		S[i].priv = sl_secure_alloc(32);
		S[i].ltk = sl_secure_alloc(32);
		FUZZ_ASSERT(S[i].priv && S[i].ltk);
		memset(S[i].priv, 0x11 * (i + 1), 32);
		FUZZ_ASSERT(!sl_x25519_public(S[i].pub, S[i].priv));
	}
}

static void start(void)
{
	for (int i = 0; i < 2; i++) {
		struct side *s = &S[i];
		uint8_t *priv = s->priv, *ltk = s->ltk, pub[32];
		struct sl_hs_config c = { 0 };
		int err;

		memcpy(pub, s->pub, 32);
		memset(s, 0, sizeof(*s));
		s->priv = priv;
		s->ltk = ltk;
		memset(ltk, 0x5a, 32);	/* paired before */
		memcpy(s->pub, pub, 32);
		memcpy(s->account, i ? "210987654321" : "123456789012", 13);
		s->rng = 0x5ea1 + (uint64_t)i;
		memcpy(c.account, s->account, 12);
		c.static_priv = priv;
		c.pair_enabled = i == 1;
		c.ciphers[0] = (uint8_t)(1 + i);
		c.ciphers[1] = (uint8_t)(2 - i);
		c.peer_fn = peer_fn;
		c.key_epoch_fn = key_epoch_fn;
		c.ctx = s;
		c.test_random = fuzz_random;
		c.test_ctx = s;
		s->hs = sl_hs_new(&c, &err);
		FUZZ_ASSERT(s->hs && !err);
	}
	qh = qt = 0;
	now = 1000000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i = 0;

	setup_once();
	start();
	while (i < size) {
		uint8_t op = data[i++];
		uint8_t a = i < size ? data[i] : 0;
		struct sl_hs_actions out;
		struct sl_hs_peer p = { 0 };
		struct qmsg m;
		int side = op / 10 & 1;

		switch (op % 10) {
		case 0:
			if (pop(&m))
				deliver(&m);
			break;
		case 1:
			pop(&m);
			break;
		case 2:
			if (pop(&m)) {
				deliver(&m);
				deliver(&m);
			}
			break;
		case 3:
			if (i + 2 > size)
				goto out;
			if (pop(&m) && m.len) {
				m.b[data[i] % m.len] ^= data[i + 1];
				deliver(&m);
			}
			i += 2;
			break;
		case 4: {
			size_t n = a;

			i++;
			if (n > size - i)
				n = size - i;
			input(side, data + i, n);
			i += n;
			break;
		}
		case 5:
			i++;
			now += (uint64_t)a * 250 + 1;
			timers();
			break;
		case 6:
			i++;
			if (!(a & 1)) {
				int err = sl_hs_sas_confirm(S[0].hs, a & 2, now,
							    &out);

				if (!err)
					apply(0, &out);
			} else {
				const char *t = (a & 6) == 0 ? S[0].sas :
						(a & 6) == 2 ? "22222" : "0O";

				if (!sl_hs_sas_typed(S[1].hs, t, now, &out))
					apply(1, &out);
			}
			break;
		case 7:
			i++;
			switch (a % 11) {
			case 0:
			case 1:
				memcpy(p.account, S[!(a % 11)].account, 12);
				memcpy(p.static_pub, S[!(a % 11)].pub, 32);
				p.ltk = S[a % 11].ltk;
				if (!sl_hs_connect(S[a % 11].hs, &p, now, &out))
					apply(a % 11, &out);
				break;
			case 2:
			case 7: {
				/* An operator's pairing window: side 0 starts,
				 * side 1 answers, either may do both. */
				int w = a % 11 == 2 ? 0 : 1;
				struct sl_hs_pair_opts o = {
					.initiate = !w || (a & 16),
					.respond = w || (a & 16),
					.until = now + 1000 + (uint64_t)a * 4000,
				};

				if (!sl_hs_pair(S[w].hs, &o, now, &out))
					apply(w, &out);
				break;
			}
			case 3:
			case 4:
				if (!sl_hs_rekey_needed(S[a % 11 - 3].hs, 2,
							now, &out))
					apply(a % 11 - 3, &out);
				break;
			case 5:
				FUZZ_ASSERT(!sl_hs_key_expired(S[0].hs, now,
							       &out));
				apply(0, &out);
				break;
			case 6:
				FUZZ_ASSERT(!sl_hs_abort(S[0].hs, now, &out));
				apply(0, &out);
				break;
			case 8:
				FUZZ_ASSERT(!sl_hs_pair_end(S[(a >> 4) & 1].hs,
							    now, &out));
				apply((a >> 4) & 1, &out);
				break;
			case 9:
				sl_hs_pair_prompt(S[(a >> 4) & 1].hs, now, &out);
				apply((a >> 4) & 1, &out);
				break;
			case 10:
				sl_hs_close(S[(a >> 4) & 1].hs, 1 + (a >> 5) % 3,
					    now, &out);
				apply((a >> 4) & 1, &out);
				break;
			}
			break;
		case 8:
			i++;
			if (pop(&m)) {
				if (a < m.len)
					m.len = a;
				deliver(&m);
			}
			break;
		case 9:
			if (pop(&m) && !m.keepalive) {
				m.to = !m.to;
				deliver(&m);
			}
			break;
		}
	}
out:
	for (int s = 0; s < 2; s++) {
		sl_hs_free(S[s].hs);
		S[s].hs = NULL;
	}
	return 0;
}
