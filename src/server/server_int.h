/* server_int.h: internals of src/server/ (lifecycle, system routes, CLI). */
#ifndef SHOULI_SERVER_INT_H
#define SHOULI_SERVER_INT_H

#include <stdio.h>

#include "server/server.h"

/* Resolve paths (data dir, database URL, migrations, web root), open the key ring and the
 * database, run migrations and load the data keys. Used by serve and by admin commands.
 * On failure a message for the operator has been printed to stderr. */
enum err server_open(struct server *srv, bool create_data_dir);
/* Start modules, seed demo data when asked, start the hub and HTTP; returns once listening. */
enum err server_start(struct server *srv, FILE *report);
/* Stop HTTP (grace period), hub, modules; close the database and key ring. */
void server_close(struct server *srv);

/* The system module: /healthz, /readyz, /metrics, /api/v1/system/info. */
extern const struct module system_module;

/* `shouli admin ...`; argv[0] is "admin". Returns the process exit code. */
int admin_main(int argc, char **argv, char **envp);
/* `shouli serve ...`; argv[0] is "serve". */
int serve_main(int argc, char **argv, char **envp);
/* `shouli sim ...` (sim_cmd.c); argv[0] is "sim". */
int sim_main(int argc, char **argv, char **envp);

/* WebSocket topic authorisation (ws_topics.c): the scope path of each connected user,
 * remembered at adoption, and the hub's authorizer over it. */
struct ws_scopes;
enum err ws_scopes_create(struct ws_scopes **out);
void ws_scopes_destroy(struct ws_scopes *s);
/* username (may be NULL) lets a terminal's service user ("t-<code>") subscribe to its
 * terminal:<CODE>:<stream> topics. */
void ws_scopes_remember(struct ws_scopes *s, int64_t user_id, const char *path,
                        const char *username);
bool ws_topic_allowed(void *ctx, int64_t user_id, const char *topic);
/* Let user_id subscribe to topic (< 64 bytes, e.g. "session:12:clerk") until until_ms (a
 * time in the past revokes). Per process: a module that grants on several nodes sends the
 * grant over the bus. NULL s is a no-op. */
void ws_scopes_grant(struct ws_scopes *s, int64_t user_id, const char *topic, int64_t until_ms);

/* A path next to the executable: <exe dir>/../<rel> when it exists, else <rel> (relative to
 * the working directory). Heap string. */
char *server_find_path(const char *rel);

#endif
