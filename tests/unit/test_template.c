/* The template compiler and renderer, and the HTML-to-text reader. */
#include <string.h>

#include "mail/html_text.h"
#include "mail/links.h"
#include "mail/template.h"
#include "unit.h"

static struct tpl *compile_ok(const char *src, enum tpl_part part)
{
	struct tpl *t = NULL;
	struct tpl_error err;

	ck_assert_msg(tpl_compile(src, strlen(src), part, &t, &err) == 0, "%s: %s", src, err.what);
	return t;
}

/* Render src for v into a static buffer's worth of text (the caller frees out). */
static void render(const char *src, enum tpl_part part, const struct tpl_values *v,
		   struct strbuf *out)
{
	struct tpl *t = compile_ok(src, part);

	strbuf_init(out);
	ck_assert_int_eq(tpl_render(t, v, out), 0);
	tpl_free(t);
}

static void expect(const char *src, enum tpl_part part, const struct tpl_values *v,
		   const char *want)
{
	struct strbuf out;

	render(src, part, v, &out);
	ck_assert_str_eq(strbuf_cstr(&out), want);
	strbuf_free(&out);
}

static void expect_error(const char *src, enum tpl_part part, int line, int column,
			 const char *what_part)
{
	struct tpl *t = NULL;
	struct tpl_error err;

	ck_assert_msg(tpl_compile(src, strlen(src), part, &t, &err) == -1, "compiled: %s", src);
	ck_assert_ptr_null(t);
	ck_assert_msg(err.line == line && err.column == column, "%s: at %d:%d, want %d:%d (%s)", src,
		      err.line, err.column, line, column, err.what);
	ck_assert_msg(strstr(err.what, what_part) != NULL, "%s: '%s' lacks '%s'", src, err.what,
		      what_part);
}

START_TEST(variables_and_defaults)
{
	json_object *custom = json_tokener_parse("{\"company\":\"Acme\",\"orders\":3,\"vip\":true,"
						 "\"empty\":\"\",\"nothing\":null}");
	struct tpl_values v = { .first_name = "Ann", .last_name = NULL, .email = "ann@example.com",
				.unsubscribe_url = "https://x.test/u/abc",
				.postal_address = "1 Main St",
				.custom = custom };

	expect("Hi {{first_name}}!", TPL_TEXT, &v, "Hi Ann!");
	expect("Hi {{ first_name }}!", TPL_TEXT, &v, "Hi Ann!");
	expect("{{last_name|Smith}} {{last_name}}.", TPL_TEXT, &v, "Smith .");
	expect("{{first_name|there}}", TPL_TEXT, &v, "Ann");
	expect("{{custom.company}} {{company}} {{custom.orders}} {{vip}}", TPL_TEXT, &v,
	       "Acme Acme 3 true");
	expect("[{{custom.empty|none}}][{{nothing|null}}][{{custom.missing}}]", TPL_TEXT, &v,
	       "[none][null][]");
	expect("{{email}} {{unsubscribe_url}} {{postal_address}}", TPL_TEXT, &v,
	       "ann@example.com https://x.test/u/abc 1 Main St");
	expect("{{first_name|dear friend }}", TPL_TEXT, &(struct tpl_values){ 0 }, "dear friend");
	expect("no variables at all", TPL_TEXT, &v, "no variables at all");
	expect("", TPL_TEXT, &v, "");
	/* Single braces and a stray "}}" are text: CSS is full of them. */
	expect("@media (max-width:600px){.a{color:red}}", TPL_HTML, &v,
	       "@media (max-width:600px){.a{color:red}}");
	json_object_put(custom);
}
END_TEST

