// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The session log. See sessionlog.h.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "sessionlog.h"

int sl_slog_open(struct sl_slog *log, const char *path, char *err,
		 size_t err_len)
{
	struct stat st;

	log->fd = -1;
	if (strlen(path) >= sizeof(log->path)) {
		snprintf(err, err_len, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(log->path, path, strlen(path) + 1);
	log->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
		       O_NOFOLLOW | O_NOCTTY, 0600);
	if (log->fd < 0) {
		int ret = -errno;

		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(log->fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & 077))
		fchmod(log->fd, 0600);
	return 0;
}

void sl_slog_close(struct sl_slog *log)
{
	if (log->fd >= 0)
		close(log->fd);
	log->fd = -1;
}

int sl_slog_reopen(struct sl_slog *log, char *err, size_t err_len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", log->path);
	sl_slog_close(log);
	return sl_slog_open(log, path, err, err_len);
}

void sl_slog_time(char out[32], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) ||
	    !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "%" PRId64, t);
}

int sl_slog_parse_time(const char *s, int64_t *t)
{
	struct tm tm = { 0 };
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);

	if (!end || *end)
		return -EINVAL;
	*t = (int64_t)timegm(&tm);
	return 0;
}

/* ------------------------------------------------------------ writing */

struct out {
	char *buf;
	size_t size, len;
	bool overflow;
};

static void put(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->size - o->len) {
		o->overflow = true;
		return;
	}
	o->len += (size_t)n;
}

static void put_string(struct out *o, const char *key, const char *s,
		       bool null_if_empty)
{
	put(o, "%s\"%s\": ", o->len > 1 ? ", " : "", key);
	if (null_if_empty && !*s) {
		put(o, "null");
		return;
	}
	if (o->overflow)
		return;
	/* The writer all JSON output shares (json.h). */
	if (sl_json_quote(o->buf + o->len, o->size - o->len, s) >=
	    o->size - o->len) {
		o->overflow = true;
		return;
	}
	o->len += strlen(o->buf + o->len);
}

static void put_time(struct out *o, const char *key, int64_t t)
{
	char s[32];

	sl_slog_time(s, t);
	put_string(o, key, s, false);
}

int sl_slog_format(char *buf, size_t size, const struct sl_session_rec *rec)
{
	struct out o = { .buf = buf, .size = size };

	put(&o, "{");
	put_time(&o, "start", rec->start);
	put_time(&o, "end", rec->end);
	put_string(&o, "line", rec->line, false);
	put_string(&o, "kind", rec->kind, false);
	put_string(&o, "role", rec->role, true);
	put_string(&o, "peer", rec->peer, true);
	put(&o, ", \"bytes_tx\": %" PRIu64 ", \"bytes_rx\": %" PRIu64
	    ", \"rekeys\": %" PRIu32, rec->bytes_tx, rec->bytes_rx, rec->rekeys);
	put_string(&o, "outcome", rec->outcome, false);
	put_string(&o, "reason", rec->reason, true);
	put_string(&o, "detail", rec->detail, true);
	put(&o, "}\n");
	if (o.overflow || o.len > SL_SLOG_MAX_RECORD)
		return -EOVERFLOW;
	return (int)o.len;
}

int sl_slog_append(struct sl_slog *log, const struct sl_session_rec *rec)
{
	char buf[SL_SLOG_MAX_RECORD + 1];
	int n = sl_slog_format(buf, sizeof(buf), rec);
	ssize_t w;

	if (n < 0)
		return n;
	if (log->fd < 0)
		return -EBADF;
	/* One write() of the whole line: with O_APPEND, concurrent writers
	 * and a crash can at worst leave a torn last line, which readers
	 * skip. */
	do {
		w = write(log->fd, buf, (size_t)n);
	} while (w < 0 && errno == EINTR);
	if (w < 0)
		return -errno;
	if (w != n)
		return -EIO;
	if (fsync(log->fd) < 0)
		return -errno;
	return 0;
}

/* ------------------------------------------------------------ reading */

struct in {
	const char *p, *end;
};

static void skip_ws(struct in *in)
{
	while (in->p < in->end && (*in->p == ' ' || *in->p == '\t'))
		in->p++;
}

static bool take(struct in *in, char c)
{
	skip_ws(in);
	if (in->p < in->end && *in->p == c) {
		in->p++;
		return true;
	}
	return false;
}

