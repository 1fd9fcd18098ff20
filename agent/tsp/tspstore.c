// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The backend-independent half of the TSP's store (tspstore.h): every
 * input is checked here, once, so a backend never sees a malformed
 * account number or an unterminated string, and every backend gives the
 * same messages for the same mistakes. Also the tracking id's wire form,
 * UTC time parsing and formatting, and the CSV and JSON export.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>

#include "json.h"
#include "tspstore.h"

static const char *const outcome_names[SL_TSP_OUTCOME_COUNT] = {
	[SL_TSP_OUTCOME_OPEN] = "open",
	[SL_TSP_OUTCOME_COMPLETED] = "completed",
	[SL_TSP_OUTCOME_BUSY] = "busy",
	[SL_TSP_OUTCOME_NO_ANSWER] = "no-answer",
	[SL_TSP_OUTCOME_NAK] = "nak",
	[SL_TSP_OUTCOME_ABANDONED] = "abandoned",
	[SL_TSP_OUTCOME_FAILED] = "failed",
	[SL_TSP_OUTCOME_INTERRUPTED] = "interrupted",
};

/* Retries of a random tracking id that collided with an existing one. */
#define SL_TSP_ID_TRIES		8

int sl_tsp_fail(struct sl_tsp_store *st, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
	return ret;
}

const char *sl_tsp_store_error(const struct sl_tsp_store *st)
{
	return st->err[0] ? st->err : "no error";
}

const char *sl_tsp_outcome_name(enum sl_tsp_outcome o)
{
	if ((unsigned int)o >= SL_TSP_OUTCOME_COUNT)
		return "unknown";
	return outcome_names[o];
}

