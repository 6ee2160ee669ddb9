package operations

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestParsePattern(t *testing.T) {
	tests := []struct {
		pattern string
		want    string // error substring; "" = valid
	}{
		{"/", ""},
		{"/**", ""},
		{"/v1/users", ""},
		{"/v1/users/{id}", ""},
		{"/v1/users/{user_id}/orders/{Order2}/**", ""},
		{"/v1/a b/ümlaut", ""},
		{"", "must not be empty"},
		{"v1/users", "must start with \"/\""},
		{"/v1/users/", "must not end with \"/\""},
		{"/v1//users", "empty segment"},
		{"/v1/**/users", "\"**\" may only be the last segment"},
		{"/v1/*", "a literal segment may not contain"},
		{"/v1/*.json", "a literal segment may not contain"},
		{"/v1/{id", "a parameter is a whole segment"},
		{"/v1/id}", "a parameter is a whole segment"},
		{"/v1/{}", "a parameter is a whole segment"},
		{"/v1/{1st}", "a parameter is a whole segment"},
		{"/v1/{a-b}", "a parameter is a whole segment"},
		{"/v1/x{id}", "a parameter is a whole segment"},
		{"/v1/{id}x", "a parameter is a whole segment"},
		{"/v1/a}b", "a literal segment may not contain"},
		{"/v1/{id}/{id}", "parameter {id} appears twice"},
		{"/v1/users?x=1", "a literal segment may not contain"},
		{"/v1/a%2Fb", "a literal segment may not contain"},
		{"/v1/../admin", "dot segments are not allowed"},
		{"/v1/./admin", "dot segments are not allowed"},
		{"/" + strings.Repeat("a", MaxPatternLength), "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			p, err := ParsePattern(tt.pattern)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("want error containing %q, got %v", tt.want, err)
			case err == nil && p.String() != tt.pattern:
				t.Fatalf("String() = %q", p.String())
			}
		})
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestMatch: each row is a set of routes (the names say what they are) and
// requests with the route that must win; "-" is no match. Route order in
// the list never matters, so every row is also checked with the routes
// reversed.
func TestMatch(t *testing.T) {
	type req struct{ method, path, want string }
	tests := []struct {
		name   string
		routes []Route
		reqs   []req
	}{
		{
			name: "literal, parameter and rest",
			routes: []Route{
				{Name: "list", Path: "/v1/users"},
				{Name: "one", Path: "/v1/users/{id}"},
				{Name: "sub", Path: "/v1/users/{id}/**"},
				{Name: "me", Path: "/v1/users/me"},
			},
			reqs: []req{
				{"GET", "/v1/users", "list"},
				{"GET", "/v1/users/42", "one"},
				{"GET", "/v1/users/me", "me"},           // literal beats {id}
				{"GET", "/v1/users/42/orders", "sub"},   // ** takes one segment
				{"GET", "/v1/users/42/orders/7", "sub"}, // ... or several
				{"GET", "/v1/users/me/orders", "sub"},
				{"GET", "/v1/users/", "-"}, // {id} needs a non-empty segment; ** is only under {id}
				{"GET", "/v1/other", "-"},
				{"GET", "/", "-"},
				{"GET", "/v1/USERS", "-"}, // literals are case-sensitive
			},
		},
		{
			name: "more literal segments beat fewer",
			routes: []Route{
				{Name: "two-lits", Path: "/{x}/b/c"},
				{Name: "one-lit", Path: "/a/{y}/{z}"},
				{Name: "zero-lits", Path: "/{p}/{q}/{r}"},
				{Name: "two-lits-literal-first", Path: "/a/b/{w}"},
			},
			reqs: []req{
				{"GET", "/z/b/c", "two-lits"},
				{"GET", "/a/z/c", "one-lit"},
				{"GET", "/z/z/z", "zero-lits"},
				// Two literals each: at the first difference a beats {x}.
				{"GET", "/a/b/c", "two-lits-literal-first"},
			},
		},
		{
			name: "the end of a pattern beats ** and ** matches nothing",
			routes: []Route{
				{Name: "exact", Path: "/files/{id}"},
				{Name: "tree", Path: "/files/{id}/**"},
				{Name: "all", Path: "/**"},
			},
			reqs: []req{
				{"GET", "/files/1", "exact"},
				{"GET", "/files/1/a", "tree"},
				{"GET", "/files", "all"},
				{"GET", "/", "all"},
				{"GET", "/anything/else", "all"},
			},
		},
		{
			name: "literal beats parameter at the first difference, whatever follows",
			routes: []Route{
				{Name: "lit-first", Path: "/a/**"},
				{Name: "param-first", Path: "/{x}/b"},
			},
			reqs: []req{
				{"GET", "/a/b", "lit-first"},
				{"GET", "/c/b", "param-first"},
			},
		},
		{
			name: "explicit methods beat any method; disjoint methods share a path",
			routes: []Route{
				{Name: "read", Methods: []string{"GET", "HEAD"}, Path: "/v1/items/{id}"},
				{Name: "write", Methods: []string{"PUT", "PATCH", "DELETE"}, Path: "/v1/items/{id}"},
				{Name: "other", Path: "/v1/items/{id}"},
			},
			reqs: []req{
				{"GET", "/v1/items/1", "read"},
				{"HEAD", "/v1/items/1", "read"},
				{"DELETE", "/v1/items/1", "write"},
				{"POST", "/v1/items/1", "other"},
				{"get", "/v1/items/1", "other"}, // methods are case-sensitive
			},
		},
		{
			name: "a path is more specific than a method",
			routes: []Route{
				{Name: "get-anything", Methods: []string{"GET"}, Path: "/v1/**"},
				{Name: "any-item", Path: "/v1/items/{id}"},
			},
			reqs: []req{
				{"GET", "/v1/items/1", "any-item"},
				{"GET", "/v1/other", "get-anything"},
				{"POST", "/v1/other", "-"},
			},
		},
		{
			name: "escapes are decoded per segment",
			routes: []Route{
				{Name: "space", Path: "/v1/a b"},
				{Name: "one", Path: "/v1/{id}"},
				{Name: "two", Path: "/v1/{a}/{b}"},
			},
			reqs: []req{
				{"GET", "/v1/a%20b", "space"},
				{"GET", "/v1/a%2Fb", "one"}, // an encoded slash does not split the segment
				{"GET", "/v1/a/b", "two"},
				{"GET", "/v1/%61", "one"},
			},
		},
	}
	for _, tt := range tests {
		for _, reversed := range []bool{false, true} {
			routes := append([]Route(nil), tt.routes...)
			if reversed {
				for i, j := 0, len(routes)-1; i < j; i, j = i+1, j-1 {
					routes[i], routes[j] = routes[j], routes[i]
				}
			}
			m, err := Compile(routes)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			for _, r := range tt.reqs {
				i, err := m.Match(r.method, mustURL(t, r.path))
				if err != nil {
					t.Errorf("%s: %s %s: %v", tt.name, r.method, r.path, err)
					continue
				}
				got := "-"
				if i >= 0 {
					got = routes[i].Name
				}
				if got != r.want {
					t.Errorf("%s (reversed %v): %s %s matched %s, want %s", tt.name, reversed, r.method, r.path, got, r.want)
				}
			}
		}
	}
}

