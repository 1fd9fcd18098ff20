// SPDX-License-Identifier: GPL-2.0
/*
 * COBS encoding and decoding (kmod/frame.c).
 *
 * Buffers are heap-allocated at exactly the size the API promises, so
 * AddressSanitizer catches any write or read past sealine_cobs_max(len).
 */
#include "check.h"
#include "ref.h"

#define MAX_LEN	3000

/* Encodes in (len bytes) and checks the output; returns a malloc'd copy of
 * the encoding (exact size) and its length in *enc_len, or NULL.
 */
static uint8_t *encode_checked(const uint8_t *in, size_t len, size_t *enc_len,
			       const char *pattern)
{
	size_t max = sealine_cobs_max(len), n, i;
	uint8_t *out = malloc(max);

	if (!out)
		abort();
	n = sealine_cobs_encode(in, len, out);
	*enc_len = n;
	if (!CHECKF(n >= 1 && n <= max,
		    "%s len %zu: encoded %zu bytes, max %zu", pattern, len, n,
		    max)) {
		free(out);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (!CHECKF(out[i] != 0, "%s len %zu: 0x00 at %zu of %zu",
			    pattern, len, i, n)) {
			free(out);
			return NULL;
		}
	}
	return out;
}

/* Full round trip of one buffer: encode, decode in place, and the
 * reference decoder must agree. Returns false on failure.
 */
static bool roundtrip(const uint8_t *in, size_t len, const char *pattern)
{
	size_t n;
	uint8_t *enc = encode_checked(in, len, &n, pattern);
	uint8_t *ref;
	long got, want;
	bool ok;

	if (!enc)
		return false;
	ref = malloc(n);
	if (!ref)
		abort();
	want = ref_cobs_decode(enc, n, ref);
	got = sealine_cobs_decode(enc, n);
	ok = CHECKF(got == (long)len, "%s len %zu: decoded %ld bytes", pattern,
		    len, got) &&
	     CHECKF(!memcmp(enc, in, len), "%s len %zu: decoded bytes differ",
		    pattern, len) &&
	     CHECKF(want == (long)len && !memcmp(ref, in, len),
		    "%s len %zu: reference decoder disagrees (%ld)", pattern,
		    len, want);
	free(ref);
	free(enc);
	return ok;
}

typedef void (*fill_fn)(uint8_t *p, size_t n);

static void fill_random(uint8_t *p, size_t n)
{
	check_fill_random(p, n);
}

static void fill_many_zeros(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = check_below(2) ? 0 : (uint8_t)check_rand();
}

static void fill_sparse_zeros(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = check_below(300) ? (uint8_t)(1 + check_below(255)) : 0;
}

static void fill_no_zeros(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(1 + check_below(255));
}

static void fill_all_ff(uint8_t *p, size_t n)
{
	memset(p, 0xff, n);
}

static void fill_all_zero(uint8_t *p, size_t n)
{
	memset(p, 0, n);
}

/* Runs of exactly r nonzero bytes separated by single zeros. */
static void fill_runs(uint8_t *p, size_t n, size_t r)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (i % (r + 1) == r) ? 0 : (uint8_t)(1 + check_below(255));
}

static void fill_runs_253(uint8_t *p, size_t n) { fill_runs(p, n, 253); }
static void fill_runs_254(uint8_t *p, size_t n) { fill_runs(p, n, 254); }
static void fill_runs_255(uint8_t *p, size_t n) { fill_runs(p, n, 255); }

/* Same, but starting with a zero: the runs sit at other offsets. */
static void fill_zero_then_runs_254(uint8_t *p, size_t n)
{
	if (n) {
		p[0] = 0;
		fill_runs(p + 1, n - 1, 254);
	}
}

static const struct {
	const char *name;
	fill_fn fill;
} patterns[] = {
	{ "random", fill_random },
	{ "many-zeros", fill_many_zeros },
	{ "sparse-zeros", fill_sparse_zeros },
	{ "no-zeros", fill_no_zeros },
	{ "all-ff", fill_all_ff },
	{ "all-zero", fill_all_zero },
	{ "runs-253", fill_runs_253 },
	{ "runs-254", fill_runs_254 },
	{ "runs-255", fill_runs_255 },
	{ "zero-runs-254", fill_zero_then_runs_254 },
};

TEST(cobs_roundtrip_every_length)
{
	size_t pat, len;

	for (pat = 0; pat < sizeof(patterns) / sizeof(patterns[0]); pat++) {
		for (len = 0; len <= MAX_LEN; len++) {
			uint8_t *buf = malloc(len ? len : 1);

			if (!buf)
				abort();
			patterns[pat].fill(buf, len);
			if (!roundtrip(buf, len, patterns[pat].name)) {
				free(buf);
				return;
			}
			free(buf);
		}
	}
}

/*
 * The transmit path encodes in place (kmod/send.c): the frame sits
 * sealine_cobs_lead(len) bytes into the buffer the encoding starts at.
 * At that lead, and no more, the result must equal an encoding into a
 * separate buffer, for every pattern and length, and stay within
 * sealine_cobs_max(len) (the buffer is exactly that big, for ASan).
 */
