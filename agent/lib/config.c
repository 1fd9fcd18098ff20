// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealined's configuration file. See config.h for the format and
 * sealined.conf.example for every setting.
 *
 * Why one file of about 1,270 lines: it is one strict parser whose four
 * sections ([agent], [line], [courier], [tsp]) are tables of setters over
 * the same value parsers (paths, yes/no, durations, sizes, accounts),
 * which every section shares; split, those would be an API of their own
 * for no caller but this parser.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "lineref.h"
#include "log.h"
#include "names.h"
#include "keyfile.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum section { SEC_NONE, SEC_AGENT, SEC_LINE, SEC_TSP, SEC_COURIER };

struct parser {
	struct sl_config *cfg;
	const char *name;
	unsigned int lineno;
	enum section section;
	struct sl_line_conf *line;	/* SEC_LINE: the line being read */
	unsigned int agent_lineno;	/* where [agent] was, 0 if not yet */
	/* Where each key of the current section was set, for duplicates. */
	unsigned int seen[24];
	char *err;
	size_t err_len;
};

static int fail(struct parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(p->err, p->err_len, "%s:%u: ", p->name, p->lineno);
	if (n < 0 || (size_t)n >= p->err_len)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->err_len - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

const char *sl_role_name(enum sl_role role)
{
	switch (role) {
	case SL_ROLE_AUTO:	return "auto";
	case SL_ROLE_INITIATOR:	return "initiator";
	case SL_ROLE_RESPONDER:	return "responder";
	}
	return "?";
}

void sl_config_defaults(struct sl_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s",
		 SL_CONF_DEFAULT_STATE_DIR);
	snprintf(cfg->socket_path, sizeof(cfg->socket_path), "%s",
		 SL_CONF_DEFAULT_SOCKET);
	cfg->log_targets = SL_LOG_SYSLOG;
	cfg->log_level = LOG_INFO;
	snprintf(cfg->tsp.store, sizeof(cfg->tsp.store), "%s",
		 SL_TSP_DEFAULT_DB);
	cfg->tsp.lease = SL_CONF_TSP_LEASE_DEFAULT;
	cfg->tsp.baud = SL_CONF_TSP_BAUD_DEFAULT;
	cfg->tsp.answer_timeout = SL_CONF_TSP_ANSWER_DEFAULT;
	cfg->tsp.random_delay = SL_CONF_TSP_RANDOM_DELAY_DEFAULT;
	cfg->tsp.batch_interval = SL_CONF_TSP_BATCH_DEFAULT;
	cfg->tsp.max_envelope = SL_CONF_TSP_MAX_ENVELOPE;
	cfg->tsp.quota_bytes = SL_CONF_TSP_QUOTA_BYTES;
	cfg->tsp.quota_envelopes = SL_CONF_TSP_QUOTA_ENVELOPES;
	cfg->tsp.min_free = SL_CONF_TSP_MIN_FREE;
	cfg->tsp.max_hold = SL_CONF_TSP_MAX_HOLD;
	cfg->tsp.max_attempts = SL_CONF_TSP_MAX_ATTEMPTS;
	cfg->tsp.receive_timeout = SL_CONF_TSP_RECEIVE_TIMEOUT;
	cfg->courier.receive = true;
	cfg->courier.max_envelope = SL_CONF_COURIER_MAX_ENVELOPE;
	cfg->courier.max_unpacked = SL_CONF_COURIER_MAX_UNPACKED;
	cfg->courier.max_files = SL_CONF_COURIER_MAX_FILES;
	cfg->courier.max_ratio = SL_CONF_COURIER_MAX_RATIO;
	cfg->courier.min_free = SL_CONF_COURIER_MIN_FREE;
	cfg->courier.attempts = SL_CONF_COURIER_ATTEMPTS;
	cfg->courier.retry = SL_CONF_COURIER_RETRY;
	cfg->courier.retry_max = SL_CONF_COURIER_RETRY_MAX;
	cfg->courier.keep_days = SL_CONF_COURIER_KEEP_DAYS;
}

/* ------------------------------------------------------------ values */

static int set_path(struct parser *p, const char *key, const char *val,
		    char *dst, size_t size)
{
	if (val[0] != '/')
		return fail(p, "%s must be an absolute path, not '%s'", key, val);
	if (strlen(val) >= size)
		return fail(p, "%s is too long (at most %zu characters)", key,
			    size - 1);
	snprintf(dst, size, "%s", val);
	return 0;
}

static int parse_bool(struct parser *p, const char *key, const char *val,
		      bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(yes); ++i) {
		if (!strcasecmp(val, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(val, no[i])) {
			*out = false;
			return 0;
		}
	}
	return fail(p, "%s must be yes or no, not '%s'", key, val);
}

/* A duration for messages: "90 s", "20 min", "1 h", "7 days". */
static void human_seconds(char *out, size_t len, uint64_t v)
{
	if (v && v % 86400 == 0)
		snprintf(out, len, "%llu day%s", (unsigned long long)(v / 86400),
			 v == 86400 ? "" : "s");
	else if (v && v % 3600 == 0)
		snprintf(out, len, "%llu h", (unsigned long long)(v / 3600));
	else if (v && v % 60 == 0)
		snprintf(out, len, "%llu min", (unsigned long long)(v / 60));
	else
		snprintf(out, len, "%llu s", (unsigned long long)v);
}

/* "1200", "1200s", "20m", "1h", "7d": seconds, in [lo, hi] (or 0 when
 * zero means off). */
