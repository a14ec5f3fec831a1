// The playground's service worker: keeps the page's own files (HTML, JS, CSS, allocator.wasm) so the
// site opens without network after one visit, and serves every page it controls cross-origin isolated
// (COOP/COEP added to navigations, as coi-serviceworker does) so WebAssembly threads work on static hosts
// that cannot set headers (src/isolation.ts registers it and reloads once on a first visit). The build
// fills in the file list, the headers and a version derived from them; a new build installs a new cache
// and drops the old one. Model files are not handled here: the page keeps them in Cache Storage itself,
// keyed by sha256 (src/model-cache.ts).
const VERSION = '__VERSION__';
const FILES = __FILES__;
const ISOLATION_HEADERS = __HEADERS__;
const CACHE = `adakv-playground-${VERSION}`;
const scoped = (file) => new URL(file, self.registration.scope).href;
const INDEX = scoped('./');

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(FILES.map(scoped)))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name.startsWith('adakv-playground-') && name !== CACHE).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

/** The same response with COOP/COEP set (a redirect or an opaque response passes as it is). */
function isolated(response) {
  if (response.type === 'opaqueredirect' || response.status === 0) return response;
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(ISOLATION_HEADERS)) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  if (request.mode === 'navigate') {
    // The network first, so a new deployment shows at once; the kept page when offline. Either way
    // cross-origin isolated. Only documents need the headers: everything the page loads is same-origin
    // (or CORS, as a ?model= folder elsewhere must be), and the engine's workers are blob: URLs, which
    // inherit the page's policy.
    event.respondWith(
      fetch(request)
        .then(isolated)
        .catch(() => caches.open(CACHE).then((cache) => cache.match(INDEX)).then((kept) => (kept ? isolated(kept) : Response.error()))),
    );
    return;
  }
  const url = new URL(request.url);
  url.search = '';
  if (FILES.some((file) => scoped(file) === url.href)) {
    // Hashed file names never change content: the kept copy first.
    event.respondWith(caches.open(CACHE).then((cache) => cache.match(url.href)).then((kept) => kept ?? fetch(request)));
  }
});
