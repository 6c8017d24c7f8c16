// siso — the operators' phone app (docs/web.md, docs/PRIVACY.md).
// Keeps on the phone only the operator's caseload list (names, areas, next reviews) and the
// unsent drafts, encrypted with AES-GCM under the device key the node hands out after log-in
// (held in memory, never stored). Drafts are sent with their id as Idempotency-Key: sent twice,
// recorded once. A refused draft stays visible with the reason until corrected or discarded.
'use strict';

const DB = 'siso-app';
const DEVICE = 'siso-dispositivo';
const RETRY_MS = 3000;
const state = { csrf: null, user: null, role: null, key: null, cases: [], sending: false };
const $ = (s) => document.querySelector(s);

// ---- storage -------------------------------------------------------------------------------
function openDb() {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(DB, 1);
    r.onupgradeneeded = () => {
      r.result.createObjectStore('bozze', { keyPath: 'id' });
      r.result.createObjectStore('carico', { keyPath: 'k' });
    };
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

async function idb(store, mode, op) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const t = db.transaction(store, mode);
    const req = op(t.objectStore(store));
    t.oncomplete = () => { db.close(); resolve(req ? req.result : undefined); };
    t.onabort = t.onerror = () => { db.close(); reject(t.error); };
  });
}

const drafts = () => idb('bozze', 'readonly', (s) => s.getAll());
const putDraft = (d) => idb('bozze', 'readwrite', (s) => s.put(d));
const dropDraft = (id) => idb('bozze', 'readwrite', (s) => s.delete(id));

function deviceId() {
  let id = localStorage.getItem(DEVICE);
  if (!id) {
    id = crypto.randomUUID();
    localStorage.setItem(DEVICE, id);
  }
  return id;
}

/** Forgets everything this app keeps on the phone. */
async function wipe() {
  state.key = null;
  state.cases = [];
  await new Promise((resolve) => {
    const r = indexedDB.deleteDatabase(DB);
    r.onsuccess = r.onerror = r.onblocked = () => resolve();
  });
  for (const k of await caches.keys()) await caches.delete(k);
  localStorage.clear();
}

// ---- crypto --------------------------------------------------------------------------------
async function loadKey() {
  const r = await api('POST', '/api/v1/dispositivo', { dispositivo: deviceId() });
  if (r.status === 403) {
    // Disconnected (a lost phone): what is here can never be read again.
    await wipe();
    throw new Error('Questo dispositivo è stato disconnesso: i dati conservati sono stati cancellati.');
  }
  if (!r.ok) throw new Error('Chiave del dispositivo non disponibile.');
  const hex = (await r.json()).chiave;
  const raw = new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16)));
  state.key = await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
}

async function seal(obj) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, state.key,
    new TextEncoder().encode(JSON.stringify(obj)));
  return { iv, data };
}

async function unseal(d) {
  const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: d.iv }, state.key, d.data);
  return JSON.parse(new TextDecoder().decode(pt));
}

