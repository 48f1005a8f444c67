/* vwin.h: the remote virtual window (远程虚拟窗口, docs/vwin.md) — the one public header of
 * src/vwin/. Two parts share it, each in a block of its own:
 *
 *  - places and terminals (vwin.c, vwin_points.c, vwin_terminals.c, vwin_map.c,
 *    vwin_http.c): extension points (延伸点) and 上门办 points with their geofence and hours,
 *    terminals (kiosks, PADs) with their device credential, self-check, heartbeat, location
 *    and health, the live state for the centre, and the government map sync;
 *  - the video session (vwin_session*.c): its own block below.
 *
 * Every change is one write unit (db_write_unit) with its audit entry; what follows the
 * commit (bus events for the terminal and the centre) is published after it. */
#ifndef SHOULI_VWIN_H
#define SHOULI_VWIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/arena.h"
#include "core/err.h"

struct cases_calendar;
struct db_conn;
struct module;
struct principal;
struct server;

/* ==== places and terminals (docs/vwin.md "Places", "Terminals", "Map") ================== */

/* The module (src/server/modules.c): routes under /api/v1/admin/vwin, /api/v1/vwin and
 * /api/v1/terminal, the jobs vwin.terminal_heartbeat and map.sync_points. */
extern const struct module vwin_module;

#define VWIN_CODE_MIN        3
#define VWIN_CODE_MAX        30 /* terminal codes: "t-" + lower case is the service user */
#define VWIN_POINT_CODE_MAX  32
#define VWIN_RADIUS_MIN      20
#define VWIN_RADIUS_MAX      5000
#define VWIN_ACCURACY_CAP_M  200 /* a location's accuracy widens the fence by at most this */
#define VWIN_TAGS_MAX        10
#define VWIN_HOURS_MAX       14
#define VWIN_LAPSE_INTERVALS 3 /* heartbeats missed before a terminal counts as offline */
#define VWIN_ENROL_CODE_MS   (24 * 3600 * 1000LL)
#define VWIN_USER_PREFIX     "t-" /* the service user of terminal CODE is t-<code lower> */

/* A terminal as the other parts need it (all strings from the arena it was loaded into). */
struct vwin_terminal {
	int64_t id;
	const char *code, *name, *kind; /* kind: "kiosk" | "pad" */
	const char *point, *point_kind; /* the point's code; "extension" | "home" */
	const char *centre_code;        /* the responsible centre (orgs.code) */
	int64_t centre_id;
	const char *centre_path; /* its org path, for scope checks and topics */
	int64_t user_id;         /* the terminal's service user */
	bool active;             /* the terminal and its point are active */
	int64_t last_seen_at;    /* last heartbeat or self-check (ms; 0 = never) */
	bool self_check_ok;      /* the last self-check passed (false: none yet, or faults) */
	int64_t self_check_at;
	const char *in_session; /* the session it reports being in, or NULL */
	int64_t heartbeat_ms;   /* the configured interval (vwin_heartbeat_s) */
	/* the point's geofence and hours */
	double lng, lat;
	int64_t radius_m;
	const char *hours_json; /* the point's hours as stored (JSON array) */
};

/* The terminal whose device session who is (role terminal: the principal's user is the
 * terminal's service user). ERR_FORBIDDEN when who is not a terminal (or NULL);
 * ERR_NOT_FOUND when the terminal was removed; ERR_DB.... Strings from a. */
enum err vwin_terminal_of(struct server *srv, const struct principal *who, struct arena *a,
                          struct vwin_terminal *out);
/* The terminal with code (any state). ERR_NOT_FOUND. Uses c when given, else a pool
 * connection. */
enum err vwin_terminal_load(struct server *srv, struct db_conn *c, struct arena *a,
                            const char *code, struct vwin_terminal *out);

/* Healthy = active, last self-check passed, and a heartbeat within VWIN_LAPSE_INTERVALS
 * intervals of now_ms. A terminal that is not healthy gets no calls and issues no tickets. */
bool vwin_terminal_healthy(const struct vwin_terminal *t, int64_t now_ms);
/* The live state shown to the centre: "disabled" (not active), "offline" (heartbeat
 * lapsed or never seen), "fault" (self-check failed or missing), "in_session", "online". */
const char *vwin_terminal_state(const struct vwin_terminal *t, int64_t now_ms);

