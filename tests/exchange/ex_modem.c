// SPDX-License-Identifier: GPL-2.0
/*
 * ex_modem.c - the Hayes modem of each line: result codes, the AT command
 * parser and command-mode input (echo, S3/S5, A/).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exchange.h"

static const struct {
	const char *text;
	int code;
} results[] = {
	[RC_OK] = { "OK", 0 }, [RC_CONNECT] = { "CONNECT", 1 },
	[RC_RING] = { "RING", 2 }, [RC_NO_CARRIER] = { "NO CARRIER", 3 },
	[RC_ERROR] = { "ERROR", 4 }, [RC_NO_DIALTONE] = { "NO DIALTONE", 6 },
	[RC_BUSY] = { "BUSY", 7 }, [RC_NO_ANSWER] = { "NO ANSWER", 8 },
};

/* ------------------------------------------------------------ modem output */

void ex_result(struct line *l, enum result r)
{
	char buf[64];

	if (l->quiet)
		return;
	if (l->verbose) {
		if (r == RC_CONNECT)
			snprintf(buf, sizeof(buf), "%c%cCONNECT %lu%c%c", l->s[S_CR],
				 l->s[S_LF], l->speed, l->s[S_CR], l->s[S_LF]);
		else
			snprintf(buf, sizeof(buf), "%c%c%s%c%c", l->s[S_CR], l->s[S_LF],
				 results[r].text, l->s[S_CR], l->s[S_LF]);
	} else {
		int code = results[r].code;

		if (r == RC_CONNECT) {
			/* the codes most Hayes-compatible modems agree on */
			switch (l->speed) {
			case 1200: code = 5; break;
			case 2400: code = 10; break;
			case 4800: code = 11; break;
			case 9600: code = 12; break;
			default: break;
			}
		}
		snprintf(buf, sizeof(buf), "%d%c", code, l->s[S_CR]);
	}
	ex_q_puts(l, buf);
}

/* Information text (I, S?, +VCID?): framed like a verbose result. */
static void info(struct line *l, const char *text)
{
	char buf[CMD_MAX + 8];

	if (l->verbose)
		snprintf(buf, sizeof(buf), "%c%c%s%c%c", l->s[S_CR], l->s[S_LF], text,
			 l->s[S_CR], l->s[S_LF]);
	else
		snprintf(buf, sizeof(buf), "%s%c%c", text, l->s[S_CR], l->s[S_LF]);
	ex_q_puts(l, buf);
}

void ex_factory(struct line *l)
{
	static const uint8_t s_default[S_REGS] = {
		[S_AUTOANSWER] = 0, [S_ESCAPE] = '+', [S_CR] = '\r', [S_LF] = '\n',
		[S_BS] = 8, [6] = 2, [S_CARRIER_WAIT] = 50, [8] = 2, [9] = 6,
		[10] = 14, [11] = 95, [S_GUARD] = 50,
	};

	l->echo = true;
	l->verbose = true;
	l->quiet = false;
	l->cid = false;
	l->dtr_mode = 2;
	l->xmode = 4;
	memcpy(l->s, s_default, sizeof(l->s));
}

/* ------------------------------------------------------------ AT commands */

/* Reads an optional decimal parameter at *p (default 0). */
static unsigned long at_num(const char **p)
{
	unsigned long v = 0;

	while (isdigit((unsigned char)**p)) {
		if (v < 100000)
			v = v * 10 + (unsigned long)(**p - '0');
		(*p)++;
	}
	return v;
}

/* The dial string of ATD: digits, * and #; T, P and the usual punctuation
 * are ignored. Returns false on anything else.
 */
static bool dial_string(const char *p, char *out)
{
	size_t n = 0;

	for (; *p; p++) {
		char c = (char)toupper((unsigned char)*p);

		if (isdigit((unsigned char)c) || c == '*' || c == '#') {
			if (n == NUMBER_MAX)
				return false;
			out[n++] = c;
		} else if (!strchr("TPW,-() @!", c)) {
			return false;
		}
	}
	out[n] = '\0';
	return n > 0;
}

