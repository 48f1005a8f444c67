/* modules.c: the one list of modules. Order matters: a module's init may use what the
 * modules before it set up (auth before anything that audits or checks sessions). */
#include "server/server_int.h"

#include "audit/audit.h"
#include "auth/auth.h"
#include "catalog/catalog.h"
#include "events/events.h"
#include "gateway/gateway.h"
#include "sched/sched.h"

const struct module *const server_modules[] = {
    &system_module,  &auth_module, &audit_module, &events_module, &catalog_module,
    &gateway_module, &flow_module, &open_module,  &sched_module,  NULL,
};
