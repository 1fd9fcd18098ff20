/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The wire vocabulary of sealine's handshakes and call setup
 * (Documentation/handshake.rst), defined once: account numbers, message
 * types and their lengths, NAK reasons with their names, NAK details and
 * SESSION_CLOSE reasons. The engines (proto/), both daemons, sealctl and
 * the session log all speak it; the names in the logs and the JSON come
 * from here too.
 */
#ifndef SEALINE_AGENT_WIRE_H
#define SEALINE_AGENT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Message layout (handshake.rst, "Messages"). */
#define SL_HS_ENVELOPE_LEN	6	/* ver, type, hsid */
#define SL_HS_MAX_MSG		114	/* the largest message of version 2 */
#define SL_HS_NAK_LEN		11
#define SL_HS_KEY_LEN		32	/* X25519 keys */

/* An account number: 12 ASCII digits (handshake.rst, "Identities"). */
#define SL_ACCOUNT_LEN		12

/* A NUL-terminated string of exactly 12 digits. */
bool sl_account_valid(const char *s);

/* SL_ACCOUNT_LEN digits in a message, not terminated. */
static inline bool sl_is_account(const void *p)
{
	const char *c = p;

	for (int i = 0; i < SL_ACCOUNT_LEN; i++)
		if (c[i] < '0' || c[i] > '9')
			return false;
	return true;
}

static inline void sl_copy_account(char dst[SL_ACCOUNT_LEN + 1],
				   const void *src)
{
	memcpy(dst, src, SL_ACCOUNT_LEN);
	dst[SL_ACCOUNT_LEN] = 0;
}

enum sl_hs_msg_type {
	SL_MSG_NAK			= 0x01,
	SL_MSG_PAIR_COMMIT		= 0x10,
	SL_MSG_PAIR_EPHEMERAL		= 0x11,
	SL_MSG_PAIR_REVEAL		= 0x12,
	SL_MSG_PAIR_FINISH		= 0x13,
	SL_MSG_PAIR_CONFIRM		= 0x14,
	SL_MSG_PAIR_DONE		= 0x15,
	SL_MSG_SESSION_INIT		= 0x20,
	SL_MSG_SESSION_RESP		= 0x21,
	SL_MSG_SESSION_CONFIRM		= 0x22,
	SL_MSG_SESSION_DONE		= 0x23,
	SL_MSG_REKEY_REQUEST		= 0x24,
	SL_MSG_SESSION_CLOSE		= 0x25,
	SL_MSG_CALL_HELLO		= 0x30,
	SL_MSG_CALL_REPLY		= 0x31,
	SL_MSG_CALL_AUTH		= 0x32,
	SL_MSG_CALL_STATUS		= 0x33,
	SL_MSG_CALL_OFFER		= 0x34,
	SL_MSG_CALL_ACCEPT		= 0x35,
};

/* NAK reason codes (handshake.rst, "NAK"): the wire values. */
enum sl_nak_reason {
	SL_NAK_NONE			= 0,	/* local only: no NAK */
	SL_NAK_VERSION			= 1,
	SL_NAK_UNKNOWN_PEER		= 2,
	SL_NAK_REVOKED			= 3,
	SL_NAK_NOT_AUTHORISED		= 4,
	SL_NAK_BAD_MESSAGE		= 5,
	SL_NAK_TIMEOUT			= 6,
	SL_NAK_SAS_MISMATCH		= 7,
	SL_NAK_BUSY			= 8,
	SL_NAK_NO_ANSWER		= 9,
	SL_NAK_UNKNOWN_ACCOUNT		= 10,
	SL_NAK_CALLER_ID_MISMATCH	= 11,
	SL_NAK_ACCOUNT_DISABLED		= 12,
	SL_NAK_INTERNAL			= 13,
	SL_NAK_IDENTITY_MISMATCH	= 14,
	SL_NAK_NOT_ARMED		= 15,
	SL_NAK_REFUSED			= 16,
	SL_NAK_UNAVAILABLE		= 17,
};

/* NAK REFUSED's detail: why the other side's pairing refused. */
enum sl_nak_refused_detail {
	SL_REFUSED_OPERATOR		= 0,	/* said no, or left */
	SL_REFUSED_ALREADY_PAIRED	= 1,	/* a record, no --replace */
};

/* SESSION_CLOSE's reason: why the sender ends the session for good. */
enum sl_close_reason {
	SL_CLOSE_REVOKED		= 1,
	SL_CLOSE_FORGOTTEN		= 2,
	SL_CLOSE_NOT_AUTHORISED		= 3,
};

/* NAK detail of the TSP's reasons: whose account it is about. */
enum sl_nak_detail {
	SL_NAK_DETAIL_NONE		= 0,
	SL_NAK_DETAIL_CALLER		= 1,
	SL_NAK_DETAIL_RECIPIENT		= 2,
};

/* "NAK", "PAIR_COMMIT", ...; "reserved" for other types. */
const char *sl_hs_msg_name(uint8_t type);

/*
 * The exact length of a version 2 message of this type, 0 for a reserved
 * type, SL_HS_NAK_LEN for a NAK (which may be longer). CALL_AUTH, which
 * has two lengths, gives the longer.
 */
size_t sl_hs_msg_len(uint8_t type);

/* "VERSION", "UNKNOWN_PEER", ...: the protocol's names, for logs of
 * messages; "unknown" for other codes. */
const char *sl_nak_reason_name(uint8_t reason);
/* "version", "unknown_peer", ...: the tokens of the session log, the
 * control socket and JSON ("none" for 0); NULL for other codes. */
const char *sl_nak_reason_token(uint8_t reason);

#endif
