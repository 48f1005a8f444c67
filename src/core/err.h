/* err.h: the one error enum of Shouli.
 *
 * Every fallible function returns enum err; 0 (ERR_OK) is success. The X-macro carries, for
 * each code, the HTTP status it maps to, the stable machine code sent to clients, and the
 * default message shown to a person (zh-CN). Handlers that need to name a field or give a
 * more precise message use struct errinfo. */
#ifndef SHOULI_ERR_H
#define SHOULI_ERR_H

#define FOR_EACH_ERR(X)                                                                            \
	X(OK, 200, "ok", "成功")                                                                   \
	X(NOMEM, 500, "no_memory", "服务器内存不足，请稍后再试")                                   \
	X(INTERNAL, 500, "internal", "服务器内部错误，请稍后再试")                                 \
	X(IO, 500, "io_error", "服务器读写文件失败")                                               \
	X(DB, 500, "db_error", "数据库操作失败，请稍后再试")                                       \
	X(DB_BUSY, 503, "db_busy", "数据库繁忙，请稍后再试")                                       \
	X(CRYPTO, 500, "crypto_error", "密码运算失败")                                             \
	X(CONFIG, 500, "config_error", "配置有误")                                                 \
	X(BAD_REQUEST, 400, "bad_request", "请求有误")                                             \
	X(BAD_JSON, 400, "bad_json", "请求体不是合法的 JSON")                                      \
	X(BAD_UTF8, 400, "bad_utf8", "请求包含非法的 UTF-8 编码")                                  \
	X(BAD_FIELD, 400, "bad_field", "字段值不合法")                                             \
	X(MISSING_FIELD, 400, "missing_field", "缺少必填字段")                                     \
	X(UNKNOWN_FIELD, 400, "unknown_field", "请求包含未知字段")                                 \
	X(INVALID, 422, "invalid", "数据校验未通过")                                               \
	X(TOO_LARGE, 413, "too_large", "请求内容过大")                                             \
	X(UNSUPPORTED_MEDIA, 415, "unsupported_media_type", "请求内容类型不受支持")                \
	X(UNAUTHENTICATED, 401, "unauthenticated", "请先登录")                                     \
	X(BAD_CREDENTIALS, 401, "bad_credentials", "用户名或密码错误")                             \
	X(SESSION_EXPIRED, 401, "session_expired", "登录已过期，请重新登录")                       \
	X(FORBIDDEN, 403, "forbidden", "没有执行此操作的权限")                                     \
	X(CSRF, 403, "csrf", "请求缺少有效的安全令牌，请刷新页面后重试")                           \
	X(OUT_OF_SCOPE, 403, "out_of_scope", "数据不在您的管辖范围内")                             \
	X(NOT_FOUND, 404, "not_found", "请求的资源不存在")                                         \
	X(METHOD_NOT_ALLOWED, 405, "method_not_allowed", "不支持此请求方法")                       \
	X(CONFLICT, 409, "conflict", "数据已被他人修改，请刷新后重试")                             \
	X(EXISTS, 409, "exists", "数据已存在")                                                     \
	X(LOCKED, 423, "locked", "账号已被锁定")                                                   \
	X(RATE_LIMITED, 429, "rate_limited", "操作过于频繁，请稍后再试")                           \
	X(PASSWORD_POLICY, 422, "password_policy", "密码不符合安全要求")                           \
	X(PASSWORD_EXPIRED, 403, "password_expired", "密码已过期，请先修改密码")                   \
	X(UNAVAILABLE, 503, "unavailable", "服务暂不可用，请稍后再试")                             \
	X(UPSTREAM, 502, "upstream_error", "外部系统返回错误")                                     \
	X(TIMEOUT, 504, "timeout", "外部系统响应超时")                                             \
	X(INTEGRITY, 500, "integrity", "数据完整性校验失败")                                       \
	X(BAD_STATE, 409, "invalid_state", "当前状态下不能执行此操作")                             \
	X(DUPLICATE, 409, "duplicate", "已有相同的办件正在办理")

enum err {
#define ERR_ENUM(name, status, code, msg) ERR_##name,
	FOR_EACH_ERR(ERR_ENUM)
#undef ERR_ENUM
	    ERR__COUNT
};

/* HTTP status for an error code (500 for out-of-range values). */
int err_status(enum err e);
/* Stable machine-readable code, e.g. "bad_json". Never NULL. */
const char *err_code(enum err e);
/* Default zh-CN message. Never NULL. */
const char *err_message(enum err e);

/* Detail of a failure, for the error envelope. field and msg are borrowed: static strings or
 * memory that outlives the response (the request arena). NULL means "use the default". */
struct errinfo {
	enum err code;
	const char *field;
	const char *msg;
};

/* Records a failure in *ei (when ei is not NULL) and returns code, so that a check reads
 * `return err_fail(ei, ERR_BAD_FIELD, "name", "姓名不能为空");`. field and msg are borrowed as
 * in struct errinfo; NULL means the default. */
enum err err_fail(struct errinfo *ei, enum err code, const char *field, const char *msg);

#endif
