// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl as a client of a daemon's control socket (ipc.h): connecting,
 * one request and its records, the options and output every daemon
 * command shares.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "config.h"
#include "ipc.h"
#include "json.h"
#include "sealctl.h"
#include "sessionlog.h"

const char *sl_client_socket(const char *opt)
{
	const char *env = getenv("SEALINE_SOCKET");

	if (opt)
		return opt;
	if (env && *env)
		return env;
	return SL_CONF_DEFAULT_SOCKET;
}

int sl_conn_open(struct sl_conn *c, const char *cmd, const char *path)
{
	char err[512];

	c->cmd = cmd;
	c->fd = sl_ipc_connect(path, err, sizeof(err));
	if (c->fd < 0)
		return sl_failure("%s: %s", cmd, err);
	memset(&c->r, 0, sizeof(c->r));
	c->r.fd = c->fd;
	return 0;
}

void sl_conn_close(struct sl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int sl_client_call(struct sl_conn *c, const char *request, sl_record_fn fn,
		   void *arg, struct sl_ipc_record *final, char *final_buf,
		   size_t final_len)
{
	int ret = sl_ipc_write_request(c->fd, request);

	if (ret)
		return sl_failure("%s: cannot send to sealined: %s", c->cmd,
				  strerror(-ret));
	for (;;) {
		struct sl_ipc_record rec;
		char *line;

		ret = sl_ipc_read_line(&c->r, &line, 30000);
		if (ret == -ETIMEDOUT)
			return sl_failure("%s: sealined did not answer within 30 s",
					  c->cmd);
		if (ret == -EPIPE)
			return sl_failure("%s: sealined closed the connection",
					  c->cmd);
		if (ret)
			return sl_failure("%s: reading from sealined: %s", c->cmd,
					  strerror(-ret));
		/* The final "ok" is kept (its pairs point into it). */
		if (final_buf && !strncmp(line, "ok", 2) &&
		    (line[2] == ' ' || !line[2])) {
			snprintf(final_buf, final_len, "%s", line);
			line = final_buf;
		}
		if (sl_ipc_parse_record(line, &rec))
			return sl_failure("%s: malformed answer from sealined", c->cmd);
		if (!strcmp(rec.type, "err"))
			return sl_failure("%s: %s", c->cmd, rec.text);
		if (!strcmp(rec.type, "ok")) {
			if (final)
				*final = rec;
			return 0;
		}
		if (fn) {
			ret = fn(&rec, arg);
			if (ret)
				return ret;
		}
	}
}

/* ------------------------------------------------------------ JSON */

/*
 * The control protocol carries text (ipc.h); JSON types its values by key.
 * A key not listed is a string (tracking ids, times, names: even one that
 * reads "no" or "123"), and an empty value is null.
 */
static bool key_in(const char *key, const char *const *keys)
{
	for (size_t i = 0; keys[i]; ++i)
		if (!strcmp(key, keys[i]))
			return true;
	return false;
}

static const char *const numeric_keys[] = {
	"pid", "uptime", "portid", "lines", "peers", "peers_authorised",
	"peers_revoked", "index", "agent_portid", "key_epoch",
	"staged_epoch", "rekey_interval", "session_tx", "session_rx",
	"rekeys", "control_dropped", "calls", "bytes_up", "bytes_down",
	"attempts", "bad_lines", "records", "seconds",
	/* the courier's */
	"size", "files", "content_bytes", "chunks", "acked", "durable",
	"wire_bytes", "outbox_pending", "courier_sent",
	/* the TSP's store */
	"backlog", "store_queue", NULL,
};

static const char *const boolean_keys[] = {
	"authorised", "revoked", "ltk", "truncated", "created", "pairing",
	"pair_armed", "operator", "receive", NULL,
};

void sl_print_json_record(const struct sl_ipc_record *rec)
{
	putchar('{');
	for (int i = 0; i < rec->n; ++i) {
		const char *k = rec->kv[i].key, *v = rec->kv[i].val;

		printf("%s", i ? ", " : "");
		sl_json_string(stdout, k);
		fputs(": ", stdout);
		if (!*v)
			fputs("null", stdout);
		else if (key_in(k, numeric_keys) &&
			 strspn(v, "0123456789") == strlen(v))
			fputs(v, stdout);
		else if (key_in(k, boolean_keys) &&
			 (!strcmp(v, "yes") || !strcmp(v, "no")))
			fputs(v[0] == 'y' ? "true" : "false", stdout);
		else
			sl_json_string(stdout, v);
	}
	putchar('}');
}

const char *sl_get(const struct sl_ipc_record *rec, const char *key,
		   const char *dflt)
{
	const char *v = sl_ipc_get(rec, key);

	return v && *v ? v : dflt;
}

int sl_finish_output(const char *cmd)
{
	if (fflush(stdout) == EOF)
		return sl_failure("%s: writing output: %s", cmd, strerror(errno));
	return SL_EXIT_OK;
}

int sl_client_line(const char *cmd, const char *arg, struct sl_line_ref *ref)
{
	int ret = sl_parse_line(cmd, arg, ref);

	if (ret)
		return ret;
	if (ref->by_index)
		return sl_usage_error(cmd, "name the physical tty of the line (ttyS1), not its virtual tty");
	return 0;
}
