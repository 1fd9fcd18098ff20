// SPDX-License-Identifier: GPL-2.0
/*
 * The envelope's cryptographic layers (agent/proto/courier: oneway.c,
 * header.c, stream.c): Noise_Xpsk1 against the published Cacophony
 * vector, the header and chunks against the independent implementation
 * (envelope_v1.py -> vectors.h), round trips and resuming at a chunk
 * boundary, and everything a relay or a thief of an envelope can do to
 * it: flip any bit, cut, reorder, extend, splice chunks or headers of
 * other envelopes, send it to the wrong installation.
 */
#include "check.h"
#include "crypto.h"
#include "agent_test.h"
#include "courier_test.h"
#include "internal.h"
#include "vectors.h"

static struct world W;

/* ---- helpers ---------------------------------------------------------- */

struct blob {
	uint8_t *p;
	size_t len;
};

static void blob_free(struct blob *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
}

static struct blob blob_dup(const struct blob *b)
{
	struct blob c = { malloc(b->len + 1), b->len };

	if (!c.p)
		abort();
	memcpy(c.p, b->p, b->len);
	return c;
}

/* Reads a whole memfd back. */
static struct blob slurp(int fd)
{
	struct blob b = { 0 };
	off_t end = lseek(fd, 0, SEEK_END);

	b.len = (size_t)end;
	b.p = malloc(b.len + 1);
	if (!b.p || pread(fd, b.p, b.len, 0) != (ssize_t)b.len)
		abort();
	return b;
}

/*
 * An envelope from `me` to `to` of payload, written in pieces of random
 * sizes; fixed id and time; the fixed ephemeral key if fixed_e.
 */
static struct blob seal_as(const struct sl_env_self *me,
			   const struct sl_env_peer *to, const uint8_t *payload,
			   size_t len, bool fixed_e, uint64_t *chunks)
{
	uint8_t e[32], sha[32];
	struct sl_env_header_in in = { .created = 1700000000 };
	struct sl_env_writer *w;
	struct blob b;
	uint64_t bytes, n;
	int fd = memfd_create("env", 0);

	for (int i = 0; i < SL_ENV_ID_LEN; i++)
		in.id[i] = (uint8_t)(0x10 + i);
	label(e, "ephemeral");
	in.ephemeral = fixed_e ? e : NULL;
	if (fd < 0 || sl_env_writer_new(&w, fd, me, to, &in))
		abort();
	for (size_t off = 0; off < len;) {
		size_t piece = 1 + check_below(100000);

		if (piece > len - off)
			piece = len - off;
		if (sl_env_writer_write(w, payload + off, piece))
			abort();
		off += piece;
	}
	if (sl_env_writer_finish(w, &bytes, &n, sha))
		abort();
	sl_env_writer_free(w);
	b = slurp(fd);
	close(fd);
	if (bytes != b.len)
		abort();
	if (chunks)
		*chunks = n;
	return b;
}

static struct blob seal_payload(const uint8_t *payload, size_t len,
				uint64_t *chunks)
{
	return seal_as(&W.sender.self, &W.recipient_at_sender, payload, len,
		       false, chunks);
}

/*
 * The recipient reads env; the payload it released into *out (malloc'd,
 * may be NULL), why filled. Reads in pieces of random sizes.
 */
static enum sl_env_reason open_as(const struct sl_env_self *me,
				  const struct blob *env, uint64_t max_bytes,
				  struct blob *out, struct sl_env_refusal *why)
{
	struct sl_env_reader *r;
	enum sl_env_reason res;
	size_t cap = 1 << 16, got;
	struct blob o = { malloc(cap), 0 };
	int fd = memfd_with(env->p, env->len);

	memset(why, 0, sizeof(*why));
	res = sl_env_reader_new(&r, fd, max_bytes, me, find_peer, &W, why);
	while (!res) {
		size_t want = 1 + check_below(70000);

		if (o.len + want > cap) {
			cap = 2 * (o.len + want);
			o.p = realloc(o.p, cap);
		}
		res = sl_env_reader_read(r, o.p + o.len, want, &got);
		if (res) {
			*why = *sl_env_reader_why(r);
			break;
		}
		if (!got)
			break;
		o.len += got;
	}
	sl_env_reader_free(r);
	close(fd);
	if (out)
		*out = o;
	else
		free(o.p);
	return res;
}

static enum sl_env_reason open_env(const struct blob *env,
				   struct sl_env_refusal *why)
{
	return open_as(&W.recipient.self, env, 0, NULL, why);
}

