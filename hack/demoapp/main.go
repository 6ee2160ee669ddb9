// Command demoapp is the application of the real-node demo and tests: it
// knows nothing of OAuth. It calls the partner through the injected sidecar
// at $OAUTH_INJECTOR_<BINDING>_URL with plain HTTP, and logs one JSON line
// per call with what the partner said it verified. On SIGTERM it keeps
// calling for -drain (proving the sidecar still serves while the app shuts
// down), logs that, and exits 0.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demoapp:", err)
		os.Exit(1)
	}
}

type options struct {
	binding  string
	path     string
	interval time.Duration
	drain    time.Duration
	count    int
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("demoapp", flag.ContinueOnError)
	o := options{}
	fs.StringVar(&o.binding, "binding", "", "binding name; its URL comes from $OAUTH_INJECTOR_<BINDING>_URL (required)")
	fs.StringVar(&o.path, "path", "/v1/demo", "path to call on the partner API")
	fs.DurationVar(&o.interval, "interval", 500*time.Millisecond, "time between calls")
	fs.DurationVar(&o.drain, "drain", time.Second, "how long to keep calling after SIGTERM")
	fs.IntVar(&o.count, "count", 0, "stop after this many calls (0: until SIGTERM)")
	get := fs.String("get", "", "instead: GET this URL once, print the status and body, and exit (the node tests scrape the sidecar's /metrics from another pod with it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *get != "" {
		return fetch(*get, out)
	}
	if o.binding == "" {
		return errors.New("-binding is required")
	}
	env := "OAUTH_INJECTOR_" + strings.ToUpper(strings.ReplaceAll(o.binding, "-", "_")) + "_URL"
	base := os.Getenv(env)
	if base == "" {
		return fmt.Errorf("%s is not set: is the pod annotated with oauth.injector.dev/bindings: %s?", env, o.binding)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	client := &http.Client{Timeout: 10 * time.Second}
	logLine(out, map[string]any{"event": "start", "url": base})
	var draining <-chan time.Time
	for n := 1; o.count == 0 || n <= o.count; n++ {
		call(client, out, base+o.path, n, draining != nil)
		select {
		case <-sigs:
			logLine(out, map[string]any{"event": "sigterm"})
			draining = time.After(o.drain)
		case <-draining:
			logLine(out, map[string]any{"event": "exit"})
			return nil
		case <-time.After(o.interval):
		}
	}
	return nil
}

// call sends a JSON POST (so the partner verifies a signed body too) and
// logs the status and the partner's "verified" object; it never logs
// request headers, so no credential can reach the app's log.
func call(client *http.Client, out io.Writer, url string, n int, afterSIGTERM bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body := fmt.Sprintf(`{"call":%d}`, n)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	line := map[string]any{"event": "call", "n": n, "after_sigterm": afterSIGTERM}
	resp, err := client.Do(req)
	if err != nil {
		line["error"] = err.Error()
		logLine(out, line)
		return
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	line["status"] = resp.StatusCode
	var echo struct {
		Verified json.RawMessage `json:"verified"`
		Error    string          `json:"error"`
	}
	if json.Unmarshal(raw, &echo) == nil {
		if len(echo.Verified) > 0 {
			line["verified"] = echo.Verified
		}
		if echo.Error != "" {
			line["partner_error"] = echo.Error
		}
	}
	if src := resp.Header.Get("X-OAuth-Injector-Error"); src != "" {
		line["sidecar_error"] = src
	}
	logLine(out, line)
}

func logLine(out io.Writer, v map[string]any) {
	v["time"] = time.Now().UTC().Format(time.RFC3339Nano)
	b, _ := json.Marshal(v)
	fmt.Fprintln(out, string(b))
}

func fetch(url string, out io.Writer) error {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	fmt.Fprintf(out, "HTTP %d\n", resp.StatusCode)
	_, err = io.Copy(out, io.LimitReader(resp.Body, 4<<20))
	return err
}
