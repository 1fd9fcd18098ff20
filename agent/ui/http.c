// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Every request: who may ask (Host, the session cookie, the CSRF token
 * of a form), which screen answers, and the frame and headers around it.
 *
 * Access: sealine-ui prints a URL with a random access token; GET
 * /login?token=T sets the session cookie (HttpOnly, SameSite=Strict) and
 * sends the browser on to /, so the token leaves the address bar. Every
 * other page needs the cookie; every POST also the CSRF token in its
 * form, compared in constant time, and an Origin (if the browser sends
 * one) of this server. The Host header must name this server, so that a
 * web page cannot reach it by rebinding a name of its own to 127.0.0.1.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ui.h"

#define COOKIE_NAME	"sealine_ui"

/* What a connection's request carries between the handler's calls. */
struct request {
	bool post;
	bool checked;			/* auth done */
	struct sl_upload *upload;	/* POST /send */
	struct MHD_PostProcessor *pp;	/* other POSTs: their small form */
	struct sl_form form;
};

const char *sl_ui_arg(struct MHD_Connection *c, const char *key)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

bool sl_ui_token_equal(const char *given, const char *ours)
{
	size_t n = strlen(ours);
	unsigned char diff = 0;

	if (!given || strlen(given) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(given[i] ^ ours[i]);
	return !diff;
}

void sl_page_message(struct sl_page *pg, unsigned int status,
		     const char *title, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	pg->status = status;
	pg->title = title;
	sl_buf_printf(&pg->body, "<h1>%s</h1>\n<p class=\"%s\" role=\"alert\">",
		      title, status >= 400 ? "error" : "note");
	sl_buf_html(&pg->body, text);
	sl_buf_puts(&pg->body, "</p>\n");
}

void sl_page_alert(struct sl_page *pg, const char *text)
{
	sl_buf_puts(&pg->body, "<p class=\"error\" role=\"alert\">");
	sl_buf_html(&pg->body, text);
	sl_buf_puts(&pg->body, "</p>\n");
}

void sl_page_table(struct sl_page *pg, const char *id,
		   const char *const *labels)
{
	sl_buf_printf(&pg->body, "<div class=\"scroll\"><table id=\"%s\">\n<thead><tr>",
		      id);
	for (size_t c = 0; labels[c]; c++)
		sl_buf_printf(&pg->body, "<th scope=\"col\">%s</th>", labels[c]);
	sl_buf_puts(&pg->body, "</tr></thead><tbody>\n");
}

void sl_page_table_end(struct sl_page *pg, size_t rows, size_t cols,
		       const char *empty)
{
	if (!rows)
		sl_buf_printf(&pg->body, "<tr><td colspan=\"%zu\">%s</td></tr>\n",
			      cols, empty);
	sl_buf_puts(&pg->body, "</tbody></table></div>\n");
}

void sl_page_records(struct sl_page *pg, const char *id,
		     const struct sl_col *cols, size_t n_cols,
		     const struct sl_ui_reply *reply, const char *type,
		     const char *empty)
{
	const char *labels[SL_UI_MAX_COLS + 1] = { 0 };
	struct sl_buf *b = &pg->body;
	size_t shown = 0;

	for (size_t c = 0; c < n_cols && c < SL_UI_MAX_COLS; c++)
		labels[c] = cols[c].label;
	sl_page_table(pg, id, labels);
	for (size_t i = 0; i < reply->n; i++) {
		const struct sl_ipc_record *r = &reply->recs[i].r;

		if (strcmp(r->type, type))
			continue;
		shown++;
		sl_buf_puts(b, "<tr>");
		for (size_t c = 0; c < n_cols; c++)
			sl_buf_td(b, sl_ui_get(r, cols[c].key, "-"));
		sl_buf_puts(b, "</tr>\n");
	}
	sl_page_table_end(pg, shown, n_cols, empty);
}

void sl_page_csrf(const struct sl_ui *ui, struct sl_page *pg)
{
	sl_buf_printf(&pg->body,
		      "<input type=\"hidden\" name=\"csrf\" value=\"%s\">\n",
		      ui->csrf);
}

bool sl_ui_envelope_id(const char *s)
{
	return s && strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

/* ---- The frame --------------------------------------------------------- */

static const struct {
	const char *key, *href, *label;
} menu[] = {
	{ "envelope", "/", "Envelope" },
	{ "outbox", "/outbox", "Outbox" },
	{ "inbox", "/inbox", "Inbox" },
	{ "sent", "/log/sent", "Send log" },
	{ "received", "/log/received", "Receive log" },
	{ "lines", "/lines", "Lines" },
	{ "pair", "/pair", "Pairing" },
};

static const struct {
	const char *key, *href, *label;
	bool socket;		/* needs --tsp-socket, else --tsp-store */
} tsp_menu[] = {
	{ "tsp-accounts", "/tsp/accounts", "TSP accounts", false },
	{ "tsp-calls", "/tsp/calls", "TSP calls", true },
	{ "tsp-records", "/tsp/records", "Call records", false },
	{ "tsp-spool", "/tsp/spool", "Spool", false },
};

static void frame(const struct sl_ui *ui, struct sl_buf *out,
		  const struct sl_page *pg, bool menu_on)
{
	sl_buf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
		    "<meta charset=\"utf-8\">\n"
		    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
	if (pg->refresh)
		sl_buf_printf(out, "<meta http-equiv=\"refresh\" content=\"%u\">\n",
			      pg->refresh);
	sl_buf_puts(out, "<title>");
	sl_buf_html(out, pg->title ? pg->title : "sealine");
	sl_buf_puts(out, " - sealine</title>\n"
		    "<link rel=\"stylesheet\" href=\"/style.css\">\n</head>\n<body>\n"
		    "<a class=\"skip\" href=\"#main\">Skip to the content</a>\n"
		    "<header><span class=\"brand\">sealine</span>\n");
	if (menu_on) {
		sl_buf_puts(out, "<nav aria-label=\"Screens\"><ul>\n");
		for (size_t i = 0; i < sizeof(menu) / sizeof(menu[0]); i++)
			sl_buf_printf(out, "<li><a href=\"%s\"%s>%s</a></li>\n",
				      menu[i].href, pg->nav &&
				      !strcmp(pg->nav, menu[i].key) ?
				      " aria-current=\"page\"" : "",
				      menu[i].label);
		for (size_t i = 0; i < sizeof(tsp_menu) / sizeof(tsp_menu[0]); i++) {
			if (!(tsp_menu[i].socket ? ui->conf.tsp_socket :
			      ui->conf.tsp_store))
				continue;
			sl_buf_printf(out, "<li><a href=\"%s\"%s>%s</a></li>\n",
				      tsp_menu[i].href, pg->nav &&
				      !strcmp(pg->nav, tsp_menu[i].key) ?
				      " aria-current=\"page\"" : "",
				      tsp_menu[i].label);
		}
		sl_buf_puts(out, "</ul></nav>\n");
	}
	sl_buf_puts(out, "</header>\n<main id=\"main\">\n");
	sl_buf_add(out, pg->body.p ? pg->body.p : "", pg->body.len);
	sl_buf_puts(out, "</main>\n</body>\n</html>\n");
}

static void security_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'none'; style-src 'self'; img-src 'self'; "
				"form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "same-origin");
	MHD_add_response_header(r, "Cache-Control", "no-store");
}

static enum MHD_Result respond(const struct sl_ui *ui,
			       struct MHD_Connection *c, struct sl_page *pg,
			       bool menu_on, const char *cookie)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	struct sl_buf out = { 0 };

	if (pg->fd >= 0) {
		r = MHD_create_response_from_fd(pg->fd_size, pg->fd);
		pg->fd = -1;	/* MHD closes it */
	} else if (pg->location) {
		r = MHD_create_response_from_buffer(0, (void *)"",
						    MHD_RESPMEM_PERSISTENT);
	} else if (pg->content_type) {
		r = MHD_create_response_from_buffer(pg->body.len,
						    pg->body.p ? pg->body.p : (char *)"",
						    MHD_RESPMEM_MUST_COPY);
	} else {
		if (pg->body.failed)
			return MHD_NO;
		frame(ui, &out, pg, menu_on);
		if (out.failed) {
			sl_buf_free(&out);
			return MHD_NO;
		}
		r = MHD_create_response_from_buffer(out.len, out.p,
						    MHD_RESPMEM_MUST_COPY);
		sl_buf_free(&out);
	}
	if (!r)
		return MHD_NO;
	security_headers(r);
	if (pg->location)
		MHD_add_response_header(r, "Location", pg->location);
	if (pg->content_type || pg->fd_size || pg->filename)
		MHD_add_response_header(r, "Content-Type", pg->content_type ?
					pg->content_type :
					"application/octet-stream");
	else if (!pg->location)
		MHD_add_response_header(r, "Content-Type",
					"text/html; charset=utf-8");
	if (pg->filename) {
		struct sl_buf d = { 0 };

		sl_buf_puts(&d, "attachment; filename*=UTF-8''");
		sl_buf_url(&d, pg->filename);
		if (!d.failed)
			MHD_add_response_header(r, "Content-Disposition", d.p);
		sl_buf_free(&d);
	}
	if (cookie)
		MHD_add_response_header(r, "Set-Cookie", cookie);
	ret = MHD_queue_response(c, pg->location ? MHD_HTTP_SEE_OTHER :
				 pg->status ? pg->status : MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- Who may ask --------------------------------------------------------- */

/* The Host header names this server (not needed on a unix socket: the
 * proxy in front of it decides). */
static bool host_ok(const struct sl_ui *ui, struct MHD_Connection *c)
{
	const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						       "Host");
	char want[300];
	const char *names[] = { "127.0.0.1", "localhost", "[::1]",
				ui->conf.address };

	if (ui->conf.unix_path)
		return true;
	if (!host)
		return false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *n = names[i];

		if (!n)
			continue;
		snprintf(want, sizeof(want), strchr(n, ':') && n[0] != '[' ?
			 "[%s]:%u" : "%s:%u", n, ui->bound_port);
		if (!strcmp(host, want))
			return true;
	}
	return false;
}

