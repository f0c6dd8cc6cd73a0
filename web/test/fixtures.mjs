// Deterministic fixtures shaped exactly like docs/api.md. The mock server
// aggregates these synthetic conversations per request, so `by`, `filter`,
// `metric` and `limit` behave as the real API does.

export const NOW = Math.floor(Date.now() / 60000) * 60;

export const SETUP_HINT =
  `ovs-vsctl -- --id=@sflow create sflow agent=eth0 target='"192.0.2.10:6343"' ` +
  `header=128 sampling=64 polling=10 -- set bridge br-int sflow=@sflow`;

const tap = (n) => `tap${n}-0c`;

// OpenStack enrichment: the lab's VMs (external addresses have none), and
// those of MORE_FLOWS.
const PROJECTS = { 'web-1': 'shop', 'db-1': 'shop', 'proxy-1': 'shop', bastion: 'ops', 'web-2': 'shop', 'web 3': 'shop', 'web "blue"': 'shop', wiki: 'ops' };
const HOSTS = { 'web-1': 'compute-1', 'db-1': 'compute-1', 'proxy-1': 'compute-2', bastion: 'compute-2', 'web-2': 'compute-2', 'web 3': 'compute-2', 'web "blue"': 'compute-1', wiki: 'compute-1' };
const VMS = {
  '172.31.0.11': 'web-1', '172.31.0.12': 'db-1', '172.31.0.13': 'proxy-1', '172.31.0.14': 'bastion', 'fd31::11': 'web-1', 'fd31::12': 'db-1',
  '172.31.0.15': 'web-2', '172.31.0.16': 'web 3', '172.31.0.17': 'wiki', '172.31.0.18': 'web "blue"',
};

// bytes over the hour; packets follow from a mean packet size.
export const FLOWS = [
  { src_ip: '172.31.0.11', dst_ip: '172.31.0.12', proto: 'tcp', src_port: 40112, dst_port: 5201, in_port: tap('3f2a91c4'), bytes: 9.1e9, size: 1400 },
  { src_ip: '172.31.0.12', dst_ip: '172.31.0.11', proto: 'tcp', src_port: 5201, dst_port: 40112, in_port: tap('5b7e02d1'), bytes: 2.3e8, size: 66 },
  { src_ip: '172.31.0.13', dst_ip: '203.0.113.10', proto: 'tcp', src_port: 51544, dst_port: 443, in_port: tap('9c41aa07'), bytes: 3.4e9, size: 1200 },
  { src_ip: '203.0.113.10', dst_ip: '172.31.0.13', proto: 'tcp', src_port: 443, dst_port: 51544, in_port: 'patch-tun', bytes: 6.2e9, size: 1350 },
  { src_ip: '172.31.0.11', dst_ip: '172.31.0.13', proto: 'udp', src_port: 38001, dst_port: 53, in_port: tap('3f2a91c4'), bytes: 4.1e7, size: 80 },
  { src_ip: '172.31.0.13', dst_ip: '172.31.0.11', proto: 'udp', src_port: 53, dst_port: 38001, in_port: tap('9c41aa07'), bytes: 7.7e7, size: 150 },
  { src_ip: '172.31.0.12', dst_ip: '198.51.100.7', proto: 'udp', src_port: 123, dst_port: 123, in_port: tap('5b7e02d1'), bytes: 1.2e6, size: 90 },
  { src_ip: '172.31.0.13', dst_ip: '172.31.0.11', proto: 'icmp', src_port: null, dst_port: null, in_port: tap('9c41aa07'), bytes: 5.4e5, size: 84 },
  { src_ip: 'fd31::11', dst_ip: 'fd31::12', proto: 'tcp', src_port: 40200, dst_port: 5201, in_port: tap('3f2a91c4'), bytes: 1.8e9, size: 1400 },
  { src_ip: 'fd31::12', dst_ip: 'fd31::11', proto: 'ipv6-icmp', src_port: null, dst_port: null, in_port: tap('5b7e02d1'), bytes: 2.0e5, size: 104 },
  { src_ip: '172.31.0.14', dst_ip: '172.31.0.12', proto: 'tcp', src_port: 22, dst_port: 59000, in_port: tap('77d0e3b8'), bytes: 8.8e6, size: 120 },
  { src_ip: '192.0.2.55', dst_ip: '172.31.0.14', proto: 'tcp', src_port: 60100, dst_port: 22, in_port: 'patch-tun', bytes: 2.5e6, size: 90 },
  // Repeats: the same packets sampled again on the receiving hypervisor's br-int (after
  // the tunnel): counted only with observations=all.
  { src_ip: '172.31.0.11', dst_ip: '172.31.0.12', proto: 'tcp', src_port: 40112, dst_port: 5201, in_port: 'patch-tun', bytes: 9.1e9, size: 1400, observation: 'forwarded' },
  { src_ip: '172.31.0.12', dst_ip: '172.31.0.11', proto: 'tcp', src_port: 5201, dst_port: 40112, in_port: 'patch-tun', bytes: 2.3e8, size: 66, observation: 'forwarded' },
].map(flow);

