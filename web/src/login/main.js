import { createApp } from 'vue';
import { createPinia } from 'pinia';
import { useElement } from '../shared/element.js';
import App from './App.vue';

const app = createApp(App);
app.use(createPinia());
useElement(app);
app.mount('#app');
