/* Opens, clicks and the preference center end to end (issue 17): a campaign
 * goes over SMTP to the tests' sink (flowsend-batch --once), and every link
 * and the pixel of the mail that arrived is fetched through nginx: 302 to the
 * original URL, the GIF, counted once per contact however often hit, per-link
 * figures, scanners (fast, HEAD, known agents) recorded but not counted,
 * forged and altered tokens 404 with nothing recorded, analytics equal to a
 * direct count after many concurrent hits, nothing lost or doubled when the
 * flush is killed or the responder stops. The stack's mock worker is paused
 * meanwhile. */
#define _GNU_SOURCE /* strcasestr */
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/strbuf.h"
#include "core/uuid.h"
#include "e2e.h"
#include "mail/links.h"
#include "mail/track_token.h"
#include "queue/redis.h"
#include "services/tracking.h"

#define BROWSER "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)" \
		" Chrome/120.0 Safari/537.36"

static char token[4096];

static struct fs_config config(void)
{
	struct fs_config cfg;
	char err[256];

	ck_assert_int_eq(fs_config_load(&cfg, err, sizeof(err)), 0);
	return cfg;
}

static long long owner_value(const char *sql, const char *a1, const char *a2)
{
	const char *p[2] = { a1, a2 };
	return e2e_owner_value(sql, a2 ? 2 : a1 ? 1 : 0, p);
}

static void owner_exec(const char *sql, const char *a1)
{
	const char *p[1] = { a1 };
	char out[8];
	e2e_owner_text(sql, a1 ? 1 : 0, p, out, sizeof(out));
}

/* ---- the sink (see tests/e2e/test_delivery.c) ---- */

static const char *state_dir(void)
{
	const char *s = getenv("FLOWSEND_TEST_STATE");
	return s ? s : "/var/tmp/flowsend-18080";
}

static int instance_offset(void)
{
	const char *colon = strrchr(e2e_base(), ':');
	int port = colon ? atoi(colon + 1) : 18080;

	return port >= 18080 && port < 18090 ? port - 18080 : 0;
}

static void sink_start(struct e2e_sink *s)
{
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/sink/track-%d", state_dir(), (int)getpid());
	e2e_sink_start(s, dir, 12025 + 10 * instance_offset() + 8, NULL);
}

/* The stored message to addr (the caller frees it), or NULL. */
static char *sink_message(const struct e2e_sink *s, const char *addr)
{
	char *raw;

	return e2e_sink_find(s, addr, NULL, &raw) ? raw : NULL;
}

/* The decoded text/html part of a stored message (malloc'd). */
static char *html_part(const char *msg)
{
	const char *ct = strcasestr(msg, "\r\nContent-Type: text/html"), *hdr_end, *next, *cte;
	struct strbuf out = STRBUF_INIT;

	ck_assert_ptr_nonnull(ct);
	hdr_end = strstr(ct + 2, "\r\n\r\n");
	ck_assert_ptr_nonnull(hdr_end);
	cte = strcasestr(ct, "Content-Transfer-Encoding: ");
	next = strstr(hdr_end + 4, "\r\n--");
	ck_assert_ptr_nonnull(next);
	if (cte && cte < hdr_end && strncasecmp(cte + 27, "base64", 6) == 0) {
		static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		unsigned acc = 0;
		int bits = 0;
		for (const char *p = hdr_end + 4; p < next; p++) {
			const char *k = *p ? strchr(al, *p) : NULL;
			if (!k)
				continue;
			acc = acc << 6 | (unsigned)(k - al);
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				strbuf_appendc(&out, (char)(acc >> bits & 0xff));
			}
		}
	} else if (cte && cte < hdr_end && strncasecmp(cte + 27, "quoted-printable", 16) == 0) {
		for (const char *p = hdr_end + 4; p < next; p++) {
			if (p[0] == '=' && p + 2 < next && p[1] == '\r' && p[2] == '\n')
				p += 2;
			else if (p[0] == '=' && p + 2 < next && hex_value(p[1]) >= 0 && hex_value(p[2]) >= 0) {
				strbuf_appendc(&out, (char)(hex_value(p[1]) * 16 + hex_value(p[2])));
				p += 2;
			} else
				strbuf_appendc(&out, *p);
		}
	} else {
		strbuf_append(&out, hdr_end + 4, (size_t)(next - hdr_end - 4));
	}
	strbuf_appends(&out, "");
	return out.buf;
}

/* The values of attr="..." in html, in order, into vals (at most max). */
static int attr_values(const char *html, const char *attr, char vals[][512], int max)
{
	char needle[32];
	int n = 0;

	snprintf(needle, sizeof(needle), " %s=\"", attr);
	for (const char *p = strcasestr(html, needle); p && n < max; p = strcasestr(p + 1, needle)) {
		const char *v = p + strlen(needle), *end = strchr(v, '"');
		ck_assert_ptr_nonnull(end);
		snprintf(vals[n++], 512, "%.*s", (int)(end - v), v);
	}
	return n;
}

/* ---- the tenant, its campaign, its mail ---- */

#define LINK_A "https://shop.example/spring?utm=1&x=2"
#define LINK_B "https://shop.example/b"
#define LINK_C "http://other.example/c"
#define TEMPLATE_HTML                                                                              \
	"<html><body><h1>Hi {{first_name}}</h1>"                                                   \
	"<p><a href=\\\"https://shop.example/spring?utm=1&amp;x=2\\\">Spring</a>"                  \
	" <a class=\\\"btn\\\" href='https://shop.example/b'>B</a>"                                \
	" <A HREF=\\\"http://other.example/c\\\">C</A>"                                            \
	" <a href=\\\"mailto:help@shop.example\\\">mail</a> <a href=\\\"tel:+441234\\\">call</a>"  \
	" <a href=\\\"#top\\\">top</a> <a href=\\\"javascript:alert(1)\\\">js</a>"                 \
	" <a href=\\\"{{unsubscribe_url}}\\\">Unsubscribe</a></p></body></html>"

