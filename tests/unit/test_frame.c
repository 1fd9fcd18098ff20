// SPDX-License-Identifier: GPL-2.0
/*
 * Frame headers, counters, nonces, the control-frame CRC and
 * sealine_frame_parse (kmod/frame.c). Frames under test are heap buffers
 * of exactly their length, so AddressSanitizer catches any read past it.
 */
#include "check.h"
#include "ref.h"

static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);

	if (!q)
		abort();
	memcpy(q, p, n);
	return q;
}

/* Parses a copy of exactly len bytes. */
static int parse_exact(const uint8_t *raw, size_t len, struct sealine_frame *f,
		       uint8_t **copy)
{
	*copy = dup_exact(raw, len);
	return sealine_frame_parse(*copy, len, f);
}

static bool parse_rejects(const uint8_t *raw, size_t len)
{
	struct sealine_frame f;
	uint8_t *copy;
	int rc = parse_exact(raw, len, &f, &copy);

	free(copy);
	return rc != 0;
}

TEST(crc32_known_answers)
{
	static const char fox[] = "The quick brown fox jumps over the lazy dog";

	CHECK_EQ(sealine_crc32((const u8 *)"123456789", 9), 0xCBF43926u);
	CHECK_EQ(sealine_crc32((const u8 *)"", 0), 0x00000000u);
	CHECK_EQ(sealine_crc32((const u8 *)"a", 1), 0xE8B7BE43u);
	CHECK_EQ(sealine_crc32((const u8 *)fox, sizeof(fox) - 1), 0x414FA339u);
	CHECK_EQ(ref_crc32((const u8 *)"123456789", 9), 0xCBF43926u);
}

TEST(crc32_vs_reference)
{
	static uint8_t buf[4096];
	size_t len;

	check_fill_random(buf, sizeof(buf));
	for (len = 0; len <= sizeof(buf); len += 1 + len / 16)
		CHECKF(sealine_crc32(buf, len) == ref_crc32(buf, len),
		       "len %zu", len);
}

TEST(header_packing)
{
	unsigned int type, epoch;

	CHECK_EQ(sealine_frame_header(SEALINE_FRAME_DATA, 0), 0x40);
	CHECK_EQ(sealine_frame_header(SEALINE_FRAME_DATA, 5), 0x45);
	CHECK_EQ(sealine_frame_header(SEALINE_FRAME_CONTROL, 0), 0x50);
	CHECK_EQ(sealine_frame_header(SEALINE_FRAME_KEEPALIVE, 0xf), 0x6f);
	/* Only the low 4 bits of the epoch travel. */
	CHECK_EQ(sealine_frame_header(SEALINE_FRAME_DATA, 0x12345671), 0x41);

	for (type = 0; type < 3; type++) {
		for (epoch = 0; epoch < 64; epoch++) {
			u8 h = sealine_frame_header(type, epoch);

			CHECK_EQ(h >> 6, SEALINE_WIRE_VERSION);
			CHECK_EQ((h >> 4) & 3, type);
			CHECK_EQ(h & 0xf, epoch & SEALINE_EPOCH_WIRE_MASK);
		}
	}
}

TEST(counter32_big_endian)
{
	uint8_t *p = malloc(4);

	if (!p)
		abort();
	sealine_put_counter32(p, 0x1122334455667788ULL);
	CHECK_MEM(p, "\x55\x66\x77\x88", 4);
	sealine_put_counter32(p, 0x01020304ULL);
	CHECK_MEM(p, "\x01\x02\x03\x04", 4);
	sealine_put_counter32(p, 0);
	CHECK_MEM(p, "\x00\x00\x00\x00", 4);
	sealine_put_counter32(p, 0xffffffffULL);
	CHECK_MEM(p, "\xff\xff\xff\xff", 4);
	free(p);
}

