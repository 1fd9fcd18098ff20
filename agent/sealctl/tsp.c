// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl tsp: the TSP operator's view of its account store (enrol and
 * manage accounts) and of its call records (the billing export), and the
 * move of a store from SQLite to PostgreSQL. It opens the store directly
 * (tspstore.h: an SQLite file or a PostgreSQL database, the same
 * commands for both), never through a running TSP, and never as a TSP
 * instance: it cannot close the calls a running TSP has open.
 *
 * Why one file of about 1,150 lines: it is one command group with one
 * manual (sl_help_tsp()); its three parts (accounts, cdr, migrate) share
 * the store's opening, the checks of numbers, keys and limits, and the
 * output helpers, which split files would have to export to each other.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "json.h"
#include "keyfile.h"
#include "sealctl.h"
#include "tspstore.h"

_Static_assert(SEALINE_KEY_LEN == SL_TSP_KEY_LEN,
	       "account keys are read with the session key file reader");

#define CMD "tsp"
/* Bindings given to "accounts add" in one go. */
#define TSPCTL_MAX_ADD_BINDINGS 32

int sl_cmd_tsp(int argc, char *argv[]);
static const char *db_path(const char *opt)
{
	const char *env = getenv("SEALINE_TSP_DB");

	if (opt)
		return opt;
	if (env && *env)
		return env;
	return SL_TSP_DEFAULT_DB;
}

static int store_open(struct sl_tsp_store *st, const char *path, bool create)
{
	char err[SL_TSP_ERR_MAX + 64];
	int ret = sl_tsp_store_open(st, path, NULL,
				    create ? SL_TSP_OPEN_CREATE : 0, err,
				    sizeof(err));

	if (ret)
		return sl_failure(CMD ": %s", err);
	return 0;
}

static int store_failed(struct sl_tsp_store *st)
{
	int ret = sl_failure(CMD ": %s", sl_tsp_store_error(st));

	sl_tsp_store_close(st);
	return ret;
}

static int finish(struct sl_tsp_store *st)
{
	sl_tsp_store_close(st);
	if (fflush(stdout) == EOF)
		return sl_failure(CMD ": writing output: %s", strerror(errno));
	return SL_EXIT_OK;
}

static int check_number(const char *what, const char *s)
{
	if (sl_account_valid(s))
		return 0;
	return sl_usage_error(CMD, "%s '%s' is not an account number (exactly %d digits)",
			      what, s, SL_ACCOUNT_LEN);
}

static int check_caller_id(const char *s)
{
	if (sl_tsp_phone_valid(s))
		return 0;
	return sl_usage_error(CMD, "caller ID '%s' is not 1 to %d digits (no '+', spaces or dashes)",
			      s, SL_TSP_PHONE_MAX);
}

static int check_line(const char *s)
{
	if (sl_tsp_line_valid(s))
		return 0;
	return sl_usage_error(CMD, "line name '%s' is not 1 to %d of A-Z a-z 0-9 . _ -",
			      s, SL_TSP_LINE_MAX);
}

/* A limit of concurrent calls: 0 (none) to SL_TSP_MAX_CALLS_LIMIT. */
static int parse_max_calls(const char *s, unsigned int *n)
{
	if (sl_tsp_max_calls_parse(s, n))
		return sl_usage_error(CMD, "'%s' is not a limit of concurrent calls (0 for none, up to %d)",
				      s, SL_TSP_MAX_CALLS_LIMIT);
	return 0;
}

/* An account's public key: 64 hex digits from a file or "-" (stdin). */
static int read_key(const char *path, uint8_t key[SL_TSP_KEY_LEN])
{
	static const uint8_t zero[SL_TSP_KEY_LEN];
	struct sl_key_file_info info;
	char why[256];
	int ret = sl_key_read(path, key, &info, why, sizeof(why));

	if (ret)
		return sl_failure(CMD ": key %s: %s",
				  strcmp(path, "-") ? path : "on standard input", why);
	if (!memcmp(key, zero, SL_TSP_KEY_LEN))
		return sl_failure(CMD ": key %s is all zeros, not a public key", path);
	return 0;
}

/* ------------------------------------------------------------ output */

struct show_ctx {
	bool json;
	unsigned int n;
};

static int print_binding_json(enum sl_tsp_binding_kind kind, const char *v,
			      void *arg)
{
	struct show_ctx *c = arg;

	(void)kind;
	fputs(c->n++ ? ", " : "", stdout);
	sl_json_string(stdout, v);
	return 0;
}

/* Only bindings of one kind, for the JSON arrays. */
struct kind_filter {
	enum sl_tsp_binding_kind kind;
	struct show_ctx *c;
};

static int binding_of_kind(enum sl_tsp_binding_kind kind, const char *v,
			   void *arg)
{
	struct kind_filter *k = arg;

	return kind == k->kind ? print_binding_json(kind, v, k->c) : 0;
}

static int print_number_json(const char *number, void *arg)
{
	struct show_ctx *c = arg;

	fputs(c->n++ ? ", " : "", stdout);
	sl_json_string(stdout, number);
	return 0;
}

