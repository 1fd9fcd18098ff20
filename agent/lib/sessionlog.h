/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The session log: one record per connection and per failed handshake, as
 * the original system's send and receive logs kept them (when, with whom,
 * how many bytes each way, how it ended). JSON lines, appended and
 * fsync()ed one record at a time, in STATE_DIR/sessions.log (mode 0600)
 * unless session_log says otherwise. Never rewritten by the daemon; rotate
 * it with logrotate's copytruncate, or move it away and send SIGHUP.
 *
 * A record is one flat JSON object on one line:
 *
 *   {"start": "2026-11-26T10:00:00Z", "end": "2026-11-26T10:20:00Z",
 *    "line": "ttyS1", "kind": "session", "role": "initiator",
 *    "peer": "210987654321", "bytes_tx": 1048576, "bytes_rx": 512,
 *    "rekeys": 1, "outcome": "ok", "reason": null, "detail": null}
 *
 *   kind     session (a keyed connection), pairing, rekey (a failed one)
 *   role     initiator or responder (of the handshake that opened it)
 *   peer     account number, or null when it never became known
 *   bytes_*  application bytes through the virtual tty while it lasted
 *   outcome  ok (ended normally: line down, key replaced by a new
 *            session, agent stopped), nak-sent, nak-received, timeout,
 *            failed, expired (hard key limit), sas-mismatch
 *   reason   the NAK reason name, or what failed
 *   detail   free text for the operator
 *
 * Readers must ignore keys they do not know: later versions may add some.
 */
#ifndef SEALINE_AGENT_SESSIONLOG_H
#define SEALINE_AGENT_SESSIONLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <linux/sealine.h>

#include "config.h"

/* Longest record written or read (the reader skips longer lines). */
#define SL_SLOG_MAX_RECORD	2048

struct sl_session_rec {
	int64_t start;			/* Unix time */
	int64_t end;
	char line[SEALINE_TTY_NAME_MAX];
	char kind[16];
	char role[16];
	char peer[SL_ACCOUNT_LEN + 1];	/* "" unknown */
	uint64_t bytes_tx;
	uint64_t bytes_rx;
	uint32_t rekeys;
	char outcome[24];
	char reason[32];		/* "" none */
	char detail[256];		/* "" none */
};

struct sl_slog {
	int fd;
	char path[PATH_MAX];
};

/* Open (create, mode 0600) the log for appending. */
int sl_slog_open(struct sl_slog *log, const char *path, char *err,
		 size_t err_len);
void sl_slog_close(struct sl_slog *log);
/* Close and open again (after logrotate moved it). */
int sl_slog_reopen(struct sl_slog *log, char *err, size_t err_len);

/* Append one record with a single write(), then fsync(). */
int sl_slog_append(struct sl_slog *log, const struct sl_session_rec *rec);

/* The record as one JSON line with its '\n'; returns its length, or a
 * negative errno if it does not fit. */
int sl_slog_format(char *buf, size_t size, const struct sl_session_rec *rec);

/*
 * Parse one line of the log (without its '\n'). 0, or -EINVAL for a line
 * that is not a flat JSON object with at least start, line and outcome.
 * Unknown keys are ignored.
 */
int sl_slog_parse(const char *line, size_t len, struct sl_session_rec *rec);

/*
 * Read a log file record by record: fn is called for each good record;
 * *bad counts lines that were not (a torn last line after a crash, a line
 * someone edited). 0 or a negative errno (the file could not be read).
 */
typedef int (*sl_slog_fn)(const struct sl_session_rec *rec, void *arg);
int sl_slog_read(FILE *f, sl_slog_fn fn, void *arg, unsigned int *bad);

/* "2026-11-26T10:00:00Z" */
void sl_slog_time(char out[32], int64_t t);
int sl_slog_parse_time(const char *s, int64_t *t);

#endif
