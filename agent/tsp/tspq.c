// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The TSP's store on a thread of its own, with the record backlog
 * (tspq.h says why and how). The loop's side only ever takes the mutex
 * to link a request in or out; everything that touches the store or the
 * backlog file runs on the thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include "clock.h"
#include "log.h"
#include "call.h"
#include "tspq.h"

/* Tracking ids that collided with another record's at once, at most
 * (a collision of random 64-bit ids: in practice never more than one). */
#define SL_TSPQ_REMAP_MAX	16

struct remap {
	uint64_t from, to;
};

struct sl_tspq {
	struct sl_tsp_store st;
	char backlog[PATH_MAX];
	int64_t lease_ms;

	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct sl_tspq_req *head, *tail;	/* to do */
	struct sl_tspq_req *done, *done_tail;	/* answered */
	int efd;
	bool stop;

	/* The thread's own. */
	atomic_bool up;			/* the store answers, no backlog */
	atomic_uint backlog_n;		/* events in the backlog file */
	atomic_uint pending;		/* requests queued or in progress */
	int64_t next_lease;		/* monotonic: renew then */
	int64_t next_retry;		/* monotonic: try the store then */
	struct remap remap[SL_TSPQ_REMAP_MAX];
};

/* ------------------------------------------------------------ backlog text */

static const char *const type_words[] = {
	[SL_TSPQ_CDR_OPEN] = "open",
	[SL_TSPQ_CDR_UPDATE] = "update",
	[SL_TSPQ_CDR_CLOSE] = "close",
};

/*
 * One event a line, tab-separated, the first two fields the event and the
 * tracking id (16 hex digits):
 *	open	ID	RING_MS	LINE	CALLER_ID
 *	update	ID	SET	NOW_MS	CALLER	RECIPIENT	ANSWER_MS	UP	DOWN
 *	close	ID	END_MS	OUTCOME	NAK_REASON
 * Text fields never hold a tab or a line break (tspstore.c's checks: line
 * names, caller IDs and reasons are printable without tabs, accounts
 * digits).
 */
int sl_tspq_format(char *out, size_t len, const struct sl_tspq_req *r)
{
	int n;

	switch (r->type) {
	case SL_TSPQ_CDR_OPEN:
		n = snprintf(out, len, "open\t%016" PRIx64 "\t%" PRId64 "\t%s\t%s\n",
			     r->id, r->open.ring_ms, r->open.line,
			     r->open.caller_id);
		break;
	case SL_TSPQ_CDR_UPDATE:
		n = snprintf(out, len, "update\t%016" PRIx64 "\t%u\t%" PRId64
			     "\t%s\t%s\t%" PRId64 "\t%" PRIu64 "\t%" PRIu64 "\n",
			     r->id, r->update.u.set, r->update.u.now_ms,
			     r->update.caller, r->update.recipient,
			     r->update.u.answer_ms, r->update.u.bytes_up,
			     r->update.u.bytes_down);
		break;
	case SL_TSPQ_CDR_CLOSE:
		n = snprintf(out, len, "close\t%016" PRIx64 "\t%" PRId64 "\t%s\t%s\n",
			     r->id, r->close.end_ms,
			     sl_tsp_outcome_name(r->close.outcome), r->close.reason);
		break;
	default:
		return -EINVAL;
	}
	return n < 0 || (size_t)n >= len ? -EMSGSIZE : n;
}

/* Split line (modified) at tabs into at most max fields; their count. */
static int split(char *line, char **f, int max)
{
	int n = 0;

	line[strcspn(line, "\n")] = '\0';
	while (n < max) {
		f[n++] = line;
		line = strchr(line, '\t');
		if (!line)
			break;
		*line++ = '\0';
	}
	return line ? -1 : n;
}

static bool parse_u64(const char *s, int base, uint64_t *v)
{
	char *end;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	*v = strtoull(s, &end, base);
	return !errno && !*end;
}

