/* ws.h: WebSocket (RFC 6455) — the frame codec and the push hub.
 *
 * The codec (ws_codec.c) is pure: it turns bytes into messages and messages into bytes, and
 * knows nothing of sockets. The hub (ws_hub.c) owns upgraded sockets on one epoll thread,
 * speaks a small JSON topic protocol over them and fans published events out to subscribers.
 * Neither part includes microhttpd.h: the HTTP layer performs the upgrade (using
 * ws_accept_key) and hands the connected socket to ws_hub_adopt. */
#ifndef SHOULI_WS_H
#define SHOULI_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* ---- codec ---- */

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA,
};

/* Close status codes (RFC 6455 §7.4.1) used by Shouli. */
enum ws_close_code {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL = 1002,
	WS_CLOSE_UNSUPPORTED = 1003,
	WS_CLOSE_NO_STATUS = 1005, /* never sent: "the close frame carried no code" */
	WS_CLOSE_BAD_DATA = 1007,  /* e.g. invalid UTF-8 in a text message */
	WS_CLOSE_POLICY = 1008,
	WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_INTERNAL = 1011,
};

/* Largest frame header: 2 + 8 (64-bit length) + 4 (mask key). */
#define WS_FRAME_HEADER_MAX 14
/* Control frames carry at most this many payload bytes. */
#define WS_CONTROL_MAX 125

/* Incremental frame parser for one direction of one connection. It accepts input in pieces of
 * any size (down to one byte) and yields complete messages: data messages reassembled from
 * their fragments, and control frames (which may arrive between fragments). Memory is
 * allocated only while a message is in flight and given back once it has been delivered, so
 * an idle parser holds no heap memory. The struct is embedded (ws_parser_init/release). */
struct ws_parser {
	struct buf msg;     /* data message being reassembled (unmasked) */
	struct buf ctl;     /* payload of the control frame being read */
	size_t max_message; /* cap on a reassembled data message */
	uint64_t remaining; /* payload bytes of the current frame still to come */
	uint8_t hdr[WS_FRAME_HEADER_MAX];
	uint8_t hdr_len;   /* header bytes collected so far */
	uint8_t hdr_need;  /* header size, known once the second byte is in */
	uint8_t mask_pos;  /* payload offset modulo 4 */
	uint8_t opcode;    /* of the current frame */
	uint8_t msg_op;    /* WS_OP_TEXT/BINARY while a fragmented message is open, else 0 */
	bool in_payload;   /* header complete, reading payload */
	bool server;       /* parsing client frames: they must be masked */
	uint8_t delivered; /* buffers handed out last call, dropped at the next */
	uint16_t error;    /* close code after WS_FAIL */
	const char *why;   /* English reason after WS_FAIL, for logs (static) */
};

enum ws_status {
	WS_MORE, /* all input consumed, no complete message yet */
	WS_MSG,  /* *msg holds a message; call again with the rest of the input */
	WS_FAIL, /* protocol violation: close the connection with p->error (p->why says why) */
};

/* A delivered message. p points into the parser and is valid until the next ws_parser_feed
 * or ws_parser_release. For WS_OP_CLOSE: code is the status code (WS_CLOSE_NO_STATUS when the
 * frame had none) and p/n the reason. */
struct ws_msg {
	enum ws_opcode op; /* TEXT, BINARY, CLOSE, PING or PONG — never CONT */
	const char *p;
	size_t n;
	uint16_t code;
};

/* server = true parses frames sent by a client (masked, as RFC 6455 requires of clients);
 * false parses frames sent by a server (unmasked). max_message caps a data message after
 * reassembly (exceeding it fails with 1009). */
void ws_parser_init(struct ws_parser *p, size_t max_message, bool server);
void ws_parser_release(struct ws_parser *p);
/* Consume input from in[0..n). Stops after the first complete message (WS_MSG) or at the end
 * of the input (WS_MORE); *used says how many bytes were consumed either way. On WS_FAIL the
 * parser is dead: the connection must be closed with p->error (1002 protocol error, 1007 bad
 * UTF-8 in a text message or close reason, 1009 message too big). Text messages are checked
 * to be valid UTF-8 as a whole before delivery. */
enum ws_status ws_parser_feed(struct ws_parser *p, const void *in, size_t n, size_t *used,
                              struct ws_msg *msg);

/* Frame header for a payload of len bytes into out; returns the header length. mask is the
 * 4-byte masking key (clients) or NULL (servers). */
size_t ws_frame_header(uint8_t out[WS_FRAME_HEADER_MAX], enum ws_opcode op, bool fin, uint64_t len,
                       const uint8_t *mask);
/* Append a whole frame (header and payload, masked with mask when it is not NULL) to b.
 * ERR_TOO_LARGE when b's cap would be exceeded; ERR_BAD_REQUEST for a control frame longer
 * than 125 bytes. */
enum err ws_frame_append(struct buf *b, enum ws_opcode op, bool fin, const void *payload, size_t n,
                         const uint8_t *mask);
