// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Generic netlink client for the "sealine" family. See netlink.h.
 *
 * libnl does the socket and message plumbing; everything it would decide
 * for us that matters is done here instead:
 *
 *  - the family and its "events" group are resolved with one controller
 *    request whose reply is validated like any other;
 *  - sequence numbers are matched by hand, because one socket carries both
 *    request/ack traffic and unsolicited messages (events, and the control
 *    messages the kernel unicasts to a registered agent) that arrive with
 *    sequence number 0 at any moment, even while an ack is awaited;
 *  - the kernel's errno is kept as an errno (libnl folds it into its own
 *    codes), and its extended-ack message is kept for the user;
 *  - NETLINK_CAP_ACK is mandatory: without it the kernel echoes a failed
 *    request, key attributes included, into a receive buffer libnl frees
 *    without wiping;
 *  - every request buffer is wiped before it is freed, whether or not it
 *    held a key, so no caller can forget to.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "netlink.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* The bitmaps in struct sl_attrs hold one bit per attribute. */
_Static_assert(SEALINE_A_MAX < 64, "sl_attrs.present is 64 bits");
_Static_assert(SEALINE_STAT_MAX < 64, "sl_attrs.stat_present is 64 bits");

/* Room for a burst of events (a TSP attaches many lines at once) so that
 * the monitor does not lose any to a receive-buffer overrun. */
#define SL_NL_RCVBUF (1 << 20)

/* libnl's error codes back to the errno they came from, as far as they say. */
static int errno_from_libnl(int nlerr)
{
	switch (abs(nlerr)) {
	case 0:				return 0;
	case NLE_INTR:			return -EINTR;
	case NLE_BAD_SOCK:		return -EBADF;
	case NLE_AGAIN:			return -EAGAIN;
	case NLE_NOMEM:			return -ENOMEM;
	case NLE_EXIST:			return -EEXIST;
	case NLE_INVAL:			return -EINVAL;
	case NLE_RANGE:			return -ERANGE;
	case NLE_MSGSIZE:		return -EMSGSIZE;
	case NLE_OPNOTSUPP:		return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:		return -EAFNOSUPPORT;
	case NLE_OBJ_NOTFOUND:		return -ENOENT;
	case NLE_NOACCESS:		return -EACCES;
	case NLE_PERM:			return -EPERM;
	case NLE_BUSY:			return -EBUSY;
	case NLE_NODEV:			return -ENODEV;
	case NLE_PROTO_MISMATCH:	return -EPROTONOSUPPORT;
	case NLE_NOADDR:		return -EADDRNOTAVAIL;
	case NLE_MSG_TRUNC:
	case NLE_MSG_TOOSHORT:
	case NLE_MSGTYPE_NOSUPPORT:
	case NLE_PARSE_ERR:		return -EBADMSG;
	case NLE_SEQ_MISMATCH:
	case NLE_MSG_OVERFLOW:		return -EPROTO;
	default:			return -EIO;
	}
}

/*
 * Copy the extended-ack message (NLMSGERR_ATTR_MSG) that follows an
 * nlmsgerr, if the kernel sent one. The TLVs come after the echoed request,
 * which is only the header when the kernel capped it.
 */
static void save_ext_msg(struct sl_nl *nl, const struct nlmsghdr *hdr)
{
	const struct nlmsgerr *e = nlmsg_data(hdr);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	size_t ack_len = sizeof(*e);
	size_t total = hdr->nlmsg_len;
	const struct nlattr *msg;

	if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) {
		if (e->msg.nlmsg_len < sizeof(struct nlmsghdr))
			return;
		ack_len += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	}
	ack_len = NLMSG_ALIGN(ack_len);
	if (total < NLMSG_HDRLEN + ack_len)
		return;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX,
		      (struct nlattr *)((unsigned char *)e + ack_len),
		      (int)(total - NLMSG_HDRLEN - ack_len), NULL) < 0)
		return;
	msg = tb[NLMSGERR_ATTR_MSG];
	if (!msg || nla_len(msg) < 1 ||
	    ((const char *)nla_data(msg))[nla_len(msg) - 1] != '\0')
		return;
	snprintf(nl->ext_msg, sizeof(nl->ext_msg), "%s",
		 (const char *)nla_data(msg));
}

