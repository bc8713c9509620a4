// dashboard.js — drives offpayd's operator dashboard in headless Chromium
// (Debian's chromium, through puppeteer-core installed by scripts/setup.sh)
// for tests/browser/dashboard.sh, which checks what this prints.
//
//   node dashboard.js URL TOKEN OUTDIR CASE
//
// (CASE "-": log in and read the audit line only.)
// It opens URL/dashboard, tries a wrong token (the page must say so), then
// the right one, and reads what the page shows into one JSON object on
// standard output: the audit line, money by kind, the buckets, terminals,
// cases, revoked credentials and terminals, the page's response headers,
// and every console error (a Content-Security-Policy violation is one).
// It clicks the evidence button of case CASE and waits for the browser to
// save OUTDIR/case-CASE.json. It chooses the daily range by keyboard
// (an arrow key, then Apply) and refreshes by keyboard, where the focus
// must stay, and opens another tab 390 px and 320 px wide (reflow). Then,
// with requests answered by the browser itself (request interception),
// what the page says when things fail: a download that fails (beside its
// button), offpayd not answering, a proxy's HTML 502, an audit that cannot
// run (503 ESTORE), an audit that fails, a refresh met by a 401; and
// offpayd's overview changed: terminals' reports 73 h old, money in three
// currencies (past 2^53 minor units), every outcome in the chart with an
// empty list; then a refresh that passes again. Screenshots:
// OUTDIR/dashboard-*.png. Checks it makes itself (accessibility, what a
// row says, amounts) go into "checks": [{name, ok, what, got}], each one
// required by dashboard.sh.
'use strict';

const fs = require('fs');
const path = require('path');

let puppeteer;
try {
  puppeteer = require('puppeteer-core');
} catch (e) {
  console.error('dashboard.js: puppeteer-core is not installed (NODE_PATH=' +
    (process.env.NODE_PATH || '') + '): run scripts/setup.sh');
  process.exit(3);
}

const [url, token, outdir, caseId] = process.argv.slice(2);
if (!url || !token || !outdir || !caseId) {
  console.error('usage: node dashboard.js URL TOKEN OUTDIR CASE');
  process.exit(2);
}

async function waitFile(file, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fs.existsSync(file) && fs.statSync(file).size > 0 &&
        !fs.existsSync(file + '.crdownload')) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

