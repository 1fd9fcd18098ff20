// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sim-courier: one simulated endpoint installation that speaks store and
 * forward to the TSP (Documentation/store-and-forward.rst), for
 * tests/tsp/test-tsp.sh. Its line is a pseudo-terminal of the simulated
 * exchange, its identity that of sim-endpoints' endpoint --index under
 * --seed (the same derivation, so "sim-endpoints keys" enrols it), and it
 * runs the agent's real engines: the modem driver, call setup (purposes
 * 3 and 4), the courier channel and transfer protocol, and the courier's
 * envelope engine to seal real envelopes.
 *
 *   identity print endpoint --index's identity as sealined's key store
 *            keeps it (STATE_DIR/identity), so that a real sealined can be
 *            that endpoint (tests/tsp/saf-sealined.sh)
 *   seal     seal files into an envelope to --to (a real one-way Noise
 *            header and STREAM chunks under --ltk)
 *   deposit  call the TSP, hand an envelope over, store the acceptance,
 *            store every NOTE that follows (receipts, notices), hang up
 *            once the TSP says "ended"; --claim-size lies about the size,
 *            --cut-after hangs up once that many chunks are durable,
 *            --pad-to pads the transfer to another size than its bucket,
 *            --pad-late sends PADs after the RESULT
 *   collect  call the TSP, store every NOTE, hang up at "ended"
 *   receive  answer the TSP's call and take a held delivery with the
 *            courier's recipient engine: verify and unpack into --out-dir's
 *            inbox, sign the receipt (or answer REPLAY with the first
 *            one for an envelope the inbox has); --refuse refuses the
 *            sender at the offer, --cut-after hangs up once that many
 *            chunks are durable
 *
 * One line of results on stdout: "deposit code=N acceptance=yes|no
 * notes=N" (or "collect notes=N", or "nak REASON"); exit 0 if the run
 * ended as --expect says.
 *
 * Why a program of its own and not a mode of sim-endpoints: that one is
 * the 1,600 lines of one state machine for many plain calls at once;
 * this one is one endpoint, one call, and the courier's engines.
 *
 * Why one file of about 1,100 lines: its three roles share the endpoint's line,
 * modem and call setup, and each role's checks (the acceptance, notices,
 * receipts, what reaches the inbox) are its purpose, next to the steps
 * they check.
 *
 * Its deposit and collect are sealined's own code: the leg engine
 * (proto/safleg.c: call setup, the leg's channel, the transfer's sender,
 * NOTEs) and the check of T's texts (courier/tsptext.c); this file adds
 * the lies a real sender would not tell, and the files it leaves for the
 * test to inspect.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <syslog.h>
#include <unistd.h>

#include <gcrypt.h>

#include "call.h"
#include "cchan.h"
#include "clock.h"
#include "crypto.h"
#include "envelope.h"
#include "handshake.h"
#include "hex.h"
#include "modem.h"
#include "rawline.h"
#include "receipt.h"
#include "safleg.h"
#include "sign.h"
#include "tsptext.h"
#include "xfer.h"

/* ---- Limits (all in one place) ----------------------------------- */
#define SIM_ACCOUNT_BASE	100000000000ULL
#define SIM_READ_CHUNK		4096
#define SIM_POLL_MAX_MS		200
#define SIM_DEFAULT_TIMEOUT_S	120
#define SIM_NO_CARRIER_LEN	14
/* call.h: after our NAK ended the setup, hang up 0.1 s later (a modem
 * hangup flushes what the tty still holds, the NAK too). */
#define SIM_NAK_HANGUP_MS	100

enum mode { M_DEPOSIT, M_COLLECT, M_RECEIVE };

static struct {
	enum mode mode;
	uint64_t seed;
	unsigned int index;
	char account[SL_ACCOUNT_LEN + 1];
	uint8_t *priv;
	uint8_t pub[SL_X25519_KEY_LEN];
	uint8_t tsp_pub[SL_X25519_KEY_LEN];
	char tsp_number[SL_MODEM_NUMBER_MAX + 1];
	char line[PATH_MAX];
	char to[SL_ACCOUNT_LEN + 1];
	const char *envelope, *out_dir, *expect;
	uint64_t claim_size;		/* 0: the truth */
	uint64_t cut_after;		/* 0: never */
	uint64_t pad_to;		/* 0: the bucket (safleg.c) */
	bool pad_late;			/* PADs after the RESULT */
	uint32_t xfer_id;
	bool has_schedule;		/* --deliver-after, --window */
	int64_t not_before_ms;
	int32_t window;
	unsigned int timeout_s;
	bool verbose;
	int64_t start;
	int64_t now;			/* the loop's, for every engine */
	/* the envelope */
	int env_fd;
	uint64_t env_size;
	uint8_t header[SL_ENV_HEADER_LEN];
	/* the line */
	int fd;
	struct sl_modem modem;
	struct sl_rawline rl;
	struct sl_byteq out;
	struct sl_call *eng;
	int64_t eng_timer;
	bool nak_sent;			/* our NAK ended the setup */
	int64_t hangup_at;		/* then: hang up at */
	struct sl_cchan *ch;		/* receive: the delivery's channel */
	struct sl_safleg *leg;		/* deposit, collect: the leg */
	bool taken;			/* T took the leg */
	bool xfer_done;
	bool raw;			/* a hand-made OFFER went out */
	/* receive */
	bool refuse;
	const char *ltk_hex;
	struct sl_xrecv *xr;
	int stage_fd;			/* the envelope as it arrives */
	bool unpacked;
	char outcome[40];		/* receive: the RESULT we gave */
	/* results */
	bool done, hung_up;
	char nak[40];
	int code;			/* the RESULT's, -1: none */
	bool acceptance;
	unsigned int notes;
	char err[200];
} sim = { .seed = 1, .window = SL_XFER_WINDOW_NONE,
	  .timeout_s = SIM_DEFAULT_TIMEOUT_S, .env_fd = -1,
	  .fd = -1, .code = -1, .stage_fd = -1 };