/* A browser's Origin, when it sends one, must be this server. */
static bool origin_ok(struct MHD_Connection *c)
{
	const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							 "Origin");
	const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						       "Host");

	if (!origin)
		return true;
	return host && !strncmp(origin, "http://", 7) && !strcmp(origin + 7, host);
}

static bool session_ok(const struct sl_ui *ui, struct MHD_Connection *c)
{
	return sl_ui_token_equal(MHD_lookup_connection_value(c, MHD_COOKIE_KIND,
							     COOKIE_NAME),
				 ui->session);
}

static void no_access(struct sl_page *pg)
{
	sl_page_message(pg, MHD_HTTP_FORBIDDEN, "No access",
			"This page needs the access token: open the URL that sealine-ui printed when it started (http://.../login?token=...). Restarting sealine-ui makes a new one.");
}

/* ---- Small forms (retry, cancel) --------------------------------------- */

const char *sl_form_get(const struct sl_form *form, const char *key)
{
	for (unsigned int i = 0; i < form->n; i++)
		if (!strcmp(form->f[i].key, key))
			return form->f[i].val;
	return "";
}

static enum MHD_Result form_field(void *cls, enum MHD_ValueKind kind,
				  const char *key, const char *filename,
				  const char *content_type,
				  const char *transfer_encoding,
				  const char *data, uint64_t off, size_t size)
{
	struct sl_form *form = cls;
	unsigned int i;

	(void)kind; (void)content_type; (void)transfer_encoding;
	if (filename) {
		form->too_long = true;	/* no file belongs in these forms */
		return MHD_YES;
	}
	for (i = 0; i < form->n; i++)
		if (!strcmp(form->f[i].key, key))
			break;
	if (i == form->n) {
		if (form->n == SL_UI_FORM_FIELDS ||
		    strlen(key) >= sizeof(form->f[0].key)) {
			form->too_long = true;
			return MHD_YES;
		}
		snprintf(form->f[i].key, sizeof(form->f[i].key), "%s", key);
		form->f[i].val[0] = 0;
		form->n++;
	}
	if (off + size >= sizeof(form->f[i].val)) {
		form->too_long = true;
		return MHD_YES;
	}
	memcpy(form->f[i].val + off, data, size);
	form->f[i].val[off + size] = 0;
	return MHD_YES;
}

