/* forms_sample.h: what the forms tests and bench/forms.c feed the renderer (header-only,
 * static, no cmocka): a signature image and the shipped catalog.
 * Include it as "forms_sample.h" from tests/unit/forms/ or "../tests/unit/forms/forms_sample.h"
 * from bench/ (it is not a test itself: the CMake glob takes only test_*.c). */
#ifndef SHOULI_TEST_FORMS_SAMPLE_H
#define SHOULI_TEST_FORMS_SAMPLE_H

#include <stdio.h>

#include "catalog/catalog.h"
#include "core/arena.h"

/* A 1×1 PNG, the smallest signature there is. */
static const unsigned char PNG[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
    0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
    0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78,
    0xda, 0x63, 0x64, 0xf8, 0xcf, 0x50, 0x0f, 0x00, 0x03, 0x86, 0x01, 0x80, 0x5a, 0x34,
    0x7d, 0x6b, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

/* Loads the catalog under dir into *out (the caller destroys it); its problems, if any, are
 * printed to stderr. */
static inline enum err sample_catalog_load(const char *dir, struct catalog_set **out)
{
	struct arena a;
	struct catalog_problems pr;
	arena_init(&a, 0);
	catalog_problems_init(&pr, &a);
	enum err e = catalog_load_dir(dir, out, &pr);
	if (e)
		catalog_problems_print(&pr, stderr);
	catalog_problems_release(&pr);
	arena_release(&a);
	return e;
}

#endif