static int hex4(const char *p)
{
	int v = 0;

	for (int i = 0; i < 4; ++i) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* A JSON string into out (truncated to size - 1; control characters and
 * non-ASCII as '?'). */
static int get_string(struct in *in, char *out, size_t size)
{
	size_t n = 0;

	if (!take(in, '"'))
		return -EINVAL;
	while (in->p < in->end && *in->p != '"') {
		char c = *in->p++;

		if ((unsigned char)c < 0x20)
			return -EINVAL;
		if (c == '\\') {
			if (in->p >= in->end)
				return -EINVAL;
			c = *in->p++;
			switch (c) {
			case '"': case '\\': case '/': break;
			/* Control characters are never handed on: a
			 * reader prints these fields to a terminal. */
			case 'b': case 'f': case 'n': case 'r': case 't':
				c = '?';
				break;
			case 'u': {
				int v;

				if (in->end - in->p < 4)
					return -EINVAL;
				v = hex4(in->p);
				if (v < 0)
					return -EINVAL;
				in->p += 4;
				c = v >= 0x20 && v < 0x7f ? (char)v : '?';
				break;
			}
			default:
				return -EINVAL;
			}
		}
		if (n + 1 < size)
			out[n++] = c;
	}
	if (in->p >= in->end)
		return -EINVAL;
	in->p++;
	if (size)
		out[n] = '\0';
	return 0;
}

enum vtype { V_STRING, V_NUMBER, V_NULL, V_BOOL };

struct value {
	enum vtype type;
	char s[SL_SLOG_MAX_RECORD];
	uint64_t n;
};

static int get_value(struct in *in, struct value *v)
{
	skip_ws(in);
	if (in->p >= in->end)
		return -EINVAL;
	if (*in->p == '"') {
		v->type = V_STRING;
		return get_string(in, v->s, sizeof(v->s));
	}
	if (isdigit((unsigned char)*in->p)) {
		uint64_t n = 0;

		while (in->p < in->end && isdigit((unsigned char)*in->p)) {
			uint64_t d = (uint64_t)(*in->p++ - '0');

			if (n > (UINT64_MAX - d) / 10)
				return -EINVAL;
			n = n * 10 + d;
		}
		v->type = V_NUMBER;
		v->n = n;
		return 0;
	}
	if (in->end - in->p >= 4 && !memcmp(in->p, "null", 4)) {
		in->p += 4;
		v->type = V_NULL;
		return 0;
	}
	if (in->end - in->p >= 4 && !memcmp(in->p, "true", 4)) {
		in->p += 4;
		v->type = V_BOOL;
		v->n = 1;
		return 0;
	}
	if (in->end - in->p >= 5 && !memcmp(in->p, "false", 5)) {
		in->p += 5;
		v->type = V_BOOL;
		v->n = 0;
		return 0;
	}
	/* Negative numbers, fractions, nested values: not in this log. */
	return -EINVAL;
}

static int set_str(char *dst, size_t size, const struct value *v,
		   bool nullable)
{
	size_t n;

	if (v->type == V_NULL && nullable) {
		dst[0] = '\0';
		return 0;
	}
	if (v->type != V_STRING)
		return -EINVAL;
	/* Truncated to fit, as any reader of a longer field would. */
	n = strnlen(v->s, size - 1);
	memcpy(dst, v->s, n);
	dst[n] = '\0';
	return 0;
}

enum { HAS_START = 1, HAS_LINE = 2, HAS_OUTCOME = 4 };

static int set_field(struct sl_session_rec *rec, const char *key,
		     const struct value *v, unsigned int *has)
{
	if (!strcmp(key, "start")) {
		*has |= HAS_START;
		return v->type == V_STRING ? sl_slog_parse_time(v->s, &rec->start) :
		       -EINVAL;
	}
	if (!strcmp(key, "end"))
		return v->type == V_STRING ? sl_slog_parse_time(v->s, &rec->end) :
		       -EINVAL;
	if (!strcmp(key, "line")) {
		*has |= HAS_LINE;
		return set_str(rec->line, sizeof(rec->line), v, false);
	}
	if (!strcmp(key, "kind"))
		return set_str(rec->kind, sizeof(rec->kind), v, true);
	if (!strcmp(key, "role"))
		return set_str(rec->role, sizeof(rec->role), v, true);
	if (!strcmp(key, "peer"))
		return set_str(rec->peer, sizeof(rec->peer), v, true);
	if (!strcmp(key, "outcome")) {
		*has |= HAS_OUTCOME;
		return set_str(rec->outcome, sizeof(rec->outcome), v, false);
	}
	if (!strcmp(key, "reason"))
		return set_str(rec->reason, sizeof(rec->reason), v, true);
	if (!strcmp(key, "detail"))
		return set_str(rec->detail, sizeof(rec->detail), v, true);
	if (!strcmp(key, "bytes_tx") || !strcmp(key, "bytes_rx") ||
	    !strcmp(key, "rekeys")) {
		if (v->type != V_NUMBER)
			return -EINVAL;
		if (!strcmp(key, "rekeys")) {
			if (v->n > UINT32_MAX)
				return -EINVAL;
			rec->rekeys = (uint32_t)v->n;
		} else if (!strcmp(key, "bytes_tx")) {
			rec->bytes_tx = v->n;
		} else {
			rec->bytes_rx = v->n;
		}
		return 0;
	}
	return 0;	/* a newer version's key */
}

int sl_slog_parse(const char *line, size_t len, struct sl_session_rec *rec)
{
	struct in in = { line, line + len };
	struct value *v;
	unsigned int has = 0;
	char key[32];
	int ret = -EINVAL;

	memset(rec, 0, sizeof(*rec));
	if (len > SL_SLOG_MAX_RECORD)
		return -EINVAL;
	v = malloc(sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (!take(&in, '{'))
		goto out;
	if (!take(&in, '}')) {
		do {
			if (get_string(&in, key, sizeof(key)) || !take(&in, ':') ||
			    get_value(&in, v) || set_field(rec, key, v, &has))
				goto out;
		} while (take(&in, ','));
		if (!take(&in, '}'))
			goto out;
	}
	skip_ws(&in);
	if (in.p != in.end)
		goto out;
	if ((has & (HAS_START | HAS_LINE | HAS_OUTCOME)) ==
	    (HAS_START | HAS_LINE | HAS_OUTCOME))
		ret = 0;
out:
	free(v);
	return ret;
}

int sl_slog_read(FILE *f, sl_slog_fn fn, void *arg, unsigned int *bad)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int ret = 0;

	*bad = 0;
	errno = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		struct sl_session_rec rec;
		size_t len = (size_t)n;

		if (len && line[len - 1] == '\n')
			--len;
		if (!len)
			continue;
		if (sl_slog_parse(line, len, &rec)) {
			++*bad;
			continue;
		}
		ret = fn(&rec, arg);
		if (ret)
			break;
	}
	if (!ret && ferror(f))
		ret = errno ? -errno : -EIO;
	free(line);
	return ret;
}
