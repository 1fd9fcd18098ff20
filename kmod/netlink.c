// SPDX-License-Identifier: GPL-2.0
/*
 * Generic netlink family "sealine": the only interface between the line
 * discipline and its agent. uapi/linux/sealine.h documents every command.
 */
#include <crypto/algapi.h>
#include <linux/module.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/sock.h>

#include "line.h"

static struct genl_family sealine_genl_family;
MODULE_ALIAS_GENL_FAMILY(SEALINE_GENL_NAME);

enum sealine_mcgrp {
	SEALINE_MCGRP_EVENTS_ID,
};

static const struct genl_multicast_group sealine_mcgrps[] = {
	/* Events name lines and keys' epochs; only admins may listen. */
	[SEALINE_MCGRP_EVENTS_ID] = { .name = SEALINE_MCGRP_EVENTS,
				      .flags = GENL_MCAST_CAP_NET_ADMIN },
};

static struct netlink_range_validation sealine_dead_time_range = {
	.min = SEALINE_DEAD_TIME_MIN,
	.max = SEALINE_DEAD_TIME_MAX,
};

static const struct nla_policy sealine_policy[SEALINE_A_MAX + 1] = {
	[SEALINE_A_LINE_INDEX] = NLA_POLICY_MAX(NLA_U32, SEALINE_MAX_LINES - 1),
	[SEALINE_A_LINE_TTY] = { .type = NLA_NUL_STRING,
				 .len = SEALINE_TTY_NAME_MAX - 1 },
	[SEALINE_A_LINE_STATE] = { .type = NLA_REJECT },
	[SEALINE_A_CIPHER] = NLA_POLICY_RANGE(NLA_U8,
					      SEALINE_CIPHER_CHACHA20POLY1305,
					      SEALINE_CIPHER_AES256GCM),
	[SEALINE_A_KEY_EPOCH] = { .type = NLA_U32 },
	[SEALINE_A_NEXT_EPOCH] = { .type = NLA_REJECT },
	[SEALINE_A_KEY_TX] = NLA_POLICY_EXACT_LEN(SEALINE_KEY_LEN),
	[SEALINE_A_KEY_RX] = NLA_POLICY_EXACT_LEN(SEALINE_KEY_LEN),
	[SEALINE_A_CONTROL] = NLA_POLICY_RANGE(NLA_BINARY, 1,
					       SEALINE_MAX_CONTROL),
	[SEALINE_A_TX_COUNTER] = { .type = NLA_REJECT },
	[SEALINE_A_KEY_AGE] = { .type = NLA_REJECT },
	[SEALINE_A_AGENT_PORTID] = { .type = NLA_REJECT },
	[SEALINE_A_LIMIT] = { .type = NLA_REJECT },
	[SEALINE_A_STATS] = { .type = NLA_REJECT },
	[SEALINE_A_MODE] = NLA_POLICY_MAX(NLA_U8, SEALINE_MODE_RELIABLE),
	[SEALINE_A_DEAD_TIME] = NLA_POLICY_FULL_RANGE(NLA_U32,
						      &sealine_dead_time_range),
	[SEALINE_A_LINK_DEAD] = { .type = NLA_REJECT },
	[SEALINE_A_SRTT] = { .type = NLA_REJECT },
	[SEALINE_A_RTO] = { .type = NLA_REJECT },
	[SEALINE_A_FRAME_SIZE] = { .type = NLA_REJECT },
};

/* Finds the line a request names, with a reference. */
static struct sealine_line *sealine_nl_line(struct nlattr **attrs,
					    struct netlink_ext_ack *extack)
{
	struct nlattr *index = attrs[SEALINE_A_LINE_INDEX];
	struct nlattr *name = attrs[SEALINE_A_LINE_TTY];
	struct sealine_line *line;

	if (index) {
		line = sealine_line_get(nla_get_u32(index));
		if (line && name && strcmp(line->tty_name, nla_data(name))) {
			sealine_line_put(line);
			NL_SET_ERR_MSG(extack, "line index and tty name disagree");
			return ERR_PTR(-EINVAL);
		}
	} else if (name) {
		line = sealine_line_get_by_tty(nla_data(name));
	} else {
		NL_SET_ERR_MSG(extack, "no line given (index or tty name)");
		return ERR_PTR(-EINVAL);
	}
	if (!line) {
		NL_SET_ERR_MSG(extack, "no sealine line by that name");
		return ERR_PTR(-ENODEV);
	}
	return line;
}

