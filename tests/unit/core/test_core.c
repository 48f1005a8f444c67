/* test_core.c: src/core — arena caps and cleanups, buf caps, strict JSON input and the closed
 * schema check, configuration precedence, UTF-8 validation, checked integer parsing and W3C
 * trace context. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"

/* ---- arena ---- */

static void test_arena_cap(void **state)
{
	struct arena a;
	arena_init(&a, 1000);
	void *p = arena_alloc(&a, 512);
	assert_non_null(p);
	assert_int_equal(a.used, 512);
	/* 512 + 512 > 1000: refused, and the refusal costs nothing. */
	assert_null(arena_alloc(&a, 512));
	assert_int_equal(a.used, 512);
	/* Sizes are rounded up to the alignment; what fits still fits. */
	assert_non_null(arena_alloc(&a, 470)); /* 480 */
	assert_int_equal(a.used, 992);
	/* 8 bytes remain, but the smallest allocation takes 16. */
	assert_null(arena_alloc(&a, 1));
	assert_int_equal(a.used, 992);
	/* Absurd sizes do not wrap around the cap check. */
	assert_null(arena_alloc(&a, SIZE_MAX));
	assert_null(arena_alloc(&a, SIZE_MAX - 8));
	assert_null(arena_strndup(&a, "x", SIZE_MAX));
	arena_release(&a);
	/* Reusable after release, with the same cap. */
	assert_int_equal(a.used, 0);
	assert_non_null(arena_alloc(&a, 992));
	assert_null(arena_alloc(&a, 1));
	arena_release(&a);

	/* No cap: large allocations work and are aligned. */
	arena_init(&a, 0);
	for (int i = 0; i < 10; i++) {
		unsigned char *q = arena_alloc(&a, 100000);
		assert_non_null(q);
		assert_int_equal((uintptr_t)q % 16, 0);
		memset(q, i, 100000);
	}
	char *s = arena_printf(&a, "%s-%d", "受理", 42);
	assert_string_equal(s, "受理-42");
	assert_string_equal(arena_strndup(&a, "abcdef", 3), "abc");
	assert_null(arena_strdup(&a, NULL));
	arena_release(&a);
}

static int order[8];
static int norder;
static char seen_text[32];

static void record(void *arg)
{
	order[norder++] = (int)(intptr_t)arg;
}

static void read_arena_string(void *arg)
{
	/* Runs before the memory goes: arena data must still be readable here. */
	snprintf(seen_text, sizeof(seen_text), "%s", (const char *)arg);
	order[norder++] = 99;
}

static void test_arena_cleanup_order(void **state)
{
	struct arena a;
	norder = 0;
	seen_text[0] = 0;
	arena_init(&a, 256);
	char *s = arena_strdup(&a, "still here");
	assert_int_equal(arena_defer(&a, read_arena_string, s), 0);
	assert_int_equal(arena_defer(&a, record, (void *)1), 0);
	assert_int_equal(arena_defer(&a, record, (void *)2), 0);
	/* Fill the arena to its cap: a cleanup must still be registrable. */
	while (arena_alloc(&a, 16))
		;
	assert_int_equal(arena_defer(&a, record, (void *)3), 0);
	assert_int_equal(norder, 0);
	arena_release(&a);
	assert_int_equal(norder, 4);
	assert_int_equal(order[0], 3);
	assert_int_equal(order[1], 2);
	assert_int_equal(order[2], 1);
	assert_int_equal(order[3], 99);
	assert_string_equal(seen_text, "still here");
	/* Released cleanups do not run again. */
	arena_release(&a);
	assert_int_equal(norder, 4);
}

/* ---- buf ---- */

static void test_buf_cap(void **state)
{
	struct buf b;
	buf_init(&b, 8);
	assert_int_equal(buf_puts(&b, "12345"), ERR_OK);
	assert_int_equal(buf_append(&b, "6789", 4), ERR_TOO_LARGE);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.p, "12345");
	assert_int_equal(buf_printf(&b, "%d", 1234), ERR_TOO_LARGE);
	assert_string_equal(b.p, "12345");
	assert_int_equal(buf_hex(&b, "ab", 2), ERR_TOO_LARGE);
	assert_string_equal(b.p, "12345");
	assert_int_equal(buf_append(&b, "x", SIZE_MAX), ERR_TOO_LARGE);
	assert_int_equal(b.len, 5);
	/* Exactly the cap is fine; one more byte is not. */
	assert_int_equal(buf_puts(&b, "678"), ERR_OK);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.p, "12345678");
	assert_int_equal(buf_putc(&b, '9'), ERR_TOO_LARGE);
	assert_string_equal(b.p, "12345678");
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.p, "");
	assert_int_equal(buf_printf(&b, "%s", "abcdefgh"), ERR_OK);
	size_t n = 0;
	char *p = buf_detach(&b, &n);
	assert_int_equal(n, 8);
	assert_string_equal(p, "abcdefgh");
	assert_null(b.p);
	free(p);
	buf_release(&b);

	/* A zero cap holds nothing. */
	buf_init(&b, 0);
	assert_int_equal(buf_putc(&b, 'x'), ERR_TOO_LARGE);
	assert_int_equal(buf_append(&b, "", 0), ERR_OK);
	buf_release(&b);

	/* JSON escaping of control characters, quotes and backslashes. */
	buf_init(&b, 100);
	const char *raw = "a\"b\\c\n\x01\xe5\x8f\x97";
	assert_int_equal(buf_json_escape(&b, raw, strlen(raw)), ERR_OK);
	assert_string_equal(b.p, "a\\\"b\\\\c\\n\\u0001受");
	buf_release(&b);
}