static bool parse_i64(const char *s, int64_t *v)
{
	char *end;

	if (!*s)
		return false;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return !errno && !*end;
}

static bool copy_field(char *dst, size_t len, const char *s)
{
	if (strlen(s) >= len)
		return false;
	memcpy(dst, s, strlen(s) + 1);
	return true;
}

int sl_tspq_parse(const char *text, struct sl_tspq_req *r)
{
	char line[SL_TSPQ_LINE_MAX], *f[10];
	uint64_t set;
	int n;

	memset(r, 0, sizeof(*r));
	if (!copy_field(line, sizeof(line), text))
		return -EINVAL;
	n = split(line, f, 10);
	if (n < 2 || !parse_u64(f[1], 16, &r->id) || !r->id)
		return -EINVAL;
	if (!strcmp(f[0], type_words[SL_TSPQ_CDR_OPEN]) && n == 5) {
		r->type = SL_TSPQ_CDR_OPEN;
		if (parse_i64(f[2], &r->open.ring_ms) &&
		    copy_field(r->open.line, sizeof(r->open.line), f[3]) &&
		    copy_field(r->open.caller_id, sizeof(r->open.caller_id), f[4]))
			return 0;
	} else if (!strcmp(f[0], type_words[SL_TSPQ_CDR_UPDATE]) && n == 9) {
		struct sl_tsp_cdr_update *u = &r->update.u;

		r->type = SL_TSPQ_CDR_UPDATE;
		if (parse_u64(f[2], 10, &set) && set <= UINT32_MAX &&
		    parse_i64(f[3], &u->now_ms) &&
		    copy_field(r->update.caller, sizeof(r->update.caller), f[4]) &&
		    copy_field(r->update.recipient, sizeof(r->update.recipient), f[5]) &&
		    parse_i64(f[6], &u->answer_ms) &&
		    parse_u64(f[7], 10, &u->bytes_up) &&
		    parse_u64(f[8], 10, &u->bytes_down)) {
			u->set = (unsigned int)set;
			u->caller_account = r->update.caller;
			u->recipient_account = r->update.recipient;
			return 0;
		}
	} else if (!strcmp(f[0], type_words[SL_TSPQ_CDR_CLOSE]) && n == 5) {
		r->type = SL_TSPQ_CDR_CLOSE;
		if (parse_i64(f[2], &r->close.end_ms) &&
		    !sl_tsp_outcome_parse(f[3], &r->close.outcome) &&
		    copy_field(r->close.reason, sizeof(r->close.reason), f[4]))
			return 0;
	}
	return -EINVAL;
}

/* ------------------------------------------------------------ the store */

/* A tracking id the store knows under another (a collision). */
static uint64_t stored_id(struct sl_tspq *q, uint64_t id)
{
	for (int i = 0; i < SL_TSPQ_REMAP_MAX; ++i)
		if (q->remap[i].from == id)
			return q->remap[i].to;
	return id;
}

static void forget_id(struct sl_tspq *q, uint64_t id)
{
	for (int i = 0; i < SL_TSPQ_REMAP_MAX; ++i)
		if (q->remap[i].from == id)
			q->remap[i] = (struct remap){ 0 };
}

/*
 * Open a record. Its id came from the loop, which has logged it and will
 * send it; another record holding it already is a collision of random
 * ids: this call's record gets a fresh id, and every later event of the
 * call is redirected to it.
 */
static int open_record(struct sl_tspq *q, uint64_t id,
		       const struct sl_tsp_cdr_start *s, bool replay)
{
	int ret = sl_tsp_cdr_open_id(&q->st, s, id);
	uint64_t fresh;

	if (ret != -EEXIST || replay)
		return ret;
	for (int i = 0; i < SL_TSPQ_REMAP_MAX; ++i) {
		if (q->remap[i].from)
			continue;
		ret = sl_tsp_cdr_open(&q->st, s, &fresh);
		if (ret)
			return ret;
		q->remap[i] = (struct remap){ id, fresh };
		sl_log(LOG_WARNING, "call %016" PRIx64 ": its tracking id is another record's already: its record is %016" PRIx64,
		       id, fresh);
		return 0;
	}
	return ret;
}

