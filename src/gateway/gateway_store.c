/* gateway_store.c: the gateway's SQL — connectors (validation, sealed secrets, seeding),
 * mocks and the call log's queries. */
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "gateway/gateway_int.h"

#define DB_WAIT_MS 5000

/* ---- validation ------------------------------------------------------------------------ */

static const struct json_field top_fields[] = {
    {"name", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 2, 32, "名称"},
    {"title", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 100, "标题"},
    {"description", JF_STRING, JF_NULLABLE, 0, 2000, "说明"},
    {"protocol", JF_STRING, JF_REQUIRED, 1, 8, "协议"},
    {"base_url", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 500, "基础地址"},
    {"auth", JF_OBJECT, JF_NULLABLE, 0, 0, "认证"},
    {"crypto", JF_OBJECT, JF_NULLABLE, 0, 0, "加密"},
    {"timeout_ms", JF_INT, JF_NULLABLE, 1, 600000, "超时（毫秒）"},
    {"retry", JF_OBJECT, JF_NULLABLE, 0, 0, "重试"},
    {"breaker", JF_OBJECT, JF_NULLABLE, 0, 0, "熔断"},
    {"concurrency", JF_INT, JF_NULLABLE, 1, 10000, "并发上限"},
    {"mode", JF_STRING, JF_NULLABLE, 1, 8, "模式"},
    {"methods", JF_ARRAY, JF_REQUIRED, 1, 500, "方法"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field auth_fields[] = {
    {"kind", JF_STRING, JF_REQUIRED, 1, 16, "认证方式"},
    {"username", JF_STRING, JF_NULLABLE, 0, 100, "用户名"},
    {"secret", JF_STRING, JF_NULLABLE, 1, 4096, "密钥"},
    {"secret_set", JF_BOOL, JF_NULLABLE, 0, 0, "密钥已设置"},
    {"token_path", JF_STRING, JF_NULLABLE, 1, 200, "令牌路径"},
    {"token_field", JF_STRING, JF_NULLABLE, 1, 64, "令牌字段"},
    {"expires_field", JF_STRING, JF_NULLABLE, 1, 64, "有效期字段"},
    {"key_id", JF_STRING, JF_NULLABLE, 1, 100, "密钥标识"},
    {"private_key", JF_STRING, JF_NULLABLE, 1, 8000, "SM2 私钥"},
    {"public_key", JF_STRING, JF_NULLABLE, 1, 8000, "SM2 公钥"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field crypto_fields[] = {
    {"kind", JF_STRING, JF_REQUIRED, 1, 16, "加密方式"},
    {"key", JF_STRING, JF_NULLABLE, 1, 200, "对称密钥"},
    {"secret_set", JF_BOOL, JF_NULLABLE, 0, 0, "密钥已设置"},
    {"peer_public_key", JF_STRING, JF_NULLABLE, 1, 8000, "对方公钥"},
    {"private_key", JF_STRING, JF_NULLABLE, 1, 8000, "本方私钥"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field retry_fields[] = {
    {"max", JF_INT, JF_NULLABLE, 0, 10, "最多重试次数"},
    {"backoff_ms", JF_INT, JF_NULLABLE, 0, 60000, "退避（毫秒）"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field breaker_fields[] = {
    {"failures", JF_INT, JF_NULLABLE, 0, 10000, "失败次数阈值"},
    {"window_s", JF_INT, JF_NULLABLE, 1, 86400, "统计窗口（秒）"},
    {"open_s", JF_INT, JF_NULLABLE, 1, 86400, "熔断时长（秒）"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field method_fields[] = {
    {"name", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 64, "方法名"},
    {"title", JF_STRING, JF_NULLABLE, 0, 100, "方法标题"},
    {"description", JF_STRING, JF_NULLABLE, 0, 2000, "说明"},
    {"http_method", JF_STRING, JF_NULLABLE, 1, 8, "HTTP 方法"},
    {"path", JF_STRING, JF_NULLABLE, 0, 500, "路径"},
    {"idempotent", JF_BOOL, JF_NULLABLE, 0, 0, "幂等"},
    {"timeout_ms", JF_INT, JF_NULLABLE, 1, 600000, "超时（毫秒）"},
    {"mask", JF_ARRAY, JF_NULLABLE, 0, 100, "脱敏字段"},
    {"soap_action", JF_STRING, JF_NULLABLE, 0, 500, "SOAPAction"},
    {"body", JF_STRING, JF_NULLABLE, 1, 20000, "SOAP 报文模板"},
    {"response", JF_OBJECT, JF_NULLABLE, 0, 0, "响应映射"},
    {"namespaces", JF_OBJECT, JF_NULLABLE, 0, 0, "命名空间"},
    {NULL, 0, 0, 0, 0, NULL},
};

static bool name_ok(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);
	if (n < min || n > max || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static bool one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (s && strcmp(s, *list) == 0)
			return true;
	return false;
}

/* json_check on a nested object, with the field path prefixed. */
static enum err check_sub(const json_t *obj, const struct json_field *f, const char *prefix,
                          struct errinfo *ei, struct arena *a)
{
	if (!obj || json_is_null(obj))
		return ERR_OK;
	enum err e = json_check(obj, f, true, a, ei);
	if (e)
		ei->field = arena_printf(a, "%s.%s", prefix, ei->field ? ei->field : "");
	return e;
}

static enum err bad(struct errinfo *ei, struct arena *a, const char *field, const char *msg)
{
	ei->code = ERR_BAD_FIELD;
	ei->field = arena_strdup(a, field);
	ei->msg = arena_strdup(a, msg);
	return ERR_BAD_FIELD;
}

static const char *const protocols[] = {"rest", "soap", NULL};
static const char *const auth_kinds[] = {"none", "basic", "token", "hmac_sm3", "sm2", NULL};
static const char *const crypto_kinds[] = {"none",    "sm4_cbc",      "sm2_envelope",
                                           "aes_cbc", "rsa_envelope", NULL};
static const char *const modes[] = {"live", "mock", NULL};
static const char *const http_methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", NULL};

static enum err validate_method(const json_t *m, size_t i, bool soap, struct errinfo *ei,
                                struct arena *a)
{
	char p[40];
	snprintf(p, sizeof(p), "methods[%zu]", i);
	if (!json_is_object(m))
		return bad(ei, a, p, "方法必须是对象");
	enum err e = check_sub(m, method_fields, p, ei, a);
	if (e)
		return e;
	const char *name = json_get_str(m, "name");
	const char *hm = json_get_str(m, "http_method");
	const char *path = json_get_str(m, "path");
	if (!name_ok(name, 1, 64))
		return bad(ei, a, arena_printf(a, "%s.name", p),
		           "方法名只能由小写字母、数字和下划线组成，且以字母开头");
	if (hm && !one_of(hm, http_methods))
		return bad(ei, a, arena_printf(a, "%s.http_method", p),
		           "HTTP 方法只能是 GET、POST、PUT、PATCH 或 DELETE");
	if (path && path[0] && path[0] != '/')
		return bad(ei, a, arena_printf(a, "%s.path", p), "路径必须以 / 开头");
	if (!soap && (!path || !path[0]))
		return bad(ei, a, arena_printf(a, "%s.path", p), "REST 方法必须给出路径");
	if (soap && !json_get_str(m, "body"))
		return bad(ei, a, arena_printf(a, "%s.body", p), "SOAP 方法必须给出报文模板 body");
	const char *what = NULL;
	if (soap &&
	    gw_soap_check(json_get_str(m, "body"), json_object_get(m, "response"), &what, a))
		return bad(ei, a, arena_printf(a, "%s.%s", p, what),
		           strcmp(what, "body") == 0 ? "SOAP 报文模板不是格式正确的 XML"
		                                     : "响应映射的 XPath 无效");
	size_t k;
	json_t *v;
	json_array_foreach (json_object_get(m, "mask"), k, v) {
		if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 200)
			return bad(ei, a, arena_printf(a, "%s.mask[%zu]", p, k),
			           "脱敏字段必须是非空的路径字符串");
	}
	const char *key;
	json_object_foreach (json_object_get(m, "namespaces"), key, v) {
		if (!json_is_string(v))
			return bad(ei, a, arena_printf(a, "%s.namespaces.%s", p, key),
			           "命名空间必须是 URI 字符串");
	}
	json_object_foreach (json_object_get(m, "response"), key, v) {
		if (!json_is_string(v) && !(json_is_object(v) && json_get_str(v, "xpath")))
			return bad(ei, a, arena_printf(a, "%s.response.%s", p, key),
			           "响应映射的值必须是 XPath 字符串，或含 xpath 的对象");
	}
	return ERR_OK;
}

enum err gw_connector_validate(const json_t *doc, struct errinfo *ei, struct arena *a)
{
	enum err e;
	if (!json_is_object(doc))
		return bad(ei, a, "", "接口系统定义必须是 JSON 对象");
	if ((e = json_check(doc, top_fields, true, a, ei)))
		return e;
	const json_t *auth = json_object_get(doc, "auth"), *cr = json_object_get(doc, "crypto");
	if ((e = check_sub(auth, auth_fields, "auth", ei, a)) ||
	    (e = check_sub(cr, crypto_fields, "crypto", ei, a)) ||
	    (e = check_sub(json_object_get(doc, "retry"), retry_fields, "retry", ei, a)) ||
	    (e = check_sub(json_object_get(doc, "breaker"), breaker_fields, "breaker", ei, a)))
		return e;
	if (!name_ok(json_get_str(doc, "name"), 2, GW_NAME_MAX))
		return bad(ei, a, "name",
		           "名称只能由小写字母、数字和下划线组成，以字母开头，2 到 32 个字符");
	const char *proto = json_get_str(doc, "protocol");
	if (!one_of(proto, protocols))
		return bad(ei, a, "protocol", "协议只能是 rest 或 soap");
	const char *base = json_get_str(doc, "base_url");
	if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0 &&
	    strncmp(base, "{{sim}}", 7) != 0)
		return bad(ei, a, "base_url", "基础地址必须以 http://、https:// 或 {{sim}} 开头");
	if (auth && !json_is_null(auth)) {
		const char *k = json_get_str(auth, "kind");
		if (!one_of(k, auth_kinds))
			return bad(ei, a, "auth.kind",
			           "认证方式只能是 none、basic、token、hmac_sm3 或 sm2");
		const char *tp = json_get_str(auth, "token_path");
		if (tp && tp[0] != '/')
			return bad(ei, a, "auth.token_path", "令牌路径必须以 / 开头");
		if ((strcmp(k, "hmac_sm3") == 0 || strcmp(k, "sm2") == 0) &&
		    !json_get_str(auth, "key_id"))
			return bad(ei, a, "auth.key_id", "签名认证必须给出密钥标识 key_id");
	}
	if (cr && !json_is_null(cr) && !one_of(json_get_str(cr, "kind"), crypto_kinds))
		return bad(ei, a, "crypto.kind",
		           "加密方式只能是 none、sm4_cbc、sm2_envelope、aes_cbc 或 rsa_envelope");
	const char *mode = json_get_str(doc, "mode");
	if (mode && !one_of(mode, modes))
		return bad(ei, a, "mode", "模式只能是 live 或 mock");
	const json_t *methods = json_object_get(doc, "methods");
	bool soap = strcmp(proto, "soap") == 0;
	for (size_t i = 0; i < json_array_size(methods); i++) {
		const json_t *m = json_array_get(methods, i);
		if ((e = validate_method(m, i, soap, ei, a)))
			return e;
		for (size_t j = 0; j < i; j++)
			if (strcmp(json_get_str(json_array_get(methods, j), "name"),
			           json_get_str(m, "name")) == 0)
				return bad(
				    ei, a, arena_printf(a, "methods[%zu].name", i),
				    arena_printf(a, "方法名“%s”重复", json_get_str(m, "name")));
	}
	return ERR_OK;
}

/* ---- secrets --------------------------------------------------------------------------- */

struct secret_slot {
	const char *obj, *key, *name;
};
static const struct secret_slot secret_slots[] = {
    {"auth", "secret", "auth.secret"},
    {"auth", "private_key", "auth.private_key"},
    {"crypto", "key", "crypto.key"},
    {"crypto", "private_key", "crypto.private_key"},
    {NULL, NULL, NULL},
};

void gw_connector_split(const json_t *doc, json_t **stored, json_t **secrets)
{
	*stored = json_deep_copy(doc);
	*secrets = json_object();
	if (!*stored || !*secrets)
		return;
	json_object_del(*stored, "rev");
	for (const struct secret_slot *s = secret_slots; s->obj; s++) {
		json_t *o = json_object_get(*stored, s->obj);
		json_t *v = json_object_get(o, s->key);
		if (v && (json_is_string(v) || json_is_null(v)))
			json_object_set(*secrets, s->name, v);
		if (o)
			json_object_del(o, s->key);
	}
	json_object_del(json_object_get(*stored, "auth"), "secret_set");
	json_object_del(json_object_get(*stored, "crypto"), "secret_set");
}

json_t *gw_connector_public(const json_t *stored, const json_t *secrets)
{
	json_t *d = json_deep_copy(stored);
	if (!d)
		return NULL;
	for (int pass = 0; pass < 2; pass++) {
		const char *obj = pass ? "crypto" : "auth";
		json_t *o = json_object_get(d, obj);
		if (!json_is_object(o))
			continue;
		bool set = false;
		for (const struct secret_slot *s = secret_slots; s->obj; s++)
			if (strcmp(s->obj, obj) == 0 &&
			    json_is_string(json_object_get(secrets, s->name)))
				set = true;
		json_object_set_new(o, "secret_set", json_boolean(set));
	}
	return d;
}

json_t *gw_secrets_merge(const json_t *old, const json_t *given)
{
	json_t *m = old ? json_deep_copy(old) : json_object();
	const char *k;
	json_t *v;
	if (!m)
		return NULL;
	json_object_foreach ((json_t *)given, k, v) {
		if (json_is_null(v))
			json_object_del(m, k);
		else
			json_object_set(m, k, v);
	}
	return m;
}

static enum err seal_secrets(struct server *srv, const json_t *secrets, struct buf *blob)
{
	if (!secrets || json_object_size(secrets) == 0)
		return ERR_OK;
	char *text = json_dumps(secrets, JSON_COMPACT);
	if (!text)
		return ERR_NOMEM;
	enum err e = keyring_encrypt(srv->keys, GW_SECRET_CTX, text, strlen(text), blob);
	crypto_wipe(text, strlen(text));
	free(text);
	return e;
}

static enum err open_secrets(struct server *srv, const struct db_rows *rs, int r, int col,
                             json_t **out)
{
	const struct db_val *v = db_cell(rs, r, col);
	struct buf plain;
	enum err e = ERR_OK;
	if (v->type == DB_NULL) {
		*out = json_object();
		return *out ? ERR_OK : ERR_NOMEM;
	}
	buf_init(&plain, 1u << 20);
	if (!(e = keyring_decrypt(srv->keys, GW_SECRET_CTX, v->p, v->n, &plain))) {
		*out = json_loadb(plain.p, plain.len, 0, NULL);
		if (!*out)
			e = ERR_INTEGRITY;
	}
	if (plain.p)
		crypto_wipe(plain.p, plain.len);
	buf_release(&plain);
	return e;
}

/* ---- connectors ------------------------------------------------------------------------ */

enum err gw_store_connector_load(struct server *srv, struct db_conn *c, struct arena *a,
                                 const char *name, json_t **doc, json_t **secrets, int64_t *rev,
                                 int64_t *updated_at)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT doc, secret_enc, rev, updated_at FROM gateway_connectors "
	                     "WHERE name = ?",
	                     "s", name);
	if (e)
		return e;
	if (rs->nrows == 0)
		return ERR_NOT_FOUND;
	json_t *d = json_loads(db_text(rs, 0, 0), 0, NULL), *s = NULL;
	if (!d)
		return ERR_INTEGRITY;
	if (secrets && (e = open_secrets(srv, rs, 0, 1, &s))) {
		json_decref(d);
		log_error("gateway.store", "secrets of connector %s do not open (%s)", name,
		          err_code(e));
		return e;
	}
	if (doc)
		*doc = d;
	else
		json_decref(d);
	if (secrets)
		*secrets = s;
	if (rev)
		*rev = db_int(rs, 0, 2);
	if (updated_at)
		*updated_at = db_int(rs, 0, 3);
	return ERR_OK;
}

enum err gw_store_connector_rev(struct db_conn *c, struct arena *a, const char *name, int64_t *rev)
{
	struct db_rows *rs = NULL;
	enum err e =
	    db_exec(c, a, &rs, "SELECT rev FROM gateway_connectors WHERE name = ?", "s", name);
	if (e)
		return e;
	if (rs->nrows == 0)
		return ERR_NOT_FOUND;
	*rev = db_int(rs, 0, 0);
	return ERR_OK;
}

enum err gw_store_connector_list(struct db_conn *c, struct arena *a, struct db_rows **rows)
{
	return db_exec(c, a, rows,
	               "SELECT name, title, doc, rev, updated_at, updated_by, "
	               "CASE WHEN secret_enc IS NULL THEN 0 ELSE 1 END FROM gateway_connectors "
	               "ORDER BY name",
	               "");
}

enum err gw_store_connector_put(struct server *srv, struct db_conn *c, struct arena *a,
                                const json_t *stored, const json_t *secrets, bool create,
                                int64_t expect_rev, const char *user, int64_t *new_rev)
{
	struct buf blob;
	struct db_rows *rs = NULL;
	enum err e;
	const char *name = json_get_str(stored, "name");
	char *doc = json_dump_arena(stored, a);
	int64_t now = time_now_ms();
	buf_init(&blob, 1u << 20);
	if (!doc) {
		e = ERR_NOMEM;
		goto out;
	}
	if ((e = seal_secrets(srv, secrets, &blob)))
		goto out;
	struct db_val sv = blob.len ? (struct db_val){.type = DB_BLOB, .p = blob.p, .n = blob.len}
	                            : (struct db_val){.type = DB_NULL};
	if (create) {
		struct db_val p[] = {
		    {.type = DB_TEXT, .p = name, .n = strlen(name)},
		    {.type = DB_TEXT,
		     .p = json_get_str(stored, "title"),
		     .n = strlen(json_get_str(stored, "title"))},
		    {.type = DB_TEXT, .p = doc, .n = strlen(doc)},
		    sv,
		    {.type = DB_INT, .i = now},
		    {.type = DB_INT, .i = now},
		    user ? (struct db_val){.type = DB_TEXT, .p = user, .n = strlen(user)}
		         : (struct db_val){.type = DB_NULL},
		};
		e = db_execv(c, a, NULL,
		             "INSERT INTO gateway_connectors (name, title, doc, secret_enc, rev, "
		             "created_at, updated_at, updated_by) VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
		             p, 7);
		if (!e)
			*new_rev = 1;
		goto out;
	}
	struct db_val p[] = {
	    {.type = DB_TEXT,
	     .p = json_get_str(stored, "title"),
	     .n = strlen(json_get_str(stored, "title"))},
	    {.type = DB_TEXT, .p = doc, .n = strlen(doc)},
	    sv,
	    {.type = DB_INT, .i = now},
	    user ? (struct db_val){.type = DB_TEXT, .p = user, .n = strlen(user)}
	         : (struct db_val){.type = DB_NULL},
	    {.type = DB_TEXT, .p = name, .n = strlen(name)},
	    {.type = DB_INT, .i = expect_rev},
	};
	if ((e = db_execv(
	         c, a, &rs,
	         "UPDATE gateway_connectors SET title = ?, doc = ?, secret_enc = ?, rev = rev "
	         "+ 1, updated_at = ?, updated_by = ? WHERE name = ? AND rev = ?",
	         p, 7)))
		goto out;
	if (rs->changes == 0) {
		int64_t rev;
		e = gw_store_connector_rev(c, a, name, &rev);
		if (!e)
			e = ERR_CONFLICT;
		goto out;
	}
	*new_rev = expect_rev + 1;
out:
	if (blob.p)
		crypto_wipe(blob.p, blob.len);
	buf_release(&blob);
	return e;
}

enum err gw_store_connector_delete(struct db_conn *c, struct arena *a, const char *name)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs, "DELETE FROM gateway_connectors WHERE name = ?", "s", name);
	if (!e && rs->changes == 0)
		e = ERR_NOT_FOUND;
	return e;
}

/* ---- mocks ----------------------------------------------------------------------------- */

static const struct json_field mock_fields[] = {
    {"connector", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 2, 32, "接口系统"},
    {"method", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 64, "方法"},
    {"title", JF_STRING, JF_NULLABLE, 0, 200, "标题"},
    {"match", JF_OBJECT, JF_NULLABLE, 0, 0, "匹配条件"},
    {"status", JF_INT, JF_NULLABLE, 100, 599, "HTTP 状态码"},
    {"delay_ms", JF_INT, JF_NULLABLE, 0, 600000, "延迟（毫秒）"},
    {"response", JF_ANY, JF_NULLABLE, 0, 0, "响应"},
    {NULL, 0, 0, 0, 0, NULL},
};

enum err gw_mock_validate(const json_t *doc, struct errinfo *ei, struct arena *a)
{
	return json_check(doc, mock_fields, true, a, ei);
}

bool gw_json_subset(const json_t *match, const json_t *v)
{
	if (json_is_object(match)) {
		const char *k;
		json_t *m;
		if (!json_is_object(v))
			return false;
		json_object_foreach ((json_t *)match, k, m) {
			if (!gw_json_subset(m, json_object_get(v, k)))
				return false;
		}
		return true;
	}
	if (!v)
		return false;
	/* 1 and 1.0, "1" and 1 are different values: a mock matches what was sent. */
	return json_equal(match, v);
}

static size_t match_weight(const json_t *m)
{
	size_t n = 0;
	const char *k;
	json_t *v;
	json_object_foreach ((json_t *)m, k, v)
		n += json_is_object(v) ? match_weight(v) : 1;
	return n;
}

enum err gw_store_mock_find(struct db_conn *c, struct arena *a, const char *connector,
                            const char *method, const json_t *request, json_t **mock,
                            int64_t *mock_id)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT id, doc FROM gateway_mocks WHERE connector = ? AND method = ? "
	                     "ORDER BY id",
	                     "ss", connector, method);
	json_t *best = NULL;
	size_t best_w = 0;
	*mock = NULL;
	if (e)
		return e;
	for (int i = 0; i < rs->nrows; i++) {
		json_t *d = json_loads(db_text(rs, i, 1), 0, NULL);
		const json_t *m = json_object_get(d, "match");
		size_t w = match_weight(m);
		if (d && (!m || gw_json_subset(m, request)) && (!best || w > best_w)) {
			json_decref(best);
			best = d;
			best_w = w;
			*mock_id = db_int(rs, i, 0);
		} else {
			json_decref(d);
		}
	}
	*mock = best;
	return ERR_OK;
}

enum err gw_store_mock_list(struct db_conn *c, struct arena *a, const char *connector,
                            const char *method, struct db_rows **rows)
{
	struct db_val p[2];
	int np = 0;
	char *sql =
	    arena_printf(a,
	                 "SELECT id, connector, method, title, doc, updated_at FROM "
	                 "gateway_mocks%s%s%s ORDER BY connector, method, id",
	                 connector || method ? " WHERE " : "", connector ? "connector = ?" : "",
	                 method ? (connector ? " AND method = ?" : "method = ?") : "");
	if (!sql)
		return ERR_NOMEM;
	if (connector)
		p[np++] = (struct db_val){.type = DB_TEXT, .p = connector, .n = strlen(connector)};
	if (method)
		p[np++] = (struct db_val){.type = DB_TEXT, .p = method, .n = strlen(method)};
	return db_execv(c, a, rows, sql, p, np);
}

enum err gw_store_mock_get(struct db_conn *c, struct arena *a, int64_t id, struct db_rows **rows)
{
	enum err e =
	    db_exec(c, a, rows,
	            "SELECT id, connector, method, title, doc, updated_at FROM gateway_mocks "
	            "WHERE id = ?",
	            "i", id);
	return !e && (*rows)->nrows == 0 ? ERR_NOT_FOUND : e;
}

enum err gw_store_mock_put(struct db_conn *c, struct arena *a, int64_t id, const json_t *doc,
                           int64_t *out_id)
{
	struct db_rows *rs = NULL;
	char *text = json_dump_arena(doc, a);
	int64_t now = time_now_ms();
	enum err e;
	if (!text)
		return ERR_NOMEM;
	if (id == 0) {
		e = db_exec(c, a, &rs,
		            "INSERT INTO gateway_mocks (connector, method, title, doc, created_at, "
		            "updated_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
		            "ssssii", json_get_str(doc, "connector"), json_get_str(doc, "method"),
		            json_get_str(doc, "title"), text, now, now);
		if (!e)
			*out_id = db_int(rs, 0, 0);
		return e;
	}
	e = db_exec(c, a, &rs,
	            "UPDATE gateway_mocks SET connector = ?, method = ?, title = ?, doc = ?, "
	            "updated_at = ? WHERE id = ?",
	            "ssssii", json_get_str(doc, "connector"), json_get_str(doc, "method"),
	            json_get_str(doc, "title"), text, now, id);
	if (!e && rs->changes == 0)
		e = ERR_NOT_FOUND;
	*out_id = id;
	return e;
}

enum err gw_store_mock_delete(struct db_conn *c, struct arena *a, int64_t id)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs, "DELETE FROM gateway_mocks WHERE id = ?", "i", id);
	if (!e && rs->changes == 0)
		e = ERR_NOT_FOUND;
	return e;
}

