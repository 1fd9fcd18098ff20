/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The control socket between sealctl and sealined: a Unix stream socket
 * (/run/sealine/sealined.sock by default, "socket" in [agent], "sealctl
 * --socket" on the other side), mode 0600, and the daemon also checks
 * SO_PEERCRED: only root (or the daemon's own user) may talk to it.
 *
 * Protocol, version 1. Text, one request or response record per line
 * ('\n'), ASCII only; a request at most SL_IPC_MAX_LINE bytes, a response
 * line at most SL_IPC_MAX_RESPONSE (a session record is up to 2 KiB).
 *
 *   request    VERB [ARG]...        words separated by blanks; printable
 *                                   ASCII; at most SL_IPC_MAX_ARGS words
 *   response   zero or more records, then exactly one of
 *                ok [KEY=VALUE]...
 *                err ERRNAME TEXT   ERRNAME as in errno(3) (ENOENT,
 *                                   EINVAL, ENOSYS, ...), TEXT for people
 *   record     TYPE [KEY=VALUE]...  TYPE a lower-case word
 *
 * VALUEs are percent-encoded: '%', '=', blanks, control characters and
 * bytes over 0x7e are written as %XX; everything else as is. A client
 * ignores record types and keys it does not know (later versions add
 * them). A connection may carry any number of requests, one at a time;
 * the daemon closes connections idle for SL_IPC_IDLE_TIMEOUT seconds.
 *
 * Verbs (arguments; records in the response):
 *
 *   hello                        -> ok version=1 daemon=sealined pid=N
 *   status                       -> daemon ..., line ... (one per
 *                                   configured line)
 *   peers                        -> peer ... (one per record)
 *   authorise ACCOUNT            -> ok created=yes|no
 *   revoke ACCOUNT               -> ok
 *   forget ACCOUNT               -> ok
 *   log [COUNT]                  -> session JSON (the last COUNT records of
 *                                   the session log, each as "session "
 *                                   followed by the record's JSON line)
 *   reload                       -> ok: re-read the peers, reopen the log
 *   pair LINE [replace] [wait=S] -> an operator conversation, below
 *   call ACCOUNT [LINE]          -> info records while the modem dials the
 *                                   TSP and call setup runs, then
 *                                   ok peer=ACCOUNT tracking=HEX once the
 *                                   call is bridged, or err (dialer.h)
 *   hangup LINE                  -> ok: the call on LINE ends
 *
 * The courier (Documentation/courier.rst, "sealctl and sealined"):
 *
 *   send ACCOUNT [line=TTY|call|tsp [after=MS|window=W]] [wait]
 *                                with one file descriptor passed
 *                                (SCM_RIGHTS): the read end of a pipe on
 *                                which sealctl writes the packed files
 *                                (records below); -> ready id=HEX, then,
 *                                once sealed into the outbox, queued
 *                                id=HEX size=N chunks=N files=N, then ok
 *                                id=HEX (or, with wait, state and
 *                                progress records until the envelope is
 *                                delivered, refused or failed, then ok or
 *                                err); tsp: handed to the TSP (store
 *                                and forward) with its schedule (after:
 *                                epoch ms; window: start * 1440 + end
 *                                minutes, UTC), the wait ends once held
 *   outbox                       -> envelope ... (one per envelope)
 *   outbox-cancel ID             -> ok: withdrawn (ID: a unique prefix)
 *   outbox-retry ID              -> ok: a refused or failed one queued
 *   outbox-receipt ID            -> receipt text=..., ok
 *   outbox-acceptance ID         -> acceptance text=..., ok: the TSP's
 *                                   signed acceptance (sent with tsp)
 *   outbox-notice ID             -> notice text=..., ok: the TSP's
 *                                   signed non-delivery notice
 *   outbox-collect               -> ok notes=N once a call to the TSP
 *                                   collected its receipts and notices
 *                                   (N stored), or err
 *   inbox                        -> envelope ... (one per delivered one)
 *   inbox-show ID                -> file name=... type=... size=... mtime=...
 *   peer-name ACCOUNT [NAME]     -> ok: the operator's name for a peer
 *                                (NAME %-encoded; none: removed)
 *   peer-company ACCOUNT [COMPANY]
 *                                -> ok: the operator's company for a peer
 *                                (COMPANY %-encoded; none: removed)
 *   courier-log sent|received [COUNT]
 *                                -> entry JSON (the last COUNT records)
 *
 * The pipe of "send" carries records "TYPE LEN(4, big-endian) BYTES":
 * 'D' payload bytes (the zstd stream, at most 64 KiB a record), 'F' one
 * archive entry ("TYPE MODE SIZE MTIME NAME", NAME %-encoded), 'E' the
 * end (files and content bytes, 8 bytes each), 'X' packing failed (a
 * reason). The daemon never opens a file of the user's: it seals what
 * arrives.
 *
 * "pair LINE" attaches the connection to the line's pairing as its
 * operator: the line is armed (answers the other side's pairing) and, by
 * its role, starts one, for as long as the connection stays and at most
 * S seconds (wait=S, default 600); "replace" lets the pairing replace a
 * stored or revoked record of the same account. If a pairing already
 * waits for an operator on LINE (pairing = yes answered it), the
 * connection joins it. The daemon then sends, as the pairing goes on:
 *
 *   waiting reason=R seconds=S   the pairing waits for the other side, S
 *                                more seconds at most; R: start, not-armed
 *                                (its operator has not run pair yet),
 *                                no-answer (nothing answers on the line)
 *   info text=...                progress for the operator
 *   sas code=XXXXX peer=ACCOUNT fingerprint=FP seconds=S
 *                                (initiator) read the code to the other
 *                                operator; the peer claims ACCOUNT and key
 *                                FP; S seconds to decide
 *   ask-sas attempts=N peer=ACCOUNT fingerprint=FP seconds=S
 *                                (responder) type what the other reads; N
 *                                tries left (below 3: the last was wrong)
 *
 * and the client answers with requests on the same connection:
 *
 *   confirm yes|no               (after sas) the other operator agreed
 *   sas TEXT                     (after ask-sas) what was typed
 *
 * each of which is answered with a record, "accepted" or "invalid
 * text=...", never with ok/err: those belong to the pair request, whose
 * final "ok peer=ACCOUNT" or "err ..." ends the conversation. Without a
 * handshake implementation the daemon answers "err ENOSYS ..." at once.
 */
#ifndef SEALINE_AGENT_IPC_H
#define SEALINE_AGENT_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SL_IPC_VERSION		1
#define SL_IPC_MAX_LINE		1024
/* A response line at most: a courier log record with its file names
 * (cstore.h: SL_CS_LOG_RECORD_MAX) and its prefix. */
#define SL_IPC_MAX_RESPONSE	(64 * 1024)
/* File descriptors one request may pass (SCM_RIGHTS): "send" passes one. */
#define SL_IPC_MAX_FDS		2
#define SL_IPC_MAX_ARGS		8
#define SL_IPC_MAX_CLIENTS	32
/* pair ... wait=S: how long an operator waits for the other side, by
 * default and at most (seconds). */
#define SL_IPC_PAIR_WAIT_S	600
#define SL_IPC_PAIR_WAIT_MAX_S	86400
#define SL_IPC_IDLE_TIMEOUT	60	/* seconds without a request */
/* A client that does not read its responses is dropped past this. */
#define SL_IPC_MAX_PENDING	(4 * 1024 * 1024)

/* ------------------------------------------------------------ parsing */

/* A request split into words, pointing into its own copy of the line. */
struct sl_ipc_req {
	int argc;
	char *argv[SL_IPC_MAX_ARGS];
	char buf[SL_IPC_MAX_LINE + 1];
};

/*
 * Parse one request line (without '\n'; a trailing '\r' is dropped).
 * 0, or -EINVAL (empty, non-printable, not ASCII), -E2BIG (too many
 * words), -EMSGSIZE (too long), with a reason in err.
 */
int sl_ipc_parse_request(const char *line, size_t len, struct sl_ipc_req *req,
			 char *err, size_t err_len);

/* The verbs and how many arguments each takes. */
struct sl_ipc_verb {
	const char *name;
	int min_args;
	int max_args;
	const char *usage;
};

/* Look up req's verb and check its argument count: the verb, or NULL with
 * "ERRNAME text" (EINVAL/ENOSYS...) in err. */
const struct sl_ipc_verb *sl_ipc_lookup(const struct sl_ipc_req *req,
					char *err, size_t err_len);

/* A daemon's first step with a request line: parse it and look its verb
 * up. The verb, or NULL after an "err" response was queued for c. */
struct sl_ipc_client;
const struct sl_ipc_verb *sl_ipc_request(struct sl_ipc_client *c,
					 const char *line, size_t len,
					 struct sl_ipc_req *req);

/* Percent-encode s into out; false if it did not fit (out is then ""). */
bool sl_ipc_escape(char *out, size_t size, const char *s);
/* Decode in place; -EINVAL on a bad escape or an encoded NUL. */
int sl_ipc_unescape(char *s);

/* A response record: "TYPE key=value ...". */
struct sl_ipc_kv {
	const char *key;
	const char *val;
};

struct sl_ipc_record {
	const char *type;
	int n;
	struct sl_ipc_kv kv[32];
	const char *text;	/* "err": the words after ERRNAME */
	const char *errname;	/* "err": ERRNAME */
};

/*
 * Split a response line (modified in place, values decoded) into its type
 * and KEY=VALUE pairs. An "err" line keeps its text whole. -EINVAL on a
 * malformed line, -E2BIG with more pairs than fit.
 */
int sl_ipc_parse_record(char *line, struct sl_ipc_record *rec);
const char *sl_ipc_get(const struct sl_ipc_record *rec, const char *key);

/* Building a record: start, add pairs (values encoded), then send. */
struct sl_ipc_builder {
	char buf[SL_IPC_MAX_LINE + 1];
	size_t len;
	bool overflow;
};

void sl_ipc_build(struct sl_ipc_builder *b, const char *type);
void sl_ipc_add(struct sl_ipc_builder *b, const char *key, const char *val);
void sl_ipc_addf(struct sl_ipc_builder *b, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------ server */

struct sl_ipc_client {
	int fd;
	uid_t uid;
	pid_t pid;
	char in[SL_IPC_MAX_LINE + 2];
	size_t in_len;
	bool in_overflow;	/* discarding up to the next '\n' */
	char *out;
	size_t out_len;
	size_t out_cap;
	bool closing;		/* close once out is flushed */
	int64_t last_active;	/* monotonic seconds */
	void *pairing;		/* the line it is operator of, or NULL */
	void *courier;		/* a send it waits for, or NULL */
	/* Descriptors passed with the request being handled (SCM_RIGHTS);
	 * what the handler does not take is closed after it. */
	int fds[SL_IPC_MAX_FDS];
	int n_fds;
};

struct sl_ipc_server {
	int fd;
	char path[108];
	dev_t dev;
	ino_t ino;
	struct sl_ipc_client *clients[SL_IPC_MAX_CLIENTS];
};

/* Create the socket (removing a stale one; -EADDRINUSE if a daemon
 * answers there) and listen. */
int sl_ipc_listen(struct sl_ipc_server *srv, const char *path, char *err,
		  size_t err_len);
/* Close everything; unlink the socket if it is still ours. */
void sl_ipc_close(struct sl_ipc_server *srv);

/* Accept pending connections (refusing other users). */
void sl_ipc_accept(struct sl_ipc_server *srv, int64_t now);

/*
 * Read from a client and call fn for each complete request line (without
 * '\n'). Returns 0, or -EPIPE when the client is gone (closed, error):
 * the caller then drops it with sl_ipc_drop().
 */
typedef void (*sl_ipc_line_fn)(struct sl_ipc_client *c, const char *line,
			       size_t len, void *arg);
int sl_ipc_client_read(struct sl_ipc_client *c, sl_ipc_line_fn fn, void *arg,
		       int64_t now);

/* Queue output; flushed by sl_ipc_client_flush (POLLOUT). */
void sl_ipc_send(struct sl_ipc_client *c, const char *line);
void sl_ipc_sendf(struct sl_ipc_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sl_ipc_send_record(struct sl_ipc_client *c,
			const struct sl_ipc_builder *b);
void sl_ipc_send_ok(struct sl_ipc_client *c);
void sl_ipc_send_err(struct sl_ipc_client *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* -EPIPE when the client is gone. */
int sl_ipc_client_flush(struct sl_ipc_client *c);
void sl_ipc_drop(struct sl_ipc_server *srv, struct sl_ipc_client *c);

/* ------------------------------------------------------------ client */

/* Connect to the daemon; -errno with a sentence in err. */
int sl_ipc_connect(const char *path, char *err, size_t err_len);

struct sl_ipc_reader {
	int fd;
	char buf[SL_IPC_MAX_RESPONSE];
	size_t len;
	size_t start;
};

/* Next response line (NUL-terminated, without '\n'), waiting up to
 * timeout_ms (-1: forever): 0, -ETIMEDOUT, -EPIPE (closed), -EMSGSIZE. */
int sl_ipc_read_line(struct sl_ipc_reader *r, char **line, int timeout_ms);
int sl_ipc_write_request(int fd, const char *line);
/* The same with a file descriptor passed along (SCM_RIGHTS). */
int sl_ipc_write_request_fd(int fd, const char *line, int pass);
/* Takes the request's passed descriptor (the server's side): it or -1. */
int sl_ipc_take_fd(struct sl_ipc_client *c);

#endif
