import type { Dimension } from './api';

// Fallback when /api/v1/dimensions is unavailable; the server's list wins.
export const BUILTIN: Dimension[] = [
  { name: 'src_ip', label: 'Source IP' },
  { name: 'dst_ip', label: 'Destination IP' },
  { name: 'proto', label: 'Protocol' },
  { name: 'src_port', label: 'Source port' },
  { name: 'dst_port', label: 'Destination port' },
  { name: 'in_port', label: 'Input port' },
  { name: 'out_port', label: 'Output port' },
  { name: 'agent', label: 'Agent' },
  { name: 'sub_agent', label: 'Sub-agent' },
  { name: 'input', label: 'Input' },
  { name: 'src_mac', label: 'Source MAC' },
  { name: 'dst_mac', label: 'Destination MAC' },
  { name: 'vlan', label: 'VLAN' },
  { name: 'vni', label: 'VNI' },
  { name: 'network_type', label: 'Network type' },
  { name: 'tunnel', label: 'Tunnel' },
  { name: 'inner_src_ip', label: 'Inner source IP' },
  { name: 'inner_dst_ip', label: 'Inner destination IP' },
  { name: 'src_vm', label: 'Source VM' },
  { name: 'dst_vm', label: 'Destination VM' },
  { name: 'src_project', label: 'Source project' },
  { name: 'dst_project', label: 'Destination project' },
  { name: 'src_network', label: 'Source network' },
  { name: 'dst_network', label: 'Destination network' },
  { name: 'src_country', label: 'Source country' },
  { name: 'dst_country', label: 'Destination country' },
  { name: 'src_asn', label: 'Source AS' },
  { name: 'dst_asn', label: 'Destination AS' },
  { name: 'direction', label: 'Direction' },
];

// Filter-only dimensions matching either end of a flow (docs/api.md).
export const EITHER_SIDE: Dimension[] = [
  { name: 'vm', label: 'VM (source or destination)' },
  { name: 'project', label: 'Project (source or destination)' },
  { name: 'network', label: 'Network (source or destination)' },
  { name: 'host', label: 'Hypervisor (source or destination)' },
  { name: 'ip', label: 'IP (source or destination)' },
  { name: 'mac', label: 'MAC (source or destination)' },
  { name: 'interface', label: 'Port name (input or output)' },
];

let current: Dimension[] = BUILTIN;
let either: Dimension[] = [];

// Short labels of the either-side dimensions, for chips.
const EITHER_SHORT: Record<string, string> = {
  vm: 'VM (either side)',
  project: 'Project (either side)',
  network: 'Network (either side)',
  host: 'Hypervisor (either side)',
  ip: 'IP (either side)',
  mac: 'MAC (either side)',
  interface: 'Port name',
};

// The server's dimensions, and its either-side ones (absent on older servers:
// none offered then).
export function setDimensions(d: Dimension[] | null | undefined, e?: Dimension[] | null): void {
  if (d && d.length) {
    current = d;
    fromServer = true;
  }
  if (e && e.length) either = e;
}

let fromServer = false;

// Whether the server's list is in (else a saved view cannot be checked against it).
export function dimensionsKnown(): boolean {
  return fromServer;
}

// A dimension (or either-side one) this flowlens has.
export function known(name: string): boolean {
  return current.some((d) => d.name === name) || either.some((d) => d.name === name);
}

export function eitherSide(): Dimension[] {
  return either;
}

// What filters can name: the dimensions, then the either-side ones.
export function filterOptions(): Array<[string, string]> {
  return [...current.map((d): [string, string] => [d.name, d.label]), ...either.map((d): [string, string] => [d.name, d.label])];
}

export function dimensions(): Dimension[] {
  return current;
}

export function label(name: string): string {
  return current.find((d) => d.name === name)?.label ?? BUILTIN.find((d) => d.name === name)?.label ?? EITHER_SHORT[name] ?? name;
}

// Short column headings for dense tables.
const SHORT: Record<string, string> = {
  src_ip: 'Source',
  dst_ip: 'Destination',
  proto: 'Proto',
  src_port: 'Src port',
  dst_port: 'Dst port',
  in_port: 'In port',
  out_port: 'Out port',
};
export function short(name: string): string {
  return SHORT[name] ?? label(name);
}

export function options(withNone?: string): Array<[string, string]> {
  const o: Array<[string, string]> = current.map((d) => [d.name, d.label]);
  return withNone !== undefined ? [['', withNone], ...o] : o;
}