/* Apply one record event to the store; 0 when it is there now. */
static int apply(struct sl_tspq *q, const struct sl_tspq_req *r, bool replay)
{
	uint64_t id = stored_id(q, r->id);
	int ret;

	switch (r->type) {
	case SL_TSPQ_CDR_OPEN: {
		struct sl_tsp_cdr_start s = {
			.line = r->open.line, .caller_id = r->open.caller_id,
			.ring_ms = r->open.ring_ms,
		};

		return open_record(q, r->id, &s, replay);
	}
	case SL_TSPQ_CDR_UPDATE: {
		struct sl_tsp_cdr_update u = r->update.u;

		u.caller_account = r->update.caller;
		u.recipient_account = r->update.recipient;
		ret = sl_tsp_cdr_update(&q->st, id, &u);
		/* Replayed after the close it preceded: done already. */
		return replay && ret == -EALREADY ? 0 : ret;
	}
	case SL_TSPQ_CDR_CLOSE:
		ret = sl_tsp_cdr_close(&q->st, id, r->close.end_ms,
				       r->close.outcome,
				       r->close.reason[0] ? r->close.reason : NULL);
		if (replay && ret == -EALREADY)
			ret = 0;
		if (!ret)
			forget_id(q, r->id);
		return ret;
	default:
		return -EINVAL;
	}
}

static void set_down(struct sl_tspq *q, const char *what)
{
	if (atomic_exchange(&q->up, false))
		sl_log(LOG_ERR, "account store unreachable (%s: %s): new calls are refused (NAK UNAVAILABLE), records go to the backlog %s until it answers again",
		       what, sl_tsp_store_error(&q->st), q->backlog);
	q->next_retry = sl_now_ms() + SL_TSPQ_RETRY_MS;
}

/* ------------------------------------------------------------ backlog */

