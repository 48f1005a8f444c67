// The kiosk / PAD entry (docs/ui.md "Terminal"). Not startEntry(): a terminal has no user
// login — it opens a device session with its enrolled secret (store.js boot()).
import { createApp } from 'vue';
import { Loading, Tag } from 'vant';
// Styles of the Vant components used here only, instead of the full 200 kB sheet.
import 'vant/es/loading/style/index.mjs';
import 'vant/es/tag/style/index.mjs';
import '../shared/base.css';
import './kiosk.css';
import App from './App.vue';
import { boot } from './store.js';

const app = createApp(App);
app.use(Loading).use(Tag);
app.mount('#app');
boot();
