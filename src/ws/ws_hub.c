/* ws_hub.c: the WebSocket push hub — one epoll thread owns every adopted socket.
 *
 * Threads: ws_hub_adopt and ws_hub_publish run on any thread; they only append to the
 * pending lists under h->lock and wake the hub through an eventfd. Everything else (the
 * connections, the topic index, the send queues) belongs to the hub thread and has no lock.
 *
 * Memory: an idle connection is one struct conn (~270 bytes) plus ~50 bytes per subscription
 * and nothing else — the parser allocates only while a message is in flight, reads go through
 * one hub-wide scratch buffer, and the send queue is a list that holds no memory once
 * everything has been written (measured: ~400 bytes of RSS per subscribed connection). A
 * published event is framed once into a reference-counted blob that every subscriber's queue
 * points at, so fan-out to 18,000 clients costs 18,000 small queue entries, not 18,000 copies.
 *
 * Lifetime: a connection is "killed" exactly once (kill_conn): it leaves epoll, its
 * subscriptions and queue go, on_close runs, and its memory moves to the graveyard, which is
 * freed at the end of the loop iteration — so an epoll event or a dirty-list entry that still
 * points at it in the same iteration finds state CS_DEAD instead of freed memory. */
#include "ws/ws.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"

#define READ_CHUNK      (16 * 1024)
#define EPOLL_BATCH     256
#define IOV_BATCH       32
#define CLOSE_WAIT_S    3           /* how long a closing connection may take to flush */
#define BACKLOG_MAX     (32u << 20) /* bytes of publishes waiting for the hub thread */
#define TOPIC_TABLE_MIN 256

/* One frame, shared by every send queue that carries it. Touched only by the hub thread once
 * it is queued, so the count needs no atomics. */
struct blob {
	uint32_t refs;
	uint32_t len;
	char data[];
};

struct qent {
	struct qent *next;
	struct blob *b;
};

struct conn;
struct topic;

/* A subscription: on the topic's doubly linked list and on the connection's short list. */
struct sub {
	struct topic *t;
	struct conn *c;
	struct sub *t_prev, *t_next;
	struct sub *c_next;
};

struct topic {
	struct topic *hnext;
	struct sub *subs;
	uint32_t hash;
	uint32_t nsubs;
	char name[];
};

enum conn_state {
	CS_OPEN,
	CS_CLOSING, /* close frame queued: flush it */
	CS_LINGER,  /* close frame written and write side shut: wait for the peer's EOF */
	CS_DEAD,
};

struct conn {
	struct conn *prev, *next; /* live connections (or graveyard via next) */
	struct conn *dnext;       /* dirty list: has queued data to try to write */
	int fd;
	uint8_t state;
	uint8_t nsubs;
	bool want_out; /* EPOLLOUT armed: the socket is full */
	bool dirty;
	uint32_t last_rx, last_ping, close_deadline; /* hub clock, seconds */
	uint32_t qoff;                               /* bytes of qhead already written */
	size_t qbytes;                               /* bytes queued and not yet written */
	struct qent *qhead, *qtail;
	struct sub *subs;
	int64_t user_id;
	char *tag;
	void (*on_close)(void *arg);
	void *arg;
	char *pre; /* bytes read by the HTTP layer past the upgrade, until adoption */
	size_t pre_n;
	struct ws_parser parser;
};

struct pub {
	struct pub *next;
	struct blob *b;
	size_t tlen;
	char topic[];
};

struct ws_hub {
	struct ws_hub_config cfg;
	pthread_t thread;
	int epfd, evfd;

	pthread_mutex_t lock; /* guards the fields down to allow_ctx */
	struct conn *adopt_head;
	struct pub *pub_head, *pub_tail;
	size_t backlog;
	bool stopping;
	bool (*allow)(void *ctx, int64_t user_id, const char *topic);
	void *allow_ctx;

	atomic_int nconns; /* adopted or pending, for max_conns */

	/* hub thread only */
	struct conn *conns;
	struct conn *graveyard;
	struct conn *dirty;
	struct topic **tab;
	size_t tabsz, ntopics;
	char *rbuf;
	int64_t t0_ns;
	uint32_t now;

	_Atomic uint64_t st_conns, st_subs, st_in, st_out, st_dropped, st_published, st_queued;
};

static uint32_t hub_clock(const struct ws_hub *h)
{
	return (uint32_t)((time_mono_ns() - h->t0_ns) / 1000000000);
}

static void stat_add(_Atomic uint64_t *s, uint64_t n)
{
	atomic_fetch_add_explicit(s, n, memory_order_relaxed);
}

static void stat_sub(_Atomic uint64_t *s, uint64_t n)
{
	atomic_fetch_sub_explicit(s, n, memory_order_relaxed);
}