/* Append a close frame with code and reason (NULL = none; truncated to fit 123 bytes at a
 * UTF-8 boundary). */
enum err ws_close_append(struct buf *b, uint16_t code, const char *reason, const uint8_t *mask);
/* May code appear in a close frame on the wire (RFC 6455 §7.4)? */
bool ws_close_code_valid(unsigned code);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + RFC GUID)), 28 chars plus
 * NUL. ERR_BAD_REQUEST unless client_key is base64 of 16 bytes (24 characters), as RFC 6455
 * §4.2.1 requires. */
enum err ws_accept_key(const char *client_key, char out[29]);
/* SHA-1, exported for the test vectors only. It serves the WebSocket handshake, which the
 * protocol fixes to SHA-1; it is not a hash for anything else (that is src/crypto's job). */
void ws_sha1(const void *data, size_t n, uint8_t out[20]);

/* ---- hub ---- */

struct ws_hub;

/* Zero in any field means the default in brackets. */
struct ws_hub_config {
	int max_conns;       /* most adopted connections at once [20000] */
	size_t queue_max;    /* per-connection send queue cap, bytes [1 MiB] */
	int ping_interval_s; /* server ping period [30] */
	int idle_timeout_s;  /* close connections that sent nothing for this long [75] */
	size_t max_message;  /* largest client message [4096] */
};

/* Each connection may hold at most this many subscriptions. */
#define WS_HUB_MAX_SUBS 64
/* Longest topic, in bytes. Topics are printable ASCII (0x21..0x7e) without space, double
 * quote or backslash, e.g. "centre:310104001:queue". */
#define WS_TOPIC_MAX 128
/* Is t[0..n) a valid topic? */
bool ws_topic_valid(const char *t, size_t n);

/* Create a hub and start its epoll thread. ERR_UNAVAILABLE/ERR_NOMEM when the thread or the
 * kernel objects cannot be created. */
enum err ws_hub_create(const struct ws_hub_config *cfg, struct ws_hub **out);
/* Close every connection (close frame 1001, best effort, then its on_close), drop queued
 * publishes, join the thread, free everything. No other ws_hub_* call may run concurrently or
 * after. NULL is a no-op. */
void ws_hub_destroy(struct ws_hub *h);

/* Hand over an upgraded socket (the hub makes it non-blocking). session_tag (may be NULL) is
 * copied and appears in logs. on_close(arg) is called exactly once when the hub is done with
 * fd: from the hub thread, or synchronously from this call when adoption fails. The hub never
 * close()s fd itself — on_close does (the HTTP layer tells libmicrohttpd to close). Returns
 * ERR_UNAVAILABLE when max_conns connections are open or the hub is shutting down. */
enum err ws_hub_adopt(struct ws_hub *h, int fd, int64_t user_id, const char *session_tag,
                      void (*on_close)(void *arg), void *arg);
/* The same, for when the HTTP layer already read bytes past the upgrade request (MHD's
 * extra_in): pre[0..pre_n) is processed as if it had been read from fd first. */
enum err ws_hub_adopt_ex(struct ws_hub *h, int fd, int64_t user_id, const char *session_tag,
                         const void *pre, size_t pre_n, void (*on_close)(void *arg), void *arg);

/* Publish a text message (a JSON value, n bytes, copied) to every connection subscribed to
 * topic; subscribers receive {"op":"event","topic":"...","data":<json>}. Thread-safe and
 * non-blocking: the message is queued and the hub thread fans it out. The JSON is not parsed
 * here (the publisher is trusted) but must be valid UTF-8. Errors: ERR_BAD_FIELD for a bad
 * topic, ERR_BAD_UTF8, ERR_TOO_LARGE when the event frame could never fit a send queue,
 * ERR_UNAVAILABLE when the hub's backlog of unprocessed publishes is full or it is stopping. */
enum err ws_hub_publish(struct ws_hub *h, const char *topic, const char *json, size_t n);

/* Authorization hook, called on the hub thread when a client asks to subscribe; return true
 * to allow. It runs on the hub's only thread, so it must be quick (no database round trip:
 * decide from cached scope data). Without an authorizer every subscription is refused.
 * Set it before adopting connections. */
void ws_hub_set_authorizer(struct ws_hub *h,
                           bool (*allow)(void *ctx, int64_t user_id, const char *topic), void *ctx);

struct ws_hub_stats {
	uint64_t conns;         /* open now */
	uint64_t subscriptions; /* held now */
	uint64_t messages_in;   /* client data messages received */
	uint64_t messages_out;  /* data messages queued to clients (events and replies) */
	uint64_t dropped_slow;  /* connections dropped because their send queue was full */
	uint64_t published;     /* ws_hub_publish calls accepted */
	uint64_t queued_bytes;  /* bytes waiting in send queues now */
};
/* A snapshot; each counter is read atomically, the set is not. */
void ws_hub_stats_get(struct ws_hub *h, struct ws_hub_stats *out);

#endif
