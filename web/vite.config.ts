import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

// The build goes straight into the Go package that embeds it
// (internal/console/assets, go:embed dist). Commit the result.
const outDir = fileURLToPath(new URL('../internal/console/assets/dist', import.meta.url));

// `npm run dev` proxies the API to a running flowlens (or `npm run mock`).
const api = process.env.FLOWLENS_URL || 'http://127.0.0.1:8080';

export default defineConfig({
  // Relative asset URLs: the console also works behind a reverse proxy under a path prefix.
  base: './',
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2020',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    chunkSizeWarningLimit: 1200,
  },
  server: {
    host: '127.0.0.1',
    proxy: { '/api': { target: api, changeOrigin: true } },
  },
  preview: { host: '127.0.0.1' },
});
