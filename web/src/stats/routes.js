import { DataAnalysis } from '@element-plus/icons-vue';
import { createShellRouter, menuOf } from '../shared/router.js';
import Overview from './Overview.vue';

const routes = [{ path: '/', title: '数据总览', icon: DataAnalysis, component: Overview }];

export const router = createShellRouter('/stats/', routes);
export const menu = menuOf(routes);
