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

/* Where a contact's value lands in HTML: the template, the contact's first
 * and last name and custom fields (JSON or NULL), and what must render. */
struct html_case {
	const char *src;
	const char *first, *last;
	const char *custom;
	const char *want;
};

static void expect_case(const struct html_case *c)
{
	json_object *custom = c->custom ? json_tokener_parse(c->custom) : NULL;
	struct tpl_values v = { .first_name = c->first, .last_name = c->last, .custom = custom };
	struct strbuf out;

	render(c->src, TPL_HTML, &v, &out);
	ck_assert_msg(strcmp(strbuf_cstr(&out), c->want) == 0, "%s\n got: %s\nwant: %s", c->src,
		      strbuf_cstr(&out), c->want);
	strbuf_free(&out);
	json_object_put(custom);
}

#define JS "javascript:alert(1)"

/* Blanks around '=' do not hide that a value is a link. */
static const struct html_case spaced_equals[] = {
	{ "<a href= \"{{first_name}}\">x</a>", JS, 0, 0, "<a href= \"#\">x</a>" },
	{ "<a href =\n'{{first_name}}'>x</a>", JS, 0, 0, "<a href =\n'#'>x</a>" },
	{ "<a href\t=\t{{first_name}}>x</a>", JS, 0, 0, "<a href\t=\t#>x</a>" },
	{ "<a href = {{first_name}} title=t>x</a>", JS, 0, 0, "<a href = # title=t>x</a>" },
	{ "<A HREF\r\n=\r\n\"{{first_name}}\">", JS, 0, 0, "<A HREF\r\n=\r\n\"#\">" },
	{ "<img\nsrc\n=\n\"{{first_name}}\">", JS, 0, 0, "<img\nsrc\n=\n\"#\">" },
	{ "<a href\f=\f\"{{first_name}}\">", JS, 0, 0, "<a href\f=\f\"#\">" },
	{ "<a title=\"t\"href = \"{{first_name}}\">", JS, 0, 0, "<a title=\"t\"href = \"#\">" },
	{ "<a href =\"{{first_name}}\">", JS, 0, 0, "<a href =\"#\">" },
	{ "<a href= {{first_name}}>", " JaVaScRiPt:alert(1)", 0, 0, "<a href= #>" },
};

/* Schemes a browser still reads as javascript: (or another we refuse), and
 * links that only look relative. */
static const struct html_case hidden_schemes[] = {
	{ "<a href=\"{{first_name}}\">", JS, 0, 0, "<a href=\"#\">" },
	{ "<a href='{{first_name}}'>", " JaVaScRiPt:alert(1)", 0, 0, "<a href='#'>" },
	{ "<a href=\"{{first_name}}\">", "\x01\x1f javascript:alert(1)", 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{first_name}}\">", "\tjavascript:alert(1)", 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{first_name}}\">", "java\tscript:alert(1)", 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{first_name}}\">", "java\nscript:alert(1)", 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{first_name}}\">", "java\rscript:alert(1)", 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{first_name}}\">", "javascript\t:alert(1)", 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{first_name}}\">", "vbscript:msgbox(1)", 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{first_name}}\">", "data:text/html;base64,PHNjcmlwdD4=", 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{first_name}}\">", ":alert(1)", 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{first_name}}\">", "\xef\xbd\x8a" "avascript:alert(1)", 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{first_name}}\">", "&#106;avascript:alert(1)", 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{first_name}}\">", "javascript&colon;alert(1)", 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{first_name}}\">", "javascript&#58;alert(1)", 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{first_name}}\">", "//evil.test/x", 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{first_name}}\">", " //evil.test", 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{first_name}}\">", "\\\\evil.test\\share", 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{first_name}}\">", "/\\evil.test", 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{first_name}}\">", "\\/evil.test", 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{first_name}}\">", "/\t/evil.test", 0, 0, "<a href=\"#\">" },
};

