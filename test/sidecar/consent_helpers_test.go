package sidecar

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// consentProc is one running "injector consent", the way a person runs it:
// the URL comes on stderr, the manifest on stdout or in --output.
type consentProc struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	stdin          io.WriteCloser
	done           chan error
	code           int
	finished       bool
}

func startConsent(t *testing.T, args ...string) *consentProc {
	t.Helper()
	c := &consentProc{t: t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	c.cmd = exec.Command(injectorBin, append([]string{"consent", "--no-browser"}, args...)...)
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start injector consent: %v", err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		if !c.finished {
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		if t.Failed() {
			t.Logf("injector consent stderr:\n%s\nstdout:\n%s", c.stderr.String(), c.stdout.String())
		}
	})
	return c
}

// authURL waits for the URL the person is told to open.
func (c *consentProc) authURL() string {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for line := range strings.SplitSeq(c.stderr.String(), "\n") {
			if u, ok := strings.CutPrefix(line, "  "); ok && strings.HasPrefix(u, "http") {
				return u
			}
		}
		select {
		case err := <-c.done:
			c.done <- err
			c.t.Fatalf("injector consent exited (%v) before printing a URL", err)
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("injector consent printed no URL within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wait returns the exit code.
func (c *consentProc) wait() int {
	c.t.Helper()
	select {
	case err := <-c.done:
		c.finished = true
		var ee *exec.ExitError
		switch {
		case err == nil:
			c.code = 0
		case errors.As(err, &ee):
			c.code = ee.ExitCode()
		default:
			c.t.Fatalf("injector consent: %v", err)
		}
	case <-time.After(60 * time.Second):
		c.t.Fatalf("injector consent did not exit within 60s")
	}
	return c.code
}

// output is everything the person saw.
func (c *consentProc) output() string { return c.stdout.String() + c.stderr.String() }

// readManifest parses the manifest as Kubernetes does and returns its Secrets.
func readManifest(t *testing.T, data []byte) []corev1.Secret {
	t.Helper()
	var out []corev1.Secret
	for doc := range strings.SplitSeq(string(data), "\n---\n") {
		var s corev1.Secret
		if err := yaml.UnmarshalStrict([]byte(doc), &s); err != nil {
			t.Fatalf("manifest document is not a Secret: %v\n%s", err, doc)
		}
		if s.APIVersion != "v1" || s.Kind != "Secret" || s.Type != corev1.SecretTypeOpaque {
			t.Fatalf("manifest document is %s/%s type %s", s.APIVersion, s.Kind, s.Type)
		}
		out = append(out, s)
	}
	return out
}

// readManifestFile checks --output's mode and parses it.
func readManifestFile(t *testing.T, path string) []corev1.Secret {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return readManifest(t, data)
}

// person is a browser: it keeps the provider's cookies and follows
// redirects, up to the loopback callback.
type person struct {
	t      *testing.T
	client *http.Client
}

func newPerson(t *testing.T) *person {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &person{t: t, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// page is one HTML response.
type page struct {
	url    *url.URL
	status int
	doc    *html.Node
	raw    string
}

func (p *person) do(req *http.Request) page {
	p.t.Helper()
	res, err := p.client.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	doc, err := html.Parse(strings.NewReader(string(raw)))
	if err != nil {
		p.t.Fatalf("%s: not HTML: %v", res.Request.URL, err)
	}
	return page{url: res.Request.URL, status: res.StatusCode, doc: doc, raw: string(raw)}
}

func (p *person) get(u string) page {
	p.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.do(req)
}

// submit fills the page's only form with its own fields (hidden ones
// included) overridden by fill, and posts it to the form's action.
func (p *person) submit(pg page, fill map[string]string) page {
	p.t.Helper()
	form := find(pg.doc, func(n *html.Node) bool { return n.Data == "form" })
	if form == nil {
		p.t.Fatalf("%s has no form:\n%s", pg.url, pg.raw)
	}
	action, _ := pg.url.Parse(attr(form, "action"))
	values := url.Values{}
	walk(form, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			values.Set(attr(n, "name"), attr(n, "value"))
		}
	})
	for k, v := range fill {
		if !values.Has(k) {
			p.t.Fatalf("the form at %s has no field %q (fields: %v)", pg.url, k, values)
		}
		values.Set(k, v)
	}
	req, err := http.NewRequestWithContext(context.Background(), strings.ToUpper(attr(form, "method")), action.String(), strings.NewReader(values.Encode()))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return p.do(req)
}

// follow clicks the link whose href ends with suffix.
func (p *person) follow(pg page, suffix string) page {
	p.t.Helper()
	a := find(pg.doc, func(n *html.Node) bool { return n.Data == "a" && strings.HasSuffix(attr(n, "href"), suffix) })
	if a == nil {
		p.t.Fatalf("%s has no link ending in %s:\n%s", pg.url, suffix, pg.raw)
	}
	u, _ := pg.url.Parse(attr(a, "href"))
	return p.get(u.String())
}

// isPrompt reports whether pg is the provider's interaction page for prompt
// (oidc-provider's forms carry it in a hidden "prompt" field).
func isPrompt(pg page, prompt string) bool {
	return find(pg.doc, func(n *html.Node) bool {
		return n.Data == "input" && attr(n, "name") == "prompt" && attr(n, "value") == prompt
	}) != nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func walk(n *html.Node, fn func(*html.Node)) {
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	var found *html.Node
	walk(n, func(c *html.Node) {
		if found == nil && c.Type == html.ElementNode && match(c) {
			found = c
		}
	})
	return found
}

// consentConfig writes a one-binding config for injector consent.
func consentConfig(t *testing.T, b config.Binding) string {
	t.Helper()
	return writeConfig(t, newConfig(t, b))
}
