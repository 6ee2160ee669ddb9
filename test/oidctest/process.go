package oidctest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

// readyTimeout is generous: node starts in well under a second, but the
// machine running the tests may be busy.
const readyTimeout = 60 * time.Second

// readyLine is what server.mjs prints on stdout once it listens.
type readyLine struct {
	Issuer                            string `json:"issuer"`
	TokenEndpoint                     string `json:"token_endpoint"`
	BackchannelAuthenticationEndpoint string `json:"backchannel_authentication_endpoint"`
	IntrospectionEndpoint             string `json:"introspection_endpoint"`
	RevocationEndpoint                string `json:"revocation_endpoint"`
	JWKSURI                           string `json:"jwks_uri"`
	ResourceEndpoint                  string `json:"resource_endpoint"`
}

// overriddenEnv are variables server.mjs reads; inherited values would
// silently change what the test asked for.
var overriddenEnv = []string{"OIDC_CONFIG=", "PORT=", "ACCESS_TOKEN_TTL=", "CIBA_APPROVE_DELAY_MS=", "DPOP_NONCE_REQUIRED="}

// Start installs (or reuses) the npm dependencies, starts the provider and
// stops it when t ends. Without node/npm it skips, or fails when CI is set.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testutil.Unavailable(t, "oidctest: node not found in PATH: %v", err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		testutil.Unavailable(t, "oidctest: npm not found in PATH: %v", err)
	}
	src, err := sourceDir()
	if err != nil {
		t.Fatal(err)
	}
	root, err := cacheRoot()
	if err != nil {
		t.Fatal(err)
	}
	deps, _, err := ensureDeps(context.Background(), npm, src, root)
	if err != nil {
		testutil.Unavailable(t, "%v", err)
	}

	srv, cfg, err := resolve(opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := stageServer(src, deps, dir); err != nil {
		t.Fatal(err)
	}
	if srv.MTLS != nil {
		if err := srv.MTLS.writeFiles(dir); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath, err := writeConfig(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(node, "server.mjs")
	cmd.Dir = dir
	testutil.KillWithParent(cmd)
	cmd.Env = append(os.Environ(), overriddenEnv...)
	cmd.Env = append(cmd.Env, "OIDC_CONFIG="+cfgPath, "NO_COLOR=1")
	logs := &testutil.LogTail{}
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("oidctest: stdout pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("oidctest: start node: %v", err)
	}
	exited := make(chan error, 1)
	ready := make(chan readyLine, 1)
	go scanStdout(stdout, logs, ready)
	go func() { exited <- cmd.Wait() }()

	t.Cleanup(func() {
		stop(cmd, exited)
		if t.Failed() {
			t.Logf("oidctest: provider output:\n%s", logs.String())
		}
	})

	select {
	case r := <-ready:
		srv.Issuer = r.Issuer
		srv.TokenEndpoint = r.TokenEndpoint
		srv.BackchannelAuthenticationEndpoint = r.BackchannelAuthenticationEndpoint
		srv.IntrospectionEndpoint = r.IntrospectionEndpoint
		srv.RevocationEndpoint = r.RevocationEndpoint
		srv.JWKSURI = r.JWKSURI
		srv.ResourceEndpoint = r.ResourceEndpoint
	case err := <-exited:
		exited <- err // let cleanup's stop see it
		t.Fatalf("oidctest: provider exited before it was ready (%v):\n%s", err, logs.String())
	case <-time.After(readyTimeout):
		t.Fatalf("oidctest: provider not ready after %s:\n%s", readyTimeout, logs.String())
	}
	return srv
}

// scanStdout hands the first ready line over and copies the rest to logs, so
// the pipe never fills up and blocks node.
func scanStdout(r io.Reader, logs io.Writer, ready chan<- readyLine) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sent := false
	for sc.Scan() {
		line := sc.Bytes()
		if !sent && strings.HasPrefix(strings.TrimSpace(string(line)), "{") {
			var rl readyLine
			if json.Unmarshal(line, &rl) == nil && rl.Issuer != "" && rl.TokenEndpoint != "" {
				ready <- rl
				sent = true
				continue
			}
		}
		fmt.Fprintf(logs, "stdout: %s\n", line)
	}
}

// stop asks node to exit and kills it if it does not within a few seconds.
func stop(cmd *exec.Cmd, exited chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		_ = err // node's exit status after SIGTERM carries no information
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		killed := <-exited
		_ = killed // a killed process's status says nothing new
	}
}