static int print_account_json(struct sl_tsp_store *st,
			      const struct sl_tsp_account *a)
{
	char hex[SL_KEY_HEX_LEN + 1], created[SL_TSP_TIME_STR_LEN + 1];
	struct show_ctx c = { 0 };
	struct kind_filter k = { SL_TSP_BIND_CALLER_ID, &c };
	int ret;

	sl_hex_encode(hex, a->pub, SEALINE_KEY_LEN);
	sl_tsp_time_format(created, a->created_ms);
	fputs("{\"number\": ", stdout);
	sl_json_string(stdout, a->number);
	fputs(", \"name\": ", stdout);
	sl_json_string(stdout, a->name);
	fputs(", \"phone\": ", stdout);
	sl_json_string(stdout, a->phone);
	printf(", \"public_key\": \"%s\", \"enabled\": %s, \"created\": \"%s\", \"max_calls\": %u",
	       hex, a->enabled ? "true" : "false", created, a->max_calls);
	fputs(", \"caller_ids\": [", stdout);
	ret = sl_tsp_binding_list(st, a->number, binding_of_kind, &k);
	fputs("], \"lines\": [", stdout);
	c.n = 0;
	k.kind = SL_TSP_BIND_LINE;
	if (!ret)
		ret = sl_tsp_binding_list(st, a->number, binding_of_kind, &k);
	fputs("], \"authorised_callers\": [", stdout);
	c.n = 0;
	if (!ret)
		ret = sl_tsp_auth_list(st, a->number, print_number_json, &c);
	fputs("]}", stdout);
	return ret;
}

static int print_binding_text(enum sl_tsp_binding_kind kind, const char *v,
			      void *arg)
{
	struct show_ctx *c = arg;

	c->n++;
	printf("  %-18s %s\n", kind == SL_TSP_BIND_LINE ? "bound line:" :
	       "bound caller ID:", v);
	return 0;
}

static int print_number_text(const char *number, void *arg)
{
	struct show_ctx *c = arg;

	printf("%s%s", c->n++ ? ", " : "", number);
	return 0;
}

static int print_account_text(struct sl_tsp_store *st,
			      const struct sl_tsp_account *a)
{
	char hex[SL_KEY_HEX_LEN + 1], created[SL_TSP_TIME_STR_LEN + 1];
	struct show_ctx c = { 0 };
	int ret;

	sl_hex_encode(hex, a->pub, SEALINE_KEY_LEN);
	sl_tsp_time_format(created, a->created_ms);
	printf("account %s: %s\n", a->number, a->enabled ? "enabled" : "disabled");
	printf("  %-18s %s\n", "name:", a->name);
	printf("  %-18s %s\n", "phone:", a->phone);
	printf("  %-18s %s\n", "public key:", hex);
	printf("  %-18s %s\n", "created:", created);
	if (a->max_calls)
		printf("  %-18s %u at once, on every TSP sharing this store\n",
		       "calls:", a->max_calls);
	else
		printf("  %-18s no limit\n", "calls:");
	ret = sl_tsp_binding_list(st, a->number, print_binding_text, &c);
	if (ret)
		return ret;
	if (!c.n)
		printf("  %-18s none: this account cannot call (bind a caller ID or line)\n",
		       "bindings:");
	c.n = 0;
	printf("  %-18s ", "may be called by:");
	ret = sl_tsp_auth_list(st, a->number, print_number_text, &c);
	printf("%s\n", c.n ? "" : "nobody (authorise callers to receive calls)");
	return ret;
}

struct list_ctx {
	struct sl_tsp_store *st;
	bool json;
	unsigned int n;
};

static int list_one(const struct sl_tsp_account *a, void *arg)
{
	struct list_ctx *l = arg;

	if (l->json) {
		fputs(l->n++ ? ",\n" : "[\n", stdout);
		return print_account_json(l->st, a);
	}
	if (!l->n++)
		printf("%-12s  %-8s  %-16s  %s\n", "NUMBER", "STATUS", "PHONE", "NAME");
	printf("%-12s  %-8s  %-16s  %s\n", a->number,
	       a->enabled ? "enabled" : "disabled", a->phone, a->name);
	return 0;
}

/* ------------------------------------------------------------ accounts */

enum {
	OPT_NAME = 256, OPT_KEY, OPT_PHONE, OPT_CALLER_ID, OPT_LINE,
	OPT_DISABLED, OPT_JSON, OPT_MAX_CALLS,
};

struct acct_opts {
	const char *name, *key, *phone, *max_calls;
	const char *caller_ids[TSPCTL_MAX_ADD_BINDINGS];
	unsigned int n_caller_ids;
	const char *lines[TSPCTL_MAX_ADD_BINDINGS];
	unsigned int n_lines;
	bool disabled, json, help;
};

/* Options of every accounts operation; each checks which it accepts. */
static int parse_acct_opts(int argc, char *argv[], struct acct_opts *o)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, OPT_NAME },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "phone", required_argument, NULL, OPT_PHONE },
		{ "caller-id", required_argument, NULL, OPT_CALLER_ID },
		{ "line", required_argument, NULL, OPT_LINE },
		{ "disabled", no_argument, NULL, OPT_DISABLED },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "max-calls", required_argument, NULL, OPT_MAX_CALLS },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int opt;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":jh", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_NAME:
			o->name = optarg;
			break;
		case OPT_KEY:
			o->key = optarg;
			break;
		case OPT_PHONE:
			o->phone = optarg;
			break;
		case OPT_CALLER_ID:
			if (o->n_caller_ids == TSPCTL_MAX_ADD_BINDINGS)
				return sl_usage_error(CMD, "at most %d --caller-id at once",
						      TSPCTL_MAX_ADD_BINDINGS);
			o->caller_ids[o->n_caller_ids++] = optarg;
			break;
		case OPT_LINE:
			if (o->n_lines == TSPCTL_MAX_ADD_BINDINGS)
				return sl_usage_error(CMD, "at most %d --line at once",
						      TSPCTL_MAX_ADD_BINDINGS);
			o->lines[o->n_lines++] = optarg;
			break;
		case OPT_DISABLED:
			o->disabled = true;
			break;
		case OPT_MAX_CALLS:
			o->max_calls = optarg;
			break;
		case 'j':
		case OPT_JSON:
			o->json = true;
			break;
		case 'h':
			o->help = true;
			break;
		default:
			return sl_option_error(CMD, opt, argv);
		}
	}
	return 0;
}