// The chart's bars and legend, and contrasts (WCAG 2.1: text 1.4.3,
// graphics 1.4.11) computed in the page from the computed colours, each
// against the first opaque background behind it: {bars: [{outcome,
// contrast}], legend: [{outcome, text, same}] (same: its swatch is the
// bar's colour), empty: [contrasts of .empty texts], text: the lowest
// contrast of any text shown, with where}.
function looks(page) {
  return page.evaluate(() => {
    const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
    const lum = (v) => {
      const [r, g, b] = v.slice(0, 3).map((x) => {
        const c = x / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const ratio = (a, b) => {
      const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
      return Math.round(((x + 0.05) / (y + 0.05)) * 100) / 100;
    };
    const behind = (e) => {
      for (; e; e = e.parentElement) {
        const v = rgb(getComputedStyle(e).backgroundColor);
        if (v.length === 3 || v[3] > 0) return v;
      }
      return [255, 255, 255];
    };
    const outcome = (e) => (e.getAttribute('class') || '').replace(/^bar-/, '');
    const bars = [...document.querySelectorAll('#settlement-chart svg rect')].map((r) => ({
      outcome: outcome(r), fill: getComputedStyle(r).fill,
      contrast: ratio(rgb(getComputedStyle(r).fill), behind(r.parentElement)) }));
    const legend = [...document.querySelectorAll('#settlement-legend li')].map((li) => {
      const sw = li.querySelector('rect');
      return { outcome: sw ? outcome(sw) : null, text: li.textContent.trim(), visible: li.offsetParent !== null,
        same: sw !== null && bars.filter((b) => b.outcome === outcome(sw))
          .every((b) => b.fill === getComputedStyle(sw).fill) };
    });
    const empty = [...document.querySelectorAll('.empty')].map((e) =>
      ratio(rgb(getComputedStyle(e).color), behind(e)));
    let text = { contrast: 21, where: null };
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const e = n.parentElement;
      if (n.textContent.trim() === '' || e.closest('svg') || e.getClientRects().length === 0) continue;
      const st = getComputedStyle(e);
      const large = parseFloat(st.fontSize) >= 24 || (parseFloat(st.fontSize) >= 18.66 && Number(st.fontWeight) >= 700);
      const c = ratio(rgb(st.color), behind(e));
      if (c / (large ? 3 : 4.5) < text.contrast / (text.large ? 3 : 4.5)) {
        text = { contrast: c, large, where: e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
          (e.className ? '.' + String(e.className).replace(/ /g, '.') : '') + ': ' + n.textContent.trim().slice(0, 40) };
      }
    }
    return { bars, legend, empty, text };
  });
}

// The rows of table id as arrays of cell texts, with the row's data-*.
async function table(page, id) {
  return page.$$eval('#' + id + ' tbody tr', (rows) => rows.map((r) => ({
    data: Object.assign({}, r.dataset),
    cells: [...r.cells].map((c) => ({ text: c.textContent, data: Object.assign({}, c.dataset) })),
  })));
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: (process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [])
      .concat(['--disable-gpu', '--no-first-run', '--disable-extensions',
        '--disable-background-networking', '--disable-component-update',
        '--disable-default-apps', '--disable-sync', '--metrics-recording-only',
        '--no-default-browser-check']),
  });
  const out = { console_errors: [], requests_elsewhere: [], fault_console: [], checks: [] };
  const check = (name, ok, what, got) => out.checks.push({ name, ok: Boolean(ok), what, got });
  let faults = null; // (request) => true when it answered the request itself
  let faulting = false; // while the faults run: their console errors apart
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const origin = new URL(url).origin;
    page.on('console', (m) => {
      // the faults below make the browser log their failed requests
      if (m.type() === 'error') (faulting ? out.fault_console : out.console_errors).push(m.text());
    });
    page.on('pageerror', (e) => out.console_errors.push(String(e)));
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(origin + '/') && !u.startsWith('blob:') && !u.startsWith('data:')) {
        out.requests_elsewhere.push(u);
      }
    });
    const cdp = await browser.target().createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', {
      behavior: 'allow', downloadPath: path.resolve(outdir), eventsEnabled: true,
    });

    const resp = await page.goto(url + '/dashboard', { waitUntil: 'load' });
    out.status = resp.status();
    out.headers = resp.headers();
    out.html_has_data = (await resp.text()).includes('EUR');
    await page.screenshot({ path: path.join(outdir, 'dashboard-login.png') });

    if (caseId === '-') { // the audit line only (a ledger the test broke)
      await page.type('#token', token);
      await page.click('#open');
      await page.waitForSelector('#audit[data-ok]', { timeout: 60000 });
      out.audit = await page.$eval('#audit', (e) => ({ ok: e.dataset.ok, text: e.textContent }));
      out.title = await page.title();
      out.error = await page.$eval('#error', (e) => (e.hidden ? null : e.textContent));
      out.roles = await page.$$eval('#audit, #as-of, #error',
        (l) => l.map((e) => e.id + '=' + e.getAttribute('role')).join(' '));
      out.cases = await table(page, 'cases');
      out.evidence_buttons = await page.$$eval('button.evidence', (l) => l.map((b) => b.dataset.case));
      await page.screenshot({ path: path.join(outdir, 'dashboard-audit-failed.png') });
      return out;
    }
    // A wrong token: the page says so, and shows nothing.
    await page.type('#token', 'not-the-operator-token');
    await page.click('#open');
    await page.waitForSelector('#error:not([hidden])', { timeout: 15000 });
    out.wrong_token = {
      error: await page.$eval('#error', (e) => e.textContent),
      as_of: await page.$eval('#as-of', (e) => e.textContent),
      board_hidden: await page.$eval('#board', (e) => getComputedStyle(e).display === 'none'),
      stored: await page.evaluate(() => sessionStorage.length),
    };
    await page.screenshot({ path: path.join(outdir, 'dashboard-wrong-token.png') });

    // The operator token.
    await page.type('#token', token);
    await page.click('#open');
    await page.waitForSelector('body[data-loaded]', { timeout: 15000 });
    const focused = () => page.evaluate(() => {
      const a = document.activeElement;
      return a === null ? null : a.id || a.tagName.toLowerCase();
    });
    const afterLogin = await focused();
    check('login_focus', afterLogin === 'board-heading',
      'after the login the focus is on the board\'s heading (WCAG 2.4.3)', afterLogin);
    out.error_hidden = await page.$eval('#error', (e) => getComputedStyle(e).display === 'none');
    out.login_hidden = await page.$eval('#login', (e) => getComputedStyle(e).display === 'none');
    out.token_field_empty = await page.$eval('#token', (e) => e.value === '');
    await page.waitForSelector('#audit[data-ok]', { timeout: 60000 });
    out.audit = await page.$eval('#audit', (e) => ({ ok: e.dataset.ok, text: e.textContent }));
    out.kinds = await table(page, 'kinds');
    out.buckets = await table(page, 'buckets');
    out.bars = await page.$$eval('#settlement-chart svg rect', (r) => r.length);
    // every outcome the chart shows is in its legend, in words, with the
    // bar's colour, and only those
    const seen = await looks(page);
    const shown = [...new Set(seen.bars.map((b) => b.outcome))].sort();
    check('chart_legend', shown.length >= 3 &&
      JSON.stringify(seen.legend.map((l) => l.outcome).sort()) === JSON.stringify(shown) &&
      seen.legend.every((l) => l.visible && l.same && l.text === l.outcome),
    'the chart has a text legend of its outcomes (' + shown.join(', ') + '), each with its bars\' colour (WCAG 1.4.1)',
    { shown, legend: seen.legend });
    out.terminals = await table(page, 'terminals');
    out.terminals_head = await page.$$eval('#terminals thead th', (l) => l.map((h) => h.textContent));
    out.cases = await table(page, 'cases');
    out.revoked_credentials = await table(page, 'revoked-credentials');
    out.revoked_terminals = await table(page, 'revoked-terminals');
    await page.screenshot({ path: path.join(outdir, 'dashboard-overview.png'), fullPage: true });

    // One case's evidence, saved by the browser from a blob.
    const file = path.join(outdir, 'case-' + caseId + '.json');
    await page.click('button.evidence[data-case="' + caseId + '"]');
    out.downloaded = (await waitFile(file, 15000)) ? file : null;
    out.button_after = await page.$eval('button.evidence[data-case="' + caseId + '"]',
      (b) => b.textContent);
    // Settlement by day over 31 days, chosen by keyboard: the arrow key
    // passes over the options and loads nothing (WCAG 3.2.2), Apply does,
    // and keeps the focus (2.4.3), as Refresh does.
    let overviews = 0;
    page.on('request', (r) => { if (r.url().includes('/v1/admin/overview')) overviews++; });
    const idle = () => page.waitForFunction(() =>
      ['refresh', 'range-apply'].every((id) => {
        const b = document.getElementById(id);
        return !b.disabled && b.getAttribute('aria-disabled') !== 'true';
      }) && document.getElementById('refresh').textContent === 'Refresh', { timeout: 60000 });
    // presses Enter on control id, waits for the load it starts to end, and
    // says where the focus was then
    const pressLoad = async (id) => {
      const before = overviews;
      await page.focus('#' + id);
      await page.keyboard.press('Enter');
      await page.waitForFunction(() =>
        document.getElementById('refresh').getAttribute('aria-disabled') !== 'true' ||
        document.getElementById('refresh').textContent === 'Loading...', { timeout: 15000 });
      await idle();
      return { focus: await focused(), loads: overviews - before };
    };
    await page.focus('#range');
    await page.keyboard.press('ArrowDown');
    await new Promise((r) => setTimeout(r, 1500)); // time for a load to start
    const arrowed = {
      value: await page.$eval('#range', (e) => e.value),
      loads: overviews,
      range: await page.$eval('#settlement-range', (e) => e.textContent),
    };
    check('range_arrow_no_reload', arrowed.value === '86400:2678400' && arrowed.loads === 0 &&
      arrowed.range.includes('buckets of 1 hour(s)'),
    'an arrow key on the range selects the next option and loads nothing (WCAG 3.2.2)', arrowed);
    await page.keyboard.press('Tab');
    const applied = await pressLoad('range-apply');
    check('range_focus', applied.focus === 'range-apply' && applied.loads === 1,
      'Apply loads the range chosen once, and the focus stays on Apply (WCAG 2.4.3)', applied);
    await page.waitForFunction(() =>
      document.getElementById('settlement-range').textContent.includes('buckets of 1 day(s)'),
    { timeout: 15000 });
    out.daily = {
      range: await page.$eval('#settlement-range', (e) => e.textContent),
      buckets: await table(page, 'buckets'),
    };
    const refreshed = await pressLoad('refresh');
    check('refresh_focus', refreshed.focus === 'refresh' && refreshed.loads === 1,
      'Refresh by keyboard keeps the focus on Refresh (WCAG 2.4.3)', refreshed);

    // A phone's window, 390 px wide, and 320 px (WCAG 1.4.10, reflow), in
    // another tab (so the login again): the login's button within the
    // window, and no sideways scrolling of the page, the board's wide
    // tables scrolling in their own box.
    const narrow = await browser.newPage();
    narrow.on('console', (m) => { if (m.type() === 'error') out.console_errors.push(m.text()); });
    narrow.on('pageerror', (e) => out.console_errors.push(String(e)));
    await narrow.setViewport({ width: 390, height: 844 });
    await narrow.goto(url + '/dashboard', { waitUntil: 'load' });
    const fit = () => narrow.evaluate(() => {
      const d = document.documentElement;
      const b = document.getElementById('open').getBoundingClientRect();
      const t = document.getElementById('terminals');
      return { page: d.scrollWidth, window: d.clientWidth, open: [Math.floor(b.left), Math.ceil(b.right)],
        terminals: t.getBoundingClientRect().width, terminals_box: t.parentElement.clientWidth };
    });
    const loginFits = (f) => f.open[0] >= 0 && f.open[1] <= f.window && f.page <= f.window;
    const narrowLogin = await fit();
    check('narrow_login', loginFits(narrowLogin),
      'at 390 px the login\'s button is within the window and the page does not scroll sideways (WCAG 1.4.10)',
      narrowLogin);
    await narrow.screenshot({ path: path.join(outdir, 'dashboard-narrow-login.png') });
    await narrow.setViewport({ width: 320, height: 844 });
    const login320 = await fit();
    check('narrow_login_320', loginFits(login320), 'at 320 px too, the login\'s button within the window, no sideways scrolling', login320);
    await narrow.setViewport({ width: 390, height: 844 });
    await narrow.type('#token', token);
    await narrow.click('#open');
    await narrow.waitForSelector('#audit[data-ok]', { timeout: 60000 });
    const narrowBoard = await fit();
    check('narrow_board', narrowBoard.page <= narrowBoard.window &&
      narrowBoard.terminals > narrowBoard.terminals_box && narrowBoard.terminals_box <= narrowBoard.window,
    'at 390 px the board does not scroll sideways: the terminals\' table, wider, scrolls in its own box',
    narrowBoard);
    await narrow.screenshot({ path: path.join(outdir, 'dashboard-narrow-board.png'), fullPage: true });
    await narrow.setViewport({ width: 320, height: 844 });
    const board320 = await fit();
    check('narrow_board_320', board320.page <= board320.window && board320.terminals_box <= board320.window,
      'at 320 px too, the board does not scroll sideways', board320);
    await narrow.close();
    // that refresh's audit ended, so the reload's is not refused
    // (offpayd runs one audit at a time: 429 AUDIT_RUNNING)
    await page.waitForSelector('#audit[data-ok]', { timeout: 60000 });
    // ---- what the page says when things fail (answered by the browser) ----
    const state = () => page.evaluate(() => ({
      audit: document.getElementById('audit').textContent,
      audit_class: document.getElementById('audit').className,
      as_of: document.getElementById('as-of').textContent,
      error: document.getElementById('error').hidden ? null
        : document.getElementById('error').textContent,
      title: document.title,
    }));
    // a refresh, and its end (Refresh enabled again: nothing is loading)
    const refresh = async () => {
      await page.click('#refresh');
      await page.waitForFunction(() => {
        const b = document.getElementById('refresh');
        return b.textContent === 'Refresh' && !b.disabled && b.getAttribute('aria-disabled') !== 'true';
      }, { timeout: 60000 });
    };
    // (the browser logs each failed request, late: its errors are kept
    // apart from here on, the reload's too, which no fault touches)
    faulting = true;
    let intercepting = true;
    await page.setRequestInterception(true);
    page.on('request', (r) => {
      if (!intercepting || r.isInterceptResolutionHandled()) return;
      if (faults && faults(r)) return;
      r.continue();
    });
    const json = (status, body) => ({ status, contentType: 'application/json', body: JSON.stringify(body) });
    // answers request r with offpayd's own answer changed by change(text):
    // the body's text, so that numbers past 2^53 can be written exactly
    const changed = (r, change) => {
      (async () => {
        const real = await fetch(r.url(), { headers: r.headers() });
        r.respond({ status: real.status, contentType: 'application/json', body: change(await real.text()) });
      })().catch((e) => r.abort('failed').then(() => out.fault_console.push('changed: ' + e)));
      return true;
    };
    out.faults = {};
    // a download that fails: said beside its button, the board not STALE
    faults = (r) => /\/evidence$/.test(r.url()) &&
      (r.respond(json(503, { error: 'ESTORE', hint: 'evidence: the ledger did not answer' })), true);
    await page.click('button.evidence[data-case="' + caseId + '"]');
    await page.waitForFunction((id) =>
      document.querySelector('.download-error[data-case="' + id + '"]').textContent !== '',
    { timeout: 15000 }, caseId);
    out.faults.download = Object.assign(await state(), {
      note: await page.$eval('.download-error[data-case="' + caseId + '"]', (e) => e.textContent),
    });
    // offpayd does not answer at all
    faults = (r) => r.url().includes('/v1/') && (r.abort('connectionrefused'), true);
    await refresh();
    out.faults.unreachable = await state();
    // a proxy in front of offpayd answers 502 with its own HTML
    faults = (r) => r.url().includes('/v1/') && (r.respond({ status: 502, contentType: 'text/html',
      body: '<html><body><h1>502 Bad Gateway</h1></body></html>' }), true);
    await refresh();
    out.faults.proxy = await state();
    // only the audit cannot run: the figures are fresh, the audit not known
    faults = (r) => r.url().includes('/v1/admin/audit') &&
      (r.respond(json(503, { error: 'ESTORE', hint: 'audit: the ledger did not answer in time' })), true);
    await refresh();
    out.faults.audit_503 = await state();
    // an audit that fails (its 500 EAUDIT report): announced, and in the title
    faults = (r) => r.url().includes('/v1/admin/audit') && (r.respond(json(500, {
      error: 'EAUDIT', ok: false, accounts: 26, transfers: 40, imbalanced: 0, negative: 0,
      escrow_mismatch: 1, settle_mismatch: 0, release_mismatch: 0, request_mismatch: 0,
      refund_mismatch: 0, mark_mismatch: 2, case_mismatch: 0, result_mismatch: 3,
      fund_mismatch: 0 })), true);
    await refresh();
    out.faults.audit_failed = await state();
    // a refresh by keyboard met by a 401 (the token changed at offpayd): the
    // login comes back, the focus in its token field; logged in again by
    // keyboard, the focus is on the board's heading
    faults = (r) => r.url().includes('/v1/admin/overview') &&
      (r.respond(json(401, { error: 'UNAUTHORIZED', hint: 'wrong or missing operator token' })), true);
    await page.focus('#refresh');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#login:not([hidden])', { timeout: 15000 });
    await idle();
    const after401 = await focused();
    check('token_focus', after401 === 'token',
      'a 401 met by a refresh: the focus in the token field of the login shown again', after401);
    faults = null;
    await page.type('#token', token);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => !document.getElementById('board').hidden, { timeout: 15000 });
    await idle();
    const relogin = await focused();
    check('relogin_focus', relogin === 'board-heading',
      'logged in again by keyboard: the focus on the board\'s heading', relogin);
    // every terminal's last report 73 hours older than it is (a revoked
    // one that never reported given such a report): each live one is
    // flagged in words, a revoked one is not
    const OLD = 73 * 3600;
    faults = (r) => r.url().includes('/v1/admin/overview') && changed(r, (text) => {
      const o = JSON.parse(text);
      for (const t of o.terminals) {
        if (t.report) {
          t.report.reported_at -= OLD;
          t.report.synced_at -= OLD;
        } else if (t.revoked) {
          t.report = { reported_at: o.time - OLD, synced_at: o.time - OLD, pending: 0 };
        } else {
          // a live one that never reported, registered 73 hours earlier
          t.created_at -= OLD;
        }
        // and revoked before the ledger kept reasons (offpayd gives null)
        if (t.revoked) t.revoke_reason = null;
      }
      return JSON.stringify(o);
    });
    await refresh();
    const old = await table(page, 'terminals');
    const reported = old.filter((t) => t.cells[3].text !== 'not reported');
    check('old_sync', reported.some((t) => t.cells[7].text === 'active') &&
      reported.some((t) => t.cells[7].text !== 'active') && reported.every((t) =>
      (t.cells[7].text === 'active') === /last sync 3 d 1 h ago/.test(t.cells[9].text) &&
      (t.cells[7].text === 'active') === t.data.attention.split(' ').includes('sync')),
    'a last sync over 72 h old said in the terminal\'s row (needs attention: last sync 3 d 1 h ago), a revoked terminal\'s not',
    old.map((t) => [t.data.terminal, t.data.attention, t.cells[9].text]));
    // a live terminal that never reported, registered 73 hours ago: said
    // (since 0.28.0); before, "not known (no report)" for good
    const never = old.filter((t) => t.cells[3].text === 'not reported' && t.cells[7].text === 'active');
    check('never_reported', never.length >= 1 && never.every((t) =>
      t.cells[9].text === 'needs attention: never reported, registered 3 d 1 h ago' &&
      t.data.attention === 'never'),
    'a live terminal registered over 72 h ago that never reported said in its row (needs attention: never reported, registered 3 d 1 h ago)',
    never.map((t) => [t.data.terminal, t.data.attention, t.cells[9].text]));
    // a revocation without a reason kept: "not recorded" in both tables,
    // the terminals' own and the revoked ones'; a live terminal's '-'
    const oldRevoked = await table(page, 'revoked-terminals');
    check('reason_not_recorded', old.some((t) => t.cells[7].text !== 'active') &&
      old.every((t) => t.cells[8].text === (t.cells[7].text === 'active' ? '-' : 'not recorded')) &&
      oldRevoked.length >= 1 && oldRevoked.every((t) => t.cells[3].text === 'not recorded'),
    'a terminal revoked before the ledger kept reasons: "not recorded" beside its state and in the revoked terminals',
    { terminals: old.map((t) => [t.data.terminal, t.cells[7].text, t.cells[8].text]),
      revoked: oldRevoked.map((t) => [t.data.terminal, t.cells[3].text]) });
    // money in three currencies, large: the amounts grouped, exact past
    // 2^53 minor units, each currency's rows together (offpayd lists kinds
    // by kind and buckets by time, which interleaves the currencies)
    const BIG = '9007199254740993'; // 2^53 + 1: no JS number holds it
    const amt = (minor, decimal, currency) => ({ minor, decimal, currency });
    const kind = (k, minor, decimal, currency) =>
      ({ kind: k, currency, accounts: 1, balance: amt(minor, decimal, currency) });
    const bucket = (start, currency, outcome, minor, decimal) => ({ start, currency, outcome, count: 1,
      charged: amt(minor, decimal, currency), paid: amt(minor, decimal, currency),
      covered: amt(0, currency === 'JPY' ? '0' : '0.00', currency) });
    faults = (r) => r.url().includes('/v1/admin/overview') && changed(r, (text) => {
      const o = JSON.parse(text);
      const h = o.settlement.from - o.settlement.from % 3600;
      o.kinds = [kind('escrow', 2800, '28.00', 'EUR'), kind('escrow', 1234567, '1234567', 'JPY'),
        kind('guarantee', 123456789, '1234567.89', 'EUR'), kind('guarantee', 1234567, '1234.567', 'KWD'),
        kind('merchant', 'BIG', '90071992547409.93', 'EUR'), kind('world', -50, '-0.50', 'EUR'),
        kind('world', -1234567, '-1234567', 'JPY'), kind('world', -1234567, '-1234.567', 'KWD')];
      o.settlement.buckets = [bucket(h, 'EUR', 'settled', 1234567, '12345.67'),
        bucket(h, 'JPY', 'settled', 1234567, '1234567'),
        bucket(h + 3600, 'EUR', 'settled', 999, '9.99'), bucket(h + 3600, 'JPY', 'settled', 1000, '1000')];
      return JSON.stringify(o).replace('"minor":"BIG"', '"minor":' + BIG);
    });
    await refresh();
    const kinds = (await table(page, 'kinds')).map((k) => [k.cells[0].text, k.cells[3].text]);
    const wantKinds = [['escrow', '28.00 EUR'], ['guarantee', '1,234,567.89 EUR'],
      ['merchant', '90,071,992,547,409.93 EUR'], ['world', '-0.50 EUR'],
      ['escrow', '1,234,567 JPY'], ['world', '-1,234,567 JPY'],
      ['guarantee', '1,234.567 KWD'], ['world', '-1,234.567 KWD']];
    check('money_grouped', JSON.stringify(kinds) === JSON.stringify(wantKinds),
      'amounts grouped (1,234,567.89 EUR, 1,234,567 JPY, 1,234.567 KWD), exact past 2^53 minor units ' +
      '(90,071,992,547,409.93 EUR), each currency\'s kinds together', kinds);
    const buckets = (await table(page, 'buckets')).map((b) => [b.cells[1].text, b.cells[4].text]);
    const wantBuckets = [['EUR', '12,345.67 EUR'], ['EUR', '9.99 EUR'],
      ['JPY', '1,234,567 JPY'], ['JPY', '1,000 JPY']];
    check('buckets_by_currency', JSON.stringify(buckets) === JSON.stringify(wantBuckets),
      'settlement rows of each currency together, by time within it', buckets);
    // every outcome in the chart, and a list with nothing in it: the bars
    // against the background at least 3:1 (WCAG 1.4.11), all in the legend;
    // the ".empty" text at least 4.5:1 (1.4.3), as any text shown
    const OUTCOMES = ['settled', 'settled_guaranteed', 'duplicate', 'double_spend', 'unpaid', 'rejected'];
    faults = (r) => r.url().includes('/v1/admin/overview') && changed(r, (text) => {
      const o = JSON.parse(text);
      const h = o.settlement.from - o.settlement.from % 3600;
      o.settlement.buckets = OUTCOMES.map((x, i) => bucket(h, 'EUR', x, 100 * (i + 1), (i + 1) + '.00'));
      o.revoked_credentials = [];
      return JSON.stringify(o);
    });
    await refresh();
    const all = await looks(page);
    check('chart_contrast', OUTCOMES.every((x) => all.bars.some((b) => b.outcome === x)) &&
      all.bars.every((b) => b.contrast >= 3),
    'every outcome\'s bars at least 3:1 against the background (WCAG 1.4.11)', all.bars);
    check('chart_legend_all', all.legend.length === OUTCOMES.length &&
      all.legend.every((l) => l.visible && l.same && l.text === l.outcome),
    'the legend names every one of the six outcomes', all.legend);
    check('empty_contrast', all.empty.length >= 1 && all.empty.every((c) => c >= 4.5),
      'the text of an empty list at least 4.5:1 (WCAG 1.4.3)', all.empty);
    check('text_contrast', all.text.contrast >= (all.text.large ? 3 : 4.5),
      'every text shown at least 4.5:1 against its background (3:1 large)', all.text);
    // everything answers again: the audit passes, the title is the page's
    faults = null;
    await refresh();
    out.faults.passed_again = await state();
    intercepting = false;
    await page.setRequestInterception(false);
    faulting = false; // the faults are over: the reload's errors count again

    // A reload keeps the token for this tab only: the page loads again.
    await page.reload({ waitUntil: 'load' });
    await page.waitForSelector('body[data-loaded]', { timeout: 15000 });
    out.reloaded = true;
  } finally {
    await browser.close();
  }
  return out;
})().then((out) => {
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
}).catch((e) => {
  console.error('dashboard.js: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
