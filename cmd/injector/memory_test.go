package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/testutil"
)

// vmHWM reads the peak resident set size of pid from /proc, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc to measure RSS: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// TestPeakRSSUnderConcurrentSignedBodies sends many concurrent 1 MiB bodies
// the TAAP PoP signs (so each must be buffered) to the binary running with
// the webhook's default 64Mi limit, holds every admitted request at the
// upstream so the buffers coexist, and checks the peak RSS stays under the
// limit: the kubelet would OOM-kill a sidecar that crossed it, losing every
// cached token. Requests over the buffer budget get 503 body_buffer_full.
func TestPeakRSSUnderConcurrentSignedBodies(t *testing.T) {
	const (
		limit    = 64 << 20 // the webhook's default sidecar memory limit
		requests = 60
		bodySize = 1 << 20
	)
	e := newEnv(t)
	var arrived atomic.Int64
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived.Add(1)
		<-release
	}))
	defer up.Close()
	var releaseOnce sync.Once
	releaseAll := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseAll()

	port, admin := testutil.FreePort(t), testutil.FreePort(t)
	cfg := fmt.Sprintf(`{
  "version": "v1",
  "admin": {"listen": "127.0.0.1:%[3]d"},
  "bindings": [{
    "name": "tmobile", "listenPort": %[2]d,
    "upstream": {"url": %[5]q},
    "tokenEndpoint": {"url": "%[1]s/oauth2/v6/tokens", "caFile": "%[4]s/ca.pem"},
    "grant": {"type": "client_credentials"},
    "clientAuth": {"method": "client_secret_basic", "clientIDFile": "%[4]s/client_id", "clientSecretFile": "%[4]s/client_secret"},
    "privateKey": {"file": "%[4]s/key.pem"},
    "pop": {"type": "taap", "sign": ["uri", "http-method", "body"]}
  }]
}`, e.simURL, port, admin, e.dir, up.URL)
	var logs bytes.Buffer
	cmd := exec.Command(injectorBin, "run")
	cmd.Env = append(os.Environ(), "OAUTH_INJECTOR_CONFIG="+cfg, "OAUTH_INJECTOR_MEMORY_LIMIT="+strconv.Itoa(limit), "GOMEMLIMIT=")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitReady(t, fmt.Sprintf("http://127.0.0.1:%d/startup", admin), cmd, &logs)

	body := bytes.Repeat([]byte("x"), bodySize)
	var rejected, failed atomic.Int64
	var other sync.Map
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, DisableKeepAlives: true}}
	for i := 0; i < requests; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/v1/upload", port), "application/octet-stream", bytes.NewReader(body))
			if err != nil {
				// The sidecar answers 503 before reading a body it will not
				// buffer; net/http then closes the connection with the body
				// unread, and a client still writing it may see the reset
				// instead of the answer. That is a refusal, not a failure.
				if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
					rejected.Add(1)
					return
				}
				failed.Add(1)
				other.Store(err.Error(), true)
				return
			}
			defer resp.Body.Close()
			var e struct{ Error string }
			_ = json.NewDecoder(resp.Body).Decode(&e)
			switch {
			case resp.StatusCode == http.StatusOK:
			case resp.StatusCode == http.StatusServiceUnavailable && e.Error == "body_buffer_full":
				rejected.Add(1)
			default:
				other.Store(fmt.Sprintf("%d %s", resp.StatusCode, e.Error), true)
				failed.Add(1)
			}
		}()
	}
	// Hold every admitted request until all have been admitted or refused,
	// so the admitted bodies are in memory at the same time.
	deadline := time.Now().Add(2 * time.Minute)
	for arrived.Load()+rejected.Load()+failed.Load() < requests {
		if time.Now().After(deadline) {
			t.Fatalf("stuck: %d arrived, %d refused, %d failed of %d; logs:\n%s", arrived.Load(), rejected.Load(), failed.Load(), requests, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	peakHeld := vmHWM(t, cmd.Process.Pid)
	releaseAll()
	wg.Wait()
	peak := vmHWM(t, cmd.Process.Pid)
	t.Logf("peak RSS %.1f MiB (%.1f MiB while %d bodies were held) under a %d MiB limit; %d admitted, %d refused with 503",
		float64(peak)/(1<<20), float64(peakHeld)/(1<<20), arrived.Load(), limit>>20, arrived.Load(), rejected.Load())
	other.Range(func(k, _ any) bool { t.Errorf("unexpected outcome: %v", k); return true })
	if peak >= limit {
		t.Fatalf("peak RSS %d bytes reached the container memory limit %d: the kubelet would OOM-kill the sidecar", peak, limit)
	}
	if arrived.Load() == 0 {
		t.Fatal("no request was admitted")
	}
}