/* Refuse options the operation op does not take; allowed: a mask. */
#define A_NAME		(1u << 0)
#define A_KEY		(1u << 1)
#define A_PHONE		(1u << 2)
#define A_CALLER_ID	(1u << 3)
#define A_LINE		(1u << 4)
#define A_DISABLED	(1u << 5)
#define A_JSON		(1u << 6)
#define A_MAX_CALLS	(1u << 7)

static int only(const char *op, const struct acct_opts *o, unsigned int allowed)
{
	static const struct { unsigned int bit; const char *name; } names[] = {
		{ A_NAME, "--name" }, { A_KEY, "--key" }, { A_PHONE, "--phone" },
		{ A_CALLER_ID, "--caller-id" }, { A_LINE, "--line" },
		{ A_DISABLED, "--disabled" }, { A_JSON, "--json" },
		{ A_MAX_CALLS, "--max-calls" },
	};
	unsigned int given = (o->name ? A_NAME : 0) | (o->key ? A_KEY : 0) |
			     (o->phone ? A_PHONE : 0) |
			     (o->n_caller_ids ? A_CALLER_ID : 0) |
			     (o->n_lines ? A_LINE : 0) |
			     (o->disabled ? A_DISABLED : 0) | (o->json ? A_JSON : 0) |
			     (o->max_calls ? A_MAX_CALLS : 0);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); ++i)
		if ((given & names[i].bit) && !(allowed & names[i].bit))
			return sl_usage_error(CMD, "%s does not apply to accounts %s",
					      names[i].name, op);
	return 0;
}

static int acct_add(const char *db, const char *number, struct acct_opts *o)
{
	struct sl_tsp_account a = { 0 };
	struct sl_tsp_store st;
	unsigned int i;
	int ret;

	ret = only("add", o, A_NAME | A_KEY | A_PHONE | A_CALLER_ID | A_LINE |
		   A_DISABLED | A_MAX_CALLS);
	if (ret)
		return ret;
	if (o->max_calls && (ret = parse_max_calls(o->max_calls, &a.max_calls)))
		return ret;
	if (!o->name || !o->key || !o->phone)
		return sl_usage_error(CMD, "accounts add needs --name, --key and --phone");
	if (!sl_tsp_name_valid(o->name))
		return sl_usage_error(CMD, "name must be 1 to %d bytes, no control characters and no leading or trailing space",
				      SL_TSP_NAME_MAX);
	if (!sl_tsp_phone_valid(o->phone))
		return sl_usage_error(CMD, "phone number '%s' is not 1 to %d digits (no '+', spaces or dashes)",
				      o->phone, SL_TSP_PHONE_MAX);
	for (i = 0; i < o->n_caller_ids; ++i)
		if ((ret = check_caller_id(o->caller_ids[i])))
			return ret;
	for (i = 0; i < o->n_lines; ++i)
		if ((ret = check_line(o->lines[i])))
			return ret;
	snprintf(a.number, sizeof(a.number), "%s", number);
	snprintf(a.name, sizeof(a.name), "%s", o->name);
	snprintf(a.phone, sizeof(a.phone), "%s", o->phone);
	a.enabled = !o->disabled;
	a.created_ms = (int64_t)time(NULL) * 1000;
	ret = read_key(o->key, a.pub);
	if (ret)
		return ret;

	ret = store_open(&st, db, true);
	if (ret)
		return ret;
	if (sl_tsp_account_add(&st, &a))
		return store_failed(&st);
	for (i = 0; i < o->n_caller_ids + o->n_lines; ++i) {
		bool cid = i < o->n_caller_ids;
		const char *v = cid ? o->caller_ids[i] : o->lines[i - o->n_caller_ids];

		if (sl_tsp_binding_add(&st, number, cid ? SL_TSP_BIND_CALLER_ID :
				       SL_TSP_BIND_LINE, v)) {
			/* All or nothing: take the half-enrolled account back. */
			ret = sl_failure(CMD ": %s; account %s not added",
					 sl_tsp_store_error(&st), number);
			sl_tsp_account_remove(&st, number);
			sl_tsp_store_close(&st);
			return ret;
		}
	}
	printf("account %s added%s%s\n", number, o->disabled ? " (disabled)" : "",
	       o->n_caller_ids + o->n_lines ? "" :
	       "; no caller ID or line bound yet, so it cannot call");
	return finish(&st);
}

static int acct_list(const char *db, struct acct_opts *o)
{
	struct sl_tsp_store st;
	struct list_ctx l = { &st, o->json, 0 };
	int ret = only("list", o, A_JSON);

	if (ret)
		return ret;
	ret = store_open(&st, db, false);
	if (ret)
		return ret;
	if (sl_tsp_account_list(&st, list_one, &l))
		return store_failed(&st);
	if (o->json)
		fputs(l.n ? "\n]\n" : "[]\n", stdout);
	else if (!l.n)
		printf("no accounts\n");
	return finish(&st);
}

