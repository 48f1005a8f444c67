import { RouterView } from 'vue-router';
import { House, DocumentAdd, Search, Tickets, VideoCamera, ChatDotRound } from '@element-plus/icons-vue';
import { createShellRouter, menuOf } from '../shared/router.js';
import ComingSoon from '../shared/ComingSoon.vue';
import Workbench from './Workbench.vue';
import AcceptHome from './accept/AcceptHome.vue';
import ItemDetail from './accept/ItemDetail.vue';
import QueuePanel from './queue/QueuePanel.vue';

// The case pages are loaded on demand: the finder stays light.
const CaseWork = () => import('./accept/CaseWork.vue');
const Receipt = () => import('./cases/Receipt.vue');
const CaseList = () => import('./cases/CaseList.vue');
const CaseDetail = () => import('./cases/CaseDetail.vue');
const VideoPane = () => import('./vwin/VideoPane.vue');

const routes = [
  { path: '/', title: '工作台', icon: House, component: Workbench },
  {
    path: '/accept',
    title: '办件受理',
    icon: DocumentAdd,
    component: RouterView,
    children: [
      { path: '', component: AcceptHome },
      { path: 'case/:no', component: CaseWork, meta: { title: '受理办件' } },
      { path: 'case/:no/receipt', component: Receipt, meta: { title: '受理回执' } },
      { path: ':code', component: ItemDetail, meta: { title: '事项详情' } },
    ],
  },
  {
    path: '/cases',
    title: '办件查询',
    icon: Search,
    component: RouterView,
    children: [
      { path: '', component: CaseList },
      { path: ':no', component: CaseDetail, meta: { title: '办件详情' } },
      { path: ':no/receipt', component: Receipt, meta: { title: '回执' } },
    ],
  },
  { path: '/queue', title: '排队叫号', icon: Tickets, component: QueuePanel },
  { path: '/vwin', title: '远程虚拟窗口', icon: VideoCamera, component: VideoPane },
  { path: '/messages', title: '消息', icon: ChatDotRound, component: ComingSoon },
];

export const router = createShellRouter('/console/', routes);
export const menu = menuOf(routes);