/* ---- the call log ---------------------------------------------------------------------- */

#define CALL_COLS                                                                                  \
	"id, trace_id, connector, method, caller_module, caller_user, caller_user_id, "            \
	"started_at, latency_us, outcome, mocked, http_status, attempts, error"

enum err gw_store_calls(struct db_conn *c, struct arena *a, const struct gw_call_filter *f,
                        struct db_rows **rows)
{
	struct buf sql;
	struct db_val p[8];
	int np = 0;
	enum err e;
	buf_init(&sql, 2048);
	e = buf_puts(&sql, "SELECT " CALL_COLS " FROM gateway_calls WHERE 1 = 1");
	const struct {
		const char *v, *cond;
	} texts[] = {{f->connector, " AND connector = ?"},
	             {f->method, " AND method = ?"},
	             {f->outcome, " AND outcome = ?"},
	             {f->trace_id, " AND trace_id = ?"}};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]) && !e; i++) {
		if (!texts[i].v)
			continue;
		e = buf_puts(&sql, texts[i].cond);
		p[np++] =
		    (struct db_val){.type = DB_TEXT, .p = texts[i].v, .n = strlen(texts[i].v)};
	}
	if (!e && f->from_ms) {
		e = buf_puts(&sql, " AND started_at >= ?");
		p[np++] = (struct db_val){.type = DB_INT, .i = f->from_ms};
	}
	if (!e && f->to_ms) {
		e = buf_puts(&sql, " AND started_at < ?");
		p[np++] = (struct db_val){.type = DB_INT, .i = f->to_ms};
	}
	if (!e && f->before) {
		e = buf_puts(&sql, " AND id < ?");
		p[np++] = (struct db_val){.type = DB_INT, .i = f->before};
	}
	if (!e)
		e = buf_printf(&sql, " ORDER BY id DESC LIMIT %d", f->limit > 0 ? f->limit : 50);
	if (!e)
		e = db_execv(c, a, rows, sql.p, p, np);
	buf_release(&sql);
	return e;
}

