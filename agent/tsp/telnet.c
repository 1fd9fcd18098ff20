// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Telnet with RFC 2217's Com Port Control, the client's side (telnet.h).
 */
#include <errno.h>
#include <string.h>

#include "telnet.h"

void sl_telnet_init(struct sl_telnet *t)
{
	memset(t, 0, sizeof(*t));
	t->modemstate = -1;
}

static bool wanted(uint8_t opt)
{
	return opt == SL_TELNET_BINARY || opt == SL_TELNET_SGA;
}

static int put(struct sl_byteq *q, const uint8_t *b, size_t n)
{
	return sl_byteq_push(q, b, n);
}

static int command(struct sl_byteq *q, uint8_t verb, uint8_t opt)
{
	const uint8_t b[3] = { SL_TELNET_IAC, verb, opt };

	return put(q, b, sizeof(b));
}

/* A Com Port subnegotiation with a value of len bytes (IACs doubled). */
static int cpc(struct sl_byteq *q, uint8_t cmd, const uint8_t *val, size_t len)
{
	uint8_t b[4 + 2 * 4 + 2];
	size_t n = 0;

	b[n++] = SL_TELNET_IAC;
	b[n++] = SL_TELNET_SB;
	b[n++] = SL_TELNET_COM_PORT;
	b[n++] = cmd;
	n += sl_telnet_escape(val, len, b + n);
	b[n++] = SL_TELNET_IAC;
	b[n++] = SL_TELNET_SE;
	return put(q, b, n);
}

static int cpc_byte(struct sl_byteq *q, uint8_t cmd, uint8_t v)
{
	return cpc(q, cmd, &v, 1);
}

/* RFC 1143, simplified for a client that never changes its mind: answer
 * only what changes an option's state. */
static void negotiate(struct sl_telnet *t, uint8_t verb, uint8_t opt,
		      struct sl_byteq *reply)
{
	switch (verb) {
	case SL_TELNET_DO:
		if (wanted(opt) || opt == SL_TELNET_COM_PORT) {
			if (opt == SL_TELNET_COM_PORT)
				t->com_port = true;
			if (!t->us[opt]) {
				t->us[opt] = true;
				command(reply, SL_TELNET_WILL, opt);
			}
		} else {
			command(reply, SL_TELNET_WONT, opt);
		}
		break;
	case SL_TELNET_DONT:
		if (opt == SL_TELNET_COM_PORT)
			t->com_port = false;
		if (t->us[opt]) {
			t->us[opt] = false;
			command(reply, SL_TELNET_WONT, opt);
		}
		break;
	case SL_TELNET_WILL:
		if (wanted(opt)) {
			if (!t->him[opt]) {
				t->him[opt] = true;
				command(reply, SL_TELNET_DO, opt);
			}
		} else {
			command(reply, SL_TELNET_DONT, opt);
		}
		break;
	case SL_TELNET_WONT:
		if (t->him[opt]) {
			t->him[opt] = false;
			command(reply, SL_TELNET_DONT, opt);
		}
		break;
	}
}

/* A whole subnegotiation: the server's NOTIFY-MODEMSTATE matters. */
static void subnegotiation(struct sl_telnet *t)
{
	if (t->sb_long || t->sb_len != 3 || t->sb[0] != SL_TELNET_COM_PORT ||
	    t->sb[1] != SL_CPC_SERVER + SL_CPC_NOTIFY_MODEMSTATE)
		return;
	if (t->modemstate >= 0 && (t->modemstate & SL_CPC_CD) &&
	    !(t->sb[2] & SL_CPC_CD))
		t->carrier_lost = true;
	t->modemstate = t->sb[2];
}