/* Reply to CTRL_CMD_GETFAMILY: the family's id, version and groups. */
static int parse_ctrl_reply(struct sl_nl *nl, struct nl_msg *msg)
{
	struct nlattr *tb[CTRL_ATTR_MAX + 1];
	struct nlattr *grp;
	int rem, ret;

	ret = genlmsg_parse(nlmsg_hdr(msg), 0, tb, CTRL_ATTR_MAX, NULL);
	if (ret < 0)
		return -EBADMSG;
	if (!tb[CTRL_ATTR_FAMILY_ID] || nla_len(tb[CTRL_ATTR_FAMILY_ID]) != 2)
		return -EBADMSG;
	nl->family_id = nla_get_u16(tb[CTRL_ATTR_FAMILY_ID]);
	if (tb[CTRL_ATTR_VERSION]) {
		if (nla_len(tb[CTRL_ATTR_VERSION]) != 4)
			return -EBADMSG;
		nl->family_version = nla_get_u32(tb[CTRL_ATTR_VERSION]);
	}
	if (!tb[CTRL_ATTR_MCAST_GROUPS])
		return 0;
	nla_for_each_nested(grp, tb[CTRL_ATTR_MCAST_GROUPS], rem) {
		struct nlattr *g[CTRL_ATTR_MCAST_GRP_MAX + 1];
		const struct nlattr *name, *id;

		if (nla_parse_nested(g, CTRL_ATTR_MCAST_GRP_MAX, grp, NULL) < 0)
			return -EBADMSG;
		name = g[CTRL_ATTR_MCAST_GRP_NAME];
		id = g[CTRL_ATTR_MCAST_GRP_ID];
		if (!name || !id || nla_len(id) != 4 || nla_len(name) < 1 ||
		    ((const char *)nla_data(name))[nla_len(name) - 1] != '\0')
			return -EBADMSG;
		if (!strcmp(nla_data(name), SEALINE_MCGRP_EVENTS))
			nl->events_group = nla_get_u32(id);
	}
	return 0;
}

static int valid_cb(struct nl_msg *msg, void *arg)
{
	struct sl_nl *nl = arg;
	const struct nlmsghdr *hdr = nlmsg_hdr(msg);
	bool reply = nl->req_seq && hdr->nlmsg_seq == nl->req_seq;
	struct sl_attrs attrs;
	int ret = 0;

	if (reply && hdr->nlmsg_type == GENL_ID_CTRL) {
		ret = parse_ctrl_reply(nl, msg);
	} else if (hdr->nlmsg_type == nl->family_id && nl->family_id) {
		sl_nl_msg_fn fn = reply ? nl->reply_fn : nl->event_fn;
		void *fn_arg = reply ? nl->reply_arg : nl->event_arg;

		/* Validate even what nobody reads: a malformed message
		 * means a module this code does not understand. */
		ret = sl_nl_parse(msg, &attrs);
		if (!ret && fn)
			ret = fn(&attrs, fn_arg);
	}
	if (ret < 0) {
		nl->cb_err = ret;
		return NL_STOP;
	}
	return NL_OK;
}

static int ack_cb(struct nl_msg *msg, void *arg)
{
	struct sl_nl *nl = arg;
	const struct nlmsghdr *hdr = nlmsg_hdr(msg);

	if (!nl->req_seq || hdr->nlmsg_seq != nl->req_seq)
		return NL_OK;
	save_ext_msg(nl, hdr);
	nl->req_done = true;
	return NL_STOP;
}

/* End of a dump. A dump that fails half way says so in NLMSG_DONE: its
 * payload is the (negative) errno, followed by extended-ack TLVs. */
static int finish_cb(struct nl_msg *msg, void *arg)
{
	struct sl_nl *nl = arg;
	const struct nlmsghdr *hdr = nlmsg_hdr(msg);
	int err;

	if (!nl->req_seq || hdr->nlmsg_seq != nl->req_seq)
		return NL_OK;
	if (hdr->nlmsg_len >= NLMSG_HDRLEN + sizeof(err)) {
		memcpy(&err, nlmsg_data(hdr), sizeof(err));
		if (err < 0)
			nl->req_err = err;
	}
	nl->req_done = true;
	return NL_STOP;
}

