// The console against a REAL flowlens (its store filled from a real Open
// vSwitch capture). Skipped unless FLOWLENS_URL is set:
//
//   FLOWLENS_URL=http://127.0.0.1:8080/ npm test
//
// The time range is taken from /api/v1/status (oldest..newest), so a store
// filled from an old capture works as well as a live one.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { launch, settled, loads, screenshot, isLocal } from './browser.mjs';

const BASE = process.env.FLOWLENS_URL ? new URL(process.env.FLOWLENS_URL.replace(/\/?$/, '/')) : null;

describe('against a real flowlens (FLOWLENS_URL)', { skip: BASE ? false : 'FLOWLENS_URL not set' }, () => {
  let b;
  let page;
  let range = '';

  const go = async (query) => {
    const n = await loads(page).catch(() => 0);
    await page.goto(new URL('./' + query, BASE).href);
    await settled(page, n);
  };
  const texts = (sel) => page.locator(sel).allTextContents();

  before(async () => {
    const r = await fetch(new URL('api/v1/status', BASE));
    assert.equal(r.status, 200, 'GET /api/v1/status');
    const st = await r.json();
    assert.ok(st.flows_stored > 0, `the store is empty: ${JSON.stringify(st)}`);
    if (st.oldest && st.newest) {
      const from = new Date(Date.parse(st.oldest) - 60e3).toISOString().replace(/\.\d+Z$/, 'Z');
      const to = new Date(Date.parse(st.newest) + 60e3).toISOString().replace(/\.\d+Z$/, 'Z');
      range = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
    } else range = 'from=-7d';
    b = await launch();
    page = b.page;
  });
  after(async () => {
    await b?.close();
  });

  test('top talkers show the lab addresses and tcp, udp and icmp', async () => {
    await go('?' + range);
    const errs = await texts('.msg-error');
    assert.deepEqual(errs, [], 'API errors shown');
    const pairs = await texts('[data-testid="top-src_ip,dst_ip"] tbody td.key');
    assert.ok(pairs.some((t) => /^172\.31\.0\.\d+$/.test(t)), `no 172.31.0.x talker in ${pairs}`);
    const srcs = await texts('[data-testid=top-src_ip] tbody td.key');
    assert.ok(srcs.some((t) => /^172\.31\.0\.1[1-3]$/.test(t)), `sources: ${srcs}`);
    const protos = await texts('[data-testid=top-proto] tbody td.key');
    for (const p of ['tcp', 'udp', 'icmp']) assert.ok(protos.includes(p), `${p} not in ${protos}`);
    assert.ok((await page.locator('[data-testid=timeseries] svg path').count()) > 1, 'time series drawn');
    const legend = await texts('[data-testid=legend] tbody td:first-child');
    assert.ok(legend.some((t) => /172\.31\.0\./.test(t)), `legend: ${legend}`);
    await screenshot(page, 'real-traffic');
  });

  test('who talks to whom, ports and agents', async () => {
    await go('?view=talkers&' + range);
    const labels = await texts('[data-testid=matrix] svg text');
    assert.ok(labels.some((t) => /172\.31\.0\./.test(t)), `sankey labels: ${labels}`);
    await screenshot(page, 'real-talkers');
    await go('?view=agents&' + range);
    assert.ok((await page.locator('[data-testid=agents-table] tbody tr').count()) >= 1, 'no agent listed');
    await screenshot(page, 'real-agents');
    // Counter samples keep the capture's own times; flows the collector's clock: a wide range.
    await go('?view=ports&from=-24h');
    assert.deepEqual(await texts('.msg-error'), []);
    await screenshot(page, 'real-ports');
    await go('?view=map&' + range);
    assert.deepEqual(await texts('.msg-error'), []);
  });

  test('every request went to flowlens itself or localhost', () => {
    const outside = b.requests.filter((u) => !isLocal(u) && new URL(u).host !== BASE.host);
    assert.deepEqual(outside, []);
    assert.deepEqual(b.errors, []);
  });
});
