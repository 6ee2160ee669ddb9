package sidecar

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

// injectorBin is the binary under test, built once by TestMain so every test
// exercises exactly what ships (flag parsing, config loading, signals).
var injectorBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "injector-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/sidecar:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	injectorBin = filepath.Join(dir, "injector")
	cmd := exec.Command(goBin, "build", "-o", injectorBin, "github.com/oauth-injector/oauth-injector/cmd/injector")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "test/sidecar: go build ./cmd/injector: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// syncBuffer collects the child's stderr while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sidecarProc is one running "injector run".
type sidecarProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	admin string
	ports map[string]int
	logs  *syncBuffer
	done  chan error
	once  sync.Once
}

// Probe paths startSidecar can wait for. /startup needs a token for every
// client-level binding; per-subject bindings (CIBA, minted exchange) never
// hold one before the first request, and a binding that is expected to fail
// never will, so those wait for /livez.
const (
	waitStartup = "/startup"
	waitLive    = "/livez"
)

// newConfig assigns free ports to the bindings and fills the top level.
func newConfig(t *testing.T, bindings ...config.Binding) *config.Config {
	t.Helper()
	// A port just closed may be handed out again at once, so two calls of
	// FreePort can agree; the config must not reuse one.
	used := map[int]bool{}
	port := func() int {
		for range 100 {
			if p := testutil.FreePort(t); !used[p] {
				used[p] = true
				return p
			}
		}
		t.Fatal("no distinct free port in 100 tries")
		return 0
	}
	for i := range bindings {
		bindings[i].ListenPort = port()
	}
	return &config.Config{
		Version:      config.Version,
		Admin:        config.Admin{Listen: net.JoinHostPort("127.0.0.1", strconv.Itoa(port()))},
		Bindings:     bindings,
		DrainTimeout: config.Duration{Duration: 5 * time.Second},
	}
}

// writeConfig renders c with config.Marshal, exactly as the webhook does.
func writeConfig(t *testing.T, c *config.Config) string {
	t.Helper()
	data, err := config.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startSidecar runs the binary with c and waits until the admin probe named
// by wait answers 200. Cleanup sends SIGTERM and requires exit code 0.
func startSidecar(t *testing.T, c *config.Config, wait string) *sidecarProc {
	t.Helper()
	s := launch(t, c)
	s.await(t, wait)
	return s
}

// launch runs the binary with c and returns at once, so that several
// sidecars can start together.
func launch(t *testing.T, c *config.Config) *sidecarProc {
	t.Helper()
	path := writeConfig(t, c)
	s := &sidecarProc{t: t, admin: c.Admin.Listen, ports: map[string]int{}, logs: &syncBuffer{}, done: make(chan error, 1)}
	for _, b := range c.Bindings {
		s.ports[b.Name] = b.ListenPort
	}
	s.cmd = exec.Command(injectorBin, "run", "--config", path, "--log-level", "debug")
	testutil.KillWithParent(s.cmd)
	s.cmd.Stderr = s.logs
	s.cmd.Stdout = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start injector: %v", err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(s.stop)
	return s
}

// await waits until the admin probe named by wait answers 200.
func (s *sidecarProc) await(t *testing.T, wait string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("injector exited before %s passed (%v):\n%s", wait, err, s.logs.String())
		default:
		}
		res, err := http.Get("http://" + s.admin + wait)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("injector: %s did not pass within 30s (last: %v):\n%s", wait, err, s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop is the SIGTERM path a kubelet takes; the sidecar must drain and exit
// 0. A test may stop a sidecar itself (a restart); cleanup then does nothing.
func (s *sidecarProc) stop() { s.once.Do(s.terminate) }

func (s *sidecarProc) terminate() {
	t := s.t
	if s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("injector did not exit 0 after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		t.Errorf("injector did not exit within 30s of SIGTERM")
	}
	if t.Failed() {
		t.Logf("injector output:\n%s", s.logs.String())
	}
}

// url is the app-side URL of a binding: plain HTTP on loopback.
func (s *sidecarProc) url(binding, path string) string {
	p, ok := s.ports[binding]
	if !ok {
		s.t.Fatalf("no binding %q", binding)
	}
	return "http://127.0.0.1:" + strconv.Itoa(p) + path
}

// reply is what the app saw.
type reply struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any
}

func (r reply) str(k string) string {
	v, _ := r.json[k].(string)
	return v
}

func (r reply) String() string {
	return fmt.Sprintf("status %d, %s: %s", r.status, r.header.Get("X-OAuth-Injector-Error"), r.raw)
}

var appClient = &http.Client{Timeout: 60 * time.Second}

// appCall sends a request the way an app does: no credentials of its own.
func appCall(t *testing.T, method, url string, h http.Header, body []byte) reply {
	t.Helper()
	r, err := tryCall(method, url, h, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

// tryCall is appCall for goroutines other than the test's, which must not
// call t.Fatal.
func tryCall(method, url string, h http.Header, body []byte) (reply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		return reply{}, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	res, err := appClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.json)
	return r, nil
}

// metric returns the value of one sample from the admin /metrics page, or
// -1 when it is absent. labels is the exact label set as Prometheus prints it.
func (s *sidecarProc) metric(name, labels string) float64 {
	s.t.Helper()
	res, err := http.Get("http://" + s.admin + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	want := name + "{" + labels + "} "
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				s.t.Fatalf("metric %s: %v", want, err)
			}
			return f
		}
	}
	return -1
}

// secrets is a directory of mounted-Secret-like files.
type secrets struct {
	t   *testing.T
	dir string
}

func newSecrets(t *testing.T) *secrets { return &secrets{t: t, dir: t.TempDir()} }

func (s *secrets) file(name, content string) string {
	s.t.Helper()
	p := filepath.Join(s.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// key writes k as PKCS#8 PEM, the format Kubernetes Secrets usually hold.
func (s *secrets) key(name string, k crypto.Signer) string {
	s.t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.file(name, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// runInjector runs the binary to completion (for start-up failures).
func runInjector(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, injectorBin, args...)
	testutil.KillWithParent(cmd)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	}
	t.Fatalf("run injector: %v", err)
	return 0, ""
}

// pollUntil repeats an app call until done says stop or the deadline passes;
// used only where a real peer decides the timing (a CIBA approval delay, a
// token lifetime), never to assert on durations.
func pollUntil(t *testing.T, within time.Duration, call func() reply, done func(reply) bool) (first, last reply) {
	t.Helper()
	deadline := time.Now().Add(within)
	first = call()
	last = first
	for !done(last) {
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached within %s; last reply: %v", within, last)
		}
		time.Sleep(250 * time.Millisecond)
		last = call()
	}
	return first, last
}