static int err_cb(struct sockaddr_nl *from, struct nlmsgerr *e, void *arg)
{
	struct sl_nl *nl = arg;
	const struct nlmsghdr *hdr =
		(const struct nlmsghdr *)((unsigned char *)e - NLMSG_HDRLEN);

	(void)from;
	if (!nl->req_seq || e->msg.nlmsg_seq != nl->req_seq)
		return NL_SKIP;
	save_ext_msg(nl, hdr);
	nl->req_err = e->error < 0 ? e->error : -e->error;
	nl->req_done = true;
	return NL_STOP;
}

/* Sequence numbers are matched in the callbacks above instead. */
static int seq_check_cb(struct nl_msg *msg, void *arg)
{
	(void)msg;
	(void)arg;
	return NL_OK;
}

/* One nl_recvmsgs() batch through our callbacks; 0 or -errno. */
static int receive(struct sl_nl *nl)
{
	int ret;

	errno = 0;
	ret = nl_recvmsgs(nl->sk, nl->cb);
	if (ret >= 0)
		return 0;
	/* libnl reports a receive-buffer overrun (ENOBUFS) as "out of
	 * memory"; errno still tells the two apart. */
	if (ret == -NLE_NOMEM && errno == ENOBUFS)
		return -ENOBUFS;
	return errno_from_libnl(ret);
}

static int resolve_family(struct sl_nl *nl)
{
	struct nl_msg *msg;
	int ret;

	msg = nlmsg_alloc();
	if (!msg)
		return -ENOMEM;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, GENL_ID_CTRL, 0, 0,
			 CTRL_CMD_GETFAMILY, 1) ||
	    nla_put_string(msg, CTRL_ATTR_FAMILY_NAME, SEALINE_GENL_NAME) < 0) {
		sl_nl_free_msg(msg);
		return -EMSGSIZE;
	}
	ret = sl_nl_request(nl, msg, NULL, NULL);
	if (ret == -ENOENT)
		return -SL_NL_ENOFAMILY;
	if (!ret && !nl->family_id)
		return -EBADMSG;
	return ret;
}

/*
 * Open a generic netlink socket and resolve the sealine family. Fails with
 * -SL_NL_ENOFAMILY when the module is not loaded. @nl needs sl_nl_close()
 * only after success.
 */
int sl_nl_open(struct sl_nl *nl)
{
	int one = 1, fd, ret;

	memset(nl, 0, sizeof(*nl));
	nl->sk = nl_socket_alloc();
	if (!nl->sk)
		return -ENOMEM;
	nl->cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!nl->cb) {
		ret = -ENOMEM;
		goto err_free_sock;
	}
	ret = errno_from_libnl(nl_connect(nl->sk, NETLINK_GENERIC));
	if (ret)
		goto err_free_cb;

	fd = nl_socket_get_fd(nl->sk);
	if (setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)) < 0) {
		ret = -errno;
		goto err_close;
	}
	/* Optional: without it errors just carry less detail. */
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	nl_socket_set_buffer_size(nl->sk, SL_NL_RCVBUF, 0);

	nl_cb_set(nl->cb, NL_CB_VALID, NL_CB_CUSTOM, valid_cb, nl);
	nl_cb_set(nl->cb, NL_CB_ACK, NL_CB_CUSTOM, ack_cb, nl);
	nl_cb_set(nl->cb, NL_CB_FINISH, NL_CB_CUSTOM, finish_cb, nl);
	nl_cb_set(nl->cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, seq_check_cb, nl);
	nl_cb_err(nl->cb, NL_CB_CUSTOM, err_cb, nl);

	ret = resolve_family(nl);
	if (ret)
		goto err_close;
	return 0;

err_close:
	nl_close(nl->sk);
err_free_cb:
	nl_cb_put(nl->cb);
err_free_sock:
	nl_socket_free(nl->sk);
	nl->sk = NULL;
	nl->cb = NULL;
	return ret;
}

/* Closing the socket also ends an agent registration made through it. */
void sl_nl_close(struct sl_nl *nl)
{
	if (!nl->sk)
		return;
	nl_close(nl->sk);
	nl_cb_put(nl->cb);
	nl_socket_free(nl->sk);
	nl->sk = NULL;
	nl->cb = NULL;
}