int sl_tsp_outcome_parse(const char *name, enum sl_tsp_outcome *o)
{
	for (unsigned int i = 0; i < SL_TSP_OUTCOME_COUNT; ++i) {
		if (!strcmp(name, outcome_names[i])) {
			*o = (enum sl_tsp_outcome)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* ------------------------------------------------------------ checks */

static bool all_in(const char *s, size_t max, bool (*ok)(unsigned char c))
{
	size_t n = 0;

	for (; s[n]; ++n)
		if (n >= max || !ok((unsigned char)s[n]))
			return false;
	return n > 0;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       is_digit(c) || c == '.' || c == '_' || c == '-';
}

static bool is_printable(unsigned char c)
{
	return c >= 0x20 && c < 0x7f;
}

/*
 * A name may hold any UTF-8 text (company names are not ASCII) but no
 * control character: it ends up in terminals, CSV files and logs. Bytes
 * >= 0x80 are not validated as UTF-8 here; the JSON export escapes them.
 */
static bool is_name_text(unsigned char c)
{
	return c >= 0x20 && c != 0x7f;
}

bool sl_tsp_name_valid(const char *s)
{
	return s && all_in(s, SL_TSP_NAME_MAX, is_name_text) &&
	       s[0] != ' ' && s[strlen(s) - 1] != ' ';
}

bool sl_tsp_phone_valid(const char *s)
{
	return s && all_in(s, SL_TSP_PHONE_MAX, is_digit);
}

int sl_tsp_max_calls_parse(const char *s, unsigned int *n)
{
	unsigned long v = 0;

	/* 6 digits hold the limit; more (leading zeros included) are
	 * refused rather than counted, so no overflow is possible. */
	if (!s || !all_in(s, 6, is_digit))
		return -EINVAL;
	for (; *s; ++s)
		v = v * 10 + (unsigned long)(*s - '0');
	if (v > SL_TSP_MAX_CALLS_LIMIT)
		return -EINVAL;
	*n = (unsigned int)v;
	return 0;
}

bool sl_tsp_line_valid(const char *s)
{
	return s && all_in(s, SL_TSP_LINE_MAX, is_name_char);
}

bool sl_tsp_instance_valid(const char *s)
{
	return s && all_in(s, SL_TSP_INSTANCE_MAX, is_name_char);
}

/* What a modem delivers after NMBR= is not always digits ("P" private,
 * "O" out of area), so a CDR keeps any printable ASCII. */
bool sl_tsp_caller_id_valid(const char *s)
{
	return s && all_in(s, SL_TSP_CALLER_ID_MAX, is_printable);
}

static int check_number(struct sl_tsp_store *st, const char *what,
			const char *number)
{
	if (!number || !sl_account_valid(number))
		return sl_tsp_fail(st, -EINVAL,
				   "%s '%s' is not an account number (exactly %d digits)",
				   what, number ? number : "", SL_ACCOUNT_LEN);
	return 0;
}

static int check_binding(struct sl_tsp_store *st,
			 enum sl_tsp_binding_kind kind, const char *value)
{
	if (kind == SL_TSP_BIND_CALLER_ID) {
		if (!sl_tsp_phone_valid(value))
			return sl_tsp_fail(st, -EINVAL,
					   "caller ID '%s' is not 1 to %d digits",
					   value ? value : "", SL_TSP_PHONE_MAX);
		return 0;
	}
	if (kind == SL_TSP_BIND_LINE) {
		if (!sl_tsp_line_valid(value))
			return sl_tsp_fail(st, -EINVAL,
					   "line name '%s' is not 1 to %d of A-Z a-z 0-9 . _ -",
					   value ? value : "", SL_TSP_LINE_MAX);
		return 0;
	}
	return sl_tsp_fail(st, -EINVAL, "unknown binding kind %d", (int)kind);
}

/* ------------------------------------------------------------ open */

bool sl_tsp_store_transient(int err)
{
	switch (err) {
	case 0:
	case -EINVAL:
	case -EEXIST:
	case -ENOENT:
	case -EALREADY:
	case -EUSERS:
	case -ENOSPC:
	case -EPROTO:
		return false;
	default:
		return true;
	}
}

static bool starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/*
 * Which backend a location names, and what it passes on (tspstore.h):
 * PostgreSQL for a URI or a libpq connection string (a '=' before any
 * '/'), SQLite for "sqlite:PATH" or any other path.
 */
static const struct sl_tsp_store_ops *backend_of(const char **location,
						 char *err, size_t err_len)
{
	const char *loc = *location, *eq = strchr(loc, '='),
		   *slash = strchr(loc, '/'), *colon = strchr(loc, ':');

	if (starts_with(loc, "postgresql://") || starts_with(loc, "postgres://"))
		return &sl_tsp_pg_ops;
	if (starts_with(loc, "sqlite:")) {
		*location = loc + strlen("sqlite:");
		return &sl_tsp_sqlite_ops;
	}
	/* "NAME:REST" names an unknown backend unless it looks like a path
	 * or a connection string ("hostaddr=::1"). */
	if (colon && (!slash || colon < slash) && (!eq || colon < eq)) {
		snprintf(err, err_len,
			 "unknown store backend '%.*s' in '%.200s' (sqlite:PATH, postgresql://..., or a libpq connection string such as 'service=NAME')",
			 (int)(colon - loc), loc, loc);
		return NULL;
	}
	if (eq && (!slash || eq < slash) && loc[0] != '.')
		return &sl_tsp_pg_ops;
	return &sl_tsp_sqlite_ops;
}

void sl_tsp_store_redact(char *out, size_t len, const char *location)
{
	const char *p, *at, *colon, *end;
	size_t n;

	/* "password=SECRET" in a connection string. */
	p = strstr(location, "password=");
	if (p && (p == location || p[-1] == ' ')) {
		end = strchr(p, ' ');
		n = (size_t)(p - location) + strlen("password=");
		snprintf(out, len, "%.*sxxx%s", (int)n, location, end ? end : "");
		return;
	}
	/* "scheme://user:SECRET@host" in a URI. */
	p = strstr(location, "://");
	at = p ? strchr(p + 3, '@') : NULL;
	colon = p ? strchr(p + 3, ':') : NULL;
	if (at && colon && colon < at) {
		snprintf(out, len, "%.*sxxx%s", (int)(colon + 1 - location),
			 location, at);
		return;
	}
	snprintf(out, len, "%s", location);
}

int sl_tsp_store_open(struct sl_tsp_store *st, const char *location,
		      const char *instance, unsigned int flags, char *err,
		      size_t err_len)
{
	const struct sl_tsp_store_ops *ops;
	int ret;

	memset(st, 0, sizeof(*st));
	if (!location || !*location) {
		snprintf(err, err_len, "no store location given");
		return -EINVAL;
	}
	ops = backend_of(&location, err, err_len);
	if (!ops)
		return -EPROTONOSUPPORT;
	if (!*location) {
		snprintf(err, err_len, "sqlite: needs a path");
		return -EINVAL;
	}
	if (instance && *instance) {
		if (!sl_tsp_instance_valid(instance)) {
			snprintf(err, err_len,
				 "TSP instance id '%s' is not 1 to %d of A-Z a-z 0-9 . _ -",
				 instance, SL_TSP_INSTANCE_MAX);
			return -EINVAL;
		}
		snprintf(st->instance, sizeof(st->instance), "%s", instance);
	} else if (flags & SL_TSP_OPEN_SERVER) {
		snprintf(err, err_len, "a TSP server needs an instance id");
		return -EINVAL;
	}
	st->ops = ops;
	ret = ops->open(st, location, flags);
	if (ret) {
		snprintf(err, err_len, "%s", sl_tsp_store_error(st));
		memset(st, 0, sizeof(*st));
	}
	return ret;
}

void sl_tsp_store_close(struct sl_tsp_store *st)
{
	if (st->ops)
		st->ops->close(st);
	memset(st, 0, sizeof(*st));
}

static int need_instance(struct sl_tsp_store *st)
{
	if (!st->instance[0])
		return sl_tsp_fail(st, -EINVAL,
				   "this needs a store opened with a TSP instance id");
	return 0;
}

int sl_tsp_lease_renew(struct sl_tsp_store *st, int64_t now_ms,
		       int64_t lease_ms, bool *held)
{
	bool was = false;
	int ret = need_instance(st);

	if (!ret && (now_ms < 0 || lease_ms <= 0))
		ret = sl_tsp_fail(st, -EINVAL, "a lease needs a time and a length");
	if (!ret)
		ret = st->ops->lease_renew(st, now_ms, now_ms + lease_ms, &was);
	if (held)
		*held = was;
	return ret;
}

int sl_tsp_lease_release(struct sl_tsp_store *st)
{
	int ret = need_instance(st);

	return ret ? ret : st->ops->lease_release(st);
}

int sl_tsp_store_recover(struct sl_tsp_store *st, int64_t now_ms, bool own,
			 unsigned int *n)
{
	int ret = need_instance(st);

	*n = 0;
	return ret ? ret : st->ops->cdr_recover(st, now_ms, own, n);
}

int sl_tsp_store_info(struct sl_tsp_store *st, struct sl_tsp_store_info *info)
{
	memset(info, 0, sizeof(*info));
	return st->ops->info(st, info);
}

/* ------------------------------------------------------------ accounts */

static int check_max_calls(struct sl_tsp_store *st, unsigned int n)
{
	if (n > SL_TSP_MAX_CALLS_LIMIT)
		return sl_tsp_fail(st, -EINVAL,
				   "a limit of concurrent calls is 0 (none) to %d",
				   SL_TSP_MAX_CALLS_LIMIT);
	return 0;
}


int sl_tsp_account_add(struct sl_tsp_store *st, const struct sl_tsp_account *a)
{
	int ret = check_number(st, "account", a->number);

	if (ret)
		return ret;
	if (!sl_tsp_name_valid(a->name))
		return sl_tsp_fail(st, -EINVAL,
				   "name must be 1 to %d bytes, no control characters and no leading or trailing space",
				   SL_TSP_NAME_MAX);
	if (!sl_tsp_phone_valid(a->phone))
		return sl_tsp_fail(st, -EINVAL,
				   "phone number '%s' is not 1 to %d digits",
				   a->phone, SL_TSP_PHONE_MAX);
	ret = check_max_calls(st, a->max_calls);
	return ret ? ret : st->ops->account_add(st, a);
}

int sl_tsp_account_get(struct sl_tsp_store *st, const char *number,
		       struct sl_tsp_account *a)
{
	int ret = check_number(st, "account", number);

	memset(a, 0, sizeof(*a));
	return ret ? ret : st->ops->account_get(st, number, a);
}

int sl_tsp_account_by_key(struct sl_tsp_store *st,
			  const uint8_t pub[SL_TSP_KEY_LEN],
			  struct sl_tsp_account *a)
{
	memset(a, 0, sizeof(*a));
	return st->ops->account_by_key(st, pub, a);
}

int sl_tsp_account_list(struct sl_tsp_store *st, sl_tsp_account_fn fn,
			void *arg)
{
	return st->ops->account_list(st, fn, arg);
}

int sl_tsp_account_set_enabled(struct sl_tsp_store *st, const char *number,
			       bool enabled)
{
	int ret = check_number(st, "account", number);

	return ret ? ret : st->ops->account_set_enabled(st, number, enabled);
}

int sl_tsp_account_set_key(struct sl_tsp_store *st, const char *number,
			   const uint8_t pub[SL_TSP_KEY_LEN])
{
	int ret = check_number(st, "account", number);

	return ret ? ret : st->ops->account_set_key(st, number, pub);
}

int sl_tsp_account_remove(struct sl_tsp_store *st, const char *number)
{
	int ret = check_number(st, "account", number);

	return ret ? ret : st->ops->account_remove(st, number);
}

int sl_tsp_account_set_max_calls(struct sl_tsp_store *st, const char *number,
				 unsigned int n)
{
	int ret = check_number(st, "account", number);

	if (!ret)
		ret = check_max_calls(st, n);
	return ret ? ret : st->ops->account_set_max_calls(st, number, n);
}

/* ------------------------------------------------------------ bindings */

static int check_account_binding(struct sl_tsp_store *st, const char *number,
				 enum sl_tsp_binding_kind kind,
				 const char *value)
{
	int ret = check_number(st, "account", number);

	return ret ? ret : check_binding(st, kind, value);
}

int sl_tsp_binding_add(struct sl_tsp_store *st, const char *number,
		       enum sl_tsp_binding_kind kind, const char *value)
{
	int ret = check_account_binding(st, number, kind, value);

	return ret ? ret : st->ops->binding_add(st, number, kind, value);
}

int sl_tsp_binding_remove(struct sl_tsp_store *st, const char *number,
			  enum sl_tsp_binding_kind kind, const char *value)
{
	int ret = check_account_binding(st, number, kind, value);

	return ret ? ret : st->ops->binding_remove(st, number, kind, value);
}

int sl_tsp_binding_list(struct sl_tsp_store *st, const char *number,
			sl_tsp_binding_fn fn, void *arg)
{
	int ret = check_number(st, "account", number);

	return ret ? ret : st->ops->binding_list(st, number, fn, arg);
}

int sl_tsp_caller_bound(struct sl_tsp_store *st, const char *number,
			const char *caller_id, const char *line, bool *allowed)
{
	bool bound = false, any = false;
	int ret;

	*allowed = false;
	ret = check_number(st, "account", number);
	if (ret)
		return ret;
	/* A caller ID that is not digits (none, "P", "O") binds nothing. */
	if (caller_id && sl_tsp_phone_valid(caller_id)) {
		ret = st->ops->binding_check(st, number, SL_TSP_BIND_CALLER_ID,
					     caller_id, &bound, &any);
		if (ret)
			return ret;
	}
	if (!bound && line && *line) {
		if (!sl_tsp_line_valid(line))
			return check_binding(st, SL_TSP_BIND_LINE, line);
		ret = st->ops->binding_check(st, number, SL_TSP_BIND_LINE, line,
					     &bound, &any);
		if (ret)
			return ret;
	}
	*allowed = bound;
	return 0;
}

/* ------------------------------------------------------------ authorisations */

int sl_tsp_auth_add(struct sl_tsp_store *st, const char *recipient,
		    const char *caller)
{
	int ret = check_number(st, "recipient", recipient);

	if (!ret)
		ret = check_number(st, "caller", caller);
	if (!ret && !strcmp(recipient, caller))
		ret = sl_tsp_fail(st, -EINVAL,
				  "an account cannot be its own authorised caller");
	return ret ? ret : st->ops->auth_add(st, recipient, caller);
}

int sl_tsp_auth_remove(struct sl_tsp_store *st, const char *recipient,
		       const char *caller)
{
	int ret = check_number(st, "recipient", recipient);

	if (!ret)
		ret = check_number(st, "caller", caller);
	return ret ? ret : st->ops->auth_remove(st, recipient, caller);
}

int sl_tsp_auth_list(struct sl_tsp_store *st, const char *recipient,
		     sl_tsp_number_fn fn, void *arg)
{
	int ret = check_number(st, "recipient", recipient);

	return ret ? ret : st->ops->auth_list(st, recipient, fn, arg);
}

int sl_tsp_caller_authorised(struct sl_tsp_store *st, const char *recipient,
			     const char *caller, bool *allowed)
{
	int ret = check_number(st, "recipient", recipient);

	*allowed = false;
	if (!ret)
		ret = check_number(st, "caller", caller);
	return ret ? ret : st->ops->auth_check(st, recipient, caller, allowed);
}

/* ------------------------------------------------------------ CDRs */

int sl_tsp_tracking_new(uint64_t *id)
{
	do {
		if (getrandom(id, sizeof(*id), 0) != sizeof(*id))
			return errno ? -errno : -EIO;
	} while (!*id);	/* 0 means "no record" to callers */
	return 0;
}

int sl_tsp_cdr_open_id(struct sl_tsp_store *st,
		       const struct sl_tsp_cdr_start *s, uint64_t id)
{
	int ret = need_instance(st);

	if (ret)
		return ret;
	if (!id)
		return sl_tsp_fail(st, -EINVAL, "tracking id 0 is no record's");
	if (!sl_tsp_line_valid(s->line))
		return check_binding(st, SL_TSP_BIND_LINE, s->line);
	if (s->caller_id && *s->caller_id && !sl_tsp_caller_id_valid(s->caller_id))
		return sl_tsp_fail(st, -EINVAL,
				   "caller ID is not 1 to %d printable ASCII characters",
				   SL_TSP_CALLER_ID_MAX);
	if (s->ring_ms < 0)
		return sl_tsp_fail(st, -EINVAL, "ring time before 1970");
	return st->ops->cdr_open(st, s, id);
}

int sl_tsp_cdr_open(struct sl_tsp_store *st, const struct sl_tsp_cdr_start *s,
		    uint64_t *id)
{
	int ret = -EEXIST;

	*id = 0;
	for (int i = 0; i < SL_TSP_ID_TRIES && ret == -EEXIST; ++i) {
		uint64_t try;

		ret = sl_tsp_tracking_new(&try);
		if (ret)
			return sl_tsp_fail(st, ret, "no random tracking id: %s",
					   strerror(-ret));
		ret = sl_tsp_cdr_open_id(st, s, try);
		if (!ret)
			*id = try;
	}
	return ret;
}

int sl_tsp_cdr_update(struct sl_tsp_store *st, uint64_t id,
		      const struct sl_tsp_cdr_update *u)
{
	int ret = 0;

	if (u->set & ~(SL_TSP_CDR_SET_CALLER | SL_TSP_CDR_SET_RECIPIENT |
		       SL_TSP_CDR_SET_ANSWER | SL_TSP_CDR_SET_BYTES))
		return sl_tsp_fail(st, -EINVAL, "unknown CDR fields 0x%x", u->set);
	if (u->set & SL_TSP_CDR_SET_CALLER)
		ret = check_number(st, "caller", u->caller_account);
	if (!ret && (u->set & SL_TSP_CDR_SET_RECIPIENT))
		ret = check_number(st, "recipient", u->recipient_account);
	if (ret)
		return ret;
	if ((u->set & SL_TSP_CDR_SET_BYTES) &&
	    (u->bytes_up > INT64_MAX || u->bytes_down > INT64_MAX))
		return sl_tsp_fail(st, -EINVAL, "byte count out of range");
	if (u->now_ms < 0 ||
	    ((u->set & SL_TSP_CDR_SET_ANSWER) && u->answer_ms <= 0))
		return sl_tsp_fail(st, -EINVAL, "time before 1970");
	return st->ops->cdr_update(st, id, u);
}

int sl_tsp_cdr_close(struct sl_tsp_store *st, uint64_t id, int64_t end_ms,
		     enum sl_tsp_outcome outcome, const char *nak_reason)
{
	bool has_reason = nak_reason && *nak_reason;

	if (outcome <= SL_TSP_OUTCOME_OPEN || outcome >= SL_TSP_OUTCOME_COUNT)
		return sl_tsp_fail(st, -EINVAL,
				   "a record closes with an outcome (completed, busy, ...), not '%s'",
				   sl_tsp_outcome_name(outcome));
	if (outcome == SL_TSP_OUTCOME_NAK && !has_reason)
		return sl_tsp_fail(st, -EINVAL, "a NAK outcome needs its reason code");
	if (outcome != SL_TSP_OUTCOME_NAK && has_reason)
		return sl_tsp_fail(st, -EINVAL, "only a NAK outcome has a reason code");
	if (has_reason && !all_in(nak_reason, SL_TSP_REASON_MAX, is_name_char))
		return sl_tsp_fail(st, -EINVAL,
				   "reason code '%s' is not 1 to %d of A-Z a-z 0-9 . _ -",
				   nak_reason, SL_TSP_REASON_MAX);
	if (end_ms < 0)
		return sl_tsp_fail(st, -EINVAL, "end time before 1970");
	return st->ops->cdr_close(st, id, end_ms, outcome,
				  has_reason ? nak_reason : NULL);
}

int sl_tsp_cdr_get(struct sl_tsp_store *st, uint64_t id, struct sl_tsp_cdr *c)
{
	memset(c, 0, sizeof(*c));
	return st->ops->cdr_get(st, id, c);
}

int sl_tsp_cdr_list(struct sl_tsp_store *st, int64_t from_ms, int64_t to_ms,
		    sl_tsp_cdr_fn fn, void *arg)
{
	return st->ops->cdr_list(st, from_ms, to_ms, fn, arg);
}

bool sl_tsp_cdr_same(const struct sl_tsp_cdr *a, const struct sl_tsp_cdr *b)
{
	return a->tracking_id == b->tracking_id &&
	       !strcmp(a->instance, b->instance) && !strcmp(a->line, b->line) &&
	       !strcmp(a->caller_id, b->caller_id) && a->ring_ms == b->ring_ms &&
	       a->answer_ms == b->answer_ms && a->end_ms == b->end_ms &&
	       a->updated_ms == b->updated_ms &&
	       !strcmp(a->caller_account, b->caller_account) &&
	       !strcmp(a->recipient_account, b->recipient_account) &&
	       a->bytes_up == b->bytes_up && a->bytes_down == b->bytes_down &&
	       a->outcome == b->outcome && !strcmp(a->nak_reason, b->nak_reason);
}

int sl_tsp_cdr_put(struct sl_tsp_store *st, const struct sl_tsp_cdr *c)
{
	bool open = c->outcome == SL_TSP_OUTCOME_OPEN;

	if (!c->tracking_id || !sl_tsp_instance_valid(c->instance) ||
	    !sl_tsp_line_valid(c->line) ||
	    (c->caller_id[0] && !sl_tsp_caller_id_valid(c->caller_id)) ||
	    (c->caller_account[0] && !sl_account_valid(c->caller_account)) ||
	    (c->recipient_account[0] && !sl_account_valid(c->recipient_account)) ||
	    (unsigned int)c->outcome >= SL_TSP_OUTCOME_COUNT ||
	    open != !c->end_ms || c->ring_ms < 0 || c->answer_ms < 0 ||
	    c->end_ms < 0 || c->updated_ms < 0 || c->bytes_up > INT64_MAX ||
	    c->bytes_down > INT64_MAX ||
	    (c->outcome == SL_TSP_OUTCOME_NAK) != !!c->nak_reason[0] ||
	    (c->nak_reason[0] && !all_in(c->nak_reason, SL_TSP_REASON_MAX,
					 is_name_char)))
		return sl_tsp_fail(st, -EINVAL, "call record %016llx is malformed",
				   (unsigned long long)c->tracking_id);
	return st->ops->cdr_put(st, c);
}

int sl_tsp_call_admit(struct sl_tsp_store *st, uint64_t id, const char *caller,
		      const char *recipient, enum sl_tsp_limited *limited)
{
	int ret = check_number(st, "caller", caller);

	*limited = SL_TSP_LIMIT_NONE;
	if (!ret)
		ret = check_number(st, "recipient", recipient);
	return ret ? ret : st->ops->call_admit(st, id, caller, recipient,
					       limited);
}

int64_t sl_tsp_cdr_duration_ms(const struct sl_tsp_cdr *c)
{
	if (!c->answer_ms || !c->end_ms || c->end_ms < c->answer_ms)
		return 0;
	return c->end_ms - c->answer_ms;
}

void sl_tsp_tracking_to_bytes(uint64_t id, uint8_t out[SL_TSP_TRACKING_LEN])
{
	for (int i = SL_TSP_TRACKING_LEN - 1; i >= 0; --i, id >>= 8)
		out[i] = (uint8_t)id;
}

uint64_t sl_tsp_tracking_from_bytes(const uint8_t in[SL_TSP_TRACKING_LEN])
{
	uint64_t id = 0;

	for (int i = 0; i < SL_TSP_TRACKING_LEN; ++i)
		id = id << 8 | in[i];
	return id;
}

/* ------------------------------------------------------------ time */

/* n digits at s into *v; false unless all n are digits. */
static bool digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; ++i) {
		if (!is_digit((unsigned char)s[i]))
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

int sl_tsp_time_parse(const char *s, int64_t *first, int64_t *last)
{
	int y, mo, d, h = 0, mi = 0, sec = 0;
	int64_t span = 86400;
	struct tm tm = { 0 };
	size_t len = strlen(s);
	time_t t;

	if (len && s[len - 1] == 'Z')
		--len;
	if (len < 10 || !digits(s, 4, &y) || s[4] != '-' ||
	    !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d))
		return -EINVAL;
	if (len > 10) {
		if ((s[10] != 'T' && s[10] != ' ') || len < 16 ||
		    !digits(s + 11, 2, &h) || s[13] != ':' ||
		    !digits(s + 14, 2, &mi))
			return -EINVAL;
		span = 60;
		if (len > 16) {
			if (len != 19 || s[16] != ':' || !digits(s + 17, 2, &sec))
				return -EINVAL;
			span = 1;
		}
	}
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 59)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* timegm() normalises 2026-02-30 to March 2nd: refuse it instead. */
	if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)
		return -EINVAL;
	*first = (int64_t)t * 1000;
	*last = *first + span * 1000 - 1;
	return 0;
}