function flow(f) {
  return { observation: 'port', ...f, packets: Math.round(f.bytes / f.size), ...ends(f) };
}

// More VMs and countries, for completing values in the filter expression
// (startMock({more: true}) adds them to FLOWS): names with a space and with a
// double quote, a VM starting with "w" but not "we", external peers in FR and FI.
export const MORE_FLOWS = [
  { src_ip: '172.31.0.15', dst_ip: '192.0.2.80', proto: 'tcp', src_port: 41000, dst_port: 443, in_port: tap('15aa0000'), bytes: 5.0e8, size: 1200, dst_country: 'FR' },
  { src_ip: '192.0.2.80', dst_ip: '172.31.0.15', proto: 'tcp', src_port: 443, dst_port: 41000, in_port: 'patch-tun', bytes: 3.0e8, size: 1200, src_country: 'FR' },
  { src_ip: '192.0.2.81', dst_ip: '172.31.0.16', proto: 'tcp', src_port: 52000, dst_port: 80, in_port: 'patch-tun', bytes: 2.0e8, size: 900, src_country: 'FI' },
  { src_ip: '172.31.0.17', dst_ip: '172.31.0.11', proto: 'udp', src_port: 39000, dst_port: 53, in_port: tap('17bb0000'), bytes: 1.0e8, size: 100 },
  { src_ip: '172.31.0.18', dst_ip: '192.0.2.80', proto: 'tcp', src_port: 42000, dst_port: 443, in_port: tap('18cc0000'), bytes: 5.0e7, size: 1000, dst_country: 'FR' },
].map(flow);

// The OpenStack side of each end: VM, project, hypervisor (external addresses: none).
function ends(f) {
  const e = (ip) => {
    const vm = VMS[ip] ?? '';
    return { vm, project: PROJECTS[vm] ?? '', host: HOSTS[vm] ?? '' };
  };
  const s = e(f.src_ip);
  const d = e(f.dst_ip);
  // flowlens.relation: same-host, cross-host, vm-to-external, external-to-vm.
  const relation = s.vm && d.vm ? (s.host === d.host ? 'same-host' : 'cross-host') : s.vm ? 'vm-to-external' : d.vm ? 'external-to-vm' : '';
  return { src_vm: s.vm, dst_vm: d.vm, src_project: s.project, dst_project: d.project, src_host: s.host, dst_host: d.host, relation };
}

// First observations: where a packet entered the cloud (or unknown).
export const FIRST = new Set(['port', 'uplink', '']);

