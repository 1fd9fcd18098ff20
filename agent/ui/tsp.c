// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The TSP operator's pages, when sealine-ui is given --tsp-store (the
 * account store, opened directly as "sealctl tsp" opens it, for each
 * request: SQLite file or PostgreSQL) and --tsp-socket (sealtspd's
 * control socket, for the calls in progress):
 *
 *	/tsp/accounts		accounts with bindings and authorised
 *				callers; add, enable, disable, bind,
 *				authorise, each input checked with the
 *				store's own validators and a message
 *	/tsp/calls		sealtspd's lines and the calls on them
 *	/tsp/records		call records of a month, with the billing
 *				summary per calling account (calls,
 *				answered, billable seconds, bytes); as CSV
 *				(records.csv, the format of "sealctl tsp
 *				cdr --csv"; billing.csv)
 *	/tsp/spool		the store-and-forward spool: envelopes held
 *				(all=yes: closed ones too, with their
 *				receipt or notice), from or to one account
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "tspstore.h"
#include "ui.h"

#define TSP_MAX_ACCOUNTS	5000	/* shown on one page */
#define TSP_MAX_RECORDS		20000	/* records of one month shown */
#define TSP_LIST_MAX		1024	/* bytes of a bindings/callers cell */
#define TSP_MAX_SPOOL_ROWS	5000	/* envelopes shown on one page */

static int store_open(const struct sl_ui *ui, struct sl_tsp_store *st,
		      char *err, size_t err_len)
{
	return sl_tsp_store_open(st, ui->conf.tsp_store, NULL, 0, err, err_len);
}

/* The list's array with room for twice as many (first: its first size),
 * *cap updated; NULL when out of memory, the old array kept. */
static void *grown(void *array, size_t *cap, size_t first, size_t size)
{
	size_t n = *cap ? 2 * *cap : first;
	void *more = realloc(array, n * size);

	if (more)
		*cap = n;
	return more;
}

/* ---- Accounts ------------------------------------------------------------- */

struct accounts {
	struct sl_tsp_account *a;
	size_t n, cap;
};

static int collect_account(const struct sl_tsp_account *a, void *arg)
{
	struct accounts *l = arg;

	if (l->n == TSP_MAX_ACCOUNTS)
		return 0;
	if (l->n == l->cap) {
		struct sl_tsp_account *more = grown(l->a, &l->cap, 64, sizeof(*more));

		if (!more)
			return -ENOMEM;
		l->a = more;
	}
	l->a[l->n++] = *a;
	return 0;
}

static void joined(char *out, const char *item)
{
	size_t n = strlen(out);

	if (n + strlen(item) + 3 < TSP_LIST_MAX)
		snprintf(out + n, TSP_LIST_MAX - n, "%s%s", n ? ", " : "", item);
}

static int binding_item(enum sl_tsp_binding_kind kind, const char *value,
			void *arg)
{
	char item[SL_TSP_LINE_MAX + 16];

	snprintf(item, sizeof(item), "%s %s",
		 kind == SL_TSP_BIND_LINE ? "line" : "caller ID", value);
	joined(arg, item);
	return 0;
}

static int number_item(const char *number, void *arg)
{
	joined(arg, number);
	return 0;
}

static void text_input(struct sl_buf *b, const char *id, const char *name,
		       const char *label, const char *extra)
{
	sl_buf_printf(b, "<label for=\"%s\">%s</label><input id=\"%s\" name=\"%s\" required%s>\n",
		      id, label, id, name, extra);
}

static void account_forms(const struct sl_ui *ui, struct sl_page *pg)
{
	struct sl_buf *b = &pg->body;

	sl_buf_puts(b, "<h2>Add an account</h2>\n<form method=\"post\" action=\"/tsp/accounts/add\" class=\"stack\">\n");
	sl_page_csrf(ui, pg);
	text_input(b, "add-number", "number", "Account (12 digits)",
		   " inputmode=\"numeric\" maxlength=\"12\"");
	text_input(b, "add-name", "name", "Name or company", " maxlength=\"128\"");
	text_input(b, "add-phone", "phone", "Phone number (digits)",
		   " inputmode=\"numeric\" maxlength=\"32\"");
	text_input(b, "add-key", "key", "Public key (64 hex digits, from sealctl status)",
		   " maxlength=\"64\" class=\"mono\"");
	sl_buf_puts(b, "<button type=\"submit\" id=\"add\">Add</button>\n</form>\n");

	sl_buf_puts(b, "<h2>Bind a caller ID or line</h2>\n<form method=\"post\" action=\"/tsp/accounts/bind\" class=\"stack\">\n");
	sl_page_csrf(ui, pg);
	text_input(b, "bind-number", "number", "Account", " inputmode=\"numeric\" maxlength=\"12\"");
	sl_buf_puts(b, "<label for=\"bind-kind\">Kind</label><select id=\"bind-kind\" name=\"kind\">"
		    "<option value=\"caller-id\">caller ID</option><option value=\"line\">TSP line</option></select>\n");
	text_input(b, "bind-value", "value", "Caller ID or line name", " maxlength=\"63\"");
	sl_buf_puts(b, "<button type=\"submit\" id=\"bind\">Bind</button>\n"
		    "<button type=\"submit\" id=\"unbind\" formaction=\"/tsp/accounts/unbind\">Unbind</button>\n</form>\n");

	sl_buf_puts(b, "<h2>Authorise a caller</h2>\n<form method=\"post\" action=\"/tsp/accounts/authorise\" class=\"stack\">\n");
	sl_page_csrf(ui, pg);
	text_input(b, "auth-number", "number", "Recipient", " inputmode=\"numeric\" maxlength=\"12\"");
	text_input(b, "auth-caller", "caller", "May be called by", " inputmode=\"numeric\" maxlength=\"12\"");
	sl_buf_puts(b, "<button type=\"submit\" id=\"authorise\">Authorise</button>\n"
		    "<button type=\"submit\" id=\"deauthorise\" formaction=\"/tsp/accounts/deauthorise\">Withdraw</button>\n</form>\n");

	sl_buf_printf(b, "<h2>Limit concurrent calls</h2>\n<form method=\"post\" action=\"/tsp/accounts/limit\" class=\"stack\">\n");
	sl_page_csrf(ui, pg);
	text_input(b, "limit-number", "number", "Account", " inputmode=\"numeric\" maxlength=\"12\"");
	sl_buf_printf(b, "<label for=\"limit-calls\">Calls at once (0: no limit)</label><input id=\"limit-calls\" name=\"max_calls\" type=\"number\" min=\"0\" max=\"%d\" required>\n"
		      "<button type=\"submit\" id=\"limit\">Set</button>\n</form>\n",
		      SL_TSP_MAX_CALLS_LIMIT);

	sl_buf_puts(b, "<h2>Replace an account's key</h2>\n<p>When its installation has a new identity; its calls are refused until the key matches.</p>\n"
		    "<form method=\"post\" action=\"/tsp/accounts/set-key\" class=\"stack\">\n");
	sl_page_csrf(ui, pg);
	text_input(b, "key-number", "number", "Account", " inputmode=\"numeric\" maxlength=\"12\"");
	text_input(b, "key-key", "key", "New public key (64 hex digits)",
		   " maxlength=\"64\" class=\"mono\"");
	sl_buf_puts(b, "<button type=\"submit\" id=\"set-key\">Replace</button>\n</form>\n");

	sl_buf_puts(b, "<h2>Remove an account</h2>\n<form method=\"post\" action=\"/tsp/accounts/remove\" class=\"stack\">\n");
	sl_page_csrf(ui, pg);
	text_input(b, "remove-number", "number", "Account", " inputmode=\"numeric\" maxlength=\"12\"");
	sl_buf_puts(b, "<label><input type=\"checkbox\" id=\"remove-confirm\" name=\"confirm\" value=\"yes\"> Remove it with its bindings and every authorisation naming it (its call records stay)</label>\n"
		    "<button type=\"submit\" id=\"remove\">Remove</button>\n</form>\n");
}

void sl_page_tsp_accounts(const struct sl_ui *ui, struct sl_page *pg,
			  const char *error)
{
	struct accounts l = { 0 };
	struct sl_buf *b = &pg->body;
	struct sl_tsp_store st;
	char err[SL_TSP_ERR_MAX + 64];

	pg->title = "TSP accounts";
	pg->nav = "tsp-accounts";
	sl_buf_puts(b, "<h1>TSP accounts</h1>\n");
	if (error)
		sl_page_alert(pg, error);
	if (store_open(ui, &st, err, sizeof(err))) {
		pg->status = MHD_HTTP_BAD_GATEWAY;
		sl_page_alert(pg, err);
		return;
	}
	if (sl_tsp_account_list(&st, collect_account, &l)) {
		pg->status = MHD_HTTP_BAD_GATEWAY;
		sl_page_alert(pg, sl_tsp_store_error(&st));
		goto out;
	}
	sl_page_table(pg, "accounts", (const char *const[]){
		"Account", "Name", "Phone", "Status", "Max calls", "Bindings",
		"Authorised callers", "Change", NULL });
	for (size_t i = 0; i < l.n; i++) {
		const struct sl_tsp_account *a = &l.a[i];
		char binds[TSP_LIST_MAX] = "", callers[TSP_LIST_MAX] = "";
		char max[16];

		sl_tsp_binding_list(&st, a->number, binding_item, binds);
		sl_tsp_auth_list(&st, a->number, number_item, callers);
		snprintf(max, sizeof(max), "%u", a->max_calls);
		sl_buf_puts(b, "<tr>");
		sl_buf_td(b, a->number);
		sl_buf_td(b, a->name);
		sl_buf_td(b, a->phone);
		sl_buf_td(b, a->enabled ? "enabled" : "disabled");
		sl_buf_td(b, a->max_calls ? max : "no limit");
		sl_buf_td(b, binds[0] ? binds : "none: cannot call");
		sl_buf_td(b, callers[0] ? callers : "-");
		sl_buf_puts(b, "<td><form method=\"post\" class=\"inline\" action=\"/tsp/accounts/");
		sl_buf_puts(b, a->enabled ? "disable" : "enable");
		sl_buf_puts(b, "\">\n");
		sl_page_csrf(ui, pg);
		sl_buf_printf(b, "<input type=\"hidden\" name=\"number\" value=\"%s\">"
			      "<button type=\"submit\" id=\"%s-%s\">%s</button></form></td></tr>\n",
			      a->number, a->enabled ? "disable" : "enable",
			      a->number, a->enabled ? "Disable" : "Enable");
	}
	sl_page_table_end(pg, l.n, 8, "No accounts yet.");
	account_forms(ui, pg);
out:
	free(l.a);
	sl_tsp_store_close(&st);
}

static int form_key(const struct sl_form *f, uint8_t pub[SL_TSP_KEY_LEN],
		    char *why, size_t len)
{
	const char *key = sl_form_get(f, "key");

	if (strlen(key) != 2 * SL_TSP_KEY_LEN ||
	    sl_hex_decode(pub, SL_TSP_KEY_LEN, key, strlen(key))) {
		snprintf(why, len, "The public key must be 64 hex digits (sealctl status shows it as public_key).");
		return -EINVAL;
	}
	return 0;
}

static int form_binding(const struct sl_form *f, enum sl_tsp_binding_kind *kind,
			const char **value, char *why, size_t len)
{
	const char *k = sl_form_get(f, "kind");
	bool line = !strcmp(k, "line");

	*value = sl_form_get(f, "value");
	if (!line && strcmp(k, "caller-id")) {
		snprintf(why, len, "Bind a caller ID or a line.");
		return -EINVAL;
	}
	if (line ? !sl_tsp_line_valid(*value) : !sl_tsp_phone_valid(*value)) {
		snprintf(why, len, line ?
			 "The line name '%s' is not 1 to 63 of A-Z a-z 0-9 . _ -." :
			 "The caller ID '%s' is not 1 to 32 digits.", *value);
		return -EINVAL;
	}
	*kind = line ? SL_TSP_BIND_LINE : SL_TSP_BIND_CALLER_ID;
	return 0;
}

static int form_max_calls(const struct sl_form *f, unsigned int *n,
			  char *why, size_t len)
{
	const char *s = sl_form_get(f, "max_calls");

	if (sl_tsp_max_calls_parse(s, n)) {
		snprintf(why, len, "'%s' is not a number of calls from 0 (no limit) to %d.",
			 s, SL_TSP_MAX_CALLS_LIMIT);
		return -EINVAL;
	}
	return 0;
}

/* The change a form asks for, checked: 0, or -EINVAL with why. */
static int tsp_change(struct sl_tsp_store *st, const char *action,
		      const struct sl_form *f, char *why, size_t len)
{
	const char *number = sl_form_get(f, "number");
	enum sl_tsp_binding_kind kind;
	struct sl_tsp_account a = { 0 };
	const char *value;
	unsigned int n;
	int ret;

	if (!sl_account_valid(number)) {
		snprintf(why, len, "An account number is 12 digits, not '%s'.",
			 number);
		return -EINVAL;
	}
	if (!strcmp(action, "add")) {
		snprintf(a.name, sizeof(a.name), "%s", sl_form_get(f, "name"));
		snprintf(a.phone, sizeof(a.phone), "%s", sl_form_get(f, "phone"));
		if (!sl_tsp_name_valid(sl_form_get(f, "name"))) {
			snprintf(why, len, "The name must be 1 to %d bytes, without control characters or leading or trailing spaces.",
				 SL_TSP_NAME_MAX);
			return -EINVAL;
		}
		if (!sl_tsp_phone_valid(sl_form_get(f, "phone"))) {
			snprintf(why, len, "The phone number '%s' is not 1 to %d digits (no '+', spaces or dashes).",
				 sl_form_get(f, "phone"), SL_TSP_PHONE_MAX);
			return -EINVAL;
		}
		ret = form_key(f, a.pub, why, len);
		if (ret)
			return ret;
		snprintf(a.number, sizeof(a.number), "%s", number);
		a.enabled = true;
		a.created_ms = (int64_t)time(NULL) * 1000;
		return sl_tsp_account_add(st, &a);
	}
	if (!strcmp(action, "enable") || !strcmp(action, "disable"))
		return sl_tsp_account_set_enabled(st, number, action[0] == 'e');
	if (!strcmp(action, "bind") || !strcmp(action, "unbind")) {
		ret = form_binding(f, &kind, &value, why, len);
		if (ret)
			return ret;
		return action[0] == 'b' ? sl_tsp_binding_add(st, number, kind, value) :
		       sl_tsp_binding_remove(st, number, kind, value);
	}
	if (!strcmp(action, "authorise") || !strcmp(action, "deauthorise")) {
		const char *caller = sl_form_get(f, "caller");

		if (!sl_account_valid(caller) || !strcmp(caller, number)) {
			snprintf(why, len, "The caller must be another account's 12 digits, not '%s'.",
				 caller);
			return -EINVAL;
		}
		return action[0] == 'a' ? sl_tsp_auth_add(st, number, caller) :
		       sl_tsp_auth_remove(st, number, caller);
	}
	if (!strcmp(action, "limit")) {
		ret = form_max_calls(f, &n, why, len);
		return ret ? ret : sl_tsp_account_set_max_calls(st, number, n);
	}
	if (!strcmp(action, "set-key")) {
		ret = form_key(f, a.pub, why, len);
		return ret ? ret : sl_tsp_account_set_key(st, number, a.pub);
	}
	if (!strcmp(action, "remove")) {
		if (strcmp(sl_form_get(f, "confirm"), "yes")) {
			snprintf(why, len, "Tick the box to remove account %s: its bindings and authorisations go with it.",
				 number);
			return -EINVAL;
		}
		return sl_tsp_account_remove(st, number);
	}
	snprintf(why, len, "There is no such change.");
	return -EINVAL;
}

void sl_page_tsp_post(const struct sl_ui *ui, struct sl_page *pg,
		      const char *path, const struct sl_form *form)
{
	char err[SL_TSP_ERR_MAX + 64], why[SL_TSP_ERR_MAX + 64] = "";
	struct sl_tsp_store st;
	int ret;

	if (store_open(ui, &st, err, sizeof(err))) {
		sl_page_message(pg, MHD_HTTP_BAD_GATEWAY, "TSP accounts", "%s", err);
		return;
	}
	ret = tsp_change(&st, path, form, why, sizeof(why));
	if (ret && !why[0])
		snprintf(why, sizeof(why), "%s", sl_tsp_store_error(&st));
	sl_tsp_store_close(&st);
	if (ret) {
		sl_page_tsp_accounts(ui, pg, why);
		pg->status = ret == -EINVAL ? MHD_HTTP_BAD_REQUEST :
			     MHD_HTTP_CONFLICT;
		return;
	}
	pg->location = "/tsp/accounts";
}

/* ---- Calls in progress ------------------------------------------------------ */

void sl_page_tsp_calls(const struct sl_ui *ui, struct sl_page *pg)
{
	static const struct sl_col cols[] = {
		{ "tty", "Line" }, { "state", "State" }, { "modem", "Modem" },
		{ "call_tracking", "Call" }, { "call_leg", "Leg" },
		{ "caller", "Caller" }, { "recipient", "Recipient" },
		{ "bytes_up", "Bytes up" }, { "bytes_down", "Bytes down" },
	};
	struct sl_ui_reply st;
	struct sl_buf *b = &pg->body;

	pg->title = "TSP calls";
	pg->nav = "tsp-calls";
	pg->refresh = 5;
	sl_buf_puts(b, "<h1>Calls in progress</h1>\n");
	if (sl_ui_call_at(ui->conf.tsp_socket, "status", &st)) {
		pg->status = MHD_HTTP_BAD_GATEWAY;
		sl_page_alert(pg, st.err);
		return;
	}
	for (size_t i = 0; i < st.n; i++) {
		const struct sl_ipc_record *r = &st.recs[i].r;

		if (strcmp(r->type, "daemon"))
			continue;
		sl_buf_puts(b, "<p id=\"tsp-summary\">Instance ");
		sl_buf_html(b, sl_ui_get(r, "instance", "?"));
		sl_buf_puts(b, ", store ");
		sl_buf_html(b, sl_ui_get(r, "store_state", "?"));
		sl_buf_puts(b, ", ");
		sl_buf_html(b, sl_ui_get(r, "calls", "0"));
		sl_buf_puts(b, " calls on ");
		sl_buf_html(b, sl_ui_get(r, "lines", "0"));
		sl_buf_puts(b, " lines.</p>\n");
	}
	sl_page_records(pg, "calls", cols, sizeof(cols) / sizeof(cols[0]), &st,
			"line", "sealtspd has no line.");
	sl_ui_reply_free(&st);
}

/* ---- Call records and billing ---------------------------------------------- */

struct records {
	const char *account;		/* only calls it takes part in */
	struct sl_tsp_cdr *c;
	size_t n, cap;
	bool truncated;
};

struct bill {
	char account[SL_ACCOUNT_LEN + 1];
	uint64_t calls, answered, ms, up, down;
};

static int collect_record(const struct sl_tsp_cdr *c, void *arg)
{
	struct records *l = arg;

	if (l->account && strcmp(c->caller_account, l->account) &&
	    strcmp(c->recipient_account, l->account))
		return 0;
	if (l->n == TSP_MAX_RECORDS) {
		l->truncated = true;
		return 0;
	}
	if (l->n == l->cap) {
		struct sl_tsp_cdr *more = grown(l->c, &l->cap, 256, sizeof(*more));

		if (!more)
			return -ENOMEM;
		l->c = more;
	}
	l->c[l->n++] = *c;
	return 0;
}

/* Per calling account, in order of first call. */
static size_t billing(const struct records *l, struct bill *bills)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++) {
		const struct sl_tsp_cdr *c = &l->c[i];
		const char *who = c->caller_account[0] ? c->caller_account :
				  "(unknown)";
		size_t k;

		for (k = 0; k < n; k++)
			if (!strcmp(bills[k].account, who))
				break;
		if (k == n) {
			memset(&bills[n], 0, sizeof(bills[n]));
			snprintf(bills[n].account, sizeof(bills[n].account), "%s", who);
			n++;
		}
		bills[k].calls++;
		bills[k].answered += c->answer_ms != 0;
		bills[k].ms += (uint64_t)sl_tsp_cdr_duration_ms(c);
		bills[k].up += c->bytes_up;
		bills[k].down += c->bytes_down;
	}
	return n;
}

