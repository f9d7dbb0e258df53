/* Multipart parsing as a byte-at-a-time matcher against "\r\n--boundary",
 * so a boundary split across reads is still found. The body is treated as if
 * it began with "\r\n", which lets the first boundary match like the rest. */
#include "http/multipart.h"

#include <string.h>
#include <strings.h>

/* Case-insensitive strstr (strcasestr is a GNU extension). */
static const char *find_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return hay;
	return NULL;
}

enum { MP_PREAMBLE, MP_AFTER_DELIM, MP_AFTER_DELIM_2, MP_HEADERS, MP_BODY, MP_DONE };

#define MP_MAX_HEADERS 8192
#define MP_FLUSH 65536

int multipart_init(struct multipart *m, const char *content_type, multipart_data_fn cb, void *ud)
{
	const char *b = content_type ? find_ci(content_type, "boundary=") : NULL;
	size_t n;

	memset(m, 0, sizeof(*m));
	strbuf_init(&m->headers);
	strbuf_init(&m->out);
	m->cb = cb;
	m->ud = ud;
	if (!b)
		return -1;
	b += 9;
	if (*b == '"')
		b++;
	n = strcspn(b, "\";, ");
	if (n == 0 || n > 70)
		return -1;
	memcpy(m->delim, "\r\n--", 4);
	memcpy(m->delim + 4, b, n);
	m->dlen = 4 + n;
	m->state = MP_PREAMBLE;
	m->matched = 2; /* the virtual leading "\r\n" */
	return 0;
}

static int flush_out(struct multipart *m)
{
	if (m->out.len && m->cb(m->ud, m->out.buf, m->out.len) != 0)
		m->failed = 1;
	strbuf_reset(&m->out);
	return m->failed ? -1 : 0;
}

static void body_bytes(struct multipart *m, const char *data, size_t len)
{
	if (m->state == MP_BODY && m->in_file)
		strbuf_append(&m->out, data, len);
}

/* The part's headers are complete: is it the file? */
static void part_begins(struct multipart *m)
{
	const char *h = strbuf_cstr(&m->headers);
	const char *cd = find_ci(h, "content-disposition:");

	m->in_file = 0;
	if (!m->file_seen && cd &&
	    (find_ci(cd, "filename=") || find_ci(cd, "name=\"file\"")))
		m->in_file = m->file_seen = 1;
	strbuf_reset(&m->headers);
}

int multipart_feed(struct multipart *m, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = data[i];

		if (m->failed)
			return -1;
		switch (m->state) {
		case MP_DONE:
			return 0; /* the epilogue is ignored */
		case MP_AFTER_DELIM:
			m->state = (c == '-') ? MP_AFTER_DELIM_2 : (c == '\r' ? MP_AFTER_DELIM_2 : -1);
			if (m->state == MP_AFTER_DELIM_2 && c == '-') {
				m->matched = 1; /* reuse as "saw one dash" */
			} else if (m->state == MP_AFTER_DELIM_2) {
				m->matched = 0;
			} else {
				m->failed = 1;
			}
			break;
		case MP_AFTER_DELIM_2:
			if (m->matched == 1 && c == '-') {
				m->state = MP_DONE;
				if (m->in_file)
					m->file_done = 1;
				if (flush_out(m) < 0)
					return -1;
			} else if (m->matched == 0 && c == '\n') {
				m->state = MP_HEADERS;
			} else {
				m->failed = 1;
			}
			m->matched = 0;
			break;
		case MP_HEADERS:
			if (m->headers.len >= MP_MAX_HEADERS) {
				m->failed = 1;
				break;
			}
			strbuf_appendc(&m->headers, c);
			if (m->headers.len >= 4 &&
			    memcmp(m->headers.buf + m->headers.len - 4, "\r\n\r\n", 4) == 0) {
				part_begins(m);
				m->state = MP_BODY;
				m->matched = 0;
			}
			break;
		case MP_PREAMBLE:
		case MP_BODY:
			if (c == m->delim[m->matched]) {
				if (++m->matched == m->dlen) {
					if (m->state == MP_BODY && m->in_file)
						m->file_done = 1;
					if (flush_out(m) < 0)
						return -1;
					if (m->file_done) {
						/* the file is complete; the rest does not matter */
						m->in_file = 0;
					}
					m->state = MP_AFTER_DELIM;
					m->matched = 0;
				}
				break;
			}
			/* A partial match that failed: those bytes were data. The
			 * delimiter starts with "\r\n-" so no suffix of a partial
			 * match can itself start a match, except at a fresh '\r'. */
			if (m->matched)
				body_bytes(m, m->delim, m->matched);
			m->matched = 0;
			if (c == m->delim[0]) {
				m->matched = 1;
			} else {
				body_bytes(m, &c, 1);
			}
			if (m->out.len >= MP_FLUSH && flush_out(m) < 0)
				return -1;
			break;
		default:
			m->failed = 1;
		}
	}
	return m->failed ? -1 : 0;
}

int multipart_file_complete(const struct multipart *m)
{
	return m->file_seen && m->file_done && !m->failed;
}

void multipart_free(struct multipart *m)
{
	strbuf_free(&m->headers);
	strbuf_free(&m->out);
}
