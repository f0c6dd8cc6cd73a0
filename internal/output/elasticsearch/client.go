package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/flowlens/flowlens/internal/secret"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// client is an HTTP client for one cluster (or one Kibana): base URLs
// tried in turn, the Authorization header, and the secrets to keep out of
// every message.
type client struct {
	urls    []string
	http    *http.Client
	auth    string
	secrets []string
	next    atomic.Uint32
	extra   http.Header // sent with every request (Kibana's xsrf headers)
}

func newClient(urls []string, auth Auth, tlsc TLS, timeout time.Duration, conns int) (*client, error) {
	c := &client{}
	for _, raw := range urls {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%q is not an http:// or https:// URL", redactURL(raw))
		}
		if u.User != nil {
			// Credentials in the URL become basic auth, unless other
			// credentials are configured; either way they leave the URL,
			// which Go's HTTP errors print.
			if pw, ok := u.User.Password(); ok && auth.Username == "" && auth.APIKey == "" && auth.APIKeyFile == "" && auth.BearerToken == "" && auth.BearerTokenFile == "" {
				auth.Username, auth.Password = u.User.Username(), Secret(pw)
			}
			if pw, ok := u.User.Password(); ok {
				c.secrets = append(c.secrets, pw)
			}
			u.User = nil
		}
		c.urls = append(c.urls, strings.TrimRight(u.String(), "/"))
	}
	if len(c.urls) == 0 {
		return nil, errors.New("no URL configured")
	}
	cr, err := auth.resolve()
	if err != nil {
		return nil, err
	}
	c.auth = cr.header
	c.secrets = append(c.secrets, cr.secrets...)
	tc, err := tlsc.tlsConfig()
	if err != nil {
		return nil, err
	}
	if conns < 2 {
		conns = 2
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConns:          conns * len(c.urls),
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     tc != nil,
	}
	c.http = &http.Client{Transport: tr, Timeout: timeout}
	return c, nil
}

// base returns the next URL in turn.
func (c *client) base() string {
	return c.urls[int(c.next.Add(1)-1)%len(c.urls)]
}

// redact removes every secret from s.
func (c *client) redact(s string) string {
	for _, sec := range c.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, secret.Redacted)
		}
	}
	return s
}

// errorf formats an error whose text has no secret in it.
func (c *client) errorf(format string, args ...any) error {
	return errors.New(c.redact(fmt.Sprintf(format, args...)))
}

func (c *client) prepare(req *http.Request) {
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	for k, v := range c.extra {
		req.Header[k] = v
	}
}

// apiError is a non-2xx answer to a set-up request.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return e.Msg }

// do sends one request with a JSON (or given content type) body and returns
// the status and body of the answer. Statuses other than 2xx are returned
// as *apiError unless listed in ok.
func (c *client) do(ctx context.Context, method, path, ctype string, body []byte, ok ...int) (int, []byte, error) {
	var lastErr error
	// A URL that cannot be reached is skipped for the next one.
	for range c.urls {
		base := c.base()
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
		if err != nil {
			return 0, nil, c.errorf("%s %s: %v", method, path, err)
		}
		if body != nil {
			if ctype == "" {
				ctype = "application/json"
			}
			req.Header.Set("Content-Type", ctype)
		}
		c.prepare(req)
		resp, err := c.http.Do(req)
		if err != nil {
			lastErr = c.errorf("%s %s%s: %v", method, base, path, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		if err != nil {
			return resp.StatusCode, nil, c.errorf("%s %s%s: reading the answer: %v", method, base, path, err)
		}
		if resp.StatusCode/100 == 2 || slices.Contains(ok, resp.StatusCode) {
			return resp.StatusCode, data, nil
		}
		return resp.StatusCode, data, &apiError{Status: resp.StatusCode,
			Msg: c.redact(fmt.Sprintf("%s %s%s: HTTP %d: %s", method, base, path, resp.StatusCode, errorSummary(data)))}
	}
	return 0, nil, lastErr
}

// errorSummary extracts "type: reason" from an Elasticsearch-style error
// body, or returns the start of the body.
func errorSummary(body []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
		// Kibana
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil {
		var obj struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		}
		if len(e.Error) > 0 && json.Unmarshal(e.Error, &obj) == nil && obj.Type != "" {
			return obj.Type + ": " + obj.Reason
		}
		if e.Message != "" {
			return e.Message
		}
		var s string
		if json.Unmarshal(e.Error, &s) == nil && s != "" {
			return s
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
