/* WebSocket hub over real sockets (AF_UNIX socketpairs): the topic protocol, authorization,
 * fan-out, slow consumers, timers, the close handshake and on_close accounting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "ws/ws.h"

static const uint8_t MASK[4] = {1, 2, 3, 4};

/* The test's end of one connection. */
struct client {
	int fd;     /* ours */
	int hub_fd; /* handed to the hub; on_close closes it, as the HTTP layer would */
	atomic_int closed;
	struct ws_parser p;
	char in[65536];
	size_t in_off, in_len;
	bool eof;
};

/* A received message, copied out of the parser. */
struct msg {
	enum ws_opcode op;
	uint16_t code;
	struct buf data;
};

static void on_close_cb(void *arg)
{
	struct client *c = arg;
	atomic_fetch_add(&c->closed, 1);
	close(c->hub_fd);
}

static void client_init(struct client *c)
{
	memset(c, 0, sizeof(*c));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	c->fd = sv[0];
	c->hub_fd = sv[1];
	ws_parser_init(&c->p, 1u << 20, false);
}

static void client_open(struct ws_hub *h, struct client *c, int64_t user)
{
	client_init(c);
	assert_int_equal(ws_hub_adopt(h, c->hub_fd, user, "test-session", on_close_cb, c), ERR_OK);
}

static void client_release(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	ws_parser_release(&c->p);
}

static void send_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

static void send_frame(struct client *c, enum ws_opcode op, const void *p, size_t n)
{
	struct buf b;
	buf_init(&b, 1u << 20);
	assert_int_equal(ws_frame_append(&b, op, true, p, n, MASK), ERR_OK);
	send_all(c->fd, b.p, b.len);
	buf_release(&b);
}

static void send_text(struct client *c, const char *s)
{
	send_frame(c, WS_OP_TEXT, s, strlen(s));
}

/* Next message within timeout_ms: 1 got one, 0 timed out, -1 EOF or protocol error. */
static int recv_msg(struct client *c, struct msg *m, int timeout_ms)
{
	int64_t deadline = time_mono_ns() + (int64_t)timeout_ms * 1000000;

	buf_init(&m->data, 1u << 20);
	for (;;) {
		while (c->in_off < c->in_len) {
			struct ws_msg wm;
			size_t used;
			enum ws_status st = ws_parser_feed(&c->p, c->in + c->in_off,
			                                   c->in_len - c->in_off, &used, &wm);
			c->in_off += used;
			if (st == WS_FAIL)
				return -1;
			if (st == WS_MSG) {
				m->op = wm.op;
				m->code = wm.code;
				assert_int_equal(buf_append(&m->data, wm.p, wm.n), ERR_OK);
				return 1;
			}
		}
		if (c->eof)
			return -1;
		int64_t left = (deadline - time_mono_ns()) / 1000000;
		if (left <= 0)
			return 0;
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		ssize_t r = read(c->fd, c->in, sizeof(c->in));
		if (r <= 0) {
			c->eof = true;
			continue;
		}
		c->in_off = 0;
		c->in_len = (size_t)r;
	}
}

/* Next text message as JSON (skipping pings); fails the test on timeout. */
static json_t *recv_json(struct client *c)
{
	struct msg m;
	for (;;) {
		int rc = recv_msg(c, &m, 3000);
		assert_int_equal(rc, 1);
		if (m.op == WS_OP_PING) {
			buf_release(&m.data);
			continue;
		}
		assert_int_equal(m.op, WS_OP_TEXT);
		json_t *v = json_loadb(m.data.p, m.data.len, 0, NULL);
		buf_release(&m.data);
		assert_non_null(v);
		return v;
	}
}

static void expect_op(struct client *c, const char *op, const char *topic)
{
	json_t *v = recv_json(c);
	assert_string_equal(json_string_value(json_object_get(v, "op")), op);
	if (topic)
		assert_string_equal(json_string_value(json_object_get(v, "topic")), topic);
	json_decref(v);
}

