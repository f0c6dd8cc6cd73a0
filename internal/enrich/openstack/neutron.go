package openstack

// The cloud's APIs as a source: ports and networks from Neutron, instances
// and their hosts from Nova, project names from Keystone. This is where the
// names come from; OVSDB knows only ids.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/flowlens/flowlens/internal/lograte"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gcopenstack "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/pagination"
	"go.yaml.in/yaml/v3"

	"github.com/flowlens/flowlens/internal/statefile"
)

// APISourceName is the inventory source the APIs fill.
const APISourceName = "neutron"

// APIConfig is enrich.openstack.api. It holds no secret: credentials come
// from clouds.yaml (and secure.yaml) or from OS_* variables.
type APIConfig struct {
	Enabled    bool          `yaml:"enabled"`
	Cloud      string        `yaml:"cloud"`
	CloudsFile string        `yaml:"clouds_file"`
	Region     string        `yaml:"region"`
	Interface  string        `yaml:"interface"`
	Refresh    time.Duration `yaml:"refresh"`
	RateLimit  int           `yaml:"rate_limit"`
	Timeout    time.Duration `yaml:"timeout"`
	PageSize   int           `yaml:"page_size"`
	CacheFile  string        `yaml:"cache_file"`
}

// Validate checks the settings (not the credentials: they are read when the
// source starts).
func (c APIConfig) Validate() error {
	if !c.Enabled {
		return nil
	}
	switch c.Interface {
	case "", "public", "internal", "admin":
	default:
		return fmt.Errorf("enrich.openstack.api.interface %q: use public, internal or admin", c.Interface)
	}
	if c.Refresh < time.Second {
		return fmt.Errorf("enrich.openstack.api.refresh %v: use 1s or more (5m is usual)", c.Refresh)
	}
	if c.RateLimit < 0 || c.PageSize < 0 {
		return errors.New("enrich.openstack.api: rate_limit and page_size cannot be negative")
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("enrich.openstack.api.timeout %v: give a time limit, e.g. 30s", c.Timeout)
	}
	return nil
}

// APISource reads the APIs into the inventory, and again every Refresh.
type APISource struct {
	missing atomic.Pointer[[]string]
	cfg     APIConfig
	inv     *Inventory
	log     *slog.Logger

	// retry delays after a failure: doubling from retryMin up to retryMax
	retryMin, retryMax time.Duration
	// a failure is logged as a warning at most once per warnEvery
	warnEvery time.Duration
	// httpClient is used instead of one built from the TLS settings (tests)
	httpClient *http.Client

	lim      *limiter
	requests atomic.Int64

	mu       sync.Mutex
	conn     *apiConn
	projects map[string]string // id -> name, kept when Keystone fails

	ready     chan struct{}
	readyOnce sync.Once
	fails     failureLog
}

// apiConn is one authenticated session.
type apiConn struct {
	provider *gophercloud.ProviderClient
	network  *gophercloud.ServiceClient
	compute  *gophercloud.ServiceClient
	identity *gophercloud.ServiceClient // nil: no identity endpoint in the catalog
	secrets  []string                   // scrubbed from every message
	what     string                     // how it logged in, for logs: no secret
}

// NewAPISource returns a source; Run reads and refreshes.
func NewAPISource(cfg APIConfig, inv *Inventory, log *slog.Logger) *APISource {
	s := &APISource{cfg: cfg, inv: inv, log: log.With("source", "openstack-api"),
		retryMin: 5 * time.Second, retryMax: min(cfg.Refresh, 5*time.Minute), warnEvery: 10 * time.Minute,
		ready: make(chan struct{}), projects: map[string]string{}}
	if s.retryMax < s.retryMin {
		s.retryMax = s.retryMin
	}
	if cfg.RateLimit > 0 {
		s.lim = &limiter{interval: time.Second / time.Duration(cfg.RateLimit)}
	}
	return s
}

// Ready is closed once the first read has succeeded or failed.
func (s *APISource) Ready() <-chan struct{} { return s.ready }