uint32_t sl_nl_portid(const struct sl_nl *nl)
{
	return nl_socket_get_local_port(nl->sk);
}

int sl_nl_fd(const struct sl_nl *nl)
{
	return nl_socket_get_fd(nl->sk);
}

void sl_nl_set_event_handler(struct sl_nl *nl, sl_nl_msg_fn fn, void *arg)
{
	nl->event_fn = fn;
	nl->event_arg = arg;
}

/* Join the "events" group; the kernel demands CAP_NET_ADMIN (-EPERM). */
int sl_nl_subscribe_events(struct sl_nl *nl)
{
	uint32_t grp = nl->events_group;

	if (!grp)
		return -EPROTO;
	/* setsockopt() directly, for its errno: libnl would fold EPERM and
	 * friends into its own codes. */
	if (setsockopt(sl_nl_fd(nl), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP,
		       &grp, sizeof(grp)) < 0)
		return -errno;
	return 0;
}

/* A request for the sealine family; NULL only when out of memory. */
struct nl_msg *sl_nl_new_request(struct sl_nl *nl, uint8_t cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg)
		return NULL;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family_id, 0,
			 flags, cmd, SEALINE_GENL_VERSION)) {
		sl_nl_free_msg(msg);
		return NULL;
	}
	return msg;
}

int sl_nl_put_line(struct nl_msg *msg, const struct sl_line_ref *line)
{
	int ret;

	if (line->by_index)
		ret = nla_put_u32(msg, SEALINE_A_LINE_INDEX, line->index);
	else
		ret = nla_put_string(msg, SEALINE_A_LINE_TTY, line->tty);
	return ret < 0 ? -EMSGSIZE : 0;
}

/*
 * Send @msg and wait for its acknowledgement (or the end of the dump),
 * handing each reply to @reply_fn and anything unsolicited that arrives
 * meanwhile to the event handler. Consumes @msg, which is wiped: it may
 * hold keys. Returns 0, the kernel's -errno, or a callback's error.
 */
int sl_nl_request(struct sl_nl *nl, struct nl_msg *msg, sl_nl_msg_fn reply_fn,
		  void *reply_arg)
{
	int ret;

	nl->ext_msg[0] = '\0';
	nl->req_done = false;
	nl->req_err = 0;
	nl->cb_err = 0;
	nl->reply_fn = reply_fn;
	nl->reply_arg = reply_arg;

	/* nl_send_auto() adds NLM_F_REQUEST | NLM_F_ACK and a sequence
	 * number: an ack always comes, so a request that changes state
	 * without a reply is still known to have happened. */
	ret = nl_send_auto(nl->sk, msg);
	if (ret < 0) {
		ret = errno_from_libnl(ret);
		goto out;
	}
	nl->req_seq = nlmsg_hdr(msg)->nlmsg_seq;

	/* An overrun (-ENOBUFS) may have eaten the ack itself: waiting on
	 * could be forever, so it fails the request; the caller may retry. */
	while (!nl->req_done && !nl->cb_err) {
		ret = receive(nl);
		if (ret < 0 && !nl->req_done && !nl->cb_err)
			goto out;
	}
	ret = nl->cb_err ? nl->cb_err : nl->req_err;
out:
	nl->req_seq = 0;
	nl->reply_fn = NULL;
	nl->reply_arg = NULL;
	sl_nl_free_msg(msg);
	return ret;
}

/*
 * Wait up to @timeout_ms (-1: forever) for unsolicited messages and hand
 * them to the event handler. @sigmask, if not NULL, is the signal mask to
 * wait under (ppoll(2)): a caller that blocks its stop signals everywhere
 * else cannot miss one that arrives just before the wait. Returns 1 if
 * messages arrived, 0 on timeout, -EINTR when a signal interrupted the wait,
 * -ENOBUFS when the kernel had to drop messages because the socket was
 * full (the socket stays usable), or another -errno.
 */