/* ---- JSON ---- */

static const struct json_field login_fields[] = {
    {"username", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 32, "用户名"},
    {"password", JF_STRING, JF_REQUIRED, 0, 0, "密码"},
    {"age", JF_INT, 0, 0, 150, "年龄"},
    {"score", JF_NUMBER, JF_NULLABLE, 0, 0, NULL},
    {"remember", JF_BOOL, 0, 0, 0, "记住我"},
    {"tags", JF_ARRAY, 0, 1, 3, "标签"},
    {"extra", JF_OBJECT, 0, 0, 0, "附加信息"},
    {"note", JF_STRING, JF_NULLABLE | JF_REQUIRED, 0, 4, "备注"},
    {NULL, 0, 0, 0, 0, NULL},
};

struct check_case {
	const char *body;
	enum err want;
	const char *field;
	const char *msg_part; /* substring of the zh-CN message */
};

static void test_json_check_classes(void **state)
{
	static const struct check_case cases[] = {
	    {"{\"username\":\"clerk\",\"password\":\"x\",\"note\":\"ok\"}", ERR_OK, NULL, NULL},
	    {"{\"username\":\"clerk\",\"password\":\"x\",\"note\":\"四个汉字\",\"age\":150,"
	     "\"score\":1.5,\"remember\":true,\"tags\":[1,2,3],\"extra\":{}}",
	     ERR_OK, NULL, NULL},
	    /* nullable: null counts as absent, so a required nullable field is missing */
	    {"{\"username\":\"clerk\",\"password\":\"x\",\"note\":\"a\",\"score\":null}", ERR_OK,
	     NULL, NULL},
	    {"{\"username\":\"clerk\",\"password\":\"x\",\"note\":null}", ERR_MISSING_FIELD, "note",
	     "缺少必填字段“备注”"},
	    {"[1,2]", ERR_BAD_JSON, NULL, "必须是 JSON 对象"},
	    {"\"str\"", ERR_BAD_JSON, NULL, "必须是 JSON 对象"},
	    {"{\"username\":\"c\",\"password\":\"x\",\"note\":\"a\",\"admin\":true}",
	     ERR_UNKNOWN_FIELD, "admin", "不认识的字段“admin”"},
	    {"{\"password\":\"x\",\"note\":\"a\"}", ERR_MISSING_FIELD, "username",
	     "缺少必填字段“用户名”"},
	    {"{\"username\":5,\"password\":\"x\",\"note\":\"a\"}", ERR_BAD_FIELD, "username",
	     "字段“用户名”应为字符串"},
	    {"{\"username\":\"c\",\"password\":\"x\",\"note\":\"a\",\"age\":\"3\"}", ERR_BAD_FIELD,
	     "age", "字段“年龄”应为整数"},
	    {"{\"username\":\"c\",\"password\":\"x\",\"note\":\"a\",\"age\":3.0}", ERR_BAD_FIELD,
	     "age", "应为整数"},
	    {"{\"username\":\"c\",\"password\":\"x\",\"note\":\"a\",\"age\":151}", ERR_BAD_FIELD,
	     "age", "字段“年龄”应在 0 到 150 之间"},
	    {"{\"username\":\"c\",\"password\":\"x\",\"note\":\"a\",\"age\":-1}", ERR_BAD_FIELD,
	     "age", "应在 0 到 150 之间"},
	    /* no label: the member name stands in */
	    {"{\"username\":\"c\",\"password\":\"x\",\"note\":\"a\",\"score\":\"1\"}",
	     ERR_BAD_FIELD, "score", "字段“score”应为数字"},
	    {"{\"username\":\"c\",\"password\":\"x\",\"note\":\"a\",\"remember\":1}", ERR_BAD_FIELD,
	     "remember", "字段“记住我”应为布尔值"},
	    {"{\"username\":\"c\",\"password\":\"x\",\"note\":\"a\",\"tags\":{}}", ERR_BAD_FIELD,
	     "tags", "字段“标签”应为数组"},
	    {"{\"username\":\"c\",\"password\":\"x\",\"note\":\"a\",\"tags\":[]}", ERR_BAD_FIELD,
	     "tags", "元素个数应在 1 到 3 之间"},
	    {"{\"username\":\"c\",\"password\":\"x\",\"note\":\"a\",\"tags\":[1,2,3,4]}",
	     ERR_BAD_FIELD, "tags", "元素个数应在 1 到 3 之间"},
	    {"{\"username\":\"c\",\"password\":\"x\",\"note\":\"a\",\"extra\":[]}", ERR_BAD_FIELD,
	     "extra", "字段“附加信息”应为对象"},
	    /* a non-nullable field given null is the wrong type, not absent */
	    {"{\"username\":null,\"password\":\"x\",\"note\":\"a\"}", ERR_BAD_FIELD, "username",
	     "应为字符串"},
	    {"{\"username\":\"   \",\"password\":\"x\",\"note\":\"a\"}", ERR_BAD_FIELD, "username",
	     "字段“用户名”不能为空"},
	    {"{\"username\":\"\",\"password\":\"x\",\"note\":\"a\"}", ERR_BAD_FIELD, "username",
	     NULL},
	    /* lengths are characters, not bytes: five CJK characters exceed 4 */
	    {"{\"username\":\"c\",\"password\":\"x\",\"note\":\"五个汉字呀\"}", ERR_BAD_FIELD,
	     "note", "字段“备注”最多 4 个字符"},
	    {"{\"username\":\"c\",\"password\":\"x\",\"note\":\"a\","
	     "\"username2\":1}",
	     ERR_UNKNOWN_FIELD, "username2", NULL},
	    /* default string cap is 1000 characters */
	    {NULL, ERR_BAD_FIELD, "password", "最多 1000 个字符"},
	};
	struct arena a;
	arena_init(&a, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct check_case *c = &cases[i];
		char *body = (char *)c->body;
		if (!body) {
			struct buf b;
			buf_init(&b, 4096);
			buf_puts(&b, "{\"username\":\"c\",\"note\":\"a\",\"password\":\"");
			for (int k = 0; k < 1001; k++)
				buf_putc(&b, 'p');
			buf_puts(&b, "\"}");
			body = arena_strdup(&a, b.p);
			buf_release(&b);
		}
		json_t *v = NULL;
		struct errinfo ei = {0};
		print_message("case %zu\n", i);
		assert_int_equal(json_parse(body, strlen(body), &v, &a, &ei), ERR_OK);
		enum err e = json_check(v, login_fields, true, &a, &ei);
		assert_int_equal(e, c->want);
		if (c->want) {
			assert_int_equal(ei.code, c->want);
			if (c->field)
				assert_string_equal(ei.field, c->field);
			else
				assert_null(ei.field);
			assert_non_null(ei.msg);
			if (c->msg_part)
				assert_non_null(strstr(ei.msg, c->msg_part));
		}
		json_decref(v);
	}

	/* An open check ignores unknown members but still checks the known ones. */
	json_t *v = json_pack("{s:s,s:s,s:s,s:i}", "username", "c", "password", "x", "note", "a",
	                      "whatever", 1);
	struct errinfo ei = {0};
	assert_int_equal(json_check(v, login_fields, false, &a, &ei), ERR_OK);
	json_object_set_new(v, "age", json_integer(200));
	assert_int_equal(json_check(v, login_fields, false, &a, &ei), ERR_BAD_FIELD);
	json_decref(v);

	/* A string with an embedded NUL built in C (parsing never lets one through). */
	v = json_pack("{s:s,s:s#,s:s}", "username", "c", "password", "a\0b", (size_t)3, "note",
	              "a");
	assert_non_null(v);
	assert_int_equal(json_check(v, login_fields, true, &a, &ei), ERR_BAD_FIELD);
	assert_string_equal(ei.field, "password");
	assert_non_null(strstr(ei.msg, "含有非法字符"));
	json_decref(v);
	arena_release(&a);
}

