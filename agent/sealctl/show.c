// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl show: the state and counters of attached lines.
 *
 * Three shapes of output, all from the same table of fields so that they
 * can never disagree: a readable listing, JSON (one flat object per line,
 * one object per output line, so shell tests can grep it), and a single
 * bare value ("sealctl show ttyS1 auth_failures" prints "3").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <linux/netlink.h>

#include "json.h"
#include "names.h"
#include "sealctl.h"

static const char cmd_name[] = "show";

enum field {
	F_INDEX,
	F_VTTY,
	F_TTY,
	F_STATE,
	F_CIPHER,
	F_KEY_EPOCH,
	F_STAGED_EPOCH,
	F_TX_COUNTER,
	F_KEY_AGE,
	F_AGENT_PORTID,
	F_MODE,
	F_DEAD_TIME,
	F_LINK,
	F_SRTT,
	F_RTO,
	F_FRAME_SIZE,
	N_FIELDS
};

static const struct {
	const char *name;
	const char *alias;	/* a shorter or the header's name, also accepted */
	const char *help;
} fields[N_FIELDS] = {
	[F_INDEX] = { "index", NULL, "the <n> of /dev/ttySL<n>" },
	[F_VTTY] = { "vtty", NULL, "the clear-text virtual tty, /dev/ttySL<n>" },
	[F_TTY] = { "tty", NULL, "the physical tty the line runs on" },
	[F_STATE] = { "state", NULL, "nokey, keyed or expired (nokey and expired fail closed)" },
	[F_CIPHER] = { "cipher", NULL, "chacha20poly1305, aes256gcm, or none" },
	[F_KEY_EPOCH] = { "key_epoch", "epoch", "epoch of the current key (none without one)" },
	[F_STAGED_EPOCH] = { "staged_epoch", "next_epoch", "epoch of the staged key (none without one)" },
	[F_TX_COUNTER] = { "tx_counter", NULL, "frames sent under the current key" },
	[F_KEY_AGE] = { "key_age", NULL, "seconds since the current key was activated" },
	[F_AGENT_PORTID] = { "agent_portid", NULL, "netlink port id of the registered agent (none without one)" },
	[F_MODE] = { "mode", NULL, "reliable or datagram: how this side sends" },
	[F_DEAD_TIME] = { "dead_time", NULL, "reliable mode: seconds unacknowledged before the line is dead" },
	[F_LINK] = { "link", NULL, "reliable mode: up, or dead (nothing acknowledged for the dead time)" },
	[F_SRTT] = { "srtt_ms", "srtt", "reliable mode: smoothed round trip, ms (0 until measured)" },
	[F_RTO] = { "rto_ms", "rto", "reliable mode: retransmission timeout with back-off, ms" },
	[F_FRAME_SIZE] = { "frame_size", NULL, "reliable mode: payload bytes per frame now (shrinks on a lossy line)" },
};

/* What "show LINE FIELD" asked for: a field above, or a counter. */
struct selector {
	bool is_stat;
	unsigned int id;
};

enum value_kind { V_NONE, V_NUMBER, V_STRING };

struct value {
	enum value_kind kind;
	char text[SEALINE_TTY_NAME_MAX + 32];
};

struct show_ctx {
	bool json;
	bool one_line;
	bool have_selector;
	struct selector sel;
	struct sl_line_ref line;
	unsigned int count;
	struct sl_attrs reply;
};

static void set_number(struct value *v, uint64_t n)
{
	v->kind = V_NUMBER;
	snprintf(v->text, sizeof(v->text), "%" PRIu64, n);
}

static void set_string(struct value *v, const char *s)
{
	v->kind = V_STRING;
	snprintf(v->text, sizeof(v->text), "%s", s);
}

/* Enum values this tool has no name for come from a newer module. */
static void set_enum(struct value *v, const char *name, unsigned int n)
{
	v->kind = V_STRING;
	if (name)
		snprintf(v->text, sizeof(v->text), "%s", name);
	else
		snprintf(v->text, sizeof(v->text), "unknown(%u)", n);
}

