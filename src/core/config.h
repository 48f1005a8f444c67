/* config.h: process configuration.
 *
 * Precedence, lowest first: built-in defaults, the config file (key = value lines, '#'
 * comments; given by --config or SHOULI_CONFIG, else <data>/shouli.conf when it exists),
 * SHOULI_<KEY> environment variables (key upper-cased, '-' and '.' as '_'), then command-line
 * flags (--key value or --key=value; booleans also as a bare --key). Every key is declared
 * once in the table in config.c, with its type and range. */
#ifndef SHOULI_CONFIG_H
#define SHOULI_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

struct config {
	char *bind;             /* listen address, default 127.0.0.1 */
	int64_t port;           /* 8080 */
	char *data_dir;         /* ./data */
	char *db;               /* sqlite:<data>/shouli.db when empty, or postgres:CONNINFO */
	char *web_dir;          /* web/dist */
	bool demo;              /* initialise a new data dir with demo data */
	char *log_level;        /* info */
	int64_t threads;        /* HTTP thread pool size */
	int64_t workers;        /* slow-route worker pool size */
	int64_t db_pool;        /* database connections */
	int64_t body_max;       /* JSON body cap, bytes */
	int64_t upload_max;     /* upload body cap, bytes */
	int64_t file_max_bytes; /* largest file the file store accepts, bytes (20 MiB) */
	int64_t conn_limit;     /* most simultaneous HTTP connections */
	int64_t conn_memory;    /* per-connection memory limit, bytes */
	int64_t session_idle_s;
	int64_t session_abs_s;
	int64_t session_cache_s; /* principal cache TTL; 0 = no cache */
	int64_t pbkdf2_iter;     /* password hashing cost */
	int64_t login_max_fail;  /* failures before lockout */
	int64_t lockout_s;       /* lockout duration */
	int64_t password_max_age_days;
	int64_t ws_max;       /* most WebSocket connections */
	int64_t ws_queue_max; /* per-connection send queue cap, bytes */
	char *modules;        /* comma list; empty = all */
	bool with_sim;
	char
	    *sim_url;     /* base URL of the external-system simulators ({{sim}} in connectors);
	                     empty = the embedded simulator when with_sim, else http://127.0.0.1:8090 */
	int64_t sim_port; /* port of the embedded simulator (0 = any free port) */
	char *ident_reader_flags; /* card reader type flag → document type ("0=111,1=PR2017,…") */
	bool accept_requires_signature; /* acceptance needs the signed application form (true) */
	int64_t vwin_heartbeat_s;       /* terminals' heartbeat interval (20); 3 missed = offline */
	int64_t terminal_session_s;     /* lifetime of a terminal's device session (12 h) */
};

/* Fill c with defaults. Strings are heap copies owned by c. */
void config_defaults(struct config *c);
void config_release(struct config *c);

/* Apply one key. Unknown keys, bad values and out-of-range numbers fail with a message
 * naming the key written into msg (msgsz bytes). source is "file", "env" or "flag". */
enum err config_set(struct config *c, const char *key, const char *value, char *msg, size_t msgsz);

/* Load a config file into c. A missing file is an error only when required. */
enum err config_load_file(struct config *c, const char *path, bool required, char *msg,
                          size_t msgsz);
/* Apply SHOULI_* variables from envp (NULL-terminated, as environ). */
enum err config_load_env(struct config *c, char **envp, char *msg, size_t msgsz);

/* Full resolution for a subcommand: defaults, file, env, flags (argv[0] is not a flag).
 * Positional arguments are returned in *rest (argv order, pointers into argv) and counted in
 * *nrest; pass rest = NULL to reject them. */
enum err config_resolve(struct config *c, int argc, char **argv, char **envp, char **rest,
                        int *nrest, char *msg, size_t msgsz);

#endif
