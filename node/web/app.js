// The node's page: chain, jobs with their loss curves, providers, verdicts,
// disputes, slashes and governance, read through the public JSON-RPC
// (POST /rpc) and kept live by the new_block subscription (GET /ws).
//
// Everything that comes from the chain reaches the page as text nodes or
// attribute values set through the DOM, never as markup: a job title of
// "<b>x</b>" shows those characters.
'use strict';

const kJobsShown = 8;          // newest jobs listed
const kCurveJobs = 4;          // of which this many get a loss chart
const kTasksPerCurve = 64;     // newest tasks read per chart
const kResultsScanned = 120;   // blocks scanned for slashes at load
const kListMax = 20;           // rows of verdicts and slashes

const $ = (id) => document.getElementById(id);

// ---- JSON-RPC -------------------------------------------------------------

let nextId = 1;

// Calls [method, params] pairs in batches of at most kBatchMax (the node
// refuses more than 100 in one); returns their results in order, an Error
// in place of each call that failed.
const kBatchMax = 50;
async function batch(calls) {
  const out = [];
  for (let i = 0; i < calls.length; i += kBatchMax) {
    out.push(...await batchOnce(calls.slice(i, i + kBatchMax)));
  }
  return out;
}

async function batchOnce(calls) {
  const body = calls.map(([method, params]) => {
    const call = { jsonrpc: '2.0', id: nextId++, method };
    if (params !== undefined) call.params = params;
    return call;
  });
  const response = await fetch('/rpc', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error('POST /rpc: HTTP ' + response.status);
  const replies = await response.json();
  if (!Array.isArray(replies)) throw new Error('POST /rpc: ' + (replies.error ? replies.error.message : 'not a batch answer'));
  const byId = new Map(replies.map((r) => [r.id, r]));
  return body.map((call) => {
    const r = byId.get(call.id);
    if (!r) return new Error(call.method + ': no answer');
    if (r.error) return new Error(call.method + ': ' + r.error.message);
    return r.result;
  });
}

const ok = (x) => x !== undefined && x !== null && !(x instanceof Error);

// ---- DOM helpers (text only) ---------------------------------------------

// h('td', {class: 'num'}, 'text', child...): strings become text nodes.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// A table; each column is [heading, (row) => cell, className?].
function table(columns, rows, rowAttrs) {
  if (rows.length === 0) return h('p', { class: 'empty' }, 'none yet');
  const head = h('tr', {}, ...columns.map(([name, , cls]) => h('th', { class: cls }, name)));
  const body = rows.map((row) =>
    h('tr', rowAttrs ? rowAttrs(row) : {},
      ...columns.map(([, cell, cls]) => h('td', { class: cls }, cell(row)))));
  return h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, head), h('tbody', {}, ...body)));
}

function show(id, ...nodes) { $(id).replaceChildren(...nodes); }

const short = (s) => (typeof s === 'string' && s.length > 18 ? s.slice(0, 10) + '…' + s.slice(-6) : s);
function agr(uagr) {
  if (uagr === undefined || uagr === null) return '–';
  const v = Number(uagr) / 1e6;
  return v.toLocaleString('en-US', { maximumFractionDigits: Math.abs(v) >= 1000 ? 0 : 3 }) + ' AGR';
}
const pct = (ppm) => (Number(ppm) / 10000).toFixed(1) + '%';
function ago(ms) {
  const s = Math.max(0, (Date.now() - Number(ms)) / 1000);
  if (s < 60) return s.toFixed(0) + ' s ago';
  if (s < 3600) return (s / 60).toFixed(0) + ' min ago';
  return (s / 3600).toFixed(1) + ' h ago';
}
function outcomeClass(s) {
  if (['pass', 'passed', 'finished', 'applied', 'provider_won'].includes(s)) return 'good';
  if (['fail', 'failed', 'cancelled', 'rejected', 'vetoed', 'provider_lost',
       'validator_lost', 'apply_failed'].includes(s)) return 'bad';
  return 'warn';
}
const tag = (s) => h('span', { class: outcomeClass(s) }, s);

