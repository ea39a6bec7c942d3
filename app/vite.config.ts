import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const appRoot = fileURLToPath(new URL('.', import.meta.url));

/**
 * Vendor code changes far less often than the app, so it goes into chunks of its own that browsers keep cached
 * across app releases — split by library family so that none exceeds Vite's 500 kB warning limit (one `vendor`
 * chunk was 818 kB). Every family's dependencies stay in the family or below it (react is the floor), so the
 * chunks import each other in one direction only.
 */
const VENDOR_CHUNKS: readonly (readonly [chunk: string, packages: RegExp])[] = [
  ['medplum', /^@medplum\//],
  [
    'charts',
    /^(recharts(-scale)?|@mantine\/charts|d3-.+|internmap|victory-vendor|lodash|react-smooth|decimal\.js-light|fast-equals|eventemitter3|tiny-invariant)$/,
  ],
  [
    'mantine',
    /^(@mantine\/.+|@floating-ui\/.+|react-remove-scroll(-bar)?|react-style-singleton|use-sidecar|use-callback-ref|get-nonce|detect-node-es|tslib|react-number-format|react-textarea-autosize|react-transition-group|dom-helpers|clsx)$/,
  ],
  ['react', /^(react|react-dom|scheduler|react-router|cookie|set-cookie-parser|react-is)$/],
];

/** The package a module path belongs to (the innermost node_modules entry), or undefined for app code. */
function packageOf(id: string): string | undefined {
  const rest = id.split('/node_modules/').at(-1);
  if (rest === undefined || rest === id) {
    return undefined;
  }
  const [scope, name] = rest.split('/');
  return scope?.startsWith('@') ? `${scope}/${name ?? ''}` : scope;
}

function vendorChunk(id: string): string | undefined {
  const pkg = packageOf(id);
  if (pkg === undefined) {
    return undefined;
  }
  return VENDOR_CHUNKS.find(([, packages]) => packages.test(pkg))?.[0] ?? 'vendor';
}

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
        manualChunks: vendorChunk,
      },
    },
  },
});
