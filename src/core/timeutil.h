/* timeutil.h: clocks and time formatting. */
#ifndef SHOULI_TIMEUTIL_H
#define SHOULI_TIMEUTIL_H

#include <stdint.h>

/* Wall clock, milliseconds since the Unix epoch. */
int64_t time_now_ms(void);
/* Monotonic clock in nanoseconds, for durations. */
int64_t time_mono_ns(void);
/* Format ms as ISO 8601 in China Standard Time ("2026-11-29T09:30:00.123+08:00").
 * out must hold 32 bytes. Returns out. */
char *time_iso(int64_t ms, char out[32]);

#endif
