/* vwin_int.h: declarations shared inside src/vwin/ (places, terminals, map; the sessions use
 * vwin_hash) only. */
#ifndef SHOULI_VWIN_INT_H
#define SHOULI_VWIN_INT_H

#include <jansson.h>

#include "core/arena.h"
#include "core/err.h"
#include "http/http.h"
#include "vwin/vwin.h"

struct db_conn;

#define VWIN_DB_WAIT_MS 5000

/* Who acts, for audit entries: a signed-in user (who) or the system (NULL). */
struct vwin_caller {
	const struct principal *who;
	const char *client_ip;
	const char *trace_id;
};

enum err vwin_audit(struct db_conn *c, struct arena *a, const struct vwin_caller *by,
                    const char *action, const char *target, const json_t *detail);
/* SM3 of s as 64 hex + NUL. */
void vwin_hash(const char *s, char out[65]);
/* Point and terminal codes: ^[A-Z0-9-]{3,max}$. */
bool vwin_code_valid(const char *s, size_t max);

/* ---- points (vwin_points.c) ---- */
enum err vwin_points_list(struct server *srv, const struct vwin_caller *by, struct arena *a,
                          json_t **out);
enum err vwin_point_save(struct server *srv, const struct vwin_caller *by, struct arena *a,
                         const char *code, const json_t *body, json_t **out, struct errinfo *ei);

/* ---- terminals (vwin_terminals.c) ---- */
enum err vwin_terminal_save(struct server *srv, const struct vwin_caller *by, struct arena *a,
                            const char *code, const json_t *body, json_t **out, struct errinfo *ei);
enum err vwin_enrol_code(struct server *srv, const struct vwin_caller *by, struct arena *a,
                         const char *code, json_t **out, struct errinfo *ei);
enum err vwin_enrol(struct server *srv, const struct vwin_caller *by, struct arena *a,
                    const json_t *body, json_t **out, struct errinfo *ei);
/* Open a device session; *set_cookie (from a) for the response. */
enum err vwin_device_session(struct server *srv, const struct vwin_caller *by, struct arena *a,
                             const json_t *body, json_t **out, const char **set_cookie,
                             struct errinfo *ei);
enum err vwin_self_check(struct server *srv, const struct vwin_caller *by, struct arena *a,
                         const json_t *body, json_t **out, struct errinfo *ei);
enum err vwin_heartbeat(struct server *srv, const struct vwin_caller *by, struct arena *a,
                        const json_t *body, json_t **out, struct errinfo *ei);
/* Terminals in the caller's scope with their live state; admin: also inactive ones. */
enum err vwin_terminals_list(struct server *srv, const struct vwin_caller *by, struct arena *a,
                             json_t **out);
/* The heartbeat job: alert on terminals gone offline (or back), suspend the called or
 * serving tickets of lapsed terminals. *changed gets how many terminals changed state. */
enum err vwin_heartbeat_sweep(struct server *srv, int64_t now_ms, int64_t *changed);
/* A terminal's live JSON ({code, name, kind, point, centre, state, last_seen_at, faults,
 * location, location_ok, in_session, active}) from a row of TERMINAL_COLS. */
enum err vwin_jobs_register(struct server *srv);

/* ---- map (vwin_map.c) ---- */
enum err vwin_map_sync(struct server *srv, bool manual, struct arena *a, int64_t *run_id, char *msg,
                       size_t msgsz);
enum err vwin_map_runs(struct server *srv, struct arena *a, json_t **out);
enum err vwin_map_problems(struct server *srv, struct arena *a, int64_t run_id, const char *state,
                           json_t **out);
enum err vwin_map_problem_close(struct server *srv, const struct vwin_caller *by, struct arena *a,
                                int64_t id, const char *note, json_t **out, struct errinfo *ei);

/* The map sync's rules, pure (unit-tested). What a point needs at the map: */
enum vwin_map_op { VWIN_MAP_NONE, VWIN_MAP_CREATE, VWIN_MAP_UPDATE, VWIN_MAP_DEACTIVATE };
/* An active extension point without map_id is created; one whose record hashes differently
 * from stored_hash (NULL: never pushed) is updated; a point that is no longer an active
 * extension point but has a map_id is deactivated unless stored_hash says it already was
 * (desired_hash is then "inactive"). */
enum vwin_map_op vwin_map_plan(bool extension, bool active, const char *map_id,
                               const char *stored_hash, const char *desired_hash);
const char *vwin_map_op_name(enum vwin_map_op op); /* "none", "create", … (static) */
/* The map's point type from the point's tags: the first tag naming 园区 (park), 银行 (bank),
 * 养老 (elderly_care), 楼宇 (building) or 居民区/居委/村委/社区 (community); else community. */
const char *vwin_map_type(const json_t *tags);
/* SM3 (hex) of the record's canonical JSON (compact, sorted keys). */
void vwin_map_record_hash(const json_t *record, char out[65]);
/* The day's changes both ways. Each of Shouli's pushes [{map_id, op, effect, …}] accounts
 * for one map change [{point_id, op, …}] of the same point whose op is the push's effect (in
 * log order); a create the map answered as a duplicate (effect "none") accounts for a create
 * left over (Shouli lost its record of it). Map changes nothing accounts for are appended to
 * unknown (someone changed the map outside Shouli); pushes with an effect that no change
 * records are appended to unseen. Elements are shared (incref'd), not copied. */
void vwin_map_changes_compare(const json_t *map_changes, const json_t *pushes, json_t *unknown,
                              json_t *unseen);

#endif
