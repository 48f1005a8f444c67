// The kiosk's state machine (docs/ui.md "Terminal"): one reactive object the screens read,
// and the actions that move it. Everything that matters lives on the server; this page
// keeps only what lets it find its way back after a reload (device secret, ticket token and
// the call in progress, in localStorage) and asks the server for the rest.
//
// Screens: boot → enrol (first run) → selfcheck → home (item) → centres → ticket → call
// (waiting, then video) → rating → thanks → home.
import { reactive } from 'vue';
import { subscribe } from '../shared/push.js';
import { createAgent, agentModeFromUrl } from './agent/index.js';
import { DEVICES } from './agent/sim.js';
import {
  DeviceRefused,
  enrol as enrolDevice,
  loadCall,
  loadDevice,
  loadTicket,
  net,
  openSession,
  saveCall,
  saveDevice,
  saveTicket,
  tapi,
} from './device.js';
import { currentLocation } from './location.js';

export const DEVICE_NAMES = {
  card_reader: '身份证读卡器',
  printer: '打印机',
  scanner: '高拍仪',
  qr: '扫码器',
  camera: '摄像头',
  microphone: '麦克风',
};

// GB/T 39734 (DOMAIN.md): 1 is best; 4 and 5 are 差评.
export const RATING_LEVELS = [
  { level: 1, text: '非常满意' },
  { level: 2, text: '满意' },
  { level: 3, text: '基本满意' },
  { level: 4, text: '不满意' },
  { level: 5, text: '非常不满意' },
];

// The ticket's position arrives as events on terminal:<code>:queue; the poll is only a
// fallback for an event lost with the connection.
const TICKET_POLL_MS = 60000;
const OFFLINE_PROBE_MS = 3000;
const THANKS_MS = 8000;

export const term = reactive({
  screen: 'boot',
  bootError: '',
  device: loadDevice(),
  terminal: null, // {code, name, kind, point, point_kind, centre_code, centre_id, centre_path}
  agent: createAgent(agentModeFromUrl()),
  checks: [],
  checkOk: null,
  checking: false,
  checkError: '',
  item: null,
  ticket: loadTicket(), // {id, token}
  status: null, // GET ticket answer {ticket, position, wait, move_proposal}
  ticketError: '',
  call: loadCall(), // {session, centre, window}
  prompt: null, // an in-call command or a change-centre proposal being shown
  dismissedMove: 0,
  net,
});

let unsubs = [];
let pollTimer = 0;
let beatTimer = 0;
let thanksTimer = 0;
let heartbeatMs = 20000;

const isFinal = (s) => ['done', 'skipped', 'cancelled', 'expired'].includes(s);

function go(screen) {
  term.screen = screen;
}

// ---- boot, enrolment, device session ------------------------------------------------------

/** Reads the terminal this session belongs to from whatever the server answered. */
function acceptTerminal(res) {
  const t = res?.terminal || res || {};
  term.terminal = {
    code: t.code || term.device?.code,
    name: t.name || '',
    kind: t.kind || 'kiosk',
    point: t.point?.code || t.point || '',
    point_name: t.point?.name || t.point_name || '',
    point_kind: t.point?.kind || t.point_kind || 'extension',
    centre_code: t.centre?.code || t.centre_code || '',
    centre_id: t.centre?.id || t.centre_id || 0,
    centre_name: t.centre?.name || t.centre_name || '',
    centre_path: t.centre?.path || t.centre_path || '',
  };
  const hb = Number(res?.heartbeat_s || t.heartbeat_s);
  if (hb > 0) heartbeatMs = hb * 1000;
}

export async function boot() {
  term.bootError = '';
  go('boot');
  if (!term.device) {
    go('enrol');
    return;
  }
  try {
    acceptTerminal(await openSession());
  } catch (err) {
    if (err instanceof DeviceRefused) {
      saveDevice(null);
      term.device = null;
      term.bootError = err.message;
      go('enrol');
      return;
    }
    term.bootError = err.message;
    setTimeout(boot, OFFLINE_PROBE_MS);
    return;
  }
  listen();
  startHeartbeat();
  await selfCheck();
}

