// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The envelope (the send form), the outbox, one envelope's progress up
 * to its receipt, and the lines. Every value from sealined is escaped
 * (buf.c) before it reaches the page.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "envelope.h"
#include "ui.h"

#define RATE_SLOTS	16	/* envelopes whose rate is followed */

/* A peer's standing, as the address book shows it. */
static const char *peer_status(const struct sl_ipc_record *r, bool *can_send)
{
	bool ltk = !strcmp(sl_ui_get(r, "ltk", "no"), "yes");
	bool auth = !strcmp(sl_ui_get(r, "authorised", "no"), "yes");
	bool revoked = !strcmp(sl_ui_get(r, "revoked", "no"), "yes");

	*can_send = ltk && auth && !revoked;
	if (revoked)
		return "revoked";
	if (!ltk)
		return "not paired";
	if (!auth)
		return "paired, not authorised";
	return "paired, authorised";
}

/* A state as a class name: a lower-case word, or "other". */
static const char *word(const char *s)
{
	return *s && strspn(s, "abcdefghijklmnopqrstuvwxyz") == strlen(s) ?
	       s : "other";
}

void sl_page_envelope(const struct sl_ui *ui, struct sl_page *pg,
		      const char *error, const char *to, const char *folder,
		      const char *path)
{
	struct sl_ui_reply st, peers;
	struct sl_buf *b = &pg->body;
	const struct sl_ipc_record *d = NULL;
	size_t sendable = 0;

	pg->title = "Envelope";
	pg->nav = "envelope";
	sl_buf_puts(b, "<h1>Envelope</h1>\n");
	if (error)
		sl_page_alert(pg, error);
	if (sl_ui_call(ui, "status", &st)) {
		pg->status = MHD_HTTP_BAD_GATEWAY;
		sl_page_alert(pg, st.err);
		return;
	}
	if (sl_ui_call(ui, "peers", &peers)) {
		pg->status = MHD_HTTP_BAD_GATEWAY;
		sl_page_alert(pg, peers.err);
		sl_ui_reply_free(&st);
		return;
	}
	for (size_t i = 0; i < st.n; i++)
		if (!strcmp(st.recs[i].r.type, "daemon"))
			d = &st.recs[i].r;
	sl_buf_puts(b, "<form method=\"post\" action=\"/send\" enctype=\"multipart/form-data\">\n");
	sl_page_csrf(ui, pg);	/* first: the server checks it before files */
	sl_buf_puts(b, "<div class=\"envelope\">\n<fieldset class=\"from\"><legend>From</legend>\n<dl>");
	sl_buf_puts(b, "<dt>Account</dt><dd id=\"from-account\">");
	sl_buf_html(b, d ? sl_ui_get(d, "account", "?") : "?");
	sl_buf_puts(b, "</dd><dt>Name</dt><dd>");
	sl_buf_html(b, d ? sl_ui_get(d, "name", "(no name configured)") : "?");
	sl_buf_puts(b, "</dd><dt>Key</dt><dd class=\"mono\">");
	sl_buf_html(b, d ? sl_ui_get(d, "fingerprint", "?") : "?");
	sl_buf_puts(b, "</dd></dl>\n</fieldset>\n");
	sl_buf_puts(b, "<fieldset class=\"to\"><legend>To</legend>\n"
		    "<label for=\"to\">Recipient (from the address book)</label>\n"
		    "<select id=\"to\" name=\"to\" required>\n"
		    "<option value=\"\">Choose a recipient</option>\n");
	for (size_t i = 0; i < peers.n; i++) {
		const struct sl_ipc_record *p = &peers.recs[i].r;
		const char *acct = sl_ui_get(p, "account", "");
		bool ok;
		const char *status = peer_status(p, &ok);

		if (strcmp(p->type, "peer"))
			continue;
		sendable += ok;
		sl_buf_puts(b, "<option value=\"");
		sl_buf_html(b, acct);
		sl_buf_printf(b, "\"%s%s>", ok ? "" : " disabled",
			      ok && to && !strcmp(to, acct) ? " selected" : "");
		sl_buf_html(b, acct);
		sl_buf_puts(b, " - ");
		sl_buf_html(b, sl_ui_get(p, "name", "(no name)"));
		if (*sl_ui_get(p, "company", "")) {
			sl_buf_puts(b, ", ");
			sl_buf_html(b, sl_ui_get(p, "company", ""));
		}
		sl_buf_puts(b, " (");
		sl_buf_html(b, status);
		sl_buf_puts(b, ")</option>\n");
	}
	sl_buf_puts(b, "</select>\n");
	if (!sendable)
		sl_buf_puts(b, "<p class=\"note\">No peer can receive yet: pair with one first (Pairing, or sealctl pair), and authorise it (sealctl peers authorise).</p>\n");
	sl_buf_puts(b, "</fieldset>\n");
	/* With local folders, ticked entries may stand in for uploads:
	 * the server checks that there is at least one of either. */
	sl_buf_printf(b, "<fieldset class=\"files\"><legend>Files</legend>\n"
		      "<label for=\"files\">Files to send</label>\n"
		      "<input id=\"files\" name=\"files\" type=\"file\" multiple%s>\n"
		      "<p class=\"hint\">At most ",
		      ui->conf.n_folders ? "" : " required");
	sl_buf_bytes(b, ui->conf.max_upload);
	sl_buf_printf(b, " uploaded and %d files in one envelope; the recipient may allow less.</p>\n",
		      SL_UI_MAX_FILES);
	if (ui->conf.n_folders)
		sl_page_folder_picker(ui, pg, folder, path, to);
	sl_buf_puts(b, "</fieldset>\n<div class=\"send\"><button type=\"submit\">Send</button></div>\n</div>\n</form>\n");

	sl_buf_puts(b, "<h2>Address book</h2>\n");
	sl_page_table(pg, "peers", (const char *const[]){
		"Account", "Name", "Company", "Status", "Paired", "Key", NULL });
	for (size_t i = 0; i < peers.n; i++) {
		const struct sl_ipc_record *p = &peers.recs[i].r;
		bool ok;

		if (strcmp(p->type, "peer"))
			continue;
		sl_buf_puts(b, "<tr>");
		sl_buf_td(b, sl_ui_get(p, "account", "?"));
		sl_buf_td(b, sl_ui_get(p, "name", "-"));
		sl_buf_td(b, sl_ui_get(p, "company", "-"));
		sl_buf_td(b, peer_status(p, &ok));
		sl_buf_td(b, sl_ui_get(p, "paired", "-"));
		sl_buf_td(b, sl_ui_get(p, "fingerprint", "-"));
		sl_buf_puts(b, "</tr>\n");
	}
	sl_page_table_end(pg, peers.n, 6, "The address book is empty.");
	sl_ui_reply_free(&peers);
	sl_ui_reply_free(&st);
}

