// Headless Debian Chromium driven by playwright-core (no browser download).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const RESULTS = fileURLToPath(new URL('../test-results/', import.meta.url));
// The layout test's screenshots, one per view and width (VIEW-WIDTH.png), for
// CI to keep as artifacts (scripts/test.sh copies them).
export const SCREENSHOTS = path.join(RESULTS, 'screenshots');
export const VIEWPORT = { width: 1366, height: 768 };

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export async function launch(opts = {}) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (or set CHROMIUM)`);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowlens-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: VIEWPORT,
    deviceScaleFactor: 1,
    locale: 'en-US',
    timezoneId: opts.timezoneId || 'UTC',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const requests = [];
  const errors = [];
  context.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push('console: ' + m.text());
  });
  return {
    context,
    page,
    requests,
    errors,
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

// Wait until the console has no request in flight (html[data-busy=0]) and
// has completed a data load after `loads(page)` returned `since` (counting
// from zero again when the page was navigated to a new document).
export async function settled(page, since = 0) {
  await page.waitForFunction(
    (n) => {
      const d = document.documentElement.dataset;
      const done = +(d.loads || 0);
      return d.busy === '0' && (window.__flowlensMark ? done > n : done > 0);
    },
    since,
    { timeout: 15000 },
  );
}

// The number of completed loads so far, marking this document.
export async function loads(page) {
  return page.evaluate(() => {
    window.__flowlensMark = true;
    return +(document.documentElement.dataset.loads || 0);
  });
}

export async function screenshot(page, name) {
  fs.mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, name + '.png');
  await page.screenshot({ path: file });
  return file;
}

export function isLocal(url) {
  if (url.startsWith('data:') || url.startsWith('blob:') || url === 'about:blank') return true;
  const u = new URL(url);
  return ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
}

// storedStatus returns the status of the flowlens at base, after checking
// that its store holds flows (the suites against a real flowlens need them).
export async function storedStatus(base) {
  const r = await fetch(new URL('api/v1/status', base));
  assert.equal(r.status, 200, 'GET /api/v1/status');
  const st = await r.json();
  assert.ok((st.flow_rows ?? st.flows_stored) > 0, `the store is empty: ${JSON.stringify(st)}`);
  return st;
}

// storedRange is the from/to query of [oldest, newest], a minute wider on
// each side (the console's ISO form, without fractions).
export function storedRange(oldest, newest) {
  const iso = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
  return `from=${encodeURIComponent(iso(Date.parse(oldest) - 60e3))}&to=${encodeURIComponent(iso(Date.parse(newest) + 60e3))}`;
}

// launchRecording launches the browser and records in failed every answer
// of 400 or more, as "STATUS PATH".
export async function launchRecording(failed) {
  const b = await launch();
  b.page.on('response', (resp) => {
    if (resp.status() >= 400) failed.push(`${resp.status()} ${new URL(resp.url()).pathname}`);
  });
  return b;
}