static const char *conn_tag(const struct conn *c)
{
	return c->tag ? c->tag : "-";
}

bool ws_topic_valid(const char *t, size_t n)
{
	if (!t || n == 0 || n > WS_TOPIC_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)t[i];
		if (ch < 0x21 || ch > 0x7e || ch == '"' || ch == '\\')
			return false;
	}
	return true;
}

/* ---- frames ---- */

static struct blob *blob_new(enum ws_opcode op, size_t n)
{
	uint8_t hdr[WS_FRAME_HEADER_MAX];
	size_t hn = ws_frame_header(hdr, op, true, n, NULL);
	if (hn + n > UINT32_MAX)
		return NULL;
	struct blob *b = malloc(sizeof(*b) + hn + n);
	if (!b)
		return NULL;
	b->refs = 1;
	b->len = (uint32_t)(hn + n);
	memcpy(b->data, hdr, hn);
	return b;
}

/* The payload area of a blob made by blob_new for n bytes. */
static char *blob_payload(struct blob *b, size_t n)
{
	return b->data + b->len - n;
}

static struct blob *blob_make(enum ws_opcode op, const void *p, size_t n)
{
	struct blob *b = blob_new(op, n);
	if (b && n)
		memcpy(blob_payload(b, n), p, n);
	return b;
}

static void blob_unref(struct blob *b)
{
	if (b && --b->refs == 0)
		free(b);
}

/* ---- topic index ---- */

static uint32_t topic_hash(const char *s, size_t n)
{
	uint32_t x = 2166136261u;
	for (size_t i = 0; i < n; i++)
		x = (x ^ (unsigned char)s[i]) * 16777619u;
	return x;
}

static struct topic *topic_find(struct ws_hub *h, const char *name, size_t n, uint32_t hash)
{
	for (struct topic *t = h->tab[hash & (h->tabsz - 1)]; t; t = t->hnext)
		if (t->hash == hash && strlen(t->name) == n && memcmp(t->name, name, n) == 0)
			return t;
	return NULL;
}

static void topic_table_grow(struct ws_hub *h)
{
	size_t nsz = h->tabsz * 2;
	struct topic **nt = calloc(nsz, sizeof(*nt));
	if (!nt)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < h->tabsz; i++) {
		struct topic *t = h->tab[i], *next;
		for (; t; t = next) {
			next = t->hnext;
			t->hnext = nt[t->hash & (nsz - 1)];
			nt[t->hash & (nsz - 1)] = t;
		}
	}
	free(h->tab);
	h->tab = nt;
	h->tabsz = nsz;
}

static struct topic *topic_get(struct ws_hub *h, const char *name, size_t n)
{
	uint32_t hash = topic_hash(name, n);
	struct topic *t = topic_find(h, name, n, hash);
	if (t)
		return t;
	t = malloc(sizeof(*t) + n + 1);
	if (!t)
		return NULL;
	t->subs = NULL;
	t->hash = hash;
	t->nsubs = 0;
	memcpy(t->name, name, n);
	t->name[n] = 0;
	t->hnext = h->tab[hash & (h->tabsz - 1)];
	h->tab[hash & (h->tabsz - 1)] = t;
	if (++h->ntopics > h->tabsz)
		topic_table_grow(h);
	return t;
}

static void topic_drop(struct ws_hub *h, struct topic *t)
{
	struct topic **pp = &h->tab[t->hash & (h->tabsz - 1)];
	while (*pp != t)
		pp = &(*pp)->hnext;
	*pp = t->hnext;
	h->ntopics--;
	free(t);
}

static struct sub *conn_sub_find(struct conn *c, const char *name, size_t n)
{
	for (struct sub *s = c->subs; s; s = s->c_next)
		if (strlen(s->t->name) == n && memcmp(s->t->name, name, n) == 0)
			return s;
	return NULL;
}

static enum err sub_add(struct ws_hub *h, struct conn *c, const char *name, size_t n)
{
	struct topic *t = topic_get(h, name, n);
	if (!t)
		return ERR_NOMEM;
	struct sub *s = malloc(sizeof(*s));
	if (!s) {
		if (t->nsubs == 0)
			topic_drop(h, t);
		return ERR_NOMEM;
	}
	s->t = t;
	s->c = c;
	s->t_prev = NULL;
	s->t_next = t->subs;
	if (t->subs)
		t->subs->t_prev = s;
	t->subs = s;
	t->nsubs++;
	s->c_next = c->subs;
	c->subs = s;
	c->nsubs++;
	stat_add(&h->st_subs, 1);
	return ERR_OK;
}