export async function enrol(code, enrolCode) {
  const device = {
    model: navigator.userAgentData?.platform || navigator.platform || 'browser',
    os: navigator.userAgent.slice(0, 120),
    agent_version: term.agent.mode === 'sim' ? 'sim-1.0' : 'local',
  };
  term.device = await enrolDevice(code, enrolCode, device);
  await boot();
}

function listen() {
  for (const u of unsubs) u();
  const code = term.terminal.code;
  unsubs = [
    subscribe(`terminal:${code}:events`, onTerminalEvent),
    subscribe(`terminal:${code}:queue`, onQueueEvent),
  ];
}

// ---- self-check ---------------------------------------------------------------------------

export async function selfCheck() {
  go('selfcheck');
  term.checking = true;
  term.checkError = '';
  try {
    let checks;
    let agentVersion = '';
    try {
      const res = await term.agent.selfCheck();
      checks = res.checks || [];
      agentVersion = res.agent_version || '';
    } catch (err) {
      // No agent at all: every peripheral counts as faulty.
      checks = DEVICES.map((d) => ({ device: d, ok: false, code: err.code || 'AGENT_OFFLINE', message: err.message }));
    }
    term.checks = checks;
    const location = await currentLocation();
    const res = await tapi.post('/api/v1/terminal/self-check', {
      checks,
      ...(location ? { location } : {}),
      agent_version: agentVersion || 'unknown',
    });
    // The server decides (an expected peripheral missing from the answer is a fault too).
    if (Array.isArray(res?.faults)) {
      const faulty = new Set(res.faults.map((f) => f.device));
      for (const f of res.faults) if (!checks.find((c) => c.device === f.device)) checks.push({ ...f, ok: false });
      term.checks = checks.map((c) => (faulty.has(c.device) && c.ok ? { ...c, ok: false } : c));
    }
    term.checkOk = res?.self_check?.ok ?? res?.ok ?? term.checks.every((c) => c.ok);
    if (term.checkOk) await restore();
  } catch (err) {
    term.checkOk = false;
    term.checkError = err.message;
  } finally {
    term.checking = false;
  }
}

// ---- heartbeat and reconnection -----------------------------------------------------------

function startHeartbeat(firstMs = heartbeatMs) {
  clearTimeout(beatTimer);
  const beat = async () => {
    let wasOffline = !net.online;
    try {
      const location = await currentLocation();
      await tapi.post('/api/v1/terminal/heartbeat', {
        ...(location ? { location } : {}),
        in_session: term.call?.session ? String(term.call.session) : null,
      });
      if (wasOffline) await resync();
    } catch (err) {
      if (err instanceof DeviceRefused) {
        boot();
        return;
      }
    }
    beatTimer = setTimeout(beat, net.online ? heartbeatMs : OFFLINE_PROBE_MS);
  };
  beatTimer = setTimeout(beat, firstMs);
}

// Back online: the WebSocket may have missed events, so read the state again.
async function resync() {
  if (term.ticket) await refreshTicket();
}

addEventListener('online', () => {
  if (!term.terminal) return;
  resync();
  startHeartbeat(0); // the heartbeat's answer clears the banner
});

// The browser knows the link is gone (cable, Wi-Fi): say so at once rather than at the next
// request, which may be a minute away now that positions arrive as events, and probe until
// the server answers again.
addEventListener('offline', () => {
  if (!term.terminal) return;
  if (net.online) {
    net.online = false;
    net.since = Date.now();
  }
  startHeartbeat(OFFLINE_PROBE_MS);
});

// ---- restoring after a reload -------------------------------------------------------------

async function restore() {
  if (!term.ticket) {
    go('home');
    return;
  }
  await refreshTicket();
  if (!term.ticket) go('home');
}