static int backlog_append(struct sl_tspq *q, const struct sl_tspq_req *r)
{
	char line[SL_TSPQ_LINE_MAX];
	int n = sl_tspq_format(line, sizeof(line), r), fd, ret = 0;

	if (n < 0)
		return n;
	fd = open(q->backlog, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
		  O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	/* One write, then on disk before the next event is taken. */
	if (write(fd, line, (size_t)n) != n || fdatasync(fd) < 0)
		ret = errno ? -errno : -EIO;
	close(fd);
	if (!ret)
		atomic_fetch_add(&q->backlog_n, 1);
	return ret;
}

/* Keep a line the store refused for good beside the backlog, for the
 * operator: "<backlog>.rejected". */
static void backlog_reject(struct sl_tspq *q, const char *line, const char *why)
{
	char path[PATH_MAX + 16];
	int fd;

	sl_log(LOG_ERR, "backlog: the store refuses '%.*s': %s (kept in %s.rejected)",
	       (int)strcspn(line, "\n"), line, why, q->backlog);
	snprintf(path, sizeof(path), "%s.rejected", q->backlog);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return;
	if (write(fd, line, strlen(line)) < 0 || fdatasync(fd) < 0)
		sl_log(LOG_ERR, "backlog: %s: %s", path, strerror(errno));
	close(fd);
}

/*
 * Write the whole backlog to the store, in order, then empty it. A
 * transient failure leaves it as it is (every event is idempotent, so the
 * next try starts from its first line again). *n: events written.
 */
static int backlog_replay(struct sl_tspq *q, unsigned int *n)
{
	char line[SL_TSPQ_LINE_MAX];
	struct sl_tspq_req r;
	FILE *f;
	int ret = 0, fd;

	*n = 0;
	f = fopen(q->backlog, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (fgets(line, sizeof(line), f)) {
		if (!strchr(line, '\n') && !feof(f)) {
			backlog_reject(q, line, "line too long");
			continue;
		}
		if (sl_tspq_parse(line, &r)) {
			backlog_reject(q, line, "not a backlog line");
			continue;
		}
		ret = apply(q, &r, true);
		if (sl_tsp_store_transient(ret))
			break;
		if (ret)
			backlog_reject(q, line, sl_tsp_store_error(&q->st));
		ret = 0;
		(*n)++;
	}
	if (!ret && ferror(f))
		ret = -EIO;
	fclose(f);
	if (ret)
		return ret;
	/* All in the store: empty the file, durably. */
	fd = open(q->backlog, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	if (!ret)
		atomic_store(&q->backlog_n, 0);
	return ret;
}

/* Count the backlog's lines (at start, for sealctl status). */
static unsigned int backlog_count(const char *path)
{
	unsigned int n = 0;
	FILE *f = fopen(path, "re");
	int c;

	if (!f)
		return 0;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* ------------------------------------------------------------ leases */

static int renew_and_sweep(struct sl_tspq *q, bool *held)
{
	int64_t now = sl_wall_ms();
	unsigned int n;
	int ret = sl_tsp_lease_renew(&q->st, now, q->lease_ms, held);

	if (!ret)
		ret = sl_tsp_store_recover(&q->st, now, false, &n);
	if (!ret && n)
		sl_log(LOG_NOTICE, "%u open call records of instances whose lease expired closed as interrupted",
		       n);
	q->next_lease = sl_now_ms() + q->lease_ms / 3;
	return ret;
}

/* The store is down: try it, replay the backlog, and it is up again. */
static void retry(struct sl_tspq *q)
{
	unsigned int n;
	bool held;
	int ret = renew_and_sweep(q, &held);

	if (!ret)
		ret = backlog_replay(q, &n);
	if (ret) {
		q->next_retry = sl_now_ms() + SL_TSPQ_RETRY_MS;
		return;
	}
	atomic_store(&q->up, true);
	sl_log(LOG_NOTICE, "account store reachable again: %u backlog events written, new calls accepted",
	       n);
}

/* ------------------------------------------------------------ checks */

static void refuse(struct sl_tspq_caller *c, uint8_t reason, uint8_t detail,
		   enum sl_tsp_outcome outcome)
{
	c->reason = reason;
	c->detail = detail;
	c->outcome = outcome;
}

/* The store failed in the middle of a check. */
static void check_failed(struct sl_tspq *q, struct sl_tspq_caller *c, int ret)
{
	snprintf(c->why, sizeof(c->why), "account store: %s",
		 sl_tsp_store_error(&q->st));
	if (sl_tsp_store_transient(ret)) {
		set_down(q, "checking a call");
		refuse(c, SL_NAK_UNAVAILABLE, 0, SL_TSP_OUTCOME_NAK);
	} else {
		refuse(c, SL_NAK_INTERNAL, 0, SL_TSP_OUTCOME_FAILED);
	}
}

/* The record of the call names its accounts as soon as they are known. */
static int name_in_record(struct sl_tspq *q, uint64_t id, unsigned int set,
			  const char *number)
{
	struct sl_tsp_cdr_update u = {
		.set = set, .caller_account = number,
		.recipient_account = number, .now_ms = sl_wall_ms(),
	};

	return sl_tsp_cdr_update(&q->st, stored_id(q, id), &u);
}

/* The checks of handshake.rst, in order, on the caller that proved its
 * key (routing.c carries out the answer). */
static void check_caller(struct sl_tspq *q, uint64_t id, struct sl_tspq_caller *c)
{
	struct sl_tsp_account caller, rcpt;
	enum sl_tsp_limited limited;
	bool ok;
	int ret;

	refuse(c, SL_NAK_NONE, 0, SL_TSP_OUTCOME_OPEN);
	if (!atomic_load(&q->up)) {
		refuse(c, SL_NAK_UNAVAILABLE, 0, SL_TSP_OUTCOME_NAK);
		snprintf(c->why, sizeof(c->why), "the account store is unreachable");
		return;
	}
	ret = sl_tsp_account_by_key(&q->st, c->pub, &caller);
	if (ret == -ENOENT) {
		refuse(c, SL_NAK_UNKNOWN_ACCOUNT, SL_NAK_DETAIL_CALLER,
		       SL_TSP_OUTCOME_NAK);
		return;
	}
	if (!ret)
		ret = name_in_record(q, id, SL_TSP_CDR_SET_CALLER, caller.number);
	if (ret)
		goto failed;
	memcpy(c->caller, caller.number, sizeof(c->caller));
	if (strcmp(caller.number, c->claimed)) {
		snprintf(c->why, sizeof(c->why), "the caller's key is account %s's, but it claims %s: possible impersonation",
			 caller.number, c->claimed);
		refuse(c, SL_NAK_IDENTITY_MISMATCH, SL_NAK_DETAIL_CALLER,
		       SL_TSP_OUTCOME_NAK);
		return;
	}
	if (!caller.enabled) {
		refuse(c, SL_NAK_ACCOUNT_DISABLED, SL_NAK_DETAIL_CALLER,
		       SL_TSP_OUTCOME_NAK);
		return;
	}
	ret = sl_tsp_caller_bound(&q->st, caller.number, c->caller_id, c->line,
				  &ok);
	if (ret)
		goto failed;
	if (!ok) {
		snprintf(c->why, sizeof(c->why), "account %s called from caller ID '%s', which is not bound to it",
			 caller.number, c->caller_id[0] ? c->caller_id : "(none)");
		refuse(c, SL_NAK_CALLER_ID_MISMATCH, SL_NAK_DETAIL_CALLER,
		       SL_TSP_OUTCOME_NAK);
		return;
	}
	if (c->purpose == SL_CALL_PURPOSE_COLLECT)
		return;		/* only the caller's own receipts */
	ret = sl_tsp_account_get(&q->st, c->peer, &rcpt);
	if (ret == -ENOENT) {
		refuse(c, SL_NAK_UNKNOWN_ACCOUNT, SL_NAK_DETAIL_RECIPIENT,
		       SL_TSP_OUTCOME_NAK);
		return;
	}
	if (!ret)
		ret = name_in_record(q, id, SL_TSP_CDR_SET_RECIPIENT, rcpt.number);
	if (ret)
		goto failed;
	memcpy(c->recipient, rcpt.number, sizeof(c->recipient));
	if (!rcpt.enabled) {
		refuse(c, SL_NAK_ACCOUNT_DISABLED, SL_NAK_DETAIL_RECIPIENT,
		       SL_TSP_OUTCOME_NAK);
		return;
	}
	ret = sl_tsp_caller_authorised(&q->st, rcpt.number, caller.number, &ok);
	if (ret)
		goto failed;
	if (!ok) {
		refuse(c, SL_NAK_NOT_AUTHORISED, SL_NAK_DETAIL_RECIPIENT,
		       SL_TSP_OUTCOME_NAK);
		return;
	}
	/* A deposit reaches the recipient later, over a call of T's own
	 * (store-and-forward.rst): nothing to dial, no call to admit. */
	if (c->purpose == SL_CALL_PURPOSE_DEPOSIT)
		return;
	if (!rcpt.phone[0]) {
		snprintf(c->why, sizeof(c->why), "account %s has no phone number",
			 rcpt.number);
		refuse(c, SL_NAK_NO_ANSWER, SL_NAK_DETAIL_RECIPIENT,
		       SL_TSP_OUTCOME_NO_ANSWER);
		return;
	}
	ret = sl_tsp_call_admit(&q->st, stored_id(q, id), caller.number,
				rcpt.number, &limited);
	if (ret == -EUSERS) {
		snprintf(c->why, sizeof(c->why), "%s", sl_tsp_store_error(&q->st));
		refuse(c, SL_NAK_BUSY, limited == SL_TSP_LIMIT_CALLER ?
		       SL_NAK_DETAIL_CALLER : SL_NAK_DETAIL_RECIPIENT,
		       SL_TSP_OUTCOME_BUSY);
		return;
	}
	if (ret)
		goto failed;
	snprintf(c->phone, sizeof(c->phone), "%s", rcpt.phone);
	return;

failed:
	check_failed(q, c, ret);
}

static void check_answerer(struct sl_tspq *q, struct sl_tspq_answerer *a)
{
	struct sl_tsp_account acct;
	int ret;

	a->account[0] = '\0';
	if (!atomic_load(&q->up)) {
		a->unavailable = true;
		return;
	}
	ret = sl_tsp_account_by_key(&q->st, a->pub, &acct);
	if (!ret)
		memcpy(a->account, acct.number, sizeof(a->account));
	else if (sl_tsp_store_transient(ret)) {
		set_down(q, "checking an answerer");
		a->unavailable = true;
	}
}

/* ------------------------------------------------------------ the thread */

static void record_event(struct sl_tspq *q, struct sl_tspq_req *r)
{
	int ret;

	if (atomic_load(&q->up)) {
		ret = apply(q, r, false);
		if (!sl_tsp_store_transient(ret)) {
			if (ret) {
				char line[SL_TSPQ_LINE_MAX];

				sl_tspq_format(line, sizeof(line), r);
				sl_log(LOG_ERR, "call %016" PRIx64 ": record: %s (%.*s)",
				       r->id, sl_tsp_store_error(&q->st),
				       (int)strcspn(line, "\n"), line);
			}
			return;
		}
		set_down(q, "writing a call record");
	}
	ret = backlog_append(q, r);
	if (ret)
		sl_log(LOG_CRIT, "call %016" PRIx64 ": the store is unreachable and the backlog %s cannot be written (%s): this record event is lost",
		       r->id, q->backlog, strerror(-ret));
}

static void handle(struct sl_tspq *q, struct sl_tspq_req *r)
{
	uint64_t one = 1;

	switch (r->type) {
	case SL_TSPQ_CHECK_CALLER:
		check_caller(q, r->id, &r->caller);
		break;
	case SL_TSPQ_CHECK_ANSWERER:
		check_answerer(q, &r->answerer);
		break;
	default:
		record_event(q, r);
		free(r);
		atomic_fetch_sub(&q->pending, 1);
		return;
	}
	pthread_mutex_lock(&q->lock);
	r->next = NULL;
	if (q->done_tail)
		q->done_tail->next = r;
	else
		q->done = r;
	q->done_tail = r;
	pthread_mutex_unlock(&q->lock);
	atomic_fetch_sub(&q->pending, 1);
	if (write(q->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		sl_log(LOG_ERR, "store queue: eventfd: %s", strerror(errno));
}

/* The next thing the thread must do on its own, monotonic ms. */
static int64_t next_tick(struct sl_tspq *q)
{
	return atomic_load(&q->up) ? q->next_lease : q->next_retry;
}

static void *run(void *arg)
{
	struct sl_tspq *q = arg;

	for (;;) {
		struct sl_tspq_req *r;
		int64_t now = sl_now_ms(), due = next_tick(q);

		pthread_mutex_lock(&q->lock);
		while (!q->head && !q->stop && now < due) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (due - now) / 1000;
			ts.tv_nsec += (long)((due - now) % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&q->wake, &q->lock, &ts);
			now = sl_now_ms();
		}
		r = q->head;
		if (r) {
			q->head = r->next;
			if (!q->head)
				q->tail = NULL;
		}
		if (!r && q->stop) {
			pthread_mutex_unlock(&q->lock);
			break;
		}
		pthread_mutex_unlock(&q->lock);
		if (now >= due) {
			if (atomic_load(&q->up)) {
				bool held;

				if (renew_and_sweep(q, &held))
					set_down(q, "renewing the lease");
			} else {
				retry(q);
			}
		}
		if (r)
			handle(q, r);
	}
	return NULL;
}

/* ------------------------------------------------------------ the loop's side */

static void enqueue(struct sl_tspq *q, struct sl_tspq_req *r)
{
	r->next = NULL;
	atomic_fetch_add(&q->pending, 1);
	pthread_mutex_lock(&q->lock);
	if (q->tail)
		q->tail->next = r;
	else
		q->head = r;
	q->tail = r;
	pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
}

struct sl_tspq_req *sl_tspq_req_new(enum sl_tspq_type type, uint64_t id,
				    void *ctx)
{
	struct sl_tspq_req *r = calloc(1, sizeof(*r));

	if (r) {
		r->type = type;
		r->id = id;
		r->ctx = ctx;
	}
	return r;
}

void sl_tspq_ask(struct sl_tspq *q, struct sl_tspq_req *r)
{
	enqueue(q, r);
}

/* An event that cannot even be queued (out of memory) is logged with
 * everything it says, so that the operator can still bill it. */
static void lost(const char *what, uint64_t id)
{
	sl_log(LOG_CRIT, "call %016" PRIx64 ": out of memory: record event '%s' not queued",
	       id, what);
}

void sl_tspq_cdr_open(struct sl_tspq *q, uint64_t id,
		      const struct sl_tsp_cdr_start *s)
{
	struct sl_tspq_req *r = sl_tspq_req_new(SL_TSPQ_CDR_OPEN, id, NULL);

	if (!r) {
		lost("open", id);
		return;
	}
	snprintf(r->open.line, sizeof(r->open.line), "%s", s->line);
	snprintf(r->open.caller_id, sizeof(r->open.caller_id), "%s",
		 s->caller_id ? s->caller_id : "");
	r->open.ring_ms = s->ring_ms;
	enqueue(q, r);
}

void sl_tspq_cdr_update(struct sl_tspq *q, uint64_t id,
			const struct sl_tsp_cdr_update *u)
{
	struct sl_tspq_req *r = sl_tspq_req_new(SL_TSPQ_CDR_UPDATE, id, NULL);

	if (!r) {
		lost("update", id);
		return;
	}
	r->update.u = *u;
	snprintf(r->update.caller, sizeof(r->update.caller), "%s",
		 (u->set & SL_TSP_CDR_SET_CALLER) && u->caller_account ?
		 u->caller_account : "");
	snprintf(r->update.recipient, sizeof(r->update.recipient), "%s",
		 (u->set & SL_TSP_CDR_SET_RECIPIENT) && u->recipient_account ?
		 u->recipient_account : "");
	r->update.u.caller_account = NULL;
	r->update.u.recipient_account = NULL;
	enqueue(q, r);
}

void sl_tspq_cdr_close(struct sl_tspq *q, uint64_t id, int64_t end_ms,
		       enum sl_tsp_outcome outcome, const char *nak_reason)
{
	struct sl_tspq_req *r = sl_tspq_req_new(SL_TSPQ_CDR_CLOSE, id, NULL);

	if (!r) {
		lost("close", id);
		return;
	}
	r->close.end_ms = end_ms;
	r->close.outcome = outcome;
	snprintf(r->close.reason, sizeof(r->close.reason), "%s",
		 nak_reason ? nak_reason : "");
	enqueue(q, r);
}

struct sl_tspq_req *sl_tspq_answer(struct sl_tspq *q)
{
	struct sl_tspq_req *r;

	pthread_mutex_lock(&q->lock);
	r = q->done;
	if (r) {
		q->done = r->next;
		if (!q->done)
			q->done_tail = NULL;
		r->next = NULL;
	}
	pthread_mutex_unlock(&q->lock);
	return r;
}

void sl_tspq_ack(struct sl_tspq *q)
{
	uint64_t v;

	if (read(q->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		sl_log(LOG_ERR, "store queue: eventfd: %s", strerror(errno));
}

bool sl_tspq_up(struct sl_tspq *q)
{
	return atomic_load(&q->up);
}

unsigned int sl_tspq_backlog(struct sl_tspq *q)
{
	return atomic_load(&q->backlog_n);
}

unsigned int sl_tspq_pending(struct sl_tspq *q)
{
	return atomic_load(&q->pending);
}

int sl_tspq_start(struct sl_tspq **qp, struct sl_tsp_store *st,
		  const struct sl_tspq_conf *conf, int *efd,
		  struct sl_tspq_started *started, char *err, size_t err_len)
{
	struct sl_tspq *q;
	int64_t now = sl_wall_ms();
	int ret;

	memset(started, 0, sizeof(*started));
	q = calloc(1, sizeof(*q));
	if (!q) {
		sl_tsp_store_close(st);
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	q->st = *st;
	memset(st, 0, sizeof(*st));
	q->lease_ms = conf->lease_ms;
	q->efd = -1;
	if (snprintf(q->backlog, sizeof(q->backlog), "%s", conf->backlog) >=
	    (int)sizeof(q->backlog)) {
		ret = -ENAMETOOLONG;
		snprintf(err, err_len, "backlog: path too long");
		goto out_free;
	}
	atomic_store(&q->backlog_n, backlog_count(q->backlog));
	/* An earlier run's events first, then its open records (and an
	 * expired instance's) closed, then our lease. */
	ret = backlog_replay(q, &started->replayed);
	if (ret) {
		snprintf(err, err_len, "replaying the backlog %s: %s", q->backlog,
			 ret == -EIO ? sl_tsp_store_error(&q->st) : strerror(-ret));
		goto out_free;
	}
	ret = sl_tsp_store_recover(&q->st, now, true, &started->recovered);
	if (!ret)
		ret = sl_tsp_lease_renew(&q->st, now, q->lease_ms,
					 &started->lease_held);
	if (ret) {
		snprintf(err, err_len, "%s", sl_tsp_store_error(&q->st));
		goto out_free;
	}
	q->next_lease = sl_now_ms() + q->lease_ms / 3;
	atomic_store(&q->up, true);
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0) {
		ret = -errno;
		snprintf(err, err_len, "eventfd: %s", strerror(errno));
		goto out_free;
	}
	pthread_mutex_init(&q->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&q->wake, &ca);
		pthread_condattr_destroy(&ca);
	}
	/* The thread takes no signal: the loop's signalfd does. */
	{
		sigset_t all, old;

		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		ret = -pthread_create(&q->thread, NULL, run, q);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (ret) {
		snprintf(err, err_len, "cannot start the store's thread: %s",
			 strerror(-ret));
		goto out_sync;
	}
	*efd = q->efd;
	*qp = q;
	return 0;

out_sync:
	pthread_cond_destroy(&q->wake);
	pthread_mutex_destroy(&q->lock);
	close(q->efd);
out_free:
	sl_tsp_store_close(&q->st);
	free(q);
	return ret;
}

void sl_tspq_stop(struct sl_tspq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	/* A clean stop: no need for others to wait for our lease. */
	if (atomic_load(&q->up) && sl_tsp_lease_release(&q->st))
		sl_log(LOG_WARNING, "releasing the lease: %s",
		       sl_tsp_store_error(&q->st));
}

void sl_tspq_free(struct sl_tspq *q)
{
	struct sl_tspq_req *r;

	if (!q)
		return;
	while ((r = sl_tspq_answer(q)))
		free(r);
	sl_tsp_store_close(&q->st);
	pthread_cond_destroy(&q->wake);
	pthread_mutex_destroy(&q->lock);
	close(q->efd);
	free(q);
}