// ---- state kept between refreshes -----------------------------------------

let chain = '';                 // genesis hash: a new chain behind the same port resets the rest
const doneTasks = new Map();    // "job/round/worker" -> task answer, for tasks that cannot change
const slashes = [];             // newest first: {height, who, what, amount}
let scannedTo = 0;              // block_results read up to this height
let refreshing = false, again = false;
const disputeValidator = new Map();  // dispute id -> the validator it named

// Why an event took stake or collateral, in words.
const kSlashWhy = {
  slash: (a) => a.reason === 'double_sign' ? 'double sign (tombstoned)' : 'downtime (jailed)',
  task_failed: (a) => 'fraud on task ' + a.task,
  task_missed: (a) => 'missed the deadline of task ' + a.task,
  verdict_outvoted: (a) => 'verdict outvoted on ' + a.task,
  verdict_missed: (a) => 'verdict not sent on ' + a.task,
  round_result_missed: (a) => 'round ' + a.round + ' of job ' + a.job_id + ' not recorded',
  round_result_outvoted: (a) => 'round ' + a.round + ' of job ' + a.job_id + ' outvoted',
  referee_outvoted: () => 'referee outvoted',
  referee_missed: () => 'referee vote not sent',
  dispute_decided: (a) => 'false claim, lost dispute ' + a.dispute,
};

// Every event that burned or slashed something is a slash: validators'
// downtime and double signs, providers' fraud and late penalties,
// validators' wrong or missing verdicts and false claims, referees'.
function slashFrom(height, e) {
  const a = e.attributes || {};
  const amount = a.slashed_uagr || a.burned_uagr;
  if (!amount || amount === '0') return null;
  const who = a.operator || a.validator || a.referee || a.provider ||
              (e.type === 'dispute_decided' ? disputeValidator.get(Number(a.dispute)) : undefined);
  const why = kSlashWhy[e.type] ? kSlashWhy[e.type](a) : e.type;
  return { height, who, what: why, amount };
}

async function scanResults(top) {
  const from = Math.max(scannedTo + 1, top - kResultsScanned + 1, 1);
  const calls = [];
  for (let height = from; height <= top; ++height) calls.push(['block_results', { height }]);
  const answers = await batch(calls);
  for (let i = 0; i < answers.length; ++i) {
    const r = answers[i];
    if (!ok(r)) break;  // read it again next time
    const height = from + i;
    const events = r.end_events.concat(...r.txs.map((t) => t.events));
    for (const e of events) {
      const s = slashFrom(height, e);
      if (s) slashes.unshift(s);
    }
    scannedTo = height;
  }
  slashes.sort((a, b) => b.height - a.height);
  slashes.length = Math.min(slashes.length, kListMax);
}

// ---- rendering ------------------------------------------------------------

function renderChain(status, validators, beacon, earlier) {
  $('chain-id').textContent = status.chain_id + ' · ' + status.moniker + ' · ' + status.version;
  $('height').textContent = status.height;
  $('block-time').dataset.ms = status.latest_block_time_unix_ms;
  $('block-time').textContent = ago(status.latest_block_time_unix_ms);
  if (ok(earlier) && status.height > earlier.height) {
    const s = (status.latest_block_time_unix_ms - earlier.time_unix_ms) /
              (status.height - earlier.height) / 1000;
    $('block-interval').textContent = s.toFixed(2) + ' s';
  }
  if (ok(beacon)) {
    $('beacon').textContent = beacon.beacon;
    $('supply').textContent = agr(beacon.supply_uagr);
  }
  if (!ok(validators)) return;
  $('validator-count').textContent = validators.validators.length;
  // Every validator record: a jailed one leaves the set (power 0) but is
  // listed, with why.
  const power = new Map(validators.validators.map((v) => [v.public_key, v.power]));
  const rows = validators.candidates.map((c) => Object.assign({ power: power.get(c.consensus_key) || 0 }, c));
  rows.sort((a, b) => b.power - a.power || b.stake_uagr - a.stake_uagr ||
            String(a.moniker).localeCompare(String(b.moniker)));
  show('validators', table([
    ['Validator', (v) => v.moniker || short(v.operator), 'mono'],
    ['Power', (v) => v.power, 'num'],
    ['Stake', (v) => agr(v.stake_uagr), 'num'],
    ['Jailed', (v) => (v.tombstoned ? tag('tombstoned') : v.jailed ? tag('jailed') : 'no')],
    ['Missed', (v) => (v.missed_blocks ?? 0) + ' / ' + (v.observed_blocks ?? 0), 'num'],
  ], rows, (v) => ({ 'data-validator': v.operator })));
}