static int parse_seconds(struct parser *p, const char *key, const char *val,
			 uint32_t lo, uint32_t hi, bool zero_off, uint32_t *out)
{
	unsigned long long v = 0, mult = 1;
	const char *s = val;
	char a[24], b[24];

	if (!isdigit((unsigned char)*s))
		goto bad;
	for (; isdigit((unsigned char)*s); ++s) {
		v = v * 10 + (unsigned int)(*s - '0');
		if (v > UINT32_MAX)
			goto range;
	}
	if (*s) {
		if (s[1])
			goto bad;
		switch (*s) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		default: goto bad;
		}
	}
	v *= mult;
	if (v ? v < lo || v > hi : !zero_off)
		goto range;
	*out = (uint32_t)v;
	return 0;
bad:
	return fail(p, "%s must be a number of seconds (or with m, h or d), not '%s'",
		    key, val);
range:
	human_seconds(a, sizeof(a), lo);
	human_seconds(b, sizeof(b), hi);
	return fail(p, "%s '%s' is out of range: %s%s to %s", key, val,
		    zero_off ? "0 (off) or " : "", a, b);
}

/* The usual durations: 0 (off), or 10 s to a day. */
static int parse_duration(struct parser *p, const char *key, const char *val,
			  uint32_t *out)
{
	return parse_seconds(p, key, val, SL_CONF_REKEY_MIN, SL_CONF_REKEY_MAX,
			     true, out);
}

/* "1048576", "64K", "512M", "1G", "2T" (powers of 1024): bytes, in
 * [lo, hi]. */
static int parse_size(struct parser *p, const char *key, const char *val,
		      uint64_t lo, uint64_t hi, uint64_t *out)
{
	unsigned long long v = 0;
	const char *s = val;
	unsigned int shift = 0;

	if (!isdigit((unsigned char)*s))
		goto bad;
	for (; isdigit((unsigned char)*s); ++s) {
		if (v > (UINT64_MAX - 9) / 10)
			goto range;
		v = v * 10 + (unsigned int)(*s - '0');
	}
	if (*s) {
		const char *units = "KMGT";
		const char *u = strchr(units, toupper((unsigned char)*s));

		if (!u || (s[1] && strcasecmp(s + 1, "iB") && strcasecmp(s + 1, "B")))
			goto bad;
		shift = 10 * (unsigned int)(u - units + 1);
	}
	if (shift && v > (UINT64_MAX >> shift))
		goto range;
	v <<= shift;
	if (v < lo || v > hi)
		goto range;
	*out = v;
	return 0;
bad:
	return fail(p, "%s must be a size in bytes (or with K, M, G, T), not '%s'",
		    key, val);
range:
	return fail(p, "%s '%s' is out of range (%llu to %llu bytes)", key, val,
		    (unsigned long long)lo, (unsigned long long)hi);
}

/* A count in [lo, hi]. */
static int parse_count(struct parser *p, const char *key, const char *val,
		       uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(val, &end, 10);
	if (errno || *end || !isdigit((unsigned char)*val) || v < lo || v > hi)
		return fail(p, "%s must be a number from %llu to %llu, not '%s'",
			    key, (unsigned long long)lo,
			    (unsigned long long)hi, val);
	*out = v;
	return 0;
}

static int parse_u32(struct parser *p, const char *key, const char *val,
		     uint64_t lo, uint64_t hi, uint32_t *out)
{
	uint64_t v = 0;
	int ret = parse_count(p, key, val, lo, hi, &v);

	if (!ret)
		*out = (uint32_t)v;
	return ret;
}

static int parse_account(struct parser *p, const char *key, const char *val,
			 char out[SL_ACCOUNT_LEN + 1])
{
	if (!sl_account_valid(val))
		return fail(p, "%s must be an account number of exactly %d digits, not '%s'",
			    key, SL_ACCOUNT_LEN, val);
	memcpy(out, val, SL_ACCOUNT_LEN + 1);
	return 0;
}

static int parse_ciphers(struct parser *p, const char *key, char *val,
			 struct sl_line_conf *line)
{
	char *tok, *save = NULL;

	line->n_ciphers = 0;
	for (tok = strtok_r(val, ", \t", &save); tok;
	     tok = strtok_r(NULL, ", \t", &save)) {
		uint8_t c;
		unsigned int i;

		if (sl_cipher_parse(tok, &c) || c == SEALINE_CIPHER_NONE)
			return fail(p, "%s: unknown cipher '%s' (chacha20poly1305 or aes256gcm)",
				    key, tok);
		for (i = 0; i < line->n_ciphers; ++i)
			if (line->ciphers[i] == c)
				return fail(p, "%s: '%s' is listed twice", key, tok);
		if (line->n_ciphers == SL_CONF_MAX_CIPHERS)
			return fail(p, "%s: too many ciphers", key);
		line->ciphers[line->n_ciphers++] = c;
	}
	if (!line->n_ciphers)
		return fail(p, "%s needs at least one cipher", key);
	return 0;
}

/* ------------------------------------------------------------ sections */

static char *trim(char *s);

struct key_def {
	const char *name;
	int (*set)(struct parser *p, const char *key, char *val);
};

static int agent_account(struct parser *p, const char *key, char *val)
{
	return parse_account(p, key, val, p->cfg->account);
}

static int agent_state_dir(struct parser *p, const char *key, char *val)
{
	return set_path(p, key, val, p->cfg->state_dir,
			sizeof(p->cfg->state_dir));
}