START_TEST(values_are_escaped_per_part)
{
	struct tpl_values v = { .first_name = "<script>alert(\"x\")</script>", .last_name = "O'Brien & Co",
				.email = "a@b.c" };

	expect("<p>{{first_name}} {{last_name}}</p>", TPL_HTML, &v,
	       "<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; O&#39;Brien &amp; Co</p>");
	expect("{{first_name}} {{last_name}}", TPL_TEXT, &v,
	       "<script>alert(\"x\")</script> O'Brien & Co");
	/* A subject is a header: a value cannot start a new header line. */
	v.first_name = "Ann\r\nBcc: evil@example.com";
	expect("Hi {{first_name}}", TPL_HEADER, &v, "Hi Ann  Bcc: evil@example.com");
	/* The author's default is written as the author wrote it. */
	expect("{{last_name|<b>friend</b>}}", TPL_HTML, &(struct tpl_values){ 0 }, "<b>friend</b>");
	/* A value in a link can only be a web, mail or phone link (or relative). */
	v.first_name = "javascript:alert(1)";
	v.last_name = " JaVaScRiPt:alert(1)";
	expect("<a href=\"{{first_name}}\">x</a><a title='t' href='{{last_name}}'>y</a>", TPL_HTML, &v,
	       "<a href=\"#\">x</a><a title='t' href='#'>y</a>");
	v.first_name = "https://shop.test/?a=1&b=2";
	v.last_name = "/relative/path";
	expect("<a href={{first_name}} data-x=\"{{last_name}}\">{{first_name}}</a><img src=\"{{last_name}}\">",
	       TPL_HTML, &v,
	       "<a href=https://shop.test/?a&#61;1&amp;b&#61;2 data-x=\"/relative/path\">"
	       "https://shop.test/?a=1&amp;b=2</a><img src=\"/relative/path\">");
	/* Inside a tag a value cannot end an unquoted attribute and add its own. */
	v.first_name = "x onmouseover=alert(1)";
	expect("<p class={{first_name}}>{{first_name}}</p>", TPL_HTML, &v,
	       "<p class=x&#32;onmouseover&#61;alert(1)>x onmouseover=alert(1)</p>");
	/* Non-ASCII and emoji pass through whole. */
	v.first_name = "Zoë 🎉";
	expect("{{first_name}}", TPL_HTML, &v, "Zoë 🎉");
}
END_TEST

START_TEST(errors_name_line_and_column)
{
	expect_error("Hello {{first_name", TPL_TEXT, 1, 7, "never closed");
	expect_error("a\nbc {{}}", TPL_TEXT, 2, 6, "expected a variable name");
	expect_error("a\n\n  {{ 9lives }}", TPL_TEXT, 3, 6, "found '9'");
	expect_error("{{first_name x}}", TPL_TEXT, 1, 14, "found 'x'");
	expect_error("{{user.name}}", TPL_TEXT, 1, 7, "only custom.KEY");
	expect_error("{{custom.}}", TPL_TEXT, 1, 10, "after 'custom.'");
	expect_error("{{first_name|a{{b}}", TPL_TEXT, 1, 15, "inside a variable");
	expect_error("{{first_name|a\nb}}", TPL_TEXT, 1, 15, "one line");
	/* Columns count characters, not bytes. */
	expect_error("héllo wörld {{", TPL_TEXT, 1, 13, "never closed");
	expect_error("bad \xff byte", TPL_TEXT, 1, 5, "UTF-8");
	expect_error("Hi\nthere", TPL_HEADER, 1, 3, "one line");
	{
		char name[100];
		memset(name, 'a', sizeof(name));
		memcpy(name, "{{", 2);
		memcpy(name + 96, "}}", 3);
		expect_error(name, TPL_TEXT, 1, 3, "64 characters");
	}
}
END_TEST

START_TEST(message_error_detail_names_the_part)
{
	struct tpl_message m;
	struct tpl_error err;
	char detail[256];

	ck_assert_int_eq(tpl_message_compile(&m, "ok", 2, "<p>\n{{bad</p>", 13, NULL, 0, &err), -1);
	tpl_error_detail(&err, detail, sizeof(detail));
	ck_assert_str_eq(detail, "Template error at line 2, column 6: expected '}}' or '|default',"
				 " found '<' (in html_content)");
	ck_assert_ptr_null(m.html);
	ck_assert_int_eq(tpl_message_compile(&m, "Hi {{first_name", 15, "x", 1, NULL, 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.what, "(in subject)"));
}
END_TEST

START_TEST(message_derives_text_from_html)
{
	const char *html = "<html><head><title>T</title><style>p{color:red}</style></head><body>"
			   "<div style=\"display: none; max-height:0\">Preheader <b>text</b></div>"
			   "<h1>Hello {{first_name|there}}</h1><p>Line&nbsp;one<br>Line   two &amp; "
			   "&#8364;5 &copy;</p><table><tr><td>Cell A</td><td>Cell B</td></tr></table>"
			   "<ul><li>First</li><li>Second</li></ul>"
			   "<a href=\"https://shop.test/x?a=1&amp;b=2\">Shop now</a> "
			   "<a href=\"#\">Top</a> <img src=\"x.png\" alt=\"Logo\">"
			   "<!-- a comment --><p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a></p>"
			   "<script>alert(1)</script></body></html>";
	struct tpl_values v = { .first_name = "A&B", .unsubscribe_url = "https://u.test/1" };
	struct tpl_message m;
	struct tpl_error err;
	struct strbuf text = STRBUF_INIT;

	ck_assert_int_eq(tpl_message_compile(&m, "S", 1, html, strlen(html), NULL, 0, &err), 0);
	ck_assert_int_eq(tpl_render(m.text, &v, &text), 0);
	ck_assert_str_eq(strbuf_cstr(&text),
			 "Hello A&B\n\nLine one\nLine two & \xe2\x82\xac" "5 \xc2\xa9\n\nCell A Cell B\n\n"
			 "- First\n- Second\n\nShop now (https://shop.test/x?a=1&b=2) Top Logo\n\n"
			 "Unsubscribe (https://u.test/1)");
	strbuf_free(&text);
	tpl_message_free(&m);
}
END_TEST