// Missing names the catalog's services flowlens reads but the cloud does
// not offer (compute, identity), as of the last login.
func (s *APISource) Missing() []string {
	if m := s.missing.Load(); m != nil {
		return *m
	}
	return nil
}

// Requests is the number of HTTP requests sent so far (logins included).
func (s *APISource) Requests() int64 { return s.requests.Load() }

// Run loads the cache file if there is one, then reads the APIs now and
// every Refresh until ctx is done. When a read fails the inventory keeps
// what the last good one said, and the read is retried with backoff.
func (s *APISource) Run(ctx context.Context) error {
	if s.cfg.CacheFile != "" {
		s.loadCache()
	}
	retry := s.retryMin
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		n, err := s.Refresh(ctx)
		s.readyOnce.Do(func() { close(s.ready) })
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			// full jitter on the upper half, so many collectors do not retry in step
			d := retry/2 + rand.N(retry/2+1)
			s.fails.failed(s.log, err, d, s.warnEvery)
			timer.Reset(d)
			retry = min(retry*2, s.retryMax)
			continue
		}
		s.fails.succeeded(s.log, n)
		retry = s.retryMin
		timer.Reset(s.cfg.Refresh)
	}
}

// loadCache puts the cache file's ports in the inventory. A damaged cache
// is moved aside, never fatal: the APIs fill the inventory at the first
// good read, which also writes a new cache.
func (s *APISource) loadCache() {
	path := s.cfg.CacheFile
	statefile.RemoveTemps(path)
	ports, err := loadCache(path)
	switch {
	case err == nil:
		s.inv.Set(APISourceName, ports)
		age := ""
		if st, err := os.Stat(path); err == nil {
			age = time.Since(st.ModTime()).Round(time.Second).String()
		}
		s.log.Info("OpenStack API inventory loaded from the cache file until the APIs answer", "path", path, "ports", len(ports), "age", age)
		return
	case errors.Is(err, os.ErrNotExist):
		return
	}
	const what = "flows are attributed through the APIs once they answer, which also writes a new cache"
	aside, rerr := statefile.SetAside(path, time.Now())
	if rerr != nil {
		s.log.Warn("OpenStack API cache file unreadable and could not be moved aside: starting without it; "+what+
			"; check the permissions of enrich.openstack.api.cache_file and its directory", "path", path, "error", err, "rename_error", rerr)
		return
	}
	s.log.Warn("OpenStack API cache file unreadable: moved aside, starting without it; "+what+"; the moved file can be deleted",
		"path", path, "moved_to", aside, "error", err)
}

// Refresh reads everything once and replaces this source's part of the
// inventory. On error the inventory is left as it was.
func (s *APISource) Refresh(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		c, err := s.connect(ctx)
		if err != nil {
			return 0, err
		}
		s.conn = c
		s.log.Info("logged in to the OpenStack APIs", "as", c.what, "network", c.network.Endpoint, "compute", endpoint(c.compute))
	}
	c := s.conn
	ports, err := s.read(ctx, c)
	if err != nil {
		// A session whose login no longer works is started afresh next
		// time (gophercloud already re-authenticated once on the 401).
		var reauth *gophercloud.ErrUnableToReauthenticate
		var after *gophercloud.ErrErrorAfterReauthentication
		if errors.As(err, &reauth) || errors.As(err, &after) || gophercloud.ResponseCodeIs(err, http.StatusUnauthorized) {
			s.conn = nil
		}
		return 0, errors.New(c.scrub(err.Error()))
	}
	s.inv.Set(APISourceName, ports)
	if s.cfg.CacheFile != "" {
		if err := writeCache(s.cfg.CacheFile, ports); err != nil {
			s.log.Warn("OpenStack API cache file not written", "path", s.cfg.CacheFile, "error", err)
		}
	}
	return len(ports), nil
}

// --- logging in -----------------------------------------------------------------------------