#define CHECK_REASON(got, want, why) ({ \
	enum sl_env_reason got_ = (got); \
	CHECKF(got_ == (want), "reason %s, want %s (%s)", \
	       sl_env_reason_name(got_), sl_env_reason_name(want), \
	       (why).detail); \
})

static uint8_t *pattern(size_t len)
{
	uint8_t *p = malloc(len + 1);

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + 3);
	return p;
}

/* ---- Noise_Xpsk1: the Cacophony vector ---------------------------------- */

/*
 * From haskell-cryptography/cacophony, vectors/cacophony.txt (public
 * domain, commit 8ee9d41), "Noise_Xpsk1_25519_ChaChaPoly_SHA256". One-way:
 * every transport message goes from the initiator with c1.
 */
static const char CACO_PROLOGUE[] = "4a6f686e2047616c74";
static const char CACO_PSK[] =
	"54686973206973206d7920417573747269616e20706572737065637469766521";
static const char CACO_INIT_STATIC[] =
	"e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1";
static const char CACO_INIT_EPHEMERAL[] =
	"893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a";
static const char CACO_RESP_STATIC[] =
	"4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893";
static const char CACO_HASH[] =
	"15bd72b990b7f9a62c0cbe779a6199d51d837541335a26d61d86722fd1048ec9";
static const struct {
	const char *payload, *ciphertext;
} CACO_MSGS[] = {
	{ "4c756477696720766f6e204d69736573",
	  "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944"
	  "5676f15674695c5b64ba4f61d3e86d0e2df7608be4640afcf621cdb220af9c3b"
	  "3964590763f861e17b4d38a23447d062bd7db5311f4de140effa4c21a603a314"
	  "aa4d455da8c22f7a9978901d47ff9164" },
	{ "4d757272617920526f746862617264",
	  "4e3db61d1fb3600be0cb26143eee053670c1d2e1378227e0415795b3a9a22b" },
	{ "462e20412e20486179656b",
	  "bb29759af4a7ebab215e0be4663fbfcdf81b1cf0fd939807b30730" },
	{ "4361726c204d656e676572",
	  "62e0aa5ed8d61b34af3f4f798d6f73051b38f2a7f2cf43ce62ef73" },
	{ "4a65616e2d426170746973746520536179",
	  "1cf95e5b86ac334ad831f9c74c7bb140fb4eaa1346c772262512325605f0dbb480" },
	{ "457567656e2042f6686d20766f6e2042617765726b",
	  "3febe9fec595b1974c674d49631d4b1658310109f8718cb2aa73ec4fe26c1e7741"
	  "9f5d43d4" },
};

TEST(xpsk1_cacophony)
{
	uint8_t prologue[16], psk[32], s[32], e[32], r[32], r_pub[32], s_pub[32];
	uint8_t payload[64], msg[256], want[256], got[64], rs[32], okm[64];
	struct sl_noise_symmetric *ss = sl_secure_alloc(sizeof(*ss));
	struct sl_noise_symmetric *rx = sl_secure_alloc(sizeof(*rx));
	size_t pl, pro, ml;

	pro = unhex(prologue, sizeof(prologue), CACO_PROLOGUE);
	unhex(psk, 32, CACO_PSK);
	unhex(s, 32, CACO_INIT_STATIC);
	unhex(e, 32, CACO_INIT_EPHEMERAL);
	unhex(r, 32, CACO_RESP_STATIC);
	CHECK(!sl_x25519_public(r_pub, r));
	CHECK(!sl_x25519_public(s_pub, s));
	pl = unhex(payload, sizeof(payload), CACO_MSGS[0].payload);
	ml = unhex(want, sizeof(want), CACO_MSGS[0].ciphertext);
	CHECK_EQ(ml, 32 + (32 + 16) + pl + 16);	/* e, s, payload */

	/* The sender's message, byte for byte, and the handshake hash. */
	CHECK(!sl_xpsk1_write(ss, prologue, pro, s, r_pub, psk, e, payload,
			      pl, msg));
	CHECK_MEM(msg, want, ml);
	CHECK_HEX(ss->h, 32, CACO_HASH);

	/* The recipient reads it in its two steps. */
	CHECK(!sl_xpsk1_read_s(rx, prologue, pro, r, r_pub, want, rs));
	CHECK_MEM(rs, s_pub, 32);
	CHECK(!sl_xpsk1_read_rest(rx, r, rs, psk, want, ml, got));
	CHECK_MEM(got, payload, pl);
	CHECK_MEM(rx->h, ss->h, 32);
	CHECK_MEM(rx->ck, ss->ck, 32);

	/* Transport messages under Split()'s c1. */
	CHECK(!sl_hkdf(okm, 64, ss->ck, 32, NULL, 0, NULL, 0));
	for (size_t i = 1; i < sizeof(CACO_MSGS) / sizeof(CACO_MSGS[0]); i++) {
		pl = unhex(payload, sizeof(payload), CACO_MSGS[i].payload);
		ml = unhex(want, sizeof(want), CACO_MSGS[i].ciphertext);
		CHECK(!sl_noise_seal(okm, i - 1, NULL, 0, payload, pl, msg));
		CHECKF(!memcmp(msg, want, ml), "transport message %zu", i);
	}

	/* A wrong PSK or static key fails where it should. */
	psk[0] ^= 1;
	ml = unhex(want, sizeof(want), CACO_MSGS[0].ciphertext);
	CHECK(!sl_xpsk1_read_s(rx, prologue, pro, r, r_pub, want, rs));
	CHECK_EQ(sl_xpsk1_read_rest(rx, r, rs, psk, want, ml, got), -EBADMSG);
	r[5] ^= 1;
	CHECK_EQ(sl_xpsk1_read_s(rx, prologue, pro, r, r_pub, want, rs),
		 -EBADMSG);
	sl_secure_free(ss, sizeof(*ss));
	sl_secure_free(rx, sizeof(*rx));
	sl_wipe(okm, sizeof(okm));
}

