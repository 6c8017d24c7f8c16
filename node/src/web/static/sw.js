// siso — service worker of the operators' phone app (scope /app/).
// Caches the app shell only (no personal data: the shell is filled in by app.js from the API),
// so the app opens without network. API calls are never cached.
'use strict';

const CACHE = 'siso-shell-v1';
const SHELL = ['/app/', '/app/app.js', '/static/siso.css', '/app/icon.svg', '/app/manifest.webmanifest'];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  const path = url.pathname === '/app' ? '/app/' : url.pathname;
  if (!SHELL.includes(path)) return; // the API and everything else: straight to the network
  // Network first (a new release), the cached shell when there is no network.
  event.respondWith(
    fetch(event.request)
      .then((r) => {
        if (r.ok) {
          const copy = r.clone();
          caches.open(CACHE).then((c) => c.put(path, copy));
        }
        return r;
      })
      .catch(() => caches.match(path).then((r) => r || Response.error())),
  );
});