struct world {
	char user[40], camp[40];
	int n;
	char contact[8][40], email[8][128], row[8][40];
	/* per contact: the three click paths (A, B, C) and the pixel path */
	char click[8][3][256], pixel[8][256];
};

static void new_campaign(struct world *w, const char *prefix, int contacts)
{
	char body[2048], tpl[40], env[512], cmd[1024];
	struct http_answer a;
	struct e2e_sink s;

	memset(w, 0, sizeof(*w));
	w->n = contacts;
	e2e_new_tenant(prefix, token, sizeof(token));
	e2e_set_plan(token, "pro");
	e2e_user_id(token, w->user);
	e2e_expect(token, "PATCH", "/api/v1/settings/sender", "{\"from_name\":\"Coral Shop\"}", 200,
		   NULL, NULL);
	for (int i = 0; i < contacts; i++) {
		e2e_unique_email(prefix, w->email[i], sizeof(w->email[i]));
		snprintf(body, sizeof(body), "{\"email\":\"%s\",\"first_name\":\"C%d\"}", w->email[i], i);
		e2e_expect(token, "POST", "/api/v1/contacts", body, 201, NULL, &a);
		snprintf(w->contact[i], 40, "%s", json_str(a.json, "id"));
		http_answer_free(&a);
	}
	snprintf(body, sizeof(body), "{\"name\":\"T\",\"subject\":\"s\",\"html_content\":\"%s\"}",
		 TEMPLATE_HTML);
	e2e_expect(token, "POST", "/api/v1/templates", body, 201, NULL, &a);
	snprintf(tpl, sizeof(tpl), "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	snprintf(body, sizeof(body), "{\"name\":\"Track\",\"subject\":\"Hello\",\"template_id\":\"%s\"}", tpl);
	e2e_expect(token, "POST", "/api/v1/campaigns", body, 201, NULL, &a);
	snprintf(w->camp, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
	snprintf(body, sizeof(body), "/api/v1/campaigns/%s/send", w->camp);
	e2e_expect(token, "POST", body, NULL, 202, NULL, NULL);

	sink_start(&s);
	snprintf(env, sizeof(env), "FLOWSEND_SMTP_URL=smtp://127.0.0.1:%d FLOWSEND_SMTP_CONCURRENCY=4"
		 " FLOWSEND_PUBLIC_URL=https://flowsend.test", s.port);
	snprintf(cmd, sizeof(cmd), "env %s %s/flowsend-batch --once >>/tmp/flowsend-e2e-batch.log 2>&1",
		 env, e2e_bin());
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(owner_value("SELECT count(*) FROM outbox WHERE campaign_id = $1 AND status = 'sent'",
				     w->camp, NULL),
			 contacts);
	for (int i = 0; i < contacts; i++) {
		char *raw = sink_message(&s, w->email[i]), *html, hrefs[16][512], srcs[4][512];
		int nh, ns, k = 0;
		const char *p[2] = { w->camp, w->contact[i] };

		ck_assert_msg(raw != NULL, "no mail for %s", w->email[i]);
		e2e_owner_text("SELECT id FROM outbox WHERE campaign_id = $1 AND contact_id = $2", 2, p,
			       w->row[i], sizeof(w->row[i]));
		html = html_part(raw);
		nh = attr_values(html, "href", hrefs, 16);
		ns = attr_values(html, "src", srcs, 4);
		/* the three web links rewritten, the others as they were */
		ck_assert_int_eq(nh, 8);
		for (int j = 0; j < 3; j++) {
			ck_assert_msg(strncmp(hrefs[j], "https://flowsend.test/t/c/", 26) == 0, "%s", hrefs[j]);
			ck_assert_uint_eq(strlen(hrefs[j] + 26), TRACK_CLICK_TOKEN_LEN);
			snprintf(w->click[i][k++], 256, "%.200s", hrefs[j] + 21);
		}
		ck_assert_str_eq(hrefs[3], "mailto:help@shop.example");
		ck_assert_str_eq(hrefs[4], "tel:+441234");
		ck_assert_str_eq(hrefs[5], "#top");
		ck_assert_str_eq(hrefs[6], "javascript:alert(1)");
		ck_assert_msg(strncmp(hrefs[7], "https://flowsend.test/u/", 24) == 0, "%s", hrefs[7]);
		ck_assert_int_eq(ns, 1);
		ck_assert_msg(strncmp(srcs[0], "https://flowsend.test/t/o/", 26) == 0, "%s", srcs[0]);
		ck_assert_ptr_nonnull(strstr(srcs[0], ".gif"));
		snprintf(w->pixel[i], 256, "%.200s", srcs[0] + 21);
		/* the pixel sits inside the body */
		ck_assert(strstr(html, srcs[0]) < strstr(html, "</body>"));
		free(html);
		free(raw);
	}
	e2e_sink_stop(&s);
	/* One link row per distinct URL for the whole campaign, not per message. */
	ck_assert_int_eq(owner_value("SELECT count(*) FROM campaign_links WHERE campaign_id = $1", w->camp,
				     NULL),
			 3);
}

/* Hits from a person: long after delivery, with a browser's agent. */
static void age_mail(const struct world *w)
{
	owner_exec("UPDATE outbox SET sent_at = now() - interval '1 minute' WHERE campaign_id = $1"
		   " RETURNING 1",
		   w->camp);
}

static long hit(const char *method, const char *path, const char *ua, struct http_answer *out)
{
	const char *h[] = { ua, NULL };
	struct http_answer a;

	ck_assert_int_eq(http_call(method, path, ua ? h : NULL, NULL, 0, &a), 0);
	if (out) {
		*out = a;
		return a.status;
	}
	{
		long st = a.status;
		http_answer_free(&a);
		return st;
	}
}

static long long events(const struct world *w, const char *type, const char *bot)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM email_events WHERE campaign_id = $1 AND event_type = '%s'%s", type,
		 bot ? bot : "");
	return owner_value(sql, w->camp, NULL);
}

/* Wait until the campaign holds want open+click events; asserts it happens
 * within 2 s (the bound) of the call. */
