/* modules.c: the one list of modules. Order matters: a module's init may use what the
 * modules before it set up (auth before anything that audits or checks sessions). */
#include "server/server_int.h"

#include "archive/archive.h"
#include "audit/audit.h"
#include "auth/auth.h"
#include "cases/cases.h"
#include "catalog/catalog.h"
#include "events/events.h"
#include "files/files.h"
#include "forms/forms.h"
#include "gateway/gateway.h"
#include "ident/ident.h"
#include "queue/queue.h"
#include "sched/sched.h"
#include "sign/sign.h"
#include "vwin/vwin.h"

const struct module *const server_modules[] = {
    &system_module,
    &auth_module,
    &audit_module,
    &events_module,
    &catalog_module,
    &gateway_module,
    &flow_module,
    &open_module,
    &sched_module,
    &files_module,
    &ident_module,
    &cases_module,
    &cases_materials_module,
    &cases_prefill_module,
    &forms_module,
    &archive_module,
    &sign_module,
    &queue_module,
    &vwin_module,
    &vwin_session_module,
    NULL,
};