/* ---- known answers ---------------------------------------------------- */

TEST(header_known_answer)
{
	struct sl_env_header_in in = { .created = 1700000000 };
	uint8_t out[SL_ENV_HEADER_LEN], e[32], *key = NULL;
	struct sl_env_opened o;
	struct sl_env_refusal why;

	CHECK_EQ(SL_ENV_HEADER_LEN, 153);
	for (int i = 0; i < SL_ENV_ID_LEN; i++)
		in.id[i] = (uint8_t)(0x10 + i);
	label(e, "ephemeral");
	in.ephemeral = e;
	CHECK(!sl_env_header_seal(out, &key, &W.sender.self,
				  &W.recipient_at_sender, &in));
	CHECK_HEX(out, sizeof(out), V_HEADER);
	CHECK_HEX(key, 32, V_PAYLOAD_KEY);
	sl_secure_free(key, 32);

	CHECK_EQ(sl_env_header_open(&o, out, sizeof(out), &W.recipient.self,
				    find_peer, &W, &why), SL_ENV_OK);
	CHECK_HEX(o.key, 32, V_PAYLOAD_KEY);
	CHECK(!strcmp(o.sender, SENDER_ACCOUNT));
	CHECK(!strcmp(o.recipient, RECIPIENT_ACCOUNT));
	CHECK_MEM(o.sender_pub, W.sender.self.pub, 32);
	CHECK_MEM(o.id, in.id, SL_ENV_ID_LEN);
	CHECK_EQ(o.created, 1700000000);
	CHECK_EQ(o.content, SL_ENV_CONTENT_PAX_ZSTD);
	sl_env_opened_wipe(&o);
}

TEST(envelope_known_answer)
{
	uint8_t *payload = pattern(70000), sha[32];
	struct sl_env_refusal why;
	struct blob env, got;
	uint64_t chunks;

	env = seal_as(&W.sender.self, &W.recipient_at_sender, payload, 70000,
		      true, &chunks);
	CHECK_EQ(env.len, V_ENVELOPE_LEN);
	CHECK_EQ(env.len, sl_env_wire_size(70000));
	CHECK_EQ(chunks, 2);
	CHECK(!sl_sha256(sha, env.p, env.len));
	CHECK_HEX(sha, 32, V_ENVELOPE_SHA256);
	CHECK(!sl_sha256(sha, env.p + sl_env_chunk_offset(0),
			 SL_ENV_CHUNK_WIRE_LEN));
	CHECK_HEX(sha, 32, V_CHUNK0_SHA256);
	CHECK(!sl_sha256(sha, env.p + sl_env_chunk_offset(1),
			 env.len - sl_env_chunk_offset(1)));
	CHECK_HEX(sha, 32, V_CHUNK1_SHA256);
	CHECK_HEX(env.p + env.len - 16, 16, V_CHUNK1_TAG);

	CHECK_EQ(open_as(&W.recipient.self, &env, 0, &got, &why), SL_ENV_OK);
	if (CHECK_EQ(got.len, 70000))
		CHECK_MEM(got.p, payload, 70000);
	blob_free(&got);
	blob_free(&env);
	free(payload);
}