static void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void vlog(const char *fmt, ...)
{
	va_list ap;

	if (!sim.verbose)
		return;
	fprintf(stderr, "%.3f sim-courier: ", (double)(sl_now_ms() - sim.start) / 1000);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	if (sim.err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(sim.err, sizeof(sim.err), fmt, ap);
	va_end(ap);
	vlog("error: %s", sim.err);
}

static void modem_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (level <= LOG_WARNING || sim.verbose)
		vlog("modem: %s", msg);
}

/* sim-endpoints' identities (ep_identity() there): HKDF-SHA-256(salt
 * "sealine sim-endpoints", ikm seed || index, info "static key"). */
static int identity(unsigned int idx, char account[SL_ACCOUNT_LEN + 1],
		    uint8_t *priv, uint8_t pub[SL_X25519_KEY_LEN])
{
	static const char salt[] = "sealine sim-endpoints";
	static const char info[] = "static key";
	uint8_t ikm[12];

	snprintf(account, SL_ACCOUNT_LEN + 1, "%012" PRIu64,
		 (uint64_t)(SIM_ACCOUNT_BASE + idx));
	for (int i = 0; i < 8; ++i)
		ikm[i] = (uint8_t)(sim.seed >> (56 - 8 * i));
	for (int i = 0; i < 4; ++i)
		ikm[8 + i] = (uint8_t)(idx >> (24 - 8 * i));
	if (sl_hkdf(priv, SL_X25519_KEY_LEN, salt, sizeof(salt) - 1, ikm,
		    sizeof(ikm), info, sizeof(info) - 1) ||
	    sl_x25519_public(pub, priv))
		return -EIO;
	return 0;
}

/* ---- Files ------------------------------------------------------- */

