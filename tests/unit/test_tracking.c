/* Tracking's pure parts: the link rewriter (which links, entities, spans,
 * broken HTML), the open pixel, the signed tokens (format, forgery,
 * tampering, other kind and key) and the queued hit's line format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "mail/html_links.h"
#include "mail/scanners.h"
#include "mail/track_hit.h"
#include "mail/track_token.h"
#include "queue/shm_ring.h"
#include "unit.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUTBOX "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee"
#define LINK "01234567-89ab-4def-8123-456789abcdef"

/* Replace each trackable link by "T<n>:<url>"; remember what came. */
struct seen {
	char urls[16][256];
	int n;
};

static int mark(void *arg, const char *url, size_t len, struct strbuf *repl)
{
	struct seen *s = arg;

	if (s->n < 16)
		snprintf(s->urls[s->n], sizeof(s->urls[0]), "%.*s", (int)len, url);
	s->n++;
	if (!html_link_trackable(url, len, "https://fs.example/u/"))
		return 0;
	strbuf_appendf(repl, "https://fs.example/t/c/%d", s->n);
	return 1;
}

static char *rewrite(const char *html, struct seen *s, long *count)
{
	struct strbuf out = STRBUF_INIT;

	memset(s, 0, sizeof(*s));
	*count = html_links_rewrite(html, strlen(html), mark, s, &out);
	strbuf_appends(&out, "");
	return out.buf;
}

START_TEST(links_are_rewritten_and_the_rest_kept)
{
	struct seen s;
	long n;
	char *out = rewrite("<p>Hi <a class=\"x\" href=\"https://shop.example/a?x=1&amp;y=2\">A</a>"
			    " <A HREF='http://shop.example/b'>B</A>"
			    " <a href=https://shop.example/c target=_blank>C</a>"
			    " <area shape=rect href=\"https://shop.example/d\">"
			    " <abbr href=\"https://no.example/\">x</abbr></p>",
			    &s, &n);

	ck_assert_int_eq(n, 4);
	ck_assert_int_eq(s.n, 4);
	ck_assert_str_eq(s.urls[0], "https://shop.example/a?x=1&y=2"); /* entities decoded */
	ck_assert_str_eq(s.urls[1], "http://shop.example/b");
	ck_assert_str_eq(s.urls[2], "https://shop.example/c");
	ck_assert_str_eq(s.urls[3], "https://shop.example/d");
	ck_assert_str_eq(out, "<p>Hi <a class=\"x\" href=\"https://fs.example/t/c/1\">A</a>"
			      " <A HREF=\"https://fs.example/t/c/2\">B</A>"
			      " <a href=\"https://fs.example/t/c/3\" target=_blank>C</a>"
			      " <area shape=rect href=\"https://fs.example/t/c/4\">"
			      " <abbr href=\"https://no.example/\">x</abbr></p>");
	free(out);
}
END_TEST

START_TEST(mailto_tel_anchors_unsubscribe_and_scripts_stay)
{
	static const char *const kept[] = {
		"mailto:help@shop.example", "tel:+441234567", "#top", "/relative/path",
		"https://fs.example/u/TOKEN", "javascript:alert(1)", "JaVaScRiPt:alert(1)",
		"data:text/html,<b>x</b>", "https:///nohost", "https://shop.example/a b",
		"ftp://files.example/x", "", "  ",
	};

	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		char html[512];
		struct seen s;
		long n;
		char *out;

		snprintf(html, sizeof(html), "<a href=\"%s\">x</a>", kept[i]);
		out = rewrite(html, &s, &n);
		ck_assert_msg(n == 0, "%s was rewritten", kept[i]);
		ck_assert_str_eq(out, html);
		free(out);
	}
	ck_assert(!html_link_trackable("https://x.example/\r\nSet-Cookie: a=b", 36, NULL));
	ck_assert(html_link_trackable("HTTPS://X.example/", 18, NULL));
}
END_TEST