/* An extended command (+VCID, #CID) at p, after the prefix; consumes up to
 * ';' or the end. Returns false for ERROR.
 */
static bool at_extended(struct line *l, const char **pp)
{
	const char *p = *pp;
	char name[16];
	size_t n = 0;
	char buf[64];

	while (isalpha((unsigned char)*p) && n < sizeof(name) - 1)
		name[n++] = (char)toupper((unsigned char)*p++);
	name[n] = '\0';
	if (strcmp(name, "VCID") && strcmp(name, "CID"))
		return false;
	if (!strcmp(p, "?") || !strncmp(p, "?;", 2)) {
		snprintf(buf, sizeof(buf), "%s%s: %d", name[0] == 'V' ? "+" : "#", name,
			 l->cid ? 1 : 0);
		info(l, buf);
		p++;
	} else if (!strncmp(p, "=?", 2)) {
		snprintf(buf, sizeof(buf), "%s%s: (0-1)", name[0] == 'V' ? "+" : "#", name);
		info(l, buf);
		p += 2;
	} else if (*p == '=' && (p[1] == '0' || p[1] == '1') && !isdigit((unsigned char)p[2])) {
		l->cid = p[1] == '1';
		p += 2;
	} else {
		return false;
	}
	if (*p == ';')
		p++;
	*pp = p;
	return true;
}

/* Runs the commands after "AT". */
static void at_execute(struct line *l, const char *cmdline)
{
	char buf[CMD_MAX + 1];
	const char *p;
	size_t n = 0;
	unsigned long v;
	char text[96];

	/* spaces are ignored between commands on a Hayes modem */
	for (const char *s = cmdline; *s && n < CMD_MAX; s++)
		if (*s != ' ')
			buf[n++] = (char)toupper((unsigned char)*s);
	buf[n] = '\0';
	p = buf;
	while (*p) {
		char c = *p++;

		switch (c) {
		case 'Z':
			at_num(&p);
			if (l->st == ST_ONLINE_CMD)
				ex_end_call(l, "atz");
			ex_factory(l);
			l->st = l->st == ST_OFFHOOK ? ST_IDLE : l->st;
			break;
		case 'E': v = at_num(&p); if (v > 1) goto error; l->echo = v; break;
		case 'V': v = at_num(&p); if (v > 1) goto error; l->verbose = v; break;
		case 'Q': v = at_num(&p); if (v > 1) goto error; l->quiet = v; break;
		case 'X': v = at_num(&p); if (v > 4) goto error; l->xmode = (unsigned)v; break;
		case 'L': case 'M': v = at_num(&p); if (v > 3) goto error; break;
		case 'H':
			v = at_num(&p);
			if (v > 1)
				goto error;
			if (v == 1) {
				if (l->st != ST_IDLE && l->st != ST_OFFHOOK)
					goto error;
				l->st = ST_OFFHOOK;
			} else if (l->st == ST_ONLINE_CMD) {
				ex_end_call(l, "ath");
			} else if (l->st == ST_OFFHOOK) {
				l->st = ST_IDLE;
			}
			break;
		case 'I':
			v = at_num(&p);
			if (v > 9)
				goto error;
			if (v == 3)
				snprintf(text, sizeof(text), "sealine-exchange Hayes emulation, line %s",
					 l->id);
			else if (v == 4)
				snprintf(text, sizeof(text), "%lu", l->baud);
			else
				snprintf(text, sizeof(text), "SEALINE-EXCHANGE");
			info(l, text);
			break;
		case 'S': {
			unsigned long reg = at_num(&p);

			if (reg >= S_REGS)
				goto error;
			if (*p == '?') {
				p++;
				snprintf(text, sizeof(text), "%03u", l->s[reg]);
				info(l, text);
			} else if (*p == '=') {
				p++;
				if (!isdigit((unsigned char)*p))
					goto error;
				v = at_num(&p);
				if (v > 255 || reg == S_RINGCOUNT)
					goto error;
				l->s[reg] = (uint8_t)v;
			} else {
				goto error;
			}
			break;
		}
		case '&':
			c = *p++;
			v = at_num(&p);
			switch (c) {
			case 'F': if (v) goto error; ex_factory(l); break;
			case 'D': if (v > 3) goto error; l->dtr_mode = (unsigned)v; break;
			case 'C': if (v > 1) goto error; break;
			case 'K': if (v > 6) goto error; break;
			default: goto error;
			}
			break;
		case '+':
		case '#':
			if (!at_extended(l, &p))
				goto error;
			break;
		case 'O':
			at_num(&p);
			if (*p)
				goto error;
			if (l->st != ST_ONLINE_CMD) {
				ex_result(l, RC_NO_CARRIER);
				return;
			}
			l->st = ST_ONLINE;
			l->last_rx = ex_now_ns();
			l->plus = 0;
			ex_event("online line=%s", l->id);
			ex_result(l, RC_CONNECT);
			return;
		case 'A':
			if (*p)
				goto error;
			if (l->st == ST_RINGING && !l->f_noanswer) {
				ex_answer(l, "ata");
			} else if (l->st == ST_ONLINE_CMD) {
				goto error;
			} else {
				/* nobody calls (or, forced noanswer, the ring
				 * never reached this modem): nothing to answer
				 */
				ex_result(l, RC_NO_CARRIER);
			}
			return;
		case 'D': {
			char number[NUMBER_MAX + 1];

			if (l->st == ST_ONLINE_CMD || !dial_string(p, number))
				goto error;
			if (l->st == ST_RINGING) {
				/* off hook while it rings: no dial tone */
				ex_event("nodialtone line=%s to=%s", l->id, number);
				ex_result(l, RC_NO_DIALTONE);
				return;
			}
			ex_dial(l, number);
			return;
		}
		default:
			goto error;
		}
	}
	ex_result(l, RC_OK);
	return;
error:
	ex_result(l, RC_ERROR);
}

