// The terminal's device credential and its API calls (docs/vwin.md "Terminals"). The device
// secret from enrolment lives in localStorage (it is the kiosk's identity; a person never
// types a password here); the device session is a cookie + CSRF token like a user's. Every
// call goes through tcall(): a 401 re-opens the device session once with the stored secret
// and repeats the call, a failed connection marks the network as down (the page shows
// 网络已断开，正在重连) until the next call that reaches the server.
import { reactive } from 'vue';
import { ApiError, request, setCsrfToken } from '../shared/api.js';

const DEVICE_KEY = 'shouli.terminal.device';
const TICKET_KEY = 'shouli.terminal.ticket';
const CALL_KEY = 'shouli.terminal.call';

/** Network state shared by the page: online false while the server cannot be reached. */
export const net = reactive({ online: true, since: 0 });

function load(key) {
  try {
    return JSON.parse(localStorage.getItem(key) || 'null');
  } catch {
    return null;
  }
}
function save(key, v) {
  if (v == null) localStorage.removeItem(key);
  else localStorage.setItem(key, JSON.stringify(v));
}

/** {code, secret} of this device, or null before enrolment. */
export const loadDevice = () => load(DEVICE_KEY);
export const saveDevice = (d) => save(DEVICE_KEY, d);
/** {id, token, centre_id, ticket_no} of the ticket this kiosk holds, or null. */
export const loadTicket = () => load(TICKET_KEY);
export const saveTicket = (t) => save(TICKET_KEY, t);
/** {session, centre, window} of the call in progress, or null. */
export const loadCall = () => load(CALL_KEY);
export const saveCall = (c) => save(CALL_KEY, c);

function markOnline(ok) {
  if (ok && !net.online) net.online = true;
  if (!ok && net.online) {
    net.online = false;
    net.since = Date.now();
  }
}

/** The device credential was refused: enrolment is needed again. */
export class DeviceRefused extends Error {
  constructor(message) {
    super(message);
    this.name = 'DeviceRefused';
  }
}

/** POST /api/v1/terminal/enrol; stores and returns {code, secret}. */
export async function enrol(code, enrolCode, device) {
  const res = await request('POST', '/api/v1/terminal/enrol', { code, enrol_code: enrolCode, device }, { authRedirect: false });
  if (!res?.secret) throw new ApiError('注册失败：服务器未返回设备密钥');
  const d = { code: res.code || code, secret: res.secret };
  saveDevice(d);
  return d;
}

/** POST /api/v1/terminal/session with the stored secret; resolves to the answer. */
export async function openSession() {
  const d = loadDevice();
  if (!d) throw new DeviceRefused('本终端尚未注册');
  try {
    const res = await request('POST', '/api/v1/terminal/session', { code: d.code, secret: d.secret }, { authRedirect: false });
    markOnline(true);
    if (res?.csrf_token) setCsrfToken(res.csrf_token);
    return res;
  } catch (err) {
    if (err.status === 0) markOnline(false);
    // Disabled or re-enrolled terminals lose their secret.
    if (err.status === 401 || err.status === 403) throw new DeviceRefused(err.message || '终端凭证已失效，请重新注册');
    throw err;
  }
}

/** One API call of the device session (see the file comment). */
export async function tcall(method, path, body) {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await request(method, path, body, { authRedirect: false });
      markOnline(true);
      return res;
    } catch (err) {
      if (err.status === 0) markOnline(false);
      else markOnline(true);
      if (err.status === 401 && attempt === 0) {
        await openSession();
        continue;
      }
      throw err;
    }
  }
}

export const tapi = {
  get: (p) => tcall('GET', p),
  post: (p, b = {}) => tcall('POST', p, b),
};
