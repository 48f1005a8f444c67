// Chinese display names of the codes used in catalog documents (docs/catalog.md). Pure
// labels: what the codes mean for a case is decided by the server.

export const CASE_TYPES = { 1: '即办件', 2: '承诺件' };

export const ITEM_TYPES = {
  '00': '行政权力',
  '01': '行政许可',
  '02': '行政处罚',
  '03': '行政强制',
  '04': '行政征收',
  '05': '行政给付',
  '06': '行政检查',
  '07': '行政确认',
  '08': '行政奖励',
  '09': '行政裁决',
  '10': '其他行政权力',
  '20': '公共服务',
};

/** [code, name] in code order (object keys "10" and "20" would sort first). */
export const ITEM_TYPE_OPTIONS = Object.entries(ITEM_TYPES)
  .map(([code, name]) => [String(code).padStart(2, '0'), name])
  .sort((a, b) => a[0].localeCompare(b[0]));

export const EXERCISE_LEVELS = { 1: '国家级', 2: '省级', 3: '市级', 4: '县级', 5: '镇（街道）级', 6: '村（社区）级' };

export const CHANNELS = { 1: '窗口', 2: 'PC 端', 3: '移动端', 4: '快递', 9: '其他' };

export const VWIN_MODES = { original: '原窗口办理', virtual: '虚拟窗口办理', dual: '原窗口与虚拟窗口均可' };

export const MATERIAL_NEED = {
  required: { text: '必需', type: 'danger' },
  optional: { text: '可选', type: 'info' },
  conditional: { text: '视情况', type: 'warning' },
};

export const MATERIAL_SOURCES = {
  scan: '窗口扫描',
  kiosk_photo: '终端拍照',
  e_cert: '电子证照',
  library: '材料库',
};

export const RETENTION = { permanent: '永久', '30y': '30 年', '10y': '10 年' };

export const SIGNER_ROLES = {
  applicant: '申请人',
  agent: '代理人',
  guardian: '监护人',
  spouse: '配偶',
  helper: '助残员',
  household_head: '户主',
  co_applicant: '共同申请人',
};

export const HANDLER_RULES = {
  applicant: '申请人为办理人',
  agent: '有代理人时代理人为办理人',
  guardian: '有监护人时监护人为办理人',
  disabled_helper: '残疾人本人为办理人（助残员不记为办理人）',
};

export const APPFORM_KINDS = { generated: '系统生成', fixed: '制式表单', none: '无申请表' };

export const FIELD_TYPES = {
  text: '文本',
  textarea: '多行文本',
  number: '数字',
  money: '金额',
  date: '日期',
  enum: '代码选择',
  boolean: '是/否',
  id_document: '证件',
  phone: '电话',
  address: '地址',
  bank_account: '银行账户',
  group: '表格（多行）',
  signature: '签名',
  attachment: '附件',
};

export const CHANGE_OPS = {
  add: { text: '新增', type: 'success' },
  remove: { text: '删除', type: 'danger' },
  change: { text: '修改', type: 'warning' },
};

export const VERSION_STATUS = {
  published: { text: '已发布', type: 'success' },
  draft: { text: '草稿', type: 'warning' },
  // a newer version has taken effect
  retired: { text: '已被取代', type: 'info' },
};

/** "承诺件（15 个工作日）" or "即办件". */
export function caseTypeText(caseType, promisedDays) {
  const name = CASE_TYPES[caseType] || '—';
  return caseType === 2 && promisedDays ? `${name}（${promisedDays} 个工作日）` : name;
}