/* month=YYYY-MM: its first and last ms (UTC). */
static bool month_range(const char *m, int64_t *from, int64_t *to)
{
	char day[32];
	int64_t last;
	int y, mo;

	if (strlen(m) != 7 || sscanf(m, "%4d-%2d", &y, &mo) != 2 || m[4] != '-' ||
	    strspn(m, "0123456789-") != 7 || mo < 1 || mo > 12 || y < 1970)
		return false;
	snprintf(day, sizeof(day), "%04d-%02d-01", y, mo);
	if (sl_tsp_time_parse(day, from, &last))
		return false;
	snprintf(day, sizeof(day), "%04d-%02d-01", mo == 12 ? y + 1 : y,
		 mo == 12 ? 1 : mo + 1);
	if (sl_tsp_time_parse(day, to, &last))
		return false;
	*to -= 1;
	return true;
}

static void records_csv(struct sl_page *pg, const struct records *l,
			const struct bill *bills, size_t n_bills,
			const char *month, int csv)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f) {
		pg->body.failed = true;
		return;
	}
	if (csv == 1) {
		sl_tsp_cdr_csv_header(f);
		for (size_t i = 0; i < l->n; i++)
			sl_tsp_cdr_csv_row(f, &l->c[i]);
	} else {
		fputs("account,month,calls,answered,seconds,bytes_up,bytes_down\r\n", f);
		for (size_t k = 0; k < n_bills; k++)
			fprintf(f, "%s,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\r\n",
				bills[k].account, month, bills[k].calls,
				bills[k].answered, bills[k].ms / 1000,
				bills[k].up, bills[k].down);
	}
	if (fclose(f)) {
		free(text);
		pg->body.failed = true;
		return;
	}
	sl_buf_add(&pg->body, text, len);
	free(text);
	pg->content_type = "text/csv; charset=utf-8";
	pg->filename = csv == 1 ? "sealine-call-records.csv" :
				  "sealine-billing.csv";
}

