// SPDX-License-Identifier: GPL-2.0
/*
 * The streaming frame decoder (sealine_decoder_*, kmod/frame.c): feed
 * boundaries, resynchronisation after garbage, oversized and invalid
 * frames, poisoned bytes, and recovery from random line noise.
 *
 * Every chunk is fed from a heap buffer of exactly its size, so
 * AddressSanitizer catches a read past the length given to the decoder.
 */
#include "check.h"
#include "ref.h"

/* ---- growing byte buffers and event lists --------------------------- */

struct bytes {
	uint8_t *p;
	size_t len, cap;
};

static void bytes_reserve(struct bytes *b, size_t extra)
{
	if (b->len + extra <= b->cap)
		return;
	b->cap = (b->len + extra) * 2 + 64;
	b->p = realloc(b->p, b->cap);
	if (!b->p)
		abort();
}

static void bytes_put(struct bytes *b, const uint8_t *p, size_t n)
{
	bytes_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void bytes_byte(struct bytes *b, uint8_t c)
{
	bytes_put(b, &c, 1);
}

/* Appends the wire form (COBS + delimiter) of raw. */
static void bytes_wire(struct bytes *b, const uint8_t *raw, size_t len)
{
	bytes_reserve(b, sealine_cobs_max(len) + 1);
	b->len += ref_wire(raw, len, b->p + b->len);
}

static void bytes_free(struct bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

struct event {
	enum sealine_decode_event type;
	uint8_t *data;		/* FRAME: a copy of the decoded frame */
	size_t len;
};

struct events {
	struct event *v;
	size_t n, cap;
};

static void events_push(struct events *e, enum sealine_decode_event type,
			const uint8_t *data, size_t len)
{
	if (e->n == e->cap) {
		e->cap = e->cap * 2 + 16;
		e->v = realloc(e->v, e->cap * sizeof(*e->v));
		if (!e->v)
			abort();
	}
	e->v[e->n].type = type;
	e->v[e->n].len = len;
	e->v[e->n].data = NULL;
	if (type == SEALINE_DECODE_FRAME) {
		e->v[e->n].data = malloc(len ? len : 1);
		if (!e->v[e->n].data)
			abort();
		memcpy(e->v[e->n].data, data, len);
	}
	e->n++;
}

static void events_free(struct events *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->v[i].data);
	free(e->v);
	memset(e, 0, sizeof(*e));
}

static size_t events_count(const struct events *e,
			   enum sealine_decode_event type)
{
	size_t i, n = 0;

	for (i = 0; i < e->n; i++)
		n += e->v[i].type == type;
	return n;
}

/* ---- feeding -------------------------------------------------------- */

/*
 * Feeds in[0..len) to d in chunks: max_chunk 0 feeds everything at once,
 * otherwise each chunk has a random size in 1..max_chunk. Checks the
 * feed contract and appends every FRAME and RESYNC to ev.
 */
static bool feed_chunked(struct sealine_decoder *d, const uint8_t *in,
			 size_t len, size_t max_chunk, struct events *ev)
{
	size_t pos = 0;

	while (pos < len) {
		size_t n = max_chunk ? 1 + check_below(max_chunk) : len;
		size_t p = 0;
		uint8_t *chunk;

		if (n > len - pos)
			n = len - pos;
		chunk = malloc(n);
		if (!chunk)
			abort();
		memcpy(chunk, in + pos, n);
		while (p < n) {
			enum sealine_decode_event e = SEALINE_DECODE_MORE;
			size_t used = sealine_decoder_feed(d, chunk + p, n - p, &e);

			if (!CHECKF(used >= 1 && used <= n - p,
				    "feed of %zu consumed %zu", n - p, used) ||
			    !CHECKF(e == SEALINE_DECODE_MORE ||
				    e == SEALINE_DECODE_FRAME ||
				    e == SEALINE_DECODE_RESYNC,
				    "bad event %d", (int)e) ||
			    !CHECKF(e != SEALINE_DECODE_MORE || used == n - p,
				    "MORE but only %zu of %zu consumed", used,
				    n - p)) {
				free(chunk);
				return false;
			}
			/* Every event ends at a delimiter. */
			if (e != SEALINE_DECODE_MORE &&
			    !CHECKF(chunk[p + used - 1] == 0,
				    "event not at a delimiter")) {
				free(chunk);
				return false;
			}
			if (e == SEALINE_DECODE_FRAME) {
				if (!CHECKF(d->frame_len >= 1 &&
					    d->frame_len < sizeof(d->buf),
					    "frame_len %zu", d->frame_len)) {
					free(chunk);
					return false;
				}
				events_push(ev, e, d->buf, d->frame_len);
			} else if (e == SEALINE_DECODE_RESYNC) {
				events_push(ev, e, NULL, 0);
			}
			p += used;
		}
		free(chunk);
		pos += n;
	}
	return true;
}

static void decode_stream(const struct bytes *s, size_t max_chunk,
			  struct events *ev)
{
	struct sealine_decoder *d = malloc(sizeof(*d));

	if (!d)
		abort();
	memset(d, 0xa5, sizeof(*d));	/* init must not rely on zeroed memory */
	sealine_decoder_init(d);
	feed_chunked(d, s->p, s->len, max_chunk, ev);
	free(d);
}

/* Compares got against want (types, and frame bytes); reports the first
 * difference with a label.
 */
static bool events_equal(const struct events *got, const struct events *want,
			 const char *what)
{
	size_t i;

	if (!CHECKF(got->n == want->n, "%s: %zu events, expected %zu "
		    "(%zu frames, %zu resyncs)", what, got->n, want->n,
		    events_count(got, SEALINE_DECODE_FRAME),
		    events_count(got, SEALINE_DECODE_RESYNC)))
		return false;
	for (i = 0; i < got->n; i++) {
		if (!CHECKF(got->v[i].type == want->v[i].type,
			    "%s: event %zu is %d, expected %d", what, i,
			    (int)got->v[i].type, (int)want->v[i].type))
			return false;
		if (got->v[i].type != SEALINE_DECODE_FRAME)
			continue;
		if (!CHECKF(got->v[i].len == want->v[i].len &&
			    !memcmp(got->v[i].data, want->v[i].data,
				    got->v[i].len),
			    "%s: frame %zu differs (%zu bytes, expected %zu)",
			    what, i, got->v[i].len, want->v[i].len))
			return false;
	}
	return true;
}

/* ---- frames --------------------------------------------------------- */

struct frame_set {
	uint8_t **raw;
	size_t *len;
	size_t n;
};

/*
 * A random frame, unique by index: data frames carry the index as their
 * counter, control messages start with it. max_body bounds the payload.
 */
static size_t make_frame(uint8_t *out, uint32_t idx, size_t max_body,
			 int types)
{
	static uint8_t body[SEALINE_MAX_PAYLOAD + SEALINE_TAG_LEN];
	size_t n;

	switch (types == -1 ? (int)check_below(3) : types) {
	case SEALINE_FRAME_DATA:
		n = check_below(max_body + 1);
		if (check_below(16) == 0)
			n = max_body;
		if (check_below(2))
			check_fill_random(body, n + SEALINE_TAG_LEN);
		else	/* many zeros: the worst case for some framings */
			for (size_t i = 0; i < n + SEALINE_TAG_LEN; i++)
				body[i] = check_below(3) ? 0 :
					  (uint8_t)check_rand();
		return ref_aead_frame(out, SEALINE_FRAME_DATA,
				      (uint32_t)check_rand(), idx, body,
				      n + SEALINE_TAG_LEN);
	case SEALINE_FRAME_KEEPALIVE:
		check_fill_random(body, SEALINE_TAG_LEN);
		return ref_aead_frame(out, SEALINE_FRAME_KEEPALIVE,
				      (uint32_t)check_rand(), idx, body,
				      SEALINE_TAG_LEN);
	default:
		n = 4 + check_below(max_body + 1);
		if (n > SEALINE_MAX_CONTROL)
			n = SEALINE_MAX_CONTROL;
		check_fill_random(body, n);
		body[0] = (uint8_t)(idx >> 24);
		body[1] = (uint8_t)(idx >> 16);
		body[2] = (uint8_t)(idx >> 8);
		body[3] = (uint8_t)idx;
		return sealine_control_build(out, body, n);
	}
}

static void frames_make(struct frame_set *fs, size_t n, size_t max_body,
			int types)
{
	static uint8_t tmp[SEALINE_FRAME_MAX_RAW];
	size_t i;

	fs->n = n;
	fs->raw = calloc(n, sizeof(*fs->raw));
	fs->len = calloc(n, sizeof(*fs->len));
	if (!fs->raw || !fs->len)
		abort();
	for (i = 0; i < n; i++) {
		fs->len[i] = make_frame(tmp, (uint32_t)i, max_body, types);
		fs->raw[i] = malloc(fs->len[i]);
		if (!fs->raw[i])
			abort();
		memcpy(fs->raw[i], tmp, fs->len[i]);
	}
}

static void frames_free(struct frame_set *fs)
{
	size_t i;

	for (i = 0; i < fs->n; i++)
		free(fs->raw[i]);
	free(fs->raw);
	free(fs->len);
}

static void want_frames(struct events *want, const struct frame_set *fs,
			size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++)
		events_push(want, SEALINE_DECODE_FRAME, fs->raw[i], fs->len[i]);
}

static const size_t chunkings[] = { 0, 1, 2, 3, 5, 17, 64, 255, 1000, 5000 };
#define N_CHUNKINGS (sizeof(chunkings) / sizeof(chunkings[0]))

/* ---- tests ---------------------------------------------------------- */

/* Frames of every type and size, idle delimiters between some of them,
 * fed at once, byte by byte and in random chunks: all come out intact, in
 * order, with no resync.
 */
TEST(dec_split_across_feeds)
{
	struct frame_set fs;
	struct bytes s = { 0 };
	struct events want = { 0 };
	size_t i, c;

	frames_make(&fs, 120, SEALINE_MAX_PAYLOAD, -1);
	bytes_byte(&s, 0);
	for (i = 0; i < fs.n; i++) {
		bytes_wire(&s, fs.raw[i], fs.len[i]);
		if (check_below(4) == 0)
			for (c = check_below(4); c; c--)
				bytes_byte(&s, 0);
	}
	want_frames(&want, &fs, 0, fs.n);
	for (c = 0; c < N_CHUNKINGS; c++) {
		struct events got = { 0 };
		char what[32];

		snprintf(what, sizeof(what), "chunk<=%zu", chunkings[c]);
		decode_stream(&s, chunkings[c], &got);
		events_equal(&got, &want, what);
		events_free(&got);
	}
	events_free(&want);
	bytes_free(&s);
	frames_free(&fs);
}