TEST(empty_payload_known_answer)
{
	struct sl_env_refusal why;
	struct blob env, got;
	uint64_t chunks;

	env = seal_as(&W.sender.self, &W.recipient_at_sender, NULL, 0, true,
		      &chunks);
	CHECK_EQ(chunks, 1);
	CHECK_EQ(env.len, SL_ENV_HEADER_LEN + 16);
	CHECK_HEX(env.p, SL_ENV_HEADER_LEN, V_HEADER);
	CHECK_HEX(env.p + SL_ENV_HEADER_LEN, 16, V_EMPTY_CHUNK);
	CHECK_EQ(open_as(&W.recipient.self, &env, 0, &got, &why), SL_ENV_OK);
	CHECK_EQ(got.len, 0);
	blob_free(&got);
	blob_free(&env);
}

/* ---- round trips and resume -------------------------------------------- */

TEST(round_trip_sizes)
{
	static const size_t sizes[] = {
		1, 2, 65535, 65536, 65537, 2 * 65536, 2 * 65536 + 1, 300001,
	};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		uint8_t *payload = malloc(n);
		struct sl_env_refusal why;
		struct blob env, got;
		uint64_t chunks;

		check_fill_random(payload, n);
		env = seal_payload(payload, n, &chunks);
		CHECKF(env.len == sl_env_wire_size(n), "size %zu", n);
		CHECKF(chunks == (n + 65535) / 65536, "size %zu: %llu chunks",
		       n, (unsigned long long)chunks);
		CHECKF(open_env(&env, &why) == SL_ENV_OK, "size %zu: %s", n,
		       why.detail);
		CHECK_EQ(open_as(&W.recipient.self, &env, 0, &got, &why),
			 SL_ENV_OK);
		CHECKF(got.len == n && !memcmp(got.p, payload, n), "size %zu",
		       n);
		blob_free(&got);
		blob_free(&env);
		free(payload);
	}
}

/*
 * The transfer protocol's resume: the recipient keeps the chunks it
 * verified; after a break it opens the header again (same payload key)
 * and goes on at chunk k, from its offset in the sender's file.
 */
TEST(resume_at_chunk_boundary)
{
	size_t n = 4 * 65536 + 1234;
	uint8_t *payload = malloc(n), *plain = malloc(n), *buf;
	struct sl_env_opened o;
	struct sl_env_refusal why;
	struct blob env, whole;
	uint64_t chunks;
	size_t off = 0;
	bool last = false;

	check_fill_random(payload, n);
	env = seal_payload(payload, n, &chunks);
	CHECK_EQ(chunks, 5);
	buf = malloc(SL_ENV_CHUNK_LEN);
	/* First call: chunks 0 and 1 arrive, then the line drops. */
	CHECK_EQ(sl_env_header_open(&o, env.p, SL_ENV_HEADER_LEN,
				    &W.recipient.self, find_peer, &W, &why),
		 SL_ENV_OK);
	for (uint64_t i = 0; i < 2; i++) {
		CHECK(!sl_env_chunk_open(plain + off, o.key, i,
					 env.p + sl_env_chunk_offset(i),
					 SL_ENV_CHUNK_WIRE_LEN, &last));
		CHECK(!last);
		off += SL_ENV_CHUNK_LEN;
	}
	sl_env_opened_wipe(&o);
	/* Second call: a new reader of the same header resumes at chunk 2;
	 * the chunk's index is its position, so a chunk offered at the
	 * wrong index fails. */
	CHECK_EQ(sl_env_header_open(&o, env.p, SL_ENV_HEADER_LEN,
				    &W.recipient.self, find_peer, &W, &why),
		 SL_ENV_OK);
	CHECK_EQ(sl_env_chunk_open(buf, o.key, 2,
				   env.p + sl_env_chunk_offset(3),
				   SL_ENV_CHUNK_WIRE_LEN, &last), -EBADMSG);
	for (uint64_t i = 2; i < chunks; i++) {
		size_t len = i + 1 < chunks ? SL_ENV_CHUNK_WIRE_LEN :
			     env.len - sl_env_chunk_offset(i);

		CHECK(!sl_env_chunk_open(plain + off, o.key, i,
					 env.p + sl_env_chunk_offset(i), len,
					 &last));
		CHECK_EQ(last, i + 1 == chunks);
		off += len - SL_ENV_TAG_LEN;
	}
	if (CHECK_EQ(off, n))
		CHECK_MEM(plain, payload, n);
	sl_env_opened_wipe(&o);

	/* The spool file put together from the two calls reads whole. */
	whole = blob_dup(&env);
	CHECK_EQ(open_env(&whole, &why), SL_ENV_OK);
	blob_free(&whole);
	blob_free(&env);
	free(buf);
	free(plain);
	free(payload);
}

