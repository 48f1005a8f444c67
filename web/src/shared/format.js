// Unix seconds stay below this until the year 5138; larger numbers are milliseconds.
const MS_THRESHOLD = 1e11;

// Formats a server timestamp (ISO 8601 string, Unix seconds or Unix milliseconds) as local
// zh-CN time.
export function formatTime(value) {
  if (value === null || value === undefined || value === '') return '';
  let d;
  if (typeof value === 'number') d = new Date(value >= MS_THRESHOLD ? value : value * 1000);
  else d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toLocaleString('zh-CN', { hour12: false });
}

// A date (YYYY-MM-DD, offsetDays from today) in Asia/Shanghai, the server's calendar: a fixed
// UTC+08:00 (no daylight saving since 1991). A browser elsewhere, or a machine on UTC between
// 16:00 and 24:00, would otherwise propose yesterday, which the server refuses as past.
export function shanghaiDay(offsetDays = 0, now = Date.now()) {
  return new Date(now + 8 * 3600e3 + offsetDays * 86400e3).toISOString().slice(0, 10);
}
