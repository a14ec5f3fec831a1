import { defineConfig } from 'vite';

// A relative base makes the build servable from any path of any static host.
export default defineConfig({ base: './' });