TEST(chunk_api_refuses_misuse)
{
	uint8_t key[32] = { 1 }, in[SL_ENV_CHUNK_WIRE_LEN] = { 0 };
	uint8_t out[SL_ENV_CHUNK_WIRE_LEN];
	bool last;

	/* A middle chunk must be full; a chunk is at most 64 KiB; only
	 * chunk 0 may be empty. */
	CHECK_EQ(sl_env_chunk_seal(out, key, 0, false, in, 100), -EINVAL);
	CHECK_EQ(sl_env_chunk_seal(out, key, 0, true, in,
				   SL_ENV_CHUNK_LEN + 1), -EINVAL);
	CHECK_EQ(sl_env_chunk_seal(out, key, 3, true, in, 0), -EINVAL);
	CHECK(!sl_env_chunk_seal(out, key, 0, true, in, 0));
	CHECK_EQ(sl_env_chunk_open(in, key, 0, out, 15, &last), -EINVAL);
	CHECK_EQ(sl_env_chunk_open(in, key, 0, out,
				   SL_ENV_CHUNK_WIRE_LEN + 1, &last), -EINVAL);
	CHECK(!sl_env_chunk_open(in, key, 0, out, 16, &last) && last);
	/* The same empty chunk sealed at index 3 by hand is refused. */
	CHECK_EQ(sl_env_chunk_open(in, key, 3, out, 16, &last), -EBADMSG);
}

/* ---- a relay or a thief ------------------------------------------------ */

/* Which refusal a flipped bit at byte `at` of a 3-chunk envelope gets. */
static enum sl_env_reason expected_for_flip(size_t at, size_t len)
{
	if (at < SL_ENV_MAGIC_LEN)
		return SL_ENV_BAD_FORMAT;
	if (at == SL_ENV_MAGIC_LEN)
		return SL_ENV_BAD_VERSION;
	/* The id (prologue), e and the encrypted s: our key does not
	 * open it any more. */
	if (at < SL_ENV_CLEAR_LEN + 32 + 48)
		return SL_ENV_NOT_FOR_US;
	(void)len;
	return SL_ENV_DAMAGED;	/* inner header, any chunk */
}

TEST(every_header_bit_and_chunk_byte_flipped)
{
	size_t n = 2 * 65536 + 777;
	uint8_t *payload = malloc(n);
	struct sl_env_refusal why;
	struct blob env;
	unsigned int tried = 0;

	check_fill_random(payload, n);
	env = seal_payload(payload, n, NULL);
	for (size_t at = 0; at < env.len;) {
		for (int bit = 0; bit < 8; bit++) {
			enum sl_env_reason want = expected_for_flip(at, env.len);
			enum sl_env_reason got;

			env.p[at] ^= (uint8_t)(1 << bit);
			got = open_env(&env, &why);
			env.p[at] ^= (uint8_t)(1 << bit);
			tried++;
			if (!CHECKF(got == want,
				    "byte %zu bit %d: %s, want %s (%s)", at,
				    bit, sl_env_reason_name(got),
				    sl_env_reason_name(want), why.detail))
				goto out;
			if (at >= SL_ENV_HEADER_LEN)
				break;	/* one bit per chunk byte tried */
		}
		/* Every header byte; in the chunks their first and last
		 * bytes, the tags, and random ones. */
		if (at < SL_ENV_HEADER_LEN)
			at++;
		else
			at += 1 + check_below(1500);
	}
	for (uint64_t i = 0; i < 3; i++) {
		size_t first = sl_env_chunk_offset(i);
		size_t end = i < 2 ? first + SL_ENV_CHUNK_WIRE_LEN : env.len;
		size_t spots[] = { first, end - 17, end - 16, end - 1 };

		for (size_t k = 0; k < 4; k++) {
			env.p[spots[k]] ^= 0x80;
			CHECK_REASON(open_env(&env, &why), SL_ENV_DAMAGED, why);
			env.p[spots[k]] ^= 0x80;
		}
	}
	CHECK_EQ(open_env(&env, &why), SL_ENV_OK);
out:
	CHECKF(tried > 153 * 8, "%u flips tried", tried);
	blob_free(&env);
	free(payload);
}