static void record_row(struct sl_buf *b, const struct sl_tsp_cdr *c)
{
	char t[SL_TSP_TIME_STR_LEN + 1], id[20];
	int64_t ms = sl_tsp_cdr_duration_ms(c);

	snprintf(id, sizeof(id), "%016" PRIx64, c->tracking_id);
	sl_buf_printf(b, "<tr><td class=\"mono\">%s</td>", id);
	sl_tsp_time_format(t, c->ring_ms);
	sl_buf_td(b, t);
	sl_buf_printf(b, "<td>%" PRId64 ":%02" PRId64 "</td>", ms / 60000,
		      ms / 1000 % 60);
	sl_buf_td(b, c->caller_account[0] ? c->caller_account : "-");
	sl_buf_td(b, c->recipient_account[0] ? c->recipient_account : "-");
	sl_buf_td(b, c->line);
	sl_buf_printf(b, "<td>%" PRIu64 "</td><td>%" PRIu64 "</td>", c->bytes_up,
		      c->bytes_down);
	sl_buf_td(b, sl_tsp_outcome_name(c->outcome));
	sl_buf_puts(b, "</tr>\n");
}

void sl_page_tsp_records(const struct sl_ui *ui, struct sl_page *pg,
			 struct MHD_Connection *c, int csv)
{
	const char *month = sl_ui_arg(c, "month"), *account = sl_ui_arg(c, "account");
	char this_month[16], err[SL_TSP_ERR_MAX + 64];
	struct records l = { 0 };
	struct sl_buf *b = &pg->body;
	struct bill *bills = NULL;
	struct sl_tsp_store st;
	int64_t from, to;
	time_t now = time(NULL);
	struct tm tm;
	size_t n_bills;

