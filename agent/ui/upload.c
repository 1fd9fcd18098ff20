// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The envelope's form (POST /send, multipart/form-data): the CSRF token,
 * the recipient, then the files, each streamed to disk as it arrives
 * into a directory of its own under the upload directory (0700), never
 * held whole in memory. Then the files are packed (courier/packpipe.c)
 * onto the pipe of a "send" request, exactly as sealctl send does, and
 * the directory is removed whatever happened.
 *
 * Files ticked in a local folder (folders.c) come as "pick" fields and
 * are packed from where they are, after the uploads.
 *
 * Refused with a message, and nothing kept: a CSRF token missing, wrong
 * or after the first file (the form sends it first); a pick outside its
 * folder or that names no file or directory; two files of one name; a file name that
 * is not one plain name (a '/', ".", "..", a control character, longer
 * than a name may be); the same name twice; more than SL_UI_MAX_FILES
 * files; more bytes than --max-upload, counted as they arrive.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "envelope.h"
#include "fdio.h"
#include "ui.h"

struct sl_upload {
	const struct sl_ui *ui;
	struct MHD_PostProcessor *pp;
	char csrf[SL_UI_TOKEN_HEX + 1];
	bool csrf_ok;
	char to[SL_UI_FIELD_MAX];
	char dir[PATH_MAX];
	int dirfd;
	int fd;				/* the file being written */
	char *names[SL_UI_MAX_FILES];
	size_t n_files;
	char *picks[SL_UI_MAX_FILES];	/* "N/REL" as the form sent them */
	size_t n_picks;
	char *picked[SL_UI_MAX_FILES];	/* resolved, once checked */
	uint64_t total;
	unsigned int status;		/* an error's HTTP status, 0: none */
	char error[512];
	char location[64];		/* /outbox/ID once sent */
};

static void fail(struct sl_upload *u, unsigned int status, const char *fmt,
		 ...) __attribute__((format(printf, 3, 4)));

static void fail(struct sl_upload *u, unsigned int status, const char *fmt,
		 ...)
{
	va_list ap;

	if (u->status)
		return;		/* the first reason is the one shown */
	u->status = status;
	va_start(ap, fmt);
	vsnprintf(u->error, sizeof(u->error), fmt, ap);
	va_end(ap);
	if (u->fd >= 0) {
		close(u->fd);
		u->fd = -1;
	}
}

void sl_upload_too_big(const struct sl_ui *ui, struct sl_page *pg)
{
	char msg[256];
	struct sl_buf n = { 0 };

	sl_buf_bytes(&n, ui->conf.max_upload);
	snprintf(msg, sizeof(msg),
		 "The files are over the upload limit of %s (%llu bytes): nothing was sent. Send fewer or smaller files, or start sealine-ui with a larger --max-upload.",
		 n.p ? n.p : "?", (unsigned long long)ui->conf.max_upload);
	sl_buf_free(&n);
	sl_page_envelope(ui, pg, msg, NULL, NULL, NULL);
	pg->status = MHD_HTTP_CONTENT_TOO_LARGE;
}

/* One plain file name: what a browser sends is the name alone; anything
 * else is refused rather than cut down to a name. */
static const char *bad_name(const char *name)
{
	if (!*name)
		return "an empty name";
	if (strlen(name) > SL_ENV_NAME_MAX)
		return "longer than 255 bytes";
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return "not a file's name";
	if (strchr(name, '/'))
		return "a path, not a name (it holds '/')";
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return "a control character in it";
	return NULL;
}

