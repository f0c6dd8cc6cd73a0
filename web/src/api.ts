// Client for the flowlens HTTP API (docs/api.md, v1).

export interface Series {
  key: string | null;
  values: Array<number | null>;
}
export interface TimeseriesResp {
  from: string;
  to: string;
  step: number;
  metric: string;
  by: string;
  timestamps: number[];
  series: Series[];
  observations?: string;
  notes?: string[] | null;
}
export interface Counts {
  bytes: number;
  packets: number;
}
export interface TopRow extends Counts {
  key: Record<string, string | number | null>;
  bps: number;
  pps: number;
}
export interface TopResp {
  by: string[];
  rows: TopRow[];
  other?: Counts | null;
  // The whole range's total (share = row / total), not the sum of the rows.
  total?: Counts | null;
  observations?: string;
  notes?: string[] | null;
}
export interface MatrixNode {
  id: string;
  label?: string | null;
  // mixed and country levels: vm, country, ip or cloud, and the value to filter on
  kind?: string;
  value?: string;
}
export interface MatrixLink {
  source: string;
  target: string;
  bytes: number;
  packets: number;
}
export interface MatrixResp {
  level: string;
  nodes: MatrixNode[];
  links: MatrixLink[];
  total?: Counts | null;
  observations?: string;
  notes?: string[] | null;
}
export interface GeoPoint {
  ip: string;
  lat: number;
  lon: number;
  country?: string | null;
  city?: string | null;
  asn?: number | null;
  as_org?: string | null;
  bytes: number;
  packets?: number;
  direction?: string | null;
}
export interface GeoResp {
  points: GeoPoint[];
  observations?: string;
  notes?: string[] | null;
}
export interface Port {
  agent: string;
  sub_agent: number;
  index: number;
  name?: string | null;
  speed?: number | null;
  timestamps: number[];
  in_bps?: Array<number | null>;
  out_bps?: Array<number | null>;
  in_pps?: Array<number | null>;
  out_pps?: Array<number | null>;
  in_errors?: Array<number | null>;
  out_errors?: Array<number | null>;
  in_discards?: Array<number | null>;
  out_discards?: Array<number | null>;
  in_utilisation?: Array<number | null>;
  out_utilisation?: Array<number | null>;
}
export interface PortsResp {
  ports: Port[];
}
export interface Agent {
  agent: string;
  sub_agent: number;
  datagrams: number;
  datagrams_per_s: number;
  flow_samples: number;
  counter_samples: number;
  lost: number;
  loss_ratio: number;
  decode_errors: number;
  resets?: number;
  first_seen: string;
  last_seen: string;
  // One row per exporter and protocol: sflow, netflow_v5, netflow_v9, ipfix.
  input?: string;
  // Not heard for more than 60 s.
  silent?: boolean;
  // Persisted before a restart and not heard since.
  restored?: boolean;
}
export interface AgentsResp {
  agents: Agent[];
}
export interface Status {
  version: string;
  started: string;
  flows_stored: number;
  // Rows over every resolution (same as flows_stored, which is kept).
  flow_rows?: number;
  // The aggregation interval in seconds (the resolution of tier step 0), when the server says.
  interval?: number;
  oldest?: string | null;
  newest?: string | null;
  store_bytes?: number;
  retention?: string;
  listen?: { sflow?: string[] | null; [k: string]: string[] | null | undefined };
  setup_hint?: string;
  store_enabled?: boolean;
  store_engine?: string;
  counters_stored?: number;
  store_write_errors?: number;
  tiers?: Array<{ step: number; keep: string; rows: number; oldest?: string | null; newest?: string | null }>;
  // What enrichment is on; the console reads the GeoIP part (hint, and the
  // credit the databases' licence asks for).
  // OpenStack: ports > 0 when the inventory knows ports (attribution on: the
  // OpenStack-first defaults).
  enrichment?: { geoip?: GeoIPStatus; openstack?: OpenStackStatus; [k: string]: unknown };
}
export interface OpenStackStatus {
  ports?: number;
  hint?: string;
}
export interface GeoIPStatus {
  enabled?: boolean;
  hint?: string;
  attribution?: { text: string; url: string; license: string; license_url: string };
}
export interface Interface {
  agent: string;
  sub_agent: number;
  index: number;
  name?: string | null;
  ofport?: number | null;
  datapath_id?: string | null;
  speed?: number | null;
  admin_up?: boolean | null;
  oper_up?: boolean | null;
  last_seen?: string | null;
}
export interface InterfacesResp {
  interfaces: Interface[];
}
// GET /api/v1/accuracy: sampled estimates against the ports' counters.
export interface AccuracyPort {
  agent: string;
  sub_agent: number;
  index: number;
  name?: string | null;
  direction: 'in' | 'out';
  estimate_bytes: number;
  counter_bytes: number;
  estimate_packets?: number;
  counter_packets?: number;
  samples: number;
  diff_ratio?: number | null;
  sigma_ratio?: number | null;
  diff_sigma?: number | null;
  packets_diff_ratio?: number | null;
  packets_diff_sigma?: number | null;
  sampling_rate?: number;
  windows?: number;
  flooded_packets?: number;
  status: 'ok' | 'off' | 'not enough data' | string;
  reason?: string | null;
  window_from?: string | null;
  window_to?: string | null;
}
export interface AccuracyResp {
  ports: AccuracyPort[];
}
export interface Dimension {
  name: string;
  label: string;
}
export interface DimensionsResp {
  dimensions: Dimension[];
  // Filter-only dimensions matching either end (vm, ip, …).
  either_side?: Array<Dimension & { of?: string[] }> | null;
}
// GET /api/v1/search
export interface SearchPort {
  id?: string;
  agent: string;
  interface: string;
  ifindex?: number;
}
export interface SearchMatch {
  kind: 'vm' | 'project' | 'network' | 'host' | 'interface' | 'ip' | 'mac' | string;
  value: string;
  label: string;
  filter: string;
  bytes: number;
  stored: boolean;
  inventory: boolean;
  vm?: string;
  vm_id?: string;
  project?: string;
  host?: string;
  network?: string;
  ips?: string[] | null;
  macs?: string[] | null;
  ports?: SearchPort[] | null;
}
export interface SearchResp {
  q: string;
  matches: SearchMatch[];
  inventory?: boolean;
}
// GET /api/v1/blocked
export interface BlockedRow {
  source: string;
  vm: string;
  port: string;
  project: string;
  security_groups: string[] | null;
  rule?: string;
  default: boolean;
  direction?: string;
  acl?: string;
  logical_flow?: string;
  stage?: string;
  reason?: string;
  src_ip: string;
  src_vm: string;
  src_project: string;
  dst_ip: string;
  dst_vm: string;
  dst_project: string;
  proto: string;
  dst_port: string;
  count: number;
  bytes: number;
  samples: number;
  first_seen: string;
  last_seen: string;
}
export interface BlockedResp {
  from: string;
  to: string;
  total: number;
  rows: BlockedRow[];
  notes?: string[] | null;
}