export const DIMENSIONS = [
  ['agent', 'Agent'], ['sub_agent', 'Sub-agent'], ['input', 'Input'], ['in_port', 'Input port'], ['out_port', 'Output port'],
  ['src_mac', 'Source MAC'], ['dst_mac', 'Destination MAC'], ['vlan', 'VLAN'], ['vni', 'VNI'],
  ['src_ip', 'Source IP'], ['dst_ip', 'Destination IP'], ['src_port', 'Source port'], ['dst_port', 'Destination port'],
  ['proto', 'Protocol'], ['network_type', 'Network type'], ['tunnel', 'Tunnel'],
  ['inner_src_ip', 'Inner source IP'], ['inner_dst_ip', 'Inner destination IP'],
  ['src_vm', 'Source VM'], ['dst_vm', 'Destination VM'], ['src_project', 'Source project'], ['dst_project', 'Destination project'],
  ['src_network', 'Source network'], ['dst_network', 'Destination network'], ['src_host', 'Source host'], ['dst_host', 'Destination host'],
  ['src_country', 'Source country'], ['dst_country', 'Destination country'], ['src_asn', 'Source AS'], ['dst_asn', 'Destination AS'],
  ['direction', 'Direction'], ['relation', 'Relation'], ['observation', 'Observation'], ['blocked', 'Blocked by'],
].map(([name, label]) => ({ name, label }));

// Filter-only dimensions: either end of a flow.
export const EITHER_SIDE = [
  ['vm', 'VM (source or destination)', 'src_vm', 'dst_vm'],
  ['project', 'Project (source or destination)', 'src_project', 'dst_project'],
  ['network', 'Network (source or destination)', 'src_network', 'dst_network'],
  ['host', 'Hypervisor (source or destination)', 'src_host', 'dst_host'],
  ['ip', 'IP (source or destination)', 'src_ip', 'dst_ip'],
  ['mac', 'MAC (source or destination)', 'src_mac', 'dst_mac'],
  ['interface', 'Port name (input or output)', 'in_port', 'out_port'],
].map(([name, label, a, b]) => ({ name, label, of: [a, b] }));

// What security groups blocked (GET /api/v1/blocked rows): bastion's port 8080 from web-1
// (ML2/OVN, no rule of its groups allowed it), SSH to db-1 from outside, and a Neutron log row.
const t = (ago) => new Date((NOW - ago) * 1000).toISOString();
export const BLOCKED = [
  { source: 'ovn-drop-sampling', vm: 'bastion', port: 'port-bastion', project: 'ops', security_groups: ['sg-ops-default'], rule: '', default: true, direction: 'to-lport',
    acl: 'acl-1', logical_flow: 'e755ed2a', stage: 'ls_out_acl', reason: '', src_ip: '172.31.0.11', src_vm: 'web-1', src_project: 'shop', dst_ip: '172.31.0.14', dst_vm: 'bastion', dst_project: 'ops',
    proto: 'tcp', dst_port: '8080', count: 240, bytes: 14400, samples: 240, first_seen: t(3300), last_seen: t(120) },
  { source: 'ovn-drop-sampling', vm: 'db-1', port: 'port-db', project: 'shop', security_groups: ['sg-shop-db'], rule: 'rule-9', default: false, direction: 'to-lport',
    acl: 'acl-2', logical_flow: 'fa0ab1e1', stage: 'ls_out_acl', reason: '', src_ip: '192.0.2.55', src_vm: '', src_project: '', dst_ip: '172.31.0.12', dst_vm: 'db-1', dst_project: 'shop',
    proto: 'tcp', dst_port: '22', count: 36, bytes: 2160, samples: 36, first_seen: t(2400), last_seen: t(600) },
  { source: 'neutron-packet-log', vm: 'proxy-1', port: 'port-proxy', project: 'shop', security_groups: [], rule: '', default: false, direction: '',
    src_ip: '198.51.100.7', src_vm: '', src_project: '', dst_ip: '172.31.0.13', dst_vm: 'proxy-1', dst_project: 'shop',
    proto: 'udp', dst_port: '161', count: 12, bytes: 960, samples: 12, first_seen: t(1800), last_seen: t(900) },
];
// The same drops as samples (what timeseries with observations=all and filter=blocked!= reads).
export const DROPS = BLOCKED.map((b) => ({ ...b, observation: 'port', blocked: 'source=' + b.source, packets: b.count }));