TEST(cobs_encode_in_place)
{
	size_t pat, len, lead, n, m;

	for (pat = 0; pat < sizeof(patterns) / sizeof(patterns[0]); pat++) {
		for (len = 0; len <= MAX_LEN; len++) {
			uint8_t *in = malloc(len ? len : 1);
			uint8_t *apart = malloc(sealine_cobs_max(len));
			uint8_t *buf;

			lead = sealine_cobs_lead(len);
			buf = malloc(lead + len);
			if (!in || !apart || !buf)
				abort();
			CHECK_EQ(lead + len, sealine_cobs_max(len));
			patterns[pat].fill(in, len);
			n = sealine_cobs_encode(in, len, apart);
			memcpy(buf + lead, in, len);
			m = sealine_cobs_encode(buf + lead, len, buf);
			if (!CHECKF(m == n && !memcmp(buf, apart, n),
				    "%s len %zu: in place gave %zu bytes, apart %zu%s",
				    patterns[pat].name, len, m, n,
				    m == n ? " (different bytes)" : "")) {
				free(in);
				free(apart);
				free(buf);
				return;
			}
			free(in);
			free(apart);
			free(buf);
		}
	}
}

/* A nonzero run of exactly 253, 254 or 255 bytes, alone or with a zero
 * before and/or after it, and two adjacent maximal blocks.
 */
TEST(cobs_run_boundaries)
{
	static const size_t runs[] = { 1, 252, 253, 254, 255, 256, 507, 508,
				       509, 762 };
	uint8_t buf[800];
	size_t r, before, after;

	for (r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
		for (before = 0; before <= 2; before++) {
			for (after = 0; after <= 2; after++) {
				size_t len = before + runs[r] + after;

				memset(buf, 0, sizeof(buf));
				memset(buf + before, 0x5a, runs[r]);
				if (!roundtrip(buf, len, "run"))
					return;
			}
		}
	}
}

/* Known answers from the COBS paper and common practice. */
TEST(cobs_known_vectors)
{
	static const struct {
		uint8_t in[8];
		size_t in_len;
		uint8_t out[8];
		size_t out_len;
	} v[] = {
		{ { 0 }, 0, { 0x01 }, 1 },
		{ { 0x00 }, 1, { 0x01, 0x01 }, 2 },
		{ { 0x00, 0x00 }, 2, { 0x01, 0x01, 0x01 }, 3 },
		{ { 0x11, 0x22, 0x00, 0x33 }, 4,
		  { 0x03, 0x11, 0x22, 0x02, 0x33 }, 5 },
		{ { 0x11, 0x22, 0x33, 0x44 }, 4,
		  { 0x05, 0x11, 0x22, 0x33, 0x44 }, 5 },
		{ { 0x11, 0x00, 0x00, 0x00 }, 4,
		  { 0x02, 0x11, 0x01, 0x01, 0x01 }, 5 },
		{ { 0x00, 0x11, 0x00 }, 3, { 0x01, 0x02, 0x11, 0x01 }, 4 },
	};
	uint8_t out[16], in[256];
	size_t i, n;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		n = sealine_cobs_encode(v[i].in, v[i].in_len, out);
		CHECKF(n == v[i].out_len && !memcmp(out, v[i].out, n),
		       "vector %zu: encoding differs", i);
		CHECKF(sealine_cobs_decode(out, n) == (long)v[i].in_len &&
		       !memcmp(out, v[i].in, v[i].in_len),
		       "vector %zu: decoding differs", i);
	}

	/* 254 nonzero bytes fill one maximal block. Both the form with a
	 * trailing empty block (01) and the form without decode to the same.
	 */
	for (i = 0; i < 254; i++)
		in[i] = (uint8_t)(i + 1);
	{
		uint8_t enc[REF_COBS_MAX(254)], alt[255];

		n = sealine_cobs_encode(in, 254, enc);
		CHECK(n == 255 || n == 256);
		CHECK_EQ(enc[0], 0xff);
		CHECK_MEM(enc + 1, in, 254);
		if (n == 256)
			CHECK_EQ(enc[255], 0x01);
		alt[0] = 0xff;
		memcpy(alt + 1, in, 254);
		CHECK_EQ(sealine_cobs_decode(alt, 255), 254);
		CHECK_MEM(alt, in, 254);
	}
}

/* All-nonzero input is the worst case for COBS: even then the encoding
 * stays within sealine_cobs_max(), and the largest frame so encoded fits
 * the decoder buffer with its delimiter (SEALINE_FRAME_MAX_WIRE).
 */
TEST(cobs_max_bound)
{
	size_t len, worst = 0;
	uint8_t *in = malloc(SEALINE_FRAME_MAX_RAW);
	uint8_t *out = malloc(sealine_cobs_max(SEALINE_FRAME_MAX_RAW));

	if (!in || !out)
		abort();
	memset(in, 0x77, SEALINE_FRAME_MAX_RAW);
	for (len = 0; len <= SEALINE_FRAME_MAX_RAW; len++) {
		size_t n = sealine_cobs_encode(in, len, out);

		CHECKF(n <= sealine_cobs_max(len), "len %zu: %zu", len, n);
		if (len == SEALINE_FRAME_MAX_RAW)
			worst = n;
	}
	CHECK(worst + 1 <= SEALINE_FRAME_MAX_WIRE);
	CHECK(sealine_cobs_max(SEALINE_FRAME_MAX_RAW) + 1 <=
	      SEALINE_FRAME_MAX_WIRE);
	CHECK(SEALINE_FRAME_MAX_WIRE <=
	      sizeof(((struct sealine_decoder *)0)->buf));
	free(in);
	free(out);
}