static int agent_socket(struct parser *p, const char *key, char *val)
{
	return set_path(p, key, val, p->cfg->socket_path,
			sizeof(p->cfg->socket_path));
}

static int agent_session_log(struct parser *p, const char *key, char *val)
{
	return set_path(p, key, val, p->cfg->session_log,
			sizeof(p->cfg->session_log));
}

static int agent_log(struct parser *p, const char *key, char *val)
{
	if (!strcmp(val, "syslog"))
		p->cfg->log_targets = SL_LOG_SYSLOG;
	else if (!strcmp(val, "stderr"))
		p->cfg->log_targets = SL_LOG_STDERR;
	else if (!strcmp(val, "both"))
		p->cfg->log_targets = SL_LOG_SYSLOG | SL_LOG_STDERR;
	else
		return fail(p, "%s must be syslog, stderr or both, not '%s'",
			    key, val);
	return 0;
}

static int agent_log_level(struct parser *p, const char *key, char *val)
{
	if (sl_log_level_parse(val, &p->cfg->log_level))
		return fail(p, "%s must be error, warning, notice, info or debug, not '%s'",
			    key, val);
	return 0;
}

/* A name for logs and records: letters, digits, '-', '_', '.'. */
static int parse_name(struct parser *p, const char *key, const char *val,
		      char *dst, size_t size)
{
	size_t n = strlen(val);

	if (n >= size)
		return fail(p, "%s is too long (at most %zu characters)", key,
			    size - 1);
	for (size_t i = 0; i < n; ++i)
		if (!isalnum((unsigned char)val[i]) && !strchr("-_.", val[i]))
			return fail(p, "%s may only hold letters, digits, '-', '_' and '.', not '%s'",
				    key, val);
	memcpy(dst, val, n + 1);
	return 0;
}

static int agent_name(struct parser *p, const char *key, char *val)
{
	return parse_name(p, key, val, p->cfg->name, sizeof(p->cfg->name));
}

static const struct key_def agent_keys[] = {
	{ "account", agent_account },
	{ "state_dir", agent_state_dir },
	{ "socket", agent_socket },
	{ "session_log", agent_session_log },
	{ "log", agent_log },
	{ "log_level", agent_log_level },
	{ "name", agent_name },
};

static int line_peer(struct parser *p, const char *key, char *val)
{
	return parse_account(p, key, val, p->line->peer);
}

static int line_role(struct parser *p, const char *key, char *val)
{
	if (!strcmp(val, "auto"))
		p->line->role = SL_ROLE_AUTO;
	else if (!strcmp(val, "initiator"))
		p->line->role = SL_ROLE_INITIATOR;
	else if (!strcmp(val, "responder"))
		p->line->role = SL_ROLE_RESPONDER;
	else
		return fail(p, "%s must be auto, initiator or responder, not '%s'",
			    key, val);
	return 0;
}

static int line_rekey(struct parser *p, const char *key, char *val)
{
	return parse_duration(p, key, val, &p->line->rekey_interval);
}

static int line_mode(struct parser *p, const char *key, char *val)
{
	if (!strcmp(val, "reliable"))
		p->line->mode = SEALINE_MODE_RELIABLE;
	else if (!strcmp(val, "datagram"))
		p->line->mode = SEALINE_MODE_DATAGRAM;
	else
		return fail(p, "%s must be reliable or datagram, not '%s'",
			    key, val);
	return 0;
}

static int line_pairing(struct parser *p, const char *key, char *val)
{
	return parse_bool(p, key, val, &p->line->pairing);
}

static int line_cipher(struct parser *p, const char *key, char *val)
{
	return parse_ciphers(p, key, val, p->line);
}

static int line_modem(struct parser *p, const char *key, char *val)
{
	return parse_bool(p, key, val, &p->line->modem);
}

static int line_tsp_number(struct parser *p, const char *key, char *val)
{
	size_t n = strlen(val);

	if (!n || n > SL_CONF_NUMBER_MAX ||
	    strspn(val, "0123456789*#,WPwp") != n)
		return fail(p, "%s must be a phone number (digits, * # , W P; at most %d), not '%s'",
			    key, SL_CONF_NUMBER_MAX, val);
	memcpy(p->line->tsp_number, val, n + 1);
	return 0;
}

static int line_tsp_key(struct parser *p, const char *key, char *val)
{
	char why[128];

	if (sl_key_parse_hex(val, strlen(val), p->line->tsp_key, why,
			     sizeof(why)))
		return fail(p, "%s: %s (64 hex digits: the TSP's static public key, as its log prints it)",
			    key, why);
	p->line->has_tsp_key = true;
	return 0;
}

/* A serial port speed, as termios knows them (modem.h checks it again). */
static int parse_baud(struct parser *p, const char *key, const char *val,
		      unsigned int *baud)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(val, &end, 10);
	if (errno || *end || !isdigit((unsigned char)val[0]) || v < 300 ||
	    v > 4000000)
		return fail(p, "%s must be a serial speed from 300 to 4000000, not '%s'",
			    key, val);
	*baud = (unsigned int)v;
	return 0;
}

static int line_baud(struct parser *p, const char *key, char *val)
{
	return parse_baud(p, key, val, &p->line->baud);
}

static int check_init(struct parser *p, const char *key, const char *val,
		      char *dst)
{
	size_t n = strlen(val);

	if (strncasecmp(val, "AT", 2) || n > SL_CONF_TSP_INIT_MAX)
		return fail(p, "%s must be an AT command of at most %d characters, not '%s'",
			    key, SL_CONF_TSP_INIT_MAX, val);
	for (size_t i = 0; i < n; ++i)
		if (!isprint((unsigned char)val[i]))
			return fail(p, "%s must be printable ASCII", key);
	memcpy(dst, val, n + 1);
	return 0;
}