static void test_json_parse_strict(void **state)
{
	static const struct {
		const char *p;
		size_t n; /* 0 = strlen */
		enum err want;
		const char *msg_part;
	} cases[] = {
	    {"{\"a\":1}", 0, ERR_OK, NULL},
	    {"  {\"a\":[1,2,{\"b\":null}]}\n", 0, ERR_OK, NULL},
	    {"[1,2]", 0, ERR_OK, NULL}, /* any value parses; json_check wants objects */
	    {"{\"a\":1,\"a\":2}", 0, ERR_BAD_JSON, "重复的字段"},
	    {"{\"a\":{\"b\":1,\"b\":1}}", 0, ERR_BAD_JSON, "重复的字段"},
	    {"{\"a\":1} x", 0, ERR_BAD_JSON, "第 1 行"},
	    {"{\"a\":1}{}", 0, ERR_BAD_JSON, NULL},
	    {"{\"a\":", 0, ERR_BAD_JSON, "不完整"},
	    {"{\"a\" 1}", 0, ERR_BAD_JSON, "不是合法的 JSON"},
	    {"", 0, ERR_BAD_JSON, NULL},
	    {"{'a':1}", 0, ERR_BAD_JSON, NULL},
	    {"{\"a\":\"\\u0000\"}", 0, ERR_BAD_JSON, NULL},
	    {"{\"a\":\"x\0y\"}", 11, ERR_BAD_JSON, NULL}, /* raw NUL byte */
	    {"{\"a\":\"\xff\"}", 0, ERR_BAD_UTF8, NULL},
	    {"{\"a\":\"\xc0\xaf\"}", 0, ERR_BAD_UTF8, NULL},     /* overlong '/' */
	    {"{\"a\":\"\xed\xa0\x80\"}", 0, ERR_BAD_UTF8, NULL}, /* raw surrogate */
	    {"{\"a\":\"\\ud800\"}", 0, ERR_BAD_JSON, NULL},      /* escaped lone surrogate */
	    {"{\"a\":\"\xe5\x8f\"}", 0, ERR_BAD_UTF8, NULL},     /* truncated */
	    {"{\"a\":NaN}", 0, ERR_BAD_JSON, NULL},
	    {"{\"a\":1e999}", 0, ERR_BAD_JSON, NULL},
	};
	struct arena a;
	arena_init(&a, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *v = (json_t *)&a; /* must be reset to NULL on failure */
		struct errinfo ei = {0};
		size_t n = cases[i].n ? cases[i].n : strlen(cases[i].p);
		print_message("case %zu\n", i);
		enum err e = json_parse(cases[i].p, n, &v, &a, &ei);
		assert_int_equal(e, cases[i].want);
		if (e) {
			assert_null(v);
			assert_int_equal(ei.code, e);
			if (cases[i].msg_part) {
				assert_non_null(ei.msg);
				assert_non_null(strstr(ei.msg, cases[i].msg_part));
			}
		} else {
			assert_non_null(v);
			json_decref(v);
		}
	}
	/* Without an arena or errinfo the code alone comes back. */
	json_t *v = NULL;
	assert_int_equal(json_parse("{", 1, &v, NULL, NULL), ERR_BAD_JSON);
	assert_int_equal(json_parse("\"\xff\"", 3, &v, NULL, NULL), ERR_BAD_UTF8);
	arena_release(&a);
}