TEST(truncated)
{
	size_t n = 3 * 65536 + 100;
	uint8_t *payload = malloc(n);
	struct sl_env_refusal why;
	struct blob env, cut;

	check_fill_random(payload, n);
	env = seal_payload(payload, n, NULL);
	/* At every chunk boundary: provably missing its last chunk. */
	for (uint64_t i = 0; i < 4; i++) {
		cut = blob_dup(&env);
		cut.len = sl_env_chunk_offset(i);
		CHECK_REASON(open_env(&cut, &why), SL_ENV_TRUNCATED, why);
		blob_free(&cut);
	}
	/* Inside the header; inside a chunk; the last chunk short by one. */
	static const size_t in_header[] = { 0, 3, 8, 100, 152 };

	for (size_t k = 0; k < 5; k++) {
		cut = blob_dup(&env);
		cut.len = in_header[k];
		CHECK_REASON(open_env(&cut, &why), SL_ENV_TRUNCATED, why);
		blob_free(&cut);
	}
	cut = blob_dup(&env);
	cut.len = sl_env_chunk_offset(1) + 5000;
	CHECK_REASON(open_env(&cut, &why), SL_ENV_DAMAGED, why);
	cut.len = env.len - 1;
	CHECK_REASON(open_env(&cut, &why), SL_ENV_DAMAGED, why);
	blob_free(&cut);
	blob_free(&env);
	free(payload);
}

TEST(reordered_and_extended)
{
	size_t n = 3 * 65536 + 100;
	uint8_t *payload = malloc(n);
	struct sl_env_refusal why;
	struct blob env, bad;

	check_fill_random(payload, n);
	env = seal_payload(payload, n, NULL);

	/* Chunks 0 and 1 swapped. */
	bad = blob_dup(&env);
	memcpy(bad.p + sl_env_chunk_offset(0), env.p + sl_env_chunk_offset(1),
	       SL_ENV_CHUNK_WIRE_LEN);
	memcpy(bad.p + sl_env_chunk_offset(1), env.p + sl_env_chunk_offset(0),
	       SL_ENV_CHUNK_WIRE_LEN);
	CHECK_REASON(open_env(&bad, &why), SL_ENV_DAMAGED, why);
	CHECK(strstr(why.detail, "chunk 0"));
	/* Chunk 1 repeated in place of chunk 2. */
	memcpy(bad.p, env.p, env.len);
	memcpy(bad.p + sl_env_chunk_offset(2), env.p + sl_env_chunk_offset(1),
	       SL_ENV_CHUNK_WIRE_LEN);
	CHECK_REASON(open_env(&bad, &why), SL_ENV_DAMAGED, why);
	blob_free(&bad);

	/* One byte more; the last chunk twice; a middle chunk appended.
	 * The reader takes a chunk's length at a time, so bytes after a
	 * short last chunk become part of it and it fails (DAMAGED). */
	bad.p = malloc(env.len + SL_ENV_CHUNK_WIRE_LEN);
	memcpy(bad.p, env.p, env.len);
	bad.p[env.len] = 0;
	bad.len = env.len + 1;
	CHECK_REASON(open_env(&bad, &why), SL_ENV_DAMAGED, why);
	memcpy(bad.p + env.len, env.p + sl_env_chunk_offset(3),
	       env.len - sl_env_chunk_offset(3));
	bad.len = env.len + (env.len - sl_env_chunk_offset(3));
	CHECK_REASON(open_env(&bad, &why), SL_ENV_DAMAGED, why);
	memcpy(bad.p + env.len, env.p + sl_env_chunk_offset(0),
	       SL_ENV_CHUNK_WIRE_LEN);
	bad.len = env.len + SL_ENV_CHUNK_WIRE_LEN;
	CHECK_REASON(open_env(&bad, &why), SL_ENV_DAMAGED, why);
	/* Without the last chunk, with a middle chunk as its end: no
	 * middle chunk opens as a last one. */
	bad.len = sl_env_chunk_offset(3);
	CHECK_REASON(open_env(&bad, &why), SL_ENV_TRUNCATED, why);
	blob_free(&bad);
	blob_free(&env);

	/* After a full last chunk, anything more is TRAILING. */
	env = seal_payload(payload, 2 * 65536, NULL);
	bad.p = malloc(env.len + SL_ENV_CHUNK_WIRE_LEN);
	memcpy(bad.p, env.p, env.len);
	bad.p[env.len] = 'x';
	bad.len = env.len + 1;
	CHECK_REASON(open_env(&bad, &why), SL_ENV_TRAILING, why);
	memcpy(bad.p + env.len, env.p + sl_env_chunk_offset(1),
	       SL_ENV_CHUNK_WIRE_LEN);
	bad.len = env.len + SL_ENV_CHUNK_WIRE_LEN;
	CHECK_REASON(open_env(&bad, &why), SL_ENV_TRAILING, why);
	bad.len = env.len;
	CHECK_EQ(open_env(&bad, &why), SL_ENV_OK);
	blob_free(&bad);
	blob_free(&env);
	free(payload);
}

/* Two envelopes with the same sender, recipient, id, time and length:
 * nothing of one fits the other (each has its own ephemeral key). */
