// The device agent client (docs/vwin.md "Device agent"): JSON messages {id, op, …} →
// {id, ok, …} to the local agent at ws://127.0.0.1:17800/agent, or to the simulator inside
// the page when the page is opened with ?agent=sim. Ops: self_check, read_card {timeout_s},
// print {pdf_base64}, scan {}, scan_qr {}. A failed answer becomes an Error with `code`.
import { simHandle } from './sim.js';

export const AGENT_URL = 'ws://127.0.0.1:17800/agent';
const CONNECT_TIMEOUT_MS = 3000;

function agentError(answer) {
  return Object.assign(new Error(answer?.message || '外设操作失败'), { code: answer?.code || 'FAILED', answer });
}

// The real agent over one WebSocket, reconnected on demand.
function wsAgent(url) {
  let socket = null;
  let opening = null;
  let seq = 0;
  const waiting = new Map(); // id -> {resolve, reject, timer}

  function open() {
    if (socket && socket.readyState === WebSocket.OPEN) return Promise.resolve(socket);
    if (opening) return opening;
    opening = new Promise((resolve, reject) => {
      const s = new WebSocket(url);
      const t = setTimeout(() => {
        s.close();
        reject(Object.assign(new Error('未连接到本机外设服务'), { code: 'AGENT_OFFLINE' }));
      }, CONNECT_TIMEOUT_MS);
      s.onopen = () => {
        clearTimeout(t);
        socket = s;
        resolve(s);
      };
      s.onerror = () => {
        clearTimeout(t);
        reject(Object.assign(new Error('未连接到本机外设服务'), { code: 'AGENT_OFFLINE' }));
      };
      s.onmessage = (ev) => {
        let m;
        try {
          m = JSON.parse(ev.data);
        } catch {
          return;
        }
        const w = waiting.get(m.id);
        if (!w) return;
        waiting.delete(m.id);
        clearTimeout(w.timer);
        w.resolve(m);
      };
      s.onclose = () => {
        socket = null;
        for (const [id, w] of waiting) {
          clearTimeout(w.timer);
          w.reject(Object.assign(new Error('本机外设服务连接中断'), { code: 'AGENT_OFFLINE' }));
          waiting.delete(id);
        }
      };
    }).finally(() => {
      opening = null;
    });
    return opening;
  }

  return async (msg, timeoutMs) => {
    const s = await open();
    const id = `m${++seq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(Object.assign(new Error('外设响应超时'), { code: 'TIMEOUT' }));
      }, timeoutMs);
      waiting.set(id, { resolve, reject, timer });
      s.send(JSON.stringify({ ...msg, id }));
    });
  };
}

/**
 * createAgent('sim' | 'ws' [, url]) → { mode, selfCheck(), readCard(timeoutS), print(pdfBase64),
 * scan(), scanQr() }; each resolves to the answer (ok: true) or rejects with an Error
 * carrying `code` and the answer.
 */
export function createAgent(mode = 'ws', url = AGENT_URL) {
  let seq = 0;
  const send =
    mode === 'sim' ? (msg) => simHandle({ ...msg, id: msg.id || `s${++seq}` }) : wsAgent(url);
  async function call(msg, timeoutMs = 15000) {
    const answer = await send(msg, timeoutMs);
    if (!answer?.ok) throw agentError(answer);
    return answer;
  }
  return {
    mode,
    selfCheck: () => call({ op: 'self_check' }, 30000),
    readCard: (timeoutS = 30) => call({ op: 'read_card', timeout_s: timeoutS }, (timeoutS + 5) * 1000),
    print: (pdfBase64) => call({ op: 'print', pdf_base64: pdfBase64 }, 60000),
    scan: () => call({ op: 'scan' }, 30000),
    scanQr: () => call({ op: 'scan_qr' }, 30000),
  };
}

/** The agent mode of this page: ?agent=sim selects the simulator. */
export function agentModeFromUrl() {
  return new URLSearchParams(location.search).get('agent') === 'sim' ? 'sim' : 'ws';
}
