import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const appRoot = fileURLToPath(new URL('.', import.meta.url));

// Run from the repo root: `npx vite build --config app/vite.config.ts`; paths resolve against app/.
export default defineConfig({
  root: appRoot,
  envDir: appRoot,
  envPrefix: ['MEDPLUM_', 'BASELINE_'],
  plugins: [react()],
  server: { host: '127.0.0.1', port: 3000, strictPort: true },
  preview: { host: '127.0.0.1', port: 3000, strictPort: true },
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    sourcemap: true,
    rollupOptions: {
      output: {
        // Vendor code changes far less often than the app; separate chunks keep browser caches useful.
        manualChunks(id: string): string | undefined {
          if (id.includes('/node_modules/@medplum/')) {
            return 'medplum';
          }
          if (id.includes('/node_modules/@mantine/')) {
            return 'mantine';
          }
          if (id.includes('/node_modules/')) {
            return 'vendor';
          }
          return undefined;
        },
      },
    },
  },
});