static int line_modem_init(struct parser *p, const char *key, char *val)
{
	return check_init(p, key, val, p->line->modem_init);
}

static int line_ldisc(struct parser *p, const char *key, char *val)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(val, &end, 10);
	if (errno || *end || v < 1 || v > 63)
		return fail(p, "%s must be a line discipline number (1..63, sealine's module parameter ldisc), not '%s'",
			    key, val);
	p->line->ldisc = (int)v;
	return 0;
}

static int line_dial_on_demand(struct parser *p, const char *key, char *val)
{
	return parse_account(p, key, val, p->line->dial_on_demand);
}

static int line_demand_link(struct parser *p, const char *key, char *val)
{
	return set_path(p, key, val, p->line->demand_link,
			sizeof(p->line->demand_link));
}

static int line_idle_hangup(struct parser *p, const char *key, char *val)
{
	p->line->has_idle_hangup = true;
	return parse_duration(p, key, val, &p->line->idle_hangup);
}

static const struct key_def line_keys[] = {
	{ "modem", line_modem },
	{ "tsp_number", line_tsp_number },
	{ "tsp_key", line_tsp_key },
	{ "baud", line_baud },
	{ "modem_init", line_modem_init },
	{ "ldisc", line_ldisc },
	{ "dial_on_demand", line_dial_on_demand },
	{ "demand_link", line_demand_link },
	{ "idle_hangup", line_idle_hangup },
	{ "peer", line_peer },
	{ "role", line_role },
	{ "rekey_interval", line_rekey },
	{ "pairing", line_pairing },
	{ "cipher", line_cipher },
	{ "mode", line_mode },
};

/*
 * The store: an SQLite file (an absolute path, or sqlite:PATH), or
 * PostgreSQL (a postgresql:// or postgres:// URI, or a libpq connection
 * string: KEY=VALUE ..., "service=NAME"). tspstore.c opens it.
 */
static int tsp_store(struct parser *p, const char *key, char *val)
{
	struct sl_tsp_conf *t = &p->cfg->tsp;
	const char *path = val;

	if (!strncmp(val, "postgresql://", 13) || !strncmp(val, "postgres://", 11) ||
	    (strchr(val, '=') && val[0] != '/')) {
		if (strlen(val) >= sizeof(t->store))
			return fail(p, "%s is too long (at most %zu characters)",
				    key, sizeof(t->store) - 1);
		snprintf(t->store, sizeof(t->store), "%s", val);
		return 0;
	}
	if (!strncmp(val, "sqlite:", 7))
		path = val + 7;
	if (path[0] != '/')
		return fail(p, "%s is an SQLite file's absolute path (or sqlite:PATH), a postgresql:// URI or a libpq connection string such as 'service=sealine', not '%s'",
			    key, val);
	return set_path(p, key, path, t->store, sizeof(t->store));
}

static int tsp_database(struct parser *p, const char *key, char *val)
{
	(void)val;
	return fail(p, "'%s' is now called 'store' (an SQLite path or a PostgreSQL connection)",
		    key);
}

static int tsp_lease(struct parser *p, const char *key, char *val)
{
	int ret = parse_duration(p, key, val, &p->cfg->tsp.lease);

	if (!ret && (p->cfg->tsp.lease < SL_CONF_TSP_LEASE_MIN ||
		     p->cfg->tsp.lease > SL_CONF_TSP_LEASE_MAX))
		return fail(p, "%s must be from %d s to %d s", key,
			    SL_CONF_TSP_LEASE_MIN, SL_CONF_TSP_LEASE_MAX);
	return ret;
}

static int tsp_backlog(struct parser *p, const char *key, char *val)
{
	return set_path(p, key, val, p->cfg->tsp.backlog,
			sizeof(p->cfg->tsp.backlog));
}

/*
 * A terminal server's port: [NAME=]rfc2217://HOST:PORT or
 * [NAME=]tcp://HOST:PORT (tspport.h checks the rest when it opens it).
 */
static int tsp_net_line(struct parser *p, const char *key, const char *tok)
{
	const char *url = strstr(tok, "://"), *eq = strchr(tok, '=');
	const char *scheme = eq && eq < url ? eq + 1 : tok;

	if (eq && eq < url) {
		for (const char *c = tok; c < eq; ++c)
			if (!isalnum((unsigned char)*c) && !strchr("-_.", *c))
				return fail(p, "%s: line name '%.*s' may only hold letters, digits, '-', '_' and '.'",
					    key, (int)(eq - tok), tok);
		if (eq == tok || eq - tok > 63)
			return fail(p, "%s: a line name is 1 to 63 characters", key);
	}
	if (strncmp(scheme, "rfc2217://", 10) && strncmp(scheme, "tcp://", 6))
		return fail(p, "%s: '%s' is not a terminal server port (rfc2217://HOST:PORT or tcp://HOST:PORT)",
			    key, tok);
	if (!strrchr(url + 3, ':') || !strrchr(url + 3, ':')[1])
		return fail(p, "%s: '%s' needs a port (HOST:PORT)", key, tok);
	return 0;
}

static int tsp_instance(struct parser *p, const char *key, char *val)
{
	return parse_name(p, key, val, p->cfg->tsp.instance,
			  sizeof(p->cfg->tsp.instance));
}

