/* main.c: the `shouli` command — subcommands serve, admin, version. The only file that may
 * exit(). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "server/server_int.h"

extern char **environ;

static void usage(FILE *f)
{
	fputs(
	    "usage: shouli <command> [options]\n"
	    "\n"
	    "commands:\n"
	    "  serve    run the application server (--port P --data DIR --db URL --demo ...)\n"
	    "  admin    operator tasks: migrate, audit verify, user create, user reset-password,\n"
	    "           org create, keys rotate (see `shouli admin help`)\n"
	    "  sim      run the simulators of the external systems (--port P --seed N ...,\n"
	    "           see `shouli sim --help`)\n"
	    "  version  print the version\n",
	    f);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "serve"))
		return serve_main(argc - 1, argv + 1, environ);
	if (!strcmp(argv[1], "admin"))
		return admin_main(argc - 1, argv + 1, environ);
	if (!strcmp(argv[1], "sim"))
		return sim_main(argc - 1, argv + 1, environ);
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		puts("shouli " SHOULI_VERSION_STRING);
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "shouli: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
