/* arena.h: region allocator for per-request (and per-job) memory.
 *
 * Everything allocated from an arena is freed by one arena_release(). Non-memory resources
 * (statements, cipher contexts, jansson values) register a cleanup that runs, in reverse
 * order of registration, before the memory goes. Arena pointers must never be stored in
 * long-lived state.
 *
 * An arena has a cap on the total bytes it hands out; allocations past the cap fail (return
 * NULL) so that no input can make one request use unbounded memory. */
#ifndef SHOULI_ARENA_H
#define SHOULI_ARENA_H

#include <stddef.h>
#include <stdarg.h>

struct arena_block;
struct arena_cleanup;

struct arena {
	struct arena_block *head;
	struct arena_cleanup *cleanups;
	size_t used; /* bytes handed out, for the cap and for metrics */
	size_t cap;  /* 0 = unlimited */
};

/* Initialise an empty arena; cap is the byte limit (0 for none). Allocates nothing yet. */
void arena_init(struct arena *a, size_t cap);
/* Run cleanups (last registered first), free all blocks; the arena can be reused after. */
void arena_release(struct arena *a);

/* Allocate n bytes aligned for any type; NULL when out of memory or over the cap.
 * arena_zalloc zeroes them. */
void *arena_alloc(struct arena *a, size_t n);
void *arena_zalloc(struct arena *a, size_t n);
/* Copies: the result is NUL-terminated. NULL on failure (or when s is NULL for strdup). */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
void *arena_memdup(struct arena *a, const void *p, size_t n);
/* printf into the arena. */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(struct arena *a, const char *fmt, va_list ap);

/* Register fn(arg) to run at arena_release. Returns 0, or -1 when out of memory (in which
 * case fn(arg) has been run at once, so the caller never leaks). */
int arena_defer(struct arena *a, void (*fn)(void *), void *arg);

#endif