/* Expect an error reply; returns nothing, checks the zh-CN message is present. */
static void expect_error(struct client *c, const char *topic)
{
	json_t *v = recv_json(c);
	assert_string_equal(json_string_value(json_object_get(v, "op")), "error");
	const char *msg = json_string_value(json_object_get(v, "message"));
	assert_non_null(msg);
	assert_true(strlen(msg) > 0);
	if (topic)
		assert_string_equal(json_string_value(json_object_get(v, "topic")), topic);
	else
		assert_null(json_object_get(v, "topic"));
	json_decref(v);
}

/* Expect a close frame with code, then EOF. */
static void expect_close(struct client *c, uint16_t code)
{
	struct msg m;
	for (;;) {
		assert_int_equal(recv_msg(c, &m, 3000), 1);
		enum ws_opcode op = m.op;
		uint16_t got = m.code;
		buf_release(&m.data);
		if (op == WS_OP_CLOSE) {
			assert_int_equal(got, code);
			return;
		}
	}
}

static void wait_closed(struct client *c)
{
	for (int i = 0; i < 500 && atomic_load(&c->closed) == 0; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&c->closed), 1);
}

static void subscribe(struct client *c, const char *topic)
{
	char req[256];
	snprintf(req, sizeof(req), "{\"op\":\"subscribe\",\"topic\":\"%s\"}", topic);
	send_text(c, req);
}

/* Users may subscribe to centre:* topics; user 666 to nothing. */
static bool allow_centres(void *ctx, int64_t user_id, const char *topic)
{
	atomic_int *calls = ctx;
	if (calls)
		atomic_fetch_add(calls, 1);
	return user_id != 666 && strncmp(topic, "centre:", 7) == 0;
}

static struct ws_hub *hub_new(size_t queue_max, int ping_s, int idle_s)
{
	struct ws_hub_config cfg = {.max_conns = 100,
	                            .queue_max = queue_max,
	                            .ping_interval_s = ping_s,
	                            .idle_timeout_s = idle_s,
	                            .max_message = 4096};
	struct ws_hub *h = NULL;
	assert_int_equal(ws_hub_create(&cfg, &h), ERR_OK);
	assert_non_null(h);
	return h;
}

static void wait_stat(struct ws_hub *h, size_t offset, uint64_t want)
{
	struct ws_hub_stats st;
	for (int i = 0; i < 500; i++) {
		ws_hub_stats_get(h, &st);
		if (*(uint64_t *)((char *)&st + offset) == want)
			return;
		usleep(10000);
	}
	assert_int_equal(*(uint64_t *)((char *)&st + offset), want);
}

static void test_subscribe_and_receive(void **state)
{
	struct ws_hub *h = hub_new(0, 60, 120);
	struct client c;
	atomic_int calls = 0;
	struct ws_hub_stats st;

	ws_hub_set_authorizer(h, allow_centres, &calls);
	client_open(h, &c, 7);
	subscribe(&c, "centre:310104001:queue");
	expect_op(&c, "subscribed", "centre:310104001:queue");
	assert_int_equal(atomic_load(&calls), 1);
	/* Subscribing again is idempotent and does not ask the authorizer. */
	subscribe(&c, "centre:310104001:queue");
	expect_op(&c, "subscribed", "centre:310104001:queue");
	assert_int_equal(atomic_load(&calls), 1);

	const char *other = "{\"x\":0}", *ev = "{\"ticket\":\"A012\",\"window\":3}";
	assert_int_equal(ws_hub_publish(h, "centre:310104002:queue", other, strlen(other)), ERR_OK);
	assert_int_equal(ws_hub_publish(h, "centre:310104001:queue", ev, strlen(ev)), ERR_OK);
	/* Only the subscribed topic arrives, whole and in the documented envelope. */
	json_t *v = recv_json(&c);
	assert_string_equal(json_string_value(json_object_get(v, "op")), "event");
	assert_string_equal(json_string_value(json_object_get(v, "topic")),
	                    "centre:310104001:queue");
	json_t *data = json_object_get(v, "data");
	assert_string_equal(json_string_value(json_object_get(data, "ticket")), "A012");
	assert_int_equal(json_integer_value(json_object_get(data, "window")), 3);
	json_decref(v);

	send_text(&c, "{\"op\":\"ping\"}");
	expect_op(&c, "pong", NULL);

	ws_hub_stats_get(h, &st);
	assert_int_equal(st.conns, 1);
	assert_int_equal(st.subscriptions, 1);
	assert_int_equal(st.published, 2);
	assert_int_equal(st.messages_in, 3);
	assert_int_equal(st.messages_out, 4); /* 2 subscribed, 1 event, 1 pong */
	assert_int_equal(st.dropped_slow, 0);

	ws_hub_destroy(h);
	assert_int_equal(atomic_load(&c.closed), 1);
	client_release(&c);
}

