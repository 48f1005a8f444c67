/* vwin_provider.c: video providers of the virtual window (docs/vwin.md "Providers").
 *
 * "webrtc" is built in: the room is Shouli's own (a name; the media goes browser to browser
 * and the signalling through the hub), and joining needs only the ICE servers (settings key
 * vwin_ice_servers, a JSON array of RTCIceServer objects; default none: host candidates).
 * "bank" and "tencent" are the seed's two services: their rooms and join tokens come from
 * the provider through the gateway (connector "video", methods room_create, room_token,
 * room_close), so nothing here knows a URL. */
#include <string.h>

#include "core/id.h"
#include "core/json.h"
#include "db/db.h"
#include "gateway/gateway.h"
#include "server/server.h"
#include "vwin/vwin.h"

#define DB_WAIT_MS 5000

/* ---- webrtc ---- */

static enum err webrtc_create(struct server *srv, struct arena *a, int64_t session_id,
                              const char *case_no, const char **room, struct errinfo *ei)
{
	(void)srv;
	(void)case_no;
	(void)ei;
	char rnd[17];
	enum err e = id_random_hex(rnd, 8);
	if (e)
		return e;
	*room = arena_printf(a, "webrtc-%lld-%s", (long long)session_id, rnd);
	return *room ? ERR_OK : ERR_NOMEM;
}

static enum err webrtc_close(struct server *srv, struct arena *a, const char *room)
{
	(void)srv;
	(void)a;
	(void)room;
	return ERR_OK;
}

/* The ICE servers of the settings (an array), else []. A malformed value is logged by
 * nobody and ignored: the call still works with host candidates. */
static json_t *ice_servers(struct server *srv, struct arena *a)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	json_t *v = NULL;
	if (!db_acquire(srv->db, DB_WAIT_MS, &c) &&
	    !db_exec(c, a, &rs, "SELECT value FROM settings WHERE key = 'vwin_ice_servers'", "") &&
	    rs->nrows == 1) {
		json_error_t jerr;
		v = json_loads(db_text(rs, 0, 0), JSON_REJECT_DUPLICATES, &jerr);
		if (v && !json_is_array(v)) {
			json_decref(v);
			v = NULL;
		}
	}
	db_release(c);
	return v ? v : json_array();
}

static enum err webrtc_join(struct server *srv, struct arena *a, const char *room, const char *role,
                            const char *user, json_t **out, struct errinfo *ei)
{
	(void)role;
	(void)user;
	(void)ei;
	*out = json_pack("{s:s,s:s,s:o}", "provider", "webrtc", "room", room, "ice_servers",
	                 ice_servers(srv, a));
	return *out ? ERR_OK : ERR_NOMEM;
}

/* ---- bank, tencent: through the gateway ---- */

static enum err gw_call(struct server *srv, struct arena *a, const char *method, json_t *req,
                        struct gateway_call_result *res, struct errinfo *ei)
{
	struct gateway_caller gc = {.module = "vwin"};
	struct errinfo local = {0};
	enum err e = gateway_call(srv, "video", method, req, &gc, a, res, ei ? ei : &local);
	json_decref(req);
	return e;
}

static enum err gw_create(const char *provider, struct server *srv, struct arena *a,
                          int64_t session_id, const char *case_no, const char **room,
                          struct errinfo *ei)
{
	struct gateway_call_result res = {0};
	json_t *req =
	    json_pack("{s:s,s:s,s:s?,s:I}", "provider", provider, "purpose", "远程虚拟窗口受理",
	              "case_no", case_no, "session", (json_int_t)session_id);
	enum err e = gw_call(srv, a, "room_create", req, &res, ei);
	if (e)
		return e;
	const char *id = json_get_str(res.response, "room_id");
	if (!id || !*id || strlen(id) > 120) {
		ei->msg = "视频服务未返回会议室编号";
		return ERR_UPSTREAM;
	}
	*room = arena_strdup(a, id);
	return *room ? ERR_OK : ERR_NOMEM;
}

static enum err bank_create(struct server *srv, struct arena *a, int64_t session_id,
                            const char *case_no, const char **room, struct errinfo *ei)
{
	return gw_create("bank", srv, a, session_id, case_no, room, ei);
}

static enum err tencent_create(struct server *srv, struct arena *a, int64_t session_id,
                               const char *case_no, const char **room, struct errinfo *ei)
{
	return gw_create("tencent", srv, a, session_id, case_no, room, ei);
}

static enum err gw_close(struct server *srv, struct arena *a, const char *room)
{
	struct gateway_call_result res = {0};
	return gw_call(srv, a, "room_close", json_pack("{s:s}", "room_id", room), &res, NULL);
}

static enum err gw_join(const char *provider, struct server *srv, struct arena *a, const char *room,
                        const char *role, const char *user, json_t **out, struct errinfo *ei)
{
	struct gateway_call_result res = {0};
	enum err e = gw_call(srv, a, "room_token",
	                     json_pack("{s:s,s:s,s:s}", "room_id", room, "user", user, "role",
	                               !strcmp(role, "clerk") ? "clerk" : "resident"),
	                     &res, ei);
	if (e)
		return e;
	const char *token = json_get_str(res.response, "token");
	if (!token) {
		ei->msg = "视频服务未返回参会令牌";
		return ERR_UPSTREAM;
	}
	*out = json_pack("{s:s,s:s,s:s,s:I}", "provider", provider, "room", room, "token", token,
	                 "expires_in", (json_int_t)json_get_int(res.response, "expires_in", 0));
	return *out ? ERR_OK : ERR_NOMEM;
}

static enum err bank_join(struct server *srv, struct arena *a, const char *room, const char *role,
                          const char *user, json_t **out, struct errinfo *ei)
{
	return gw_join("bank", srv, a, room, role, user, out, ei);
}

static enum err tencent_join(struct server *srv, struct arena *a, const char *room,
                             const char *role, const char *user, json_t **out, struct errinfo *ei)
{
	return gw_join("tencent", srv, a, room, role, user, out, ei);
}

static const struct vwin_video_provider providers[] = {
    {"webrtc", webrtc_create, webrtc_close, webrtc_join},
    {"bank", bank_create, gw_close, bank_join},
    {"tencent", tencent_create, gw_close, tencent_join},
};

const struct vwin_video_provider *vwin_provider_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(providers) / sizeof(providers[0]); i++)
		if (!strcmp(providers[i].name, name))
			return &providers[i];
	return NULL;
}

const char *vwin_provider_choose(const char *centre_value, const char *global_value)
{
	if (vwin_provider_find(centre_value))
		return vwin_provider_find(centre_value)->name;
	if (vwin_provider_find(global_value))
		return vwin_provider_find(global_value)->name;
	return "webrtc";
}
