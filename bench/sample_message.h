/* The newsletter-like message the C benches build, sign and send: the same
 * headers every time, `paragraphs` paragraphs of HTML and text. */
#ifndef FLOWSEND_BENCH_SAMPLE_MESSAGE_H
#define FLOWSEND_BENCH_SAMPLE_MESSAGE_H

#include "core/strbuf.h"
#include "mail/message.h"

static inline void bench_sample_message(struct mail_message *m, struct strbuf *html,
					struct strbuf *text, int paragraphs, long long date)
{
	for (int i = 0; i < paragraphs; i++) {
		strbuf_appends(html, "<p style=\"margin:0 0 16px;color:#333\">Our spring collection "
				     "is here, with new arrivals across every category.</p>\n");
		strbuf_appends(text, "Our spring collection is here, with new arrivals across "
				     "every category.\n\n");
	}
	m->from_name = "Shop";
	m->from_email = "news@shop.example";
	m->to_email = "ann@example.com";
	m->subject = "Spring is here";
	m->html = html->buf;
	m->html_len = html->len;
	m->text = text->buf;
	m->text_len = text->len;
	m->message_id = "<0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee@shop.example>";
	m->outbox_id = "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee";
	m->unsubscribe_url = "https://mail.shop.example/u/AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHH";
	m->date = date;
}

#endif
