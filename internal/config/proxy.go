package config

import (
	"errors"
	"fmt"
	"net/url"
)

// Proxy routes one destination's connections through an HTTP proxy: an
// HTTP CONNECT tunnel for https:// targets, inside which TLS (verification
// of the target's certificate, the client certificate) runs end to end with
// the target, and absolute-form requests for http:// targets. Exactly one of
// URL and FromEnvironment is set.
type Proxy struct {
	// URL is the proxy, http://host[:port]. It never holds credentials:
	// a URL is logged and shown, a file is not.
	URL string `json:"url,omitempty"`
	// FromEnvironment picks the proxy per target from HTTPS_PROXY,
	// HTTP_PROXY and NO_PROXY (or their lower-case forms), read once at
	// start, with Go's rules (golang.org/x/net/http/httpproxy): https://
	// targets use HTTPS_PROXY only, and loopback targets are never proxied.
	FromEnvironment bool `json:"fromEnvironment,omitempty"`
	// UsernameFile and PasswordFile hold the Basic credentials (RFC 7617)
	// sent to the proxy in Proxy-Authorization; never to the target.
	UsernameFile string `json:"usernameFile,omitempty"`
	PasswordFile string `json:"passwordFile,omitempty"`
}

// ProxySection is one proxy section of a binding and the config path of
// the destination it belongs to.
type ProxySection struct {
	Dest  string // "upstream", "tokenEndpoint" or "providers[i].tokenEndpoint"
	Proxy *Proxy
}

// ProxySections lists the binding's proxy sections, its providers'
// included, for whoever mounts, reads or reloads their credentials.
func (b *Binding) ProxySections() []ProxySection {
	var out []ProxySection
	if b.Upstream.Proxy != nil {
		out = append(out, ProxySection{"upstream", b.Upstream.Proxy})
	}
	if te := b.TokenEndpoint; te != nil && te.Proxy != nil {
		out = append(out, ProxySection{"tokenEndpoint", te.Proxy})
	}
	for i := range b.Providers {
		if te := b.Providers[i].TokenEndpoint; te != nil && te.Proxy != nil {
			out = append(out, ProxySection{fmt.Sprintf("providers[%d].tokenEndpoint", i), te.Proxy})
		}
	}
	return out
}

// validate checks a proxy section at path (for example
// bindings[0].upstream.proxy); nil is valid: no proxy.
func (x *Proxy) validate(path string, errs *fieldErrors) {
	if x == nil {
		return
	}
	switch {
	case x.URL != "" && x.FromEnvironment:
		errs.add(path, "set exactly one of url or fromEnvironment, not both")
	case x.URL == "" && !x.FromEnvironment:
		errs.add(path, "set exactly one of url or fromEnvironment: true")
	case x.URL != "":
		if err := CheckProxyURL(x.URL); err != nil {
			errs.add(path+".url", "%v", err)
		}
	}
	switch {
	case (x.UsernameFile == "") != (x.PasswordFile == ""):
		errs.add(path, "usernameFile and passwordFile are set together or not at all")
	case x.UsernameFile != "":
		requireFile(errs, path+".usernameFile", x.UsernameFile)
		requireFile(errs, path+".passwordFile", x.PasswordFile)
	}
}

// CheckProxyURL reports why raw cannot be a proxy URL. The sidecar checks
// the proxies it reads from the environment with it too.
func CheckProxyURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("not a valid URL: %w", errors.Unwrap(err))
	case u.Scheme == "https":
		return errors.New("https:// proxies (TLS to the proxy itself) are not supported; use http:// (TLS to the target still runs end to end inside the CONNECT tunnel)")
	case u.Scheme != "http":
		return fmt.Errorf("must be http://host[:port], got scheme %q", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return errors.New("must include a host")
	case u.User != nil:
		return errors.New("must not embed credentials; use usernameFile and passwordFile")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return errors.New("must be http://host[:port] without a path, query or fragment")
	}
	return nil
}
