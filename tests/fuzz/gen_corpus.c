// SPDX-License-Identifier: GPL-2.0
/*
 * Writes the seed corpora of the fuzz targets into <dir>/<target>/:
 * a few small, valid-looking inputs from which libFuzzer mutates. Run by
 * "make corpus"; the output is committed under tests/fuzz/corpus/.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frame.h"

static const char *outdir;

static void put(const char *target, const char *name, const uint8_t *p,
		size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (mkdir(path, 0755) && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
		perror(path);
		exit(1);
	}
}

struct buf {
	uint8_t p[16384];
	size_t n;
};

static void b_bytes(struct buf *b, const void *p, size_t n)
{
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void b_byte(struct buf *b, uint8_t c)
{
	b->p[b->n++] = c;
}

static void b_wire(struct buf *b, const uint8_t *raw, size_t len)
{
	b->n += sealine_cobs_encode(raw, len, b->p + b->n);
	b->p[b->n++] = 0;
}

static void b_data(struct buf *b, enum sealine_frame_type t, uint32_t epoch,
		   uint64_t counter, size_t body_len, uint8_t fill)
{
	uint8_t raw[SEALINE_FRAME_MAX_RAW];
	size_t i;

	raw[0] = sealine_frame_header(t, epoch);
	sealine_put_counter32(raw + 1, counter);
	for (i = 0; i < body_len; i++)
		raw[SEALINE_AAD_LEN + i] = (uint8_t)(fill + i * 7);
	b_wire(b, raw, SEALINE_AAD_LEN + body_len);
}

static void b_control(struct buf *b, const char *msg)
{
	uint8_t raw[SEALINE_HDR_LEN + 256 + SEALINE_CRC_LEN];

	b_wire(b, raw, sealine_control_build(raw, (const u8 *)msg,
					     strlen(msg)));
}

static void cobs_seeds(void)
{
	static const uint8_t hello[] = "hello\0world";
	uint8_t p[600];
	size_t i, n;

	put("fuzz_cobs", "hello", hello, sizeof(hello));
	for (i = 0; i < 300; i++)
		p[i] = (uint8_t)i;
	put("fuzz_cobs", "cycle", p, 300);
	memset(p, 0x11, 254);
	put("fuzz_cobs", "run254", p, 254);
	for (i = 0; i < 40; i++)
		p[i] = (uint8_t)(i % 5 ? i : 0);
	n = sealine_cobs_encode(p, 40, p + 100);
	put("fuzz_cobs", "encoded", p + 100, n);
}

static void decoder_seeds(void)
{
	static struct buf b;
	size_t i;

	/* Clean stream of each frame type, fed at once. */
	b.n = 0;
	b_byte(&b, 0x00);		/* no chunk specs */
	b_byte(&b, 0x00);
	b_data(&b, SEALINE_FRAME_DATA, 1, 7, 40 + SEALINE_TAG_LEN, 0x21);
	b_control(&b, "hello, peer");
	b_data(&b, SEALINE_FRAME_KEEPALIVE, 1, 8, SEALINE_TAG_LEN, 0x90);
	b_byte(&b, 0x00);
	b_byte(&b, 0x00);
	put("fuzz_decoder", "clean", b.p, b.n);

	/* Byte-wise and with a poison, garbage in front. */
	b.n = 0;
	b_byte(&b, 0x03);
	b_byte(&b, 1);
	b_byte(&b, 0);
	b_byte(&b, 7);
	b_bytes(&b, "\x12\x34\x56", 3);
	b_byte(&b, 0x00);
	b_control(&b, "x");
	b_data(&b, SEALINE_FRAME_DATA, 2, 0xfffffffe, 3 + SEALINE_TAG_LEN, 0);
	b_data(&b, SEALINE_FRAME_DATA, 2, 0xffffffff, SEALINE_TAG_LEN, 0x40);
	put("fuzz_decoder", "chunked", b.p, b.n);

	/* The largest data frame with no zero byte, then a control frame. */
	b.n = 0;
	b_byte(&b, 0x01);
	b_byte(&b, 255);
	b_byte(&b, 0x00);
	{
		uint8_t raw[SEALINE_FRAME_MAX_RAW];

		memset(raw, 0x5a, sizeof(raw));
		raw[0] = sealine_frame_header(SEALINE_FRAME_DATA, 3);
		sealine_put_counter32(raw + 1, 0x01020304);
		b_wire(&b, raw, sizeof(raw));
	}
	b_control(&b, "after the big one");
	put("fuzz_decoder", "largest", b.p, b.n);

	/* Invalid COBS, an oversized run, then a good frame. */
	b.n = 0;
	b_byte(&b, 0x02);
	b_byte(&b, 200);
	b_byte(&b, 0);
	b_byte(&b, 0x00);
	b_bytes(&b, "\x05\x11\x22\x00\x01\x00", 6);
	for (i = 0; i < SEALINE_FRAME_MAX_WIRE + 5; i++)
		b_byte(&b, 0xff);
	b_byte(&b, 0x00);
	b_data(&b, SEALINE_FRAME_DATA, 0, 1, 1 + SEALINE_TAG_LEN, 0x33);
	put("fuzz_decoder", "junk", b.p, b.n);

	/* Valid COBS blocks of exactly the decoder buffer size (collected)
	 * and one byte more (thrown away), each followed by a frame.
	 */
	b.n = 0;
	b_byte(&b, 0x00);
	b_byte(&b, 0x00);
	for (i = 0; i < 2; i++) {
		size_t left = SEALINE_FRAME_MAX_WIRE + i;

		while (left) {
			size_t code = left < 255 ? left : 255;

			b_byte(&b, (uint8_t)code);
			memset(b.p + b.n, 0x44, code - 1);
			b.n += code - 1;
			left -= code;
		}
		b_byte(&b, 0x00);
		b_control(&b, "next");
	}
	put("fuzz_decoder", "boundary", b.p, b.n);

	/* The largest control message, then a keepalive. */
	b.n = 0;
	b_byte(&b, 0x00);
	b_byte(&b, 0x00);
	{
		static uint8_t raw[SEALINE_HDR_LEN + SEALINE_MAX_CONTROL +
				   SEALINE_CRC_LEN], msg[SEALINE_MAX_CONTROL];

		for (i = 0; i < sizeof(msg); i++)
			msg[i] = (uint8_t)(i * 13);
		b_wire(&b, raw, sealine_control_build(raw, msg, sizeof(msg)));
	}
	b_data(&b, SEALINE_FRAME_KEEPALIVE, 4, 9, SEALINE_TAG_LEN, 0x01);
	put("fuzz_decoder", "control-max", b.p, b.n);
}

