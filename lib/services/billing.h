/* Billing: the caller's effective plan and the rules that bind it (past due,
 * flow activations), checkout, portal and subscription views (mock mode
 * without STRIPE_SECRET_KEY), the Stripe webhook, and GET /usage. One period
 * everywhere: the UTC calendar month. */
#ifndef FS_BILLING_H
#define FS_BILLING_H

#include <json-c/json.h>
#include <stddef.h>

#include "core/env.h"
#include "core/status.h"
#include "models/plan.h"

struct fs_db;

/* The plan the caller's limits come from: users.plan as authentication read
 * it (a downgrade or a cancellation rewrites users.plan; past_due keeps the
 * plan but refuses sends, see billing_send_allowed). Never NULL. */
const struct plan *billing_plan(const struct fs_env *env);
/* 1 when the caller may use the API with this credential: a dashboard JWT,
 * a platform key, or a user-created key on a plan with api_access. */
int billing_api_access(const struct fs_env *env);
/* Whether user_id may start a send (campaign send or schedule, test send,
 * flow email): FS_OK, or FS_BAD_REQUEST "Payment past due" while a
 * subscription is past_due. Runs in db's open transaction, tenant or system
 * role alike. */
enum fs_status billing_send_allowed(struct fs_db *db, struct arena *a, const char *user_id,
				    struct fs_error *err);
/* Whether user_id may queue `adding` more emails this UTC month on plan (the
 * flows engine's check; campaigns have their own wording): takes the same
 * per-tenant lock as a campaign send for the rest of db's open transaction,
 * then FS_OK or FS_BAD_REQUEST "Monthly email limit reached for your plan".
 * Call it before inserting the outbox rows. */
enum fs_status billing_email_quota(struct fs_db *db, struct arena *a, const char *user_id,
				   const struct plan *plan, long long adding, struct fs_error *err);
/* In the caller's open tenant transaction, before a flow becomes active:
 * serialises the tenant's activations and checks the active-flow counter
 * against the plan: FS_OK or FS_BAD_REQUEST "Active flow limit reached for
 * your plan". */
enum fs_status billing_flow_activation_allowed(struct fs_env *env, struct fs_error *err);

/* POST /billing/checkout for tier (validated by the caller, not "free"):
 * {checkout_url, session_id}. Mock mode activates the subscription for 30
 * days at once. */
enum fs_status billing_checkout(struct fs_env *env, const char *tier, json_object **out,
				struct fs_error *err);
enum fs_status billing_portal(struct fs_env *env, json_object **out, struct fs_error *err);
/* The live subscription (trialing, active, past_due), or *out NULL. */
enum fs_status billing_current(struct fs_env *env, json_object **out, struct fs_error *err);
enum fs_status billing_overview(struct fs_env *env, json_object **out, struct fs_error *err);
/* {plan, period_start, period_end, metrics:[{name, label, used, limit}]}. */
enum fs_status billing_usage(struct fs_env *env, json_object **out, struct fs_error *err);

/* POST /webhooks/stripe: verify signature (the Stripe-Signature header, may
 * be NULL) over body, apply the event once (by its id) to the tenant it
 * names; *out {status:"ok", ...}. FS_BAD_REQUEST "Invalid webhook signature"
 * or "Invalid JSON payload". */
enum fs_status billing_stripe_event(struct fs_env *env, const char *signature, const char *body,
				    size_t len, json_object **out, struct fs_error *err);

#endif