static void get_value(const struct sl_attrs *a, struct selector sel,
		      struct value *v)
{
	memset(v, 0, sizeof(*v));
	if (sel.is_stat) {
		if (a->stat_present & SL_HAS(sel.id))
			set_number(v, a->stats[sel.id]);
		return;
	}
	switch (sel.id) {
	case F_INDEX:
		if (a->present & SL_HAS(SEALINE_A_LINE_INDEX))
			set_number(v, a->index);
		break;
	case F_VTTY:
		if (a->present & SL_HAS(SEALINE_A_LINE_INDEX)) {
			v->kind = V_STRING;
			snprintf(v->text, sizeof(v->text), "/dev/%s%" PRIu32,
				 SEALINE_VTTY_NAME, a->index);
		}
		break;
	case F_TTY:
		if (a->present & SL_HAS(SEALINE_A_LINE_TTY))
			set_string(v, a->tty);
		break;
	case F_STATE:
		if (a->present & SL_HAS(SEALINE_A_LINE_STATE))
			set_enum(v, sl_state_name(a->state), a->state);
		break;
	case F_CIPHER:
		if (a->present & SL_HAS(SEALINE_A_CIPHER))
			set_enum(v, sl_cipher_name(a->cipher), a->cipher);
		break;
	case F_KEY_EPOCH:
		if (a->present & SL_HAS(SEALINE_A_KEY_EPOCH))
			set_number(v, a->key_epoch);
		break;
	case F_STAGED_EPOCH:
		if (a->present & SL_HAS(SEALINE_A_NEXT_EPOCH))
			set_number(v, a->next_epoch);
		break;
	case F_TX_COUNTER:
		if (a->present & SL_HAS(SEALINE_A_TX_COUNTER))
			set_number(v, a->tx_counter);
		break;
	case F_KEY_AGE:
		if (a->present & SL_HAS(SEALINE_A_KEY_AGE))
			set_number(v, a->key_age);
		break;
	case F_AGENT_PORTID:
		if (a->present & SL_HAS(SEALINE_A_AGENT_PORTID))
			set_number(v, a->agent_portid);
		break;
	case F_MODE:
		if (a->present & SL_HAS(SEALINE_A_MODE))
			set_enum(v, sl_mode_name(a->mode), a->mode);
		break;
	case F_DEAD_TIME:
		if (a->present & SL_HAS(SEALINE_A_DEAD_TIME))
			set_number(v, a->dead_time / 1000);
		break;
	case F_LINK:
		if (a->present & SL_HAS(SEALINE_A_LINK_DEAD))
			set_string(v, a->link_dead ? "dead" : "up");
		break;
	case F_SRTT:
		if (a->present & SL_HAS(SEALINE_A_SRTT))
			set_number(v, a->srtt);
		break;
	case F_RTO:
		if (a->present & SL_HAS(SEALINE_A_RTO))
			set_number(v, a->rto);
		break;
	case F_FRAME_SIZE:
		if (a->present & SL_HAS(SEALINE_A_FRAME_SIZE))
			set_number(v, a->frame_size);
		break;
	}
}

static void print_json_value(const struct value *v)
{
	if (v->kind == V_NONE)
		fputs("null", stdout);
	else if (v->kind == V_NUMBER)
		fputs(v->text, stdout);
	else
		sl_json_string(stdout, v->text);
}

static void print_json(const struct sl_attrs *a)
{
	struct value v;
	unsigned int i;

	/* Every key is always there (null when absent), so a missing
	 * counter is visible rather than a silently shorter object. */
	putchar('{');
	for (i = 0; i < N_FIELDS; ++i) {
		get_value(a, (struct selector){ false, i }, &v);
		printf("%s\"%s\": ", i ? ", " : "", fields[i].name);
		print_json_value(&v);
	}
	for (i = SEALINE_STAT_UNSPEC + 1; i < SEALINE_STAT_PAD; ++i) {
		get_value(a, (struct selector){ true, i }, &v);
		printf(", \"%s\": ", sl_stat_name(i));
		print_json_value(&v);
	}
	putchar('}');
}

/* "2h 3m 4s"; seconds alone under a minute. */
static void print_duration(uint32_t s)
{
	uint32_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

	if (d)
		printf("%" PRIu32 "d ", d);
	if (d || h)
		printf("%" PRIu32 "h ", h);
	if (d || h || m)
		printf("%" PRIu32 "m ", m);
	printf("%" PRIu32 "s", s % 60);
}

static void print_bytes(uint64_t n)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	unsigned int u = 0;

	printf("%" PRIu64, n);
	if (n < 1024)
		return;
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		++u;
	}
	printf(" (%.2f %s)", v, units[u]);
}

static void print_text_field(const char *label, const struct value *v)
{
	printf("  %s: %s\n", label, v->kind == V_NONE ? "none" : v->text);
}

