// The live record page: when the address carries the QR's signed token after `#` (it never
// reaches the server), offer to check the signature in the verifier app, which reads
// `#qr=<the scanned text>` on load and checks it on the device.
(() => {
  const frag = location.hash.slice(1);
  if (!/^[0-9]{20,}$/.test(frag) && !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(frag)) return;
  const box = document.getElementById('check-signature');
  const link = document.getElementById('check-signature-link');
  if (!box || !link) return;
  link.href = `/verifier/#qr=${encodeURIComponent(location.href)}`;
  box.hidden = false;
})();