/* Every attribute that holds a URL (or several). */
static const struct html_case url_attributes[] = {
	{ "<svg><a xlink:href=\"{{first_name}}\">", JS, 0, 0, "<svg><a xlink:href=\"#\">" },
	{ "<svg><use XLINK:HREF='{{first_name}}'/>", JS, 0, 0, "<svg><use XLINK:HREF='#'/>" },
	{ "<object data=\"{{first_name}}\">", JS, 0, 0, "<object data=\"#\">" },
	{ "<form action=\"{{first_name}}\">", JS, 0, 0, "<form action=\"#\">" },
	{ "<button formaction={{first_name}}>", JS, 0, 0, "<button formaction=#>" },
	{ "<video poster=\"{{first_name}}\">", JS, 0, 0, "<video poster=\"#\">" },
	{ "<table background=\"{{first_name}}\">", JS, 0, 0, "<table background=\"#\">" },
	{ "<q cite=\"{{first_name}}\">", JS, 0, 0, "<q cite=\"#\">" },
	{ "<img longdesc=\"{{first_name}}\">", JS, 0, 0, "<img longdesc=\"#\">" },
	{ "<img usemap=\"{{first_name}}\">", JS, 0, 0, "<img usemap=\"#\">" },
	{ "<img dynsrc=\"{{first_name}}\">", JS, 0, 0, "<img dynsrc=\"#\">" },
	{ "<img lowsrc=\"{{first_name}}\">", JS, 0, 0, "<img lowsrc=\"#\">" },
	{ "<object codebase=\"{{first_name}}\">", JS, 0, 0, "<object codebase=\"#\">" },
	{ "<object classid=\"{{first_name}}\">", JS, 0, 0, "<object classid=\"#\">" },
	{ "<html manifest=\"{{first_name}}\">", JS, 0, 0, "<html manifest=\"#\">" },
	{ "<menuitem icon=\"{{first_name}}\">", JS, 0, 0, "<menuitem icon=\"#\">" },
	{ "<head profile=\"{{first_name}}\">", JS, 0, 0, "<head profile=\"#\">" },
	{ "<svg xml:base=\"{{first_name}}\">", JS, 0, 0, "<svg xml:base=\"#\">" },
	{ "<iframe src=\"{{first_name}}\">", JS, 0, 0, "<iframe src=\"#\">" },
	{ "<svg><set attributeName=\"href\" to=\"{{first_name}}\"/>", JS, 0, 0,
	  "<svg><set attributeName=\"href\" to=\"#\"/>" },
	{ "<a ping=\"{{first_name}}\">", "https://ok.test/p " JS, 0, 0, "<a ping=\"#\">" },
	{ "<object archive=\"{{first_name}}\">", "a.jar," JS, 0, 0, "<object archive=\"#\">" },
	{ "<img srcset=\"{{first_name}}\">", "https://ok.test/a.png 1x, " JS " 2x", 0, 0,
	  "<img srcset=\"#\">" },
	{ "<img srcset=\"https://ok.test/a.png 1x, {{first_name}} 2x\">", JS, 0, 0,
	  "<img srcset=\"https://ok.test/a.png 1x, # 2x\">" },
	{ "<link imagesrcset=\"{{first_name}}\">", JS, 0, 0, "<link imagesrcset=\"#\">" },
	{ "<svg><animate attributeName=\"href\" values=\"{{first_name}}\"/>",
	  "https://ok.test/;" JS, 0, 0, "<svg><animate attributeName=\"href\" values=\"#\"/>" },
};

/* Script and HTML in attributes: escapes are decoded before they run. And
 * an attribute a contact names could be any of them. */
static const struct html_case code_attributes[] = {
	{ "<iframe srcdoc=\"{{first_name}}\">", "<script>alert(1)</script>", 0, 0,
	  "<iframe srcdoc=\"#\">" },
	{ "<iframe srcdoc=\"<p>Hi {{first_name}}</p>\">", "<img src=x onerror=alert(1)>", 0, 0,
	  "<iframe srcdoc=\"<p>Hi #</p>\">" },
	{ "<a onclick=\"track('{{first_name}}')\">", "');alert(1);('", 0, 0,
	  "<a onclick=\"track('#')\">" },
	{ "<body ONLOAD = {{first_name}}>", "alert(1)", 0, 0, "<body ONLOAD = #>" },
	{ "<a {{custom.attr}}=\"{{first_name}}\">", "alert(1)", 0, "{\"attr\":\"onclick\"}",
	  "<a onclick=\"#\">" },
	/* In a tag's name a value is "#": it cannot end the name either. */
	{ "<a{{custom.attr}}=\"{{first_name}}\">", "alert(1)", 0, "{\"attr\":\"/onclick\"}",
	  "<a#=\"#\">" },
	{ "<a href{{custom.attr}}=\"{{first_name}}\">", JS, 0, 0, "<a href=\"#\">" },
};

/* Where the value is in the URL: once the template's own text fixes the
 * scheme, the value cannot change it; before, it is checked with the
 * template's text around it. */
