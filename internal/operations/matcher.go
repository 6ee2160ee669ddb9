package operations

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// Route is one operation as the matcher sees it.
type Route struct {
	Name string
	// Methods are the HTTP methods it covers, case-sensitive as HTTP
	// methods are; empty means any method.
	Methods []string
	Path    string
}

type compiled struct {
	index   int // position in the routes given to Compile
	methods []string
	path    Pattern
}

// Matcher finds the most specific route for a request. It is immutable and
// safe for concurrent use.
type Matcher struct {
	// routes in order of decreasing specificity: the first match wins.
	routes []compiled
}

// Conflict is a pair of routes that are equally specific and can both match
// one request; A < B are indexes into the routes given to Compile.
type Conflict struct {
	A, B int
	// Example is a method and path both match, for the error message.
	Example string
}

// PatternError is a route whose path does not parse.
type PatternError struct {
	Index int
	Err   error
}

func (e *PatternError) Error() string { return fmt.Sprintf("routes[%d].path: %v", e.Index, e.Err) }

func (e *PatternError) Unwrap() error { return e.Err }

// ConflictError lists the pairs of routes no specificity rule separates.
type ConflictError struct {
	Routes    []Route
	Conflicts []Conflict
}

func (e *ConflictError) Error() string {
	msgs := make([]string, len(e.Conflicts))
	for i, c := range e.Conflicts {
		msgs[i] = fmt.Sprintf("routes %q and %q are equally specific and both match %s", e.Routes[c.A].Name, e.Routes[c.B].Name, c.Example)
	}
	return strings.Join(msgs, "; ")
}

// Compile parses every route and orders them by specificity. It fails with
// a *PatternError for the first path that does not parse, or a
// *ConflictError listing every pair of routes that no rule separates.
func Compile(routes []Route) (*Matcher, error) {
	m := &Matcher{routes: make([]compiled, len(routes))}
	for i, r := range routes {
		p, err := ParsePattern(r.Path)
		if err != nil {
			return nil, &PatternError{Index: i, Err: err}
		}
		m.routes[i] = compiled{index: i, methods: slices.Clone(r.Methods), path: p}
	}
	if cs := conflicts(m.routes); len(cs) > 0 {
		return nil, &ConflictError{Routes: routes, Conflicts: cs}
	}
	sort.SliceStable(m.routes, func(i, j int) bool { return compare(&m.routes[i], &m.routes[j]) > 0 })
	return m, nil
}

// compare orders two routes by all three specificity rules.
func compare(a, b *compiled) int {
	if c := comparePaths(&a.path, &b.path); c != 0 {
		return c
	}
	switch {
	case len(a.methods) > 0 && len(b.methods) == 0:
		return 1
	case len(a.methods) == 0 && len(b.methods) > 0:
		return -1
	}
	return 0
}

func conflicts(rs []compiled) []Conflict {
	var out []Conflict
	for i := range rs {
		for j := i + 1; j < len(rs); j++ {
			a, b := &rs[i], &rs[j]
			if compare(a, b) != 0 || !overlap(&a.path, &b.path) {
				continue
			}
			method, ok := commonMethod(a.methods, b.methods)
			if !ok {
				continue
			}
			out = append(out, Conflict{A: a.index, B: b.index, Example: method + " " + example(&a.path, &b.path)})
		}
	}
	return out
}

// commonMethod returns a method both sets cover. Equal specificity means
// both sets are explicit or both are "any".
func commonMethod(a, b []string) (string, bool) {
	if len(a) == 0 && len(b) == 0 {
		return "any method", true
	}
	for _, m := range a {
		if slices.Contains(b, m) {
			return m, true
		}
	}
	return "", false
}

// example builds a path that two overlapping patterns both match.
func example(a, b *Pattern) string {
	var sb strings.Builder
	for i := range max(len(a.segs), len(b.segs)) {
		seg := "x"
		for _, p := range []*Pattern{a, b} {
			if i < len(p.segs) && p.segs[i].kind == kindLiteral {
				seg = p.segs[i].literal
			}
		}
		sb.WriteString("/" + seg)
	}
	if sb.Len() == 0 {
		return "/"
	}
	return sb.String()
}

// Errors from Match: the request path cannot be matched safely.
var (
	// ErrDotSegment: a "." or ".." segment (also percent-encoded). The
	// upstream would resolve it after the sidecar chose the operation, so
	// the request could reach another operation's path.
	ErrDotSegment = errors.New("the path has a \".\" or \"..\" segment")
	// ErrEscape: a segment with an invalid percent-escape.
	ErrEscape = errors.New("the path has an invalid percent-escape")
)

// Match returns the index (into the routes given to Compile) of the most
// specific route matching method and u's path, or -1 when none does. It
// allocates nothing unless the path carries percent-escapes that differ
// from Go's default encoding (u.RawPath is set).
func (m *Matcher) Match(method string, u *url.URL) (int, error) {
	path, escaped := u.Path, false
	if u.RawPath != "" {
		path, escaped = u.RawPath, true
	}
	if err := checkSegments(path, escaped); err != nil {
		return -1, err
	}
	for i := range m.routes {
		r := &m.routes[i]
		if len(r.methods) > 0 && !slices.Contains(r.methods, method) {
			continue
		}
		if r.path.matches(path, escaped) {
			return r.index, nil
		}
	}
	return -1, nil
}

// checkSegments refuses dot segments and bad escapes once per request, so
// that matching itself cannot fail.
func checkSegments(path string, escaped bool) error {
	for s := range segments(path) {
		seg, err := decode(s, escaped)
		if err != nil {
			return ErrEscape
		}
		if seg == "." || seg == ".." {
			return ErrDotSegment
		}
	}
	return nil
}

// segments yields the segments of an absolute path: none for "/" (and for
// a path that is not absolute, which no pattern matches anyway, see
// matches); "/a/" has two, "a" and "".
func segments(path string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		if len(path) < 2 || path[0] != '/' {
			return
		}
		rest := path[1:]
		for {
			seg, after, found := strings.Cut(rest, "/")
			if !yield(seg) || !found {
				return
			}
			rest = after
		}
	}
}

func decode(seg string, escaped bool) (string, error) {
	if !escaped || !strings.Contains(seg, "%") {
		return seg, nil
	}
	return url.PathUnescape(seg)
}

// matches reports whether the pattern matches path; a path not starting
// with "/" (an OPTIONS * request) matches nothing.
func (p *Pattern) matches(path string, escaped bool) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	i := 0
	for s := range segments(path) {
		if i == len(p.segs) {
			return p.rest
		}
		switch seg := p.segs[i]; seg.kind {
		case kindParam:
			if s == "" {
				return false
			}
		case kindLiteral:
			d, err := decode(s, escaped)
			if err != nil || d != seg.literal {
				return false
			}
		}
		i++
	}
	return i == len(p.segs)
}
