/* Runs every end-to-end suite against the instance scripts/test.sh started. */
#include <curl/curl.h>
#include <stdlib.h>

#include "core/log.h"
#include "e2e.h"

int main(void)
{
	SRunner *sr;
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	log_setup("e2e", LOG_WARN);
	sr = srunner_create(health_suite());
	srunner_add_suite(sr, accounts_suite());
	srunner_add_suite(sr, login_guard_suite());
	srunner_add_suite(sr, logs_suite());
	srunner_add_suite(sr, contacts_suite());
	srunner_add_suite(sr, lists_suite());
	srunner_add_suite(sr, transfer_suite());
	srunner_add_suite(sr, openapi_suite());
	srunner_add_suite(sr, errors_suite());
	srunner_add_suite(sr, database_suite());
	srunner_add_suite(sr, templates_suite());
	srunner_add_suite(sr, campaigns_suite());
	srunner_add_suite(sr, security_suite());
	srunner_add_suite(sr, services_suite());
	srunner_add_suite(sr, edge_suite());
	srunner_add_suite(sr, concurrency_suite());
	srunner_add_suite(sr, delivery_suite());
	srunner_add_suite(sr, unsubscribe_suite());
	srunner_add_suite(sr, domains_suite());
	srunner_add_suite(sr, tracking_suite());
	srunner_add_suite(sr, bounces_suite());
	srunner_add_suite(sr, review_suite());
	srunner_add_suite(sr, flow_engine_suite());
	srunner_add_suite(sr, flows_suite());
	srunner_add_suite(sr, outbound_webhooks_suite());
	srunner_add_suite(sr, forms_suite());
	srunner_add_suite(sr, billing_suite());
	srunner_add_suite(sr, analytics_suite());
	srunner_add_suite(sr, stripe_suite());
	srunner_add_suite(sr, queue_plans_suite());
	srunner_add_suite(sr, batched_creates_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