TEST(nonce_layout)
{
	uint8_t *n = malloc(SEALINE_NONCE_LEN);
	uint64_t c;
	int iter, i;

	if (!n)
		abort();
	CHECK_EQ(SEALINE_NONCE_LEN, 12);
	memset(n, 0xaa, SEALINE_NONCE_LEN);
	sealine_nonce(n, 0x0102030405060708ULL);
	CHECK_MEM(n, "\x00\x00\x00\x00\x08\x07\x06\x05\x04\x03\x02\x01", 12);
	memset(n, 0xaa, SEALINE_NONCE_LEN);
	sealine_nonce(n, 0);
	CHECK_MEM(n, "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 12);
	sealine_nonce(n, ~0ULL);
	CHECK_MEM(n, "\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff", 12);

	/* Distinct counters give distinct nonces (the map is injective). */
	for (iter = 0; iter < 1000; iter++) {
		uint64_t back = 0;

		c = check_rand();
		sealine_nonce(n, c);
		for (i = 0; i < 8; i++)
			back |= (uint64_t)n[4 + i] << (8 * i);
		CHECK_EQ(back, c);
		CHECK_MEM(n, "\0\0\0\0", 4);
	}
	free(n);
}

TEST(control_build_layout)
{
	uint8_t msg[SEALINE_MAX_CONTROL];
	size_t len;

	check_fill_random(msg, sizeof(msg));
	for (len = 1; len <= SEALINE_MAX_CONTROL; len += 1 + len / 8) {
		size_t total = SEALINE_HDR_LEN + len + SEALINE_CRC_LEN, n;
		uint8_t *out = malloc(total);
		uint32_t crc;

		if (!out)
			abort();
		n = sealine_control_build(out, msg, len);
		CHECK_EQ(n, total);
		CHECK_EQ(out[0], 0x50);
		CHECK_MEM(out + 1, msg, len);
		crc = sealine_crc32(out, 1 + len);
		CHECK_EQ(out[1 + len], crc & 0xff);
		CHECK_EQ(out[2 + len], (crc >> 8) & 0xff);
		CHECK_EQ(out[3 + len], (crc >> 16) & 0xff);
		CHECK_EQ(out[4 + len], crc >> 24);
		free(out);
		if (check_failing())
			return;
	}
}

TEST(parse_data_valid)
{
	static uint8_t body[SEALINE_MAX_PAYLOAD + SEALINE_TAG_LEN];
	uint8_t raw[SEALINE_FRAME_MAX_RAW];
	size_t plen;

	check_fill_random(body, sizeof(body));
	for (plen = 0; plen <= SEALINE_MAX_PAYLOAD; plen++) {
		uint64_t counter = check_rand();
		uint32_t epoch = (uint32_t)check_rand();
		size_t len = ref_aead_frame(raw, SEALINE_FRAME_DATA, epoch,
					    counter, body,
					    plen + SEALINE_TAG_LEN);
		struct sealine_frame f;
		uint8_t *copy;
		int rc = parse_exact(raw, len, &f, &copy);

		(void)(CHECKF(rc == 0, "payload %zu rejected", plen) &&
		CHECK_EQ(f.type, SEALINE_FRAME_DATA) &&
		CHECK_EQ(f.epoch4, epoch & 0xf) &&
		CHECK_EQ(f.counter32, (uint32_t)counter) &&
		CHECK(f.body == copy + SEALINE_AAD_LEN) &&
		CHECK_EQ(f.body_len, plen + SEALINE_TAG_LEN));
		free(copy);
		if (check_failing())
			return;
	}
}

TEST(parse_keepalive_valid)
{
	uint8_t raw[SEALINE_AAD_LEN + SEALINE_TAG_LEN], tag[SEALINE_TAG_LEN];
	uint32_t epoch;

	check_fill_random(tag, sizeof(tag));
	for (epoch = 0; epoch < 16; epoch++) {
		size_t len = ref_aead_frame(raw, SEALINE_FRAME_KEEPALIVE, epoch,
					    0xdeadbeef00000000ULL | epoch, tag,
					    sizeof(tag));
		struct sealine_frame f;
		uint8_t *copy;

		CHECK_EQ(len, 21);
		(void)(CHECK_EQ(parse_exact(raw, len, &f, &copy), 0) &&
		CHECK_EQ(f.type, SEALINE_FRAME_KEEPALIVE) &&
		CHECK_EQ(f.epoch4, epoch) &&
		CHECK_EQ(f.counter32, epoch) &&
		CHECK(f.body == copy + SEALINE_AAD_LEN) &&
		CHECK_EQ(f.body_len, SEALINE_TAG_LEN));
		free(copy);
	}
}

TEST(parse_control_valid)
{
	uint8_t msg[SEALINE_MAX_CONTROL];
	uint8_t raw[SEALINE_HDR_LEN + SEALINE_MAX_CONTROL + SEALINE_CRC_LEN];
	size_t mlen;

	check_fill_random(msg, sizeof(msg));
	for (mlen = 1; mlen <= SEALINE_MAX_CONTROL; mlen++) {
		size_t len = sealine_control_build(raw, msg, mlen);
		struct sealine_frame f;
		uint8_t *copy;

		(void)(CHECKF(parse_exact(raw, len, &f, &copy) == 0,
			      "message of %zu rejected", mlen) &&
		CHECK_EQ(f.type, SEALINE_FRAME_CONTROL) &&
		CHECK_EQ(f.epoch4, 0) &&
		CHECK_EQ(f.counter32, 0) &&
		CHECK(f.body == copy + SEALINE_HDR_LEN) &&
		CHECK_EQ(f.body_len, mlen) &&
		CHECK_MEM(f.body, msg, mlen));
		free(copy);
		if (check_failing())
			return;
	}
}

TEST(parse_rejects_length)
{
	uint8_t raw[SEALINE_FRAME_MAX_RAW + 64];
	size_t len;
	int type;

	check_fill_random(raw, sizeof(raw));
	CHECK(parse_rejects(raw, 0));
	for (type = 0; type < 3; type++) {
		raw[0] = sealine_frame_header(type, 0);
		/* Data/keepalive need header + counter + tag; control needs
		 * header + 1 byte + CRC (any CRC value is wrong here anyway).
		 */
		for (len = 1; len < SEALINE_AAD_LEN + SEALINE_TAG_LEN; len++)
			if (type != SEALINE_FRAME_CONTROL)
				CHECKF(parse_rejects(raw, len),
				       "type %d len %zu accepted", type, len);
	}
	raw[0] = sealine_frame_header(SEALINE_FRAME_DATA, 3);
	CHECK(!parse_rejects(raw, SEALINE_FRAME_MAX_RAW));
	for (len = SEALINE_FRAME_MAX_RAW + 1; len < sizeof(raw); len++)
		CHECKF(parse_rejects(raw, len), "data len %zu accepted", len);
	raw[0] = sealine_frame_header(SEALINE_FRAME_KEEPALIVE, 3);
	CHECK(!parse_rejects(raw, SEALINE_AAD_LEN + SEALINE_TAG_LEN));
	/* A keepalive with any payload at all. */
	for (len = SEALINE_AAD_LEN + SEALINE_TAG_LEN + 1; len < sizeof(raw);
	     len++)
		CHECKF(parse_rejects(raw, len), "keepalive len %zu accepted",
		       len);
}

TEST(parse_rejects_version_and_type)
{
	uint8_t raw[64], good[64];
	unsigned int hdr, ver;
	size_t dlen, clen;

	check_fill_random(good, sizeof(good));
	dlen = ref_aead_frame(raw, SEALINE_FRAME_DATA, 0, 1, good, 40);
	memcpy(good, raw, dlen);

	for (hdr = 0; hdr < 256; hdr++) {
		ver = hdr >> 6;
		good[0] = (uint8_t)hdr;
		/* Data-sized frame: only version 1 types 0 (data) and 3
		 * (reliable, sealed alike) are valid.
		 */
		if (ver != SEALINE_WIRE_VERSION ||
		    (((hdr >> 4) & 3) != SEALINE_FRAME_DATA &&
		     ((hdr >> 4) & 3) != SEALINE_FRAME_RELIABLE))
			CHECKF(parse_rejects(good, dlen),
			       "hdr 0x%02x accepted for a data frame", hdr);
		else
			CHECKF(!parse_rejects(good, dlen),
			       "hdr 0x%02x rejected", hdr);
	}

	/* Wrong version on otherwise valid frames of each type. */
	for (ver = 0; ver < 4; ver++) {
		if (ver == SEALINE_WIRE_VERSION)
			continue;
		/* keepalive */
		dlen = ref_aead_frame(raw, SEALINE_FRAME_KEEPALIVE, 2, 7, good,
				      SEALINE_TAG_LEN);
		raw[0] = (uint8_t)((raw[0] & 0x3f) | (ver << 6));
		CHECK(parse_rejects(raw, dlen));
		/* control, CRC recomputed over the changed header */
		clen = sealine_control_build(raw, (const u8 *)"hello", 5);
		raw[0] = (uint8_t)((raw[0] & 0x3f) | (ver << 6));
		{
			uint32_t crc = sealine_crc32(raw, clen - 4);

			raw[clen - 4] = (uint8_t)crc;
			raw[clen - 3] = (uint8_t)(crc >> 8);
			raw[clen - 2] = (uint8_t)(crc >> 16);
			raw[clen - 1] = (uint8_t)(crc >> 24);
		}
		CHECK(parse_rejects(raw, clen));
	}

	/* Reliable frames (type 3): sealed like data frames, with at least
	 * one byte of plaintext (the ARQ header's flags).
	 */
	for (dlen = 1; dlen < sizeof(raw); dlen++) {
		struct sealine_frame f;
		bool ok = dlen >= SEALINE_AAD_LEN + 1 + SEALINE_TAG_LEN &&
			  dlen <= SEALINE_FRAME_MAX_RAW;

		check_fill_random(raw, dlen);
		raw[0] = (uint8_t)((SEALINE_WIRE_VERSION << 6) | (3 << 4) |
				   (dlen & 0xf));
		if (!ok) {
			CHECKF(parse_rejects(raw, dlen),
			       "type 3 len %zu accepted", dlen);
			continue;
		}
		CHECKF(sealine_frame_parse(raw, dlen, &f) == 0,
		       "type 3 len %zu refused", dlen);
		CHECK(f.type == SEALINE_FRAME_RELIABLE);
		CHECK(f.epoch4 == (dlen & 0xf));
		CHECK(f.body == raw + SEALINE_AAD_LEN);
		CHECK(f.body_len == dlen - SEALINE_AAD_LEN);
	}
	{
		uint8_t t3[SEALINE_FRAME_MAX_RAW + 1];

		check_fill_random(t3, sizeof(t3));
		t3[0] = 0x70;
		CHECK(parse_rejects(t3, SEALINE_AAD_LEN + SEALINE_TAG_LEN));
		CHECK(parse_rejects(t3, sizeof(t3)));
	}
}

/* Writes a control frame with header hdr (the CRC made valid over it). */
static size_t control_with_header(uint8_t *out, uint8_t hdr, const u8 *msg,
				  size_t mlen)
{
	uint32_t crc;

	out[0] = hdr;
	memcpy(out + 1, msg, mlen);
	crc = sealine_crc32(out, 1 + mlen);
	out[1 + mlen] = (uint8_t)crc;
	out[2 + mlen] = (uint8_t)(crc >> 8);
	out[3 + mlen] = (uint8_t)(crc >> 16);
	out[4 + mlen] = (uint8_t)(crc >> 24);
	return 1 + mlen + 4;
}

TEST(parse_rejects_control)
{
	static uint8_t msg[SEALINE_MAX_CONTROL + 1];
	static uint8_t raw[SEALINE_MAX_CONTROL + 1 + 5];
	uint8_t epoch;
	size_t len, bit;

	check_fill_random(msg, sizeof(msg));

	/* Epoch bits set, with an otherwise valid CRC. */
	for (epoch = 1; epoch < 16; epoch++) {
		len = control_with_header(raw, 0x50 | epoch, msg, 10);
		CHECKF(parse_rejects(raw, len), "epoch %u accepted", epoch);
	}
	len = control_with_header(raw, 0x50, msg, 10);
	CHECK(!parse_rejects(raw, len));

	/* Empty message: header + CRC only, CRC valid. */
	len = control_with_header(raw, 0x50, msg, 0);
	CHECK_EQ(len, 5);
	CHECK(parse_rejects(raw, len));

	/* One byte more than SEALINE_MAX_CONTROL, CRC valid. */
	len = control_with_header(raw, 0x50, msg, SEALINE_MAX_CONTROL);
	CHECK(!parse_rejects(raw, len));
	len = control_with_header(raw, 0x50, msg, SEALINE_MAX_CONTROL + 1);
	CHECK(parse_rejects(raw, len));

	/* No single-bit error anywhere passes as a control frame: the CRC
	 * or the header rules catch it. (A flip of a type bit turns it into
	 * a data frame or a reliable one, which parse; the AEAD rejects
	 * them.)
	 */
	len = sealine_control_build(raw, msg, 37);
	for (bit = 0; bit < len * 8; bit++) {
		struct sealine_frame f;
		uint8_t *copy;
		int rc;

		raw[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		rc = parse_exact(raw, len, &f, &copy);
		CHECKF(rc != 0 || f.type != SEALINE_FRAME_CONTROL,
		       "bit %zu flip accepted", bit);
		CHECKF(rc != 0 || bit == 4 || bit == 5,
		       "bit %zu flip parsed as type %d", bit, (int)f.type);
		free(copy);
		raw[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	CHECK(!parse_rejects(raw, len));
	raw[len - 1] ^= 0xff;
	CHECK(parse_rejects(raw, len));
	/* Truncated or extended by a byte: the CRC no longer matches. */
	len = sealine_control_build(raw, msg, 37);
	CHECK(parse_rejects(raw, len - 1));
	raw[len] = 0x00;
	CHECK(parse_rejects(raw, len + 1));
}

/* Random bytes: parse accepts exactly what the reference rules accept,
 * and what it accepts it describes correctly.
 */
TEST(parse_random_invariants)
{
	uint8_t raw[SEALINE_FRAME_MAX_RAW + 8];
	unsigned long iter, accepted = 0;

	for (iter = 0; iter < 300000; iter++) {
		size_t len = check_below(64), i;
		struct sealine_frame f;
		uint8_t *copy;
		int rc;

		if (check_below(64) == 0)
			len = check_below(sizeof(raw) + 1);
		for (i = 0; i < len; i++)
			raw[i] = (uint8_t)check_rand();
		if (len && check_below(2))
			raw[0] = (uint8_t)(0x40 | (raw[0] & 0x3f));
		/* Half the control frames get a valid CRC, so that the
		 * other control rules are reached.
		 */
		if (len >= 5 && ((raw[0] >> 4) & 3) == 1 && check_below(2))
			ref_fix_crc(raw, len);
		rc = parse_exact(raw, len, &f, &copy);
		CHECKF((rc == 0) == ref_frame_valid(raw, len),
		       "len %zu hdr 0x%02x: parse %d", len, raw[0], rc);
		if (rc == 0) {
			accepted++;
			CHECK(len >= 1 && raw[0] >> 6 == 1);
			CHECK(f.body >= copy && f.body + f.body_len <= copy + len);
			if (f.type == SEALINE_FRAME_CONTROL) {
				CHECK(f.epoch4 == 0);
				CHECK(f.body_len >= 1 &&
				      f.body_len <= SEALINE_MAX_CONTROL);
			} else {
				CHECK(len >= 21 && len <= SEALINE_FRAME_MAX_RAW);
				CHECK(f.type != SEALINE_FRAME_KEEPALIVE ||
				      f.body_len == SEALINE_TAG_LEN);
				CHECK(f.type != SEALINE_FRAME_RELIABLE ||
				      f.body_len > SEALINE_TAG_LEN);
			}
		}
		free(copy);
		if (check_failing())
			return;
	}
	CHECKF(accepted > 1000, "only %lu accepted", accepted);
}

int main(int argc, char **argv)
{
	check_init(argc, argv);
	RUN(crc32_known_answers);
	RUN(crc32_vs_reference);
	RUN(header_packing);
	RUN(counter32_big_endian);
	RUN(nonce_layout);
	RUN(control_build_layout);
	RUN(parse_data_valid);
	RUN(parse_keepalive_valid);
	RUN(parse_control_valid);
	RUN(parse_rejects_length);
	RUN(parse_rejects_version_and_type);
	RUN(parse_rejects_control);
	RUN(parse_random_invariants);
	return check_summary();
}
