#include "core/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN     16
#define BLOCK_MIN 8192

struct arena_block {
	struct arena_block *next;
	size_t size;
	size_t off;
	_Alignas(ALIGN) unsigned char data[];
};

struct arena_cleanup {
	struct arena_cleanup *next;
	void (*fn)(void *);
	void *arg;
};

void arena_init(struct arena *a, size_t cap)
{
	a->head = NULL;
	a->cleanups = NULL;
	a->used = 0;
	a->cap = cap;
}

void arena_release(struct arena *a)
{
	while (a->cleanups) {
		struct arena_cleanup *c = a->cleanups;
		a->cleanups = c->next;
		c->fn(c->arg);
	}
	while (a->head) {
		struct arena_block *b = a->head;
		a->head = b->next;
		free(b);
	}
	a->used = 0;
}

void *arena_alloc(struct arena *a, size_t n)
{
	if (n == 0)
		n = 1;
	size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	if (need < n || (a->cap && (need > a->cap || a->used > a->cap - need)))
		return NULL;
	struct arena_block *b = a->head;
	if (!b || b->size - b->off < need) {
		size_t size = need > BLOCK_MIN ? need : BLOCK_MIN;
		/* Grow blocks with the arena so big requests do not make thousands of mallocs. */
		if (a->used > size && a->used < (size_t)64 << 20)
			size = a->used;
		b = malloc(sizeof(*b) + size);
		if (!b)
			return NULL;
		b->size = size;
		b->off = 0;
		b->next = a->head;
		a->head = b;
	}
	void *p = b->data + b->off;
	b->off += need;
	a->used += need;
	return p;
}

void *arena_zalloc(struct arena *a, size_t n)
{
	void *p = arena_alloc(a, n);
	if (p)
		memset(p, 0, n);
	return p;
}

void *arena_memdup(struct arena *a, const void *p, size_t n)
{
	void *q = arena_alloc(a, n);
	if (q && n)
		memcpy(q, p, n);
	return q;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	if (n == SIZE_MAX)
		return NULL;
	char *q = arena_alloc(a, n + 1);
	if (!q)
		return NULL;
	if (n)
		memcpy(q, s, n);
	q[n] = 0;
	return q;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

char *arena_vprintf(struct arena *a, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return NULL;
	char *p = arena_alloc(a, (size_t)n + 1);
	if (p)
		vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = arena_vprintf(a, fmt, ap);
	va_end(ap);
	return p;
}

int arena_defer(struct arena *a, void (*fn)(void *), void *arg)
{
	/* Cleanup records do not count against the cap: a failing request must still clean up. */
	size_t cap = a->cap;
	a->cap = 0;
	struct arena_cleanup *c = arena_alloc(a, sizeof(*c));
	a->cap = cap;
	if (!c) {
		fn(arg);
		return -1;
	}
	c->fn = fn;
	c->arg = arg;
	c->next = a->cleanups;
	a->cleanups = c;
	return 0;
}
