package sidecar

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// Until the refresher uses the shared cache, a binding that configures one
// must say so at start instead of ignoring it silently.
func TestSharedCacheNotYetUsedIsLogged(t *testing.T) {
	for _, withCache := range []bool{false, true} {
		cfg := bearerBinding(t, "http://127.0.0.1:1/token", "http://127.0.0.1:1", func(b *config.Binding) {
			if withCache {
				b.SharedCache = &config.SharedCache{Address: "127.0.0.1:6379", Encryption: config.SharedCacheEncryption{KeyFile: "/k"}}
			}
		})
		core, logs := observer.New(zap.WarnLevel)
		if _, err := New(cfg, zap.New(core)); err != nil {
			t.Fatal(err)
		}
		if got := logs.FilterMessageSnippet("sharedCache is configured but").Len(); got != map[bool]int{false: 0, true: 1}[withCache] {
			t.Errorf("with sharedCache=%v: %d warnings", withCache, got)
		}
	}
}