TEST(chunks_and_headers_of_another_envelope)
{
	size_t n = 2 * 65536 + 10;
	uint8_t *payload = malloc(n);
	struct sl_env_refusal why;
	struct blob a, b, mix;

	check_fill_random(payload, n);
	a = seal_payload(payload, n, NULL);
	b = seal_payload(payload, n, NULL);
	CHECK_EQ(a.len, b.len);
	CHECK(memcmp(a.p, b.p, SL_ENV_HEADER_LEN));

	mix = blob_dup(&a);
	memcpy(mix.p + sl_env_chunk_offset(1), b.p + sl_env_chunk_offset(1),
	       SL_ENV_CHUNK_WIRE_LEN);
	CHECK_REASON(open_env(&mix, &why), SL_ENV_DAMAGED, why);
	CHECK(strstr(why.detail, "chunk 1"));
	memcpy(mix.p, b.p, SL_ENV_HEADER_LEN);		/* b's header, a's rest */
	memcpy(mix.p + sl_env_chunk_offset(1), a.p + sl_env_chunk_offset(1),
	       SL_ENV_CHUNK_WIRE_LEN);
	CHECK_REASON(open_env(&mix, &why), SL_ENV_DAMAGED, why);
	CHECK(strstr(why.detail, "chunk 0"));
	memcpy(mix.p, a.p, a.len);
	memcpy(mix.p + sl_env_chunk_offset(2), b.p + sl_env_chunk_offset(2),
	       a.len - sl_env_chunk_offset(2));	/* b's last chunk */
	CHECK_REASON(open_env(&mix, &why), SL_ENV_DAMAGED, why);
	blob_free(&mix);
	blob_free(&a);
	blob_free(&b);
	free(payload);
}

/* ---- addressed to the wrong installation, from the wrong one ----------- */

TEST(sealed_for_another_installation)
{
	struct sl_env_peer stranger = W.recipient_at_sender;
	struct sl_env_refusal why;
	uint8_t data[100] = { 1 };
	struct blob env;

	memcpy(stranger.pub, W.stranger.self.pub, 32);
	snprintf(stranger.account, 13, "%s", STRANGER_ACCOUNT);
	env = seal_as(&W.sender.self, &stranger, data, sizeof(data), false,
		      NULL);
	W.find_calls = 0;
	CHECK_REASON(open_env(&env, &why), SL_ENV_NOT_FOR_US, why);
	/* It never got as far as looking up a sender. */
	CHECK_EQ(W.find_calls, 0);
	/* The one it was for opens it (its look-up knows the sender). */
	CHECK_EQ(open_as(&W.stranger.self, &env, 0, NULL, &why), SL_ENV_OK);
	blob_free(&env);
}

TEST(addressed_to_another_account)
{
	struct sl_env_peer to = W.recipient_at_sender;
	struct sl_env_refusal why;
	uint8_t data[100] = { 1 };
	struct blob env;

	/* Our key, another account inside: a sender that confused two
	 * records of its key store. */
	snprintf(to.account, 13, "%s", "000000000009");
	env = seal_as(&W.sender.self, &to, data, sizeof(data), false, NULL);
	CHECK_REASON(open_env(&env, &why), SL_ENV_WRONG_RECIPIENT, why);
	CHECK(strstr(why.detail, "000000000009"));
	blob_free(&env);
}

TEST(from_unknown_revoked_or_lying_sender)
{
	struct sl_env_self liar = W.sender.self;
	struct sl_env_peer to = W.recipient_at_sender;
	struct sl_env_refusal why;
	uint8_t data[100] = { 1 }, *other_ltk = sl_secure_alloc(32);
	struct blob env;

	/* Someone the recipient never paired with. */
	env = seal_as(&W.stranger.self, &to, data, sizeof(data), false, NULL);
	CHECK_REASON(open_env(&env, &why), SL_ENV_UNKNOWN_SENDER, why);
	blob_free(&env);

	/* The paired sender, revoked since. */
	env = seal_payload(data, sizeof(data), NULL);
	W.sender_allowed = false;
	CHECK_REASON(open_env(&env, &why), SL_ENV_NOT_AUTHORISED, why);
	W.sender_allowed = true;
	CHECK_EQ(open_env(&env, &why), SL_ENV_OK);
	blob_free(&env);

	/* The sender's key with another LTK (a re-pairing only one side
	 * stored, or a thief of the static key alone). */
	label(other_ltk, "another ltk");
	to.ltk = other_ltk;
	env = seal_as(&W.sender.self, &to, data, sizeof(data), false, NULL);
	CHECK_REASON(open_env(&env, &why), SL_ENV_DAMAGED, why);
	blob_free(&env);

	/* The paired key claiming another account inside. */
	snprintf(liar.account, 13, "%s", "000000000007");
	env = seal_as(&liar, &W.recipient_at_sender, data, sizeof(data),
		      false, NULL);
	CHECK_REASON(open_env(&env, &why), SL_ENV_UNKNOWN_SENDER, why);
	blob_free(&env);
	sl_secure_free(other_ltk, 32);
}