/* A comma-separated list of absolute paths or glob patterns. */
static int tsp_lines(struct parser *p, const char *key, char *val)
{
	struct sl_tsp_conf *t = &p->cfg->tsp;
	char *tok = val, *next;

	for (; tok; tok = next) {
		next = strchr(tok, ',');
		if (next)
			*next++ = '\0';
		tok = trim(tok);
		if (!*tok)
			return fail(p, "%s has an empty entry", key);
		if (t->n_lines == SL_CONF_TSP_MAX_PATTERNS)
			return fail(p, "%s names too many paths (at most %d; use a glob such as /dev/ttyUSB*)",
				    key, SL_CONF_TSP_MAX_PATTERNS);
		if (strstr(tok, "://")) {
			if (tsp_net_line(p, key, tok))
				return -EINVAL;
			if (strlen(tok) >= sizeof(t->lines[0]))
				return fail(p, "%s: '%.40s...' is too long", key, tok);
			snprintf(t->lines[t->n_lines], sizeof(t->lines[0]), "%s", tok);
		} else if (set_path(p, key, tok, t->lines[t->n_lines],
				    sizeof(t->lines[0]))) {
			return -EINVAL;
		}
		t->n_lines++;
	}
	return 0;
}

static int tsp_baud(struct parser *p, const char *key, char *val)
{
	return parse_baud(p, key, val, &p->cfg->tsp.baud);
}

static int tsp_init(struct parser *p, const char *key, char *val)
{
	return check_init(p, key, val, p->cfg->tsp.init);
}

static int tsp_answer_timeout(struct parser *p, const char *key, char *val)
{
	int ret = parse_duration(p, key, val, &p->cfg->tsp.answer_timeout);

	if (!ret && (p->cfg->tsp.answer_timeout < 10 ||
		     p->cfg->tsp.answer_timeout > 300))
		return fail(p, "%s must be from 10 s to 300 s", key);
	return ret;
}

static int tsp_spool(struct parser *p, const char *key, char *val)
{
	return set_path(p, key, val, p->cfg->tsp.spool,
			sizeof(p->cfg->tsp.spool));
}

static int tsp_random_delay(struct parser *p, const char *key, char *val)
{
	return parse_duration(p, key, val, &p->cfg->tsp.random_delay);
}

static int tsp_batch_interval(struct parser *p, const char *key, char *val)
{
	return parse_seconds(p, key, val, 1, SL_CONF_TSP_BATCH_MAX, true,
			     &p->cfg->tsp.batch_interval);
}

static int tsp_max_envelope(struct parser *p, const char *key, char *val)
{
	return parse_size(p, key, val, SL_CONF_SIZE_MIN, SL_CONF_SIZE_MAX,
			  &p->cfg->tsp.max_envelope);
}

static int tsp_quota_bytes(struct parser *p, const char *key, char *val)
{
	return parse_size(p, key, val, SL_CONF_SIZE_MIN, SL_CONF_SIZE_MAX,
			  &p->cfg->tsp.quota_bytes);
}

static int tsp_min_free(struct parser *p, const char *key, char *val)
{
	return parse_size(p, key, val, 0, SL_CONF_SIZE_MAX,
			  &p->cfg->tsp.min_free);
}

static int tsp_quota_envelopes(struct parser *p, const char *key, char *val)
{
	return parse_u32(p, key, val, 1, SL_CONF_TSP_QUOTA_ENVELOPES_MAX,
			 &p->cfg->tsp.quota_envelopes);
}

static int tsp_max_attempts(struct parser *p, const char *key, char *val)
{
	return parse_u32(p, key, val, 1, SL_CONF_TSP_MAX_ATTEMPTS_MAX,
			 &p->cfg->tsp.max_attempts);
}

static int tsp_max_hold(struct parser *p, const char *key, char *val)
{
	return parse_seconds(p, key, val, SL_CONF_TSP_MAX_HOLD_MIN,
			     SL_CONF_TSP_MAX_HOLD_MAX, false,
			     &p->cfg->tsp.max_hold);
}

static int tsp_receive_timeout(struct parser *p, const char *key, char *val)
{
	return parse_seconds(p, key, val, SL_CONF_TSP_RECEIVE_TIMEOUT_MIN,
			     SL_CONF_TSP_RECEIVE_TIMEOUT_MAX, false,
			     &p->cfg->tsp.receive_timeout);
}

static const struct key_def tsp_keys[] = {
	{ "store", tsp_store },
	{ "database", tsp_database },
	{ "instance", tsp_instance },
	{ "lease", tsp_lease },
	{ "backlog", tsp_backlog },
	{ "lines", tsp_lines },
	{ "baud", tsp_baud },
	{ "init", tsp_init },
	{ "answer_timeout", tsp_answer_timeout },
	{ "spool", tsp_spool },
	{ "random_delay", tsp_random_delay },
	{ "batch_interval", tsp_batch_interval },
	{ "max_envelope", tsp_max_envelope },
	{ "quota_bytes", tsp_quota_bytes },
	{ "quota_envelopes", tsp_quota_envelopes },
	{ "min_free", tsp_min_free },
	{ "max_hold", tsp_max_hold },
	{ "max_attempts", tsp_max_attempts },
	{ "receive_timeout", tsp_receive_timeout },
};

/* [courier] */

