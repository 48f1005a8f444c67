/* test_map.c: the pure rules of the government map sync (docs/vwin.md "Map") — what a point
 * needs at the map, its map type from the tags, the record hash, and the day's change logs
 * compared both ways (a crash's lost create, an edit made at the map, a push the map never
 * logged). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"
#include "vwin/vwin_int.h"

static void test_plan(void **state)
{
	(void)state;
	assert_int_equal(vwin_map_plan(true, true, NULL, NULL, "h1"), VWIN_MAP_CREATE);
	assert_int_equal(vwin_map_plan(true, true, "", NULL, "h1"), VWIN_MAP_CREATE);
	assert_int_equal(vwin_map_plan(true, true, "M1", NULL, "h1"), VWIN_MAP_UPDATE);
	assert_int_equal(vwin_map_plan(true, true, "M1", "h0", "h1"), VWIN_MAP_UPDATE);
	assert_int_equal(vwin_map_plan(true, true, "M1", "h1", "h1"), VWIN_MAP_NONE);
	/* inactive, or no longer an extension point: off the map once, never created */
	assert_int_equal(vwin_map_plan(true, false, NULL, NULL, "inactive"), VWIN_MAP_NONE);
	assert_int_equal(vwin_map_plan(false, true, NULL, NULL, "inactive"), VWIN_MAP_NONE);
	assert_int_equal(vwin_map_plan(true, false, "M1", "h1", "inactive"), VWIN_MAP_DEACTIVATE);
	assert_int_equal(vwin_map_plan(false, true, "M1", "h1", "inactive"), VWIN_MAP_DEACTIVATE);
	assert_int_equal(vwin_map_plan(true, false, "M1", "inactive", "inactive"), VWIN_MAP_NONE);
	assert_string_equal(vwin_map_op_name(VWIN_MAP_DEACTIVATE), "deactivate");
}

static void test_type_and_hash(void **state)
{
	(void)state;
	json_t *t = json_pack("[s,s]", "便民", "科技园区");
	assert_string_equal(vwin_map_type(t), "park");
	json_decref(t);
	t = json_pack("[s,s]", "养老院", "银行");
	assert_string_equal(vwin_map_type(t), "elderly_care");
	json_decref(t);
	t = json_array();
	assert_string_equal(vwin_map_type(t), "community");
	json_decref(t);
	char h1[65], h2[65], h3[65];
	json_t *a = json_pack("{s:s,s:f}", "name", "甲", "lng", 121.5);
	json_t *b = json_pack("{s:f,s:s}", "lng", 121.5, "name", "甲"); /* other key order */
	json_t *c = json_pack("{s:s,s:f}", "name", "乙", "lng", 121.5);
	vwin_map_record_hash(a, h1);
	vwin_map_record_hash(b, h2);
	vwin_map_record_hash(c, h3);
	assert_int_equal(strlen(h1), 64);
	assert_string_equal(h1, h2);
	assert_string_not_equal(h1, h3);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

static json_t *change(const char *id, const char *op)
{
	return json_pack("{s:s,s:s}", "point_id", id, "op", op);
}

static json_t *push(const char *id, const char *op, const char *effect)
{
	return json_pack("{s:s,s:s,s:s,s:s}", "map_id", id, "op", op, "effect", effect, "point",
	                 "P-1");
}

static void test_changes(void **state)
{
	(void)state;
	/* the map logged: our create and update of M1, someone's update of M1, a create of M2
	 * whose record Shouli lost in a crash; Shouli pushed: create, update, the duplicate create
	 * of M2 (effect none), and an update of M3 the map never logged */
	json_t *map = json_pack("[o,o,o,o]", change("M1", "create"), change("M1", "update"),
	                        change("M1", "update"), change("M2", "create"));
	json_t *mine =
	    json_pack("[o,o,o,o]", push("M1", "create", "create"), push("M1", "update", "update"),
	              push("M2", "create", "none"), push("M3", "update", "update"));
	json_t *unknown = json_array(), *unseen = json_array();
	vwin_map_changes_compare(map, mine, unknown, unseen);
	assert_int_equal(json_array_size(unknown), 1);
	assert_string_equal(json_get_str(json_array_get(unknown, 0), "point_id"), "M1");
	assert_string_equal(json_get_str(json_array_get(unknown, 0), "op"), "update");
	assert_int_equal(json_array_size(unseen), 1);
	assert_string_equal(json_get_str(json_array_get(unseen, 0), "map_id"), "M3");
	json_decref(unknown);
	json_decref(unseen);
	/* all accounted for: nothing either way */
	json_array_remove(map, 2);
	json_array_remove(mine, 3);
	unknown = json_array();
	unseen = json_array();
	vwin_map_changes_compare(map, mine, unknown, unseen);
	assert_int_equal(json_array_size(unknown), 0);
	assert_int_equal(json_array_size(unseen), 0);
	json_decref(unknown);
	json_decref(unseen);
	json_decref(map);
	json_decref(mine);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plan),
	    cmocka_unit_test(test_type_and_hash),
	    cmocka_unit_test(test_changes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
