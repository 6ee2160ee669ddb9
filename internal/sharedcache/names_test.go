package sharedcache

import (
	"strings"
	"testing"
)

func TestNamesSeparateEverything(t *testing.T) {
	kr := ring(t, testKey(1))
	base := namer{prefix: DefaultKeyPrefix, scope: Scope{Namespace: "team-a", Binding: "opengateway", ClientID: "client-1"}}
	const phone = "tel:+34655555555"
	name := func(n namer, kr *Keyring, kind Kind, subject string) string { return n.names(kr, kind, subject)[0] }
	ref := name(base, kr, KindToken, phone)
	if again := name(base, kr, KindToken, phone); again != ref {
		t.Fatalf("names are not deterministic: %s vs %s", ref, again)
	}
	with := func(f func(n *namer)) namer { n := base; f(&n); return n }
	cases := []struct {
		name string
		got  string
	}{
		{"namespace", name(with(func(n *namer) { n.scope.Namespace = "team-b" }), kr, KindToken, phone)},
		{"binding", name(with(func(n *namer) { n.scope.Binding = "other" }), kr, KindToken, phone)},
		{"client id", name(with(func(n *namer) { n.scope.ClientID = "client-2" }), kr, KindToken, phone)},
		{"kind", name(base, kr, KindRefreshToken, phone)},
		{"subject", name(base, kr, KindToken, "tel:+34655555556")},
		{"prefix", name(with(func(n *namer) { n.prefix = "other:" }), kr, KindToken, phone)},
		{"a byte moved between fields", name(with(func(n *namer) { n.scope.Namespace = "team-ao"; n.scope.Binding = "pengateway" }), kr, KindToken, phone)},
		{"encryption key", name(base, ring(t, testKey(2)), KindToken, phone)},
	}
	for _, tc := range cases {
		if tc.got == ref {
			t.Errorf("changing the %s does not change the name %s", tc.name, ref)
		}
	}
}

func TestNamesHideTheSubject(t *testing.T) {
	n := namer{prefix: "p:", scope: Scope{Namespace: "ns", Binding: "b", ClientID: "c"}}
	kr := ring(t, testKey(1), testKey(2))
	names := append(n.names(kr, KindToken, "tel:+34655555555"), n.fenceName())
	if len(names) != 3 {
		t.Fatalf("want one name per key plus the fence, got %v", names)
	}
	for _, nm := range names {
		if !strings.HasPrefix(nm, "p:") {
			t.Errorf("%s lacks the prefix", nm)
		}
		for _, leak := range []string{"34655555555", "ns", "c:"} {
			if strings.Contains(strings.TrimPrefix(nm, "p:"), leak) {
				t.Errorf("%s contains %q", nm, leak)
			}
		}
	}
	if !strings.HasPrefix(names[0], "p:tok:") || !strings.HasPrefix(names[2], "p:fence:") {
		t.Errorf("unexpected readable parts: %v", names)
	}
}

func TestNewStoreRejectsABadPrefix(t *testing.T) {
	for _, prefix := range []string{"a b", "a\nb", strings.Repeat("x", 129)} {
		_, err := New(Options{Addr: "127.0.0.1:1", Keyring: ring(t, testKey(1)), Scope: Scope{Binding: "b"}, KeyPrefix: prefix})
		if err == nil || !strings.Contains(err.Error(), "Options.KeyPrefix") {
			t.Errorf("New(KeyPrefix %q) = %v, want an Options.KeyPrefix error", prefix, err)
		}
	}
}

// Sourced keeps the binding's own grant where it was and gives every other
// token source (provider, scope set, purpose) names of its own, without two
// (source, subject) pairs ever meeting.
func TestSourced(t *testing.T) {
	if got := Sourced("tel:+34655555555"); got != "tel:+34655555555" {
		t.Fatalf("the own grant's store subject is %q, want the subject itself", got)
	}
	if got := Sourced(""); got != "" {
		t.Fatalf("the own grant's client-level store subject is %q, want \"\"", got)
	}
	pairs := []struct {
		subject string
		source  []string
	}{
		{"", nil},
		{"x", nil},
		{"", []string{"a"}},
		{"", []string{"b"}},
		{"x", []string{"a"}},
		{"", []string{"ax"}},
		{"", []string{"ab", "c"}},
		{"", []string{"a", "bc"}},
		{"", []string{"a", ""}},
		{"", []string{"", "a"}},
		{"", []string{"provider", "", "client-1", "scopes", "a", "purpose", ""}},
		{"", []string{"provider", "", "client-1", "scopes", "a", "purpose", "p"}},
		{"", []string{"provider", "reports", "client-1", "scopes", "a", "purpose", ""}},
		// A plain subject that looks like an encoded one is encoded too.
		{Sourced("", "a"), nil},
		{Sourced("x", "a"), nil},
	}
	seen := map[string]int{}
	for i, p := range pairs {
		s := Sourced(p.subject, p.source...)
		if j, dup := seen[s]; dup {
			t.Errorf("pairs %d %+v and %d %+v share the store subject %q", j, pairs[j], i, p, s)
		}
		seen[s] = i
		if got := unsourced(s); got != p.subject {
			t.Errorf("unsourced(Sourced(%q, %q)) = %q", p.subject, p.source, got)
		}
	}
}
