/* test_cron.c: cron parsing (with messages naming the field) and next-run computation in
 * UTC+08:00 across month ends, leap years, Feb 29, year rollover, the Vixie day-of-month /
 * day-of-week rule and the @shortcuts. Times are written as Shanghai wall-clock strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <time.h>

#include "core/timeutil.h"
#include "sched/sched.h"

/* "YYYY-MM-DD HH:MM[:SS]" in Shanghai time → ms since the epoch. */
static int64_t at(const char *s)
{
	struct tm tm = {0};
	int sec = 0;
	int n = sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
	               &tm.tm_min, &sec);
	assert_true(n >= 5);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_sec = sec;
	return ((int64_t)timegm(&tm) - 8 * 3600) * 1000;
}

/* ms → "YYYY-MM-DD HH:MM" in Shanghai time (static buffer). */
static const char *fmt(int64_t ms)
{
	static char out[32];
	if (ms < 0)
		return "never";
	time_t t = (time_t)(ms / 1000) + 8 * 3600;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, sizeof(out), "%Y-%m-%d %H:%M", &tm);
	return out;
}

static const char *next_of(const char *expr, const char *after)
{
	struct sched_cron c;
	char msg[256];
	enum err e = sched_cron_parse(expr, &c, msg, sizeof(msg));
	if (e)
		fail_msg("%s: %s", expr, msg);
	return fmt(sched_cron_next(&c, at(after)));
}

/* Expect a parse error whose message contains every one of the NULL-terminated parts. */
static void bad(const char *expr, ...)
{
	struct sched_cron c;
	char msg[256] = "";
	assert_int_equal(sched_cron_parse(expr, &c, msg, sizeof(msg)), ERR_BAD_FIELD);
	va_list ap;
	va_start(ap, expr);
	for (const char *part = va_arg(ap, const char *); part; part = va_arg(ap, const char *))
		if (!strstr(msg, part))
			fail_msg("%s: message \"%s\" lacks \"%s\"", expr, msg, part);
	va_end(ap);
}

static void test_parse_errors_name_the_field(void **state)
{
	(void)state;
	bad("", "不能为空", NULL);
	bad("   ", "不能为空", NULL);
	bad("* * * *", "5 个字段", "实际有 4 个", NULL);
	bad("* * * * * *", "实际有 6 个", NULL);
	bad("60 * * * *", "第 1 个字段（分钟）", "60", "0–59", NULL);
	bad("0 24 * * *", "第 2 个字段（小时）", "24", "0–23", NULL);
	bad("0 0 0 * *", "第 3 个字段（日）", "1–31", NULL);
	bad("0 0 32 * *", "第 3 个字段（日）", "32", NULL);
	bad("0 0 * 13 *", "第 4 个字段（月）", "13", "1–12", NULL);
	bad("0 0 * FOO *", "第 4 个字段（月）", "FOO", "无法识别", NULL);
	bad("0 0 * * 8", "第 5 个字段（星期）", "0–7", NULL);
	bad("0 0 * * MONDAY", "第 5 个字段（星期）", "MONDAY", NULL);
	bad("0 0 * MON *", "第 4 个字段（月）", "MON", NULL); /* a weekday name in months */
	bad("*/0 * * * *", "第 1 个字段（分钟）", "步长", NULL);
	bad("*/61 * * * *", "第 1 个字段（分钟）", "步长", NULL);
	bad("0 */x * * *", "第 2 个字段（小时）", "步长", NULL);
	bad("30-10 * * * *", "第 1 个字段（分钟）", "起点大于终点", NULL);
	bad("1,,2 * * * *", "第 1 个字段（分钟）", "空的列表项", NULL);
	bad("0 0 1, * *", "第 3 个字段（日）", "空的列表项", NULL);
	bad("-5 * * * *", "第 1 个字段（分钟）", NULL);
	bad("@reboot", "不支持", "@reboot", NULL);
	bad("@every5m", "不支持", NULL);
	bad("0 0 30 2 *", "永远不会触发", NULL);
	bad("0 0 31 4,6,9,11 *", "永远不会触发", NULL);
}

