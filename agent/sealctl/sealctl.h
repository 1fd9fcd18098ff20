/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What the sealctl commands share: exit codes, error reporting, and the
 * parsers for arguments several commands take.
 */
#ifndef SEALINE_AGENT_SEALCTL_H
#define SEALINE_AGENT_SEALCTL_H

#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#include "lineref.h"
#include "netlink.h"

enum {
	SL_EXIT_OK = 0,
	SL_EXIT_FAILURE = 1,
	SL_EXIT_USAGE = 2,
};

struct sl_command {
	const char *name;
	int (*run)(int argc, char *argv[]);
	void (*help)(FILE *f);
	const char *synopsis;
	const char *summary;
};

extern const char *sl_prog;

int sl_cmd_show(int argc, char *argv[]);
int sl_cmd_genkey(int argc, char *argv[]);
int sl_cmd_set_key(int argc, char *argv[]);
int sl_cmd_activate(int argc, char *argv[]);
int sl_cmd_clear_keys(int argc, char *argv[]);
int sl_cmd_set_line(int argc, char *argv[]);
int sl_cmd_monitor(int argc, char *argv[]);
int sl_cmd_status(int argc, char *argv[]);
int sl_cmd_peers(int argc, char *argv[]);
int sl_cmd_log(int argc, char *argv[]);
int sl_cmd_pair(int argc, char *argv[]);
int sl_cmd_call(int argc, char *argv[]);
int sl_cmd_hangup(int argc, char *argv[]);
int sl_cmd_send(int argc, char *argv[]);
int sl_cmd_outbox(int argc, char *argv[]);
int sl_cmd_inbox(int argc, char *argv[]);
int sl_cmd_receipt(int argc, char *argv[]);

void sl_help_show(FILE *f);
void sl_help_genkey(FILE *f);
void sl_help_set_key(FILE *f);
void sl_help_activate(FILE *f);
void sl_help_clear_keys(FILE *f);
void sl_help_set_line(FILE *f);
void sl_help_monitor(FILE *f);
void sl_help_status(FILE *f);
void sl_help_peers(FILE *f);
void sl_help_log(FILE *f);
void sl_help_pair(FILE *f);
void sl_help_call(FILE *f);
void sl_help_hangup(FILE *f);
void sl_help_send(FILE *f);
void sl_help_outbox(FILE *f);
void sl_help_inbox(FILE *f);
void sl_help_receipt(FILE *f);

/* tspspool.c: tsp spool (tsp.c dispatches to it). */
int sl_tsp_spool_cmd(const char *db, int argc, char *argv[]);
void sl_help_tsp(FILE *f);

/* clog.c: log --sent / --received. */
int sl_courier_log(bool sent, bool json, uint32_t count, const char *file,
		   const char *sock);

int sl_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int sl_failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sl_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sl_print_column(const char *s, int width);
int sl_option_error(const char *cmd, int opt, char *argv[]);
int sl_common_options(int argc, char *argv[], const char *cmd,
		      void (*help)(FILE *), bool *json, const char **sock,
		      int max_args);

int sl_parse_line(const char *cmd, const char *arg, struct sl_line_ref *line);
int sl_parse_u32(const char *cmd, const char *what, const char *arg,
		 uint32_t *out);
int sl_connect(struct sl_nl *nl, const char *cmd);
int sl_kernel_error(struct sl_nl *nl, const char *cmd, const char *line,
		    int err);
int sl_line_request(struct sl_nl *nl, uint8_t nlcmd,
		    const struct sl_line_ref *line,
		    int (*put)(struct nl_msg *msg, const void *ctx),
		    const void *ctx);
int sl_line_command(const char *cmd, const char *line_arg,
		    const struct sl_line_ref *line, uint8_t nlcmd,
		    int (*put)(struct nl_msg *msg, const void *ctx),
		    const void *ctx);

#endif