// credentials resolves how to log in: the cloud named in the configuration
// or by OS_CLOUD in clouds.yaml, else the OS_* variables of an openrc file.
func (c APIConfig) credentials() (ao gophercloud.AuthOptions, eo gophercloud.EndpointOpts, tlsc *tls.Config, what string, err error) {
	cloud := c.Cloud
	if cloud == "" {
		cloud = os.Getenv("OS_CLOUD")
	}
	if cloud != "" {
		opts := []clouds.ParseOption{clouds.WithCloudName(cloud)}
		if c.CloudsFile != "" {
			opts = append(opts, clouds.WithLocations(c.CloudsFile))
		}
		if c.Region != "" {
			opts = append(opts, clouds.WithRegion(c.Region))
		}
		if c.Interface != "" {
			opts = append(opts, clouds.WithEndpointType(c.Interface))
		}
		ao, eo, tlsc, err = clouds.Parse(opts...)
		if err != nil {
			// yaml errors may quote a value: never show them
			return ao, eo, nil, "", fmt.Errorf("clouds.yaml, cloud %q: %s", cloud, quoted.Replace(err.Error()))
		}
		what = "cloud " + cloud
	} else {
		ao, eo, tlsc, err = credentialsFromEnv(c)
		if err != nil {
			return ao, eo, nil, "", err
		}
		what = "OS_* variables"
	}
	if ao.IdentityEndpoint == "" {
		return ao, eo, nil, "", errors.New("no auth_url (OS_AUTH_URL)")
	}
	if eo.Availability == "" {
		eo.Availability = gophercloud.AvailabilityPublic
	}
	user := ao.Username
	if user == "" {
		user = ao.UserID
	}
	switch {
	case ao.ApplicationCredentialID != "" || ao.ApplicationCredentialName != "":
		what += ", application credential " + ao.ApplicationCredentialID + ao.ApplicationCredentialName
	case user != "":
		what += ", user " + user
	}
	what += " at " + ao.IdentityEndpoint
	return ao, eo, tlsc, what, nil
}

// quoted hides the values that yaml and JSON errors quote.
var quoted = strings.NewReplacer("`", "'")

