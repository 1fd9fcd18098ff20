// SPDX-License-Identifier: GPL-2.0
/*
 * The streaming decoder, fed arbitrary bytes in arbitrary chunks with
 * arbitrary poison calls, must produce exactly the events of a plain
 * reference model, and every frame it produces must obey the frame rules.
 *
 * Input layout:
 *	byte 0		low 4 bits: number n of chunk specs that follow
 *	bytes 1..n	chunk specs, used in a cycle: 0 calls
 *			sealine_decoder_poison(), 255 feeds up to 4096 bytes,
 *			any other value feeds that many bytes
 *	rest		the byte stream from the line
 * With n == 0 the stream is fed in one call.
 *
 * The reference model: the stream is cut at every 0x00 into segments.
 *  - The first segment (before the first delimiter) is one RESYNC if it is
 *    not empty or a poison fell into it, else nothing.
 *  - Any later segment into which a poison fell (a poison before byte p
 *    falls into the segment containing p; one at a delimiter's position
 *    into the segment that delimiter ends) is one RESYNC.
 *  - An empty segment is idle fill: nothing.
 *  - A segment longer than the decoder buffer is one RESYNC.
 *  - Otherwise a segment that is valid COBS decoding to 1 or more bytes is
 *    one FRAME of those bytes, and anything else is one RESYNC.
 *  - The segment after the last delimiter is still open: nothing.
 *
 * For every FRAME: its length is below the buffer size; sealine_frame_parse
 * accepts it exactly when the reference rules of ref.h do (also with its
 * CRC made valid, for control frames), and describes it correctly; its
 * re-encoding has no 0x00, stays within sealine_cobs_max(), and decodes to
 * the same frame through a fresh decoder (or, if the re-encoding exceeds
 * the buffer, which only a frame parse rejects can cause, a RESYNC).
 */
#include <string.h>

#include "fuzz.h"
#include "ref.h"

#define DEC_BUF	sizeof(((struct sealine_decoder *)0)->buf)

struct ev {
	enum sealine_decode_event type;
	size_t off, len;	/* FRAME: bytes in the frame store */
};

struct evlist {
	struct ev *v;
	size_t n, cap;
	uint8_t *store;		/* concatenated frames */
	size_t used, store_cap;
};

static void ev_add(struct evlist *l, enum sealine_decode_event type,
		   const uint8_t *p, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap * 2 + 16;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		FUZZ_ASSERT(l->v);
	}
	if (l->used + len > l->store_cap) {
		l->store_cap = (l->used + len) * 2 + 256;
		l->store = realloc(l->store, l->store_cap);
		FUZZ_ASSERT(l->store);
	}
	l->v[l->n].type = type;
	l->v[l->n].off = l->used;
	l->v[l->n].len = len;
	if (len)
		memcpy(l->store + l->used, p, len);
	l->used += len;
	l->n++;
}

static void ev_free(struct evlist *l)
{
	free(l->v);
	free(l->store);
}

