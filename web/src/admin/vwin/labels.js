// Display names of the codes the vwin admin API answers (docs/vwin.md).
export { TERMINAL_STATES, DEVICES } from '../../console/queue/labels.js';

export const POINT_KINDS = { extension: '延伸点', home: '上门办' };
export const TERMINAL_KINDS = { kiosk: '自助终端', pad: '移动PAD' };
export const PROBLEM_KINDS = {
  missing_local: '本系统缺少',
  missing_map: '政务地图缺少',
  changed: '信息不一致',
  push_failed: '推送失败',
  change_unmatched: '变动记录不符',
};
export const FIELD_NAMES = { name: '名称', address: '地址', status: '状态', type: '类型', lng: '经度', lat: '纬度' };
export const RUN_OUTCOMES = {
  running: { text: '运行中', type: 'primary' },
  ok: { text: '一致', type: 'success' },
  mismatch: { text: '有差异', type: 'warning' },
  failed: { text: '失败', type: 'danger' },
};

/** The centres (orgs of level centre) of GET /api/v1/admin/orgs, flattened. */
export function centresOf(tree) {
  const out = [];
  const walk = (nodes) => {
    for (const n of nodes || []) {
      if (n.level === 'centre') out.push({ id: n.id, code: n.code, name: n.name });
      walk(n.children);
    }
  };
  walk(tree);
  return out;
}
