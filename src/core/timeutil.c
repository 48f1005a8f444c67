#include "core/timeutil.h"

#include <stdio.h>
#include <time.h>

int64_t time_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

char *time_iso(int64_t ms, char out[32])
{
	/* China has had no daylight saving since 1991: a fixed +08:00 offset is exact and keeps
	 * the output independent of the machine's TZ. */
	time_t t = (time_t)(ms / 1000) + 8 * 3600;
	struct tm tm;
	gmtime_r(&t, &tm);
	unsigned year = (unsigned)(tm.tm_year + 1900) % 10000u;
	snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03u+08:00", year,
	         (unsigned)tm.tm_mon % 12u + 1, (unsigned)tm.tm_mday % 32u,
	         (unsigned)tm.tm_hour % 24u, (unsigned)tm.tm_min % 60u, (unsigned)tm.tm_sec % 61u,
	         (unsigned)(ms % 1000));
	return out;
}