START_TEST(broken_html_is_copied_as_it_is)
{
	static const char *const broken[] = {
		"<a href=\"https://shop.example/unclosed",
		"<a href=",
		"<a",
		"<",
		"text <a href='https://x.example/'",
		"<a =\"x\" href>",
		"<a/href=\"https://x.example/\"/>",
	};

	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		struct seen s;
		long n;
		char *out = rewrite(broken[i], &s, &n);
		ck_assert_int_ge(n, 0);
		if (n == 0)
			ck_assert_str_eq(out, broken[i]);
		free(out);
	}
}
END_TEST

static int keep_all(void *arg, const char *url, size_t len, struct strbuf *repl)
{
	(void)arg;
	(void)url;
	(void)len;
	(void)repl;
	return 0;
}

START_TEST(keeping_every_link_gives_the_input_back)
{
	const char *html = "<html><body><a href=\"https://a.example/?q=&quot;x&quot;\">a</a>"
			   "<!--[if mso]><a href=\"https://b.example/\">b</a><![endif]-->"
			   "<A\tHREF = 'https://c.example/' >c</A></body></html>";
	struct strbuf out = STRBUF_INIT;

	ck_assert_int_eq(html_links_rewrite(html, strlen(html), keep_all, NULL, &out), 0);
	ck_assert_uint_eq(out.len, strlen(html));
	ck_assert(memcmp(out.buf, html, out.len) == 0);
	strbuf_free(&out);
}
END_TEST

static int quoting(void *arg, const char *url, size_t len, struct strbuf *repl)
{
	(void)arg;
	(void)url;
	(void)len;
	strbuf_appends(repl, "https://x.example/?a=\"b\"&c=<d>");
	return 1;
}

START_TEST(replacements_are_escaped_in_the_attribute)
{
	const char *html = "<a href=\"https://a.example/\">a</a>";
	struct strbuf out = STRBUF_INIT;

	ck_assert_int_eq(html_links_rewrite(html, strlen(html), quoting, NULL, &out), 1);
	strbuf_appends(&out, "");
	ck_assert_str_eq(out.buf,
			 "<a href=\"https://x.example/?a=&quot;b&quot;&amp;c=&lt;d&gt;\">a</a>");
	strbuf_free(&out);
}
END_TEST

START_TEST(the_pixel_goes_before_the_last_body_end)
{
	struct strbuf out = STRBUF_INIT;
	const char *html = "<html><body><p>x</p></BODY></html>";

	ck_assert_int_eq(html_links_add_pixel(html, strlen(html), "https://t.example/t/o/A.gif", &out), 0);
	strbuf_appends(&out, "");
	ck_assert_ptr_nonnull(strstr(out.buf, "<p>x</p><img src=\"https://t.example/t/o/A.gif\""));
	ck_assert_ptr_nonnull(strstr(out.buf, "></BODY></html>"));
	strbuf_reset(&out);
	ck_assert_int_eq(html_links_add_pixel("<p>no body</p>", 14, "https://t.example/p.gif", &out), 0);
	strbuf_appends(&out, "");
	ck_assert_int_eq(strncmp(out.buf, "<p>no body</p><img src=\"https://t.example/p.gif\"", 48), 0);
	strbuf_free(&out);
}
END_TEST

static const struct track_key key1 = { 1, "unit-link-secret" };