/* The largest frames, with no zero bytes (worst COBS expansion) and with
 * only zeros, decode intact.
 */
TEST(dec_largest_frames)
{
	static uint8_t raw[SEALINE_FRAME_MAX_RAW], msg[SEALINE_MAX_CONTROL];
	static uint8_t body[SEALINE_MAX_PAYLOAD + SEALINE_TAG_LEN];
	struct bytes s = { 0 };
	struct events want = { 0 }, got = { 0 };
	size_t len;

	bytes_byte(&s, 0);
	memset(body, 0x5a, sizeof(body));
	len = ref_aead_frame(raw, SEALINE_FRAME_DATA, 1, 0x01010101, body,
			     sizeof(body));
	CHECK_EQ(len, SEALINE_FRAME_MAX_RAW);
	bytes_wire(&s, raw, len);
	CHECK_EQ(s.len, 1 + sealine_cobs_max(SEALINE_FRAME_MAX_RAW) + 1);
	events_push(&want, SEALINE_DECODE_FRAME, raw, len);

	memset(body, 0, sizeof(body));
	len = ref_aead_frame(raw, SEALINE_FRAME_DATA, 1, 0, body, sizeof(body));
	bytes_wire(&s, raw, len);
	events_push(&want, SEALINE_DECODE_FRAME, raw, len);

	memset(msg, 0xee, sizeof(msg));
	len = sealine_control_build(raw, msg, sizeof(msg));
	bytes_wire(&s, raw, len);
	events_push(&want, SEALINE_DECODE_FRAME, raw, len);

	decode_stream(&s, 0, &got);
	events_equal(&got, &want, "at once");
	events_free(&got);
	decode_stream(&s, 1, &got);
	events_equal(&got, &want, "bytewise");
	events_free(&got);
	events_free(&want);
	bytes_free(&s);
}

