// SPDX-License-Identifier: GPL-2.0
/*
 * The ARQ core (kmod/arq.c) under arbitrary input. The first byte picks
 * one of two games:
 *
 * Even: one end, driven by operations from the input, each an opcode byte
 * (low 3 bits) and its arguments:
 *	0 n		write n bytes
 *	1 k		build a frame under key k & 3 with the next counter, or
 *			(bit 2 of k) the last one again, which must be refused;
 *			a frame built must parse and fit a data frame
 *	2 l f bytes	hand l bytes of plaintext to sealine_arq_rx(), newest
 *			if f & 1
 *	3 f a b c	hand over a well-formed header whose flags are f and
 *			whose fields lie near the end's own offsets (a, b, c
 *			choose how near), so that the state machine is reached
 *	4 t t		let t ms pass and run the timers
 *	5 n		read up to n * 16 bytes
 *	6		reset with a new stream id
 *	7 c		new settings from c
 * After every operation the state must pass arq_sim_check().
 *
 * Odd: two ends on the simulated line of tests/unit/arq_sim.h, where the
 * rest of the input decides the fate of each frame (drop, repeat, damage,
 * delay): every byte written must be read exactly once, in order, and no
 * nonce may repeat.
 */
#include "fuzz.h"
#include "arq_sim.h"

struct reader {
	const uint8_t *p;
	size_t n, i;
};

static bool take(struct reader *r, size_t k, const uint8_t **out)
{
	if (r->i + k > r->n)
		return false;
	*out = r->p + r->i;
	r->i += k;
	return true;
}

static void check_state(const struct sealine_arq *a)
{
	const char *bad = arq_sim_check(a);

	if (bad) {
		fprintf(stderr, "invariant: %s\n", bad);
		abort();
	}
}

static void one_end(struct reader *r)
{
	static uint8_t tx_ring[4096], rx_ring[2048];
	uint8_t pt[SEALINE_MAX_PAYLOAD], data[256];
	uint64_t counters[4] = { 0 };
	struct sealine_arq a;
	struct sealine_arq_hdr h;
	u32 now = 0, wrote = 0;
	const uint8_t *q;
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	FUZZ_ASSERT(!sealine_arq_init(&a, tx_ring, sizeof(tx_ring), rx_ring,
				      sizeof(rx_ring), 0x10000, 0));
	while (take(r, 1, &q)) {
		switch (q[0] & 7) {
		case 0:
			if (!take(r, 1, &q))
				return;
			wrote += (u32)sealine_arq_write(&a, data, q[0]);
			break;
		case 1: {
			unsigned int k;
			int n;

			if (!take(r, 1, &q))
				return;
			k = q[0] & 3;
			if ((q[0] & 4) && counters[k]) {
				struct sealine_arq before = a;

				/* The last counter used under this key. */
				if (a.guard_valid && a.guard_key == k &&
				    a.guard_counter == counters[k] - 1) {
					n = sealine_arq_tx_build(&a, now, k,
								 counters[k] - 1,
								 pt, sizeof(pt));
					FUZZ_ASSERT(n == -EINVAL);
					FUZZ_ASSERT(!memcmp(&before, &a,
							    sizeof(a)));
				}
				break;
			}
			n = sealine_arq_tx_build(&a, now, k, counters[k], pt,
						 sizeof(pt));
			FUZZ_ASSERT(n >= 0);
			if (!n)
				break;
			counters[k]++;
			FUZZ_ASSERT(n <= SEALINE_MAX_PAYLOAD);
			FUZZ_ASSERT(!sealine_arq_hdr_parse(pt, (size_t)n, &h));
			FUZZ_ASSERT(h.payload_len <= SEALINE_ARQ_MAX_DATA);
			FUZZ_ASSERT(!(h.flags & SEALINE_ARQ_F_DATA) ||
				    !arq_sim_before(h.offset, a.una));
			break;
		}
		case 2: {
			const uint8_t *b;
			size_t len;

			if (!take(r, 2, &q))
				return;
			len = q[0];
			if (!take(r, len, &b))
				return;
			/* Exactly len bytes on the heap: ASan sees overreads. */
			{
				uint8_t *copy = fuzz_malloc(len);

				memcpy(copy, b, len);
				sealine_arq_rx(&a, copy, len, q[1] & 1, now);
				free(copy);
			}
			break;
		}
		case 3: {
			uint8_t out[SEALINE_MAX_PAYLOAD];
			size_t n, plen;
			unsigned int k;

			if (!take(r, 4, &q))
				return;
			memset(&h, 0, sizeof(h));
			h.flags = q[0] & 0xfe;
			if (h.flags & SEALINE_ARQ_F_SYN)
				h.flags |= SEALINE_ARQ_F_DATA;
			if (!(h.flags & SEALINE_ARQ_F_ACK))
				h.flags &= ~(SEALINE_ARQ_F_ECHO |
					     SEALINE_ARQ_F_SACK_MASK);
			h.nsack = (h.flags & SEALINE_ARQ_F_SACK_MASK) >>
				  SEALINE_ARQ_F_SACK_SHIFT;
			h.sid = q[1] & 0x80 ? a.peer_sid : 0x20000 + (q[1] & 3);
			h.offset = a.rcv_nxt + (u32)(int8_t)q[1] * 16;
			h.ack = a.una + (u32)(q[2] & 0x7f) * 8;
			h.window = (u16)(q[3] * 64);
			h.echo = q[2] & 0x80 ? a.sid : a.sid + 1;
			for (k = 0; k < h.nsack; k++) {
				h.sack[k].start = (u16)(1 + k * 300 +
							(q[3] & 0x3f));
				h.sack[k].len = (u16)(1 + (q[1] & 0x3f) * 3);
			}
			n = sealine_arq_hdr_put(out, &h);
			plen = h.flags & SEALINE_ARQ_F_DATA ?
			       1 + (size_t)q[3] * 4 : 0;
			memset(out + n, 0xa5, plen);
			FUZZ_ASSERT(!sealine_arq_rx(&a, out, n + plen,
						    q[0] & 1, now));
			break;
		}
		case 4:
			if (!take(r, 2, &q))
				return;
			now += (u32)q[0] << 8 | q[1];
			sealine_arq_tick(&a, now);
			FUZZ_ASSERT(sealine_arq_timeout(&a, now) != 0 ||
				    sealine_arq_tx_pending(&a, now) ||
				    a.ack_pending || a.rst_pending);
			break;
		case 5: {
			uint8_t buf[4096];

			if (!take(r, 1, &q))
				return;
			sealine_arq_read(&a, buf, (size_t)q[0] * 16, now);
			break;
		}
		case 6:
			sealine_arq_reset(&a, wrote * 977, now);
			break;
		default: {
			struct sealine_arq_config cfg = a.cfg;

			if (!take(r, 1, &q))
				return;
			cfg.max_frame = (u16)(1 + (q[0] & 0xf) * 130);
			cfg.min_frame = (u16)(1 + (q[0] >> 4));
			if (cfg.min_frame > cfg.max_frame)
				cfg.min_frame = cfg.max_frame;
			cfg.line_rate = q[0] & 1 ? 30u * q[0] : 0;
			cfg.dead_ms = 1000u + q[0] * 100u;
			FUZZ_ASSERT(!sealine_arq_set_config(&a, &cfg));
			break;
		}
		}
		check_state(&a);
	}
}