static const struct html_case url_positions[] = {
	{ "<a href=\"https://shop.test/{{first_name}}\">", JS, 0, 0,
	  "<a href=\"https://shop.test/javascript:alert(1)\">" },
	{ "<a href=\"https://maps.test/?q={{custom.addr}}\">", 0, 0,
	  "{\"addr\":\"Suite 5: 1 Main St\"}",
	  "<a href=\"https://maps.test/?q=Suite&#32;5:&#32;1&#32;Main&#32;St\">" },
	{ "<a href=\"?ref={{first_name}}\">", "a:b", 0, 0, "<a href=\"?ref=a:b\">" },
	{ "<a href=\"#{{first_name}}\">", "x:y", 0, 0, "<a href=\"#x:y\">" },
	{ "<a href=\"mailto:{{first_name}}@example.com\">", "ann", 0, 0,
	  "<a href=\"mailto:ann@example.com\">" },
	{ "<a href=\"java{{first_name}}\">", "script:alert(1)", 0, 0, "<a href=\"java#\">" },
	{ "<a href=\" \n{{first_name}}\">", JS, 0, 0, "<a href=\" \n#\">" },
	{ "<a href=\"/{{first_name}}\">", "/evil.test", 0, 0, "<a href=\"/#\">" },
	{ "<a href=\"/{{first_name}}\">", "shoes", 0, 0, "<a href=\"/shoes\">" },
	{ "<a href=\"{{first_name}}/{{last_name}}\">", NULL, "/evil.test", 0, "<a href=\"/#\">" },
	{ "<a href=\"{{first_name}}{{last_name}}\">", "/", "/evil.test", 0, "<a href=\"/#\">" },
	{ "<a href=\"{{first_name}}:{{last_name}}\">", "javascript", "alert(1)", 0,
	  "<a href=\"#:alert(1)\">" },
	{ "<a href=\"{{first_name}}{{last_name|:alert(1)}}\">", "javascript", NULL, 0,
	  "<a href=\"#:alert(1)\">" },
	{ "<a href=\"{{first_name}}://{{last_name}}/\">", "https", "shop.test", 0,
	  "<a href=\"https://shop.test/\">" },
	{ "<a href=\"javascript:track('{{first_name}}')\">", "');alert(1);('", 0, 0,
	  "<a href=\"javascript:track('#')\">" },
	{ "<a href=\"sms:{{first_name}}\">", "+15550100", 0, 0, "<a href=\"sms:#\">" },
	{ "<a href=\"&#106;{{first_name}}\">", "avascript:alert(1)", 0, 0,
	  "<a href=\"&#106;#\">" },
};

/* A value cannot change the markup around it: end a tag's attribute, make
 * the next attribute this one's value, or open a tag. */
static const struct html_case markup[] = {
	{ "<a href={{first_name}} {{last_name}}>", NULL, JS, 0, "<a href=\"\" javascript:alert(1)>" },
	{ "<p class={{first_name}} id=x>", NULL, 0, 0, "<p class=\"\" id=x>" },
	{ "<p class={{first_name}}>", NULL, 0, 0, "<p class=>" },
	{ "<p class={{first_name|}} id=x>", NULL, 0, 0, "<p class=\"\" id=x>" },
	{ "<p class={{first_name}}>", "x\rautofocus\fonfocus", 0, 0,
	  "<p class=x&#13;autofocus&#12;onfocus>" },
	{ "Reply to <{{first_name}}>", "img src=x onerror=alert(1)//", 0, 0,
	  "Reply to &lt;img src=x onerror=alert(1)//>" },
	{ "<{{first_name}}", "Ann", 0, 0, "&lt;Ann" },
	{ "</ \"><a href=\"{{first_name}}\">", JS, 0, 0, "</ \"><a href=\"#\">" },
	{ "<a title=x\"y href=\"{{first_name}}\">", JS, 0, 0, "<a title=x\"y href=\"#\">" },
	{ "<a title=\"x\"href=\"{{first_name}}\">", JS, 0, 0, "<a title=\"x\"href=\"#\">" },
	{ "<a/href=\"{{first_name}}\">", JS, 0, 0, "<a/href=\"#\">" },
	{ "<!--[if mso]><v:roundrect href=\"{{first_name}}\"><![endif]-->", JS, 0, 0,
	  "<!--[if mso]><v:roundrect href=\"#\"><![endif]-->" },
	{ "<a title='{{first_name}}' href=\"{{last_name}}\">", "' href='" JS, "https://ok.test/", 0,
	  "<a title='&#39;&#32;href&#61;&#39;javascript:alert(1)' href=\"https://ok.test/\">" },
};