static void test_parse_accepts(void **state)
{
	(void)state;
	struct sched_cron c, d;
	char msg[256];
	const char *good[] = {"* * * * *",
	                      "*/5 * * * *",
	                      "0 9-17 * * MON-FRI",
	                      "0 0 1,15 * *",
	                      "5/20 * * * *",
	                      "0 0 * jan-mar sun",
	                      "  0\t0  *  *  *  ",
	                      "0 0 31 2,3 *",
	                      "0 0 29 2 *",
	                      "@hourly",
	                      "@DAILY",
	                      "@midnight",
	                      "@weekly",
	                      "@monthly",
	                      "@yearly",
	                      "@annually",
	                      "0-59/15 0-23/6 * * *",
	                      NULL};
	for (int k = 0; good[k]; k++)
		if (sched_cron_parse(good[k], &c, msg, sizeof(msg)))
			fail_msg("%s refused: %s", good[k], msg);

	/* 7 and 0 are both Sunday; SUN-SAT is the same as *, but not for the OR rule. */
	assert_int_equal(sched_cron_parse("0 0 * * 7", &c, msg, sizeof(msg)), ERR_OK);
	assert_int_equal(sched_cron_parse("0 0 * * 0", &d, msg, sizeof(msg)), ERR_OK);
	assert_int_equal(c.dows, d.dows);
	assert_int_equal(c.dows, 1);
	assert_int_equal(sched_cron_parse("0 0 * * 5-7", &c, msg, sizeof(msg)), ERR_OK);
	assert_int_equal(c.dows, (1 << 5) | (1 << 6) | 1);
	assert_int_equal(sched_cron_parse("*/15 9-17/4 * * *", &c, msg, sizeof(msg)), ERR_OK);
	assert_true(c.minutes == ((1ull << 0) | (1ull << 15) | (1ull << 30) | (1ull << 45)));
	assert_int_equal(c.hours, (1u << 9) | (1u << 13) | (1u << 17));
	assert_true(c.dom_star && c.dow_star);
	assert_int_equal(sched_cron_parse("0 0 1 * MON", &c, msg, sizeof(msg)), ERR_OK);
	assert_false(c.dom_star);
	assert_false(c.dow_star);
	/* The shortcuts are their expansions. */
	assert_int_equal(sched_cron_parse("@weekly", &c, msg, sizeof(msg)), ERR_OK);
	assert_int_equal(sched_cron_parse("0 0 * * 0", &d, msg, sizeof(msg)), ERR_OK);
	assert_memory_equal(&c, &d, sizeof(c));
}

static void test_next_basic(void **state)
{
	(void)state;
	assert_string_equal(next_of("* * * * *", "2025-06-10 10:00:30"), "2025-06-10 10:01");
	/* Strictly after: a due time is never returned again. */
	assert_string_equal(next_of("* * * * *", "2025-06-10 10:00:00"), "2025-06-10 10:01");
	assert_string_equal(next_of("*/15 9-17/4 * * *", "2025-06-10 09:50"), "2025-06-10 13:00");
	assert_string_equal(next_of("*/15 9-17/4 * * *", "2025-06-10 17:45"), "2025-06-11 09:00");
	assert_string_equal(next_of("5/20 * * * *", "2025-06-10 10:06"), "2025-06-10 10:25");
	assert_string_equal(next_of("5/20 * * * *", "2025-06-10 10:45"), "2025-06-10 11:05");
	assert_string_equal(next_of("30 2 * * *", "2025-06-10 02:30"), "2025-06-11 02:30");
	assert_string_equal(next_of("0 9 * * MON-FRI", "2025-06-13 09:00"), "2025-06-16 09:00");
}

static void test_next_is_shanghai_time(void **state)
{
	(void)state;
	struct sched_cron c;
	char msg[64];
	assert_int_equal(sched_cron_parse("0 0 * * *", &c, msg, sizeof(msg)), ERR_OK);
	/* 2025-01-01T15:59Z is 23:59 in Shanghai: midnight comes one minute later, at 16:00Z. */
	int64_t t = (int64_t)1735747140 * 1000; /* 2025-01-01T15:59:00Z */
	assert_int_equal(sched_cron_next(&c, t), t + 60000);
	char iso[32];
	assert_string_equal(time_iso(sched_cron_next(&c, t), iso), "2025-01-02T00:00:00.000+08:00");
	/* No DST: every day of a year has exactly one 02:30. */
	assert_int_equal(sched_cron_parse("30 2 * * *", &c, msg, sizeof(msg)), ERR_OK);
	int64_t x = at("2025-01-01 00:00");
	for (int d = 0; d < 365; d++) {
		int64_t nx = sched_cron_next(&c, x);
		if (d > 0)
			assert_int_equal(nx - x, 24 * 3600 * 1000LL);
		x = nx;
	}
}

static void test_next_month_ends(void **state)
{
	(void)state;
	assert_string_equal(next_of("0 0 1 * *", "2025-01-31 12:00"), "2025-02-01 00:00");
	/* The 31st skips the short months. */
	assert_string_equal(next_of("0 0 31 * *", "2025-01-31 00:00"), "2025-03-31 00:00");
	assert_string_equal(next_of("0 0 31 * *", "2025-03-31 00:00"), "2025-05-31 00:00");
	assert_string_equal(next_of("0 0 31 * *", "2025-07-31 00:00"), "2025-08-31 00:00");
	assert_string_equal(next_of("0 12 30 * *", "2025-01-30 12:00"), "2025-03-30 12:00");
	assert_string_equal(next_of("0 0 28-31 2 *", "2024-02-28 00:00"), "2024-02-29 00:00");
	assert_string_equal(next_of("0 0 28-31 2 *", "2025-02-28 00:00"), "2026-02-28 00:00");
	assert_string_equal(next_of("0 0 31 2,3 *", "2025-01-01 00:00"), "2025-03-31 00:00");
}