static int sealine_nl_put_line_id(struct sk_buff *skb,
				  struct sealine_line *line)
{
	if (nla_put_u32(skb, SEALINE_A_LINE_INDEX, line->index) ||
	    nla_put_string(skb, SEALINE_A_LINE_TTY, line->tty_name))
		return -EMSGSIZE;
	return 0;
}

static int sealine_nl_fill_line(struct sk_buff *skb, struct sealine_line *line,
				u32 portid, u32 seq, int flags)
{
	struct sealine_line_info info;
	struct nlattr *stats;
	void *hdr;
	int i;

	hdr = genlmsg_put(skb, portid, seq, &sealine_genl_family, flags,
			  SEALINE_CMD_GET_LINE);
	if (!hdr)
		return -EMSGSIZE;

	sealine_line_snapshot(line, &info);
	if (sealine_nl_put_line_id(skb, line) ||
	    nla_put_u8(skb, SEALINE_A_LINE_STATE, info.state) ||
	    nla_put_u8(skb, SEALINE_A_CIPHER, info.cipher) ||
	    (info.has_cur &&
	     (nla_put_u32(skb, SEALINE_A_KEY_EPOCH, info.epoch) ||
	      nla_put_u64_64bit(skb, SEALINE_A_TX_COUNTER, info.tx_counter,
				SEALINE_A_PAD) ||
	      nla_put_u32(skb, SEALINE_A_KEY_AGE, info.key_age))) ||
	    (info.has_next &&
	     nla_put_u32(skb, SEALINE_A_NEXT_EPOCH, info.next_epoch)) ||
	    (info.agent_portid &&
	     nla_put_u32(skb, SEALINE_A_AGENT_PORTID, info.agent_portid)) ||
	    nla_put_u8(skb, SEALINE_A_MODE, info.mode) ||
	    nla_put_u32(skb, SEALINE_A_DEAD_TIME, info.dead_time) ||
	    nla_put_u8(skb, SEALINE_A_LINK_DEAD, info.arq.dead) ||
	    nla_put_u32(skb, SEALINE_A_SRTT, info.arq.srtt_ms) ||
	    nla_put_u32(skb, SEALINE_A_RTO, info.arq.rto_ms) ||
	    nla_put_u32(skb, SEALINE_A_FRAME_SIZE, info.arq.frame_size))
		goto err_cancel;

	stats = nla_nest_start(skb, SEALINE_A_STATS);
	if (!stats)
		goto err_cancel;
	for (i = SEALINE_STAT_UNSPEC + 1; i < SEALINE_STAT_PAD; i++)
		if (nla_put_u64_64bit(skb, i, info.stats.v[i],
				      SEALINE_STAT_PAD))
			goto err_cancel;
	nla_nest_end(skb, stats);
	genlmsg_end(skb, hdr);
	return 0;

err_cancel:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

static int sealine_nl_get_line(struct sk_buff *skb, struct genl_info *info)
{
	struct sealine_line *line;
	struct sk_buff *msg;
	int ret;

	line = sealine_nl_line(info->attrs, info->extack);
	if (IS_ERR(line))
		return PTR_ERR(line);
	msg = nlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg) {
		ret = -ENOMEM;
		goto out_put_line;
	}
	ret = sealine_nl_fill_line(msg, line, info->snd_portid, info->snd_seq,
				   0);
	if (ret) {
		nlmsg_free(msg);
		goto out_put_line;
	}
	ret = genlmsg_reply(msg, info);
out_put_line:
	sealine_line_put(line);
	return ret;
}

/* cb->args[0]: the index to continue the dump from. */
static int sealine_nl_dump_lines(struct sk_buff *skb,
				 struct netlink_callback *cb)
{
	unsigned int index = cb->args[0];
	struct sealine_line *line;