static void two_ends(struct reader *r)
{
	struct sealine_arq_config cfg;
	struct arq_sim s;
	uint64_t seed = 0;
	const uint8_t *q;
	int e;

	if (!take(r, 4, &q))
		return;
	memcpy(&seed, q, 4);
	arq_sim_init(&s, seed, q[1] & 1 ? 2048 : 4096, q[1] & 2 ? 2048 : 8192);
	s.rate = q[2] & 1 ? 11520 : 1000000;
	s.delay = q[2] >> 4;
	s.byte_mode = q[1] & 4;
	s.rekey_every = q[1] & 8 ? 300 : 0;
	s.next_rekey = 300;
	cfg = s.end[0].arq.cfg;
	cfg.max_frame = (u16)(8 + (q[3] & 0x7f) * 8);
	cfg.min_frame = 1;
	cfg.line_rate = q[3] & 0x80 ? s.rate : 0;
	arq_sim_config(&s, &cfg);
	for (e = 0; e < 2; e++) {
		s.end[e].writer = ARQ_SIM_W_BULK;
		s.end[e].to_write = 1000 + (q[0] & 0x3f) * 100;
		s.end[e].reader = q[1] & 0x10 ? ARQ_SIM_R_SLOW : ARQ_SIM_R_FAST;
	}
	s.script = r->p + r->i;
	s.script_len = r->n - r->i;
	arq_sim_run(&s, 2000, true);
	/* Then a clean line: everything must get through. */
	s.script = NULL;
	if (!arq_sim_drain(&s, 600000) && !s.fail[0])
		arq_sim_failf(&s, "not drained: %llu/%llu, %llu/%llu",
			      (unsigned long long)s.end[1].readn,
			      (unsigned long long)s.end[0].written,
			      (unsigned long long)s.end[0].readn,
			      (unsigned long long)s.end[1].written);
	if (s.fail[0]) {
		fprintf(stderr, "%s\n", s.fail);
		abort();
	}
	arq_sim_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size, 1 };

	if (!size)
		return 0;
	if (data[0] & 1)
		two_ends(&r);
	else
		one_end(&r);
	return 0;
}