static void replay_seeds(void)
{
	/* accept in order, duplicates, out of order, a check, a jump */
	static const uint8_t basic[] = {
		1, 0, 1, 1, 1, 1, 1, 0xff, 1, 0xfe, 2, 0xff, 2, 1,
		3, 0x00, 0x40, 1, 0xc1, 1, 0xc0, 6, 0x00, 0x02, 1, 0xff,
		0, 1, 5,
	};
	/* jump to just below 2^32, then counters across the wrap */
	static const uint8_t wrap[] = {
		5, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xfd,
		4, 0x00, 0x00, 0x00, 0x01,
		4, 0xff, 0xff, 0xff, 0xfe,
		4, 0x00, 0x00, 0x00, 0x00,
		7, 0x7f, 0xff, 7, 0x80, 0x00, 7, 0x00, 0x00,
		2, 0x80, 1, 0x01,
	};

	put("fuzz_replay", "basic", basic, sizeof(basic));
	put("fuzz_replay", "wrap", wrap, sizeof(wrap));
}

/*
 * Programs for fuzz_handshake (see its header): whole handshakes to
 * start from. 0 delivers, 5 t moves the clock, 6 a plays an operator,
 * 7 a starts something.
 */
static void handshake_seeds(void)
{
	static const uint8_t session[] = {
		7, 0, 0, 0, 0, 0, 0, 0, 5, 8, 0, 0,
	};
	static const uint8_t pairing[] = {
		7, 2, 0, 0, 0, 0, 6, 1, 6, 2, 0, 0, 5, 0, 0, 0, 0, 0, 0,
		0, 5, 4, 0, 0,
	};
	static const uint8_t rekey[] = {
		7, 0, 0, 0, 0, 0, 0, 7, 3, 0, 0, 0, 0, 0, 0, 7, 4, 0, 0, 0,
		0, 0, 0, 0, 5, 80, 0, 0,
	};
	static const uint8_t lossy[] = {
		7, 0, 1, 5, 5, 0, 0, 1, 5, 9, 0, 0, 2, 0, 5, 40, 5, 40, 0,
		0, 7, 5, 0, 0, 0, 0, 0,
	};
	static const uint8_t damaged[] = {
		7, 0, 3, 9, 1, 0, 0, 3, 60, 128, 0, 8, 20, 0, 0, 0, 4, 11,
		1, 1, 0, 0, 0, 0, 0, 0, 0, 6, 14, 3, 1, 0x20, 0, 0, 0, 0,
	};
	static const uint8_t crossing[] = {
		7, 0, 7, 1, 0, 0, 0, 0, 0, 0, 0, 0, 5, 12, 0, 0, 0, 0,
	};
	static const uint8_t sas_wrong[] = {
		7, 2, 0, 0, 0, 0, 6, 3, 6, 3, 6, 5, 6, 3, 0, 0, 5, 200, 0,
	};

	put("fuzz_handshake", "session", session, sizeof(session));
	put("fuzz_handshake", "pairing", pairing, sizeof(pairing));
	put("fuzz_handshake", "rekey", rekey, sizeof(rekey));
	put("fuzz_handshake", "lossy", lossy, sizeof(lossy));
	put("fuzz_handshake", "damaged", damaged, sizeof(damaged));
	put("fuzz_handshake", "crossing", crossing, sizeof(crossing));
	put("fuzz_handshake", "sas-wrong", sas_wrong, sizeof(sas_wrong));
}

