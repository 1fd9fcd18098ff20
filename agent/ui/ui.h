/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * sealine-ui: the courier's envelope, outbox, inbox, logs and lines as a
 * local web interface (Documentation/ui.rst). It serves HTTP on a
 * loopback address (libmicrohttpd) and talks to sealined only through
 * its control socket, as sealctl does: it adds no privilege.
 *
 * Files of the program:
 *	main.c		options, the access token, start and stop
 *	http.c		requests: access token, session cookie, CSRF token,
 *			Host check, routing, the page frame
 *	buf.c		growable text buffers, HTML/URL/CSV escaping
 *	client.c	requests to sealined
 *	upload.c	the envelope's form: files streamed to disk, sent
 *	pages.c		envelope, outbox, progress, lines
 *	inbox.c		inbox, an envelope's files, downloads
 *	logs.c		send and receive logs: sort, filter, CSV
 *	pair.c		pairing with a peer, the code shown and typed
 *	tsp.c		on a TSP: accounts, calls, call records, billing, spool
 *	assets.c	the style sheet, compiled in
 */
#ifndef SEALINE_UI_H
#define SEALINE_UI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <microhttpd.h>

#include "ipc.h"

/* Limits, in one place. */
#define SL_UI_DEFAULT_PORT	8470
#define SL_UI_TOKEN_BYTES	32	/* access token, session, CSRF: random */
#define SL_UI_TOKEN_HEX		(2 * SL_UI_TOKEN_BYTES)
#define SL_UI_MAX_CONNECTIONS	16
#define SL_UI_CONN_TIMEOUT_S	120	/* an idle connection is closed */
/* The files of one envelope uploaded from the browser, all together,
 * by default and at most (the courier's max_envelope default is 1 GiB;
 * a recipient may allow less, and says so when it refuses). */
#define SL_UI_DEFAULT_MAX_UPLOAD	(256ULL << 20)
#define SL_UI_MAX_UPLOAD_LIMIT		(1ULL << 30)
#define SL_UI_MAX_FILES		100	/* files in one upload */
#define SL_UI_FIELD_MAX		256	/* a form field that is not a file */
#define SL_UI_POST_BUFFER	(64 * 1024)
#define SL_UI_LOG_MAX		2000	/* log records a page reads */
#define SL_UI_REFRESH_S		2	/* progress page reload */
#define SL_UI_CALL_TIMEOUT_MS	30000	/* sealined's answer to a request */
#define SL_UI_FORM_FIELDS	8	/* fields of a small form (not /send) */
#define SL_UI_MAX_COLS		16	/* columns of a table of records */
#define SL_UI_MAX_PAIRINGS	4	/* pairings going on at once */
#define SL_UI_MAX_FOLDERS	16	/* --folder, each a local folder */

struct sl_ui_conf {
	const char *address;		/* numeric IPv4 or IPv6 */
	unsigned int port;		/* 0: any free one */
	const char *unix_path;		/* instead of address and port */
	bool remote;			/* a non-loopback address allowed */
	const char *socket;		/* sealined's control socket */
	const char *upload_dir;
	uint64_t max_upload;
	const char *tsp_store;		/* the TSP's account store, or NULL */
	const char *tsp_socket;		/* sealtspd's control socket, or NULL */
	char *folders[SL_UI_MAX_FOLDERS];	/* resolved, to pick files from */
	size_t n_folders;
};

/* What the server keeps: the configuration and its three secrets. */
struct sl_ui {
	struct sl_ui_conf conf;
	char token[SL_UI_TOKEN_HEX + 1];	/* in the URL, once */
	char session[SL_UI_TOKEN_HEX + 1];	/* the cookie */
	char csrf[SL_UI_TOKEN_HEX + 1];		/* in every form */
	unsigned int bound_port;
};

/* ---- buf.c ---------------------------------------------------------------- */

struct sl_buf {
	char *p;
	size_t len, cap;
	bool failed;		/* out of memory: the page is an error */
};

