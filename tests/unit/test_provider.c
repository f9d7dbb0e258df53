/* Provider notifications (mail/provider): SNS messages, their signed text
 * and signature, SES events, SendGrid's signed events, and Message-IDs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fixtures/provider_keys.h"
#include "core/strbuf.h"
#include "mail/provider.h"
#include "unit.h"

#define OUTBOX "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee"
#define CERT_URL "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem"

static const char ses_bounce[] =
	"{\"notificationType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Permanent\","
	"\"bouncedRecipients\":[{\"emailAddress\":\"ann@example.com\",\"status\":\"5.1.1\","
	"\"diagnosticCode\":\"smtp; 550 5.1.1 no such user\"}]},"
	"\"mail\":{\"messageId\":\"0100018c-ses\",\"commonHeaders\":{\"messageId\":\"<" OUTBOX
	"@shop.example>\"}}}";

/* An SNS Notification around message, signed (or not) with the test key. */
static char *sns_body(const char *type, const char *message, const char *version, int sign)
{
	struct sns_message m = { 0 };
	struct strbuf text = STRBUF_INIT, body = STRBUF_INIT;
	char sig[400] = "AAAA";
	json_object *o = json_object_new_object();

	m.type = type;
	m.message_id = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324";
	m.topic_arn = "arn:aws:sns:eu-west-1:123456789012:ses-events";
	m.message = message;
	m.timestamp = "2026-11-29T10:00:00.000Z";
	m.subscribe_url = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t1";
	m.token = "t1";
	ck_assert_int_eq(sns_string_to_sign(&m, &text), 0);
	if (sign)
		ck_assert_int_eq(test_sign(test_sns_key, strcmp(version, "1") == 0, text.buf, text.len,
					   sig, sizeof(sig)), 0);
	json_object_object_add(o, "Type", json_object_new_string(type));
	json_object_object_add(o, "MessageId", json_object_new_string(m.message_id));
	json_object_object_add(o, "TopicArn", json_object_new_string(m.topic_arn));
	json_object_object_add(o, "Message", json_object_new_string(message));
	json_object_object_add(o, "Timestamp", json_object_new_string(m.timestamp));
	json_object_object_add(o, "SignatureVersion", json_object_new_string(version));
	json_object_object_add(o, "Signature", json_object_new_string(sig));
	json_object_object_add(o, "SigningCertURL", json_object_new_string(CERT_URL));
	if (strcmp(type, "Notification") != 0) {
		json_object_object_add(o, "SubscribeURL", json_object_new_string(m.subscribe_url));
		json_object_object_add(o, "Token", json_object_new_string(m.token));
	}
	strbuf_appends(&body, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	strbuf_free(&text);
	return body.buf;
}

static int verifies(const char *body)
{
	struct sns_message m;
	struct strbuf text = STRBUF_INIT;
	int ok = sns_parse(body, strlen(body), &m) == 0 && sns_string_to_sign(&m, &text) == 0 &&
		 sns_verify(test_sns_cert, strlen(test_sns_cert), m.signature_version, m.signature,
			    text.buf, text.len);

	strbuf_free(&text);
	sns_free(&m);
	return ok;
}

START_TEST(sns_signatures_verify_and_forgeries_do_not)
{
	char *b;

	b = sns_body("Notification", ses_bounce, "2", 1);
	ck_assert(verifies(b));
	/* One byte of the message changed after signing. */
	*strstr(b, "Permanent") = 'p';
	ck_assert(!verifies(b));
	free(b);
	b = sns_body("Notification", ses_bounce, "1", 1);
	ck_assert(verifies(b));
	free(b);
	b = sns_body("SubscriptionConfirmation", "You have chosen to subscribe", "2", 1);
	ck_assert(verifies(b));
	free(b);
	b = sns_body("Notification", ses_bounce, "2", 0);
	ck_assert(!verifies(b));
	free(b);
	/* A version SNS never used, and garbage signatures. */
	ck_assert(!sns_verify(test_sns_cert, strlen(test_sns_cert), "3", "AAAA", "x", 1));
	ck_assert(!sns_verify(test_sns_cert, strlen(test_sns_cert), "2", "%%%%", "x", 1));
	ck_assert(!sns_verify(test_sns_cert, strlen(test_sns_cert), "2", "", "x", 1));
	ck_assert(!sns_verify("not a certificate", 17, "2", "AAAA", "x", 1));
}
END_TEST

START_TEST(sns_messages_parse_strictly)
{
	struct sns_message m;
	struct strbuf t = STRBUF_INIT;

	ck_assert_int_eq(sns_parse("[]", 2, &m), -1);
	sns_free(&m);
	ck_assert_int_eq(sns_parse("{\"Type\":1}", 10, &m), -1);
	sns_free(&m);
	ck_assert_int_eq(sns_parse("{\"Type\":\"Notification\"", 22, &m), -1);
	sns_free(&m);
	ck_assert_int_eq(sns_parse("{} trailing", 11, &m), -1);
	sns_free(&m);
	/* The signed text: Subject only when present, fields in their order. */
	memset(&m, 0, sizeof(m));
	m.type = "Notification";
	m.message = "M";
	m.message_id = "I";
	m.timestamp = "T";
	m.topic_arn = "A";
	ck_assert_int_eq(sns_string_to_sign(&m, &t), 0);
	ck_assert_str_eq(t.buf, "Message\nM\nMessageId\nI\nTimestamp\nT\nTopicArn\nA\nType\nNotification\n");
	m.subject = "S";
	ck_assert_int_eq(sns_string_to_sign(&m, &t), 0);
	ck_assert_str_eq(t.buf, "Message\nM\nMessageId\nI\nSubject\nS\nTimestamp\nT\nTopicArn\nA\n"
				"Type\nNotification\n");
	m.type = "SubscriptionConfirmation";
	ck_assert_int_eq(sns_string_to_sign(&m, &t), -1); /* no SubscribeURL or Token */
	m.type = "Whatever";
	ck_assert_int_eq(sns_string_to_sign(&m, &t), -1);
	strbuf_free(&t);
}
END_TEST

START_TEST(only_listed_sns_topics_are_taken_when_a_list_is_set)
{
	const char *arn = "arn:aws:sns:us-east-1:123456789012:flowsend-ses";
	ck_assert(sns_topic_allowed("", arn));
	ck_assert(sns_topic_allowed(NULL, arn));
	ck_assert(sns_topic_allowed(arn, arn));
	ck_assert(sns_topic_allowed("arn:aws:sns:eu-west-1:1:other, arn:aws:sns:us-east-1:123456789012:flowsend-ses", arn));
	ck_assert(!sns_topic_allowed("arn:aws:sns:us-east-1:123456789012:flowsend-ses-2", arn));
	ck_assert(!sns_topic_allowed("arn:aws:sns:us-east-1:123456789012:flowsend-se", arn));
	ck_assert(!sns_topic_allowed(arn, ""));
	ck_assert(!sns_topic_allowed(arn, NULL));
	ck_assert(!sns_topic_allowed(",,", arn));
}
END_TEST

START_TEST(only_sns_hosts_are_trusted)
{
	ck_assert(sns_url_ok(CERT_URL, 1));
	ck_assert(sns_url_ok("https://sns.cn-north-1.amazonaws.com.cn/x.pem", 1));
	ck_assert(sns_url_ok("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&T=1", 0));
	ck_assert(!sns_url_ok("https://sns.us-east-1.amazonaws.com/?Action=x.pem", 1));
	ck_assert(!sns_url_ok("http://sns.us-east-1.amazonaws.com/x.pem", 1));
	ck_assert(!sns_url_ok("https://sns.us-east-1.amazonaws.com.evil.example/x.pem", 1));
	ck_assert(!sns_url_ok("https://sns.us-east-1.amazonaws.com:8443/x.pem", 1));
	ck_assert(!sns_url_ok("https://evil.example/sns.us-east-1.amazonaws.com/x.pem", 1));
	ck_assert(!sns_url_ok("https://sns.evil.example/x.pem", 1));
	ck_assert(!sns_url_ok("https://sns..amazonaws.com/x.pem", 1));
	ck_assert(!sns_url_ok("https://sns.us-east-1.amazonaws.com@evil.example/x.pem", 1));
	ck_assert(!sns_url_ok("https://sns.us-east-1.amazonaws.com/x.pem#", 1));
	ck_assert(!sns_url_ok("https://sns.us-east-1.amazonaws.com/x.txt", 1));
	ck_assert(!sns_url_ok("https://sns.us-east-1.amazonaws.com/../x.pem", 1));
	ck_assert(!sns_url_ok("https://sns.US-EAST-1.amazonaws.com/x.pem", 1));
	ck_assert(!sns_url_ok("https://sns.us-east-1.amazonaws.com", 0));
}
END_TEST

START_TEST(ses_events_name_kind_and_message)
{
	struct provider_event ev;

	ck_assert_int_eq(ses_event_parse(ses_bounce, strlen(ses_bounce), &ev), 0);
	ck_assert_int_eq(ev.report.kind, DSN_HARD);
	ck_assert_str_eq(ev.message_id, "<" OUTBOX "@shop.example>");
	ck_assert_str_eq(ev.report.status, "5.1.1");
	ck_assert_str_eq(ev.report.recipient, "ann@example.com");
	ck_assert_str_eq(ev.report.diagnostic, "smtp; 550 5.1.1 no such user");
#define SES(json, want)                                                            \
	do {                                                                       \
		ck_assert_int_eq(ses_event_parse(json, strlen(json), &ev), 0);     \
		ck_assert_int_eq(ev.report.kind, want);                            \
	} while (0)
	SES("{\"eventType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Transient\"}}", DSN_SOFT);
	SES("{\"eventType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Undetermined\"}}", DSN_SOFT);
	SES("{\"notificationType\":\"Complaint\",\"complaint\":{\"complainedRecipients\":"
	    "[{\"emailAddress\":\"b@x.y\"}]},\"mail\":{\"headers\":[{\"name\":\"message-id\","
	    "\"value\":\"<" OUTBOX "@x.y>\"}]}}", DSN_COMPLAINT);
	ck_assert_str_eq(ev.message_id, "<" OUTBOX "@x.y>");
	ck_assert_str_eq(ev.report.recipient, "b@x.y");
	SES("{\"notificationType\":\"Complaint\",\"complaint\":{\"complaintFeedbackType\":"
	    "\"not-spam\"}}", DSN_NONE);
	SES("{\"eventType\":\"DeliveryDelay\"}", DSN_SOFT);
	SES("{\"notificationType\":\"Delivery\"}", DSN_NONE);
	SES("{\"notificationType\":\"Bounce\"}", DSN_NONE); /* no bounce object */
	SES("{\"notificationType\":7,\"mail\":[]}", DSN_NONE);
	ck_assert_int_eq(ses_event_parse("nope", 4, &ev), -1);
	ck_assert_int_eq(ses_event_parse("[1]", 3, &ev), -1);
#undef SES
}
END_TEST

START_TEST(sendgrid_events_verify_and_parse)
{
	const char *body = "[{\"email\":\"ann@example.com\",\"event\":\"bounce\",\"type\":\"bounce\","
			   "\"smtp-id\":\"<" OUTBOX "@shop.example>\",\"status\":\"5.0.0\","
			   "\"reason\":\"550 no\"},{\"event\":\"bounce\",\"type\":\"blocked\"},"
			   "{\"event\":\"spamreport\",\"smtp-id\":\"<x@y>\"},{\"event\":\"deferred\"},"
			   "{\"event\":\"delivered\"},7]";
	char sig[200], data[2048];
	struct provider_event ev[8];
	size_t n;

	snprintf(data, sizeof(data), "1764410400%s", body);
	ck_assert_int_eq(test_sign(test_sendgrid_key, 0, data, strlen(data), sig, sizeof(sig)), 0);
	ck_assert(sendgrid_verify(TEST_SENDGRID_PUBLIC, sig, "1764410400", body, strlen(body)));
	ck_assert(!sendgrid_verify(TEST_SENDGRID_PUBLIC, sig, "1764410401", body, strlen(body)));
	ck_assert(!sendgrid_verify(TEST_SENDGRID_PUBLIC, sig, "1764410400", body, strlen(body) - 1));
	ck_assert(!sendgrid_verify("", sig, "1764410400", body, strlen(body)));
	ck_assert(!sendgrid_verify(TEST_SENDGRID_PUBLIC, NULL, "1764410400", body, strlen(body)));
	ck_assert(!sendgrid_verify(TEST_SENDGRID_PUBLIC, sig, NULL, body, strlen(body)));
	ck_assert(!sendgrid_verify("AAAA", sig, "1764410400", body, strlen(body)));
	ck_assert(!sendgrid_verify(TEST_SENDGRID_PUBLIC, "AAAA", "1764410400", body, strlen(body)));
	ck_assert_int_eq(sendgrid_events_parse(body, strlen(body), ev, 8, &n), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(ev[0].report.kind, DSN_HARD);
	ck_assert_str_eq(ev[0].message_id, "<" OUTBOX "@shop.example>");
	ck_assert_str_eq(ev[0].report.status, "5.0.0");
	ck_assert_int_eq(ev[1].report.kind, DSN_SOFT);
	ck_assert_int_eq(ev[2].report.kind, DSN_COMPLAINT);
	ck_assert_int_eq(ev[3].report.kind, DSN_SOFT);
	ck_assert_int_eq(ev[4].report.kind, DSN_NONE);
	ck_assert_int_eq(sendgrid_events_parse(body, strlen(body), ev, 2, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(sendgrid_events_parse("{}", 2, ev, 8, &n), -1);
}
END_TEST

START_TEST(message_ids_name_outbox_rows)
{
	char id[37];

	ck_assert_int_eq(provider_message_outbox("<" OUTBOX "@shop.example>", id), 0);
	ck_assert_str_eq(id, OUTBOX);
	ck_assert_int_eq(provider_message_outbox("0190AAAA-BBBB-7CCC-8DDD-EEEEEEEEEEEE@x", id), 0);
	ck_assert_str_eq(id, OUTBOX);
	ck_assert_int_eq(provider_message_outbox("<" OUTBOX ">", id), -1);
	ck_assert_int_eq(provider_message_outbox("<0190aaaa@shop.example>", id), -1);
	ck_assert_int_eq(provider_message_outbox("<0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeeg@x>", id), -1);
	ck_assert_int_eq(provider_message_outbox("", id), -1);
	ck_assert_int_eq(provider_message_outbox(NULL, id), -1);
}
END_TEST

Suite *provider_suite(void)
{
	Suite *s = suite_create("provider");
	TCase *tc = tcase_create("provider");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sns_signatures_verify_and_forgeries_do_not);
	tcase_add_test(tc, sns_messages_parse_strictly);
	tcase_add_test(tc, only_sns_hosts_are_trusted);
	tcase_add_test(tc, only_listed_sns_topics_are_taken_when_a_list_is_set);
	tcase_add_test(tc, ses_events_name_kind_and_message);
	tcase_add_test(tc, sendgrid_events_verify_and_parse);
	tcase_add_test(tc, message_ids_name_outbox_rows);
	suite_add_tcase(s, tc);
	return s;
}
