// Per-language string tables (i18n/{ar,en}.json). Arabic is the default and is RTL.

const DIR = { ar: 'rtl', en: 'ltr' };
const tables = {};
let lang = 'ar';

export async function load(l) {
  if (!tables[l]) {
    const res = await fetch(new URL(`../i18n/${l}.json`, import.meta.url));
    tables[l] = await res.json();
  }
  lang = l;
  document.documentElement.lang = l;
  document.documentElement.dir = DIR[l];
  try {
    localStorage.setItem('sanad-lang', l);
  } catch {
    // private mode: the choice just does not persist
  }
}

export function initial() {
  const q = new URLSearchParams(location.search).get('lang');
  if (q && DIR[q]) return q;
  try {
    const saved = localStorage.getItem('sanad-lang');
    if (saved && DIR[saved]) return saved;
  } catch {
    // ignore
  }
  return 'ar';
}

export const current = () => lang;

export function t(key, vars = {}) {
  const s = tables[lang]?.[key] ?? tables.en?.[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

t.has = (key) => key in (tables[lang] ?? {});

export function fmtTime(ms) {
  if (ms === null || ms === undefined || ms === '') return '';
  const d = typeof ms === 'string' ? new Date(ms) : new Date(Number(ms));
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat(lang === 'ar' ? 'ar-u-nu-latn' : 'en-GB', {
    dateStyle: 'medium', timeStyle: 'short',
  }).format(d);
}

export function fmtDate(v) {
  const d = typeof v === 'number' ? new Date(v * 1000) : new Date(v);
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat(lang === 'ar' ? 'ar-u-nu-latn' : 'en-GB', { dateStyle: 'long' }).format(d);
}
