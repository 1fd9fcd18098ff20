/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The daemons' configuration file: sealined's, /etc/sealine/sealined.conf
 * by default, and sealtspd's, /etc/sealine/sealtspd.conf ("-c FILE" for
 * another). agent/dist/sealined.conf.example and sealtspd.conf.example
 * document every setting; in short:
 *
 *	# a comment (also after a value, when preceded by a blank)
 *	[agent]
 *	account = 123456789012		our account number, 12 digits
 *	state_dir = /var/lib/sealine	identity, peers, session log
 *	socket = /run/sealine/sealined.sock	sealctl talks to us here
 *	session_log = <state_dir>/sessions.log
 *	log = syslog			syslog, stderr or both
 *	log_level = info		error, warning, notice, info, debug
 *	name = a			instance name: syslog tag sealined-a
 *
 *	[line ttyS1]			one section per managed line
 *	peer = 210987654321		the account expected at the other end
 *	role = auto			auto, initiator or responder
 *	rekey_interval = 1200		seconds (also 20m, 1h); 0: never on a timer
 *	pairing = no			answer pairing without `sealctl pair`
 *	cipher = chacha20poly1305, aes256gcm	preference, most preferred first
 *	modem = no			yes: a dial-up line through a TSP (dialer.h)
 *	tsp_number = 5550100		modem lines: the TSP's phone number
 *	tsp_key = <64 hex digits>	modem lines: the TSP's static key (pinned)
 *	baud = 115200			modem lines: serial port speed
 *	modem_init = ATE0V1Q0&D2S0=0	modem lines: init string
 *	ldisc = 29			modem lines: sealine's line discipline
 *	dial_on_demand = 210987654321	modem lines: call this account when an
 *					application writes to the demand link
 *	demand_link = /run/sealine/ttyS1.line	dial_on_demand: the pty's path
 *	idle_hangup = 300		dial_on_demand: hang up after this long
 *					without application data; 0: never
 *
 *	[courier]			the courier (see struct sl_courier_conf):
 *	receive = yes			take envelopes from peers
 *	inbox = <state_dir>/inbox	delivered envelopes, one directory each
 *	staging, spool, outbox, receipts, sent_log, received_log: paths
 *	max_envelope = 1G, max_unpacked = 4G, max_files = 10000,
 *	max_ratio = 1000, min_free = 64M	limits of incoming envelopes
 *	attempts = 30, retry = 30, retry_max = 1h	sending
 *	tsp_after = 0			hand to the TSP after so many failed
 *					direct attempts; 0: never
 *	keep_days = 30			final outbox records kept
 *
 *	[tsp]				sealtspd's, a TSP (tsp.h); sealined
 *					refuses a file with this section
 *	store = /var/lib/sealine/tsp/accounts.db	accounts and call records:
 *					an SQLite file, postgresql://... or a
 *					libpq connection string (tspstore.h)
 *	instance = tsp1			names this server in call records
 *	lease = 30			seconds its calls outlive it in a shared
 *					store before another closes them
 *	backlog = <state_dir>/cdr-backlog	records kept while the store is
 *					unreachable
 *	lines = /dev/ttyS1, /dev/ttyS2	its modems' serial ports (globs allowed),
 *					or ports of terminal servers:
 *					[NAME=]rfc2217://HOST:PORT, [NAME=]tcp://HOST:PORT
 *	baud = 115200			serial port speed
 *	init = ATE0V1Q0&D2S0=0		modem init string
 *	answer_timeout = 60		seconds for the recipient to answer
 *	spool = <state_dir>/tsp-spool	store and forward: envelopes held
 *	random_delay = 1h, batch_interval = 15m	when deliveries start
 *	max_envelope = 1G, quota_bytes = 512M, quota_envelopes = 1000,
 *	min_free = 1G, max_hold = 7d, max_attempts = 20,
 *	receive_timeout = 1d		the spool's limits
 *
 * The parser is strict: an unknown section or key, a duplicate, or a value
 * out of range is an error "FILE:LINE: message", and the daemon does not
 * start with a file it does not fully understand.
 */
#ifndef SEALINE_AGENT_CONFIG_H
#define SEALINE_AGENT_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>
#include <linux/sealine.h>

#include "wire.h"		/* SL_ACCOUNT_LEN, sl_account_valid() */