/* A complete command line (without S3): find "AT" and run what follows. */
static void at_line(struct line *l)
{
	char *s = l->cmd;

	l->cmd[l->cmd_len] = '\0';
	if (l->cmd_overflow) {
		l->cmd_len = 0;
		l->cmd_overflow = false;
		ex_result(l, RC_ERROR);
		return;
	}
	l->cmd_len = 0;
	for (; *s; s++)
		if (toupper((unsigned char)s[0]) == 'A' && toupper((unsigned char)s[1]) == 'T')
			break;
	if (!*s)
		return;	/* no "AT": line noise, ignored as by a real modem */
	snprintf(l->last_cmd, sizeof(l->last_cmd), "%s", s + 2);
	at_execute(l, s + 2);
}

void ex_modem_byte(struct line *l, uint8_t c)
{
	if (l->st == ST_DIALING) {
		/* any key aborts dialling; a LF after the CR is not a key */
		if (c != '\n' && c != l->s[S_LF])
			ex_abort_dial(l, "key", true);
		return;
	}
	if (l->echo)
		ex_q_push(l, &c, 1);
	if (c == l->s[S_CR]) {
		at_line(l);
	} else if (c == l->s[S_BS]) {
		if (l->cmd_len)
			l->cmd_len--;
	} else if (c == '/' && l->cmd_len == 1 && toupper((unsigned char)l->cmd[0]) == 'A') {
		/* A/ repeats the last command line at once */
		l->cmd_len = 0;
		at_execute(l, l->last_cmd);
	} else if (c == '\n' && !l->cmd_len) {
		/* LF after CR */
	} else if (l->cmd_len < CMD_MAX) {
		l->cmd[l->cmd_len++] = (char)c;
	} else {
		l->cmd_overflow = true;
	}
}

