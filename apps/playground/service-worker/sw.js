// The playground's service worker: keeps the page's own files (HTML, JS, CSS, allocator.wasm) so the
// site opens without network after one visit. The build fills in the file list and a version derived
// from it; a new build installs a new cache and drops the old one. Model files are not handled here:
// the page keeps them in Cache Storage itself, keyed by sha256 (src/model-cache.ts).
const VERSION = '__VERSION__';
const FILES = __FILES__;
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

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  if (request.mode === 'navigate') {
    // The network first, so a new deployment shows at once; the kept page when offline.
    event.respondWith(fetch(request).catch(() => caches.open(CACHE).then((cache) => cache.match(INDEX)).then((kept) => kept ?? Response.error())));
    return;
  }
  const url = new URL(request.url);
  url.search = '';
  if (FILES.some((file) => scoped(file) === url.href)) {
    // Hashed file names never change content: the kept copy first.
    event.respondWith(caches.open(CACHE).then((cache) => cache.match(url.href)).then((kept) => kept ?? fetch(request)));
  }
});
