/**
 * The live view's page: counts by state and a histogram of certificate time left over the whole
 * fleet, one page of the fleet table (searched and paged on the access point: the search box and
 * the pager reopen the event stream with `?q=&page=`), refreshed from a server-sent event stream,
 * and the drawing of one executor when its row is clicked (redrawn when its version changes).
 * Everything is inline and the page loads nothing from anywhere but the access point itself.
 * Names come from executors' hellos, so the table is built with textContent, never as HTML.
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
td.fleet-state.late, td.fleet-state.expired { color: #c62828; font-weight: 500; }
td.fleet-state.departed { color: #90a4ae; }
.conn { font-size: 12px; color: #78909c; }
.conn.up::before { content: '● '; color: #43a047; }
.conn.down::before { content: '● '; color: #e53935; }
#overview { display: flex; gap: 32px; align-items: flex-end; margin: 8px 0 12px; font-size: 13px; }
#counts span { margin-right: 12px; }
#counts b { font-family: ui-monospace, monospace; }
#time-left { display: flex; gap: 4px; align-items: flex-end; height: 64px; }
#time-left .bar { display: flex; flex-direction: column; align-items: center; justify-content: flex-end; width: 56px; height: 100%; font-size: 11px; color: #546e7a; }
#time-left .fill { width: 100%; background: #90caf9; min-height: 1px; }
#time-left .bar.expired .fill { background: #ef9a9a; }
#pager { margin: 8px 0; font-size: 13px; display: flex; gap: 8px; align-items: center; }
#pager input { width: 240px; }
#detail:empty::before { content: 'Click an executor to draw it.'; color: #90a4ae; font-size: 13px; }
ul.earlier { font-size: 12px; font-family: ui-monospace, monospace; color: #546e7a; }
`;

const LIVE_SCRIPT = `
const $ = (s) => document.querySelector(s);
let selected = decodeURIComponent((location.hash.match(/^#executor=(.*)$/) || [])[1] || '') || null;
let shown = { id: null, version: -1 };
let last = null;
let query = { q: '', page: 1 };
let es = null;
const ago = (ms) => ms < 1000 ? Math.max(0, Math.round(ms)) + 'ms' : ms < 60000 ? (ms / 1000).toFixed(1) + 's' : ms < 3600000 ? Math.round(ms / 60000) + 'm' : ms < 172800000 ? (ms / 3600000).toFixed(1) + 'h' : Math.round(ms / 86400000) + 'd';
function cell(tr, text, cls) { const td = document.createElement('td'); if (cls) td.className = cls; td.textContent = text; tr.appendChild(td); return td; }
function pill(td, state) { td.textContent = ''; const s = document.createElement('span'); s.className = 'state-pill ' + state.split('.')[0]; s.textContent = state; td.appendChild(s); }
function overview(f) {
  const counts = $('#counts'); counts.textContent = '';
  for (const [k, n] of Object.entries(f.counts)) {
    const s = document.createElement('span'); s.dataset.state = k;
    const b = document.createElement('b'); b.textContent = String(n);
    s.append(b, ' ' + k); counts.appendChild(s);
  }
  const hist = $('#time-left'); hist.textContent = '';
  const most = Math.max(1, ...f.timeLeft.map((b) => b.count));
  for (const b of f.timeLeft) {
    const bar = document.createElement('div'); bar.className = 'bar' + (b.label === 'expired' ? ' expired' : '');
    bar.dataset.label = b.label; bar.dataset.count = b.count; bar.title = b.count + ' certificates: ' + b.label;
    const n = document.createElement('span'); n.textContent = String(b.count);
    const fill = document.createElement('div'); fill.className = 'fill'; fill.style.height = Math.round(40 * b.count / most) + 'px';
    const label = document.createElement('span'); label.textContent = b.label;
    bar.append(n, fill, label); hist.appendChild(bar);
  }
  query.page = f.page;
  $('#page').textContent = 'page ' + f.page + ' of ' + f.pages + ' (' + f.matched + (f.q ? ' matching' : '') + ')';
  $('#prev').disabled = f.page <= 1; $('#next').disabled = f.page >= f.pages;
}
function render(f) {
  last = f;
  overview(f);
  const body = $('#executors'); body.textContent = '';
  for (const e of f.executors) {
    const tr = document.createElement('tr');
    tr.className = 'executor' + (e.present ? '' : ' absent') + (e.id === selected ? ' selected' : '');
    tr.dataset.id = e.id; tr.dataset.state = e.state; tr.dataset.fleetState = e.fleetState; tr.dataset.version = e.version;
    cell(tr, e.name, 'name');
    cell(tr, e.fleetState, 'fleet-state ' + e.fleetState);
    cell(tr, e.accessPoint || '-', 'access-point');
    pill(cell(tr, '', 'state'), e.state);
    cell(tr, ago(f.now - e.since), 'since');
    cell(tr, String(e.openLinks) + ' open / ' + e.links.length, 'links');
    cell(tr, e.lastHeartbeat ? ago(f.now - Date.parse(e.lastHeartbeat)) + ' ago' : '-', 'heartbeat');
    const left = e.certNotAfter ? Date.parse(e.certNotAfter) - f.now : null;
    cell(tr, left === null ? '-' : left > 0 ? 'in ' + ago(left) : ago(-left) + ' ago', 'cert');
    cell(tr, e.links.map((l) => l.linkId + ': ' + l.path).join('\\n'), 'path').style.whiteSpace = 'pre';
    cell(tr, e.id, 'id');
    tr.addEventListener('click', () => select(e.id));
    body.appendChild(tr);
  }
  const enrolled = f.counts.active + f.counts.rotating + f.counts.late + f.counts.expired;
  $('#count').textContent = enrolled + ' enrolled, ' + (enrolled + f.counts.departed) + ' seen';
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
  if (es) es.close();
  es = new EventSource('events?q=' + encodeURIComponent(query.q) + '&page=' + query.page);
  es.onopen = () => { $('#conn').className = 'conn up'; $('#conn').textContent = 'live'; };
  es.onmessage = (m) => render(JSON.parse(m.data));
  es.onerror = () => { $('#conn').className = 'conn down'; $('#conn').textContent = 'reconnecting'; };
}
let typing = null;
$('#search').addEventListener('input', () => {
  clearTimeout(typing);
  typing = setTimeout(() => { query = { q: $('#search').value.trim(), page: 1 }; connect(); }, 250);
});
$('#prev').addEventListener('click', () => { query.page = Math.max(1, query.page - 1); connect(); });
$('#next').addEventListener('click', () => { query.page = query.page + 1; connect(); });
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
<div id="overview"><div id="counts"></div><div id="time-left" title="certificate time left"></div></div>
<div id="pager"><input id="search" type="search" placeholder="search name or ID" autocomplete="off"><button id="prev">‹ prev</button><span id="page"></span><button id="next">next ›</button></div>
<table class="fleet"><thead><tr><th>executor</th><th>fleet state</th><th>access point</th><th>link state (newest)</th><th>since</th><th>links</th><th>last heartbeat</th><th>cert expires</th><th>recent path</th><th>identity</th></tr></thead>
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
