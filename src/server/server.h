/* server.h: the process state of `shouli serve`, and the module table.
 *
 * One struct server holds everything mutable; it is passed explicitly (req->srv in
 * handlers). There are no other mutable globals. */
#ifndef SHOULI_SERVER_H
#define SHOULI_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "core/config.h"
#include "core/err.h"
#include "http/http.h"

struct db;
struct keyring;
struct ws_hub;
struct event_bus;
struct auth_state;
struct outbox;
struct ws_scopes;
struct catalog_state;
struct sim;
struct sched;
struct gateway_state;
struct gateway_open_state;

struct server {
	struct config cfg;
	char *db_url;         /* resolved database URL */
	char *migrations_dir; /* migrations/ (found next to the binary) */
	char *web_dir;        /* the built web UI */
	struct db *db;
	struct keyring *keys;
	struct http_server *http;
	struct ws_hub *hub;
	struct event_bus *bus;
	struct auth_state *auth;
	struct outbox *outbox;
	struct ws_scopes *ws_scopes;
	struct catalog_state *catalog; /* the published catalog's snapshot (src/catalog/) */
	struct sim *sim;               /* the embedded simulators (serve --with-sim), or NULL */
	struct sched *sched;           /* the scheduler (src/sched/): jobs, claims, runs */
	struct gateway_state *gateway; /* connectors, breakers, call log (src/gateway/) */
	struct gateway_open_state *gateway_open; /* open APIs: nonces, rate buckets */
	struct cases_state *cases;               /* cases (src/cases/): calendar, catalog docs */
	struct queue_hooks *queue_hooks;         /* queue's after-commit hooks (queue_hook_on) */
	int64_t started_ms;
	atomic_bool stopping;
};

/* A module: a name, optional init/release, its route table. Modules are listed once in
 * modules.c; `serve --modules a,b` runs a subset. */
struct module {
	const char *name;
	enum err (*init)(struct server *srv);
	void (*release)(struct server *srv);
	const struct route *routes;
	size_t nroutes;
};

/* The module table (NULL-terminated). */
extern const struct module *const server_modules[];

#endif