/* Checks one decoded frame against the frame rules. */
static void check_frame(const uint8_t *frame, size_t len)
{
	struct sealine_frame f;
	uint8_t *copy = fuzz_malloc(len), *enc;
	size_t max = sealine_cobs_max(len), n, i, used;
	static struct sealine_decoder decoder;
	struct sealine_decoder *d = &decoder;
	enum sealine_decode_event e;
	int parsed;

	FUZZ_ASSERT(len >= 1 && len < DEC_BUF);

	memcpy(copy, frame, len);
	parsed = sealine_frame_parse(copy, len, &f) == 0;
	FUZZ_ASSERT(parsed == ref_frame_valid(frame, len));
	if (parsed) {
		FUZZ_ASSERT(frame[0] >> 6 == SEALINE_WIRE_VERSION);
		FUZZ_ASSERT(f.body >= copy && f.body + f.body_len <= copy + len);
		switch (f.type) {
		case SEALINE_FRAME_DATA:
		case SEALINE_FRAME_KEEPALIVE:
		case SEALINE_FRAME_RELIABLE:
			FUZZ_ASSERT(len >= SEALINE_AAD_LEN + SEALINE_TAG_LEN);
			FUZZ_ASSERT(len <= SEALINE_FRAME_MAX_RAW);
			FUZZ_ASSERT(f.body_len == len - SEALINE_AAD_LEN);
			FUZZ_ASSERT(f.type != SEALINE_FRAME_KEEPALIVE ||
				    f.body_len == SEALINE_TAG_LEN);
			FUZZ_ASSERT(f.type != SEALINE_FRAME_RELIABLE ||
				    f.body_len > SEALINE_TAG_LEN);
			FUZZ_ASSERT(f.epoch4 == (frame[0] & 0xf));
			FUZZ_ASSERT(f.counter32 ==
				    ((uint32_t)frame[1] << 24 |
				     (uint32_t)frame[2] << 16 |
				     (uint32_t)frame[3] << 8 | frame[4]));
			break;
		case SEALINE_FRAME_CONTROL: {
			uint32_t crc = sealine_crc32(frame, len - 4);

			FUZZ_ASSERT(f.epoch4 == 0 && (frame[0] & 0xf) == 0);
			FUZZ_ASSERT(f.body_len >= 1 &&
				    f.body_len <= SEALINE_MAX_CONTROL);
			FUZZ_ASSERT(f.body_len + 5 == len);
			FUZZ_ASSERT(frame[len - 4] == (uint8_t)crc &&
				    frame[len - 3] == (uint8_t)(crc >> 8) &&
				    frame[len - 2] == (uint8_t)(crc >> 16) &&
				    frame[len - 1] == (uint8_t)(crc >> 24));
			break;
		}
		default:
			FUZZ_ASSERT(!"parse accepted an unknown type");
		}
	}
	/* A control frame with its CRC made valid: the other control rules
	 * (epoch bits, message length) are reached too.
	 */
	if (len >= 5 && ((frame[0] >> 4) & 3) == SEALINE_FRAME_CONTROL) {
		memcpy(copy, frame, len);
		ref_fix_crc(copy, len);
		FUZZ_ASSERT((sealine_frame_parse(copy, len, &f) == 0) ==
			    ref_frame_valid(copy, len));
	}
	free(copy);

	/* Re-encode, then decode again through a fresh decoder. */
	enc = fuzz_malloc(max + 2);
	enc[0] = 0;
	n = sealine_cobs_encode(frame, len, enc + 1);
	FUZZ_ASSERT(n > len && n <= max);
	for (i = 1; i <= n; i++)
		FUZZ_ASSERT(enc[i] != 0);
	enc[n + 1] = 0;

	sealine_decoder_init(d);
	used = sealine_decoder_feed(d, enc, n + 2, &e);
	/* The leading delimiter of a clean start gives no event. */
	FUZZ_ASSERT(used == n + 2);
	if (n <= DEC_BUF) {
		FUZZ_ASSERT(e == SEALINE_DECODE_FRAME);
		FUZZ_ASSERT(d->frame_len == len);
		FUZZ_ASSERT(!memcmp(d->buf, frame, len));
	} else {
		FUZZ_ASSERT(!parsed);
		FUZZ_ASSERT(e == SEALINE_DECODE_RESYNC);
	}
	free(enc);
}

/* The reference model's events for the stream with poisons at the given
 * positions (sorted, each in 0..len).
 */
