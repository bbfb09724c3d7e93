// Sanad console: show every <time datetime> in the reader's language and local time zone
// (the server writes UTC; the browser's Intl knows the zone), and keep a page that follows
// a running job (an element with `data-poll`, milliseconds) up to date without reloading
// it. Every page works without this script: a job page has a Refresh link.
(() => {
  const lang = document.documentElement.lang === 'en' ? 'en-GB' : 'ar';
  const full = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' });
  const localTimes = (root) => {
    for (const el of root.querySelectorAll('time[datetime]')) {
      const d = new Date(el.getAttribute('datetime'));
      if (!Number.isNaN(d.getTime())) {
        el.title = el.textContent;
        el.textContent = full.format(d);
      }
    }
  };
  localTimes(document);

  const live = document.querySelector('[data-poll][id]');
  if (!live) return;
  const every = Math.max(1000, Number(live.dataset.poll) || 2000);
  let last = '';
  // The same parts (by id) are updated in place, so the status line (role=status) stays
  // the same element and a screen reader announces only its change; a page whose parts
  // changed (the job ended) is put in whole.
  const swap = (next) => {
    const ids = (el) => [...el.children].map((c) => c.id).join(' ');
    const same = ids(live) === ids(next) && [...next.children].every((c) => c.id);
    if (!same) {
      live.replaceChildren(...next.childNodes);
    } else {
      [...next.children].forEach((c, i) => {
        const old = live.children[i];
        if (old.getAttribute('role') === 'status') {
          if (old.textContent !== c.textContent) old.replaceChildren(...c.childNodes);
        } else {
          old.replaceChildren(...c.childNodes);
        }
      });
    }
    localTimes(live);
  };
  const tick = async () => {
    let doc;
    try {
      const res = await fetch(location.href, { credentials: 'same-origin', headers: { accept: 'text/html' } });
      if (!res.ok) return; // stop; the Refresh link still works
      doc = new DOMParser().parseFromString(await res.text(), 'text/html');
    } catch {
      setTimeout(tick, every * 2);
      return;
    }
    const next = doc.getElementById(live.id);
    if (!next) return; // signed out meanwhile: the sign-in page came back
    if (next.innerHTML !== last) {
      last = next.innerHTML;
      swap(next);
    }
    if (next.hasAttribute('data-poll')) {
      setTimeout(tick, every);
    } else {
      live.removeAttribute('data-poll');
    }
  };
  setTimeout(tick, every);
})();
