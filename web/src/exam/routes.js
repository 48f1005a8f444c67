import { Reading } from '@element-plus/icons-vue';
import { createShellRouter, menuOf } from '../shared/router.js';
import ComingSoon from '../shared/ComingSoon.vue';

const routes = [{ path: '/', title: '考试首页', icon: Reading, component: ComingSoon }];

export const router = createShellRouter('/exam/', routes);
export const menu = menuOf(routes);
