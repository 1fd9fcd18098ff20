// SPDX-License-Identifier: GPL-2.0
/*
 * Call setup through a TSP (agent/proto/call*.c): every CALL_* parser on both
 * sides and the receive procedures, reached through real calls. Four
 * engines: the caller C and T's leg T1, T's leg T2 and the answerer B.
 * The input is a program that delivers, drops, duplicates, damages,
 * truncates or reflects the messages in flight, injects bytes of its
 * own, moves the clock, and makes the TSP daemon's and the endpoints'
 * decisions.
 *
 * Each operation is one opcode byte (op % 10) and its arguments:
 *	0	deliver the oldest message in flight
 *	1	drop it
 *	2	deliver it twice
 *	3 p x	deliver it with byte p (mod length) xor x
 *	4 n	inject n bytes from the input into node (op / 10) % 4
 *	5 t	advance the clock by t * 250 ms, run due timers
 *	6 a	T's daemon, a % 8: T1 dialling, T1 connected, T1 refuse,
 *		T2 offer, T2 connected, T1 end, T2 end, T2 refuse (reason
 *		and detail from a / 8)
 *	7 a	endpoints, a % 6: C starts, B starts, B accepts, B refuses,
 *		C aborts, B aborts
 *	8 n	deliver the oldest message truncated to n bytes
 *	9	deliver it to its sender instead (a reflection)
 *
 * Invariants, beyond ASan/UBSan: every message sent has a length of
 * handshake.rst's table; no account number and no endpoint's static key
 * is ever in a sent byte; AUTHENTICATED carries the real endpoint's key
 * and accounts; an endpoint is CONNECTED or ENDED only after T's daemon
 * said so on its leg; DIALLING and OFFER carry the daemon's tracking id.
 *
 * FUZZ_CALL_DEBUG=1 prints every action (to replay a crash by hand).
 */
#include <errno.h>
#include <string.h>

#include "crypto.h"
#include "call.h"
#include "fuzz.h"
#include "fuzz_sim.h"

#define QMAX	64
#define ACC_C	"000000000001"
#define ACC_B	"000000000002"
#define TID1	0x0102030405060708ULL
#define TID2	0x1112131415161718ULL

enum { N_C, N_T1, N_T2, N_B, N_MAX };

static const int peer_of[N_MAX] = { N_T1, N_C, N_B, N_T2 };

struct qmsg {
	int to, from;
	uint8_t b[SL_CALL_MAX_MSG];
	size_t len;
};

static struct qmsg Q[QMAX];
static unsigned int qh, qt;
static uint64_t now;
static uint64_t timer[N_MAX];
static uint64_t rng[N_MAX];
static struct sl_call *C, *B;
static struct sl_tsp_leg *T1, *T2;
static uint8_t *priv_c, *priv_b, *priv_t;
static uint8_t pub_c[32], pub_b[32], pub_t[32];
/* What T's daemon has said, per endpoint. */
static bool said_connected[N_MAX], said_end[N_MAX];
static bool debug;
static const char *const node_name[N_MAX] = { "C", "T1", "T2", "B" };

static int fuzz_random(void *ctx, uint8_t *buf, size_t len)
{
	fuzz_splitmix(ctx, buf, len);
	return 0;
}

static bool contains(const uint8_t *p, size_t n, const void *needle,
		     size_t len)
{
	for (size_t o = 0; o + len <= n; o++)
		if (!memcmp(p + o, needle, len))
			return true;
	return false;
}

static void check_sent(int at, const struct sl_call_action *a)
{
	FUZZ_ASSERT(a->len >= 6 && a->len <= SL_CALL_MAX_MSG);
	FUZZ_ASSERT(a->msg[1] == a->msg_type);
	if (a->msg[1] == SL_MSG_CALL_AUTH)
		FUZZ_ASSERT(a->len == SL_CALL_AUTH_CALL_LEN ||
			    a->len == SL_CALL_AUTH_ANSWER_LEN);
	else
		FUZZ_ASSERT(a->len == sl_hs_msg_len(a->msg[1]));
	/* Endpoints send only their own types, T only its own. */
	if (at == N_C || at == N_B)
		FUZZ_ASSERT(a->msg[1] == SL_MSG_NAK ||
			    a->msg[1] == SL_MSG_CALL_HELLO ||
			    a->msg[1] == SL_MSG_CALL_AUTH ||
			    a->msg[1] == SL_MSG_CALL_ACCEPT);
	else
		FUZZ_ASSERT(a->msg[1] == SL_MSG_NAK ||
			    a->msg[1] == SL_MSG_CALL_REPLY ||
			    a->msg[1] == SL_MSG_CALL_STATUS ||
			    a->msg[1] == SL_MSG_CALL_OFFER);
	FUZZ_ASSERT(!contains(a->msg, a->len, ACC_C, 12));
	FUZZ_ASSERT(!contains(a->msg, a->len, ACC_B, 12));
	FUZZ_ASSERT(!contains(a->msg, a->len, pub_c, 32));
	FUZZ_ASSERT(!contains(a->msg, a->len, pub_b, 32));
}

