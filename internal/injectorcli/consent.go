package injectorcli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/oauth-injector/oauth-injector/internal/consent"
)

// consentCmd runs the one-time consent for a three-legged binding and
// writes the Secret manifest. The manifest goes to stdout or --output;
// everything meant for the person goes to stderr and carries no secret, so
// the terminal scrollback and a CI log stay clean.
func consentCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("consent")
	cfgPath := fs.String("config", "", "config file (default: $"+ConfigEnv+")")
	name := fs.String("binding", "", "binding name")
	o := consent.Options{Stdin: stdin, Out: stderr}
	fs.StringVar(&o.Flow, "flow", "", "oauth2 or oauth1 (default: what the binding uses)")
	fs.StringVar(&o.AuthorizeURL, "authorize-url", "", "the provider's authorization endpoint")
	fs.IntVar(&o.RedirectPort, "redirect-port", 0, "loopback port of the redirect URI http://127.0.0.1:PORT/callback (default: a random free port)")
	scope := fs.String("scope", "", "space-separated scopes to ask for (default: grant.scopes)")
	fs.BoolVar(&o.OfflineAccess, "offline-access", true, "add the offline_access scope (OAuth 2)")
	fs.StringVar(&o.Prompt, "prompt", "consent", "prompt parameter (OAuth 2); empty to omit")
	fs.StringVar(&o.RequestTokenURL, "request-token-url", "", "temporary credentials endpoint (OAuth 1.0a)")
	fs.StringVar(&o.AccessTokenURL, "access-token-url", "", "token credentials endpoint (OAuth 1.0a)")
	fs.BoolVar(&o.OOB, "oob", false, "OAuth 1.0a without a callback: type the verifier the provider shows")
	fs.StringVar(&o.SecretName, "secret-name", "", "Secret name (default: from the binding's file path)")
	fs.StringVar(&o.SecretKey, "secret-key", "", "Secret key of the refresh token (default: the file name)")
	fs.StringVar(&o.Namespace, "namespace", "", "namespace written into the manifest")
	fs.DurationVar(&o.Timeout, "timeout", consent.DefaultTimeout, "how long to wait for the person to approve")
	output := fs.String("output", "", "write the manifest to this file (mode 0600) instead of stdout")
	noBrowser := fs.Bool("no-browser", false, "only print the URL")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *name == "" {
		return usageError{errors.New("--binding is required")}
	}
	if o.Timeout <= 0 {
		return usageError{fmt.Errorf("--timeout: must be positive, got %s", o.Timeout)}
	}
	if o.RedirectPort < 0 || o.RedirectPort > 65535 {
		return usageError{fmt.Errorf("--redirect-port: must be 0-65535, got %d", o.RedirectPort)}
	}
	cfg, err := loadConfig(*cfgPath, getenv)
	if err != nil {
		return err
	}
	b, ok := cfg.Binding(*name)
	if !ok {
		return fmt.Errorf("binding %q not found in config", *name)
	}
	flow, err := consent.ChooseFlow(b, o.Flow)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["scope"] {
		o.Scopes = strings.Fields(*scope)
	}
	if flow == consent.FlowOAuth1 {
		// OAuth 2 defaults that mean nothing to OAuth 1.0a; set by hand
		// they are mistakes, which Run reports.
		if !set["offline-access"] {
			o.OfflineAccess = false
		}
		if !set["prompt"] {
			o.Prompt = ""
		}
	}
	if !*noBrowser {
		o.OpenBrowser = consent.BrowserOpener(runtime.GOOS, getenv, exec.LookPath)
	}
	if *output != "" {
		// Before the browser: a bad path must not cost the person a consent.
		if err := checkOutputDir(*output); err != nil {
			return err
		}
	}

	res, err := consent.Run(ctx, b, o)
	if err != nil {
		return err
	}
	manifest := consent.Manifest(b.Name, res.Secrets)
	if *output != "" {
		if err := writePrivate(*output, manifest); err != nil {
			return err
		}
	} else if _, err := stdout.Write(manifest); err != nil {
		return err
	}
	for _, s := range res.Secrets {
		for k, v := range s.Data {
			fmt.Fprintf(stderr, "Secret %s, key %s: %s\n", s.Name, k, Fingerprint(v))
		}
	}
	if res.Scope != "" {
		fmt.Fprintf(stderr, "Granted scope: %s\n", res.Scope)
	}
	if *output != "" {
		fmt.Fprintf(stderr, "Wrote the manifest to %s (mode 0600). Apply it with kubectl apply -f %s, then delete the file.\n", *output, *output)
	}
	return nil
}

func checkOutputDir(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("--output %s: %w", path, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("--output %s: %s is not a directory", path, dir)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("--output %s: is a directory", path)
	}
	return nil
}

// writePrivate writes data to path with mode 0600 whatever the file was
// before: it goes through a new temporary file (created 0600) renamed over
// path, so the token is never readable by others, not even for a moment.
func writePrivate(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".consent-*")
	if err != nil {
		return fmt.Errorf("--output %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this finds nothing
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("--output %s: %w", path, err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("--output %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--output %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("--output %s: %w", path, err)
	}
	return nil
}
