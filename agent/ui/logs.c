// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The send and receive logs of the original system: the courier's log
 * records (sealined's JSON lines, read with lib/json.h), filtered by
 * account and date, sorted by a column, as a page or as CSV.
 *
 * Query: account=12 digits, from=YYYY-MM-DD, to=YYYY-MM-DD (UTC, both
 * days included), sort=time|peer|outcome|files|bytes, order=asc|desc.
 * Anything else is refused with the reason; nothing is guessed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "json.h"
#include "ui.h"

struct row {
	char time[32], id[40], peer[16], name[96], outcome[24];
	char reason[48], detail[SL_UI_FIELD_MAX];
	uint64_t files, bytes, wire;
};

struct filter {
	const char *account, *from, *to, *sort;
	bool desc;
};

static const char *const sort_keys[] = { "time", "peer", "outcome", "files",
					 "bytes", NULL };

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int compare(const struct row *a, const struct row *b, const char *key)
{
	int c = 0;

	if (!strcmp(key, "peer"))
		c = strcmp(a->peer, b->peer);
	else if (!strcmp(key, "outcome"))
		c = strcmp(a->outcome, b->outcome);
	else if (!strcmp(key, "files"))
		c = cmp_u64(a->files, b->files);
	else if (!strcmp(key, "bytes"))
		c = cmp_u64(a->bytes, b->bytes);
	return c ? c : strcmp(a->time, b->time);
}

/* A stable insertion sort: a few thousand rows, and no global state
 * shared between the server's threads (qsort has no context). */
static void sort_rows(struct row *rows, size_t n, const char *key, bool desc)
{
	for (size_t i = 1; i < n; i++) {
		struct row r = rows[i];
		size_t j = i;

		while (j > 0) {
			int c = compare(&rows[j - 1], &r, key);

			if (desc ? c >= 0 : c <= 0)
				break;
			rows[j] = rows[j - 1];
			j--;
		}
		rows[j] = r;
	}
}

static bool valid_date(const char *s)
{
	struct tm tm = { 0 };
	const char *end;

	if (strlen(s) != 10)
		return false;
	end = strptime(s, "%Y-%m-%d", &tm);
	if (!end || *end)
		return false;
	/* 2026-02-30 parses; normalised it is another day */
	{
		struct tm n = tm;
		char back[16];

		n.tm_isdst = 0;
		if (timegm(&n) == -1)
			return false;
		strftime(back, sizeof(back), "%Y-%m-%d", &n);
		return !strcmp(back, s);
	}
}

/* The query, checked: NULL, or why it is refused. */
static const char *parse_filter(struct MHD_Connection *c, struct filter *f)
{
	const char *order = sl_ui_arg(c, "order");
	bool known = false;

	f->account = sl_ui_arg(c, "account");
	f->from = sl_ui_arg(c, "from");
	f->to = sl_ui_arg(c, "to");
	f->sort = sl_ui_arg(c, "sort");
	if (f->account && !*f->account)
		f->account = NULL;
	if (f->from && !*f->from)
		f->from = NULL;
	if (f->to && !*f->to)
		f->to = NULL;
	if (!f->sort || !*f->sort)
		f->sort = "time";
	if (f->account && !sl_account_valid(f->account))
		return "The account must be 12 digits.";
	if (f->from && !valid_date(f->from))
		return "'From' must be a date as YYYY-MM-DD.";
	if (f->to && !valid_date(f->to))
		return "'To' must be a date as YYYY-MM-DD.";
	if (f->from && f->to && strcmp(f->from, f->to) > 0)
		return "'From' is after 'To'.";
	for (size_t i = 0; sort_keys[i]; i++)
		known |= !strcmp(f->sort, sort_keys[i]);
	if (!known)
		return "Sort by time, peer, outcome, files or bytes.";
	if (order && *order && strcmp(order, "asc") && strcmp(order, "desc"))
		return "The order is asc or desc.";
	f->desc = !order || !*order || !strcmp(order, "desc");
	return NULL;
}

static uint64_t get_u64(const char *rec, const char *key)
{
	char v[32];

	return sl_json_get(rec, key, v, sizeof(v), NULL) ?
	       strtoull(v, NULL, 10) : 0;
}

static void get_str(const char *rec, const char *key, char *out, size_t size)
{
	if (!sl_json_get(rec, key, out, size, NULL) || !strcmp(out, "null"))
		out[0] = 0;
}

static bool keep(const struct filter *f, const struct row *r)
{
	if (f->account && strcmp(r->peer, f->account))
		return false;
	if (f->from && strncmp(r->time, f->from, 10) < 0)
		return false;
	if (f->to && strncmp(r->time, f->to, 10) > 0)
		return false;
	return true;
}

static const char *name_of(const struct sl_ui_reply *peers, const char *acct)
{
	for (size_t i = 0; i < peers->n; i++)
		if (!strcmp(peers->recs[i].r.type, "peer") &&
		    !strcmp(sl_ui_get(&peers->recs[i].r, "account", ""), acct))
			return sl_ui_get(&peers->recs[i].r, "name", "");
	return "";
}

static void header_link(struct sl_buf *b, const struct filter *f,
			const char *base, const char *key, const char *label)
{
	bool current = !strcmp(f->sort, key);
	bool desc = current ? !f->desc : true;

	sl_buf_printf(b, "<th scope=\"col\"%s><a href=\"%s?sort=%s&amp;order=%s",
		      current ? (f->desc ? " aria-sort=\"descending\"" :
				 " aria-sort=\"ascending\"") : "",
		      base, key, desc ? "desc" : "asc");
	if (f->account)
		sl_buf_printf(b, "&amp;account=%s", f->account);
	if (f->from)
		sl_buf_printf(b, "&amp;from=%s", f->from);
	if (f->to)
		sl_buf_printf(b, "&amp;to=%s", f->to);
	sl_buf_printf(b, "\">%s%s</a></th>", label,
		      current ? (f->desc ? " &#9660;" : " &#9650;") : "");
}

static void filter_form(struct sl_buf *b, const struct filter *f,
			const char *base, struct MHD_Connection *c)
{
	const char *v;

	sl_buf_printf(b, "<form method=\"get\" action=\"%s\" class=\"filter\">\n", base);
	sl_buf_puts(b, "<label for=\"account\">Account</label><input id=\"account\" name=\"account\" inputmode=\"numeric\" maxlength=\"12\" value=\"");
	v = sl_ui_arg(c, "account");
	sl_buf_html(b, v ? v : "");
	sl_buf_puts(b, "\">\n<label for=\"from\">From</label><input id=\"from\" name=\"from\" type=\"date\" value=\"");
	v = sl_ui_arg(c, "from");
	sl_buf_html(b, v ? v : "");
	sl_buf_puts(b, "\">\n<label for=\"to\">To</label><input id=\"to\" name=\"to\" type=\"date\" value=\"");
	v = sl_ui_arg(c, "to");
	sl_buf_html(b, v ? v : "");
	sl_buf_puts(b, "\">\n<input type=\"hidden\" name=\"sort\" value=\"");
	sl_buf_html(b, f->sort ? f->sort : "time");
	sl_buf_printf(b, "\">\n<input type=\"hidden\" name=\"order\" value=\"%s\">\n"
		      "<button type=\"submit\">Filter</button>\n</form>\n",
		      f->desc ? "desc" : "asc");
}

void sl_page_log(const struct sl_ui *ui, struct sl_page *pg,
		 struct MHD_Connection *c, bool sent, bool csv)
{
	const char *base = sent ? "/log/sent" : "/log/received";
	struct sl_ui_reply log, peers;
	struct sl_buf *b = &pg->body;
	struct filter f = { 0 };
	struct row *rows = NULL;
	size_t n = 0;
	const char *bad;
	char req[64];

	pg->title = sent ? "Send log" : "Receive log";
	pg->nav = sent ? "sent" : "received";
	bad = parse_filter(c, &f);
	if (bad) {
		sl_buf_printf(b, "<h1>%s</h1>\n", pg->title);
		sl_buf_puts(b, "<p class=\"error\" role=\"alert\">");
		sl_buf_html(b, bad);
		sl_buf_puts(b, "</p>\n");
		f.sort = "time";
		f.desc = true;
		filter_form(b, &f, base, c);
		pg->status = MHD_HTTP_BAD_REQUEST;
		return;
	}
	snprintf(req, sizeof(req), "courier-log %s %d",
		 sent ? "sent" : "received", SL_UI_LOG_MAX);
	if (sl_ui_call(ui, req, &log)) {
		sl_page_message(pg, MHD_HTTP_BAD_GATEWAY, pg->title, "%s", log.err);
		return;
	}
	if (sl_ui_call(ui, "peers", &peers))
		memset(&peers, 0, sizeof(peers));
	rows = calloc(log.n ? log.n : 1, sizeof(*rows));
	if (!rows) {
		sl_ui_reply_free(&log);
		sl_ui_reply_free(&peers);
		sl_page_message(pg, MHD_HTTP_INTERNAL_SERVER_ERROR, pg->title,
				"out of memory");
		return;
	}
	for (size_t i = 0; i < log.n; i++) {
		const char *rec = log.recs[i].r.text;
		struct row *r = &rows[n];

		if (strcmp(log.recs[i].r.type, "entry") || !rec)
			continue;
		get_str(rec, "time", r->time, sizeof(r->time));
		get_str(rec, "id", r->id, sizeof(r->id));
		get_str(rec, "peer", r->peer, sizeof(r->peer));
		get_str(rec, "outcome", r->outcome, sizeof(r->outcome));
		get_str(rec, "reason", r->reason, sizeof(r->reason));
		get_str(rec, "detail", r->detail, sizeof(r->detail));
		r->files = get_u64(rec, "files");
		r->bytes = get_u64(rec, "content_bytes");
		r->wire = get_u64(rec, "wire_bytes");
		snprintf(r->name, sizeof(r->name), "%s", name_of(&peers, r->peer));
		if (keep(&f, r))
			n++;
	}
	sl_ui_reply_free(&log);
	sl_ui_reply_free(&peers);
	sort_rows(rows, n, f.sort, f.desc);

	if (csv) {
		pg->content_type = "text/csv; charset=utf-8";
		pg->filename = sent ? "sealine-send-log.csv" :
				      "sealine-receive-log.csv";
		sl_buf_printf(b, "time,envelope,%s,name,outcome,reason,detail,files,bytes,wire_bytes\r\n",
			      sent ? "to" : "from");
		for (size_t i = 0; i < n; i++) {
			const char *fields[] = { rows[i].time, rows[i].id,
						 rows[i].peer, rows[i].name,
						 rows[i].outcome, rows[i].reason,
						 rows[i].detail };

			for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
				sl_buf_csv(b, fields[k]);
				sl_buf_puts(b, ",");
			}
			sl_buf_printf(b, "%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\r\n",
				      rows[i].files, rows[i].bytes, rows[i].wire);
		}
		free(rows);
		return;
	}
	sl_buf_printf(b, "<h1>%s</h1>\n", pg->title);
	filter_form(b, &f, base, c);
	sl_buf_printf(b, "<p><a id=\"csv\" href=\"%s.csv?sort=%s&amp;order=%s", base,
		      f.sort, f.desc ? "desc" : "asc");
	if (f.account)
		sl_buf_printf(b, "&amp;account=%s", f.account);
	if (f.from)
		sl_buf_printf(b, "&amp;from=%s", f.from);
	if (f.to)
		sl_buf_printf(b, "&amp;to=%s", f.to);
	sl_buf_printf(b, "\">Export as CSV</a> (%zu record%s)</p>\n", n,
		      n == 1 ? "" : "s");
	sl_buf_printf(b, "<div class=\"scroll\"><table id=\"log\">\n<thead><tr>");
	header_link(b, &f, base, "time", "Time");
	sl_buf_puts(b, "<th scope=\"col\">Envelope</th>");
	header_link(b, &f, base, "peer", sent ? "To" : "From");
	sl_buf_puts(b, "<th scope=\"col\">Name</th>");
	header_link(b, &f, base, "outcome", "Outcome");
	header_link(b, &f, base, "files", "Files");
	header_link(b, &f, base, "bytes", "Bytes");
	sl_buf_puts(b, "<th scope=\"col\">Reason</th></tr></thead><tbody>\n");
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];

		sl_buf_puts(b, "<tr><td>");
		sl_buf_html(b, r->time);
		sl_buf_puts(b, "</td><td class=\"mono\">");
		sl_buf_html(b, r->id);
		sl_buf_puts(b, "</td><td>");
		sl_buf_html(b, r->peer);
		sl_buf_puts(b, "</td><td>");
		sl_buf_html(b, r->name);
		sl_buf_printf(b, "</td><td class=\"state-%s\">",
			      strspn(r->outcome, "abcdefghijklmnopqrstuvwxyz") ==
			      strlen(r->outcome) ? r->outcome : "other");
		sl_buf_html(b, r->outcome);
		sl_buf_printf(b, "</td><td>%" PRIu64 "</td><td>", r->files);
		sl_buf_bytes(b, r->bytes);
		sl_buf_puts(b, "</td><td>");
		sl_buf_html(b, r->reason);
		if (r->detail[0]) {
			sl_buf_puts(b, r->reason[0] ? ": " : "");
			sl_buf_html(b, r->detail);
		}
		sl_buf_puts(b, "</td></tr>\n");
	}
	if (!n)
		sl_buf_puts(b, "<tr><td colspan=\"8\">No records.</td></tr>\n");
	sl_buf_puts(b, "</tbody></table></div>\n");
	free(rows);
}
