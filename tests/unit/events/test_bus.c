/* Event bus: prefix routing, validation, unsubscribe, nesting, threads, custom backends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>

#include "core/buf.h"
#include "events/events.h"

/* A subscriber that records "<tag>|<topic>|<json>;" for every call. */
struct rec {
	const char *tag;
	struct buf *log;
};

static void record(void *ctx, const char *topic, const char *json)
{
	struct rec *r = ctx;
	buf_printf(r->log, "%s|%s|%s;", r->tag, topic, json);
}

static void test_prefix_routing(void **state)
{
	struct event_bus *bus;
	struct buf log;
	struct rec all = {"all", &log}, centre = {"centre", &log}, one = {"one", &log};

	buf_init(&log, 4096);
	assert_int_equal(event_bus_create(&bus), ERR_OK);
	assert_int_equal(event_bus_subscribe(bus, "", record, &all), ERR_OK);
	assert_int_equal(event_bus_subscribe(bus, "centre:", record, &centre), ERR_OK);
	assert_int_equal(event_bus_subscribe(bus, "centre:310104001:", record, &one), ERR_OK);

	assert_int_equal(event_bus_publish(bus, "centre:310104001:queue", "{\"n\":1}"), ERR_OK);
	assert_string_equal(log.p, "all|centre:310104001:queue|{\"n\":1};"
	                           "centre|centre:310104001:queue|{\"n\":1};"
	                           "one|centre:310104001:queue|{\"n\":1};");
	buf_reset(&log);
	assert_int_equal(event_bus_publish(bus, "centre:310104002:queue", "2"), ERR_OK);
	assert_string_equal(log.p, "all|centre:310104002:queue|2;centre|centre:310104002:queue|2;");
	buf_reset(&log);
	/* "centre:" is a byte prefix: "centres" does not match it. */
	assert_int_equal(event_bus_publish(bus, "centres:x", "[]"), ERR_OK);
	assert_string_equal(log.p, "all|centres:x|[];");
	event_bus_destroy(bus);
	buf_release(&log);
}

static void test_validation(void **state)
{
	struct event_bus *bus;
	struct buf log;
	struct rec all = {"all", &log};
	char long_topic[130];

	memset(long_topic, 'a', 129);
	long_topic[129] = 0;
	buf_init(&log, 4096);
	assert_int_equal(event_bus_create(&bus), ERR_OK);
	assert_int_equal(event_bus_subscribe(bus, "", record, &all), ERR_OK);
	assert_int_equal(event_bus_publish(bus, "", "1"), ERR_BAD_FIELD);
	assert_int_equal(event_bus_publish(bus, NULL, "1"), ERR_BAD_FIELD);
	assert_int_equal(event_bus_publish(bus, "has space", "1"), ERR_BAD_FIELD);
	assert_int_equal(event_bus_publish(bus, "quote\"", "1"), ERR_BAD_FIELD);
	assert_int_equal(event_bus_publish(bus, "受理", "1"), ERR_BAD_FIELD);
	assert_int_equal(event_bus_publish(bus, long_topic, "1"), ERR_BAD_FIELD);
	long_topic[128] = 0;
	assert_true(event_topic_valid(long_topic));
	assert_int_equal(event_bus_publish(bus, "t", ""), ERR_BAD_JSON);
	assert_int_equal(event_bus_publish(bus, "t", NULL), ERR_BAD_JSON);
	assert_int_equal(event_bus_publish(bus, "t", "\"\xc3\x28\""), ERR_BAD_UTF8);
	assert_int_equal(log.len, 0);
	assert_int_equal(event_bus_subscribe(bus, "x", NULL, NULL), ERR_BAD_REQUEST);
	event_bus_destroy(bus);
	event_bus_destroy(NULL);
	buf_release(&log);
}

static void test_unsubscribe(void **state)
{
	struct event_bus *bus;
	struct buf log;
	struct rec a = {"a", &log}, b = {"b", &log};

	buf_init(&log, 4096);
	assert_int_equal(event_bus_create(&bus), ERR_OK);
	assert_int_equal(event_bus_subscribe(bus, "t", record, &a), ERR_OK);
	assert_int_equal(event_bus_subscribe(bus, "", record, &a), ERR_OK);
	assert_int_equal(event_bus_subscribe(bus, "t", record, &b), ERR_OK);
	assert_int_equal(event_bus_publish(bus, "t", "1"), ERR_OK);
	assert_string_equal(log.p, "a|t|1;a|t|1;b|t|1;");
	/* Removes both of a's subscriptions, keeps b's. */
	assert_int_equal(event_bus_unsubscribe(bus, record, &a), ERR_OK);
	assert_int_equal(event_bus_unsubscribe(bus, record, &a), ERR_NOT_FOUND);
	buf_reset(&log);
	assert_int_equal(event_bus_publish(bus, "t", "2"), ERR_OK);
	assert_string_equal(log.p, "b|t|2;");
	event_bus_destroy(bus);
	buf_release(&log);
}