START_TEST(tokens_round_trip_with_their_fixed_length)
{
	char open[TRACK_TOKEN_MAX + 1], click[TRACK_TOKEN_MAX + 1];
	struct track_ref ref;

	ck_assert_int_eq(track_token_mint(&key1, TRACK_OPEN, OUTBOX, NULL, open, sizeof(open)), 0);
	ck_assert_int_eq(track_token_mint(&key1, TRACK_CLICK, OUTBOX, LINK, click, sizeof(click)), 0);
	ck_assert_uint_eq(strlen(open), TRACK_OPEN_TOKEN_LEN);
	ck_assert_uint_eq(strlen(click), TRACK_CLICK_TOKEN_LEN);
	ck_assert_uint_eq(strspn(click, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
			  strlen(click));
	ck_assert_int_eq(track_token_parse(&key1, 1, TRACK_OPEN, open, strlen(open), &ref), 0);
	ck_assert_str_eq(ref.outbox_id, OUTBOX);
	ck_assert_str_eq(ref.link_id, "");
	ck_assert_int_eq(ref.key_id, 1);
	ck_assert_int_eq(track_token_parse(&key1, 1, TRACK_CLICK, click, strlen(click), &ref), 0);
	ck_assert_str_eq(ref.outbox_id, OUTBOX);
	ck_assert_str_eq(ref.link_id, LINK);
	/* the other kind, a token of the right length but the wrong kind */
	ck_assert_int_eq(track_token_parse(&key1, 1, TRACK_CLICK, open, strlen(open), &ref), -1);
	ck_assert_int_eq(track_token_parse(&key1, 1, TRACK_OPEN, click, strlen(click), &ref), -1);
	/* malformed ids are refused when minting */
	ck_assert_int_eq(track_token_mint(&key1, TRACK_CLICK, OUTBOX, NULL, click, sizeof(click)), -1);
	ck_assert_int_eq(track_token_mint(&key1, TRACK_OPEN, "not-a-uuid", NULL, open, sizeof(open)), -1);
	ck_assert_int_eq(track_token_mint(&key1, TRACK_OPEN, OUTBOX, NULL, open, 10), -1);
}
END_TEST

START_TEST(forged_altered_and_foreign_tokens_are_refused)
{
	char click[TRACK_TOKEN_MAX + 1], bad[TRACK_TOKEN_MAX + 8];
	struct track_key other = { 1, "another-secret" }, key2 = { 2, "unit-link-secret" };
	struct track_key both[2] = { { 2, "rotated" }, { 1, "unit-link-secret" } };
	struct track_ref ref;

	ck_assert_int_eq(track_token_mint(&key1, TRACK_CLICK, OUTBOX, LINK, click, sizeof(click)), 0);
	/* every single character changed */
	for (size_t i = 0; i < TRACK_CLICK_TOKEN_LEN; i++) {
		memcpy(bad, click, sizeof(click));
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		ck_assert_msg(track_token_parse(&key1, 1, TRACK_CLICK, bad, strlen(bad), &ref) == -1,
			      "altered at %zu", i);
	}
	/* truncated, padded, bad alphabet */
	ck_assert_int_eq(track_token_parse(&key1, 1, TRACK_CLICK, click, TRACK_CLICK_TOKEN_LEN - 1, &ref), -1);
	snprintf(bad, sizeof(bad), "%s=", click);
	ck_assert_int_eq(track_token_parse(&key1, 1, TRACK_CLICK, bad, strlen(bad), &ref), -1);
	memcpy(bad, click, sizeof(click));
	bad[5] = '+';
	ck_assert_int_eq(track_token_parse(&key1, 1, TRACK_CLICK, bad, strlen(bad), &ref), -1);
	memcpy(bad, click, sizeof(click));
	bad[5] = '\0';
	ck_assert_int_eq(track_token_parse(&key1, 1, TRACK_CLICK, bad, TRACK_CLICK_TOKEN_LEN, &ref), -1);
	/* another secret, or the right secret under another key id */
	ck_assert_int_eq(track_token_parse(&other, 1, TRACK_CLICK, click, strlen(click), &ref), -1);
	ck_assert_int_eq(track_token_parse(&key2, 1, TRACK_CLICK, click, strlen(click), &ref), -1);
	/* the key the token names is found among several */
	ck_assert_int_eq(track_token_parse(both, 2, TRACK_CLICK, click, strlen(click), &ref), 0);
	/* the open token's leftover bits must be zero: one spelling per token */
	{
		char open[TRACK_TOKEN_MAX + 1];
		ck_assert_int_eq(track_token_mint(&key1, TRACK_OPEN, OUTBOX, NULL, open, sizeof(open)), 0);
		memcpy(bad, open, sizeof(open));
		bad[TRACK_OPEN_TOKEN_LEN - 1] = bad[TRACK_OPEN_TOKEN_LEN - 1] == 'A' ? 'B' : 'A';
		ck_assert_int_eq(track_token_parse(&key1, 1, TRACK_OPEN, bad, strlen(bad), &ref), -1);
	}
}
END_TEST

/* Tags are standard HMAC-SHA256 (what bench/tracking.sh mints with Python's
 * hmac, and what tokens already in sent mail carry), whatever the key's
 * length and whichever key was used last (the keyed state is kept). */
START_TEST(tokens_are_standard_hmac_under_any_key)
{
	static char long_secret[301], block_secret[65];
	struct track_key long_key = { 1, long_secret }, block_key = { 1, block_secret };
	char tok[TRACK_TOKEN_MAX + 1];
	struct track_ref ref;

	memset(long_secret, 'k', 300);
	memset(block_secret, 'k', 64);
	for (int round = 0; round < 2; round++) {
		ck_assert_int_eq(track_token_mint(&key1, TRACK_OPEN, OUTBOX, NULL, tok, sizeof(tok)), 0);
		ck_assert_str_eq(tok, "AQGQqqq7u3zMjd3u7u7u7u70nd0ogs_G9tvfPiY");
		ck_assert_int_eq(track_token_mint(&key1, TRACK_CLICK, OUTBOX, LINK, tok, sizeof(tok)), 0);
		ck_assert_str_eq(tok, "AQGQqqq7u3zMjd3u7u7u7u4BI0VniatN74EjRWeJq83vbjvz5jIhwUCODOAL");
		ck_assert_int_eq(track_token_mint(&long_key, TRACK_CLICK, OUTBOX, LINK, tok, sizeof(tok)), 0);
		ck_assert_str_eq(tok, "AQGQqqq7u3zMjd3u7u7u7u4BI0VniatN74EjRWeJq83voU4ApUmNGvFDUygC");
		ck_assert_int_eq(track_token_parse(&key1, 1, TRACK_CLICK, tok, strlen(tok), &ref), -1);
		ck_assert_int_eq(track_token_parse(&long_key, 1, TRACK_CLICK, tok, strlen(tok), &ref), 0);
		ck_assert_int_eq(track_token_mint(&block_key, TRACK_OPEN, OUTBOX, NULL, tok, sizeof(tok)), 0);
		ck_assert_str_eq(tok, "AQGQqqq7u3zMjd3u7u7u7u5Fhr735gRmIrM7ubk");
	}
}
END_TEST

/* Hit ids are event ids: a forked worker must never hand out its parent's
 * (the random pool is forgotten in the child), and they are time-ordered
 * UUIDv7 text. */
START_TEST(hit_ids_differ_across_a_fork)
{
	char parent[4][37], child[37];
	int fds[2], status;
	pid_t pid;

	ck_assert_int_eq(track_hit_id(1700000000000LL, parent[0]), 0); /* fills the pool */
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char id[37] = "";
		int ok = track_hit_id(1700000000000LL, id) == 0 &&
			 write(fds[1], id, sizeof(id)) == (ssize_t)sizeof(id);
		_exit(ok ? 0 : 1);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (int i = 1; i < 4; i++)
		ck_assert_int_eq(track_hit_id(1700000000000LL, parent[i]), 0);
	for (int i = 0; i < 4; i++) {
		ck_assert_str_ne(parent[i], child);
		ck_assert_uint_eq(strlen(parent[i]), 36);
		ck_assert(strncmp(parent[i], "018bcfe5-6800-7", 15) == 0);
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(parent[i], parent[j]);
	}
	ck_assert(strncmp(child, "018bcfe5-6800-7", 15) == 0);
	ck_assert(strchr("89ab", child[19]) != NULL);
}
END_TEST

START_TEST(hits_round_trip_and_hostile_lines_are_refused)
{
	struct track_hit h, back;
	char line[TRACK_HIT_MAX];
	int n;

	memset(&h, 0, sizeof(h));
	ck_assert_int_eq(track_hit_id(1764599230123LL, h.id), 0);
	ck_assert_int_eq(strncmp(h.id, "019ada", 6), 0); /* the time leads: ids sort by arrival */
	ck_assert_int_eq(h.id[14], '7');
	h.kind = 'c';
	snprintf(h.outbox_id, sizeof(h.outbox_id), "%s", OUTBOX);
	snprintf(h.link_id, sizeof(h.link_id), "%s", LINK);
	h.at_ms = 1764599230123LL;
	h.head = 1;
	h.agent_bot = 0;
	track_hit_set_agent(&h, "Mozilla/5.0\t(X11)\r\n\xc3\xa9");
	ck_assert_str_eq(h.agent, "Mozilla/5.0?(X11)????");
	n = track_hit_encode(&h, line, sizeof(line));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(track_hit_decode(line, (size_t)n, &back), 0);
	ck_assert_str_eq(back.id, h.id);
	ck_assert_str_eq(back.link_id, LINK);
	ck_assert(back.at_ms == h.at_ms);
	ck_assert_int_eq(back.head, 1);
	ck_assert_str_eq(back.agent, h.agent);
	/* an open carries no link */
	h.kind = 'o';
	ck_assert_int_eq(track_hit_encode(&h, line, sizeof(line)), -1);
	h.link_id[0] = '\0';
	n = track_hit_encode(&h, line, sizeof(line));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(track_hit_decode(line, (size_t)n, &back), 0);
	ck_assert_str_eq(back.link_id, "");
	/* hostile lines */
	{
		static const char *const bad[] = {
			"", "1", "2\t" OUTBOX "\to\t" OUTBOX "\t-\t1\t--\tua",
			"1\t" OUTBOX "\tx\t" OUTBOX "\t-\t1\t--\tua",
			"1\t" OUTBOX "\to\t" OUTBOX "\t-\t-1\t--\tua",
			"1\t" OUTBOX "\to\t" OUTBOX "\t-\t1\t--\tua\textra",
			"1\t" OUTBOX "\tc\t" OUTBOX "\t-\t1\t--\tua",
			"1\t" OUTBOX "\to\t" OUTBOX "\t-\t12345678901234567\t--\tua",
			"1\t" OUTBOX "\to\t" OUTBOX "\t-\t1\tX-\tua",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			ck_assert_msg(track_hit_decode(bad[i], strlen(bad[i]), &back) == -1, "%s", bad[i]);
	}
}
END_TEST

START_TEST(scanner_agents_are_known)
{
	ck_assert(scanner_agent(NULL));
	ck_assert(scanner_agent(""));
	ck_assert(scanner_agent("Mozilla/5.0 (compatible; BingPreview/1.0b)"));
	ck_assert(scanner_agent("Barracuda Sentinel (EE)"));
	ck_assert(scanner_agent("python-requests/2.31"));
	ck_assert(scanner_agent("curl/7.88.1"));
	ck_assert(!scanner_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
				 "(KHTML, like Gecko) Chrome/120.0 Safari/537.36"));
	ck_assert(!scanner_agent("Mozilla/5.0 (Macintosh) Thunderbird/115.0"));
	/* Gmail's image proxy fetches when the person opens: a real open */
	ck_assert(!scanner_agent("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 "
				 "(via ggpht.com GoogleImageProxy)"));
}
END_TEST

/* The one-pass matcher finds what a strstr per name found: at the start, at
 * the end, in any case, overlapping near-misses, and only in the first 511
 * bytes. */
START_TEST(scanner_agents_match_as_substrings_anywhere)
{
	char long_ua[700];

	ck_assert(scanner_agent("bot"));
	ck_assert(scanner_agent("MyBOT"));
	ck_assert(scanner_agent("x wget/1.21"));
	ck_assert(scanner_agent("Mozilla/5.0 Microsoft Office Protocol Discovery"));
	ck_assert(scanner_agent("ssafelinks")); /* a name right after its own first byte */
	ck_assert(scanner_agent("trend micro"));
	ck_assert(!scanner_agent("bo"));
	ck_assert(!scanner_agent("wget"));
	ck_assert(!scanner_agent("trend  micro"));
	ck_assert(!scanner_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148"));
	ck_assert(!scanner_agent("\xff\xfe\x80 unicode \xc3\xa9t\xc3\xa9"));
	memset(long_ua, 'a', sizeof(long_ua) - 1);
	long_ua[sizeof(long_ua) - 1] = '\0';
	ck_assert(!scanner_agent(long_ua));
	memcpy(long_ua + 508, "bot", 3); /* ends at byte 511: read */
	ck_assert(scanner_agent(long_ua));
	memset(long_ua, 'a', sizeof(long_ua) - 1);
	memcpy(long_ua + 509, "bot", 3); /* past the first 511 bytes: not read */
	ck_assert(!scanner_agent(long_ua));
}
END_TEST

START_TEST(the_shared_ring_keeps_records_until_released)
{
	struct shm_ring *r = shm_ring_new(4, sizeof(int));
	int out[8], v;
	pid_t pid;

	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_null(shm_ring_new(0, 4));
	for (v = 1; v <= 4; v++)
		ck_assert_int_eq(shm_ring_put(r, &v), 0);
	ck_assert_int_eq(shm_ring_put(r, &v), -1); /* full: never overwrites */
	ck_assert_uint_eq(shm_ring_peek(r, out, 8), 4);
	ck_assert_int_eq(out[0], 1);
	ck_assert_int_eq(out[3], 4);
	/* peeking again (a consumer that died before releasing) sees the same */
	ck_assert_uint_eq(shm_ring_peek(r, out, 2), 2);
	ck_assert_int_eq(out[0], 1);
	shm_ring_release(r, 3);
	ck_assert_uint_eq(shm_ring_count(r), 1);
	/* a child process appends; the parent reads it (wrapping round) */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		for (int k = 10; k < 13; k++)
			if (shm_ring_put(r, &k) < 0)
				_exit(1);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &v, 0), pid);
	ck_assert(WIFEXITED(v) && WEXITSTATUS(v) == 0);
	ck_assert_uint_eq(shm_ring_peek(r, out, 8), 4);
	ck_assert_int_eq(out[0], 4);
	ck_assert_int_eq(out[1], 10);
	ck_assert_int_eq(out[3], 12);
	shm_ring_release(r, 100); /* more than held: all */
	ck_assert_uint_eq(shm_ring_count(r), 0);
	shm_ring_free(r);
}
END_TEST

