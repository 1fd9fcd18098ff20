// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Pairing from the browser: what "sealctl pair LINE" does, held across
 * pages. POST /pair/start opens the operator's conversation with
 * sealined ("pair LINE [replace]", ipc.h) on a connection of its own,
 * which a thread reads for as long as the pairing lasts; the pairing's
 * page (/pair/ID, ID random) shows what sealined last said: waiting, the
 * code to read to the other operator with the buttons "the codes match"
 * and "they do not", or a field for the code the other operator reads;
 * and the end, paired with an account or why not. The answers go back
 * as "confirm yes|no" and "sas CODE" on the same connection.
 *
 * At most SL_UI_MAX_PAIRINGS at once; a finished one's slot is reused.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "hex.h"
#include "ui.h"

#define PAIR_ID_BYTES	16
#define PAIR_TEXT_MAX	256
#define PAIR_CODE_MAX	16	/* what an operator may type as the code */

struct pairing {
	bool used, done, ok;
	char id[2 * PAIR_ID_BYTES + 1];
	char line[SL_UI_FIELD_MAX];
	int fd;
	struct sl_ipc_reader r;
	/* what sealined said last */
	char kind[16];			/* waiting, sas, ask-sas, matched, ... */
	char code[16], peer[16], fingerprint[48], seconds[16], attempts[8];
	char text[PAIR_TEXT_MAX];	/* info, invalid, err: for people */
	bool retyping;			/* an ask-sas after a wrong code */
};

static struct pairing pairings[SL_UI_MAX_PAIRINGS];
static pthread_mutex_t pair_lock = PTHREAD_MUTEX_INITIALIZER;

static void copy(char *out, size_t size, const struct sl_ipc_record *r,
		 const char *key)
{
	snprintf(out, size, "%s", sl_ui_get(r, key, ""));
}

static void *reader(void *arg)
{
	struct pairing *p = arg;

	for (;;) {
		struct sl_ipc_record rec;
		char *line;
		int ret = sl_ipc_read_line(&p->r, &line, -1);

		pthread_mutex_lock(&pair_lock);
		if (ret || sl_ipc_parse_record(line, &rec)) {
			snprintf(p->kind, sizeof(p->kind), "err");
			snprintf(p->text, sizeof(p->text), "%s",
				 ret == -EPIPE ? "sealined closed the connection" :
				 "malformed answer from sealined");
			p->done = true;
		} else if (!strcmp(rec.type, "ok") || !strcmp(rec.type, "err")) {
			snprintf(p->kind, sizeof(p->kind), "%s", rec.type);
			p->ok = rec.type[0] == 'o';
			if (p->ok)
				copy(p->peer, sizeof(p->peer), &rec, "peer");
			else
				snprintf(p->text, sizeof(p->text), "%s",
					 rec.text ? rec.text : "refused");
			p->done = true;
		} else if (!strcmp(rec.type, "info") ||
			   !strcmp(rec.type, "invalid")) {
			copy(p->text, sizeof(p->text), &rec, "text");
		} else if (!strcmp(rec.type, "accepted")) {
			p->text[0] = 0;
		} else {
			/* waiting, sas, ask-sas, matched */
			/* ipc.h: below 3 tries left, the last was wrong */
			p->retyping = !strcmp(rec.type, "ask-sas") &&
				      atoi(sl_ui_get(&rec, "attempts", "3")) < 3;
			snprintf(p->kind, sizeof(p->kind), "%s", rec.type);
			copy(p->code, sizeof(p->code), &rec, "code");
			if (sl_ipc_get(&rec, "peer"))
				copy(p->peer, sizeof(p->peer), &rec, "peer");
			if (sl_ipc_get(&rec, "fingerprint"))
				copy(p->fingerprint, sizeof(p->fingerprint), &rec,
				     "fingerprint");
			copy(p->seconds, sizeof(p->seconds), &rec, "seconds");
			copy(p->attempts, sizeof(p->attempts), &rec, "attempts");
			if (!strcmp(rec.type, "waiting"))
				snprintf(p->text, sizeof(p->text), "%s",
					 sl_ui_get(&rec, "reason", ""));
		}
		if (p->done) {
			close(p->fd);
			p->fd = -1;
			pthread_mutex_unlock(&pair_lock);
			return NULL;
		}
		pthread_mutex_unlock(&pair_lock);
	}
}

