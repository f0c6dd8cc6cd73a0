// Layout of every view at 800, 1280 and 1920 px wide (issue 16): nothing
// overlaps, nothing is cut off, the page never scrolls sideways, the map keeps
// its aspect ratio. A full-page screenshot of each view at each width lands in
// test-results/screenshots/VIEW-WIDTH.png (taken before the checks, so a
// failing layout has its picture too), kept as CI artifacts (scripts/test.sh)
// and not compared pixel by pixel.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startMock, DIST } from './mock-server.mjs';
import { launch, settled, loads, isLocal, SCREENSHOTS } from './browser.mjs';

const WIDTHS = [800, 1280, 1920];
const HEIGHT = 900;
const VIEWS = [
  ['traffic', ''],
  ['talkers', '&view=talkers'],
  ['map', '&view=map'],
  ['ports', '&view=ports'],
  ['blocked', '&view=blocked'],
  ['agents', '&view=agents'],
  ['vm', '&view=vm&vm=web-1'],
  ['project', '&view=project&project=shop'],
  // With a filter chip, a custom range (the longest range button) and the saved views menu open.
  ['traffic-busy', '&filter=proto%3Dtcp&filter=dst_port!%3D22&from=2026-12-01T08:00:00Z&to=2026-12-01T09:30:00Z'],
];

let mock;
let b;
let page;

before(async () => {
  assert.ok(fs.existsSync(path.join(DIST, 'index.html')), `no build in ${DIST}: run npm run build first`);
  // This run's screenshots only: none left from an earlier run (or a view since renamed).
  fs.rmSync(SCREENSHOTS, { recursive: true, force: true });
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  // OpenStack attribution on: the defaults an operator of a cloud sees.
  mock = await startMock({ openstack: true });
  b = await launch();
  page = b.page;
});

after(async () => {
  await b?.close();
  await mock?.close();
});

// Everything measured in the page: a list of what is wrong.
function problems() {
  const out = [];
  const W = document.documentElement.clientWidth;
  const vis = (el) => {
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none';
  };
  const box = (el) => el.getBoundingClientRect();
  const name = (el) => el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '') + (el.dataset.testid ? `[${el.dataset.testid}]` : '') + (el.textContent ? ` "${el.textContent.trim().slice(0, 24)}"` : '');
  const overlap = (a, b) => {
    const x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
    const y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    return x > 1 && y > 1;
  };
  const pairwise = (els, what) => {
    for (let i = 0; i < els.length; i++)
      for (let j = i + 1; j < els.length; j++)
        if (overlap(box(els[i]), box(els[j]))) out.push(`${what}: ${name(els[i])} overlaps ${name(els[j])}`);
  };
  const inside = (el, outer, what) => {
    const r = box(el);
    const o = outer ? box(outer) : { left: 0, right: W, top: -Infinity, bottom: Infinity };
    if (r.left < o.left - 1 || r.right > o.right + 1) out.push(`${what}: ${name(el)} [${Math.round(r.left)}, ${Math.round(r.right)}] outside [${Math.round(o.left)}, ${Math.round(o.right)}]`);
  };
  const notCut = (el, what) => {
    if (el.scrollWidth > el.clientWidth + 1) out.push(`${what}: ${name(el)} is cut: scrollWidth ${el.scrollWidth} > clientWidth ${el.clientWidth}`);
  };

  // The page never scrolls sideways.
  if (document.documentElement.scrollWidth > W) out.push(`page: scrollWidth ${document.documentElement.scrollWidth} > ${W}`);

  // Header: every control inside the window, none on another, none cut.
  const header = document.querySelector('header.top');
  const controls = [
    ...header.querySelectorAll(':scope > .brand, :scope > nav > a, :scope > .search, .controls > .count, .controls > .when > *, .controls > .tz, .controls > .refresh, .controls > .reload, .controls > .views > button'),
  ].filter(vis);
  if (controls.length < 15) out.push(`header: only ${controls.length} controls found`);
  pairwise(controls, 'header');
  for (const c of controls) inside(c, header, 'header');
  for (const c of header.querySelectorAll('button, select, nav a')) if (vis(c) && !c.closest('.views-menu, form.custom')) notCut(c, 'header');

  // Filter bar.
  const fb = document.querySelector('.filterbar');
  const fbItems = [...fb.children].filter((e) => vis(e) && !e.classList.contains('spacer'));
  pairwise(fbItems, 'filter bar');
  for (const c of fbItems) inside(c, fb, 'filter bar');

  // Panels: inside the window and the page, none on another, none cut, their
  // heading and tools side by side or wrapped, never on each other.
  const panels = [...document.querySelectorAll('main section.panel')].filter(vis);
  if (!panels.length) out.push('no panel');
  pairwise(panels, 'panels');
  for (const p of panels) {
    inside(p, document.querySelector('main'), 'panel');
    notCut(p, 'panel');
    const head = p.querySelector(':scope > header');
    notCut(head, 'panel header');
    const h2 = head.querySelector('h2');
    const tools = [...head.querySelectorAll(':scope > .tools > *')].filter(vis);
    pairwise([h2, ...tools], 'panel header');
    for (const t of [h2, ...tools]) inside(t, head, 'panel header');
    for (const c of head.querySelectorAll('button, select')) if (vis(c)) notCut(c, 'panel control');
  }
  // Other blocks of main (info boxes, notes) do not overlap the panels.
  const blocks = [...document.querySelectorAll('main > *')].filter(vis);
  pairwise(blocks, 'main');
  return out;
}

