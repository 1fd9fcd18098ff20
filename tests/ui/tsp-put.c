// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * tsp-put STORE
 *
 * What the browser test's TSP pages show, put into the TSP's store as
 * "sealctl tsp migrate" puts it (sl_tsp_cdr_put, sl_tsp_spool_put).
 *
 * Four call records, three in November 2026 and one the day before, so
 * that the billing summary of November has known sums:
 *
 *	111111111111  2 calls, 1 answered, 125 s, 1000 up, 2000 down
 *	222222222222  1 call,  1 answered,  61 s,   10 up,   20 down
 *
 * Four spool rows, two open and two closed:
 *
 *	00000000000000a1  held       111111111111 -> 222222222222  300000 B
 *	00000000000000a2  receiving  333333333333 -> 111111111111    5000 B
 *	00000000000000a3  delivered  222222222222 -> 111111111111, its
 *			  receipt (with a '<b>' the page must escape)
 *			  collected
 *	00000000000000a4  bounced    111111111111 -> 333333333333,
 *			  NOT_AUTHORISED, its notice not collected
 */
#include <stdio.h>
#include <string.h>

#include "tspstore.h"

static const int64_t NOV = 1793491200000LL;	/* 2026-11-01T00:00:00Z */
#define DAY	86400000LL

static struct sl_tsp_cdr rec(uint64_t id, int64_t ring, int64_t answer,
			     int64_t end, const char *from, const char *to,
			     uint64_t up, uint64_t down,
			     enum sl_tsp_outcome outcome)
{
	struct sl_tsp_cdr c = { 0 };

	c.tracking_id = id;
	snprintf(c.instance, sizeof(c.instance), "tsp1");
	snprintf(c.line, sizeof(c.line), "modem0");
	snprintf(c.caller_id, sizeof(c.caller_id), "5551");
	c.ring_ms = ring;
	c.answer_ms = answer;
	c.end_ms = end;
	c.updated_ms = end;
	snprintf(c.caller_account, sizeof(c.caller_account), "%s", from);
	snprintf(c.recipient_account, sizeof(c.recipient_account), "%s", to);
	c.bytes_up = up;
	c.bytes_down = down;
	c.outcome = outcome;
	return c;
}

static struct sl_tsp_spool_row row(uint64_t sid, enum sl_tsp_spool_state state,
				   const char *from, const char *to,
				   uint64_t size, int64_t received)
{
	struct sl_tsp_spool_row r = { 0 };

	r.sid = sid;
	memset(r.envelope, (int)sid, sizeof(r.envelope));
	snprintf(r.sender, sizeof(r.sender), "%s", from);
	snprintf(r.recipient, sizeof(r.recipient), "%s", to);
	r.size = size;
	r.bucket = size < 65536 ? 65536 : 524288;
	r.have_sha256 = state != SL_TSP_SPOOL_RECEIVING;
	memset(r.sha256, 0x5a, sizeof(r.sha256));
	r.state = state;
	snprintf(r.instance, sizeof(r.instance), "tsp1");
	r.received_ms = received;
	r.accepted_ms = r.have_sha256 ? received + 60000 : 0;
	r.window = SL_TSP_WINDOW_NONE;
	r.expires_ms = received + 14 * DAY;
	r.next_ms = received + 60000;
	return r;
}

static int put_spool(struct sl_tsp_store *st)
{
	const char *a = "111111111111", *b = "222222222222", *c = "333333333333";
	struct sl_tsp_spool_row rows[4];

	rows[0] = row(0xa1, SL_TSP_SPOOL_HELD, a, b, 300000, NOV + 3 * DAY);
	rows[0].attempts = 2;
	rows[0].last_attempt_ms = NOV + 3 * DAY + 120000;
	rows[0].next_ms = NOV + 3 * DAY + 600000;
	rows[1] = row(0xa2, SL_TSP_SPOOL_RECEIVING, c, a, 5000, NOV + 4 * DAY);
	rows[2] = row(0xa3, SL_TSP_SPOOL_DELIVERED, b, a, 7000, NOV + 5 * DAY);
	rows[2].attempts = 1;
	rows[2].done_ms = NOV + 5 * DAY + 300000;
	rows[2].collected_ms = NOV + 6 * DAY;
	snprintf(rows[2].receipt, sizeof(rows[2].receipt),
		 "sealine receipt\nfrom: 111111111111\nnote: <b>not bold</b>\n");
	rows[3] = row(0xa4, SL_TSP_SPOOL_BOUNCED, a, c, 9000, NOV + 6 * DAY);
	rows[3].attempts = 1;
	rows[3].done_ms = NOV + 6 * DAY + 90000;
	snprintf(rows[3].reason, sizeof(rows[3].reason), "NOT_AUTHORISED");
	snprintf(rows[3].receipt, sizeof(rows[3].receipt),
		 "sealine non-delivery notice\nreason: NOT_AUTHORISED\n");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (sl_tsp_spool_put(st, &rows[i]))
			return -1;
	return 0;
}

int main(int argc, char *argv[])
{
	const char *a = "111111111111", *b = "222222222222";
	struct sl_tsp_cdr recs[] = {
		rec(0x1001, NOV + 2 * DAY, NOV + 2 * DAY + 5000,
		    NOV + 2 * DAY + 130000, a, b, 1000, 2000,
		    SL_TSP_OUTCOME_COMPLETED),
		rec(0x1002, NOV + 9 * DAY, 0, NOV + 9 * DAY + 20000, a, b, 0, 0,
		    SL_TSP_OUTCOME_BUSY),
		rec(0x1003, NOV + 19 * DAY, NOV + 19 * DAY + 3000,
		    NOV + 19 * DAY + 64000, b, a, 10, 20,
		    SL_TSP_OUTCOME_COMPLETED),
		rec(0x1004, NOV - DAY, NOV - DAY + 1000, NOV - DAY + 901000, a, b,
		    7, 7, SL_TSP_OUTCOME_COMPLETED),
	};
	struct sl_tsp_store st;
	char err[SL_TSP_ERR_MAX + 64];

	if (argc != 2) {
		fprintf(stderr, "usage: tsp-put STORE\n");
		return 2;
	}
	if (sl_tsp_store_open(&st, argv[1], NULL, SL_TSP_OPEN_CREATE, err,
			      sizeof(err))) {
		fprintf(stderr, "tsp-put: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
		if (sl_tsp_cdr_put(&st, &recs[i])) {
			fprintf(stderr, "tsp-put: %s\n", sl_tsp_store_error(&st));
			return 1;
		}
	if (put_spool(&st)) {
		fprintf(stderr, "tsp-put: %s\n", sl_tsp_store_error(&st));
		return 1;
	}
	sl_tsp_store_close(&st);
	return 0;
}
