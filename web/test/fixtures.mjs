// Deterministic fixtures shaped exactly like docs/api.md. The mock server
// aggregates these synthetic conversations per request, so `by`, `filter`,
// `metric` and `limit` behave as the real API does.

export const NOW = Math.floor(Date.now() / 60000) * 60;

export const SETUP_HINT =
  `ovs-vsctl -- --id=@sflow create sflow agent=eth0 target='"192.0.2.10:6343"' ` +
  `header=128 sampling=64 polling=10 -- set bridge br-int sflow=@sflow`;

const tap = (n) => `tap${n}-0c`;

// OpenStack enrichment: the lab's VMs (external addresses have none).
const VMS = { '172.31.0.11': 'web-1', '172.31.0.12': 'db-1', '172.31.0.13': 'proxy-1', '172.31.0.14': 'bastion', 'fd31::11': 'web-1', 'fd31::12': 'db-1' };

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
].map((f) => ({ observation: 'port', ...f, packets: Math.round(f.bytes / f.size), src_vm: VMS[f.src_ip] ?? '', dst_vm: VMS[f.dst_ip] ?? '' }));

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
  ['direction', 'Direction'], ['relation', 'Relation'], ['observation', 'Observation'],
].map(([name, label]) => ({ name, label }));

export const GEO_POINTS = [
  { ip: '203.0.113.10', lat: 50.11, lon: 8.68, country: 'DE', city: 'Frankfurt am Main', asn: 64500, bytes: 9.6e9, packets: 7.2e6, direction: 'outbound' },
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
    if (!DIMENSIONS.some((d) => d.name === m[1])) throw new Error(`filter "${f}": unknown dimension "${m[1]}" (see /api/v1/dimensions)`);
    if (!byDim.has(m[1])) byDim.set(m[1], []);
    byDim.get(m[1]).push({ neg: m[2] === '!=', value: m[3] });
  }
  return rows.filter((r) => {
    for (const [dim, conds] of byDim) {
      // filter=dst_port=ephemeral selects the folded ports.
      const v = conds.some((c) => c.value === 'ephemeral') ? folded(r, dim) : value(r, dim);
      const pos = conds.filter((c) => !c.neg);
      if (pos.length && !pos.some((c) => c.value === v)) return false;
      if (conds.some((c) => c.neg && c.value === v)) return false;
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
// and restored (kept from before a restart, not heard since).
export const AGENTS_V2 = [
  { ...AGENTS[0], input: 'sflow', datagrams_per_s: 2.4, silent: false },
  {
    agent: '127.0.0.1', sub_agent: 0, input: 'ipfix', datagrams: 510, datagrams_per_s: 8.5, flow_samples: 2040, counter_samples: 0,
    lost: 0, loss_ratio: 0, decode_errors: 0, resets: 0, first_seen: new Date((NOW - 1800) * 1000).toISOString(), last_seen: 'RECENT', silent: false,
  },
  { ...AGENTS[1], input: 'sflow', datagrams_per_s: 0, silent: true },
  {
    agent: '10.20.0.9', sub_agent: 0, input: 'netflow_v9', datagrams: 9120, datagrams_per_s: 0, flow_samples: 0, counter_samples: 0,
    lost: 0, loss_ratio: 0, decode_errors: 0, resets: 0, first_seen: new Date((NOW - 2 * 86400) * 1000).toISOString(), last_seen: 'OLD', silent: true, restored: true,
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