/** Reads the held ticket and moves to the screen its state calls for. */
export async function refreshTicket() {
  const t = term.ticket;
  if (!t) return;
  let s;
  try {
    s = await tapi.get(`/api/v1/queue/tickets/${t.id}?token=${encodeURIComponent(t.token)}`);
  } catch (err) {
    if (err.status === 404 || err.status === 403) dropTicket();
    return;
  }
  if (term.ticket !== t) return;
  term.status = s;
  route(s);
}

function route(s) {
  const tk = s.ticket;
  const proposal = s.move_proposal;
  if (proposal && tk.move_to && tk.move_to !== term.dismissedMove && !term.prompt) {
    term.prompt = { kind: 'move', proposal, centre_id: tk.move_to };
  } else if (term.prompt?.kind === 'move' && !tk.move_to) {
    term.prompt = null;
  }
  if (tk.state === 'waiting') {
    if (!['ticket'].includes(term.screen)) go('ticket');
  } else if (tk.state === 'called' || tk.state === 'serving') {
    if (!term.call) findSession(tk.id);
    if (term.screen !== 'call') go('call');
  } else if (tk.state === 'suspended') {
    resume();
  } else if (tk.state === 'done' && tk.eval_state === 'pending') {
    endCall();
    if (term.screen !== 'rating') go('rating');
  } else if (isFinal(tk.state)) {
    endCall();
    dropTicket();
    if (term.screen !== 'thanks') {
      term.ticketError = tk.state === 'skipped' ? `您的号码 ${tk.ticket_no} 已过号，如需办理请重新取号` : '';
      go('home');
    }
  }
  schedulePoll();
}

// After a reload without the call in localStorage: the ticket's session, if any.
let finding = false;
async function findSession(ticketId) {
  if (finding) return;
  finding = true;
  try {
    const s = await tapi.get(`/api/v1/terminal/tickets/${ticketId}/session`);
    const sess = s?.session || s;
    if (sess?.id && ['waiting', 'active'].includes(sess.state) && !term.call)
      setCall({ session: sess.id, centre_name: '', window: null, case_no: sess.case_no || null });
  } catch {
    // no session (a plain on-site call, or the provider failed): the waiting page stays
  } finally {
    finding = false;
  }
}

// The server tells the terminal its position after every change of the ticket's centre
// (any centre: 全市通办), so the ticket is re-read only when its state changes and by this
// slow fallback poll (1,800 kiosks at 60 s: 30 requests a second).
function schedulePoll() {
  clearTimeout(pollTimer);
  if (!term.ticket) return;
  pollTimer = setTimeout(refreshTicket, TICKET_POLL_MS);
}

function dropTicket() {
  clearTimeout(pollTimer);
  term.ticket = null;
  term.status = null;
  term.prompt = null;
  saveTicket(null);
}

// The terminal dropped mid-service (a reload, a power cut): re-summon the ticket.
async function resume() {
  const t = term.ticket;
  try {
    await tapi.post(`/api/v1/queue/tickets/${t.id}/resume`, { token: t.token });
    await refreshTicket();
  } catch (err) {
    term.ticketError = err.message;
    dropTicket();
    go('home');
  }
}

// ---- choosing an item and a centre, taking a ticket ---------------------------------------

export function chooseItem(item) {
  term.item = item;
  term.ticketError = '';
  go('centres');
}

export async function takeTicket(centre) {
  term.ticketError = '';
  const location = await currentLocation();
  const res = await tapi.post('/api/v1/queue/tickets', {
    centre_id: centre.centre.id,
    item_code: term.item.code,
    source: 'terminal',
    terminal: term.terminal.code,
    point: term.terminal.point || null,
    ...(location ? { location } : {}),
  });
  term.ticket = { id: res.ticket.id, token: res.token };
  saveTicket(term.ticket);
  term.status = { ticket: res.ticket, position: res.position, wait: res.wait, move_proposal: null };
  go('ticket');
  schedulePoll();
}

export async function cancelTicket() {
  const t = term.ticket;
  await tapi.post(`/api/v1/queue/tickets/${t.id}/cancel`, { token: t.token });
  dropTicket();
  go('home');
}

// ---- change of centre (换中心) -------------------------------------------------------------