function renderProviders(list) {
  show('providers', table([
    ['Provider', (p) => short(p.address), 'mono'],
    ['Class', (p) => p.hardware_class],
    ['Ask', (p) => p.ask_uagr_per_wu + ' uagr/wu', 'num'],
    ['Reputation', (p) => pct(p.reputation_ppm), 'num'],
    ['Stake', (p) => agr(p.stake_uagr), 'num'],
    ['Tasks', (p) => p.running + '/' + p.capacity_tasks + ' running, ' + p.tasks_passed +
      ' passed, ' + p.tasks_failed + ' failed, ' + p.tasks_late + ' late', 'title'],
  ], list, (p) => ({ 'data-provider': p.address })));
}

function renderJobs(jobs) {
  show('jobs', table([
    ['Job', (j) => j.id, 'num'],
    ['Title', (j) => j.title || '', 'title'],
    ['Client', (j) => short(j.client), 'mono'],
    ['State', (j) => tag(j.status)],
    ['Round', (j) => (j.status === 'finished' ? j.rounds : Math.min(j.round + 1, j.rounds)) +
      ' / ' + j.rounds, 'num'],
    ['Budget', (j) => agr(j.budget_uagr), 'num'],
    ['Max price', (j) => j.price_max_uagr_per_wu + ' uagr/wu', 'num'],
    ['Deadline', (j) => (j.deadline_blocks_max ? '\u2264 ' + j.deadline_blocks_max + ' blocks' :
      'any'), 'num'],
    ['Spent', (j) => agr(j.paid_uagr), 'num'],
    ['Refund', (j) => agr(j.refunded_uagr), 'num'],
    ['Escrow', (j) => agr(j.escrow_uagr), 'num'],
  ], jobs, (j) => ({ 'data-job': j.id })));
}

const kColors = ['#2457c5', '#1d7f3a', '#9a6700', '#7b3fb5', '#0f7c86', '#c2410c'];
const SVG = 'http://www.w3.org/2000/svg';
function s(tagName, attrs, text) {
  const el = document.createElementNS(SVG, tagName);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = String(text);
  return el;
}

// At most kLinePoints points of a line, each the mean of its stretch (the
// last point kept as it is), so a long job draws as fast as a short one.
const kLinePoints = 600;
function thin(line) {
  if (line.length <= kLinePoints) return line;
  const out = [], per = line.length / kLinePoints;
  for (let i = 0; i < kLinePoints - 1; ++i) {
    const part = line.slice(Math.floor(i * per), Math.floor((i + 1) * per));
    out.push([part.reduce((s, p) => s + p[0], 0) / part.length, part.reduce((s, p) => s + p[1], 0) / part.length]);
  }
  out.push(line[line.length - 1]);
  return out;
}

// A legend's colour; set through CSSOM, which the page's CSP allows (a
// style attribute would be refused).
function swatch(color) {
  const i = document.createElement('i');
  i.style.background = color;
  return i;
}

