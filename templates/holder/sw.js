// Service worker of one beneficiary's card (its scope is that card's /h/{secret}/ only).
// Network first: every fresh copy replaces the saved one; offline, the saved copy is shown
// (the page says when it was made). When the server answers 404 for the card page the link was revoked or
// replaced: the saved copy is deleted so the phone no longer shows it.
const CACHE = `sanad-card:${self.registration.scope}`;
const FILES = ['./', 'photo.jpg', 'qr.svg', 'card.js', 'manifest.webmanifest'];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await Promise.all(FILES.map(async (f) => {
      const res = await fetch(f, { cache: 'no-store' }).catch(() => null);
      if (res && res.ok) await cache.put(f, res);
    }));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET' || !req.url.startsWith(self.registration.scope)) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const res = await fetch(req, { cache: 'no-store' });
      if (res.ok) {
        await cache.put(req, res.clone());
      } else if (res.status === 404 && (req.mode === 'navigate' || req.url === self.registration.scope)) {
        await caches.delete(CACHE);
      }
      return res;
    } catch (e) {
      const saved = await cache.match(req, { ignoreSearch: true });
      if (saved) return saved;
      throw e;
    }
  })());
});