/* Review (session 7): the ring's shape is no longer read from the shared
 * mapping, and its counts are clamped: a stray write of another process into
 * it (head, tail, the records) loses records at worst, never makes the
 * flusher copy out of bounds (before, a garbled size or slot count there
 * made shm_ring_peek write past the caller's buffer). */
struct ring_header_mirror { /* lib/queue/shm_ring.c's struct ring_shared */
	pthread_mutex_t lock;
	uint64_t head, tail;
};

START_TEST(a_stray_write_into_the_shared_ring_never_overflows_the_reader)
{
	struct shm_ring *r = shm_ring_new(4, sizeof(struct track_hit));
	struct track_hit in, out[8];
	struct ring_header_mirror *hd;
	size_t bytes = 0;
	unsigned char *base;
	pid_t pid;
	int st;

	ck_assert_ptr_nonnull(r);
	base = shm_ring_shared(r, &bytes);
	ck_assert_uint_eq(bytes, sizeof(*hd) + 4 * sizeof(struct track_hit));
	hd = (struct ring_header_mirror *)(void *)base;
	memset(&in, 0, sizeof(in));
	ck_assert_int_eq(shm_ring_put(r, &in), 0);
	/* a worker scribbles: the counts and every record */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		hd->head = hd->tail + 1000000000000ULL;
		memset(base + sizeof(*hd), 'A', bytes - sizeof(*hd));
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_uint_eq(shm_ring_count(r), 4); /* clamped to the slots */
	ck_assert_uint_eq(shm_ring_peek(r, out, 8), 4);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(track_hit_settle(&out[i]), -1); /* garbage: dropped */
	shm_ring_release(r, 4);
	ck_assert_uint_eq(shm_ring_count(r), 0);
	ck_assert_int_eq(shm_ring_put(r, &in), 0); /* and it works again */
	ck_assert_uint_eq(shm_ring_count(r), 1);
	/* tail past head */
	hd->tail = hd->head + 5;
	ck_assert_uint_eq(shm_ring_peek(r, out, 8), 4);
	shm_ring_release(r, 1);
	ck_assert_uint_eq(shm_ring_count(r), 0);
	ck_assert_int_eq(shm_ring_put(r, &in), 0);
	shm_ring_free(r);
}
END_TEST

