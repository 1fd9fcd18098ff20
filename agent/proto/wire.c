// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The wire vocabulary (wire.h): message lengths and names, NAK reason
 * names and tokens, account numbers.
 */
#include "wire.h"

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

bool sl_account_valid(const char *s)
{
	size_t i;

	for (i = 0; i < SL_ACCOUNT_LEN; ++i)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return s[i] == '\0';
}

static const struct {
	uint8_t type;
	uint8_t len;
	const char *name;
} msg_table[] = {
	{ SL_MSG_NAK, SL_HS_NAK_LEN, "NAK" },
	{ SL_MSG_PAIR_COMMIT, 40, "PAIR_COMMIT" },
	{ SL_MSG_PAIR_EPHEMERAL, 38, "PAIR_EPHEMERAL" },
	{ SL_MSG_PAIR_REVEAL, 114, "PAIR_REVEAL" },
	{ SL_MSG_PAIR_FINISH, 82, "PAIR_FINISH" },
	{ SL_MSG_PAIR_CONFIRM, 23, "PAIR_CONFIRM" },
	{ SL_MSG_PAIR_DONE, 23, "PAIR_DONE" },
	{ SL_MSG_SESSION_INIT, 64, "SESSION_INIT" },
	{ SL_MSG_SESSION_RESP, 63, "SESSION_RESP" },
	{ SL_MSG_SESSION_CONFIRM, 23, "SESSION_CONFIRM" },
	{ SL_MSG_SESSION_DONE, 23, "SESSION_DONE" },
	{ SL_MSG_REKEY_REQUEST, 24, "REKEY_REQUEST" },
	{ SL_MSG_SESSION_CLOSE, 24, "SESSION_CLOSE" },
	{ SL_MSG_CALL_HELLO, 56, "CALL_HELLO" },
	{ SL_MSG_CALL_REPLY, 54, "CALL_REPLY" },
	{ SL_MSG_CALL_AUTH, 95, "CALL_AUTH" },
	{ SL_MSG_CALL_STATUS, 32, "CALL_STATUS" },
	{ SL_MSG_CALL_OFFER, 44, "CALL_OFFER" },
	{ SL_MSG_CALL_ACCEPT, 23, "CALL_ACCEPT" },
};

size_t sl_hs_msg_len(uint8_t type)
{
	for (size_t i = 0; i < ARRAY_LEN(msg_table); i++)
		if (msg_table[i].type == type)
			return msg_table[i].len;
	return 0;
}

const char *sl_hs_msg_name(uint8_t type)
{
	for (size_t i = 0; i < ARRAY_LEN(msg_table); i++)
		if (msg_table[i].type == type)
			return msg_table[i].name;
	return "reserved";
}

/* Each reason's protocol name and its token (logs, JSON). */
static const struct {
	const char *name, *token;
} nak_names[] = {
	[SL_NAK_NONE] = { "NONE", "none" },
	[SL_NAK_VERSION] = { "VERSION", "version" },
	[SL_NAK_UNKNOWN_PEER] = { "UNKNOWN_PEER", "unknown_peer" },
	[SL_NAK_REVOKED] = { "REVOKED", "revoked" },
	[SL_NAK_NOT_AUTHORISED] = { "NOT_AUTHORISED", "not_authorised" },
	[SL_NAK_BAD_MESSAGE] = { "BAD_MESSAGE", "bad_message" },
	[SL_NAK_TIMEOUT] = { "TIMEOUT", "timeout" },
	[SL_NAK_SAS_MISMATCH] = { "SAS_MISMATCH", "sas_mismatch" },
	[SL_NAK_BUSY] = { "BUSY", "busy" },
	[SL_NAK_NO_ANSWER] = { "NO_ANSWER", "no_answer" },
	[SL_NAK_UNKNOWN_ACCOUNT] = { "UNKNOWN_ACCOUNT", "unknown_account" },
	[SL_NAK_CALLER_ID_MISMATCH] = { "CALLER_ID_MISMATCH",
					"caller_id_mismatch" },
	[SL_NAK_ACCOUNT_DISABLED] = { "ACCOUNT_DISABLED", "account_disabled" },
	[SL_NAK_INTERNAL] = { "INTERNAL", "internal" },
	[SL_NAK_IDENTITY_MISMATCH] = { "IDENTITY_MISMATCH",
				       "identity_mismatch" },
	[SL_NAK_NOT_ARMED] = { "NOT_ARMED", "not_armed" },
	[SL_NAK_REFUSED] = { "REFUSED", "refused" },
	[SL_NAK_UNAVAILABLE] = { "UNAVAILABLE", "unavailable" },
};

const char *sl_nak_reason_name(uint8_t reason)
{
	return reason < ARRAY_LEN(nak_names) ? nak_names[reason].name :
					       "unknown";
}

const char *sl_nak_reason_token(uint8_t reason)
{
	return reason < ARRAY_LEN(nak_names) ? nak_names[reason].token : NULL;
}
