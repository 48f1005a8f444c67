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