/* What legitimate templates render is what they rendered before. */
static const struct html_case unchanged[] = {
	{ "<a href=\"{{first_name}}\">", "https://shop.test/?a=1&b=2", 0, 0,
	  "<a href=\"https://shop.test/?a&#61;1&amp;b&#61;2\">" },
	{ "<a href=\"{{first_name}}\">", "HTTP://SHOP.TEST/", 0, 0, "<a href=\"HTTP://SHOP.TEST/\">" },
	{ "<a href=\"{{first_name}}\">", "mailto:ann@example.com?subject=Hi", 0, 0,
	  "<a href=\"mailto:ann@example.com?subject&#61;Hi\">" },
	{ "<a href=\"{{first_name}}\">", "tel:+1-555-0100", 0, 0, "<a href=\"tel:+1-555-0100\">" },
	{ "<a href=\"{{first_name}}\">", "/relative/path", 0, 0, "<a href=\"/relative/path\">" },
	{ "<a href=\"{{first_name}}\">", "page.html", 0, 0, "<a href=\"page.html\">" },
	{ "<a href=\"{{first_name}}\">", "../up", 0, 0, "<a href=\"../up\">" },
	{ "<a href=\"{{first_name}}\">", "#top", 0, 0, "<a href=\"#top\">" },
	{ "<a href=\"{{first_name}}\">", "?utm=1", 0, 0, "<a href=\"?utm&#61;1\">" },
	{ "<a href={{first_name}}>", "https://shop.test/a b", 0, 0,
	  "<a href=https://shop.test/a&#32;b>" },
	{ "<a href = \"{{first_name}}\">", "https://shop.test/", 0, 0,
	  "<a href = \"https://shop.test/\">" },
	{ "<a href=\"{{custom.shop_url|#}}\">", 0, 0, 0, "<a href=\"#\">" },
	{ "<a href=\"{{custom.shop_url|#}}\">", 0, 0, "{\"shop_url\":\"https://shop.test\"}",
	  "<a href=\"https://shop.test\">" },
	{ "<a href=\"https://shop.test/{{first_name}}\">", "shoes?size=10", 0, 0,
	  "<a href=\"https://shop.test/shoes?size&#61;10\">" },
	{ "<img src=\"{{first_name}}\" alt=\"{{last_name}}\" title='{{last_name}}' "
	  "data-href=\"{{last_name}}\" data-src={{last_name}}>",
	  "https://cdn.test/a.png", JS " \"q\"", 0,
	  "<img src=\"https://cdn.test/a.png\" alt=\"javascript:alert(1)&#32;&quot;q&quot;\" "
	  "title='javascript:alert(1)&#32;&quot;q&quot;' "
	  "data-href=\"javascript:alert(1)&#32;&quot;q&quot;\" "
	  "data-src=javascript:alert(1)&#32;&quot;q&quot;>" },
	{ "<a hreflang=\"{{first_name}}\" data=x datax=\"{{first_name}}\">", JS, 0, 0,
	  "<a hreflang=\"javascript:alert(1)\" data=x datax=\"javascript:alert(1)\">" },
	{ "<p style=\"color:{{first_name}}\">{{last_name}}</p>", "red", JS, 0,
	  "<p style=\"color:red\">javascript:alert(1)</p>" },
	{ "<img srcset=\"{{first_name}} 1x, {{last_name}} 2x\">", "https://cdn.test/a.png",
	  "/b.png", 0, "<img srcset=\"https://cdn.test/a.png 1x, /b.png 2x\">" },
	{ "<p>1 < 2 and {{first_name}}</p>", "3 > 2", 0, 0, "<p>1 < 2 and 3 &gt; 2</p>" },
};

#define XSS "1;alert(document.domain)//"

/* Script, CSS and <meta>: a contact's value never runs. In script it is "#"
 * (but in a JSON string of an ld+json block, escaped for it); in CSS only a
 * plain token (a colour, a size, a font) is written; in <meta> nothing. */
static const struct html_case code_contexts[] = {
	{ "<script>var n={{last_name}};</script>", 0, XSS, 0, "<script>var n=#;</script>" },
	{ "<script>var s=\"{{first_name}}\";</script>", "\";alert(1)//", 0, 0,
	  "<script>var s=\"#\";</script>" },
	{ "<SCRIPT>x='{{first_name}}'</SCRIPT>", "Ann", 0, 0, "<SCRIPT>x='#'</SCRIPT>" },
	{ "<script src=\"{{first_name}}\"></script>", "https://evil.test/x.js", 0, 0,
	  "<script src=\"#\"></script>" },
	{ "<link rel=\"stylesheet\" href=\"{{first_name}}\">", "https://evil.test/x.css", 0, 0,
	  "<link rel=\"stylesheet\" href=\"#\">" },
	{ "<base href=\"{{first_name}}\">", "https://evil.test/", 0, 0, "<base href=\"#\">" },
	{ "<embed src=\"{{first_name}}\">", "https://evil.test/x.swf", 0, 0, "<embed src=\"#\">" },
	{ "<style>p{color:{{custom.css}}}</style>", 0, 0,
	  "{\"css\":\"red;background:url(https://evil.test/x)\"}", "<style>p{color:#}</style>" },
	{ "<style>p{color:{{first_name}}}</style>", "red}</style><script>alert(1)</script>", 0, 0,
	  "<style>p{color:#}</style>" },
	{ "<style>p{background:url({{first_name}})}</style>", "//evil.test/x.png", 0, 0,
	  "<style>p{background:url(#)}</style>" },
	{ "<style>@import {{first_name}};</style>", "'https://evil.test/x.css'", 0, 0,
	  "<style>@import #;</style>" },
	{ "<p style=\"background:url({{custom.x}})\">", 0, 0, "{\"x\":\"https://evil.test/a.png\"}",
	  "<p style=\"background:url(#)\">" },
	{ "<p style=\"color:{{first_name}}\">", "red;background-image:url(//evil.test)", 0, 0,
	  "<p style=\"color:#\">" },
	{ "<p style=\"width:{{first_name}}\">", "expression(alert(1))", 0, 0, "<p style=\"width:#\">" },
	{ "<p style=color:{{first_name}}>", "red;x:\\75rl(//evil.test)", 0, 0, "<p style=color:#>" },
	{ "<meta http-equiv=\"refresh\" content=\"0;url={{custom.x}}\">", 0, 0,
	  "{\"x\":\"javascript:alert(1)\"}", "<meta http-equiv=\"refresh\" content=\"0;url=#\">" },
	{ "<meta http-equiv=\"refresh\" content=\"0;url={{custom.x}}\">", 0, 0,
	  "{\"x\":\"data:text/html,<script>alert(1)</script>\"}",
	  "<meta http-equiv=\"refresh\" content=\"0;url=#\">" },
	{ "<meta http-equiv=\"refresh\" content=\"0;url={{custom.x}}\">", 0, 0,
	  "{\"x\":\"//evil.example\"}", "<meta http-equiv=\"refresh\" content=\"0;url=#\">" },
	{ "<meta http-equiv=\"refresh\" content=\"{{first_name}}\">", "0;url=https://evil.test", 0,
	  0, "<meta http-equiv=\"refresh\" content=\"#\">" },
};