	pg->title = "Call records";
	pg->nav = "tsp-records";
	gmtime_r(&now, &tm);
	strftime(this_month, sizeof(this_month), "%Y-%m", &tm);
	if (!month || !*month)
		month = this_month;
	if (account && !*account)
		account = NULL;
	sl_buf_puts(b, "<h1>Call records</h1>\n<form method=\"get\" action=\"/tsp/records\" class=\"filter\">\n"
		    "<label for=\"month\">Month</label><input id=\"month\" name=\"month\" type=\"month\" value=\"");
	sl_buf_html(b, month);
	sl_buf_puts(b, "\">\n<label for=\"account\">Account</label><input id=\"account\" name=\"account\" inputmode=\"numeric\" maxlength=\"12\" value=\"");
	sl_buf_html(b, account ? account : "");
	sl_buf_puts(b, "\">\n<button type=\"submit\">Show</button>\n</form>\n");
	if (!month_range(month, &from, &to)) {
		pg->status = MHD_HTTP_BAD_REQUEST;
		pg->content_type = NULL;
		sl_page_alert(pg, "The month must be YYYY-MM.");
		return;
	}
	if (account && !sl_account_valid(account)) {
		pg->status = MHD_HTTP_BAD_REQUEST;
		sl_page_alert(pg, "The account must be 12 digits.");
		return;
	}
	if (store_open(ui, &st, err, sizeof(err))) {
		pg->status = MHD_HTTP_BAD_GATEWAY;
		sl_page_alert(pg, err);
		return;
	}
	l.account = account;
	if (sl_tsp_cdr_list(&st, from, to, collect_record, &l)) {
		pg->status = MHD_HTTP_BAD_GATEWAY;
		sl_page_alert(pg, sl_tsp_store_error(&st));
		goto out;
	}
	bills = calloc(l.n ? l.n : 1, sizeof(*bills));
	if (!bills) {
		pg->body.failed = true;
		goto out;
	}
	n_bills = billing(&l, bills);
	if (csv) {
		sl_buf_free(b);
		records_csv(pg, &l, bills, n_bills, month, csv);
		goto out;
	}
	sl_buf_printf(b, "<p><a id=\"records-csv\" href=\"/tsp/records.csv?month=%s%s%s\">Records as CSV</a> &middot; "
		      "<a id=\"billing-csv\" href=\"/tsp/billing.csv?month=%s%s%s\">Billing as CSV</a> (%zu records%s)</p>\n",
		      month, account ? "&amp;account=" : "", account ? account : "",
		      month, account ? "&amp;account=" : "", account ? account : "",
		      l.n, l.truncated ? ", more than one page holds" : "");
	sl_buf_puts(b, "<h2>Billing by calling account</h2>\n");
	sl_page_table(pg, "billing", (const char *const[]){
		"Account", "Calls", "Answered", "Billable time", "Bytes up",
		"Bytes down", NULL });
	for (size_t k = 0; k < n_bills; k++) {
		const struct bill *x = &bills[k];

		sl_buf_puts(b, "<tr>");
		sl_buf_td(b, x->account);
		sl_buf_printf(b, "<td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64 ":%02" PRIu64 ":%02" PRIu64 "</td>"
			      "<td>%" PRIu64 "</td><td>%" PRIu64 "</td></tr>\n",
			      x->calls, x->answered, x->ms / 3600000,
			      x->ms / 60000 % 60, x->ms / 1000 % 60, x->up, x->down);
	}
	sl_page_table_end(pg, n_bills, 6, "No calls in this month.");
	sl_buf_puts(b, "<h2>Records</h2>\n");
	sl_page_table(pg, "records", (const char *const[]){
		"Call", "Rang", "Duration", "Caller", "Recipient", "Line",
		"Bytes up", "Bytes down", "Outcome", NULL });
	for (size_t i = 0; i < l.n; i++)
		record_row(b, &l.c[i]);
	sl_page_table_end(pg, l.n, 9, "No calls in this month.");
out:
	free(bills);
	free(l.c);
	sl_tsp_store_close(&st);
}

