import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Plugin, defineConfig } from 'vite';

/**
 * What makes the page cross-origin isolated, so the WASM engine can run threads (SharedArrayBuffer):
 * sent by the dev and preview servers, added by the service worker on hosts that send nothing.
 */
const ISOLATION_HEADERS = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

/**
 * Emits sw.js with the list of the build's own files (the model is cached by the page, not here) and
 * the isolation headers it adds to navigations.
 */
function serviceWorker(): Plugin {
  return {
    name: 'adakv-playground-service-worker',
    apply: 'build',
    enforce: 'post',
    generateBundle(_options, bundle) {
      const files = ['./', ...Object.keys(bundle).filter((name) => !name.endsWith('.map') && name !== 'index.html').sort()];
      const page = bundle['index.html'];
      const pageSource = page?.type === 'asset' ? String(page.source) : '';
      const version = createHash('sha256').update(files.join('\n')).update(pageSource).digest('hex').slice(0, 16);
      const template = readFileSync(new URL('service-worker/sw.js', import.meta.url), 'utf8');
      const source = template
        .replace("'__VERSION__'", JSON.stringify(version))
        .replace('__FILES__', JSON.stringify(files))
        .replace('__HEADERS__', JSON.stringify(ISOLATION_HEADERS));
      this.emitFile({ type: 'asset', fileName: 'sw.js', source });
    },
  };
}

export default defineConfig({
  // A relative base makes the build servable from any path of any static host.
  base: './',
  plugins: [serviceWorker()],
  server: { headers: ISOLATION_HEADERS },
  preview: { headers: ISOLATION_HEADERS },
  build: {
    rolldownOptions: {
      treeshake: {
        // @huggingface/gguf (core's GGUF header parser) imports a few enums and regexes from
        // @huggingface/tasks, whose index also builds large tables at load time; declaring the package
        // free of side effects lets the bundler keep only what is used (about 215 KiB less JavaScript).
        moduleSideEffects: [{ test: /[\\/]node_modules[\\/]@huggingface[\\/]tasks[\\/]/, sideEffects: false }],
      },
    },
  },
});