START_TEST(a_hit_read_back_from_shared_memory_is_settled_before_use)
{
	struct track_hit h;

	memset(&h, 0, sizeof(h));
	ck_assert_int_eq(track_hit_id(1764599230123LL, h.id), 0);
	h.kind = 'c';
	snprintf(h.outbox_id, sizeof(h.outbox_id), "%s", OUTBOX);
	snprintf(h.link_id, sizeof(h.link_id), "%s", LINK);
	h.at_ms = 1764599230123LL;
	track_hit_set_agent(&h, "Mozilla/5.0");
	ck_assert_int_eq(track_hit_settle(&h), 0);
	/* no terminator anywhere: cut, then refused (never read past) */
	memset(h.agent, 'a', sizeof(h.agent));
	ck_assert_int_eq(track_hit_settle(&h), 0); /* cut to 255 printable bytes: fine */
	ck_assert_uint_eq(strlen(h.agent), TRACK_HIT_AGENT_MAX);
	memset(h.outbox_id, 'f', sizeof(h.outbox_id));
	ck_assert_int_eq(track_hit_settle(&h), -1);
	snprintf(h.outbox_id, sizeof(h.outbox_id), "%s", OUTBOX);
	h.agent[3] = '"';
	h.agent[4] = (char)0xc3;
	ck_assert_int_eq(track_hit_settle(&h), -1);
	track_hit_set_agent(&h, "ok");
	h.kind = 'x';
	ck_assert_int_eq(track_hit_settle(&h), -1);
	h.kind = 'c';
	h.at_ms = -1;
	ck_assert_int_eq(track_hit_settle(&h), -1);
}
END_TEST

