/* test_places.c: the pure rules of places and terminals (docs/vwin.md) — geofence distance
 * with the location's accuracy, opening hours with holidays and 调休 from the working-day
 * calendar, and the health and live state of a terminal. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cases/cases.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "vwin/vwin.h"

/* ms of a Shanghai wall-clock time */
static int64_t cst(int y, int m, int d, int hh, int mm)
{
	return (time_days_from_civil(y, m, d) * 1440 + hh * 60 + mm - 8 * 60) * 60000LL;
}

static void test_distance(void **state)
{
	(void)state;
	/* one thousandth of a degree of latitude is ~111.2 m anywhere */
	double d = vwin_distance_m(121.437, 31.188, 121.437, 31.189);
	assert_true(d > 110.5 && d < 112.0);
	/* a degree of longitude at 31.2° N is ~95.2 km */
	d = vwin_distance_m(121.0, 31.2, 122.0, 31.2);
	assert_true(d > 95000 && d < 95400);
	assert_true(vwin_distance_m(121.5, 31.2, 121.5, 31.2) < 0.001);
	/* symmetric */
	assert_true(fabs(vwin_distance_m(121.4, 31.1, 121.6, 31.3) -
	                 vwin_distance_m(121.6, 31.3, 121.4, 31.1)) < 1e-6);
}

static void test_geofence(void **state)
{
	(void)state;
	assert_true(vwin_geofence_inside(150, 200, 0));
	assert_true(vwin_geofence_inside(200, 200, 0));
	assert_false(vwin_geofence_inside(201, 200, 0));
	/* accuracy widens the fence … */
	assert_true(vwin_geofence_inside(250, 200, 60));
	assert_false(vwin_geofence_inside(261, 200, 60));
	/* … but only up to the cap, however coarse the fix */
	assert_true(vwin_geofence_inside(200 + VWIN_ACCURACY_CAP_M, 200, 5000));
	assert_false(vwin_geofence_inside(201 + VWIN_ACCURACY_CAP_M, 200, 5000));
	/* negative or unknown accuracy adds nothing */
	assert_false(vwin_geofence_inside(201, 200, -5));
	assert_true(vwin_coords_valid(121.437, 31.188));
	assert_false(vwin_coords_valid(0, 0));
	assert_false(vwin_coords_valid(121.4, 91));
}

static void parse(const char *text, struct vwin_hours *h, struct arena *a, enum err want)
{
	const char *why = NULL;
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	assert_int_equal(vwin_hours_parse(j, h, a, &why), want);
	if (want)
		assert_non_null(why);
	json_decref(j);
}

static void test_hours_parse(void **state)
{
	(void)state;
	struct arena a;
	struct vwin_hours h;
	arena_init(&a, 0);
	parse(VWIN_DEFAULT_HOURS, &h, &a, ERR_OK);
	assert_int_equal(h.n, 2);
	assert_int_equal(h.span[0].days, 0x3e); /* bits 1..5 */
	assert_int_equal(h.span[0].from, 8 * 60 + 30);
	assert_int_equal(h.span[1].days, (1u << 6) | (1u << 7) | VWIN_HOURS_HOLIDAY);
	parse("[{\"days\":\"1,3,5\",\"from\":\"09:00\",\"to\":\"12:00\"}]", &h, &a, ERR_OK);
	assert_int_equal(h.span[0].days, (1u << 1) | (1u << 3) | (1u << 5));
	parse("[{\"days\":\"0-5\",\"from\":\"09:00\",\"to\":\"12:00\"}]", &h, &a, ERR_BAD_FIELD);
	parse("[{\"days\":\"5-1\",\"from\":\"09:00\",\"to\":\"12:00\"}]", &h, &a, ERR_BAD_FIELD);
	parse("[{\"days\":\"1-5\",\"from\":\"12:00\",\"to\":\"09:00\"}]", &h, &a, ERR_BAD_FIELD);
	parse("[{\"days\":\"1-5\",\"from\":\"9:00\",\"to\":\"12:00\"}]", &h, &a, ERR_BAD_FIELD);
	parse("[{\"days\":\"1-5\",\"from\":\"09:60\",\"to\":\"12:00\"}]", &h, &a, ERR_BAD_FIELD);
	parse("{\"days\":\"1-5\"}", &h, &a, ERR_BAD_FIELD);
	parse(VWIN_DEFAULT_HOURS, &h, &a, ERR_OK);
	assert_string_equal(vwin_hours_text(&h, &a),
	                    "周一至周五 08:30–16:30；周六至周日、节假日 08:30–11:30");
	arena_release(&a);
}