void sl_tsp_time_format(char out[SL_TSP_TIME_STR_LEN + 1], int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	char buf[96];
	struct tm tm;

	if (ms < 0 || !gmtime_r(&t, &tm)) {
		snprintf(out, SL_TSP_TIME_STR_LEN + 1, "invalid");
		return;
	}
	/* gmtime_r() keeps every field in range, so this is always 24
	 * characters; the compiler cannot know, hence the larger buffer. */
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	memcpy(out, buf, SL_TSP_TIME_STR_LEN);
	out[SL_TSP_TIME_STR_LEN] = '\0';
}

/* ------------------------------------------------------------ export */

static const char *const csv_columns[] = {
	"tracking_id", "tsp_instance", "line", "caller_id", "ring_time",
	"answer_time", "end_time", "duration_s", "caller_account",
	"recipient_account", "bytes_caller_to_recipient",
	"bytes_recipient_to_caller", "outcome", "nak_reason",
};

void sl_tsp_csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; ++s) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

void sl_tsp_cdr_csv_header(FILE *f)
{
	for (size_t i = 0; i < sizeof(csv_columns) / sizeof(csv_columns[0]); ++i)
		fprintf(f, "%s%s", i ? "," : "", csv_columns[i]);
	fputs("\r\n", f);
}

