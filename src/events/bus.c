/* bus.c: the event bus — subscriber registry and local delivery, over a pluggable backend.
 *
 * The registry is an array under a reader-writer lock: deliveries (many, concurrent) take it
 * for reading, subscribe/unsubscribe (rare, at start-up) for writing. The lock prefers readers
 * so that a subscriber which publishes — taking the read lock again in the same thread —
 * cannot deadlock behind a waiting writer. */
#include "events/events.h"

#include <pthread.h>
#include <string.h>

#include "core/str.h"

#define TOPIC_MAX 128

struct subscriber {
	char *prefix;
	size_t plen;
	event_bus_fn fn;
	void *ctx;
};

struct event_bus {
	const struct event_bus_ops *ops;
	void *impl;
	pthread_rwlock_t lock;
	struct subscriber *subs;
	size_t nsubs, alloc;
};

static enum err local_publish(void *impl, struct event_bus *bus, const char *topic,
                              const char *json)
{
	event_bus_deliver(bus, topic, json);
	return ERR_OK;
}

static const struct event_bus_ops local_ops = {
    .name = "local",
    .publish = local_publish,
    .destroy = NULL,
};

bool event_topic_valid(const char *topic)
{
	size_t n = topic ? strlen(topic) : 0;
	if (n == 0 || n > TOPIC_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)topic[i];
		if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
			return false;
	}
	return true;
}

enum err event_bus_create_with(const struct event_bus_ops *ops, void *impl, struct event_bus **out)
{
	struct event_bus *bus = NULL;
	pthread_rwlockattr_t attr;
	enum err e = ERR_NOMEM;

	*out = NULL;
	bus = calloc(1, sizeof(*bus));
	if (!bus)
		goto out;
	if (pthread_rwlockattr_init(&attr) != 0)
		goto out;
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_READER_NP);
	int rc = pthread_rwlock_init(&bus->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc != 0)
		goto out;
	bus->ops = ops;
	bus->impl = impl;
	*out = bus;
	bus = NULL;
	impl = NULL;
	e = ERR_OK;
out:
	free(bus);
	if (impl && ops->destroy)
		ops->destroy(impl);
	return e;
}

enum err event_bus_create(struct event_bus **out)
{
	return event_bus_create_with(&local_ops, NULL, out);
}

void event_bus_destroy(struct event_bus *bus)
{
	if (!bus)
		return;
	if (bus->ops->destroy)
		bus->ops->destroy(bus->impl);
	for (size_t i = 0; i < bus->nsubs; i++)
		free(bus->subs[i].prefix);
	free(bus->subs);
	pthread_rwlock_destroy(&bus->lock);
	free(bus);
}

enum err event_bus_subscribe(struct event_bus *bus, const char *topic_prefix, event_bus_fn fn,
                             void *ctx)
{
	char *prefix = NULL;
	enum err e = ERR_OK;

	if (!fn || !topic_prefix || strlen(topic_prefix) > TOPIC_MAX)
		return ERR_BAD_REQUEST;
	prefix = strdup(topic_prefix);
	if (!prefix)
		return ERR_NOMEM;
	pthread_rwlock_wrlock(&bus->lock);
	if (bus->nsubs == bus->alloc) {
		size_t na = bus->alloc ? bus->alloc * 2 : 8;
		struct subscriber *ns = realloc(bus->subs, na * sizeof(*ns));
		if (!ns) {
			e = ERR_NOMEM;
			goto out;
		}
		bus->subs = ns;
		bus->alloc = na;
	}
	bus->subs[bus->nsubs++] = (struct subscriber){prefix, strlen(prefix), fn, ctx};
	prefix = NULL;
out:
	pthread_rwlock_unlock(&bus->lock);
	free(prefix);
	return e;
}

enum err event_bus_unsubscribe(struct event_bus *bus, event_bus_fn fn, void *ctx)
{
	size_t kept = 0, removed = 0;

	pthread_rwlock_wrlock(&bus->lock);
	for (size_t i = 0; i < bus->nsubs; i++) {
		if (bus->subs[i].fn == fn && bus->subs[i].ctx == ctx) {
			free(bus->subs[i].prefix);
			removed++;
		} else {
			bus->subs[kept++] = bus->subs[i];
		}
	}
	bus->nsubs = kept;
	pthread_rwlock_unlock(&bus->lock);
	return removed ? ERR_OK : ERR_NOT_FOUND;
}

void event_bus_deliver(struct event_bus *bus, const char *topic, const char *json)
{
	size_t tlen = strlen(topic);

	pthread_rwlock_rdlock(&bus->lock);
	for (size_t i = 0; i < bus->nsubs; i++) {
		const struct subscriber *s = &bus->subs[i];
		if (s->plen <= tlen && memcmp(s->prefix, topic, s->plen) == 0)
			s->fn(s->ctx, topic, json);
	}
	pthread_rwlock_unlock(&bus->lock);
}

enum err event_bus_publish(struct event_bus *bus, const char *topic, const char *json)
{
	if (!event_topic_valid(topic))
		return ERR_BAD_FIELD;
	if (!json || !json[0])
		return ERR_BAD_JSON;
	if (!utf8_valid(json, strlen(json)))
		return ERR_BAD_UTF8;
	return bus->ops->publish(bus->impl, bus, topic, json);
}
