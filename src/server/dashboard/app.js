// app.js — the operator dashboard (docs/dashboard.md). It asks for the
// operator token, keeps it in this tab's sessionStorage only, and reads
// offpayd's admin JSON endpoints of this origin with it: the overview
// (money by kind, settlement over time, terminals, revoked credentials),
// the cases, whose evidence files it downloads as blobs, and the audit.
// Every value reaches the page as text (textContent), never as markup.
'use strict';

(function () {
  const KEY = 'offpay.operator-token';
  const SVGNS = 'http://www.w3.org/2000/svg';
  const CASES_PAGE = 1000;
  const CASES_PAGES_MAX = 10;

  const byId = (id) => document.getElementById(id);
  // offpayd's clock at the last reply, and this page's clock then: a
  // refresh counts the range back from offpayd's clock now, estimated as
  // the one at the last reply plus the time gone since
  let lastTime = null;
  let lastAt = 0;

  class AuthError extends Error {}

  // el('td', {class: 'num', 'data-x': 1}, 'text', child, ...)
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) e.setAttribute(k, String(v));
    }
    for (const k of kids) {
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }

  // A unix time as "2026-12-02 03:55:15 UTC"; "never" for none.
  function when(t) {
    if (t === null || t === undefined) return 'never';
    return new Date(t * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  }

  // Digit groups of a whole number of major units: Intl formats a BigInt
  // exactly, whatever its size.
  const GROUPS = new Intl.NumberFormat('en', { useGrouping: true });

  // {minor, decimal, currency} as "1,234,567.89 EUR". From offpayd's
  // decimal, the exact amount written with the currency's minor units
  // (JPY none, KWD three): its whole part grouped, its fraction as it
  // came. No floating point: minor, a JSON number, is not exact past 2^53.
  function money(a) {
    const m = /^(-?)(\d+)((?:\.\d+)?)$/.exec(a.decimal);
    if (m === null) return a.decimal + ' ' + a.currency; // not offpayd's form
    return m[1] + GROUPS.format(BigInt(m[2])) + m[3] + ' ' + a.currency;
  }

  // Rows of several currencies with each currency's together, by code, in
  // offpayd's order within it (by kind, or by time, which interleaves
  // them); the first row of each currency marked.
  function byCurrency(list) {
    const out = [...list].sort((x, y) => (x.currency < y.currency ? -1 : x.currency > y.currency ? 1 : 0));
    return out.map((x, i) => ({ x, first: i > 0 && out[i - 1].currency !== x.currency }));
  }

  function showError(text) {
    const e = byId('error');
    e.textContent = text;
    e.hidden = false;
  }

  function clearError() {
    const e = byId('error');
    e.textContent = '';
    e.hidden = true;
  }

  const UNREACHABLE = 'offpayd did not answer (down, or the network or a proxy): nothing new is shown';

  // One request of an admin endpoint with the token: {r, j, text}, j the
  // parsed body, text as it came. Throws AuthError on a 401, and an Error
  // in words when offpayd did not answer at all, or something in front of
  // it (a proxy) did: a body that is not JSON is not offpayd's, so it is
  // not parsed.
  async function call(path) {
    let r;
    try {
      r = await fetch(path, {
        headers: { Authorization: 'Bearer ' + sessionStorage.getItem(KEY) },
        cache: 'no-store',
        credentials: 'omit',
        redirect: 'error',
      });
    } catch (e) { // a network error: fetch says only "Failed to fetch"
      throw new Error(UNREACHABLE);
    }
    if (r.status === 401) throw new AuthError('offpayd refused the operator token');
    const type = r.headers.get('Content-Type') || '';
    let j = null, text = '';
    if (/^application\/json\b/i.test(type)) {
      try {
        text = await r.text();
        j = JSON.parse(text);
      } catch (e) {
        j = null;
      }
    }
    if (j === null || typeof j !== 'object') {
      throw new Error('HTTP ' + r.status + ' from something in front of offpayd, not offpayd (' +
        path + ' answered ' + (type || 'no Content-Type') + ')');
    }
    return { r, j, text };
  }

  // offpayd's error answer in words: the path, status, error and hint.
  function answered(path, r, j) {
    return path + ' answered HTTP ' + r.status + ' ' + (j.error || r.statusText) +
      (j.hint ? ': ' + j.hint : '');
  }

  // call() of an endpoint that must answer 2xx: the parsed body.
  async function api(path) {
    const { r, j } = await call(path);
    if (!r.ok) throw new Error(answered(path, r, j));
    return j;
  }

  function fillBody(table, rows, emptyText, columns) {
    const body = byId(table).tBodies[0];
    body.replaceChildren();
    if (rows.length === 0) {
      body.append(el('tr', {}, el('td', { class: 'empty', colspan: columns }, emptyText)));
      return;
    }
    for (const r of rows) body.append(r);
  }

  // The last audit result shown: {time (offpayd's clock when the
  // overview it followed was read), text, ok}, or null.
  let lastAudit = null;
  const TITLE = document.title;

  // The audit line when this refresh did not get a result: "not known",
  // with the last result and when it was had.
  function auditUnknown(why) {
    const p = byId('audit');
    p.className = 'audit';
    delete p.dataset.ok;
    p.textContent = 'audit not known: ' + why +
      (lastAudit ? ' (the last result, at ' + when(lastAudit.time) + ', was: ' + lastAudit.text + ')'
        : '');
  }

  // The audit recomputes every balance (GET /v1/admin/audit): asked for
  // after the rest is shown, as it takes longest on a big ledger. A failed
  // audit is 500 with its report and "error":"EAUDIT". An audit that could
  // not run is said beside the figures, which are current: not "STALE".
  async function loadAudit(time) {
    const p = byId('audit');
    p.className = 'audit';
    delete p.dataset.ok;
    p.textContent = 'audit running...';
    let res;
    try {
      res = await call('/v1/admin/audit');
    } catch (e) {
      if (e instanceof AuthError) throw e;
      auditNotRun(e.message);
      return;
    }
    const { r, j } = res;
    if (r.status === 429 && j.error === 'AUDIT_RUNNING') {
      // one audit at a time at offpayd: another tab or operator's runs
      p.textContent = 'audit not run now: another audit is running (another tab or operator); refresh once it has ended';
      return;
    }
    if (r.status !== 200 && j.error !== 'EAUDIT') {
      auditNotRun(answered('/v1/admin/audit', r, j));
      return;
    }
    renderAudit(j, time);
  }

  function auditNotRun(why) {
    auditUnknown('the audit did not run');
    showError('The audit did not run: ' + why + '. The figures shown are current; the audit is not known.');
  }

  function renderAudit(a, time) {
    const p = byId('audit');
    p.className = 'audit ' + (a.ok ? 'pass' : 'fail');
    p.dataset.ok = String(a.ok);
    p.textContent = a.ok
      ? 'audit passed: ' + a.accounts + ' accounts, ' + a.transfers + ' transfers, every balance holds'
      : 'AUDIT FAILED: imbalanced ' + a.imbalanced + ', negative ' + a.negative +
        ', escrow mismatch ' + a.escrow_mismatch + ', settle mismatch ' + a.settle_mismatch +
        ', release mismatch ' + a.release_mismatch +
        ', request mismatch ' + a.request_mismatch +
        ', refund mismatch ' + a.refund_mismatch +
        ', mark mismatch ' + a.mark_mismatch +
        ', case mismatch ' + a.case_mismatch +
        ', result mismatch ' + a.result_mismatch +
        ', fund mismatch ' + a.fund_mismatch;
    lastAudit = { time, text: p.textContent, ok: a.ok };
    // announced (#error is role=alert) and seen from another tab
    document.title = (a.ok ? '' : 'AUDIT FAILED \u2013 ') + TITLE;
    if (!a.ok) showError(p.textContent + ' (offpay admin audit says more)');
  }

  function renderKinds(kinds) {
    fillBody('kinds', byCurrency(kinds).map(({ x: k, first }) =>
      el('tr', { 'data-kind': k.kind, 'data-currency': k.currency, class: first ? 'currency-start' : null },
        el('td', {}, k.kind),
        el('td', {}, k.currency),
        el('td', { class: 'num' }, k.accounts),
        el('td', { class: 'num', 'data-minor': k.balance.minor }, money(k.balance)))),
    'no accounts yet', 4);
  }

  // The outcomes (settlement.md §4) as the chart stacks them, bottom
  // first, and its legend lists them; their colours are style.css's .bar-*.
  const OUTCOMES = ['settled', 'settled_guaranteed', 'duplicate', 'double_spend', 'unpaid', 'rejected'];
  const outcomeRank = (o) => (OUTCOMES.includes(o) ? OUTCOMES.indexOf(o) : OUTCOMES.length);

  // One bar per bucket stacked by outcome (counts, every currency's
  // together: the table below gives each currency's figures), a line of
  // background between two parts, and a text legend of the outcomes shown.
  function renderChart(s) {
    const box = byId('settlement-chart');
    const legend = byId('settlement-legend');
    box.replaceChildren();
    legend.replaceChildren();
    legend.hidden = true;
    const starts = [...new Set(s.buckets.map((b) => b.start))].sort((a, b) => a - b);
    if (starts.length === 0) return;
    const outcomes = [...new Set(s.buckets.map((b) => b.outcome))]
      .sort((a, b) => outcomeRank(a) - outcomeRank(b) || (a < b ? -1 : a > b ? 1 : 0));
    // "start outcome" -> {count, charged: its amounts, one per currency}
    const parts = new Map();
    const totals = new Map();
    for (const b of s.buckets) {
      const k = b.start + ' ' + b.outcome;
      const p = parts.get(k) || { count: 0, charged: [] };
      p.count += b.count;
      p.charged.push(b.charged);
      parts.set(k, p);
      totals.set(b.start, (totals.get(b.start) || 0) + b.count);
    }
    const maxCount = Math.max(...totals.values());
    const barW = 28, gap = 10, h = 120, top = 24, bottom = 30;
    const width = starts.length * (barW + gap) + gap;
    const chart = svg('svg', { width, height: h + top + bottom, role: 'img',
      'aria-label': 'presentments uploaded per bucket, stacked by outcome ' +
        '(the legend names the colours, the table below gives the figures)' });
    starts.forEach((start, i) => {
      const x = gap + i * (barW + gap);
      let y = top + h;
      for (const o of outcomes) {
        const p = parts.get(start + ' ' + o);
        if (p === undefined) continue;
        const bh = Math.max(2, Math.round((p.count / maxCount) * h));
        y -= bh;
        // its top pixel left as background: two parts never touch
        const r = svg('rect', { x, y: y + 1, width: barW, height: bh - 1, class: 'bar-' + o });
        const t = svg('title', {});
        t.textContent = when(start) + ': ' + p.count + ' ' + o + ', charged ' +
          byCurrency(p.charged).map(({ x: a }) => money(a)).join(' and ');
        r.append(t);
        chart.append(r);
      }
      const label = svg('text', { x: x + barW / 2, y: top + h + 14, 'text-anchor': 'middle' });
      label.textContent = new Date(start * 1000).toISOString()
        .slice(s.width >= 86400 ? 5 : 11, s.width >= 86400 ? 10 : 16);
      chart.append(label);
      const n = svg('text', { x: x + barW / 2, y: y - 3, 'text-anchor': 'middle' });
      n.textContent = String(totals.get(start));
      chart.append(n);
    });
    box.append(chart);
    for (const o of outcomes) {
      const swatch = svg('svg', { width: 14, height: 14, 'aria-hidden': 'true', focusable: 'false' });
      swatch.append(svg('rect', { x: 0, y: 0, width: 14, height: 14, class: 'bar-' + o }));
      legend.append(el('li', { 'data-outcome': o }, swatch, ' ', o));
    }
    legend.hidden = false;
  }

  function renderSettlement(s) {
    byId('settlement-range').textContent = 'Presentments uploaded from ' + when(s.from) +
      ' to ' + when(s.to) + ', in buckets of ' +
      (s.width % 86400 === 0 ? s.width / 86400 + ' day(s)'
        : s.width % 3600 === 0 ? s.width / 3600 + ' hour(s)' : s.width / 60 + ' minutes') + '.';
    renderChart(s);
    fillBody('buckets', byCurrency(s.buckets).map(({ x: b, first }) =>
      el('tr', { 'data-start': b.start, 'data-outcome': b.outcome, 'data-currency': b.currency,
        class: first ? 'currency-start' : null },
        el('td', {}, when(b.start)),
        el('td', {}, b.currency),
        el('td', {}, b.outcome),
        el('td', { class: 'num' }, b.count),
        el('td', { class: 'num', 'data-minor': b.charged.minor }, money(b.charged)),
        el('td', { class: 'num', 'data-minor': b.paid.minor }, money(b.paid)),
        el('td', { class: 'num', 'data-minor': b.covered.minor }, money(b.covered)))),
    'nothing uploaded in this range', 7);
  }

  // When a terminal needs the operator's attention (docs/dashboard.md,
  // "Terminals that need attention"): the terminal's default risk rules
  // (protocol.md §5.4), as offpayd does not know each terminal's own.
  const CLOCK_OFF = 120; // s, its skew: its sync warns beyond it
  const SYNC_OLD = 72 * 3600; // s, its max_offline_hours: it stops accepting
  // s: a terminal (of 0.27.0 on) reports again once it took the lists at
  // its sync; lists older than its sync by more did not come (its clock?)
  const LISTS_LAG = 300;

  // A span of seconds in words: "45 s", "12 min", "3 h 5 min", "4 d 2 h".
  function span(sec) {
    if (sec < 60) return sec + ' s';
    const min = Math.round(sec / 60);
    if (min < 60) return min + ' min';
    const h = Math.floor(min / 60);
    if (h < 48) return h + ' h ' + (min % 60) + ' min';
    return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
  }

  // What needs attention in terminal t at offpayd's time now, in words:
  // [{key, text}], empty when nothing does (or it never reported and was
  // registered within the offline window).
  function attention(t, now) {
    const rep = t.report;
    const out = [];
    if (!rep) {
      // a live terminal registered longer ago than a terminal may stay
      // offline that never reported (as `offpay admin terminals --stale`
      // flags it; since 0.28.0): lost in a drawer, or never set up
      if (!t.revoked && t.created_at && now - t.created_at > SYNC_OLD) {
        out.push({ key: 'never', text: 'never reported, registered ' + span(now - t.created_at) + ' ago' });
      }
      return out;
    }
    if (rep.pending > 0) {
      // the money they hold: from terminals of 0.27.0 on
      out.push({ key: 'pending',
        text: rep.pending + (rep.pending === 1 ? ' entry' : ' entries') + ' not uploaded' +
          (rep.pending_amount ? ' (' + money(rep.pending_amount) + ')' : '') });
    }
    // what its last report said a payment met there (null: an older
    // terminal, which does not say)
    if (!t.revoked && rep.accepting === false) {
      out.push({ key: 'refusing', text: 'refusing payments (' + rep.state + ')' });
    }
    if (!t.revoked && rep.lists_at !== null && rep.lists_at !== undefined) {
      if (rep.lists_at === 0) {
        out.push({ key: 'lists', text: "never took offpayd's lists" });
      } else {
        // their age then: on its clock, or on offpayd's when its own ran
        // ahead (it records that sync at offpayd's time)
        const age = Math.min(rep.synced_at, rep.reported_at) - rep.lists_at;
        if (age > LISTS_LAG) {
          out.push({ key: 'lists', text: 'lists not taken at its last sync (' + span(age) + ' old then)' });
        }
      }
    }
    const off = rep.synced_at - rep.reported_at;
    if (Math.abs(off) > CLOCK_OFF) {
      out.push({ key: 'clock',
        text: 'clock ' + span(Math.abs(off)) + (off > 0 ? ' ahead of' : ' behind') + " offpayd's" });
    }
    // a revoked terminal is not expected to sync again
    if (!t.revoked && now - rep.reported_at > SYNC_OLD) {
      out.push({ key: 'sync', text: 'last sync ' + span(now - rep.reported_at) + ' ago' });
    }
    return out;
  }

  // A revoked terminal's reason as the ledger keeps it, whole; offpayd
  // gives null for one revoked before the ledger kept reasons (0.18.0).
  function revokeReason(t) {
    return t.revoke_reason !== null ? t.revoke_reason : 'not recorded';
  }

  function renderTerminals(terminals, more, now) {
    fillBody('terminals', terminals.map((t) => {
      const rep = t.report;
      const att = attention(t, now);
      return el('tr', { 'data-terminal': t.terminal, 'data-attention': att.map((a) => a.key).join(' '),
        class: att.length ? 'attention' : null },
        // its id, and where it stands when the operator labelled it
        // (since 0.27.0)
        el('td', {}, t.label ? t.terminal + ' (' + t.label + ')' : String(t.terminal)),
        el('td', {}, t.merchant_name + ' (' + t.merchant + ')'),
        el('td', { 'data-time': t.last_upload }, when(t.last_upload)),
        el('td', { class: 'last-sync', 'data-time': rep ? rep.reported_at : null },
          rep ? when(rep.reported_at) : 'not reported'),
        el('td', { 'data-time': rep ? rep.synced_at : null }, rep ? when(rep.synced_at) : '-'),
        el('td', { class: 'num pending', 'data-pending': rep ? rep.pending : null },
          rep ? rep.pending : 'unknown'),
        el('td', { class: 'num' }, t.presentments),
        el('td', t.revoked ? { class: 'revoked' } : {},
          t.revoked ? 'revoked ' + when(t.revoked_at) : 'active'),
        // why, beside its state: '-' while active, as a value that does
        // not apply is elsewhere in this table
        el('td', { class: 'revoke-reason' }, t.revoked ? revokeReason(t) : '-'),
        el('td', { class: 'attention' },
          att.length ? 'needs attention: ' + att.map((a) => a.text).join('; ')
            : rep ? 'none' : 'not known (no report)'));
    }), 'no terminals yet', 10);
    fillBody('revoked-terminals', terminals.filter((t) => t.revoked).map((t) =>
      el('tr', { 'data-terminal': t.terminal },
        el('td', {}, t.terminal),
        el('td', {}, t.merchant_name + ' (' + t.merchant + ')'),
        el('td', {}, when(t.revoked_at)),
        el('td', { class: 'revoke-reason' }, revokeReason(t)))),
    more ? 'none among the first 1,000 terminals listed (offpayd holds more: offpay admin terminals lists them all)'
      : 'no revoked terminals', 4);
  }

  function renderRevoked(list) {
    fillBody('revoked-credentials', list.map((v) =>
      el('tr', { 'data-serial': v.serial },
        el('td', {}, v.serial),
        el('td', {}, v.account),
        el('td', {}, when(v.revoked_at)),
        el('td', {}, v.reason),
        el('td', { class: 'num', 'data-minor': v.remaining.minor }, money(v.remaining)),
        el('td', {}, v.released ? 'yes' : 'no'))),
    'no revoked credentials', 6);
  }

  // A download's outcome is said beside its button: it is no refresh, so
  // it neither clears nor sets the board's error or "STALE".
  async function download(id, button, note) {
    note.textContent = '';
    try {
      const path = '/v1/admin/cases/' + encodeURIComponent(id) + '/evidence';
      const { r, j, text } = await call(path);
      if (!r.ok) throw new Error(answered(path, r, j));
      const blob = new Blob([text], { type: 'application/json' });
      const url = URL.createObjectURL(blob);
      const a = el('a', { href: url, download: 'case-' + id + '.json' });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      button.textContent = 'downloaded';
    } catch (e) {
      if (e instanceof AuthError) {
        fail(e);
        return;
      }
      note.textContent = 'could not download case ' + id + ': ' + e.message;
    }
  }

  // Kinds without an evidence file (settlement.md §9): a charge_mismatch
  // case's two charges are both the ledger's record of one terminal's
  // uploads, nothing a file could prove offline.
  const NO_FILE = new Set(['charge_mismatch']);

  function renderCases(cases) {
    fillBody('cases', cases.map((c) => {
      let cell;
      if (NO_FILE.has(c.kind)) {
        cell = el('td', { class: 'no-file' },
          'no evidence file: the two uploads in the ledger are the record');
      } else {
        const b = el('button', { type: 'button', class: 'evidence', 'data-case': c.id },
          'download case-' + c.id + '.json');
        const note = el('span', { class: 'download-error', role: 'status', 'data-case': c.id });
        b.addEventListener('click', () => download(c.id, b, note));
        cell = el('td', {}, b, ' ', note);
      }
      return el('tr', { 'data-case': c.id, 'data-kind': c.kind },
        el('td', {}, c.id),
        el('td', { class: 'kind' }, c.kind),
        el('td', {}, c.serial),
        el('td', {}, c.counter),
        el('td', {}, c.terminal),
        el('td', {}, when(c.opened_at)),
        cell);
    }), 'no open cases', 7);
  }

  // Every open case (an operator closes one once worked: offpay admin
  // case CASE --close), oldest first (the list is paged by id), up to
  // CASES_PAGES_MAX pages; more says there were more.
  async function allCases() {
    let out = [];
    let after = null;
    let more = false;
    for (let i = 0; i < CASES_PAGES_MAX; i++) {
      const q = '/v1/admin/cases?state=open&limit=' + CASES_PAGE + (after ? '&after=' + after : '');
      const page = await api(q);
      out = out.concat(page.cases);
      if (page.next_after === null) break;
      after = page.next_after;
      if (i === CASES_PAGES_MAX - 1) { // a full last page: any beyond it?
        const next = await api('/v1/admin/cases?state=open&limit=1&after=' + after);
        more = next.cases.length > 0;
      }
    }
    return { cases: out, more: more };
  }

  function fail(e) {
    // what is on screen is from an earlier load: said, not shown as current
    // (nothing is, before the first load: then nothing is stale)
    auditUnknown('the last refresh failed');
    if (document.body.dataset.loaded && !/STALE/.test(byId('as-of').textContent)) {
      byId('as-of').textContent += ' (STALE: the last refresh failed)';
    }
    if (e instanceof AuthError) {
      sessionStorage.removeItem(KEY);
      byId('board').hidden = true;
      byId('login').hidden = false;
      byId('refresh').hidden = true;
      byId('logout').hidden = true;
      showError('Wrong operator token: offpayd answered 401 Unauthorized. Nothing is shown.');
      // the control pressed is hidden now (unless it was the login's own)
      if (!byId('login').contains(document.activeElement)) byId('token').focus();
    } else {
      showError('Could not load the dashboard: ' + e.message);
    }
  }

  // One load at a time: a refresh or a range applied while one runs is
  // ignored, so that a slow answer cannot land after a newer one, nor
  // audits pile up at offpayd. The buttons are marked aria-disabled, not
  // disabled: a disabled button loses the keyboard focus, and the user
  // pressing it would have to find their place again (WCAG 2.4.3).
  let loading = false;
  const LOADERS = ['refresh', 'range-apply'];

  function busy(on) {
    loading = on;
    for (const id of LOADERS) {
      if (on) byId(id).setAttribute('aria-disabled', 'true');
      else byId(id).removeAttribute('aria-disabled');
    }
    byId('refresh').textContent = on ? 'Loading...' : 'Refresh';
  }

  async function load() {
    if (loading) return;
    busy(true);
    clearError();
    try {
      const [width, span] = byId('range').value.split(':').map(Number);
      let q = '/v1/admin/overview?width=' + width;
      if (lastTime !== null) {
        const gone = Math.max(0, Math.floor((Date.now() - lastAt) / 1000));
        q += '&from=' + Math.max(0, lastTime + gone - span);
      } else if (span !== 86400) { // offpayd's default is the last day
        q += '&from=' + Math.max(0, Math.floor(Date.now() / 1000) - span);
      }
      const o = await api(q);
      lastTime = o.time;
      lastAt = Date.now();
      const cases = await allCases();
      renderKinds(o.kinds);
      renderSettlement(o.settlement);
      renderTerminals(o.terminals, o.more.terminals, o.time);
      renderCases(cases.cases);
      renderRevoked(o.revoked_credentials);
      // a list cut at its cap says so: the figures beside it are not all
      byId('kinds-more').hidden = !o.more.kinds;
      byId('buckets-more').hidden = !o.more.buckets;
      byId('terminals-more').hidden = !o.more.terminals;
      byId('revoked-more').hidden = !o.more.revoked_credentials;
      byId('cases-more').hidden = !cases.more;
      byId('as-of').textContent = 'as of ' + when(o.time);
      // the login gives way to the board: the focus, in the login form
      // (or nowhere, on a reload), goes to the board's first heading
      const login = byId('login');
      const focus = document.activeElement;
      const moveFocus = !login.hidden &&
        (focus === null || focus === document.body || login.contains(focus));
      login.hidden = true;
      byId('board').hidden = false;
      byId('refresh').hidden = false;
      byId('logout').hidden = false;
      if (moveFocus) byId('board-heading').focus();
      document.body.dataset.loaded = String(o.time);
      await loadAudit(o.time);
    } catch (e) {
      fail(e);
    } finally {
      busy(false);
    }
  }

  byId('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = byId('token').value.trim();
    byId('token').value = '';
    if (t === '') return;
    sessionStorage.setItem(KEY, t);
    load();
  });
  byId('refresh').addEventListener('click', load);
  // not the select's change: Chromium fires it at each arrow key on a
  // closed select, so a keyboard user passing over an option would load it
  byId('range-apply').addEventListener('click', load);
  byId('logout').addEventListener('click', () => {
    sessionStorage.removeItem(KEY);
    location.reload();
  });
  if (sessionStorage.getItem(KEY)) load();
})();
