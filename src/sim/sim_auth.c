/* sim_auth.c: the simulated systems' side of the connectors — who may call (basic, token,
 * HMAC-SM3 and SM2 signatures, exactly as docs/gateway.md "Simulator endpoints" specifies),
 * the token endpoints, and the sm4_cbc crypto profile of 税务.
 *
 * Credentials start as the demo values the seeded connectors hold; a connector file in
 * gateway/connectors/ (the same documents the gateway is seeded from) overrides them, so an
 * operator who changes a demo secret in the files changes both sides. Methods' paths come
 * from the files too: scenarios name (connector, method), and the path says which requests
 * they answer. */
#include "sim/sim_int.h"

#include <dirent.h>

#include "core/log.h"
#include "core/str.h"
#include "crypto/crypto.h"

/* ---- connectors ---- */

/* The demo credentials of docs/gateway.md "Simulator endpoints". */
static const char bjk_public_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAERavmLBp5tTRBqCFc1SaUr5IU7z+s\n"
    "eky/xGX+VLWZvCe7QxIVUG4DoC0ym7UDSSorHO20yF1w07rBmFcJpCjfpQ==\n"
    "-----END PUBLIC KEY-----\n";

static const struct {
	const char *name;
	enum sim_auth_kind auth;
	const char *username, *secret;
	bool soap, sm4;
} builtin[] = {
    {"shebao", SIM_AUTH_TOKEN, "shouli", "shebao-demo-secret", false, false},
    {"yibao", SIM_AUTH_HMAC, "shouli-yibao", "yibao-demo-secret", false, false},
    {"minzheng", SIM_AUTH_TOKEN, "shouli", "minzheng-demo-secret", false, false},
    {"gongan", SIM_AUTH_BASIC, "shouli", "gongan-demo-secret", true, false},
    {"shuiwu", SIM_AUTH_BASIC, "shouli", "shuiwu-demo-secret", false, true},
    {"canlian", SIM_AUTH_BASIC, "shouli", "canlian-demo-secret", false, false},
    {"bjk", SIM_AUTH_SM2, "shouli-bjk", NULL, false, false},
    {"dsj", SIM_AUTH_HMAC, "shouli-dsj", "dsj-demo-secret", false, false},
    {"dangan", SIM_AUTH_NONE, NULL, NULL, false, false},
    {"map", SIM_AUTH_NONE, NULL, NULL, false, false},
    {"video", SIM_AUTH_TOKEN, "shouli", "video-demo-secret", false, false},
};
#define NBUILTIN (sizeof(builtin) / sizeof(builtin[0]))
static const unsigned char shuiwu_key[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                             0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void set_str(char **dst, const char *v)
{
	if (!v)
		return;
	free(*dst);
	*dst = strdup(v);
}

static void methods_free(struct sim_connector *c)
{
	for (int i = 0; i < c->nmethods; i++) {
		struct sim_conn_method *m = &c->methods[i];
		free(m->name);
		free(m->http_method);
		free(m->path);
		free(m->soap_op);
		json_decref(m->soap_map);
		json_decref(m->response);
	}
	free(c->methods);
	c->methods = NULL;
	c->nmethods = 0;
}

static void conn_free(struct sim_connector *c)
{
	free(c->name);
	free(c->prefix);
	free(c->username);
	free(c->secret);
	free(c->key_id);
	free(c->token_path);
	free(c->token_field);
	free(c->expires_field);
	crypto_sm2_destroy(c->sm2_key);
	methods_free(c);
	memset(c, 0, sizeof(*c));
}

void sim_connectors_release(struct sim *s)
{
	for (int i = 0; i < s->nconns; i++)
		conn_free(&s->conns[i]);
	free(s->conns);
	s->conns = NULL;
	s->nconns = 0;
}

const struct sim_connector *sim_connector_named(const struct sim *s, const char *name)
{
	for (int i = 0; name && i < s->nconns; i++)
		if (!strcmp(s->conns[i].name, name))
			return &s->conns[i];
	return NULL;
}

const struct sim_connector *sim_connector_for_path(const struct sim *s, const char *path)
{
	const struct sim_connector *best = NULL;
	size_t best_n = 0;
	for (int i = 0; i < s->nconns; i++) {
		const char *p = s->conns[i].prefix;
		size_t n = strlen(p);
		if (n && !strncmp(path, p, n) && (path[n] == '/' || path[n] == 0) && n > best_n) {
			best = &s->conns[i];
			best_n = n;
		}
	}
	return best;
}

static struct sim_connector *conn_get(struct sim *s, const char *name)
{
	for (int i = 0; i < s->nconns; i++)
		if (!strcmp(s->conns[i].name, name))
			return &s->conns[i];
	struct sim_connector *n = realloc(s->conns, (size_t)(s->nconns + 1) * sizeof(*n));
	if (!n)
		return NULL;
	s->conns = n;
	struct sim_connector *c = &s->conns[s->nconns++];
	memset(c, 0, sizeof(*c));
	c->name = strdup(name);
	char pre[80];
	snprintf(pre, sizeof(pre), "/%s", name);
	c->prefix = strdup(pre);
	c->token_field = strdup("access_token");
	c->expires_field = strdup("expires_in");
	snprintf(pre, sizeof(pre), "/%s/auth/token", name);
	c->token_path = strdup(pre);
	return c->name && c->prefix && c->token_field && c->expires_field && c->token_path ? c
	                                                                                   : NULL;
}

static enum sim_auth_kind auth_kind(const char *k)
{
	if (!k || !strcmp(k, "none"))
		return SIM_AUTH_NONE;
	if (!strcmp(k, "basic"))
		return SIM_AUTH_BASIC;
	if (!strcmp(k, "token"))
		return SIM_AUTH_TOKEN;
	if (!strcmp(k, "hmac_sm3"))
		return SIM_AUTH_HMAC;
	if (!strcmp(k, "sm2"))
		return SIM_AUTH_SM2;
	return (enum sim_auth_kind) - 1;
}

/* "<ns:Sfzh>{{request.id_number}}</ns:Sfzh>": element local name → request path, and the
 * root element's local name (the SOAP operation). Plain text scanning: the template is not
 * well-formed XML on its own (its prefixes are declared by the envelope). */
static void scan_soap_template(const char *t, struct sim_conn_method *m)
{
	m->soap_map = json_object();
	const char *p = t;
	while ((p = strchr(p, '<'))) {
		p++;
		if (*p == '/' || *p == '?' || *p == '!')
			continue;
		const char *end = p + strcspn(p, " \t\r\n/>");
		const char *colon = memchr(p, ':', (size_t)(end - p));
		const char *local = colon ? colon + 1 : p;
		char name[64];
		snprintf(name, sizeof(name), "%.*s", (int)(end - local), local);
		if (!m->soap_op)
			m->soap_op = strdup(name);
		const char *gt = strchr(end, '>');
		if (!gt)
			break;
		const char *v = gt + 1;
		while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
			v++;
		if (!strncmp(v, "{{request.", 10)) {
			const char *close = strstr(v, "}}");
			if (close) {
				char path[128];
				snprintf(path, sizeof(path), "%.*s", (int)(close - v - 10), v + 10);
				json_object_set_new(m->soap_map, path, json_string(name));
			}
		}
		p = gt;
	}
}

static enum err load_file(struct sim *s, const char *path)
{
	json_error_t jerr;
	enum err e = ERR_CONFIG;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	const char *name = json_get_str(doc, "name");
	const char *base = json_get_str(doc, "base_url");
	if (!name || !base) {
		log_error("sim.connector", "%s: not a connector (%s)", path,
		          doc ? "name/base_url missing" : jerr.text);
		goto out;
	}
	if (strncmp(base, "{{sim}}", 7) != 0) {
		e = ERR_OK; /* a real system's connector: nothing to simulate */
		goto out;
	}
	struct sim_connector *c = conn_get(s, name);
	if (!c) {
		e = ERR_NOMEM;
		goto out;
	}
	set_str(&c->prefix, base[7] ? base + 7 : "/");
	c->soap = json_get_str(doc, "protocol") && !strcmp(json_get_str(doc, "protocol"), "soap");
	json_t *auth = json_object_get(doc, "auth");
	if (auth) {
		enum sim_auth_kind k = auth_kind(json_get_str(auth, "kind"));
		if ((int)k < 0) {
			log_error("sim.connector", "%s: unknown auth kind", path);
			goto out;
		}
		c->auth = k;
		set_str(&c->username, json_get_str(auth, "username"));
		set_str(&c->secret, json_get_str(auth, "secret"));
		set_str(&c->key_id, json_get_str(auth, "key_id"));
		set_str(&c->token_field, json_get_str(auth, "token_field"));
		set_str(&c->expires_field, json_get_str(auth, "expires_field"));
		const char *tp = json_get_str(auth, "token_path");
		if (tp) {
			char full[512];
			snprintf(full, sizeof(full), "%s%s",
			         strcmp(c->prefix, "/") ? c->prefix : "", tp);
			set_str(&c->token_path, full);
		}
		const char *pem = json_get_str(auth, "public_key");
		if (!pem)
			pem = json_get_str(auth, "private_key");
		if (pem) {
			struct crypto_sm2_key *k2 = NULL;
			if (crypto_sm2_load_pem(pem, strlen(pem), &k2) != ERR_OK) {
				log_error("sim.connector", "%s: auth key is not an SM2 PEM key",
				          path);
				goto out;
			}
			crypto_sm2_destroy(c->sm2_key);
			c->sm2_key = k2;
		}
	}
	json_t *cr = json_object_get(doc, "crypto");
	const char *ck = json_get_str(cr, "kind");
	if (ck) {
		c->sm4 = !strcmp(ck, "sm4_cbc");
		const char *hex = json_get_str(cr, "key");
		if (c->sm4 && hex && (strlen(hex) != 32 || !hex_decode(hex, 32, c->sm4_key, 16))) {
			log_error("sim.connector", "%s: crypto.key is not 32 hex digits", path);
			goto out;
		}
	}
	methods_free(c);
	json_t *methods = json_object_get(doc, "methods");
	size_t n = json_array_size(methods);
	c->methods = calloc(n ? n : 1, sizeof(*c->methods));
	if (!c->methods) {
		e = ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *m = json_array_get(methods, i);
		struct sim_conn_method *cm = &c->methods[c->nmethods];
		const char *mn = json_get_str(m, "name");
		if (!mn)
			continue;
		cm->name = strdup(mn);
		const char *hm = json_get_str(m, "http_method");
		cm->http_method = strdup(hm ? hm : "POST");
		char full[600];
		const char *mp = json_get_str(m, "path");
		snprintf(full, sizeof(full), "%s%s", strcmp(c->prefix, "/") ? c->prefix : "",
		         mp ? mp : "");
		cm->path = strdup(full[0] ? full : "/");
		const char *body = json_get_str(m, "body");
		if (body)
			scan_soap_template(body, cm);
		json_t *resp = json_object_get(m, "response");
		cm->response = resp ? json_incref(resp) : NULL;
		c->nmethods++;
	}
	e = ERR_OK;
out:
	json_decref(doc);
	return e;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

enum err sim_connectors_load(struct sim *s, const char *dir)
{
	enum err e = ERR_OK;
	for (size_t i = 0; i < NBUILTIN; i++) {
		struct sim_connector *c = conn_get(s, builtin[i].name);
		if (!c)
			return ERR_NOMEM;
		c->auth = builtin[i].auth;
		c->soap = builtin[i].soap;
		c->sm4 = builtin[i].sm4;
		if (c->sm4)
			memcpy(c->sm4_key, shuiwu_key, 16);
		c->username = dup_or_null(builtin[i].username);
		c->secret = dup_or_null(builtin[i].secret);
		if (c->auth == SIM_AUTH_HMAC || c->auth == SIM_AUTH_SM2)
			c->key_id = dup_or_null(builtin[i].username);
		if (c->auth == SIM_AUTH_SM2) {
			struct crypto_sm2_key *k = NULL;
			if ((e = crypto_sm2_load_pem(bjk_public_pem, strlen(bjk_public_pem), &k)))
				return e;
			c->sm2_key = k;
		}
	}
	if (!dir || !dir[0])
		return ERR_OK;
	DIR *d = opendir(dir);
	if (!d) {
		log_warn("sim.connector",
		         "connector directory %s not readable: built-in credentials only", dir);
		return ERR_OK;
	}
	/* sorted, so that a later file wins the same way everywhere */
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 6 || strcmp(de->d_name + l - 5, ".json") || de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn) {
				e = ERR_NOMEM;
				break;
			}
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name))) {
			e = ERR_NOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (!e)
			e = load_file(s, path);
		free(names[i]);
	}
	free(names);
	return e;
}