Suite *tracking_suite(void)
{
	Suite *s = suite_create("tracking");
	TCase *tc = tcase_create("tracking");

	tcase_add_test(tc, links_are_rewritten_and_the_rest_kept);
	tcase_add_test(tc, mailto_tel_anchors_unsubscribe_and_scripts_stay);
	tcase_add_test(tc, broken_html_is_copied_as_it_is);
	tcase_add_test(tc, keeping_every_link_gives_the_input_back);
	tcase_add_test(tc, replacements_are_escaped_in_the_attribute);
	tcase_add_test(tc, the_pixel_goes_before_the_last_body_end);
	tcase_add_test(tc, tokens_round_trip_with_their_fixed_length);
	tcase_add_test(tc, forged_altered_and_foreign_tokens_are_refused);
	tcase_add_test(tc, hits_round_trip_and_hostile_lines_are_refused);
	tcase_add_test(tc, scanner_agents_are_known);
	tcase_add_test(tc, scanner_agents_match_as_substrings_anywhere);
	tcase_add_test(tc, the_shared_ring_keeps_records_until_released);
	tcase_add_test(tc, a_stray_write_into_the_shared_ring_never_overflows_the_reader);
	tcase_add_test(tc, a_hit_read_back_from_shared_memory_is_settled_before_use);
	tcase_add_test(tc, tokens_are_standard_hmac_under_any_key);
	tcase_add_test(tc, hit_ids_differ_across_a_fork);
	suite_add_tcase(s, tc);
	return s;
}
