/**
 * The live view's page: the fleet table, refreshed from a server-sent event stream, and the drawing
 * of one executor when its row is clicked (redrawn when its version changes). Everything is inline
 * and the page loads nothing from anywhere but the access point itself. Names come from executors'
 * hellos, so the table is built with textContent, never as HTML.
 */
import { VERSION } from '../../version.js';
import { LEGEND, PAGE_CSS, PAGE_SCRIPT, escapeHtml } from '../actor-section.js';

const LIVE_CSS = `
table.fleet { border-collapse: collapse; width: 100%; font-size: 13px; background: white; }
table.fleet th { text-align: left; color: #546e7a; font-weight: 500; border-bottom: 1px solid #b0bec5; padding: 4px 8px; }
table.fleet td { border-bottom: 1px solid #eceff1; padding: 4px 8px; vertical-align: top; }
table.fleet tr.executor { cursor: pointer; }
table.fleet tr.executor:hover { background: #f1f8e9; }
table.fleet tr.executor.selected { background: #e3f2fd; }
table.fleet tr.absent { color: #90a4ae; }
table.fleet td.path { font-family: ui-monospace, monospace; font-size: 11px; color: #546e7a; }
.state-pill { font-family: ui-monospace, monospace; font-size: 12px; padding: 1px 6px; border-radius: 4px; background: #eceff1; }
.state-pill.active { background: #c8e6c9; }
.state-pill.closed { background: #ffcdd2; }
.conn { font-size: 12px; color: #78909c; }
.conn.up::before { content: '● '; color: #43a047; }
.conn.down::before { content: '● '; color: #e53935; }
#detail:empty::before { content: 'Click an executor to draw it.'; color: #90a4ae; font-size: 13px; }
ul.earlier { font-size: 12px; font-family: ui-monospace, monospace; color: #546e7a; }
`;

const LIVE_SCRIPT = `
const $ = (s) => document.querySelector(s);
let selected = decodeURIComponent((location.hash.match(/^#executor=(.*)$/) || [])[1] || '') || null;
let shown = { id: null, version: -1 };
let last = null;
const ago = (ms) => ms < 1000 ? Math.max(0, Math.round(ms)) + 'ms' : ms < 60000 ? (ms / 1000).toFixed(1) + 's' : Math.round(ms / 60000) + 'm';
function cell(tr, text, cls) { const td = document.createElement('td'); if (cls) td.className = cls; td.textContent = text; tr.appendChild(td); return td; }
function pill(td, state) { td.textContent = ''; const s = document.createElement('span'); s.className = 'state-pill ' + state.split('.')[0]; s.textContent = state; td.appendChild(s); }
function render(f) {
  last = f;
  const body = $('#executors'); body.textContent = '';
  for (const e of f.executors) {
    const tr = document.createElement('tr');
    tr.className = 'executor' + (e.present ? '' : ' absent') + (e.id === selected ? ' selected' : '');
    tr.dataset.id = e.id; tr.dataset.state = e.state; tr.dataset.version = e.version;
    cell(tr, e.name, 'name');
    pill(cell(tr, '', 'state'), e.state);
    cell(tr, ago(f.now - e.since), 'since');
    cell(tr, String(e.openLinks) + ' open / ' + e.links.length, 'links');
    cell(tr, e.lastHeartbeat ? ago(f.now - Date.parse(e.lastHeartbeat)) + ' ago' : '-', 'heartbeat');
    cell(tr, e.links.map((l) => l.linkId + ': ' + l.path).join('\\n'), 'path').style.whiteSpace = 'pre';
    cell(tr, e.id, 'id');
    tr.addEventListener('click', () => select(e.id));
    body.appendChild(tr);
  }
  $('#count').textContent = f.executors.filter((e) => e.present).length + ' enrolled, ' + f.executors.length + ' seen';
  const other = $('#unadmitted'); other.textContent = '';
  for (const l of f.unadmitted) {
    const li = document.createElement('li');
    li.textContent = l.linkId + (l.name ? ' (' + l.name + ')' : '') + (l.remoteAddress ? ' from ' + l.remoteAddress : '') + ': ' + l.path + (l.rejection ? ' — rejected: ' + l.rejection.code : '');
    li.dataset.id = l.linkId; li.style.cursor = 'pointer';
    li.addEventListener('click', () => select(l.linkId));
    other.appendChild(li);
  }
  $('#unadmitted-box').hidden = f.unadmitted.length === 0;
  if (selected) {
    const e = f.executors.find((x) => x.id === selected);
    if (!e || shown.id !== selected || shown.version !== e.version) showDetail(selected);
  }
}
let loading = null;
async function showDetail(id) {
  if (loading === id) return;
  loading = id;
  try {
    const r = await fetch('api/executor?id=' + encodeURIComponent(id));
    if (!r.ok) { $('#detail').textContent = 'No such executor: ' + id; return; }
    const j = await r.json();
    if (id !== selected) return;
    $('#detail').innerHTML = j.html;
    $('#detail').dataset.id = id; $('#detail').dataset.version = j.version;
    shown = { id, version: j.version };
  } finally { loading = null; }
}
function select(id) {
  selected = id; history.replaceState(null, '', '#executor=' + encodeURIComponent(id));
  document.querySelectorAll('tr.executor').forEach((tr) => tr.classList.toggle('selected', tr.dataset.id === id));
  showDetail(id);
}
function connect() {
  const es = new EventSource('events');
  es.onopen = () => { $('#conn').className = 'conn up'; $('#conn').textContent = 'live'; };
  es.onmessage = (m) => render(JSON.parse(m.data));
  es.onerror = () => { $('#conn').className = 'conn down'; $('#conn').textContent = 'reconnecting'; };
}
connect();
`;

export function livePage(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${PAGE_CSS}${LIVE_CSS}</style>
</head>
<body>
<header><h1>${escapeHtml(title)}</h1><p>ah ${escapeHtml(VERSION)} · <span id="count">…</span> · <span id="conn" class="conn">connecting</span></p></header>
<main>
<table class="fleet"><thead><tr><th>executor</th><th>state (newest link)</th><th>since</th><th>links</th><th>last heartbeat</th><th>recent path</th><th>identity</th></tr></thead>
<tbody id="executors"></tbody></table>
<div id="unadmitted-box" hidden><h2>Links not admitted</h2><ul id="unadmitted"></ul></div>
${LEGEND}
<div id="detail"></div>
</main>
<script>${PAGE_SCRIPT}${LIVE_SCRIPT}</script>
</body>
</html>
`;
}
