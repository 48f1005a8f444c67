// The signed-in user, shared by every entry through pinia.
import { defineStore } from 'pinia';
import { api, setCsrfToken, loginUrl } from './api.js';

export const useSessionStore = defineStore('session', {
  state: () => ({
    user: null,
    passwordExpired: false,
  }),
  getters: {
    displayName: (s) => s.user?.name || s.user?.username || '',
    roleNames: (s) => s.user?.role_names?.length ? s.user.role_names : s.user?.roles || [],
    scopeName: (s) => s.user?.scope?.name || '',
    can: (s) => (perm) => Boolean(s.user?.permissions?.includes(perm)),
  },
  actions: {
    accept(data) {
      this.user = data?.user || null;
      this.passwordExpired = Boolean(data?.password_expired);
      if (data?.csrf_token) setCsrfToken(data.csrf_token);
    },
    // GET /api/v1/auth/me; a 401 sends the browser to the login page.
    async load() {
      this.accept(await api.get('/api/v1/auth/me'));
      return this.user;
    },
    async login(username, password) {
      const data = await api.post('/api/v1/auth/login', { username, password }, { authRedirect: false });
      this.accept(data);
      return data;
    },
    async changePassword(oldPassword, newPassword) {
      const data = await api.post(
        '/api/v1/auth/password',
        { old_password: oldPassword, new_password: newPassword },
        { authRedirect: false },
      );
      this.passwordExpired = false;
      if (data?.csrf_token) setCsrfToken(data.csrf_token);
      return data;
    },
    // Ends the session server-side, then (unless redirect is false) leaves for the login
    // page, which brings the user back to the entry they left. A 401 means the session
    // was already gone.
    async logout({ redirect = true } = {}) {
      try {
        await api.post('/api/v1/auth/logout', {}, { authRedirect: false });
      } catch (err) {
        if (err.status !== 401) throw err;
      }
      this.user = null;
      setCsrfToken('');
      if (redirect) location.assign(loginUrl(location.pathname));
    },
  },
});
