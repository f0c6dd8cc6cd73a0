// Generated from internal/schema by `go test ./internal/schema -update`: do not edit.
import type { Dimension } from './api';

// Every dimension, in the console's order.
export const BUILTIN: Dimension[] = [
  { name: 'src_ip', label: 'Source IP' },
  { name: 'dst_ip', label: 'Destination IP' },
  { name: 'proto', label: 'Protocol' },
  { name: 'src_port', label: 'Source port' },
  { name: 'dst_port', label: 'Destination port' },
  { name: 'src_vm', label: 'Source VM' },
  { name: 'dst_vm', label: 'Destination VM' },
  { name: 'src_project', label: 'Source project' },
  { name: 'dst_project', label: 'Destination project' },
  { name: 'src_network', label: 'Source network' },
  { name: 'dst_network', label: 'Destination network' },
  { name: 'src_host', label: 'Source hypervisor' },
  { name: 'dst_host', label: 'Destination hypervisor' },
  { name: 'direction', label: 'Direction' },
  { name: 'relation', label: 'Relation' },
  { name: 'src_country', label: 'Source country' },
  { name: 'dst_country', label: 'Destination country' },
  { name: 'src_asn', label: 'Source AS' },
  { name: 'dst_asn', label: 'Destination AS' },
  { name: 'src_as_org', label: 'Source AS organisation' },
  { name: 'dst_as_org', label: 'Destination AS organisation' },
  { name: 'agent', label: 'Agent' },
  { name: 'sub_agent', label: 'Sub-agent (bridge)' },
  { name: 'input', label: 'Input protocol' },
  { name: 'in_port', label: 'Input port' },
  { name: 'out_port', label: 'Output port' },
  { name: 'src_mac', label: 'Source MAC' },
  { name: 'dst_mac', label: 'Destination MAC' },
  { name: 'vlan', label: 'VLAN' },
  { name: 'vni', label: 'VNI' },
  { name: 'network_type', label: 'Network type' },
  { name: 'tunnel', label: 'Tunnel' },
  { name: 'inner_src_ip', label: 'Inner source IP' },
  { name: 'inner_dst_ip', label: 'Inner destination IP' },
  { name: 'observation', label: 'Observation point' },
  { name: 'blocked', label: 'Blocked by' },
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

// Short labels of the either-side dimensions, for filter chips.
export const EITHER_SHORT: Record<string, string> = {
  vm: 'VM (either side)',
  project: 'Project (either side)',
  network: 'Network (either side)',
  host: 'Hypervisor (either side)',
  ip: 'IP (either side)',
  mac: 'MAC (either side)',
  interface: 'Port name',
};