static int acct_show(const char *db, const char *number, struct acct_opts *o)
{
	struct sl_tsp_account a;
	struct sl_tsp_store st;
	int ret = only("show", o, A_JSON);

	if (ret)
		return ret;
	ret = store_open(&st, db, false);
	if (ret)
		return ret;
	if (sl_tsp_account_get(&st, number, &a))
		return store_failed(&st);
	ret = o->json ? print_account_json(&st, &a) : print_account_text(&st, &a);
	if (o->json)
		putchar('\n');
	if (ret)
		return store_failed(&st);
	return finish(&st);
}

static int run_accounts(const char *db, int argc, char *argv[])
{
	struct acct_opts o = { 0 };
	const char *op, *a1, *a2;
	struct sl_tsp_store st;
	uint8_t key[SL_TSP_KEY_LEN];
	enum sl_tsp_binding_kind kind;
	int nargs, ret;

	/* argv[0] is "accounts"; options may come anywhere after it. */
	ret = parse_acct_opts(argc, argv, &o);
	if (ret)
		return ret;
	if (o.help) {
		sl_help_tsp(stdout);
		return SL_EXIT_OK;
	}
	nargs = argc - optind;
	if (nargs < 1)
		return sl_usage_error(CMD, "accounts needs an operation (add, list, show, enable, disable, bind, unbind, authorise, deauthorise, set-key, limit, remove)");
	op = argv[optind];
	a1 = nargs > 1 ? argv[optind + 1] : NULL;
	a2 = nargs > 2 ? argv[optind + 2] : NULL;
	if (!strcmp(op, "authorize"))
		op = "authorise";
	if (!strcmp(op, "deauthorize"))
		op = "deauthorise";

	if (!strcmp(op, "list")) {
		if (nargs > 1)
			return sl_usage_error(CMD, "accounts list takes no argument");
		return acct_list(db, &o);
	}
	/* Every other operation names an account first. */
	if (strcmp(op, "add") && strcmp(op, "show") && strcmp(op, "enable") &&
	    strcmp(op, "disable") && strcmp(op, "bind") && strcmp(op, "unbind") &&
	    strcmp(op, "authorise") && strcmp(op, "deauthorise") &&
	    strcmp(op, "set-key") && strcmp(op, "limit") && strcmp(op, "remove"))
		return sl_usage_error(CMD, "unknown accounts operation '%s'", op);
	if (!a1)
		return sl_usage_error(CMD, "accounts %s needs an account NUMBER", op);
	ret = check_number(!strncmp(op, "auth", 4) || !strncmp(op, "deauth", 6) ?
			   "recipient" : "account", a1);
	if (ret)
		return ret;

	if (!strcmp(op, "add") || !strcmp(op, "show") || !strcmp(op, "enable") ||
	    !strcmp(op, "disable") || !strcmp(op, "remove")) {
		if (nargs > 2)
			return sl_usage_error(CMD, "too many arguments for accounts %s", op);
		if (!strcmp(op, "add"))
			return acct_add(db, a1, &o);
		if (!strcmp(op, "show"))
			return acct_show(db, a1, &o);
		ret = only(op, &o, 0);
		if (ret)
			return ret;
		ret = store_open(&st, db, false);
		if (ret)
			return ret;
		if (!strcmp(op, "remove"))
			ret = sl_tsp_account_remove(&st, a1);
		else
			ret = sl_tsp_account_set_enabled(&st, a1, !strcmp(op, "enable"));
		if (ret)
			return store_failed(&st);
		if (!strcmp(op, "remove"))
			printf("account %s removed with its bindings and authorisations (its call records stay)\n",
			       a1);
		else
			printf("account %s %sd\n", a1, op);
		return finish(&st);
	}

	if (!strcmp(op, "bind") || !strcmp(op, "unbind")) {
		ret = only(op, &o, A_LINE);
		if (ret)
			return ret;
		if (o.n_lines > 1 || (o.n_lines && a2) || (!o.n_lines && !a2) ||
		    nargs > 3)
			return sl_usage_error(CMD, "accounts %s takes NUMBER and either one CALLER-ID or --line LINE",
					      op);
		kind = o.n_lines ? SL_TSP_BIND_LINE : SL_TSP_BIND_CALLER_ID;
		a2 = o.n_lines ? o.lines[0] : a2;
		ret = kind == SL_TSP_BIND_LINE ? check_line(a2) : check_caller_id(a2);
		if (ret)
			return ret;
		ret = store_open(&st, db, false);
		if (ret)
			return ret;
		ret = !strcmp(op, "bind") ? sl_tsp_binding_add(&st, a1, kind, a2) :
		      sl_tsp_binding_remove(&st, a1, kind, a2);
		if (ret)
			return store_failed(&st);
		printf("%s %s %s %s account %s\n",
		       kind == SL_TSP_BIND_LINE ? "line" : "caller ID", a2,
		       !strcmp(op, "bind") ? "bound" : "unbound",
		       !strcmp(op, "bind") ? "to" : "from", a1);
		return finish(&st);
	}

	if (!strcmp(op, "authorise") || !strcmp(op, "deauthorise")) {
		ret = only(op, &o, 0);
		if (ret)
			return ret;
		if (!a2 || nargs > 3)
			return sl_usage_error(CMD, "accounts %s takes RECIPIENT and CALLER", op);
		ret = check_number("caller", a2);
		if (ret)
			return ret;
		if (!strcmp(a1, a2))
			return sl_usage_error(CMD, "an account cannot be its own authorised caller");
		ret = store_open(&st, db, false);
		if (ret)
			return ret;
		ret = !strcmp(op, "authorise") ? sl_tsp_auth_add(&st, a1, a2) :
		      sl_tsp_auth_remove(&st, a1, a2);
		if (ret)
			return store_failed(&st);
		printf(!strcmp(op, "authorise") ? "%s may now call %s\n" :
		       "%s may no longer call %s\n", a2, a1);
		return finish(&st);
	}

	if (!strcmp(op, "limit")) {
		unsigned int n = 0;

		ret = only(op, &o, 0);
		if (ret)
			return ret;
		if (!a2 || nargs > 3)
			return sl_usage_error(CMD, "accounts limit takes NUMBER and a number of calls (0: no limit)");
		ret = parse_max_calls(a2, &n);
		if (ret)
			return ret;
		ret = store_open(&st, db, false);
		if (ret)
			return ret;
		if (sl_tsp_account_set_max_calls(&st, a1, n))
			return store_failed(&st);
		if (n)
			printf("account %s may take part in %u calls at once\n", a1, n);
		else
			printf("account %s has no limit of concurrent calls\n", a1);
		return finish(&st);
	}

	/* set-key NUMBER FILE */
	ret = only(op, &o, 0);
	if (ret)
		return ret;
	if (!a2 || nargs > 3)
		return sl_usage_error(CMD, "accounts set-key takes NUMBER and a key FILE (or - for standard input)");
	ret = read_key(a2, key);
	if (ret)
		return ret;
	ret = store_open(&st, db, false);
	if (ret)
		return ret;
	if (sl_tsp_account_set_key(&st, a1, key))
		return store_failed(&st);
	printf("account %s has a new key: it authenticates with it from now on\n", a1);
	return finish(&st);
}