static void sub_remove(struct ws_hub *h, struct sub *s)
{
	struct topic *t = s->t;
	struct conn *c = s->c;

	if (s->t_prev)
		s->t_prev->t_next = s->t_next;
	else
		t->subs = s->t_next;
	if (s->t_next)
		s->t_next->t_prev = s->t_prev;
	if (--t->nsubs == 0)
		topic_drop(h, t);
	struct sub **pp = &c->subs;
	while (*pp != s)
		pp = &(*pp)->c_next;
	*pp = s->c_next;
	c->nsubs--;
	stat_sub(&h->st_subs, 1);
	free(s);
}

/* ---- connections ---- */

static void set_out(struct ws_hub *h, struct conn *c, bool on)
{
	if (c->want_out == on)
		return;
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
	if (epoll_ctl(h->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->want_out = on;
}

static void queue_free(struct ws_hub *h, struct conn *c)
{
	struct qent *e = c->qhead, *next;
	for (; e; e = next) {
		next = e->next;
		blob_unref(e->b);
		free(e);
	}
	c->qhead = c->qtail = NULL;
	c->qoff = 0;
	stat_sub(&h->st_queued, c->qbytes);
	c->qbytes = 0;
}

/* The hub is done with c: exactly once per connection. */
static void kill_conn(struct ws_hub *h, struct conn *c)
{
	if (c->state == CS_DEAD)
		return;
	c->state = CS_DEAD;
	epoll_ctl(h->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	while (c->subs)
		sub_remove(h, c->subs);
	queue_free(h, c);
	ws_parser_release(&c->parser);
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	stat_sub(&h->st_conns, 1);
	atomic_fetch_sub(&h->nconns, 1);
	log_debug("ws.close", "connection %s closed", conn_tag(c));
	c->on_close(c->arg);
	c->prev = NULL;
	c->next = h->graveyard;
	h->graveyard = c;
}

static void conn_free(struct conn *c)
{
	free(c->tag);
	free(c->pre);
	free(c);
}

static void mark_dirty(struct ws_hub *h, struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->dnext = h->dirty;
	h->dirty = c;
}

/* Queue b on c. Fails when the queue would pass queue_max (unless force: close frames, which
 * are tiny and must get through) or when memory runs out. */
static bool enqueue(struct ws_hub *h, struct conn *c, struct blob *b, bool force)
{
	if (!force && c->qbytes + b->len > h->cfg.queue_max)
		return false;
	struct qent *e = malloc(sizeof(*e));
	if (!e)
		return false;
	e->next = NULL;
	e->b = b;
	b->refs++;
	if (c->qtail)
		c->qtail->next = e;
	else
		c->qhead = e;
	c->qtail = e;
	c->qbytes += b->len;
	stat_add(&h->st_queued, b->len);
	mark_dirty(h, c);
	return true;
}

/* Write as much of the queue as the socket takes. */
static void flush(struct ws_hub *h, struct conn *c)
{
	while (c->qhead) {
		struct iovec iov[IOV_BATCH];
		int k = 0;
		size_t total = 0;
		for (struct qent *e = c->qhead; e && k < IOV_BATCH; e = e->next, k++) {
			size_t off = k == 0 ? c->qoff : 0;
			iov[k].iov_base = e->b->data + off;
			iov[k].iov_len = e->b->len - off;
			total += iov[k].iov_len;
		}
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)k};
		ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				set_out(h, c, true);
				return;
			}
			log_debug("ws.write_error", "connection %s: %s", conn_tag(c),
			          strerror(errno));
			kill_conn(h, c);
			return;
		}
		size_t left = (size_t)w;
		c->qbytes -= left;
		stat_sub(&h->st_queued, left);
		while (left > 0) {
			struct qent *e = c->qhead;
			size_t rest = e->b->len - c->qoff;
			if (left < rest) {
				c->qoff += (uint32_t)left;
				break;
			}
			left -= rest;
			c->qoff = 0;
			c->qhead = e->next;
			if (!c->qhead)
				c->qtail = NULL;
			blob_unref(e->b);
			free(e);
		}
		if ((size_t)w < total) {
			set_out(h, c, true);
			return;
		}
	}
	set_out(h, c, false);
	if (c->state == CS_CLOSING) {
		/* Closing now could turn unread input into a RST that destroys the close frame
		 * in flight; half-close and let the peer hang up (or the deadline pass). */
		if (shutdown(c->fd, SHUT_WR) == 0)
			c->state = CS_LINGER;
		else
			kill_conn(h, c);
	}
}

/* Stop serving c: queue a close frame, forget its subscriptions, and finish once the queue is
 * written and the peer has hung up (or CLOSE_WAIT_S passes). code 0 queues an empty close frame
 * (the reply to a close without a status). */