int sl_nl_wait(struct sl_nl *nl, int timeout_ms, const sigset_t *sigmask)
{
	struct pollfd pfd = { .fd = sl_nl_fd(nl), .events = POLLIN };
	struct timespec ts, *tsp = NULL;
	int ret;

	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
		tsp = &ts;
	}
	ret = ppoll(&pfd, 1, tsp, sigmask);
	if (ret < 0)
		return -errno;
	if (!ret)
		return 0;

	nl->cb_err = 0;
	ret = receive(nl);
	if (nl->cb_err)
		return nl->cb_err;
	return ret < 0 ? ret : 1;
}

/* Free a message after wiping its whole buffer, used or not. */
void sl_nl_free_msg(struct nl_msg *msg)
{
	if (!msg)
		return;
	explicit_bzero(nlmsg_hdr(msg), nlmsg_get_max_size(msg));
	nlmsg_free(msg);
}

static int get_u8(const struct nlattr *a, uint8_t *v)
{
	if (nla_len(a) != sizeof(*v))
		return -EBADMSG;
	*v = nla_get_u8(a);
	return 0;
}

static int get_u32(const struct nlattr *a, uint32_t *v)
{
	if (nla_len(a) != sizeof(*v))
		return -EBADMSG;
	*v = nla_get_u32(a);
	return 0;
}

static int get_u64(const struct nlattr *a, uint64_t *v)
{
	if (nla_len(a) != sizeof(*v))
		return -EBADMSG;
	/* nla_get_u64() memcpy()s: 64-bit attributes are only 4-aligned. */
	*v = nla_get_u64(a);
	return 0;
}

static int get_string(const struct nlattr *a, char *buf, size_t size)
{
	int len = nla_len(a);
	const char *s = nla_data(a);

	/* Exactly one NUL, at the end, and it fits. */
	if (len < 2 || (size_t)len > size || s[len - 1] != '\0' ||
	    strnlen(s, (size_t)len) != (size_t)len - 1)
		return -EBADMSG;
	memcpy(buf, s, (size_t)len);
	return 0;
}

static int parse_stats(const struct nlattr *nest, struct sl_attrs *out)
{
	const struct nlattr *a;
	int rem;

	nla_for_each_nested(a, nest, rem) {
		int type = nla_type(a);

		/* Counters this tool does not know come from a newer
		 * module: skip them rather than refuse the whole line. */
		if (type <= SEALINE_STAT_UNSPEC || type >= SEALINE_STAT_PAD)
			continue;
		if (out->stat_present & SL_HAS(type))
			return -EBADMSG;
		if (get_u64(a, &out->stats[type]))
			return -EBADMSG;
		out->stat_present |= SL_HAS(type);
	}
	return rem ? -EBADMSG : 0;
}

/*
 * Validate a sealine message and copy its attributes into @out. Attributes
 * from a newer module are ignored; a known attribute of the wrong size, a
 * duplicate, or anything that looks like a key is -EBADMSG.
 */
