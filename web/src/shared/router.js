// Router of an Element Plus shell entry: history under the entry's base path, page
// titles from route meta, and the side menu derived from the same route list.
import { createRouter, createWebHistory } from 'vue-router';
import { SYSTEM_NAME } from './names.js';

/**
 * routes: [{ path, title, icon, component, children? }]; the first one is the home page,
 * and unknown paths go back to it. `children` are vue-router child routes (pages under a
 * menu item, e.g. an item's detail page): the parent's menu entry stays highlighted.
 */
export function createShellRouter(base, routes) {
  const router = createRouter({
    history: createWebHistory(base),
    routes: [
      ...routes.map((r) => ({
        path: r.path,
        component: r.component,
        meta: { title: r.title },
        ...(r.children ? { children: r.children } : {}),
      })),
      { path: '/:rest(.*)*', redirect: routes[0].path },
    ],
  });
  router.afterEach((to) => {
    document.title = to.meta.title ? `${to.meta.title} - ${SYSTEM_NAME}` : SYSTEM_NAME;
  });
  return router;
}

export function menuOf(routes) {
  return routes.map(({ path, title, icon }) => ({ path, title, icon }));
}