/* ---- checking a request ---- */

static void unauthorized(struct sim_req *q, const char *code, const char *msg)
{
	if (q->sys && q->ep && (q->ep->flags & SIM_EP_SOAP)) {
		resp_header(q->w, "WWW-Authenticate", "Basic realm=\"sim\"");
		sim_soap_fault(q, 401, "soap:Client", msg);
		return;
	}
	sim_error(q, 401, code, "%s", msg);
}

static bool check_basic(struct sim_req *q, const struct sim_connector *c)
{
	const char *h = req_header(q->r, "Authorization");
	struct buf dec;
	bool ok = false;
	buf_init(&dec, 1024);
	if (h && !strncasecmp(h, "Basic ", 6) &&
	    base64_decode(h + 6, strlen(h + 6), BASE64_SPACE, &dec) == ERR_OK && dec.p) {
		char *colon = memchr(dec.p, ':', dec.len);
		if (colon) {
			size_t ul = (size_t)(colon - dec.p);
			const char *pw = colon + 1;
			size_t pl = dec.len - ul - 1;
			const char *u = c->username ? c->username : "";
			const char *sec = c->secret ? c->secret : "";
			/* both compared every time: no early exit tells which part was wrong */
			ok = ((int)mem_eq_ct(dec.p, ul, u, strlen(u)) &
			      (int)mem_eq_ct(pw, pl, sec, strlen(sec))) != 0;
		}
	}
	buf_release(&dec);
	if (!ok) {
		resp_header(q->w, "WWW-Authenticate", "Basic realm=\"sim\"");
		unauthorized(q, "UNAUTHORIZED", h ? "用户名或密码错误" : "缺少认证信息");
	}
	return ok;
}