static void start_close(struct ws_hub *h, struct conn *c, uint16_t code, const char *reason)
{
	struct buf b;
	struct blob *bl = NULL;

	if (c->state != CS_OPEN)
		return;
	c->state = CS_CLOSING;
	c->close_deadline = h->now + CLOSE_WAIT_S;
	while (c->subs)
		sub_remove(h, c->subs);
	buf_init(&b, WS_FRAME_HEADER_MAX + WS_CONTROL_MAX);
	if (code)
		ws_close_append(&b, code, reason, NULL);
	else
		ws_frame_append(&b, WS_OP_CLOSE, true, "", 0, NULL);
	if (b.len) {
		bl = malloc(sizeof(*bl) + b.len);
		if (bl) {
			bl->refs = 1;
			bl->len = (uint32_t)b.len;
			memcpy(bl->data, b.p, b.len);
		}
	}
	buf_release(&b);
	if (!bl || !enqueue(h, c, bl, true))
		kill_conn(h, c);
	blob_unref(bl);
}

/* A send queue overflowed: the client does not read fast enough. */
static void drop_slow(struct ws_hub *h, struct conn *c)
{
	stat_add(&h->st_dropped, 1);
	log_warn("ws.slow_consumer", "connection %s (user %lld) dropped: send queue over %zu bytes",
	         conn_tag(c), (long long)c->user_id, h->cfg.queue_max);
	/* Tell the client why when no frame is half-written; its socket is most likely full, so
	 * this is one try, never a wait. */
	if (c->qoff == 0) {
		uint8_t fr[WS_FRAME_HEADER_MAX + 2];
		size_t n = ws_frame_header(fr, WS_OP_CLOSE, true, 2, NULL);
		fr[n++] = WS_CLOSE_POLICY >> 8;
		fr[n++] = WS_CLOSE_POLICY & 0xff;
		if (send(c->fd, fr, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_debug("ws.write_error", "close to %s: %s", conn_tag(c),
			          strerror(errno));
	}
	kill_conn(h, c);
}

/* Queue a data message for c, dropping c if its queue is full. */
static void send_blob(struct ws_hub *h, struct conn *c, struct blob *b)
{
	if (!b || c->state != CS_OPEN)
		return;
	if (!enqueue(h, c, b, false)) {
		drop_slow(h, c);
		return;
	}
	stat_add(&h->st_out, 1);
}

static void send_text(struct ws_hub *h, struct conn *c, const struct buf *payload)
{
	struct blob *b = blob_make(WS_OP_TEXT, payload->p, payload->len);
	if (!b) {
		kill_conn(h, c);
		return;
	}
	send_blob(h, c, b);
	blob_unref(b);
}

/* {"op":op[,"topic":topic][,"message":message]} */
static void reply(struct ws_hub *h, struct conn *c, const char *op, const char *topic, size_t tlen,
                  const char *message)
{
	struct buf b;
	enum err e;

	buf_init(&b, 2 * WS_TOPIC_MAX * 6 + 512);
	e = buf_printf(&b, "{\"op\":\"%s\"", op);
	if (!e && topic) {
		/* An invalid topic is echoed only in part: enough to recognise it. */
		if (tlen > 2 * WS_TOPIC_MAX) {
			tlen = 2 * WS_TOPIC_MAX;
			while (tlen > 0 && ((unsigned char)topic[tlen] & 0xc0) == 0x80)
				tlen--;
		}
		e = buf_puts(&b, ",\"topic\":\"");
		if (!e)
			e = buf_json_escape(&b, topic, tlen);
		if (!e)
			e = buf_putc(&b, '"');
	}
	if (!e && message)
		e = buf_printf(&b, ",\"message\":\"%s\"", message);
	if (!e)
		e = buf_putc(&b, '}');
	if (e)
		kill_conn(h, c);
	else
		send_text(h, c, &b);
	buf_release(&b);
}

static bool authorized(struct ws_hub *h, struct conn *c, const char *topic)
{
	bool (*allow)(void *, int64_t, const char *);
	void *ctx;

	pthread_mutex_lock(&h->lock);
	allow = h->allow;
	ctx = h->allow_ctx;
	pthread_mutex_unlock(&h->lock);
	return allow && allow(ctx, c->user_id, topic);
}

static void handle_json(struct ws_hub *h, struct conn *c, const char *p, size_t n)
{
	json_t *v = NULL;
	const char *op, *topic;
	size_t tlen;

	if (json_parse(p, n, &v, NULL, NULL) != ERR_OK || !json_is_object(v)) {
		reply(h, c, "error", NULL, 0, "消息不是合法的 JSON 对象");
		goto out;
	}
	op = json_get_str(v, "op");
	if (!op) {
		reply(h, c, "error", NULL, 0, "消息缺少操作类型（op）");
		goto out;
	}
	if (strcmp(op, "ping") == 0) {
		reply(h, c, "pong", NULL, 0, NULL);
		goto out;
	}
	if (strcmp(op, "subscribe") != 0 && strcmp(op, "unsubscribe") != 0) {
		reply(h, c, "error", NULL, 0, "不支持的操作类型");
		goto out;
	}
	json_t *tv = json_object_get(v, "topic");
	if (!json_is_string(tv)) {
		reply(h, c, "error", NULL, 0, "缺少订阅主题（topic）");
		goto out;
	}
	topic = json_string_value(tv);
	tlen = json_string_length(tv);
	if (!ws_topic_valid(topic, tlen)) {
		reply(h, c, "error", topic, tlen, "订阅主题格式不正确");
		goto out;
	}
	struct sub *s = conn_sub_find(c, topic, tlen);
	if (op[0] == 'u') {
		if (s)
			sub_remove(h, s);
		reply(h, c, "unsubscribed", topic, tlen, NULL);
		goto out;
	}
	if (s) {
		reply(h, c, "subscribed", topic, tlen, NULL);
		goto out;
	}
	if (c->nsubs >= WS_HUB_MAX_SUBS) {
		reply(h, c, "error", topic, tlen, "订阅的主题数量已达上限");
		goto out;
	}
	if (!authorized(h, c, topic)) {
		log_info("ws.subscribe_denied", "user %lld may not subscribe to %s",
		         (long long)c->user_id, topic);
		reply(h, c, "error", topic, tlen, "没有订阅该主题的权限");
		goto out;
	}
	if (sub_add(h, c, topic, tlen) != ERR_OK) {
		reply(h, c, "error", topic, tlen, "服务器内存不足，请稍后再试");
		goto out;
	}
	reply(h, c, "subscribed", topic, tlen, NULL);
out:
	json_decref(v);
}

static void handle_msg(struct ws_hub *h, struct conn *c, const struct ws_msg *m)
{
	switch (m->op) {
	case WS_OP_TEXT:
		stat_add(&h->st_in, 1);
		handle_json(h, c, m->p, m->n);
		break;
	case WS_OP_BINARY:
		stat_add(&h->st_in, 1);
		reply(h, c, "error", NULL, 0, "仅支持 JSON 文本消息");
		break;
	case WS_OP_PING: {
		struct blob *b = blob_make(WS_OP_PONG, m->p, m->n);
		if (!b || !enqueue(h, c, b, false)) {
			if (b)
				drop_slow(h, c);
			else
				kill_conn(h, c);
		}
		blob_unref(b);
		break;
	}
	case WS_OP_CLOSE:
		/* Echo the status (RFC 6455 §5.5.1); a close without one gets an empty close. */
		start_close(h, c, m->code == WS_CLOSE_NO_STATUS ? 0 : m->code, NULL);
		break;
	default: /* pong: receiving it already refreshed last_rx */ break;
	}
}

static void feed(struct ws_hub *h, struct conn *c, const char *p, size_t n)
{
	size_t off = 0;

	while (off < n && c->state == CS_OPEN) {
		struct ws_msg m;
		size_t used;
		enum ws_status st = ws_parser_feed(&c->parser, p + off, n - off, &used, &m);
		off += used;
		if (st == WS_MORE)
			break;
		if (st == WS_FAIL) {
			log_info("ws.protocol_error", "connection %s: %s (close %u)", conn_tag(c),
			         c->parser.why, (unsigned)c->parser.error);
			start_close(h, c, c->parser.error, NULL);
			break;
		}
		handle_msg(h, c, &m);
	}
}

static void on_readable(struct ws_hub *h, struct conn *c)
{
	ssize_t r = recv(c->fd, h->rbuf, READ_CHUNK, MSG_DONTWAIT);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		log_debug("ws.read_error", "connection %s: %s", conn_tag(c), strerror(errno));
		kill_conn(h, c);
		return;
	}
	if (r == 0) {
		kill_conn(h, c);
		return;
	}
	c->last_rx = h->now;
	/* A closing connection's input is read only to see the peer hang up. */
	if (c->state == CS_OPEN)
		feed(h, c, h->rbuf, (size_t)r);
}

static void adopt_one(struct ws_hub *h, struct conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
		log_warn("ws.adopt_failed", "connection %s: epoll: %s", conn_tag(c),
		         strerror(errno));
		atomic_fetch_sub(&h->nconns, 1);
		c->on_close(c->arg);
		conn_free(c);
		return;
	}
	c->last_rx = c->last_ping = h->now;
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	stat_add(&h->st_conns, 1);
	log_debug("ws.adopt", "connection %s (user %lld) adopted", conn_tag(c),
	          (long long)c->user_id);
	if (c->pre_n)
		feed(h, c, c->pre, c->pre_n);
	free(c->pre);
	c->pre = NULL;
	c->pre_n = 0;
}