/* ---- config ---- */

static char *write_temp(const char *text)
{
	const char *dir = getenv("SHOULI_TEST_TMP");
	char *path = NULL;
	if (!dir || !*dir)
		dir = "/tmp";
	char mk[512];
	snprintf(mk, sizeof(mk), "mkdir -p '%s'", dir);
	assert_int_equal(system(mk), 0);
	assert_true(asprintf(&path, "%s/core-conf-XXXXXX", dir) > 0);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t n = strlen(text);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	return path;
}

static void test_config_precedence(void **state)
{
	char *file = write_temp("# test\nport = 1111\nthreads = 3\nlog_level = debug\n"
	                        "body-max = 4096\n\n");
	char *argv_cfg = file;
	char msg[256] = "";
	struct config c;

	/* defaults only */
	config_defaults(&c);
	assert_int_equal(c.port, 8080);
	assert_string_equal(c.bind, "127.0.0.1");
	assert_int_equal(c.body_max, 1048576);
	assert_false(c.demo);
	config_release(&c);

	/* file < env < flags, each key independently */
	char *argv[] = {"serve", "--config", argv_cfg, "--port", "3333", "--demo", NULL};
	char *envp[] = {"PATH=/bin",
	                "SHOULI_PORT=2222",
	                "SHOULI_THREADS=5",
	                "SHOULI_BIN=x",
	                "SHOULI_DATA_DIR=/tmp/envdata",
	                NULL};
	config_defaults(&c);
	assert_int_equal(config_resolve(&c, 6, argv, envp, NULL, NULL, msg, sizeof(msg)), ERR_OK);
	assert_int_equal(c.port, 3333);            /* flag beats env and file */
	assert_int_equal(c.threads, 5);            /* env beats file */
	assert_string_equal(c.log_level, "debug"); /* file beats default */
	assert_int_equal(c.body_max, 4096);        /* '-' in a file key stands for '_' */
	assert_string_equal(c.data_dir, "/tmp/envdata");
	assert_int_equal(c.workers, 4); /* default */
	assert_true(c.demo);            /* bare boolean flag */
	config_release(&c);

	/* the file named by SHOULI_CONFIG; --key=value and --data as the short form */
	char envcfg[600];
	snprintf(envcfg, sizeof(envcfg), "SHOULI_CONFIG=%s", file);
	char *argv2[] = {"serve",         "--threads=7",      "--data",
	                 "/tmp/flagdata", "--with-sim=false", NULL};
	char *envp2[] = {envcfg, NULL};
	config_defaults(&c);
	assert_int_equal(config_resolve(&c, 5, argv2, envp2, NULL, NULL, msg, sizeof(msg)), ERR_OK);
	assert_int_equal(c.port, 1111);
	assert_int_equal(c.threads, 7);
	assert_string_equal(c.data_dir, "/tmp/flagdata");
	assert_false(c.with_sim);
	config_release(&c);

	/* positional arguments: collected when asked for, refused otherwise */
	char *argv3[] = {"admin", "user", "--port", "1", "create", NULL};
	char *rest[4];
	int nrest = -1;
	char *noenv[] = {NULL};
	config_defaults(&c);
	assert_int_equal(config_resolve(&c, 5, argv3, noenv, rest, &nrest, msg, sizeof(msg)),
	                 ERR_OK);
	assert_int_equal(nrest, 2);
	assert_string_equal(rest[0], "user");
	assert_string_equal(rest[1], "create");
	assert_int_equal(c.port, 1);
	config_release(&c);
	config_defaults(&c);
	assert_int_equal(config_resolve(&c, 5, argv3, noenv, NULL, NULL, msg, sizeof(msg)),
	                 ERR_CONFIG);
	assert_non_null(strstr(msg, "user"));
	config_release(&c);
	free(file);
}