static bool check_token(struct sim_req *q, const struct sim_connector *c)
{
	const char *h = req_header(q->r, "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
		unauthorized(q, "TOKEN_MISSING", "缺少访问令牌");
		return false;
	}
	if (!sim_token_valid(q->sim, c->name, h + 7, q->now_ms)) {
		unauthorized(q, "TOKEN_INVALID", "访问令牌无效或已过期");
		return false;
	}
	return true;
}

/* The path percent-encoded as the gateway's signing string may carry it (unreserved and '/'
 * kept). */
static char *encoded_path(struct arena *a, const char *path)
{
	struct buf b;
	buf_init(&b, 8192);
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~' ||
		    *p == '/')
			buf_putc(&b, (char)*p);
		else
			buf_printf(&b, "%%%02X", *p);
	}
	char *s = arena_strdup(a, b.p ? b.p : "");
	buf_release(&b);
	return s;
}

static bool sig_matches(const struct sim_connector *c, const char *sign_string, size_t n,
                        const char *sig)
{
	if (c->auth == SIM_AUTH_HMAC) {
		unsigned char mac[32];
		const char *sec = c->secret ? c->secret : "";
		crypto_hmac_sm3(sec, strlen(sec), sign_string, n, mac);
		unsigned char got[32];
		if (strlen(sig) != 64 || !hex_decode(sig, 64, got, 32))
			return false;
		return mem_eq_ct(mac, 32, got, 32);
	}
	struct buf der;
	buf_init(&der, 256);
	bool ok = c->sm2_key && base64_decode(sig, strlen(sig), BASE64_SPACE, &der) == ERR_OK &&
	          crypto_sm2_verify(c->sm2_key, NULL, sign_string, n, der.p, der.len) == ERR_OK;
	buf_release(&der);
	return ok;
}