/*
 * The installation's directories (GNU names), compiled in: agent/Makefile
 * passes what "make SYSCONFDIR=... LOCALSTATEDIR=... RUNSTATEDIR=..."
 * says; these are its defaults.
 */
#ifndef SL_SYSCONFDIR
#define SL_SYSCONFDIR		"/etc"
#endif
#ifndef SL_LOCALSTATEDIR
#define SL_LOCALSTATEDIR	"/var"
#endif
#ifndef SL_RUNSTATEDIR
#define SL_RUNSTATEDIR		"/run"
#endif

#define SL_CONF_DEFAULT_PATH		SL_SYSCONFDIR "/sealine/sealined.conf"
/* sealtspd's: the same format, with a [tsp] section. */
#define SL_CONF_TSP_DEFAULT_PATH	SL_SYSCONFDIR "/sealine/sealtspd.conf"
#define SL_CONF_DEFAULT_STATE_DIR	SL_LOCALSTATEDIR "/lib/sealine"
#define SL_CONF_DEFAULT_SOCKET		SL_RUNSTATEDIR "/sealine/sealined.sock"
#define SL_CONF_SESSION_LOG_NAME	"sessions.log"
/* The TSP's account store ([tsp] store) unless configured. */
#define SL_TSP_DEFAULT_DB	SL_LOCALSTATEDIR "/lib/sealine/tsp/accounts.db"
/* The TSP's record backlog, in its state_dir unless configured. */
#define SL_TSP_BACKLOG_NAME	"cdr-backlog"

/* Largest configuration file read, and longest line in it. */
#define SL_CONF_MAX_SIZE	(1024 * 1024)
#define SL_CONF_MAX_LINE	1024

#define SL_CONF_MAX_LINES	SEALINE_MAX_LINES
#define SL_CONF_NAME_MAX	32

/* rekey_interval: default (handshake.rst: under the kernel's 1800 s soft
 * age limit) and the range accepted besides 0. */
#define SL_CONF_REKEY_DEFAULT	1200
#define SL_CONF_REKEY_MIN	10
#define SL_CONF_REKEY_MAX	86400

enum sl_role {
	SL_ROLE_AUTO,		/* whoever is keyless starts (handshake.rst) */
	SL_ROLE_INITIATOR,	/* this side starts sessions and rekeys */
	SL_ROLE_RESPONDER,	/* this side only answers */
};

#define SL_CONF_MAX_CIPHERS	2

/* [tsp]: a file with this section is a TSP's (sealtspd, tsp.h), not an
 * endpoint's. */
#define SL_CONF_TSP_MAX_PATTERNS	16
#define SL_CONF_TSP_INIT_MAX		60	/* modem.h: SL_MODEM_CMD_MAX */
#define SL_CONF_TSP_INSTANCE_MAX	63
#define SL_CONF_TSP_BAUD_DEFAULT	115200
#define SL_CONF_TSP_ANSWER_DEFAULT	60	/* handshake.rst: 60 s */
/* [tsp] store: a path or a libpq connection string. */
#define SL_CONF_TSP_STORE_MAX		1024
/* [tsp] lease: seconds, default and range. */
#define SL_CONF_TSP_LEASE_DEFAULT	30
#define SL_CONF_TSP_LEASE_MIN		10
#define SL_CONF_TSP_LEASE_MAX		3600
/*
 * Store and forward (store-and-forward.rst, "Delivery" and "Limits"):
 * the defaults of [tsp] random_delay, batch_interval and the spool's
 * limits, and the ranges accepted. The spool (tspspool.h) takes its
 * defaults from here. Durations in seconds.
 */
