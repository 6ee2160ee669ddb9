package sidecar

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/egress"
)

func proxyFilesChanged(c *config.Binding, set map[string]bool) bool {
	for _, px := range c.ProxySections() {
		if set[px.Proxy.UsernameFile] || set[px.Proxy.PasswordFile] {
			return true
		}
	}
	return false
}

// route sends tr's connections through dest's proxy, if it has one. The
// credentials are read per tunnel, so a rotated Secret applies to the next
// connection without a restart.
func (b *binding) route(dest string, px *config.Proxy, tr *http.Transport) (http.RoundTripper, error) {
	var creds egress.Credentials
	if px != nil && px.UsernameFile != "" {
		creds = func() (string, string) { return b.files.text(px.UsernameFile), b.files.text(px.PasswordFile) }
	}
	r, err := egress.New(px, dest+".proxy", creds)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return tr, nil
	}
	if r.Direct() {
		b.log.Warn("proxy.fromEnvironment is set but neither HTTPS_PROXY nor HTTP_PROXY is: connecting directly", zap.String("destination", dest))
	} else {
		b.log.Info("egress through an HTTP proxy", zap.String("destination", dest), zap.Stringer("proxy", r), zap.Bool("credentials", creds != nil))
	}
	return r.Apply(tr), nil
}