// One chart per job: each task's committed training losses (a line per
// worker, x = round * H + step) and each recorded round's verified
// validation loss (dots at the round's start, joined by a dashed line).
function lossChart(job, tasks, rounds) {
  const H = job.spec.inner_steps;
  const series = new Map();  // worker -> [[x, y]...]
  for (const t of tasks) {
    const losses = t.commitment ? t.commitment.losses : [];
    const line = series.get(t.worker) || [];
    losses.forEach((y, i) => { if (y !== null && isFinite(y)) line.push([t.round * H + i + 1, y]); });
    series.set(t.worker, line);
  }
  const val = rounds.filter((r) => r.recorded && r.validation_loss !== null)
                    .map((r) => [r.round * H, r.validation_loss]);
  for (const [worker, line] of series) series.set(worker, thin(line.sort((a, b) => a[0] - b[0])));
  const all = [...series.values(), val];
  const figure = h('figure', { 'data-job-chart': job.id });
  figure.append(h('h3', {}, 'Job ' + job.id + (job.title ? ': ' : ''), job.title || ''));
  const trainPoints = tasks.reduce((n, t) => n + (t.commitment ? t.commitment.losses.length : 0), 0);
  if (all.every((l) => l.length === 0)) {
    figure.append(h('p', { class: 'empty' }, 'no losses committed yet'));
    return figure;
  }
  const W = 720, Hpx = 260, L = 48, R = 12, T = 10, B = 28;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const line of all) {
    for (const [x, y] of line) {
      x0 = Math.min(x0, x); x1 = Math.max(x1, x);
      y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
  }
  if (x1 === x0) x1 = x0 + 1;
  if (y1 - y0 < 1e-6) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
  const X = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
  const Y = (y) => T + (y1 - y) / (y1 - y0) * (Hpx - T - B);
  const svg = s('svg', { viewBox: `0 0 ${W} ${Hpx}`, class: 'chart', role: 'img',
    'aria-label': 'training and validation loss of job ' + job.id,
    'data-train-points': trainPoints, 'data-val-points': val.length });
  svg.append(s('line', { class: 'axis', x1: L, y1: Hpx - B, x2: W - R, y2: Hpx - B }));
  svg.append(s('line', { class: 'axis', x1: L, y1: T, x2: L, y2: Hpx - B }));
  for (let i = 0; i <= 4; ++i) {
    const y = y0 + (y1 - y0) * i / 4;
    svg.append(s('text', { x: L - 6, y: Y(y) + 4, 'text-anchor': 'end' }, y.toFixed(2)));
  }
  for (let i = 0; i <= 4; ++i) {
    const x = Math.round(x0 + (x1 - x0) * i / 4);
    svg.append(s('text', { x: X(x), y: Hpx - 8, 'text-anchor': 'middle' }, x));
  }
  const legend = h('div', { class: 'legend' });
  for (const [worker, line] of [...series.entries()].sort((a, b) => a[0] - b[0])) {
    if (line.length === 0) continue;
    const color = kColors[worker % kColors.length];
    svg.append(s('polyline', { class: 'train', stroke: color, 'data-worker': worker,
      points: line.map(([x, y]) => X(x).toFixed(1) + ',' + Y(y).toFixed(1)).join(' ') }));
    legend.append(h('span', {}, swatch(color), 'worker ' + worker + ' training loss'));
  }
  if (val.length > 1) {
    svg.append(s('polyline', { class: 'valline',
      points: val.map(([x, y]) => X(x).toFixed(1) + ',' + Y(y).toFixed(1)).join(' ') }));
  }
  for (const [x, y] of val) {
    const dot = s('circle', { class: 'val', cx: X(x).toFixed(1), cy: Y(y).toFixed(1), r: 4 });
    dot.append(s('title', {}, 'verified validation loss ' + y.toFixed(4) + ' at step ' + x));
    svg.append(dot);
  }
  legend.append(h('span', {}, swatch('#b3261e'), 'verified validation loss (per round)'));
  figure.append(svg, legend);
  return figure;
}

