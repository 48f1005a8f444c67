// Starts an entry that needs a signed-in user: loads the session first, then mounts.
import { createApp } from 'vue';
import { createPinia } from 'pinia';
import { useSessionStore } from './session.js';

function showFatal(el, message) {
  el.innerHTML = '';
  const box = document.createElement('div');
  box.className = 'shouli-fatal';
  const p = document.createElement('p');
  p.textContent = message;
  const btn = document.createElement('button');
  btn.type = 'button';
  btn.textContent = '重新加载';
  btn.addEventListener('click', () => location.reload());
  box.append(p, btn);
  el.append(box);
}

/**
 * Creates the Vue app of an entry, checks the session with GET /api/v1/auth/me and
 * mounts on #app. `setup(app)` installs the entry's plugins (router, UI library).
 * On 401 the API client has already sent the browser to the login page.
 */
export async function startEntry(App, setup) {
  const el = document.getElementById('app');
  const app = createApp(App);
  const pinia = createPinia();
  app.use(pinia);
  try {
    await useSessionStore(pinia).load();
  } catch (err) {
    if (err.status !== 401) showFatal(el, `无法获取登录信息：${err.message}`);
    return null;
  }
  if (setup) setup(app);
  app.mount(el);
  return app;
}
