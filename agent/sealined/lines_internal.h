/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What the files of sealined's line manager share (lines.c, line_hs.c,
 * operator.c), beyond lines.h: not for the rest of the daemon.
 */
#ifndef SEALINE_AGENT_LINES_INTERNAL_H
#define SEALINE_AGENT_LINES_INTERNAL_H

#include "lines.h"

/* lines.c */
const char *sl_line_tty(const struct sl_line *line);
/* GET_LINE into line->info and the byte counts: 0 or a negative errno. */
int sl_line_refresh(struct sl_lines *L, struct sl_line *line);

/* The line's keys are gone: the hooks hear of it (lines.h). */
void sl_line_hook_down(struct sl_lines *L, struct sl_line *line,
		       const char *why, int64_t now_ms);

/* line_hs.c: the line's handshake object and its actions. */
int sl_line_create_hs(struct sl_lines *L, struct sl_line *line);
void sl_line_destroy_hs(struct sl_lines *L, struct sl_line *line);
/* Give the handshake one input, carry out what it asks, and the
 * follow-ups that causes. */
void sl_line_feed(struct sl_lines *L, struct sl_line *line,
		  struct sl_drv_input *in, int64_t now_ms);
void sl_line_feed_simple(struct sl_lines *L, struct sl_line *line,
			 enum sl_drv_input_type type, int64_t now_ms);
/* Close the line's session record (outcome, detail), if one is open. */
void sl_line_end_session(struct sl_lines *L, struct sl_line *line,
			 const char *outcome, const char *detail);

/* operator.c: the operator of a pairing on the line, if any. */
void sl_line_op_waiting(struct sl_line *line, uint8_t reason, uint32_t ms);
void sl_line_op_prompt(struct sl_line *line, const struct sl_drv_action *a);
void sl_line_op_failure(char *buf, size_t len, const struct sl_drv_action *a);
/* The operator's sealctl pair ends: ok with peer (err 0) or err, text. */
void sl_line_op_end(struct sl_line *line, int err, const char *peer,
		    const char *text);

#endif
