package main

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth-injector/oauth-injector/internal/pop"
	"github.com/oauth-injector/oauth-injector/internal/taapsim"
)

const popKeyDir = "../../internal/pop/testdata/"

func TestParseFlagsErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-client-id", "a", "-client-secret", "b"}, "-public-key is required"},
		{[]string{"-public-key", "k", "-client-secret", "b"}, "-client-id is required"},
		{[]string{"-public-key", "k", "-client-id", "a"}, "-client-secret or -client-secret-file is required"},
		{[]string{"-public-key", "k", "-client-id", "a", "-client-secret", "b", "-tls-cert", "c.pem"}, "-tls-cert and -tls-key go together"},
		{[]string{"-public-key", "k", "-client-id", "a", "-client-secret", "b", "-tls-cert", "c", "-tls-key", "k", "-tls-dir", "d"}, "cannot be combined with -tls-cert"},
		{[]string{"-public-key", "k", "-client-id", "a", "-client-secret", "b", "-token-ttl", "0s"}, "-token-ttl must be positive"},
		{[]string{"-public-key", "k", "-client-id", "a", "-client-secret", "b", "extra"}, "unexpected arguments"},
		{[]string{"-nope"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := parseFlags(tt.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRunRejectsBadKey(t *testing.T) {
	for _, tt := range []struct{ file, want string }{
		{popKeyDir + "rsa_pkcs8.pem", "found private key PEM block"},
		{popKeyDir + "missing.pem", "no such file"},
	} {
		err := run(context.Background(), []string{"-public-key", tt.file, "-client-id", "a", "-client-secret", "b"}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.file, err, tt.want)
		}
	}
	ecPub := filepath.Join(t.TempDir(), "ec.pem")
	k, err := pop.ParsePrivateKey(mustRead(t, popKeyDir+"ec_sec1.pem"), nil)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(k.Public())
	if err := os.WriteFile(ecPub, pemEncode("PUBLIC KEY", der), 0o644); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"-public-key", ecPub, "-client-id", "a", "-client-secret", "b"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "want an RSA key") {
		t.Errorf("EC key: error %v", err)
	}
}

// TestRunTLS starts the binary's run loop with -tls-dir and -ready-file,
// then performs the whole TAAP flow over HTTPS trusting only ca.pem.
func TestRunTLS(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"-public-key", popKeyDir + "rsa_public_pkix.pem", "-client-id", "demo", "-client-secret", "s3cret",
			"-token-ttl", "10m", "-tls-dir", filepath.Join(dir, "tls"), "-ready-file", ready,
		}, io.Discard)
	}()
	base := waitForFile(t, ready, done)
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("ready file has %q", base)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(mustRead(t, filepath.Join(dir, "tls", taapsim.CAFile))) {
		t.Fatal("bad ca.pem")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	keyAny, err := pop.LoadPrivateKey(popKeyDir+"rsa_pkcs8.pem", "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := pop.NewBuilder(keyAny.(*rsa.PrivateKey), []string{"uri", "http-method", "body"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, target string, body []byte, hdr http.Header) map[string]any {
		t.Helper()
		req, err := http.NewRequest(method, base+target, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		tok, err := b.Mint(pop.Request{Method: method, URI: pop.URIValue(req.URL), Header: req.Header, Body: body})
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(taapsim.PoPHeader, tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %v %v", method, target, resp.StatusCode, m, err)
		}
		return m
	}
	form := []byte(url.Values{"grant_type": {"client_credentials"}}.Encode())
	tokens := send("POST", taapsim.TokenPath, form, http.Header{
		"Content-Type":  {"application/x-www-form-urlencoded"},
		"Authorization": {"Basic ZGVtbzpzM2NyZXQ="}, // demo:s3cret
	})
	if tokens["expires_in"] != float64(600) {
		t.Errorf("expires_in %v, want 600 from -token-ttl", tokens["expires_in"])
	}
	echo := send("POST", "/v1/echo?city=%E6%9D%B1%E4%BA%AC", []byte("ping"), http.Header{
		"Authorization":       {"Bearer " + tokens["access_token"].(string)},
		taapsim.IDTokenHeader: {tokens["id_token"].(string)},
	})
	if echo["body"] != "ping" || echo["verified"].(map[string]any)["bodySigned"] != true {
		t.Errorf("echo %v", echo)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
}

func waitForFile(t *testing.T, path string, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			return strings.TrimSpace(string(b))
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("run exited before ready: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("ready file never appeared")
	return ""
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pemEncode(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
