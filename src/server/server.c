/* server.c: opening and closing the process state of `shouli serve` and `shouli admin`. */
#include "server/server_int.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "events/events.h"
#include "gateway/gateway.h"
#include "queue/queue.h"
#include "vwin/vwin.h"
#include "sched/sched.h"
#include "sim/sim.h"
#include "ws/ws.h"

char *server_find_path(const char *rel)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			char *cand = NULL;
			struct stat st;
			if (asprintf(&cand, "%s/../%s", exe, rel) >= 0) {
				if (stat(cand, &st) == 0) {
					char *real = realpath(cand, NULL);
					free(cand);
					if (real)
						return real;
				} else {
					free(cand);
				}
			}
		}
	}
	return strdup(rel);
}

static int mkdir_p(const char *dir, mode_t mode)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

static enum err load_data_keys(struct server *srv)
{
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *rows = NULL;
	struct buf wrapped;
	arena_init(&a, 0);
	buf_init(&wrapped, 4096);
	enum err e = db_acquire(srv->db, 5000, &c);
	if (e)
		goto out;
	e = db_exec(c, &a, &rows, "SELECT id, wrapped, active FROM data_keys ORDER BY id", "");
	if (e)
		goto out;
	for (int i = 0; i < rows->nrows; i++) {
		const struct db_val *w = db_cell(rows, i, 1);
		e = keyring_add_wrapped(srv->keys, (uint32_t)db_int(rows, i, 0), w->p, w->n,
		                        db_int(rows, i, 2) != 0);
		if (e) {
			log_error("keys.load",
			          "data key %lld cannot be unwrapped with this master key",
			          (long long)db_int(rows, i, 0));
			goto out;
		}
	}
	if (rows->nrows == 0) {
		uint32_t id;
		if ((e = keyring_new_data_key(srv->keys, &id, &wrapped)))
			goto out;
		if ((e = db_begin_write(c)))
			goto out;
		e = db_exec(
		    c, &a, NULL,
		    "INSERT INTO data_keys (id, wrapped, active, created_at) VALUES (?, ?, 1, ?)",
		    "ibi", (int64_t)id, wrapped.p, wrapped.len, time_now_ms());
		if (!e)
			e = db_commit(c);
		if (e)
			goto out;
		log_info("keys.created", "first data key %u created", id);
	}
out:
	if (c)
		db_release(c);
	buf_release(&wrapped);
	arena_release(&a);
	return e;
}

enum err server_open(struct server *srv, bool create_data_dir)
{
	char msg[512] = "";
	enum err e;
	srv->started_ms = time_now_ms();
	if (create_data_dir && mkdir_p(srv->cfg.data_dir, 0700) != 0) {
		fprintf(stderr, "shouli: cannot create data directory %s: %s\n", srv->cfg.data_dir,
		        strerror(errno));
		return ERR_IO;
	}
	struct stat st;
	if (stat(srv->cfg.data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "shouli: data directory %s does not exist\n", srv->cfg.data_dir);
		return ERR_IO;
	}
	if ((e = crypto_init())) {
		fprintf(stderr, "shouli: cryptography library initialisation failed\n");
		return e;
	}
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/keys", srv->cfg.data_dir);
	if (mkdir_p(path, 0700) != 0) {
		fprintf(stderr, "shouli: cannot create %s: %s\n", path, strerror(errno));
		return ERR_IO;
	}
	snprintf(path, sizeof(path), "%s/keys/master.key", srv->cfg.data_dir);
	if ((e = keyring_open_file(path, true, &srv->keys))) {
		fprintf(stderr, "shouli: cannot open the master key %s (%s)\n", path, err_code(e));
		return e;
	}
	if (srv->cfg.db && srv->cfg.db[0]) {
		srv->db_url = strdup(srv->cfg.db);
	} else if (asprintf(&srv->db_url, "sqlite:%s/shouli.db", srv->cfg.data_dir) < 0) {
		srv->db_url = NULL;
	}
	srv->migrations_dir = server_find_path("migrations");
	if (!srv->db_url || !srv->migrations_dir)
		return ERR_NOMEM;
	if ((e = db_open(srv->db_url, (int)srv->cfg.db_pool, &srv->db, msg, sizeof(msg)))) {
		fprintf(stderr, "shouli: cannot open the database: %s\n", msg);
		return e;
	}
	if ((e = db_migrate(srv->db, srv->migrations_dir, msg, sizeof(msg)))) {
		fprintf(stderr, "shouli: schema migration failed: %s\n", msg);
		return e;
	}
	if ((e = load_data_keys(srv))) {
		fprintf(stderr, "shouli: cannot load data keys (%s)\n", err_code(e));
		return e;
	}
	return ERR_OK;
}