// credentialsFromEnv reads what an openrc file sets.
func credentialsFromEnv(c APIConfig) (ao gophercloud.AuthOptions, eo gophercloud.EndpointOpts, tlsc *tls.Config, err error) {
	env := func(names ...string) string {
		for _, n := range names {
			if v := os.Getenv(n); v != "" {
				return v
			}
		}
		return ""
	}
	ao.IdentityEndpoint = env("OS_AUTH_URL")
	if ao.IdentityEndpoint == "" {
		return ao, eo, nil, errors.New("no OpenStack credentials: set enrich.openstack.api.cloud (a cloud in clouds.yaml), OS_CLOUD, or the OS_* variables of an openrc file (OS_AUTH_URL, ...)")
	}
	ao.ApplicationCredentialID = env("OS_APPLICATION_CREDENTIAL_ID")
	ao.ApplicationCredentialName = env("OS_APPLICATION_CREDENTIAL_NAME")
	ao.ApplicationCredentialSecret = env("OS_APPLICATION_CREDENTIAL_SECRET")
	ao.Username = env("OS_USERNAME")
	ao.UserID = env("OS_USER_ID", "OS_USERID")
	ao.Password = env("OS_PASSWORD")
	ao.DomainID = env("OS_USER_DOMAIN_ID", "OS_DOMAIN_ID")
	ao.DomainName = env("OS_USER_DOMAIN_NAME", "OS_DOMAIN_NAME")
	appCred := ao.ApplicationCredentialID != "" || ao.ApplicationCredentialName != ""
	switch {
	case appCred && ao.ApplicationCredentialSecret == "":
		return ao, eo, nil, errors.New("OS_APPLICATION_CREDENTIAL_SECRET is not set")
	case !appCred && ao.Username == "" && ao.UserID == "":
		return ao, eo, nil, errors.New("OS_USERNAME (or OS_USER_ID, or OS_APPLICATION_CREDENTIAL_ID) is not set")
	case !appCred && ao.Password == "":
		return ao, eo, nil, errors.New("OS_PASSWORD is not set")
	case ao.UserID == "" && ao.Username != "" && ao.DomainID == "" && ao.DomainName == "" && ao.ApplicationCredentialID == "":
		return ao, eo, nil, errors.New("OS_USERNAME needs OS_USER_DOMAIN_NAME or OS_USER_DOMAIN_ID (Default, usually)")
	}
	// An application credential carries its own scope.
	if !appCred {
		projectID, projectName := env("OS_PROJECT_ID", "OS_TENANT_ID"), env("OS_PROJECT_NAME", "OS_TENANT_NAME")
		switch {
		case env("OS_SYSTEM_SCOPE") == "all":
			ao.Scope = &gophercloud.AuthScope{System: true}
		case projectID != "":
			ao.Scope = &gophercloud.AuthScope{ProjectID: projectID}
		case projectName != "":
			ao.Scope = &gophercloud.AuthScope{ProjectName: projectName,
				DomainID: env("OS_PROJECT_DOMAIN_ID", "OS_DOMAIN_ID"), DomainName: env("OS_PROJECT_DOMAIN_NAME", "OS_DOMAIN_NAME")}
			if ao.Scope.DomainID == "" && ao.Scope.DomainName == "" {
				return ao, eo, nil, errors.New("OS_PROJECT_NAME needs OS_PROJECT_DOMAIN_NAME or OS_PROJECT_DOMAIN_ID")
			}
		}
	}
	eo.Region = c.Region
	if eo.Region == "" {
		eo.Region = env("OS_REGION_NAME")
	}
	iface := c.Interface
	if iface == "" {
		iface = env("OS_INTERFACE", "OS_ENDPOINT_TYPE")
	}
	eo.Availability = gophercloud.Availability(strings.TrimSuffix(iface, "URL"))
	if ca := env("OS_CACERT"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return ao, eo, nil, fmt.Errorf("OS_CACERT: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return ao, eo, nil, fmt.Errorf("OS_CACERT %s: no PEM certificate", ca)
		}
		tlsc = &tls.Config{RootCAs: pool}
	}
	return ao, eo, tlsc, nil
}

func (s *APISource) connect(ctx context.Context) (*apiConn, error) {
	ao, eo, tlsc, what, err := s.cfg.credentials()
	if err != nil {
		return nil, err
	}
	c := &apiConn{what: what}
	for _, v := range []string{ao.Password, ao.ApplicationCredentialSecret, ao.TokenID, ao.Passcode} {
		if len(v) >= 3 {
			c.secrets = append(c.secrets, v)
		}
	}
	ao.AllowReauth = true // a token expires: log in again on a 401
	pc, err := gcopenstack.NewClient(ao.IdentityEndpoint)
	if err != nil {
		return nil, errors.New(c.scrub(err.Error()))
	}
	var hc http.Client
	if s.httpClient != nil {
		hc = *s.httpClient
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if tlsc != nil {
			tr.TLSClientConfig = tlsc
		}
		hc.Transport = tr
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = &apiTransport{next: next, lim: s.lim, n: &s.requests}
	hc.Timeout = s.cfg.Timeout
	pc.HTTPClient = hc
	pc.UserAgent.Prepend("flowlens")
	if err := gcopenstack.Authenticate(ctx, pc, ao); err != nil {
		return nil, fmt.Errorf("login (%s): %s", what, c.scrub(describe(err)))
	}
	if c.network, err = gcopenstack.NewNetworkV2(pc, eo); err != nil {
		return nil, fmt.Errorf("no network (Neutron) endpoint in the catalog for region %q, interface %s: %v", eo.Region, eo.Availability, err)
	}
	// Neutron alone gives ports, networks and projects; Nova adds instance
	// names and Keystone project names. A cloud without one (a Neutron-only
	// deployment, a lab) still gets what the others give.
	var missing []string
	if c.compute, err = gcopenstack.NewComputeV2(pc, eo); err != nil {
		c.compute = nil
		missing = append(missing, "compute")
		s.log.Warn("no compute (Nova) endpoint in the catalog: instances keep their ids (names come from Nova)",
			"region", eo.Region, "interface", eo.Availability)
	}
	if c.identity, err = gcopenstack.NewIdentityV3(pc, eo); err != nil {
		c.identity = nil
		missing = append(missing, "identity")
		s.log.Warn("no identity endpoint in the catalog: projects keep their ids", "error", err)
	}
	s.missing.Store(&missing)
	c.provider = pc
	return c, nil
}

// scrub removes secrets (and the current token) from a message.
func (c *apiConn) scrub(msg string) string {
	secrets := c.secrets
	if c.provider != nil {
		if t := c.provider.Token(); t != "" {
			secrets = append(secrets[:len(secrets):len(secrets)], t)
		}
	}
	for _, v := range secrets {
		msg = strings.ReplaceAll(msg, v, "***")
	}
	return msg
}

// describe shortens gophercloud's errors: method, URL, status and the
// start of the body.
func describe(err error) string {
	var rc gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &rc) {
		body := strings.Join(strings.Fields(string(rc.Body)), " ")
		if len(body) > 200 {
			body = body[:200] + "..."
		}
		return fmt.Sprintf("%s %s: HTTP %d %s", rc.Method, rc.URL, rc.Actual, body)
	}
	msg := err.Error()
	if len(msg) > 400 {
		msg = msg[:400] + "..."
	}
	return msg
}

