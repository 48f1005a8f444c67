/* test_calendar.c: the working-day calendar — weekends, statutory holidays, 调休 workdays,
 * promised dates across 春节, the pause of a correction, and the year files themselves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cases/cases.h"
#include "core/arena.h"

static struct cases_calendar *load_year(int year)
{
	const char *src = getenv("SHOULI_SOURCE_DIR");
	char path[1024];
	json_error_t je;
	struct arena a;
	const char *why = NULL;
	struct cases_calendar *cal = NULL;
	snprintf(path, sizeof(path), "%s/calendar/%d.json", src ? src : ".", year);
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	assert_non_null(doc);
	assert_int_equal(cases_calendar_create(&cal), ERR_OK);
	arena_init(&a, 0);
	assert_int_equal(cases_calendar_load_json(cal, doc, &a, &why), ERR_OK);
	assert_null(why);
	arena_release(&a);
	json_decref(doc);
	return cal;
}

static void test_weekends_only(void **state)
{
	struct cases_calendar *cal = NULL;
	char out[11];
	(void)state;
	assert_int_equal(cases_calendar_create(&cal), ERR_OK);
	assert_true(cases_calendar_is_workday(cal, "2030-01-04"));  /* Friday */
	assert_false(cases_calendar_is_workday(cal, "2030-01-05")); /* Saturday */
	assert_false(cases_calendar_is_workday(cal, "2030-01-06")); /* Sunday */
	assert_true(cases_calendar_is_workday(cal, "2030-01-07"));  /* Monday */
	assert_false(cases_calendar_has_year(cal, 2030));
	/* Friday + 1 working day = Monday; the acceptance day itself does not count. */
	assert_int_equal(cases_calendar_add_workdays(cal, "2030-01-04", 1, out), ERR_OK);
	assert_string_equal(out, "2030-01-07");
	assert_int_equal(cases_calendar_add_workdays(cal, "2030-01-07", 5, out), ERR_OK);
	assert_string_equal(out, "2030-01-14");
	/* Leap years: 2028-02-29 exists, 2027-02-29 does not. */
	assert_true(cases_calendar_is_workday(cal, "2028-02-29"));
	assert_false(cases_calendar_is_workday(cal, "2027-02-29"));
	assert_int_equal(cases_calendar_add_workdays(cal, "2027-02-29", 1, out), ERR_BAD_FIELD);
	assert_int_equal(cases_calendar_add_workdays(cal, "2030-01-04", 0, out), ERR_BAD_FIELD);
	assert_int_equal(cases_calendar_count_workdays(cal, "2030-01-04", "2030-01-04"), 0);
	assert_int_equal(cases_calendar_count_workdays(cal, "2030-01-04", "2030-01-08"), 2);
	assert_int_equal(cases_calendar_count_workdays(cal, "bad", "2030-01-08"), -1);
	cases_calendar_destroy(cal);
}

static void test_2026_holidays_and_tiaoxiu(void **state)
{
	struct cases_calendar *cal = load_year(2026);
	(void)state;
	assert_true(cases_calendar_has_year(cal, 2026));
	assert_false(cases_calendar_has_year(cal, 2027));
	assert_false(cases_calendar_is_workday(cal, "2026-01-01")); /* 元旦, Thursday */
	assert_false(cases_calendar_is_workday(cal, "2026-01-02")); /* Friday, holiday */
	assert_true(cases_calendar_is_workday(cal, "2026-01-04"));  /* Sunday, worked */
	assert_true(cases_calendar_is_workday(cal, "2026-02-14"));  /* Saturday, worked */
	for (int d = 15; d <= 23; d++) {
		char day[11];
		snprintf(day, sizeof(day), "2026-02-%02d", d);
		assert_false(cases_calendar_is_workday(cal, day));
	}
	assert_true(cases_calendar_is_workday(cal, "2026-02-24"));
	assert_true(cases_calendar_is_workday(cal, "2026-02-28"));  /* Saturday, worked */
	assert_false(cases_calendar_is_workday(cal, "2026-03-01")); /* ordinary Sunday */
	assert_false(cases_calendar_is_workday(cal, "2026-05-05"));
	assert_true(cases_calendar_is_workday(cal, "2026-05-09"));
	assert_false(cases_calendar_is_workday(cal, "2026-06-19"));
	assert_false(cases_calendar_is_workday(cal, "2026-09-25"));
	assert_true(cases_calendar_is_workday(cal, "2026-09-20"));
	assert_false(cases_calendar_is_workday(cal, "2026-10-07"));
	assert_true(cases_calendar_is_workday(cal, "2026-10-10"));
	json_t *days = cases_calendar_year_json(cal, 2026);
	/* 3 + 9 + 3 + 5 + 3 + 3 + 7 holidays, 6 workdays */
	assert_int_equal(json_array_size(days), 33 + 6);
	assert_string_equal(json_string_value(json_object_get(json_array_get(days, 0), "date")),
	                    "2026-01-01");
	json_decref(days);
	cases_calendar_destroy(cal);
}