static void test_config_errors(void **state)
{
	char msg[256];
	struct config c;
	char *noenv[] = {NULL};

	char *bad = write_temp("port = 80\nnope = 1\n");
	char *argv[] = {"serve", "--config", bad, NULL};
	config_defaults(&c);
	msg[0] = 0;
	assert_int_equal(config_resolve(&c, 3, argv, noenv, NULL, NULL, msg, sizeof(msg)),
	                 ERR_CONFIG);
	assert_non_null(strstr(msg, ":2:"));
	assert_non_null(strstr(msg, "nope"));
	config_release(&c);
	free(bad);

	bad = write_temp("port 80\n");
	char *argv1[] = {"serve", "--config", bad, NULL};
	config_defaults(&c);
	assert_int_equal(config_resolve(&c, 3, argv1, noenv, NULL, NULL, msg, sizeof(msg)),
	                 ERR_CONFIG);
	assert_non_null(strstr(msg, ":1:"));
	config_release(&c);
	free(bad);

	/* a named config file must exist */
	char *argv2[] = {"serve", "--config", "/nonexistent/shouli.conf", NULL};
	config_defaults(&c);
	assert_int_equal(config_resolve(&c, 3, argv2, noenv, NULL, NULL, msg, sizeof(msg)),
	                 ERR_CONFIG);
	config_release(&c);

	/* out of range and junk, from each source */
	char *envp[] = {"SHOULI_PORT=70000", NULL};
	char *argv3[] = {"serve", "--data", "/nonexistent", NULL};
	config_defaults(&c);
	assert_int_equal(config_resolve(&c, 3, argv3, envp, NULL, NULL, msg, sizeof(msg)),
	                 ERR_CONFIG);
	assert_non_null(strstr(msg, "port"));
	config_release(&c);

	const char *const badflags[][2] = {
	    {"--port", "12x"},   {"--threads", "0"}, {"--demo=maybe", NULL},
	    {"--colour", "red"}, {"--port", NULL}, /* missing value */
	};
	for (size_t i = 0; i < sizeof(badflags) / sizeof(badflags[0]); i++) {
		char *av[] = {"serve", (char *)badflags[i][0], (char *)badflags[i][1], NULL};
		int ac = badflags[i][1] ? 3 : 2;
		config_defaults(&c);
		msg[0] = 0;
		print_message("flag %s\n", badflags[i][0]);
		assert_int_equal(config_resolve(&c, ac, av, noenv, NULL, NULL, msg, sizeof(msg)),
		                 ERR_CONFIG);
		assert_true(msg[0] != 0);
		config_release(&c);
	}

	config_defaults(&c);
	assert_int_equal(config_set(&c, "body_max", "1023", msg, sizeof(msg)), ERR_CONFIG);
	assert_int_equal(config_set(&c, "body_max", "2048", msg, sizeof(msg)), ERR_OK);
	assert_int_equal(c.body_max, 2048);
	assert_int_equal(config_set(&c, "no_such_key", "1", msg, sizeof(msg)), ERR_CONFIG);
	config_release(&c);
}

/* ---- UTF-8 ---- */