static bool module_enabled(const struct server *srv, const char *name)
{
	const char *list = srv->cfg.modules;
	if (!list || !list[0] || !strcmp(name, "system"))
		return true;
	size_t n = strlen(name);
	for (const char *p = list; *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && !strncmp(p, name, n))
			return true;
		p += len + (comma ? 1 : 0);
	}
	return false;
}

/* Bus → hub: every domain event published on the bus reaches WebSocket subscribers. */
static void bus_to_hub(void *ctx, const char *topic, const char *json)
{
	struct server *srv = ctx;
	if (srv->hub)
		ws_hub_publish(srv->hub, topic, json, strlen(json));
}

static enum err adopt_ws(void *ctx, const struct principal *who, int fd, const void *pre,
                         size_t pre_n, void (*done)(void *), void *arg)
{
	struct server *srv = ctx;
	ws_scopes_remember(srv->ws_scopes, who->user_id, who->scope_path, who->username);
	return ws_hub_adopt_ex(srv->hub, fd, who->user_id, who->username, pre, pre_n, done, arg);
}

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* serve --with-sim: the simulators on their own port (sim_port, 0 = any), started before
 * the modules so that connectors resolve {{sim}} to them (cfg.sim_url, unless set). */
static enum err start_sim(struct server *srv)
{
	struct sim_config sc;
	sim_config_defaults(&sc);
	sc.bind = "127.0.0.1";
	sc.port = (int)srv->cfg.sim_port;
	char *scen = server_find_path("sim/scenarios");
	char *conns = server_find_path("gateway/connectors");
	sc.scenarios_dir = scen;
	sc.connectors_dir = conns;
	enum err e = scen && conns ? sim_create(&sc, &srv->sim) : ERR_NOMEM;
	free(scen);
	free(conns);
	if (!e)
		e = sim_start(srv->sim);
	if (!e && (!srv->cfg.sim_url || !srv->cfg.sim_url[0])) {
		char *url = NULL;
		if (asprintf(&url, "http://127.0.0.1:%d", sim_port(srv->sim)) < 0)
			return ERR_NOMEM;
		free(srv->cfg.sim_url);
		srv->cfg.sim_url = url;
	}
	if (e)
		log_error("sim.start", "the embedded simulators could not start (%s)", err_code(e));
	return e;
}

enum err server_start(struct server *srv, FILE *report)
{
	enum err e;
	raise_fd_limit();
	if (srv->cfg.with_sim && (e = start_sim(srv)))
		return e;
	if ((e = event_bus_create(&srv->bus)))
		return e;
	for (const struct module *const *mp = server_modules; *mp; mp++) {
		const struct module *m = *mp;
		if (!module_enabled(srv, m->name) || !m->init)
			continue;
		if ((e = m->init(srv))) {
			log_error("module.init", "module %s failed to start (%s)", m->name,
			          err_code(e));
			return e;
		}
	}
	if (srv->cfg.demo &&
	    ((e = auth_seed_demo(srv, report)) ||
	     (module_enabled(srv, "queue") && (e = queue_seed_demo(srv, report))) ||
	     (module_enabled(srv, "vwin") && (e = vwin_seed_demo(srv, report))))) {
		log_error("demo.seed", "demo data could not be created (%s)", err_code(e));
		return e;
	}
	struct ws_hub_config wc = {
	    .max_conns = (int)srv->cfg.ws_max,
	    .queue_max = (size_t)srv->cfg.ws_queue_max,
	    .ping_interval_s = 30,
	    .idle_timeout_s = 90,
	    .max_message = 64 * 1024,
	};
	if ((e = ws_scopes_create(&srv->ws_scopes)) || (e = ws_hub_create(&wc, &srv->hub)))
		return e;
	ws_hub_set_authorizer(srv->hub, ws_topic_allowed, srv->ws_scopes);
	if ((e = event_bus_subscribe(srv->bus, "", bus_to_hub, srv)))
		return e;

