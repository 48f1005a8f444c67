// Display helpers of the kiosk (zh-CN).

/** "约 12 分钟（8–20 分钟）" from a wait estimate {minutes, low, high}. */
export function waitText(w) {
  if (!w) return '—';
  if (!w.minutes && !w.high) return '无需等候';
  const range = w.low !== undefined && w.high !== undefined && w.high > w.low ? `（${w.low}–${w.high} 分钟）` : '';
  return `约 ${w.minutes} 分钟${range}`;
}
