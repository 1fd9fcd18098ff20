// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Call setup through a TSP (call.h): the CALL_* messages of
 * Documentation/handshake.rst on one leg, for the endpoint E (Noise_XK
 * initiator, struct sl_call) and for the TSP T (responder, struct
 * sl_tsp_leg).
 *
 * Memory: each engine has at most two blocks of secure memory. "hs"
 * (struct hs_block: the Noise HandshakeState, our static key, a test
 * ephemeral) exists only until CALL_AUTH is written (E) or read (T);
 * "keys" (struct key_block: c_e2t and c_t2e) from then on. At CONNECTED
 * the c_e2t key is wiped too on both sides; c_t2e stays, because T seals
 * and E opens the in-band "ended" with it. So a bridged call costs each
 * side one small block, and T can keep hundreds of legs.
 *
 * Where handshake.rst leaves a choice, this code decides:
 *
 *  - T has no deadline before CALL_HELLO (the daemon's answer timer
 *    covers a silent caller); 20 s from CALL_HELLO for CALL_AUTH, and
 *    20 s from CALL_OFFER for CALL_ACCEPT. Between AUTHENTICATED and its
 *    decision the daemon owns the time (dialling takes up to 60 s).
 *  - A refused CALL_HELLO starts nothing on T (its hsid is not
 *    remembered), so a forged one cannot block a genuine one; a copy of
 *    the refused one gets the same NAK.
 *  - A new authentic CALL_HELLO replaces a T leg's unauthenticated
 *    handshake (the endpoint restarted, e.g. after a VERSION NAK); after
 *    an authentic CALL_AUTH the leg belongs to that call and further
 *    CALL_HELLOs are dropped.
 *  - E accepts an authentic "ended" in any state that has c_t2e, before
 *    CONNECTED too (T ends a leg whose other leg hung up during the
 *    offer). After CONNECTED it accepts nothing else, and sends no NAK:
 *    the line then carries the end-to-end handshake.
 *  - E checks that "connected" carries the tracking id of "dialling" or
 *    of the offer; another one is BAD_MESSAGE.
 */
#include <errno.h>
#include <string.h>

#include <gcrypt.h>

#include "call.h"
#include "crypto.h"
#include "hs_common.h"
#include "noise.h"

#define PROLOGUE	"sealine"
#define PROLOGUE_LEN	7
#define STATUS_PAYLOAD	9
#define OFFER_PAYLOAD	20
#define AUTH_PAYLOAD_CALL	25
#define AUTH_PAYLOAD_ANSWER	13
#define NOISE_MSG1_LEN	48	/* e, es: key and empty tag */

struct hs_block {
	struct sl_noise_hs noise;
	uint8_t s[SL_HS_KEY_LEN];	/* our static private key */
	uint8_t e[SL_HS_KEY_LEN];	/* tests: the ephemeral */
};

struct key_block {
	struct sl_noise_cipher e2t, t2e;
};

_Static_assert(sizeof(struct hs_block) <= SL_CALL_SECMEM_HS,
	       "SL_CALL_SECMEM_HS too small");
_Static_assert(sizeof(struct key_block) <= SL_CALL_SECMEM_KEYS,
	       "SL_CALL_SECMEM_KEYS too small");

/* ---- Helpers shared by both sides -------------------------------- */

