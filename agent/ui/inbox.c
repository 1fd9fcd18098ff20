// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The inbox: envelopes received, the files of one, and a file's bytes.
 *
 * A download names the file as sealined listed it (inbox-show): only a
 * name in that list is served, and it is opened one component at a time
 * below the envelope's directory with O_NOFOLLOW, never "." or "..", and
 * must be a regular file. So a name cannot leave the envelope, through
 * ".." or through a link, whatever the request says.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ui.h"

/* How an envelope came (sealctl inbox's VIA): straight from the sender
 * on a line, or held and delivered by the TSP (store and forward). */
static const char *route(const char *via)
{
	if (!strcmp(via, "line"))
		return "line";
	if (!strcmp(via, "tsp"))
		return "TSP";
	return via;
}

void sl_page_inbox(const struct sl_ui *ui, struct sl_page *pg)
{
	struct sl_ui_reply in;
	struct sl_buf *b = &pg->body;
	size_t shown = 0;

	pg->title = "Inbox";
	pg->nav = "inbox";
	sl_buf_puts(b, "<h1>Inbox</h1>\n");
	if (sl_ui_call(ui, "inbox", &in)) {
		sl_page_message(pg, MHD_HTTP_BAD_GATEWAY, "Inbox", "%s", in.err);
		return;
	}
	sl_page_table(pg, "inbox", (const char *const[]){
		"Envelope", "From", "Via", "Name", "Delivered", "Files", "Bytes",
		NULL });
	for (size_t i = 0; i < in.n; i++) {
		const struct sl_ipc_record *r = &in.recs[i].r;
		const char *id = sl_ui_get(r, "id", "");

		if (strcmp(r->type, "envelope") || !sl_ui_envelope_id(id))
			continue;
		shown++;
		sl_buf_printf(b, "<tr><td class=\"mono\"><a href=\"/inbox/%s\">%.8s</a></td>",
			      id, id);
		sl_buf_td(b, sl_ui_get(r, "from", "?"));
		sl_buf_td(b, route(sl_ui_get(r, "via", "?")));
		sl_buf_td(b, sl_ui_get(r, "name", "-"));
		sl_buf_td(b, sl_ui_get(r, "delivered", "?"));
		sl_buf_td(b, sl_ui_get(r, "files", "?"));
		sl_buf_puts(b, "<td>");
		sl_buf_bytes(b, strtoull(sl_ui_get(r, "content_bytes", "0"),
					 NULL, 10));
		sl_buf_puts(b, "</td></tr>\n");
	}
	sl_page_table_end(pg, shown, 7, "The inbox is empty.");
	sl_ui_reply_free(&in);
}

static bool lower_id(const char *id, char out[33])
{
	if (!id || strlen(id) != 32 ||
	    strspn(id, "0123456789abcdefABCDEF") != 32)
		return false;
	for (int i = 0; i <= 32; i++)
		out[i] = (char)(id[i] >= 'A' && id[i] <= 'F' ? id[i] + 32 : id[i]);
	return true;
}

static int show(const struct sl_ui *ui, struct sl_page *pg, const char *id,
		char hex[33], struct sl_ui_reply *files)
{
	char req[64];

	if (!lower_id(id, hex)) {
		sl_page_message(pg, MHD_HTTP_NOT_FOUND, "Not found",
				"An envelope id is 32 hex digits.");
		return -1;
	}
	snprintf(req, sizeof(req), "inbox-show %s", hex);
	if (sl_ui_call(ui, req, files)) {
		sl_page_message(pg, MHD_HTTP_NOT_FOUND, "Inbox", "%s", files->err);
		return -1;
	}
	return 0;
}

void sl_page_inbox_item(const struct sl_ui *ui, struct sl_page *pg,
			const char *id)
{
	struct sl_ui_reply files;
	struct sl_buf *b = &pg->body;
	char hex[33];

	pg->title = "Envelope received";
	pg->nav = "inbox";
	if (show(ui, pg, id, hex, &files))
		return;
	sl_buf_printf(b, "<h1>Envelope <span class=\"mono\">%s</span></h1>\n", hex);
	sl_page_table(pg, "files", (const char *const[]){
		"Name", "Type", "Size", "Modified", NULL });
	for (size_t i = 0; i < files.n; i++) {
		const struct sl_ipc_record *r = &files.recs[i].r;
		const char *name = sl_ui_get(r, "name", "?");
		const char *type = sl_ui_get(r, "type", "?");

		if (strcmp(r->type, "file"))
			continue;
		sl_buf_puts(b, "<tr><td>");
		if (!strcmp(type, "file")) {
			sl_buf_printf(b, "<a href=\"/inbox/%s/file?name=", hex);
			sl_buf_url(b, name);
			sl_buf_puts(b, "\">");
			sl_buf_html(b, name);
			sl_buf_puts(b, "</a>");
		} else {
			sl_buf_html(b, name);
		}
		sl_buf_puts(b, "</td>");
		sl_buf_td(b, type);
		sl_buf_td(b, sl_ui_get(r, "size", "-"));
		sl_buf_td(b, sl_ui_get(r, "mtime", "-"));
		sl_buf_puts(b, "</tr>\n");
	}
	sl_page_table_end(pg, files.n, 4, "This envelope holds no files.");
	sl_ui_reply_free(&files);
}

/* name below the directory dir, one component at a time, no links. */
static int open_below(const char *dir, const char *name)
{
	char *copy = strdup(name), *save = NULL, *comp, *next;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (!copy || fd < 0) {
		free(copy);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	comp = strtok_r(copy, "/", &save);
	while (comp && fd >= 0) {
		int sub;

		next = strtok_r(NULL, "/", &save);
		if (!strcmp(comp, ".") || !strcmp(comp, "..")) {
			close(fd);
			fd = -1;
			break;
		}
		sub = openat(fd, comp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
			     (next ? O_DIRECTORY : 0));
		close(fd);
		fd = sub;
		comp = next;
	}
	free(copy);
	return fd;
}

void sl_page_inbox_file(const struct sl_ui *ui, struct sl_page *pg,
			const char *id, const char *name)
{
	struct sl_ui_reply files;
	const char *dir, *base;
	bool listed = false;
	struct stat st;
	char hex[33];
	int fd;

	pg->nav = "inbox";
	if (!name || !*name) {
		sl_page_message(pg, MHD_HTTP_BAD_REQUEST, "Download",
				"Name the file to download (name=...).");
		return;
	}
	if (show(ui, pg, id, hex, &files))
		return;
	for (size_t i = 0; i < files.n && !listed; i++)
		listed = !strcmp(files.recs[i].r.type, "file") &&
			 !strcmp(sl_ui_get(&files.recs[i].r, "type", ""), "file") &&
			 !strcmp(sl_ui_get(&files.recs[i].r, "name", ""), name);
	dir = sl_ui_get(&files.final.r, "path", NULL);
	if (!listed || !dir) {
		sl_ui_reply_free(&files);
		sl_page_message(pg, MHD_HTTP_NOT_FOUND, "Download",
				"Envelope %s holds no file by that name.", hex);
		return;
	}
	fd = open_below(dir, name);
	sl_ui_reply_free(&files);
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		sl_page_message(pg, MHD_HTTP_NOT_FOUND, "Download",
				"The file cannot be opened as a regular file inside its envelope.");
		return;
	}
	base = strrchr(name, '/');
	pg->filename = base ? base + 1 : name;
	pg->fd = fd;
	pg->fd_size = (uint64_t)st.st_size;
	pg->content_type = "application/octet-stream";
}