#define COURIER_PATH(field)						\
static int courier_##field(struct parser *p, const char *key, char *val)	\
{									\
	return set_path(p, key, val, p->cfg->courier.field,		\
			sizeof(p->cfg->courier.field));			\
}
COURIER_PATH(outbox)
COURIER_PATH(spool)
COURIER_PATH(staging)
COURIER_PATH(inbox)
COURIER_PATH(receipts)
COURIER_PATH(sent_log)
COURIER_PATH(received_log)
#undef COURIER_PATH

static int courier_receive(struct parser *p, const char *key, char *val)
{
	return parse_bool(p, key, val, &p->cfg->courier.receive);
}

static int courier_max_envelope(struct parser *p, const char *key, char *val)
{
	return parse_size(p, key, val, SL_CONF_SIZE_MIN, SL_CONF_SIZE_MAX,
			  &p->cfg->courier.max_envelope);
}

static int courier_max_unpacked(struct parser *p, const char *key, char *val)
{
	return parse_size(p, key, val, SL_CONF_SIZE_MIN, SL_CONF_SIZE_MAX,
			  &p->cfg->courier.max_unpacked);
}

static int courier_min_free(struct parser *p, const char *key, char *val)
{
	return parse_size(p, key, val, 0, SL_CONF_SIZE_MAX,
			  &p->cfg->courier.min_free);
}

static int courier_max_files(struct parser *p, const char *key, char *val)
{
	return parse_count(p, key, val, 1, 10000000,
			   &p->cfg->courier.max_files);
}

static int courier_max_ratio(struct parser *p, const char *key, char *val)
{
	return parse_u32(p, key, val, 0, 1000000, &p->cfg->courier.max_ratio);
}

static int courier_attempts(struct parser *p, const char *key, char *val)
{
	return parse_u32(p, key, val, 1, 100000, &p->cfg->courier.attempts);
}

static int courier_keep_days(struct parser *p, const char *key, char *val)
{
	return parse_u32(p, key, val, 1, 36500, &p->cfg->courier.keep_days);
}

static int courier_tsp_after(struct parser *p, const char *key, char *val)
{
	return parse_u32(p, key, val, 0, SL_CONF_COURIER_TSP_AFTER_MAX,
			 &p->cfg->courier.tsp_after);
}

static int courier_retry(struct parser *p, const char *key, char *val)
{
	uint32_t *dst = !strcmp(key, "retry") ? &p->cfg->courier.retry :
			&p->cfg->courier.retry_max;
	int ret = parse_duration(p, key, val, dst);

	if (!ret && !*dst)
		return fail(p, "%s cannot be 0", key);
	return ret;
}

static const struct key_def courier_keys[] = {
	{ "receive", courier_receive },
	{ "outbox", courier_outbox },
	{ "spool", courier_spool },
	{ "staging", courier_staging },
	{ "inbox", courier_inbox },
	{ "receipts", courier_receipts },
	{ "sent_log", courier_sent_log },
	{ "received_log", courier_received_log },
	{ "max_envelope", courier_max_envelope },
	{ "max_unpacked", courier_max_unpacked },
	{ "max_files", courier_max_files },
	{ "max_ratio", courier_max_ratio },
	{ "min_free", courier_min_free },
	{ "attempts", courier_attempts },
	{ "retry", courier_retry },
	{ "retry_max", courier_retry },
	{ "keep_days", courier_keep_days },
	{ "tsp_after", courier_tsp_after },
};

_Static_assert(ARRAY_SIZE(agent_keys) <= 24 && ARRAY_SIZE(line_keys) <= 24 &&
	       ARRAY_SIZE(tsp_keys) <= 24 && ARRAY_SIZE(courier_keys) <= 24,
	       "parser.seen is too small");

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		++s;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

static int start_section(struct parser *p, char *hdr)
{
	char *close = strchr(hdr, ']');
	char *name, *arg;
	struct sl_line_ref ref;
	unsigned int i;
	int ret;

	if (!close || *trim(close + 1))
		return fail(p, "a section header is '[agent]', '[line TTY]', '[courier]' or '[tsp]'");
	*close = '\0';
	name = trim(hdr + 1);
	memset(p->seen, 0, sizeof(p->seen));

	if (!strcmp(name, "agent")) {
		if (p->agent_lineno)
			return fail(p, "[agent] appears twice (first at line %u)",
				    p->agent_lineno);
		p->agent_lineno = p->lineno;
		p->section = SEC_AGENT;
		return 0;
	}
	if (!strcmp(name, "courier")) {
		if (p->cfg->courier.lineno)
			return fail(p, "[courier] appears twice (first at line %u)",
				    p->cfg->courier.lineno);
		p->cfg->courier.lineno = p->lineno;
		p->section = SEC_COURIER;
		return 0;
	}
	if (!strcmp(name, "tsp")) {
		if (p->cfg->tsp.enabled)
			return fail(p, "[tsp] appears twice (first at line %u)",
				    p->cfg->tsp.lineno);
		p->cfg->tsp.enabled = true;
		p->cfg->tsp.lineno = p->lineno;
		p->section = SEC_TSP;
		return 0;
	}
	if (strncmp(name, "line", 4) || (name[4] && name[4] != ' ' &&
					 name[4] != '\t'))
		return fail(p, "unknown section [%s] (sections are [agent], [line TTY], [courier] and [tsp])",
			    name);
	arg = trim(name + 4);
	if (!*arg)
		return fail(p, "[line] needs the line's tty: [line ttyS1]");
	ret = sl_line_parse(arg, &ref);
	if (ret == -ENAMETOOLONG)
		return fail(p, "line name '%s' is too long", arg);
	if (ret)
		return fail(p, "'%s' is not a tty name (ttyS1 or /dev/ttyS1)", arg);
	if (ref.by_index)
		return fail(p, "'%s' is a virtual tty: name the physical tty the line runs on (ttyS1)",
			    arg);
	for (i = 0; i < p->cfg->n_lines; ++i)
		if (!strcmp(p->cfg->lines[i].tty, ref.tty))
			return fail(p, "line %s is configured twice (first at line %u)",
				    ref.tty, p->cfg->lines[i].lineno);
	if (p->cfg->n_lines == SL_CONF_MAX_LINES)
		return fail(p, "too many lines (at most %d)", SL_CONF_MAX_LINES);

	p->line = &p->cfg->lines[p->cfg->n_lines++];
	memset(p->line, 0, sizeof(*p->line));
	memcpy(p->line->tty, ref.tty, sizeof(ref.tty));
	p->line->role = SL_ROLE_AUTO;
	p->line->rekey_interval = SL_CONF_REKEY_DEFAULT;
	p->line->ciphers[0] = SEALINE_CIPHER_CHACHA20POLY1305;
	p->line->ciphers[1] = SEALINE_CIPHER_AES256GCM;
	p->line->n_ciphers = 2;
	p->line->mode = SEALINE_MODE_RELIABLE;
	p->line->baud = SL_CONF_TSP_BAUD_DEFAULT;
	p->line->lineno = p->lineno;
	p->section = SEC_LINE;
	return 0;
}