	char *web = NULL;
	struct stat st;
	if (srv->cfg.web_dir[0] == '/' || stat(srv->cfg.web_dir, &st) == 0)
		web = strdup(srv->cfg.web_dir);
	else
		web = server_find_path(srv->cfg.web_dir);
	if (!web)
		return ERR_NOMEM;
	if (stat(web, &st) != 0)
		log_warn("http.static", "web UI directory %s not found: run `make web`", web);
	struct http_config hc = {
	    .bind = srv->cfg.bind,
	    .port = (int)srv->cfg.port,
	    .threads = (int)srv->cfg.threads,
	    .workers = (int)srv->cfg.workers,
	    .body_max = (size_t)srv->cfg.body_max,
	    .upload_max = (size_t)srv->cfg.upload_max,
	    .conn_limit = (unsigned)srv->cfg.conn_limit,
	    .conn_memory = (size_t)srv->cfg.conn_memory,
	    .web_dir = web,
	};
	srv->web_dir = web;
	if ((e = http_create(&hc, srv, &srv->http)))
		return e;
	for (const struct module *const *mp = server_modules; *mp; mp++)
		if (module_enabled(srv, (*mp)->name) && (*mp)->nroutes &&
		    (e = http_add_routes(srv->http, (*mp)->routes, (*mp)->nroutes)))
			return e;
	struct http_hooks hooks = {.ctx = srv,
	                           .authenticate = auth_authenticate,
	                           .ws_adopt = adopt_ws,
	                           .authenticate_open = gateway_open_authenticate};
	http_set_hooks(srv->http, &hooks);
	if ((e = http_start(srv->http)))
		return e;
	json_t *f = json_pack("{s:s,s:i,s:s}", "bind", srv->cfg.bind, "port", http_port(srv->http),
	                      "db", db_engine(srv->db));
	log_event(LOG_INFO, "http.listen", f, "listening on http://%s:%d/", srv->cfg.bind,
	          http_port(srv->http));
	/* A demo needs residents with real-looking documents: the simulators have them. */
	if (report && srv->cfg.demo && srv->sim) {
		fprintf(report,
		        "模拟外部系统：%s（居民样本：%s/sim/"
		        "people?min_age=65&limit=5；窗口受理可用模拟读卡："
		        "http://%s:%d/console/accept?reader=sim）\n",
		        srv->cfg.sim_url, srv->cfg.sim_url, srv->cfg.bind, http_port(srv->http));
		fflush(report);
	}
	return ERR_OK;
}

void server_close(struct server *srv)
{
	if (srv->http)
		http_stop(srv->http, 10000);
	/* Scheduled jobs may enqueue to the outbox and publish to the bus: stop them first
	 * (runs in progress are cancelled, waited for and recorded). */
	sched_stop(srv->sched);
	/* Workers may still publish to the bus (and so the hub): stop them first. */
	if (srv->outbox)
		outbox_stop(srv->outbox);
	if (srv->hub)
		ws_hub_destroy(srv->hub);
	srv->hub = NULL;
	ws_scopes_destroy(srv->ws_scopes);
	srv->ws_scopes = NULL;
	if (srv->http)
		http_destroy(srv->http);
	srv->http = NULL;
	for (const struct module *const *mp = server_modules; *mp; mp++)
		if ((*mp)->release && module_enabled(srv, (*mp)->name))
			(*mp)->release(srv);
	sched_destroy(srv->sched);
	srv->sched = NULL;
	/* after the modules: a flow in flight may still be calling the simulators */
	sim_destroy(srv->sim);
	srv->sim = NULL;
	if (srv->bus)
		event_bus_destroy(srv->bus);
	srv->bus = NULL;
	if (srv->db)
		db_close(srv->db);
	srv->db = NULL;
	if (srv->keys)
		keyring_destroy(srv->keys);
	srv->keys = NULL;
	free(srv->db_url);
	free(srv->migrations_dir);
	free(srv->web_dir);
	srv->db_url = srv->migrations_dir = srv->web_dir = NULL;
}