/* ---- The store-and-forward spool ------------------------------------------- */

struct spool {
	const char *account;		/* only envelopes from or to it */
	struct sl_tsp_spool_row *r;
	size_t n, cap;
	uint64_t held_bytes;		/* of the open rows listed */
	size_t held;
	bool truncated;
};

static int collect_spool_row(const struct sl_tsp_spool_row *r, void *arg)
{
	struct spool *l = arg;

	if (l->account && strcmp(r->sender, l->account) &&
	    strcmp(r->recipient, l->account))
		return 0;
	if (l->n == TSP_MAX_SPOOL_ROWS) {
		l->truncated = true;
		return 0;
	}
	if (l->n == l->cap) {
		struct sl_tsp_spool_row *more = grown(l->r, &l->cap, 64, sizeof(*more));

		if (!more)
			return -ENOMEM;
		l->r = more;
	}
	l->r[l->n++] = *r;
	if (!sl_tsp_spool_closed(r->state)) {
		l->held++;
		l->held_bytes += r->size;
	}
	return 0;
}

/* To the minute, UTC: the spool's times are minutes apart or more, and a
 * full timestamp in each of four columns would not fit a window. */
static void spool_time(struct sl_buf *b, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	char text[32];
	struct tm tm;

	if (!ms || !gmtime_r(&t, &tm) ||
	    !strftime(text, sizeof(text), "%Y-%m-%d %H:%M", &tm)) {
		sl_buf_puts(b, "-");
		return;
	}
	sl_buf_html(b, text);
}