static bool check_signature(struct sim_req *q, const struct sim_connector *c)
{
	const char *kid = req_header(q->r, "X-Key-Id"), *ts = req_header(q->r, "X-Timestamp");
	const char *nonce = req_header(q->r, "X-Nonce"), *sig = req_header(q->r, "X-Signature");
	int64_t t;
	if (!kid || !ts || !nonce || !sig) {
		unauthorized(q, "SIGNATURE_MISSING",
		             "缺少签名信息（X-Key-Id/X-Timestamp/X-Nonce/X-Signature）");
		return false;
	}
	const char *want = c->key_id ? c->key_id : c->username;
	if (!want || strcmp(kid, want) != 0) {
		unauthorized(q, "UNKNOWN_KEY", "未知的密钥标识");
		return false;
	}
	if (!cstr_to_i64(ts, 0, INT64_MAX, &t) || t < q->now_ms - 300000 ||
	    t > q->now_ms + 300000) {
		unauthorized(q, "BAD_SIGNATURE", "时间戳超出 5 分钟");
		return false;
	}
	unsigned char h[32];
	crypto_sm3(q->r->body ? q->r->body : "", q->r->body ? q->r->body_len : 0, h);
	struct buf ss;
	buf_init(&ss, 1u << 16);
	bool ok = false;
	const char *paths[2] = {q->r->path, encoded_path(q->a, q->r->path)};
	for (int i = 0; i < 2 && !ok; i++) {
		if (!paths[i] || (i == 1 && !strcmp(paths[0], paths[1])))
			continue;
		buf_reset(&ss);
		buf_printf(&ss, "%s\n%s\n%s\n%s\n", q->r->method, paths[i], ts, nonce);
		buf_hex(&ss, h, sizeof(h));
		ok = ss.p && sig_matches(c, ss.p, ss.len, sig);
	}
	buf_release(&ss);
	if (!ok) {
		unauthorized(q, "BAD_SIGNATURE", "签名无效");
		return false;
	}
	if (sim_nonce_seen(q->sim, kid, nonce, q->now_ms)) {
		unauthorized(q, "BAD_SIGNATURE", "重复的请求（nonce）");
		return false;
	}
	return true;
}