export async function confirmMove() {
  const t = term.ticket;
  await tapi.post(`/api/v1/queue/tickets/${t.id}/move/confirm`, { token: t.token });
  term.prompt = null;
  await refreshTicket();
}

export function declineMove() {
  term.dismissedMove = term.status?.ticket?.move_to || 0;
  term.prompt = null;
}

// ---- events -------------------------------------------------------------------------------

// terminal:<code>:queue: {event: "position", ticket_id, ticket_no, state, position, wait:
// {ahead, minutes, low, high}} after each change of the ticket's centre, and
// {event: "move_proposed", ticket_id, centre_id}.
function onQueueEvent(msg) {
  if (!term.ticket || !msg || msg.ticket_id !== term.ticket.id) return;
  const st = term.status;
  if (
    msg.event === 'position' &&
    msg.state === 'waiting' &&
    st?.ticket?.state === 'waiting' &&
    st.ticket.ticket_no === msg.ticket_no
  ) {
    // still in line: the event has all the screen shows
    term.status = { ...st, position: msg.position, wait: { ...(st.wait || {}), ...msg.wait } };
    schedulePoll();
    return;
  }
  if (msg.event === 'move_proposed') term.dismissedMove = 0;
  refreshTicket();
}

function onTerminalEvent(msg) {
  if (!msg) return;
  const type = msg.type || msg.event;
  if (type === 'call') {
    // {type: "call", session, centre, centre_name, window: {id, code, name}, ticket_id, ticket_no}
    if (term.ticket && msg.ticket_id && msg.ticket_id !== term.ticket.id) return;
    setCall({ session: msg.session, centre_name: msg.centre_name || '', window: msg.window || null });
    go('call');
    refreshTicket();
  } else if (type === 'command') {
    onCommand(msg);
  } else if (type === 'move_proposed') {
    onQueueEvent(msg);
  }
}

function setCall(c) {
  term.call = c;
  saveCall(c);
}

/** The case opened in the call ({type: "case", case_no} on the session topic). */
export function onCase(caseNo) {
  if (term.call && caseNo) setCall({ ...term.call, case_no: caseNo });
}

/**
 * An in-call command from the clerk: {type: "command", command: <id>, args: {kind, role,
 * point} | {kind, mode}, case_no} on session:<id>:terminal, or a pending row of the
 * session view ({id, kind, args, state: "sent"}) after a reload.
 */
export function onCommand(msg) {
  const args = msg?.args || {};
  const kind = args.kind || msg?.kind;
  const id = typeof msg?.command === 'number' || typeof msg?.command === 'string' ? msg.command : msg?.id;
  if (!kind || id == null) return;
  if (term.prompt && term.prompt.kind !== 'move' && String(term.prompt.id) === String(id)) return;
  if (msg.case_no) onCase(msg.case_no);
  term.prompt = {
    kind,
    id,
    role: args.role || null,
    point: args.point || null,
    mode: args.mode || null,
    case_no: msg.case_no || term.call?.case_no || null,
    state: 'new',
    message: '',
  };
}

export function sessionEnded() {
  endCall();
  refreshTicket();
}

// Forget the call (the video component closes its connection when the screen changes).
function endCall() {
  if (term.call) setCall(null);
  if (term.prompt && term.prompt.kind !== 'move') term.prompt = null;
}

// ---- evaluation ---------------------------------------------------------------------------

export async function rate(level, comment, tags) {
  const t = term.ticket;
  await tapi.post(`/api/v1/queue/tickets/${t.id}/rating`, {
    token: t.token,
    level,
    ...(comment ? { comment } : {}),
    ...(tags?.length ? { tags } : {}),
  });
  dropTicket();
  go('thanks');
  clearTimeout(thanksTimer);
  thanksTimer = setTimeout(() => term.screen === 'thanks' && go('home'), THANKS_MS);
}

/** The resident leaves without rating: the evaluation stays pending until it expires. */
export function skipRating() {
  dropTicket();
  backHome();
}

export function backHome() {
  clearTimeout(thanksTimer);
  term.item = null;
  go('home');
}
