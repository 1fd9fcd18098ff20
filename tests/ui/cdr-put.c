// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * cdr-put STORE
 *
 * The browser test's call records: four records put into the TSP's
 * store as "sealctl tsp migrate" puts them (sl_tsp_cdr_put), three in
 * November 2026 and one the day before, so that the billing summary of
 * November has known sums:
 *
 *	111111111111  2 calls, 1 answered, 125 s, 1000 up, 2000 down
 *	222222222222  1 call,  1 answered,  61 s,   10 up,   20 down
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
		fprintf(stderr, "usage: cdr-put STORE\n");
		return 2;
	}
	if (sl_tsp_store_open(&st, argv[1], NULL, SL_TSP_OPEN_CREATE, err,
			      sizeof(err))) {
		fprintf(stderr, "cdr-put: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
		if (sl_tsp_cdr_put(&st, &recs[i])) {
			fprintf(stderr, "cdr-put: %s\n", sl_tsp_store_error(&st));
			return 1;
		}
	sl_tsp_store_close(&st);
	return 0;
}
