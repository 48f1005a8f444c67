// zh-CN names of the codes the gateway, flow, open-API and scheduler APIs answer with, and
// the tag colour each is shown in. Display only: what a code means is the server's.

const OUTCOMES = {
  ok: ['成功', 'success'],
  mock: ['模拟', 'info'],
  error: ['失败', 'danger'],
  timeout: ['超时', 'warning'],
  breaker_open: ['熔断', 'danger'],
  rejected: ['拒绝', 'warning'],
  unexpected: ['不符合预期', 'warning'],
  skipped: ['跳过', 'info'],
  refused: ['拒绝', 'warning'],
  running: ['执行中', 'primary'],
  failed: ['失败', 'danger'],
};

const RUN_STATUSES = {
  running: ['运行中', 'primary'],
  ok: ['成功', 'success'],
  partial: ['部分成功', 'warning'],
  failed: ['失败', 'danger'],
  compensated: ['已补偿', 'warning'],
  compensation_failed: ['补偿失败', 'danger'],
};

const BREAKER = {
  closed: ['正常', 'success'],
  open: ['熔断中', 'danger'],
  half_open: ['半开（试探中）', 'warning'],
};

export const AUTH_KINDS = {
  none: '无',
  basic: 'HTTP Basic',
  token: '令牌',
  hmac_sm3: 'HMAC-SM3 签名',
  sm2: 'SM2 签名',
};

export const CRYPTO_KINDS = {
  none: '不加密',
  sm4_cbc: 'SM4-CBC',
  sm2_envelope: 'SM2 数字信封',
  aes_cbc: 'AES-CBC',
  rsa_envelope: 'RSA 数字信封',
};

export const MODES = { live: '真实调用', mock: '模拟数据' };
export const PROTOCOLS = { rest: 'REST', soap: 'SOAP' };
export const ON_ERROR = { stop: '停止', compensate: '补偿后失败', continue: '继续' };
export const CRED_KINDS = { hmac_sm3: 'HMAC-SM3', sm2: 'SM2' };
export const WEEKDAYS = ['周一', '周二', '周三', '周四', '周五', '周六', '周日'];

const COND_OPS = { eq: '等于', ne: '不等于', exists: '存在', missing: '不存在', in: '属于', gt: '大于', lt: '小于' };

function pick(table, code) {
  return table[code] || [code || '—', 'info'];
}

export const outcomeText = (code) => pick(OUTCOMES, code)[0];
export const outcomeType = (code) => pick(OUTCOMES, code)[1];
export const runStatusText = (code) => pick(RUN_STATUSES, code)[0];
export const runStatusType = (code) => pick(RUN_STATUSES, code)[1];
export const breakerText = (code) => pick(BREAKER, code)[0];
export const breakerType = (code) => pick(BREAKER, code)[1];
export const OUTCOME_OPTIONS = ['ok', 'mock', 'error', 'timeout', 'breaker_open', 'rejected'].map((v) => ({
  value: v,
  label: outcomeText(v),
}));
export const RUN_STATUS_OPTIONS = Object.keys(RUN_STATUSES).map((v) => ({ value: v, label: runStatusText(v) }));

// A flow step condition ({path, op, value} or {all|any: [...]}) as one line of text.
export function conditionText(c) {
  if (!c || typeof c !== 'object') return '';
  if (Array.isArray(c.all)) return c.all.map(conditionText).join(' 并且 ');
  if (Array.isArray(c.any)) return `（${c.any.map(conditionText).join(' 或者 ')}）`;
  const op = COND_OPS[c.op] || c.op;
  if (c.op === 'exists' || c.op === 'missing') return `${c.path} ${op}`;
  return `${c.path} ${op} ${JSON.stringify(c.value)}`;
}

// Microseconds as milliseconds for people ("0.81 毫秒", "1.2 秒").
export function durationText(us) {
  if (us === null || us === undefined) return '—';
  const ms = us / 1000;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} 秒`;
  return `${ms < 10 ? ms.toFixed(2) : ms.toFixed(0)} 毫秒`;
}

export function msText(ms) {
  if (ms === null || ms === undefined) return '—';
  return durationText(ms * 1000);
}

// An ISO date (YYYY-MM-DD) in Shanghai time for date pickers' defaults.
export { shanghaiDay } from '../../shared/format.js';

// A server timestamp (ms) in Shanghai time, whatever the browser's zone: cron schedules
// are Shanghai time, so their times are shown in it.
export function shanghaiTime(ms) {
  if (ms === null || ms === undefined || ms === '') return '';
  return new Date(ms).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false });
}
