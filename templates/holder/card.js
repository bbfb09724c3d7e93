// The beneficiary's card: register the card's own service worker (offline copy), show when
// this copy was made, say when offline, and keep the screen on while the code is shown
// (Screen Wake Lock, where the browser has it).
(() => {
  const card = document.getElementById('card');
  const at = Number(card?.dataset.renderedAt || 0);
  const out = document.getElementById('refreshed');
  const outEn = document.getElementById('refreshed-en');
  if (out && at) {
    const d = new Date(at * 1000);
    const style = { dateStyle: 'medium', timeStyle: 'short' };
    out.textContent = d.toLocaleString('ar', style);
    if (outEn) outEn.textContent = d.toLocaleString('en-GB', style);
    out.dataset.at = String(at);
  }
  const offline = document.getElementById('offline');
  const showOnline = () => { if (offline) offline.hidden = navigator.onLine; };
  addEventListener('online', showOnline);
  addEventListener('offline', showOnline);
  showOnline();

  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('sw.js', { scope: './' }).catch(() => {});
  }

  let lock = null;
  async function keepAwake() {
    if (!('wakeLock' in navigator) || document.visibilityState !== 'visible') return;
    try {
      lock = await navigator.wakeLock.request('screen');
      const note = document.getElementById('awake');
      if (note) note.hidden = false;
      lock.addEventListener('release', () => { lock = null; });
    } catch {
      // Not allowed here (battery saver, no user gesture yet): the brightness hint remains.
    }
  }
  document.addEventListener('visibilitychange', () => { if (!lock) keepAwake(); });
  keepAwake();
})();
