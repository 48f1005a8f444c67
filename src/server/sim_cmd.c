/* sim_cmd.c: `shouli sim` — run the simulators of the external systems on their own (see
 * src/sim/sim.h), until SIGTERM/SIGINT. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"
#include "server/server_int.h"
#include "sim/sim.h"

static void usage(FILE *f)
{
	fputs("usage: shouli sim [options]\n"
	      "\n"
	      "  --port P               listen port (default 8090; 0 = any free port)\n"
	      "  --bind ADDR            listen address (default 127.0.0.1)\n"
	      "  --seed N               population and fault randomness (default 1)\n"
	      "  --households N         population size in households (default 1200)\n"
	      "  --scenarios DIR        fixed answers, *.json in the mock format (default "
	      "sim/scenarios)\n"
	      "  --connectors DIR       connector documents: credentials and method paths\n"
	      "                         (default gateway/connectors)\n"
	      "  --decision-delay-ms N  applications are decided after N ms (default 60000; 0 = "
	      "only\n"
	      "                         on POST /sim/<sys>/applications/<no>/decide)\n"
	      "  --evoucher-ttl-ms N    medical e-voucher lifetime (default 60000)\n"
	      "  --no-auth              accept calls without credentials\n"
	      "  --workers N            handler threads (default 32)\n"
	      "  --log-level L          debug, info, warn, error (default info)\n",
	      f);
}

/* "--key value" or "--key=value": the value, advancing *i; NULL when missing. */
static const char *value_of(int argc, char **argv, int *i, const char *key)
{
	const char *a = argv[*i];
	size_t n = strlen(key);
	if (strncmp(a, key, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] == 0 && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

static bool is_flag(const char *a, const char *key)
{
	size_t n = strlen(key);
	return !strncmp(a, key, n) && (a[n] == 0 || a[n] == '=');
}

int sim_main(int argc, char **argv, char **envp)
{
	struct sim_config cfg;
	sim_config_defaults(&cfg);
	const char *level = "info";
	char *scen = NULL, *conns = NULL;
	int rc = 2;
	(void)envp;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		int64_t n;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			rc = 0;
			goto out;
		}
		if (!strcmp(a, "--no-auth")) {
			cfg.auth = false;
			continue;
		}
		static const struct {
			const char *key;
			int64_t min, max;
		} nums[] = {{"--port", 0, 65535},
		            {"--seed", 0, INT64_MAX},
		            {"--households", 1, 100000},
		            {"--decision-delay-ms", 0, 86400000},
		            {"--evoucher-ttl-ms", 1000, 86400000},
		            {"--workers", 1, 1024}};
		bool done = false;
		for (size_t k = 0; k < sizeof(nums) / sizeof(nums[0]) && !done; k++) {
			if (!is_flag(a, nums[k].key))
				continue;
			v = value_of(argc, argv, &i, nums[k].key);
			if (!v || !cstr_to_i64(v, nums[k].min, nums[k].max, &n)) {
				fprintf(stderr, "shouli sim: %s needs a number from %lld to %lld\n",
				        nums[k].key, (long long)nums[k].min,
				        (long long)nums[k].max);
				goto out;
			}
			switch (k) {
			case 0: cfg.port = (int)n; break;
			case 1: cfg.seed = (uint64_t)n; break;
			case 2: cfg.households = (int)n; break;
			case 3: cfg.decision_delay_ms = n; break;
			case 4: cfg.evoucher_ttl_ms = n; break;
			default: cfg.workers = (int)n; break;
			}
			done = true;
		}
		if (done)
			continue;
		if (is_flag(a, "--bind") && (v = value_of(argc, argv, &i, "--bind"))) {
			cfg.bind = v;
		} else if (is_flag(a, "--scenarios") &&
		           (v = value_of(argc, argv, &i, "--scenarios"))) {
			cfg.scenarios_dir = v;
		} else if (is_flag(a, "--connectors") &&
		           (v = value_of(argc, argv, &i, "--connectors"))) {
			cfg.connectors_dir = v;
		} else if (is_flag(a, "--log-level") &&
		           (v = value_of(argc, argv, &i, "--log-level"))) {
			level = v;
		} else {
			fprintf(stderr, "shouli sim: unknown or incomplete option '%s'\n", a);
			usage(stderr);
			goto out;
		}
	}
	int lvl = log_level_parse(level);
	if (lvl < 0) {
		fprintf(stderr, "shouli sim: unknown log level '%s'\n", level);
		goto out;
	}
	log_setup((enum log_level)lvl, stderr);
	if (!cfg.scenarios_dir)
		cfg.scenarios_dir = scen = server_find_path("sim/scenarios");
	if (!cfg.connectors_dir)
		cfg.connectors_dir = conns = server_find_path("gateway/connectors");

	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);

	struct sim *s = NULL;
	rc = 1;
	if (sim_create(&cfg, &s) || sim_start(s)) {
		fprintf(stderr, "shouli sim: cannot start (see the log above)\n");
		sim_destroy(s);
		goto out;
	}
	printf("shouli sim listening on http://%s:%d/\n", cfg.bind, sim_port(s));
	fflush(stdout);
	int sig = 0;
	sigwait(&stop, &sig);
	log_info("sim.stop", "signal %d: stopping", sig);
	sim_destroy(s);
	rc = 0;
out:
	free(scen);
	free(conns);
	return rc;
}
