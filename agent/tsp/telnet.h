/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The client side of Telnet (RFC 854) with the Com Port Control option
 * (RFC 2217), as terminal servers such as ser2net serve serial ports: a
 * TSP line on a terminal server's port. No I/O of its own: the caller
 * reads the socket and passes the bytes through sl_telnet_decode(), and
 * queues what goes out (data escaped, commands as they are).
 *
 * The TSP relays its callers' bytes, which may hold 0xFF, so both
 * directions are in binary mode (RFC 856) and every data 0xFF travels
 * doubled (IAC IAC). Negotiation follows RFC 1143's rule that an option
 * is answered only when its state changes, so two peers never loop:
 * BINARY and SUPPRESS-GO-AHEAD are asked for and accepted both ways,
 * COM-PORT-OPTION offered, everything else (ECHO, ...) refused.
 *
 * Over RFC 2217 the port is set up as the TSP's serial ports are (the
 * line speed, 8N1, no flow control), DTR raised, and the server asked to
 * notify carrier changes; a carrier that drops (NOTIFY-MODEMSTATE, DCD
 * from 1 to 0) is reported, and DTR can be dropped to hang the modem up.
 * A server that cannot drive a line (a pseudo-terminal behind ser2net)
 * ignores these: the TSP then hangs up by closing the connection, which
 * the server turns into closing the port.
 */
#ifndef SEALINE_AGENT_TELNET_H
#define SEALINE_AGENT_TELNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "byteq.h"

#define SL_TELNET_IAC		255
#define SL_TELNET_DONT		254
#define SL_TELNET_DO		253
#define SL_TELNET_WONT		252
#define SL_TELNET_WILL		251
#define SL_TELNET_SB		250
#define SL_TELNET_SE		240
#define SL_TELNET_BINARY	0
#define SL_TELNET_SGA		3
#define SL_TELNET_COM_PORT	44

/* RFC 2217 commands, client to server (the server answers + 100). */
#define SL_CPC_SET_BAUDRATE	1
#define SL_CPC_SET_DATASIZE	2
#define SL_CPC_SET_PARITY	3
#define SL_CPC_SET_STOPSIZE	4
#define SL_CPC_SET_CONTROL	5
#define SL_CPC_NOTIFY_MODEMSTATE 7
#define SL_CPC_SET_MODEMSTATE_MASK 11
#define SL_CPC_SERVER		100
/* SET-CONTROL values and the modem state's carrier bit. */
#define SL_CPC_FLOW_NONE	1
#define SL_CPC_DTR_ON		8
#define SL_CPC_DTR_OFF		9
#define SL_CPC_PARITY_NONE	1
#define SL_CPC_CD		0x80

/* A subnegotiation kept at most (longer ones are skipped). */
#define SL_TELNET_SB_MAX	64
/* Escaped output is at most twice the data. */
#define SL_TELNET_ESCAPED(n)	(2 * (n))

enum sl_telnet_state {
	SL_TN_DATA,
	SL_TN_IAC,		/* IAC seen */
	SL_TN_OPTION,		/* WILL/WONT/DO/DONT seen: the option next */
	SL_TN_SB,		/* in a subnegotiation */
	SL_TN_SB_IAC,		/* IAC in a subnegotiation */
};

struct sl_telnet {
	enum sl_telnet_state st;
	uint8_t verb;			/* the WILL/WONT/DO/DONT awaiting its option */
	uint8_t sb[SL_TELNET_SB_MAX];
	size_t sb_len;
	bool sb_long;			/* the subnegotiation did not fit */
	/* Per option (RFC 1143): we said WILL, we said DO. */
	bool us[256], him[256];
	bool com_port;			/* the server said DO COM-PORT-OPTION */
	int modemstate;			/* last NOTIFY-MODEMSTATE, -1: none */
	bool carrier_lost;		/* DCD fell; the caller clears it */
	uint64_t commands;		/* commands and subnegotiations seen */
};

void sl_telnet_init(struct sl_telnet *t);

/*
 * Decode n bytes from the server: the data bytes go to out (which may be
 * in, the output never being longer), answers to negotiation to reply.
 * Returns the number of data bytes.
 */
size_t sl_telnet_decode(struct sl_telnet *t, const uint8_t *in, size_t n,
			uint8_t *out, struct sl_byteq *reply);

/* Data as it goes on the wire (0xFF doubled); out holds
 * SL_TELNET_ESCAPED(n) bytes. Returns its length. */
size_t sl_telnet_escape(const uint8_t *in, size_t n, uint8_t *out);

/*
 * The client's opening: binary mode and SGA both ways, and with rfc2217
 * the Com Port option, the port at baud 8N1 without flow control, DTR
 * raised, carrier changes notified. 0 or -ENOBUFS.
 */
int sl_telnet_open(struct sl_telnet *t, struct sl_byteq *q, bool rfc2217,
		   unsigned int baud);
/* RFC 2217 SET-CONTROL: raise or drop DTR. 0 or -ENOBUFS. */
int sl_telnet_set_dtr(struct sl_byteq *q, bool on);

#endif
