/* The responders' log files through nginx: a value a client controls (here a
 * path with a decoded %0a) cannot write a line of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/uuid.h"
#include "e2e.h"

/* The whole file, or NULL when it cannot be read; the caller frees it. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = calloc(1, (size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

START_TEST(a_decoded_newline_cannot_forge_a_log_line)
{
	const char *state = getenv("FLOWSEND_TEST_STATE");
	char path[512], url[256], marker[32], hex[17];
	unsigned char r[8];
	struct http_answer a;
	char *log = NULL;

	random_bytes(r, sizeof(r));
	hex_encode(r, sizeof(r), hex);
	snprintf(marker, sizeof(marker), "FAKE LINE %s", hex);
	snprintf(url, sizeof(url), "/api/v1/contacts/%%0aFAKE%%20LINE%%20%s", hex);
	ck_assert_int_eq(http_call("GET", url, NULL, NULL, 0, &a), 0);
	ck_assert_int_lt(a.status, 500);
	http_answer_free(&a);

	snprintf(path, sizeof(path), "%s/log/fs-contacts.log",
		 state ? state : "/var/tmp/flowsend-18080");
	/* Access lines are written in batches when a worker goes idle. */
	for (int i = 0; i < 50; i++) {
		free(log);
		log = slurp(path);
		ck_assert_msg(log != NULL, "cannot read %s", path);
		if (strstr(log, marker))
			break;
		usleep(100000);
	}
	ck_assert_msg(strstr(log, marker) != NULL, "the request never reached %s", path);
	ck_assert_msg(strncmp(log, "FAKE", 4) != 0, "a forged first line in %s", path);
	for (const char *nl = strchr(log, '\n'); nl; nl = strchr(nl + 1, '\n'))
		ck_assert_msg(strncmp(nl + 1, "FAKE", 4) != 0, "a forged line in %s: %.120s", path,
			      nl + 1);
	free(log);
}
END_TEST

Suite *logs_suite(void)
{
	Suite *s = suite_create("logs");
	TCase *tc = tcase_create("logs");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, a_decoded_newline_cannot_forge_a_log_line);
	suite_add_tcase(s, tc);
	return s;
}
