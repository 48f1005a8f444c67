import { startEntry } from '../shared/boot.js';
import { useElement } from '../shared/element.js';
import App from './App.vue';
import { router } from './routes.js';

startEntry(App, (app) => {
  useElement(app);
  app.use(router);
});
