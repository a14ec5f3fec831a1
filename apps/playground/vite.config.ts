import { defineConfig } from 'vite';

export default defineConfig({
  // A relative base makes the build servable from any path of any static host.
  base: './',
  build: {
    rolldownOptions: {
      treeshake: {
        // @huggingface/gguf (core's GGUF header parser) imports a few enums and regexes from
        // @huggingface/tasks, whose index also builds large tables at load time; declaring the package
        // free of side effects lets the bundler keep only what is used (about 200 KiB less JavaScript).
        moduleSideEffects: [{ test: /[\\/]node_modules[\\/]@huggingface[\\/]tasks[\\/]/, sideEffects: false }],
      },
    },
  },
});