/*
 * One envelope: open rows say when they are tried next and when they
 * expire, closed ones when and why they closed, with the recipient's
 * signed receipt or the TSP's notice (accounts, ids, times and a
 * digest, nothing of the content: courier.rst, "Receipts").
 */
static void spool_row(struct sl_buf *b, const struct sl_tsp_spool_row *r)
{
	bool closed = sl_tsp_spool_closed(r->state);
	char id[20];

	snprintf(id, sizeof(id), "%016" PRIx64, r->sid);
	sl_buf_printf(b, "<tr id=\"spool-%s\"><td class=\"mono\">%s</td>", id, id);
	sl_buf_td(b, sl_tsp_spool_state_name(r->state));
	sl_buf_td(b, r->sender);
	sl_buf_td(b, r->recipient);
	sl_buf_printf(b, "<td>%" PRIu64 "<br><small>padded %" PRIu64 "</small></td><td>",
		      r->size, r->bucket);
	spool_time(b, r->received_ms);
	sl_buf_puts(b, "</td><td>");
	if (closed) {
		sl_buf_puts(b, "-");
	} else {
		spool_time(b, r->next_ms);
		sl_buf_puts(b, "<br><small>expires ");
		spool_time(b, r->expires_ms);
		sl_buf_puts(b, "</small>");
	}
	sl_buf_printf(b, "</td><td>%u</td><td>", r->attempts);
	if (!closed) {
		sl_buf_puts(b, "-</td></tr>\n");
		return;
	}
	spool_time(b, r->done_ms);
	if (r->reason[0]) {
		sl_buf_puts(b, "<br>");
		sl_buf_html(b, r->reason);
	}
	if (r->receipt[0]) {
		sl_buf_puts(b, "<details><summary>");
		sl_buf_puts(b, r->state == SL_TSP_SPOOL_DELIVERED ? "Receipt" :
				"Notice");
		sl_buf_puts(b, r->collected_ms ? ", collected" : ", not collected");
		sl_buf_puts(b, "</summary><pre>");
		sl_buf_html_lines(b, r->receipt);
		sl_buf_puts(b, "</pre></details>");
	}
	sl_buf_puts(b, "</td></tr>\n");
}

