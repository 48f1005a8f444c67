// Display names of the codes the vwin session API answers (docs/vwin.md "Sessions").

export const SESSION_STATES = {
  waiting: { text: '等待接入', type: 'info' },
  active: { text: '通话中', type: 'success' },
  dropped: { text: '已中断', type: 'danger' },
  ended: { text: '已结束', type: 'info' },
};

export const CALL_STATES = {
  idle: '未接通',
  media: '正在打开摄像头',
  signalling: '等待终端应答',
  connecting: '正在连接',
  connected: '已接通',
  reconnecting: '正在重连',
  failed: '连接失败',
  closed: '已挂断',
};

export const COMMAND_KINDS = { card_read: '二次读卡', form_push: '推送申请表' };

export const COMMAND_STATES = {
  sent: { text: '已发送', type: 'primary' },
  done: { text: '已完成', type: 'success' },
  failed: { text: '失败', type: 'danger' },
  cancelled: { text: '已取消', type: 'info' },
};

export const ROLE_NAMES = {
  applicant: '申请人',
  agent: '代理人',
  guardian: '监护人',
  spouse: '配偶',
  disabled_helper: '助残员',
};
