// Service worker: keeps the app shell so the verifier opens and works offline. Only the
// app's own files are handled here; keys, status lists and records are cached by the app in
// IndexedDB with their fetch time (a stale status must be labelled, never silently served).

const CACHE = 'sanad-verifier-v1';
const SHELL = [
  './', 'index.html', 'app.css', 'icon.svg', 'manifest.webmanifest',
  'js/main.js', 'js/codec.js', 'js/store.js', 'js/trust.js', 'js/verify.js', 'js/scanner.js', 'js/i18n.js',
  'i18n/ar.json', 'i18n/en.json',
];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  const scope = new URL(self.registration.scope);
  if (event.request.method !== 'GET' || url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  // Stale-while-revalidate: answer from the cache at once, refresh it in the background.
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const cached = await cache.match(event.request, { ignoreSearch: true });
    const fresh = fetch(event.request).then((res) => {
      if (res.ok) cache.put(event.request, res.clone());
      return res;
    });
    if (cached) {
      event.waitUntil(fresh.catch(() => {}));
      return cached;
    }
    return fresh;
  })());
});