static void opt_time(char out[SL_TSP_TIME_STR_LEN + 1], int64_t ms)
{
	if (ms)
		sl_tsp_time_format(out, ms);
	else
		out[0] = '\0';
}

/* Duration in seconds with millisecond precision, "12.345". */
static void duration_str(char *out, size_t len, const struct sl_tsp_cdr *c)
{
	int64_t d = sl_tsp_cdr_duration_ms(c);

	snprintf(out, len, "%" PRId64 ".%03d", d / 1000, (int)(d % 1000));
}

/* A record's times as both exports write them ("" for one not yet
 * known). */
struct cdr_times {
	char ring[SL_TSP_TIME_STR_LEN + 1], answer[SL_TSP_TIME_STR_LEN + 1];
	char end[SL_TSP_TIME_STR_LEN + 1], dur[32];
};

static void cdr_times(struct cdr_times *t, const struct sl_tsp_cdr *c)
{
	sl_tsp_time_format(t->ring, c->ring_ms);
	opt_time(t->answer, c->answer_ms);
	opt_time(t->end, c->end_ms);
	duration_str(t->dur, sizeof(t->dur), c);
}

void sl_tsp_cdr_csv_row(FILE *f, const struct sl_tsp_cdr *c)
{
	struct cdr_times t;

	cdr_times(&t, c);
	fprintf(f, "%016" PRIx64 ",", c->tracking_id);
	sl_tsp_csv_field(f, c->instance);
	fputc(',', f);
	sl_tsp_csv_field(f, c->line);
	fputc(',', f);
	sl_tsp_csv_field(f, c->caller_id);
	fprintf(f, ",%s,%s,%s,%s,%s,%s,%" PRIu64 ",%" PRIu64 ",%s,%s\r\n",
		t.ring, t.answer, t.end, t.dur, c->caller_account,
		c->recipient_account, c->bytes_up, c->bytes_down,
		sl_tsp_outcome_name(c->outcome), c->nak_reason);
}