// The OpenStack inventory (GET /api/v1/search): the lab's VMs and one that sent nothing.
export const INVENTORY = [
  { vm: 'web-1', vm_id: 'inst-web-1', project: 'shop', host: 'compute-1', network: 'shop-net', ips: ['172.31.0.11', 'fd31::11'], macs: ['fa:16:3e:00:00:11'], ports: [{ id: 'port-web', agent: '127.0.0.1', interface: tap('3f2a91c4'), ifindex: 29 }] },
  { vm: 'db-1', vm_id: 'inst-db-1', project: 'shop', host: 'compute-1', network: 'shop-net', ips: ['172.31.0.12', 'fd31::12'], macs: ['fa:16:3e:00:00:12'], ports: [{ id: 'port-db', agent: '127.0.0.1', interface: tap('5b7e02d1'), ifindex: 31 }] },
  { vm: 'proxy-1', vm_id: 'inst-proxy-1', project: 'shop', host: 'compute-2', network: 'shop-net', ips: ['172.31.0.13'], macs: ['fa:16:3e:00:00:13'], ports: [{ id: 'port-proxy', agent: '127.0.0.1', interface: tap('9c41aa07'), ifindex: 33 }] },
  { vm: 'bastion', vm_id: 'inst-bastion', project: 'ops', host: 'compute-2', network: 'ops-net', ips: ['172.31.0.14'], macs: ['fa:16:3e:00:00:14'], ports: [{ id: 'port-bastion', agent: '127.0.0.1', interface: tap('77d0e3b8'), ifindex: 35 }] },
  { vm: 'Web-Idle', vm_id: 'inst-web-idle', project: 'shop', host: 'compute-3', network: 'shop-net', ips: ['172.31.0.99'], macs: ['fa:16:3e:00:00:99'], ports: [{ id: 'port-idle', agent: '127.0.0.2', interface: 'tapidle00-99', ifindex: 40 }] },
];

// GET /api/v1/search over the flows given and the inventory (as flowlens merges them).
export function search(flows, q, kinds, limit, withInventory = true) {
  const lq = q.toLowerCase();
  const has = (v) => v && String(v).toLowerCase().includes(lq);
  const m = new Map();
  const get = (kind, value) => {
    const k = kind + '\0' + value;
    if (!m.has(k)) m.set(k, { kind, value, label: value, filter: kind + '=' + value, bytes: 0, stored: false, inventory: false });
    return m.get(k);
  };
  const inv = withInventory ? INVENTORY : [];
  const vmOf = (kind, v) => inv.find((x) => (kind === 'ip' && x.ips.includes(v)) || (kind === 'mac' && x.macs.includes(v)) || (kind === 'interface' && x.ports.some((p) => p.interface === v)));
  for (const x of inv) {
    if (has(x.vm)) Object.assign(get('vm', x.vm), { ...x, inventory: true, label: [x.vm, x.project, x.host, x.ips[0]].join(' · ') });
    if (has(x.project)) get('project', x.project).inventory = true;
    if (has(x.network)) get('network', x.network).inventory = true;
    if (has(x.host)) get('host', x.host).inventory = true;
    for (const ip of x.ips) if (has(ip)) get('ip', ip).inventory = true;
    for (const mac of x.macs) if (has(mac)) get('mac', mac).inventory = true;
    for (const p of x.ports) if (has(p.interface)) get('interface', p.interface).inventory = true;
  }
  const pairs = { vm: ['src_vm', 'dst_vm'], project: ['src_project', 'dst_project'], host: ['src_host', 'dst_host'], interface: ['in_port', 'out_port'], ip: ['src_ip', 'dst_ip'] };
  for (const f of flows) {
    for (const [kind, cols] of Object.entries(pairs)) {
      for (const c of cols) {
        if (!has(f[c])) continue;
        const x = get(kind, String(f[c]));
        x.stored = true;
        x.bytes += f.bytes;
      }
    }
  }
  const rank = (x) => (x.value.toLowerCase() === lq ? 0 : x.value.toLowerCase().startsWith(lq) ? 1 : 2);
  const out = [...m.values()].filter((x) => !kinds.length || kinds.includes(x.kind));
  for (const x of out) {
    const v = x.kind !== 'vm' && vmOf(x.kind, x.value);
    if (v) Object.assign(x, { vm: v.vm, project: v.project, host: v.host, label: x.value + ' · ' + v.vm });
    if (x.kind === 'vm' && !x.inventory) x.label = x.value;
  }
  out.sort((a, b) => rank(a) - rank(b) || b.bytes - a.bytes || a.value.localeCompare(b.value));
  return out.slice(0, limit);
}