/* A stream that starts with a delimiter reports no resync; so does one
 * that starts with several.
 */
TEST(dec_clean_start_no_resync)
{
	struct frame_set fs;
	size_t lead, c;

	frames_make(&fs, 5, 100, -1);
	for (lead = 1; lead <= 4; lead++) {
		struct bytes s = { 0 };
		struct events want = { 0 };
		size_t i;

		for (i = 0; i < lead; i++)
			bytes_byte(&s, 0);
		for (i = 0; i < fs.n; i++)
			bytes_wire(&s, fs.raw[i], fs.len[i]);
		want_frames(&want, &fs, 0, fs.n);
		for (c = 0; c < N_CHUNKINGS; c++) {
			struct events got = { 0 };

			decode_stream(&s, chunkings[c], &got);
			events_equal(&got, &want, "clean start");
			CHECK_EQ(events_count(&got, SEALINE_DECODE_RESYNC), 0);
			events_free(&got);
		}
		events_free(&want);
		bytes_free(&s);
	}
	frames_free(&fs);
}

/* Garbage before the first delimiter (random bytes of many lengths, or the
 * tail of a frame sent before we attached) is one RESYNC, then all frames.
 */
TEST(dec_leading_garbage_one_resync)
{
	static const size_t glen[] = {
		1, 2, 3, 100, 254, 255, SEALINE_FRAME_MAX_WIRE - 1,
		SEALINE_FRAME_MAX_WIRE, SEALINE_FRAME_MAX_WIRE + 1,
		3 * SEALINE_FRAME_MAX_WIRE + 7,
	};
	struct frame_set fs;
	size_t g, c, i;

	frames_make(&fs, 6, 300, -1);
	for (g = 0; g < sizeof(glen) / sizeof(glen[0]) + 8; g++) {
		struct bytes s = { 0 };
		struct events want = { 0 };

		if (g < sizeof(glen) / sizeof(glen[0])) {
			for (i = 0; i < glen[g]; i++)
				bytes_byte(&s, (uint8_t)(1 + check_below(255)));
			bytes_byte(&s, 0);
		} else {
			/* The tail of a frame, its delimiter included. */
			struct bytes w = { 0 };

			bytes_wire(&w, fs.raw[g % fs.n], fs.len[g % fs.n]);
			i = 1 + check_below(w.len - 2);
			bytes_put(&s, w.p + i, w.len - i);
			bytes_free(&w);
		}
		for (i = 0; i < fs.n; i++)
			bytes_wire(&s, fs.raw[i], fs.len[i]);
		events_push(&want, SEALINE_DECODE_RESYNC, NULL, 0);
		want_frames(&want, &fs, 0, fs.n);
		for (c = 0; c < N_CHUNKINGS; c++) {
			struct events got = { 0 };

			decode_stream(&s, chunkings[c], &got);
			events_equal(&got, &want, "leading garbage");
			events_free(&got);
		}
		events_free(&want);
		bytes_free(&s);
	}
	frames_free(&fs);
}

