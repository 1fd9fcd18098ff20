/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The TSP's store, off its event loop: one thread of its own that owns
 * the store (tspstore.h) and works through a queue of requests.
 *
 * Why a thread and not libpq's asynchronous API in the loop: SQLite has
 * no asynchronous API at all (a commit's fsync() blocks, and so does a
 * lock held by sealctl), and both backends must behave alike; a call
 * check is several dependent queries in a transaction, which as
 * callbacks in the loop would be a state machine per call for every
 * backend; and the loop's only job is the lines. So the loop never calls
 * the store: it queues a request and goes on. Records (open, update,
 * close) need no answer; a call's checks (the caller's account, bindings
 * and authorisation, the limits, the answerer's key) come back through
 * an eventfd in the loop's epoll set, in the order they were asked.
 *
 * Records are never lost. While the store is unreachable (the database
 * is down, the file locked past its busy timeout: sl_tsp_store_transient())
 * each record event is appended to the backlog, a file on local disk,
 * and fdatasync()ed before the thread takes the next request. The thread
 * retries the store every SL_TSPQ_RETRY_MS; once it answers, the backlog
 * is replayed in order (every event is idempotent: a replayed open finds
 * its own record, an update or a close of a closed record is done
 * already) and emptied, and only then are events written directly again.
 * Until then the store counts as down and every call check is answered
 * "unavailable" at once, so new calls get NAK UNAVAILABLE while calls
 * already bridged go on untouched. A TSP that stops or dies with a
 * backlog replays it when it starts again.
 *
 * The thread also renews the instance's lease (tspstore.h, "Leases")
 * every third of its length and closes the records of instances whose
 * lease expired.
 */
#ifndef SEALINE_AGENT_TSPQ_H
#define SEALINE_AGENT_TSPQ_H

#include <stdbool.h>
#include <stdint.h>

#include "modem.h"
#include "tspstore.h"
#include "wire.h"

/* How often an unreachable store is tried again (ms). */
#define SL_TSPQ_RETRY_MS	2000
/* One backlog line at most (bytes). */
#define SL_TSPQ_LINE_MAX	512

enum sl_tspq_type {
	SL_TSPQ_CDR_OPEN,
	SL_TSPQ_CDR_UPDATE,
	SL_TSPQ_CDR_CLOSE,
	SL_TSPQ_CHECK_CALLER,	/* answered */
	SL_TSPQ_CHECK_ANSWERER,	/* answered */
};

/* The checks of handshake.rst on an authenticated caller. */
struct sl_tspq_caller {
	/* asked */
	uint8_t pub[SL_TSP_KEY_LEN];		/* the key it proved */
	char claimed[SL_ACCOUNT_LEN + 1];	/* the account it says it is */
	char peer[SL_ACCOUNT_LEN + 1];		/* the account it calls */
	/* call.h's purpose: CALL dials the peer; DEPOSIT hands it an
	 * envelope (no phone, no call limits); COLLECT names no peer. */
	uint8_t purpose;
	char caller_id[SL_MODEM_CID_MAX + 1];	/* as the modem gave it */
	char line[SL_TSP_LINE_MAX + 1];
	/* answered: reason SL_NAK_NONE lets the call through */
	uint8_t reason, detail;
	enum sl_tsp_outcome outcome;		/* of a refused call */
	char caller[SL_ACCOUNT_LEN + 1];	/* "" unless the key is known */
	char recipient[SL_ACCOUNT_LEN + 1];
	char phone[SL_TSP_PHONE_MAX + 1];
	char why[SL_TSP_ERR_MAX];		/* for the log, "" if nothing */
};

/* The answerer of a dialled line: whose key is it? */
struct sl_tspq_answerer {
	uint8_t pub[SL_TSP_KEY_LEN];		/* asked */
	char account[SL_ACCOUNT_LEN + 1];	/* answered, "" if none */
	bool unavailable;			/* the store did not answer */
};

struct sl_tspq_req {
	struct sl_tspq_req *next;
	enum sl_tspq_type type;
	uint64_t id;			/* the call's record */
	void *ctx;			/* the loop's, for an answer */
	union {
		struct {
			char line[SL_TSP_LINE_MAX + 1];
			char caller_id[SL_TSP_CALLER_ID_MAX + 1];
			int64_t ring_ms;
		} open;
		struct {
			struct sl_tsp_cdr_update u;
			char caller[SL_ACCOUNT_LEN + 1];
			char recipient[SL_ACCOUNT_LEN + 1];
		} update;
		struct {
			int64_t end_ms;
			enum sl_tsp_outcome outcome;
			char reason[SL_TSP_REASON_MAX + 1];
		} close;
		struct sl_tspq_caller caller;
		struct sl_tspq_answerer answerer;
	};
};

struct sl_tspq;

/* What the queue's thread needs to know. */
struct sl_tspq_conf {
	const char *backlog;		/* the backlog file's path */
	int64_t lease_ms;
};

/* What sl_tspq_start() found and did, for the start-up log line. */
struct sl_tspq_started {
	unsigned int replayed;		/* backlog events written */
	unsigned int recovered;		/* records closed as interrupted */
	bool lease_held;		/* our lease had not expired */
};

/*
 * Take over st (opened by the caller with SL_TSP_OPEN_SERVER; closed by
 * sl_tspq_stop(), or here on failure): replay a backlog left by an
 * earlier run, close the records that run and expired instances left
 * open, take the lease, then start the thread. All of it before the
 * loop runs, so it may block. *efd: the eventfd to watch for answers.
 * 0, or -errno with err set.
 */
int sl_tspq_start(struct sl_tspq **qp, struct sl_tsp_store *st,
		  const struct sl_tspq_conf *conf, int *efd,
		  struct sl_tspq_started *started, char *err, size_t err_len);
/* Finish every queued request (to the store or the backlog), end the
 * thread and release the lease; the answers not taken yet stay for
 * sl_tspq_answer(). */
void sl_tspq_stop(struct sl_tspq *q);
/* After sl_tspq_stop(): close the store, free the rest. */
void sl_tspq_free(struct sl_tspq *q);

/* Record events: queued, never blocking. */
void sl_tspq_cdr_open(struct sl_tspq *q, uint64_t id,
		      const struct sl_tsp_cdr_start *s);
void sl_tspq_cdr_update(struct sl_tspq *q, uint64_t id,
			const struct sl_tsp_cdr_update *u);
void sl_tspq_cdr_close(struct sl_tspq *q, uint64_t id, int64_t end_ms,
		       enum sl_tsp_outcome outcome, const char *nak_reason);

/* A request to fill in and ask (type CHECK_*), NULL if out of memory. */
struct sl_tspq_req *sl_tspq_req_new(enum sl_tspq_type type, uint64_t id,
				    void *ctx);
void sl_tspq_ask(struct sl_tspq *q, struct sl_tspq_req *r);
/* The next answered request (the caller frees it), NULL if none; read
 * the eventfd first. */
struct sl_tspq_req *sl_tspq_answer(struct sl_tspq *q);
void sl_tspq_ack(struct sl_tspq *q);

/* For sealctl status: is the store answering, how many events wait in
 * the backlog, the requests not done yet. */
bool sl_tspq_up(struct sl_tspq *q);
unsigned int sl_tspq_backlog(struct sl_tspq *q);
unsigned int sl_tspq_pending(struct sl_tspq *q);

/* The backlog's text form, one event a line (tests, tspq.c). */
int sl_tspq_format(char *out, size_t len, const struct sl_tspq_req *r);
int sl_tspq_parse(const char *line, struct sl_tspq_req *r);

#endif