static void test_utf8_valid(void **state)
{
	static const struct {
		const char *p;
		bool ok;
	} cases[] = {
	    {"", true},
	    {"ascii", true},
	    {"\xc2\x80", true},     /* U+0080 */
	    {"\xdf\xbf", true},     /* U+07FF */
	    {"\xe0\xa0\x80", true}, /* U+0800 */
	    {"受理", true},
	    {"\xed\x9f\xbf", true},     /* U+D7FF */
	    {"\xee\x80\x80", true},     /* U+E000 */
	    {"\xef\xbf\xbf", true},     /* U+FFFF */
	    {"\xf0\x90\x80\x80", true}, /* U+10000 */
	    {"\xf4\x8f\xbf\xbf", true}, /* U+10FFFF */
	    {"\x80", false},            /* lone continuation */
	    {"\xbf", false},
	    {"\xc0\x80", false},         /* overlong NUL */
	    {"\xc1\xbf", false},         /* overlong */
	    {"\xe0\x80\xaf", false},     /* overlong '/' */
	    {"\xe0\x9f\xbf", false},     /* overlong U+07FF */
	    {"\xf0\x8f\xbf\xbf", false}, /* overlong U+FFFF */
	    {"\xed\xa0\x80", false},     /* U+D800 */
	    {"\xed\xbf\xbf", false},     /* U+DFFF */
	    {"\xf4\x90\x80\x80", false}, /* U+110000 */
	    {"\xf5\x80\x80\x80", false},
	    {"\xf8\x88\x80\x80\x80", false}, /* 5-byte form */
	    {"\xfe", false},
	    {"\xff", false},
	    {"\xc2", false}, /* truncated */
	    {"\xe5\x8f", false},
	    {"\xf0\x90\x80", false},
	    {"a\xe5\x8f", false},    /* truncated at the end after valid text */
	    {"\xe5\x41\x97", false}, /* bad continuation */
	    {"\xc2\xc2\x80", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case %zu\n", i);
		assert_int_equal(utf8_valid(cases[i].p, strlen(cases[i].p)), cases[i].ok);
	}
	/* Length is explicit: an embedded NUL is a valid code point, and a valid prefix of an
	 * invalid buffer is valid. */
	assert_true(utf8_valid("a\0b", 3));
	assert_true(utf8_valid("受\xff", 3));
	assert_false(utf8_valid("受\xff", 4));
	assert_false(utf8_valid("受", 2));
	assert_int_equal(utf8_len("受理a", strlen("受理a")), 3);
}

/* ---- numbers ---- */

static void test_str_to_i64(void **state)
{
	int64_t v = 0;
	assert_true(cstr_to_i64("0", 0, 10, &v));
	assert_int_equal(v, 0);
	assert_true(cstr_to_i64("9223372036854775807", INT64_MIN, INT64_MAX, &v));
	assert_true(v == INT64_MAX);
	assert_true(cstr_to_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &v));
	assert_true(v == INT64_MIN);
	assert_true(cstr_to_i64("+42", 0, 100, &v));
	assert_int_equal(v, 42);
	assert_true(cstr_to_i64("007", 0, 100, &v));
	assert_int_equal(v, 7);

	v = 12345;
	static const char *const junk[] = {
	    "9223372036854775808",
	    "-9223372036854775809",
	    "99999999999999999999",
	    "",
	    "-",
	    "+",
	    " 1",
	    "1 ",
	    "1a",
	    "0x10",
	    "1e3",
	    "1.0",
	    "--1",
	    "１",
	};
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		print_message("junk '%s'\n", junk[i]);
		assert_false(cstr_to_i64(junk[i], INT64_MIN, INT64_MAX, &v));
	}
	assert_int_equal(v, 12345); /* untouched on failure */
	assert_false(cstr_to_i64(NULL, 0, 1, &v));
	/* range */
	assert_false(cstr_to_i64("11", 0, 10, &v));
	assert_false(cstr_to_i64("-1", 0, 10, &v));
	assert_true(cstr_to_i64("-1", -1, 10, &v));
	/* a slice is parsed only as far as its length */
	assert_true(str_to_i64((struct str){"123456", 3}, 0, 1000, &v));
	assert_int_equal(v, 123);
	assert_false(str_to_i64((struct str){"123", 0}, 0, 1000, &v));
}

/* ---- trace context ---- */

