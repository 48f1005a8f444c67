import { Button, Icon, Tag } from 'vant';
// Styles of the Vant components used here only, instead of the full 200 kB sheet.
import 'vant/es/button/style/index.mjs';
import 'vant/es/icon/style/index.mjs';
import 'vant/es/tag/style/index.mjs';
import 'vant/es/toast/style/index.mjs';
import '../shared/base.css';
import { startEntry } from '../shared/boot.js';
import App from './App.vue';

startEntry(App, (app) => {
  app.use(Button).use(Icon).use(Tag);
});