/* JSON-LD (Gmail's markup): a value in one of its JSON strings is escaped
 * for that string; anywhere else in it, or in any other script, "#". */
static const struct html_case json_ld[] = {
	{ "<script type=\"application/ld+json\">{\"name\":\"{{first_name}}\"}</script>",
	  "\"}</script><script>alert(1)</script>", 0, 0,
	  "<script type=\"application/ld+json\">{\"name\":\"\\\"}\\u003c/script\\u003e"
	  "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e\"}</script>" },
	{ "<script type=\"application/ld+json\">{\"name\":\"{{first_name}}\"}</script>",
	  "A\\B\n'&\xe2\x80\xa8\x01", 0, 0,
	  "<script type=\"application/ld+json\">{\"name\":\"A\\\\B\\u000a\\u0027\\u0026\\u2028"
	  "\\u0001\"}</script>" },
	{ "<script type=\"application/ld+json\">{\"n\":{{first_name}}}</script>", "1,\"x\":2", 0, 0,
	  "<script type=\"application/ld+json\">{\"n\":#}</script>" },
	{ "<script type=\"application/ld+json\">{\"a\":\"\\\"\",\"b\":{{first_name}}}</script>", "1",
	  0, 0, "<script type=\"application/ld+json\">{\"a\":\"\\\"\",\"b\":#}</script>" },
	{ "<script type=\"application/ld+json\">{\"a\":\"\\{{first_name}}\"}</script>", 0, 0, 0,
	  "<script type=\"application/ld+json\">{\"a\":\"\\#\"}</script>" },
	{ "<script type=\"text/javascript\">var a=\"{{first_name}}\"</script>", "Ann", 0, 0,
	  "<script type=\"text/javascript\">var a=\"#\"</script>" },
	{ "<script type type=\"application/ld+json\">var a=\"{{first_name}}\"</script>", "Ann", 0, 0,
	  "<script type type=\"application/ld+json\">var a=\"#\"</script>" },
	{ "<script type=\"{{custom.t}}\">var a=\"{{first_name}}\"</script>", "Ann", 0,
	  "{\"t\":\"application/ld+json\"}",
	  "<script type=\"application/ld+json\">var a=\"#\"</script>" },
	{ "<script {{custom.t}} type=\"application/ld+json\">var a=\"{{first_name}}\"</script>", "Ann",
	  0, "{\"t\":\"type\"}", "<script type type=\"application/ld+json\">var a=\"#\"</script>" },
};

/* The text of script and style ends at the matching end tag, any case, and
 * nowhere else; title and textarea hold text, not tags: a '<' or a quote in
 * them does not put the values after them elsewhere. */
static const struct html_case raw_text[] = {
	{ "<script>var s = '<a title=\"';</script><a href={{first_name}}>x</a>", JS, 0, 0,
	  "<script>var s = '<a title=\"';</script><a href=#>x</a>" },
	{ "<script>if (a<b) x = \"</scr\" + \"ipt>'\"; y = '<i title=\"';</script>"
	  "<a href={{first_name}}>", JS, 0, 0,
	  "<script>if (a<b) x = \"</scr\" + \"ipt>'\"; y = '<i title=\"';</script><a href=#>" },
	{ "<style>p:before{content:\"<a title='\"}</style><a href=\"{{first_name}}\">", JS, 0, 0,
	  "<style>p:before{content:\"<a title='\"}</style><a href=\"#\">" },
	{ "<script>x=\"</scripty>\";var y={{first_name}}</script>", XSS, 0, 0,
	  "<script>x=\"</scripty>\";var y=#</script>" },
	{ "<script>x='<a title=\"';</SCRIPT\n><a href={{first_name}}>", JS, 0, 0,
	  "<script>x='<a title=\"';</SCRIPT\n><a href=#>" },
	/* "<!--" then "<script>" hides the next "</script>" */
	{ "<script><!-- <script> </script> var n={{first_name}}; --></script><p>{{last_name}}</p>",
	  XSS, "<b>", 0,
	  "<script><!-- <script> </script> var n=#; --></script><p>&lt;b&gt;</p>" },
	{ "<title>Sale <a href=\"x</title><a href=\"{{first_name}}\">", JS, 0, 0,
	  "<title>Sale <a href=\"x</title><a href=\"#\">" },
	{ "<textarea><p title=\"</textarea><a href={{first_name}}>\"></textarea>", JS, 0, 0,
	  "<textarea><p title=\"</textarea><a href=#>\"></textarea>" },
	/* A value (even empty) cannot finish an end tag the template began. */
	{ "<title></tit{{first_name}}le>{{last_name}}</title>", NULL, "<b>", 0,
	  "<title></tit#le>&lt;b&gt;</title>" },
	{ "<script></scr{{first_name}}ipt>{{last_name}}", NULL, XSS, 0,
	  "<script></scr#ipt>#" },
	{ "<scr{{first_name}}ipt>{{last_name}}", NULL, "<b>", 0, "<scr#ipt>&lt;b&gt;" },
};