static bool is_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void test_trace_start(void **state)
{
	struct trace_ctx t, u;
	trace_start(&t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
	assert_string_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_string_equal(t.parent_id, "00f067aa0ba902b7");
	assert_true(is_hex(t.span_id, 16));
	assert_string_not_equal(t.span_id, "00f067aa0ba902b7");
	char hdr[56];
	trace_header(&t, hdr);
	assert_int_equal(strlen(hdr), 55);
	assert_memory_equal(hdr, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36);
	assert_memory_equal(hdr + 36, t.span_id, 16);
	assert_string_equal(hdr + 52, "-01");

	/* A future version may be longer; flags other than 01 are kept as a trace. */
	trace_start(&u, "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra");
	assert_string_equal(u.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");

	static const char *const bad[] = {
	    NULL,
	    "",
	    "garbage",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",    /* no flags */
	    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", /* upper case */
	    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* version ff */
	    "00-00000000000000000000000000000000-00f067aa0ba902b7-01", /* zero trace */
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", /* zero parent */
	    "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
	    "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
	    "0-4bf92f3577b34da6a3ce929d0e0e47360-00f067aa0ba902b7-01",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("bad traceparent %zu\n", i);
		trace_start(&t, bad[i]);
		assert_true(is_hex(t.trace_id, 32));
		assert_string_not_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
		assert_string_not_equal(t.trace_id, "00000000000000000000000000000000");
		assert_string_equal(t.parent_id, "");
		assert_true(is_hex(t.span_id, 16));
	}
	/* Fresh traces differ. */
	trace_start(&t, NULL);
	trace_start(&u, NULL);
	assert_string_not_equal(t.trace_id, u.trace_id);
}

static void test_err_table(void **state)
{
	assert_int_equal(err_status(ERR_OK), 200);
	assert_int_equal(err_status(ERR_TOO_LARGE), 413);
	assert_string_equal(err_code(ERR_UNSUPPORTED_MEDIA), "unsupported_media_type");
	assert_int_equal(err_status((enum err)9999), 500);
	assert_non_null(err_code((enum err) - 1));
	/* Every message a person sees is Chinese: each has at least one CJK character. */
	for (int e = 0; e < ERR__COUNT; e++) {
		const char *m = err_message((enum err)e);
		bool cjk = false;
		for (const unsigned char *p = (const unsigned char *)m; *p; p++)
			if (*p >= 0xe4 && *p <= 0xe9)
				cjk = true;
		print_message("err %d %s\n", e, err_code((enum err)e));
		assert_true(cjk);
		assert_true(utf8_valid(m, strlen(m)));
	}
}

/* ---- log ---- */

#define LOG_THREADS 4
#define LOG_LINES   400

struct drain {
	int fd;
	struct buf got;
};

static void *drain_pipe(void *arg)
{
	struct drain *d = arg;
	char tmp[4096];
	ssize_t n;
	while ((n = read(d->fd, tmp, sizeof(tmp))) > 0)
		buf_append(&d->got, tmp, (size_t)n);
	return NULL;
}

/* Lines longer than PIPE_BUF, which the kernel may take in pieces. */
#define LOG_PAD 6000

static void *log_many(void *arg)
{
	int no = (int)(intptr_t)arg;
	char *pad = malloc(LOG_PAD + 1);
	assert_non_null(pad);
	memset(pad, 'a' + no, LOG_PAD);
	pad[LOG_PAD] = 0;
	for (int i = 0; i < LOG_LINES; i++)
		log_event(LOG_INFO, "test.line",
		          json_pack("{s:i,s:i,s:s}", "thread", no, "seq", i, "pad", pad), "line %d",
		          i);
	free(pad);
	return NULL;
}

/* Four threads log at once into a pipe, lines longer than PIPE_BUF: every line arrives
 * whole and in order, none is lost. */
static void test_log_lines_stay_whole(void **state)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	FILE *out = fdopen(p[1], "w");
	assert_non_null(out);
	struct drain d = {.fd = p[0]};
	buf_init(&d.got, 64u << 20);
	pthread_t reader, t[LOG_THREADS];
	assert_int_equal(pthread_create(&reader, NULL, drain_pipe, &d), 0);
	log_setup(LOG_INFO, out);
	for (int i = 0; i < LOG_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, log_many, (void *)(intptr_t)i), 0);
	for (int i = 0; i < LOG_THREADS; i++)
		pthread_join(t[i], NULL);
	log_setup(LOG_INFO, stderr);
	fclose(out);
	pthread_join(reader, NULL);
	close(p[0]);

	int seen[LOG_THREADS] = {0};
	int lines = 0;
	struct str rest = buf_str(&d.got), line;
	while (rest.n) {
		rest = str_cut(rest, '\n', &line);
		if (!rest.p)
			rest.n = 0;
		if (!line.n)
			continue;
		lines++;
		json_t *v = json_loadb(line.p, line.n, 0, NULL);
		assert_non_null(v);
		int no = (int)json_integer_value(json_object_get(v, "thread"));
		int seq = (int)json_integer_value(json_object_get(v, "seq"));
		assert_true(no >= 0 && no < LOG_THREADS);
		assert_int_equal(seq, seen[no]); /* each thread's lines in order, none missing */
		seen[no]++;
		const char *pad = json_string_value(json_object_get(v, "pad"));
		assert_non_null(pad);
		assert_int_equal(strlen(pad), LOG_PAD);
		assert_true(pad[0] == 'a' + no && pad[LOG_PAD - 1] == 'a' + no);
		json_decref(v);
	}
	assert_int_equal(lines, LOG_THREADS * LOG_LINES);
	buf_release(&d.got);
}