/* A frame right at the start, with no delimiter before it, cannot be told
 * apart from the tail of an earlier frame: it is dropped as one RESYNC.
 */
TEST(dec_no_leading_delimiter_loses_first_frame)
{
	struct frame_set fs;
	struct bytes s = { 0 };
	struct events want = { 0 }, got = { 0 };
	size_t i;

	frames_make(&fs, 4, 100, -1);
	for (i = 0; i < fs.n; i++)
		bytes_wire(&s, fs.raw[i], fs.len[i]);
	events_push(&want, SEALINE_DECODE_RESYNC, NULL, 0);
	want_frames(&want, &fs, 1, fs.n);
	decode_stream(&s, 0, &got);
	events_equal(&got, &want, "no leading delimiter");
	events_free(&got);
	events_free(&want);
	bytes_free(&s);
	frames_free(&fs);
}

/* Runs of delimiters between, before and after frames produce nothing. */
TEST(dec_idle_delimiters)
{
	struct frame_set fs;
	struct bytes s = { 0 };
	struct events want = { 0 };
	size_t i, c;

	frames_make(&fs, 3, 50, -1);
	for (i = 0; i < 100; i++)
		bytes_byte(&s, 0);
	for (i = 0; i < fs.n; i++) {
		bytes_wire(&s, fs.raw[i], fs.len[i]);
		for (c = 0; c < 1 + 20 * i; c++)
			bytes_byte(&s, 0);
	}
	want_frames(&want, &fs, 0, fs.n);
	for (c = 0; c < N_CHUNKINGS; c++) {
		struct events got = { 0 };

		decode_stream(&s, chunkings[c], &got);
		events_equal(&got, &want, "idle");
		events_free(&got);
	}
	events_free(&want);
	bytes_free(&s);

	/* Only delimiters: no event at all. */
	{
		struct events got = { 0 };

		for (i = 0; i < 5000; i++)
			bytes_byte(&s, 0);
		decode_stream(&s, 0, &got);
		CHECK_EQ(got.n, 0);
		events_free(&got);
		bytes_free(&s);
	}
	frames_free(&fs);
}

/* More than SEALINE_FRAME_MAX_WIRE bytes without a delimiter: one RESYNC,
 * and the next frame decodes. Exactly the buffer size is still tried as a
 * frame (here it is invalid COBS): one RESYNC as well.
 */