static void apply(int at, const struct sl_call_actions *out)
{
	FUZZ_ASSERT(out->n <= SL_CALL_MAX_ACTIONS);
	timer[at] = out->next_timer;
	if (debug && out->dropped)
		fprintf(stderr, "%s: dropped: %s\n", node_name[at],
			out->dropped);
	for (unsigned int i = 0; i < out->n; i++) {
		const struct sl_call_action *a = &out->a[i];

		if (debug)
			fprintf(stderr, "%s: action %d type 0x%02x reason %u\n",
				node_name[at], a->type, a->msg_type,
				a->reason);

		switch (a->type) {
		case SL_CALL_ACT_SEND:
			check_sent(at, a);
			if (qt - qh < QMAX) {
				struct qmsg *m = &Q[qt++ % QMAX];

				m->to = peer_of[at];
				m->from = at;
				memcpy(m->b, a->msg, a->len);
				m->len = a->len;
			}
			break;
		case SL_CALL_ACT_AUTHENTICATED:
			FUZZ_ASSERT(at == N_T1 || at == N_T2);
			if (a->purpose == SL_CALL_PURPOSE_CALL) {
				FUZZ_ASSERT(!memcmp(a->static_pub, pub_c, 32));
				FUZZ_ASSERT(!strcmp(a->account, ACC_C));
				FUZZ_ASSERT(!strcmp(a->peer, ACC_B));
			} else {
				FUZZ_ASSERT(a->purpose ==
					    SL_CALL_PURPOSE_ANSWER);
				FUZZ_ASSERT(!memcmp(a->static_pub, pub_b, 32));
				FUZZ_ASSERT(!strcmp(a->account, ACC_B));
			}
			break;
		case SL_CALL_ACT_DIALLING:
			FUZZ_ASSERT(at == N_C && a->tracking_id == TID1);
			break;
		case SL_CALL_ACT_OFFER:
			FUZZ_ASSERT(at == N_B && a->tracking_id == TID2);
			FUZZ_ASSERT(!strcmp(a->account, ACC_C));
			break;
		case SL_CALL_ACT_CONNECTED:
			FUZZ_ASSERT(at == N_C || at == N_B);
			FUZZ_ASSERT(said_connected[at]);
			FUZZ_ASSERT(!strcmp(a->account,
					    at == N_C ? ACC_B : ACC_C));
			break;
		case SL_CALL_ACT_ENDED:
			FUZZ_ASSERT(at == N_C || at == N_B);
			FUZZ_ASSERT(said_end[at]);
			break;
		case SL_CALL_ACT_ACCEPTED:
			FUZZ_ASSERT(at == N_T2);
			break;
		case SL_CALL_ACT_NAK:
		case SL_CALL_ACT_FAILED:
			break;
		default:
			FUZZ_ASSERT(0);
		}
	}
}

static void input(int to, const uint8_t *m, size_t len)
{
	struct sl_call_actions out;

	if (to == N_C)
		sl_call_input(C, m, len, now, &out);
	else if (to == N_B)
		sl_call_input(B, m, len, now, &out);
	else
		sl_tsp_leg_input(to == N_T1 ? T1 : T2, m, len, now, &out);
	apply(to, &out);
}

static bool pop(struct qmsg *m)
{
	if (qh == qt)
		return false;
	*m = Q[qh++ % QMAX];
	return true;
}

static void timers(void)
{
	struct sl_call_actions out;

	for (int guard = 0; guard < 64; guard++) {
		int who = -1;

		for (int i = 0; i < N_MAX; i++)
			if (timer[i] && timer[i] <= now &&
			    (who < 0 || timer[i] < timer[who]))
				who = i;
		if (who < 0)
			return;
		if (who == N_C)
			sl_call_timer(C, now, &out);
		else if (who == N_B)
			sl_call_timer(B, now, &out);
		else
			sl_tsp_leg_timer(who == N_T1 ? T1 : T2, now, &out);
		apply(who, &out);
	}
}

static uint8_t *key(uint8_t pub[32], uint8_t fill)
{
	uint8_t *p = sl_secure_alloc(32);

	FUZZ_ASSERT(p);
	memset(p, fill, 32);
	FUZZ_ASSERT(!sl_x25519_public(pub, p));
	return p;
}

static void setup_once(void)
{
	static bool done;
	char why[200];

	if (done)
		return;
	if (sl_crypto_init(1 << 20, SL_CRYPTO_QUIET_SECMEM, why, sizeof(why))) {
		fprintf(stderr, "sl_crypto_init: %s\n", why);
		abort();
	}
	debug = getenv("FUZZ_CALL_DEBUG") != NULL;
	priv_c = key(pub_c, 0x11);
	priv_b = key(pub_b, 0x22);
	priv_t = key(pub_t, 0x33);
	done = true;
}