TEST(cobs_decode_rejects_invalid)
{
	static const struct {
		uint8_t b[8];
		size_t len;
	} bad[] = {
		{ { 0x00 }, 1 },			/* zero code */
		{ { 0x02 }, 1 },			/* run past the end */
		{ { 0x05, 0x11, 0x22 }, 3 },		/* run past the end */
		{ { 0x03, 0x11, 0x00 }, 3 },		/* zero inside a run */
		{ { 0x02, 0x11, 0x00 }, 3 },		/* zero as a code */
		{ { 0x01, 0x01, 0x00 }, 3 },		/* zero at the end */
		{ { 0x02, 0x11, 0x03, 0x22 }, 4 },	/* second run too long */
		{ { 0xff, 0x11, 0x22 }, 3 },		/* 0xff needs 254 bytes */
	};
	uint8_t buf[8];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(buf, bad[i].b, bad[i].len);
		CHECKF(sealine_cobs_decode(buf, bad[i].len) == -1,
		       "invalid block %zu accepted", i);
	}
	CHECK_EQ(sealine_cobs_decode(buf, 0), 0);
}

/* A 0x00 written anywhere into a valid encoding makes it invalid, and a
 * code byte raised past the end makes it invalid.
 */
TEST(cobs_decode_rejects_corrupted)
{
	uint8_t in[600], enc[REF_COBS_MAX(600)], tmp[REF_COBS_MAX(600)];
	size_t iter, n, pos;

	for (iter = 0; iter < 50; iter++) {
		size_t len = check_below(sizeof(in) + 1);

		fill_sparse_zeros(in, len);
		n = sealine_cobs_encode(in, len, enc);
		for (pos = 0; pos < n; pos++) {
			memcpy(tmp, enc, n);
			tmp[pos] = 0;
			if (!CHECKF(sealine_cobs_decode(tmp, n) == -1,
				    "len %zu: zero at %zu accepted", len, pos))
				return;
		}
		/* The last code byte: make it point one past the end. */
		for (pos = 0; pos < n; pos += enc[pos]) {
			if (pos + enc[pos] == n && enc[pos] < 0xff) {
				memcpy(tmp, enc, n);
				tmp[pos]++;
				CHECKF(sealine_cobs_decode(tmp, n) == -1,
				       "len %zu: overlong last run accepted",
				       len);
			}
			if (!enc[pos])
				break;
		}
	}
}

/* Arbitrary blocks: the real decoder agrees with the reference, and every
 * valid block's decoding re-encodes and decodes to itself.
 */
TEST(cobs_decode_random_vs_reference)
{
	uint8_t blk[700] = { 0 }, copy[700], ref[700];
	uint8_t enc[REF_COBS_MAX(700)];
	size_t iter, valid = 0;

	for (iter = 0; iter < 200000; iter++) {
		size_t len = check_below(40), i;
		long got, want;

		if (check_below(16) == 0)
			len = check_below(sizeof(blk) + 1);
		/* Mostly small codes so that many blocks are valid. */
		for (i = 0; i < len; i++) {
			switch (check_below(4)) {
			case 0: blk[i] = (uint8_t)check_rand(); break;
			case 1: blk[i] = (uint8_t)(1 + check_below(4)); break;
			default: blk[i] = (uint8_t)(1 + check_below(255));
			}
		}
		memcpy(copy, blk, len);
		want = ref_cobs_decode(blk, len, ref);
		got = sealine_cobs_decode(copy, len);
		if (!CHECKF(got == want, "len %zu: got %ld want %ld", len, got,
			    want))
			return;
		if (got < 0)
			continue;
		valid++;
		CHECK_MEM(copy, ref, (size_t)got);
		CHECK((size_t)got < len || len == 0);
		{
			size_t n = sealine_cobs_encode(copy, (size_t)got, enc);

			CHECK(n <= len + 1);
			CHECK_EQ(sealine_cobs_decode(enc, n), got);
			CHECK_MEM(enc, ref, (size_t)got);
		}
		if (check_failing())
			return;
	}
	CHECKF(valid > 2000, "only %zu valid blocks generated", valid);
}

int main(int argc, char **argv)
{
	check_init(argc, argv);
	RUN(cobs_known_vectors);
	RUN(cobs_roundtrip_every_length);
	RUN(cobs_encode_in_place);
	RUN(cobs_run_boundaries);
	RUN(cobs_max_bound);
	RUN(cobs_decode_rejects_invalid);
	RUN(cobs_decode_rejects_corrupted);
	RUN(cobs_decode_random_vs_reference);
	return check_summary();
}