/* ---- Outbox ------------------------------------------------------------------ */

static bool final_state(const char *s)
{
	return !strcmp(s, "delivered") || !strcmp(s, "refused") ||
	       !strcmp(s, "failed") || !strcmp(s, "cancelled") ||
	       !strcmp(s, "expired") || !strcmp(s, "bounced");
}

static uint64_t num(const struct sl_ipc_record *r, const char *key)
{
	return strtoull(sl_ui_get(r, key, "0"), NULL, 10);
}

/* Bytes of the sealed envelope acknowledged by the recipient. */
static uint64_t acked_bytes(const struct sl_ipc_record *r)
{
	uint64_t acked = num(r, "acked"), chunks = num(r, "chunks");
	uint64_t size = num(r, "size");

	if (chunks && acked >= chunks)
		return size;
	return acked * SL_ENV_CHUNK_WIRE_LEN < size ?
	       acked * SL_ENV_CHUNK_WIRE_LEN : size;
}

void sl_page_outbox(const struct sl_ui *ui, struct sl_page *pg)
{
	struct sl_ui_reply ob;
	struct sl_buf *b = &pg->body;
	size_t shown = 0;

	pg->title = "Outbox";
	pg->nav = "outbox";
	sl_buf_puts(b, "<h1>Outbox</h1>\n");
	if (sl_ui_call(ui, "outbox", &ob)) {
		pg->status = MHD_HTTP_BAD_GATEWAY;
		sl_page_alert(pg, ob.err);
		return;
	}
	sl_page_table(pg, "outbox", (const char *const[]){
		"Envelope", "To", "Name", "State", "Queued", "Files", "Size", "Sent",
		"Attempts", NULL });
	for (size_t i = 0; i < ob.n; i++) {
		const struct sl_ipc_record *r = &ob.recs[i].r;
		const char *id = sl_ui_get(r, "id", "");

		if (strcmp(r->type, "envelope") || !sl_ui_envelope_id(id))
			continue;
		shown++;
		sl_buf_printf(b, "<tr><td class=\"mono\"><a href=\"/outbox/%s\">%.8s</a></td>",
			      id, id);
		sl_buf_td(b, sl_ui_get(r, "to", "?"));
		sl_buf_td(b, sl_ui_get(r, "name", "-"));
		sl_buf_printf(b, "<td class=\"state-%s\">", word(sl_ui_get(r, "state", "")));
		sl_buf_html(b, sl_ui_get(r, "state", "?"));
		sl_buf_puts(b, "</td>");
		sl_buf_td(b, sl_ui_get(r, "queued", "?"));
		sl_buf_td(b, sl_ui_get(r, "files", "?"));
		sl_buf_puts(b, "<td>");
		sl_buf_bytes(b, num(r, "content_bytes"));
		sl_buf_printf(b, "</td><td>%" PRIu64 " of %" PRIu64 " chunks</td>",
			      num(r, "acked"), num(r, "chunks"));
		sl_buf_td(b, sl_ui_get(r, "attempts", "0"));
		sl_buf_puts(b, "</tr>\n");
	}
	sl_page_table_end(pg, shown, 9, "The outbox is empty.");
	sl_ui_reply_free(&ob);
}

