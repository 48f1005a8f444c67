import { RouterView } from 'vue-router';
import { User, OfficeBuilding, Collection, Switch, Connection, Monitor, Document, DataLine, AlarmClock } from '@element-plus/icons-vue';
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

// The statistics page brings ECharts: loaded only when it is opened.
const CallStats = () => import('./gateway/CallStats.vue');

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
  {
    path: '/gateway',
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
  { path: '/jobs', title: '计划任务', icon: AlarmClock, component: JobList },
  { path: '/devices', title: '设备', icon: Monitor, component: ComingSoon },
  { path: '/audit', title: '审计日志', icon: Document, component: Audit },
  { path: '/ops', title: '运维监控', icon: DataLine, component: Ops },
];

export const router = createShellRouter('/admin/', routes);
export const menu = menuOf(routes);