static int set_key(struct parser *p, char *text)
{
	char *eq = strchr(text, '=');
	const struct key_def *keys;
	size_t n_keys, i;
	char *key, *val;

	if (!eq)
		return fail(p, "expected 'key = value', a [section] or a # comment");
	*eq = '\0';
	key = trim(text);
	val = trim(eq + 1);
	if (!*key)
		return fail(p, "a setting needs a name before '='");

	switch (p->section) {
	case SEC_AGENT:
		keys = agent_keys;
		n_keys = ARRAY_SIZE(agent_keys);
		break;
	case SEC_LINE:
		keys = line_keys;
		n_keys = ARRAY_SIZE(line_keys);
		break;
	case SEC_TSP:
		keys = tsp_keys;
		n_keys = ARRAY_SIZE(tsp_keys);
		break;
	case SEC_COURIER:
		keys = courier_keys;
		n_keys = ARRAY_SIZE(courier_keys);
		break;
	default:
		return fail(p, "'%s' is outside a section: put it under [agent] or [line TTY]",
			    key);
	}
	for (i = 0; i < n_keys; ++i)
		if (!strcmp(key, keys[i].name))
			break;
	if (i == n_keys)
		return fail(p, "unknown setting '%s' in [%s]", key,
			    p->section == SEC_AGENT ? "agent" :
			    p->section == SEC_TSP ? "tsp" :
			    p->section == SEC_COURIER ? "courier" : "line");
	if (p->seen[i])
		return fail(p, "'%s' is set twice in this section (first at line %u)",
			    key, p->seen[i]);
	if (!*val)
		return fail(p, "'%s' has no value", key);
	p->seen[i] = p->lineno;
	return keys[i].set(p, key, val);
}

/* Strip a comment: '#' or ';' at the start, or '#' after a blank. */
static void strip_comment(char *s)
{
	char *t = s;

	while (*t == ' ' || *t == '\t')
		++t;
	if (*t == '#' || *t == ';') {
		*t = '\0';
		return;
	}
	for (; *t; ++t) {
		if (*t == '#' && (t[-1] == ' ' || t[-1] == '\t')) {
			*t = '\0';
			return;
		}
	}
}

int sl_config_parse(struct sl_config *cfg, const char *name, const char *text,
		    size_t len, char *err, size_t err_len)
{
	struct parser p = {
		.cfg = cfg, .name = name, .err = err, .err_len = err_len,
	};
	char buf[SL_CONF_MAX_LINE + 2];
	size_t pos = 0;

	if (len > SL_CONF_MAX_SIZE) {
		snprintf(err, err_len, "%s: too large (over %d bytes)", name,
			 SL_CONF_MAX_SIZE);
		return -EFBIG;
	}
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *s;
		int ret;

		p.lineno++;
		if (n > SL_CONF_MAX_LINE)
			return fail(&p, "line too long (over %d characters)",
				    SL_CONF_MAX_LINE);
		memcpy(buf, text + pos, n);
		buf[n] = '\0';
		pos += n + (nl ? 1 : 0);
		if (memchr(buf, '\0', n))
			return fail(&p, "NUL byte in the file");
		if (n && buf[n - 1] == '\r')
			buf[n - 1] = '\0';
		for (s = buf; *s; ++s)
			if ((unsigned char)*s < 0x20 && *s != '\t')
				return fail(&p, "control character 0x%02x in the file",
					    (unsigned char)*s);
		strip_comment(buf);
		s = trim(buf);
		if (!*s)
			continue;
		ret = *s == '[' ? start_section(&p, s) : set_key(&p, s);
		if (ret)
			return ret;
	}
	return 0;
}

/* The demand keys only make sense together on a dial-up line; fills in
 * their defaults. */