/* The rate of an envelope between two looks at its page (no state in
 * the browser): the first sample of each envelope, kept here. */
static struct {
	char id[33];
	uint64_t bytes;
	struct timespec t;
} samples[RATE_SLOTS];
static unsigned int next_sample;
static pthread_mutex_t samples_lock = PTHREAD_MUTEX_INITIALIZER;

static double rate_of(const char *id, uint64_t bytes)
{
	struct timespec now;
	double rate = 0;
	unsigned int i;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&samples_lock);
	for (i = 0; i < RATE_SLOTS; i++)
		if (!strcmp(samples[i].id, id))
			break;
	if (i == RATE_SLOTS || bytes < samples[i].bytes) {
		if (i == RATE_SLOTS)
			i = next_sample++ % RATE_SLOTS;
		snprintf(samples[i].id, sizeof(samples[i].id), "%s", id);
		samples[i].bytes = bytes;
		samples[i].t = now;
	} else {
		double dt = (double)(now.tv_sec - samples[i].t.tv_sec) +
			    (double)(now.tv_nsec - samples[i].t.tv_nsec) / 1e9;

		if (dt > 0)
			rate = (double)(bytes - samples[i].bytes) / dt;
	}
	pthread_mutex_unlock(&samples_lock);
	return rate;
}

static void action_button(const struct sl_ui *ui, struct sl_page *pg,
			  const char *id, const char *action,
			  const char *label)
{
	sl_buf_printf(&pg->body, "<form method=\"post\" action=\"/outbox/%s/%s\" class=\"inline\">\n",
		      id, action);
	sl_page_csrf(ui, pg);
	sl_buf_printf(&pg->body, "<button type=\"submit\" id=\"%s\">%s</button>\n</form>\n",
		      action, label);
}

void sl_page_outbox_item(const struct sl_ui *ui, struct sl_page *pg,
			 const char *id)
{
	struct sl_ui_reply ob;
	struct sl_buf *b = &pg->body;
	const struct sl_ipc_record *r = NULL;
	const char *state;
	uint64_t size, done;

	pg->title = "Envelope in the outbox";
	pg->nav = "outbox";
	if (!sl_ui_envelope_id(id)) {
		sl_page_message(pg, MHD_HTTP_NOT_FOUND, "Not found",
				"An envelope id is 32 lower-case hex digits.");
		return;
	}
	if (sl_ui_call(ui, "outbox", &ob)) {
		sl_page_message(pg, MHD_HTTP_BAD_GATEWAY, "Outbox", "%s", ob.err);
		return;
	}
	for (size_t i = 0; i < ob.n && !r; i++)
		if (!strcmp(ob.recs[i].r.type, "envelope") &&
		    !strcmp(sl_ui_get(&ob.recs[i].r, "id", ""), id))
			r = &ob.recs[i].r;
	if (!r) {
		sl_ui_reply_free(&ob);
		sl_page_message(pg, MHD_HTTP_NOT_FOUND, "Not found",
				"The outbox has no envelope %s (delivered envelopes leave it after [courier] keep days).",
				id);
		return;
	}
	state = sl_ui_get(r, "state", "?");
	size = num(r, "size");
	done = acked_bytes(r);
	if (!final_state(state))
		pg->refresh = SL_UI_REFRESH_S;
	sl_buf_printf(b, "<h1>Envelope <span class=\"mono\">%s</span></h1>\n", id);
	sl_buf_printf(b, "<p class=\"status state-%s\" role=\"status\" id=\"state\">",
		      word(state));
	sl_buf_html(b, state);
	sl_buf_puts(b, "</p>\n");
	sl_buf_printf(b, "<progress id=\"progress\" max=\"%" PRIu64 "\" value=\"%" PRIu64 "\">%" PRIu64 " of %" PRIu64 "</progress>\n<p>",
		      size ? size : 1, done, done, size);
	sl_buf_bytes(b, done);
	sl_buf_puts(b, " of ");
	sl_buf_bytes(b, size);
	if (!strcmp(state, "sending")) {
		double rate = rate_of(id, done);

		if (rate > 0) {
			uint64_t left = (uint64_t)((double)(size - done) / rate);

			sl_buf_puts(b, ", ");
			sl_buf_bytes(b, (uint64_t)rate);
			sl_buf_printf(b, "/s, %" PRIu64 ":%02" PRIu64 " left",
				      left / 60, left % 60);
		}
	}
	sl_buf_puts(b, "</p>\n<dl class=\"facts\">");
	{
		static const struct { const char *key, *label; } f[] = {
			{ "to", "To" }, { "name", "Name" }, { "queued", "Queued" },
			{ "via", "Via" }, { "files", "Files" },
			{ "attempts", "Attempts" }, { "next_try", "Next attempt" },
			{ "finished", "Finished" }, { "reason", "Reason" },
			{ "detail", "Detail" },
		};

		for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
			const char *v = sl_ui_get(r, f[i].key, NULL);

			if (!v)
				continue;
			sl_buf_printf(b, "<dt>%s</dt><dd id=\"f-%s\">", f[i].label,
				      f[i].key);
			sl_buf_html(b, v);
			sl_buf_puts(b, "</dd>");
		}
	}
	sl_buf_puts(b, "</dl>\n");
	if (!strcmp(state, "refused") || !strcmp(state, "failed") ||
	    !strcmp(state, "expired") || !strcmp(state, "bounced")) {
		sl_buf_puts(b, "<p class=\"error\" role=\"alert\">Not delivered: ");
		sl_buf_html(b, sl_ui_get(r, "reason", state));
		if (sl_ui_get(r, "detail", NULL)) {
			sl_buf_puts(b, ": ");
			sl_buf_html(b, sl_ui_get(r, "detail", ""));
		}
		sl_buf_puts(b, "</p>\n");
		action_button(ui, pg, id, "retry", "Retry");
	} else if (!strcmp(state, "queued") || !strcmp(state, "sending")) {
		action_button(ui, pg, id, "cancel", "Cancel");
	} else if (!strcmp(state, "delivered")) {
		struct sl_ui_reply rc;
		char req[64];

		snprintf(req, sizeof(req), "outbox-receipt %s", id);
		if (!sl_ui_call(ui, req, &rc)) {
			for (size_t i = 0; i < rc.n; i++)
				if (!strcmp(rc.recs[i].r.type, "receipt")) {
					sl_buf_puts(b, "<h2>Receipt, signed by the recipient</h2>\n<pre id=\"receipt\">");
					sl_buf_html_lines(b, sl_ui_get(&rc.recs[i].r, "text", ""));
					sl_buf_puts(b, "</pre>\n");
				}
			sl_ui_reply_free(&rc);
		}
	}
	sl_ui_reply_free(&ob);
}

void sl_page_outbox_action(const struct sl_ui *ui, struct sl_page *pg,
			   const char *id, const char *action)
{
	struct sl_ui_reply rp;
	char req[80];
	static __thread char location[64];

	if (!sl_ui_envelope_id(id)) {
		sl_page_message(pg, MHD_HTTP_NOT_FOUND, "Not found",
				"An envelope id is 32 lower-case hex digits.");
		return;
	}
	snprintf(req, sizeof(req), "outbox-%s %s", action, id);
	if (sl_ui_call(ui, req, &rp)) {
		sl_page_message(pg, MHD_HTTP_CONFLICT, "Outbox", "%s", rp.err);
		return;
	}
	sl_ui_reply_free(&rp);
	snprintf(location, sizeof(location), "/outbox/%s", id);
	pg->location = location;
}

/* ---- Lines ----------------------------------------------------------------- */

void sl_page_lines(const struct sl_ui *ui, struct sl_page *pg)
{
	static const struct sl_col cols[] = {
		{ "tty", "Line" }, { "status", "Status" }, { "peer", "Peer" },
		{ "role", "Role" }, { "key_state", "Key" },
		{ "handshake", "Handshake" }, { "session_peer", "Session with" },
		{ "session_start", "Since" }, { "session_tx", "Bytes out" },
		{ "session_rx", "Bytes in" }, { "error", "Error" },
	};
	struct sl_ui_reply st;

	pg->title = "Lines";
	pg->nav = "lines";
	pg->refresh = 10;
	sl_buf_puts(&pg->body, "<h1>Lines</h1>\n");
	if (sl_ui_call(ui, "status", &st)) {
		pg->status = MHD_HTTP_BAD_GATEWAY;
		sl_page_alert(pg, st.err);
		return;
	}
	sl_page_records(pg, "lines", cols, sizeof(cols) / sizeof(cols[0]), &st,
			"line", "sealined has no line configured.");
	sl_ui_reply_free(&st);
}