/* ------------------------------------------------------------ cdr */

struct cdr_ctx {
	bool json;
	unsigned int n;
};

static int cdr_one(const struct sl_tsp_cdr *c, void *arg)
{
	struct cdr_ctx *x = arg;

	if (x->json) {
		fputs(x->n++ ? ",\n" : "[\n", stdout);
		sl_tsp_cdr_json(stdout, c);
	} else {
		x->n++;
		sl_tsp_cdr_csv_row(stdout, c);
	}
	return 0;
}

static int run_cdr(const char *db, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "csv", no_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int64_t from = INT64_MIN, to = INT64_MAX, unused;
	struct cdr_ctx x = { 0 };
	bool csv = false;
	struct sl_tsp_store st;
	const char *from_s = NULL, *to_s = NULL;
	int opt, ret;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":cjf:t:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			csv = true;
			break;
		case 'j':
			x.json = true;
			break;
		case 'f':
			from_s = optarg;
			if (sl_tsp_time_parse(optarg, &from, &unused))
				goto bad_time;
			break;
		case 't':
			to_s = optarg;
			if (sl_tsp_time_parse(optarg, &unused, &to))
				goto bad_time;
			break;
		case 'h':
			sl_help_tsp(stdout);
			return SL_EXIT_OK;
		default:
			return sl_option_error(CMD, opt, argv);
		}
	}
	if (optind < argc)
		return sl_usage_error(CMD, "cdr takes no argument ('%s')", argv[optind]);
	if (csv && x.json)
		return sl_usage_error(CMD, "--csv and --json exclude each other");
	if (from > to)
		return sl_usage_error(CMD, "--from %s is after --to %s", from_s, to_s);
	ret = store_open(&st, db, false);
	if (ret)
		return ret;
	if (!x.json)
		sl_tsp_cdr_csv_header(stdout);
	if (sl_tsp_cdr_list(&st, from, to, cdr_one, &x))
		return store_failed(&st);
	if (x.json)
		fputs(x.n ? "\n]\n" : "[]\n", stdout);
	return finish(&st);

bad_time:
	return sl_usage_error(CMD, "'%s' is not a UTC date or date-time (YYYY-MM-DD, YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS, optional Z)",
			      optarg);
}

/* ------------------------------------------------------------ migrate */

struct migration {
	struct sl_tsp_store *from, *to;
	struct sl_tsp_store *failed;	/* the one that said no */
	unsigned int accounts, bindings, auths, records, open, conflicts;
	unsigned int spooled, held;
	const char *number;	/* the account being copied */
};

static bool account_same(const struct sl_tsp_account *a,
			 const struct sl_tsp_account *b)
{
	return !strcmp(a->name, b->name) && !memcmp(a->pub, b->pub, sizeof(a->pub)) &&
	       !strcmp(a->phone, b->phone) && a->enabled == b->enabled &&
	       a->created_ms == b->created_ms && a->max_calls == b->max_calls;
}

static int copy_binding(enum sl_tsp_binding_kind kind, const char *value,
			void *arg)
{
	struct migration *m = arg;
	int ret = sl_tsp_binding_add(m->to, m->number, kind, value);

	if (ret && ret != -EEXIST) {
		m->failed = m->to;
		return ret;
	}
	m->bindings++;
	return 0;
}

static int copy_auth(const char *caller, void *arg)
{
	struct migration *m = arg;
	int ret = sl_tsp_auth_add(m->to, m->number, caller);

	if (ret && ret != -EEXIST) {
		m->failed = m->to;
		return ret;
	}
	m->auths++;
	return 0;
}