static void wait_recorded(const struct world *w, long long want)
{
	struct timespec t0, t1;
	long long got = -1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 400; i++) {
		got = owner_value("SELECT count(*) FROM email_events WHERE campaign_id = $1"
				  " AND event_type IN ('opened', 'clicked')",
				  w->camp, NULL);
		if (got >= want)
			break;
		usleep(25000);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_msg(got == want, "%lld hits recorded, want %lld", got, want);
	ck_assert_msg((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 2000,
		      "hits took over 2 s to be visible");
}

static long long campaign_field(const struct world *w, const char *field)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT %s FROM campaigns WHERE id = $1", field);
	return owner_value(sql, w->camp, NULL);
}

/* The analytics answer's links[] entry for url: clicks and unique clicks. */
static void analytics_link(json_object *an, const char *url, long long *clicks, long long *uniq)
{
	json_object *links = json_object_object_get(an, "links");

	*clicks = *uniq = -1;
	for (size_t i = 0; links && i < json_object_array_length(links); i++) {
		json_object *l = json_object_array_get_idx(links, i);
		if (strcmp(json_str(l, "url"), url) == 0) {
			*clicks = json_object_get_int64(json_object_object_get(l, "clicks"));
			*uniq = json_object_get_int64(json_object_object_get(l, "unique_clicks"));
		}
	}
}

static json_object *analytics(const struct world *w, struct http_answer *a)
{
	char path[128];

	snprintf(path, sizeof(path), "/api/v1/campaigns/%s/analytics", w->camp);
	e2e_expect(token, "GET", path, NULL, 200, NULL, a);
	return a->json;
}

static long long an_int(json_object *o, const char *key)
{
	return json_object_get_int64(json_object_object_get(o, key));
}

static void resume_worker(void)
{
	e2e_pause_worker(0);
}

/* ---- the tests ---- */

START_TEST(every_link_and_the_pixel_work_and_count_once_per_contact)
{
	static const char *const urls[3] = { LINK_A, LINK_B, LINK_C };
	struct world w;
	struct http_answer a;
	char loc[1024];

	e2e_pause_worker(1);
	new_campaign(&w, "trk-links", 2);
	age_mail(&w);
	/* Ann: every link three times, the pixel three times. */
	for (int round = 0; round < 3; round++) {
		for (int j = 0; j < 3; j++) {
			ck_assert_int_eq(hit("GET", w.click[0][j], BROWSER, &a), 302);
			ck_assert_ptr_nonnull(http_header(&a, "Location", loc, sizeof(loc)));
			ck_assert_str_eq(loc, urls[j]);
			http_answer_free(&a);
		}
		ck_assert_int_eq(hit("GET", w.pixel[0], BROWSER, &a), 200);
		ck_assert_ptr_nonnull(http_header(&a, "Content-Type", loc, sizeof(loc)));
		ck_assert_str_eq(loc, "image/gif");
		ck_assert_uint_eq(a.len, 43);
		ck_assert(memcmp(a.body, "GIF89a\x01\x00\x01\x00", 10) == 0);
		ck_assert_ptr_nonnull(http_header(&a, "Cache-Control", loc, sizeof(loc)));
		ck_assert_ptr_nonnull(strstr(loc, "no-store"));
		http_answer_free(&a);
	}
	wait_recorded(&w, 12);
	ck_assert_int_eq(events(&w, "opened", " AND NOT is_bot"), 3);
	ck_assert_int_eq(events(&w, "clicked", " AND NOT is_bot"), 9);
	/* every click names its URL and contact */
	ck_assert_int_eq(owner_value("SELECT count(*) FROM email_events WHERE campaign_id = $1"
				     " AND event_type = 'clicked' AND url = $2 AND contact_id IS NOT NULL",
				     w.camp, LINK_A),
			 3);
	ck_assert_int_eq(campaign_field(&w, "open_count"), 1);
	ck_assert_int_eq(campaign_field(&w, "click_count"), 1);
	/* Bob clicks B once. */
	ck_assert_int_eq(hit("GET", w.click[1][1], BROWSER, NULL), 302);
	wait_recorded(&w, 13);
	ck_assert_int_eq(campaign_field(&w, "open_count"), 1);
	ck_assert_int_eq(campaign_field(&w, "click_count"), 2);
	ck_assert_int_eq(owner_value("SELECT click_count * 1000 + total_clicks FROM campaign_links"
				     " WHERE campaign_id = $1 AND url = $2",
				     w.camp, LINK_B),
			 2004);
	ck_assert_int_eq(owner_value("SELECT click_count * 1000 + total_clicks FROM campaign_links"
				     " WHERE campaign_id = $1 AND url = $2",
				     w.camp, LINK_A),
			 1003);
	ck_assert_int_eq(owner_value("SELECT opened * 1000 + clicked FROM daily_stats WHERE user_id = $1",
				     w.user, NULL),
			 1002);
	{
		json_object *an = analytics(&w, &a);
		long long clicks, uniq;
		ck_assert_int_eq(an_int(an, "total_opened"), 1);
		ck_assert_int_eq(an_int(an, "total_clicked"), 2);
		ck_assert_int_eq(an_int(an, "total_sent"), 2);
		ck_assert_double_eq_tol(json_object_get_double(json_object_object_get(an, "open_rate")), 50.0, 0.001);
		ck_assert_double_eq_tol(json_object_get_double(json_object_object_get(an, "click_rate")), 100.0, 0.001);
		analytics_link(an, LINK_A, &clicks, &uniq);
		ck_assert_int_eq(clicks, 3);
		ck_assert_int_eq(uniq, 1);
		analytics_link(an, LINK_B, &clicks, &uniq);
		ck_assert_int_eq(clicks, 4);
		ck_assert_int_eq(uniq, 2);
		analytics_link(an, LINK_C, &clicks, &uniq);
		ck_assert_int_eq(clicks, 3);
		ck_assert_int_eq(uniq, 1);
		http_answer_free(&a);
	}
	/* The contact's event log shows them too. */
	{
		char path[160];
		snprintf(path, sizeof(path), "/api/v1/campaigns/%s/events?event_type=clicked", w.camp);
		e2e_expect(token, "GET", path, NULL, 200, NULL, &a);
		ck_assert_int_eq(an_int(a.json, "total"), 10);
		http_answer_free(&a);
	}
	e2e_pause_worker(0);
}
END_TEST

