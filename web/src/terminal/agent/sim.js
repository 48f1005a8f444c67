// The simulated device agent (docs/vwin.md "Device agent"): the same JSON messages as the
// local agent at ws://127.0.0.1:17800/agent, answered inside the page so the kiosk works in
// any browser (?agent=sim). Its behaviour is set by the query string or by localStorage key
// `shouli.agent.sim` (JSON), so a test or an installer can stage faults:
//   { "faults": { "printer": "PAPER_OUT" },     // device -> fault code (self_check, print)
//     "missing": ["qr"],                         // peripherals not present at all
//     "card": { reader, type_flag, card: {...} },  // what read_card returns
//     "delay_ms": 300 }                          // answer latency
// Query: ?agent=sim&sim_fault=printer:PAPER_OUT,card_reader:NO_DEVICE&sim_missing=qr

export const SIM_VERSION = 'sim-1.0';

export const DEVICES = ['card_reader', 'printer', 'scanner', 'qr', 'camera', 'microphone'];

// Chinese texts of the fault codes the simulator and the real agents report.
export const FAULT_TEXTS = {
  NO_DEVICE: '未检测到设备',
  PAPER_OUT: '打印机缺纸',
  PAPER_JAM: '打印机卡纸',
  OFFLINE: '设备离线',
  TIMEOUT: '设备响应超时',
  NO_CARD: '未检测到证件',
  DENIED: '未获得使用权限',
};

// A valid demo card (GB 11643 check digit correct).
const DEFAULT_CARD = {
  reader: 'SIM-KIOSK',
  type_flag: '0',
  card: {
    name: '张三',
    sex: '1',
    nation: '01',
    birth_date: '1949-12-31',
    address: '上海市徐汇区漕溪北路1号',
    id_number: '11010519491231002X',
    issuer: '上海市公安局徐汇分局',
    valid_from: '2015-01-01',
    valid_to: '2035-01-01',
  },
};

// What the simulated 高拍仪 "photographs": a page with a heading and a signature line, as a
// real JPEG (the server checks the file type of uploads).
function photo() {
  const c = document.createElement('canvas');
  c.width = 600;
  c.height = 800;
  const g = c.getContext('2d');
  g.fillStyle = '#fff';
  g.fillRect(0, 0, c.width, c.height);
  g.fillStyle = '#111';
  g.font = '32px sans-serif';
  g.fillText('申请表（模拟高拍仪拍照）', 90, 80);
  g.font = '20px sans-serif';
  g.fillText(new Date().toISOString(), 90, 130);
  g.beginPath();
  g.moveTo(300, 700);
  g.bezierCurveTo(340, 640, 380, 760, 440, 690);
  g.stroke();
  const url = c.toDataURL('image/jpeg', 0.7);
  return url.slice(url.indexOf(',') + 1);
}

function readConfig() {
  let cfg = {};
  try {
    cfg = JSON.parse(localStorage.getItem('shouli.agent.sim') || '{}') || {};
  } catch {
    cfg = {};
  }
  const q = new URLSearchParams(location.search);
  const faults = { ...(cfg.faults || {}) };
  for (const part of (q.get('sim_fault') || '').split(',').filter(Boolean)) {
    const [dev, code] = part.split(':');
    faults[dev] = code || 'OFFLINE';
  }
  const missing = new Set([...(cfg.missing || []), ...(q.get('sim_missing') || '').split(',').filter(Boolean)]);
  return { faults, missing, card: cfg.card || DEFAULT_CARD, delayMs: Number(cfg.delay_ms ?? 150) };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function fault(device, code) {
  return { device, ok: false, code, message: FAULT_TEXTS[code] || '设备故障' };
}

/** Answers one agent message ({id, op, …}) like a real agent would. */
export async function simHandle(msg) {
  const cfg = readConfig();
  await sleep(cfg.delayMs);
  const base = { id: msg.id };
  switch (msg.op) {
    case 'self_check': {
      const checks = [];
      for (const d of DEVICES) {
        if (cfg.missing.has(d)) checks.push(fault(d, 'NO_DEVICE'));
        else if (cfg.faults[d]) checks.push(fault(d, cfg.faults[d]));
        else checks.push({ device: d, ok: true });
      }
      return { ...base, ok: true, checks, agent_version: SIM_VERSION };
    }
    case 'read_card':
      if (cfg.faults.card_reader || cfg.missing.has('card_reader'))
        return { ...base, ok: false, code: cfg.faults.card_reader || 'NO_DEVICE', message: FAULT_TEXTS[cfg.faults.card_reader] || '读卡器不可用' };
      // A resident needs a moment to place the card.
      await sleep(Math.min(1500, (msg.timeout_s || 30) * 1000));
      return { ...base, ok: true, ...structuredClone(cfg.card) };
    case 'print':
      if (!msg.pdf_base64) return { ...base, ok: false, code: 'BAD_REQUEST', message: '没有可打印的内容' };
      if (cfg.faults.printer || cfg.missing.has('printer'))
        return { ...base, ok: false, code: cfg.faults.printer || 'NO_DEVICE', message: FAULT_TEXTS[cfg.faults.printer] || '打印机不可用' };
      return { ...base, ok: true, pages: 1 };
    case 'scan':
      if (cfg.faults.scanner || cfg.missing.has('scanner'))
        return { ...base, ok: false, code: cfg.faults.scanner || 'NO_DEVICE', message: '高拍仪不可用' };
      return { ...base, ok: true, jpeg_base64: photo() };
    case 'scan_qr':
      if (cfg.faults.qr || cfg.missing.has('qr')) return { ...base, ok: false, code: cfg.faults.qr || 'NO_DEVICE', message: '扫码器不可用' };
      return { ...base, ok: true, text: cfg.qr || '' };
    default:
      return { ...base, ok: false, code: 'UNKNOWN_OP', message: `不支持的操作：${msg.op}` };
  }
}