/* POST <token_path> {"username", "password"} → {"access_token", "expires_in"}. */
static void token_endpoint(struct sim_req *q, const struct sim_connector *c)
{
	const char *u = json_get_str(q->body, "username");
	const char *p = json_get_str(q->body, "password");
	if (!p)
		p = json_get_str(q->body, "secret");
	const char *wu = c->username ? c->username : "", *wp = c->secret ? c->secret : "";
	if (!u || !p ||
	    !((int)mem_eq_ct(u, strlen(u), wu, strlen(wu)) &
	      (int)mem_eq_ct(p, strlen(p), wp, strlen(wp)))) {
		sim_error(q, 401, "INVALID_CLIENT", "用户名或密码错误");
		return;
	}
	char tok[41];
	sim_token_issue(q->sim, c->name, q->now_ms, q->sim->cfg.token_ttl_s, tok);
	json_t *o = json_object();
	json_object_set_new(o, c->token_field ? c->token_field : "access_token", json_string(tok));
	json_object_set_new(o, c->expires_field ? c->expires_field : "expires_in",
	                    json_integer(q->sim->cfg.token_ttl_s));
	json_object_set_new(o, "token_type", json_string("Bearer"));
	sim_reply(q, 200, o);
}

bool sim_auth_is_token_request(const struct sim_req *q, const struct sim_connector *c)
{
	return c && c->auth == SIM_AUTH_TOKEN && c->token_path && !strcmp(q->r->method, "POST") &&
	       !strcmp(q->r->path, c->token_path);
}

void sim_auth_token(struct sim_req *q, const struct sim_connector *c)
{
	token_endpoint(q, c);
}

bool sim_auth_check(struct sim_req *q, const struct sim_connector *c)
{
	if (!c || !q->sim->cfg.auth)
		return true;
	switch (c->auth) {
	case SIM_AUTH_NONE: return true;
	case SIM_AUTH_BASIC: return check_basic(q, c);
	case SIM_AUTH_TOKEN: return check_token(q, c);
	case SIM_AUTH_HMAC:
	case SIM_AUTH_SM2: return check_signature(q, c);
	}
	return false;
}

/* ---- sm4_cbc ---- */

bool sim_crypto_open(struct sim_req *q, const struct sim_connector *c, struct buf *plain)
{
	json_t *doc = json_loadb(q->r->body ? q->r->body : "", q->r->body_len, 0, NULL);
	const char *data = json_get_str(doc, "data");
	struct buf raw;
	bool ok = false;
	buf_init(&raw, 32u << 20);
	if (data && base64_decode(data, strlen(data), BASE64_SPACE, &raw) == ERR_OK &&
	    raw.len >= 32 &&
	    crypto_sm4_cbc_decrypt(c->sm4_key, (const unsigned char *)raw.p, raw.p + 16,
	                           raw.len - 16, plain) == ERR_OK)
		ok = true;
	buf_release(&raw);
	json_decref(doc);
	if (!ok)
		sim_error(q, 400, "DECRYPT_FAILED", "报文解密失败（SM4-CBC）");
	return ok;
}

enum err sim_crypto_seal(const struct sim_connector *c, const char *plain, size_t n,
                         struct buf *out)
{
	unsigned char iv[16];
	struct buf raw;
	enum err e;
	buf_init(&raw, 64u << 20);
	if (!(e = crypto_random(iv, sizeof(iv))) && !(e = buf_append(&raw, iv, sizeof(iv))) &&
	    !(e = crypto_sm4_cbc_encrypt(c->sm4_key, iv, plain, n, &raw)) &&
	    !(e = buf_puts(out, "{\"data\":\"")) && !(e = buf_base64(out, raw.p, raw.len)))
		e = buf_puts(out, "\"}");
	buf_release(&raw);
	return e;
}