size_t sl_telnet_decode(struct sl_telnet *t, const uint8_t *in, size_t n,
			uint8_t *out, struct sl_byteq *reply)
{
	size_t o = 0;

	for (size_t i = 0; i < n; ++i) {
		uint8_t c = in[i];

		switch (t->st) {
		case SL_TN_DATA:
			if (c == SL_TELNET_IAC)
				t->st = SL_TN_IAC;
			else
				out[o++] = c;
			break;
		case SL_TN_IAC:
			t->st = SL_TN_DATA;
			if (c == SL_TELNET_IAC) {
				out[o++] = c;
			} else if (c >= SL_TELNET_WILL) {
				t->verb = c;
				t->st = SL_TN_OPTION;
			} else if (c == SL_TELNET_SB) {
				t->sb_len = 0;
				t->sb_long = false;
				t->st = SL_TN_SB;
			}
			/* NOP, GA, AYT, ...: nothing to do. */
			t->commands++;
			break;
		case SL_TN_OPTION:
			negotiate(t, t->verb, c, reply);
			t->st = SL_TN_DATA;
			break;
		case SL_TN_SB:
			if (c == SL_TELNET_IAC) {
				t->st = SL_TN_SB_IAC;
				break;
			}
sb_byte:
			if (t->sb_len < sizeof(t->sb))
				t->sb[t->sb_len++] = c;
			else
				t->sb_long = true;
			break;
		case SL_TN_SB_IAC:
			if (c == SL_TELNET_IAC) {
				t->st = SL_TN_SB;
				goto sb_byte;
			}
			if (c == SL_TELNET_SE)
				subnegotiation(t);
			/* Anything else ends a broken subnegotiation too. */
			t->st = SL_TN_DATA;
			break;
		}
	}
	return o;
}

size_t sl_telnet_escape(const uint8_t *in, size_t n, uint8_t *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; ++i) {
		out[o++] = in[i];
		if (in[i] == SL_TELNET_IAC)
			out[o++] = SL_TELNET_IAC;
	}
	return o;
}

int sl_telnet_open(struct sl_telnet *t, struct sl_byteq *q, bool rfc2217,
		   unsigned int baud)
{
	const uint8_t rate[4] = {
		(uint8_t)(baud >> 24), (uint8_t)(baud >> 16),
		(uint8_t)(baud >> 8), (uint8_t)baud,
	};
	int ret = 0;

	t->us[SL_TELNET_BINARY] = t->him[SL_TELNET_BINARY] = true;
	t->us[SL_TELNET_SGA] = t->him[SL_TELNET_SGA] = true;
	ret |= command(q, SL_TELNET_WILL, SL_TELNET_BINARY);
	ret |= command(q, SL_TELNET_DO, SL_TELNET_BINARY);
	ret |= command(q, SL_TELNET_WILL, SL_TELNET_SGA);
	ret |= command(q, SL_TELNET_DO, SL_TELNET_SGA);
	if (rfc2217) {
		t->us[SL_TELNET_COM_PORT] = true;
		ret |= command(q, SL_TELNET_WILL, SL_TELNET_COM_PORT);
		ret |= cpc(q, SL_CPC_SET_BAUDRATE, rate, sizeof(rate));
		ret |= cpc_byte(q, SL_CPC_SET_DATASIZE, 8);
		ret |= cpc_byte(q, SL_CPC_SET_PARITY, SL_CPC_PARITY_NONE);
		ret |= cpc_byte(q, SL_CPC_SET_STOPSIZE, 1);
		ret |= cpc_byte(q, SL_CPC_SET_CONTROL, SL_CPC_FLOW_NONE);
		ret |= cpc_byte(q, SL_CPC_SET_CONTROL, SL_CPC_DTR_ON);
		ret |= cpc_byte(q, SL_CPC_SET_MODEMSTATE_MASK, SL_CPC_CD);
	}
	return ret ? -ENOBUFS : 0;
}

int sl_telnet_set_dtr(struct sl_byteq *q, bool on)
{
	return cpc_byte(q, SL_CPC_SET_CONTROL, on ? SL_CPC_DTR_ON : SL_CPC_DTR_OFF) ?
	       -ENOBUFS : 0;
}