void sl_buf_free(struct sl_buf *b);
void sl_buf_add(struct sl_buf *b, const char *s, size_t n);
void sl_buf_puts(struct sl_buf *b, const char *s);
void sl_buf_printf(struct sl_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* s with & < > " ' as entities, control characters as U+FFFD-free
 * visible escapes (\xHH), for HTML text and attribute values. */
void sl_buf_html(struct sl_buf *b, const char *s);
/* The same for a <pre> block of lines: newlines kept as they are. */
void sl_buf_html_lines(struct sl_buf *b, const char *s);
/* s percent-encoded for a URL's query (everything but unreserved). */
void sl_buf_url(struct sl_buf *b, const char *s);
/* s as one CSV field (RFC 4180 quoting; a leading = + - @ prefixed
 * with ' so that a spreadsheet does not run it as a formula). */
void sl_buf_csv(struct sl_buf *b, const char *s);
/* A byte count for people: 1.5 MiB. */
void sl_buf_bytes(struct sl_buf *b, uint64_t n);
/* One table cell with s escaped. */
void sl_buf_td(struct sl_buf *b, const char *s);

/* ---- client.c ---------------------------------------------------------- */

/* Each record of a response, with its own copy of the line. */
struct sl_ui_rec {
	struct sl_ipc_record r;
	char *line;
};

struct sl_ui_reply {
	struct sl_ui_rec *recs;
	size_t n;
	struct sl_ui_rec final;		/* the "ok" */
	char err[512];			/* set when the request failed */
};

/* One request to sealined: 0, or -1 with reply->err for people. */
int sl_ui_call(const struct sl_ui *ui, const char *request,
	       struct sl_ui_reply *reply);
/* The same to another daemon's socket (sealtspd's). */
int sl_ui_call_at(const char *socket, const char *request,
		  struct sl_ui_reply *reply);
void sl_ui_reply_free(struct sl_ui_reply *reply);
const char *sl_ui_get(const struct sl_ipc_record *r, const char *key,
		      const char *dflt);

/* ---- http.c: what pages use ------------------------------------------- */

struct sl_page {
	struct sl_buf body;
	unsigned int status;
	const char *title;
	const char *nav;		/* the menu entry to mark */
	unsigned int refresh;		/* seconds, 0: none */
	const char *content_type;	/* NULL: HTML in the frame */
	const char *filename;		/* a download's name */
	const char *location;		/* a redirect (303) */
	int fd;				/* a download's file, or -1 */
	uint64_t fd_size;
};

/* A small form's fields (url-encoded or multipart, no files). */
struct sl_form {
	unsigned int n;
	bool too_long;			/* a field or the count over the limit */
	struct {
		char key[32];
		char val[SL_UI_FIELD_MAX];
	} f[SL_UI_FORM_FIELDS];
};

/* A field's value, or "" if the form has none. */
const char *sl_form_get(const struct sl_form *form, const char *key);

/* The query argument key of the request, or NULL. */
const char *sl_ui_arg(struct MHD_Connection *c, const char *key);
/* A page that is only a message (errors): status and text. */
void sl_page_message(struct sl_page *pg, unsigned int status,
		     const char *title, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* An error paragraph (role=alert) with text escaped. */
void sl_page_alert(struct sl_page *pg, const char *text);

/* A column of a table of records: the record's key, the header. */
struct sl_col {
	const char *key, *label;
};

/* The records of type in a table with this id, one row each, a key a
 * column ("-" for one the record lacks); empty: the one row shown when
 * there is none. */
void sl_page_records(struct sl_page *pg, const char *id,
		     const struct sl_col *cols, size_t n_cols,
		     const struct sl_ui_reply *reply, const char *type,
		     const char *empty);

/* A table's start up to its body: id, and the column headers (NULL
 * after the last); its end, with the row saying empty if rows is 0. */
void sl_page_table(struct sl_page *pg, const char *id,
		   const char *const *labels);
void sl_page_table_end(struct sl_page *pg, size_t rows, size_t cols,
		       const char *empty);

/* The hidden CSRF field of a form. */
void sl_page_csrf(const struct sl_ui *ui, struct sl_page *pg);
/* Constant-time comparison of a submitted token with ours. */
bool sl_ui_token_equal(const char *given, const char *ours);

/* ---- The screens --------------------------------------------------------------- */

/* The envelope; folder and path (may be NULL): the local folder shown
 * in the picker (?folder=N&path=REL). */
void sl_page_envelope(const struct sl_ui *ui, struct sl_page *pg,
		      const char *error, const char *to, const char *folder,
		      const char *path);
void sl_page_outbox(const struct sl_ui *ui, struct sl_page *pg);
void sl_page_outbox_item(const struct sl_ui *ui, struct sl_page *pg,
			 const char *id);
/* POST /outbox/ID/retry or cancel (the form already checked). */
void sl_page_outbox_action(const struct sl_ui *ui, struct sl_page *pg,
			   const char *id, const char *action);
void sl_page_lines(const struct sl_ui *ui, struct sl_page *pg);
void sl_page_inbox(const struct sl_ui *ui, struct sl_page *pg);
void sl_page_inbox_item(const struct sl_ui *ui, struct sl_page *pg,
			const char *id);
void sl_page_inbox_file(const struct sl_ui *ui, struct sl_page *pg,
			const char *id, const char *name);
void sl_page_log(const struct sl_ui *ui, struct sl_page *pg,
		 struct MHD_Connection *c, bool sent, bool csv);
bool sl_ui_envelope_id(const char *s);

/* ---- pair.c: pairing from the browser ----------------------------------- */

void sl_page_pair(const struct sl_ui *ui, struct sl_page *pg,
		  const char *error);
void sl_page_pair_start(const struct sl_ui *ui, struct sl_page *pg,
			const struct sl_form *form);
void sl_page_pair_item(const struct sl_ui *ui, struct sl_page *pg,
		       const char *id);
/* POST /pair/ID/confirm or /pair/ID/sas. */
void sl_page_pair_answer(const struct sl_ui *ui, struct sl_page *pg,
			 const char *id, const char *action,
			 const struct sl_form *form);

/* ---- folders.c: files picked from local folders (--folder) --------------- */

/* Resolve one --folder and add it to the n in folders: 0, or -1 with
 * why. */
int sl_ui_folder_add(char *folders[SL_UI_MAX_FOLDERS], size_t *n,
		     const char *dir, char *why, size_t len);
/* A form's "N/REL" as a path inside folder N (a file or directory): a
 * malloc'd path, or NULL with why. */
char *sl_ui_folder_pick(const struct sl_ui *ui, const char *pick, char *why,
			size_t len);
/* The picker inside the envelope's form: the folders, or one folder's
 * directory rel with a checkbox per entry. */
void sl_page_folder_picker(const struct sl_ui *ui, struct sl_page *pg,
			   const char *folder, const char *rel, const char *to);

/* ---- tsp.c: the TSP operator's pages (--tsp-store, --tsp-socket) -------- */

void sl_page_tsp_accounts(const struct sl_ui *ui, struct sl_page *pg,
			  const char *error);
/* POST /tsp/accounts/add, /tsp/accounts/NUMBER/ACTION (form checked). */
void sl_page_tsp_post(const struct sl_ui *ui, struct sl_page *pg,
		      const char *path, const struct sl_form *form);
void sl_page_tsp_calls(const struct sl_ui *ui, struct sl_page *pg);
void sl_page_tsp_records(const struct sl_ui *ui, struct sl_page *pg,
			 struct MHD_Connection *c, int csv);
void sl_page_tsp_spool(const struct sl_ui *ui, struct sl_page *pg,
		       struct MHD_Connection *c);

/* ---- upload.c ----------------------------------------------------------- */

struct sl_upload;
/* A POST /send starts: NULL on out of memory. */
struct sl_upload *sl_upload_start(const struct sl_ui *ui,
				  struct MHD_Connection *c);
/* A piece of its body. */
void sl_upload_data(struct sl_upload *u, const char *data, size_t size);
/* The body is complete: validate, pack, hand to sealined; the page. */
void sl_upload_finish(struct sl_upload *u, struct sl_page *pg);
void sl_upload_free(struct sl_upload *u);
/* The envelope's page saying the upload is over the limit. */
void sl_upload_too_big(const struct sl_ui *ui, struct sl_page *pg);

/* ---- http.c: for main.c ----------------------------------------------------- */

extern MHD_AccessHandlerCallback sl_ui_handler;
extern MHD_RequestCompletedCallback sl_ui_completed;

/* ---- assets.c --------------------------------------------------------------- */

extern const char sl_ui_css[];

#endif
