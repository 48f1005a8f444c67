import { User, OfficeBuilding, Collection, Connection, Monitor, Document, DataLine } from '@element-plus/icons-vue';
import { createShellRouter, menuOf } from '../shared/router.js';
import ComingSoon from '../shared/ComingSoon.vue';
import Users from './Users.vue';
import Audit from './Audit.vue';
import Ops from './Ops.vue';

const routes = [
  { path: '/users', title: '用户与角色', icon: User, component: Users },
  { path: '/orgs', title: '机构', icon: OfficeBuilding, component: ComingSoon },
  { path: '/catalog', title: '事项目录', icon: Collection, component: ComingSoon },
  { path: '/gateway', title: '接口平台', icon: Connection, component: ComingSoon },
  { path: '/devices', title: '设备', icon: Monitor, component: ComingSoon },
  { path: '/audit', title: '审计日志', icon: Document, component: Audit },
  { path: '/ops', title: '运维监控', icon: DataLine, component: Ops },
];

export const router = createShellRouter('/admin/', routes);
export const menu = menuOf(routes);