bool sl_call_msg_is_setup(uint8_t type)
{
	return type >= SL_MSG_CALL_HELLO && type <= SL_MSG_CALL_ACCEPT;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* A NUL-terminated 12-digit account. */
static bool is_account_str(const char *s)
{
	return s && strnlen(s, SL_ACCOUNT_LEN + 1) == SL_ACCOUNT_LEN &&
	       sl_is_account(s);
}

/* RTO0 = max(1 s, 4 x 10 x (wire bytes of both) / baud), in ms. */
static uint32_t rto0(unsigned int baud, size_t msg, size_t reply)
{
	return sl_hs_rto0(baud, msg, reply, SL_CALL_DEADLINE_MS);
}

static int check_versions(uint8_t *lo, uint8_t *hi)
{
	if (!*lo && !*hi)
		*lo = *hi = SL_HS_VERSION;
	if (!*lo || *lo > *hi)
		return -EINVAL;
	return 0;
}

static struct sl_call_action *push(struct sl_call_actions *out,
				   enum sl_call_act type)
{
	static _Thread_local struct sl_call_action overflow;
	struct sl_call_action *a;

	/* Cannot happen: no path makes more than SL_CALL_MAX_ACTIONS. */
	if (out->n >= SL_CALL_MAX_ACTIONS)
		a = &overflow;
	else
		a = &out->a[out->n++];
	memset(a, 0, sizeof(*a));
	a->type = type;
	return a;
}

static void begin(struct sl_call_actions *out)
{
	out->n = 0;
	out->next_timer = 0;
	out->dropped = NULL;
}

static int drop(struct sl_call_actions *out, const char *why)
{
	out->dropped = why;
	return 0;
}

static void act_send(struct sl_call_actions *out, const uint8_t *m,
		     size_t len)
{
	struct sl_call_action *a = push(out, SL_CALL_ACT_SEND);

	memcpy(a->msg, m, len);
	a->len = len;
	a->msg_type = m[1];
}

/* NAK rate limit: one a second per engine. */
struct nak_limit {
	uint64_t last;
	bool sent;
};

static void build_nak(uint8_t nak[SL_HS_NAK_LEN], uint8_t ver, uint32_t hsid,
		      uint8_t reason, uint8_t detail, uint8_t lo, uint8_t hi,
		      uint8_t ref_type)
{
	sl_hs_envelope(nak, ver, SL_MSG_NAK, hsid);
	nak[6] = reason;
	nak[7] = detail;
	nak[8] = lo;
	nak[9] = hi;
	nak[10] = ref_type;
}

/* SEND (unless rate-limited) and the NAK's log record. */
static void emit_nak(struct sl_call_actions *out, struct nak_limit *lim,
		     uint64_t now, const uint8_t nak[SL_HS_NAK_LEN],
		     bool ended)
{
	struct sl_call_action *a;
	bool limited = lim->sent && now - lim->last < SL_HS_NAK_INTERVAL_MS;

	if (!limited) {
		act_send(out, nak, SL_HS_NAK_LEN);
		lim->last = now;
		lim->sent = true;
	}
	a = push(out, SL_CALL_ACT_NAK);
	a->sent = true;
	a->ended = ended;
	a->rate_limited = limited;
	a->hsid = sl_get32(nak + 2);
	a->reason = nak[6];
	a->detail = nak[7];
	a->ver_min = nak[8];
	a->ver_max = nak[9];
	a->ref_type = nak[10];
}

/* The FAILED record that ends an engine; a refusal by the other side
 * (remote) is not authenticated. */
static void act_failed(struct sl_call_actions *out, uint32_t hsid,
		       enum sl_call_purpose purpose, uint64_t tracking_id,
		       unsigned int auth_failures, uint8_t reason,
		       uint8_t detail, bool remote, const char *text)
{
	struct sl_call_action *a = push(out, SL_CALL_ACT_FAILED);

	a->hsid = hsid;
	a->purpose = purpose;
	a->reason = reason;
	a->detail = detail;
	a->remote = remote;
	a->unauthenticated = remote;
	a->auth_failures = auth_failures;
	a->tracking_id = tracking_id;
	a->text = text;
}

/* A NAK received: its log record (the caller decides what it ends). */
static struct sl_call_action *log_nak_in(struct sl_call_actions *out,
					 const uint8_t *m, bool ended)
{
	struct sl_call_action *a = push(out, SL_CALL_ACT_NAK);

	a->ended = ended;
	a->unauthenticated = true;
	a->hsid = sl_get32(m + 2);
	a->reason = m[6];
	a->detail = m[7];
	a->ver_min = m[8];
	a->ver_max = m[9];
	a->ref_type = m[10];
	return a;
}

static struct hs_block *hs_alloc(const uint8_t *s)
{
	struct hs_block *b = sl_secure_alloc(sizeof(*b));

	if (b)
		memcpy(b->s, s, SL_HS_KEY_LEN);
	return b;
}

static void hs_release(struct hs_block **b)
{
	sl_secure_free(*b, sizeof(**b));
	*b = NULL;
}

static void keys_release(struct key_block **k)
{
	sl_secure_free(*k, sizeof(**k));
	*k = NULL;
}

/* ---- Endpoint ---------------------------------------------------- */

enum call_state {
	C_IDLE = 0,
	C_WAIT_REPLY,
	C_WAIT_STATUS,		/* caller: CALL_AUTH sent */
	C_DIALLING,
	C_WAIT_OFFER,		/* answerer: CALL_AUTH sent */
	C_DECIDE,		/* answerer: the daemon decides */
	C_WAIT_CONNECTED,	/* answerer: CALL_ACCEPT sent */
	C_CONNECTED,
	C_ENDED,
};

static const char *const call_state_names[] = {
	[C_IDLE] = "idle",
	[C_WAIT_REPLY] = "WAIT_REPLY",
	[C_WAIT_STATUS] = "WAIT_STATUS",
	[C_DIALLING] = "DIALLING",
	[C_WAIT_OFFER] = "WAIT_OFFER",
	[C_DECIDE] = "DECIDE",
	[C_WAIT_CONNECTED] = "WAIT_CONNECTED",
	[C_CONNECTED] = "CONNECTED",
	[C_ENDED] = "ended",
};

struct sl_call {
	char account[SL_ACCOUNT_LEN + 1];
	uint8_t tsp_pub[SL_HS_KEY_LEN];
	uint8_t ver_min, ver_max, ver_write;
	bool ver_retried;
	unsigned int baud;
	sl_call_random_fn test_random;
	void *test_ctx;

	enum call_state st;
	enum sl_call_purpose purpose;
	char recipient[SL_ACCOUNT_LEN + 1];	/* caller */
	char caller[SL_ACCOUNT_LEN + 1];	/* answerer, from the offer */
	uint32_t hsid;
	uint8_t ver;
	uint64_t deadline;

	/* Retransmission of out. */
	uint8_t out[SL_CALL_MAX_MSG];
	size_t out_len;
	uint64_t tx_at;
	uint32_t rto0, rto;
	unsigned int sends;
	bool unlimited;			/* while T dials */

	/* The last sealed message accepted from T, and its seq. */
	uint8_t in[SL_CALL_OFFER_LEN];
	size_t in_len;
	int last_seq;			/* -1: none yet */

	uint64_t tracking_id;
	bool have_tracking;
	unsigned int auth_failures;
	struct nak_limit nak;

	struct hs_block *hs;		/* until CALL_AUTH is written */
	struct key_block *keys;		/* from then on */
};

const char *sl_call_state(const struct sl_call *c)
{
	return c ? call_state_names[c->st] : "none";
}

struct sl_call *sl_call_new(const struct sl_call_config *cfg, int *err)
{
	struct sl_call *c;
	uint8_t lo, hi;
	int e = -EINVAL;

	if (!cfg || !cfg->static_priv || !cfg->tsp_pub ||
	    !sl_is_account(cfg->account))
		goto fail;
	lo = cfg->ver_min;
	hi = cfg->ver_max;
	if (check_versions(&lo, &hi))
		goto fail;
	e = -ENOMEM;
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->hs = hs_alloc(cfg->static_priv);
	if (!c->hs)
		goto free_call;
	sl_copy_account(c->account, cfg->account);
	memcpy(c->tsp_pub, cfg->tsp_pub, SL_HS_KEY_LEN);
	c->ver_min = lo;
	c->ver_max = hi;
	c->ver_write = hi;
	c->baud = cfg->baud;
	c->test_random = cfg->test_random;
	c->test_ctx = cfg->test_ctx;
	c->last_seq = -1;
	if (err)
		*err = 0;
	return c;

free_call:
	free(c);
fail:
	if (err)
		*err = e;
	return NULL;
}

/* Everything secret goes; what is left is the log's. */
static void call_wipe(struct sl_call *c)
{
	hs_release(&c->hs);
	keys_release(&c->keys);
	sl_wipe(c->out, sizeof(c->out));
	sl_wipe(c->in, sizeof(c->in));
	c->out_len = c->in_len = 0;
	c->tx_at = 0;
	c->deadline = 0;
}

void sl_call_free(struct sl_call *c)
{
	if (!c)
		return;
	call_wipe(c);
	sl_wipe(c, sizeof(*c));
	free(c);
}

static int call_finish(struct sl_call *c, struct sl_call_actions *out)
{
	if (c->st != C_IDLE && c->st != C_ENDED && c->st != C_CONNECTED)
		out->next_timer = sl_min_timer(c->deadline, c->tx_at);
	return 0;
}

static void arm_tx(struct sl_call *c, uint64_t now, size_t reply_len)
{
	c->rto0 = rto0(c->baud, c->out_len, reply_len);
	c->rto = c->rto0;
	c->sends = 1;
	c->unlimited = false;
	c->tx_at = now + c->rto;
}

static void call_failed(struct sl_call *c, struct sl_call_actions *out,
			uint8_t reason, uint8_t detail, bool remote,
			const char *text)
{
	act_failed(out, c->hsid, c->purpose, c->tracking_id, c->auth_failures,
		   reason, detail, remote, text);
	c->st = C_ENDED;
	call_wipe(c);
}

/* Our NAK ends the setup. */
static void call_fail_nak(struct sl_call *c, struct sl_call_actions *out,
			  uint64_t now, uint8_t reason, uint8_t detail,
			  uint8_t ref_type, const char *text)
{
	uint8_t nak[SL_HS_NAK_LEN];

	build_nak(nak, c->ver, c->hsid, reason, detail, c->ver_min,
		  c->ver_max, ref_type);
	emit_nak(out, &c->nak, now, nak, true);
	call_failed(c, out, reason, detail, false, text);
}

/* CALL_HELLO, new hsid and ephemeral, written in ver_write. */
static int send_hello(struct sl_call *c, uint64_t now,
		      struct sl_call_actions *out)
{
	uint8_t prologue[PROLOGUE_LEN + 8], b[4];
	struct sl_noise_keys k = { .s = c->hs->s, .rs = c->tsp_pub };
	size_t n;
	int err;

	do {
		err = sl_hs_random(c->test_random, c->test_ctx, b, sizeof(b));
		if (err)
			return err;
		c->hsid = sl_get32(b);
	} while (!c->hsid);
	if (c->test_random) {
		err = sl_hs_random(c->test_random, c->test_ctx, c->hs->e,
				 SL_HS_KEY_LEN);
		if (err)
			return err;
		k.e = c->hs->e;
	}
	c->ver = c->ver_write;
	sl_hs_envelope(c->out, c->ver, SL_MSG_CALL_HELLO, c->hsid);
	c->out[6] = c->ver_min;
	c->out[7] = c->ver_max;
	memcpy(prologue, PROLOGUE, PROLOGUE_LEN);
	memcpy(prologue + PROLOGUE_LEN, c->out, 8);
	sl_wipe(&c->hs->noise, sizeof(c->hs->noise));
	err = sl_noise_hs_init(&c->hs->noise, SL_NOISE_XK, true, prologue,
			       sizeof(prologue), &k);
	sl_wipe(c->hs->e, sizeof(c->hs->e));	/* the Noise state has it */
	if (!err)
		err = sl_noise_write(&c->hs->noise, NULL, 0, c->out + 8,
				     sizeof(c->out) - 8, &n);
	if (err)
		return err;
	c->out_len = 8 + n;
	c->st = C_WAIT_REPLY;
	c->deadline = now + SL_CALL_DEADLINE_MS;
	arm_tx(c, now, SL_CALL_REPLY_LEN);
	act_send(out, c->out, c->out_len);
	return 0;
}

int sl_call_start(struct sl_call *c, enum sl_call_purpose purpose,
		  const char *recipient, uint64_t now,
		  struct sl_call_actions *out)
{
	int err;

	if (!c || !out)
		return -EINVAL;
	begin(out);
	if (c->st != C_IDLE)
		return -EBUSY;
	if (purpose == SL_CALL_PURPOSE_CALL) {
		if (!is_account_str(recipient) ||
		    !memcmp(recipient, c->account, SL_ACCOUNT_LEN))
			return -EINVAL;
		sl_copy_account(c->recipient, recipient);
	} else if (purpose != SL_CALL_PURPOSE_ANSWER || recipient) {
		return -EINVAL;
	}
	if (!c->hs)
		return -EINVAL;
	c->purpose = purpose;
	err = send_hello(c, now, out);
	if (err) {
		out->n = 0;
		call_failed(c, out, SL_NAK_INTERNAL, 0, false,
			    "cannot write CALL_HELLO");
	}
	call_finish(c, out);
	return err;
}

static int on_nak(struct sl_call *c, const uint8_t *m, size_t len,
		  uint64_t now, struct sl_call_actions *out)
{
	uint8_t v;
	int err;

	if (len < SL_HS_NAK_LEN)
		return drop(out, "NAK too short");
	if (sl_get32(m + 2) != c->hsid)
		return drop(out, "NAK for another hsid");
	if (c->st == C_CONNECTED)
		return drop(out, "NAK after CONNECTED is end to end");

	/* VERSION to our CALL_HELLO: once, in the common version. */
	if (m[6] == SL_NAK_VERSION && c->st == C_WAIT_REPLY) {
		v = sl_hs_common_version(c->ver_min, c->ver_max, m[8], m[9]);
		if (v && v != c->ver && !c->ver_retried) {
			log_nak_in(out, m, false);
			c->ver_retried = true;
			c->ver_write = v;
			err = send_hello(c, now, out);
			if (err)
				call_failed(c, out, SL_NAK_INTERNAL, 0, false,
					    "cannot write CALL_HELLO");
			return 0;
		}
	}
	log_nak_in(out, m, true);
	call_failed(c, out, m[6], m[7], true, "T refused the call (NAK)");
	return 0;
}

static int on_reply(struct sl_call *c, const uint8_t *m, size_t len,
		    uint64_t now, struct sl_call_actions *out)
{
	uint8_t payload[AUTH_PAYLOAD_CALL];
	size_t plen, n;
	int err;

	if (c->st != C_WAIT_REPLY)
		return drop(out, "CALL_REPLY not expected now");
	if (len != SL_CALL_REPLY_LEN)
		return drop(out, "CALL_REPLY of a wrong length");
	if (sl_noise_read(&c->hs->noise, m + 6, len - 6, NULL, 0, &plen)) {
		c->auth_failures++;
		return drop(out, "CALL_REPLY does not authenticate");
	}
	c->keys = sl_secure_alloc(sizeof(*c->keys));
	if (!c->keys) {
		err = -ENOMEM;
		goto internal;
	}
	payload[0] = (uint8_t)c->purpose;
	memcpy(payload + 1, c->account, SL_ACCOUNT_LEN);
	plen = AUTH_PAYLOAD_ANSWER;
	if (c->purpose == SL_CALL_PURPOSE_CALL) {
		memcpy(payload + 13, c->recipient, SL_ACCOUNT_LEN);
		plen = AUTH_PAYLOAD_CALL;
	}
	sl_hs_envelope(c->out, c->ver, SL_MSG_CALL_AUTH, c->hsid);
	err = sl_noise_write(&c->hs->noise, payload, plen, c->out + 6,
			     sizeof(c->out) - 6, &n);
	sl_wipe(payload, sizeof(payload));
	if (!err)
		err = sl_noise_split(&c->hs->noise, &c->keys->e2t,
				     &c->keys->t2e);
	if (err)
		goto internal;
	hs_release(&c->hs);	/* static key, ephemeral, ck: done */
	c->out_len = 6 + n;
	c->st = c->purpose == SL_CALL_PURPOSE_CALL ? C_WAIT_STATUS :
						     C_WAIT_OFFER;
	arm_tx(c, now, c->purpose == SL_CALL_PURPOSE_CALL ?
		       SL_CALL_STATUS_LEN : SL_CALL_OFFER_LEN);
	act_send(out, c->out, c->out_len);
	return 0;

internal:
	call_fail_nak(c, out, now, SL_NAK_INTERNAL, 0, 0,
		      err == -ENOMEM ? "secure memory exhausted" :
				       "cannot write CALL_AUTH");
	return 0;
}

static void call_connected(struct sl_call *c, struct sl_call_actions *out)
{
	struct sl_call_action *a = push(out, SL_CALL_ACT_CONNECTED);

	a->tracking_id = c->tracking_id;
	a->purpose = c->purpose;
	a->hsid = c->hsid;
	memcpy(a->account, c->purpose == SL_CALL_PURPOSE_CALL ?
			   c->recipient : c->caller, SL_ACCOUNT_LEN + 1);
	c->st = C_CONNECTED;
	c->tx_at = 0;
	c->deadline = 0;
	/* Only "ended" may still come: keep c_t2e, nothing else. */
	sl_wipe(&c->keys->e2t, sizeof(c->keys->e2t));
	sl_wipe(c->out, sizeof(c->out));
	c->out_len = 0;
}

static int on_status(struct sl_call *c, const uint8_t *pl, uint64_t now,
		     struct sl_call_actions *out)
{
	struct sl_call_action *a;
	uint64_t tid = get64(pl + 1);

	switch (pl[0]) {
	case SL_CALL_STATUS_ENDED:
		a = push(out, SL_CALL_ACT_ENDED);
		a->tracking_id = tid;
		a->purpose = c->purpose;
		a->hsid = c->hsid;
		c->st = C_ENDED;
		call_wipe(c);
		return 0;
	case SL_CALL_STATUS_DIALLING:
		if (c->st != C_WAIT_STATUS)
			break;
		c->tracking_id = tid;
		c->have_tracking = true;
		a = push(out, SL_CALL_ACT_DIALLING);
		a->tracking_id = tid;
		a->hsid = c->hsid;
		sl_copy_account(a->account, c->recipient);
		c->st = C_DIALLING;
		c->deadline = now + SL_CALL_DIALLING_MS;
		/* T answers a CALL_AUTH copy with its last status, so a
		 * lost "connected" is recovered. */
		c->unlimited = true;
		c->tx_at = now + SL_CALL_DIAL_RESEND_MS;
		return 0;
	case SL_CALL_STATUS_CONNECTED:
		if (c->st != C_WAIT_STATUS && c->st != C_DIALLING &&
		    c->st != C_WAIT_CONNECTED)
			break;
		if (c->have_tracking && tid != c->tracking_id)
			break;
		c->tracking_id = tid;
		c->have_tracking = true;
		call_connected(c, out);
		return 0;
	}
	call_fail_nak(c, out, now, SL_NAK_BAD_MESSAGE, 0, SL_MSG_CALL_STATUS,
		      "CALL_STATUS with an invalid status or tracking id");
	return 0;
}

static int on_offer(struct sl_call *c, const uint8_t *pl, uint64_t now,
		    struct sl_call_actions *out)
{
	struct sl_call_action *a;

	if (!sl_is_account(pl)) {
		call_fail_nak(c, out, now, SL_NAK_BAD_MESSAGE, 0,
			      SL_MSG_CALL_OFFER,
			      "CALL_OFFER: the caller's account is not 12 "
			      "digits");
		return 0;
	}
	sl_copy_account(c->caller, pl);
	c->tracking_id = get64(pl + SL_ACCOUNT_LEN);
	c->have_tracking = true;
	a = push(out, SL_CALL_ACT_OFFER);
	a->tracking_id = c->tracking_id;
	a->hsid = c->hsid;
	sl_copy_account(a->account, c->caller);
	c->st = C_DECIDE;
	c->tx_at = 0;		/* nothing to resend while the daemon decides */
	return 0;
}

static int on_sealed(struct sl_call *c, const uint8_t *m, size_t len,
		     uint64_t now, struct sl_call_actions *out)
{
	uint8_t pl[OFFER_PAYLOAD];
	uint8_t type = m[1];
	size_t want = type == SL_MSG_CALL_STATUS ? SL_CALL_STATUS_LEN :
						   SL_CALL_OFFER_LEN;
	int err;

	if (!c->keys)
		return drop(out, "sealed message before CALL_AUTH");
	if (type == SL_MSG_CALL_OFFER && c->st != C_WAIT_OFFER)
		return drop(out, "CALL_OFFER not expected now");
	if (len != want)
		return drop(out, "sealed message of a wrong length");
	if (c->in_len == len && !memcmp(c->in, m, len))
		return drop(out, "duplicate of the last message");
	if (c->last_seq >= 0 && m[6] <= c->last_seq)
		return drop(out, "seq not above the last accepted");
	err = sl_hs_open(m, len, c->keys->t2e.k, pl);
	if (err) {
		c->auth_failures++;
		return drop(out, "sealed message does not authenticate");
	}
	memcpy(c->in, m, len);
	c->in_len = len;
	c->last_seq = m[6];
	if (c->st == C_CONNECTED && pl[0] != SL_CALL_STATUS_ENDED) {
		sl_wipe(pl, sizeof(pl));
		return drop(out, "after CONNECTED only \"ended\" is expected");
	}
	if (type == SL_MSG_CALL_STATUS)
		err = on_status(c, pl, now, out);
	else
		err = on_offer(c, pl, now, out);
	sl_wipe(pl, sizeof(pl));
	return err;
}

int sl_call_input(struct sl_call *c, const uint8_t *m, size_t len,
		  uint64_t now, struct sl_call_actions *out)
{
	if (!c || !out)
		return -EINVAL;
	begin(out);
	if (!m || len < SL_HS_ENVELOPE_LEN)
		drop(out, "shorter than an envelope");
	else if (!sl_hs_msg_len(m[1]))
		drop(out, "reserved type");
	else if (c->st == C_IDLE || c->st == C_ENDED)
		drop(out, "no call setup in progress");
	else if (m[1] == SL_MSG_NAK)
		on_nak(c, m, len, now, out);
	else if (m[1] != SL_MSG_CALL_REPLY && m[1] != SL_MSG_CALL_STATUS &&
		 m[1] != SL_MSG_CALL_OFFER)
		drop(out, "not a message for a call endpoint");
	else if (sl_get32(m + 2) != c->hsid)
		drop(out, "another hsid");
	else if (m[0] != c->ver)
		drop(out, "not the negotiated version");
	else if (m[1] == SL_MSG_CALL_REPLY)
		on_reply(c, m, len, now, out);
	else
		on_sealed(c, m, len, now, out);
	return call_finish(c, out);
}

static uint8_t call_awaited(const struct sl_call *c)
{
	switch (c->st) {
	case C_WAIT_REPLY:
		return SL_MSG_CALL_REPLY;
	case C_WAIT_OFFER:
		return SL_MSG_CALL_OFFER;
	case C_DECIDE:
		return 0;
	default:
		return SL_MSG_CALL_STATUS;
	}
}

int sl_call_timer(struct sl_call *c, uint64_t now,
		  struct sl_call_actions *out)
{
	if (!c || !out)
		return -EINVAL;
	begin(out);
	if (c->st == C_IDLE || c->st == C_ENDED || c->st == C_CONNECTED)
		return call_finish(c, out);
	if (c->deadline && now >= c->deadline) {
		call_fail_nak(c, out, now, SL_NAK_TIMEOUT, 0, call_awaited(c),
			      c->st == C_DIALLING ?
			      "the recipient's leg did not connect in time" :
			      "deadline: no answer from T in time");
	} else if (c->tx_at && now >= c->tx_at) {
		act_send(out, c->out, c->out_len);
		c->sends++;
		if (c->unlimited) {
			c->tx_at = now + SL_CALL_DIAL_RESEND_MS;
		} else {
			c->rto = c->rto >= SL_HS_RTO_MAX_MS / 2 ?
				 SL_HS_RTO_MAX_MS : c->rto * 2;
			c->tx_at = c->sends >= SL_HS_MAX_SENDS ? 0 :
				   now + c->rto;
		}
	}
	return call_finish(c, out);
}

int sl_call_offer_reply(struct sl_call *c, bool accept, uint8_t reason,
			uint8_t detail, uint64_t now,
			struct sl_call_actions *out)
{
	int err;

	if (!c || !out)
		return -EINVAL;
	begin(out);
	if (c->st != C_DECIDE ||
	    (!accept && (!reason || reason > SL_NAK_IDENTITY_MISMATCH)))
		return -EINVAL;
	if (!accept) {
		call_fail_nak(c, out, now, reason, detail, SL_MSG_CALL_OFFER,
			      "we refused the offered call");
		return call_finish(c, out);
	}
	err = sl_hs_seal(c->out, c->ver, SL_MSG_CALL_ACCEPT, c->hsid, 0,
		   c->keys->e2t.k, NULL, 0);
	if (err) {
		call_fail_nak(c, out, now, SL_NAK_INTERNAL, 0, 0,
			      "cannot seal CALL_ACCEPT");
		return call_finish(c, out);
	}
	c->out_len = SL_CALL_ACCEPT_LEN;
	c->st = C_WAIT_CONNECTED;
	arm_tx(c, now, SL_CALL_STATUS_LEN);
	act_send(out, c->out, c->out_len);
	return call_finish(c, out);
}

int sl_call_abort(struct sl_call *c, uint64_t now,
		  struct sl_call_actions *out)
{
	(void)now;
	if (!c || !out)
		return -EINVAL;
	begin(out);
	if (c->st != C_ENDED && c->st != C_IDLE && c->st != C_CONNECTED)
		call_failed(c, out, SL_NAK_NONE, 0, false,
			    "call setup aborted (line down or cancelled)");
	c->st = C_ENDED;
	call_wipe(c);
	return 0;
}

/* ---- TSP leg ----------------------------------------------------- */

enum leg_state {
	T_WAIT_HELLO = 0,
	T_WAIT_AUTH,
	T_DECIDE,
	T_DIALLING,
	T_WAIT_ACCEPT,
	T_ACCEPTED,
	T_CONNECTED,
	T_ENDED,
};

static const char *const leg_state_names[] = {
	[T_WAIT_HELLO] = "WAIT_HELLO",
	[T_WAIT_AUTH] = "WAIT_AUTH",
	[T_DECIDE] = "DECIDE",
	[T_DIALLING] = "DIALLING",
	[T_WAIT_ACCEPT] = "WAIT_ACCEPT",
	[T_ACCEPTED] = "ACCEPTED",
	[T_CONNECTED] = "CONNECTED",
	[T_ENDED] = "ended",
};

struct sl_tsp_leg {
	uint8_t ver_min, ver_max;
	unsigned int baud;
	sl_call_random_fn test_random;
	void *test_ctx;

	enum leg_state st;
	uint32_t hsid;
	uint8_t ver;
	enum sl_call_purpose purpose;
	uint64_t deadline;

	uint8_t hello[SL_CALL_HELLO_LEN];	/* the one answered */
	uint8_t reply[SL_CALL_REPLY_LEN];
	uint8_t auth[SL_CALL_MAX_MSG];		/* the authentic one */
	size_t auth_len;
	uint8_t accept[SL_CALL_ACCEPT_LEN];
	bool have_accept;
	/* The last message sent after CALL_AUTH (status, offer, NAK): the
	 * answer to copies of CALL_AUTH and CALL_ACCEPT. */
	uint8_t last[SL_CALL_OFFER_LEN];
	size_t last_len;
	uint64_t replied_at;
	uint8_t t2e_seq;			/* next */
	uint64_t tracking_id;

	/* The last refused CALL_HELLO and its NAK. */
	uint8_t refused[SL_CALL_HELLO_LEN];
	size_t refused_len;
	uint8_t refused_nak[SL_HS_NAK_LEN];

	unsigned int auth_failures;
	struct nak_limit nak;

	struct hs_block *hs;		/* until CALL_AUTH is read */
	struct key_block *keys;		/* from then on */
};

const char *sl_tsp_leg_state(const struct sl_tsp_leg *leg)
{
	return leg ? leg_state_names[leg->st] : "none";
}

struct sl_tsp_leg *sl_tsp_leg_new(const struct sl_tsp_config *cfg, int *err)
{
	struct sl_tsp_leg *leg;
	uint8_t lo, hi;
	int e = -EINVAL;

	if (!cfg || !cfg->static_priv)
		goto fail;
	lo = cfg->ver_min;
	hi = cfg->ver_max;
	if (check_versions(&lo, &hi))
		goto fail;
	e = -ENOMEM;
	leg = calloc(1, sizeof(*leg));
	if (!leg)
		goto fail;
	leg->hs = hs_alloc(cfg->static_priv);
	if (!leg->hs)
		goto free_leg;
	leg->ver_min = lo;
	leg->ver_max = hi;
	leg->baud = cfg->baud;
	leg->test_random = cfg->test_random;
	leg->test_ctx = cfg->test_ctx;
	if (err)
		*err = 0;
	return leg;

free_leg:
	free(leg);
fail:
	if (err)
		*err = e;
	return NULL;
}

static void leg_wipe(struct sl_tsp_leg *leg)
{
	hs_release(&leg->hs);
	keys_release(&leg->keys);
	leg->deadline = 0;
}

void sl_tsp_leg_free(struct sl_tsp_leg *leg)
{
	if (!leg)
		return;
	leg_wipe(leg);
	sl_wipe(leg, sizeof(*leg));
	free(leg);
}

static int leg_finish(struct sl_tsp_leg *leg, struct sl_call_actions *out)
{
	if (leg->st != T_ENDED)
		out->next_timer = leg->deadline;
	return 0;
}

static void leg_failed(struct sl_tsp_leg *leg, struct sl_call_actions *out,
		       uint8_t reason, uint8_t detail, bool remote,
		       const char *text)
{
	act_failed(out, leg->hsid, leg->purpose, leg->tracking_id,
		   leg->auth_failures, reason, detail, remote, text);
	leg->st = T_ENDED;
	leg_wipe(leg);
}

/* Our NAK ends the leg; a copy of the refused message gets it again. */
static void leg_nak(struct sl_tsp_leg *leg, struct sl_call_actions *out,
		    uint64_t now, uint8_t reason, uint8_t detail,
		    uint8_t ref_type)
{
	build_nak(leg->last, leg->ver, leg->hsid, reason, detail,
		  leg->ver_min, leg->ver_max, ref_type);
	leg->last_len = SL_HS_NAK_LEN;
	emit_nak(out, &leg->nak, now, leg->last, true);
	leg->st = T_ENDED;
	leg_wipe(leg);
}

/* A first message refused: it starts nothing. */
static void refuse_hello(struct sl_tsp_leg *leg, struct sl_call_actions *out,
			 uint64_t now, const uint8_t *m, size_t len,
			 uint8_t reason)
{
	uint8_t ver = len >= 8 ? sl_hs_common_version(leg->ver_min, leg->ver_max,
						m[6], m[7]) : 0;

	build_nak(leg->refused_nak, ver ? ver : leg->ver_max, sl_get32(m + 2),
		  reason, 0, leg->ver_min, leg->ver_max, SL_MSG_CALL_HELLO);
	emit_nak(out, &leg->nak, now, leg->refused_nak, false);
	leg->refused_len = len <= sizeof(leg->refused) ? len : 0;
	memcpy(leg->refused, m, leg->refused_len);
}

/* An exact copy of what we answered: the same bytes again, rate-limited. */
static int answer_copy(struct sl_tsp_leg *leg, struct sl_call_actions *out,
		       uint64_t now, const uint8_t *reply, size_t len,
		       uint32_t rto)
{
	if (!len)
		return drop(out, "copy of a message not answered yet");
	if (reply[1] == SL_MSG_NAK) {
		if (leg->nak.sent &&
		    now - leg->nak.last < SL_HS_NAK_INTERVAL_MS)
			return drop(out, "copy: NAK rate limit");
		leg->nak.last = now;
		leg->nak.sent = true;
	} else if (leg->replied_at && now - leg->replied_at < rto / 2) {
		return drop(out, "copy too soon after the last answer");
	}
	act_send(out, reply, len);
	leg->replied_at = now;
	return 0;
}

static int on_hello(struct sl_tsp_leg *leg, const uint8_t *m, size_t len,
		    uint64_t now, struct sl_call_actions *out)
{
	uint8_t prologue[PROLOGUE_LEN + 8], v;
	struct hs_block *b;
	struct sl_noise_keys k = { 0 };
	size_t plen, n;
	int err;

	if (leg->refused_len == len && !memcmp(leg->refused, m, len)) {
		answer_copy(leg, out, now, leg->refused_nak, SL_HS_NAK_LEN,
			    0);
		return 0;
	}
	if (leg->st != T_WAIT_HELLO && sl_get32(m + 2) == leg->hsid) {
		if (len == SL_CALL_HELLO_LEN && !memcmp(leg->hello, m, len)) {
			if (leg->st != T_WAIT_AUTH)
				return drop(out, "copy of CALL_HELLO after "
					    "CALL_AUTH");
			return answer_copy(leg, out, now, leg->reply,
					   SL_CALL_REPLY_LEN,
					   rto0(leg->baud, len,
						SL_CALL_REPLY_LEN));
		}
		return drop(out, "CALL_HELLO replayed with this hsid");
	}
	if (leg->st != T_WAIT_HELLO && leg->st != T_WAIT_AUTH)
		return drop(out, "CALL_HELLO on a leg already authenticated");
	if (len < 8) {
		refuse_hello(leg, out, now, m, len, SL_NAK_BAD_MESSAGE);
		return 0;
	}
	v = sl_hs_common_version(leg->ver_min, leg->ver_max, m[6], m[7]);
	if (!v || m[0] != v) {
		refuse_hello(leg, out, now, m, len, SL_NAK_VERSION);
		return 0;
	}
	if (len != SL_CALL_HELLO_LEN || !sl_get32(m + 2)) {
		refuse_hello(leg, out, now, m, len, SL_NAK_BAD_MESSAGE);
		return 0;
	}

	/* A fresh handshake; the current one stays until this opens. */
	b = hs_alloc(leg->hs->s);
	if (!b)
		return drop(out, "secure memory exhausted");
	k.s = b->s;
	if (leg->test_random) {
		if (sl_hs_random(leg->test_random, leg->test_ctx, b->e,
			       SL_HS_KEY_LEN))
			goto release;
		k.e = b->e;
	}
	memcpy(prologue, PROLOGUE, PROLOGUE_LEN);
	memcpy(prologue + PROLOGUE_LEN, m, 8);
	err = sl_noise_hs_init(&b->noise, SL_NOISE_XK, false, prologue,
			       sizeof(prologue), &k);
	sl_wipe(b->e, sizeof(b->e));
	if (err)
		goto release;
	if (sl_noise_read(&b->noise, m + 8, len - 8, NULL, 0, &plen)) {
		leg->auth_failures++;
		hs_release(&b);
		return drop(out, "CALL_HELLO does not authenticate");
	}
	sl_hs_envelope(leg->reply, v, SL_MSG_CALL_REPLY, sl_get32(m + 2));
	if (sl_noise_write(&b->noise, NULL, 0, leg->reply + 6,
			   sizeof(leg->reply) - 6, &n) ||
	    n != SL_CALL_REPLY_LEN - 6)
		goto release;
	hs_release(&leg->hs);
	leg->hs = b;
	leg->hsid = sl_get32(m + 2);
	leg->ver = v;
	memcpy(leg->hello, m, len);
	leg->st = T_WAIT_AUTH;
	leg->deadline = now + SL_CALL_DEADLINE_MS;
	leg->replied_at = now;
	act_send(out, leg->reply, SL_CALL_REPLY_LEN);
	return 0;

release:
	hs_release(&b);
	return drop(out, "cannot answer CALL_HELLO (internal)");
}

static int on_auth(struct sl_tsp_leg *leg, const uint8_t *m, size_t len,
		   uint64_t now, struct sl_call_actions *out)
{
	uint8_t pl[AUTH_PAYLOAD_CALL];
	struct sl_call_action *a;
	uint8_t purpose;
	size_t plen;

	if (leg->auth_len) {
		if (len == leg->auth_len && !memcmp(leg->auth, m, len))
			return answer_copy(leg, out, now, leg->last,
					   leg->last_len,
					   rto0(leg->baud, len,
						SL_CALL_OFFER_LEN));
		return drop(out, "another CALL_AUTH after the authentic one");
	}
	if (leg->st != T_WAIT_AUTH)
		return drop(out, "CALL_AUTH not expected now");
	if (len != SL_CALL_AUTH_CALL_LEN && len != SL_CALL_AUTH_ANSWER_LEN)
		return drop(out, "CALL_AUTH of a wrong length");
	if (sl_noise_read(&leg->hs->noise, m + 6, len - 6, pl, sizeof(pl),
			  &plen)) {
		leg->auth_failures++;
		return drop(out, "CALL_AUTH does not authenticate");
	}
	/* Authentic: from here on the leg belongs to this call. */
	memcpy(leg->auth, m, len);
	leg->auth_len = len;
	purpose = pl[0];
	if ((purpose == SL_CALL_PURPOSE_CALL &&
	     plen != AUTH_PAYLOAD_CALL) ||
	    (purpose == SL_CALL_PURPOSE_ANSWER &&
	     plen != AUTH_PAYLOAD_ANSWER) ||
	    (purpose != SL_CALL_PURPOSE_CALL &&
	     purpose != SL_CALL_PURPOSE_ANSWER) ||
	    !sl_is_account(pl + 1) ||
	    (purpose == SL_CALL_PURPOSE_CALL && !sl_is_account(pl + 13))) {
		sl_wipe(pl, sizeof(pl));
		leg_nak(leg, out, now, SL_NAK_BAD_MESSAGE, 0,
			SL_MSG_CALL_AUTH);
		leg_failed(leg, out, SL_NAK_BAD_MESSAGE, 0, false,
			   "CALL_AUTH: bad purpose or account digits");
		return 0;
	}
	leg->keys = sl_secure_alloc(sizeof(*leg->keys));
	if (!leg->keys ||
	    sl_noise_split(&leg->hs->noise, &leg->keys->e2t,
			   &leg->keys->t2e)) {
		sl_wipe(pl, sizeof(pl));
		leg_nak(leg, out, now, SL_NAK_INTERNAL, 0, SL_MSG_CALL_AUTH);
		leg_failed(leg, out, SL_NAK_INTERNAL, 0, false,
			   "secure memory exhausted");
		return 0;
	}
	leg->purpose = purpose;
	a = push(out, SL_CALL_ACT_AUTHENTICATED);
	a->hsid = leg->hsid;
	a->purpose = purpose;
	memcpy(a->static_pub, leg->hs->noise.rs, SL_HS_KEY_LEN);
	sl_copy_account(a->account, pl + 1);
	if (purpose == SL_CALL_PURPOSE_CALL)
		sl_copy_account(a->peer, pl + 13);
	sl_wipe(pl, sizeof(pl));
	hs_release(&leg->hs);	/* T's static key, ephemeral, ck: done */
	leg->st = T_DECIDE;
	leg->deadline = 0;	/* the daemon's time now */
	return 0;
}

static int on_accept(struct sl_tsp_leg *leg, const uint8_t *m, size_t len,
		     uint64_t now, struct sl_call_actions *out)
{
	uint8_t none[1];

	if (leg->have_accept) {
		if (len == SL_CALL_ACCEPT_LEN && !memcmp(leg->accept, m, len) &&
		    leg->st == T_CONNECTED)
			return answer_copy(leg, out, now, leg->last,
					   leg->last_len,
					   rto0(leg->baud, len,
						SL_CALL_STATUS_LEN));
		return drop(out, "CALL_ACCEPT copy, nothing to answer yet");
	}
	if (leg->st != T_WAIT_ACCEPT)
		return drop(out, "CALL_ACCEPT not expected now");
	if (len != SL_CALL_ACCEPT_LEN)
		return drop(out, "CALL_ACCEPT of a wrong length");
	if (m[6] != 0)
		return drop(out, "CALL_ACCEPT with a seq other than 0");
	if (sl_hs_open(m, len, leg->keys->e2t.k, none)) {
		leg->auth_failures++;
		return drop(out, "CALL_ACCEPT does not authenticate");
	}
	memcpy(leg->accept, m, len);
	leg->have_accept = true;
	leg->st = T_ACCEPTED;
	leg->deadline = 0;
	push(out, SL_CALL_ACT_ACCEPTED)->tracking_id = leg->tracking_id;
	out->a[out->n - 1].hsid = leg->hsid;
	return 0;
}

static int leg_on_nak(struct sl_tsp_leg *leg, const uint8_t *m, size_t len,
		      struct sl_call_actions *out)
{
	if (len < SL_HS_NAK_LEN)
		return drop(out, "NAK too short");
	if (leg->st == T_WAIT_HELLO || sl_get32(m + 2) != leg->hsid)
		return drop(out, "NAK for no handshake of this leg");
	if (leg->st == T_CONNECTED)
		return drop(out, "NAK after CONNECTED is end to end");
	log_nak_in(out, m, true);
	leg_failed(leg, out, m[6], m[7], true, "E refused (NAK)");
	return 0;
}

int sl_tsp_leg_input(struct sl_tsp_leg *leg, const uint8_t *m, size_t len,
		     uint64_t now, struct sl_call_actions *out)
{
	if (!leg || !out)
		return -EINVAL;
	begin(out);
	if (!m || len < SL_HS_ENVELOPE_LEN)
		drop(out, "shorter than an envelope");
	else if (!sl_hs_msg_len(m[1]))
		drop(out, "reserved type");
	else if (m[1] == SL_MSG_CALL_HELLO)
		on_hello(leg, m, len, now, out);
	else if (leg->st == T_ENDED && !(m[1] == SL_MSG_CALL_AUTH &&
					 leg->last_len))
		drop(out, "the leg is over");
	else if (m[1] == SL_MSG_NAK)
		leg_on_nak(leg, m, len, out);
	else if (m[1] != SL_MSG_CALL_AUTH && m[1] != SL_MSG_CALL_ACCEPT)
		drop(out, "not a message for the TSP");
	else if (leg->st == T_WAIT_HELLO || sl_get32(m + 2) != leg->hsid)
		drop(out, "another hsid");
	else if (m[0] != leg->ver)
		drop(out, "not the negotiated version");
	else if (m[1] == SL_MSG_CALL_AUTH)
		on_auth(leg, m, len, now, out);
	else
		on_accept(leg, m, len, now, out);
	return leg_finish(leg, out);
}

int sl_tsp_leg_timer(struct sl_tsp_leg *leg, uint64_t now,
		     struct sl_call_actions *out)
{
	uint8_t ref;

	if (!leg || !out)
		return -EINVAL;
	begin(out);
	if (leg->st != T_ENDED && leg->deadline && now >= leg->deadline) {
		ref = leg->st == T_WAIT_ACCEPT ? SL_MSG_CALL_ACCEPT :
						 SL_MSG_CALL_AUTH;
		leg_nak(leg, out, now, SL_NAK_TIMEOUT, 0, ref);
		leg_failed(leg, out, SL_NAK_TIMEOUT, 0, false,
			   ref == SL_MSG_CALL_AUTH ?
			   "deadline: no CALL_AUTH in time" :
			   "deadline: the offer was not accepted in time");
	}
	return leg_finish(leg, out);
}

int sl_tsp_leg_refuse(struct sl_tsp_leg *leg, uint8_t reason,
		      uint8_t detail, uint64_t now,
		      struct sl_call_actions *out)
{
	if (!leg || !out)
		return -EINVAL;
	begin(out);
	if (leg->st == T_WAIT_HELLO || leg->st == T_CONNECTED ||
	    leg->st == T_ENDED || !reason ||
	    reason > SL_NAK_IDENTITY_MISMATCH || detail > 2)
		return -EINVAL;
	leg_nak(leg, out, now, reason, detail,
		leg->st == T_WAIT_ACCEPT || leg->st == T_ACCEPTED ?
		SL_MSG_CALL_ACCEPT : SL_MSG_CALL_AUTH);
	return leg_finish(leg, out);
}

/* CALL_STATUS or CALL_OFFER under c_t2e, kept as the answer to copies. */
static int leg_send_sealed(struct sl_tsp_leg *leg, uint8_t type,
			   const uint8_t *pl, size_t plen, uint64_t now,
			   struct sl_call_actions *out)
{
	size_t len = SL_HS_SEALED_AD_LEN + plen + SL_NOISE_TAG_LEN;
	int err;

	err = sl_hs_seal(leg->last, leg->ver, type, leg->hsid, leg->t2e_seq,
		   leg->keys->t2e.k, pl, plen);
	if (err)
		return err;
	leg->t2e_seq++;
	leg->last_len = len;
	leg->replied_at = now;
	act_send(out, leg->last, len);
	return 0;
}

static int leg_status(struct sl_tsp_leg *leg, uint8_t status, uint64_t now,
		      struct sl_call_actions *out)
{
	uint8_t pl[STATUS_PAYLOAD];

	pl[0] = status;
	put64(pl + 1, leg->tracking_id);
	return leg_send_sealed(leg, SL_MSG_CALL_STATUS, pl, sizeof(pl), now,
			       out);
}

int sl_tsp_leg_dialling(struct sl_tsp_leg *leg, uint64_t tracking_id,
			uint64_t now, struct sl_call_actions *out)
{
	int err;

	if (!leg || !out)
		return -EINVAL;
	begin(out);
	if (leg->st != T_DECIDE || leg->purpose != SL_CALL_PURPOSE_CALL)
		return -EINVAL;
	leg->tracking_id = tracking_id;
	err = leg_status(leg, SL_CALL_STATUS_DIALLING, now, out);
	if (err)
		return err;
	leg->st = T_DIALLING;
	return leg_finish(leg, out);
}

int sl_tsp_leg_offer(struct sl_tsp_leg *leg, const char *caller,
		     uint64_t tracking_id, uint64_t now,
		     struct sl_call_actions *out)
{
	uint8_t pl[OFFER_PAYLOAD];
	int err;

	if (!leg || !out)
		return -EINVAL;
	begin(out);
	if (leg->st != T_DECIDE || leg->purpose != SL_CALL_PURPOSE_ANSWER ||
	    !is_account_str(caller))
		return -EINVAL;
	leg->tracking_id = tracking_id;
	memcpy(pl, caller, SL_ACCOUNT_LEN);
	put64(pl + SL_ACCOUNT_LEN, tracking_id);
	err = leg_send_sealed(leg, SL_MSG_CALL_OFFER, pl, sizeof(pl), now,
			      out);
	sl_wipe(pl, sizeof(pl));
	if (err)
		return err;
	leg->st = T_WAIT_ACCEPT;
	leg->deadline = now + SL_CALL_OFFER_WAIT_MS;
	return leg_finish(leg, out);
}

int sl_tsp_leg_connected(struct sl_tsp_leg *leg, uint64_t now,
			 struct sl_call_actions *out)
{
	int err;

	if (!leg || !out)
		return -EINVAL;
	begin(out);
	if (leg->st != T_DIALLING && leg->st != T_ACCEPTED)
		return -EINVAL;
	err = leg_status(leg, SL_CALL_STATUS_CONNECTED, now, out);
	if (err)
		return err;
	leg->st = T_CONNECTED;
	/* Only "ended" is still sealed; copies are answered by bytes. */
	sl_wipe(&leg->keys->e2t, sizeof(leg->keys->e2t));
	return leg_finish(leg, out);
}

int sl_tsp_leg_end(struct sl_tsp_leg *leg, uint64_t now,
		   struct sl_call_actions *out)
{
	int err;

	if (!leg || !out)
		return -EINVAL;
	begin(out);
	if (!leg->keys || leg->st == T_DECIDE || leg->st == T_ENDED)
		return -EINVAL;
	err = leg_status(leg, SL_CALL_STATUS_ENDED, now, out);
	leg->st = T_ENDED;
	leg_wipe(leg);
	return err;
}
