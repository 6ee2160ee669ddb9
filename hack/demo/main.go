// Command demo runs oauth-injector end to end on this machine with no
// setup: it generates a throwaway key, starts the TAAP simulator (the
// project's stand-in for T-Mobile) and the injector sidecar from
// examples/sidecar/taap.json, sends a GET and a JSON POST through
// 127.0.0.1 as an app would, and prints what the partner verified. It exits
// non-zero if any step fails.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding the injector and taapsim binaries")
	example := flag.String("config", "examples/sidecar/taap.json", "sidecar config template")
	flag.Parse()
	if err := run(*bin, *example); err != nil {
		fmt.Fprintln(os.Stderr, "\nDEMO FAILED:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

func run(bin, example string) error {
	dir, err := os.MkdirTemp("", "oauth-injector-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	secrets := filepath.Join(dir, "secrets")

	step("generating a throwaway RSA-2048 PoP key and client credentials in %s", secrets)
	if err := writeSecrets(secrets); err != nil {
		return err
	}

	step("starting the TAAP simulator (token endpoint + partner API over HTTPS)")
	readyFile := filepath.Join(dir, "sim-url")
	sim, err := start(filepath.Join(dir, "taapsim.log"), filepath.Join(bin, "taapsim"),
		"-listen", "127.0.0.1:0", "-public-key", filepath.Join(secrets, "public.pem"),
		"-client-id", "demo-client", "-client-secret", "demo s3cret/+%",
		"-tls-dir", secrets, "-ready-file", readyFile)
	if err != nil {
		return err
	}
	defer stop(sim)
	upstream, err := waitFile(readyFile, 30*time.Second)
	if err != nil {
		return fmt.Errorf("simulator did not start: %w (log: %s)", err, filepath.Join(dir, "taapsim.log"))
	}
	fmt.Println("    simulator at", upstream)

	tmpl, err := os.ReadFile(example)
	if err != nil {
		return err
	}
	cfg := strings.NewReplacer("${UPSTREAM}", upstream, "${SECRETS}", secrets).Replace(string(tmpl))
	cfgPath := filepath.Join(dir, "sidecar.json")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}

	step("starting the injector sidecar with %s", example)
	sidecarLog := filepath.Join(dir, "injector.log")
	sc, err := start(sidecarLog, filepath.Join(bin, "injector"), "run", "--config", cfgPath)
	if err != nil {
		return err
	}
	defer stop(sc)
	if err := waitHTTP("http://127.0.0.1:15020/startup", 30*time.Second); err != nil {
		logTail(sidecarLog)
		return fmt.Errorf("sidecar never became ready: %w", err)
	}
	fmt.Println("    /startup ok: the sidecar holds an access token and an ID token")

	for _, c := range []struct {
		method, path, body string
	}{
		{"GET", "/v1/echo/accounts?msisdn=+14255550100&fields=plan,status", ""},
		{"POST", "/v1/echo/orders", `{"sku":"SIM-ESIM","quantity":1}`},
	} {
		step("app -> %s http://127.0.0.1:15001%s %s", c.method, c.path, c.body)
		if err := call(c.method, "http://127.0.0.1:15001"+c.path, c.body); err != nil {
			logTail(sidecarLog)
			return err
		}
	}

	step("stopping the sidecar with SIGTERM (it drains, then exits 0)")
	if err := sc.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	if err := sc.Wait(); err != nil {
		return fmt.Errorf("sidecar exit: %w", err)
	}
	fmt.Println("    exited 0")
	fmt.Println("\nDEMO OK: the partner verified a fresh PoP, the access token and the ID token on every call.")
	return nil
}

func call(method, url, body string) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, url, resp.StatusCode, raw)
	}
	var echo struct {
		Verified map[string]any `json:"verified"`
		Method   string         `json:"method"`
		URI      string         `json:"uri"`
		Body     string         `json:"body"`
	}
	if err := json.Unmarshal(raw, &echo); err != nil {
		return fmt.Errorf("partner response is not the simulator's echo: %s", raw)
	}
	v := echo.Verified
	fmt.Printf("    partner answered 200 and verified:\n")
	fmt.Printf("      - PoP token (X-Authorization) signature valid, signed fields %q, jti %v never seen before\n", v["ehts"], v["jti"])
	fmt.Printf("      - the PoP covers method %s and URI %s", echo.Method, echo.URI)
	if b, _ := v["bodySigned"].(bool); b {
		fmt.Printf(" and the body %s", echo.Body)
	}
	fmt.Println()
	fmt.Printf("      - access token (Authorization: Bearer) valid: %v; ID token (X-Auth-Originator) valid: %v\n", v["accessToken"], v["idToken"])
	if v["pop"] != true || v["accessToken"] != true || v["idToken"] != true {
		return errors.New("the partner did not verify every credential")
	}
	return nil
}

func writeSecrets(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	files := map[string][]byte{
		"key.pem":       pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		"public.pem":    pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		"client_id":     []byte("demo-client\n"),
		"client_secret": []byte("demo s3cret/+%\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func start(logPath, name string, args ...string) (*exec.Cmd, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return cmd, nil
}

func stop(cmd *exec.Cmd) {
	if cmd.ProcessState == nil {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
	}
}

func waitFile(path string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
			return string(bytes.TrimSpace(b)), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("%s not written within %s", path, timeout)
}

func waitHTTP(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			last = fmt.Errorf("HTTP %d", resp.StatusCode)
		} else {
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return last
}

func logTail(path string) {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	fmt.Fprintf(os.Stderr, "--- %s ---\n%s\n", path, b)
}
