/* serve.c: `shouli serve` — start everything, wait for SIGTERM/SIGINT, stop gracefully. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "server/server_int.h"

int serve_main(int argc, char **argv, char **envp)
{
	struct server srv;
	char msg[512] = "";
	int rc = 1;
	memset(&srv, 0, sizeof(srv));
	config_defaults(&srv.cfg);
	if (config_resolve(&srv.cfg, argc, argv, envp, NULL, NULL, msg, sizeof(msg))) {
		fprintf(stderr, "shouli serve: %s\n", msg);
		config_release(&srv.cfg);
		return 2;
	}
	int lvl = log_level_parse(srv.cfg.log_level);
	log_setup(lvl < 0 ? LOG_INFO : (enum log_level)lvl, stderr);

	/* Block the stop signals in every thread; this one waits for them below. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);

	if (server_open(&srv, true) || server_start(&srv, stdout))
		goto out;
	fflush(stdout);
	int sig = 0;
	sigwait(&stop, &sig);
	log_info("server.stop", "signal %d: stopping (finishing requests in flight)", sig);
	atomic_store(&srv.stopping, true);
	rc = 0;
out:
	server_close(&srv);
	config_release(&srv.cfg);
	if (rc == 0)
		log_info("server.stopped", "stopped cleanly");
	return rc;
}