static int finish_demand(struct sl_config *cfg, struct sl_line_conf *l,
			 char *err, size_t err_len)
{
	const char *which = l->demand_link[0] ? "demand_link" :
			    l->has_idle_hangup ? "idle_hangup" : NULL;
	char tty[sizeof(l->tty)];
	int n;

	if (!l->dial_on_demand[0]) {
		if (!which)
			return 0;
		snprintf(err, err_len, "%s:%u: [line %s] has %s but no dial_on_demand = ACCOUNT",
			 cfg->path, l->lineno, l->tty, which);
		return -EINVAL;
	}
	if (!l->modem) {
		snprintf(err, err_len, "%s:%u: [line %s] has dial_on_demand: it needs modem = yes (only a dial-up line can call)",
			 cfg->path, l->lineno, l->tty);
		return -EINVAL;
	}
	if (!l->has_idle_hangup)
		l->idle_hangup = SL_CONF_IDLE_HANGUP_DEFAULT;
	if (l->demand_link[0])
		return 0;
	memcpy(tty, l->tty, sizeof(tty));	/* no overlap for snprintf */
	n = snprintf(l->demand_link, sizeof(l->demand_link), "%s/%s.line",
		     SL_CONF_DEMAND_DIR, tty);
	if (n < 0 || (size_t)n >= sizeof(l->demand_link)) {
		snprintf(err, err_len, "%s:%u: [line %s]: the demand link's path is too long",
			 cfg->path, l->lineno, l->tty);
		return -ENAMETOOLONG;
	}
	return 0;
}

int sl_config_finish(struct sl_config *cfg, char *err, size_t err_len)
{
	for (unsigned int i = 0; i < cfg->n_lines; ++i) {
		struct sl_line_conf *l = &cfg->lines[i];
		int ret = finish_demand(cfg, l, err, err_len);

		if (ret)
			return ret;

		if (l->modem && (!l->tsp_number[0] || !l->has_tsp_key)) {
			snprintf(err, err_len, "%s:%u: [line %s] has modem = yes: it needs tsp_number and tsp_key",
				 cfg->path, l->lineno, l->tty);
			return -EINVAL;
		}
	}
	if (cfg->tsp.enabled && cfg->n_lines) {
		snprintf(err, err_len, "%s: a TSP ([tsp]) keys no lines of its own: remove the [line ...] sections or run them in another sealined",
			 cfg->path);
		return -EINVAL;
	}
	if (cfg->tsp.enabled && !cfg->tsp.n_lines) {
		snprintf(err, err_len, "%s:%u: [tsp] needs 'lines = ...', its modems' serial ports",
			 cfg->path, cfg->tsp.lineno);
		return -EINVAL;
	}
	if (!cfg->session_log[0]) {
		int n = snprintf(cfg->session_log, sizeof(cfg->session_log),
				 "%s/%s", cfg->state_dir, SL_CONF_SESSION_LOG_NAME);

		if (n < 0 || (size_t)n >= sizeof(cfg->session_log)) {
			snprintf(err, err_len, "%s: state_dir is too long",
				 cfg->path);
			return -ENAMETOOLONG;
		}
	}
	return 0;
}

int sl_config_load(struct sl_config *cfg, const char *path, char *err,
		   size_t err_len)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int fd, ret;

	sl_config_defaults(cfg);
	if (strlen(path) >= sizeof(cfg->path)) {
		snprintf(err, err_len, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(cfg->path, path, strlen(path) + 1);

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return ret;
	}
	/* Shown by `sealctl status`: say which file, wherever it ran. */
	{
		char *abs = realpath(path, NULL);

		if (abs && strlen(abs) < sizeof(cfg->path))
			snprintf(cfg->path, sizeof(cfg->path), "%s", abs);
		free(abs);
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, err_len, "%s: not a regular file", path);
		ret = -EINVAL;
		goto out;
	}
	if (st.st_size > SL_CONF_MAX_SIZE) {
		snprintf(err, err_len, "%s: too large (over %d bytes)", path,
			 SL_CONF_MAX_SIZE);
		ret = -EFBIG;
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		snprintf(err, err_len, "%s: out of memory", path);
		ret = -ENOMEM;
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, text + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			snprintf(err, err_len, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	ret = sl_config_parse(cfg, path, text, len, err, err_len);
	if (!ret)
		ret = sl_config_finish(cfg, err, err_len);
out:
	free(text);
	close(fd);
	return ret;
}

int sl_config_override(struct sl_config *cfg, const char *state_dir,
		       const char *socket_path, char *err, size_t err_len)
{
	if (state_dir) {
		int ret;

		if (state_dir[0] != '/' ||
		    strlen(state_dir) >= sizeof(cfg->state_dir)) {
			snprintf(err, err_len, "--state-dir must be an absolute path");
			return -EINVAL;
		}
		snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s",
			 state_dir);
		/* A session log under the old state dir follows. */
		cfg->session_log[0] = '\0';
		ret = sl_config_finish(cfg, err, err_len);
		if (ret)
			return ret;
	}
	if (socket_path) {
		if (socket_path[0] != '/' ||
		    strlen(socket_path) >= sizeof(cfg->socket_path)) {
			snprintf(err, err_len, "--socket must be an absolute path of at most %zu bytes",
				 sizeof(cfg->socket_path) - 1);
			return -EINVAL;
		}
		snprintf(cfg->socket_path, sizeof(cfg->socket_path), "%s",
			 socket_path);
	}
	return 0;
}

const struct sl_line_conf *sl_config_line(const struct sl_config *cfg,
					  const char *tty)
{
	for (unsigned int i = 0; i < cfg->n_lines; ++i)
		if (!strcmp(cfg->lines[i].tty, tty))
			return &cfg->lines[i];
	return NULL;
}
