// The one HTTP client of the web UI: JSON in and out, session cookie, CSRF header on
// unsafe methods, server error envelope turned into an Error carrying its Chinese message.

const CSRF_KEY = 'shouli.csrf';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const STATUS_MESSAGES = {
  400: '请求参数有误',
  401: '登录已失效，请重新登录',
  403: '没有权限执行此操作',
  404: '请求的资源不存在',
  409: '数据已被修改，请刷新后重试',
  413: '提交的数据过大',
  423: '账号已锁定',
  429: '操作过于频繁，请稍后再试',
  500: '服务器内部错误',
  502: '服务暂不可用，请稍后再试',
  503: '服务暂不可用，请稍后再试',
  504: '服务响应超时，请稍后再试',
};

export class ApiError extends Error {
  constructor(message, { status = 0, code = '', field = '', body = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field;
    // The whole parsed error answer, for answers that carry more than the envelope
    // (e.g. the `problems` of a rejected catalog publish).
    this.body = body;
  }
}

export function getCsrfToken() {
  return sessionStorage.getItem(CSRF_KEY) || '';
}

export function setCsrfToken(token) {
  if (token) sessionStorage.setItem(CSRF_KEY, token);
  else sessionStorage.removeItem(CSRF_KEY);
}

// Only same-site absolute paths are accepted as a post-login destination.
export function safeNext(next, fallback = '/console/') {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//')) return fallback;
  if (next.includes('\\') || next.startsWith('/login')) return fallback;
  return next;
}

export function loginUrl(next = location.pathname + location.search + location.hash) {
  return `/login/?next=${encodeURIComponent(safeNext(next))}`;
}

export function redirectToLogin() {
  location.assign(loginUrl());
}

/**
 * Sends one request. `body` is sent as JSON when given. Resolves to the parsed JSON
 * body (null when empty). Rejects with ApiError; on 401 it also sends the browser to
 * the login page unless `authRedirect: false` is given (the login page itself).
 */
export async function request(method, path, body, { authRedirect = true, signal, contentType } = {}) {
  method = method.toUpperCase();
  const headers = { Accept: 'application/json' };
  // contentType: send `body` as it is (a Blob or ArrayBuffer, e.g. an uploaded scan).
  const raw = Boolean(contentType);
  if (raw) headers['Content-Type'] = contentType;
  else if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (UNSAFE.has(method)) {
    const token = getCsrfToken();
    if (token) headers['X-CSRF-Token'] = token;
  }

  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined || raw ? body : JSON.stringify(body),
      credentials: 'same-origin',
      signal,
    });
  } catch (err) {
    if (err?.name === 'AbortError') throw err;
    throw new ApiError('无法连接服务器，请检查网络');
  }

  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }

  if (res.ok) return data;

  if (res.status === 401 && authRedirect && !location.pathname.startsWith('/login/')) {
    setCsrfToken('');
    redirectToLogin();
  }
  const env = data && typeof data.error === 'object' && data.error ? data.error : {};
  const message = env.message || STATUS_MESSAGES[res.status] || `请求失败（${res.status}）`;
  throw new ApiError(message, { status: res.status, code: env.code || '', field: env.field || '', body: data });
}

export const api = {
  get: (path, opts) => request('GET', path, undefined, opts),
  post: (path, body = {}, opts) => request('POST', path, body, opts),
  put: (path, body = {}, opts) => request('PUT', path, body, opts),
  patch: (path, body = {}, opts) => request('PATCH', path, body, opts),
  delete: (path, opts) => request('DELETE', path, undefined, opts),
  // POSTs raw bytes (a File or Blob) with their content type; the answer is JSON as usual.
  upload: (path, blob, contentType, opts) =>
    request('POST', path, blob, { ...opts, contentType: contentType || blob.type || 'application/octet-stream' }),
};
