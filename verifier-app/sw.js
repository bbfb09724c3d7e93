// Service worker: keeps the app shell so the verifier opens and works offline. Only the
// app's own files are handled here; keys, status lists and records are cached by the app in
// IndexedDB with their fetch time (a stale status must be labelled, never silently served).

const CACHE = 'sanad-verifier-v3';
const SHELL = [
  './', 'index.html', 'app.css', 'icon.svg', 'manifest.webmanifest',
  'js/main.js', 'js/codec.js', 'js/store.js', 'js/trust.js', 'js/verify.js', 'js/scanner.js', 'js/i18n.js', 'js/statuslist.js',
  'i18n/ar.json', 'i18n/en.json', 'config.json', 'vendor/jsQR.js',
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

// Network first, so an online officer always runs the current app; the cache answers when the
// network fails or is slower than SLOW_MS (a poor connection should not stall a check).
const SLOW_MS = 3000;

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  const scope = new URL(self.registration.scope);
  if (event.request.method !== 'GET' || url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  const key = url.origin + url.pathname; // ?lang=… is read by the page, not the server
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const net = fetch(event.request).then((res) => {
      if (res.ok) event.waitUntil(cache.put(key, res.clone()));
      return res;
    });
    try {
      return await Promise.race([net, new Promise((_, reject) => setTimeout(() => reject(new Error('slow')), SLOW_MS))]);
    } catch {
      const cached = await cache.match(key);
      return cached ?? net;
    }
  })());
});
