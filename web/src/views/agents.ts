// Agent health (/api/v1/agents) and the collector's own status.
import { h } from '../dom';
import { get, type AgentsResp, type Agent } from '../api';
import { type Ctx, type ViewImpl, panel, message, showIn, errorText, isAbort, setupCard, table, flowRows, tierName, type Column } from '../ui';
import * as fmt from '../format';

let agentsEl: HTMLElement;
let statusEl: HTMLElement;
let setupEl: HTMLElement;

const STALE_S = 60;
const DEAD_S = 300;

const INPUTS: Record<string, string> = { sflow: 'sFlow', netflow_v5: 'NetFlow v5', netflow_v9: 'NetFlow v9', ipfix: 'IPFIX' };
const inputName = (a: Agent) => (a.input ? (INPUTS[a.input] ?? a.input) : '–');

function mount(root: HTMLElement): void {
  const ap = panel('Exporters (sFlow, NetFlow, IPFIX)', [], 'agents-panel');
  agentsEl = ap.body;
  const sp = panel('Collector', [], 'collector-panel');
  statusEl = sp.body;
  const hp = panel('Send sFlow here', [], 'hint-panel');
  setupEl = hp.body;
  root.append(ap.el, h('div.split.even', null, sp.el, hp.el));
}

async function load(ctx: Ctx): Promise<void> {
  const st = ctx.status;
  showIn(setupEl, setupCard(st, false));
  if (st) {
    const dl = h('dl.kv');
    const kv = (k: string, v: string | Node) => dl.append(h('dt', null, k), h('dd', null, v));
    kv('Version', st.version || '–');
    kv('Started', `${fmt.datetime(st.started, true)} (${fmt.ago(st.started)})`);
    kv('Stored flow rows', `${fmt.int(flowRows(st))} (over every resolution: a flow has a row in each)`);
    kv('Oldest flow', st.oldest ? fmt.datetime(st.oldest, true) : '–');
    kv('Newest flow', st.newest ? `${fmt.datetime(st.newest, true)} (${fmt.ago(st.newest)})` : '–');
    kv('Store size', st.store_bytes !== undefined ? fmt.bytes(st.store_bytes) : '–');
    kv('Retention', fmt.duration(st.retention));
    if (st.store_enabled === false) kv('Store', h('span.bad', null, 'disabled (store.enabled: false)'));
    else if (st.store_engine) kv('Store engine', st.store_engine);
    if (st.counters_stored !== undefined) kv('Counter samples stored', fmt.int(st.counters_stored));
    if (st.store_write_errors) kv('Store write errors', h('span.bad', null, fmt.int(st.store_write_errors)));
    for (const t of st.tiers || []) {
      kv(
        'Resolution ' + tierName(t.step, st.interval),
        `${fmt.int(t.rows)} rows, kept ${fmt.duration(t.keep)}` + (t.oldest ? `, from ${fmt.datetime(t.oldest)}` : ''),
      );
    }
    for (const [k, v] of Object.entries(st.listen || {})) if (v && v.length) kv('Listening (' + k + ')', v.join(', '));
    showIn(statusEl, dl);
  } else showIn(statusEl, message('error', 'Collector status unavailable.'));

  let r: AgentsResp;
  try {
    r = await get<AgentsResp>('agents', {}, ctx.signal);
  } catch (e) {
    if (isAbort(e)) throw e;
    showIn(agentsEl, message('error', errorText(e)));
    return;
  }
  const list = [...(r.agents || [])].sort(
    (a, b) => a.agent.localeCompare(b.agent, undefined, { numeric: true }) || (a.input || '').localeCompare(b.input || '') || a.sub_agent - b.sub_agent,
  );
  if (!list.length) {
    const rows = flowRows(st);
    if (rows > 0 && st) {
      showIn(
        agentsEl,
        message(
          'empty',
          `No exporter has sent datagrams to this flowlens since it started (${fmt.ago(st.started)}), but the store holds ${fmt.int(rows)} flow rows` +
            (st.newest ? `, the newest ${fmt.ago(st.newest)}` : '') +
            ': the exporters are silent now, or their history was not kept over the restart.',
        ),
      );
    } else showIn(agentsEl, message('empty', 'No exporter has sent datagrams yet. Configure Open vSwitch with the command below.'));
    return;
  }
  const now = Date.now();
  const age = (a: Agent) => fmt.secondsSince(a.last_seen, now);
  // The server says when an exporter is silent (not heard for 60 s); older servers: by age.
  const silent = (a: Agent) => (a.silent !== undefined ? a.silent || !!a.restored : age(a) > STALE_S);
  const dot = (a: Agent) => (a.restored || (silent(a) && age(a) > DEAD_S) ? 'bad' : silent(a) ? 'warn' : 'ok');
  const state = (a: Agent): Node => {
    const heard = 'last heard ' + fmt.ago(a.last_seen, now);
    const when = ' (' + fmt.datetime(a.last_seen, true) + ')';
    if (a.restored) return h('span.bad.restored', { title: 'Kept from before flowlens restarted; not heard since' + when }, 'from before the restart · ' + heard);
    if (silent(a)) return h('span.silent', { class: age(a) > DEAD_S ? 'bad' : 'warn', title: 'Not heard for more than a minute' + when }, 'silent · ' + heard);
    return h('span', { title: 'last heard ' + fmt.ago(a.last_seen, now) + when }, 'sending');
  };
  const cols: Column<Agent>[] = [
    {
      label: 'Agent',
      cls: 'key',
      cell: (a) => h('span', null, h('i.dot', { class: dot(a), title: a.restored ? 'from before the restart' : silent(a) ? 'silent' : 'sending' }), a.agent),
    },
    { label: 'Input', cell: (a) => inputName(a) },
    { label: 'Sub-agent', cls: 'num', cell: (a) => (a.sub_agent < 0 ? h('span.warn', { title: 'datagrams whose header could not be read' }, 'unreadable') : String(a.sub_agent)) },
    { label: 'State', cls: 'state', title: 'sending, or silent (not heard for more than a minute) with when it was last heard', cell: (a) => state(a) },
    { label: 'Datagrams/s (1 min)', cls: 'num', title: 'Datagrams per second over the last minute', cell: (a) => fmt.si(a.datagrams_per_s) },
    { label: 'Datagrams', cls: 'num', cell: (a) => fmt.int(a.datagrams) },
    { label: 'Flow samples', cls: 'num', cell: (a) => fmt.int(a.flow_samples) },
    { label: 'Counter samples', cls: 'num', cell: (a) => fmt.int(a.counter_samples) },
    { label: 'Lost', cls: 'num', title: 'datagrams missing by sequence number', cell: (a) => h('span', { class: a.lost > 0 ? 'warn' : undefined }, fmt.int(a.lost)) },
    { label: 'Loss', cls: 'num', cell: (a) => h('span', { class: a.loss_ratio > 0.01 ? 'bad' : a.loss_ratio > 0 ? 'warn' : undefined }, fmt.pct(a.loss_ratio, 2)) },
    { label: 'Resets', cls: 'num', title: 'agent restarts (sequence numbers went back)', cell: (a) => (a.resets === undefined ? '–' : fmt.int(a.resets)) },
    { label: 'Decode errors', cls: 'num', cell: (a) => h('span', { class: a.decode_errors > 0 ? 'bad' : undefined }, fmt.int(a.decode_errors)) },
    {
      label: 'First seen',
      // An exporter restored from the store's flows has not been heard since the
      // restart: no first datagram, the server's zero time (0001-01-01).
      cell: (a) => (Date.parse(a.first_seen) > 0 ? fmt.datetime(a.first_seen, true) : h('span', { title: 'Not heard since flowlens started: known from the flows it stored before' }, '–')),
    },
  ];
  showIn(
    agentsEl,
    table(cols, list, {
      testid: 'agents-table',
      // Port counters come from sFlow only.
      onRow: (a) => (!a.input || a.input === 'sflow') && ctx.set({ view: 'ports', agent: a.agent, ports: [] }),
      rowTitle: 'Click: this agent\'s ports (sFlow)',
    }),
  );
}

export const agents: ViewImpl = { mount, load };
