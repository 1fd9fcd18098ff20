// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The kernel as sealined's lines see it (struct sl_kernel_ops, lines.h):
 * generic netlink requests on the agent's socket (netlink.h).
 */
#include <errno.h>
#include <string.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include "lines.h"

/* ------------------------------------------------------------ netlink */

static uint32_t nl_portid(void *ctx)
{
	return sl_nl_portid(ctx);
}

static int line_request(struct sl_nl *nl, uint8_t cmd, const char *tty,
			struct nl_msg **out)
{
	struct sl_line_ref ref = { .by_index = false };
	struct nl_msg *msg;

	snprintf(ref.tty, sizeof(ref.tty), "%s", tty);
	msg = sl_nl_new_request(nl, cmd, 0);
	if (!msg)
		return -ENOMEM;
	if (sl_nl_put_line(msg, &ref)) {
		sl_nl_free_msg(msg);
		return -EMSGSIZE;
	}
	*out = msg;
	return 0;
}

struct get_line_ctx {
	const char *tty;
	struct sl_attrs *out;
	bool got;
};

static int get_line_reply(const struct sl_attrs *a, void *arg)
{
	struct get_line_ctx *ctx = arg;

	if (a->cmd != SEALINE_CMD_GET_LINE)
		return 0;
	if (ctx->got || !(a->present & SL_HAS(SEALINE_A_LINE_TTY)) ||
	    strcmp(a->tty, ctx->tty))
		return -EPROTO;
	*ctx->out = *a;
	ctx->out->control = NULL;
	ctx->out->control_len = 0;
	ctx->got = true;
	return 0;
}

static int nl_get_line(void *c, const char *tty, struct sl_attrs *out)
{
	struct get_line_ctx ctx = { .tty = tty, .out = out };
	struct nl_msg *msg;
	int ret;

	ret = line_request(c, SEALINE_CMD_GET_LINE, tty, &msg);
	if (ret)
		return ret;
	ret = sl_nl_request(c, msg, get_line_reply, &ctx);
	if (!ret && !ctx.got)
		ret = -EPROTO;
	return ret;
}

static int nl_register_agent(void *c, const char *tty)
{
	struct nl_msg *msg;
	int ret;

	ret = line_request(c, SEALINE_CMD_REGISTER_AGENT, tty, &msg);
	if (ret)
		return ret;
	return sl_nl_request(c, msg, NULL, NULL);
}

static int nl_send_control(void *c, const char *tty, const uint8_t *data,
			   size_t len)
{
	struct nl_msg *msg;
	int ret;

	if (!len || len > SEALINE_MAX_CONTROL)
		return -EMSGSIZE;
	ret = line_request(c, SEALINE_CMD_SEND_CONTROL, tty, &msg);
	if (ret)
		return ret;
	if (nla_put(msg, SEALINE_A_CONTROL, (int)len, data) < 0) {
		sl_nl_free_msg(msg);
		return -EMSGSIZE;
	}
	return sl_nl_request(c, msg, NULL, NULL);
}

static int nl_set_key(void *c, const char *tty, uint32_t epoch, uint8_t cipher,
		      const uint8_t *tx, const uint8_t *rx)
{
	struct nl_msg *msg;
	int ret;

	ret = line_request(c, SEALINE_CMD_SET_KEY, tty, &msg);
	if (ret)
		return ret;
	if (nla_put_u32(msg, SEALINE_A_KEY_EPOCH, epoch) < 0 ||
	    nla_put_u8(msg, SEALINE_A_CIPHER, cipher) < 0 ||
	    nla_put(msg, SEALINE_A_KEY_TX, SEALINE_KEY_LEN, tx) < 0 ||
	    nla_put(msg, SEALINE_A_KEY_RX, SEALINE_KEY_LEN, rx) < 0) {
		sl_nl_free_msg(msg);	/* wipes */
		return -EMSGSIZE;
	}
	/* sl_nl_request wipes the request buffer, keys included. */
	return sl_nl_request(c, msg, NULL, NULL);
}

/*
 * A request about one line with at most one integer attribute: @bits 8 or
 * 32 for its width, 0 for none.
 */
static int line_request_send(void *c, uint8_t cmd, const char *tty, int attr,
			     int bits, uint32_t value)
{
	struct nl_msg *msg;
	int ret = line_request(c, cmd, tty, &msg);

	if (ret)
		return ret;
	if ((bits == 8 && nla_put_u8(msg, attr, (uint8_t)value) < 0) ||
	    (bits == 32 && nla_put_u32(msg, attr, value) < 0)) {
		sl_nl_free_msg(msg);
		return -EMSGSIZE;
	}
	return sl_nl_request(c, msg, NULL, NULL);
}

static int nl_activate_key(void *c, const char *tty, uint32_t epoch)
{
	return line_request_send(c, SEALINE_CMD_ACTIVATE_KEY, tty,
				 SEALINE_A_KEY_EPOCH, 32, epoch);
}

static int nl_clear_keys(void *c, const char *tty)
{
	return line_request_send(c, SEALINE_CMD_CLEAR_KEYS, tty, 0, 0, 0);
}

static int nl_set_mode(void *c, const char *tty, uint8_t mode)
{
	return line_request_send(c, SEALINE_CMD_SET_LINE, tty, SEALINE_A_MODE,
				 8, mode);
}

const struct sl_kernel_ops sl_kernel_netlink = {
	.portid = nl_portid,
	.get_line = nl_get_line,
	.register_agent = nl_register_agent,
	.send_control = nl_send_control,
	.set_key = nl_set_key,
	.activate_key = nl_activate_key,
	.clear_keys = nl_clear_keys,
	.set_mode = nl_set_mode,
};