/* An account as it is, or one the destination has already, unchanged. */
static int copy_account(const struct sl_tsp_account *a, void *arg)
{
	struct migration *m = arg;
	struct sl_tsp_account old;
	int ret = sl_tsp_account_get(m->to, a->number, &old);

	if (ret == -ENOENT)
		ret = sl_tsp_account_add(m->to, a);
	else if (!ret && !account_same(a, &old)) {
		fprintf(stderr, "%s: " CMD ": account %s differs in the destination: left as it is there\n",
			sl_prog, a->number);
		m->conflicts++;
	}
	if (ret) {
		m->failed = m->to;
		return ret;
	}
	m->accounts++;
	return 0;
}

/* Bindings and authorisations once every account is there (an
 * authorisation names two). */
static int copy_lists(const struct sl_tsp_account *a, void *arg)
{
	struct migration *m = arg;
	int ret;

	m->number = a->number;
	ret = sl_tsp_binding_list(m->from, a->number, copy_binding, m);
	if (!ret)
		ret = sl_tsp_auth_list(m->from, a->number, copy_auth, m);
	return ret;
}

static int copy_record(const struct sl_tsp_cdr *c, void *arg)
{
	struct migration *m = arg;
	int ret = sl_tsp_cdr_put(m->to, c);

	if (ret == -EEXIST) {
		fprintf(stderr, "%s: " CMD ": %s\n", sl_prog,
			sl_tsp_store_error(m->to));
		m->conflicts++;
		return 0;
	}
	if (ret) {
		m->failed = m->to;
		return ret;
	}
	m->records++;
	m->open += c->outcome == SL_TSP_OUTCOME_OPEN;
	return 0;
}

/* A held envelope's row goes with the store; its file stays in the
 * spool directory of the instance that holds it. */
static int copy_spool_row(const struct sl_tsp_spool_row *r, void *arg)
{
	struct migration *m = arg;
	int ret = sl_tsp_spool_put(m->to, r);

	if (ret == -EEXIST) {
		fprintf(stderr, "%s: " CMD ": %s\n", sl_prog,
			sl_tsp_store_error(m->to));
		m->conflicts++;
		return 0;
	}
	if (ret) {
		m->failed = m->to;
		return ret;
	}
	m->spooled++;
	m->held += !sl_tsp_spool_closed(r->state);
	return 0;
}

static int run_migrate(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct sl_tsp_store from, to;
	struct migration m = { .from = &from, .to = &to };
	const char *src = NULL, *dst = NULL;
	char err[SL_TSP_ERR_MAX + 64];
	int opt, ret;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":f:t:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			src = optarg;
			break;
		case 't':
			dst = optarg;
			break;
		case 'h':
			sl_help_tsp(stdout);
			return SL_EXIT_OK;
		default:
			return sl_option_error(CMD, opt, argv);
		}
	}
	if (optind < argc)
		return sl_usage_error(CMD, "migrate takes no argument ('%s')", argv[optind]);
	if (!src || !dst || !*src || !*dst)
		return sl_usage_error(CMD, "migrate needs --from STORE and --to STORE (such as --from sqlite:%s --to postgresql://tsp@db1/sealine)",
				      SL_TSP_DEFAULT_DB);
	if (!strcmp(src, dst))
		return sl_usage_error(CMD, "--from and --to name the same store");
	if (sl_tsp_store_open(&from, src, NULL, 0, err, sizeof(err)))
		return sl_failure(CMD ": --from: %s", err);
	if (sl_tsp_store_open(&to, dst, NULL, SL_TSP_OPEN_CREATE, err,
			      sizeof(err))) {
		sl_tsp_store_close(&from);
		return sl_failure(CMD ": --to: %s", err);
	}
	ret = sl_tsp_account_list(&from, copy_account, &m);
	if (!ret)
		ret = sl_tsp_account_list(&from, copy_lists, &m);
	if (!ret)
		ret = sl_tsp_cdr_list(&from, INT64_MIN, INT64_MAX, copy_record, &m);
	if (!ret)
		ret = sl_tsp_spool_list(&from, false, copy_spool_row, &m);
	if (ret) {
		ret = sl_failure(CMD ": migrate: %s: %s (run it again to go on: what is copied already is kept and checked)",
				 m.failed ? "--to" : "--from",
				 sl_tsp_store_error(m.failed ? &to : &from));
		sl_tsp_store_close(&to);
		sl_tsp_store_close(&from);
		return ret;
	}
	sl_tsp_store_close(&from);
	printf("%u accounts, %u bindings, %u authorisations, %u call records and %u envelope records are in the destination, each the same as in the source\n",
	       m.accounts, m.bindings, m.auths, m.records, m.spooled);
	if (m.held)
		printf("%u envelopes are held for delivery: their files stay in the spool directory of the TSP instance that holds them, which must keep its instance name and spool directory on the new store\n",
		       m.held);
	if (m.open)
		printf("%u records are still open (calls in progress when the source's TSP stopped): the TSP instance that wrote them closes them as interrupted when it starts on the new store\n",
		       m.open);
	if (m.conflicts) {
		sl_tsp_store_close(&to);
		return sl_failure(CMD ": migrate: %u items differ between the two stores (listed above); nothing was overwritten",
				  m.conflicts);
	}
	return finish(&to);
}

/* ------------------------------------------------------------ entry */