/* A tty name as a line is named: letters, digits, '.', '_', '-'. */
static bool line_name(const char *s)
{
	size_t n = strlen(s);

	return n && n < 32 && strspn(s, "abcdefghijklmnopqrstuvwxyz"
				     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static struct pairing *find(const char *id)
{
	for (size_t i = 0; i < SL_UI_MAX_PAIRINGS; i++)
		if (pairings[i].used && id &&
		    sl_ui_token_equal(id, pairings[i].id))
			return &pairings[i];
	return NULL;
}

void sl_page_pair(const struct sl_ui *ui, struct sl_page *pg, const char *error)
{
	struct sl_buf *b = &pg->body;
	struct sl_ui_reply st;

	pg->title = "Pairing";
	pg->nav = "pair";
	sl_buf_puts(b, "<h1>Pair with a new peer</h1>\n<p>Both operators start a pairing on the line between them while they talk on the phone; one reads a code, the other types it. Only when the codes match is the peer's key stored.</p>\n");
	if (error)
		sl_page_alert(pg, error);
	if (sl_ui_call(ui, "status", &st)) {
		pg->status = MHD_HTTP_BAD_GATEWAY;
		sl_page_alert(pg, st.err);
		return;
	}
	sl_buf_puts(b, "<form method=\"post\" action=\"/pair/start\" class=\"stack\">\n");
	sl_page_csrf(ui, pg);
	sl_buf_puts(b, "<label for=\"pair-line\">Line</label><select id=\"pair-line\" name=\"line\" required>\n");
	for (size_t i = 0; i < st.n; i++) {
		const char *tty = sl_ui_get(&st.recs[i].r, "tty", "");

		if (strcmp(st.recs[i].r.type, "line") || !line_name(tty))
			continue;
		sl_buf_printf(b, "<option value=\"%s\">%s</option>\n", tty, tty);
	}
	sl_buf_puts(b, "</select>\n<label><input type=\"checkbox\" name=\"replace\" value=\"yes\"> Replace a stored or revoked key of the same account</label>\n"
		    "<button type=\"submit\" id=\"pair-start\">Start pairing</button>\n</form>\n");
	sl_ui_reply_free(&st);
}

void sl_page_pair_start(const struct sl_ui *ui, struct sl_page *pg,
			const struct sl_form *form)
{
	const char *line = sl_form_get(form, "line");
	bool replace = !strcmp(sl_form_get(form, "replace"), "yes");
	static __thread char location[64];
	char request[96], err[256];
	struct pairing *p = NULL;
	uint8_t id[PAIR_ID_BYTES];
	pthread_t t;
	int fd;

	if (!line_name(line)) {
		sl_page_pair(ui, pg, "Choose the line to pair on.");
		pg->status = MHD_HTTP_BAD_REQUEST;
		return;
	}
	if (getrandom(id, sizeof(id), 0) != sizeof(id)) {
		sl_page_message(pg, MHD_HTTP_INTERNAL_SERVER_ERROR, "Pairing",
				"no random bytes");
		return;
	}
	fd = sl_ipc_connect(ui->conf.socket, err, sizeof(err));
	if (fd < 0) {
		sl_page_pair(ui, pg, err);
		pg->status = MHD_HTTP_BAD_GATEWAY;
		return;
	}
	snprintf(request, sizeof(request), "pair %s%s", line,
		 replace ? " replace" : "");
	pthread_mutex_lock(&pair_lock);
	for (size_t i = 0; i < SL_UI_MAX_PAIRINGS && !p; i++)
		if (!pairings[i].used || pairings[i].done)
			p = &pairings[i];
	if (p) {
		memset(p, 0, sizeof(*p));
		p->used = true;
		p->fd = fd;
		p->r.fd = fd;
		sl_hex_encode(p->id, id, sizeof(id));
		snprintf(p->line, sizeof(p->line), "%s", line);
		snprintf(p->kind, sizeof(p->kind), "starting");
		if (sl_ipc_write_request(fd, request) ||
		    pthread_create(&t, NULL, reader, p)) {
			p->used = false;
			p = NULL;
		} else {
			pthread_detach(t);
		}
	}
	pthread_mutex_unlock(&pair_lock);
	if (!p) {
		close(fd);
		sl_page_pair(ui, pg, "Too many pairings at once, or sealined did not take the request: finish one and try again.");
		pg->status = MHD_HTTP_SERVICE_UNAVAILABLE;
		return;
	}
	snprintf(location, sizeof(location), "/pair/%s", p->id);
	pg->location = location;
}

static void answer_form(const struct sl_ui *ui, struct sl_page *pg,
			const struct pairing *p, const char *action,
			const char *name, const char *value, const char *id,
			const char *label)
{
	sl_buf_printf(&pg->body, "<form method=\"post\" action=\"/pair/%s/%s\" class=\"inline\">\n",
		      p->id, action);
	sl_page_csrf(ui, pg);
	sl_buf_printf(&pg->body, "<input type=\"hidden\" name=\"%s\" value=\"%s\">"
		      "<button type=\"submit\" id=\"%s\">%s</button>\n</form>\n",
		      name, value, id, label);
}

void sl_page_pair_item(const struct sl_ui *ui, struct sl_page *pg,
		       const char *id)
{
	struct sl_buf *b = &pg->body;
	struct pairing *p, s;

	pg->title = "Pairing";
	pg->nav = "pair";
	pthread_mutex_lock(&pair_lock);
	p = find(id);
	if (p)
		s = *p;
	pthread_mutex_unlock(&pair_lock);
	if (!p) {
		sl_page_message(pg, MHD_HTTP_NOT_FOUND, "Pairing",
				"There is no such pairing (sealine-ui keeps them only while it runs).");
		return;
	}
	sl_buf_puts(b, "<h1>Pairing on ");
	sl_buf_html(b, s.line);
	sl_buf_puts(b, "</h1>\n");
	if (s.peer[0]) {
		sl_buf_puts(b, "<dl class=\"facts\"><dt>Peer</dt><dd id=\"pair-peer\">");
		sl_buf_html(b, s.peer);
		sl_buf_puts(b, "</dd><dt>Its key</dt><dd class=\"mono\">");
		sl_buf_html(b, s.fingerprint[0] ? s.fingerprint : "-");
		sl_buf_puts(b, "</dd></dl>\n");
	}
	if (s.done) {
		sl_buf_printf(b, "<p class=\"%s\" role=\"status\" id=\"pair-result\">",
			      s.ok ? "status state-delivered" : "error");
		if (s.ok) {
			sl_buf_puts(b, "Paired with ");
			sl_buf_html(b, s.peer);
			sl_buf_puts(b, ". The long-term key is stored on both sides.");
		} else {
			sl_buf_puts(b, "Not paired: ");
			sl_buf_html(b, s.text);
		}
		sl_buf_puts(b, "</p>\n<p><a href=\"/\">To the envelope</a></p>\n");
		return;
	}
	if (!strcmp(s.kind, "sas")) {
		sl_buf_puts(b, "<p>Read this code to the other operator:</p>\n<p class=\"sas\" id=\"sas-code\">");
		sl_buf_html(b, s.code);
		sl_buf_puts(b, "</p>\n<p>Do they say it is correct? (");
		sl_buf_html(b, s.seconds);
		sl_buf_puts(b, " s to decide)</p>\n");
		answer_form(ui, pg, &s, "confirm", "answer", "yes", "confirm-yes",
			    "Yes, the codes match");
		answer_form(ui, pg, &s, "confirm", "answer", "no", "confirm-no",
			    "No, they differ");
		return;
	}
	if (!strcmp(s.kind, "ask-sas")) {
		if (s.retyping || s.text[0]) {
			sl_buf_puts(b, "<p class=\"error\" role=\"alert\">That is not the code this side computed");
			if (s.text[0]) {
				sl_buf_puts(b, " (");
				sl_buf_html(b, s.text);
				sl_buf_puts(b, ")");
			}
			sl_buf_puts(b, ". Ask the other operator to read it again.</p>\n");
		}
		sl_buf_printf(b, "<form method=\"post\" action=\"/pair/%s/sas\" class=\"stack\">\n", s.id);
		sl_page_csrf(ui, pg);
		sl_buf_puts(b, "<label for=\"sas\">The code the other operator reads (");
		sl_buf_html(b, s.attempts);
		sl_buf_puts(b, " tries left)</label><input id=\"sas\" name=\"code\" required autocomplete=\"off\" maxlength=\"16\" class=\"mono\">\n"
			    "<button type=\"submit\" id=\"sas-send\">Check the code</button>\n</form>\n");
		return;
	}
	pg->refresh = SL_UI_REFRESH_S;
	sl_buf_puts(b, "<p role=\"status\" id=\"pair-state\">");
	if (!strcmp(s.kind, "matched"))
		sl_buf_puts(b, "The code matches. Tell the other operator it is correct; waiting for them to confirm.");
	else if (!strcmp(s.kind, "waiting") && !strcmp(s.text, "not-armed"))
		sl_buf_puts(b, "Waiting for the other operator to start pairing on their side.");
	else if (!strcmp(s.kind, "waiting") && !strcmp(s.text, "no-answer"))
		sl_buf_puts(b, "Nothing answers on the line yet.");
	else if (!strcmp(s.kind, "waiting"))
		sl_buf_puts(b, "Waiting for the other side.");
	else if (s.text[0])
		sl_buf_html(b, s.text);
	else if (!strcmp(s.kind, "answered"))
		sl_buf_puts(b, "Answer sent; waiting for sealined.");
	else
		sl_buf_puts(b, "Starting.");
	sl_buf_puts(b, "</p>\n");
}

void sl_page_pair_answer(const struct sl_ui *ui, struct sl_page *pg,
			 const char *id, const char *action,
			 const struct sl_form *form)
{
	static __thread char location[64];
	char request[64];
	struct pairing *p;
	int ret = -EINVAL;

	(void)ui;
	if (!strcmp(action, "confirm")) {
		const char *a = sl_form_get(form, "answer");

		if (strcmp(a, "yes") && strcmp(a, "no")) {
			sl_page_message(pg, MHD_HTTP_BAD_REQUEST, "Pairing",
					"The answer is yes or no.");
			return;
		}
		snprintf(request, sizeof(request), "confirm %s", a);
	} else {
		const char *code = sl_form_get(form, "code");
		size_t n = strlen(code);

		if (!n || n > PAIR_CODE_MAX ||
		    strspn(code, "abcdefghijklmnopqrstuvwxyz"
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != n) {
			sl_page_message(pg, MHD_HTTP_BAD_REQUEST, "Pairing",
					"Type the code as the other operator reads it: letters and digits, no spaces.");
			return;
		}
		snprintf(request, sizeof(request), "sas %s", code);
	}
	pthread_mutex_lock(&pair_lock);
	p = find(id);
	if (p && !p->done && p->fd >= 0 &&
	    !strcmp(p->kind, action[0] == 'c' ? "sas" : "ask-sas")) {
		ret = sl_ipc_write_request(p->fd, request);
		/* until sealined answers, the page shows no stale question */
		if (!ret)
			snprintf(p->kind, sizeof(p->kind), "answered");
		p->text[0] = 0;
	}
	pthread_mutex_unlock(&pair_lock);
	if (ret) {
		sl_page_message(pg, MHD_HTTP_CONFLICT, "Pairing",
				"This pairing is not waiting for that answer (it ended, or it moved on).");
		return;
	}
	snprintf(location, sizeof(location), "/pair/%s", id);
	pg->location = location;
}
