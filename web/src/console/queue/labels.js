// Display names and tag colours of the codes the queue and terminal APIs answer
// (docs/queue.md, docs/vwin.md). Pure labels: the server's `state_label` wins when it has one.

export const TICKET_STATES = {
  waiting: { text: '等候中', type: 'info' },
  called: { text: '已叫号', type: 'primary' },
  serving: { text: '办理中', type: 'success' },
  suspended: { text: '已中断', type: 'danger' },
  done: { text: '已办结', type: 'success' },
  skipped: { text: '已过号', type: 'warning' },
  cancelled: { text: '已取消', type: 'info' },
  expired: { text: '已失效', type: 'info' },
};

export function ticketText(state, label) {
  return label || TICKET_STATES[state]?.text || state || '—';
}

export function ticketType(state) {
  return TICKET_STATES[state]?.type || 'info';
}

export const SOURCES = { onsite: '现场取号', terminal: '终端取号' };

export const TERMINAL_STATES = {
  online: { text: '在线', type: 'success' },
  in_session: { text: '通话中', type: 'primary' },
  fault: { text: '故障', type: 'danger' },
  offline: { text: '离线', type: 'warning' },
  disabled: { text: '已停用', type: 'info' },
};

export const DEVICES = {
  card_reader: '读卡器',
  printer: '打印机',
  scanner: '高拍仪',
  qr: '扫码器',
  camera: '摄像头',
  microphone: '麦克风',
};

/** `{minutes, low, high}` of the queue's wait estimate as text: "约 12 分钟（8–20）". */
export function waitText(w) {
  if (!w || w.minutes === undefined || w.minutes === null) return '—';
  if (!w.minutes) return '无需等候';
  return `约 ${w.minutes} 分钟（${w.low}–${w.high}）`;
}