#define SL_CONF_TSP_RANDOM_DELAY_DEFAULT	3600
#define SL_CONF_TSP_BATCH_DEFAULT		(15 * 60)
#define SL_CONF_TSP_BATCH_MAX			86400
#define SL_CONF_TSP_MAX_ENVELOPE		(1ULL << 30)
#define SL_CONF_TSP_QUOTA_BYTES			(512ULL << 20)
#define SL_CONF_TSP_QUOTA_ENVELOPES		1000
#define SL_CONF_TSP_QUOTA_ENVELOPES_MAX		10000000
#define SL_CONF_TSP_MIN_FREE			(1ULL << 30)
#define SL_CONF_TSP_MAX_HOLD			(7 * 86400)
#define SL_CONF_TSP_MAX_HOLD_MIN		10
#define SL_CONF_TSP_MAX_HOLD_MAX		(365 * 86400)
#define SL_CONF_TSP_MAX_ATTEMPTS		20
#define SL_CONF_TSP_MAX_ATTEMPTS_MAX		1000
#define SL_CONF_TSP_RECEIVE_TIMEOUT		86400
#define SL_CONF_TSP_RECEIVE_TIMEOUT_MIN		60
#define SL_CONF_TSP_RECEIVE_TIMEOUT_MAX		(30 * 86400)
/* Sizes: from 1 KiB (quota_bytes, max_envelope) or 0 (min_free) to 1 PiB. */
#define SL_CONF_SIZE_MIN			(1ULL << 10)
#define SL_CONF_SIZE_MAX			(1ULL << 50)

#define SL_CONF_NUMBER_MAX	40	/* modem.h: SL_MODEM_NUMBER_MAX */
#define SL_CONF_KEY_LEN		32

/* dial_on_demand (dialer.h): where the demand link goes unless
 * demand_link names it ("<dir>/<tty>.line", next to the default socket),
 * and idle_hangup's default (0 turns it off). */
#define SL_CONF_DEMAND_DIR		SL_RUNSTATEDIR "/sealine"
#define SL_CONF_IDLE_HANGUP_DEFAULT	300

struct sl_line_conf {
	char tty[SEALINE_TTY_NAME_MAX];	/* kernel name: "ttyS1" */
	/* A dial-up line (dialer.h): sealined drives its modem. */
	bool modem;
	char tsp_number[SL_CONF_NUMBER_MAX + 1];
	uint8_t tsp_key[SL_CONF_KEY_LEN];
	bool has_tsp_key;
	unsigned int baud;
	char modem_init[SL_CONF_TSP_INIT_MAX + 1];
	int ldisc;			/* 0: SEALINE_LDISC_DEFAULT */
	/* Dial-on-demand: "" when off; else the account an application's
	 * write to demand_link calls (dialer.h). */
	char dial_on_demand[SL_ACCOUNT_LEN + 1];
	char demand_link[PATH_MAX];	/* set by sl_config_finish() */
	uint32_t idle_hangup;		/* seconds; 0: never */
	bool has_idle_hangup;		/* configured, not the default */
	char peer[SL_ACCOUNT_LEN + 1];	/* "" when not configured */
	enum sl_role role;
	uint32_t rekey_interval;	/* seconds; 0: only on kernel events */
	bool pairing;			/* answer PAIR_COMMIT unarmed */
	uint8_t ciphers[SL_CONF_MAX_CIPHERS];	/* SEALINE_CIPHER_*, preferred first */
	unsigned int n_ciphers;
	uint8_t mode;			/* SEALINE_MODE_*, set at registration */
	/* Last: sealined's reload compares what comes before it. */
	unsigned int lineno;		/* line of its [line ...] header */
};

struct sl_tsp_conf {
	bool enabled;			/* the section is present */
	char store[SL_CONF_TSP_STORE_MAX];
	char instance[SL_CONF_TSP_INSTANCE_MAX + 1];	/* "" : hostname */
	uint32_t lease;			/* seconds */
	char backlog[PATH_MAX];		/* "" : in state_dir */
	/* Paths or globs, or [NAME=]rfc2217://HOST:PORT, [NAME=]tcp://... */
	char lines[SL_CONF_TSP_MAX_PATTERNS][PATH_MAX];
	unsigned int n_lines;
	unsigned int baud;
	char init[SL_CONF_TSP_INIT_MAX + 1];	/* "" : the driver's default */
	uint32_t answer_timeout;	/* seconds */
	/* Store and forward (store-and-forward.rst): the spool directory
	 * ("" : state_dir/tsp-spool), the largest random delay before an
	 * accepted envelope's first delivery attempt, the period whose
	 * ticks deliveries start on, and the spool's limits. */
	char spool[PATH_MAX];
	uint32_t random_delay;		/* seconds; 0: at once */
	uint32_t batch_interval;	/* seconds; 0: no batches */
	uint64_t max_envelope;		/* bytes */
	uint64_t quota_bytes;		/* per sender */
	uint32_t quota_envelopes;	/* per sender */
	uint64_t min_free;		/* bytes kept free on the spool's fs */
	uint32_t max_hold;		/* seconds, then expired */
	uint32_t max_attempts;		/* then bounced */
	uint32_t receive_timeout;	/* seconds: a stalled hand-over */
	unsigned int lineno;
};