static void test_next_leap_years(void **state)
{
	(void)state;
	assert_string_equal(next_of("0 0 29 2 *", "2025-01-01 00:00"), "2028-02-29 00:00");
	assert_string_equal(next_of("0 0 29 2 *", "2028-02-29 00:00"), "2032-02-29 00:00");
	assert_string_equal(next_of("0 0 29 2 *", "2024-02-28 23:59"), "2024-02-29 00:00");
	/* 2100 is not a leap year, 2000 was. */
	assert_string_equal(next_of("0 0 29 2 *", "2096-03-01 00:00"), "2104-02-29 00:00");
	assert_string_equal(next_of("0 0 29 2 *", "1999-01-01 00:00"), "2000-02-29 00:00");
	/* Day 366 of a leap year. */
	assert_string_equal(next_of("0 0 * * *", "2024-12-30 00:00"), "2024-12-31 00:00");
}

static void test_next_year_rollover(void **state)
{
	(void)state;
	assert_string_equal(next_of("59 23 31 12 *", "2025-12-31 23:58"), "2025-12-31 23:59");
	assert_string_equal(next_of("59 23 31 12 *", "2025-12-31 23:59"), "2026-12-31 23:59");
	assert_string_equal(next_of("* * * * *", "2025-12-31 23:59:59"), "2026-01-01 00:00");
	assert_string_equal(next_of("0 0 1 1 *", "2025-01-01 00:00"), "2026-01-01 00:00");
	assert_string_equal(next_of("0 0 * * *", "2025-12-31 00:00"), "2026-01-01 00:00");
}

static void test_next_dom_dow(void **state)
{
	(void)state;
	/* Both restricted: OR. 2025-01-01 is a Wednesday. */
	assert_string_equal(next_of("0 0 13 * FRI", "2025-01-01 00:00"), "2025-01-03 00:00");
	assert_string_equal(next_of("0 0 13 * FRI", "2025-01-10 00:00"), "2025-01-13 00:00");
	assert_string_equal(next_of("0 0 13 * FRI", "2025-01-13 00:00"), "2025-01-17 00:00");
	assert_string_equal(next_of("0 0 1,15 * MON", "2025-01-07 00:00"), "2025-01-13 00:00");
	assert_string_equal(next_of("0 0 1,15 * MON", "2025-01-13 00:00"), "2025-01-15 00:00");
	/* One field starts with '*': AND. "*\/10" days are 1, 11, 21, 31: the first of those
	 * that is a Monday after New Year 2025 is March 31. */
	assert_string_equal(next_of("0 0 */10 * MON", "2025-01-01 00:00"), "2025-03-31 00:00");
	/* Only weekdays restricted. */
	assert_string_equal(next_of("0 0 * * SUN", "2025-01-01 00:00"), "2025-01-05 00:00");
	assert_string_equal(next_of("0 0 * * 7", "2025-01-01 00:00"), "2025-01-05 00:00");
	/* OR even when the day does not exist in the month: "31 or Monday" in February. */
	assert_string_equal(next_of("0 0 31 2 MON", "2025-02-01 00:00"), "2025-02-03 00:00");
	/* Feb 29 that is also a Sunday (AND through "*\/7" weekdays = Sunday): 2032. */
	assert_string_equal(next_of("0 0 29 2 */7", "2025-01-01 00:00"), "2032-02-29 00:00");
}

static void test_next_shortcuts(void **state)
{
	(void)state;
	assert_string_equal(next_of("@hourly", "2025-06-10 10:00"), "2025-06-10 11:00");
	assert_string_equal(next_of("@hourly", "2025-06-10 23:30"), "2025-06-11 00:00");
	assert_string_equal(next_of("@daily", "2025-06-10 10:00"), "2025-06-11 00:00");
	assert_string_equal(next_of("@midnight", "2025-02-28 10:00"), "2025-03-01 00:00");
	assert_string_equal(next_of("@weekly", "2025-01-01 00:00"), "2025-01-05 00:00");
	assert_string_equal(next_of("@monthly", "2025-01-15 00:00"), "2025-02-01 00:00");
	assert_string_equal(next_of("@monthly", "2025-12-15 00:00"), "2026-01-01 00:00");
	assert_string_equal(next_of("@yearly", "2025-12-31 23:59:59"), "2026-01-01 00:00");
	assert_string_equal(next_of("@annually", "2024-02-29 00:00"), "2025-01-01 00:00");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_errors_name_the_field),
	    cmocka_unit_test(test_parse_accepts),
	    cmocka_unit_test(test_next_basic),
	    cmocka_unit_test(test_next_is_shanghai_time),
	    cmocka_unit_test(test_next_month_ends),
	    cmocka_unit_test(test_next_leap_years),
	    cmocka_unit_test(test_next_year_rollover),
	    cmocka_unit_test(test_next_dom_dow),
	    cmocka_unit_test(test_next_shortcuts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