static void json_opt_string(FILE *f, const char *key, const char *v)
{
	fprintf(f, ", \"%s\": ", key);
	if (*v)
		sl_json_string(f, v);
	else
		fputs("null", f);
}

void sl_tsp_cdr_json(FILE *f, const struct sl_tsp_cdr *c)
{
	struct cdr_times t;

	cdr_times(&t, c);
	fprintf(f, "{\"tracking_id\": \"%016" PRIx64 "\"", c->tracking_id);
	fputs(", \"tsp_instance\": ", f);
	sl_json_string(f, c->instance);
	fputs(", \"line\": ", f);
	sl_json_string(f, c->line);
	json_opt_string(f, "caller_id", c->caller_id);
	fprintf(f, ", \"ring_time\": \"%s\"", t.ring);
	json_opt_string(f, "answer_time", t.answer);
	json_opt_string(f, "end_time", t.end);
	fprintf(f, ", \"duration_s\": %s", t.dur);
	json_opt_string(f, "caller_account", c->caller_account);
	json_opt_string(f, "recipient_account", c->recipient_account);
	fprintf(f, ", \"bytes_caller_to_recipient\": %" PRIu64
		", \"bytes_recipient_to_caller\": %" PRIu64
		", \"outcome\": \"%s\"",
		c->bytes_up, c->bytes_down, sl_tsp_outcome_name(c->outcome));
	json_opt_string(f, "nak_reason", c->nak_reason);
	fputc('}', f);
}