static void model(const uint8_t *s, size_t len, const size_t *poison,
		  size_t npoison, struct evlist *out)
{
	size_t start = 0, z, pi = 0;
	bool first = true;
	uint8_t *tmp = fuzz_malloc(len);

	for (;;) {
		bool poisoned = false;
		size_t seg;
		long n;

		for (z = start; z < len && s[z]; z++)
			;
		if (z == len)
			break;		/* open segment: no event */
		while (pi < npoison && poison[pi] <= z) {
			if (poison[pi] >= start)
				poisoned = true;
			pi++;
		}
		seg = z - start;
		if (first) {
			if (seg || poisoned)
				ev_add(out, SEALINE_DECODE_RESYNC, NULL, 0);
			first = false;
		} else if (poisoned) {
			ev_add(out, SEALINE_DECODE_RESYNC, NULL, 0);
		} else if (!seg) {
			/* idle */
		} else if (seg > DEC_BUF) {
			ev_add(out, SEALINE_DECODE_RESYNC, NULL, 0);
		} else {
			n = ref_cobs_decode(s + start, seg, tmp);
			if (n > 0)
				ev_add(out, SEALINE_DECODE_FRAME, tmp,
				       (size_t)n);
			else
				ev_add(out, SEALINE_DECODE_RESYNC, NULL, 0);
		}
		start = z + 1;
	}
	free(tmp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evlist got = { 0 }, want = { 0 };
	struct sealine_decoder *d;
	const uint8_t *spec, *s;
	size_t nspec, len, pos = 0, si = 0, idle = 0, *poison, npoison = 0;
	size_t i;

	if (!size)
		return 0;
	nspec = data[0] & 0xf;
	if (size < 1 + nspec)
		return 0;
	spec = data + 1;
	s = data + 1 + nspec;
	len = size - 1 - nspec;
	poison = fuzz_malloc((len + 1) * sizeof(*poison));

	d = fuzz_malloc(sizeof(*d));
	memset(d, 0xa5, sizeof(*d));
	sealine_decoder_init(d);

	while (pos < len) {
		size_t n = len - pos, p = 0;
		uint8_t *chunk;

		if (nspec) {
			uint8_t b = spec[si++ % nspec];

			if (b == 0 && idle < nspec) {
				/* Poison. After a full cycle of poisons the
				 * rest of the stream is fed, so all-poison
				 * specs still make progress. Repeats at one
				 * position act as one: record it once.
				 */
				if (!npoison || poison[npoison - 1] != pos)
					poison[npoison++] = pos;
				sealine_decoder_poison(d);
				idle++;
				continue;
			}
			if (b)
				n = b == 255 ? 4096 : b;
			if (n > len - pos)
				n = len - pos;
		}
		idle = 0;

		/* An exact-size copy: ASan sees any read past the chunk. */
		chunk = fuzz_malloc(n);
		memcpy(chunk, s + pos, n);
		while (p < n) {
			enum sealine_decode_event e = SEALINE_DECODE_MORE;
			size_t used = sealine_decoder_feed(d, chunk + p, n - p,
							   &e);

			FUZZ_ASSERT(used >= 1 && used <= n - p);
			FUZZ_ASSERT(e == SEALINE_DECODE_MORE ||
				    e == SEALINE_DECODE_FRAME ||
				    e == SEALINE_DECODE_RESYNC);
			if (e == SEALINE_DECODE_MORE) {
				FUZZ_ASSERT(used == n - p);
			} else {
				/* Events end at a delimiter. */
				FUZZ_ASSERT(chunk[p + used - 1] == 0);
			}
			if (e == SEALINE_DECODE_FRAME) {
				FUZZ_ASSERT(d->frame_len >= 1 &&
					    d->frame_len < DEC_BUF);
				ev_add(&got, e, d->buf, d->frame_len);
			} else if (e == SEALINE_DECODE_RESYNC) {
				ev_add(&got, e, NULL, 0);
			}
			p += used;
		}
		free(chunk);
		pos += n;
	}

	model(s, len, poison, npoison, &want);
	FUZZ_ASSERT(got.n == want.n);
	for (i = 0; i < got.n; i++) {
		FUZZ_ASSERT(got.v[i].type == want.v[i].type);
		if (got.v[i].type != SEALINE_DECODE_FRAME)
			continue;
		FUZZ_ASSERT(got.v[i].len == want.v[i].len);
		FUZZ_ASSERT(!memcmp(got.store + got.v[i].off,
				    want.store + want.v[i].off, got.v[i].len));
		check_frame(got.store + got.v[i].off, got.v[i].len);
	}

	ev_free(&got);
	ev_free(&want);
	free(poison);
	free(d);
	return 0;
}
