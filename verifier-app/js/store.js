// A small key-value store and a queue in IndexedDB: the trust list, the JWKS, status lists and
// last-seen live records (each with the time it was fetched), and scans made offline.

const DB = 'sanad-verifier';
let dbp = null;

function open() {
  dbp ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => {
      req.result.createObjectStore('kv');
      req.result.createObjectStore('queue', { autoIncrement: true });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  return dbp;
}

async function tx(store, mode, fn) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const t = db.transaction(store, mode);
    const r = fn(t.objectStore(store));
    t.oncomplete = () => resolve(r && 'result' in r ? r.result : undefined);
    t.onerror = () => reject(t.error);
  });
}

export const get = (key) => tx('kv', 'readonly', (s) => s.get(key));
export const put = (key, value) => tx('kv', 'readwrite', (s) => s.put(value, key));
export const keys = () => tx('kv', 'readonly', (s) => s.getAllKeys());

export const enqueue = (item) => tx('queue', 'readwrite', (s) => s.add(item));
export const queued = () => tx('queue', 'readonly', (s) => s.getAll());
export const clearQueue = () => tx('queue', 'readwrite', (s) => s.clear());
