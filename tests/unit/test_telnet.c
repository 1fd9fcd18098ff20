// SPDX-License-Identifier: GPL-2.0
/*
 * Telnet with RFC 2217 Com Port Control, the TSP's client side
 * (agent/tsp/telnet.c): data with every byte value both ways, commands
 * split across reads at every position, negotiation that answers only
 * changes (so two peers never loop), options refused, the client's
 * opening as RFC 2217 lays it out, DTR, and carrier loss from
 * NOTIFY-MODEMSTATE. The server's side of the exchanges is the one
 * ser2net sent in a capture (tests/tsp/test-cluster.sh runs the real one).
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "telnet.h"

#define IAC SL_TELNET_IAC

static size_t drain(struct sl_byteq *q, uint8_t *out, size_t max)
{
	size_t n = 0;

	while (sl_byteq_len(q) && n < max) {
		const uint8_t *p;
		size_t k = sl_byteq_peek(q, &p);

		if (k > max - n)
			k = max - n;
		memcpy(out + n, p, k);
		sl_byteq_consume(q, k);
		n += k;
	}
	return n;
}

TEST(data_round_trip)
{
	uint8_t data[512], wire[SL_TELNET_ESCAPED(512)], back[1024] = { 0 };
	struct sl_telnet t;
	struct sl_byteq reply;
	size_t n, got = 0;

	for (int i = 0; i < 512; ++i)
		data[i] = (uint8_t)i;
	n = sl_telnet_escape(data, sizeof(data), wire);
	CHECK_EQ(n, 512u + 2);		/* two 0xFF doubled */
	/* Fed one byte at a time: an IAC IAC split across reads. */
	sl_telnet_init(&t);
	sl_byteq_init(&reply, 256);
	for (size_t i = 0; i < n; ++i)
		got += sl_telnet_decode(&t, wire + i, 1, back + got, &reply);
	CHECK_EQ(got, sizeof(data));
	CHECK_MEM(back, data, sizeof(data));
	CHECK_EQ(sl_byteq_len(&reply), 0u);
	sl_byteq_free(&reply);
}

/* ser2net's greeting, as captured, with data around it. */
TEST(negotiation_answers_changes_only)
{
	static const uint8_t server[] = {
		'x', IAC, SL_TELNET_WILL, SL_TELNET_SGA,
		IAC, SL_TELNET_DO, SL_TELNET_SGA,
		IAC, SL_TELNET_WILL, 1 /* ECHO */,
		IAC, SL_TELNET_DONT, 1,
		IAC, SL_TELNET_DO, SL_TELNET_BINARY,
		IAC, SL_TELNET_WILL, SL_TELNET_BINARY,
		IAC, SL_TELNET_DO, SL_TELNET_COM_PORT,
		IAC, SL_TELNET_DO, 24 /* TERMINAL-TYPE */,
		IAC, SL_TELNET_SB, SL_TELNET_COM_PORT, 107, 0x00, IAC, SL_TELNET_SE,
		IAC, SL_TELNET_SB, SL_TELNET_COM_PORT, 101, 0, 1, 0xc2, 0,
		IAC, SL_TELNET_SE, 'y',
	};
	static const uint8_t expect[] = {
		IAC, SL_TELNET_DONT, 1,		/* no echo, thanks */
		IAC, SL_TELNET_WILL, SL_TELNET_COM_PORT,
		IAC, SL_TELNET_WONT, 24,
	};
	struct sl_telnet t;
	struct sl_byteq q;
	uint8_t out[sizeof(server)], got[256];
	size_t n;

	sl_telnet_init(&t);
	sl_byteq_init(&q, 1024);
	CHECK(!sl_telnet_open(&t, &q, false, 115200));
	drain(&q, got, sizeof(got));
	/* Every split point gives the same. */
	for (size_t cut = 0; cut <= sizeof(server); ++cut) {
		struct sl_telnet u = t;

		n = sl_telnet_decode(&u, server, cut, out, &q);
		n += sl_telnet_decode(&u, server + cut, sizeof(server) - cut,
				      out + n, &q);
		if (!CHECKF(n == 2 && out[0] == 'x' && out[1] == 'y',
			    "cut %zu: %zu data bytes", cut, n))
			break;
		n = drain(&q, got, sizeof(got));
		if (!CHECKF(n == sizeof(expect) && !memcmp(got, expect, n),
			    "cut %zu: %zu reply bytes", cut, n))
			break;
		CHECK(u.com_port);
		CHECK_EQ(u.modemstate, 0);
		CHECK(!u.carrier_lost);
	}
	/* The same again changes nothing: nothing to answer. */
	n = sl_telnet_decode(&t, server, sizeof(server), out, &q);
	drain(&q, got, sizeof(got));
	n = sl_telnet_decode(&t, server, sizeof(server), out, &q);
	CHECK_EQ(n, 2u);
	/* Only the refusals are repeated (RFC 1143: a refusal is no change
	 * of state, and a peer that asks again gets the same answer). */
	n = drain(&q, got, sizeof(got));
	CHECK_EQ(n, 6u);
	sl_byteq_free(&q);
}

