/* system.c: the system module — liveness, readiness, metrics, build information. */
#include "server/server_int.h"

#include "cases/cases.h"

#include "audit/audit.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "events/events.h"
#include "gateway/gateway.h"
#include "ws/ws.h"

#ifndef SHOULI_VERSION
#define SHOULI_VERSION "dev"
#endif
#ifndef SHOULI_GIT
#define SHOULI_GIT "unknown"
#endif

static enum err healthz(struct req *r, struct resp *w)
{
	resp_json(w, 200, json_pack("{s:s}", "status", "ok"));
	return ERR_OK;
}

/* Ready when the database answers and every migration shipped with this binary is applied. */
static enum err readyz(struct req *r, struct resp *w)
{
	struct server *srv = r->srv;
	int pending = -1;
	enum err dbe = db_ping(srv->db);
	enum err me = dbe ? dbe : db_pending_migrations(srv->db, srv->migrations_dir, &pending);
	bool ready = !dbe && !me && pending == 0 && !atomic_load(&srv->stopping);
	json_t *body = json_pack("{s:s,s:{s:s,s:s},s:i}", "status", ready ? "ready" : "not_ready",
	                         "checks", "database", dbe ? "unreachable" : "ok", "migrations",
	                         me ? "unknown" : (pending ? "pending" : "current"),
	                         "pending_migrations", pending);
	/* Warnings do not make the node unready: it serves, but someone should act. */
	json_t *warnings = json_array();
	json_t *years = cases_calendar_missing_years(srv);
	size_t i;
	json_t *y;
	json_array_foreach (years, i, y) {
		char msg[200];
		snprintf(msg, sizeof(msg),
		         "%lld 年的节假日安排尚未录入工作日历（calendar/%lld.json 或 PUT "
		         "/api/v1/admin/calendar），该年的承诺办结日期只扣除周末",
		         (long long)json_integer_value(y), (long long)json_integer_value(y));
		json_array_append_new(warnings, json_string(msg));
	}
	json_decref(years);
	json_object_set_new(body, "warnings", warnings);
	resp_json(w, ready ? 200 : 503, body);
	return ERR_OK;
}

static enum err metrics(struct req *r, struct resp *w)
{
	struct server *srv = r->srv;
	struct buf b;
	buf_init(&b, 16u << 20);
	http_metrics(srv->http, &b);
	db_metrics(srv->db, &b);
	if (srv->hub) {
		struct ws_hub_stats hs;
		ws_hub_stats_get(srv->hub, &hs);
		buf_printf(&b,
		           "# HELP shouli_ws_connections Open WebSocket connections.\n"
		           "# TYPE shouli_ws_connections gauge\nshouli_ws_connections %llu\n"
		           "# HELP shouli_ws_subscriptions Topic subscriptions.\n"
		           "# TYPE shouli_ws_subscriptions gauge\nshouli_ws_subscriptions %llu\n"
		           "# HELP shouli_ws_messages_out_total Messages sent to clients.\n"
		           "# TYPE shouli_ws_messages_out_total counter\n"
		           "shouli_ws_messages_out_total %llu\n"
		           "# HELP shouli_ws_dropped_slow_total Slow consumers dropped.\n"
		           "# TYPE shouli_ws_dropped_slow_total counter\n"
		           "shouli_ws_dropped_slow_total %llu\n",
		           (unsigned long long)hs.conns, (unsigned long long)hs.subscriptions,
		           (unsigned long long)hs.messages_out,
		           (unsigned long long)hs.dropped_slow);
	}
	outbox_metrics(srv->outbox, &b);
	gateway_metrics(srv, &b);
	buf_printf(&b,
	           "# HELP shouli_build_info Build of this process.\n"
	           "# TYPE shouli_build_info gauge\n"
	           "shouli_build_info{version=\"%s\",git=\"%s\",db=\"%s\"} 1\n"
	           "# HELP shouli_start_time_seconds Process start time.\n"
	           "# TYPE shouli_start_time_seconds gauge\nshouli_start_time_seconds %lld\n",
	           SHOULI_VERSION, SHOULI_GIT, db_engine(srv->db),
	           (long long)(srv->started_ms / 1000));
	char *text = arena_memdup(r->arena, b.p ? b.p : "", b.len);
	w->body = text;
	w->body_len = text ? b.len : 0;
	w->content_type = "text/plain; version=0.0.4; charset=utf-8";
	buf_release(&b);
	return text ? ERR_OK : ERR_NOMEM;
}

static enum err info(struct req *r, struct resp *w)
{
	resp_json(w, 200,
	          json_pack("{s:s,s:s,s:s,s:s}", "name", "社区事务受理系统", "version",
	                    SHOULI_VERSION, "git", SHOULI_GIT, "db", db_engine(r->srv->db)));
	return ERR_OK;
}

/* An operator's announcement (maintenance window, outage of a department's system) pushed
 * at once to every signed-in browser over WebSocket (topic system:announcements). */
static const struct json_field announce_body[] = {
    {"text", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 500, "公告内容"},
    {"level", JF_STRING, 0, 0, 16, "级别"},
    {.name = NULL},
};

static enum err announce(struct req *r, struct resp *w)
{
	const char *text = json_get_str(r->json, "text");
	const char *level = json_get_str(r->json, "level");
	if (!level)
		level = "info";
	if (strcmp(level, "info") && strcmp(level, "warning"))
		return req_fail(r, ERR_BAD_FIELD, "level", "级别只能是 info 或 warning");
	char at[32];
	json_t *ev = json_pack("{s:s,s:s,s:s,s:s}", "text", text, "level", level, "by",
	                       r->who->name ? r->who->name : r->who->username, "at",
	                       time_iso(time_now_ms(), at));
	char *msg = ev ? json_dump_arena(ev, r->arena) : NULL;
	json_decref(ev);
	if (!msg)
		return ERR_NOMEM;
	enum err e = audit_record(r->srv, r, "system.announce", NULL, msg);
	if (e)
		return e;
	e = event_bus_publish(r->srv->bus, "system:announcements", msg);
	if (e)
		return e;
	resp_json(w, 200, json_pack("{s:b}", "ok", 1));
	return ERR_OK;
}

static const struct route routes[] = {
    {"GET", "/healthz", healthz, NULL, ROUTE_PUBLIC, NULL},
    {"GET", "/readyz", readyz, NULL, ROUTE_PUBLIC, NULL},
    {"GET", "/metrics", metrics, NULL, ROUTE_PUBLIC, NULL},
    {"GET", "/api/v1/system/info", info, NULL, 0, NULL},
    {"POST", "/api/v1/system/announcements", announce, "system.config", 0, announce_body},
};

const struct module system_module = {
    .name = "system",
    .routes = routes,
    .nroutes = sizeof(routes) / sizeof(routes[0]),
};
