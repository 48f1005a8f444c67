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
