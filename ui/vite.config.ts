// The web UI's build: `npm run build:ui` writes ui/dist, which `capstan server` serves.
// `npx vite ui` serves it in development, with /api proxied to a local `capstan server` (port 8080).
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Served with a strict CSP: no inline scripts, so the module preload helper stays in a file.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
  server: { proxy: { '/api': 'http://127.0.0.1:8080' } },
});
