// What the web till and the back office share: their texts (one catalogue per language), money
// as the shop writes it, and the API called with the browser session's cookie (every write
// carries the session's CSRF token).
'use strict';

// Errors of the page's own code are kept where the browser tests read them (and fail on any).
window.tillErrors = [];
window.addEventListener('error', (e) => { window.tillErrors.push(String(e.message)); });
window.addEventListener('unhandledrejection', (e) => { window.tillErrors.push(String(e.reason)); });

const LANGS = ['fr', 'en'];
const LANG_KEY = 'posd.lang';

// The page's state; each page adds its own.
const state = {
  lang: 'fr',
  texts: {},
  session: null,
  online: true,
};

// What a page does when posd becomes reachable or not, and when its session ends.
const hooks = {
  onlineChanged() {},
  sessionEnded() {},
};

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------- texts

async function loadTexts(lang) {
  const res = await fetch(`/assets/i18n/${lang}.json`);
  state.texts = await res.json();
  state.lang = lang;
  document.documentElement.lang = lang;
  document.title = t(document.body.dataset.title || 'title.till');
  document.querySelectorAll('[data-t]').forEach((el) => { el.textContent = t(el.dataset.t); });
  document.querySelectorAll('[data-t-placeholder]').forEach((el) => {
    el.placeholder = t(el.dataset.tPlaceholder);
  });
  document.querySelectorAll('[data-lang-switch]').forEach((el) => { el.textContent = t('lang.other'); });
}

function t(key, params) {
  let s = state.texts[key] ?? key;
  for (const [k, v] of Object.entries(params || {})) s = s.split(`{${k}}`).join(String(v));
  return s;
}

function money(cents) {
  return new Intl.NumberFormat(state.lang === 'fr' ? 'fr-FR' : 'en-IE', {
    style: 'currency', currency: 'EUR',
  }).format(cents / 100);
}

// Euros as typed ("12,5", "12.50", "20") to cents; null when it is not an amount.
function parseEuros(text) {
  const s = text.trim().replace(',', '.');
  if (!/^\d{1,7}(\.\d{0,2})?$/.test(s)) return null;
  const [whole, frac = ''] = s.split('.');
  return Number(whole) * 100 + Number((frac + '00').slice(0, 2));
}

function centsToInput(cents) {
  const s = (cents / 100).toFixed(2);
  return state.lang === 'fr' ? s.replace('.', ',') : s;
}

// ---------------------------------------------------------------------------- API

function noteOnline(online) {
  if (state.online === online) return;
  state.online = online;
  hooks.onlineChanged(online);
}

class Offline extends Error {}

async function api(method, path, body, headers = {}) {
  const h = { ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (method !== 'GET' && state.session) h['X-CSRF-Token'] = state.session.csrf;
  let res;
  try {
    res = await fetch(path, {
      method, headers: h, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    noteOnline(false);
    throw new Offline(String(e));
  }
  noteOnline(true);
  let data = null;
  try { data = await res.json(); } catch (_) { data = null; }
  if (res.status === 401 && state.session && path !== '/v1/session/sign-in') {
    state.session = null;
    hooks.sessionEnded();
  }
  return { status: res.status, data };
}

function errorText(r) {
  return r.data && r.data.error ? r.data.error.message : `HTTP ${r.status}`;
}

function sleep(ms) {
  return new Promise((r) => { setTimeout(r, ms); });
}

function randomKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return `web-${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

// POSTs a ticket (a sale, a refund) under its idempotency key until posd gives a definite
// answer: a network failure, the same key still being served (409 idempotency_in_progress) or
// an outcome posd could not know (5xx) are sent again under the same key, which posd answers as
// the first time; so the ticket is journaled once, whatever the network does. `waiting(text)`
// says why it waits. Returns the definite answer.
async function postKeyed(path, body, key, waiting) {
  for (;;) {
    let r;
    try {
      r = await api('POST', path, body, { 'Idempotency-Key': key });
    } catch (_) {
      waiting(t('pay.offline'));
      await sleep(1000);
      continue;
    }
    const code = r.data && r.data.error ? r.data.error.code : null;
    if (r.status === 409 && code === 'idempotency_in_progress') { await sleep(300); continue; }
    if (r.status >= 500) { waiting(errorText(r)); await sleep(1000); continue; }
    return r;
  }
}

// The language saved in this browser, else French.
function savedLanguage() {
  const saved = localStorage.getItem(LANG_KEY);
  return LANGS.includes(saved) ? saved : 'fr';
}

// Switches to the next language and keeps it for the next visit.
async function switchLanguage() {
  const next = LANGS[(LANGS.indexOf(state.lang) + 1) % LANGS.length];
  localStorage.setItem(LANG_KEY, next);
  await loadTexts(next);
}

// ---------------------------------------------------------------------------- tables

function cell(tag, text, cls) {
  const c = document.createElement(tag);
  c.textContent = text;
  if (cls) c.className = cls;
  return c;
}

function row(...cells) {
  const tr = document.createElement('tr');
  tr.append(...cells);
  return tr;
}

// The open day's totals of an X report (`GET /v1/reports/x`): its heading and its table (the
// grand total's row is `#x-day-total` when `id` is given).
function xTable(x, id = 'x-day-total') {
  const d = x.day;
  const head = document.createElement('p');
  head.textContent = x.open_day ? t('reports.day', { day: x.open_day }) : t('reports.no_day');
  const table = document.createElement('table');
  table.append(
    row(cell('th', t('reports.sales')), cell('td', String(d.sales), 'num'), cell('td', ''), cell('td', '')),
    row(cell('th', t('reports.refunds')), cell('td', String(d.refunds), 'num'), cell('td', ''), cell('td', '')),
    row(cell('th', ''), cell('th', t('reports.net'), 'num'), cell('th', t('reports.vat'), 'num'), cell('th', t('reports.gross'), 'num')),
  );
  for (const v of d.vat) {
    const rate = (v.rate / 100).toLocaleString(state.lang === 'fr' ? 'fr-FR' : 'en-GB');
    table.append(row(cell('th', t('reports.vat_rate', { rate: `${rate} %` })), cell('td', money(v.net), 'num'), cell('td', money(v.vat), 'num'), cell('td', money(v.gross), 'num')));
  }
  table.append(row(cell('th', t('reports.payments')), cell('td', ''), cell('td', ''), cell('td', '')));
  for (const p of d.payments.filter((p) => p.amount !== 0)) {
    table.append(row(cell('td', t(`method.${p.method}`)), cell('td', ''), cell('td', ''), cell('td', money(p.amount), 'num')));
  }
  const grand = row(cell('td', t('reports.total')), cell('td', ''), cell('td', ''), cell('td', money(d.total), 'num'));
  grand.className = 'grand';
  grand.id = id;
  table.append(grand);
  return [head, table];
}
