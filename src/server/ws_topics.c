/* ws_topics.c: who may subscribe to which WebSocket topic.
 *
 * Topics name their audience, so the hub can decide without a database round trip:
 *   user:<id>[:<stream>]        only that user (notifications, session events)
 *   scope:<org path>:<stream>   everyone whose data scope covers the organisation, e.g.
 *                               "scope:/1/3/12/:queue" — a centre's queue board; the city
 *                               (scope "/1/") sees it, another district does not
 *   system:<stream>             every signed-in user (announcements)
 * The scope path of each connected user is remembered when the socket is adopted. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "server/server_int.h"
#include "ws/ws.h"

#define SCOPE_SLOTS 4096 /* open addressing; a user id occupies one slot */

struct ws_scopes {
	pthread_mutex_t lock;
	struct {
		int64_t user_id; /* 0 = empty */
		char path[96];
	} slot[SCOPE_SLOTS];
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

void ws_scopes_remember(struct ws_scopes *s, int64_t user_id, const char *path)
{
	if (!path || strlen(path) >= sizeof(s->slot[0].path) || user_id <= 0)
		return;
	pthread_mutex_lock(&s->lock);
	size_t i = slot_of(user_id);
	for (size_t n = 0; n < SCOPE_SLOTS; n++, i = (i + 1) % SCOPE_SLOTS) {
		if (s->slot[i].user_id == user_id || s->slot[i].user_id == 0) {
			s->slot[i].user_id = user_id;
			snprintf(s->slot[i].path, sizeof(s->slot[i].path), "%s", path);
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

/* Copies the user's scope path into out; false when unknown. */
static bool scope_of(struct ws_scopes *s, int64_t user_id, char *out, size_t n)
{
	bool found = false;
	pthread_mutex_lock(&s->lock);
	size_t i = slot_of(user_id);
	for (size_t k = 0; k < SCOPE_SLOTS && s->slot[i].user_id; k++, i = (i + 1) % SCOPE_SLOTS)
		if (s->slot[i].user_id == user_id) {
			snprintf(out, n, "%s", s->slot[i].path);
			found = true;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return found;
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
		if (!end || rest.p[0] != '/' || !scope_of(s, user_id, mine, sizeof(mine)))
			return false;
		size_t plen = (size_t)(end - rest.p), mlen = strlen(mine);
		return mlen > 0 && plen >= mlen && memcmp(rest.p, mine, mlen) == 0;
	}
	return false;
}
