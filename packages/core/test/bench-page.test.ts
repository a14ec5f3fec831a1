import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// The browser bench's page resolves bare specifiers through its import map: a runtime dependency of
// core missing there stops the page before any engine runs (as @huggingface/jinja once did).
describe('the browser bench page', () => {
  it('maps every runtime dependency of core in its import map, each served from /pkg/', () => {
    const html = readFileSync(new URL('../bench/browser-vs-wllama.html', import.meta.url), 'utf8');
    const imports = JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(html)![1]!).imports as Record<string, string>;
    const { dependencies } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    const server = readFileSync(new URL('../bench/browser-vs-wllama.mjs', import.meta.url), 'utf8');
    for (const name of Object.keys(dependencies)) {
      expect(imports[name], name).toMatch(new RegExp(`^/pkg/${name}/`));
      expect(server, name).toContain(`'${name}'`);
    }
  });
});