static void test_denied_and_malformed(void **state)
{
	struct ws_hub *h = hub_new(0, 60, 120);
	struct client c, evil;
	struct ws_hub_stats st;

	/* No authorizer yet: everything is refused. */
	client_open(h, &c, 7);
	subscribe(&c, "centre:1:queue");
	expect_error(&c, "centre:1:queue");

	ws_hub_set_authorizer(h, allow_centres, NULL);
	subscribe(&c, "admin:all");
	expect_error(&c, "admin:all");
	client_open(h, &evil, 666);
	subscribe(&evil, "centre:1:queue");
	expect_error(&evil, "centre:1:queue");

	/* Bad topics, bad JSON, unknown ops, binary: an error each, the connection lives on. */
	subscribe(&c, "has space");
	expect_error(&c, "has space");
	char longt[200];
	memset(longt, 'a', 129);
	longt[129] = 0;
	subscribe(&c, longt);
	expect_error(&c, longt);
	send_text(&c, "{\"op\":\"subscribe\",\"topic\":5}");
	expect_error(&c, NULL);
	send_text(&c, "{\"op\":\"subscribe\"");
	expect_error(&c, NULL);
	send_text(&c, "[1,2]");
	expect_error(&c, NULL);
	send_text(&c, "{\"topic\":\"centre:1:queue\"}");
	expect_error(&c, NULL);
	send_text(&c, "{\"op\":\"launch\"}");
	expect_error(&c, NULL);
	send_frame(&c, WS_OP_BINARY, "\x01\x02", 2);
	expect_error(&c, NULL);
	send_text(&c, "{\"op\":\"ping\"}");
	expect_op(&c, "pong", NULL);

	/* Nothing was subscribed, so a publish reaches nobody. */
	ws_hub_stats_get(h, &st);
	assert_int_equal(st.subscriptions, 0);
	assert_int_equal(st.conns, 2);

	/* Publish-side validation. */
	assert_int_equal(ws_hub_publish(h, "bad topic", "1", 1), ERR_BAD_FIELD);
	assert_int_equal(ws_hub_publish(h, "centre:1:queue", "\"\xc3\x28\"", 4), ERR_BAD_UTF8);
	assert_int_equal(ws_hub_publish(h, "centre:1:queue", "", 0), ERR_BAD_JSON);

	ws_hub_destroy(h);
	assert_int_equal(atomic_load(&c.closed), 1);
	assert_int_equal(atomic_load(&evil.closed), 1);
	client_release(&c);
	client_release(&evil);
}