static void print_text(const struct sl_attrs *a)
{
	bool keyed = a->present & SL_HAS(SEALINE_A_KEY_EPOCH);
	struct value v, w;
	unsigned int i;

	get_value(a, (struct selector){ false, F_INDEX }, &v);
	get_value(a, (struct selector){ false, F_VTTY }, &w);
	printf("line %s: %s", v.kind == V_NONE ? "?" : v.text,
	       w.kind == V_NONE ? "(no virtual tty)" : w.text);
	get_value(a, (struct selector){ false, F_TTY }, &v);
	printf(" on %s\n", v.kind == V_NONE ? "?" : v.text);

	get_value(a, (struct selector){ false, F_STATE }, &v);
	print_text_field("state", &v);
	get_value(a, (struct selector){ false, F_CIPHER }, &v);
	print_text_field("cipher", &v);
	get_value(a, (struct selector){ false, F_KEY_EPOCH }, &v);
	print_text_field("key epoch", &v);
	get_value(a, (struct selector){ false, F_STAGED_EPOCH }, &v);
	print_text_field("staged epoch", &v);
	get_value(a, (struct selector){ false, F_TX_COUNTER }, &v);
	print_text_field("tx counter", &v);

	/* An age without a key would be an age of nothing. */
	fputs("  key age: ", stdout);
	if (keyed && (a->present & SL_HAS(SEALINE_A_KEY_AGE)))
		print_duration(a->key_age);
	else
		fputs("none", stdout);
	putchar('\n');

	get_value(a, (struct selector){ false, F_AGENT_PORTID }, &v);
	print_text_field("agent portid", &v);
	get_value(a, (struct selector){ false, F_MODE }, &v);
	print_text_field("mode", &v);
	if (a->present & SL_HAS(SEALINE_A_MODE)) {
		/* Also shown in datagram mode: it still acknowledges a peer
		 * that sends reliably.
		 */
		get_value(a, (struct selector){ false, F_LINK }, &v);
		print_text_field("link", &v);
		printf("  dead time: %" PRIu32 " s, srtt: %" PRIu32
		       " ms, rto: %" PRIu32 " ms, frame size: %" PRIu32 "\n",
		       a->dead_time / 1000, a->srtt, a->rto, a->frame_size);
	}

	fputs("  statistics:\n", stdout);
	for (i = SEALINE_STAT_UNSPEC + 1; i < SEALINE_STAT_PAD; ++i) {
		char label[32];
		const char *name = sl_stat_name(i);
		size_t j;

		for (j = 0; name[j] && j + 1 < sizeof(label); ++j)
			label[j] = name[j] == '_' ? ' ' : name[j];
		label[j] = '\0';
		printf("    %-17s ", strcat(label, ":"));
		if (!(a->stat_present & SL_HAS(i)))
			fputs("none", stdout);
		else if (strstr(name, "bytes"))
			print_bytes(a->stats[i]);
		else
			printf("%" PRIu64, a->stats[i]);
		putchar('\n');
	}
}

static void print_line(struct show_ctx *ctx, const struct sl_attrs *a)
{
	struct value v;

	if (ctx->have_selector) {
		get_value(a, ctx->sel, &v);
		if (ctx->json)
			print_json_value(&v);
		else
			fputs(v.kind == V_NONE ? "none" : v.text, stdout);
		putchar('\n');
		return;
	}
	if (ctx->json) {
		if (!ctx->one_line)
			fputs(ctx->count ? ",\n" : "[\n", stdout);
		print_json(a);
		if (ctx->one_line)
			putchar('\n');
		return;
	}
	if (ctx->count)
		putchar('\n');
	print_text(a);
}

static int reply_line(const struct sl_attrs *a, void *arg)
{
	struct show_ctx *ctx = arg;

	if (a->cmd != SEALINE_CMD_GET_LINE)
		return 0;
	if (ctx->one_line) {
		/* Answering for another line than the one asked about
		 * would be a kernel bug; printing it would hide that. */
		if (ctx->count ||
		    !sl_line_matches(&ctx->line, a->index,
				     (a->present & SL_HAS(SEALINE_A_LINE_TTY)) ?
				     a->tty : NULL))
			return -EPROTO;
		ctx->reply = *a;
		ctx->reply.control = NULL;
		++ctx->count;
		return 0;
	}
	print_line(ctx, a);
	++ctx->count;
	return 0;
}

static int parse_selector(const char *arg, struct selector *sel)
{
	unsigned int i;
	int stat;

	for (i = 0; i < N_FIELDS; ++i) {
		if (!sl_name_cmp(arg, fields[i].name) ||
		    (fields[i].alias && !sl_name_cmp(arg, fields[i].alias))) {
			*sel = (struct selector){ false, i };
			return 0;
		}
	}
	stat = sl_stat_lookup(arg);
	if (stat < 0)
		return sl_usage_error(cmd_name,
				      "unknown field '%s' (see the FIELDS section of '%s show --help')",
				      arg, sl_prog);
	*sel = (struct selector){ true, (unsigned int)stat };
	return 0;
}