/*
 * [courier] (Documentation/courier.rst, admin-guide.rst "The courier"):
 * where envelopes wait and arrive, the limits an incoming envelope must
 * keep, how often a delivery is tried. Paths "" are the defaults, under
 * state_dir (resolved when the daemon starts, so --state-dir moves them).
 * The limits' defaults are the engine's (envelope.h).
 */
#define SL_CONF_COURIER_MAX_ENVELOPE	(1ULL << 30)
#define SL_CONF_COURIER_MAX_UNPACKED	(4ULL << 30)
#define SL_CONF_COURIER_MAX_FILES	10000
#define SL_CONF_COURIER_MAX_RATIO	1000
#define SL_CONF_COURIER_MIN_FREE	(64ULL << 20)
#define SL_CONF_COURIER_ATTEMPTS	30
#define SL_CONF_COURIER_RETRY		30	/* s, then doubling ... */
#define SL_CONF_COURIER_RETRY_MAX	3600	/* ... up to this */
#define SL_CONF_COURIER_KEEP_DAYS	30
#define SL_CONF_COURIER_TSP_AFTER_MAX	1000

struct sl_courier_conf {
	bool receive;			/* take envelopes at all */
	char outbox[PATH_MAX];
	char spool[PATH_MAX];
	char staging[PATH_MAX];		/* one file system with inbox */
	char inbox[PATH_MAX];
	char receipts[PATH_MAX];
	char sent_log[PATH_MAX];
	char received_log[PATH_MAX];
	uint64_t max_envelope;
	uint64_t max_unpacked;
	uint64_t max_files;
	uint32_t max_ratio;		/* 0: no ratio limit */
	uint64_t min_free;
	uint32_t attempts;		/* per envelope, then failed */
	uint32_t retry;			/* seconds before the 2nd attempt */
	uint32_t retry_max;
	uint32_t keep_days;		/* final outbox records kept */
	/* Store and forward's fallback: an envelope sent "auto" goes to
	 * the TSP after this many failed direct attempts; 0: never. */
	uint32_t tsp_after;
	/* Last: sealined's reload compares what comes before it. */
	unsigned int lineno;		/* of [courier], 0: absent */
};

struct sl_config {
	char path[PATH_MAX];		/* the file it came from */
	char account[SL_ACCOUNT_LEN + 1];	/* "" when not configured */
	char state_dir[PATH_MAX];
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char session_log[PATH_MAX];	/* "" until sl_config_finish() */
	char name[SL_CONF_NAME_MAX];	/* "" when not configured */
	unsigned int log_targets;	/* enum sl_log_target mask */
	int log_level;			/* LOG_ERR .. LOG_DEBUG */
	unsigned int n_lines;
	struct sl_line_conf lines[SL_CONF_MAX_LINES];
	struct sl_tsp_conf tsp;
	struct sl_courier_conf courier;
};

/* The defaults above, no lines. */
void sl_config_defaults(struct sl_config *cfg);

/*
 * Parse len bytes of text as the file name (used in messages only) into
 * cfg, which sl_config_defaults() prepared. 0, or -EINVAL with "name:line:
 * message" in err.
 */
int sl_config_parse(struct sl_config *cfg, const char *name, const char *text,
		    size_t len, char *err, size_t err_len);

/*
 * Defaults, read path, parse, then sl_config_finish(). 0 or a negative
 * errno, with the reason (including the file name) in err.
 */
int sl_config_load(struct sl_config *cfg, const char *path, char *err,
		   size_t err_len);

/* Derive what depends on other settings (the session log path from the
 * state dir). Call after any override of state_dir. */
int sl_config_finish(struct sl_config *cfg, char *err, size_t err_len);

/*
 * The daemons' --state-dir and --socket (NULL: not given) over what the
 * file says; with a new state dir the session log moves there too. 0, or
 * a negative errno with the reason in err.
 */
int sl_config_override(struct sl_config *cfg, const char *state_dir,
		       const char *socket_path, char *err, size_t err_len);

const struct sl_line_conf *sl_config_line(const struct sl_config *cfg,
					  const char *tty);

const char *sl_role_name(enum sl_role role);

#endif
