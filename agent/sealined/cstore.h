/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What the courier's durable stores share (outbox.c, the sender's; spool.c,
 * the recipient's): their directories, state records written atomically,
 * the points between durable steps where a test makes the daemon "crash",
 * JSON for the send and receive logs, and those logs.
 *
 * A state record is text, "key value" per line, written whole to a
 * temporary file, fsync()ed, renamed over the old one and the directory
 * fsync()ed (sl_ks_write_atomic): after a crash the old record or the new
 * one is there, never a mix. Values that may hold anything (a refusal's
 * detail, a name) are percent-encoded (ipc.h's rule).
 *
 * The send and receive logs (sent.log, received.log in the state
 * directory by default) are JSON lines like the session log: one record
 * per envelope and outcome, appended with one write() and fsync()ed,
 * never rewritten by the daemon. The stores write each record once: a
 * record whose state says "not logged yet" after a crash is looked up in
 * the log before it is appended again.
 */
#ifndef SEALINE_AGENT_CSTORE_H
#define SEALINE_AGENT_CSTORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

/*
 * Tests only: called at every point between two durable steps, with the
 * step's name; a non-zero return makes the operation stop right there,
 * as if the process had been killed (-ECANCELED, nothing undone). The
 * test then opens the store again, as a restarted daemon would.
 */
extern int (*sl_cs_crash_hook)(const char *step);

#define SL_CS_CRASH_POINT(step) do {					\
	if (sl_cs_crash_hook && sl_cs_crash_hook(step))			\
		return -ECANCELED;					\
} while (0)

#define SL_CS_HEX_ID		(2 * SL_ENV_ID_LEN + 1)
#define SL_CS_RECORD_MAX	8192
#define SL_CS_MAX_FIELDS	48
/* A log record, at most: a long list of names is cut there. */
#define SL_CS_LOG_RECORD_MAX	(60 * 1024)

/* Opens dir (creating it and its parents, mode 0700): an fd or -errno. */
int sl_cs_dir_open(const char *dir, char *err, size_t err_len);

/*
 * A new open file description of directory dirfd, for fdopendir(): a
 * dup() would share the reading position, and a second listing of the
 * same directory would find it at its end. An fd or -1 (errno).
 */
int sl_cs_reopen(int dirfd);

/* "<32 hex digits><suffix>" */
void sl_cs_name(char *out, size_t size, const uint8_t id[SL_ENV_ID_LEN],
		const char *suffix);
/* A name that is "<32 hex digits><suffix>": its id. */
bool sl_cs_parse_name(const char *name, const char *suffix,
		      uint8_t id[SL_ENV_ID_LEN]);

/* ---- Records ---------------------------------------------------------- */

struct sl_cs_rec {
	char buf[SL_CS_RECORD_MAX];
	size_t len;
	bool overflow;
	/* parsed: */
	int n;
	const char *key[SL_CS_MAX_FIELDS];
	char *val[SL_CS_MAX_FIELDS];
};

void sl_cs_rec_init(struct sl_cs_rec *r, const char *magic);
void sl_cs_put(struct sl_cs_rec *r, const char *key, const char *val);
void sl_cs_putf(struct sl_cs_rec *r, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void sl_cs_put_u64(struct sl_cs_rec *r, const char *key, uint64_t v);
void sl_cs_put_hex(struct sl_cs_rec *r, const char *key, const void *p,
		   size_t len);
/* Writes the record to dirfd/name atomically: 0 or -errno. */
int sl_cs_rec_write(int dirfd, const char *name, const struct sl_cs_rec *r);

/*
 * Reads dirfd/name and splits it: its first line must be magic. 0,
 * -ENOENT, -EINVAL (not such a record), -errno.
 */
int sl_cs_rec_read(int dirfd, const char *name, const char *magic,
		   struct sl_cs_rec *r);
/* A field's (decoded) value, NULL if missing. */
const char *sl_cs_get(const struct sl_cs_rec *r, const char *key);
int sl_cs_get_u64(const struct sl_cs_rec *r, const char *key, uint64_t *v);
int sl_cs_get_hex(const struct sl_cs_rec *r, const char *key, void *out,
		  size_t len);

/* Reads a small file (a receipt) whole: its length or -errno. */
ssize_t sl_cs_read_file(int dirfd, const char *name, char *buf, size_t size);
/* Writes a small file atomically (sl_ks_write_atomic). */
int sl_cs_write_file(int dirfd, const char *name, const void *buf,
		     size_t len);
/* Unlinks dirfd/name, the directory synced: 0 or -errno (-ENOENT is 0). */
int sl_cs_remove(int dirfd, const char *name);
/* The stray temporary files of sl_ks_write_atomic in dirfd: gone. */
void sl_cs_sweep_tmp(int dirfd);

/* ---- JSON -------------------------------------------------------------- */

struct sl_jb {
	char *buf;
	size_t len, cap, max;
	bool overflow;
	bool first;			/* no comma before the next member */
};

void sl_jb_init(struct sl_jb *j, size_t max);
void sl_jb_free(struct sl_jb *j);
void sl_jb_raw(struct sl_jb *j, const char *s);
void sl_jb_key(struct sl_jb *j, const char *key);
void sl_jb_str(struct sl_jb *j, const char *key, const char *s);
/* s, or null if s is NULL or empty. */
void sl_jb_str_or_null(struct sl_jb *j, const char *key, const char *s);
void sl_jb_u64(struct sl_jb *j, const char *key, uint64_t v);
void sl_jb_time(struct sl_jb *j, const char *key, int64_t t);
void sl_jb_open(struct sl_jb *j, const char *key, char bracket);
void sl_jb_close(struct sl_jb *j, char bracket);
/* The room left before max, for deciding to stop a list. */
size_t sl_jb_room(const struct sl_jb *j);

/* ---- The send and receive logs ----------------------------------------- */

struct sl_clog {
	int fd;
	char path[PATH_MAX];
};

int sl_clog_open(struct sl_clog *log, const char *path, char *err,
		 size_t err_len);
void sl_clog_close(struct sl_clog *log);
int sl_clog_reopen(struct sl_clog *log, char *err, size_t err_len);
/* One record (a JSON object, no newline) appended and fsync()ed. */
int sl_clog_append(struct sl_clog *log, const char *json, size_t len);
/* Whether a record of envelope hex with this outcome is in the log (the
 * last MB of it is searched: where a record not logged yet would be). */
bool sl_clog_has(const struct sl_clog *log, const char *hex,
		 const char *outcome);

#endif
