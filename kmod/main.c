// SPDX-License-Identifier: GPL-2.0
/*
 * sealine: a tty line discipline that makes a serial line private and
 * tamper-proof, with a clear-text virtual tty per attached line.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/tty.h>

#include "line.h"

static int ldisc = SEALINE_LDISC_DEFAULT;
module_param(ldisc, int, 0444);
MODULE_PARM_DESC(ldisc, "line discipline number (default 29, N_DEVELOPMENT); the kernel does not detect a number another loaded discipline uses, check /proc/tty/ldiscs");

struct sealine_limits sealine_limits = {
	.rekey_after_messages = SEALINE_REKEY_AFTER_MESSAGES,
	.reject_after_messages = SEALINE_REJECT_AFTER_MESSAGES,
	.rekey_after_seconds = SEALINE_REKEY_AFTER_SECONDS,
	.reject_after_seconds = SEALINE_REJECT_AFTER_SECONDS,
};

/* The limits can only be lowered, e.g. to test what happens at them. */
module_param_named(rekey_after_messages, sealine_limits.rekey_after_messages,
		   ullong, 0444);
MODULE_PARM_DESC(rekey_after_messages, "frames after which a key asks for a rekey");
module_param_named(reject_after_messages, sealine_limits.reject_after_messages,
		   ullong, 0444);
MODULE_PARM_DESC(reject_after_messages, "frames after which a key is refused");
module_param_named(rekey_after_seconds, sealine_limits.rekey_after_seconds,
		   uint, 0444);
MODULE_PARM_DESC(rekey_after_seconds, "key age in seconds that asks for a rekey");
module_param_named(reject_after_seconds, sealine_limits.reject_after_seconds,
		   uint, 0444);
MODULE_PARM_DESC(reject_after_seconds, "key age in seconds after which a key is refused");

static int __init sealine_check_limits(void)
{
	const struct sealine_limits *l = &sealine_limits;

	if (!l->rekey_after_messages ||
	    l->rekey_after_messages > l->reject_after_messages ||
	    l->reject_after_messages > SEALINE_REJECT_AFTER_MESSAGES ||
	    !l->rekey_after_seconds ||
	    l->rekey_after_seconds > l->reject_after_seconds ||
	    l->reject_after_seconds > SEALINE_REJECT_AFTER_SECONDS) {
		pr_err("sealine: key limits must satisfy 0 < rekey <= reject <= default (%llu frames, %u s)\n",
		       SEALINE_REJECT_AFTER_MESSAGES,
		       SEALINE_REJECT_AFTER_SECONDS);
		return -EINVAL;
	}
	return 0;
}

static int __init sealine_init(void)
{
	int ret;

	if (ldisc < 1 || ldisc >= NR_LDISCS) {
		pr_err("sealine: ldisc=%d is out of range 1..%d\n", ldisc,
		       NR_LDISCS - 1);
		return -EINVAL;
	}
	ret = sealine_check_limits();
	if (ret)
		return ret;

	ret = sealine_line_init();
	if (ret)
		return ret;
	ret = sealine_vtty_init();
	if (ret)
		goto err_line;
	ret = sealine_netlink_init();
	if (ret)
		goto err_vtty;
	/* Last: from here on lines can attach. */
	ret = sealine_ldisc_init(ldisc);
	if (ret) {
		pr_err("sealine: cannot register line discipline %d (%d)\n",
		       ldisc, ret);
		goto err_netlink;
	}
	pr_info("sealine: line discipline %d registered\n", ldisc);
	return 0;

err_netlink:
	sealine_netlink_exit();
err_vtty:
	sealine_vtty_exit();
err_line:
	sealine_line_exit();
	return ret;
}

static void __exit sealine_exit(void)
{
	/* Attached lines and open virtual ttys hold module references, so
	 * none is left here.
	 */
	sealine_ldisc_exit();
	sealine_netlink_exit();
	sealine_vtty_exit();
	sealine_line_exit();
}

module_init(sealine_init);
module_exit(sealine_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("sealine: encrypted, authenticated serial lines");
MODULE_AUTHOR("The sealine authors");
MODULE_ALIAS_LDISC(SEALINE_LDISC_DEFAULT);
MODULE_VERSION(SEALINE_VERSION);