/* Elements the readers disagree on (noscript, xmp, iframe, noembed,
 * noframes, and script or style in SVG): a value in them is "#", and where
 * one reader ends them and another does not, every value after is "#". */
static const struct html_case ambiguous[] = {
	{ "<noscript><p title=\"</noscript><a href={{first_name}}>\"></noscript>", JS, 0, 0,
	  "<noscript><p title=\"</noscript><a href=#>\"></noscript>" },
	{ "<noscript><a href=\"{{first_name}}\">x</a></noscript>", "https://shop.test/", 0, 0,
	  "<noscript><a href=\"#\">x</a></noscript>" },
	{ "<xmp><a title=\"</xmp><a href={{first_name}}>\">", JS, 0, 0,
	  "<xmp><a title=\"</xmp><a href=#>\">" },
	{ "<iframe><a title=\"</iframe><a href={{first_name}}>\">", JS, 0, 0,
	  "<iframe><a title=\"</iframe><a href=#>\">" },
	{ "<noembed><a title=\"</noembed><a href={{first_name}}>\">", JS, 0, 0,
	  "<noembed><a title=\"</noembed><a href=#>\">" },
	{ "<noscript><xmp></noscript><a title=\"</xmp><a href={{first_name}}>\">", JS, 0, 0,
	  "<noscript><xmp></noscript><a title=\"</xmp><a href=#>\">" },
	{ "<svg><style><a title=\"</style><a href={{first_name}}>\"></style></svg>", JS, 0, 0,
	  "<svg><style><a title=\"</style><a href=#>\"></style></svg>" },
	{ "<svg><title>{{first_name}}</title></svg><p>{{last_name}}</p>", "Ann", "Bo", 0,
	  "<svg><title>#</title></svg><p>Bo</p>" },
	{ "<svg><![CDATA[ > <a title=\" ]]><a href={{first_name}}> \">", JS, 0, 0,
	  "<svg><![CDATA[ > <a title=\" ]]><a href=#> \">" },
};

/* Comments: Outlook reads the tags in them, so we follow those; where a
 * comment ends for a browser while we read a tag, the readers part. */
static const struct html_case comments[] = {
	{ "<!-- <a href=\"{{first_name}}>old</a> --><a href=\"{{last_name}}\">x</a>",
	  "https://ok.test/", JS, 0,
	  "<!-- <a href=\"https://ok.test/>old</a> --><a href=\"#\">x</a>" },
	{ "<!-- <a title=\"{{first_name}}><a href={{last_name}}>\"> -->", "--", JS, 0,
	  "<!-- <a title=\"#><a href=javascript:alert(1)>\"> -->" },
};