/* ---- Routing ------------------------------------------------------------ */

/* /outbox/ID/ACTION and the like: the part after prefix up to the next
 * '/', into out; where the rest starts (or NULL if too long). */
static const char *segment(const char *url, char *out, size_t size)
{
	size_t n = 0;

	/* a loop, not strcspn: GCC's ASan build misreads url + 8 */
	while (url[n] && url[n] != '/')
		n++;

	if (n >= size)
		return NULL;
	memcpy(out, url, n);
	out[n] = 0;
	return url + n;
}

static void route_get(const struct sl_ui *ui, struct MHD_Connection *c,
		      const char *url, struct sl_page *pg)
{
	char id[40];
	const char *rest;

	if (!strcmp(url, "/")) {
		sl_page_envelope(ui, pg, NULL, sl_ui_arg(c, "to"),
				 sl_ui_arg(c, "folder"), sl_ui_arg(c, "path"));
	} else if (!strcmp(url, "/outbox")) {
		sl_page_outbox(ui, pg);
	} else if (!strncmp(url, "/outbox/", 8) &&
		   (rest = segment(url + 8, id, sizeof(id))) && !*rest) {
		sl_page_outbox_item(ui, pg, id);
	} else if (!strcmp(url, "/inbox")) {
		sl_page_inbox(ui, pg);
	} else if (!strncmp(url, "/inbox/", 7) &&
		   (rest = segment(url + 7, id, sizeof(id)))) {
		if (!*rest)
			sl_page_inbox_item(ui, pg, id);
		else if (!strcmp(rest, "/file"))
			sl_page_inbox_file(ui, pg, id, sl_ui_arg(c, "name"));
		else
			sl_page_message(pg, MHD_HTTP_NOT_FOUND, "Not found",
					"There is no such page.");
	} else if (!strcmp(url, "/log/sent") || !strcmp(url, "/log/sent.csv")) {
		sl_page_log(ui, pg, c, true, strchr(url + 5, '.') != NULL);
	} else if (!strcmp(url, "/log/received") ||
		   !strcmp(url, "/log/received.csv")) {
		sl_page_log(ui, pg, c, false, strchr(url + 5, '.') != NULL);
	} else if (!strcmp(url, "/lines")) {
		sl_page_lines(ui, pg);
	} else if (!strcmp(url, "/pair")) {
		sl_page_pair(ui, pg, NULL);
	} else if (!strncmp(url, "/pair/", 6) &&
		   (rest = segment(url + 6, id, sizeof(id))) && !*rest) {
		sl_page_pair_item(ui, pg, id);
	} else if (!strcmp(url, "/tsp/accounts") && ui->conf.tsp_store) {
		sl_page_tsp_accounts(ui, pg, NULL);
	} else if (!strcmp(url, "/tsp/calls") && ui->conf.tsp_socket) {
		sl_page_tsp_calls(ui, pg);
	} else if (!strcmp(url, "/tsp/records") && ui->conf.tsp_store) {
		sl_page_tsp_records(ui, pg, c, 0);
	} else if (!strcmp(url, "/tsp/records.csv") && ui->conf.tsp_store) {
		sl_page_tsp_records(ui, pg, c, 1);
	} else if (!strcmp(url, "/tsp/billing.csv") && ui->conf.tsp_store) {
		sl_page_tsp_records(ui, pg, c, 2);
	} else if (!strcmp(url, "/tsp/spool") && ui->conf.tsp_store) {
		sl_page_tsp_spool(ui, pg, c);
	} else {
		sl_page_message(pg, MHD_HTTP_NOT_FOUND, "Not found",
				"There is no such page.");
	}
}

