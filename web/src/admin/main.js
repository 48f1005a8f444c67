import { startEntry } from '../shared/boot.js';
import { useElement } from '../shared/element.js';
import App from './App.vue';
import { router, guardLanding } from './routes.js';
import { useSessionStore } from '../shared/session.js';

startEntry(App, (app) => {
  useElement(app);
  const session = useSessionStore();
  guardLanding((perm) => session.can(perm));
  app.use(router);
});