TEST(dec_oversized_frame)
{
	static const size_t olen[] = {
		SEALINE_FRAME_MAX_WIRE, SEALINE_FRAME_MAX_WIRE + 1,
		SEALINE_FRAME_MAX_WIRE + 2, 2 * SEALINE_FRAME_MAX_WIRE,
		10000,
	};
	struct frame_set fs;
	size_t o, c, i;

	frames_make(&fs, 3, 200, -1);
	for (o = 0; o < sizeof(olen) / sizeof(olen[0]); o++) {
		for (c = 0; c < N_CHUNKINGS; c++) {
			struct bytes s = { 0 };
			struct events got = { 0 }, want = { 0 };

			bytes_byte(&s, 0);
			bytes_wire(&s, fs.raw[0], fs.len[0]);
			/* All 0xff at exactly the buffer size: the last
			 * code runs past the end, invalid COBS.
			 */
			for (i = 0; i < olen[o]; i++)
				bytes_byte(&s, olen[o] == SEALINE_FRAME_MAX_WIRE
					   || check_below(2) ? 0xff :
					   (uint8_t)(1 + check_below(255)));
			bytes_byte(&s, 0);
			bytes_wire(&s, fs.raw[1], fs.len[1]);
			bytes_wire(&s, fs.raw[2], fs.len[2]);
			decode_stream(&s, chunkings[c], &got);
			want_frames(&want, &fs, 0, 1);
			events_push(&want, SEALINE_DECODE_RESYNC, NULL, 0);
			want_frames(&want, &fs, 1, 3);
			events_equal(&got, &want, "oversized");
			events_free(&want);
			events_free(&got);
			bytes_free(&s);
		}
	}

	/* The boundary itself: a valid block of exactly the buffer size is
	 * decoded (to more than SEALINE_FRAME_MAX_RAW bytes, which parse
	 * rejects); one byte more is not even collected.
	 */
	{
		size_t extra;

		for (extra = 0; extra <= 1; extra++) {
			struct bytes s = { 0 };
			struct events got = { 0 };
			uint8_t blk[255];
			size_t left = SEALINE_FRAME_MAX_WIRE + extra;
			struct sealine_frame f;

			bytes_byte(&s, 0);
			while (left) {
				size_t code = left < 255 ? left : 255;

				memset(blk, 0x33, sizeof(blk));
				blk[0] = (uint8_t)code;
				bytes_put(&s, blk, code);
				left -= code;
			}
			bytes_byte(&s, 0);
			bytes_wire(&s, fs.raw[2], fs.len[2]);
			decode_stream(&s, 0, &got);
			if (!CHECK_EQ(got.n, 2))
				goto next;
			if (extra) {
				CHECK_EQ(got.v[0].type, SEALINE_DECODE_RESYNC);
			} else if (CHECK_EQ(got.v[0].type,
					    SEALINE_DECODE_FRAME)) {
				CHECK(got.v[0].len > SEALINE_FRAME_MAX_RAW);
				CHECK(sealine_frame_parse(got.v[0].data,
							  got.v[0].len, &f));
			}
			CHECK(got.v[1].type == SEALINE_DECODE_FRAME &&
			      got.v[1].len == fs.len[2] &&
			      !memcmp(got.v[1].data, fs.raw[2], fs.len[2]));
next:
			events_free(&got);
			bytes_free(&s);
		}
	}
	frames_free(&fs);
}

/* Blocks that are not valid COBS are one RESYNC each; the decoder never
 * returns an empty frame.
 */
TEST(dec_invalid_cobs)
{
	static const struct {
		uint8_t b[8];
		size_t len;
	} bad[] = {
		{ { 0x05, 0x11, 0x22 }, 3 },	/* run past the end */
		{ { 0x02 }, 1 },
		{ { 0x02, 0x11, 0x05, 0x22 }, 4 },
		{ { 0x01 }, 1 },		/* decodes to nothing */
	};
	struct frame_set fs;
	size_t b, c;

	frames_make(&fs, 2, 100, -1);
	for (b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
		struct bytes s = { 0 };
		struct events want = { 0 };

		bytes_byte(&s, 0);
		bytes_wire(&s, fs.raw[0], fs.len[0]);
		bytes_put(&s, bad[b].b, bad[b].len);
		bytes_byte(&s, 0);
		bytes_wire(&s, fs.raw[1], fs.len[1]);
		want_frames(&want, &fs, 0, 1);
		events_push(&want, SEALINE_DECODE_RESYNC, NULL, 0);
		want_frames(&want, &fs, 1, 2);
		for (c = 0; c < N_CHUNKINGS; c++) {
			struct events got = { 0 };

			decode_stream(&s, chunkings[c], &got);
			events_equal(&got, &want, "invalid cobs");
			events_free(&got);
		}
		events_free(&want);
		bytes_free(&s);
	}
	frames_free(&fs);
}

/* Feeds w0 (whole), then w1 split at cut with poison calls in between,
 * then w2, and returns the events.
 */
static void feed_poisoned(const struct bytes *w0, const struct bytes *w1,
			  const struct bytes *w2, size_t cut, int npoison,
			  struct events *got)
{
	struct sealine_decoder *d = malloc(sizeof(*d));

	if (!d)
		abort();
	sealine_decoder_init(d);
	feed_chunked(d, w0->p, w0->len, 0, got);
	feed_chunked(d, w1->p, cut, 0, got);
	while (npoison--)
		sealine_decoder_poison(d);
	feed_chunked(d, w1->p + cut, w1->len - cut, 0, got);
	feed_chunked(d, w2->p, w2->len, 0, got);
	free(d);
}