static void test_hours_open(void **state)
{
	(void)state;
	struct arena a;
	struct vwin_hours h;
	struct cases_calendar *cal = NULL;
	arena_init(&a, 0);
	parse("[{\"days\":\"1-5\",\"from\":\"08:30\",\"to\":\"16:30\"}]", &h, &a, ERR_OK);
	/* 2026-09-28 is a Monday */
	assert_true(vwin_hours_open(&h, NULL, cst(2026, 9, 28, 8, 30)));
	assert_true(vwin_hours_open(&h, NULL, cst(2026, 9, 28, 16, 29)));
	assert_false(vwin_hours_open(&h, NULL, cst(2026, 9, 28, 16, 30)));
	assert_false(vwin_hours_open(&h, NULL, cst(2026, 9, 28, 8, 29)));
	assert_false(vwin_hours_open(&h, NULL, cst(2026, 9, 27, 10, 0))); /* Sunday */
	assert_int_equal(cases_calendar_create(&cal), ERR_OK);
	/* 国庆: Thursday 1 October is a holiday: closed without a holiday entry … */
	assert_int_equal(cases_calendar_set(cal, "2026-10-01", CASES_DAY_HOLIDAY, "国庆节"),
	                 ERR_OK);
	/* … and Sunday 27 September a listed workday (调休): Monday's hours */
	assert_int_equal(cases_calendar_set(cal, "2026-09-27", CASES_DAY_WORKDAY, NULL), ERR_OK);
	assert_true(vwin_hours_open(&h, NULL, cst(2026, 10, 1, 10, 0)));
	assert_false(vwin_hours_open(&h, cal, cst(2026, 10, 1, 10, 0)));
	assert_true(vwin_hours_open(&h, cal, cst(2026, 9, 27, 10, 0)));
	assert_true(vwin_hours_open(&h, cal, cst(2026, 9, 30, 10, 0))); /* a plain Wednesday */
	/* the default hours open holidays in the morning only */
	parse(VWIN_DEFAULT_HOURS, &h, &a, ERR_OK);
	assert_true(vwin_hours_open(&h, cal, cst(2026, 10, 1, 9, 0)));
	assert_false(vwin_hours_open(&h, cal, cst(2026, 10, 1, 14, 0)));
	cases_calendar_destroy(cal);
	arena_release(&a);
}

static void test_health(void **state)
{
	(void)state;
	int64_t now = cst(2026, 9, 28, 10, 0);
	struct vwin_terminal t = {.active = true,
	                          .self_check_ok = true,
	                          .last_seen_at = now - 10000,
	                          .heartbeat_ms = 20000};
	assert_true(vwin_terminal_healthy(&t, now));
	assert_string_equal(vwin_terminal_state(&t, now), "online");
	t.in_session = "17";
	assert_string_equal(vwin_terminal_state(&t, now), "in_session");
	t.in_session = NULL;
	/* three intervals is still alive, one millisecond more is lapsed */
	t.last_seen_at = now - 60000;
	assert_true(vwin_terminal_healthy(&t, now));
	t.last_seen_at = now - 60001;
	assert_false(vwin_terminal_healthy(&t, now));
	assert_string_equal(vwin_terminal_state(&t, now), "offline");
	t.last_seen_at = 0;
	assert_false(vwin_terminal_healthy(&t, now));
	t.last_seen_at = now;
	t.self_check_ok = false;
	assert_false(vwin_terminal_healthy(&t, now));
	assert_string_equal(vwin_terminal_state(&t, now), "fault");
	t.self_check_ok = true;
	t.active = false;
	assert_false(vwin_terminal_healthy(&t, now));
	assert_string_equal(vwin_terminal_state(&t, now), "disabled");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_distance),    cmocka_unit_test(test_geofence),
	    cmocka_unit_test(test_hours_parse), cmocka_unit_test(test_hours_open),
	    cmocka_unit_test(test_health),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