START_TEST(scanner_hits_are_recorded_as_bots_and_not_counted)
{
	struct world w;

	e2e_pause_worker(1);
	new_campaign(&w, "trk-bots", 1);
	/* Within 2 s of delivery: a scanner, whatever its agent says. */
	owner_exec("UPDATE outbox SET sent_at = now() WHERE campaign_id = $1 RETURNING 1", w.camp);
	ck_assert_int_eq(hit("GET", w.pixel[0], BROWSER, NULL), 200);
	ck_assert_int_eq(hit("GET", w.click[0][0], BROWSER, NULL), 302);
	/* (the flush judges by sent_at: let it see these before the test moves it) */
	wait_recorded(&w, 2);
	age_mail(&w);
	/* HEAD, known scanner agents, no agent at all */
	ck_assert_int_eq(hit("HEAD", w.pixel[0], BROWSER, NULL), 200);
	ck_assert_int_eq(hit("HEAD", w.click[0][1], BROWSER, NULL), 302);
	ck_assert_int_eq(hit("GET", w.click[0][2], "User-Agent: Barracuda Sentinel (EE)", NULL), 302);
	ck_assert_int_eq(hit("GET", w.pixel[0], "User-Agent: Mozilla/5.0 (compatible; BingPreview/1.0b)", NULL), 200);
	ck_assert_int_eq(hit("GET", w.pixel[0], NULL, NULL), 200);
	wait_recorded(&w, 7);
	ck_assert_int_eq(events(&w, "opened", " AND is_bot"), 4);
	ck_assert_int_eq(events(&w, "clicked", " AND is_bot"), 3);
	ck_assert_int_eq(owner_value("SELECT count(*) FROM email_events WHERE campaign_id = $1"
				     " AND metadata->>'bot' = 'too_fast'", w.camp, NULL), 2);
	ck_assert_int_eq(owner_value("SELECT count(*) FROM email_events WHERE campaign_id = $1"
				     " AND metadata->>'method' = 'HEAD'", w.camp, NULL), 2);
	ck_assert_int_eq(campaign_field(&w, "open_count"), 0);
	ck_assert_int_eq(campaign_field(&w, "click_count"), 0);
	ck_assert_int_eq(owner_value("SELECT COALESCE(sum(click_count + total_clicks), 0) FROM campaign_links"
				     " WHERE campaign_id = $1", w.camp, NULL), 0);
	ck_assert_int_eq(owner_value("SELECT COALESCE(sum(opened + clicked), 0) FROM daily_stats"
				     " WHERE user_id = $1", w.user, NULL), 0);
	/* The person, afterwards, counts. */
	ck_assert_int_eq(hit("GET", w.pixel[0], BROWSER, NULL), 200);
	wait_recorded(&w, 8);
	ck_assert_int_eq(campaign_field(&w, "open_count"), 1);
	e2e_pause_worker(0);
}
END_TEST

/* A token minted here as the worker would, with any key. */
static void mint(const char *secret, unsigned char kid, char kind, const char *row,
		 const char *link, char *out)
{
	struct track_key k = { kid, secret };
	ck_assert_int_eq(track_token_mint(&k, kind, row, link, out, TRACK_TOKEN_MAX + 1), 0);
}

