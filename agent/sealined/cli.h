/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * sealined's command line (cli.c): its --help and --version, the -t
 * summary, the warning for configured ttys that do not exist and the
 * check of the courier's directories.
 */
#ifndef SEALINE_SEALINED_CLI_H
#define SEALINE_SEALINED_CLI_H

#include <stdbool.h>

#include "config.h"
#include "daemon.h"

extern const struct sl_daemon_prog sl_sealined_prog;

/* -t: what the configuration says, every section. */
void sl_sealined_print_config(const struct sl_config *cfg);

/*
 * Configured lines whose /dev node is missing: a warning for each, on
 * stderr (check) or in the log (at start). Returns how many.
 */
unsigned int sl_sealined_missing_ttys(const struct sl_config *cfg, bool check);

/*
 * -t: what sealined would refuse at start although the file parses
 * ([courier] staging and inbox on different file systems), on stderr.
 * 0 or a negative errno.
 */
int sl_sealined_check_courier(const struct sl_config *cfg);

#endif
