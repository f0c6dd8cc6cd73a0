//go:build openstack

package openstack

// Configuration files of the lab's daemons, rendered into <work dir>/etc (@DIR@ = work dir,
// @HOST@ = the hypervisor's name, @CONTROL@ = the control plane's address as the hypervisor
// reaches it, @STATE@ its Neutron state dir, @LOCAL_IP@ its tunnel address, @OVSDB@ its
// Open vSwitch database). Every setting here was needed; why is in
// docs/e2e-openstack.md ("Pitfalls").

const (
	portMySQL    = "3306"
	portAMQP     = "5672"
	portKeystone = "5000"
	portNeutron  = "9696"
	portNova     = "8774"
	portSFlow    = "36343"
)

var myCnf = `[mysqld]
datadir = @DIR@/mysql
socket = @DIR@/run/mysqld.sock
pid-file = @DIR@/run/mysqld.pid
bind-address = 127.0.0.1
port = 3306
user = mysql
skip-name-resolve
performance_schema = OFF
innodb_buffer_pool_size = 64M
innodb_log_file_size = 32M
max_connections = 200
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
log-error = @DIR@/log/mysqld.err
[client]
socket = @DIR@/run/mysqld.sock
`

var rabbitEnv = `NODENAME=rabbit@localhost
DIST_PORT=45672
MNESIA_BASE=@DIR@/rabbitmq/mnesia
LOG_BASE=@DIR@/log/rabbitmq
PID_FILE=@DIR@/rabbitmq/rabbit.pid
SERVER_ADDITIONAL_ERL_ARGS="+S 1:1 +sbwt none +sbwtdcpu none +sbwtdio none -kernel inet_dist_use_interface {127,0,0,1}"
`

// hv2's agent connects over the management link: guest may log in from there
var rabbitConf = `listeners.tcp.1 = 127.0.0.1:5672
listeners.tcp.2 = 10.99.0.1:5672
loopback_users = none
`

var keystoneConf = `[DEFAULT]
log_file = @DIR@/log/keystone.log
[database]
connection = mysql+pymysql://keystone:ksdbpass@127.0.0.1/keystone
[identity]
password_hash_rounds = 4
[token]
provider = fernet
[fernet_tokens]
key_repository = @DIR@/keystone/fernet-keys
[fernet_receipts]
key_repository = @DIR@/keystone/fernet-keys
[credential]
key_repository = @DIR@/keystone/credential-keys
[cache]
enabled = true
backend = dogpile.cache.memory
`

// processes = 1: the dogpile memory cache is per process (two processes served a stale catalog).
var keystoneUwsgi = `[uwsgi]
plugins = python3
http-socket = 127.0.0.1:5000
wsgi-file = /usr/bin/keystone-wsgi-public
env = OS_KEYSTONE_CONFIG_FILES=@DIR@/etc/keystone.conf
master = true
processes = 1
threads = 4
enable-threads = true
lazy-apps = true
die-on-term = true
buffer-size = 65535
add-header = Connection: close
logto = @DIR@/log/keystone-uwsgi.log
`

var neutronConf = `[DEFAULT]
host = @HOST@
core_plugin = ml2
service_plugins = @SERVICE_PLUGINS@
auth_strategy = keystone
bind_host = 127.0.0.1
bind_port = 9696
transport_url = rabbit://guest:guest@@CONTROL@:5672/
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
api_workers = 1
rpc_workers = 1
rpc_state_report_workers = 1
state_path = @STATE@
allow_overlapping_ips = true
dhcp_agent_notification = false
[database]
connection = mysql+pymysql://neutron:ntdbpass@127.0.0.1/neutron
[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:5000
auth_url = http://127.0.0.1:5000
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = neutron
password = neutronpass
region_name = RegionOne
[oslo_concurrency]
lock_path = @STATE@/lock
[agent]
root_helper = env
`

var ml2Conf = `[ml2]
type_drivers = vxlan
tenant_network_types = vxlan
mechanism_drivers = openvswitch
extension_drivers = port_security
[ml2_type_vxlan]
vni_ranges = 1000:1999
[securitygroup]
enable_security_group = true
firewall_driver = openvswitch
`

// ML2/OVN: Geneve tenant networks, no metadata agent, Neutron talks to the NB/SB databases over
// TCP on the namespace's loopback.
var ml2ConfOVN = `[ml2]
type_drivers = geneve
tenant_network_types = geneve
mechanism_drivers = ovn
extension_drivers = port_security
overlay_ip_version = 4
[ml2_type_geneve]
vni_ranges = 1:65536
max_header_size = 38
[securitygroup]
enable_security_group = true
[ovn]
ovn_nb_connection = tcp:127.0.0.1:6641
ovn_sb_connection = tcp:127.0.0.1:6642
ovn_metadata_enabled = false
enable_distributed_floating_ip = false
`

var ovsAgentIni = `[ovs]
integration_bridge = br-int
tunnel_bridge = br-tun
local_ip = @LOCAL_IP@
datapath_type = netdev
ovsdb_connection = @OVSDB@
of_listen_address = 127.0.0.1
of_listen_port = 6633
[agent]
tunnel_types = vxlan
l2_population = false
extensions = log
[network_log]
local_output_log_base = @STATE@/security-group.log
[securitygroup]
enable_security_group = true
firewall_driver = openvswitch
`

var cloudsYAML = `clouds:
  flos:
    auth:
      auth_url: http://127.0.0.1:5000/v3
      username: admin
      password: adminpass
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
`

// portIPFIX is flowlens's IPFIX port, for OVN's drop samples (ML2/OVN).
const portIPFIX = "36739"

// flowlensOVN is added to flowlensYAML for ML2/OVN: trace drop samples
// through the Northbound and Southbound databases.
var flowlensOVN = `    ovn:
      drop_domain_id: 1
      nb: tcp:127.0.0.1:6641
      sb: tcp:127.0.0.1:6642
`

var flowlensYAML = `enrich:
  openstack:
@OVN@    ovsdb:
      - 127.0.0.1=unix:@DIR@/ovs/run/db.sock
      - 10.99.0.2=unix:@DIR@/hv2/ovs/run/db.sock
    api:
      enabled: true
      cloud: flos
      clouds_file: @DIR@/etc/clouds.yaml
      refresh: 1m
output:
  ndjson:
    path: @DIR@/flows.ndjson
    aggregate: false
`