START_TEST(forged_altered_and_hostile_tokens_are_404_and_record_nothing)
{
	struct fs_config cfg = config();
	struct world w, other;
	char path[9000], tok[TRACK_TOKEN_MAX + 1], link_a[40], js_link[40];
	const char *real = NULL;
	struct strbuf big = STRBUF_INIT;

	e2e_pause_worker(1);
	new_campaign(&other, "trk-other", 1);
	new_campaign(&w, "trk-forge", 1);
	age_mail(&w);
	age_mail(&other);
	real = w.click[0][0] + 5; /* "/t/c/" */
	/* every position altered */
	for (size_t i = 0; i < TRACK_CLICK_TOKEN_LEN; i += 3) {
		snprintf(path, sizeof(path), "/t/c/%s", real);
		path[5 + i] = path[5 + i] == 'A' ? 'B' : 'A';
		ck_assert_int_eq(hit("GET", path, BROWSER, NULL), 404);
	}
	{
		/* before and after the real token (NULL: without it) */
		static const char *const bad[][2] = {
			{ "/t/c/", NULL }, { "/t/c/x", NULL }, { "/t/o/.gif", NULL },
			{ "/t/o/x.gif", NULL }, { "/t/c/", "=" }, { "/t/c/", "/extra" },
{ "/t/o/", "" }, { "/t/o/", ".gif.gif" },
			{ "/t/c/", "%00" }, { "/t/c/../u/", "" }, { "/t/c/%2e%2e/", "" },
			{ "/t/x/", "" }, { "/t/", "" }, { "/t/c/", "A" }, { "/t/c/%20", "" },
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			long st;
			snprintf(path, sizeof(path), "%s%s%s", bad[i][0], bad[i][1] ? real : "",
				 bad[i][1] ? bad[i][1] : "");
			st = hit("GET", path, BROWSER, NULL);
			ck_assert_msg(st == 404 || st == 400, "%s: %ld", path, st);
		}
		snprintf(path, sizeof(path), "/t/c/%.59s", real); /* truncated */
		ck_assert_int_eq(hit("GET", path, BROWSER, NULL), 404);
	}
	/* the click token on the pixel path and the pixel token as a click */
	snprintf(path, sizeof(path), "/t/o/%s.gif", real);
	ck_assert_int_eq(hit("GET", path, BROWSER, NULL), 404);
	snprintf(path, sizeof(path), "/t/c/%.*s", TRACK_OPEN_TOKEN_LEN, w.pixel[0] + 5);
	ck_assert_int_eq(hit("GET", path, BROWSER, NULL), 404);
	/* signed with the JWT secret, another secret, or under another key id */
	mint(cfg.jwt_secret, 1, TRACK_OPEN, w.row[0], NULL, tok);
	snprintf(path, sizeof(path), "/t/o/%s.gif", tok);
	ck_assert_int_eq(hit("GET", path, BROWSER, NULL), 404);
	mint(cfg.link_secret, 2, TRACK_OPEN, w.row[0], NULL, tok);
	snprintf(path, sizeof(path), "/t/o/%s.gif", tok);
	ck_assert_int_eq(hit("GET", path, BROWSER, NULL), 404);
	/* huge tokens and bad base64 */
	strbuf_appends(&big, "/t/c/");
	for (int i = 0; i < 7000; i++)
		strbuf_appendc(&big, 'A');
	{
		long st = hit("GET", big.buf, BROWSER, NULL);
		ck_assert_msg(st == 404 || st == 414, "%ld", st);
	}
	strbuf_free(&big);
	snprintf(path, sizeof(path), "/t/c/%.*s", TRACK_CLICK_TOKEN_LEN, "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
	ck_assert_int_eq(hit("GET", path, BROWSER, NULL), 404);
	/* other methods */
	ck_assert_int_eq(hit("POST", w.click[0][0], BROWSER, NULL), 405);
	ck_assert_int_eq(hit("DELETE", w.pixel[0], BROWSER, NULL), 405);
	/* A validly signed pairing of this mail with another tenant's link is
	 * recorded nowhere (only FlowSend could have made it). */
	{
		const char *p[1] = { other.camp };
		ck_assert_ptr_nonnull(e2e_owner_text("SELECT id FROM campaign_links WHERE campaign_id = $1 LIMIT 1",
						     1, p, link_a, sizeof(link_a)));
		mint(cfg.link_secret, 1, TRACK_CLICK, w.row[0], link_a, tok);
		snprintf(path, sizeof(path), "/t/c/%s", tok);
		hit("GET", path, BROWSER, NULL);
	}
	/* A link row holding a javascript: URL (never written by FlowSend) is
	 * never redirected to. */
	{
		const char *p[3] = { w.user, w.camp, "javascript:alert(document.cookie)" };
		ck_assert_ptr_nonnull(e2e_owner_text("INSERT INTO campaign_links (user_id, campaign_id, url)"
						     " VALUES ($1, $2, $3) RETURNING id",
						     3, p, js_link, sizeof(js_link)));
		mint(cfg.link_secret, 1, TRACK_CLICK, w.row[0], js_link, tok);
		snprintf(path, sizeof(path), "/t/c/%s", tok);
		ck_assert_int_eq(hit("GET", path, BROWSER, NULL), 404);
	}
	/* The real links still work; only they were recorded. */
	ck_assert_int_eq(hit("GET", w.click[0][0], BROWSER, NULL), 302);
	ck_assert_int_eq(hit("GET", other.pixel[0], BROWSER, NULL), 200);
	wait_recorded(&w, 1);
	usleep(500000); /* anything else would have been flushed by now too */
	ck_assert_int_eq(events(&w, "clicked", NULL) + events(&w, "opened", NULL), 1);
	ck_assert_int_eq(owner_value("SELECT count(*) FROM email_events WHERE campaign_id = $1"
				     " AND event_type IN ('opened', 'clicked')", other.camp, NULL), 1);
	ck_assert_int_eq(owner_value("SELECT count(*) FROM email_events WHERE url LIKE 'javascript:%'",
				     NULL, NULL), 0);
	e2e_pause_worker(0);
}
END_TEST

/* ---- many at once ---- */

struct hitter {
	const struct world *w;
	int seed, hits, ok;
};

static void *hitter_run(void *arg)
{
	struct hitter *h = arg;
	const char *headers[] = { BROWSER, NULL };
	unsigned s = (unsigned)h->seed;

	for (int i = 0; i < h->hits; i++) {
		struct http_answer a;
		int c = (int)(rand_r(&s) % (unsigned)h->w->n), k = (int)(rand_r(&s) % 4);
		const char *path = k == 3 ? h->w->pixel[c] : h->w->click[c][k];
		if (http_call("GET", path, headers, NULL, 0, &a) == 0 && (a.status == 200 || a.status == 302))
			h->ok++;
		http_answer_free(&a);
	}
	return NULL;
}

START_TEST(analytics_equal_a_direct_count_after_many_concurrent_hits)
{
	struct world w;
	struct hitter hs[20];
	pthread_t th[20];
	struct http_answer a;
	long long total = 0;

	e2e_pause_worker(1);
	new_campaign(&w, "trk-many", 6);
	age_mail(&w);
	for (int i = 0; i < 20; i++) {
		hs[i] = (struct hitter){ &w, i + 1, 30, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, hitter_run, &hs[i]), 0);
	}
	for (int i = 0; i < 20; i++) {
		pthread_join(th[i], NULL);
		total += hs[i].ok;
	}
	ck_assert_int_eq(total, 600);
	wait_recorded(&w, total);
	{
		json_object *an = analytics(&w, &a);
		static const char *const urls[3] = { LINK_A, LINK_B, LINK_C };
		ck_assert_int_eq(an_int(an, "total_opened"),
				 owner_value("SELECT count(DISTINCT contact_id) FROM email_events WHERE campaign_id = $1"
					     " AND event_type = 'opened' AND NOT is_bot", w.camp, NULL));
		ck_assert_int_eq(an_int(an, "total_clicked"),
				 owner_value("SELECT count(DISTINCT contact_id) FROM email_events WHERE campaign_id = $1"
					     " AND event_type = 'clicked' AND NOT is_bot", w.camp, NULL));
		ck_assert_int_eq(an_int(an, "total_opened"), campaign_field(&w, "open_count"));
		ck_assert_int_eq(an_int(an, "total_clicked"), campaign_field(&w, "click_count"));
		for (int j = 0; j < 3; j++) {
			long long clicks, uniq;
			analytics_link(an, urls[j], &clicks, &uniq);
			ck_assert_int_eq(clicks, owner_value("SELECT count(*) FROM email_events WHERE campaign_id = $1"
							     " AND event_type = 'clicked' AND NOT is_bot AND url = $2",
							     w.camp, urls[j]));
			ck_assert_int_eq(uniq, owner_value("SELECT count(DISTINCT contact_id) FROM email_events"
							   " WHERE campaign_id = $1 AND event_type = 'clicked'"
							   " AND NOT is_bot AND url = $2",
							   w.camp, urls[j]));
		}
		http_answer_free(&a);
	}
	ck_assert_int_eq(owner_value("SELECT sum(opened) * 1000 + sum(clicked) FROM daily_stats WHERE user_id = $1",
				     w.user, NULL),
			 campaign_field(&w, "open_count") * 1000 + campaign_field(&w, "click_count"));
	e2e_pause_worker(0);
}
END_TEST