enum err gw_store_call_get(struct db_conn *c, struct arena *a, int64_t id, struct db_rows **rows)
{
	enum err e = db_exec(
	    c, a, rows, "SELECT " CALL_COLS ", request, response FROM gateway_calls WHERE id = ?",
	    "i", id);
	return !e && (*rows)->nrows == 0 ? ERR_NOT_FOUND : e;
}

/* ---- seeding --------------------------------------------------------------------------- */

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The *.json files of dir, sorted (heap array of heap strings; *n entries). */
static char **list_json(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	char **v = NULL;
	size_t cap = 0;
	struct dirent *de;
	*n = 0;
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0 || de->d_name[0] == '.')
			continue;
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			char **nv = realloc(v, nc * sizeof(*nv));
			if (!nv)
				break;
			v = nv;
			cap = nc;
		}
		char *path = NULL;
		if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
			break;
		v[(*n)++] = path;
	}
	closedir(d);
	if (v)
		qsort(v, *n, sizeof(*v), cmp_str);
	return v;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static enum err seed_connectors(struct server *srv, struct db_conn *c, struct arena *a,
                                const char *dir, int *count)
{
	size_t n = 0;
	char **files = list_json(dir, &n);
	enum err e = ERR_OK;
	for (size_t i = 0; i < n && !e; i++) {
		json_error_t jerr;
		struct errinfo ei = {0};
		json_t *doc = json_load_file(files[i], JSON_REJECT_DUPLICATES, &jerr);
		json_t *stored = NULL, *secrets = NULL;
		struct gw_conf *cf = NULL;
		int64_t rev;
		if (!doc) {
			log_error("gateway.seed", "%s: %s (line %d)", files[i], jerr.text,
			          jerr.line);
			continue;
		}
		if (gw_connector_validate(doc, &ei, a) == ERR_OK) {
			gw_connector_split(doc, &stored, &secrets);
			if (gw_conf_build(stored, secrets, 1, &cf, &ei, a) == ERR_OK) {
				e = gw_store_connector_put(srv, c, a, stored, secrets, true, 0,
				                           "seed", &rev);
				if (!e)
					(*count)++;
			}
		}
		if (ei.msg)
			log_error("gateway.seed", "%s: %s%s%s", files[i], ei.field ? ei.field : "",
			          ei.field ? ": " : "", ei.msg);
		gw_conf_put(cf);
		json_decref(doc);
		json_decref(stored);
		json_decref(secrets);
	}
	free_list(files, n);
	return e;
}