static bool csrf_ok(const struct sl_ui *ui, struct request *rq,
		    struct sl_page *pg)
{
	if (!rq->form.too_long &&
	    sl_ui_token_equal(sl_form_get(&rq->form, "csrf"), ui->csrf))
		return true;
	sl_page_message(pg, MHD_HTTP_FORBIDDEN, "Refused",
			"The form's CSRF token is missing or wrong: reload the page and try again (a page from before sealine-ui was restarted holds an old one).");
	return false;
}

static void route_post(const struct sl_ui *ui, struct request *rq,
		       const char *url, struct sl_page *pg)
{
	char id[40], action[16];
	const char *rest;

	if (!strncmp(url, "/outbox/", 8) &&
	    (rest = segment(url + 8, id, sizeof(id))) && *rest == '/' &&
	    segment(rest + 1, action, sizeof(action)) &&
	    !strchr(rest + 1, '/') &&
	    (!strcmp(action, "retry") || !strcmp(action, "cancel"))) {
		if (csrf_ok(ui, rq, pg))
			sl_page_outbox_action(ui, pg, id, action);
		return;
	}
	if (!strcmp(url, "/pair/start")) {
		if (csrf_ok(ui, rq, pg))
			sl_page_pair_start(ui, pg, &rq->form);
		return;
	}
	if (!strncmp(url, "/pair/", 6) &&
	    (rest = segment(url + 6, id, sizeof(id))) && *rest == '/' &&
	    (!strcmp(rest + 1, "confirm") || !strcmp(rest + 1, "sas"))) {
		if (csrf_ok(ui, rq, pg))
			sl_page_pair_answer(ui, pg, id, rest + 1, &rq->form);
		return;
	}
	if (!strncmp(url, "/tsp/accounts/", 14) && ui->conf.tsp_store) {
		if (csrf_ok(ui, rq, pg))
			sl_page_tsp_post(ui, pg, url + 14, &rq->form);
		return;
	}
	sl_page_message(pg, MHD_HTTP_NOT_FOUND, "Not found",
			"There is no such form.");
}