/* ---- the flush stopped or killed ---- */

static pid_t track_master(void)
{
	char path[512];
	FILE *f;
	long pid = 0;

	snprintf(path, sizeof(path), "%s/pid/fs-track.pid", state_dir());
	if ((f = fopen(path, "r"))) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	ck_assert_int_gt(pid, 0);
	return (pid_t)pid;
}

/* The master's background process (its child named fs-track-bg). */
static pid_t flusher_pid(void)
{
	char path[512];
	pid_t master = track_master();
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	ck_assert_ptr_nonnull(d);
	while (!found && (e = readdir(d))) {
		FILE *f;
		long ppid = 0;
		char comm[64] = "";
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (fscanf(f, "%*d (%63[^)]) %*c %ld", comm, &ppid) == 2 && ppid == master &&
		    strcmp(comm, "fs-track-bg") == 0)
			found = (pid_t)atol(e->d_name);
		fclose(f);
	}
	closedir(d);
	return found;
}

static void burst(const struct world *w, int n)
{
	for (int i = 0; i < n; i++) {
		int c = i % w->n;
		ck_assert_int_eq(hit("GET", i % 2 ? w->pixel[c] : w->click[c][i % 3], BROWSER, NULL),
				 i % 2 ? 200 : 302);
	}
}

START_TEST(a_killed_or_stopped_flush_loses_and_doubles_nothing)
{
	struct world w;
	pid_t bg, master;
	char cmd[1024];

	e2e_pause_worker(1);
	new_campaign(&w, "trk-kill", 3);
	age_mail(&w);
	/* Killed: hits wait in Redis while it is frozen, it dies mid-work, the
	 * master starts another, which writes each exactly once. */
	bg = flusher_pid();
	ck_assert_int_gt(bg, 0);
	ck_assert_int_eq(kill(bg, SIGSTOP), 0);
	burst(&w, 150);
	ck_assert_int_eq(events(&w, "opened", NULL) + events(&w, "clicked", NULL), 0);
	kill(bg, SIGCONT);
	usleep(3000); /* let it start on them */
	ck_assert_int_eq(kill(bg, SIGKILL), 0);
	for (int i = 0; i < 100 && (flusher_pid() == bg || flusher_pid() == 0); i++)
		usleep(100000);
	ck_assert_int_ne(flusher_pid(), bg);
	/* a killed flush may hold the lock for up to 5 s */
	for (int i = 0; i < 100 && events(&w, "opened", NULL) + events(&w, "clicked", NULL) < 150; i++)
		usleep(100000);
	ck_assert_int_eq(events(&w, "opened", NULL) + events(&w, "clicked", NULL), 150);
	ck_assert_int_eq(campaign_field(&w, "open_count"), 3);
	ck_assert_int_eq(campaign_field(&w, "click_count"), 3);
	ck_assert_int_eq(owner_value("SELECT sum(total_clicks) FROM campaign_links WHERE campaign_id = $1",
				     w.camp, NULL), 75);

	/* Stopped cleanly (SIGTERM to the responder's group, as stack.sh does)
	 * with hits still queued: they are written before it exits. */
	bg = flusher_pid();
	ck_assert_int_eq(kill(bg, SIGSTOP), 0);
	burst(&w, 40);
	master = track_master();
	ck_assert_int_eq(kill(-master, SIGTERM), 0);
	kill(bg, SIGCONT);
	for (int i = 0; i < 150 && kill(master, 0) == 0; i++)
		usleep(100000);
	ck_assert_msg(kill(master, 0) != 0, "fs-track did not stop");
	ck_assert_int_eq(events(&w, "opened", NULL) + events(&w, "clicked", NULL), 190);
	ck_assert_int_eq(campaign_field(&w, "open_count"), 3);
	/* back up for the suites after this one */
	snprintf(cmd, sizeof(cmd), "cd %s/../.. && scripts/stack.sh start test%d >/dev/null 2>&1",
		 e2e_bin(), instance_offset());
	if (instance_offset() == 0)
		snprintf(cmd, sizeof(cmd), "cd %s/../.. && scripts/stack.sh start test >/dev/null 2>&1",
			 e2e_bin());
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(hit("GET", w.pixel[0], BROWSER, NULL), 200);
	wait_recorded(&w, 191);
	e2e_pause_worker(0);
}
END_TEST

/* The flush inserts plainly and, only when an id is taken, again with ON
 * CONFLICT: a hit written again (its id already recorded) beside a new one
 * and a new one queued twice, all in one batch, leave one event each, and
 * the new one is visible within 2 s. */