/*
 * Programs for fuzz_call (see its header): whole calls to start from.
 * 0 delivers, 1 drops, 5 t moves the clock, 6 a is T's daemon, 7 a an
 * endpoint.
 */
static void call_seeds(void)
{
	static const uint8_t full[] = {
		7, 0, 0, 0, 0, 6, 0, 0, 7, 1, 0, 0, 0, 6, 3, 0, 7, 2, 0,
		6, 4, 0, 6, 1, 0, 6, 5, 0, 6, 6, 0,
	};
	static const uint8_t refused[] = {
		7, 0, 0, 0, 0, 6, 82, 0, 5, 4, 0,
	};
	static const uint8_t answer_refused[] = {
		7, 1, 0, 0, 0, 6, 3, 0, 7, 27, 0, 6, 130, 0,
	};
	static const uint8_t lossy[] = {
		7, 0, 1, 5, 4, 0, 1, 5, 8, 0, 0, 6, 0, 1, 5, 40, 0, 0, 6, 1,
		1, 5, 40, 0, 0,
	};
	static const uint8_t damaged[] = {
		7, 0, 3, 9, 1, 5, 4, 0, 8, 30, 5, 8, 0, 3, 20, 2, 5, 16, 0,
		0, 9, 0,
	};
	static const uint8_t deadlines[] = {
		7, 0, 0, 0, 0, 6, 0, 0, 5, 200, 5, 200, 5, 200, 0, 5, 200,
	};

	put("fuzz_call", "full", full, sizeof(full));
	put("fuzz_call", "refused", refused, sizeof(refused));
	put("fuzz_call", "answer-refused", answer_refused,
	    sizeof(answer_refused));
	put("fuzz_call", "lossy", lossy, sizeof(lossy));
	put("fuzz_call", "damaged", damaged, sizeof(damaged));
	put("fuzz_call", "deadlines", deadlines, sizeof(deadlines));
}