TEST(not_an_envelope_or_other_version)
{
	uint8_t data[10] = { 0 };
	struct sl_env_refusal why;
	struct blob env = seal_payload(data, sizeof(data), NULL), bad;

	bad = blob_dup(&env);
	memcpy(bad.p, "GIF89a", 6);
	CHECK_REASON(open_env(&bad, &why), SL_ENV_BAD_FORMAT, why);
	memcpy(bad.p, env.p, env.len);
	bad.p[SL_ENV_MAGIC_LEN] = 2;
	CHECK_REASON(open_env(&bad, &why), SL_ENV_BAD_VERSION, why);
	CHECK(strstr(why.detail, "version 2"));
	blob_free(&bad);
	blob_free(&env);
}

TEST(size_limit_and_sticky_refusal)
{
	size_t n = 3 * 65536;
	uint8_t *payload = malloc(n), buf[100];
	struct sl_env_refusal why;
	struct sl_env_reader *r;
	struct blob env;
	size_t got;
	int fd;

	check_fill_random(payload, n);
	env = seal_payload(payload, n, NULL);
	CHECK_REASON(open_as(&W.recipient.self, &env, env.len - 1, NULL, &why),
		     SL_ENV_TOO_BIG, why);
	CHECK_EQ(open_as(&W.recipient.self, &env, env.len, NULL, &why),
		 SL_ENV_OK);
	CHECK_REASON(open_as(&W.recipient.self, &env, 100, NULL, &why),
		     SL_ENV_TOO_BIG, why);

	/* After a refusal the reader gives nothing more. */
	env.p[sl_env_chunk_offset(1) + 9] ^= 1;
	fd = memfd_with(env.p, env.len);
	CHECK_EQ(sl_env_reader_new(&r, fd, 0, &W.recipient.self, find_peer,
				   &W, &why), SL_ENV_OK);
	for (int i = 0; i < 2000; i++)
		if (sl_env_reader_read(r, buf, sizeof(buf), &got))
			break;
	CHECK_EQ(sl_env_reader_read(r, buf, sizeof(buf), &got),
		 SL_ENV_DAMAGED);
	CHECK_EQ(got, 0);
	CHECK_EQ(sl_env_reader_why(r)->reason, SL_ENV_DAMAGED);
	sl_env_reader_free(r);
	close(fd);
	blob_free(&env);
	free(payload);
}

TEST(reason_names_and_texts)
{
	for (int r = 0; r < SL_ENV_REASON_COUNT; r++) {
		CHECKF(strcmp(sl_env_reason_name(r), "?"), "reason %d", r);
		CHECKF(strlen(sl_env_reason_text(r)) > 5, "reason %d", r);
	}
	CHECK(!strcmp(sl_env_reason_name(SL_ENV_REASON_COUNT), "?"));
	CHECK(!strcmp(sl_env_reason_name(SL_ENV_UNSAFE_PATH), "UNSAFE_PATH"));
	CHECK(sl_env_reason_retryable(SL_ENV_DAMAGED));
	CHECK(sl_env_reason_retryable(SL_ENV_NO_SPACE));
	CHECK(!sl_env_reason_retryable(SL_ENV_UNSAFE_PATH));
	CHECK(!sl_env_reason_retryable(SL_ENV_REPLAY));
}

TEST(secure_memory_returned)
{
	check_secmem_returned();
}

int main(int argc, char **argv)
{
	check_init(argc, argv);
	init_or_die(0);
	secmem_measure_baseline();
	world_init(&W);
	RUN(xpsk1_cacophony);
	RUN(header_known_answer);
	RUN(envelope_known_answer);
	RUN(empty_payload_known_answer);
	RUN(round_trip_sizes);
	RUN(resume_at_chunk_boundary);
	RUN(chunk_api_refuses_misuse);
	RUN(every_header_bit_and_chunk_byte_flipped);
	RUN(truncated);
	RUN(reordered_and_extended);
	RUN(chunks_and_headers_of_another_envelope);
	RUN(sealed_for_another_installation);
	RUN(addressed_to_another_account);
	RUN(from_unknown_revoked_or_lying_sender);
	RUN(not_an_envelope_or_other_version);
	RUN(size_limit_and_sticky_refusal);
	RUN(reason_names_and_texts);
	world_free(&W);
	RUN(secure_memory_returned);
	return check_summary();
}