// --- reading --------------------------------------------------------------------------------

type apiPort struct {
	ID          string `json:"id"`
	MAC         string `json:"mac_address"`
	DeviceID    string `json:"device_id"`
	DeviceOwner string `json:"device_owner"`
	NetworkID   string `json:"network_id"`
	ProjectID   string `json:"project_id"`
	TenantID    string `json:"tenant_id"`
	HostID      string `json:"binding:host_id"`
	// SecurityGroups: what a logged drop on the port is attributed to
	SecurityGroups []string `json:"security_groups"`
	FixedIPs       []struct {
		IPAddress string `json:"ip_address"`
	} `json:"fixed_ips"`
}

type apiNetwork struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	NetworkType    string   `json:"provider:network_type"`
	SegmentationID flexUint `json:"provider:segmentation_id"`
}

type apiServer struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Host string `json:"OS-EXT-SRV-ATTR:host"`
}

// flexUint reads a number, a numeric string or null.
type flexUint uint32

func (f *flexUint) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return fmt.Errorf("segmentation id %s: %w", b, err)
	}
	*f = flexUint(n)
	return nil
}

func (s *APISource) read(ctx context.Context, c *apiConn) ([]Port, error) {
	limit := s.cfg.PageSize
	nets := map[string]apiNetwork{}
	err := eachPage(ctx, "networks", networks.List(c.network, networks.ListOpts{Limit: limit}), func(p pagination.Page) ([]string, error) {
		var ns []apiNetwork
		err := networks.ExtractNetworksInto(p, &ns)
		ids := make([]string, len(ns))
		for i, n := range ns {
			nets[n.ID] = n
			ids[i] = n.ID
		}
		return ids, err
	})
	if err != nil {
		return nil, err
	}
	var aps []apiPort
	err = eachPage(ctx, "ports", ports.List(c.network, ports.ListOpts{Limit: limit}), func(p pagination.Page) ([]string, error) {
		var ps []apiPort
		err := ports.ExtractPortsInto(p, &ps)
		ids := make([]string, len(ps))
		for i, x := range ps {
			ids[i] = x.ID
		}
		aps = append(aps, ps...)
		return ids, err
	})
	if err != nil {
		return nil, err
	}
	srvs, err := s.readServers(ctx, c, true)
	if gophercloud.ResponseCodeIs(err, http.StatusForbidden) {
		// Not allowed to see every project's servers: see our own.
		s.log.Debug("Nova refused all_tenants; listing this project's servers only", "error", describe(err))
		srvs, err = s.readServers(ctx, c, false)
	}
	if err != nil {
		return nil, err
	}
	s.readProjects(ctx, c)

	out := make([]Port, 0, len(aps))
	for _, a := range aps {
		p := Port{ID: a.ID, MAC: a.MAC, NetworkID: a.NetworkID, ProjectID: a.ProjectID, Host: a.HostID, DeviceOwner: a.DeviceOwner,
			SecurityGroups: a.SecurityGroups}
		if p.ProjectID == "" {
			p.ProjectID = a.TenantID
		}
		p.ProjectName = s.projects[p.ProjectID]
		if n, ok := nets[a.NetworkID]; ok {
			p.NetworkName = n.Name
			p.SegmentationID = uint32(n.SegmentationID)
		}
		// Only compute ports belong to an instance; a router's or a DHCP
		// agent's device_id is not one.
		if strings.HasPrefix(a.DeviceOwner, "compute:") && a.DeviceID != "" {
			p.InstanceID = a.DeviceID
			if sv, ok := srvs[a.DeviceID]; ok {
				p.InstanceName = sv.Name
				if p.Host == "" {
					p.Host = sv.Host
				}
			}
		}
		for _, ip := range a.FixedIPs {
			p.FixedIPs = append(p.FixedIPs, ip.IPAddress)
		}
		out = append(out, p)
	}
	return out, nil
}