static int make_dir(struct sl_upload *u)
{
	if (mkdir(u->ui->conf.upload_dir, 0700) && errno != EEXIST) {
		fail(u, MHD_HTTP_INTERNAL_SERVER_ERROR,
		     "cannot create the upload directory %s: %s",
		     u->ui->conf.upload_dir, strerror(errno));
		return -1;
	}
	snprintf(u->dir, sizeof(u->dir), "%s/upload.XXXXXX",
		 u->ui->conf.upload_dir);
	if (!mkdtemp(u->dir)) {
		fail(u, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s: %s", u->dir,
		     strerror(errno));
		u->dir[0] = 0;
		return -1;
	}
	u->dirfd = open(u->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (u->dirfd < 0) {
		fail(u, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s: %s", u->dir,
		     strerror(errno));
		return -1;
	}
	return 0;
}

static void new_file(struct sl_upload *u, const char *filename)
{
	const char *why = bad_name(filename);

	if (u->fd >= 0) {
		close(u->fd);
		u->fd = -1;
	}
	if (why) {
		fail(u, MHD_HTTP_BAD_REQUEST,
		     "The file name '%s' was refused: %s. Nothing was sent.",
		     filename, why);
		return;
	}
	if (u->n_files == SL_UI_MAX_FILES) {
		fail(u, MHD_HTTP_BAD_REQUEST,
		     "More than %d files: send them in several envelopes, or as a directory with sealctl send.",
		     SL_UI_MAX_FILES);
		return;
	}
	if (u->dirfd < 0 && make_dir(u))
		return;
	u->fd = openat(u->dirfd, filename, O_WRONLY | O_CREAT | O_EXCL |
		       O_NOFOLLOW | O_CLOEXEC, 0600);
	if (u->fd < 0) {
		fail(u, MHD_HTTP_BAD_REQUEST, errno == EEXIST ?
		     "The file '%s' was attached twice: an envelope holds each name once." :
		     "Cannot store the upload '%s': %s", filename,
		     strerror(errno));
		return;
	}
	u->names[u->n_files] = strdup(filename);
	if (!u->names[u->n_files]) {
		fail(u, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		return;
	}
	u->n_files++;
}

static void field(char *out, size_t size, const char *data, uint64_t off,
		  size_t n, bool *too_long)
{
	if (off + n >= size) {
		*too_long = true;
		return;
	}
	memcpy(out + off, data, n);
	out[off + n] = 0;
}

static enum MHD_Result part(void *cls, enum MHD_ValueKind kind,
			    const char *key, const char *filename,
			    const char *content_type,
			    const char *transfer_encoding, const char *data,
			    uint64_t off, size_t size)
{
	struct sl_upload *u = cls;
	bool too_long = false;

	(void)kind; (void)content_type; (void)transfer_encoding;
	if (u->status)
		return MHD_YES;		/* the rest is read and dropped */
	if (!strcmp(key, "csrf")) {
		field(u->csrf, sizeof(u->csrf), data, off, size, &too_long);
		u->csrf_ok = !too_long && sl_ui_token_equal(u->csrf, u->ui->csrf);
	} else if (!strcmp(key, "to")) {
		field(u->to, sizeof(u->to), data, off, size, &too_long);
	} else if (!strcmp(key, "pick")) {
		if (!u->csrf_ok) {
			fail(u, MHD_HTTP_FORBIDDEN,
			     "The form's CSRF token is missing or wrong: reload the page and try again. Nothing was sent.");
			return MHD_YES;
		}
		if (!off) {
			if (u->n_picks == SL_UI_MAX_FILES) {
				fail(u, MHD_HTTP_BAD_REQUEST,
				     "More than %d files picked: send them in several envelopes, or pick their directory.",
				     SL_UI_MAX_FILES);
				return MHD_YES;
			}
			u->picks[u->n_picks] = calloc(1, PATH_MAX);
			if (!u->picks[u->n_picks]) {
				fail(u, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
				return MHD_YES;
			}
			u->n_picks++;
		}
		field(u->picks[u->n_picks - 1], PATH_MAX, data, off, size,
		      &too_long);
	} else if (!strcmp(key, "files") && filename) {
		if (!u->csrf_ok) {
			fail(u, MHD_HTTP_FORBIDDEN,
			     "The form's CSRF token is missing or wrong: reload the page and try again. Nothing was sent.");
			return MHD_YES;
		}
		/* a file input left empty: no name, no bytes */
		if (!*filename && !size && !off)
			return MHD_YES;
		if (!off)
			new_file(u, filename);
		if (u->status || !size)
			return MHD_YES;
		u->total += size;
		if (u->total > u->ui->conf.max_upload) {
			fail(u, MHD_HTTP_CONTENT_TOO_LARGE, "over");
			return MHD_YES;
		}
		if (u->fd >= 0 && sl_write_all(u->fd, data, size))
			fail(u, MHD_HTTP_INSUFFICIENT_STORAGE,
			     "Cannot store the upload in %s: %s", u->dir,
			     strerror(errno));
	}
	if (too_long)
		fail(u, MHD_HTTP_BAD_REQUEST, "The form field '%s' is too long.",
		     key);
	return MHD_YES;
}

struct sl_upload *sl_upload_start(const struct sl_ui *ui,
				  struct MHD_Connection *c)
{
	struct sl_upload *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->ui = ui;
	u->fd = u->dirfd = -1;
	u->pp = MHD_create_post_processor(c, SL_UI_POST_BUFFER, part, u);
	if (!u->pp)
		fail(u, MHD_HTTP_BAD_REQUEST,
		     "The envelope's form must come as multipart/form-data.");
	return u;
}

void sl_upload_data(struct sl_upload *u, const char *data, size_t size)
{
	if (u->pp && MHD_post_process(u->pp, data, size) != MHD_YES)
		fail(u, MHD_HTTP_BAD_REQUEST, "The form's body is malformed.");
}

/* ---- To sealined ----------------------------------------------------------- */

static int read_record(struct sl_ipc_reader *r, struct sl_ipc_record *rec,
		       char *err, size_t err_len)
{
	char *line;
	int ret = sl_ipc_read_line(r, &line, SL_UI_CALL_TIMEOUT_MS);

	if (ret) {
		snprintf(err, err_len, "sealined: %s", ret == -EPIPE ?
			 "closed the connection" : strerror(-ret));
		return -1;
	}
	if (sl_ipc_parse_record(line, rec)) {
		snprintf(err, err_len, "malformed answer from sealined");
		return -1;
	}
	if (!strcmp(rec->type, "err")) {
		snprintf(err, err_len, "%s", rec->text ? rec->text : "refused");
		return -1;
	}
	return 0;
}

/* "send TO" with the packed files on a pipe: the envelope's id into u. */
static int send_envelope(struct sl_upload *u, char *err, size_t err_len)
{
	struct sl_ipc_reader *r = calloc(1, sizeof(*r));
	const char *paths[2 * SL_UI_MAX_FILES];
	char request[SL_UI_FIELD_MAX + 8], why[512] = "", idbuf[40];
	struct sl_ipc_record rec;
	uint64_t files = 0, bytes = 0;
	int pipefd[2] = { -1, -1 }, fd, ret = -1;
	char *full[SL_UI_MAX_FILES] = { 0 };

	if (!r) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	fd = sl_ipc_connect(u->ui->conf.socket, err, err_len);
	if (fd < 0)
		goto out_free;
	r->fd = fd;
	if (pipe2(pipefd, O_CLOEXEC)) {
		snprintf(err, err_len, "pipe: %s", strerror(errno));
		goto out_close;
	}
	snprintf(request, sizeof(request), "send %s", u->to);
	if (sl_ipc_write_request_fd(fd, request, pipefd[0])) {
		snprintf(err, err_len, "cannot send to sealined");
		goto out_close;
	}
	close(pipefd[0]);
	pipefd[0] = -1;
	/* "ready id=..." before a byte is packed: a refusal comes now */
	if (read_record(r, &rec, err, err_len))
		goto out_close;
	snprintf(idbuf, sizeof(idbuf), "%s", sl_ui_get(&rec, "id", ""));
	for (size_t i = 0; i < u->n_files; i++) {
		if (asprintf(&full[i], "%s/%s", u->dir, u->names[i]) < 0) {
			full[i] = NULL;
			snprintf(err, err_len, "out of memory");
			goto out_close;
		}
		paths[i] = full[i];
	}
	for (size_t i = 0; i < u->n_picks; i++)
		paths[u->n_files + i] = u->picked[i];
	if (sl_env_pack_pipe(pipefd[1], paths, u->n_files + u->n_picks,
			     SL_ENV_ZSTD_LEVEL_DEFAULT, &files, &bytes, why,
			     sizeof(why))) {
		snprintf(err, err_len, "packing the files failed: %s", why);
		goto out_close;
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	for (;;) {
		if (read_record(r, &rec, err, err_len))
			goto out_close;
		if (!strcmp(rec.type, "ok"))
			break;
	}
	if (!sl_ui_envelope_id(idbuf)) {
		snprintf(err, err_len, "sealined named no envelope id");
		goto out_close;
	}
	snprintf(u->location, sizeof(u->location), "/outbox/%s", idbuf);
	ret = 0;
out_close:
	for (size_t i = 0; i < u->n_files; i++)
		free(full[i]);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	close(fd);
out_free:
	free(r);
	return ret;
}

static void remove_dir(struct sl_upload *u)
{
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
	for (size_t i = 0; i < u->n_files; i++)
		if (u->dirfd >= 0)
			unlinkat(u->dirfd, u->names[i], 0);
	if (u->dirfd >= 0)
		close(u->dirfd);
	u->dirfd = -1;
	if (u->dir[0])
		rmdir(u->dir);
	u->dir[0] = 0;
}

/* Each pick inside its folder; every name in the envelope once (the
 * archive holds each top-level name once, as the upload directory does). */
static void resolve_picks(struct sl_upload *u)
{
	char why[PATH_MAX + 128];

	if (u->n_files + u->n_picks > SL_UI_MAX_FILES) {
		fail(u, MHD_HTTP_BAD_REQUEST,
		     "More than %d files uploaded and picked: send them in several envelopes.",
		     SL_UI_MAX_FILES);
		return;
	}
	for (size_t i = 0; i < u->n_picks; i++) {
		const char *base;

		u->picked[i] = sl_ui_folder_pick(u->ui, u->picks[i], why,
						 sizeof(why));
		if (!u->picked[i]) {
			fail(u, MHD_HTTP_BAD_REQUEST,
			     "A picked file was refused: %s. Nothing was sent.",
			     why);
			return;
		}
		base = strrchr(u->picked[i], '/') + 1;
		for (size_t j = 0; j < u->n_files; j++)
			if (!strcmp(base, u->names[j]))
				goto twice;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(base, strrchr(u->picked[j], '/') + 1))
				goto twice;
		continue;
twice:
		fail(u, MHD_HTTP_BAD_REQUEST,
		     "Two files named '%s' were attached or picked: an envelope holds each name once.",
		     base);
		return;
	}
}

void sl_upload_finish(struct sl_upload *u, struct sl_page *pg)
{
	char err[600];

	if (u->pp) {
		MHD_destroy_post_processor(u->pp);
		u->pp = NULL;
	}
	if (u->fd >= 0) {
		close(u->fd);
		u->fd = -1;
	}
	if (!u->status && !u->csrf_ok)
		fail(u, MHD_HTTP_FORBIDDEN,
		     "The form's CSRF token is missing or wrong: reload the page and try again. Nothing was sent.");
	if (!u->status && !sl_account_valid(u->to))
		fail(u, MHD_HTTP_BAD_REQUEST,
		     "Choose the recipient from the address book (an account is 12 digits).");
	if (!u->status)
		resolve_picks(u);
	if (!u->status && !u->n_files && !u->n_picks)
		fail(u, MHD_HTTP_BAD_REQUEST,
		     "Attach at least one file, or tick one in a local folder.");
	if (!u->status && send_envelope(u, err, sizeof(err)))
		fail(u, MHD_HTTP_BAD_GATEWAY, "sealined did not take the envelope: %s",
		     err);
	remove_dir(u);
	if (u->status == MHD_HTTP_CONTENT_TOO_LARGE) {
		sl_upload_too_big(u->ui, pg);
		return;
	}
	if (u->status) {
		sl_page_envelope(u->ui, pg, u->error,
				 sl_account_valid(u->to) ? u->to : NULL, NULL,
				 NULL);
		pg->status = u->status;
		return;
	}
	pg->location = u->location;
}

void sl_upload_free(struct sl_upload *u)
{
	if (u->pp)
		MHD_destroy_post_processor(u->pp);
	remove_dir(u);
	for (size_t i = 0; i < u->n_files; i++)
		free(u->names[i]);
	for (size_t i = 0; i < u->n_picks; i++) {
		free(u->picks[i]);
		free(u->picked[i]);
	}
	free(u);
}