/* A byte flagged by the driver (poison) loses exactly the frame it lands
 * in: wherever it falls in the frame, even right before its delimiter,
 * and however often it is flagged.
 */
TEST(dec_poison_loses_one_frame)
{
	struct frame_set fs;
	struct bytes w0 = { 0 }, w1 = { 0 }, w2 = { 0 };
	struct events want = { 0 };
	size_t cut;
	int np;

	frames_make(&fs, 3, 300, -1);
	bytes_byte(&w0, 0);
	bytes_wire(&w0, fs.raw[0], fs.len[0]);
	bytes_wire(&w1, fs.raw[1], fs.len[1]);
	bytes_wire(&w2, fs.raw[2], fs.len[2]);
	want_frames(&want, &fs, 0, 1);
	events_push(&want, SEALINE_DECODE_RESYNC, NULL, 0);
	want_frames(&want, &fs, 2, 3);
	for (np = 1; np <= 2; np++) {
		for (cut = 0; cut < w1.len; cut++) {
			struct events got = { 0 };

			feed_poisoned(&w0, &w1, &w2, cut, np, &got);
			events_equal(&got, &want, "poison");
			events_free(&got);
			if (check_failing())
				goto out;
		}
	}

	/* Poison before anything arrived: one RESYNC at the first
	 * delimiter, and the frames after it are intact.
	 */
	{
		struct sealine_decoder d;
		struct events got = { 0 }, want2 = { 0 };

		sealine_decoder_init(&d);
		sealine_decoder_poison(&d);
		feed_chunked(&d, w0.p, w0.len, 0, &got);
		feed_chunked(&d, w2.p, w2.len, 0, &got);
		events_push(&want2, SEALINE_DECODE_RESYNC, NULL, 0);
		want_frames(&want2, &fs, 0, 1);
		want_frames(&want2, &fs, 2, 3);
		events_equal(&got, &want2, "poison at start");
		events_free(&got);
		events_free(&want2);
	}
out:
	events_free(&want);
	bytes_free(&w0);
	bytes_free(&w1);
	bytes_free(&w2);
	frames_free(&fs);
}

/*
 * Random line noise (bit flips, dropped and inserted bytes, lost or extra
 * delimiters) over some frames of a long stream. Then:
 *  - every frame that comes out either equals an original (and originals
 *    come out in order, none twice), or is damaged: a damaged frame never
 *    passes as a control frame (CRC), and may parse as data or keepalive
 *    only because the AEAD, not the frame layer, rejects those;
 *  - every undamaged frame preceded by a 0x00 on the wire comes out: the
 *    decoder is resynchronised by the first delimiter after the noise, so
 *    at most one clean frame after a damaged one is lost.
 */
static size_t mutate(const uint8_t *in, size_t len, uint8_t *out)
{
	size_t n = len, k, muts = 1 + check_below(4), pos;

	memcpy(out, in, len);
	for (k = 0; k < muts; k++) {
		switch (check_below(5)) {
		case 0:	/* bit flip */
		case 1:
			if (!n)
				break;
			pos = check_below(n);
			out[pos] ^= (uint8_t)(1u << check_below(8));
			break;
		case 2:	/* dropped byte */
			if (!n)
				break;
			pos = check_below(n);
			memmove(out + pos, out + pos + 1, n - pos - 1);
			n--;
			break;
		case 3:	/* inserted byte, often a delimiter */
			pos = check_below(n + 1);
			memmove(out + pos + 1, out + pos, n - pos);
			out[pos] = check_below(2) ? 0 : (uint8_t)check_rand();
			n++;
			break;
		default: /* lost delimiter */
			if (n && out[n - 1] == 0)
				n--;
			break;
		}
	}
	return n;
}

