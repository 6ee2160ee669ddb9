package injectorcli

import (
	"testing"

	"go.uber.org/zap"
)

func TestLimitProcs(t *testing.T) {
	cases := []struct {
		name      string
		env       string
		runtime   int // what the runtime chose
		wantProcs int
	}{
		{name: "a big node is capped", runtime: 16, wantProcs: 2},
		{name: "two stay two", runtime: 2, wantProcs: 2},
		{name: "one CPU is never raised", runtime: 1, wantProcs: 1},
		{name: "GOMAXPROCS in the environment wins", env: "16", runtime: 16, wantProcs: 16},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			procs := tc.runtime
			set := func(n int) int {
				prev := procs
				if n > 0 {
					procs = n
				}
				return prev
			}
			getenv := func(k string) string {
				if k == "GOMAXPROCS" {
					return tc.env
				}
				return ""
			}
			limitProcs(getenv, set, zap.NewNop())
			if procs != tc.wantProcs {
				t.Fatalf("GOMAXPROCS %d, want %d", procs, tc.wantProcs)
			}
		})
	}
}