function renderVerdicts(verdicts) {
  verdicts.sort((a, b) => b.height - a.height);
  show('verdicts', table([
    ['Height', (v) => v.height, 'num'],
    ['Task', (v) => v.task + ' #' + v.slot],
    ['Validator', (v) => short(v.validator), 'mono'],
    ['Verdict', (v) => h('span', {}, tag(v.outcome), v.reason ? ' (' + v.reason + ')' : '',
                         v.overturned ? ' overturned' : '')],
  ], verdicts.slice(0, kListMax)));
}

function renderDisputes(list) {
  list.sort((a, b) => b.id - a.id);
  show('disputes', table([
    ['#', (d) => d.id, 'num'],
    ['Task', (d) => d.task + ' #' + d.slot],
    ['Opened by', (d) => (d.opener === d.provider ? 'provider ' : 'validator ') + short(d.opener), 'mono'],
    ['Phase', (d) => d.phase],
    ['Outcome', (d) => tag(d.outcome)],
    ['Moves', (d) => d.moves, 'num'],
  ], list.slice(0, kListMax)));
}

function renderSlashes() {
  show('slashes', table([
    ['Height', (x) => x.height, 'num'],
    ['Account', (x) => short(x.who), 'mono'],
    ['Why', (x) => x.what],
    ['Burned', (x) => agr(x.amount), 'num'],
  ], slashes));
}

function renderProposals(list, tallies) {
  show('proposals', table([
    ['#', (p) => p.id, 'num'],
    ['Title', (p) => p.title, 'title'],
    ['Status', (p) => tag(p.status)],
    ['Changes', (p) => p.changes.map((c) => c.name + ' = ' + c.value).join(', ')],
    ['Tally', (p) => {
      const t = tallies.get(p.id);
      if (!t) return '';
      return 'yes ' + pct(t.yes_ppm) + ', no ' + pct(t.no_ppm) + ', veto ' + pct(t.veto_ppm) +
             ', turnout ' + pct(t.turnout_ppm) + (t.quorum_met ? '' : ' (no quorum yet)');
    }],
  ], list, (p) => ({ 'data-proposal': p.id })));
}

// ---- refresh --------------------------------------------------------------