/* Publish json (an object; borrowed) on terminal:<code>:<stream> ("events", "queue"…) after
 * a commit. Failures are logged, not returned. */
void vwin_terminal_publish(struct server *srv, const char *code, const char *stream,
                           const json_t *json);

/* ---- geofence (pure) ---- */

/* Great-circle distance in metres between two GCJ-02 points (haversine on a 6,371,008.8 m
 * sphere; GCJ-02's offset is the same for points a few km apart, so distances hold). */
double vwin_distance_m(double lng1, double lat1, double lng2, double lat2);
/* Is a location with the given accuracy (metres, <= 0 = unknown) inside a fence of radius_m
 * at distance dist_m? Inside when dist_m <= radius_m + min(accuracy, VWIN_ACCURACY_CAP_M). */
bool vwin_geofence_inside(double dist_m, int64_t radius_m, double accuracy_m);
/* Are lng/lat a plausible GCJ-02 location (China's bounding box)? */
bool vwin_coords_valid(double lng, double lat);

/* ---- opening hours (pure) ----
 * Hours are [{"days": "1-5", "from": "08:30", "to": "16:30"}, …]: days a comma list of
 * weekdays 1 (Monday) … 7 (Sunday) and ranges a-b, or the word "holiday"; from < to, same
 * day. On a holiday of the working-day calendar only "holiday" entries apply (closed when
 * there are none); on a listed workday (调休) the Monday–Friday entries of the weekday 1
 * apply. */
struct vwin_hours {
	int n;
	struct {
		unsigned days; /* bit d (1..7) for weekdays, bit 8 = holiday */
		int from, to;  /* minutes since midnight */
	} span[VWIN_HOURS_MAX];
};
#define VWIN_HOURS_HOLIDAY (1u << 8)
/* The default hours (DOMAIN.md: Mon–Fri 8:30–16:30, weekends and holidays 8:30–11:30). */
extern const char VWIN_DEFAULT_HOURS[];
/* Parse hours (a JSON array). ERR_BAD_FIELD with a zh-CN sentence (from a) in *why. */
enum err vwin_hours_parse(const json_t *arr, struct vwin_hours *out, struct arena *a,
                          const char **why);
/* Is the point open at now_ms (Asia/Shanghai, UTC+08:00)? cal may be NULL (weekends only). */
bool vwin_hours_open(const struct vwin_hours *h, struct cases_calendar *cal, int64_t now_ms);
/* "周一至周五 08:30–16:30；…" for messages (from a). */
const char *vwin_hours_text(const struct vwin_hours *h, struct arena *a);

/* ---- service requests from a terminal ----
 * The checks every service request of a terminal session goes through (ticket issue,
 * session start): the terminal healthy (else ERR_BAD_STATE 409 "终端自检未通过/心跳中断…"),
 * for a home point the location inside the fence (else ERR_FORBIDDEN 403 naming the
 * distance; a missing location is 403 too) and the point open (else ERR_BAD_STATE 409
 * naming the hours). location is {lng, lat, accuracy_m} or NULL; for an extension point it
 * is recorded only. ei gets the field and a zh-CN message (from a). */
enum err vwin_service_check(struct server *srv, const struct vwin_terminal *t,
                            const json_t *location, struct arena *a, struct errinfo *ei);

/* Demo data (serve --demo, after queue_seed_demo): for each demo centre one extension point
 * and one 上门办 point with a terminal each. A no-op when points exist. */
enum err vwin_seed_demo(struct server *srv, FILE *report);

/* ==== end of places and terminals ======================================================== */

/* ==== video sessions (docs/vwin.md "Sessions"; vwin_session*.c, vwin_evidence.c,
 * vwin_provider.c) ====================================================================== */

/* The module (src/server/modules.c): routes under /api/v1/vwin/sessions and
 * /api/v1/terminal/sessions, the queue hooks that pre-warm a session when a terminal's
 * ticket is called and end it with the ticket, and the job vwin.sessions_sweep. */
extern const struct module vwin_session_module;

#define VWIN_SIGNAL_MAX      (16 * 1024)        /* bytes of one signal's data (SDP, candidate) */
#define VWIN_CANDIDATE_MAX   1024               /* bytes of one ICE candidate line */
#define VWIN_SESSION_IDLE_MS (15 * 60 * 1000LL) /* no activity of either side → dropped */
#define VWIN_EVIDENCE_ZERO                                                                         \
	"0000000000000000000000000000000000000000000000000000000000000000" /* prev of seq 1 */

