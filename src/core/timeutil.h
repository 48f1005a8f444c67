/* timeutil.h: clocks and time formatting. */
#ifndef SHOULI_TIMEUTIL_H
#define SHOULI_TIMEUTIL_H

#include <stdbool.h>
#include <stdint.h>

/* Wall clock, milliseconds since the Unix epoch. */
int64_t time_now_ms(void);
/* Monotonic clock in nanoseconds, for durations. */
int64_t time_mono_ns(void);
/* Format ms as ISO 8601 in China Standard Time ("2026-11-29T09:30:00.123+08:00").
 * out must hold 32 bytes. Returns out. */
char *time_iso(int64_t ms, char out[32]);

/* Dates of the proleptic Gregorian calendar (the one place these rules live). */
bool time_leap_year(int64_t y);
/* Days in month m (1–12) of year y; 0 for a bad month. */
int time_days_in_month(int64_t y, int m);
/* Is y-m-d a real date (any year)? */
bool time_date_valid(int64_t y, int m, int d);
/* Parse exactly "YYYY-MM-DD" into a real date whose year is within [min_year, max_year].
 * The outputs (any may be NULL) are written only on success. */
bool time_date_parse(const char *s, int min_year, int max_year, int *y, int *m, int *d);
/* Days since 1970-01-01 of a date, and back (Howard Hinnant's algorithms; exact for every
 * int64 year that does not overflow). */
int64_t time_days_from_civil(int64_t y, int m, int d);
void time_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif
