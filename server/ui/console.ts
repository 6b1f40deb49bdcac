/**
 * coord's web console (served at /ui by the server itself; see server/api/ui.ts). Plain DOM, no
 * framework. It speaks the WebSocket protocol through the SDK's browser bundle (./coord.js,
 * served beside this script) and reads /status for the cluster.
 *
 * - The tree: one walk of /** then a watch from the revision after it, so no change is missed
 *   and none is applied twice; re-rendered on the next frame after events.
 * - Edits are compare-and-set against the rev on screen; a REV_MISMATCH shows the current value.
 * - Everything shown that came from the store is put in with textContent, never as HTML.
 */
import { connect, RevMismatchError, TooLateError, type CoordClient, type Event, type WatchStream } from './coord.js';

const TOKEN_KEY = 'coord.console.token';
const EVENTS_KEPT = 500;
const PREVIEW_CHARS = 60;

// ------------------------------------------------------------------ little DOM helpers

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`#${id} is missing from the page`);
  return el as T;
}

function el(tag: string, className?: string, text?: string): HTMLElement {
  const e = document.createElement(tag);
  if (className !== undefined) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function say(target: HTMLElement, text: string, kind: 'ok' | 'err' | '' = ''): void {
  target.textContent = text;
  target.className = `msg ${kind}`;
}

// ------------------------------------------------------------------ values

type Shown = { kind: 'text' | 'json' | 'binary'; text: string };
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 text as it is, JSON pretty-printed, anything else as hex. */
export function showValue(value: Uint8Array | string): Shown {
  let text: string;
  try {
    text = typeof value === 'string' ? value : strictUtf8.decode(value);
  } catch {
    const bytes = value as Uint8Array;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0'));
    const lines: string[] = [];
    for (let i = 0; i < hex.length; i += 16) lines.push(hex.slice(i, i + 16).join(' '));
    return { kind: 'binary', text: lines.join('\n') };
  }
  const t = text.trim();
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      return { kind: 'json', text: JSON.stringify(JSON.parse(t), null, 2) };
    } catch { /* not JSON after all */ }
  }
  return { kind: 'text', text };
}

function preview(shown: Shown): string {
  const one = shown.kind === 'json' ? JSON.stringify(JSON.parse(shown.text)) : shown.text.replace(/\s+/g, ' ');
  return one.length > PREVIEW_CHARS ? `${one.slice(0, PREVIEW_CHARS)}…` : one;
}

// ------------------------------------------------------------------ state

interface FileEntry { rev: number; shown: Shown; raw: Uint8Array | string }

const files = new Map<string, FileEntry>();
const expanded = new Set<string>(['/']);
const flashed = new Set<string>();
let selected: string | null = null;
/** The rev of the selected file when its editor was filled: what a save compares against. */
let editingRev = 0;
let client: CoordClient | null = null;
let treeWatch: WatchStream | null = null;
let eventsWatch: WatchStream | null = null;
let storeRev = 0;
let renderQueued = false;

function token(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

function wsUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
}

function errorText(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e.code !== undefined ? `${e.code}: ${e.message ?? ''}` : String(e.message ?? err);
}

// ------------------------------------------------------------------ connection

async function start(): Promise<void> {
  stopAll();
  $('banner').hidden = true;
  const conn = $('conn');
  conn.textContent = 'connecting…';
  conn.className = 'state connecting';
  const t = token();
  try {
    // Fail fast on a wrong address or token rather than retry for ever: this is a person waiting.
    client = await connect({ urls: wsUrl(), ...(t !== '' ? { token: t } : {}), connectTimeoutMs: 5000 });
  } catch (err) {
    conn.textContent = 'not connected';
    conn.className = 'state closed';
    banner(`Cannot connect: ${errorText(err)}${t === '' ? ' (does this server need a token? enter it above)' : ''}`);
    return;
  }
  const c = client;
  const showState = (): void => {
    conn.textContent = c.state;
    conn.className = `state ${c.state}`;
  };
  showState();
  c.onState(showState);
  void loadTree(c);
  void refreshCluster();
  void refreshSessions();
}

function stopAll(): void {
  treeWatch?.cancel();
  eventsWatch?.cancel();
  treeWatch = eventsWatch = null;
  const old = client;
  client = null;
  if (old !== null) void old.close().catch(() => {});
}

function banner(text: string): void {
  const b = $('banner');
  b.textContent = text;
  b.hidden = false;
}

// ------------------------------------------------------------------ the tree

async function loadTree(c: CoordClient): Promise<void> {
  try {
    const { files: all, at } = await c.walk('/**');
    files.clear();
    for (const f of all) files.set(f.path, { rev: f.rev, raw: f.value, shown: showValue(f.value) });
    storeRev = at;
    queueRender();
    treeWatch = c.watch('/**', { fromRev: at + 1 });
    for await (const ev of treeWatch) applyEvent(ev);
  } catch (err) {
    if (client !== c) return; // replaced or closed on purpose
    if (err instanceof TooLateError) {
      void loadTree(c); // history moved past us while we were away: read the tree again
      return;
    }
    banner(`The tree stopped updating: ${errorText(err)}`);
  }
}

function applyEvent(ev: Event): void {
  storeRev = Math.max(storeRev, ev.rev);
  if (ev.kind === 'delete') files.delete(ev.path);
  else {
    const raw = ev.value ?? new Uint8Array();
    files.set(ev.path, { rev: ev.rev, raw, shown: showValue(raw) });
  }
  flashed.add(ev.path);
  queueRender();
}

function queueRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderTree();
    renderFile();
    renderRecipes();
  });
}

interface Dir { dirs: Map<string, Dir>; files: string[] }

function buildDirs(): Dir {
  const root: Dir = { dirs: new Map(), files: [] };
  for (const path of [...files.keys()].sort()) {
    const parts = path.split('/').slice(1);
    let d = root;
    for (const part of parts.slice(0, -1)) {
      let next = d.dirs.get(part);
      if (next === undefined) d.dirs.set(part, (next = { dirs: new Map(), files: [] }));
      d = next;
    }
    d.files.push(path);
  }
  return root;
}

function renderTree(): void {
  $('rev').textContent = `revision ${storeRev}`;
  $('count').textContent = `${files.size} file${files.size === 1 ? '' : 's'}`;
  const tree = $('tree');
  tree.replaceChildren(renderDir(buildDirs(), '/'));
  flashed.clear();
}

function renderDir(dir: Dir, prefix: string): HTMLElement {
  const box = el('div', 'children');
  for (const name of [...dir.dirs.keys()].sort()) {
    const path = `${prefix}${name}/`;
    const open = expanded.has(path);
    const row = el('div', 'node dir');
    row.setAttribute('role', 'treeitem');
    row.setAttribute('aria-expanded', String(open));
    row.dataset.path = path;
    row.append(el('span', 'toggle', open ? '▾' : '▸'), el('span', 'name', `${name}/`));
    row.addEventListener('click', () => {
      if (open) expanded.delete(path);
      else expanded.add(path);
      queueRender();
    });
    box.append(row);
    if (open) box.append(renderDir(dir.dirs.get(name)!, path));
  }
  for (const path of dir.files) {
    const f = files.get(path)!;
    const row = el('div', `node file${path === selected ? ' selected' : ''}${flashed.has(path) ? ' flash' : ''}`);
    row.setAttribute('role', 'treeitem');
    row.dataset.path = path;
    row.append(el('span', 'name', path.slice(prefix.length)), el('span', 'rev', `@${f.rev}`), el('span', 'preview', preview(f.shown)));
    row.addEventListener('click', () => select(path));
    box.append(row);
  }
  return box;
}

// ------------------------------------------------------------------ one file

function select(path: string): void {
  selected = path;
  const f = files.get(path);
  editingRev = f?.rev ?? 0;
  $<HTMLTextAreaElement>('edit').value = f === undefined ? '' : f.shown.kind === 'binary' ? '' : f.shown.text;
  say($('file-msg'), '');
  $('conflict').hidden = true;
  $('history').replaceChildren();
  say($('history-msg'), '');
  queueRender();
}

function renderFile(): void {
  const f = selected === null ? undefined : files.get(selected);
  $('file-empty').hidden = selected !== null;
  $('file').hidden = selected === null;
  if (selected === null) return;
  $('file-path').textContent = selected;
  $('file-rev').textContent = f === undefined ? '(deleted)' : String(f.rev);
  $('file-kind').textContent = f?.shown.kind ?? '';
  $('file-value').textContent = f?.shown.text ?? '';
  $('save-rev').textContent = String(editingRev);
  const edit = $<HTMLTextAreaElement>('edit');
  edit.disabled = f?.shown.kind === 'binary';
  edit.placeholder = f?.shown.kind === 'binary' ? 'binary value: not editable here' : '';
  const changed = $('file-changed');
  changed.hidden = f === undefined ? editingRev === 0 : f.rev === editingRev;
  changed.textContent = f === undefined
    ? 'This file was deleted since you opened it.'
    : `Changed to rev ${f.rev} since you opened it at rev ${editingRev}: saving will be refused. Pick the file again to edit the new value.`;
}

async function save(): Promise<void> {
  const c = client;
  if (c === null || selected === null) return;
  const path = selected;
  const value = $<HTMLTextAreaElement>('edit').value;
  try {
    const rev = await c.set(path, value, { rev: editingRev });
    editingRev = rev;
    $('conflict').hidden = true;
    say($('file-msg'), `saved: rev ${rev}`, 'ok');
    queueRender();
  } catch (err) {
    if (err instanceof RevMismatchError) await showConflict(c, path, 'save');
    else say($('file-msg'), `not saved: ${errorText(err)}`, 'err');
  }
}

async function remove(): Promise<void> {
  const c = client;
  if (c === null || selected === null) return;
  const path = selected;
  if (!confirm(`Delete ${path} (only if still rev ${editingRev})?`)) return;
  try {
    const r = await c.del(path, { rev: editingRev });
    say($('file-msg'), `deleted at revision ${r.rev}`, 'ok');
  } catch (err) {
    if (err instanceof RevMismatchError) await showConflict(c, path, 'delete');
    else say($('file-msg'), `not deleted: ${errorText(err)}`, 'err');
  }
}

async function showConflict(c: CoordClient, path: string, what: string): Promise<void> {
  let now: { rev: number; value: Uint8Array | null } | null = null;
  try {
    const got = await c.get(path);
    now = { rev: got.rev, value: got.value as Uint8Array | null };
  } catch { /* show what we know */ }
  const msg = now === null || now.rev === 0 || now.value === null
    ? `REV_MISMATCH: not ${what}d. ${path} changed since rev ${editingRev} (it no longer exists).`
    : `REV_MISMATCH: not ${what}d. ${path} was changed by someone else: it is now at rev ${now.rev}, you had rev ${editingRev}. Its current value is below; your text is still in the editor.`;
  say($('file-msg'), 'conflict', 'err');
  $('conflict-msg').textContent = msg;
  $('conflict-value').textContent = now?.value ? showValue(now.value).text : '';
  $('conflict').hidden = false;
  if (now !== null && now.rev !== 0) editingRev = now.rev; // the next save overwrites that value, knowingly
  queueRender();
}

async function create(e: SubmitEvent): Promise<void> {
  e.preventDefault();
  const c = client;
  const msg = $('create-msg');
  if (c === null) return;
  const path = $<HTMLInputElement>('new-path').value.trim();
  const value = $<HTMLTextAreaElement>('new-value').value;
  try {
    const rev = await c.set(path, value, { rev: 0 }); // create only: refused if it exists
    say(msg, `created ${path} at rev ${rev}`, 'ok');
    for (let i = path.indexOf('/', 1); i !== -1; i = path.indexOf('/', i + 1)) expanded.add(path.slice(0, i + 1));
    select(path);
  } catch (err) {
    say(msg, err instanceof RevMismatchError ? `${path} already exists: pick it in the tree to edit it` : errorText(err), 'err');
  }
}

// ------------------------------------------------------------------ a file's history

/**
 * Every write of one file that history still keeps: a watch on its path from revision 1 (or,
 * after TOO_LATE, from the oldest revision kept), read until a progress answer says every write
 * up to now is in the stream; then the watch is cancelled.
 */
async function loadHistory(): Promise<void> {
  const c = client;
  const path = selected;
  if (c === null || path === null) return;
  const msg = $('history-msg');
  const list = $('history');
  list.replaceChildren();
  say(msg, 'loading…');
  let from = 1;
  for (let attempt = 0; attempt < 3; attempt++) {
    const w = c.watch(path, { fromRev: from });
    const events: Event[] = [];
    try {
      await w.progress(); // once it answers, every write so far is queued in the stream
      for (let n = w.buffered; n > 0; n--) events.push(...((await w.nextRevision())?.events ?? []));
      w.cancel();
      if (selected !== path) return;
      for (const ev of events.reverse()) {
        const val = ev.kind === 'set' && ev.value !== undefined ? ` = ${preview(showValue(ev.value))}` : '';
        list.append(el('li', ev.kind === 'delete' ? 'del' : 'set', `${ev.rev} ${ev.kind}${val}`));
      }
      say(msg, `${events.length} write${events.length === 1 ? '' : 's'} since revision ${from}${from > 1 ? ' (older revisions are no longer kept)' : ''}`);
      return;
    } catch (caught) {
      let err = caught;
      if (!(err instanceof TooLateError)) await w.nextRevision().catch((failure: unknown) => (err = failure)); // the watch's own error
      w.cancel();
      const oldest = (err as { details?: { oldestRev?: unknown } }).details?.oldestRev;
      if (err instanceof TooLateError && typeof oldest === 'number') {
        from = oldest;
        continue;
      }
      say(msg, `history unavailable: ${errorText(err)}`, 'err');
      return;
    }
  }
  say(msg, 'history unavailable: it kept moving past us', 'err');
}

// ------------------------------------------------------------------ recipes (client/recipes/)

/** A lock or election contender: `<session id: 16 hex>-<n>`, ephemeral, under the lock's path. */
const CONTENDER = /^([0-9a-f]{16})-\d+$/;
const SLOT = /^\d+$/;

interface Recognised { kind: 'lock' | 'slots'; dir: string; entries: { name: string; rev: number; value: string; session?: string }[] }

/**
 * Directories laid out as the recipes lay them out: every child a contender file (a lock, or an
 * election, whose files hold the candidates' ids), or every child a slot number (slot claims).
 * The lock's holder is the contender with the lowest rev, its fencing token that rev; the
 * others wait in rev order. A slot's holder is its file; the token is the file's rev.
 */
export function recognise(paths: Iterable<[string, { rev: number; shown: Shown }]>): Recognised[] {
  const dirs = new Map<string, { name: string; rev: number; value: string }[]>();
  for (const [path, f] of paths) {
    const cut = path.lastIndexOf('/');
    const dir = path.slice(0, cut) || '/';
    let list = dirs.get(dir);
    if (list === undefined) dirs.set(dir, (list = []));
    list.push({ name: path.slice(cut + 1), rev: f.rev, value: f.shown.kind === 'json' ? JSON.stringify(JSON.parse(f.shown.text)) : f.shown.text });
  }
  const found: Recognised[] = [];
  for (const [dir, list] of [...dirs].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (list.every((e) => CONTENDER.test(e.name))) {
      const entries = list.sort((a, b) => a.rev - b.rev).map((e) => ({ ...e, session: CONTENDER.exec(e.name)![1]! }));
      found.push({ kind: 'lock', dir, entries });
    } else if (list.every((e) => SLOT.test(e.name))) {
      found.push({ kind: 'slots', dir, entries: list.sort((a, b) => Number(a.name) - Number(b.name)) });
    }
  }
  return found;
}

function renderRecipes(): void {
  const box = $('recipes');
  const found = recognise(files);
  box.className = found.length === 0 ? 'muted' : '';
  if (found.length === 0) {
    box.textContent = 'none';
    return;
  }
  box.replaceChildren(...found.map((r) => {
    const item = el('div', 'recipe');
    item.dataset.recipe = r.dir;
    if (r.kind === 'lock') {
      const [holder, ...waiters] = r.entries;
      item.append(el('div', '', `lock or election ${r.dir}`));
      item.append(el('div', 'holder', `holder: ${holder!.value || '(no info)'} · session ${holder!.session} · token ${holder!.rev}`));
      waiters.forEach((w, i) => item.append(el('div', 'waiter', `waiter ${i + 1}: ${w.value || '(no info)'} · session ${w.session} · rev ${w.rev}`)));
    } else {
      item.append(el('div', '', `slots ${r.dir}`));
      for (const s of r.entries) item.append(el('div', 'holder', `slot ${s.name}: ${s.value || '(no info)'} · token ${s.rev}`));
    }
    return item;
  }));
}

// ------------------------------------------------------------------ the event stream

async function watchEvents(e: SubmitEvent): Promise<void> {
  e.preventDefault();
  const c = client;
  if (c === null) return;
  eventsWatch?.cancel();
  const glob = $<HTMLInputElement>('events-glob').value.trim() || '/**';
  const fromText = $<HTMLInputElement>('events-from').value.trim();
  const from = fromText === '' ? undefined : Number(fromText);
  const msg = $('events-msg');
  if (from !== undefined && (!Number.isInteger(from) || from < 1)) return say(msg, 'from: a revision ≥ 1, or empty for the next one', 'err');
  const list = $('events');
  list.replaceChildren();
  const w = c.watch(glob, from !== undefined ? { fromRev: from } : {});
  eventsWatch = w;
  say(msg, `watching ${glob} from ${from ?? 'the next revision'}`, 'ok');
  try {
    for await (const ev of w) {
      const li = el('li', ev.kind === 'delete' ? 'del' : 'set');
      const val = ev.kind === 'set' && ev.value !== undefined ? ` = ${preview(showValue(ev.value))}` : '';
      li.textContent = `${ev.rev} ${ev.kind} ${ev.path}${val}`;
      list.prepend(li);
      while (list.childElementCount > EVENTS_KEPT) list.lastElementChild!.remove();
    }
    if (eventsWatch === w) say(msg, 'stopped');
  } catch (err) {
    if (eventsWatch !== w) return;
    say(msg, err instanceof TooLateError
      ? `TOO_LATE: history no longer reaches revision ${from}: ${errorText(err)}`
      : `the stream stopped: ${errorText(err)}`, 'err');
  }
}

// ------------------------------------------------------------------ the cluster (/status)

interface StatusBody {
  id: string; role: string; term: number; leader: string | null; commit: number; applied: number; rev: number; lastIndex: number;
  membership: { voters: string[]; learners: string[]; urls: Record<string, string> };
  progress?: Record<string, { match: number; state: string; recentActive: boolean }>;
}

async function refreshCluster(): Promise<void> {
  const box = $('cluster');
  const t = token();
  try {
    const res = await fetch('/status', { headers: t !== '' ? { authorization: `Bearer ${t}` } : {} });
    if (res.status === 401) throw new Error('this server needs its token');
    if (!res.ok) throw new Error(`/status answered ${res.status}`);
    box.replaceChildren(clusterTable((await res.json()) as StatusBody));
    box.className = '';
  } catch (err) {
    box.textContent = `cluster status unavailable: ${errorText(err)}`;
    box.className = 'msg err';
  }
}

interface SessionsBody { rev: number; sessions: { id: string; ttlMs: number; ephemerals: string[] }[] }

/** The sessions (GET /sessions: this node's applied state) with the ephemeral files each owns. */
async function refreshSessions(): Promise<void> {
  const box = $('sessions');
  const t = token();
  try {
    const res = await fetch('/sessions', { headers: t !== '' ? { authorization: `Bearer ${t}` } : {} });
    if (res.status === 401) throw new Error('this server needs its token');
    if (!res.ok) throw new Error(`/sessions answered ${res.status}`);
    const body = (await res.json()) as SessionsBody;
    const mine = client?.sessionId ?? null;
    box.className = body.sessions.length === 0 ? 'muted' : '';
    if (body.sessions.length === 0) box.textContent = 'none';
    else box.replaceChildren(...body.sessions.map((s) => {
      const item = el('div', 'recipe');
      item.dataset.session = s.id;
      item.append(el('div', '', `${s.id}${s.id === mine ? ' (this page)' : ''} · ttl ${s.ttlMs / 1000} s · ${s.ephemerals.length} ephemeral`));
      for (const p of s.ephemerals) item.append(el('div', 'waiter', p));
      return item;
    }));
  } catch (err) {
    box.textContent = `sessions unavailable: ${errorText(err)}`;
    box.className = 'msg err';
  }
}

function clusterTable(st: StatusBody): HTMLElement {
  const wrap = el('div');
  wrap.append(el('div', '', `this node ${st.id}: ${st.role}, term ${st.term}, leader ${st.leader ?? '(none)'}, commit ${st.commit}, applied ${st.applied}, revision ${st.rev}`));
  const table = el('table');
  const head = el('tr');
  for (const h of ['member', 'role', 'url', 'match', 'lag']) head.append(el('th', '', h));
  table.append(head);
  const members = [...st.membership.voters.map((id) => [id, 'voter'] as const), ...st.membership.learners.map((id) => [id, 'learner'] as const)];
  for (const [id, kind] of members) {
    const p = st.progress?.[id];
    const role = id === st.leader ? 'leader' : kind === 'learner' ? 'learner' : 'follower';
    const match = id === st.id ? st.lastIndex : p?.match;
    const lag = match === undefined ? '?' : String(Math.max(0, st.lastIndex - match));
    const tr = el('tr');
    for (const v of [id, role, st.membership.urls[id] ?? '', match === undefined ? '?' : String(match), lag]) tr.append(el('td', '', v));
    table.append(tr);
  }
  wrap.append(table);
  if (st.progress === undefined && st.role !== 'leader') wrap.append(el('div', 'muted', 'lag is known on the leader only'));
  return wrap;
}

// ------------------------------------------------------------------ wiring

$<HTMLInputElement>('token').value = token();
$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const t = $<HTMLInputElement>('token').value;
  if (t === '') sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, t);
  void start();
});
$('save').addEventListener('click', () => void save());
$('delete').addEventListener('click', () => void remove());
$('history-load').addEventListener('click', () => void loadHistory());
$('create-form').addEventListener('submit', (e) => void create(e as SubmitEvent));
$('events-form').addEventListener('submit', (e) => void watchEvents(e as SubmitEvent));
$('events-stop').addEventListener('click', () => {
  const w = eventsWatch;
  eventsWatch = null;
  w?.cancel();
  say($('events-msg'), 'stopped');
});
setInterval(() => {
  void refreshCluster();
  void refreshSessions();
}, 2000);
void start();
