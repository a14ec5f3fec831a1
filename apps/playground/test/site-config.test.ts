import { describe, expect, it } from 'vitest';
import { contentKey } from '../src/model-cache.js';
import { siteConfig } from '../src/site-config.js';

const page = 'https://example.org/tools/playground/';

describe('site configuration', () => {
  it('finds the model next to the page and the bundled wasm by default', () => {
    const config = siteConfig('', page);
    expect(config.modelBase.href).toBe('https://example.org/tools/playground/models/stories15M/');
    expect(config.wasm).toBeUndefined();
  });

  it('takes ?model= as a folder (relative or absolute) and ?wasm= as a file', () => {
    expect(siteConfig('?model=../shared/m', page).modelBase.href).toBe('https://example.org/tools/shared/m/');
    expect(siteConfig('?model=https://cdn.example.com/m/', page).modelBase.href).toBe('https://cdn.example.com/m/');
    expect(siteConfig('?wasm=/static/allocator.wasm', page).wasm?.href).toBe('https://example.org/static/allocator.wasm');
  });
});

describe('model cache keys', () => {
  it('carry the content hash, so a changed file never matches a kept one', () => {
    const url = new URL('https://example.org/m/model.bin?v=2');
    expect(contentKey(url, 'ab12')).toBe('https://example.org/m/model.bin?v=2&sha256=ab12');
    expect(contentKey(url, 'ab12')).not.toBe(contentKey(url, 'cd34'));
    expect(url.search).toBe('?v=2'); // the caller's URL is left alone
  });
});
