import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

// Each entry lives in <entry>/index.html and is built to dist/<entry>/index.html.
const ENTRIES = ['login', 'console', 'admin', 'terminal', 'stats', 'exam'];

// The API server the dev and preview servers forward to.
const API = process.env.SHOULI_API || 'http://127.0.0.1:8080';

// Mirror the C server's routing in dev/preview: "/" goes to the console, and any
// extension-less path under an entry falls back to that entry's index.html.
function entryFallback() {
  const middleware = (req, res, next) => {
    const [path, query = ''] = req.url.split('?');
    if (path === '/') {
      res.statusCode = 302;
      res.setHeader('Location', '/console/');
      res.end();
      return;
    }
    const m = /^\/([a-z]+)(\/.*)?$/.exec(path);
    if (!m || !ENTRIES.includes(m[1])) return next();
    if (m[2] === undefined) {
      res.statusCode = 301;
      res.setHeader('Location', `/${m[1]}/${query ? `?${query}` : ''}`);
      res.end();
      return;
    }
    if (!/\.[a-z0-9]+$/i.test(m[2])) req.url = `/${m[1]}/index.html${query ? `?${query}` : ''}`;
    next();
  };
  return {
    name: 'shouli-entry-fallback',
    configureServer(server) {
      server.middlewares.use(middleware);
    },
    configurePreviewServer(server) {
      server.middlewares.use(middleware);
    },
  };
}

// Named chunks (vendors, then shared code), each loaded only by the entries that use it.
const CHUNK_GROUPS = [
  { name: 'vue', test: /node_modules[\\/](@vue|vue|vue-router|pinia)[\\/]/ },
  { name: 'echarts', test: /node_modules[\\/](echarts|zrender|tslib)[\\/]/ },
  { name: 'vant', test: /node_modules[\\/](vant|@vant)[\\/]/ },
  { name: 'element-plus', test: /node_modules[\\/]/ },
  // UI-library-free shared code (API client, session), also used by the Vant terminal.
  { name: 'shared', test: /[\\/]src[\\/]shared[\\/](api|session|boot|names|format|useFetch)\.js$|plugin-vue:export-helper/ },
];

const proxy = {
  '/api': { target: API, changeOrigin: false },
  '/healthz': { target: API, changeOrigin: false },
};

export default defineConfig({
  base: '/',
  appType: 'mpa',
  plugins: [vue(), entryFallback()],
  server: { proxy },
  preview: { proxy },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    rolldownOptions: {
      input: Object.fromEntries(
        ENTRIES.map((e) => [e, fileURLToPath(new URL(`./${e}/index.html`, import.meta.url))]),
      ),
      output: {
        codeSplitting: {
          groups: CHUNK_GROUPS.map((g, i) => ({ ...g, priority: CHUNK_GROUPS.length - i })),
        },
      },
    },
  },
});