// GET /api/v1/unanswered (an inference, not drops)
export interface UnansweredEnd {
  port_id?: string;
  instance_id?: string;
  instance_name?: string;
  network_name?: string;
  project_name?: string;
  host?: string;
}
export interface UnansweredRow {
  src_ip: string;
  dst_ip: string;
  dst_port: number;
  src?: UnansweredEnd | null;
  dst?: UnansweredEnd | null;
  attempts: number;
  syn_samples: number;
  first_seen: string;
  last_seen: string;
}
export interface UnansweredResp {
  inference: string;
  window: string;
  rows: UnansweredRow[];
  tracking: number;
  untracked: number;
}

export class ApiError extends Error {
  constructor(
    message: string,
    public status: number,
  ) {
    super(message);
  }
}

export function isAbortError(e: unknown): boolean {
  return e instanceof Error && e.name === 'AbortError';
}

export type Params = Record<string, string | number | undefined | null | string[]>;

export function apiURL(path: string, params: Params = {}): string {
  const u = new URL('api/v1/' + path, document.baseURI);
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) v.forEach((x) => u.searchParams.append(k, x));
    else u.searchParams.set(k, String(v));
  }
  return u.pathname + u.search;
}

export async function get<T>(path: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
  let resp: Response;
  try {
    resp = await fetch(apiURL(path, params), { signal, headers: { Accept: 'application/json' } });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError('cannot reach the flowlens API: ' + (e as Error).message, 0);
  }
  if (!resp.ok) {
    let msg = `${resp.status} ${resp.statusText}`;
    try {
      const body = await resp.json();
      if (body && body.error) msg = body.error;
    } catch {
      /* not JSON */
    }
    if (resp.status === 401) msg = 'authentication required: ' + msg;
    throw new ApiError(msg, resp.status);
  }
  return (await resp.json()) as T;
}
