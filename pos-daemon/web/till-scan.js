// Barcodes: typed by a keyboard-wedge scanner into the page, or read by posd's serial scanners
// and pushed on its event stream; and the till's keys.
'use strict';

async function scan(code) {
  let r;
  try {
    r = await api('GET', `/v1/products/by-barcode/${encodeURIComponent(code)}`);
  } catch (_) {
    return;
  }
  if (r.status === 200) {
    alertBar('');
    addScanned(r.data);
  } else if (r.data && r.data.error && r.data.error.code === 'bad_barcode') {
    alertBar(t('scan.bad', { code }));
  } else {
    alertBar(t('scan.unknown', { code }));
  }
}

let scanBuffer = '';
let scanLast = 0;

function onKey(e) {
  if (!$('signin').hidden && !$('pin-panel').hidden) {
    if (/^\d$/.test(e.key) || ['Backspace', 'Enter', 'Escape'].includes(e.key)) {
      e.preventDefault();
      pinKey(e.key);
    }
    return;
  }
  if ($('till').hidden) return;
  if (!$('entry-modal').hidden) {
    if (e.key === 'Enter') { e.preventDefault(); finishEntry(true); }
    if (e.key === 'Escape') { e.preventDefault(); finishEntry(false); }
    return;
  }
  if (!$('held-modal').hidden) {
    if (e.key === 'Escape') $('held-modal').hidden = true;
    return;
  }
  if (!$('manager-modal').hidden) {
    if (/^\d$/.test(e.key) || ['Backspace', 'Enter', 'Escape'].includes(e.key)) {
      e.preventDefault();
      managerKey(e.key);
    }
    return;
  }
  if (!$('refund-modal').hidden) {
    if (e.key === 'Enter' && e.target.id === 'refund-find') { e.preventDefault(); findOriginal(); }
    if (e.key === 'Escape') $('refund-modal').hidden = true;
    return;
  }
  if (!$('reports-modal').hidden) {
    if (e.key === 'Escape') $('reports-modal').hidden = true;
    return;
  }
  const inField = e.target instanceof HTMLInputElement;
  if (!$('weight-modal').hidden) {
    if (e.key === 'Enter') { e.preventDefault(); confirmWeight(); }
    if (e.key === 'Escape') { $('weight-modal').hidden = true; }
    return;
  }
  if (!$('pay-modal').hidden) return payKey(e);
  if (!$('done-modal').hidden && e.key === 'Enter' && scanBuffer === '') {
    e.preventDefault();
    newSale();
    return;
  }
  if (inField && e.target.id === 'search') {
    if (e.key === 'Enter') {
      const v = e.target.value.trim();
      if (/^\d{8,14}$/.test(v)) { e.preventDefault(); e.target.value = ''; state.search = ''; renderProducts(); scan(v); }
    } else if (e.key === 'Escape') {
      e.target.value = ''; state.search = ''; renderProducts(); e.target.blur();
    }
    return;
  }
  const now = performance.now();
  if (e.key === 'Enter') {
    if (scanBuffer.length > 0) {
      e.preventDefault();
      const code = scanBuffer;
      scanBuffer = '';
      scan(code);
    } else if (state.lines.length > 0 && !(e.target instanceof HTMLButtonElement)) {
      e.preventDefault();
      openPay();
    }
    return;
  }
  if (e.key.length === 1 && !e.ctrlKey && !e.metaKey && !e.altKey) {
    if (now - scanLast > SCAN_GAP_MS) scanBuffer = '';
    scanBuffer += e.key;
    scanLast = now;
    e.preventDefault();
  }
}

// posd's serial scanners and devices, through its event stream (the cookie goes with it).
let events = null;
function startEvents() {
  if (events) return;
  events = new EventSource('/v1/events');
  events.addEventListener('scan', (ev) => {
    const s = JSON.parse(ev.data);
    if (s.found && s.product) addScanned(s);
    else alertBar(t('scan.unknown', { code: s.code }));
  });
  events.addEventListener('printer', () => pollHealth());
  events.addEventListener('health', () => pollHealth());
}