void sl_page_tsp_spool(const struct sl_ui *ui, struct sl_page *pg,
		       struct MHD_Connection *c)
{
	const char *account = sl_ui_arg(c, "account"), *all_arg = sl_ui_arg(c, "all");
	bool all = all_arg && !strcmp(all_arg, "yes");
	char err[SL_TSP_ERR_MAX + 64];
	struct spool l = { 0 };
	struct sl_buf *b = &pg->body;
	struct sl_tsp_store st;

	pg->title = "Spool";
	pg->nav = "tsp-spool";
	if (account && !*account)
		account = NULL;
	sl_buf_puts(b, "<h1>Store and forward</h1>\n"
		    "<p>Envelopes handed to this TSP for later delivery. Their content is sealed for the recipient: the TSP knows only accounts, sizes and times.</p>\n"
		    "<form method=\"get\" action=\"/tsp/spool\" class=\"filter\">\n"
		    "<label for=\"account\">Account</label><input id=\"account\" name=\"account\" inputmode=\"numeric\" maxlength=\"12\" value=\"");
	sl_buf_html(b, account ? account : "");
	sl_buf_printf(b, "\">\n<label><input id=\"all\" type=\"checkbox\" name=\"all\" value=\"yes\"%s> Closed envelopes too</label>\n"
		      "<button type=\"submit\">Show</button>\n</form>\n",
		      all ? " checked" : "");
	if (all_arg && *all_arg && !all) {
		pg->status = MHD_HTTP_BAD_REQUEST;
		sl_page_alert(pg, "'all' is yes or absent.");
		return;
	}
	if (account && !sl_account_valid(account)) {
		pg->status = MHD_HTTP_BAD_REQUEST;
		sl_page_alert(pg, "The account must be 12 digits.");
		return;
	}
	if (store_open(ui, &st, err, sizeof(err))) {
		pg->status = MHD_HTTP_BAD_GATEWAY;
		sl_page_alert(pg, err);
		return;
	}
	l.account = account;
	if (sl_tsp_spool_list(&st, !all, collect_spool_row, &l)) {
		pg->status = MHD_HTTP_BAD_GATEWAY;
		sl_page_alert(pg, sl_tsp_store_error(&st));
		goto out;
	}
	sl_buf_printf(b, "<p id=\"spool-summary\">%zu held for delivery, %" PRIu64 " bytes%s.</p>\n",
		      l.held, l.held_bytes,
		      l.truncated ? "; more than one page holds, narrow by account" : "");
	sl_page_table(pg, "spool", (const char *const[]){
		"Spool id", "State", "Sender", "Recipient", "Bytes",
		"Received (UTC)", "Next attempt", "Attempts", "Closed",
		NULL });
	for (size_t i = 0; i < l.n; i++)
		spool_row(b, &l.r[i]);
	sl_page_table_end(pg, l.n, 9, all ? "The spool has held nothing." :
					    "The spool holds nothing.");
out:
	free(l.r);
	sl_tsp_store_close(&st);
}