describe('layout at 800, 1280 and 1920 px', () => {
  for (const width of WIDTHS) {
    for (const [view, query] of VIEWS) {
      test(`${view} at ${width} px: nothing overlaps or is cut off`, async () => {
        await page.setViewportSize({ width, height: HEIGHT });
        const n = await loads(page).catch(() => 0);
        await page.goto(mock.url + '?refresh=0' + query);
        await settled(page, n);
        // Charts redraw after a resize settles.
        await page.waitForTimeout(250);
        if (view === 'traffic-busy') await page.locator('[data-testid=views]').click();
        const p = await page.evaluate(problems);
        await page.screenshot({ path: path.join(SCREENSHOTS, `${view}-${width}.png`), fullPage: true });
        assert.deepEqual(p, [], `${view} at ${width} px`);
        if (view === 'map') {
          const r = await page.locator('[data-testid=map]').boundingBox();
          assert.ok(Math.abs(r.width / r.height - 2) < 0.02, `map ${r.width}×${r.height}: not 2:1`);
          // The drawn world too (ECharts keeps the map's own aspect inside).
          assert.ok(r.width <= width, `map ${r.width} px wide in a ${width} px window`);
        }
        if (view === 'traffic-busy') {
          // The saved views menu is inside the window.
          const m = await page.locator('[data-testid=views-menu]').boundingBox();
          assert.ok(m.x >= 0 && m.x + m.width <= width, `views menu [${m.x}, ${m.x + m.width}]`);
        }
        if (width === 800) {
          // Narrow: the panels stack (one column), the header wrapped rather than clipped.
          const xs = await page.locator('main section.panel:visible').evaluateAll((ps) => [...new Set(ps.map((x) => Math.round(x.getBoundingClientRect().left)))]);
          assert.deepEqual(xs, [8], `panels side by side at 800 px: ${xs}`);
        }
      });
    }
  }

  test('one screenshot per view and width, as wide as the window', () => {
    const want = WIDTHS.flatMap((w) => VIEWS.map(([v]) => `${v}-${w}.png`)).sort();
    const have = fs.readdirSync(SCREENSHOTS).sort();
    assert.deepEqual(have, want);
    for (const f of have) {
      // A PNG: its signature, then the IHDR chunk with the width and height.
      const b = fs.readFileSync(path.join(SCREENSHOTS, f));
      assert.equal(b.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', `${f} is not a PNG`);
      const width = +/-(\d+)\.png$/.exec(f)[1];
      assert.equal(b.readUInt32BE(16), width, `${f}: ${b.readUInt32BE(16)} px wide`);
      assert.ok(b.readUInt32BE(20) >= HEIGHT, `${f}: ${b.readUInt32BE(20)} px high, less than the window`);
    }
  });

  test('no request left localhost and the page logged no error', () => {
    assert.deepEqual(b.requests.filter((u) => !isLocal(u)), []);
    assert.deepEqual(b.errors, []);
    assert.deepEqual(mock.requests.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.url}`), []);
  });
});