/* Fan one published event out to the topic's subscribers. */
static void fan_out(struct ws_hub *h, struct pub *p)
{
	struct topic *t = topic_find(h, p->topic, p->tlen, topic_hash(p->topic, p->tlen));
	struct sub *s, *next;

	if (!t)
		return;
	/* A dropped subscriber loses only its own subs; next is another connection's (and if
	 * the topic is freed, that was its last subscriber and next is NULL). */
	for (s = t->subs; s; s = next) {
		next = s->t_next;
		send_blob(h, s->c, p->b);
	}
}

static void drain_pending(struct ws_hub *h, bool *stop)
{
	uint64_t v;
	struct conn *adopt;
	struct pub *pubs, *next;

	if (read(h->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("ws.eventfd", "read: %s", strerror(errno));
	pthread_mutex_lock(&h->lock);
	adopt = h->adopt_head;
	h->adopt_head = NULL;
	pubs = h->pub_head;
	h->pub_head = h->pub_tail = NULL;
	h->backlog = 0;
	*stop = h->stopping;
	pthread_mutex_unlock(&h->lock);

	while (adopt) {
		struct conn *c = adopt;
		adopt = c->next;
		c->next = c->prev = NULL;
		adopt_one(h, c);
	}
	for (; pubs; pubs = next) {
		next = pubs->next;
		fan_out(h, pubs);
		blob_unref(pubs->b);
		free(pubs);
	}
}

static void sweep(struct ws_hub *h)
{
	struct blob *ping = NULL;
	struct conn *c, *next;
	uint32_t idle = (uint32_t)h->cfg.idle_timeout_s, every = (uint32_t)h->cfg.ping_interval_s;

	for (c = h->conns; c; c = next) {
		next = c->next;
		if (c->state == CS_CLOSING || c->state == CS_LINGER) {
			if (h->now >= c->close_deadline)
				kill_conn(h, c);
			continue;
		}
		if (h->now - c->last_rx >= idle) {
			log_debug("ws.idle", "connection %s silent for %us", conn_tag(c),
			          (unsigned)(h->now - c->last_rx));
			start_close(h, c, WS_CLOSE_GOING_AWAY, "idle timeout");
			continue;
		}
		if (h->now - c->last_ping >= every) {
			if (!ping)
				ping = blob_make(WS_OP_PING, "", 0);
			if (!ping)
				break;
			c->last_ping = h->now;
			if (!enqueue(h, c, ping, false))
				drop_slow(h, c);
		}
	}
	blob_unref(ping);
}

static void flush_dirty(struct ws_hub *h)
{
	while (h->dirty) {
		struct conn *c = h->dirty;
		h->dirty = c->dnext;
		c->dirty = false;
		c->dnext = NULL;
		if (c->state != CS_DEAD && !c->want_out)
			flush(h, c);
	}
}

static void bury(struct ws_hub *h)
{
	while (h->graveyard) {
		struct conn *c = h->graveyard;
		h->graveyard = c->next;
		conn_free(c);
	}
}

static void shutdown_all(struct ws_hub *h)
{
	struct conn *adopt;
	struct pub *pubs, *next;

	pthread_mutex_lock(&h->lock);
	adopt = h->adopt_head;
	h->adopt_head = NULL;
	pubs = h->pub_head;
	h->pub_head = h->pub_tail = NULL;
	pthread_mutex_unlock(&h->lock);
	for (; pubs; pubs = next) {
		next = pubs->next;
		blob_unref(pubs->b);
		free(pubs);
	}
	while (adopt) {
		struct conn *c = adopt;
		adopt = c->next;
		atomic_fetch_sub(&h->nconns, 1);
		c->on_close(c->arg);
		conn_free(c);
	}
	/* One non-blocking try to deliver what is queued plus a 1001 close; then done. */
	for (struct conn *c = h->conns, *cnext; c; c = cnext) {
		cnext = c->next;
		start_close(h, c, WS_CLOSE_GOING_AWAY, "server shutting down");
	}
	flush_dirty(h);
	while (h->conns)
		kill_conn(h, h->conns);
	bury(h);
}

static void *hub_main(void *arg)
{
	struct ws_hub *h = arg;
	struct epoll_event evs[EPOLL_BATCH];
	bool stop = false;
	uint32_t next_sweep = 1;

	while (!stop) {
		int64_t ms_left =
		    ((int64_t)next_sweep * 1000000000 - (time_mono_ns() - h->t0_ns)) / 1000000;
		int wait_ms = ms_left < 0 ? 0 : ms_left > 1000 ? 1000 : (int)ms_left + 1;
		int n = epoll_wait(h->epfd, evs, EPOLL_BATCH, wait_ms);
		if (n < 0 && errno != EINTR) {
			log_error("ws.epoll", "epoll_wait: %s", strerror(errno));
			break;
		}
		h->now = hub_clock(h);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c) {
				drain_pending(h, &stop);
				continue;
			}
			if (c->state == CS_DEAD)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				on_readable(h, c);
			if (c->state != CS_DEAD && (evs[i].events & EPOLLOUT))
				flush(h, c);
		}
		if (h->now >= next_sweep) {
			sweep(h);
			next_sweep = h->now + 1;
		}
		flush_dirty(h);
		bury(h);
	}
	shutdown_all(h);
	return NULL;
}