int sl_nl_parse(struct nl_msg *msg, struct sl_attrs *out)
{
	struct nlmsghdr *hdr = nlmsg_hdr(msg);
	struct genlmsghdr *gh;
	struct nlattr *a;
	int rem, ret;

	memset(out, 0, sizeof(*out));
	if (!genlmsg_valid_hdr(hdr, 0))
		return -EBADMSG;
	gh = nlmsg_data(hdr);
	out->cmd = gh->cmd;

	nla_for_each_attr(a, genlmsg_attrdata(gh, 0), genlmsg_attrlen(gh, 0), rem) {
		int type = nla_type(a);

		if (type <= SEALINE_A_UNSPEC || type == SEALINE_A_PAD ||
		    type > SEALINE_A_MAX)
			continue;
		if (out->present & SL_HAS(type))
			return -EBADMSG;

		switch (type) {
		case SEALINE_A_LINE_INDEX:
			ret = get_u32(a, &out->index);
			break;
		case SEALINE_A_LINE_TTY:
			ret = get_string(a, out->tty, sizeof(out->tty));
			break;
		case SEALINE_A_LINE_STATE:
			ret = get_u8(a, &out->state);
			break;
		case SEALINE_A_CIPHER:
			ret = get_u8(a, &out->cipher);
			break;
		case SEALINE_A_KEY_EPOCH:
			ret = get_u32(a, &out->key_epoch);
			break;
		case SEALINE_A_NEXT_EPOCH:
			ret = get_u32(a, &out->next_epoch);
			break;
		case SEALINE_A_TX_COUNTER:
			ret = get_u64(a, &out->tx_counter);
			break;
		case SEALINE_A_KEY_AGE:
			ret = get_u32(a, &out->key_age);
			break;
		case SEALINE_A_AGENT_PORTID:
			ret = get_u32(a, &out->agent_portid);
			break;
		case SEALINE_A_LIMIT:
			ret = get_u8(a, &out->limit);
			break;
		case SEALINE_A_CONTROL:
			ret = nla_len(a) >= 1 && nla_len(a) <= SEALINE_MAX_CONTROL ?
			      0 : -EBADMSG;
			out->control = nla_data(a);
			out->control_len = (size_t)nla_len(a);
			break;
		case SEALINE_A_STATS:
			ret = parse_stats(a, out);
			break;
		case SEALINE_A_MODE:
			ret = get_u8(a, &out->mode);
			break;
		case SEALINE_A_DEAD_TIME:
			ret = get_u32(a, &out->dead_time);
			break;
		case SEALINE_A_LINK_DEAD:
			ret = get_u8(a, &out->link_dead);
			break;
		case SEALINE_A_SRTT:
			ret = get_u32(a, &out->srtt);
			break;
		case SEALINE_A_RTO:
			ret = get_u32(a, &out->rto);
			break;
		case SEALINE_A_FRAME_SIZE:
			ret = get_u32(a, &out->frame_size);
			break;
		default:
			/* SEALINE_A_KEY_TX/RX are write-only: a key coming
			 * back from the kernel is a broken contract, and not
			 * something to hand to anyone. */
			ret = -EBADMSG;
			break;
		}
		if (ret)
			return -EBADMSG;
		out->present |= SL_HAS(type);
	}
	return rem ? -EBADMSG : 0;
}

/*
 * What an errno means when the sealine family says it, in words. Specific
 * to this contract: ENOKEY, ESTALE, EEXIST and so on are documented in
 * <linux/sealine.h> for particular commands.
 */
const char *sl_nl_strerror(int err)
{
	static __thread char buf[128];

	switch (abs(err)) {
	case SL_NL_ENOFAMILY:
		return "sealine module not loaded (genl family '" SEALINE_GENL_NAME "' not found)";
	case EPERM:
		snprintf(buf, sizeof(buf),
			 "permission denied: %s needs CAP_NET_ADMIN",
			 program_invocation_short_name);
		return buf;
	case ENODEV:
	case ENOENT:
	case ENXIO:
		return "no such line: the tty is not attached to sealine";
	case ENOKEY:
		return "no key is staged on this line (set one with set-key first)";
	case ESTALE:
		return "the staged key has a different epoch";
	case EEXIST:
		return "epoch clashes with the current or previous key (the low 4 bits must differ)";
	case EACCES:
		return "another socket is registered as this line's agent";
	case ENOTCONN:
		return "no agent is registered on this line";
	case EKEYEXPIRED:
		return "the key is past its hard limit";
	case EKEYREJECTED:
		return "the kernel rejected the key";
	case EOPNOTSUPP:
		return "not supported by the loaded sealine module";
	case EINVAL:
		return "invalid request: the kernel rejected an attribute";
	case EMSGSIZE:
	case E2BIG:
		return "message too large";
	case ERANGE:
		return "value out of range";
	case EBUSY:
		return "the line is busy";
	case EBADMSG:
		return "malformed message from the kernel (module and tool versions differ?)";
	case EPROTO:
		return "netlink protocol error (module and tool versions differ?)";
	case ENOBUFS:
		return "netlink socket overrun: the kernel dropped messages";
	case EPROTONOSUPPORT:
	case EAFNOSUPPORT:
		return "generic netlink is not available in this kernel";
	case ENOMEM:
		return "out of memory";
	default:
		return strerror(abs(err));
	}
}

/* "EPERM" for -EPERM: what test scripts match on. */
const char *sl_nl_errno_name(int err)
{
	static __thread char buf[16];
	const char *name;

	if (abs(err) == SL_NL_ENOFAMILY)
		return "ENOFAMILY";
	name = strerrorname_np(abs(err));
	if (name)
		return name;
	snprintf(buf, sizeof(buf), "E%d", abs(err));
	return buf;
}