START_TEST(a_hit_written_again_is_recorded_once_beside_new_ones)
{
	struct world w;
	struct fs_config cfg = config();
	struct fs_redis r;
	struct track_hit old, fresh;
	char line[3][TRACK_HIT_MAX], old_id[40];
	const char *argv[5] = { "RPUSH", TRACKING_QUEUE, line[0], line[1], line[2] };
	const char *p[2];
	redisReply *rep;

	e2e_pause_worker(1);
	new_campaign(&w, "trk-again", 2);
	age_mail(&w);
	ck_assert_int_eq(hit("GET", w.pixel[0], BROWSER, NULL), 200);
	wait_recorded(&w, 1);
	p[0] = w.camp;
	e2e_owner_text("SELECT id FROM email_events WHERE campaign_id = $1 AND event_type = 'opened'", 1, p,
		       old_id, sizeof(old_id));

	memset(&old, 0, sizeof(old));
	snprintf(old.id, sizeof(old.id), "%.36s", old_id);
	old.kind = 'o';
	snprintf(old.outbox_id, sizeof(old.outbox_id), "%.36s", w.row[0]);
	old.at_ms = (long long)time(NULL) * 1000;
	track_hit_set_agent(&old, "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0");
	fresh = old;
	ck_assert_int_eq(track_hit_id(fresh.at_ms, fresh.id), 0);
	snprintf(fresh.outbox_id, sizeof(fresh.outbox_id), "%.36s", w.row[1]);
	ck_assert_int_gt(track_hit_encode(&old, line[0], sizeof(line[0])), 0);
	ck_assert_int_gt(track_hit_encode(&fresh, line[1], sizeof(line[1])), 0);
	memcpy(line[2], line[1], sizeof(line[1]));
	fs_redis_init(&r, cfg.redis_url);
	rep = fs_redis_argv(&r, 5, argv, NULL); /* one push: one batch */
	ck_assert_ptr_nonnull(rep);
	ck_assert_int_eq(rep->type, REDIS_REPLY_INTEGER);
	freeReplyObject(rep);
	fs_redis_close(&r);

	wait_recorded(&w, 2);
	usleep(600 * 1000); /* anything written twice would show by now */
	ck_assert_int_eq(events(&w, "opened", NULL), 2);
	ck_assert_int_eq(owner_value("SELECT count(DISTINCT id) FROM email_events WHERE campaign_id = $1"
				     " AND event_type IN ('opened', 'clicked')",
				     w.camp, NULL),
			 2);
	p[0] = old_id;
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM email_events WHERE id = $1", 1, p), 1);
	p[0] = fresh.id;
	ck_assert_int_eq(e2e_owner_value("SELECT count(*) FROM email_events WHERE id = $1", 1, p), 1);
	ck_assert_int_eq(campaign_field(&w, "open_count"), 2);
	ck_assert_int_eq(owner_value("SELECT COALESCE(sum(opened), 0) FROM daily_stats WHERE user_id = $1",
				     w.user, NULL),
			 2);
	e2e_pause_worker(0);
}
END_TEST

/* ---- the preference center ---- */

static void make_list(const char *name, int is_public, const char *type, char *id)
{
	char body[512];
	struct http_answer a;

	snprintf(body, sizeof(body),
		 "{\"name\":\"%s\",\"description\":\"About %s\",\"list_type\":\"%s\",\"is_public\":%s%s}",
		 name, name, type, is_public ? "true" : "false",
		 strcmp(type, "dynamic") == 0
			 ? ",\"rules\":{\"match\":\"all\",\"conditions\":[{\"field\":\"email\",\"op\":\"contains\",\"value\":\"@\"}]}"
			 : "");
	e2e_expect(token, "POST", "/api/v1/contacts/lists", body, 201, NULL, &a);
	snprintf(id, 40, "%s", json_str(a.json, "id"));
	http_answer_free(&a);
}

static void add_member(const char *list, const char *contact)
{
	char path[160], body[128];

	snprintf(path, sizeof(path), "/api/v1/contacts/lists/%s/members", list);
	snprintf(body, sizeof(body), "{\"contact_ids\":[\"%s\"]}", contact);
	e2e_expect(token, "POST", path, body, 200, NULL, NULL);
}

static int member(const char *list, const char *contact)
{
	return owner_value("SELECT count(*) FROM contact_list_members WHERE list_id = $1 AND contact_id = $2",
			   list, contact) == 1;
}

static long form_post(const char *path, const char *body, struct http_answer *a)
{
	const char *h[] = { "Content-Type: application/x-www-form-urlencoded", NULL };

	ck_assert_int_eq(http_call("POST", path, h, body, strlen(body), a), 0);
	return a->status;
}

