import { RouterView } from 'vue-router';
import { House, DocumentAdd, Search, Tickets, VideoCamera, ChatDotRound } from '@element-plus/icons-vue';
import { createShellRouter, menuOf } from '../shared/router.js';
import ComingSoon from '../shared/ComingSoon.vue';
import Workbench from './Workbench.vue';
import ItemFinder from './accept/ItemFinder.vue';
import ItemDetail from './accept/ItemDetail.vue';

const routes = [
  { path: '/', title: '工作台', icon: House, component: Workbench },
  {
    path: '/accept',
    title: '办件受理',
    icon: DocumentAdd,
    component: RouterView,
    children: [
      { path: '', component: ItemFinder },
      { path: ':code', component: ItemDetail, meta: { title: '事项详情' } },
    ],
  },
  { path: '/cases', title: '办件查询', icon: Search, component: ComingSoon },
  { path: '/queue', title: '排队叫号', icon: Tickets, component: ComingSoon },
  { path: '/vwin', title: '远程虚拟窗口', icon: VideoCamera, component: ComingSoon },
  { path: '/messages', title: '消息', icon: ChatDotRound, component: ComingSoon },
];

export const router = createShellRouter('/console/', routes);
export const menu = menuOf(routes);
