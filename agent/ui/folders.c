// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Files picked from configured local folders (--folder DIR), as the
 * original's envelope picked them: the envelope page browses one folder
 * at a time (?folder=N&path=REL) and its form carries each ticked file
 * or directory as a "pick" field, "N/REL". The upload then packs the
 * picked paths as they are, next to the uploaded files.
 *
 * No privilege is added: sealine-ui reads the picked files itself (the
 * packer runs in this process), with the rights of the user running it,
 * exactly as that user could with "sealctl send". The folders only
 * narrow what the browser may name: a pick is a folder's number and a
 * relative path of plain names (no "..", ".", empty or control-character
 * components), and the resolved path (symbolic links followed) must lie
 * inside the resolved folder, so a link that leads out is refused.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ui.h"

#define FOLDER_MAX_ENTRIES	2000	/* entries of one directory shown */

int sl_ui_folder_add(char *folders[SL_UI_MAX_FOLDERS], size_t *n,
		     const char *dir, char *why, size_t len)
{
	char *real;
	struct stat st;

	if (*n == SL_UI_MAX_FOLDERS) {
		snprintf(why, len, "at most %d --folder", SL_UI_MAX_FOLDERS);
		return -1;
	}
	real = realpath(dir, NULL);
	if (!real) {
		snprintf(why, len, "--folder %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(real, &st) || !S_ISDIR(st.st_mode)) {
		snprintf(why, len, "--folder %s is not a directory", dir);
		free(real);
		return -1;
	}
	folders[(*n)++] = real;
	return 0;
}

/* REL: plain names joined by single slashes, nothing that climbs. */
static const char *bad_relative(const char *rel)
{
	const char *p = rel;

	if (!*rel)
		return "no path";
	if (strlen(rel) >= PATH_MAX / 2)
		return "too long";
	for (;;) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);

		if (!n)
			return "an empty name in it";
		if ((n == 1 && p[0] == '.') || (n == 2 && !memcmp(p, "..", 2)))
			return "'.' or '..' in it";
		for (const char *q = p; q < end; q++)
			if ((unsigned char)*q < 0x20 || *q == 0x7f)
				return "a control character in it";
		if (!*end)
			return NULL;
		p = end + 1;
	}
}

/* Folder n's path REL (may be "" for the folder itself), resolved and
 * checked to be inside it: a malloc'd path, or NULL with why. */
static char *resolve(const struct sl_ui *ui, unsigned long n, const char *rel,
		     char *why, size_t len)
{
	const char *root, *bad;
	char *joined, *real;
	size_t rn;

	if (n >= ui->conf.n_folders) {
		snprintf(why, len, "there is no folder %lu", n);
		return NULL;
	}
	root = ui->conf.folders[n];
	if (!*rel)
		return strdup(root);
	bad = bad_relative(rel);
	if (bad) {
		snprintf(why, len, "'%s' is refused: %s", rel, bad);
		return NULL;
	}
	if (asprintf(&joined, "%s/%s", root, rel) < 0) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	real = realpath(joined, NULL);
	free(joined);
	if (!real) {
		snprintf(why, len, "'%s': %s", rel, strerror(errno));
		return NULL;
	}
	rn = strlen(root);
	/* "/" as a folder: every absolute path is inside it */
	if (strcmp(root, "/") &&
	    (strncmp(real, root, rn) || real[rn] != '/')) {
		snprintf(why, len, "'%s' leads out of its folder", rel);
		free(real);
		return NULL;
	}
	return real;
}

char *sl_ui_folder_pick(const struct sl_ui *ui, const char *pick, char *why,
			size_t len)
{
	struct stat st;
	unsigned long n;
	char *end, *path;

	errno = 0;
	n = strtoul(pick, &end, 10);
	if (end == pick || *pick < '0' || *pick > '9' || *end != '/' || errno) {
		snprintf(why, len, "'%s' is not a folder's number and a path", pick);
		return NULL;
	}
	if (!end[1]) {
		snprintf(why, len, "a folder itself is not picked: open it and tick what it holds");
		return NULL;
	}
	path = resolve(ui, n, end + 1, why, len);
	if (!path)
		return NULL;
	if (stat(path, &st) || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
		snprintf(why, len, "'%s' is not a file or directory", end + 1);
		free(path);
		return NULL;
	}
	return path;
}

/* ---- The picker on the envelope page -------------------------------------- */

static void folder_link(struct sl_buf *b, unsigned long n, const char *rel,
			const char *to, const char *text)
{
	sl_buf_printf(b, "<a href=\"/?folder=%lu&amp;path=", n);
	sl_buf_url(b, rel);
	if (to && *to) {
		sl_buf_puts(b, "&amp;to=");
		sl_buf_url(b, to);
	}
	sl_buf_puts(b, "#picker\">");
	sl_buf_html(b, text);
	sl_buf_puts(b, "</a>");
}

static void list_folders(const struct sl_ui *ui, struct sl_buf *b,
			 const char *to)
{
	sl_buf_puts(b, "<ul class=\"folders\">\n");
	for (size_t i = 0; i < ui->conf.n_folders; i++) {
		sl_buf_puts(b, "<li>");
		folder_link(b, i, "", to, ui->conf.folders[i]);
		sl_buf_puts(b, "</li>\n");
	}
	sl_buf_puts(b, "</ul>\n");
}