	while ((line = sealine_line_get_next(&index))) {
		int ret = sealine_nl_fill_line(skb, line,
					       NETLINK_CB(cb->skb).portid,
					       cb->nlh->nlmsg_seq, NLM_F_MULTI);

		sealine_line_put(line);
		if (ret)
			break;
		index++;
	}
	cb->args[0] = index;
	return skb->len;
}

static int sealine_nl_set_key(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tx = info->attrs[SEALINE_A_KEY_TX];
	struct nlattr *rx = info->attrs[SEALINE_A_KEY_RX];
	struct sealine_line *line;
	enum sealine_cipher cipher;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, SEALINE_A_KEY_EPOCH) ||
	    GENL_REQ_ATTR_CHECK(info, SEALINE_A_KEY_TX) ||
	    GENL_REQ_ATTR_CHECK(info, SEALINE_A_KEY_RX)) {
		ret = -EINVAL;
		goto out_wipe;
	}
	/* One key for both directions would send and receive under the
	 * same key and nonces: a frame sent could be reflected back and
	 * accepted. The agent derives two keys; refuse anything else.
	 */
	if (!crypto_memneq(nla_data(tx), nla_data(rx), SEALINE_KEY_LEN)) {
		NL_SET_ERR_MSG(info->extack,
			       "transmit and receive keys are equal");
		ret = -EINVAL;
		goto out_wipe;
	}
	cipher = info->attrs[SEALINE_A_CIPHER] ?
		 nla_get_u8(info->attrs[SEALINE_A_CIPHER]) :
		 SEALINE_CIPHER_CHACHA20POLY1305;
	line = sealine_nl_line(info->attrs, info->extack);
	if (IS_ERR(line)) {
		ret = PTR_ERR(line);
		goto out_wipe;
	}
	ret = sealine_line_set_key(line, cipher,
				   nla_get_u32(info->attrs[SEALINE_A_KEY_EPOCH]),
				   nla_data(tx), nla_data(rx));
	if (ret == -EEXIST)
		NL_SET_ERR_MSG(info->extack,
			       "epoch clashes in its low 4 bits with a key in use");
	sealine_line_put(line);
out_wipe:
	/* The request skb is ours: leave no key bytes in freed memory. */
	if (tx)
		memzero_explicit(nla_data(tx), nla_len(tx));
	if (rx)
		memzero_explicit(nla_data(rx), nla_len(rx));
	return ret;
}

static int sealine_nl_activate_key(struct sk_buff *skb, struct genl_info *info)
{
	struct sealine_line *line;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, SEALINE_A_KEY_EPOCH))
		return -EINVAL;
	line = sealine_nl_line(info->attrs, info->extack);
	if (IS_ERR(line))
		return PTR_ERR(line);
	ret = sealine_line_activate_key(line,
					nla_get_u32(info->attrs[SEALINE_A_KEY_EPOCH]));
	if (ret == -ENOKEY)
		NL_SET_ERR_MSG(info->extack, "no key staged");
	else if (ret == -ESTALE)
		NL_SET_ERR_MSG(info->extack, "staged key has another epoch");
	sealine_line_put(line);
	return ret;
}

static int sealine_nl_clear_keys(struct sk_buff *skb, struct genl_info *info)
{
	struct sealine_line *line;

	line = sealine_nl_line(info->attrs, info->extack);
	if (IS_ERR(line))
		return PTR_ERR(line);
	sealine_line_clear_keys(line);
	sealine_line_put(line);
	return 0;
}

static int sealine_nl_set_line(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *mode = info->attrs[SEALINE_A_MODE];
	struct nlattr *dead = info->attrs[SEALINE_A_DEAD_TIME];
	struct sealine_line *line;
	int ret = 0;

	if (!mode && !dead) {
		NL_SET_ERR_MSG(info->extack, "nothing to set (mode, dead time)");
		return -EINVAL;
	}
	line = sealine_nl_line(info->attrs, info->extack);
	if (IS_ERR(line))
		return PTR_ERR(line);
	if (mode) {
		ret = sealine_line_set_mode(line, nla_get_u8(mode));
		if (ret == -EBUSY)
			NL_SET_ERR_MSG(info->extack,
				       "the mode changes only while the line has no current key (clear its keys first)");
	}
	if (!ret && dead)
		ret = sealine_line_set_dead_time(line, nla_get_u32(dead));
	if (ret == -ENODEV)
		NL_SET_ERR_MSG(info->extack, "the line is being detached");
	sealine_line_put(line);
	return ret;
}

