/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * sealctl as a client of a daemon's control socket (ipc.h): what the
 * daemon commands (status, peers, log, pair, call, hangup, tsp) share.
 */
#ifndef SEALINE_SEALCTL_CLIENT_H
#define SEALINE_SEALCTL_CLIENT_H

#include <stdbool.h>
#include <stdio.h>

#include "ipc.h"
#include "lineref.h"

struct sl_conn {
	const char *cmd;		/* for messages */
	int fd;
	struct sl_ipc_reader r;
};

/* Where the daemon listens: opt (--socket), else $SEALINE_SOCKET, else
 * the default. */
const char *sl_client_socket(const char *opt);
/* Connect: 0, or an exit status after a message. */
int sl_conn_open(struct sl_conn *c, const char *cmd, const char *path);
void sl_conn_close(struct sl_conn *c);

/* Records of a response go to fn; returns the exit status. */
typedef int (*sl_record_fn)(struct sl_ipc_record *rec, void *arg);

/*
 * One request: each record to fn until "ok" (kept in final, its text in
 * final_buf, if given) or "err" (printed). The exit status.
 */
int sl_client_call(struct sl_conn *c, const char *request, sl_record_fn fn,
		   void *arg, struct sl_ipc_record *final, char *final_buf,
		   size_t final_len);

/* A record as one JSON object (numbers as numbers, yes/no as booleans). */
void sl_print_json_record(const struct sl_ipc_record *rec);
/* A record's value of key, or dflt if absent or empty. */
const char *sl_get(const struct sl_ipc_record *rec, const char *key,
		   const char *dflt);
/* stdout flushed: SL_EXIT_OK, or a failure if it could not be written. */
int sl_finish_output(const char *cmd);

/* LINE on the command line: a physical tty, not a virtual one. */
int sl_client_line(const char *cmd, const char *arg, struct sl_line_ref *ref);

#endif