/* The way back up: each ancestor of rel as a link. */
static void breadcrumb(const struct sl_ui *ui, struct sl_buf *b,
		       unsigned long n, const char *rel, const char *to)
{
	char part[PATH_MAX], name[NAME_MAX + 1];
	const char *p = rel;

	sl_buf_puts(b, "<p class=\"crumbs\">");
	folder_link(b, n, "", to, ui->conf.folders[n]);
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t upto = (size_t)(end - rel), nn = (size_t)(end - p);

		if (upto >= sizeof(part) || nn > NAME_MAX)
			break;
		memcpy(part, rel, upto);
		part[upto] = 0;
		memcpy(name, p, nn);
		name[nn] = 0;
		sl_buf_puts(b, " / ");
		folder_link(b, n, part, to, name);
		p = *end ? end + 1 : end;
	}
	sl_buf_puts(b, " &middot; <a href=\"/?");
	if (to && *to) {
		sl_buf_puts(b, "to=");
		sl_buf_url(b, to);
	}
	sl_buf_puts(b, "#picker\">All folders</a></p>\n");
}

static int skip_dots(const struct dirent *d)
{
	return strcmp(d->d_name, ".") && strcmp(d->d_name, "..");
}

void sl_page_folder_picker(const struct sl_ui *ui, struct sl_page *pg,
			   const char *folder, const char *rel, const char *to)
{
	struct sl_buf *b = &pg->body;
	struct dirent **names = NULL;
	char why[PATH_MAX + 128], *dir;
	unsigned long n;
	size_t shown = 0;
	char *end;
	int count;

	sl_buf_puts(b, "<div id=\"picker\">\n<p class=\"hint\">Or tick files and directories in a local folder (one folder at a time: browsing reloads the page).</p>\n");
	if (!folder || !*folder) {
		list_folders(ui, b, to);
		sl_buf_puts(b, "</div>\n");
		return;
	}
	errno = 0;
	n = strtoul(folder, &end, 10);
	if (*folder < '0' || *folder > '9' || *end || errno) {
		snprintf(why, sizeof(why), "there is no folder '%s'", folder);
		dir = NULL;
	} else {
		dir = resolve(ui, n, rel ? rel : "", why, sizeof(why));
	}
	if (!dir) {
		pg->status = MHD_HTTP_BAD_REQUEST;
		sl_buf_puts(b, "<p class=\"error\" role=\"alert\">Cannot show that folder: ");
		sl_buf_html(b, why);
		sl_buf_puts(b, ".</p>\n");
		list_folders(ui, b, to);
		sl_buf_puts(b, "</div>\n");
		return;
	}
	rel = rel ? rel : "";
	breadcrumb(ui, b, n, rel, to);
	count = scandir(dir, &names, skip_dots, alphasort);
	if (count < 0) {
		sl_buf_puts(b, "<p class=\"error\" role=\"alert\">Cannot read the folder: ");
		sl_buf_html(b, strerror(errno));
		sl_buf_puts(b, ".</p>\n</div>\n");
		free(dir);
		return;
	}
	sl_page_table(pg, "picker-entries", (const char *const[]){
		"Pick", "Name", "Size", NULL });
	for (int i = 0; i < count && i < FOLDER_MAX_ENTRIES; i++) {
		char *full, *child;
		struct stat st;
		bool is_dir;

		if (asprintf(&full, "%s/%s", dir, names[i]->d_name) < 0)
			break;
		if (stat(full, &st) ||
		    !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
			free(full);
			continue;
		}
		free(full);
		is_dir = S_ISDIR(st.st_mode);
		if (asprintf(&child, "%s%s%s", rel, *rel ? "/" : "",
			     names[i]->d_name) < 0)
			break;
		sl_buf_printf(b, "<tr><td><input type=\"checkbox\" name=\"pick\" value=\"%lu/", n);
		sl_buf_html(b, child);
		sl_buf_puts(b, "\" aria-label=\"");
		sl_buf_html(b, names[i]->d_name);
		sl_buf_puts(b, "\"></td><td>");
		if (is_dir)
			folder_link(b, n, child, to, names[i]->d_name);
		else
			sl_buf_html(b, names[i]->d_name);
		sl_buf_puts(b, is_dir ? "/</td><td>directory</td></tr>\n" : "</td><td>");
		if (!is_dir) {
			sl_buf_bytes(b, (uint64_t)st.st_size);
			sl_buf_puts(b, "</td></tr>\n");
		}
		free(child);
		shown++;
	}
	sl_page_table_end(pg, shown, 3, "This folder is empty.");
	if (count > FOLDER_MAX_ENTRIES)
		sl_buf_printf(b, "<p class=\"note\">Only the first %d entries are shown.</p>\n",
			      FOLDER_MAX_ENTRIES);
	for (int i = 0; i < count; i++)
		free(names[i]);
	free(names);
	free(dir);
	sl_buf_puts(b, "</div>\n");
}