static int write_file(const char *name, const void *buf, size_t len)
{
	char path[PATH_MAX];
	int fd;
	ssize_t n;

	if (!sim.out_dir)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", sim.out_dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	n = write(fd, buf, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* The envelope's bytes; past its end (a sender lying about its size)
 * zeros. */
static int read_env(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	ssize_t n;

	(void)ctx;
	memset(buf, 0, len);
	if (off >= sim.env_size)
		return 0;
	if (len > sim.env_size - off)
		len = (size_t)(sim.env_size - off);
	n = pread(sim.env_fd, buf, len, (off_t)off);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* A text of T's (acceptance or notice) that verifies: its fields. */
static bool tsp_text_ok(const char *text, size_t len, enum sl_tsptext_kind kind,
			struct sl_tsptext *t)
{
	char why[160];

	if (sl_tsptext_verify(t, text, len, NULL, why, sizeof(why))) {
		vlog("the TSP's text: %s", why);
		return false;
	}
	return t->kind == kind;
}

/* The acceptance is signed and names exactly the envelope we sent. */
static bool acceptance_ok(const char *text, size_t len)
{
	uint64_t size = sim.claim_size ? sim.claim_size : sim.env_size;
	uint8_t buf[65536], digest[32];
	struct sl_tsptext t;
	gcry_md_hd_t md;
	uint64_t off = 0;

	if (!tsp_text_ok(text, len, SL_TSPTEXT_ACCEPTANCE, &t) ||
	    gcry_md_open(&md, GCRY_MD_SHA256, 0))
		return false;
	/* What we sent, lies included. */
	while (off < size) {
		size_t n = size - off < sizeof(buf) ? (size_t)(size - off) :
			   sizeof(buf);

		if (read_env(NULL, off, buf, n))
			break;
		gcry_md_write(md, buf, n);
		off += n;
	}
	memcpy(digest, gcry_md_read(md, GCRY_MD_SHA256), sizeof(digest));
	gcry_md_close(md);
	return sl_tsptext_matches(&t, sim.header + 8, digest, size,
				  sim.account, sim.to);
}

static void hangup(int64_t now);
static void send_courier(const uint8_t *plain, size_t len);

/* ---- Receiving a held delivery ---------------------------------- */

#define SIM_PEERS_MAX		64	/* sim identities a sender may be */

static int find_peer(void *ctx, const uint8_t pub[SL_ENV_KEY_LEN],
		     struct sl_env_peer *peer)
{
	static uint8_t *ltk;
	uint8_t *priv = sl_secure_alloc(SL_X25519_KEY_LEN);
	int ret = -ENOENT;

	(void)ctx;
	if (!ltk) {
		ltk = sl_secure_alloc(SL_ENV_KEY_LEN);
		if (!ltk || !sim.ltk_hex ||
		    sl_hex_decode(ltk, SL_ENV_KEY_LEN, sim.ltk_hex, 64))
			goto out;
	}
	for (unsigned int i = 0; priv && i < SIM_PEERS_MAX; ++i) {
		if (identity(i, peer->account, priv, peer->pub) ||
		    memcmp(peer->pub, pub, SL_ENV_KEY_LEN))
			continue;
		peer->ltk = ltk;
		peer->allowed = true;
		ret = 0;
		break;
	}
out:
	sl_secure_free(priv, SL_X25519_KEY_LEN);
	return ret;
}

static int open_dir(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", sim.out_dir, name);
	mkdir(path, 0700);
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Every chunk is here: verify, unpack, commit, sign; the RESULT. */
static void receive_complete(int64_t now)
{
	struct sl_env_self me = { .priv = sim.priv };
	struct sl_env_receive rx = { .me = &me, .find_peer = find_peer };
	struct sl_env_received got;
	struct sl_env_refusal why = { .reason = SL_ENV_OK };
	int staging = open_dir("staging"), inbox = open_dir("inbox");
	char text[SL_RCPT_MAX_LEN + 1], name[80];
	enum sl_env_reason r = SL_ENV_IO;
	struct sl_sign_key key = { 0 };
	struct sl_rcpt rc;
	size_t len = 0;

	sim.unpacked = true;
	snprintf(me.account, sizeof(me.account), "%s", sim.account);
	memcpy(me.pub, sim.pub, sizeof(me.pub));
	sl_env_limits_default(&rx.limits);
	if (staging >= 0 && inbox >= 0 && lseek(sim.stage_fd, 0, SEEK_SET) == 0) {
		r = sl_env_unpack(sim.stage_fd, staging, &rx, &got, &why);
		if (r == SL_ENV_OK)
			r = sl_env_commit(staging, inbox, &got, &why);
	}
	if (r == SL_ENV_OK) {
		sl_rcpt_from_received(&rc, &got, time(NULL));
		if (sl_sign_key_derive(&key, sim.priv, sim.account) ||
		    sl_rcpt_sign(text, sizeof(text), &len, &rc, &key,
				 why.detail, sizeof(why.detail)))
			r = SL_ENV_INTERNAL;
		sl_sign_key_wipe(&key);
		snprintf(name, sizeof(name), "receipt-%s", got.name);
		if (r == SL_ENV_OK && write_file(name, text, len))
			r = SL_ENV_IO;
	}
	snprintf(sim.outcome, sizeof(sim.outcome), "%s", sl_env_reason_name(r));
	vlog("unpacked: %s %s", sim.outcome, why.detail);
	if (r == SL_ENV_OK)
		sl_xrecv_result(sim.xr, 0, text, len, (uint64_t)now);
	else
		sl_xrecv_result(sim.xr, (uint8_t)r, why.detail,
				strlen(why.detail), (uint64_t)now);
	if (staging >= 0)
		close(staging);
	if (inbox >= 0)
		close(inbox);
}

static void recv_pump(int64_t now)
{
	uint8_t buf[SL_CCHAN_MAX_PLAIN];
	struct sl_xrecv_status st;
	const uint8_t *p;
	uint64_t idx;
	size_t n;

	if (!sim.xr)
		return;
	while (sl_xrecv_take_chunk(sim.xr, &idx, &p, &n)) {
		if (pwrite(sim.stage_fd, p, n, (off_t)(SL_ENV_HEADER_LEN +
						       idx * SL_XFER_CHUNK_WIRE)) != (ssize_t)n) {
			sl_xrecv_result(sim.xr, SL_ENV_IO, "write", 5,
					(uint64_t)now);
			break;
		}
		sl_xrecv_chunk_done(sim.xr, (uint64_t)now);
	}
	sl_xrecv_get_status(sim.xr, &st);
	if (sim.cut_after && st.durable >= sim.cut_after &&
	    st.state == SL_XRECV_RECEIVING) {
		vlog("hanging up mid-delivery after %" PRIu64 " chunks",
		     st.durable);
		snprintf(sim.outcome, sizeof(sim.outcome), "cut");
		hangup(now);
		return;
	}
	if (st.state == SL_XRECV_COMPLETE && !sim.unpacked)
		receive_complete(now);
	while ((n = sl_xrecv_output(sim.xr, (uint64_t)now, buf)))
		send_courier(buf, n);
}

/* A held delivery's OFFER: a replay gets the first receipt again. */
static void recv_offer(const uint8_t *p, size_t n, int64_t now)
{
	const struct sl_xrecv_offer *o;
	char idhex[2 * SL_ENV_ID_LEN + 1], path[PATH_MAX], text[SL_RCPT_MAX_LEN + 1];
	ssize_t len;
	int fd;

	if (sl_xrecv_new(&sim.xr, p, n, (uint64_t)now)) {
		fail("a malformed OFFER from the TSP");
		return;
	}
	o = sl_xrecv_offer(sim.xr);
	sl_hex_encode(idhex, o->header + 8, SL_ENV_ID_LEN);
	snprintf(path, sizeof(path), "%s/receipt-%s", sim.out_dir, idhex);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		len = read(fd, text, sizeof(text) - 1);
		close(fd);
		vlog("a replay of %s: the first receipt again", idhex);
		snprintf(sim.outcome, sizeof(sim.outcome), "REPLAY");
		sim.unpacked = true;
		sl_xrecv_result(sim.xr, SL_ENV_REPLAY, text, len > 0 ? (size_t)len : 0,
				(uint64_t)now);
		recv_pump(now);
		return;
	}
	snprintf(path, sizeof(path), "%s/envelope.part", sim.out_dir);
	sim.stage_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (sim.stage_fd < 0 ||
	    pwrite(sim.stage_fd, o->header, SL_ENV_HEADER_LEN, 0) !=
	    SL_ENV_HEADER_LEN) {
		fail("cannot stage the envelope");
		return;
	}
	sl_xrecv_accept(sim.xr, 0, (uint64_t)now);
	recv_pump(now);
}

/* ---- The line ---------------------------------------------------- */

static void send_frame(const uint8_t *msg, size_t len)
{
	if (sl_rawline_send(&sim.out, msg, len))
		fail("control frame not queued");
	if (sl_byteq_flush(&sim.out, sim.fd) < 0)
		fail("write: %s", strerror(errno));
}

static void send_courier(const uint8_t *plain, size_t len)
{
	uint8_t msg[SL_CCHAN_MAX_MSG];
	size_t n;

	if (sl_cchan_seal(sim.ch, msg, &n, plain, len)) {
		fail("courier message not sealed");
		return;
	}
	send_frame(msg, n);
}

static void hangup(int64_t now)
{
	struct sl_modem_events ev;

	sl_call_free(sim.eng);
	sim.eng = NULL;
	sim.eng_timer = 0;
	sl_safleg_free(sim.leg);
	sim.leg = NULL;
	sl_byteq_drop(&sim.out);
	if (sim.hung_up)
		return;
	sim.hung_up = true;
	if (sl_modem_state(&sim.modem) == SL_MODEM_READY ||
	    sl_modem_hangup(&sim.modem, now, &ev))
		sim.done = true;
}

/* A NOTE from T, new on this leg: kept as a file, checked. Not
 * acknowledged (T sends it again) if it does not verify. */
static int on_note(void *ctx, uint8_t kind, const char *text, size_t len)
{
	static const char *const kinds[] = {
		[SL_XFER_NOTE_RECEIPT] = "receipt",
		[SL_XFER_NOTE_ACCEPTANCE] = "acceptance",
		[SL_XFER_NOTE_NOTICE] = "notice",
	};
	struct sl_tsptext t;
	char name[64];

	(void)ctx;
	snprintf(name, sizeof(name), "note-%u-%s", sim.notes, kinds[kind]);
	if (write_file(name, text, len))
		fail("cannot store a note");
	if (kind == SL_XFER_NOTE_RECEIPT) {
		struct sl_rcpt r;
		char why[160];

		if (sl_rcpt_verify(&r, text, len, NULL, why, sizeof(why)) ||
		    strcmp(r.sender, sim.account)) {
			fail("a receipt that does not verify or is not for us: %s",
			     why);
			return -EBADMSG;
		}
	} else if (!tsp_text_ok(text, len, kind == SL_XFER_NOTE_NOTICE ?
				SL_TSPTEXT_NOTICE : SL_TSPTEXT_ACCEPTANCE, &t)) {
		fail("a notice whose signature does not verify");
		return -EBADMSG;
	}
	sim.notes++;
	vlog("NOTE %s (%zu bytes)", kinds[kind], len);
	return 0;
}

/* A courier message the leg did not take: T's answer to our lie. */
static void on_other(void *ctx, const uint8_t *p, size_t n)
{
	(void)ctx;
	vlog("in: kind %u, %zu bytes", p[0], n);
	if (sim.raw && n >= 6 && sim.code < 0 &&
	    (p[0] == SL_XFER_ANSWER || p[0] == SL_XFER_RESULT)) {
		sim.code = p[5];
		vlog("the TSP answers the lie: %s", sl_env_reason_name(p[5]));
	}
}

/* The leg's: a full queue is the engine's to wait for (-ENOBUFS). */
static int leg_send(void *ctx, const uint8_t *msg, size_t len)
{
	(void)ctx;
	if (sl_rawline_send(&sim.out, msg, len))
		return -ENOBUFS;
	if (sl_byteq_flush(&sim.out, sim.fd) < 0)
		fail("write: %s", strerror(errno));
	return 0;
}

/* A lie the sender engine would not tell: an OFFER of a size no
 * envelope has. The TSP's answer is the outcome. */
static void raw_offer(void)
{
	uint8_t m[1 + 4 + 8 + 2 + SL_ENV_HEADER_LEN] = { SL_XFER_OFFER };

	gcry_create_nonce(m + 1, 4);
	for (int i = 0; i < 8; ++i)
		m[5 + i] = (uint8_t)(sim.claim_size >> (56 - 8 * i));
	m[13] = SL_XFER_PIECE_DEFAULT >> 8;
	m[14] = SL_XFER_PIECE_DEFAULT & 0xff;
	memcpy(m + 15, sim.header, SL_ENV_HEADER_LEN);
	sim.raw = true;
	if (sl_safleg_courier_send(sim.leg, m, sizeof(m)))
		fail("the lie was not sent");
}

/* Lies about padding the engine would not tell: once the hand-over has
 * its RESULT, a PAD of it and one of another transfer. T drops them. */
static void late_pads(void)
{
	uint8_t m[SL_XFER_PAD_HDR + 100] = { SL_XFER_PAD };

	for (uint32_t id = sim.xfer_id; id <= sim.xfer_id + 1; ++id) {
		m[1] = (uint8_t)(id >> 24);
		m[2] = (uint8_t)(id >> 16);
		m[3] = (uint8_t)(id >> 8);
		m[4] = (uint8_t)id;
		if (sl_safleg_courier_send(sim.leg, m, sizeof(m)))
			fail("a late PAD was not sent");
	}
	vlog("two PADs after the RESULT");
}

/* Where the leg is: the transfer's outcome, a cut, its end. */
static void leg_check(int64_t now)
{
	struct sl_safleg_status st;

	if (!sim.leg)
		return;
	sl_safleg_get_status(sim.leg, &st);
	if (st.state == SL_SAFLEG_COURIER && !sim.taken) {
		sim.taken = true;
		vlog("the TSP takes the leg, tracking %016" PRIx64, st.tracking);
		if (sim.mode == M_DEPOSIT && sim.claim_size &&
		    !sl_xfer_chunks(sim.claim_size))
			raw_offer();
	}
	if (st.xfer_started && !sim.xfer_done) {
		if (sim.cut_after && st.xfer.durable >= sim.cut_after &&
		    st.xfer.state == SL_XSEND_SENDING) {
			vlog("cutting the hand-over after %" PRIu64 " durable chunks",
			     st.xfer.durable);
			sim.xfer_done = true;
			hangup(now);
			return;
		}
		if (st.xfer.state == SL_XSEND_DONE && sim.code < 0) {
			sim.code = st.xfer.code;
			vlog("RESULT %u (%s)", st.xfer.code,
			     sl_env_reason_name(st.xfer.code));
			if (sim.pad_late)
				late_pads();
			if (!st.xfer.code) {
				sim.acceptance = true;
				if (!acceptance_ok(st.xfer.text, st.xfer.text_len))
					fail("the acceptance does not verify or names another envelope");
				if (write_file("acceptance", st.xfer.text,
					       st.xfer.text_len))
					fail("cannot store the acceptance");
			} else if (write_file("refusal", st.xfer.text,
					      st.xfer.text_len)) {
				fail("cannot store the refusal");
			}
		}
		if (st.xfer.state == SL_XSEND_FAILED) {
			sim.xfer_done = true;
			fail("transfer failed: %.*s", (int)st.xfer.text_len,
			     st.xfer.text);
		}
	}
	if (st.state == SL_SAFLEG_ENDED) {
		vlog("ended by the TSP");
		hangup(now);
	} else if (st.state == SL_SAFLEG_FAILED) {
		vlog("call setup failed: %s, NAK %s", st.why,
		     sl_nak_reason_name(st.nak));
		if (st.nak_remote && st.nak)
			snprintf(sim.nak, sizeof(sim.nak), "%s",
				 sl_nak_reason_name(st.nak));
		else
			fail("setup: %s", st.why);
		hangup(now);
	}
}

static void on_courier(const uint8_t *msg, size_t len, int64_t now)
{
	uint8_t p[SL_CCHAN_MAX_MSG];
	size_t n;

	if (!sim.ch || sl_cchan_open(sim.ch, p, &n, msg, len) || !n) {
		fail("a courier message that does not open");
		return;
	}
	vlog("in: kind %u, %zu bytes", p[0], n);
	if (!sim.xr && p[0] == SL_XFER_OFFER)
		recv_offer(p, n, now);
	else if (sim.xr)
		sl_xrecv_input(sim.xr, p, n, (uint64_t)now);
	recv_pump(now);
}

static void eng_actions(const struct sl_call_actions *out, int64_t now)
{
	sim.eng_timer = (int64_t)out->next_timer;
	for (unsigned int i = 0; i < out->n && !sim.hung_up; ++i) {
		const struct sl_call_action *a = &out->a[i];

		switch (a->type) {
		case SL_CALL_ACT_SEND:
			send_frame(a->msg, a->len);
			break;
		case SL_CALL_ACT_OFFER: {
			struct sl_call_actions out2;
			bool ok = !sim.refuse && (a->flags & SL_CALL_OFFER_HELD);

			vlog("offer from %s%s: %s", a->account,
			     a->flags & SL_CALL_OFFER_HELD ? " (held)" : "",
			     ok ? "accept" : "refuse");
			if (!ok)
				snprintf(sim.outcome, sizeof(sim.outcome),
					 "refused");
			if (!sl_call_offer_reply(sim.eng, ok,
						 ok ? 0 : SL_NAK_NOT_AUTHORISED,
						 ok ? 0 : SL_NAK_DETAIL_CALLER,
						 (uint64_t)now, &out2))
				eng_actions(&out2, now);
			return;
		}
		case SL_CALL_ACT_CONNECTED: {
			uint8_t keys[SL_CALL_COURIER_KEYS_LEN];

			if (!(a->flags & SL_CALL_OFFER_HELD) ||
			    sl_call_courier_keys(sim.eng, keys)) {
				fail("connected without a held delivery");
				hangup(now);
				return;
			}
			sim.ch = sl_cchan_new();
			if (!sim.ch ||
			    sl_cchan_stage(sim.ch, a->hsid, 1, keys,
					   keys + SEALINE_KEY_LEN) ||
			    sl_cchan_activate(sim.ch, 1)) {
				sl_wipe(keys, sizeof(keys));
				fail("courier channel");
				hangup(now);
				return;
			}
			sl_wipe(keys, sizeof(keys));
			vlog("the TSP delivers from %s", a->account);
			break;
		}
		case SL_CALL_ACT_ENDED:
			vlog("ended by the TSP");
			hangup(now);
			return;
		case SL_CALL_ACT_NAK:
			if (a->sent && a->ended)
				sim.nak_sent = true;
			break;
		case SL_CALL_ACT_FAILED:
			vlog("call setup failed: %s, NAK %s",
			     a->text ? a->text : "-",
			     sl_nak_reason_name(a->reason));
			if (a->remote && a->reason)
				snprintf(sim.nak, sizeof(sim.nak), "%s",
					 sl_nak_reason_name(a->reason));
			else if (!sim.nak_sent || sim.mode != M_RECEIVE)
				fail("setup: %s", a->text ? a->text : "failed");
			if (sim.nak_sent) {
				/* Our NAK must leave before the hangup. */
				sim.hangup_at = now + SIM_NAK_HANGUP_MS;
				return;
			}
			hangup(now);
			return;
		default:
			break;
		}
	}
}

static void on_frame(void *ctx, const uint8_t *msg, size_t len)
{
	int64_t now = sim.now;
	struct sl_call_actions out;

	(void)ctx;
	if (len < 2)
		return;
	if (sim.leg) {
		sl_safleg_input(sim.leg, msg, len, (uint64_t)now);
		leg_check(now);
		return;
	}
	if (sl_cchan_is_courier(msg, len)) {
		on_courier(msg, len, now);
		return;
	}
	if (sim.eng && (sl_call_msg_is_setup(msg[1]) || msg[1] == SL_MSG_NAK) &&
	    !sl_call_input(sim.eng, msg, len, (uint64_t)now, &out))
		eng_actions(&out, now);
}

/* Connected to T for a deposit or a collection: the leg begins. */
static void leg_start(int64_t now)
{
	struct sl_safleg_cfg lc = {
		.static_priv = sim.priv, .tsp_pub = sim.tsp_pub,
		.purpose = sim.mode == M_DEPOSIT ? SL_CALL_PURPOSE_DEPOSIT :
			   SL_CALL_PURPOSE_COLLECT,
		.send = leg_send, .note = on_note, .other = on_other,
	};
	int ret;

	memcpy(lc.account, sim.account, sizeof(lc.account));
	memcpy(lc.recipient, sim.to, sizeof(lc.recipient));
	do
		gcry_create_nonce(&sim.xfer_id, sizeof(sim.xfer_id));
	while (!sim.xfer_id || sim.xfer_id == UINT32_MAX);
	/* A size no envelope has goes out by hand (raw_offer()). */
	if (sim.mode == M_DEPOSIT &&
	    !(sim.claim_size && !sl_xfer_chunks(sim.claim_size)))
		lc.xfer = (struct sl_xsend_cfg){
			.size = sim.claim_size ? sim.claim_size : sim.env_size,
			.id = sim.xfer_id, .pad_to = sim.pad_to,
			.header = sim.header, .read = read_env,
			.has_schedule = sim.has_schedule,
			.not_before_ms = sim.not_before_ms,
			.window = sim.window,
		};
	ret = sl_safleg_new(&sim.leg, &lc, (uint64_t)now);
	if (ret) {
		fail("the leg cannot start: %s", strerror(-ret));
		hangup(now);
		return;
	}
	leg_check(now);
}

static void modem_events(const struct sl_modem_events *ev, int64_t now)
{
	for (unsigned int i = 0; i < ev->n; ++i) {
		const struct sl_modem_event *m = &ev->ev[i];
		struct sl_call_config cc = {
			.static_priv = sim.priv, .tsp_pub = sim.tsp_pub,
		};
		struct sl_modem_events ev2;
		struct sl_call_actions out;
		char text[256];
		int err;

		vlog("modem: %s", sl_modem_event_str(&sim.modem, m, text,
						     sizeof(text)));
		switch (m->type) {
		case SL_MODEM_EV_RING:
			if (sim.mode == M_RECEIVE && !sim.eng &&
			    !sl_modem_answer(&sim.modem, now, &ev2))
				modem_events(&ev2, now);
			break;
		case SL_MODEM_EV_READY:
			if (sim.mode != M_RECEIVE && !sim.eng && !sim.hung_up &&
			    !sl_modem_dial(&sim.modem, sim.tsp_number, now, &ev2))
				modem_events(&ev2, now);
			break;
		case SL_MODEM_EV_CONNECT:
			sl_rawline_init(&sim.rl);
			if (sim.mode != M_RECEIVE) {
				leg_start(now);
				break;
			}
			memcpy(cc.account, sim.account, SL_ACCOUNT_LEN);
			sim.eng = sl_call_new(&cc, &err);
			if (!sim.eng) {
				fail("sl_call_new: %s", strerror(-err));
				hangup(now);
				break;
			}
			if (sl_call_start(sim.eng, SL_CALL_PURPOSE_ANSWER, NULL,
					  (uint64_t)now, &out)) {
				fail("sl_call_start");
				hangup(now);
				break;
			}
			eng_actions(&out, now);
			break;
		case SL_MODEM_EV_NO_CARRIER:
		case SL_MODEM_EV_HUNG_UP:
		case SL_MODEM_EV_IO_ERROR:
			sim.done = true;
			break;
		case SL_MODEM_EV_BUSY:
		case SL_MODEM_EV_NO_ANSWER:
		case SL_MODEM_EV_NO_DIALTONE:
		case SL_MODEM_EV_ERROR:
		case SL_MODEM_EV_TIMEOUT:
			fail("modem: %s", text);
			sim.done = true;
			break;
		default:
			break;
		}
	}
}

static void readable(int64_t now)
{
	uint8_t buf[SIM_READ_CHUNK];
	ssize_t n = read(sim.fd, buf, sizeof(buf));
	size_t off = 0;

	sim.now = now;
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		sim.done = true;
		return;
	}
	while (off < (size_t)n && !sim.done) {
		struct sl_modem_events ev;
		size_t used;

		if (sl_modem_wants_read(&sim.modem)) {
			used = sl_modem_input(&sim.modem, buf + off,
					      (size_t)n - off, now, &ev);
			modem_events(&ev, now);
			if (!used && !ev.n)
				break;
		} else if (sl_modem_state(&sim.modem) == SL_MODEM_DATA) {
			size_t data;

			used = sl_modem_data_scan(&sim.modem, buf + off,
						  (size_t)n - off, &ev);
			data = !ev.n ? used : used > SIM_NO_CARRIER_LEN ?
			       used - SIM_NO_CARRIER_LEN : 0;
			if (!sim.hung_up)
				sl_rawline_decode(&sim.rl, buf + off, data,
						  on_frame, NULL);
			if (ev.n)
				modem_events(&ev, now);
		} else {
			break;
		}
		off += used;
	}
}

static void timers(int64_t now)
{
	struct sl_modem_events ev;
	int64_t due = sl_modem_next_timer(&sim.modem);

	if (due && now >= due) {
		sl_modem_timer(&sim.modem, now, &ev);
		modem_events(&ev, now);
	}
	if (sim.hangup_at && now >= sim.hangup_at) {
		sim.hangup_at = 0;
		hangup(now);
	}
	if (sim.eng && sim.eng_timer && now >= sim.eng_timer) {
		struct sl_call_actions out;

		sim.eng_timer = 0;
		if (!sl_call_timer(sim.eng, (uint64_t)now, &out))
			eng_actions(&out, now);
	}
	if (sim.leg && sl_safleg_next_timer(sim.leg) &&
	    (uint64_t)now >= sl_safleg_next_timer(sim.leg)) {
		sl_safleg_timer(sim.leg, (uint64_t)now);
		leg_check(now);
	}
	recv_pump(now);
}

static int run(void)
{
	struct sl_modem_events ev;
	char err[256];
	int64_t deadline;

	if (sl_modem_open_tty(sim.line, 9600, false, &sim.fd, err, sizeof(err))) {
		fprintf(stderr, "sim-courier: %s\n", err);
		return 2;
	}
	sl_byteq_init(&sim.out, SL_OUTQ_MAX);
	sim.start = sl_now_ms();
	deadline = sim.start + (int64_t)sim.timeout_s * 1000;
	sl_modem_setup(&sim.modem, sim.account, sim.fd, modem_log, NULL);
	if (sl_modem_init(&sim.modem, NULL, sim.start, &ev)) {
		fprintf(stderr, "sim-courier: modem init failed\n");
		return 2;
	}
	modem_events(&ev, sim.start);
	while (!sim.done) {
		struct pollfd pfd = { .fd = sim.fd, .events = POLLIN };
		int64_t now = sl_now_ms();

		if (now >= deadline) {
			fail("timed out after %u s", sim.timeout_s);
			break;
		}
		if (sl_byteq_len(&sim.out) || sl_modem_wants_write(&sim.modem))
			pfd.events |= POLLOUT;
		if (poll(&pfd, 1, SIM_POLL_MAX_MS) < 0 && errno != EINTR)
			break;
		now = sl_now_ms();
		if (pfd.revents & POLLOUT) {
			if (sl_byteq_len(&sim.out))
				sl_byteq_flush(&sim.out, sim.fd);
			if (sl_modem_wants_write(&sim.modem)) {
				sl_modem_output(&sim.modem, now, &ev);
				modem_events(&ev, now);
			}
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
			readable(now);
		timers(now);
	}
	return 0;
}

/* ---- Commands ---------------------------------------------------- */

static int load_envelope(void)
{
	struct stat stb;

	sim.env_fd = open(sim.envelope, O_RDONLY | O_CLOEXEC);
	if (sim.env_fd < 0 || fstat(sim.env_fd, &stb) ||
	    stb.st_size < SL_ENV_HEADER_LEN ||
	    pread(sim.env_fd, sim.header, sizeof(sim.header), 0) !=
	    (ssize_t)sizeof(sim.header)) {
		fprintf(stderr, "sim-courier: %s: not an envelope\n",
			sim.envelope);
		return -EINVAL;
	}
	sim.env_size = (uint64_t)stb.st_size;
	return 0;
}

/* seal: files into an envelope from --index to --to-index under --ltk. */
static int cmd_seal(unsigned int to_idx, const char *ltk_hex, const char *out,
		    char **files, int n_files)
{
	struct sl_env_self me = { .priv = sim.priv };
	struct sl_env_peer peer = { .allowed = true };
	struct sl_env_sealed sealed;
	uint8_t *ltk = sl_secure_alloc(SL_ENV_KEY_LEN);
	uint8_t *rpriv = sl_secure_alloc(SL_X25519_KEY_LEN);
	char why[256] = "";
	int fd, ret = 2;

	if (!ltk || !rpriv || !ltk_hex || strlen(ltk_hex) != 64 ||
	    sl_hex_decode(ltk, SL_ENV_KEY_LEN, ltk_hex, 64) ||
	    identity(to_idx, peer.account, rpriv, peer.pub)) {
		fprintf(stderr, "sim-courier seal: --ltk is 64 hex digits\n");
		goto out;
	}
	snprintf(me.account, sizeof(me.account), "%s", sim.account);
	memcpy(me.pub, sim.pub, sizeof(me.pub));
	peer.ltk = ltk;
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "sim-courier seal: %s: %s\n", out, strerror(errno));
		goto out;
	}
	if (sl_env_seal(fd, &me, &peer, (const char *const *)files,
			(size_t)n_files, NULL, &sealed, why, sizeof(why))) {
		fprintf(stderr, "sim-courier seal: %s\n", why);
		close(fd);
		goto out;
	}
	close(fd);
	printf("sealed %" PRIu64 " bytes\n", sealed.bytes);
	ret = 0;
out:
	sl_secure_free(ltk, SL_ENV_KEY_LEN);
	sl_secure_free(rpriv, SL_X25519_KEY_LEN);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: sim-courier identity --index I\n"
"       sim-courier seal    --index I --to-index J --ltk HEX --out FILE FILE...\n"
"       sim-courier deposit --index I --line PTY --tsp-number N --tsp-key HEX\n"
"                           --to ACCOUNT --envelope FILE [--out-dir DIR]\n"
"                           [--claim-size N] [--cut-after CHUNKS] [--expect E]\n"
"                           [--deliver-after-ms EPOCH-MS] [--window START*1440+END]\n"
"                           [--pad-to BYTES] [--pad-late]\n"
"       sim-courier collect --index I --line PTY --tsp-number N --tsp-key HEX\n"
"                           [--out-dir DIR] [--expect E]\n"
"       sim-courier receive --index I --line PTY --tsp-key HEX --ltk HEX\n"
"                           --out-dir DIR [--refuse] [--cut-after CHUNKS]\n"
"                           [--expect E]\n"
"Common: --seed S (1), --timeout S (120), -v.\n"
"--expect: 'accepted', a refusal name (QUOTA, BAD_FORMAT, ...), 'nak:REASON',\n"
"'cut' or 'notes:N'; receive: 'OK', 'REPLAY', a refusal, 'refused' or\n"
"'cut'. Exit 0 if the run ended so.\n");
}