static void test_unsubscribe(void **state)
{
	struct ws_hub *h = hub_new(0, 60, 120);
	struct client a, b;

	ws_hub_set_authorizer(h, allow_centres, NULL);
	client_open(h, &a, 1);
	client_open(h, &b, 2);
	subscribe(&a, "centre:1:queue");
	expect_op(&a, "subscribed", "centre:1:queue");
	subscribe(&a, "centre:1:board");
	expect_op(&a, "subscribed", "centre:1:board");
	subscribe(&b, "centre:1:queue");
	expect_op(&b, "subscribed", "centre:1:queue");
	send_text(&a, "{\"op\":\"unsubscribe\",\"topic\":\"centre:1:queue\"}");
	expect_op(&a, "unsubscribed", "centre:1:queue");

	/* Publishes are fanned out in order: if a still got queue events, it would see the first
	 * one before the board event. */
	assert_int_equal(ws_hub_publish(h, "centre:1:queue", "1", 1), ERR_OK);
	assert_int_equal(ws_hub_publish(h, "centre:1:board", "2", 1), ERR_OK);
	json_t *v = recv_json(&a);
	assert_string_equal(json_string_value(json_object_get(v, "topic")), "centre:1:board");
	json_decref(v);
	v = recv_json(&b);
	assert_string_equal(json_string_value(json_object_get(v, "topic")), "centre:1:queue");
	assert_int_equal(json_integer_value(json_object_get(v, "data")), 1);
	json_decref(v);

	/* Unsubscribing from something never subscribed is harmless. */
	send_text(&a, "{\"op\":\"unsubscribe\",\"topic\":\"centre:9:x\"}");
	expect_op(&a, "unsubscribed", "centre:9:x");
	struct ws_hub_stats st;
	ws_hub_stats_get(h, &st);
	assert_int_equal(st.subscriptions, 2);

	ws_hub_destroy(h);
	client_release(&a);
	client_release(&b);
}

/* The healthy client's reader: counts events until it has `want` or the socket ends. */
struct reader {
	struct client *c;
	int want;
	atomic_int got;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct msg m;
	while (atomic_load(&r->got) < r->want) {
		int rc = recv_msg(r->c, &m, 5000);
		if (rc != 1)
			break;
		if (m.op == WS_OP_TEXT && strstr(m.data.p, "\"op\":\"event\""))
			atomic_fetch_add(&r->got, 1);
		buf_release(&m.data);
	}
	return NULL;
}

