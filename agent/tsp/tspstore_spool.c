// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The store's rows of store and forward (tspstore.h, "spool"), the part
 * that does not depend on the backend: the checks of every row before a
 * backend sees it, the state names, and the JSON form sealctl prints.
 * Documentation/store-and-forward.rst, "Rows", says what each field is.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "json.h"
#include "tspstore.h"

static const char *const state_names[SL_TSP_SPOOL_STATE_COUNT] = {
	[SL_TSP_SPOOL_RECEIVING] = "receiving",
	[SL_TSP_SPOOL_HELD] = "held",
	[SL_TSP_SPOOL_DELIVERING] = "delivering",
	[SL_TSP_SPOOL_DELIVERED] = "delivered",
	[SL_TSP_SPOOL_EXPIRED] = "expired",
	[SL_TSP_SPOOL_BOUNCED] = "bounced",
	[SL_TSP_SPOOL_ABANDONED] = "abandoned",
};

const char *sl_tsp_spool_state_name(enum sl_tsp_spool_state s)
{
	if ((unsigned int)s >= SL_TSP_SPOOL_STATE_COUNT)
		return "unknown";
	return state_names[s];
}

int sl_tsp_spool_state_parse(const char *name, enum sl_tsp_spool_state *s)
{
	for (unsigned int i = 0; i < SL_TSP_SPOOL_STATE_COUNT; ++i) {
		if (!strcmp(name, state_names[i])) {
			*s = (enum sl_tsp_spool_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool sl_tsp_spool_closed(enum sl_tsp_spool_state s)
{
	return s >= SL_TSP_SPOOL_DELIVERED && s < SL_TSP_SPOOL_STATE_COUNT;
}

static bool reason_valid(const char *s)
{
	size_t n = strnlen(s, SL_TSP_REASON_MAX + 1);

	if (n > SL_TSP_REASON_MAX)
		return false;
	for (size_t i = 0; i < n; ++i)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_' ||
		      (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

/* A receipt or notice: printable ASCII lines. */
static bool text_valid(const char *s)
{
	size_t n = strnlen(s, SL_TSP_SPOOL_TEXT_MAX + 1);

	if (n > SL_TSP_SPOOL_TEXT_MAX)
		return false;
	for (size_t i = 0; i < n; ++i)
		if (s[i] != '\n' && (s[i] < 0x20 || s[i] > 0x7e))
			return false;
	return true;
}

bool sl_tsp_window_valid(int w)
{
	return w == SL_TSP_WINDOW_NONE ||
	       (w >= 0 && w < SL_TSP_MINUTES_PER_DAY * SL_TSP_MINUTES_PER_DAY &&
		w / SL_TSP_MINUTES_PER_DAY != w % SL_TSP_MINUTES_PER_DAY);
}

static int row_check(struct sl_tsp_store *st, const struct sl_tsp_spool_row *r)
{
	if (!r->sid)
		return sl_tsp_fail(st, -EINVAL, "a spool id is not zero");
	if (!sl_account_valid(r->sender) || !sl_account_valid(r->recipient))
		return sl_tsp_fail(st, -EINVAL, "an account number is 12 digits");
	if ((unsigned int)r->state >= SL_TSP_SPOOL_STATE_COUNT)
		return sl_tsp_fail(st, -EINVAL, "no such spool state");
	if (r->size > INT64_MAX || r->bucket > INT64_MAX || r->bucket < r->size)
		return sl_tsp_fail(st, -EINVAL, "the bucket %" PRIu64 " is smaller than the envelope's %" PRIu64 " bytes",
				   r->bucket, r->size);
	if (r->state != SL_TSP_SPOOL_RECEIVING &&
	    r->state != SL_TSP_SPOOL_ABANDONED && !r->have_sha256)
		return sl_tsp_fail(st, -EINVAL, "an accepted envelope has its hash");
	if (!sl_tsp_window_valid(r->window))
		return sl_tsp_fail(st, -EINVAL, "a delivery window is two different times of day");
	if (!reason_valid(r->reason))
		return sl_tsp_fail(st, -EINVAL, "a reason is a code name (A-Z, 0-9, _)");
	if (!text_valid(r->receipt))
		return sl_tsp_fail(st, -EINVAL, "a receipt is at most %d bytes of printable ASCII",
				   SL_TSP_SPOOL_TEXT_MAX);
	if (sl_tsp_spool_closed(r->state) != (r->done_ms != 0))
		return sl_tsp_fail(st, -EINVAL, "a closed row has its end time, an open one none");
	if (r->collected_ms && !sl_tsp_spool_closed(r->state))
		return sl_tsp_fail(st, -EINVAL, "only a closed row is collected");
	return 0;
}

int sl_tsp_spool_insert(struct sl_tsp_store *st,
			const struct sl_tsp_spool_row *r, uint64_t quota_bytes,
			unsigned int quota_count, struct sl_tsp_spool_row *old)
{
	int ret = row_check(st, r);

	if (ret)
		return ret;
	if (r->state != SL_TSP_SPOOL_RECEIVING)
		return sl_tsp_fail(st, -EINVAL, "a spool row begins as receiving");
	if (!sl_tsp_instance_valid(r->instance))
		return sl_tsp_fail(st, -EINVAL, "an instance id is 1 to %d of A-Z a-z 0-9 . _ -",
				   SL_TSP_INSTANCE_MAX);
	if (quota_bytes > INT64_MAX)
		quota_bytes = INT64_MAX;
	memset(old, 0, sizeof(*old));
	return st->ops->spool_insert(st, r, quota_bytes, quota_count, old);
}

int sl_tsp_spool_get(struct sl_tsp_store *st, uint64_t sid,
		     struct sl_tsp_spool_row *r)
{
	memset(r, 0, sizeof(*r));
	return st->ops->spool_get(st, sid, r);
}

int sl_tsp_spool_update(struct sl_tsp_store *st, enum sl_tsp_spool_state from,
			const struct sl_tsp_spool_row *r)
{
	int ret = row_check(st, r);

	if (ret)
		return ret;
	return st->ops->spool_update(st, from, r);
}

int sl_tsp_spool_list(struct sl_tsp_store *st, bool open_only,
		      sl_tsp_spool_fn fn, void *arg)
{
	return st->ops->spool_list(st, open_only, fn, arg);
}

bool sl_tsp_spool_same(const struct sl_tsp_spool_row *a,
		       const struct sl_tsp_spool_row *b)
{
	return a->sid == b->sid &&
	       !memcmp(a->envelope, b->envelope, sizeof(a->envelope)) &&
	       !strcmp(a->sender, b->sender) &&
	       !strcmp(a->recipient, b->recipient) && a->size == b->size &&
	       a->bucket == b->bucket && a->have_sha256 == b->have_sha256 &&
	       (!a->have_sha256 || !memcmp(a->sha256, b->sha256, sizeof(a->sha256))) &&
	       a->state == b->state && !strcmp(a->instance, b->instance) &&
	       a->received_ms == b->received_ms &&
	       a->accepted_ms == b->accepted_ms &&
	       a->not_before_ms == b->not_before_ms && a->window == b->window &&
	       a->expires_ms == b->expires_ms && a->next_ms == b->next_ms &&
	       a->attempts == b->attempts &&
	       a->last_attempt_ms == b->last_attempt_ms &&
	       a->done_ms == b->done_ms && !strcmp(a->reason, b->reason) &&
	       !strcmp(a->receipt, b->receipt) &&
	       a->collected_ms == b->collected_ms;
}

int sl_tsp_spool_put(struct sl_tsp_store *st, const struct sl_tsp_spool_row *r)
{
	struct sl_tsp_spool_row old;
	int ret = row_check(st, r);

	if (ret)
		return ret;
	ret = sl_tsp_spool_get(st, r->sid, &old);
	if (!ret)
		return sl_tsp_spool_same(r, &old) ? 0 :
		       sl_tsp_fail(st, -EEXIST, "spool row %016" PRIx64 " differs from the one in the destination",
				   r->sid);
	if (ret != -ENOENT)
		return ret;
	ret = st->ops->spool_put(st, r);
	if (ret == -EEXIST)
		return sl_tsp_fail(st, -EEXIST, "spool row %016" PRIx64 ": the destination holds account %s's envelope with its id under another spool id",
				   r->sid, r->sender);
	return ret;
}

/* ------------------------------------------------------------ JSON */

static void json_time(FILE *f, const char *key, int64_t ms)
{
	char t[SL_TSP_TIME_STR_LEN + 1];

	fprintf(f, ", \"%s\": ", key);
	if (!ms) {
		fputs("null", f);
		return;
	}
	sl_tsp_time_format(t, ms);
	fprintf(f, "\"%s\"", t);
}

static void json_hex(FILE *f, const char *key, const uint8_t *b, size_t n)
{
	fprintf(f, ", \"%s\": \"", key);
	for (size_t i = 0; i < n; ++i)
		fprintf(f, "%02x", b[i]);
	fputc('"', f);
}

/*
 * What sealctl tsp spool --json shows of a row: ids, accounts, sizes,
 * times, attempts and the outcome, nothing else (the receipt's text stays
 * in the store: it is the sender's to collect).
 */
void sl_tsp_spool_json(FILE *f, const struct sl_tsp_spool_row *r)
{
	fprintf(f, "{\"spool_id\": \"%016" PRIx64 "\"", r->sid);
	json_hex(f, "envelope", r->envelope, sizeof(r->envelope));
	fputs(", \"sender\": ", f);
	sl_json_string(f, r->sender);
	fputs(", \"recipient\": ", f);
	sl_json_string(f, r->recipient);
	fprintf(f, ", \"size\": %" PRIu64 ", \"bucket\": %" PRIu64, r->size,
		r->bucket);
	fprintf(f, ", \"state\": \"%s\"", sl_tsp_spool_state_name(r->state));
	fputs(", \"tsp_instance\": ", f);
	sl_json_string(f, r->instance);
	json_time(f, "received_time", r->received_ms);
	json_time(f, "accepted_time", r->accepted_ms);
	json_time(f, "deliver_after", r->not_before_ms);
	fputs(", \"deliver_window\": ", f);
	if (r->window == SL_TSP_WINDOW_NONE)
		fputs("null", f);
	else
		fprintf(f, "\"%02d:%02d-%02d:%02d\"",
			r->window / SL_TSP_MINUTES_PER_DAY / 60,
			r->window / SL_TSP_MINUTES_PER_DAY % 60,
			r->window % SL_TSP_MINUTES_PER_DAY / 60,
			r->window % SL_TSP_MINUTES_PER_DAY % 60);
	json_time(f, "expires_time", r->expires_ms);
	json_time(f, "next_attempt_time", r->next_ms);
	fprintf(f, ", \"attempts\": %u", r->attempts);
	json_time(f, "last_attempt_time", r->last_attempt_ms);
	json_time(f, "done_time", r->done_ms);
	fputs(", \"held_s\": ", f);
	if (r->accepted_ms && r->done_ms)
		fprintf(f, "%" PRId64, (r->done_ms - r->accepted_ms) / 1000);
	else
		fputs("null", f);
	fputs(", \"reason\": ", f);
	if (r->reason[0])
		sl_json_string(f, r->reason);
	else
		fputs("null", f);
	fprintf(f, ", \"receipt_held\": %s", r->receipt[0] ? "true" : "false");
	json_time(f, "collected_time", r->collected_ms);
	fputc('}', f);
}