static bool as_expected(void)
{
	char want[64];

	if (!sim.expect)
		return !sim.err[0];
	if (sim.mode == M_RECEIVE)
		return !strcmp(sim.outcome, sim.expect);
	if (!strncmp(sim.expect, "nak:", 4))
		return !strcmp(sim.nak, sim.expect + 4);
	if (!strcmp(sim.expect, "cut"))
		return sim.code < 0 && !sim.nak[0];
	if (sim.err[0] || sim.nak[0])
		return false;
	if (!strncmp(sim.expect, "notes:", 6)) {
		snprintf(want, sizeof(want), "%u", sim.notes);
		return !strcmp(want, sim.expect + 6);
	}
	if (!strcmp(sim.expect, "accepted"))
		return sim.code == 0 && sim.acceptance;
	return sim.code > 0 && !strcmp(sl_env_reason_name((uint8_t)sim.code),
				       sim.expect);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "index", 1, NULL, 'i' }, { "to-index", 1, NULL, 'j' },
		{ "ltk", 1, NULL, 'k' }, { "out", 1, NULL, 'o' },
		{ "line", 1, NULL, 'l' }, { "tsp-number", 1, NULL, 'n' },
		{ "tsp-key", 1, NULL, 'K' }, { "to", 1, NULL, 't' },
		{ "envelope", 1, NULL, 'e' }, { "out-dir", 1, NULL, 'd' },
		{ "claim-size", 1, NULL, 'z' }, { "cut-after", 1, NULL, 'c' },
		{ "expect", 1, NULL, 'x' }, { "seed", 1, NULL, 's' },
		{ "timeout", 1, NULL, 'T' }, { "verbose", 0, NULL, 'v' },
		{ "refuse", 0, NULL, 'r' },
		{ "deliver-after-ms", 1, NULL, 'A' }, { "window", 1, NULL, 'W' },
		{ "pad-to", 1, NULL, 'P' }, { "pad-late", 0, NULL, 'L' },
		{ "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *cmd, *ltk = NULL, *out = NULL, *tsp_key = NULL;
	unsigned int to_idx = 0;
	char err[256];
	int c, ret;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
		switch (c) {
		case 'i': sim.index = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'j': to_idx = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'k': ltk = optarg; break;
		case 'o': out = optarg; break;
		case 'l': snprintf(sim.line, sizeof(sim.line), "%s", optarg); break;
		case 'n': snprintf(sim.tsp_number, sizeof(sim.tsp_number), "%s", optarg); break;
		case 'K': tsp_key = optarg; break;
		case 't': snprintf(sim.to, sizeof(sim.to), "%s", optarg); break;
		case 'e': sim.envelope = optarg; break;
		case 'd': sim.out_dir = optarg; break;
		case 'z': sim.claim_size = strtoull(optarg, NULL, 10); break;
		case 'c': sim.cut_after = strtoull(optarg, NULL, 10); break;
		case 'x': sim.expect = optarg; break;
		case 's': sim.seed = strtoull(optarg, NULL, 0); break;
		case 'T': sim.timeout_s = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'v': sim.verbose = true; break;
		case 'r': sim.refuse = true; break;
		case 'P': sim.pad_to = strtoull(optarg, NULL, 10); break;
		case 'L': sim.pad_late = true; break;
		case 'A':
			sim.has_schedule = true;
			sim.not_before_ms = strtoll(optarg, NULL, 10);
			break;
		case 'W':
			sim.has_schedule = true;
			sim.window = (int32_t)strtol(optarg, NULL, 10);
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (sl_crypto_init(0, 0, err, sizeof(err))) {
		fprintf(stderr, "sim-courier: %s\n", err);
		return 2;
	}
	sim.priv = sl_secure_alloc(SL_X25519_KEY_LEN);
	if (!sim.priv || identity(sim.index, sim.account, sim.priv, sim.pub)) {
		fprintf(stderr, "sim-courier: no identity\n");
		return 2;
	}
	if (!strcmp(cmd, "identity")) {
		char pub[2 * SL_X25519_KEY_LEN + 1], priv[2 * SL_X25519_KEY_LEN + 1];

		sl_hex_encode(pub, sim.pub, SL_X25519_KEY_LEN);
		sl_hex_encode(priv, sim.priv, SL_X25519_KEY_LEN);
		printf("version 1\naccount %s\npublic %s\nprivate %s\ncreated %lld\n",
		       sim.account, pub, priv, (long long)time(NULL));
		sl_wipe(priv, sizeof(priv));
		sl_secure_free(sim.priv, SL_X25519_KEY_LEN);
		return 0;
	}
	if (!strcmp(cmd, "seal")) {
		if (!out || optind >= argc) {
			usage(stderr);
			return 2;
		}
		return cmd_seal(to_idx, ltk, out, argv + optind, argc - optind);
	}
	if (!strcmp(cmd, "deposit"))
		sim.mode = M_DEPOSIT;
	else if (!strcmp(cmd, "collect"))
		sim.mode = M_COLLECT;
	else if (!strcmp(cmd, "receive"))
		sim.mode = M_RECEIVE;
	else {
		usage(stderr);
		return 2;
	}
	sim.ltk_hex = ltk;
	if (sim.mode == M_RECEIVE && (!sim.out_dir || !ltk)) {
		usage(stderr);
		return 2;
	}
	if (sim.mode == M_RECEIVE)
		snprintf(sim.tsp_number, sizeof(sim.tsp_number), "-");
	if (!sim.line[0] || !sim.tsp_number[0] || !tsp_key ||
	    strlen(tsp_key) != 64 ||
	    sl_hex_decode(sim.tsp_pub, sizeof(sim.tsp_pub), tsp_key, 64) ||
	    (sim.mode == M_DEPOSIT && (!sim.to[0] || !sim.envelope))) {
		usage(stderr);
		return 2;
	}
	if (sim.mode == M_DEPOSIT && load_envelope())
		return 2;
	ret = run();
	if (ret)
		return ret;
	if (sim.nak[0])
		printf("nak %s\n", sim.nak);
	else if (sim.mode == M_RECEIVE)
		printf("receive %s%s%s\n", sim.outcome[0] ? sim.outcome : "none",
		       sim.err[0] ? " error=" : "", sim.err);
	else if (sim.mode == M_DEPOSIT)
		printf("deposit code=%d acceptance=%s notes=%u%s%s\n", sim.code,
		       sim.acceptance ? "yes" : "no", sim.notes,
		       sim.err[0] ? " error=" : "", sim.err);
	else
		printf("collect notes=%u%s%s\n", sim.notes,
		       sim.err[0] ? " error=" : "", sim.err);
	sl_call_free(sim.eng);
	sl_safleg_free(sim.leg);
	sl_xrecv_free(sim.xr);
	if (sim.stage_fd >= 0)
		close(sim.stage_fd);
	sl_cchan_free(sim.ch);
	sl_byteq_free(&sim.out);
	sl_secure_free(sim.priv, SL_X25519_KEY_LEN);
	if (sim.env_fd >= 0)
		close(sim.env_fd);
	return as_expected() ? 0 : 1;
}