static void test_promised_date_across_spring_festival(void **state)
{
	struct cases_calendar *cal = load_year(2026);
	char out[11];
	(void)state;
	/* Accepted Thursday 2026-02-12: Fri 13, Sat 14 (调休) are working days 1 and 2; the
	 * holiday runs to 23; Tue 24 is day 3 … */
	assert_int_equal(cases_calendar_add_workdays(cal, "2026-02-12", 1, out), ERR_OK);
	assert_string_equal(out, "2026-02-13");
	assert_int_equal(cases_calendar_add_workdays(cal, "2026-02-12", 2, out), ERR_OK);
	assert_string_equal(out, "2026-02-14");
	assert_int_equal(cases_calendar_add_workdays(cal, "2026-02-12", 3, out), ERR_OK);
	assert_string_equal(out, "2026-02-24");
	/* 15 working days from 2026-02-12: 13, 14, 24, 25, 26, 27, 28(Sat, worked), Mar 2..6,
	 * 9, 10, 11 → the 15th is 2026-03-11. */
	assert_int_equal(cases_calendar_add_workdays(cal, "2026-02-12", 15, out), ERR_OK);
	assert_string_equal(out, "2026-03-11");
	/* Accepted on a holiday: counting starts the next working day. */
	assert_int_equal(cases_calendar_add_workdays(cal, "2026-02-16", 1, out), ERR_OK);
	assert_string_equal(out, "2026-02-24");
	/* National Day week: 2026-09-30 + 1 = 10-08 (10-01..07 off). */
	assert_int_equal(cases_calendar_add_workdays(cal, "2026-09-30", 1, out), ERR_OK);
	assert_string_equal(out, "2026-10-08");
	cases_calendar_destroy(cal);
}

static void test_correction_pause(void **state)
{
	struct cases_calendar *cal = load_year(2026);
	char promised[11], resumed[11];
	(void)state;
	assert_int_equal(cases_calendar_add_workdays(cal, "2026-03-02", 10, promised), ERR_OK);
	assert_string_equal(promised, "2026-03-16");
	/* Correction requested Wed 03-04, resumed Mon 03-09: 04, 05, 06 count (the request day
	 * counts, the resume day does not) → 3 working days are added. */
	int paused = cases_calendar_count_workdays(cal, "2026-03-04", "2026-03-09");
	assert_int_equal(paused, 3);
	assert_int_equal(cases_calendar_add_workdays(cal, promised, paused, resumed), ERR_OK);
	assert_string_equal(resumed, "2026-03-19");
	/* A pause over 春节 counts only the working days in it. */
	assert_int_equal(cases_calendar_count_workdays(cal, "2026-02-13", "2026-02-25"), 3);
	/* Requested and resumed on the same day: nothing is added. */
	assert_int_equal(cases_calendar_count_workdays(cal, "2026-03-04", "2026-03-04"), 0);
	cases_calendar_destroy(cal);
}

static void test_2025_and_set(void **state)
{
	struct cases_calendar *cal = load_year(2025);
	char out[11];
	(void)state;
	assert_false(cases_calendar_is_workday(cal, "2025-01-28"));
	assert_false(cases_calendar_is_workday(cal, "2025-02-04"));
	assert_true(cases_calendar_is_workday(cal, "2025-01-26")); /* Sunday, worked */
	assert_true(cases_calendar_is_workday(cal, "2025-02-08")); /* Saturday, worked */
	assert_true(cases_calendar_is_workday(cal, "2025-04-27"));
	assert_false(cases_calendar_is_workday(cal, "2025-06-02"));
	assert_false(cases_calendar_is_workday(cal, "2025-10-08"));
	assert_true(cases_calendar_is_workday(cal, "2025-10-11"));
	/* An operator's change: a day off and back again. */
	assert_true(cases_calendar_is_workday(cal, "2025-12-31"));
	assert_int_equal(cases_calendar_set(cal, "2025-12-31", CASES_DAY_HOLIDAY, "临时"), ERR_OK);
	assert_false(cases_calendar_is_workday(cal, "2025-12-31"));
	assert_int_equal(cases_calendar_add_workdays(cal, "2025-12-30", 1, out), ERR_OK);
	assert_string_equal(out, "2026-01-01"); /* no 2026 data loaded: weekdays only */
	assert_int_equal(cases_calendar_set(cal, "2025-12-31", CASES_DAY_NORMAL, NULL), ERR_OK);
	assert_true(cases_calendar_is_workday(cal, "2025-12-31"));
	assert_int_equal(cases_calendar_set(cal, "2025-13-01", CASES_DAY_HOLIDAY, "x"),
	                 ERR_BAD_FIELD);
	cases_calendar_destroy(cal);
}

static void test_bad_year_files(void **state)
{
	struct cases_calendar *cal = NULL;
	struct arena a;
	const char *why = NULL;
	(void)state;
	assert_int_equal(cases_calendar_create(&cal), ERR_OK);
	arena_init(&a, 0);
	json_t *doc = json_pack("{s:i,s:s,s:[{s:s,s:s}]}", "year", 2026, "source", "x", "holidays",
	                        "date", "2025-12-31", "name", "错年");
	assert_int_equal(cases_calendar_load_json(cal, doc, &a, &why), ERR_INVALID);
	assert_non_null(strstr(why, "不在 2026 年"));
	json_decref(doc);
	doc = json_pack("{s:i,s:[]}", "year", 2026, "holidays");
	assert_int_equal(cases_calendar_load_json(cal, doc, &a, &why), ERR_INVALID);
	assert_non_null(strstr(why, "source"));
	json_decref(doc);
	doc = json_pack("{s:i,s:s,s:[{s:s,s:s}]}", "year", 2026, "source", "x", "workdays", "date",
	                "2026-02-30", "name", "无此日");
	assert_int_equal(cases_calendar_load_json(cal, doc, &a, &why), ERR_INVALID);
	assert_non_null(strstr(why, "workdays[0].date"));
	json_decref(doc);
	arena_release(&a);
	cases_calendar_destroy(cal);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_weekends_only),
	    cmocka_unit_test(test_2026_holidays_and_tiaoxiu),
	    cmocka_unit_test(test_promised_date_across_spring_festival),
	    cmocka_unit_test(test_correction_pause),
	    cmocka_unit_test(test_2025_and_set),
	    cmocka_unit_test(test_bad_year_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