static enum err seed_mocks(struct db_conn *c, struct arena *a, const char *dir, int *count)
{
	size_t n = 0;
	char **files = list_json(dir, &n);
	enum err e = ERR_OK;
	for (size_t i = 0; i < n && !e; i++) {
		json_error_t jerr;
		json_t *doc = json_load_file(files[i], JSON_REJECT_DUPLICATES, &jerr);
		if (!doc) {
			log_error("gateway.seed", "%s: %s (line %d)", files[i], jerr.text,
			          jerr.line);
			continue;
		}
		size_t k;
		json_t *m;
		json_t *list = json_is_array(doc) ? json_incref(doc) : json_pack("[O]", doc);
		json_array_foreach (list, k, m) {
			struct errinfo ei = {0};
			int64_t id;
			if (gw_mock_validate(m, &ei, a) != ERR_OK) {
				log_error("gateway.seed", "%s[%zu]: %s: %s", files[i], k,
				          ei.field ? ei.field : "",
				          ei.msg ? ei.msg : err_message(ei.code));
				continue;
			}
			if ((e = gw_store_mock_put(c, a, 0, m, &id)))
				break;
			(*count)++;
		}
		json_decref(list);
		json_decref(doc);
	}
	free_list(files, n);
	return e;
}

enum err gw_store_seed(struct server *srv, const char *seed_dir)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct arena a;
	enum err e;
	int nconn = 0, nmock = 0;
	char *dir = NULL;
	arena_init(&a, 0);
	if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)) || (e = db_begin_write(c)))
		goto out;
	if ((e = db_exec(c, &a, &rs,
	                 "SELECT (SELECT COUNT(*) FROM gateway_connectors), (SELECT COUNT(*) FROM "
	                 "gateway_mocks)",
	                 "")))
		goto out;
	bool no_conn = db_int(rs, 0, 0) == 0, no_mock = db_int(rs, 0, 1) == 0;
	if (no_conn && (dir = arena_printf(&a, "%s/connectors", seed_dir)) &&
	    (e = seed_connectors(srv, c, &a, dir, &nconn)))
		goto out;
	if (no_mock && (dir = arena_printf(&a, "%s/mocks", seed_dir)) &&
	    (e = seed_mocks(c, &a, dir, &nmock)))
		goto out;
	e = db_commit(c);
	if (!e && (nconn || nmock))
		log_info("gateway.seed", "seeded %d connectors and %d mocks from %s", nconn, nmock,
		         seed_dir);
out:
	if (e && c)
		db_rollback(c);
	/* Another node seeding at the same moment wins the unique names: nothing is lost. */
	if (e == ERR_EXISTS || e == ERR_CONFLICT)
		e = ERR_OK;
	db_release(c);
	arena_release(&a);
	return e;
}