/* ---- signalling (pure) ----
 * Is {type, data} a signal a side may relay? type "offer" | "answer" (data {"type": same,
 * "sdp": text starting "v=0", <= VWIN_SIGNAL_MAX bytes}), "candidate" (data {"candidate":
 * text <= VWIN_CANDIDATE_MAX or "" (end of candidates), "sdpMid"?: <= 64, "sdpMLineIndex"?:
 * 0..64, "usernameFragment"?: <= 256}; null = end of candidates) or "bye" (data absent,
 * null or an object with "reason" <= 200). ERR_BAD_FIELD with *field ("type", "data",
 * "data.sdp", …) and *why (static zh-CN). */
enum err vwin_signal_check(const char *type, const json_t *data, const char **field,
                           const char **why);
/* The evidence summary of a valid signal (never the SDP itself): {"type", "bytes",
 * "media": ["audio","video"] (the m= lines of an offer/answer), "sm3": hex of the SDP}.
 * New reference; NULL when out of memory. */
json_t *vwin_signal_summary(const char *type, const json_t *data);

/* ---- evidence chain (pure) ----
 * hash = SM3(prev_hash ‖ canonical JSON {"at","case_no","kind","payload","seq","session"})
 * where canonical = jansson compact, keys sorted, UTF-8 as is; hex, lower case. */
struct vwin_evidence_row {
	int64_t seq, session_id, at;
	const char *case_no; /* may be NULL */
	const char *kind;
	const char *payload; /* JSON text as stored */
	const char *prev_hash, *hash;
};
/* The hash of row r (its hash member is ignored) into out. ERR_BAD_JSON when r->payload is
 * not JSON, ERR_NOMEM. */
enum err vwin_evidence_hash(const struct vwin_evidence_row *r, char out[65]);
/* Verify rows[0..n) as one chain in seq order (1, 2, …; the first prev_hash is
 * VWIN_EVIDENCE_ZERO): true when intact; else false with *bad the index of the first row
 * that does not verify and *why a zh-CN reason (static). */
bool vwin_evidence_verify(const struct vwin_evidence_row *rows, size_t n, size_t *bad,
                          const char **why);

/* ---- providers ----
 * A video provider creates and closes rooms and tells each side how to join. "webrtc"
 * (built in, the default) keeps rooms in Shouli: join info is the ICE servers; "bank" and
 * "tencent" (seed row 16) create rooms through the gateway (connector "video", the
 * simulator's /video/rooms) and hand the browser their join token. */
struct vwin_video_provider {
	const char *name;
	/* Make a room for session_id; *room (from a) is its id. */
	enum err (*create_room)(struct server *srv, struct arena *a, int64_t session_id,
	                        const char *case_no, const char **room, struct errinfo *ei);
	/* Close room (best effort; idempotent). */
	enum err (*close_room)(struct server *srv, struct arena *a, const char *room);
	/* What the side role ("clerk" | "resident") needs to join room: a new object. */
	enum err (*join_info)(struct server *srv, struct arena *a, const char *room,
	                      const char *role, const char *user, json_t **out, struct errinfo *ei);
};
/* The provider named name; NULL when unknown. */
const struct vwin_video_provider *vwin_provider_find(const char *name);
/* The provider name for a centre from the settings values (either may be NULL): the
 * centre's own (settings key vwin_video_provider:<centre code>) when it names a known
 * provider, else the global (vwin_video_provider), else "webrtc". */
const char *vwin_provider_choose(const char *centre_value, const char *global_value);

/* ---- for other modules ----
 * May who (a terminal's device session) sign case_no now? Yes when the terminal has a
 * session in state waiting or active linked to case_no. On ERR_OK *as (from a) is the
 * principal the signing routes act as: who's user with the case's centre as its data scope
 * and the permissions case.read and case.accept, and *device is "kiosk" or "pad" (the
 * terminal's kind). ERR_FORBIDDEN otherwise. (src/sign/sign_http.c) */
enum err vwin_session_signer(struct server *srv, const struct principal *who, struct arena *a,
                             const char *case_no, struct principal **as, const char **device);

/* ==== end of video sessions ============================================================== */

#endif