/* fuzz_arq: see the opcodes at the top of fuzz_arq.c. */
static void arq_seeds(void)
{
	static const uint8_t talk[] = {
		0x00,			/* one end */
		0, 100, 1, 0,		/* write 100, build */
		3, 0xf0, 0x00, 0x8c, 0x40, /* SYN, DATA, ACK, ECHO */
		4, 0, 16, 1, 0, 5, 16,	/* 16 ms, build (ACK), read */
		0, 200, 1, 0, 1, 0,	/* write, two frames */
		3, 0x24, 0x00, 0x80, 0x10, /* ACK with a SACK block */
		1, 0, 1, 4,		/* resend, counter again */
		4, 3, 232, 1, 0,	/* 1 s: RTO, probe */
		3, 0x60, 0x02, 0x81, 0x20, /* data ahead of a gap, ACK */
		3, 0x40, 0x00, 0x00, 0x20, /* the gap filled */
		5, 255, 3, 0x02, 0, 0, 0, /* read, RST */
		6, 0, 50, 1, 1,		/* reset, new key */
		7, 0x35, 0, 10, 1, 1,	/* small frames */
		2, 6, 1, 0x62, 0, 0, 0, 0, 0, /* raw bytes */
		4, 0x75, 0x30, 4, 0x75, 0x30, /* dead */
	};
	static const uint8_t clean[] = { 0x01, 0x10, 0x00, 0x21, 0x40 };
	static const uint8_t lossy[] = {
		0x01, 0x3f, 0x00, 0x51, 0xc0,
		0, 1, 0, 0, 2, 4, 0, 1, 1, 0, 0x0f, 0, 3, 0, 0, 1, 0, 0x40,
		0, 1, 0, 1, 0, 0, 0, 0, 6, 0, 0x81, 0, 1, 1, 0, 0, 0, 2, 0,
	};
	static const uint8_t bytes[] = {
		0x01, 0x20, 0x1c, 0x10, 0x20,
		4, 0, 0, 0, 12, 0, 0, 1, 0, 0, 0, 0, 4, 0x84, 0, 0, 2, 0,
	};

	put("fuzz_arq", "talk", talk, sizeof(talk));
	put("fuzz_arq", "clean", clean, sizeof(clean));
	put("fuzz_arq", "lossy", lossy, sizeof(lossy));
	put("fuzz_arq", "bytes", bytes, sizeof(bytes));
}

/*
 * Programs for fuzz_xfer (see its header): the envelope's size (2
 * bytes) and piece size choice, then 1 sender -> recipient, 3 back,
 * 4 the daemon takes or stores a chunk, 5 1 F accepts from F, 6 C a
 * result, 0 T the clock.
 */
static void xfer_seeds(void)
{
	static const uint8_t small[] = {
		0, 200, 1,
		1, 5, 1, 0, 3, 1, 1, 3, 1, 4, 4, 3, 1, 0, 2, 3, 1,
		6, 0, 3, 1, 1, 3, 1,
	};
	uint8_t two[3 + 2 * 40 * 4 + 40];
	size_t n = 0;

	/* Two chunks, default pieces: 38 DATA, ACKs, both chunks, result. */
	two[n++] = 70, two[n++] = 0, two[n++] = 1;
	two[n++] = 1, two[n++] = 5, two[n++] = 1, two[n++] = 0;
	two[n++] = 3, two[n++] = 1;
	for (int i = 0; i < 38; i++) {
		two[n++] = 1;
		two[n++] = i % 4 == 3 ? 2 : 0;	/* every fourth: lost */
		if (i % 4 == 3)
			two[n++] = 2;
		two[n++] = 3, two[n++] = 1;
	}
	for (int i = 0; i < 8; i++) {
		two[n++] = 0, two[n++] = 40;	/* 4 s: resends */
		two[n++] = 1, two[n++] = 1, two[n++] = 3, two[n++] = 1;
	}
	two[n++] = 4, two[n++] = 4, two[n++] = 4, two[n++] = 4;
	two[n++] = 6, two[n++] = 0, two[n++] = 3, two[n++] = 1;
	put("fuzz_xfer", "small", small, sizeof(small));
	put("fuzz_xfer", "two-chunks", two, n);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) && errno != EEXIST) {
		perror(outdir);
		return 1;
	}
	cobs_seeds();
	decoder_seeds();
	replay_seeds();
	handshake_seeds();
	call_seeds();
	arq_seeds();
	xfer_seeds();
	return 0;
}