/* A subscriber that republishes "a:*" events as "b:*" (derived events). */
struct relay {
	struct event_bus *bus;
	enum err last;
};

static void relay_fn(void *ctx, const char *topic, const char *json)
{
	struct relay *r = ctx;
	char t[64];
	snprintf(t, sizeof(t), "b:%s", topic + 2);
	r->last = event_bus_publish(r->bus, t, json);
}

static void test_nested_publish(void **state)
{
	struct event_bus *bus;
	struct buf log;
	struct rec rb = {"b", &log};
	struct relay rel = {NULL, ERR_INTERNAL};

	buf_init(&log, 4096);
	assert_int_equal(event_bus_create(&bus), ERR_OK);
	rel.bus = bus;
	assert_int_equal(event_bus_subscribe(bus, "a:", relay_fn, &rel), ERR_OK);
	assert_int_equal(event_bus_subscribe(bus, "b:", record, &rb), ERR_OK);
	assert_int_equal(event_bus_publish(bus, "a:x", "7"), ERR_OK);
	assert_int_equal(rel.last, ERR_OK);
	assert_string_equal(log.p, "b|b:x|7;");
	event_bus_destroy(bus);
	buf_release(&log);
}

/* Threads: publishers on several threads while subscriptions come and go. */
struct counter {
	atomic_long n;
};

static void count_fn(void *ctx, const char *topic, const char *json)
{
	struct counter *c = ctx;
	atomic_fetch_add(&c->n, 1);
}

#define PUB_THREADS 4
#define PUB_EACH    20000

static void *publisher(void *arg)
{
	struct event_bus *bus = arg;
	for (int i = 0; i < PUB_EACH; i++)
		if (event_bus_publish(bus, "load:t", "{}") != ERR_OK)
			return (void *)1;
	return NULL;
}

static void test_threads(void **state)
{
	struct event_bus *bus;
	struct counter steady = {0}, churn = {0};
	pthread_t th[PUB_THREADS];

	assert_int_equal(event_bus_create(&bus), ERR_OK);
	assert_int_equal(event_bus_subscribe(bus, "load:", count_fn, &steady), ERR_OK);
	for (int i = 0; i < PUB_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, publisher, bus), 0);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(event_bus_subscribe(bus, "load:", count_fn, &churn), ERR_OK);
		assert_int_equal(event_bus_unsubscribe(bus, count_fn, &churn), ERR_OK);
	}
	for (int i = 0; i < PUB_THREADS; i++) {
		void *rv;
		pthread_join(th[i], &rv);
		assert_null(rv);
	}
	/* Every publish reached the steady subscriber exactly once. */
	assert_int_equal(atomic_load(&steady.n), PUB_THREADS * PUB_EACH);
	assert_true(atomic_load(&churn.n) <= PUB_THREADS * PUB_EACH);
	event_bus_destroy(bus);
}

/* A backend that defers delivery, as a LISTEN/NOTIFY one does. */
struct fake_backend {
	char topic[64], json[64];
	int published;
	int *destroyed;
};

static enum err fake_publish(void *impl, struct event_bus *bus, const char *topic, const char *json)
{
	struct fake_backend *f = impl;
	if (strcmp(topic, "refuse") == 0)
		return ERR_UNAVAILABLE;
	snprintf(f->topic, sizeof(f->topic), "%s", topic);
	snprintf(f->json, sizeof(f->json), "%s", json);
	f->published++;
	return ERR_OK;
}

static void fake_destroy(void *impl)
{
	struct fake_backend *f = impl;
	(*f->destroyed)++;
	free(f);
}

static const struct event_bus_ops fake_ops = {"fake", fake_publish, fake_destroy};

static void test_custom_backend(void **state)
{
	struct event_bus *bus;
	struct buf log;
	struct rec all = {"all", &log};
	int destroyed = 0;
	struct fake_backend *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->destroyed = &destroyed;
	buf_init(&log, 4096);
	assert_int_equal(event_bus_create_with(&fake_ops, f, &bus), ERR_OK);
	assert_int_equal(event_bus_subscribe(bus, "", record, &all), ERR_OK);
	assert_int_equal(event_bus_publish(bus, "case:1", "{\"s\":2}"), ERR_OK);
	/* Published to the backend, not yet delivered. */
	assert_int_equal(f->published, 1);
	assert_int_equal(log.len, 0);
	/* The backend's listener hands it back. */
	event_bus_deliver(bus, f->topic, f->json);
	assert_string_equal(log.p, "all|case:1|{\"s\":2};");
	/* Backend errors reach the publisher. */
	assert_int_equal(event_bus_publish(bus, "refuse", "1"), ERR_UNAVAILABLE);
	event_bus_destroy(bus);
	assert_int_equal(destroyed, 1);
	buf_release(&log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prefix_routing), cmocka_unit_test(test_validation),
	    cmocka_unit_test(test_unsubscribe),    cmocka_unit_test(test_nested_publish),
	    cmocka_unit_test(test_threads),        cmocka_unit_test(test_custom_backend),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