static void test_slow_consumer_dropped(void **state)
{
	const size_t queue_max = 64 * 1024;
	struct ws_hub *h = hub_new(queue_max, 60, 120);
	struct client slow, fast;
	struct ws_hub_stats st;
	char ev[1024];
	int sz = 4096;
	const int n = 600;

	ws_hub_set_authorizer(h, allow_centres, NULL);
	client_init(&slow);
	/* Small socket buffers so that the hub's own queue has to absorb the backlog. */
	setsockopt(slow.hub_fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(slow.fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	assert_int_equal(ws_hub_adopt(h, slow.hub_fd, 1, "slow", on_close_cb, &slow), ERR_OK);
	client_open(h, &fast, 2);
	subscribe(&slow, "centre:1:queue");
	expect_op(&slow, "subscribed", "centre:1:queue");
	subscribe(&fast, "centre:1:queue");
	expect_op(&fast, "subscribed", "centre:1:queue");

	struct reader r = {&fast, n, 0};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);

	memset(ev, 'x', sizeof(ev));
	ev[0] = '"';
	ev[sizeof(ev) - 1] = '"';
	uint64_t peak = 0;
	for (int i = 0; i < n; i++) {
		assert_int_equal(ws_hub_publish(h, "centre:1:queue", ev, sizeof(ev)), ERR_OK);
		/* Pace to the fast reader: it is never more than 32 events behind. */
		for (int k = 0; k < 2000 && i - atomic_load(&r.got) > 32; k++)
			usleep(500);
		ws_hub_stats_get(h, &st);
		if (st.queued_bytes > peak)
			peak = st.queued_bytes;
	}
	pthread_join(th, NULL);
	/* The fast client got everything; the slow one was dropped once, and nothing queued
	 * ever grew past the caps. */
	assert_int_equal(atomic_load(&r.got), n);
	wait_closed(&slow);
	assert_int_equal(atomic_load(&fast.closed), 0);
	ws_hub_stats_get(h, &st);
	assert_int_equal(st.dropped_slow, 1);
	assert_int_equal(st.conns, 1);
	assert_int_equal(st.subscriptions, 1);
	assert_true(peak <= 2 * queue_max);
	assert_true(st.queued_bytes <= queue_max);
	/* The slow client, reading at last, finds its stream ends (a 1008 close if it fit). */
	struct msg m;
	int rc;
	while ((rc = recv_msg(&slow, &m, 3000)) == 1)
		buf_release(&m.data);
	assert_int_equal(rc, -1);

	/* An event that could never fit a queue is refused at publish time. */
	char *huge = malloc(queue_max);
	assert_non_null(huge);
	memset(huge, '1', queue_max);
	assert_int_equal(ws_hub_publish(h, "centre:1:queue", huge, queue_max), ERR_TOO_LARGE);
	free(huge);

	ws_hub_destroy(h);
	assert_int_equal(atomic_load(&slow.closed), 1);
	assert_int_equal(atomic_load(&fast.closed), 1);
	client_release(&slow);
	client_release(&fast);
}

static void test_close_handshake(void **state)
{
	struct ws_hub *h = hub_new(0, 60, 120);
	struct client c;
	struct buf b;

	ws_hub_set_authorizer(h, allow_centres, NULL);
	client_open(h, &c, 1);
	subscribe(&c, "centre:1:queue");
	expect_op(&c, "subscribed", "centre:1:queue");
	buf_init(&b, 256);
	assert_int_equal(ws_close_append(&b, WS_CLOSE_NORMAL, "bye", MASK), ERR_OK);
	send_all(c.fd, b.p, b.len);
	buf_release(&b);
	expect_close(&c, WS_CLOSE_NORMAL);
	/* The hub half-closes after its close frame and waits for us to hang up. */
	struct msg m;
	assert_int_equal(recv_msg(&c, &m, 3000), -1);
	close(c.fd);
	c.fd = -1;
	wait_closed(&c);
	wait_stat(h, offsetof(struct ws_hub_stats, conns), 0);
	wait_stat(h, offsetof(struct ws_hub_stats, subscriptions), 0);

	ws_hub_destroy(h);
	assert_int_equal(atomic_load(&c.closed), 1);
	client_release(&c);
}

static void test_protocol_errors_close(void **state)
{
	struct ws_hub *h = hub_new(0, 60, 120);
	struct client unmasked, big, utf8, gone;
	struct buf b;

	client_open(h, &unmasked, 1);
	client_open(h, &big, 2);
	client_open(h, &utf8, 3);
	client_open(h, &gone, 4);

	buf_init(&b, 1u << 16);
	assert_int_equal(ws_frame_append(&b, WS_OP_TEXT, true, "{}", 2, NULL), ERR_OK);
	send_all(unmasked.fd, b.p, b.len);
	expect_close(&unmasked, WS_CLOSE_PROTOCOL);

	char payload[5000];
	memset(payload, ' ', sizeof(payload));
	buf_reset(&b);
	assert_int_equal(ws_frame_append(&b, WS_OP_TEXT, true, payload, sizeof(payload), MASK),
	                 ERR_OK);
	send_all(big.fd, b.p, b.len);
	expect_close(&big, WS_CLOSE_TOO_BIG);

	send_frame(&utf8, WS_OP_TEXT, "\"\xff\"", 3);
	expect_close(&utf8, WS_CLOSE_BAD_DATA);
	buf_release(&b);

	/* A client that just disappears. */
	close(gone.fd);
	gone.fd = -1;
	wait_closed(&gone);

	close(unmasked.fd);
	unmasked.fd = -1;
	close(big.fd);
	big.fd = -1;
	wait_closed(&unmasked);
	wait_closed(&big);
	/* utf8 never hangs up: the hub gives up after its close wait, still exactly once. */
	wait_closed(&utf8);
	wait_stat(h, offsetof(struct ws_hub_stats, conns), 0);

	ws_hub_destroy(h);
	assert_int_equal(atomic_load(&unmasked.closed), 1);
	assert_int_equal(atomic_load(&big.closed), 1);
	assert_int_equal(atomic_load(&utf8.closed), 1);
	assert_int_equal(atomic_load(&gone.closed), 1);
	client_release(&unmasked);
	client_release(&big);
	client_release(&utf8);
	client_release(&gone);
}

static void test_ping_and_idle_timeout(void **state)
{
	struct ws_hub *h = hub_new(0, 1, 3);
	struct client c;
	struct msg m;

	client_open(h, &c, 1);
	/* A server ping comes within the interval (plus a sweep). */
	assert_int_equal(recv_msg(&c, &m, 2500), 1);
	assert_int_equal(m.op, WS_OP_PING);
	buf_release(&m.data);
	/* Answering keeps the connection: 1.5 s later it is still open. */
	send_frame(&c, WS_OP_PONG, "", 0);
	usleep(1500000);
	assert_int_equal(atomic_load(&c.closed), 0);
	/* Then silence: closed for idleness with 1001. */
	int64_t t0 = time_mono_ns();
	expect_close(&c, WS_CLOSE_GOING_AWAY);
	assert_true(time_mono_ns() - t0 < 4000000000LL);
	close(c.fd);
	c.fd = -1;
	wait_closed(&c);
	ws_hub_destroy(h);
	client_release(&c);
}

static void test_destroy_with_live_connections(void **state)
{
	struct ws_hub *h = hub_new(0, 60, 120);
	struct client c[3];

	ws_hub_set_authorizer(h, allow_centres, NULL);
	for (int i = 0; i < 3; i++) {
		client_open(h, &c[i], i + 1);
		subscribe(&c[i], "centre:1:queue");
		expect_op(&c[i], "subscribed", "centre:1:queue");
	}
	ws_hub_destroy(h);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(atomic_load(&c[i].closed), 1);
		expect_close(&c[i], WS_CLOSE_GOING_AWAY);
		client_release(&c[i]);
	}
}

