import { RouterView } from 'vue-router';
import { User, OfficeBuilding, Collection, Switch, Connection, Document, DataLine, AlarmClock, Location, Cellphone, MapLocation } from '@element-plus/icons-vue';
import { createShellRouter, menuOf } from '../shared/router.js';
import ComingSoon from '../shared/ComingSoon.vue';
import Users from './Users.vue';
import Audit from './Audit.vue';
import Ops from './Ops.vue';
import CatalogList from './catalog/CatalogList.vue';
import CatalogItem from './catalog/CatalogItem.vue';
import CodeChanges from './catalog/CodeChanges.vue';
import GatewayLayout from './gateway/GatewayLayout.vue';
import ConnectorList from './gateway/ConnectorList.vue';
import ConnectorDetail from './gateway/ConnectorDetail.vue';
import FlowList from './gateway/FlowList.vue';
import FlowDetail from './gateway/FlowDetail.vue';
import FlowRuns from './gateway/FlowRuns.vue';
import OpenApis from './gateway/OpenApis.vue';
import Mocks from './gateway/Mocks.vue';
import CallLog from './gateway/CallLog.vue';
import JobList from './jobs/JobList.vue';
import VwinPoints from './vwin/Points.vue';
import VwinTerminals from './vwin/Terminals.vue';
import VwinMap from './vwin/MapSync.vue';

// The statistics page brings ECharts: loaded only when it is opened.
const CallStats = () => import('./gateway/CallStats.vue');

const routes = [
  { path: '/users', perm: 'user.manage', title: '用户与角色', icon: User, component: Users },
  { path: '/orgs', perm: 'org.manage', title: '机构', icon: OfficeBuilding, component: ComingSoon },
  {
    path: '/catalog',
    perm: 'catalog.edit',
    title: '事项目录',
    icon: Collection,
    component: RouterView,
    children: [
      { path: '', component: CatalogList },
      { path: ':code', component: CatalogItem, meta: { title: '事项详情' } },
    ],
  },
  { path: '/code-changes', perm: 'catalog.edit', title: '编码变更', icon: Switch, component: CodeChanges },
  {
    path: '/gateway',
    perm: 'gateway.read',
    title: '接口平台',
    icon: Connection,
    component: GatewayLayout,
    children: [
      { path: '', redirect: '/gateway/connectors' },
      { path: 'connectors', component: ConnectorList, meta: { title: '连接器' } },
      { path: 'connectors/:name', component: ConnectorDetail, meta: { title: '连接器' } },
      { path: 'flows', component: FlowList, meta: { title: '编排流程' } },
      { path: 'flow', component: FlowDetail, meta: { title: '编排流程' } },
      { path: 'flow-runs', component: FlowRuns, meta: { title: '流程运行记录' } },
      { path: 'open', component: OpenApis, meta: { title: '开放接口' } },
      { path: 'mocks', component: Mocks, meta: { title: '模拟数据' } },
      { path: 'calls', component: CallLog, meta: { title: '调用日志' } },
      { path: 'stats', component: CallStats, meta: { title: '调用统计' } },
    ],
  },
  { path: '/jobs', perm: 'sched.manage', title: '计划任务', icon: AlarmClock, component: JobList },
  { path: '/vwin/points', perm: 'vwin.manage', title: '延伸点', icon: Location, component: VwinPoints },
  { path: '/vwin/terminals', perm: 'vwin.manage', title: '终端', icon: Cellphone, component: VwinTerminals },
  { path: '/vwin/map', perm: 'vwin.manage', title: '地图对账', icon: MapLocation, component: VwinMap },
  { path: '/audit', perm: 'audit.read', title: '审计日志', icon: Document, component: Audit },
  { path: '/ops', perm: 'system.config', title: '运维监控', icon: DataLine, component: Ops },
];

export const router = createShellRouter('/admin/', routes);
export const menu = menuOf(routes);

// Each page names the permission it is for: the menu shows the pages the user may use, and
// the landing page is the first of them (an operator lands on 接口平台, an auditor on
// 审计日志), not a page that would only answer 403. The server still checks every call.
export function menuFor(can) {
  return routes.filter((r) => !r.perm || can(r.perm)).map(({ path, title, icon }) => ({ path, title, icon }));
}

export function guardLanding(can) {
  router.beforeEach((to, from) => {
    const page = routes.find((r) => to.path === r.path || to.path.startsWith(`${r.path}/`));
    if (!page || !page.perm || can(page.perm)) return true;
    // A page the user may not use, reached by default (first load or an unknown path):
    // go to the first one they may use.
    if (from.matched.length === 0 || to.path === routes[0].path) {
      const first = routes.find((r) => !r.perm || can(r.perm));
      if (first && first.path !== to.path) return first.path;
    }
    return true;
  });
}