func TestMatchRefusesUnsafePaths(t *testing.T) {
	m, err := Compile([]Route{{Name: "public", Path: "/v1/public/**"}, {Name: "all", Path: "/**"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want error
	}{
		{"/v1/public/../admin", ErrDotSegment},
		{"/v1/public/./x", ErrDotSegment},
		{"/v1/public/%2e%2e/admin", ErrDotSegment},
		{"/v1/public/%2E/admin", ErrDotSegment},
		{"/..", ErrDotSegment},
		{"/v1/public/.x", nil}, // not a dot segment
	}
	for _, tt := range tests {
		u := &url.URL{Path: tt.path}
		if strings.Contains(tt.path, "%") {
			u = mustURL(t, tt.path)
		}
		if _, err := m.Match("GET", u); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.path, err, tt.want)
		}
	}
	// A raw path with a broken escape never reaches a url.URL through
	// net/http, but a hand-built one is refused rather than matched.
	if _, err := m.Match("GET", &url.URL{Path: "/v1/public/x", RawPath: "/v1/public/%zz"}); !errors.Is(err, ErrEscape) {
		t.Errorf("bad escape: err = %v, want ErrEscape", err)
	}
}

func TestCompileConflicts(t *testing.T) {
	tests := []struct {
		name   string
		routes []Route
		want   []string // substrings of the error; nil = no conflict
	}{
		{"same path twice", []Route{{Name: "a", Path: "/v1/x"}, {Name: "b", Path: "/v1/x"}},
			[]string{`routes "a" and "b" are equally specific and both match any method /v1/x`}},
		{"parameters with other names", []Route{{Name: "a", Path: "/v1/{id}"}, {Name: "b", Path: "/v1/{name}"}},
			[]string{`"a" and "b"`, "/v1/x"}},
		{"rest under equal prefixes", []Route{{Name: "a", Path: "/v1/{x}/**"}, {Name: "b", Path: "/v1/{y}/**"}},
			[]string{`"a" and "b"`}},
		{"overlapping method sets", []Route{{Name: "a", Methods: []string{"GET", "POST"}, Path: "/v1/{id}"}, {Name: "b", Methods: []string{"POST"}, Path: "/v1/{id}"}},
			[]string{`"a" and "b" are equally specific and both match POST /v1/x`}},
		{"literal in different places, same counts", []Route{{Name: "a", Path: "/v1/{x}/c"}, {Name: "b", Path: "/v1/{y}/c"}, {Name: "c", Path: "/v2/{z}/c"}},
			[]string{`"a" and "b"`}},
		{"three-way", []Route{{Name: "a", Path: "/{x}"}, {Name: "b", Path: "/{y}"}, {Name: "c", Path: "/{z}"}},
			[]string{`"a" and "b"`, `"a" and "c"`, `"b" and "c"`}},
		{"disjoint methods", []Route{{Name: "a", Methods: []string{"GET"}, Path: "/v1/{id}"}, {Name: "b", Methods: []string{"PUT"}, Path: "/v1/{id}"}}, nil},
		{"different literals", []Route{{Name: "a", Path: "/v1/{id}"}, {Name: "b", Path: "/v2/{id}"}}, nil},
		{"explicit and any", []Route{{Name: "a", Methods: []string{"GET"}, Path: "/v1/{id}"}, {Name: "b", Path: "/v1/{id}"}}, nil},
		{"root and rest", []Route{{Name: "a", Path: "/"}, {Name: "b", Path: "/**"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.routes)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("want no conflict, got %v", err)
				}
				return
			}
			var ce *ConflictError
			if !errors.As(err, &ce) {
				t.Fatalf("want *ConflictError, got %v", err)
			}
			if tt.name == "three-way" && len(ce.Conflicts) != 3 {
				t.Errorf("%d conflicts, want all 3 pairs: %v", len(ce.Conflicts), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestCompilePatternError(t *testing.T) {
	_, err := Compile([]Route{{Name: "ok", Path: "/a"}, {Name: "bad", Path: "/a/**/b"}})
	var pe *PatternError
	if !errors.As(err, &pe) || pe.Index != 1 || !strings.Contains(err.Error(), "routes[1].path") {
		t.Fatalf("want a PatternError for routes[1], got %v", err)
	}
}

// TestMatchAllocatesNothing: the sidecar matches every request of a
// binding with operations, so matching a plain path must not allocate.
func TestMatchAllocatesNothing(t *testing.T) {
	m, err := Compile([]Route{
		{Name: "a", Methods: []string{"GET"}, Path: "/v1/users/{id}"},
		{Name: "b", Path: "/v1/users/{id}/orders/**"},
		{Name: "c", Methods: []string{"POST"}, Path: "/v1/users"},
		{Name: "d", Path: "/**"},
	})
	if err != nil {
		t.Fatal(err)
	}
	u := mustURL(t, "/v1/users/42/orders/7/items")
	if n := testing.AllocsPerRun(100, func() {
		if i, _ := m.Match("GET", u); i != 1 {
			t.Fatalf("matched %d", i)
		}
	}); n != 0 {
		t.Fatalf("Match allocates %v times per call, want 0", n)
	}
}
