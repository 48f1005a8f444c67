// Chinese display names and tag colours of the codes the cases and ident APIs answer
// (docs/cases.md). Pure labels: which state allows what, and every verdict, is the server's.

export const CASE_STATES = {
  draft: { text: '待受理', type: 'info' },
  accepted: { text: '已受理', type: 'primary' },
  refused: { text: '不予受理', type: 'danger' },
  correction: { text: '补正中', type: 'warning' },
  in_progress: { text: '办理中', type: 'primary' },
  completed: { text: '已办结', type: 'success' },
  withdrawn: { text: '已撤回', type: 'info' },
  forwarded: { text: '已转交', type: 'warning' },
};

/** The state's name: the server's `state_label` when the answer has one. */
export function stateText(s, label) {
  return label || CASE_STATES[s]?.text || s || '—';
}

export function stateType(s) {
  return CASE_STATES[s]?.type || 'info';
}

/** The list views of 办件查询, in menu order. */
export const CASE_VIEWS = [
  ['today', '今日'],
  ['mine', '我的'],
  ['correction', '待补正'],
  ['overdue', '已超期'],
  ['forwarded_out', '已转出'],
  ['forwarded_in', '待接收'],
  ['all', '全部'],
];

/** Actions of the case state machine: the button text and what the dialog asks for. */
export const CASE_ACTIONS = {
  accept: { text: '受理', type: 'primary' },
  refuse: { text: '不予受理', type: 'danger', reason: true },
  request_correction: { text: '补正', type: 'warning', items: true },
  resume: { text: '补正完成', type: 'success', note: true },
  start: { text: '转部门办理', type: 'primary', note: true },
  complete: { text: '办结', type: 'success', result: true },
  withdraw: { text: '撤回', type: 'danger', reason: true },
};


export function actionText(a) {
  return CASE_ACTIONS[a]?.text || a;
}

/** Timeline kinds beyond the actions (opening, prefill, forms, materials). */
export const EVENT_NAMES = {
  open: '创建办件',
  opened: '创建办件',
  create: '创建办件',
  created: '创建办件',
  duplicate_confirmed: '确认重复申请',
  form: '保存表单',
  prefill: '预填',
  prereview: '预审',
  override: '预审阻断放行',
  material_added: '添加材料',
  material_removed: '删除材料',
  material_verified: '材料核验',
  forward: '转交受理中心',
  forwarded: '转交受理中心',
  sign: '签名',
  signature: '签名',
  seal: '申请表签章',
  signing_start: '开始签名',
  signing_void: '作废签名',
  ...Object.fromEntries(Object.entries(CASE_ACTIONS).map(([k, v]) => [k, v.text])),
};

export const VERDICTS = {
  pass: { text: '通过', type: 'success' },
  warn: { text: '提示', type: 'warning' },
  block: { text: '阻断', type: 'danger' },
  unknown: { text: '无法核验', type: 'warning' },
  skipped: { text: '不适用', type: 'info' },
};

export const MATERIAL_VERDICTS = {
  pass: { text: '核验通过', type: 'success' },
  fail: { text: '核验未通过', type: 'danger' },
  manual: { text: '需人工核验', type: 'warning' },
};

export const ENTRY_SOURCES = {
  scan: '高拍仪',
  upload: '上传',
  kiosk_photo: '终端拍照',
  e_cert: '电子证照',
  generated: '系统生成',
  e_sign: '电子签名',
};

export const PREFILL_SOURCES = {
  resident: '居民档案',
  id_card: '读卡',
  previous_case: '历史办件',
  e_cert: '电子证照',
  lookup: '部门查询',
  clerk: '窗口录入',
};

export const SEX = { 1: '男', 2: '女' };

export const COMPLETE_RESULTS = { approved: '准予', rejected: '不予' };

/** Reasons offered for manual entry (the server only requires one). */
export const MANUAL_REASONS = ['读卡器故障', '证件无芯片', '证件芯片损坏', '居民未带实体证件', '其他'];

/** 申请表 signing rounds (GET …/signing `state`). */
export const SIGNING_STATES = {
  none: { text: '未签名', type: 'info' },
  open: { text: '签名中', type: 'warning' },
  sealed: { text: '已签章', type: 'success' },
  voided: { text: '已作废', type: 'danger' },
};

/** A signer of the round (`signers[].status`). */
export const SIGNER_STATUS = {
  signed: { text: '已签', type: 'success' },
  next: { text: '待签', type: 'warning' },
  waiting: { text: '等待', type: 'info' },
};

/** 收受分离: how a case is opened (POST /api/v1/cases `mode`). */
export const CASE_MODES = {
  direct: '直接受理',
  separated: '收受分离',
};

/** 办件库 report stages and their states (the case answer's `bjk`). */
export const BJK_STAGES = {
  accept: '受理',
  handle: '办理',
  finish: '办结',
};

export const BJK_STATES = {
  pending: { text: '待上报', type: 'info' },
  reporting: { text: '上报中', type: 'info' },
  sending: { text: '上报中', type: 'info' },
  failed: { text: '上报失败，等待重试', type: 'warning' },
  dead: { text: '上报失败，待运维处理', type: 'danger' },
  ok: { text: '已上报', type: 'success' },
  done: { text: '已上报', type: 'success' },
  reported: { text: '已上报', type: 'success' },
  error: { text: '办件库退回', type: 'danger' },
  skipped: { text: '无需上报', type: 'info' },
  unknown: { text: '未配置上报', type: 'info' },
};

/** A department's status of the application (`delivery.decision.dept_status`), as polled. */
export const DEPT_STATUS = {
  pending: '审核中',
  received: '已接收',
  processing: '审核中',
  approved: '准予',
  rejected: '不予',
  correction: '要求补正',
  cancelled: '已撤销',
};