async function refreshOnce() {
  const [status, validators, beacon, providers, jobs, disputes, proposals] = await batch([
    ['status'], ['validators'], ['beacon'], ['providers'], ['jobs', { limit: kJobsShown }],
    ['disputes'], ['proposals'],
  ]);
  if (!ok(status)) throw status;
  if (status.genesis_hash !== chain) {  // first load, or another chain on this port
    chain = status.genesis_hash;
    doneTasks.clear();
    slashes.length = 0;
    scannedTo = 0;
  }
  const [earlier] = await batch([['block', { height: Math.max(1, status.height - 10) }]]);
  renderChain(status, validators, beacon, status.height > 1 ? earlier : null);
  if (ok(providers)) renderProviders(providers.providers);
  if (ok(disputes)) {
    for (const d of disputes.disputes) disputeValidator.set(d.id, d.validator);
    renderDisputes(disputes.disputes);
  }

  // Proposals, with a live tally for those in their voting period.
  const props = ok(proposals) ? proposals.proposals : [];
  const voting = props.filter((p) => p.status === 'voting');
  const tallyAnswers = await batch(voting.map((p) => ['tally', { id: p.id }]));
  const tallies = new Map();
  voting.forEach((p, i) => { if (ok(tallyAnswers[i])) tallies.set(p.id, tallyAnswers[i]); });
  renderProposals(props, tallies);

  // Jobs, then for the newest few their tasks, commitments and rounds.
  const jobList = ok(jobs) ? jobs.jobs : [];
  renderJobs(jobList);
  const charted = jobList.slice(0, kCurveJobs);
  // The tasks of the last rounds only (the tasks call reads 100 rounds at
  // most from from_round).
  const fromRound = (j) => Math.max(0, j.round + 1 - Math.ceil(kTasksPerCurve / j.workers));
  const details = await batch(charted.flatMap((j) => [['job', { id: j.id }],
                                                       ['tasks', { id: j.id, from_round: fromRound(j) }],
                                                       ['round_results', { job: j.id }]]));
  const taskCalls = [], taskKeys = [];
  charted.forEach((j, k) => {
    const tasks = ok(details[3 * k + 1]) ? details[3 * k + 1].tasks : [];
    for (const t of tasks.slice(-kTasksPerCurve)) {
      const key = j.id + '/' + t.round + '/' + t.worker;
      if (doneTasks.has(key) || t.status === 'open') continue;
      taskKeys.push(key);
      taskCalls.push(['task', { job: j.id, round: t.round, worker: t.worker }]);
    }
  });
  const taskAnswers = await batch(taskCalls);
  const fresh = new Map();
  taskAnswers.forEach((t, i) => {
    if (!ok(t)) return;
    fresh.set(taskKeys[i], t);
    // Passed and cancelled are final; a failed task is reopened.
    if (t.status === 'passed' || t.status === 'cancelled') doneTasks.set(taskKeys[i], t);
  });
  const verdicts = [];
  const figures = charted.map((j, k) => {
    const job = ok(details[3 * k]) ? details[3 * k] : null;
    const tasks = ok(details[3 * k + 1]) ? details[3 * k + 1].tasks : [];
    const rounds = ok(details[3 * k + 2]) ? details[3 * k + 2].rounds : [];
    const answers = [];
    for (const t of tasks.slice(-kTasksPerCurve)) {
      const key = j.id + '/' + t.round + '/' + t.worker;
      const a = fresh.get(key) || doneTasks.get(key);
      if (!a) continue;
      answers.push(Object.assign({ round: t.round, worker: t.worker }, a));
      for (const slot of a.slots || []) {
        for (const v of slot.verdicts) verdicts.push(Object.assign({ task: key, slot: slot.slot }, v));
      }
    }
    return job ? lossChart(job, answers, rounds) : h('p', { class: 'empty' }, 'job ' + j.id + ' unreadable');
  });
  show('curves', ...figures);
  renderVerdicts(verdicts);

  await scanResults(status.height);
  renderSlashes();
  $('error').textContent = '';
}

// One refresh at a time; a block that arrives meanwhile asks for one more.
async function refresh() {
  if (refreshing) { again = true; return; }
  refreshing = true;
  try {
    do {
      again = false;
      await refreshOnce();
    } while (again);
  } catch (e) {
    $('error').textContent = 'cannot read the node: ' + e.message + ' (retrying)';
  } finally {
    refreshing = false;
  }
}

// ---- live updates ---------------------------------------------------------

let socket = null, backoffMs = 500;

function setLive(on, text) {
  const badge = $('live');
  badge.textContent = text;
  badge.className = on ? 'badge' : 'badge off';
}

function connect() {
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  socket = new WebSocket(url);
  socket.onopen = () => {
    backoffMs = 500;
    socket.send(JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'subscribe',
                                 params: { topic: 'new_block' } }));
    setLive(true, 'live');
    refresh();  // catch up on what happened while disconnected
  };
  socket.onmessage = (m) => {
    let msg;
    try { msg = JSON.parse(m.data); } catch { return; }
    if (msg.method === 'event' && msg.params && msg.params.topic === 'new_block') {
      $('height').textContent = msg.params.data.height;
      refresh();
    }
  };
  socket.onclose = () => {
    setLive(false, 'reconnecting');
    setTimeout(connect, backoffMs);
    backoffMs = Math.min(backoffMs * 2, 5000);
  };
}

setInterval(() => {  // keeps "12 s ago" true between blocks
  const t = $('block-time');
  if (t.dataset.ms) t.textContent = ago(Number(t.dataset.ms));
}, 1000);

refresh();
connect();