export const GEO_POINTS = [
  { ip: '203.0.113.10', lat: 50.11, lon: 8.68, country: 'DE', city: 'Frankfurt am Main', asn: 64500, as_org: 'Example Carrier DE', bytes: 9.6e9, packets: 7.2e6, direction: 'outbound' },
  { ip: '198.51.100.7', lat: 37.77, lon: -122.42, country: 'US', city: 'San Francisco', asn: 64501, bytes: 1.2e6, packets: 13333, direction: 'outbound' },
  { ip: '192.0.2.55', lat: -33.87, lon: 151.21, country: 'AU', city: 'Sydney', asn: 64502, bytes: 2.5e6, packets: 27777, direction: 'inbound' },
];

// Range parsing like the API: RFC 3339, Unix seconds, -15m/-6h/-7d, now.
export function parseTime(s, def) {
  if (!s) s = def;
  if (s === 'now') return NOW;
  let m = /^-(\d+)([smhd])$/.exec(s);
  if (m) return NOW - +m[1] * { s: 1, m: 60, h: 3600, d: 86400 }[m[2]];
  if (/^\d+$/.test(s)) return +s;
  const t = Date.parse(s);
  if (isNaN(t)) throw new Error(`from/to: cannot parse "${s}": use RFC 3339, Unix seconds or -15m`);
  return Math.floor(t / 1000);
}

export function applyFilters(rows, filters) {
  const byDim = new Map();
  for (const f of filters) {
    const m = /^([a-z_]+)(!?=)(.*)$/.exec(f);
    if (!m) throw new Error(`filter "${f}": expected dimension=value or dimension!=value`);
    if (!DIMENSIONS.some((d) => d.name === m[1]) && !EITHER_SIDE.some((d) => d.name === m[1])) throw new Error(`filter "${f}": unknown dimension "${m[1]}" (see /api/v1/dimensions)`);
    if (!byDim.has(m[1])) byDim.set(m[1], []);
    byDim.get(m[1]).push({ neg: m[2] === '!=', value: m[3] });
  }
  return rows.filter((r) => {
    for (const [dim, conds] of byDim) {
      // Either-side dimensions match when either column does.
      const e = EITHER_SIDE.find((d) => d.name === dim);
      // filter=dst_port=ephemeral selects the folded ports.
      const vs = e ? e.of.map((d) => value(r, d)) : [conds.some((c) => c.value === 'ephemeral') ? folded(r, dim) : value(r, dim)];
      const pos = conds.filter((c) => !c.neg);
      if (pos.length && !pos.some((c) => vs.includes(c.value))) return false;
      if (conds.some((c) => c.neg && vs.includes(c.value))) return false;
    }
    return true;
  });
}

const NUMERIC = new Set(['sub_agent', 'vlan', 'vni', 'src_port', 'dst_port', 'src_asn', 'dst_asn']);

// As the API answers: every value a string; no value is "" ("0" for numbers).
export function value(r, d) {
  const v = r[d];
  if (v === null || v === undefined || v === '') return NUMERIC.has(d) ? '0' : '';
  return String(v);
}