TEST(opening_and_dtr)
{
	static const uint8_t expect[] = {
		IAC, SL_TELNET_WILL, SL_TELNET_BINARY,
		IAC, SL_TELNET_DO, SL_TELNET_BINARY,
		IAC, SL_TELNET_WILL, SL_TELNET_SGA,
		IAC, SL_TELNET_DO, SL_TELNET_SGA,
		IAC, SL_TELNET_WILL, SL_TELNET_COM_PORT,
		IAC, SL_TELNET_SB, SL_TELNET_COM_PORT, 1, 0, 0, 0x25, 0x80, IAC, SL_TELNET_SE,
		IAC, SL_TELNET_SB, SL_TELNET_COM_PORT, 2, 8, IAC, SL_TELNET_SE,
		IAC, SL_TELNET_SB, SL_TELNET_COM_PORT, 3, 1, IAC, SL_TELNET_SE,
		IAC, SL_TELNET_SB, SL_TELNET_COM_PORT, 4, 1, IAC, SL_TELNET_SE,
		IAC, SL_TELNET_SB, SL_TELNET_COM_PORT, 5, 1, IAC, SL_TELNET_SE,
		IAC, SL_TELNET_SB, SL_TELNET_COM_PORT, 5, 8, IAC, SL_TELNET_SE,
		IAC, SL_TELNET_SB, SL_TELNET_COM_PORT, 11, 0x80, IAC, SL_TELNET_SE,
	};
	static const uint8_t dtr_off[] = {
		IAC, SL_TELNET_SB, SL_TELNET_COM_PORT, 5, 9, IAC, SL_TELNET_SE,
	};
	struct sl_telnet t;
	struct sl_byteq q;
	uint8_t got[256];
	size_t n;

	sl_telnet_init(&t);
	sl_byteq_init(&q, 1024);
	CHECK(!sl_telnet_open(&t, &q, true, 9600));
	n = drain(&q, got, sizeof(got));
	CHECK_EQ(n, sizeof(expect));
	CHECK_MEM(got, expect, sizeof(expect));
	CHECK(!sl_telnet_set_dtr(&q, false));
	n = drain(&q, got, sizeof(got));
	CHECK_EQ(n, sizeof(dtr_off));
	CHECK_MEM(got, dtr_off, sizeof(dtr_off));
	/* A queue too small for the opening says so. */
	sl_byteq_free(&q);
	sl_byteq_init(&q, 16);
	sl_telnet_init(&t);
	CHECK_EQ(sl_telnet_open(&t, &q, true, 9600), -ENOBUFS);
	sl_byteq_free(&q);
}

/* DCD from 1 to 0 is carrier lost; 0 to 0 (a pty without modem lines
 * behind ser2net) and 0 to 1 are not. An oversized or broken
 * subnegotiation is skipped. */
TEST(carrier)
{
	static const uint8_t cd[] = {
		IAC, SL_TELNET_SB, SL_TELNET_COM_PORT, 107, 0xb0, IAC, SL_TELNET_SE,
	};
	static const uint8_t no_cd[] = {
		IAC, SL_TELNET_SB, SL_TELNET_COM_PORT, 107, 0x30, IAC, SL_TELNET_SE,
	};
	uint8_t big[80 + 6], out[100];
	struct sl_telnet t;
	struct sl_byteq q;

	sl_telnet_init(&t);
	sl_byteq_init(&q, 64);
	sl_telnet_decode(&t, no_cd, sizeof(no_cd), out, &q);
	CHECK(!t.carrier_lost);
	sl_telnet_decode(&t, cd, sizeof(cd), out, &q);
	CHECK(!t.carrier_lost);
	CHECK_EQ(t.modemstate, 0xb0);
	sl_telnet_decode(&t, no_cd, sizeof(no_cd), out, &q);
	CHECK(t.carrier_lost);
	t.carrier_lost = false;
	sl_telnet_decode(&t, cd, sizeof(cd), out, &q);
	memset(big, 0x30, sizeof(big));
	memcpy(big, cd, 4);
	big[sizeof(big) - 2] = IAC;
	big[sizeof(big) - 1] = SL_TELNET_SE;
	CHECK_EQ(sl_telnet_decode(&t, big, sizeof(big), out, &q), 0u);
	CHECK(!t.carrier_lost);	/* too long: not a modem state */
	CHECK_EQ(t.modemstate, 0xb0);
	sl_byteq_free(&q);
}

int main(int argc, char **argv)
{
	check_init(argc, argv);
	RUN(data_round_trip);
	RUN(negotiation_answers_changes_only);
	RUN(opening_and_dtr);
	RUN(carrier);
	return check_summary();
}
