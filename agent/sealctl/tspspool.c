// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl tsp spool: what the TSP holds for later delivery
 * (Documentation/store-and-forward.rst), read from its store as the rest
 * of "sealctl tsp" is. It shows ids, accounts, sizes, times, attempts and
 * outcomes: nothing secret, and nothing of an envelope's content, which
 * neither the store nor the spool has.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sealctl.h"
#include "tspstore.h"

#define CMD "tsp"

struct spool_ctx {
	bool json;
	unsigned int n;
};

static void text_time(char out[SL_TSP_TIME_STR_LEN + 1], int64_t ms)
{
	if (ms)
		sl_tsp_time_format(out, ms);
	else
		snprintf(out, SL_TSP_TIME_STR_LEN + 1, "-");
}

static int spool_one(const struct sl_tsp_spool_row *r, void *arg)
{
	char received[SL_TSP_TIME_STR_LEN + 1], next[SL_TSP_TIME_STR_LEN + 1];
	struct spool_ctx *x = arg;

	if (x->json) {
		fputs(x->n++ ? ",\n" : "[\n", stdout);
		sl_tsp_spool_json(stdout, r);
		return 0;
	}
	if (!x->n++)
		printf("%-16s  %-10s  %-12s  %-12s  %10s  %10s  %-24s  %-24s  %8s  %s\n",
		       "SPOOL-ID", "STATE", "SENDER", "RECIPIENT", "SIZE",
		       "BUCKET", "RECEIVED", "NEXT-ATTEMPT", "ATTEMPTS",
		       "REASON");
	text_time(received, r->received_ms);
	text_time(next, sl_tsp_spool_closed(r->state) ? 0 : r->next_ms);
	printf("%016" PRIx64 "  %-10s  %-12s  %-12s  %10" PRIu64 "  %10" PRIu64
	       "  %-24s  %-24s  %8u  %s\n", r->sid,
	       sl_tsp_spool_state_name(r->state), r->sender, r->recipient,
	       r->size, r->bucket, received, next, r->attempts,
	       r->reason[0] ? r->reason : "-");
	return 0;
}

int sl_tsp_spool_cmd(const char *db, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct spool_ctx x = { 0 };
	struct sl_tsp_store st;
	char err[SL_TSP_ERR_MAX + 64];
	bool all = false;
	int opt;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":jah", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			x.json = true;
			break;
		case 'a':
			all = true;
			break;
		case 'h':
			sl_help_tsp(stdout);
			return SL_EXIT_OK;
		default:
			return sl_option_error(CMD, opt, argv);
		}
	}
	if (optind < argc)
		return sl_usage_error(CMD, "spool takes no argument ('%s')", argv[optind]);
	if (sl_tsp_store_open(&st, db, NULL, 0, err, sizeof(err)))
		return sl_failure(CMD ": %s", err);
	if (sl_tsp_spool_list(&st, !all, spool_one, &x)) {
		int ret = sl_failure(CMD ": %s", sl_tsp_store_error(&st));

		sl_tsp_store_close(&st);
		return ret;
	}
	sl_tsp_store_close(&st);
	if (x.json)
		fputs(x.n ? "\n]\n" : "[]\n", stdout);
	else if (!x.n)
		printf(all ? "the spool has held nothing\n" :
		       "the spool holds nothing\n");
	if (fflush(stdout) == EOF)
		return sl_failure(CMD ": writing output: %s", strerror(errno));
	return SL_EXIT_OK;
}
