// SPDX-License-Identifier: GPL-2.0
/*
 * sealine-ui's escaping (agent/ui/buf.c): every value from sealined
 * passes through it on its way into a page, a URL or a CSV file, and a
 * file or peer name may hold anything.
 */
#include "check.h"
#include "ui.h"

static char *html(const char *s)
{
	static struct sl_buf b;

	sl_buf_free(&b);
	sl_buf_html(&b, s);
	return b.p ? b.p : (char *)"";
}

static char *html_lines(const char *s)
{
	static struct sl_buf b;

	sl_buf_free(&b);
	sl_buf_html_lines(&b, s);
	return b.p ? b.p : (char *)"";
}

static char *csv(const char *s)
{
	static struct sl_buf b;

	sl_buf_free(&b);
	sl_buf_csv(&b, s);
	return b.p;
}

static char *url(const char *s)
{
	static struct sl_buf b;

	sl_buf_free(&b);
	sl_buf_url(&b, s);
	return b.p ? b.p : (char *)"";
}

TEST(html_escapes_markup_and_controls)
{
	CHECK(!strcmp(html("<script>alert('x')</script>"),
		      "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
	CHECK(!strcmp(html("a\"b&c"), "a&quot;b&amp;c"));
	CHECK(!strcmp(html("line\nbreak\x1b[2J"), "line\\x0abreak\\x1b[2J"));
	/* C1 CSI (U+009B) shown, UTF-8 kept */
	CHECK(!strcmp(html("ctl\xc2\x9b" "2J M\xc3\xbcller"), "ctl\\x9b2J Müller"));
	CHECK(!strcmp(html("back\\slash"), "back\\\\slash"));
}

/* A receipt in a <pre>: its lines stay lines, nothing else changes. */
TEST(html_lines_keeps_newlines_only)
{
	CHECK(!strcmp(html_lines("sealine-receipt 1\nsender <a>\n"),
		      "sealine-receipt 1\nsender &lt;a&gt;\n"));
	CHECK(!strcmp(html_lines("cr\r\ttab\x1b"), "cr\\x0d\\x09tab\\x1b"));
}

TEST(csv_quotes_and_defuses_formulas)
{
	CHECK(!strcmp(csv("plain"), "\"plain\""));
	CHECK(!strcmp(csv("a \"quoted\", name"), "\"a \"\"quoted\"\", name\""));
	CHECK(!strcmp(csv("=cmd|' /C calc'!A0"), "\"'=cmd|' /C calc'!A0\""));
	CHECK(!strcmp(csv("+1"), "\"'+1\""));
	CHECK(!strcmp(csv("-1"), "\"'-1\""));
	CHECK(!strcmp(csv("@SUM(A1)"), "\"'@SUM(A1)\""));
	CHECK(!strcmp(csv(""), "\"\""));
}

TEST(url_encodes_all_but_unreserved)
{
	CHECK(!strcmp(url("docs/a b&c=d?.txt"), "docs%2Fa%20b%26c%3Dd%3F.txt"));
	CHECK(!strcmp(url("M\xc3\xbcller-~_."), "M%C3%BCller-~_."));
	CHECK(!strcmp(url("../x"), "..%2Fx"));
}

TEST(bytes_for_people)
{
	struct sl_buf b = { 0 };

	sl_buf_bytes(&b, 1023);
	sl_buf_puts(&b, "|");
	sl_buf_bytes(&b, 1536);
	sl_buf_puts(&b, "|");
	sl_buf_bytes(&b, 3ULL << 30);
	CHECK(!strcmp(b.p, "1023 bytes|1.5 KiB|3.0 GiB"));
	sl_buf_free(&b);
}

TEST(long_printf_grows)
{
	struct sl_buf b = { 0 };
	char big[5000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	sl_buf_printf(&b, "<%s>", big);
	CHECK(b.len == sizeof(big) + 1 && b.p[0] == '<' && b.p[b.len - 1] == '>');
	sl_buf_free(&b);
}

int main(int argc, char **argv)
{
	check_init(argc, argv);
	RUN(html_escapes_markup_and_controls);
	RUN(html_lines_keeps_newlines_only);
	RUN(csv_quotes_and_defuses_formulas);
	RUN(url_encodes_all_but_unreserved);
	RUN(bytes_for_people);
	RUN(long_printf_grows);
	return check_summary();
}