static void test_limits_and_adopt_ex(void **state)
{
	struct ws_hub_config cfg = {.max_conns = 2};
	struct ws_hub *h = NULL;
	struct client a, b, full;
	struct buf pre;

	assert_int_equal(ws_hub_create(&cfg, &h), ERR_OK);
	ws_hub_set_authorizer(h, allow_centres, NULL);
	client_open(h, &a, 1);
	/* Bytes the HTTP layer read past the upgrade request are processed first. */
	client_init(&b);
	buf_init(&pre, 256);
	const char *sub = "{\"op\":\"subscribe\",\"topic\":\"centre:1:queue\"}";
	assert_int_equal(ws_frame_append(&pre, WS_OP_TEXT, true, sub, strlen(sub), MASK), ERR_OK);
	assert_int_equal(ws_hub_adopt_ex(h, b.hub_fd, 2, NULL, pre.p, pre.len, on_close_cb, &b),
	                 ERR_OK);
	buf_release(&pre);
	expect_op(&b, "subscribed", "centre:1:queue");

	/* Full: refused, and on_close has run before the call returns. */
	client_init(&full);
	assert_int_equal(ws_hub_adopt(h, full.hub_fd, 3, NULL, on_close_cb, &full),
	                 ERR_UNAVAILABLE);
	assert_int_equal(atomic_load(&full.closed), 1);

	/* A place frees up when a connection goes. */
	close(a.fd);
	a.fd = -1;
	wait_closed(&a);
	wait_stat(h, offsetof(struct ws_hub_stats, conns), 1);
	client_release(&full);
	client_open(h, &full, 3);

	ws_hub_destroy(h);
	assert_int_equal(atomic_load(&b.closed), 1);
	assert_int_equal(atomic_load(&full.closed), 1);
	client_release(&a);
	client_release(&b);
	client_release(&full);
}

int main(void)
{
	log_setup(LOG_ERROR, stderr);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_subscribe_and_receive),
	    cmocka_unit_test(test_denied_and_malformed),
	    cmocka_unit_test(test_unsubscribe),
	    cmocka_unit_test(test_slow_consumer_dropped),
	    cmocka_unit_test(test_close_handshake),
	    cmocka_unit_test(test_protocol_errors_close),
	    cmocka_unit_test(test_ping_and_idle_timeout),
	    cmocka_unit_test(test_destroy_with_live_connections),
	    cmocka_unit_test(test_limits_and_adopt_ex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