func (s *APISource) readServers(ctx context.Context, c *apiConn, all bool) (map[string]apiServer, error) {
	srvs := map[string]apiServer{}
	if c.compute == nil {
		return srvs, nil
	}
	err := eachPage(ctx, "servers", servers.List(c.compute, servers.ListOpts{AllTenants: all, Limit: s.cfg.PageSize}), func(p pagination.Page) ([]string, error) {
		var ss []apiServer
		err := servers.ExtractServersInto(p, &ss)
		ids := make([]string, len(ss))
		for i, x := range ss {
			srvs[x.ID] = x
			ids[i] = x.ID
		}
		return ids, err
	})
	return srvs, err
}

// readProjects refreshes the project names. Listing projects is for
// admins; others get the projects they are a member of. When neither
// works, the names known before are kept and ports show project ids.
func (s *APISource) readProjects(ctx context.Context, c *apiConn) {
	if c.identity == nil {
		return
	}
	names := map[string]string{}
	collect := func(p pagination.Page) ([]string, error) {
		ps, err := projects.ExtractProjects(p)
		ids := make([]string, len(ps))
		for i, x := range ps {
			names[x.ID] = x.Name
			ids[i] = x.ID
		}
		return ids, err
	}
	err := eachPage(ctx, "projects", projects.List(c.identity, projects.ListOpts{}), collect)
	if gophercloud.ResponseCodeIs(err, http.StatusForbidden) {
		err = eachPage(ctx, "projects", projects.ListAvailable(c.identity), collect)
	}
	if err != nil {
		s.log.Debug("Keystone projects not read; ports keep project ids", "error", c.scrub(describe(err)))
		return
	}
	for id, n := range names {
		s.projects[id] = n
	}
}

// eachPage follows a listing's pages (links rel=next, with markers) and
// stops with an error on a page that brings nothing new, so a server that
// keeps answering the same page cannot keep flowlens busy for ever.
func eachPage(ctx context.Context, what string, pager pagination.Pager, fn func(pagination.Page) ([]string, error)) error {
	seen := map[string]bool{}
	pages := 0
	err := pager.EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
		pages++
		ids, err := fn(p)
		if err != nil {
			return false, fmt.Errorf("%s page %d: %w", what, pages, err)
		}
		fresh := 0
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				fresh++
			}
		}
		if fresh == 0 && pages > 1 {
			return false, fmt.Errorf("%s: page %d repeats earlier items; stopped following the links", what, pages)
		}
		return true, nil
	})
	if err != nil {
		return &listError{msg: "listing " + what + ": " + describe(err), err: err}
	}
	return nil
}