START_TEST(preferences_join_and_leave_public_lists_or_unsubscribe_all)
{
	struct fs_config cfg = config();
	struct world w;
	char news[40], offers[40], private_list[40], dynamic[40], foreign[40], tok[LINK_TOKEN_LEN + 1];
	char path[160], body[512], want[256];
	struct http_answer a;

	e2e_pause_worker(1);
	/* another tenant's public list, whose id a hostile form may name */
	e2e_new_tenant("trk-pref-other", token, sizeof(token));
	make_list("Foreign", 1, "static", foreign);
	new_campaign(&w, "trk-pref", 1);
	make_list("News", 1, "static", news);
	make_list("Offers", 1, "static", offers);
	make_list("Staff only", 0, "static", private_list);
	make_list("Everyone", 1, "dynamic", dynamic);
	add_member(news, w.contact[0]);
	add_member(private_list, w.contact[0]);
	ck_assert_int_eq(link_token(cfg.link_secret, "u", w.row[0], tok, sizeof(tok)), 0);
	snprintf(path, sizeof(path), "/u/%s", tok);

	/* The page: branded, the public static lists with the memberships. */
	ck_assert_int_eq(hit("GET", path, BROWSER, &a), 200);
	ck_assert_ptr_nonnull(strstr(a.body, "Coral Shop"));
	ck_assert_ptr_nonnull(strstr(a.body, "#f43f5e"));
	ck_assert_ptr_nonnull(strstr(a.body, "width=device-width"));
	ck_assert_ptr_null(strstr(a.body, "<script"));
	snprintf(want, sizeof(want), "name=\"list\" value=\"%s\" checked>", news);
	ck_assert_msg(strstr(a.body, want) != NULL, "%s", a.body);
	snprintf(want, sizeof(want), "name=\"list\" value=\"%s\">", offers);
	ck_assert_ptr_nonnull(strstr(a.body, want));
	ck_assert_ptr_nonnull(strstr(a.body, "About Offers"));
	ck_assert_ptr_null(strstr(a.body, private_list));
	ck_assert_ptr_null(strstr(a.body, "Staff only"));
	ck_assert_ptr_null(strstr(a.body, dynamic));
	ck_assert_ptr_null(strstr(a.body, foreign));
	ck_assert_ptr_nonnull(strstr(a.body, "Unsubscribe from everything"));
	http_answer_free(&a);

	/* Leave News, join Offers (and name the foreign list: ignored). */
	snprintf(body, sizeof(body), "action=preferences&list=%s&list=%s&save=1", offers, foreign);
	ck_assert_int_eq(form_post(path, body, &a), 200);
	ck_assert_ptr_nonnull(strstr(a.body, "You joined 1 and left 1 list."));
	snprintf(want, sizeof(want), "name=\"list\" value=\"%s\" checked>", offers);
	ck_assert_ptr_nonnull(strstr(a.body, want));
	http_answer_free(&a);
	ck_assert(!member(news, w.contact[0]));
	ck_assert(member(offers, w.contact[0]));
	ck_assert(member(private_list, w.contact[0])); /* not the page's to change */
	ck_assert(!member(foreign, w.contact[0]));
	ck_assert_int_eq(owner_value("SELECT count(*) FROM contact_list_members WHERE list_id = $1",
				     foreign, NULL), 0);
	/* the lists' counts follow */
	ck_assert_int_eq(owner_value("SELECT contact_count FROM contact_lists WHERE id = $1", news, NULL), 0);
	ck_assert_int_eq(owner_value("SELECT contact_count FROM contact_lists WHERE id = $1", offers, NULL), 1);
	/* saving again changes nothing */
	ck_assert_int_eq(form_post(path, body, &a), 200);
	ck_assert_ptr_nonnull(strstr(a.body, "You joined 0 and left 0 lists."));
	http_answer_free(&a);
	/* hostile values */
	ck_assert_int_eq(form_post(path, "action=preferences&list=not-a-uuid", &a), 400);
	http_answer_free(&a);
	ck_assert_int_eq(form_post(path, "action=preferences&list=%00", &a), 400);
	http_answer_free(&a);
	{
		struct strbuf many = STRBUF_INIT;
		strbuf_appends(&many, "action=preferences");
		for (int i = 0; i < 200; i++)
			strbuf_appendf(&many, "&list=%s", offers);
		long st = form_post(path, many.buf, &a);
		ck_assert_msg(st == 400 || st == 413, "%ld", st);
		http_answer_free(&a);
		strbuf_free(&many);
	}
	ck_assert(member(offers, w.contact[0]));
	ck_assert_int_eq(owner_value("SELECT count(*) FROM contacts WHERE id = $1 AND is_subscribed",
				     w.contact[0], NULL), 1);
	/* A forged token changes nothing. */
	{
		char bad[200];
		snprintf(bad, sizeof(bad), "%s", path);
		bad[6] = bad[6] == 'A' ? 'B' : 'A';
		ck_assert_int_eq(form_post(bad, "action=preferences", &a), 404);
		http_answer_free(&a);
		ck_assert(member(offers, w.contact[0]));
	}
	/* Unsubscribe from everything: the page's other button. */
	ck_assert_int_eq(form_post(path, "unsubscribe=confirm", &a), 200);
	ck_assert_ptr_nonnull(strstr(a.body, "You are unsubscribed"));
	http_answer_free(&a);
	ck_assert_int_eq(owner_value("SELECT count(*) FROM contacts WHERE id = $1 AND is_subscribed",
				     w.contact[0], NULL), 0);
	ck_assert_int_eq(owner_value("SELECT count(*) FROM unsubscribes WHERE contact_id = $1"
				     " AND source = 'link'", w.contact[0], NULL), 1);
	e2e_pause_worker(0);
}
END_TEST

START_TEST(one_click_post_still_unsubscribes_from_everything)
{
	struct fs_config cfg = config();
	struct world w;
	char tok[LINK_TOKEN_LEN + 1], path[160], news[40];
	struct http_answer a;

	e2e_pause_worker(1);
	new_campaign(&w, "trk-oneclick", 1);
	make_list("News", 1, "static", news);
	add_member(news, w.contact[0]);
	ck_assert_int_eq(link_token(cfg.link_secret, "u", w.row[0], tok, sizeof(tok)), 0);
	snprintf(path, sizeof(path), "/u/%s", tok);
	ck_assert_int_eq(form_post(path, "List-Unsubscribe=One-Click", &a), 200);
	ck_assert_ptr_null(strstr(a.body, "<form"));
	http_answer_free(&a);
	ck_assert_int_eq(owner_value("SELECT count(*) FROM unsubscribes WHERE contact_id = $1"
				     " AND source = 'one_click'", w.contact[0], NULL), 1);
	ck_assert_int_eq(owner_value("SELECT count(*) FROM contacts WHERE id = $1 AND is_subscribed",
				     w.contact[0], NULL), 0);
	ck_assert(member(news, w.contact[0])); /* lists are kept; the contact gets nothing */
	e2e_pause_worker(0);
}
END_TEST

Suite *tracking_suite(void)
{
	Suite *s = suite_create("tracking");
	TCase *tc = tcase_create("tracking");

	tcase_set_timeout(tc, 240);
	tcase_add_unchecked_fixture(tc, NULL, resume_worker);
	tcase_add_test(tc, every_link_and_the_pixel_work_and_count_once_per_contact);
	tcase_add_test(tc, scanner_hits_are_recorded_as_bots_and_not_counted);
	tcase_add_test(tc, forged_altered_and_hostile_tokens_are_404_and_record_nothing);
	tcase_add_test(tc, analytics_equal_a_direct_count_after_many_concurrent_hits);
	tcase_add_test(tc, preferences_join_and_leave_public_lists_or_unsubscribe_all);
	tcase_add_test(tc, one_click_post_still_unsubscribes_from_everything);
	tcase_add_test(tc, a_killed_or_stopped_flush_loses_and_doubles_nothing);
	tcase_add_test(tc, a_hit_written_again_is_recorded_once_beside_new_ones);
	suite_add_tcase(s, tc);
	return s;
}