int sl_cmd_tsp(int argc, char *argv[])
{
	const char *db = NULL;
	int i = 1;

	/* The store options come before the operation, so that a later
	 * "--db" cannot be mistaken for an operation's argument. */
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			sl_help_tsp(stdout);
			return SL_EXIT_OK;
		} else if (!strcmp(argv[i], "--db")) {
			if (i + 1 >= argc)
				return sl_usage_error(CMD, "option '--db' needs an argument");
			db = argv[i + 1];
			i += 2;
		} else if (!strncmp(argv[i], "--db=", 5)) {
			db = argv[i] + 5;
			++i;
		} else {
			return sl_usage_error(CMD, "unknown option '%s' before the operation",
					      argv[i]);
		}
		if (db && !*db)
			return sl_usage_error(CMD, "--db needs a store (a path, postgresql://... or a connection string)");
	}
	if (i >= argc)
		return sl_usage_error(CMD, "which part: accounts, cdr, spool or migrate?");
	if (!strcmp(argv[i], "accounts"))
		return run_accounts(db_path(db), argc - i, argv + i);
	if (!strcmp(argv[i], "cdr"))
		return run_cdr(db_path(db), argc - i, argv + i);
	if (!strcmp(argv[i], "spool"))
		return sl_tsp_spool_cmd(db_path(db), argc - i, argv + i);
	if (!strcmp(argv[i], "migrate")) {
		if (db)
			return sl_usage_error(CMD, "migrate names its stores with --from and --to, not --db");
		return run_migrate(argc - i, argv + i);
	}
	if (!strcmp(argv[i], "help")) {
		sl_help_tsp(stdout);
		return SL_EXIT_OK;
	}
	return sl_usage_error(CMD, "unknown part '%s' (accounts, cdr, spool or migrate)", argv[i]);
}