// listError keeps the cause (for its status code) under a short message.
type listError struct {
	msg string
	err error
}

func (e *listError) Error() string { return e.msg }
func (e *listError) Unwrap() error { return e.err }

// writeCache saves ports in the static file's format, atomically.
// The cache file is the static inventory's format between a header and an
// end line that counts the ports: YAML cut at a line boundary is still
// valid YAML, so without the count a truncated cache would load as a
// smaller inventory.
const (
	cacheHeader = "# Written by flowlens from the OpenStack APIs; read back at start. Do not edit.\n"
	cacheEnd    = "# end of the flowlens cache: "
)

func writeCache(path string, ports []Port) error {
	data, err := yaml.Marshal(staticFile{Ports: ports})
	if err != nil {
		return err
	}
	// The cache names instances and projects: readable by flowlens only.
	return statefile.WriteFile(path, 0o600, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "%s%s%s%d ports\n", cacheHeader, data, cacheEnd, len(ports))
		return err
	})
}

// loadCache reads a file writeCache wrote; anything else is an error.
func loadCache(path string) ([]Port, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndex(data, []byte(cacheEnd))
	var n int
	if i < 0 || !bytes.HasSuffix(data, []byte(" ports\n")) {
		return nil, errors.New("no end line: the file was cut short, or flowlens did not write it")
	}
	if _, err := fmt.Sscanf(string(data[i+len(cacheEnd):]), "%d ports\n", &n); err != nil {
		return nil, fmt.Errorf("end line: %w", err)
	}
	ports, err := parseStatic(data[:i])
	if err != nil {
		return nil, err
	}
	if len(ports) != n {
		return nil, fmt.Errorf("%d ports where the end line says %d", len(ports), n)
	}
	return ports, nil
}

// --- rate limit, failures -------------------------------------------------------------------

// limiter spaces requests evenly: at most one per interval.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func (l *limiter) wait(ctx context.Context) error {
	if l == nil || l.interval <= 0 {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.interval)
	l.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type apiTransport struct {
	next http.RoundTripper
	lim  *limiter
	n    *atomic.Int64
}

func (t *apiTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.lim.wait(req.Context()); err != nil {
		return nil, err
	}
	t.n.Add(1)
	return t.next.RoundTrip(req)
}

// failureLog keeps an outage to one warning per interval, and says when it
// is over.
type failureLog struct {
	once     bool // read at least once
	failures int
	since    time.Time
	warn     lograte.Limiter
}

func (f *failureLog) failed(log *slog.Logger, err error, retry time.Duration, every time.Duration) {
	now := time.Now()
	if f.failures == 0 {
		f.since = now
	}
	f.failures++
	// The first failure of an outage is always said.
	if ok, _ := f.warn.Allow(now, every); ok || f.failures == 1 {
		log.Warn("OpenStack APIs not read; keeping the last inventory", "error", err, "failures", f.failures,
			"since", f.since.Format(time.RFC3339), "retry_in", retry.Round(time.Millisecond))
		return
	}
	log.Debug("OpenStack APIs not read", "error", err, "failures", f.failures, "retry_in", retry.Round(time.Millisecond))
}

func (f *failureLog) succeeded(log *slog.Logger, ports int) {
	switch {
	case f.failures > 0:
		log.Info("OpenStack APIs read again", "ports", ports, "failures", f.failures, "outage", time.Since(f.since).Round(time.Second))
	case !f.once:
		log.Info("OpenStack APIs read", "ports", ports)
	default:
		log.Debug("OpenStack APIs read", "ports", ports)
	}
	*f = failureLog{once: true}
}

func endpoint(c *gophercloud.ServiceClient) string {
	if c == nil {
		return "none"
	}
	return c.Endpoint
}
