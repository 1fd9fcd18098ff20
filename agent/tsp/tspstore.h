/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The TSP's account store and call detail records (CDRs).
 *
 * Callers see accounts, bindings, authorisations and call records, never
 * SQL: every operation goes through struct sl_tsp_store_ops, with two
 * backends: SQLite (tspstore_sqlite.c), one file, the default for one TSP
 * server; PostgreSQL (tspstore_pg.c), one database that several TSP
 * servers (instances) share. Both have the same schema and migrations
 * (tspstore_schema.c). tspstore.c holds what does not depend on the
 * backend: the checks of every input, the tracking id's wire form, time
 * parsing and the CSV/JSON export.
 *
 * Accounts: a 12-digit number, a name (person or company), the static
 * X25519 public key the account authenticates with (unique), a phone
 * number (digits; the TSP dials it to reach the account), bindings (the
 * caller IDs and TSP line names the account may call from: the original
 * system's ANI check), the list of accounts authorised to call it, an
 * enabled flag, the creation time and a limit of concurrent calls (0:
 * none), counted over every instance sharing the store.
 *
 * Two refusal rules the TSP relies on, both "deny unless listed":
 *  - an account with no binding at all may not call: the ANI check needs
 *    a binding to pass, exactly as in the original system;
 *  - an account with an empty authorised-callers list receives no calls.
 *
 * CDRs: one per call, opened when the call rings and identified by a
 * random non-zero 64-bit tracking id (the 8 bytes of CALL_STATUS and
 * CALL_OFFER, big-endian: sl_tsp_tracking_to_bytes), updated as the call
 * progresses and closed with an outcome. Each of the three is its own
 * committed (fsync()ed) transaction, so a TSP killed at any moment loses
 * no closed record.
 *
 * Leases: a running TSP instance holds a lease in the store, renewed well
 * before it expires (sl_tsp_lease_renew()). sl_tsp_store_recover() closes
 * as "interrupted", with the end time of their last update, the open
 * records of this instance (at start: they are a dead run's) and of every
 * instance whose lease has expired (it died, or lost the store for longer
 * than its lease). An instance whose records were closed that way while
 * it lived may still update and close them: its word is the last. sealctl
 * never recovers: it must never close the calls of a running TSP.
 *
 * Times are milliseconds since the Unix epoch, UTC, given by the caller
 * (the store never reads the clock for a record, so tests are exact).
 *
 * Every function returns 0 or a negative errno; sl_tsp_store_error() says
 * why in words. -ENOENT: no such account or record; -EEXIST: a duplicate
 * (number, key, binding or authorisation); -EINVAL: a malformed input;
 * -EALREADY: the record is already closed; -EBUSY: the store stayed locked
 * past the busy timeout; -EPROTO: the store's schema is newer than this
 * code; -EIO: anything else the backend reports.
 */
#ifndef SEALINE_AGENT_TSPSTORE_H
#define SEALINE_AGENT_TSPSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

/* Limits of what an account and a record hold (bytes, without the NUL). */
#define SL_TSP_KEY_LEN		32	/* X25519 public key */
#define SL_TSP_NAME_MAX		128	/* account name / company */
#define SL_TSP_PHONE_MAX	32	/* phone number and caller ID: digits */
#define SL_TSP_LINE_MAX		63	/* TSP line name */
#define SL_TSP_INSTANCE_MAX	63	/* TSP instance (server) id */
#define SL_TSP_REASON_MAX	31	/* NAK reason code name */
/* A caller ID as the modem delivered it, printable ASCII. */
#define SL_TSP_CALLER_ID_MAX	SL_TSP_PHONE_MAX
/* Bindings per account and authorised callers per recipient. */
#define SL_TSP_MAX_BINDINGS	256
#define SL_TSP_MAX_AUTHORISED	4096
/* How long an operation waits for another process's lock. */
#define SL_TSP_BUSY_TIMEOUT_MS	5000
#define SL_TSP_ERR_MAX		256
/* The tracking id on the wire (handshake.rst: CALL_STATUS, CALL_OFFER). */
#define SL_TSP_TRACKING_LEN	8
/* "2026-01-02T03:04:05.678Z" */
#define SL_TSP_TIME_STR_LEN	24
/* An account's concurrent-call limit at most (0: no limit). */
#define SL_TSP_MAX_CALLS_LIMIT	100000

struct sl_tsp_account {
	char number[SL_ACCOUNT_LEN + 1];
	char name[SL_TSP_NAME_MAX + 1];
	uint8_t pub[SL_TSP_KEY_LEN];
	char phone[SL_TSP_PHONE_MAX + 1];
	bool enabled;
	int64_t created_ms;
	unsigned int max_calls;	/* concurrent calls, 0: no limit */
};

enum sl_tsp_binding_kind {
	SL_TSP_BIND_CALLER_ID,	/* a caller ID, digits */
	SL_TSP_BIND_LINE,	/* a TSP line name */
};

enum sl_tsp_outcome {
	SL_TSP_OUTCOME_OPEN,		/* not closed yet */
	SL_TSP_OUTCOME_COMPLETED,	/* answered, bridged, hung up */
	SL_TSP_OUTCOME_BUSY,		/* the recipient's line was busy */
	SL_TSP_OUTCOME_NO_ANSWER,	/* the recipient did not answer */
	SL_TSP_OUTCOME_NAK,		/* refused; nak_reason says why */
	SL_TSP_OUTCOME_ABANDONED,	/* the caller hung up before the bridge */
	SL_TSP_OUTCOME_FAILED,		/* line or modem error */
	SL_TSP_OUTCOME_INTERRUPTED,	/* the TSP stopped during the call */
	SL_TSP_OUTCOME_COUNT
};

struct sl_tsp_cdr {
	uint64_t tracking_id;
	char instance[SL_TSP_INSTANCE_MAX + 1];
	char line[SL_TSP_LINE_MAX + 1];
	char caller_id[SL_TSP_CALLER_ID_MAX + 1];	/* "" if none */
	int64_t ring_ms;
	int64_t answer_ms;	/* 0: never answered */
	int64_t end_ms;		/* 0: still open */
	int64_t updated_ms;	/* last change */
	char caller_account[SL_ACCOUNT_LEN + 1];	/* "" until known */
	char recipient_account[SL_ACCOUNT_LEN + 1];
	uint64_t bytes_up;	/* caller to recipient */
	uint64_t bytes_down;	/* recipient to caller */
	enum sl_tsp_outcome outcome;
	char nak_reason[SL_TSP_REASON_MAX + 1];	/* "" unless outcome NAK */
};

/* What a call knows when it rings. */
struct sl_tsp_cdr_start {
	const char *line;	/* the TSP line it rang on */
	const char *caller_id;	/* NULL or "" if the exchange sent none */
	int64_t ring_ms;
};

/* sl_tsp_cdr_update(): the fields set in .set change, others stay. */
#define SL_TSP_CDR_SET_CALLER		(1u << 0)
#define SL_TSP_CDR_SET_RECIPIENT	(1u << 1)
#define SL_TSP_CDR_SET_ANSWER		(1u << 2)
#define SL_TSP_CDR_SET_BYTES		(1u << 3)

struct sl_tsp_cdr_update {
	unsigned int set;
	const char *caller_account;
	const char *recipient_account;
	int64_t answer_ms;
	uint64_t bytes_up, bytes_down;	/* totals so far, not increments */
	int64_t now_ms;			/* becomes updated_ms */
};

/* sl_tsp_call_admit(): whose limit refused the call. */
enum sl_tsp_limited {
	SL_TSP_LIMIT_NONE,
	SL_TSP_LIMIT_CALLER,
	SL_TSP_LIMIT_RECIPIENT,
};

/* What the backend reports about itself (for tests and diagnostics). */
struct sl_tsp_store_info {
	char backend[16];
	int schema_version;
	int schema_latest;
	char journal_mode[16];	/* SQLite: "wal" */
	int synchronous;	/* SQLite: 2, FULL; PostgreSQL: 2, on */
	bool foreign_keys;
	int busy_timeout_ms;	/* SQLite: lock wait; PostgreSQL: lock_timeout */
	char server[64];	/* PostgreSQL: its version */
};

/*
 * Store and forward (Documentation/store-and-forward.rst, "Rows"): one
 * row per envelope held at the TSP, kept after it is closed as the
 * record for billing. The spool (tspspool.h) drives the rows; the store
 * only keeps them. Times are ms since the epoch, 0 for "not yet".
 */
#define SL_TSP_ENVELOPE_ID_LEN	16	/* SL_ENV_ID_LEN */
#define SL_TSP_SHA256_LEN	32
/* A receipt or notice, as text (courier.rst, "Receipts": about 450). */
#define SL_TSP_SPOOL_TEXT_MAX	1023
/* "no delivery window" */
#define SL_TSP_WINDOW_NONE	(-1)
#define SL_TSP_MINUTES_PER_DAY	1440

enum sl_tsp_spool_state {
	SL_TSP_SPOOL_RECEIVING,		/* hand-over in progress */
	SL_TSP_SPOOL_HELD,		/* accepted, waiting for delivery */
	SL_TSP_SPOOL_DELIVERING,	/* a delivery call is under way */
	/* Closed: the outcome. */
	SL_TSP_SPOOL_DELIVERED,		/* R's receipt kept */
	SL_TSP_SPOOL_EXPIRED,		/* held past max_hold */
	SL_TSP_SPOOL_BOUNCED,		/* refused by R, or too many attempts */
	SL_TSP_SPOOL_ABANDONED,		/* the hand-over never completed */
	SL_TSP_SPOOL_STATE_COUNT
};

struct sl_tsp_spool_row {
	uint64_t sid;				/* spool id, non-zero */
	uint8_t envelope[SL_TSP_ENVELOPE_ID_LEN];
	char sender[SL_ACCOUNT_LEN + 1];
	char recipient[SL_ACCOUNT_LEN + 1];
	uint64_t size;				/* the envelope's bytes */
	uint64_t bucket;			/* the padded size on the line */
	bool have_sha256;			/* set from HELD on */
	uint8_t sha256[SL_TSP_SHA256_LEN];
	enum sl_tsp_spool_state state;
	char instance[SL_TSP_INSTANCE_MAX + 1];	/* that received it */
	int64_t received_ms;
	int64_t accepted_ms;
	int64_t not_before_ms;			/* --deliver-after, or 0 */
	int window;		/* start * 1440 + end minutes, UTC, or NONE */
	int64_t expires_ms;
	int64_t next_ms;			/* next attempt not before */
	unsigned int attempts;
	int64_t last_attempt_ms;
	int64_t done_ms;			/* closed at */
	char reason[SL_TSP_REASON_MAX + 1];	/* a refusal's name, or "" */
	char receipt[SL_TSP_SPOOL_TEXT_MAX + 1];	/* receipt or notice */
	int64_t collected_ms;			/* the sender picked it up */
};

typedef int (*sl_tsp_spool_fn)(const struct sl_tsp_spool_row *r, void *arg);

struct sl_tsp_store;

typedef int (*sl_tsp_account_fn)(const struct sl_tsp_account *a, void *arg);
typedef int (*sl_tsp_binding_fn)(enum sl_tsp_binding_kind kind,
				 const char *value, void *arg);
typedef int (*sl_tsp_number_fn)(const char *number, void *arg);
typedef int (*sl_tsp_cdr_fn)(const struct sl_tsp_cdr *c, void *arg);

/*
 * A backend. Inputs are checked by tspstore.c before they get here; a
 * backend only stores and finds. The list operations call fn for each
 * item in order (accounts by number, CDRs by ring time then tracking id)
 * and stop with fn's value when it is non-zero.
 */
struct sl_tsp_store_ops {
	const char *name;
	int (*open)(struct sl_tsp_store *st, const char *location,
		    unsigned int flags);
	void (*close)(struct sl_tsp_store *st);
	int (*info)(struct sl_tsp_store *st, struct sl_tsp_store_info *info);

	int (*account_add)(struct sl_tsp_store *st,
			   const struct sl_tsp_account *a);
	int (*account_get)(struct sl_tsp_store *st, const char *number,
			   struct sl_tsp_account *a);
	int (*account_by_key)(struct sl_tsp_store *st,
			      const uint8_t pub[SL_TSP_KEY_LEN],
			      struct sl_tsp_account *a);
	int (*account_list)(struct sl_tsp_store *st, sl_tsp_account_fn fn,
			    void *arg);
	int (*account_set_enabled)(struct sl_tsp_store *st, const char *number,
				   bool enabled);
	int (*account_set_key)(struct sl_tsp_store *st, const char *number,
			       const uint8_t pub[SL_TSP_KEY_LEN]);
	int (*account_remove)(struct sl_tsp_store *st, const char *number);
	int (*account_set_max_calls)(struct sl_tsp_store *st,
				     const char *number, unsigned int n);

	int (*binding_add)(struct sl_tsp_store *st, const char *number,
			   enum sl_tsp_binding_kind kind, const char *value);
	int (*binding_remove)(struct sl_tsp_store *st, const char *number,
			      enum sl_tsp_binding_kind kind, const char *value);
	int (*binding_list)(struct sl_tsp_store *st, const char *number,
			    sl_tsp_binding_fn fn, void *arg);
	/* *bound: value of kind bound to number; *any: number has a binding. */
	int (*binding_check)(struct sl_tsp_store *st, const char *number,
			     enum sl_tsp_binding_kind kind, const char *value,
			     bool *bound, bool *any);

	int (*auth_add)(struct sl_tsp_store *st, const char *recipient,
			const char *caller);
	int (*auth_remove)(struct sl_tsp_store *st, const char *recipient,
			   const char *caller);
	int (*auth_list)(struct sl_tsp_store *st, const char *recipient,
			 sl_tsp_number_fn fn, void *arg);
	int (*auth_check)(struct sl_tsp_store *st, const char *recipient,
			  const char *caller, bool *allowed);

	/* Open the record id; 0 also when this very record (same
	 * instance, line and ring time) is there already. */
	int (*cdr_open)(struct sl_tsp_store *st,
			const struct sl_tsp_cdr_start *s, uint64_t id);
	int (*cdr_update)(struct sl_tsp_store *st, uint64_t id,
			  const struct sl_tsp_cdr_update *u);
	int (*cdr_close)(struct sl_tsp_store *st, uint64_t id, int64_t end_ms,
			 enum sl_tsp_outcome outcome, const char *nak_reason);
	int (*cdr_get)(struct sl_tsp_store *st, uint64_t id,
		       struct sl_tsp_cdr *c);
	int (*cdr_list)(struct sl_tsp_store *st, int64_t from_ms, int64_t to_ms,
			sl_tsp_cdr_fn fn, void *arg);
	/* Store a whole record as it is (a migration); 0 also when an
	 * identical one is there. */
	int (*cdr_put)(struct sl_tsp_store *st, const struct sl_tsp_cdr *c);
	/* Close as interrupted the open records of instances whose lease
	 * expired before now_ms, and this instance's if own; *n: how many. */
	int (*cdr_recover)(struct sl_tsp_store *st, int64_t now_ms, bool own,
			   unsigned int *n);
	/* In one transaction: count the admitted open calls of both
	 * accounts; within their limits, mark record id admitted. */
	int (*call_admit)(struct sl_tsp_store *st, uint64_t id,
			  const char *caller, const char *recipient,
			  enum sl_tsp_limited *limited);
	/* This instance's lease until until_ms; *held: it was still
	 * held (unexpired at now_ms) before. */
	int (*lease_renew)(struct sl_tsp_store *st, int64_t now_ms,
			   int64_t until_ms, bool *held);
	int (*lease_release)(struct sl_tsp_store *st);

	/* In one transaction: -EEXIST with *old filled if (sender,
	 * envelope) has a row; -EDQUOT if the sender's open rows and r
	 * would pass quota_bytes or quota_count; else insert r. */
	int (*spool_insert)(struct sl_tsp_store *st,
			    const struct sl_tsp_spool_row *r,
			    uint64_t quota_bytes, unsigned int quota_count,
			    struct sl_tsp_spool_row *old);
	int (*spool_get)(struct sl_tsp_store *st, uint64_t sid,
			 struct sl_tsp_spool_row *r);
	/* Write r's changeable fields if the row is still in state from:
	 * -ESTALE if it is not (another step won), -ENOENT if none. */
	int (*spool_update)(struct sl_tsp_store *st,
			    enum sl_tsp_spool_state from,
			    const struct sl_tsp_spool_row *r);
	/* By received time then sid; open_only: not closed. */
	int (*spool_list)(struct sl_tsp_store *st, bool open_only,
			  sl_tsp_spool_fn fn, void *arg);
	/* Insert a whole row as it is (a migration). */
	int (*spool_put)(struct sl_tsp_store *st,
			 const struct sl_tsp_spool_row *r);
};

struct sl_tsp_store {
	const struct sl_tsp_store_ops *ops;
	void *backend;			/* the backend's own state */
	char instance[SL_TSP_INSTANCE_MAX + 1];
	char err[SL_TSP_ERR_MAX];
};

/* sl_tsp_store_open() flags. */
#define SL_TSP_OPEN_CREATE	(1u << 0)	/* create the store if missing */
#define SL_TSP_OPEN_SERVER	(1u << 1)	/* the TSP itself: an instance */

extern const struct sl_tsp_store_ops sl_tsp_sqlite_ops;
extern const struct sl_tsp_store_ops sl_tsp_pg_ops;
/* Test hook: the backends migrate no further than this schema version
 * (0: to the latest). */
extern int sl_tsp_schema_limit;

/*
 * The schema, both dialects side by side (tspstore_schema.c): step i
 * brings version i to i + 1. Each backend runs a step in one transaction
 * together with its new version number.
 */
struct sl_tsp_migration {
	const char *sqlite;
	const char *postgresql;
};
extern const struct sl_tsp_migration sl_tsp_migrations[];
extern const int sl_tsp_schema_latest;

/* For backends: set st->err from fmt and return ret. */
int sl_tsp_fail(struct sl_tsp_store *st, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* For backends: the version to migrate to (sl_tsp_schema_limit). */
int sl_tsp_schema_target(void);

/*
 * Errors a TSP treats as the store being unreachable for now (the
 * database is down, the file locked past the busy timeout): it queues
 * its records on local disk and refuses new calls until the store
 * answers again. The others (a duplicate, a missing account, a closed
 * record, a bad input) are the request's own fault.
 */
bool sl_tsp_store_transient(int err);

/*
 * Open the store at location:
 *   PATH, sqlite:PATH            an SQLite file (the default backend)
 *   postgresql://..., postgres://...
 *                                a PostgreSQL URI (libpq)
 *   KEY=VALUE ...                a libpq connection string, such as
 *                                "service=sealine" or "host=db1 dbname=tsp"
 * instance: this TSP's id in shared stores (1 to SL_TSP_INSTANCE_MAX of
 * [A-Za-z0-9._-]); required with SL_TSP_OPEN_SERVER, may be NULL
 * otherwise. SL_TSP_OPEN_CREATE makes a missing SQLite store (missing
 * directories 0700, the file 0600) and an empty PostgreSQL database's
 * tables; without it a missing store is -ENOENT. Every open brings an
 * older schema up to date (and narrows an SQLite file's mode to 0600). On
 * failure err says why and the store is closed.
 */
int sl_tsp_store_open(struct sl_tsp_store *st, const char *location,
		      const char *instance, unsigned int flags, char *err,
		      size_t err_len);
void sl_tsp_store_close(struct sl_tsp_store *st);
const char *sl_tsp_store_error(const struct sl_tsp_store *st);
int sl_tsp_store_info(struct sl_tsp_store *st, struct sl_tsp_store_info *info);
/* The location with any password replaced by "xxx", for logs. */
void sl_tsp_store_redact(char *out, size_t len, const char *location);

/*
 * Leases (an instance's, SL_TSP_OPEN_SERVER): renew this instance's lease
 * to now_ms + lease_ms; *held (may be NULL): it had not expired yet (at
 * start: an earlier run that did not stop cleanly, or another server
 * using the same instance name). Release it at a clean stop.
 */
int sl_tsp_lease_renew(struct sl_tsp_store *st, int64_t now_ms,
		       int64_t lease_ms, bool *held);
int sl_tsp_lease_release(struct sl_tsp_store *st);
/* Close as interrupted the open records of every instance whose lease
 * expired before now_ms and, if own, this instance's (at its start);
 * *n: how many. */
int sl_tsp_store_recover(struct sl_tsp_store *st, int64_t now_ms, bool own,
			 unsigned int *n);

int sl_tsp_account_add(struct sl_tsp_store *st, const struct sl_tsp_account *a);
int sl_tsp_account_get(struct sl_tsp_store *st, const char *number,
		       struct sl_tsp_account *a);
int sl_tsp_account_by_key(struct sl_tsp_store *st,
			  const uint8_t pub[SL_TSP_KEY_LEN],
			  struct sl_tsp_account *a);
int sl_tsp_account_list(struct sl_tsp_store *st, sl_tsp_account_fn fn,
			void *arg);
int sl_tsp_account_set_enabled(struct sl_tsp_store *st, const char *number,
			       bool enabled);
int sl_tsp_account_set_key(struct sl_tsp_store *st, const char *number,
			   const uint8_t pub[SL_TSP_KEY_LEN]);
/* Also removes its bindings and every authorisation naming it; its CDRs
 * stay (billing outlives the account). */
int sl_tsp_account_remove(struct sl_tsp_store *st, const char *number);
/* 0 to SL_TSP_MAX_CALLS_LIMIT concurrent calls; 0: no limit. */
int sl_tsp_account_set_max_calls(struct sl_tsp_store *st, const char *number,
				 unsigned int n);

int sl_tsp_binding_add(struct sl_tsp_store *st, const char *number,
		       enum sl_tsp_binding_kind kind, const char *value);
int sl_tsp_binding_remove(struct sl_tsp_store *st, const char *number,
			  enum sl_tsp_binding_kind kind, const char *value);
int sl_tsp_binding_list(struct sl_tsp_store *st, const char *number,
			sl_tsp_binding_fn fn, void *arg);

/*
 * The ANI check: may account number call from this caller ID on this TSP
 * line? True when caller_id (may be NULL or "") is one of its caller-ID
 * bindings or line is one of its line bindings. An account with no
 * binding is refused. *allowed is false on any error.
 */
int sl_tsp_caller_bound(struct sl_tsp_store *st, const char *number,
			const char *caller_id, const char *line, bool *allowed);

int sl_tsp_auth_add(struct sl_tsp_store *st, const char *recipient,
		    const char *caller);
int sl_tsp_auth_remove(struct sl_tsp_store *st, const char *recipient,
		       const char *caller);
int sl_tsp_auth_list(struct sl_tsp_store *st, const char *recipient,
		     sl_tsp_number_fn fn, void *arg);
/* Is caller on recipient's authorised list? (Enabled flags are the TSP's
 * separate check.) *allowed is false on any error. */
int sl_tsp_caller_authorised(struct sl_tsp_store *st, const char *recipient,
			     const char *caller, bool *allowed);

/* A new record with a fresh random tracking id (a collision is retried). */
int sl_tsp_cdr_open(struct sl_tsp_store *st, const struct sl_tsp_cdr_start *s,
		    uint64_t *id);
/* A new record with the tracking id given (sl_tsp_tracking_new()): 0 also
 * when this very record is there already (a replay), -EEXIST when another
 * record has the id. */
int sl_tsp_cdr_open_id(struct sl_tsp_store *st,
		       const struct sl_tsp_cdr_start *s, uint64_t id);
/* A random non-zero tracking id; 0 or -errno. */
int sl_tsp_tracking_new(uint64_t *id);
int sl_tsp_cdr_update(struct sl_tsp_store *st, uint64_t id,
		      const struct sl_tsp_cdr_update *u);
/* nak_reason: a reason code name, required with SL_TSP_OUTCOME_NAK and
 * refused otherwise. end_ms must not be before the ring time. */
int sl_tsp_cdr_close(struct sl_tsp_store *st, uint64_t id, int64_t end_ms,
		     enum sl_tsp_outcome outcome, const char *nak_reason);
int sl_tsp_cdr_get(struct sl_tsp_store *st, uint64_t id, struct sl_tsp_cdr *c);
/* Records that rang in [from_ms, to_ms], both inclusive. */
int sl_tsp_cdr_list(struct sl_tsp_store *st, int64_t from_ms, int64_t to_ms,
		    sl_tsp_cdr_fn fn, void *arg);
/* Store a whole record from another store (sealctl tsp migrate): 0 also
 * when an identical one is there, -EEXIST when a different one has its
 * tracking id. */
int sl_tsp_cdr_put(struct sl_tsp_store *st, const struct sl_tsp_cdr *c);
/* Every field of the two records is the same. */
bool sl_tsp_cdr_same(const struct sl_tsp_cdr *a, const struct sl_tsp_cdr *b);

/*
 * The concurrent-call limits of a call's two accounts, enforced across
 * every instance sharing the store: in one transaction, count the open
 * records of admitted calls each account takes part in (as caller or
 * recipient); if both are under their max_calls, mark record id admitted
 * with both accounts (it counts from then until it is closed) and return
 * 0; otherwise
 * -EUSERS with *limited saying whose limit it is.
 */
int sl_tsp_call_admit(struct sl_tsp_store *st, uint64_t id, const char *caller,
		      const char *recipient, enum sl_tsp_limited *limited);

/* The call's billable duration in ms: end - answer, 0 if never answered
 * or still open. */
int64_t sl_tsp_cdr_duration_ms(const struct sl_tsp_cdr *c);

void sl_tsp_tracking_to_bytes(uint64_t id, uint8_t out[SL_TSP_TRACKING_LEN]);
uint64_t sl_tsp_tracking_from_bytes(const uint8_t in[SL_TSP_TRACKING_LEN]);

const char *sl_tsp_outcome_name(enum sl_tsp_outcome o);
/* -EINVAL for an unknown name. */
int sl_tsp_outcome_parse(const char *name, enum sl_tsp_outcome *o);

/* Input checks, shared with sealctl for its messages; each returns true
 * for a valid value. */
bool sl_tsp_name_valid(const char *s);
bool sl_tsp_phone_valid(const char *s);
bool sl_tsp_line_valid(const char *s);
bool sl_tsp_instance_valid(const char *s);
bool sl_tsp_caller_id_valid(const char *s);
/* A limit of concurrent calls as typed: digits only (no sign or space),
 * 0 (no limit) to SL_TSP_MAX_CALLS_LIMIT. 0 with *n set, or -EINVAL. */
int sl_tsp_max_calls_parse(const char *s, unsigned int *n);

/*
 * ISO 8601 in UTC: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM" or
 * "YYYY-MM-DDTHH:MM:SS", with an optional trailing "Z" (a space may
 * replace the T). *first: the first ms the text names, *last: its last
 * (a date covers its whole day, a minute its 60 s, a second its 1000 ms).
 * -EINVAL for anything else, including an offset other than Z.
 */
int sl_tsp_time_parse(const char *s, int64_t *first, int64_t *last);
/* "2026-01-02T03:04:05.678Z" */
void sl_tsp_time_format(char out[SL_TSP_TIME_STR_LEN + 1], int64_t ms);

/* Export: RFC 4180 CSV (CRLF line ends, quoted where needed) with a
 * header line, or JSON (one object per record). */
void sl_tsp_cdr_csv_header(FILE *f);
void sl_tsp_cdr_csv_row(FILE *f, const struct sl_tsp_cdr *c);
void sl_tsp_cdr_json(FILE *f, const struct sl_tsp_cdr *c);
/* One CSV field, quoted when it holds a comma, quote, CR or LF. */
void sl_tsp_csv_field(FILE *f, const char *s);

/*
 * Store and forward's rows (the spool, tspspool.h, is their one writer in
 * the TSP; sealctl only lists them). Each call is one transaction.
 */
int sl_tsp_spool_insert(struct sl_tsp_store *st,
			const struct sl_tsp_spool_row *r, uint64_t quota_bytes,
			unsigned int quota_count, struct sl_tsp_spool_row *old);
int sl_tsp_spool_get(struct sl_tsp_store *st, uint64_t sid,
		     struct sl_tsp_spool_row *r);
int sl_tsp_spool_update(struct sl_tsp_store *st, enum sl_tsp_spool_state from,
			const struct sl_tsp_spool_row *r);
int sl_tsp_spool_list(struct sl_tsp_store *st, bool open_only,
		      sl_tsp_spool_fn fn, void *arg);
/* Store a whole row from another store (sealctl tsp migrate): 0 also when
 * an identical one is there, -EEXIST when a different one has its spool
 * id or its sender's envelope id. */
int sl_tsp_spool_put(struct sl_tsp_store *st, const struct sl_tsp_spool_row *r);
bool sl_tsp_spool_same(const struct sl_tsp_spool_row *a,
		       const struct sl_tsp_spool_row *b);
/* "receiving", "held", ...; -EINVAL for an unknown name. */
const char *sl_tsp_spool_state_name(enum sl_tsp_spool_state s);
/* A delivery window: SL_TSP_WINDOW_NONE, or two different minutes of
 * the UTC day (start * 1440 + end). */
bool sl_tsp_window_valid(int window);
int sl_tsp_spool_state_parse(const char *name, enum sl_tsp_spool_state *s);
/* DELIVERED, EXPIRED, BOUNCED, ABANDONED. */
bool sl_tsp_spool_closed(enum sl_tsp_spool_state s);
/* One row as a JSON object (lib/json.h), for sealctl tsp spool --json. */
void sl_tsp_spool_json(FILE *f, const struct sl_tsp_spool_row *r);

#endif