/* Templates that worked keep rendering as they did. */
static const struct html_case code_unchanged[] = {
	{ "<style>\nbody { margin:0; padding:0; width:100%; }\n@media (max-width:620px) {\n"
	  "  .px { padding-left:20px !important; }\n}\n</style><p>Hi {{first_name|there}}</p>",
	  "Ann & Bob", 0, 0,
	  "<style>\nbody { margin:0; padding:0; width:100%; }\n@media (max-width:620px) {\n"
	  "  .px { padding-left:20px !important; }\n}\n</style><p>Hi Ann &amp; Bob</p>" },
	{ "<td style=\"color:#f43f5e\">{{first_name}}</td>", "Ann", 0, 0,
	  "<td style=\"color:#f43f5e\">Ann</td>" },
	{ "<script>var a = 1 < 2;</script><p>Hi {{first_name}}</p>", "<i>", 0, 0,
	  "<script>var a = 1 < 2;</script><p>Hi &lt;i&gt;</p>" },
	{ "<script>x()</script>{{first_name}}", "Ann", 0, 0, "<script>x()</script>Ann" },
	{ "<title>{{first_name}}</title>", "Ann", 0, 0, "<title>Ann</title>" },
	{ "<title>{{first_name}}</title>", "</title><script>alert(1)</script>", 0, 0,
	  "<title>&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>" },
	{ "<textarea>{{first_name}}</textarea>", "a < b", 0, 0, "<textarea>a &lt; b</textarea>" },
	{ "<p style=\"color:{{first_name}};font-size:{{last_name}}\">", "#f43f5e", "14px", 0,
	  "<p style=\"color:#f43f5e;font-size:14px\">" },
	{ "<p style=\"font-family:{{first_name}}\">", "Helvetica Neue, Arial, sans-serif", 0, 0,
	  "<p style=\"font-family:Helvetica&#32;Neue,&#32;Arial,&#32;sans-serif\">" },
	{ "<style>p{font-family:{{first_name}};width:{{last_name}}}</style>", "Helvetica Neue",
	  "50%", 0, "<style>p{font-family:Helvetica Neue;width:50%}</style>" },
	{ "<style>p{color:{{first_name|#333}}}</style>", 0, 0, 0, "<style>p{color:#333}</style>" },
	{ "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><p>{{first_name}}</p>",
	  "Ann", 0, 0,
	  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><p>Ann</p>" },
	{ "<svg width=\"10\"><title>Logo</title></svg><a href=\"{{first_name}}\">", "https://shop.test/",
	  0, 0, "<svg width=\"10\"><title>Logo</title></svg><a href=\"https://shop.test/\">" },
	{ "<img src=\"{{first_name}}\">", "https://cdn.test/a.png", 0, 0,
	  "<img src=\"https://cdn.test/a.png\">" },
	{ "<script type=' Application/LD+JSON '>{\"@type\":\"Order\",\"orderNumber\":\"{{first_name}}\"}"
	  "</script>", "A-1001", 0, 0,
	  "<script type=' Application/LD+JSON '>{\"@type\":\"Order\",\"orderNumber\":\"A-1001\"}"
	  "</script>" },
	{ "<script><!-- a --></script><p>{{first_name}}</p>", "<b>", 0, 0,
	  "<script><!-- a --></script><p>&lt;b&gt;</p>" },
	{ "<noscript>x</noscript><p>{{first_name}}</p>", "<b>", 0, 0,
	  "<noscript>x</noscript><p>&lt;b&gt;</p>" },
	{ "<svg/><style>p{color:{{first_name}}}</style>", "red", 0, 0,
	  "<svg/><style>p{color:red}</style>" },
	{ "<!-- <a title=\"{{first_name}}><a href={{last_name}}>\"> -->", "a-b", "x", 0,
	  "<!-- <a title=\"a-b><a href=x>\"> -->" },
	{ "<!--[if mso]><v:roundrect href=\"{{first_name}}\" fillcolor=\"#f43f5e\"><![endif]-->"
	  "<p>{{last_name}}</p>", "https://shop.test/", "<b>", 0,
	  "<!--[if mso]><v:roundrect href=\"https://shop.test/\" fillcolor=\"#f43f5e\"><![endif]-->"
	  "<p>&lt;b&gt;</p>" },
	{ "<!--[if mso]><style>td{color:{{first_name}}}</style><![endif]--><p>{{last_name}}</p>",
	  "#f43f5e", "Ann", 0,
	  "<!--[if mso]><style>td{color:#f43f5e}</style><![endif]--><p>Ann</p>" },
};

START_TEST(spaced_equals_are_links)
{
	expect_case(&spaced_equals[_i]);
}
END_TEST

START_TEST(hidden_schemes_become_hash)
{
	expect_case(&hidden_schemes[_i]);
}
END_TEST

START_TEST(every_url_attribute_is_checked)
{
	expect_case(&url_attributes[_i]);
}
END_TEST

START_TEST(code_attributes_take_no_values)
{
	expect_case(&code_attributes[_i]);
}
END_TEST

START_TEST(url_position_decides_the_check)
{
	expect_case(&url_positions[_i]);
}
END_TEST

START_TEST(values_cannot_reshape_markup)
{
	expect_case(&markup[_i]);
}
END_TEST

START_TEST(legitimate_links_render_unchanged)
{
	expect_case(&unchanged[_i]);
}
END_TEST

START_TEST(code_contexts_take_no_code)
{
	expect_case(&code_contexts[_i]);
}
END_TEST

START_TEST(json_ld_strings_are_escaped)
{
	expect_case(&json_ld[_i]);
}
END_TEST

START_TEST(raw_text_ends_where_browsers_end_it)
{
	expect_case(&raw_text[_i]);
}
END_TEST

START_TEST(ambiguous_elements_take_no_values)
{
	expect_case(&ambiguous[_i]);
}
END_TEST

START_TEST(comment_ends_are_followed)
{
	expect_case(&comments[_i]);
}
END_TEST

START_TEST(legitimate_css_script_title_unchanged)
{
	expect_case(&code_unchanged[_i]);
}
END_TEST

START_TEST(subjects_refuse_unicode_line_breaks)
{
	struct tpl_values v = { 0 };

	/* U+0085 (NEL) and the other C1 controls, U+2028, U+2029 */
	expect_error("Hi\xc2\x85there", TPL_HEADER, 1, 3, "one line without control characters");
	expect_error("Sale \xe2\x80\xa8now", TPL_HEADER, 1, 6, "one line");
	expect_error("Sale \xe2\x80\xa9", TPL_HEADER, 1, 6, "one line");
	expect_error("\xc3\xa9t\xc3\xa9 \xc2\x9b", TPL_HEADER, 1, 5, "one line");
	expect_error("{{first_name|a\xe2\x80\xa8}}", TPL_HEADER, 1, 15, "one line");
	/* Not controls: no-break space, em dash, euro sign, emoji */
	expect("\xc2\xa0\xe2\x80\x94\xe2\x82\xac\xf0\x9f\x8e\x89 {{first_name}}", TPL_HEADER, &v,
	       "\xc2\xa0\xe2\x80\x94\xe2\x82\xac\xf0\x9f\x8e\x89 ");
	/* The HTML and text parts may hold them. */
	expect("a\xe2\x80\xa8" "b", TPL_TEXT, &v, "a\xe2\x80\xa8" "b");
}
END_TEST

START_TEST(subject_values_stay_on_one_line)
{
	struct tpl_values v = { .first_name = "Ann\xe2\x80\xa8" "Bcc: x\xc2\x85y\xe2\x80\xa9z\xc2\x9b!",
				.last_name = "Zo\xc3\xab \xe2\x80\x94 \xe2\x82\xac" "5\xc2\xa0\xc2\x80" };

	expect("Hi {{first_name}}", TPL_HEADER, &v, "Hi Ann Bcc: x y z !");
	expect("{{last_name}}", TPL_HEADER, &v, "Zo\xc3\xab \xe2\x80\x94 \xe2\x82\xac" "5\xc2\xa0 ");
	/* cut short, a sequence is left as it is */
	v.first_name = "a\xe2\x80";
	expect("{{first_name}}", TPL_HEADER, &v, "a\xe2\x80");
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

START_TEST(link_tokens_use_their_own_key)
{
	const char *id = "01a213c5-fa91-7924-8c9b-841b45a51f13";
	struct fs_config cfg = { 0 };
	char token[LINK_TOKEN_LEN + 1], old[LINK_TOKEN_LEN + 1], back[40];

	cfg.link_secret = "link-secret";
	cfg.jwt_secret = "jwt-secret";
	ck_assert_int_eq(link_token_mint(&cfg, "u", id, token, sizeof(token)), 0);
	/* Minted with the link secret, not the JWT secret. */
	ck_assert_int_eq(link_token_verify("link-secret", "u", token, back, sizeof(back)), 0);
	ck_assert_int_eq(link_token_verify("jwt-secret", "u", token, back, sizeof(back)), -1);
	ck_assert_int_eq(link_token_check(&cfg, "u", token, back, sizeof(back)), LINK_KEY_LINK);
	ck_assert_str_eq(back, id);
	/* A link mailed before the link secret existed still verifies... */
	ck_assert_int_eq(link_token("jwt-secret", "u", id, old, sizeof(old)), 0);
	ck_assert_int_eq(link_token_check(&cfg, "u", old, back, sizeof(back)), LINK_KEY_JWT);
	/* ...and rotating the JWT secret leaves new links working. */
	cfg.jwt_secret = "rotated-jwt-secret";
	ck_assert_int_eq(link_token_check(&cfg, "u", token, back, sizeof(back)), LINK_KEY_LINK);
	ck_assert_int_eq(link_token_check(&cfg, "u", old, back, sizeof(back)), LINK_KEY_NONE);
	ck_assert_int_eq(link_token_check(&cfg, "c", token, back, sizeof(back)), LINK_KEY_NONE);
	ck_assert_int_eq(link_token_check(&cfg, "u", "", back, sizeof(back)), LINK_KEY_NONE);
}
END_TEST

Suite *template_suite(void)
{
	Suite *s = suite_create("template");
	TCase *tc = tcase_create("template");

	tcase_add_test(tc, variables_and_defaults);
	tcase_add_test(tc, values_are_escaped_per_part);
#define LOOP(test, cases) tcase_add_loop_test(tc, test, 0, sizeof(cases) / sizeof(cases[0]))
	LOOP(spaced_equals_are_links, spaced_equals);
	LOOP(hidden_schemes_become_hash, hidden_schemes);
	LOOP(every_url_attribute_is_checked, url_attributes);
	LOOP(code_attributes_take_no_values, code_attributes);
	LOOP(url_position_decides_the_check, url_positions);
	LOOP(values_cannot_reshape_markup, markup);
	LOOP(legitimate_links_render_unchanged, unchanged);
	LOOP(code_contexts_take_no_code, code_contexts);
	LOOP(json_ld_strings_are_escaped, json_ld);
	LOOP(raw_text_ends_where_browsers_end_it, raw_text);
	LOOP(ambiguous_elements_take_no_values, ambiguous);
	LOOP(comment_ends_are_followed, comments);
	LOOP(legitimate_css_script_title_unchanged, code_unchanged);
#undef LOOP
	tcase_add_test(tc, subjects_refuse_unicode_line_breaks);
	tcase_add_test(tc, subject_values_stay_on_one_line);
	tcase_add_test(tc, errors_name_line_and_column);
	tcase_add_test(tc, message_error_detail_names_the_part);
	tcase_add_test(tc, message_derives_text_from_html);
	tcase_add_test(tc, html_to_text_survives_broken_markup);
	tcase_add_test(tc, compiled_once_rendered_many);
	tcase_add_test(tc, link_tokens_round_trip_and_refuse_tampering);
	tcase_add_test(tc, link_tokens_use_their_own_key);
	suite_add_tcase(s, tc);
	return s;
}