START_TEST(html_to_text_survives_broken_markup)
{
	static const char *const inputs[] = { "<", "<<>>", "<a href=", "<a href=\"x", "&", "&#;",
					      "&#x110000;", "&#0;", "<!--", "<style>", "<p", "</",
					      "<div hidden>x", "a &bogus; b", "{{", "<a>t</a>" };
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct strbuf out = STRBUF_INIT;
		ck_assert_int_eq(html_to_text(inputs[i], strlen(inputs[i]), &out), 0);
		strbuf_free(&out);
	}
	{
		struct strbuf out = STRBUF_INIT;
		ck_assert_int_eq(html_to_text("a &bogus; &#65;&#x42; <b", 24, &out), 0);
		ck_assert_str_eq(strbuf_cstr(&out), "a &bogus; AB");
		strbuf_free(&out);
	}
}
END_TEST

START_TEST(compiled_once_rendered_many)
{
	struct tpl *t = compile_ok("<p>{{first_name}}</p>", TPL_HTML);
	struct strbuf out = STRBUF_INIT;
	struct tpl_values a = { .first_name = "One" }, b = { .first_name = "Two" };

	for (int i = 0; i < 1000; i++) {
		strbuf_reset(&out);
		ck_assert_int_eq(tpl_render(t, i % 2 ? &a : &b, &out), 0);
	}
	ck_assert_str_eq(strbuf_cstr(&out), "<p>One</p>");
	ck_assert_uint_eq(tpl_literal_size(t), 7);
	strbuf_free(&out);
	tpl_free(t);
}
END_TEST

START_TEST(link_tokens_round_trip_and_refuse_tampering)
{
	const char *id = "01a213c5-fa91-7924-8c9b-841b45a51f13";
	char token[LINK_TOKEN_LEN + 1], back[40], altered[LINK_TOKEN_LEN + 1];

	ck_assert_int_eq(link_token("secret-one", "u", id, token, sizeof(token)), 0);
	ck_assert_uint_eq(strlen(token), LINK_TOKEN_LEN);
	ck_assert_int_eq(link_token_verify("secret-one", "u", token, back, sizeof(back)), 0);
	ck_assert_str_eq(back, id);
	/* Another secret, another purpose, any changed character: refused. */
	ck_assert_int_eq(link_token_verify("secret-two", "u", token, back, sizeof(back)), -1);
	ck_assert_int_eq(link_token_verify("secret-one", "c", token, back, sizeof(back)), -1);
	for (size_t i = 0; i < LINK_TOKEN_LEN; i++) {
		memcpy(altered, token, sizeof(altered));
		altered[i] = altered[i] == 'A' ? 'B' : 'A';
		ck_assert_msg(link_token_verify("secret-one", "u", altered, back, sizeof(back)) == -1,
			      "altered at %zu accepted", i);
	}
	ck_assert_int_eq(link_token_verify("secret-one", "u", "short", back, sizeof(back)), -1);
	ck_assert_int_eq(link_token("secret-one", "u", "not-a-uuid", token, sizeof(token)), -1);
}
END_TEST

Suite *template_suite(void)
{
	Suite *s = suite_create("template");
	TCase *tc = tcase_create("template");

	tcase_add_test(tc, variables_and_defaults);
	tcase_add_test(tc, values_are_escaped_per_part);
	tcase_add_test(tc, errors_name_line_and_column);
	tcase_add_test(tc, message_error_detail_names_the_part);
	tcase_add_test(tc, message_derives_text_from_html);
	tcase_add_test(tc, html_to_text_survives_broken_markup);
	tcase_add_test(tc, compiled_once_rendered_many);
	tcase_add_test(tc, link_tokens_round_trip_and_refuse_tampering);
	suite_add_tcase(s, tc);
	return s;
}
