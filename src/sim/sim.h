/* sim.h: `shouli sim` — the simulators of the external systems (社保, 医保, 民政中台, 公安,
 * 税务, 残联, 办件库, 大数据中心, 电子档案, 政务地图, video), one HTTP server on loopback.
 *
 * The simulators answer as the real systems would: they check the credentials the connectors
 * in gateway/connectors/ present, validate requests with the systems' own error codes, draw
 * residents, households and certificates from a deterministic population (same seed, same
 * people), keep submitted applications in memory (a department case number at once, a
 * decision later or on demand), and inject faults per path prefix (latency, error rate,
 * timeouts, downtime windows) with randomness drawn from the seed. Fixed answers
 * (sim/scenarios/ — JSON files in the mock format of docs/gateway.md) are matched before any of
 * that.
 *
 * The process state is one struct sim: a standalone `shouli sim` owns it, `serve --with-sim`
 * embeds one next to the application server (its own HTTP daemon on its own port). Nothing
 * here touches a database. */
#ifndef SHOULI_SIM_H
#define SHOULI_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

struct sim;

struct sim_config {
	const char *bind;           /* listen address; loopback only (default 127.0.0.1) */
	int port;                   /* 0 = any free port (see sim_port) */
	uint64_t seed;              /* population and fault randomness (default 1) */
	const char *scenarios_dir;  /* *.json fixed answers loaded at start; NULL = none */
	const char *connectors_dir; /* gateway/connectors: method paths and credentials; NULL = none
	                               (then every system accepts calls without credentials) */
	int households;            /* population size in households (default 1200, ~3,000 people) */
	int64_t decision_delay_ms; /* a submitted application is decided this long after it
	                              arrives; 0 = only on POST /sim/<sys>/applications/{no}/decide
	                              (default 60000) */
	int64_t evoucher_ttl_ms; /* medical e-voucher QR tokens expire after this (default 60000) */
	int64_t token_ttl_s;     /* access tokens of token-auth systems (default 7200) */
	bool auth;               /* check credentials (default true) */
	int threads;             /* HTTP I/O threads (default 2) */
	int workers;             /* handler threads: injected delays hold one each (default 32) */
};

/* Defaults as documented above (strings are static). */
void sim_config_defaults(struct sim_config *c);

/* Build the population, read the connector files and scenarios, prepare the routes. The
 * strings of cfg are copied. ERR_CONFIG (logged) when a scenario or connector file is
 * malformed; ERR_NOMEM. *out is the caller's, for sim_destroy. */
enum err sim_create(const struct sim_config *cfg, struct sim **out);
/* Listen. ERR_UNAVAILABLE when the port cannot be bound. */
enum err sim_start(struct sim *s);
/* The port listened on (after sim_start). */
int sim_port(const struct sim *s);
/* Stop listening (requests held by injected delays are released at once) and free
 * everything. NULL is allowed. */
void sim_destroy(struct sim *s);

#endif