static int sealine_nl_register_agent(struct sk_buff *skb,
				     struct genl_info *info)
{
	struct sealine_line *line;
	int ret;

	line = sealine_nl_line(info->attrs, info->extack);
	if (IS_ERR(line))
		return PTR_ERR(line);
	ret = sealine_line_register_agent(line, genl_info_net(info),
					  info->snd_portid);
	if (ret == -ENODEV)
		NL_SET_ERR_MSG(info->extack, "the line is being detached");
	sealine_line_put(line);
	return ret;
}

static int sealine_nl_send_control(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *msg = info->attrs[SEALINE_A_CONTROL];
	struct sealine_line *line;
	unsigned long flags;
	bool is_agent;
	u32 agent;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, SEALINE_A_CONTROL))
		return -EINVAL;
	line = sealine_nl_line(info->attrs, info->extack);
	if (IS_ERR(line))
		return PTR_ERR(line);
	spin_lock_irqsave(&line->lock, flags);
	agent = line->agent_portid;
	is_agent = agent == info->snd_portid &&
		   net_eq(line->agent_net, genl_info_net(info));
	spin_unlock_irqrestore(&line->lock, flags);
	if (!agent) {
		NL_SET_ERR_MSG(info->extack, "no agent registered on the line");
		ret = -ENOTCONN;
	} else if (!is_agent) {
		NL_SET_ERR_MSG(info->extack,
			       "only the line's registered agent may send");
		ret = -EACCES;
	} else {
		ret = sealine_line_queue_control(line, nla_data(msg),
						 nla_len(msg));
	}
	sealine_line_put(line);
	return ret;
}

static const struct genl_ops sealine_genl_ops[] = {
	{
		.cmd = SEALINE_CMD_GET_LINE,
		.doit = sealine_nl_get_line,
		.dumpit = sealine_nl_dump_lines,
		/* Statistics reveal traffic. */
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = SEALINE_CMD_SET_KEY,
		.doit = sealine_nl_set_key,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = SEALINE_CMD_ACTIVATE_KEY,
		.doit = sealine_nl_activate_key,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = SEALINE_CMD_CLEAR_KEYS,
		.doit = sealine_nl_clear_keys,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = SEALINE_CMD_REGISTER_AGENT,
		.doit = sealine_nl_register_agent,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = SEALINE_CMD_SEND_CONTROL,
		.doit = sealine_nl_send_control,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = SEALINE_CMD_SET_LINE,
		.doit = sealine_nl_set_line,
		.flags = GENL_ADMIN_PERM,
	},
};

static struct genl_family sealine_genl_family __ro_after_init = {
	.name = SEALINE_GENL_NAME,
	.version = SEALINE_GENL_VERSION,
	.maxattr = SEALINE_A_MAX,
	.policy = sealine_policy,
	.resv_start_op = __SEALINE_CMD_MAX,
	.ops = sealine_genl_ops,
	.n_ops = ARRAY_SIZE(sealine_genl_ops),
	.mcgrps = sealine_mcgrps,
	.n_mcgrps = ARRAY_SIZE(sealine_mcgrps),
	.module = THIS_MODULE,
};

static struct sk_buff *sealine_nl_event_new(struct sealine_line *line, u8 cmd,
					    size_t extra, void **hdr)
{
	struct sk_buff *skb;

	skb = genlmsg_new(nla_total_size(sizeof(u32)) +
			  nla_total_size(SEALINE_TTY_NAME_MAX) + extra,
			  GFP_KERNEL);
	if (!skb)
		return NULL;
	*hdr = genlmsg_put(skb, 0, 0, &sealine_genl_family, 0, cmd);
	if (!*hdr || sealine_nl_put_line_id(skb, line)) {
		nlmsg_free(skb);
		return NULL;
	}
	return skb;
}