void sl_help_tsp(FILE *f)
{
	/* cppcheck-suppress invalidPrintfArgType_s ; positional %2$d, %3$s, %4$d */
	fprintf(f,
		"NAME\n"
		"    %1$s tsp - the TSP's account store and call records\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s tsp [--db STORE] accounts add NUMBER --name NAME --key FILE|-\n"
		"                 --phone DIGITS [--caller-id DIGITS]... [--line LINE]...\n"
		"                 [--max-calls N] [--disabled]\n"
		"    %1$s tsp [--db STORE] accounts list [--json]\n"
		"    %1$s tsp [--db STORE] accounts show NUMBER [--json]\n"
		"    %1$s tsp [--db STORE] accounts enable|disable|remove NUMBER\n"
		"    %1$s tsp [--db STORE] accounts bind|unbind NUMBER CALLER-ID\n"
		"    %1$s tsp [--db STORE] accounts bind|unbind NUMBER --line LINE\n"
		"    %1$s tsp [--db STORE] accounts authorise|deauthorise RECIPIENT CALLER\n"
		"    %1$s tsp [--db STORE] accounts set-key NUMBER FILE|-\n"
		"    %1$s tsp [--db STORE] accounts limit NUMBER N\n"
		"    %1$s tsp [--db STORE] cdr [--csv|--json] [--from TIME] [--to TIME]\n"
		"    %1$s tsp [--db STORE] spool [--all] [--json]\n"
		"    %1$s tsp migrate --from STORE --to STORE\n"
		"\n"
		"DESCRIPTION\n"
		"    A trusted service provider (TSP) routes calls between accounts. Its\n"
		"    store holds the accounts it serves and a call detail record (CDR) of\n"
		"    every call. This command enrols and manages the accounts and exports\n"
		"    the records for billing. It works on the store directly, also while\n"
		"    TSPs run, and never closes the records of calls in progress.\n"
		"\n"
		"    The store is an SQLite file (one TSP; writes wait up to %2$d ms for\n"
		"    the TSP's) or a PostgreSQL database that several TSP servers share:\n"
		"    accounts are then edited once for all of them and cdr exports the\n"
		"    records of the whole cluster, each with the instance that wrote it.\n"
		"    The commands are the same for both.\n"
		"\n"
		"    An account is a 12-digit NUMBER with a NAME (person or company), the\n"
		"    static X25519 public KEY it authenticates with (unique), the PHONE\n"
		"    number the TSP dials to reach it, an enabled flag and a limit of\n"
		"    concurrent calls. Two lists decide who may call whom, both refusing\n"
		"    what they do not list:\n"
		"\n"
		"    bindings\n"
		"        The caller IDs (as the exchange delivers them, digits) and TSP\n"
		"        line names an account may call from: the ANI check. A call passes\n"
		"        when its caller ID or the line it came in on is bound to the\n"
		"        calling account. An account with no binding cannot call at all.\n"
		"    authorised callers\n"
		"        The accounts allowed to call an account (the RECIPIENT). An\n"
		"        account with an empty list receives no calls.\n"
		"\n"
		"ACCOUNT OPERATIONS\n"
		"    add          enrol NUMBER; --caller-id and --line bind at once, and\n"
		"                 may be repeated; --max-calls sets the limit (below);\n"
		"                 --disabled enrols it disabled. Creates the store if\n"
		"                 needed (an SQLite file: directory 0700, file 0600; a\n"
		"                 PostgreSQL database: its tables).\n"
		"    list         every account: number, status, phone, name\n"
		"    show         one account with its key, limit, bindings and callers\n"
		"    enable, disable\n"
		"                 a disabled account can neither call nor be called\n"
		"    bind, unbind add or remove one caller ID, or with --line one line\n"
		"    authorise, deauthorise\n"
		"                 allow or stop CALLER calling RECIPIENT ('authorize'\n"
		"                 works too)\n"
		"    set-key      replace NUMBER's public key (after a key change at the\n"
		"                 account's end)\n"
		"    limit        the calls NUMBER may take part in at once, as caller or\n"
		"                 recipient, counted on every TSP sharing the store; a\n"
		"                 call beyond it is refused with NAK BUSY (its record:\n"
		"                 busy). 0: no limit (the default); at most %4$d.\n"
		"    remove       delete NUMBER with its bindings and every authorisation\n"
		"                 naming it; its call records stay for billing\n"
		"\n"
		"    Keys are read from a file or standard input (-) as 64 hex digits,\n"
		"    like sealctl's other key files; never from the command line.\n"
		"\n"
		"CALL RECORDS\n"
		"    cdr prints the records of the calls that rang from --from to --to,\n"
		"    both inclusive, at the precision given: a date (2026-01-31) covers\n"
		"    its whole day, HH:MM its minute, HH:MM:SS its second. Times are UTC;\n"
		"    a trailing Z is allowed, other offsets are not. So --from 2026-01-01\n"
		"    --to 2026-01-31 is all of January. Records are sorted by ring time.\n"
		"\n"
		"    --csv (the default) is RFC 4180: a header line, CRLF line ends,\n"
		"    fields with a comma, quote or line break quoted. Columns:\n"
		"    tracking_id (16 hex digits, as in the call-setup messages),\n"
		"    tsp_instance, line, caller_id, ring_time, answer_time, end_time\n"
		"    (ISO 8601 UTC with milliseconds; empty if none), duration_s (answer\n"
		"    to end, seconds with 3 decimals; 0 if never answered),\n"
		"    caller_account, recipient_account, bytes_caller_to_recipient,\n"
		"    bytes_recipient_to_caller, outcome, nak_reason.\n"
		"\n"
		"    Outcomes: completed, busy, no-answer, nak (nak_reason names the\n"
		"    refusal, e.g. CALLER_ID_MISMATCH, or UNAVAILABLE when the store\n"
		"    could not be reached), abandoned (the caller hung up first), failed\n"
		"    (line or modem error), interrupted (the TSP stopped during the call,\n"
		"    or died and its lease expired; end_time is its last update), open\n"
		"    (in progress).\n"
		"\n"
		"    --json prints the same fields as a JSON array, one object per line;\n"
		"    missing values are null.\n"
		"\n"
		"SPOOL\n"
		"    spool lists the envelopes the TSP holds for later delivery (store\n"
		"    and forward; --all also those it delivered, bounced or dropped: the\n"
		"    record per envelope kept for billing): spool id (16 hex digits; the\n"
		"    file's name in the TSP's spool directory), state, sender and\n"
		"    recipient accounts, size and the size bucket it travels padded to,\n"
		"    when it was handed over, its next delivery attempt, the attempts\n"
		"    made, and the refusal of the last one. States: receiving (the\n"
		"    hand-over is under way or was cut), held, delivering, and the\n"
		"    outcomes delivered, expired (held past the maximum holding time),\n"
		"    bounced (refused by the recipient, or too many attempts) and\n"
		"    abandoned (a hand-over never completed). --json adds the envelope\n"
		"    id, the TSP instance, acceptance, not-before, window, expiry, last\n"
		"    attempt, end and collection times and the held time in seconds\n"
		"    (absent values null; sizes and counts numbers). The TSP cannot\n"
		"    open an envelope: no file name or content is in its store or spool.\n"
		"\n"
		"MIGRATE\n"
		"    migrate copies a store into another, typically a single TSP's SQLite\n"
		"    file into the PostgreSQL database of a cluster: every account with\n"
		"    its key, limit, bindings and authorised callers, and every call\n"
		"    record and envelope record (store and forward) as it is. Stop the\n"
		"    TSP that writes the source first; an envelope it holds stays in its\n"
		"    spool directory, so keep its instance name and directory. The\n"
		"    destination may hold other data already (another TSP's); an account\n"
		"    or record that is there already must be the same, and what differs\n"
		"    is listed and never overwritten (exit status 1). It can be run again:\n"
		"    what was copied is checked, what was not is copied, so an\n"
		"    interrupted migration is finished by running it once more.\n"
		"\n"
		"OPTIONS\n"
		"    --db STORE\n"
		"        The store (before the operation): an SQLite file's PATH (or\n"
		"        sqlite:PATH), a PostgreSQL URI (postgresql://USER@HOST/DB?...)\n"
		"        or a libpq connection string (\"service=sealine\", \"host=db1\n"
		"        dbname=tsp\"; passwords best in ~/.pgpass, not here). Default:\n"
		"        $SEALINE_TSP_DB, else %3$s.\n"
		"    --from STORE, --to STORE\n"
		"        migrate's source and destination, in the same forms.\n"
		"    -j, --json\n"
		"        JSON output for accounts list, accounts show, cdr and spool.\n"
		"    -a, --all\n"
		"        spool: closed envelopes too, not only those held.\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 on success; 1 if the store cannot be opened or refuses (unknown\n"
		"    account, duplicate number or key, unreadable key file, a store that\n"
		"    cannot be reached, a migration conflict, ...); 2 on a usage error\n"
		"    (malformed NUMBER, phone, caller ID, line, limit or time).\n",
		sl_prog, SL_TSP_BUSY_TIMEOUT_MS, SL_TSP_DEFAULT_DB,
		SL_TSP_MAX_CALLS_LIMIT);
}