// The rolled-up resolutions fold a client's port (32768 or above, talking to a
// port below 32768) to "ephemeral".
export function folded(r, d) {
  const v = value(r, d);
  if (d !== 'src_port' && d !== 'dst_port') return v;
  const other = +value(r, d === 'src_port' ? 'dst_port' : 'src_port');
  return +v >= 32768 && other < 32768 ? 'ephemeral' : v;
}

export function aggregate(rows, dims, fold = false) {
  const m = new Map();
  for (const r of rows) {
    const key = Object.fromEntries(dims.map((d) => [d, fold ? folded(r, d) : value(r, d)]));
    const k = JSON.stringify(key);
    const cur = m.get(k) || { key, bytes: 0, packets: 0 };
    cur.bytes += r.bytes;
    cur.packets += r.packets;
    m.set(k, cur);
  }
  return [...m.values()];
}

// A diurnal-looking shape, different phase per key, deterministic.
export function shape(i, j, n) {
  return 0.6 + 0.3 * Math.sin((j / n) * Math.PI * 2 + i * 1.3) + 0.06 * Math.sin((j / n) * Math.PI * 14 + i * 2.1);
}

export function ports(from, to) {
  const step = 10;
  const n = Math.max(2, Math.min(360, Math.floor((to - from) / step)));
  const st = Math.max(step, Math.floor((to - from) / n));
  const timestamps = Array.from({ length: n }, (_, j) => from + (j + 1) * st);
  const defs = [
    { index: 29, name: tap('3f2a91c4'), speed: 10e9, load: 2.1e7 },
    { index: 31, name: tap('5b7e02d1'), speed: 10e9, load: 6.4e6 },
    { index: 33, name: tap('9c41aa07'), speed: 10e9, load: 1.3e7, errors: true },
    { index: 35, name: tap('77d0e3b8'), speed: 10e9, load: 4.0e4 },
    { index: 2, name: 'patch-tun', speed: 0, load: 1.5e7, discards: true },
    { index: 1, name: 'br-int', speed: 0, load: 0 },
  ];
  return defs.map((d, i) => {
    const inB = timestamps.map((_, j) => Math.round(d.load * shape(i, j, n)));
    const outB = timestamps.map((_, j) => Math.round(d.load * 0.4 * shape(i + 2, j, n)));
    const util = (a) => (d.speed ? a.map((v) => v / d.speed) : a.map(() => null));
    return {
      agent: '127.0.0.1', sub_agent: 0, index: d.index, name: d.name, speed: d.speed, timestamps,
      in_bps: inB, out_bps: outB,
      in_pps: inB.map((v) => v / 8 / 900), out_pps: outB.map((v) => v / 8 / 900),
      in_errors: timestamps.map((_, j) => (d.errors && j % 17 === 3 ? 0.4 : 0)),
      out_errors: timestamps.map(() => 0),
      in_discards: timestamps.map(() => 0),
      out_discards: timestamps.map((_, j) => (d.discards && j % 11 === 5 ? 1.2 : 0)),
      in_utilisation: util(inB), out_utilisation: util(outB),
    };
  });
}

export function interfaces() {
  return ports(NOW - 60, NOW).map((p, i) => ({
    agent: p.agent, sub_agent: p.sub_agent, index: p.index, name: p.name, ofport: p.name === 'br-int' ? 65534 : i + 1,
    datapath_id: '0000b2c5f3a1d84e', speed: p.speed, admin_up: true, oper_up: p.name !== 'tap77d0e3b8-0c',
    last_seen: new Date((NOW - 5) * 1000).toISOString(),
  }));
}