static void wake(struct ws_hub *h)
{
	uint64_t one = 1;
	if (write(h->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("ws.eventfd", "write: %s", strerror(errno));
}

/* ---- public API ---- */

enum err ws_hub_create(const struct ws_hub_config *cfg, struct ws_hub **out)
{
	struct ws_hub *h = NULL;
	enum err e = ERR_NOMEM;
	bool lock_ok = false;

	*out = NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		goto out;
	h->epfd = h->evfd = -1;
	h->cfg = *cfg;
	if (h->cfg.max_conns <= 0)
		h->cfg.max_conns = 20000;
	if (h->cfg.queue_max == 0)
		h->cfg.queue_max = 1u << 20;
	if (h->cfg.ping_interval_s <= 0)
		h->cfg.ping_interval_s = 30;
	if (h->cfg.idle_timeout_s <= 0)
		h->cfg.idle_timeout_s = 75;
	if (h->cfg.max_message == 0)
		h->cfg.max_message = 4096;
	h->tabsz = TOPIC_TABLE_MIN;
	h->tab = calloc(h->tabsz, sizeof(*h->tab));
	h->rbuf = malloc(READ_CHUNK);
	if (!h->tab || !h->rbuf)
		goto out;
	if (pthread_mutex_init(&h->lock, NULL) != 0)
		goto out;
	lock_ok = true;
	e = ERR_UNAVAILABLE;
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	h->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->epfd < 0 || h->evfd < 0) {
		log_error("ws.create", "epoll/eventfd: %s", strerror(errno));
		goto out;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->evfd, &ev) != 0)
		goto out;
	h->t0_ns = time_mono_ns();
	if (pthread_create(&h->thread, NULL, hub_main, h) != 0) {
		log_error("ws.create", "cannot start the hub thread");
		goto out;
	}
	*out = h;
	h = NULL;
	e = ERR_OK;
out:
	if (h) {
		if (h->epfd >= 0)
			close(h->epfd);
		if (h->evfd >= 0)
			close(h->evfd);
		if (lock_ok)
			pthread_mutex_destroy(&h->lock);
		free(h->tab);
		free(h->rbuf);
		free(h);
	}
	return e;
}