/* ---- The handler ---------------------------------------------------------- */

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *upload_data,
			       size_t *upload_data_size, void **con_cls)
{
	const struct sl_ui *ui = cls;
	struct request *rq = *con_cls;
	struct sl_page pg = { .fd = -1 };
	enum MHD_Result ret;

	(void)version;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		rq->post = !strcmp(method, MHD_HTTP_METHOD_POST);
		if (!rq->post && strcmp(method, MHD_HTTP_METHOD_GET) &&
		    strcmp(method, MHD_HTTP_METHOD_HEAD)) {
			sl_page_message(&pg, MHD_HTTP_METHOD_NOT_ALLOWED,
					"Not allowed", "Only GET and POST are served.");
			goto answer;
		}
		if (!host_ok(ui, c)) {
			sl_page_message(&pg, MHD_HTTP_MISDIRECTED_REQUEST,
					"Wrong address",
					"This server answers only to its own address (127.0.0.1 with its port, or the address it was given): the Host header names another.");
			goto answer;
		}
		if (!rq->post && !strcmp(url, "/style.css")) {
			sl_buf_puts(&pg.body, sl_ui_css);
			pg.content_type = "text/css; charset=utf-8";
			goto answer;
		}
		if (!rq->post && !strcmp(url, "/login")) {
			char cookie[160];

			if (!sl_ui_token_equal(sl_ui_arg(c, "token"), ui->token)) {
				sl_page_message(&pg, MHD_HTTP_FORBIDDEN, "No access",
						"This link's access token is wrong or old: use the URL sealine-ui printed when it last started.");
				goto answer;
			}
			snprintf(cookie, sizeof(cookie),
				 COOKIE_NAME "=%s; Path=/; HttpOnly; SameSite=Strict",
				 ui->session);
			pg.location = "/";
			ret = respond(ui, c, &pg, false, cookie);
			sl_buf_free(&pg.body);
			return ret;
		}
		if (!session_ok(ui, c)) {
			no_access(&pg);
			goto answer;
		}
		if (rq->post && !origin_ok(c)) {
			sl_page_message(&pg, MHD_HTTP_FORBIDDEN, "Refused",
					"This form was sent from another site's page (its Origin is not this server).");
			goto answer;
		}
		if (rq->post && !strcmp(url, "/send")) {
			const char *len = MHD_lookup_connection_value(c,
				MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

			/* refused before a byte of it is read */
			if (len && strtoull(len, NULL, 10) >
			    ui->conf.max_upload + SL_UI_POST_BUFFER) {
				pg.status = MHD_HTTP_CONTENT_TOO_LARGE;
				sl_upload_too_big(ui, &pg);
				goto answer;
			}
			rq->upload = sl_upload_start(ui, c);
			if (!rq->upload)
				return MHD_NO;
		} else if (rq->post) {
			rq->pp = MHD_create_post_processor(c, SL_UI_POST_BUFFER,
							   form_field, &rq->form);
			if (!rq->pp) {
				sl_page_message(&pg, MHD_HTTP_BAD_REQUEST,
						"Bad form", "This form's encoding is not one a browser sends (url-encoded or multipart).");
				goto answer;
			}
		}
		return MHD_YES;
	}
	if (rq->post && *upload_data_size) {
		if (rq->upload)
			sl_upload_data(rq->upload, upload_data, *upload_data_size);
		else if (rq->pp)
			MHD_post_process(rq->pp, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (rq->upload)
		sl_upload_finish(rq->upload, &pg);
	else if (rq->post)
		route_post(ui, rq, url, &pg);
	else
		route_get(ui, c, url, &pg);
answer:
	ret = respond(ui, c, &pg, pg.status != MHD_HTTP_FORBIDDEN ||
		      session_ok(ui, c), NULL);
	if (pg.fd >= 0)
		close(pg.fd);
	sl_buf_free(&pg.body);
	return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;

	(void)cls; (void)c; (void)toe;
	if (!rq)
		return;
	if (rq->upload)
		sl_upload_free(rq->upload);
	if (rq->pp)
		MHD_destroy_post_processor(rq->pp);
	free(rq);
	*con_cls = NULL;
}

MHD_AccessHandlerCallback sl_ui_handler = handler;
MHD_RequestCompletedCallback sl_ui_completed = completed;