int sl_cmd_show(int argc, char *argv[])
{
	struct show_ctx ctx = { 0 };
	const char *line_arg = NULL;
	struct sl_nl nl;
	struct nl_msg *msg;
	int ret;

	ret = sl_common_options(argc, argv, cmd_name, sl_help_show, &ctx.json,
				NULL, 2);
	if (ret)
		return ret < 0 ? SL_EXIT_OK : ret;
	if (optind < argc) {
		line_arg = argv[optind];
		ret = sl_parse_line(cmd_name, line_arg, &ctx.line);
		if (ret)
			return ret;
		ctx.one_line = true;
	}
	if (optind + 1 < argc) {
		ret = parse_selector(argv[optind + 1], &ctx.sel);
		if (ret)
			return ret;
		ctx.have_selector = true;
	}

	ret = sl_connect(&nl, cmd_name);
	if (ret)
		return ret;

	msg = sl_nl_new_request(&nl, SEALINE_CMD_GET_LINE,
				ctx.one_line ? 0 : NLM_F_DUMP);
	if (!msg) {
		ret = sl_failure("%s: %s", cmd_name, sl_nl_strerror(-ENOMEM));
		goto out_close;
	}
	if (ctx.one_line && sl_nl_put_line(msg, &ctx.line)) {
		sl_nl_free_msg(msg);
		ret = sl_failure("%s: %s", cmd_name, sl_nl_strerror(-EMSGSIZE));
		goto out_close;
	}
	ret = sl_nl_request(&nl, msg, reply_line, &ctx);
	if (!ret && ctx.one_line && !ctx.count)
		ret = -EPROTO;
	if (ret) {
		ret = sl_kernel_error(&nl, cmd_name, line_arg, ret);
		goto out_close;
	}

	if (ctx.one_line)
		print_line(&ctx, &ctx.reply);
	else if (ctx.json)
		fputs(ctx.count ? "\n]\n" : "[]\n", stdout);
	ret = SL_EXIT_OK;
	if (fflush(stdout) == EOF)
		ret = sl_failure("%s: writing output: %s", cmd_name, strerror(errno));

out_close:
	sl_nl_close(&nl);
	return ret;
}

void sl_help_show(FILE *f)
{
	unsigned int i;

	fprintf(f,
		"NAME\n"
		"    %1$s show - show sealine lines, their keys and counters\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s show [--json]\n"
		"    %1$s show LINE [--json]\n"
		"    %1$s show LINE FIELD [--json]\n"
		"\n"
		"DESCRIPTION\n"
		"    Without LINE, show every attached line (a netlink dump). With LINE,\n"
		"    show that line only. With LINE and FIELD, print one value of the line\n"
		"    and nothing else: a number, a word, or \"none\" when the line has no such\n"
		"    value (no current key, no staged key, no agent). Keys are never shown:\n"
		"    the kernel does not give them back.\n"
		"\n"
		"    LINE is a physical tty (ttyS1, /dev/ttyS1) or a virtual one (ttySL0,\n"
		"    /dev/ttySL0). FIELD is one of the names below; case does not matter and\n"
		"    '-' may stand for '_'.\n"
		"\n"
		"OPTIONS\n"
		"    -j, --json\n"
		"        Print JSON. A dump is an array with one object per output line;\n"
		"        one LINE is a single object on one line; a FIELD is a bare JSON\n"
		"        value (null when absent). Objects are flat: every field and every\n"
		"        counter below is a key, always present, null when the kernel did not\n"
		"        report it. Numbers are plain integers (key_age in seconds).\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"FIELDS\n",
		sl_prog);
	for (i = 0; i < N_FIELDS; ++i) {
		fprintf(f, "    %-15s %s", fields[i].name, fields[i].help);
		if (fields[i].alias)
			fprintf(f, "; also '%s'", fields[i].alias);
		fputc('\n', f);
	}
	fprintf(f, "\nCOUNTERS (64-bit, since the line was attached)\n");
	for (i = SEALINE_STAT_UNSPEC + 1; i < SEALINE_STAT_PAD; ++i)
		fprintf(f, "    %-15s %s\n", sl_stat_name(i), sl_stat_help(i));
	fprintf(f,
		"\n"
		"EXIT STATUS\n"
		"    0 on success, 1 if the module is not loaded, the line is not attached\n"
		"    or the kernel refused (CAP_NET_ADMIN is needed), 2 on a usage error\n"
		"    (including an unknown FIELD).\n"
		"\n"
		"EXAMPLES\n"
		"    %1$s show\n"
		"    %1$s show /dev/ttyS1\n"
		"    %1$s show ttySL0 --json\n"
		"        {\"index\": 0, \"vtty\": \"/dev/ttySL0\", \"tty\": \"ttyS1\", \"state\": \"keyed\", ...}\n"
		"    %1$s show ttyS1 auth_failures\n"
		"        3\n",
		sl_prog);
}