/* RFC 4648 vectors, the strict form the open APIs need, and the lenient forms. */
static void test_base64(void **state)
{
	(void)state;
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	struct buf b;
	buf_init(&b, 16);
	for (size_t i = 0; i < 7; i++) {
		buf_reset(&b);
		assert_int_equal(buf_base64(&b, plain[i], strlen(plain[i])), ERR_OK);
		assert_string_equal(b.len ? b.p : "", enc[i]);
		buf_reset(&b);
		assert_int_equal(base64_decode(enc[i], strlen(enc[i]), 0, &b), ERR_OK);
		assert_int_equal(b.len, strlen(plain[i]));
		if (b.len)
			assert_memory_equal(b.p, plain[i], b.len);
	}
	struct {
		const char *in;
		unsigned flags;
		const char *out; /* NULL = ERR_INVALID */
	} cases[] = {
	    {"TWFu", BASE64_STRICT, "Man"},
	    {"TWE=", BASE64_STRICT, "Ma"},
	    {"TQ==", BASE64_STRICT, "M"},
	    {"TQ", 0, "M"},                /* padding optional */
	    {"TQ", BASE64_STRICT, NULL},   /* but required when strict */
	    {"TQ=", BASE64_STRICT, NULL},  /* length */
	    {"T===", 0, NULL},             /* three pads */
	    {"T", 0, NULL},                /* a lone sextet */
	    {"TQ==TWFu", 0, NULL},         /* data after padding */
	    {"TW-u", BASE64_STRICT, NULL}, /* URL alphabet */
	    {"TW-_", BASE64_URLSAFE, "Mo\xbf"},
	    {"TW Fu\r\n", 0, NULL}, /* white space */
	    {"TW Fu\r\n", BASE64_SPACE, "Man"},
	    {"Zm9v!", 0, NULL},
	    {"", BASE64_STRICT, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		buf_puts(&b, "x"); /* a failed decode leaves what was there */
		enum err e = base64_decode(cases[i].in, strlen(cases[i].in), cases[i].flags, &b);
		if (!cases[i].out) {
			assert_int_equal(e, ERR_INVALID);
			assert_int_equal(b.len, 1);
		} else {
			assert_int_equal(e, ERR_OK);
			assert_int_equal(b.len, 1 + strlen(cases[i].out));
			assert_memory_equal(b.p + 1, cases[i].out, b.len - 1);
		}
	}
	buf_release(&b);
}

static void test_json_path(void **state)
{
	(void)state;
	json_t *o = json_object();
	assert_int_equal(json_path_set_new(o, "applicant.address.district", json_string("310104")),
	                 0);
	assert_string_equal(json_string_value(json_path_get(o, "applicant.address.district")),
	                    "310104");
	assert_ptr_equal(json_path_get(o, ""), o);
	assert_ptr_equal(json_path_get(o, NULL), o);
	assert_null(json_path_get(o, "applicant.phone"));
	assert_null(json_path_get(o, "applicant.address.district.x")); /* not an object */
	/* a non-object on the way is replaced */
	assert_int_equal(json_path_set_new(o, "applicant.address.district.x", json_true()), 0);
	assert_true(json_is_true(json_path_get(o, "applicant.address.district.x")));
	/* a segment over 128 bytes */
	char longseg[200];
	memset(longseg, 'a', sizeof(longseg) - 1);
	longseg[sizeof(longseg) - 1] = 0;
	assert_int_equal(json_path_set_new(o, longseg, json_true()), -1);
	assert_null(json_path_get(o, longseg));
	json_t *arr = json_array();
	assert_int_equal(json_path_set_new(arr, "x", json_true()), -1); /* base not an object */
	json_decref(arr);
	json_decref(o);
}

static void test_dates_and_mod11(void **state)
{
	(void)state;
	assert_true(time_leap_year(2000));
	assert_false(time_leap_year(1900));
	assert_true(time_leap_year(2024));
	assert_false(time_leap_year(2026));
	assert_int_equal(time_days_in_month(2024, 2), 29);
	assert_int_equal(time_days_in_month(2100, 2), 28);
	assert_int_equal(time_days_in_month(2026, 13), 0);
	assert_true(time_date_valid(2024, 2, 29));
	assert_false(time_date_valid(2026, 2, 29));
	assert_false(time_date_valid(2026, 4, 31));
	assert_false(time_date_valid(2026, 1, 0));
	int y = 0, m = 0, d = 0;
	assert_true(time_date_parse("2026-11-29", 1900, 2999, &y, &m, &d));
	assert_int_equal(y * 10000 + m * 100 + d, 20261129);
	assert_false(time_date_parse("2026-02-30", 1900, 2999, &y, &m, &d));
	assert_false(time_date_parse("1899-12-31", 1900, 2999, NULL, NULL, NULL));
	assert_false(time_date_parse("2026-1-29", 1900, 2999, NULL, NULL, NULL));
	assert_false(time_date_parse("2026/11/29", 1900, 2999, NULL, NULL, NULL));
	assert_false(time_date_parse("2026-11-2x", 1900, 2999, NULL, NULL, NULL));
	assert_false(time_date_parse(NULL, 1900, 2999, NULL, NULL, NULL));
	assert_int_equal(time_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(time_days_from_civil(2000, 3, 1), 11017);
	assert_int_equal(time_days_from_civil(1969, 12, 31), -1);
	for (int64_t z = -800000; z <= 800000; z += 997) { /* round trip, years 0..4160 */
		int64_t yy;
		time_civil_from_days(z, &yy, &m, &d);
		assert_true(time_date_valid(yy, m, d));
		assert_int_equal(time_days_from_civil(yy, m, d), z);
	}
	/* GB 11643 samples: the check characters of DOMAIN.md's numbers */
	assert_int_equal(str_mod11_2("11010519491231002"), 'X');
	assert_int_equal(str_mod11_2("93268219850101001"), '7');
	assert_int_equal(str_mod11_2("1101051949123100a"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_arena_cap),
	    cmocka_unit_test(test_arena_cleanup_order),
	    cmocka_unit_test(test_buf_cap),
	    cmocka_unit_test(test_json_check_classes),
	    cmocka_unit_test(test_json_parse_strict),
	    cmocka_unit_test(test_config_precedence),
	    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_utf8_valid),
	    cmocka_unit_test(test_str_to_i64),
	    cmocka_unit_test(test_trace_start),
	    cmocka_unit_test(test_err_table),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_json_path),
	    cmocka_unit_test(test_dates_and_mod11),
	    cmocka_unit_test(test_log_lines_stay_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