/* Unicast to the line's agent; forgets an agent whose socket is gone. */
static int sealine_nl_to_agent(struct sealine_line *line, struct sk_buff *skb)
{
	unsigned long flags;
	struct net *net;
	u32 portid;
	int ret;

	spin_lock_irqsave(&line->lock, flags);
	portid = line->agent_portid;
	net = line->agent_net;
	spin_unlock_irqrestore(&line->lock, flags);
	if (!portid) {
		nlmsg_free(skb);
		return -ENOTCONN;
	}
	ret = genlmsg_unicast(net, skb, portid);
	if (ret == -ECONNREFUSED)
		sealine_agent_released(net, portid);
	return ret;
}

/* Events about a line's keys and link: its agent and every listener. */
static void sealine_nl_to_agent_and_all(struct sealine_line *line,
					struct sk_buff *skb)
{
	struct sk_buff *copy = skb_clone(skb, GFP_KERNEL);

	if (copy)
		sealine_nl_to_agent(line, copy);
	genlmsg_multicast(&sealine_genl_family, skb, 0, SEALINE_MCGRP_EVENTS_ID,
			  GFP_KERNEL);
}

void sealine_nl_key_event(struct sealine_line *line, u8 cmd, u32 epoch,
			  enum sealine_limit limit)
{
	struct sk_buff *skb;
	void *hdr;

	skb = sealine_nl_event_new(line, cmd, nla_total_size(sizeof(u32)) +
				   nla_total_size(sizeof(u8)), &hdr);
	if (!skb)
		return;
	if (nla_put_u32(skb, SEALINE_A_KEY_EPOCH, epoch) ||
	    nla_put_u8(skb, SEALINE_A_LIMIT, limit)) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	sealine_nl_to_agent_and_all(line, skb);
}

/*
 * Events that name only a line: LINE_UP and LINE_DOWN (a line has no agent
 * then, so they reach the listeners alone) and LINK_DEAD/LINK_ALIVE.
 */
void sealine_nl_line_event(struct sealine_line *line, u8 cmd)
{
	struct sk_buff *skb;
	void *hdr;

	skb = sealine_nl_event_new(line, cmd, 0, &hdr);
	if (!skb)
		return;
	genlmsg_end(skb, hdr);
	sealine_nl_to_agent_and_all(line, skb);
}

/* Control messages go to the registered agent and to nobody else. */
void sealine_nl_control_received(struct sealine_line *line, const u8 *msg,
				 size_t len)
{
	struct sk_buff *skb;
	void *hdr;

	skb = sealine_nl_event_new(line, SEALINE_CMD_CONTROL_RECEIVED,
				   nla_total_size(len), &hdr);
	if (!skb)
		goto drop;
	if (nla_put(skb, SEALINE_A_CONTROL, len, msg)) {
		nlmsg_free(skb);
		goto drop;
	}
	genlmsg_end(skb, hdr);
	if (sealine_nl_to_agent(line, skb))
		goto drop;
	sealine_stat_add(line, SEALINE_STAT_CONTROL_RX, 1);
	return;
drop:
	sealine_stat_add(line, SEALINE_STAT_CONTROL_DROPS, 1);
}

static int sealine_nl_notify(struct notifier_block *nb, unsigned long state,
			     void *ptr)
{
	struct netlink_notify *n = ptr;

	if (state == NETLINK_URELEASE && n->protocol == NETLINK_GENERIC &&
	    n->portid)
		sealine_agent_released(n->net, n->portid);
	return NOTIFY_DONE;
}

static struct notifier_block sealine_nl_notifier = {
	.notifier_call = sealine_nl_notify,
};

int sealine_netlink_init(void)
{
	int ret;

	ret = genl_register_family(&sealine_genl_family);
	if (ret)
		return ret;
	ret = netlink_register_notifier(&sealine_nl_notifier);
	if (ret)
		genl_unregister_family(&sealine_genl_family);
	return ret;
}

void sealine_netlink_exit(void)
{
	netlink_unregister_notifier(&sealine_nl_notifier);
	genl_unregister_family(&sealine_genl_family);
}