export const AGENTS = [
  {
    agent: '127.0.0.1', sub_agent: 0, datagrams: 144, datagrams_per_s: 2.4, flow_samples: 697, counter_samples: 24,
    lost: 0, loss_ratio: 0, decode_errors: 0, resets: 0, first_seen: new Date((NOW - 3600) * 1000).toISOString(), last_seen: 'RECENT',
  },
  {
    agent: '10.20.0.5', sub_agent: 1, datagrams: 88210, datagrams_per_s: 31.7, flow_samples: 401877, counter_samples: 9120,
    lost: 412, loss_ratio: 0.0046, decode_errors: 3, resets: 1, first_seen: new Date((NOW - 7 * 86400) * 1000).toISOString(), last_seen: 'STALE',
  },
];

// One row per exporter and protocol; the server says silent (not heard for 60 s)
// and restored (kept from before a restart, not heard since: no first datagram,
// the zero time as flowlens sends it).
export const AGENTS_V2 = [
  { ...AGENTS[0], input: 'sflow', datagrams_per_s: 2.4, silent: false },
  {
    agent: '127.0.0.1', sub_agent: 0, input: 'ipfix', datagrams: 510, datagrams_per_s: 8.5, flow_samples: 2040, counter_samples: 0,
    lost: 0, loss_ratio: 0, decode_errors: 0, resets: 0, first_seen: new Date((NOW - 1800) * 1000).toISOString(), last_seen: 'RECENT', silent: false,
  },
  { ...AGENTS[1], input: 'sflow', datagrams_per_s: 0, silent: true },
  {
    agent: '10.20.0.9', sub_agent: 0, input: 'netflow_v9', datagrams: 9120, datagrams_per_s: 0, flow_samples: 0, counter_samples: 0,
    lost: 0, loss_ratio: 0, decode_errors: 0, resets: 0, first_seen: '0001-01-01T00:00:00Z', last_seen: 'OLD', silent: true, restored: true,
  },
];

// GET /api/v1/accuracy (contract shape): per port and direction.
export function accuracy(from, to) {
  const w = { window_from: new Date(from * 1000).toISOString(), window_to: new Date(to * 1000).toISOString() };
  const row = (index, name, direction, est, cnt, samples, status, reason = '') => {
    const diff = cnt ? (est - cnt) / cnt : 0;
    const sigma = samples ? 1 / Math.sqrt(samples) : 0;
    return {
      agent: '127.0.0.1', sub_agent: 0, index, name, direction, estimate_bytes: est, counter_bytes: cnt,
      estimate_packets: Math.round(est / 1000), counter_packets: Math.round(cnt / 1000), samples,
      diff_ratio: status === 'not enough data' ? null : diff, sigma_ratio: status === 'not enough data' ? null : sigma,
      diff_sigma: status === 'not enough data' ? null : sigma ? diff / sigma : 0, status, reason, ...w,
    };
  };
  return {
    ports: [
      row(29, tap('3f2a91c4'), 'in', 9.0e9, 9.18e9, 2500, 'ok'),
      row(29, tap('3f2a91c4'), 'out', 3.1e8, 3.05e8, 400, 'ok'),
      row(31, tap('5b7e02d1'), 'in', 2.0e8, 2.5e8, 900, 'off', 'estimate 20 % below the counters: samples lost?'),
      row(33, tap('9c41aa07'), 'in', 4.0e5, 0, 3, 'not enough data', 'fewer than 2 counter samples in the window'),
    ],
  };
}

// GET /api/v1/unanswered: TCP SYNs nobody answered (an inference).
export const UNANSWERED = [
  { src_ip: '172.31.0.11', dst_ip: '172.31.0.14', dst_port: 8080, src: { instance_name: 'web-1', project_name: 'shop' }, dst: { instance_name: 'bastion', project_name: 'ops' }, attempts: 2, syn_samples: 6, first_seen: '2026-12-06T10:00:00Z', last_seen: '2026-12-06T10:00:07Z' },
  { src_ip: '203.0.113.9', dst_ip: '172.31.0.12', dst_port: 3389, dst: { instance_name: 'db-1', project_name: 'shop' }, attempts: 1, syn_samples: 2, first_seen: '2026-12-06T10:05:00Z', last_seen: '2026-12-06T10:05:03Z' },
];
