/* json.h: strict JSON input for request bodies and data files (jansson underneath).
 *
 * Parsing rejects duplicate keys, invalid UTF-8, NUL bytes and trailing garbage, and reports
 * where the problem is. json_check validates an object against a closed field table so that
 * handlers read only fields that exist with the right type and size. */
#ifndef SHOULI_JSON_H
#define SHOULI_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"

/* Parse p[0..n). On failure returns ERR_BAD_JSON or ERR_BAD_UTF8 and, when ei is given, a
 * message naming the line/column (allocated from a, may be NULL for a static message).
 * The caller owns *out (json_decref). */
enum err json_parse(const char *p, size_t n, json_t **out, struct arena *a, struct errinfo *ei);

enum json_ftype {
	JF_STRING,
	JF_INT,
	JF_NUMBER, /* int or real */
	JF_BOOL,
	JF_OBJECT,
	JF_ARRAY,
	JF_ANY,
};

#define JF_REQUIRED 1u
#define JF_NULLABLE 2u /* JSON null accepted as "absent" */
#define JF_NONEMPTY 4u /* strings: not empty after trimming */

struct json_field {
	const char *name;
	enum json_ftype type;
	unsigned flags;
	int64_t min, max;  /* JF_STRING: length in characters (max 0 = 1000); JF_INT: value range
	                      (min == max == 0: any); JF_ARRAY: element count (max 0 = 1000) */
	const char *label; /* zh-CN name of the field for messages, e.g. "用户名" */
};

/* Check obj against fields (terminated by an entry with name NULL). closed: members not in
 * the table are an error. The first problem found is returned with ei->field set to the
 * member name and ei->msg a zh-CN sentence allocated from a. */
enum err json_check(const json_t *obj, const struct json_field *fields, bool closed,
                    struct arena *a, struct errinfo *ei);

/* Accessors that tolerate absence: NULL / def when the member is missing or not of the
 * expected type. */
const char *json_get_str(const json_t *obj, const char *key);
int64_t json_get_int(const json_t *obj, const char *key, int64_t def);
bool json_get_bool(const json_t *obj, const char *key, bool def);

/* Dotted paths of nested objects ("applicant.address.district"), as the catalog's form data
 * nests field ids. json_path_get: the member (borrowed), base itself for "" or NULL, NULL
 * when a segment is missing, not an object, or longer than 128 bytes. json_path_set_new:
 * base.<path> = v (stolen, also on failure), making objects on the way and replacing a
 * non-object in between; 0, or -1 when base is not an object, a segment is too long or
 * memory runs out. Array indexes are not path segments. */
json_t *json_path_get(const json_t *base, const char *path);
int json_path_set_new(json_t *base, const char *path, json_t *v);
/* Remove base.<path> (nothing when it is not there). */
void json_path_del(json_t *base, const char *path);

/* Dump compact UTF-8 into the arena (NULL on failure). */
char *json_dump_arena(const json_t *v, struct arena *a);

/* Register json_decref(v) on the arena and return v (NULL stays NULL). */
json_t *json_arena_own(struct arena *a, json_t *v);

#endif
