// Package injectorcli implements the injector binary's subcommands: run (the
// sidecar), pop (mint one TAAP PoP token), token (run a grant once),
// consent (get the first refresh token or OAuth 1.0a token through a
// person's browser) and version. It is separate from cmd/injector so the commands are testable
// in-process, and separate from internal/sidecar so the proxy core knows
// nothing of flags.
package injectorcli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/oauth-injector/oauth-injector/internal/config"
	"github.com/oauth-injector/oauth-injector/internal/sidecar"
)

// Version is set at build time with -ldflags "-X ...injectorcli.Version=v1.2.3".
var Version = "dev"

// ConfigEnv holds the rendered config JSON; the webhook sets it on the sidecar.
const ConfigEnv = "OAUTH_INJECTOR_CONFIG"

// MemoryLimitEnv holds the container's memory limit in bytes; the webhook
// fills it from the downward API (resourceFieldRef limits.memory).
const MemoryLimitEnv = "OAUTH_INJECTOR_MEMORY_LIMIT"

// gcLimitPercent of the container memory limit becomes the Go runtime's soft
// limit (GOMEMLIMIT): the collector works harder as the heap nears it, while
// the rest covers what the runtime does not count (binary text, kernel
// buffers). Without it the default GOGC lets a busy heap double before a
// collection, past the limit: an OOM kill loses every cached token.
const gcLimitPercent = 80

const usage = `usage: injector <command> [flags]

commands:
  run      --config FILE            run the sidecar (or set %s to the config JSON)
  pop      --key FILE --method M --uri U [--body-file F] [--header 'Name: v']... [--sign list]
                                    print one TAAP PoP token
  token    --config FILE --binding NAME
                                    run the binding's grant once; print the result with tokens redacted
  consent  --config FILE --binding NAME --authorize-url URL [--output FILE] [--redirect-port N]
           [--scope S] [--timeout D] [--no-browser] [--secret-name N] [--namespace NS]
           [--request-token-url URL --access-token-url URL [--oob]]
                                    get a three-legged binding's first refresh token (OAuth 2,
                                    PKCE) or token and secret (OAuth 1.0a) through a browser;
                                    print the Secret manifest that holds it
  version                           print the version
`

// Main runs one subcommand and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, ConfigEnv)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = runCmd(ctx, args[1:], stderr, getenv)
	case "pop":
		err = popCmd(args[1:], stdout)
	case "token":
		err = tokenCmd(ctx, args[1:], stdout, getenv)
	case "consent":
		err = consentCmd(ctx, args[1:], stdin, stdout, stderr, getenv)
	case "version", "--version":
		fmt.Fprintln(stdout, Version)
	case "help", "-h", "--help":
		fmt.Fprintf(stdout, usage, ConfigEnv)
	default:
		fmt.Fprintf(stderr, "injector: unknown command %q\n", args[0])
		fmt.Fprintf(stderr, usage, ConfigEnv)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "injector %s: %v\n", args[0], err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

type usageError struct{ error }

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// loadConfig reads --config, or the env var the webhook sets.
func loadConfig(path string, getenv func(string) string) (*config.Config, error) {
	if path != "" {
		return config.Load(path)
	}
	if js := getenv(ConfigEnv); js != "" {
		return config.Parse([]byte(js))
	}
	return nil, usageError{fmt.Errorf("--config FILE or %s is required", ConfigEnv)}
}

func newLogger(level string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %w", err)}
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.AddSync(w), lvl)
	return zap.New(core), nil
}

func runCmd(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("run")
	cfgPath := fs.String("config", "", "config file (default: $"+ConfigEnv+")")
	level := fs.String("log-level", envOr(getenv, "OAUTH_INJECTOR_LOG_LEVEL", "info"), "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(*level, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	cfg, err := loadConfig(*cfgPath, getenv)
	if err != nil {
		return err
	}
	memLimit, err := applyMemoryLimit(getenv, log)
	if err != nil {
		return err
	}
	limitProcs(getenv, runtime.GOMAXPROCS, log)
	srv, err := sidecar.New(cfg, log, sidecar.WithMemoryLimit(memLimit))
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

// applyMemoryLimit reads the container memory limit, sets the runtime's
// soft limit from it unless GOMEMLIMIT was given explicitly, and returns it
// (0 when unknown) so the sidecar can size its body buffers.
func applyMemoryLimit(getenv func(string) string, log *zap.Logger) (int64, error) {
	raw := getenv(MemoryLimitEnv)
	if raw == "" {
		return 0, nil
	}
	limit, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil || limit <= 0 {
		return 0, fmt.Errorf("%s: want the container memory limit as a positive number of bytes, got %q", MemoryLimitEnv, raw)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit / 100 * gcLimitPercent)
	}
	log.Info("memory limit applied",
		zap.Int64("container_limit_bytes", limit),
		zap.Int64("gomemlimit_bytes", debug.SetMemoryLimit(-1)),
		zap.Int64("body_buffer_budget_bytes", sidecar.BodyBudget(limit)))
	return limit, nil
}

func envOr(getenv func(string) string, k, def string) string {
	if v := getenv(k); v != "" {
		return v
	}
	return def
}

// headerList collects repeated --header flags.
type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }
