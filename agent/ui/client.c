// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Requests to sealined over its control socket (ipc.h), one connection
 * per request: a page asks, reads every record, and closes. Errors come
 * back as a sentence for the page.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ui.h"

const char *sl_ui_get(const struct sl_ipc_record *r, const char *key,
		      const char *dflt)
{
	const char *v = sl_ipc_get(r, key);

	return v && *v ? v : dflt;
}

void sl_ui_reply_free(struct sl_ui_reply *reply)
{
	for (size_t i = 0; i < reply->n; i++)
		free(reply->recs[i].line);
	free(reply->recs);
	free(reply->final.line);
	reply->recs = NULL;
	reply->final.line = NULL;
	reply->n = 0;
}

static int keep(struct sl_ui_rec *rec, const char *line)
{
	rec->line = strdup(line);
	if (!rec->line)
		return -ENOMEM;
	return sl_ipc_parse_record(rec->line, &rec->r);
}

int sl_ui_call(const struct sl_ui *ui, const char *request,
	       struct sl_ui_reply *reply)
{
	return sl_ui_call_at(ui->conf.socket, request, reply);
}

int sl_ui_call_at(const char *socket, const char *request,
		  struct sl_ui_reply *reply)
{
	struct sl_ipc_reader *r = calloc(1, sizeof(*r));
	size_t cap = 0;
	int fd, ret;

	memset(reply, 0, sizeof(*reply));
	if (!r) {
		snprintf(reply->err, sizeof(reply->err), "out of memory");
		return -1;
	}
	fd = sl_ipc_connect(socket, reply->err, sizeof(reply->err));
	if (fd < 0) {
		free(r);
		return -1;
	}
	r->fd = fd;
	ret = sl_ipc_write_request(fd, request);
	while (!ret) {
		struct sl_ipc_record rec;
		char *line;

		ret = sl_ipc_read_line(r, &line, SL_UI_CALL_TIMEOUT_MS);
		if (ret)
			break;
		if (!strncmp(line, "err ", 4)) {
			char copy[SL_IPC_MAX_LINE];

			snprintf(copy, sizeof(copy), "%s", line);
			if (sl_ipc_parse_record(copy, &rec) || !rec.text)
				snprintf(reply->err, sizeof(reply->err),
					 "sealined refused the request");
			else
				snprintf(reply->err, sizeof(reply->err), "%s",
					 rec.text);
			ret = -EPROTO;
			break;
		}
		if (!strncmp(line, "ok", 2) && (!line[2] || line[2] == ' ')) {
			ret = keep(&reply->final, line);
			if (ret)
				snprintf(reply->err, sizeof(reply->err),
					 "malformed answer from sealined");
			break;
		}
		if (reply->n == cap) {
			struct sl_ui_rec *more;

			cap = cap ? 2 * cap : 32;
			more = realloc(reply->recs, cap * sizeof(*more));
			if (!more) {
				ret = -ENOMEM;
				break;
			}
			reply->recs = more;
		}
		if (keep(&reply->recs[reply->n], line)) {
			free(reply->recs[reply->n].line);
			continue;	/* a record this version cannot read */
		}
		reply->n++;
	}
	close(fd);
	free(r);
	if (ret && !reply->err[0])
		snprintf(reply->err, sizeof(reply->err), "%s",
			 ret == -ETIMEDOUT ? "sealined did not answer within 30 s" :
			 ret == -EPIPE ? "sealined closed the connection" :
			 strerror(-ret));
	if (ret) {
		sl_ui_reply_free(reply);
		return -1;
	}
	return 0;
}
