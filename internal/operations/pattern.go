// Package operations maps an HTTP request (method and path) to the one
// operation of an API it belongs to, so that the sidecar can ask for exactly
// the scopes that operation needs. It is pure (no I/O, standard library
// only) so that the config validation, the webhook and the sidecar agree on
// what a pattern means and which operation wins.
//
// A path pattern is "/" followed by segments separated by "/": a literal
// ("users"), a parameter that matches exactly one non-empty segment
// ("{id}"), and optionally, as the last segment only, "**", which matches
// any number of remaining segments, none included. Request paths are matched
// segment by segment after percent-decoding each segment, so "%2F" inside a
// segment never splits it.
//
// When several operations match, the most specific wins:
//  1. more literal segments beat fewer;
//  2. otherwise, at the first segment where the two differ, a literal beats
//     a parameter, a parameter beats the end of a pattern, and the end of a
//     pattern beats "**";
//  3. otherwise, an explicit method set beats "any method".
//
// Two operations that are equally specific by these rules and can match the
// same request are a configuration error (Conflicts names both), never
// resolved by their order in the list.
package operations

import (
	"errors"
	"fmt"
	"strings"
)

// segKind is what a pattern segment matches. The values are ranks: a higher
// one is more specific at the first position where two patterns differ.
type segKind uint8

const (
	kindRest    segKind = iota // "**": any remaining segments
	kindEnd                    // past the last segment of a pattern without "**"
	kindParam                  // "{name}": one non-empty segment
	kindLiteral                // an exact segment
)

type segment struct {
	kind    segKind
	literal string
}

// Pattern is a parsed path pattern.
type Pattern struct {
	raw  string
	segs []segment // without a trailing "**"
	rest bool      // ends in "**"
	lits int       // literal segments, the first specificity criterion
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.raw }

// MaxPatternLength bounds a pattern; the CRD's schema has the same bound.
const MaxPatternLength = 1024

// ParsePattern parses a path pattern. Its errors say what is wrong with the
// pattern but not where it came from; callers add the config path.
func ParsePattern(s string) (Pattern, error) {
	p := Pattern{raw: s}
	switch {
	case s == "":
		return p, errors.New("must not be empty; \"/**\" matches every path")
	case len(s) > MaxPatternLength:
		return p, fmt.Errorf("longer than %d bytes", MaxPatternLength)
	case s[0] != '/':
		return p, fmt.Errorf("must start with \"/\", got %q", s)
	case s == "/":
		return p, nil
	}
	parts := strings.Split(s[1:], "/")
	params := map[string]bool{}
	for i, part := range parts {
		last := i == len(parts)-1
		switch {
		case part == "**":
			if !last {
				return p, fmt.Errorf("\"**\" may only be the last segment, got %q", s)
			}
			p.rest = true
		case part == "":
			if last {
				return p, fmt.Errorf("must not end with \"/\" (use \"/**\" to match what follows), got %q", s)
			}
			return p, fmt.Errorf("has an empty segment (\"//\"), got %q", s)
		case part[0] == '{' || part[len(part)-1] == '}':
			name, ok := strings.CutPrefix(part, "{")
			name, ok2 := strings.CutSuffix(name, "}")
			if !ok || !ok2 || !validParamName(name) {
				return p, fmt.Errorf("segment %q: a parameter is a whole segment {name}, name of letters, digits and '_' not starting with a digit", part)
			}
			if params[name] {
				return p, fmt.Errorf("parameter {%s} appears twice", name)
			}
			params[name] = true
			p.segs = append(p.segs, segment{kind: kindParam})
		case part == "." || part == "..":
			return p, fmt.Errorf("segment %q: dot segments are not allowed (requests with them are refused)", part)
		case strings.ContainsAny(part, "{}*?#%"):
			return p, fmt.Errorf("segment %q: a literal segment may not contain { } * ? # or %% (write it decoded; \"*\" is only valid as the whole last segment \"**\")", part)
		default:
			p.segs = append(p.segs, segment{kind: kindLiteral, literal: part})
			p.lits++
		}
	}
	return p, nil
}

func validParamName(n string) bool {
	if n == "" || (n[0] >= '0' && n[0] <= '9') {
		return false
	}
	for _, c := range n {
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// kindAt is the pattern's rank sequence: the segments, then "**" or the end
// repeated forever, so that any two patterns compare position by position.
func (p *Pattern) kindAt(i int) segKind {
	switch {
	case i < len(p.segs):
		return p.segs[i].kind
	case p.rest:
		return kindRest
	}
	return kindEnd
}

// comparePaths orders two patterns by rules 1 and 2 of the package doc:
// >0 when a is more specific, <0 when b is, 0 when neither is.
func comparePaths(a, b *Pattern) int {
	if a.lits != b.lits {
		return a.lits - b.lits
	}
	n := max(len(a.segs), len(b.segs)) + 1
	for i := range n {
		if ka, kb := a.kindAt(i), b.kindAt(i); ka != kb {
			return int(ka) - int(kb)
		}
	}
	return 0
}

// overlap reports whether two patterns of equal specificity (the same rank
// sequence) can match one path: their literals agree wherever both have one.
func overlap(a, b *Pattern) bool {
	for i := range min(len(a.segs), len(b.segs)) {
		if a.segs[i].kind == kindLiteral && b.segs[i].kind == kindLiteral && a.segs[i].literal != b.segs[i].literal {
			return false
		}
	}
	return true
}