void ws_hub_destroy(struct ws_hub *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stopping = true;
	pthread_mutex_unlock(&h->lock);
	wake(h);
	pthread_join(h->thread, NULL);
	for (size_t i = 0; i < h->tabsz; i++) {
		struct topic *t = h->tab[i], *next;
		for (; t; t = next) {
			next = t->hnext;
			free(t);
		}
	}
	close(h->epfd);
	close(h->evfd);
	pthread_mutex_destroy(&h->lock);
	free(h->tab);
	free(h->rbuf);
	free(h);
}

enum err ws_hub_adopt_ex(struct ws_hub *h, int fd, int64_t user_id, const char *session_tag,
                         const void *pre, size_t pre_n, void (*on_close)(void *arg), void *arg)
{
	struct conn *c = NULL;
	enum err e = ERR_OK;
	bool counted = false, wake_needed = false;

	if (fd < 0 || !on_close) {
		e = ERR_BAD_REQUEST;
		goto out;
	}
	if (atomic_fetch_add(&h->nconns, 1) >= h->cfg.max_conns) {
		atomic_fetch_sub(&h->nconns, 1);
		e = ERR_UNAVAILABLE;
		goto out;
	}
	counted = true;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		e = ERR_BAD_REQUEST;
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		e = ERR_NOMEM;
		goto out;
	}
	c->fd = fd;
	c->user_id = user_id;
	c->on_close = on_close;
	c->arg = arg;
	ws_parser_init(&c->parser, h->cfg.max_message, true);
	if (session_tag && !(c->tag = strdup(session_tag))) {
		e = ERR_NOMEM;
		goto out;
	}
	if (pre_n) {
		c->pre = malloc(pre_n);
		if (!c->pre) {
			e = ERR_NOMEM;
			goto out;
		}
		memcpy(c->pre, pre, pre_n);
		c->pre_n = pre_n;
	}
	pthread_mutex_lock(&h->lock);
	if (h->stopping) {
		e = ERR_UNAVAILABLE;
	} else {
		wake_needed = !h->adopt_head;
		c->next = h->adopt_head;
		h->adopt_head = c;
		c = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	if (wake_needed)
		wake(h);
out:
	if (e) {
		if (counted)
			atomic_fetch_sub(&h->nconns, 1);
		if (c)
			conn_free(c);
		if (on_close)
			on_close(arg);
	}
	return e;
}

