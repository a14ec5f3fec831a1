// Build step, after `vite build`: the API reference (TypeDoc, `npm run docs` at the root into
// docs/api; the root build makes it first) is served beside the playground, in dist/api/.
import { cpSync, existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../../../docs/api/', import.meta.url));
const target = fileURLToPath(new URL('../dist/api/', import.meta.url));
if (!existsSync(`${source}index.html`)) {
  console.error(`No API reference in ${source}: run \`npm run docs\` at the repository root first (\`npm run build\` there does it).`);
  process.exit(1);
}
rmSync(target, { recursive: true, force: true });
cpSync(source, target, { recursive: true });