static void start(void)
{
	struct sl_call_config cc = {
		.account = ACC_C, .static_priv = priv_c, .tsp_pub = pub_t,
		.test_random = fuzz_random, .baud = 9600,
	};
	struct sl_tsp_config tc = {
		.static_priv = priv_t, .test_random = fuzz_random,
		.baud = 9600,
	};

	qh = qt = 0;
	now = 1;
	memset(timer, 0, sizeof(timer));
	memset(said_connected, 0, sizeof(said_connected));
	memset(said_end, 0, sizeof(said_end));
	for (int i = 0; i < N_MAX; i++)
		rng[i] = (uint64_t)i + 1;
	cc.test_ctx = &rng[N_C];
	C = sl_call_new(&cc, NULL);
	memcpy(cc.account, ACC_B, 12);
	cc.static_priv = priv_b;
	cc.test_ctx = &rng[N_B];
	B = sl_call_new(&cc, NULL);
	tc.test_ctx = &rng[N_T1];
	T1 = sl_tsp_leg_new(&tc, NULL);
	tc.test_ctx = &rng[N_T2];
	T2 = sl_tsp_leg_new(&tc, NULL);
	FUZZ_ASSERT(C && B && T1 && T2);
}

static void stop(void)
{
	sl_call_free(C);
	sl_call_free(B);
	sl_tsp_leg_free(T1);
	sl_tsp_leg_free(T2);
}

static void daemon_op(uint8_t a)
{
	struct sl_call_actions out;
	uint8_t reason = (uint8_t)(a / 8 % 15), detail = (uint8_t)(a / 120);

	switch (a % 8) {
	case 0:
		if (!sl_tsp_leg_dialling(T1, TID1, now, &out))
			apply(N_T1, &out);
		break;
	case 1:
		said_connected[N_C] = true;
		if (!sl_tsp_leg_connected(T1, now, &out))
			apply(N_T1, &out);
		break;
	case 2:
		if (!sl_tsp_leg_refuse(T1, reason, detail, now, &out))
			apply(N_T1, &out);
		break;
	case 3:
		if (!sl_tsp_leg_offer(T2, ACC_C, TID2, now, &out))
			apply(N_T2, &out);
		break;
	case 4:
		said_connected[N_B] = true;
		if (!sl_tsp_leg_connected(T2, now, &out))
			apply(N_T2, &out);
		break;
	case 5:
		said_end[N_C] = true;
		if (!sl_tsp_leg_end(T1, now, &out))
			apply(N_T1, &out);
		break;
	case 6:
		said_end[N_B] = true;
		if (!sl_tsp_leg_end(T2, now, &out))
			apply(N_T2, &out);
		break;
	case 7:
		if (!sl_tsp_leg_refuse(T2, reason, detail, now, &out))
			apply(N_T2, &out);
		break;
	}
}

static void endpoint_op(uint8_t a)
{
	struct sl_call_actions out;

	switch (a % 6) {
	case 0:
		if (!sl_call_start(C, SL_CALL_PURPOSE_CALL, ACC_B, now, &out))
			apply(N_C, &out);
		break;
	case 1:
		if (!sl_call_start(B, SL_CALL_PURPOSE_ANSWER, NULL, now, &out))
			apply(N_B, &out);
		break;
	case 2:
		if (!sl_call_offer_reply(B, true, 0, 0, now, &out))
			apply(N_B, &out);
		break;
	case 3:
		if (!sl_call_offer_reply(B, false, (uint8_t)(a / 6 % 16),
					 1, now, &out))
			apply(N_B, &out);
		break;
	case 4:
		if (!sl_call_abort(C, now, &out))
			apply(N_C, &out);
		break;
	case 5:
		if (!sl_call_abort(B, now, &out))
			apply(N_B, &out);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i = 0;

	setup_once();
	start();
	while (i < size) {
		uint8_t op = data[i++];
		uint8_t a = i < size ? data[i] : 0;
		struct qmsg m;

		switch (op % 10) {
		case 0:
			if (pop(&m))
				input(m.to, m.b, m.len);
			break;
		case 1:
			pop(&m);
			break;
		case 2:
			if (pop(&m)) {
				input(m.to, m.b, m.len);
				input(m.to, m.b, m.len);
			}
			break;
		case 3:
			if (i + 2 > size)
				goto out;
			if (pop(&m) && m.len) {
				m.b[data[i] % m.len] ^= data[i + 1];
				input(m.to, m.b, m.len);
			}
			i += 2;
			break;
		case 4: {
			size_t n = a;

			i++;
			if (n > size - i)
				n = size - i;
			input(op / 10 % 4, data + i, n);
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
			daemon_op(a);
			break;
		case 7:
			i++;
			endpoint_op(a);
			break;
		case 8:
			i++;
			if (pop(&m))
				input(m.to, m.b, a < m.len ? a : m.len);
			break;
		case 9:
			if (pop(&m))
				input(m.from, m.b, m.len);
			break;
		}
	}
out:
	stop();
	return 0;
}
