/* Runs every unit suite; exits non-zero when any test fails. */
#include <stdlib.h>

#include "unit.h"

int main(void)
{
	SRunner *sr = srunner_create(arena_suite());
	int failed;

	srunner_add_suite(sr, strbuf_suite());
	srunner_add_suite(sr, utf8_suite());
	srunner_add_suite(sr, log_suite());
	srunner_add_suite(sr, redis_suite());
	srunner_add_suite(sr, json_suite());
	srunner_add_suite(sr, request_suite());
	srunner_add_suite(sr, router_suite());
	srunner_add_suite(sr, config_suite());
	srunner_add_suite(sr, dispatch_suite());
	srunner_add_suite(sr, accounts_unit_suite());
	srunner_add_suite(sr, segments_suite());
	srunner_add_suite(sr, contacts_unit_suite());
	srunner_add_suite(sr, csv_suite());
	srunner_add_suite(sr, template_suite());
	srunner_add_suite(sr, clock_suite());
	srunner_add_suite(sr, edge_suite());
	srunner_add_suite(sr, smtp_suite());
	srunner_add_suite(sr, message_suite());
	srunner_add_suite(sr, dkim_suite());
	srunner_add_suite(sr, domains_unit_suite());
	srunner_add_suite(sr, tracking_suite());
	srunner_add_suite(sr, dsn_suite());
	srunner_add_suite(sr, provider_suite());
	srunner_add_suite(sr, flow_steps_suite());
	srunner_add_suite(sr, net_suite());
	srunner_add_suite(sr, form_suite());
	srunner_add_suite(sr, flow_engine_unit_suite());
	srunner_add_suite(sr, billing_unit_suite());
	srunner_add_suite(sr, stripe_api_suite());
	srunner_add_suite(sr, shm_batch_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
