/** Where the page finds its files, overridable by query parameters so the site can be hosted anywhere. */
export interface SiteConfig {
  /** Folder holding `manifest.json`, `model.bin` and `tokenizer.bin` (`?model=`; default `models/stories15M/` next to the page). */
  readonly modelBase: URL;
  /** allocator.wasm (`?wasm=`); undefined: the file bundled with the page. */
  readonly wasm: URL | undefined;
}

/** Reads `?model=` and `?wasm=` relative to the page; a folder URL gets its trailing slash. */
export function siteConfig(search: string, baseUri: string): SiteConfig {
  const params = new URLSearchParams(search);
  const model = params.get('model');
  const wasm = params.get('wasm');
  return {
    modelBase: new URL(model ? (model.endsWith('/') ? model : `${model}/`) : 'models/stories15M/', baseUri),
    wasm: wasm ? new URL(wasm, baseUri) : undefined,
  };
}
