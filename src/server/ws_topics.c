/* ws_topics.c: who may subscribe to which WebSocket topic.
 *
 * Topics name their audience, so the hub can decide without a database round trip:
 *   user:<id>[:<stream>]        only that user (notifications, session events)
 *   scope:<org path>:<stream>   everyone whose data scope covers the organisation, e.g.
 *                               "scope:/1/3/12/:queue" — a centre's queue board; the city
 *                               (scope "/1/") sees it, another district does not
 *   system:<stream>             every signed-in user (announcements)
 *   terminal:<CODE>:<stream>    only that terminal's service user "t-<code>" (src/vwin): the
 *                               call, the move proposal, in-call commands
 *   session:<id>:<side>         a video session's clerk or terminal (docs/vwin.md): the
 *                               sessions module grants the topic to the participant when
 *                               it joins (ws_scopes_grant), for a limited time
 * The scope path of each connected user is remembered when the socket is adopted. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "core/timeutil.h"
#include "server/server_int.h"
#include "ws/ws.h"

#define SCOPE_SLOTS 4096 /* open addressing; a user id occupies one slot */
#define GRANT_SLOTS 4096 /* topic grants (session:<id>:<side>), see ws_scopes_grant */

struct ws_scopes {
	pthread_mutex_t lock;
	struct {
		int64_t user_id; /* 0 = empty */
		char path[96];
		char username[48];
	} slot[SCOPE_SLOTS];
	struct {
		int64_t user_id; /* 0 = empty */
		int64_t until_ms;
		char topic[64];
	} grant[GRANT_SLOTS];
};

static size_t slot_of(int64_t id)
{
	return (size_t)((uint64_t)id * 0x9E3779B97F4A7C15ull >> 52) % SCOPE_SLOTS;
}

enum err ws_scopes_create(struct ws_scopes **out)
{
	struct ws_scopes *s = calloc(1, sizeof(*s));
	if (!s)
		return ERR_NOMEM;
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return ERR_OK;
}

void ws_scopes_destroy(struct ws_scopes *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void ws_scopes_remember(struct ws_scopes *s, int64_t user_id, const char *path,
                        const char *username)
{
	if (!path || strlen(path) >= sizeof(s->slot[0].path) || user_id <= 0)
		return;
	pthread_mutex_lock(&s->lock);
	size_t i = slot_of(user_id);
	for (size_t n = 0; n < SCOPE_SLOTS; n++, i = (i + 1) % SCOPE_SLOTS) {
		if (s->slot[i].user_id == user_id || s->slot[i].user_id == 0) {
			s->slot[i].user_id = user_id;
			snprintf(s->slot[i].path, sizeof(s->slot[i].path), "%s", path);
			snprintf(s->slot[i].username, sizeof(s->slot[i].username), "%s",
			         username ? username : "");
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

/* Copies the user's scope path into out (and username into name, when given); false when
 * unknown. */
static bool scope_of(struct ws_scopes *s, int64_t user_id, char *out, size_t n, char *name,
                     size_t nn)
{
	bool found = false;
	pthread_mutex_lock(&s->lock);
	size_t i = slot_of(user_id);
	for (size_t k = 0; k < SCOPE_SLOTS && s->slot[i].user_id; k++, i = (i + 1) % SCOPE_SLOTS)
		if (s->slot[i].user_id == user_id) {
			snprintf(out, n, "%s", s->slot[i].path);
			if (name)
				snprintf(name, nn, "%s", s->slot[i].username);
			found = true;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return found;
}

static size_t grant_slot(int64_t user_id, const char *topic)
{
	uint64_t h = (uint64_t)user_id * 0x9E3779B97F4A7C15ull;
	for (const char *p = topic; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001B3ull;
	return (size_t)(h >> 40) % GRANT_SLOTS;
}

void ws_scopes_grant(struct ws_scopes *s, int64_t user_id, const char *topic, int64_t until_ms)
{
	if (!s || user_id <= 0 || !topic || strlen(topic) >= sizeof(s->grant[0].topic))
		return;
	int64_t now = time_now_ms();
	pthread_mutex_lock(&s->lock);
	size_t i = grant_slot(user_id, topic), free_at = GRANT_SLOTS;
	for (size_t n = 0; n < GRANT_SLOTS; n++, i = (i + 1) % GRANT_SLOTS) {
		if (s->grant[i].user_id == user_id && !strcmp(s->grant[i].topic, topic)) {
			free_at = i;
			break;
		}
		if (free_at == GRANT_SLOTS &&
		    (s->grant[i].user_id == 0 || s->grant[i].until_ms < now))
			free_at = i;
		if (s->grant[i].user_id == 0)
			break;
	}
	if (free_at < GRANT_SLOTS) {
		s->grant[free_at].user_id = until_ms > now ? user_id : -1;
		s->grant[free_at].until_ms = until_ms;
		snprintf(s->grant[free_at].topic, sizeof(s->grant[free_at].topic), "%s", topic);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Does user_id hold a live grant of topic? Expired slots stay in place (marked -1 when
 * revoked) so that probing past them still finds later entries. */
static bool granted(struct ws_scopes *s, int64_t user_id, const char *topic)
{
	bool ok = false;
	int64_t now = time_now_ms();
	pthread_mutex_lock(&s->lock);
	size_t i = grant_slot(user_id, topic);
	for (size_t n = 0; n < GRANT_SLOTS && s->grant[i].user_id; n++, i = (i + 1) % GRANT_SLOTS)
		if (s->grant[i].user_id == user_id && !strcmp(s->grant[i].topic, topic)) {
			ok = s->grant[i].until_ms >= now;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

bool ws_topic_allowed(void *ctx, int64_t user_id, const char *topic)
{
	struct ws_scopes *s = ctx;
	struct str t = str_from(topic), kind, rest = str_cut(t, ':', &kind);
	if (!rest.p)
		return false;
	if (str_eq_c(kind, "system"))
		return rest.n > 0;
	if (str_eq_c(kind, "user")) {
		struct str id;
		str_cut(rest, ':', &id);
		int64_t v;
		return str_to_i64(id, 1, INT64_MAX, &v) && v == user_id;
	}
	if (str_eq_c(kind, "scope")) {
		/* "scope:/1/3/12/:queue": the path runs up to the last "/:" */
		const char *end = NULL;
		for (size_t i = 0; i + 1 < rest.n; i++)
			if (rest.p[i] == '/' && rest.p[i + 1] == ':')
				end = rest.p + i + 1;
		char mine[96];
		if (!end || rest.p[0] != '/' || !scope_of(s, user_id, mine, sizeof(mine), NULL, 0))
			return false;
		size_t plen = (size_t)(end - rest.p), mlen = strlen(mine);
		return mlen > 0 && plen >= mlen && memcmp(rest.p, mine, mlen) == 0;
	}
	if (str_eq_c(kind, "session")) /* a video session's side: granted at join */
		return granted(s, user_id, topic);
	if (str_eq_c(kind, "terminal")) {
		/* "terminal:KIOSK-01:events" → only the service user "t-kiosk-01" */
		struct str code;
		str_cut(rest, ':', &code);
		char mine[96], name[48];
		if (code.n < 1 || code.n + 2 >= sizeof(name) ||
		    !scope_of(s, user_id, mine, sizeof(mine), name, sizeof(name)))
			return false;
		if (strlen(name) != code.n + 2 || name[0] != 't' || name[1] != '-')
			return false;
		for (size_t i = 0; i < code.n; i++) {
			char c = code.p[i];
			if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
				return false;
			if (name[i + 2] != ((c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c))
				return false;
		}
		return true;
	}
	return false;
}