TEST(dec_noise_recovery)
{
	unsigned int round;
	unsigned long damaged_aead = 0, damaged_rejected = 0, lost = 0;

	for (round = 0; round < 300; round++) {
		struct frame_set fs;
		struct bytes s = { 0 };
		struct events got = { 0 };
		size_t nf = 40, i, e, next = 0, noisy_from, noisy_to;
		bool *must = calloc(nf, sizeof(bool));
		bool *seen = calloc(nf, sizeof(bool));
		bool prev_zero = true;
		/* Mostly control frames: their CRC is what is under test. */
		int types = check_below(4) ? SEALINE_FRAME_CONTROL : -1;

		if (!must || !seen)
			abort();
		frames_make(&fs, nf, 200, types);
		noisy_from = check_below(nf / 2);
		noisy_to = noisy_from + 1 + check_below(nf / 2);
		bytes_byte(&s, 0);
		for (i = 0; i < nf; i++) {
			uint8_t w[SEALINE_FRAME_MAX_WIRE];
			uint8_t m[sizeof(w) + 8];
			size_t wl = ref_wire(fs.raw[i], fs.len[i], w), ml;

			if (i >= noisy_from && i < noisy_to &&
			    check_below(3) != 0) {
				ml = mutate(w, wl, m);
				bytes_put(&s, m, ml);
				prev_zero = ml ? m[ml - 1] == 0 : prev_zero;
			} else {
				must[i] = prev_zero;
				bytes_put(&s, w, wl);
				prev_zero = true;
			}
		}
		decode_stream(&s, check_below(2) ? 1 + check_below(300) : 0,
			      &got);

		for (e = 0; e < got.n; e++) {
			struct sealine_frame f;
			size_t j;

			if (got.v[e].type != SEALINE_DECODE_FRAME)
				continue;
			for (j = 0; j < nf; j++)
				if (fs.len[j] == got.v[e].len &&
				    !memcmp(fs.raw[j], got.v[e].data,
					    got.v[e].len))
					break;
			if (j < nf) {
				CHECKF(j >= next, "round %u: frame %zu came "
				       "out after frame %zu", round, j, next);
				seen[j] = true;
				next = j + 1;
				continue;
			}
			if (sealine_frame_parse(got.v[e].data, got.v[e].len,
						&f) == 0) {
				CHECKF(f.type != SEALINE_FRAME_CONTROL,
				       "round %u: damaged control frame of "
				       "%zu bytes parsed", round, got.v[e].len);
				damaged_aead++;
			} else {
				damaged_rejected++;
			}
		}
		for (i = 0; i < nf; i++) {
			CHECKF(!must[i] || seen[i], "round %u: clean frame "
			       "%zu (noise in %zu..%zu) lost", round, i,
			       noisy_from, noisy_to - 1);
			if (i >= noisy_to && !seen[i])
				lost++;
		}
		/* Resync within one frame after the noise ends. */
		for (i = noisy_to + 1; i < nf; i++)
			CHECKF(seen[i], "round %u: frame %zu, 2+ after the "
			       "noise, lost", round, i);
		free(must);
		free(seen);
		events_free(&got);
		bytes_free(&s);
		frames_free(&fs);
		if (check_failing())
			return;
	}
	printf("  noise: %lu damaged frames rejected by parse, %lu left "
	       "to the AEAD, %lu clean frames lost right after noise\n",
	       damaged_rejected, damaged_aead, lost);
	CHECK(damaged_rejected > 100);
}

int main(int argc, char **argv)
{
	check_init(argc, argv);
	RUN(dec_split_across_feeds);
	RUN(dec_largest_frames);
	RUN(dec_clean_start_no_resync);
	RUN(dec_leading_garbage_one_resync);
	RUN(dec_no_leading_delimiter_loses_first_frame);
	RUN(dec_idle_delimiters);
	RUN(dec_oversized_frame);
	RUN(dec_invalid_cobs);
	RUN(dec_poison_loses_one_frame);
	RUN(dec_noise_recovery);
	return check_summary();
}