// ---- network -------------------------------------------------------------------------------
function api(method, path, body, extra) {
  const headers = { 'Content-Type': 'application/json' };
  if (state.csrf) headers['X-CSRF-Token'] = state.csrf;
  Object.assign(headers, extra || {});
  return fetch(path, {
    method, headers, credentials: 'same-origin', cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

function online(yes) {
  $('#rete').hidden = yes;
}

/** Sends every waiting draft; stops at the first network failure. */
async function flush() {
  if (state.sending || !state.key || !state.csrf) return;
  state.sending = true;
  try {
    for (const d of await drafts()) {
      if (d.stato !== 'attesa') continue;
      let fields;
      try { fields = await unseal(d); } catch (e) { continue; }
      let r;
      try {
        r = await api('POST', '/api/v1/' + d.tipo, fields, { 'Idempotency-Key': d.id });
      } catch (e) {
        online(false);
        break;
      }
      online(true);
      if (r.status === 200 || r.status === 201) {
        await dropDraft(d.id);
      } else if (r.status === 401) {
        await sessionGone();
        break;
      } else if (r.status >= 400 && r.status < 500) {
        const body = await r.json().catch(() => ({}));
        const fieldsWrong = (body.campi || []).map((c) => c.campo + ': ' + c.messaggio).join('; ');
        d.stato = 'rifiutata';
        d.motivo = (body.errore || ('errore ' + r.status)) + (fieldsWrong ? ' — ' + fieldsWrong : '');
        await putDraft(d);
      } else {
        break; // the node is in trouble: try again later
      }
    }
  } finally {
    state.sending = false;
    await renderDrafts();
  }
}

/** The session ended (expired, or ended by the node): the caseload list goes; the drafts stay,
 * encrypted and unreadable, until the next log-in. */
async function sessionGone() {
  state.csrf = null;
  state.key = null;
  state.cases = [];
  await idb('carico', 'readwrite', (s) => s.clear()).catch(() => null);
  renderCases();
  show('accesso');
  say('Sessione scaduta: accedere di nuovo. Le registrazioni in attesa restano cifrate sul telefono.');
}

// ---- screens -------------------------------------------------------------------------------
function show(name) {
  for (const s of document.querySelectorAll('main section')) s.hidden = s.id !== name;
  $('#schede').hidden = name === 'accesso';
  $('#utente').hidden = name === 'accesso';
}

function say(text) {
  $('#stato').textContent = text;
}

function fmtDate(iso) {
  if (!iso) return 'da fissare';
  const [y, m, d] = iso.split('-');
  return d + '/' + m + '/' + y;
}

function renderCases() {
  const ul = $('#casi');
  ul.replaceChildren();
  for (const c of state.cases) {
    const li = document.createElement('li');
    li.dataset.caso = c.id;
    const name = document.createElement('strong');
    name.textContent = c.cognome + ' ' + c.nome;
    const info = document.createElement('span');
    info.textContent = ' · ' + c.area + ' · revisione ' + fmtDate(c.prossima_revisione);
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'btn';
    open.textContent = 'Scheda';
    open.addEventListener('click', () => showCard(c));
    li.append(name, info);
    if (c.appuntamento) {
      const a = c.appuntamento;
      const label = (a.data === today() ? 'oggi' : fmtDate(a.data)) + (a.ora ? ' alle ' + a.ora : '') + (a.luogo ? ' · ' + a.luogo : '');
      li.append(el('span', ' · appuntamento ' + label, a.data === today() ? 'oggi' : undefined));
    }
    li.append(' ', open);
    if (c.revisione_scaduta) {
      const b = document.createElement('span');
      b.className = 'badge badge-danger';
      b.textContent = 'scaduta';
      li.append(' ', b);
    }
    ul.append(li);
  }
  if (!state.cases.length) {
    const li = document.createElement('li');
    li.textContent = 'Nessun caso in carico.';
    ul.append(li);
  }
  for (const sel of [$('#att-caso'), $('#int-caso')]) {
    sel.replaceChildren();
    for (const c of state.cases) {
      const o = document.createElement('option');
      o.value = c.id;
      o.textContent = c.cognome + ' ' + c.nome + ' — ' + c.area;
      sel.append(o);
    }
  }
}

async function renderDrafts() {
  let list = [];
  try { list = await drafts(); } catch (e) { list = []; }
  $('#conta-attesa').textContent = String(list.length);
  const ul = $('#bozze');
  ul.replaceChildren();
  for (const d of list.sort((a, b) => a.creato - b.creato)) {
    const li = document.createElement('li');
    li.dataset.bozza = d.id;
    li.className = d.stato === 'rifiutata' ? 'rifiutata' : 'attesa';
    const what = document.createElement('strong');
    what.textContent = d.etichetta;
    const st = document.createElement('span');
    st.className = 'stato-bozza';
    st.textContent = d.stato === 'rifiutata' ? ' — rifiutata: ' + d.motivo : ' — in attesa di invio';
    li.append(what, st);
    if (d.stato === 'rifiutata') {
      const fix = document.createElement('button');
      fix.type = 'button';
      fix.className = 'btn';
      fix.textContent = 'Correggi';
      fix.addEventListener('click', () => correct(d));
      const drop = document.createElement('button');
      drop.type = 'button';
      drop.className = 'btn';
      drop.textContent = 'Elimina';
      drop.addEventListener('click', async () => { await dropDraft(d.id); await renderDrafts(); });
      li.append(' ', fix, ' ', drop);
    }
    ul.append(li);
  }
  if (!list.length) {
    const li = document.createElement('li');
    li.textContent = 'Niente da inviare.';
    ul.append(li);
  }
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

/** The short card, read live from the node and never stored on the phone. */
async function showCard(c) {
  show('scheda');
  $('#scheda-titolo').textContent = c.cognome + ' ' + c.nome;
  const body = $('#scheda-corpo');
  body.replaceChildren(el('p', 'Caricamento…'));
  let card;
  try {
    const r = await api('GET', '/api/v1/persone/' + c.persona);
    if (r.status === 401) return sessionGone();
    if (!r.ok) {
      body.replaceChildren(el('p', (await r.json().catch(() => ({}))).errore || 'Scheda non disponibile.'));
      return;
    }
    card = await r.json();
  } catch (e) {
    body.replaceChildren(el('p', 'Scheda non disponibile senza rete.'));
    return;
  }
  const parts = [el('p', card.eta + ' anni' + (card.residente ? ', residente' : ''))];
  if (card.famiglia.length > 1) {
    parts.push(el('h2', 'Nucleo'));
    const ul = el('ul', undefined, 'nucleo');
    for (const m of card.famiglia) ul.append(el('li', m.cognome + ' ' + m.nome + ' · ' + m.rapporto + ' · ' + m.eta + ' anni'));
    parts.push(ul);
  }
  parts.push(el('h2', 'Casi aperti'));
  const cases = el('ul');
  for (const k of card.casi.filter((k) => k.stato !== 'chiuso')) {
    cases.append(el('li', k.area + ' · ' + (k.assegnatario || 'da assegnare') + ' · revisione ' + fmtDate(k.prossima_revisione)));
  }
  parts.push(cases);
  if (card.attivita && card.attivita.length) {
    parts.push(el('h2', 'Ultime attività'));
    const ul = el('ul');
    for (const a of card.attivita.slice(-5).reverse()) ul.append(el('li', fmtDate(a.data) + ' · ' + a.tipo.replace('_', ' ') + ' · ' + a.durata_minuti + ' min'));
    parts.push(ul);
  }
  body.replaceChildren(...parts);
}

async function correct(d) {
  const f = await unseal(d);
  await dropDraft(d.id);
  if (d.tipo === 'attivita') {
    for (const [k, v] of Object.entries(f)) {
      const el = $('#form-attivita [name="' + k + '"]');
      if (el) el.value = v;
    }
    show('attivita');
  } else {
    for (const [k, v] of Object.entries(f)) {
      const el = $('#form-intervento [name="' + k + '"]');
      if (el) el.value = v;
    }
    show('intervento');
  }
  await renderDrafts();
}

async function refreshCaseload() {
  try {
    const r = await api('GET', '/api/v1/carico');
    online(true);
    if (r.status === 401) {
      await sessionGone();
      return;
    }
    if (r.ok) {
      const k = await r.json();
      // Only what the list shows: names, area, next review.
      const app = (c) => c.prossimo_appuntamento;
      state.cases = k.casi.filter((c) => c.id).map((c) => ({
        id: c.id, persona: c.persona, cognome: c.cognome, nome: c.nome, area: c.area,
        prossima_revisione: c.prossima_revisione, revisione_scaduta: c.revisione_scaduta,
        appuntamento: app(c) ? { data: app(c).data, ora: app(c).ora, luogo: app(c).luogo } : null,
      }));
      // Today's appointments first, by time; then the others by date.
      const when = (c) => (c.appuntamento ? c.appuntamento.data + ' ' + (c.appuntamento.ora || '') : '9999');
      state.cases.sort((a, b) => when(a).localeCompare(when(b)));
      await idb('carico', 'readwrite', (s) => s.put({ k: 'casi', rows: state.cases }));
    }
  } catch (e) {
    online(false);
    const saved = await idb('carico', 'readonly', (s) => s.get('casi')).catch(() => null);
    state.cases = saved ? saved.rows : [];
  }
  renderCases();
}

async function saveDraft(tipo, fields, label) {
  if (!state.key) {
    say('Accedere di nuovo per registrare.');
    return;
  }
  const { iv, data } = await seal(fields);
  await putDraft({ id: crypto.randomUUID(), tipo, stato: 'attesa', creato: Date.now(), etichetta: label, iv, data });
  await renderDrafts();
  say('Registrato sul telefono: parte appena possibile.');
  flush();
}

function caseById(id) {
  return state.cases.find((c) => c.id === id);
}

function today() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate());
}

/** A third-sector operator has no caseload: the app is the intervention form by demographics. */
function setRole(role) {
  const ets = role === 'operatore_ets';
  for (const b of document.querySelectorAll('#schede button[data-scheda="oggi"], #schede button[data-scheda="attivita"]')) {
    b.hidden = ets;
  }
  $('#int-ets').hidden = !ets;
  $('#int-persona-campo').hidden = ets;
  $('#int-caso').required = !ets;
  for (const id of ['#int-cognome', '#int-nome', '#int-nascita', '#int-luogo']) $(id).required = ets;
  kindOfRecord();
}

/** The third-sector form records an intervention or an access. */
function kindOfRecord() {
  const access = state.role === 'operatore_ets' && $('#int-cosa').value === 'accessi';
  $('#int-esito-campo').hidden = !access;
  $('#int-tipo-campo').hidden = access;
  $('#int-importo-campo').hidden = access;
}

let placeTimer = null;
function lookupPlaces() {
  clearTimeout(placeTimer);
  placeTimer = setTimeout(async () => {
    const q = $('#int-luogo').value.trim();
    if (q.length < 2 || /[A-Z][0-9]{3}$/.test(q)) return;
    try {
      const r = await api('GET', '/api/v1/luoghi?q=' + encodeURIComponent(q));
      if (!r.ok) return;
      const list = $('#luoghi');
      list.replaceChildren();
      for (const p of (await r.json()).rows) {
        const o = document.createElement('option');
        o.value = p.nome + ' (' + (p.provincia || 'estero') + ') ' + p.codice;
        list.append(o);
      }
    } catch (e) { /* offline: type the place again later */ }
  }, 250);
}

async function loggedIn(s) {
  state.csrf = s.csrf;
  state.user = s.utente;
  state.role = s.ruolo;
  $('#nome-utente').textContent = s.utente;
  setRole(s.ruolo);
  await loadKey();
  show(s.ruolo === 'operatore_ets' ? 'intervento' : 'oggi');
  await refreshCaseload();
  await renderDrafts();
  flush();
}

function bind() {
  $('#form-accesso').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const err = $('#errore-accesso');
    err.hidden = true;
    try {
      const r = await api('POST', '/api/v1/sessione', { username: $('#username').value, password: $('#password').value });
      const body = await r.json();
      if (!r.ok) {
        err.textContent = body.errore;
        err.hidden = false;
        return;
      }
      $('#password').value = '';
      await loggedIn(body);
    } catch (e) {
      err.textContent = e.message || 'Rete non disponibile: riprovare.';
      err.hidden = false;
    }
  });
  for (const b of document.querySelectorAll('#schede button')) {
    b.addEventListener('click', async () => {
      show(b.dataset.scheda);
      if (b.dataset.scheda === 'attesa') await renderDrafts();
    });
  }
  $('#form-attivita').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = Object.fromEntries(new FormData(ev.target));
    const c = caseById(f.caso);
    if (!c) return;
    const fields = { persona: c.persona, caso: c.id, data: f.data, tipo_attivita: f.tipo_attivita,
      durata_minuti: f.durata_minuti, ora: f.ora, luogo: f.luogo, note: f.note };
    await saveDraft('attivita', fields, 'Attività · ' + fmtDate(f.data) + ' · ' + f.tipo_attivita.replace('_', ' '));
    ev.target.reset();
    $('#att-data').value = today();
  });
  $('#form-intervento').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = Object.fromEntries(new FormData(ev.target));
    let fields;
    if (state.role === 'operatore_ets') {
      // A person given by demographics: the node computes the code.
      const code = (f.luogo_nascita.match(/([A-Z][0-9]{3})$/) || [])[1];
      if (!code) {
        say('Scegliere il luogo di nascita dall\'elenco.');
        return;
      }
      const person = { codice_fiscale: '', cognome: f.cognome, nome: f.nome, sesso: f.sesso,
        data_nascita: f.data_nascita, codice_catastale_nascita: code, area_bisogno: f.area_bisogno };
      if (f.cosa === 'accessi') {
        await saveDraft('accessi', { ...person, data: f.data_inizio, esito: f.esito },
          'Accesso · ' + fmtDate(f.data_inizio) + ' · ' + f.esito);
        ev.target.reset();
        $('#int-data').value = today();
        setRole(state.role);
        return;
      }
      fields = { ...person, tipo_intervento: f.tipo_intervento, data_inizio: f.data_inizio, importo: f.importo };
    } else {
      const c = caseById(f.caso);
      if (!c) return;
      fields = { persona: c.persona, tipo_intervento: f.tipo_intervento, area_bisogno: c.area,
        data_inizio: f.data_inizio, importo: f.importo };
    }
    await saveDraft('interventi', fields, 'Intervento · ' + fmtDate(f.data_inizio) + ' · ' + f.tipo_intervento.replace('_', ' '));
    ev.target.reset();
    $('#int-data').value = today();
    setRole(state.role);
  });
  $('#invia').addEventListener('click', flush);
  $('#indietro').addEventListener('click', () => show('oggi'));
  $('#int-luogo').addEventListener('input', lookupPlaces);
  $('#int-cosa').addEventListener('change', kindOfRecord);
  $('#esci').addEventListener('click', async () => {
    const n = (await drafts().catch(() => [])).length;
    if (n && !window.confirm(n + ' registrazioni non sono ancora state inviate: uscendo andranno perse. Uscire?')) return;
    await api('DELETE', '/api/v1/sessione').catch(() => null);
    await wipe();
    state.csrf = null;
    show('accesso');
    say('Uscita effettuata: i dati sul telefono sono stati cancellati.');
  });
  $('#disconnetti').addEventListener('click', async () => {
    if (!window.confirm('Disconnettere questo dispositivo? Le registrazioni non inviate andranno perse.')) return;
    await api('DELETE', '/api/v1/dispositivo/' + deviceId()).catch(() => null);
    await api('DELETE', '/api/v1/sessione').catch(() => null);
    await wipe();
    state.csrf = null;
    show('accesso');
    say('Dispositivo disconnesso: i dati sul telefono sono stati cancellati.');
  });
  window.addEventListener('online', flush);
  setInterval(flush, RETRY_MS);
}

async function start() {
  bind();
  $('#att-data').value = today();
  $('#int-data').value = today();
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/app/sw.js', { scope: '/app/' }).catch(() => null);
  }
  let r = null;
  try { r = await api('GET', '/api/v1/sessione'); } catch (e) { r = null; }
  if (r && r.ok) {
    try { await loggedIn(await r.json()); } catch (e) { show('accesso'); say(e.message); }
  } else if (r === null) {
    // No network and no key: the list is shown, drafts wait (unreadable) for the next log-in.
    online(false);
    await refreshCaseload();
    await renderDrafts();
    show('oggi');
    say('Senza rete: le registrazioni in attesa partiranno dopo il prossimo accesso.');
  } else {
    show('accesso');
    await renderDrafts();
  }
  document.body.dataset.pronto = '1';
}

start();