enum err ws_hub_adopt(struct ws_hub *h, int fd, int64_t user_id, const char *session_tag,
                      void (*on_close)(void *arg), void *arg)
{
	return ws_hub_adopt_ex(h, fd, user_id, session_tag, NULL, 0, on_close, arg);
}

enum err ws_hub_publish(struct ws_hub *h, const char *topic, const char *json, size_t n)
{
	static const char pre[] = "{\"op\":\"event\",\"topic\":\"";
	static const char mid[] = "\",\"data\":";
	struct pub *p = NULL;
	size_t tlen = topic ? strlen(topic) : 0, plen;
	enum err e = ERR_OK;
	bool wake_needed = false;

	if (!ws_topic_valid(topic, tlen)) {
		e = ERR_BAD_FIELD;
		goto out;
	}
	if (!json || n == 0) {
		e = ERR_BAD_JSON;
		goto out;
	}
	if (!utf8_valid(json, n)) {
		e = ERR_BAD_UTF8;
		goto out;
	}
	plen = sizeof(pre) - 1 + tlen + sizeof(mid) - 1 + n + 1;
	if (plen + WS_FRAME_HEADER_MAX > h->cfg.queue_max || n > UINT32_MAX / 2) {
		e = ERR_TOO_LARGE;
		goto out;
	}
	p = malloc(sizeof(*p) + tlen + 1);
	if (!p || !(p->b = blob_new(WS_OP_TEXT, plen))) {
		e = ERR_NOMEM;
		goto out;
	}
	char *w = blob_payload(p->b, plen);
	memcpy(w, pre, sizeof(pre) - 1);
	w += sizeof(pre) - 1;
	memcpy(w, topic, tlen);
	w += tlen;
	memcpy(w, mid, sizeof(mid) - 1);
	w += sizeof(mid) - 1;
	memcpy(w, json, n);
	w[n] = '}';
	memcpy(p->topic, topic, tlen + 1);
	p->tlen = tlen;
	p->next = NULL;

	pthread_mutex_lock(&h->lock);
	if (h->stopping || h->backlog + p->b->len > BACKLOG_MAX) {
		e = ERR_UNAVAILABLE;
	} else {
		/* The hub drains the whole list per wake-up: only the first entry must wake it. */
		wake_needed = !h->pub_head;
		if (h->pub_tail)
			h->pub_tail->next = p;
		else
			h->pub_head = p;
		h->pub_tail = p;
		h->backlog += p->b->len;
		p = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	if (wake_needed)
		wake(h);
	if (!e)
		stat_add(&h->st_published, 1);
out:
	if (p) {
		blob_unref(p->b);
		free(p);
	}
	return e;
}

void ws_hub_set_authorizer(struct ws_hub *h,
                           bool (*allow)(void *ctx, int64_t user_id, const char *topic), void *ctx)
{
	pthread_mutex_lock(&h->lock);
	h->allow = allow;
	h->allow_ctx = ctx;
	pthread_mutex_unlock(&h->lock);
}

void ws_hub_stats_get(struct ws_hub *h, struct ws_hub_stats *out)
{
	out->conns = atomic_load_explicit(&h->st_conns, memory_order_relaxed);
	out->subscriptions = atomic_load_explicit(&h->st_subs, memory_order_relaxed);
	out->messages_in = atomic_load_explicit(&h->st_in, memory_order_relaxed);
	out->messages_out = atomic_load_explicit(&h->st_out, memory_order_relaxed);
	out->dropped_slow = atomic_load_explicit(&h->st_dropped, memory_order_relaxed);
	out->published = atomic_load_explicit(&h->st_published, memory_order_relaxed);
	out->queued_bytes = atomic_load_explicit(&h->st_queued, memory_order_relaxed);
}
