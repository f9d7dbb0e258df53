/* One Check suite per library module; main.c runs them all. */
#ifndef FS_UNIT_H
#define FS_UNIT_H

#include <check.h>

Suite *arena_suite(void);
Suite *strbuf_suite(void);
Suite *utf8_suite(void);
Suite *log_suite(void);
Suite *redis_suite(void);
Suite *json_suite(void);
Suite *request_suite(void);
Suite *router_suite(void);
Suite *config_suite(void);
Suite *dispatch_suite(void);
Suite *accounts_unit_suite(void);
Suite *segments_suite(void);
Suite *contacts_unit_suite(void);
Suite *csv_suite(void);
Suite *template_suite(void);
Suite *clock_suite(void);
Suite *edge_suite(void);
Suite *smtp_suite(void);
Suite *message_suite(void);
Suite *dkim_suite(void);
Suite *domains_unit_suite(void);
Suite *tracking_suite(void);
Suite *dsn_suite(void);
Suite *provider_suite(void);
Suite *flow_steps_suite(void);
Suite *net_suite(void);
Suite *form_suite(void);
Suite *flow_engine_unit_suite(void);
Suite *billing_unit_suite(void);
Suite *stripe_api_suite(void);
Suite *shm_batch_suite(void);

#endif
