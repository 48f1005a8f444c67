import { RouterView } from 'vue-router';
import { User, OfficeBuilding, Collection, Switch, Connection, Monitor, Document, DataLine } from '@element-plus/icons-vue';
import { createShellRouter, menuOf } from '../shared/router.js';
import ComingSoon from '../shared/ComingSoon.vue';
import Users from './Users.vue';
import Audit from './Audit.vue';
import Ops from './Ops.vue';
import CatalogList from './catalog/CatalogList.vue';
import CatalogItem from './catalog/CatalogItem.vue';
import CodeChanges from './catalog/CodeChanges.vue';

const routes = [
  { path: '/users', title: '用户与角色', icon: User, component: Users },
  { path: '/orgs', title: '机构', icon: OfficeBuilding, component: ComingSoon },
  {
    path: '/catalog',
    title: '事项目录',
    icon: Collection,
    component: RouterView,
    children: [
      { path: '', component: CatalogList },
      { path: ':code', component: CatalogItem, meta: { title: '事项详情' } },
    ],
  },
  { path: '/code-changes', title: '编码变更', icon: Switch, component: CodeChanges },
  { path: '/gateway', title: '接口平台', icon: Connection, component: ComingSoon },
  { path: '/devices', title: '设备', icon: Monitor, component: ComingSoon },
  { path: '/audit', title: '审计日志', icon: Document, component: Audit },
  { path: '/ops', title: '运维监控', icon: DataLine, component: Ops },
];

export const router = createShellRouter('/admin/', routes);
export const menu = menuOf(routes);
