// Sanad console: show every <time datetime> in the reader's language and local time zone
// (the server writes UTC; the browser's Intl knows the zone). Nothing else runs here.
(() => {
  const lang = document.documentElement.lang === 'en' ? 'en-GB' : 'ar';
  const full = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' });
  for (const el of document.querySelectorAll('time[datetime]')) {
    const d = new Date(el.getAttribute('datetime'));
    if (!Number.isNaN(d.getTime())) {
      el.title = el.textContent;
      el.textContent = full.format(d);
    }
  }
})();
