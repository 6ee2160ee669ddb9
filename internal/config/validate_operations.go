package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/oauth-injector/oauth-injector/internal/operations"
)

// MaxPurposeBytes bounds a CIBA purpose; the CRD has the same bound.
const MaxPurposeBytes = 512

// methodRE is an upper-case HTTP method: the registered ones and WebDAV's
// are letters, UPnP's M-SEARCH has a hyphen. Upper case only, because
// methods are case-sensitive and "get" is not GET.
var methodRE = regexp.MustCompile(`^[A-Z]+(-[A-Z]+)*$`)

// validateOperations checks operations, unmatched and providers of the
// binding at p.
func (b *Binding) validateOperations(p string, errs *fieldErrors) {
	switch b.Unmatched {
	case "", UnmatchedAllow:
	case UnmatchedDeny:
		if len(b.Operations) == 0 {
			errs.add(p+".unmatched", "deny needs operations: without any it would refuse every request")
		}
	default:
		errs.add(p+".unmatched", "must be %s or %s, got %q", UnmatchedAllow, UnmatchedDeny, b.Unmatched)
	}
	if len(b.Operations) == 0 && len(b.Providers) == 0 {
		return
	}
	if b.Grant.Type == GrantNone {
		errs.add(p+".operations", "grant.type none has no token to choose; operations and providers need a token grant")
		return
	}
	if n := len(b.Operations); n > MaxOperations {
		errs.add(p+".operations", "at most %d, got %d", MaxOperations, n)
	}
	b.validateProviders(p, errs)

	routes := make([]operations.Route, len(b.Operations))
	names := map[string]int{}
	patternsOK := true
	for i := range b.Operations {
		o := &b.Operations[i]
		op := fmt.Sprintf("%s.operations[%d]", p, i)
		checkName(errs, op+".name", o.Name, names, i, "operations")
		seen := map[string]bool{}
		for j, m := range o.Methods {
			switch {
			case !methodRE.MatchString(m) || len(m) > 20:
				errs.add(fmt.Sprintf("%s.methods[%d]", op, j), "must be an upper-case HTTP method such as GET, got %q", m)
			case seen[m]:
				errs.add(fmt.Sprintf("%s.methods[%d]", op, j), "%s is listed twice", m)
			}
			seen[m] = true
		}
		if _, err := operations.ParsePattern(o.Path); err != nil {
			errs.add(op+".path", "%v", err)
			patternsOK = false
		}
		validateScopes(errs, op+".scopes", o.Scopes)
		if o.Purpose != "" {
			if b.Grant.CIBA == nil {
				errs.add(op+".purpose", "only for a CIBA binding (grant.type %s): it is the purpose of the subscriber's authorization", GrantCIBA)
			} else if len(o.Purpose) > MaxPurposeBytes {
				errs.add(op+".purpose", "longer than %d bytes", MaxPurposeBytes)
			}
		}
		if o.Provider != "" {
			if _, ok := b.Provider(o.Provider); !ok {
				errs.add(op+".provider", "names no entry of providers (%s)", providerNames(b.Providers))
			}
		}
		routes[i] = operations.Route{Name: o.Name, Methods: o.Methods, Path: o.Path}
	}
	if !patternsOK {
		return // Compile would stop at the first bad pattern
	}
	var ce *operations.ConflictError
	if _, err := operations.Compile(routes); errors.As(err, &ce) {
		for _, c := range ce.Conflicts {
			errs.add(fmt.Sprintf("%s.operations[%d]", p, c.B), "%q and operations[%d] %q are equally specific and both match %s; make one more specific (a literal segment, or an explicit methods list) or give them disjoint methods",
				b.Operations[c.B].Name, c.A, b.Operations[c.A].Name, c.Example)
		}
	}
}

// validateProviders checks each provider as a token source of its own,
// with the rules of the binding's own tokenEndpoint, clientAuth and grant
// plus what a provider may not do.
func (b *Binding) validateProviders(p string, errs *fieldErrors) {
	if len(b.Providers) == 0 {
		return
	}
	if n := len(b.Providers); n > MaxProviders {
		errs.add(p+".providers", "at most %d, got %d", MaxProviders, n)
	}
	if b.PerSubject() {
		errs.add(p+".providers", "not supported when the binding's grant takes its subject from each request (%s): every operation uses that subject's token; use operations' scopes or purpose instead", b.Grant.Type)
	}
	names := map[string]int{}
	for i := range b.Providers {
		pr := &b.Providers[i]
		pp := fmt.Sprintf("%s.providers[%d]", p, i)
		checkName(errs, pp+".name", pr.Name, names, i, "providers")
		switch g := pr.Grant; {
		case g.Type == GrantCIBA || g.Type == GrantTokenExchange || g.Type == GrantNone:
			errs.add(pp+".grant.type", "must be one of %s: a provider gives one token for the client, got %q", strings.Join(ProviderGrants, ", "), g.Type)
		case g.JWTBearer != nil && g.JWTBearer.SubjectHeader != "":
			errs.add(pp+".grant.jwtBearer.subjectHeader", "a provider's JWT bearer grant has a fixed subject; only the binding's own grant may take it from requests")
		}
		if pr.ClientAuth.Method == AuthTLSClientAuth {
			errs.add(pp+".clientAuth.method", "%s is only supported for the binding's own clientAuth (its certificate is also the upstream's client certificate)", AuthTLSClientAuth)
		}
		pb := b.ProviderBinding(pr)
		pb.validateTokenSource(p, pp, errs)
	}
}

// checkName checks a list entry's name: a DNS label, unique in its list.
func checkName(errs *fieldErrors, path, name string, seen map[string]int, i int, list string) {
	if !nameRE.MatchString(name) || len(name) > 63 {
		errs.add(path, "must be a DNS label (lowercase letters, digits, '-'), got %q", name)
	}
	if j, dup := seen[name]; dup && name != "" {
		errs.add(path, "duplicates %s[%d].name %q", list, j, name)
	}
	seen[name] = i
}

func providerNames(ps []Provider) string {
	if len(ps) == 0 {
		return "there are none"
	}
	names := make([]string, len(ps))
	for i := range ps {
		names[i] = fmt.Sprintf("%q", ps[i].Name)
	}
	return "have " + strings.Join(names, ", ")
}

// cibaScopedByOperations reports whether every request of a CIBA binding is
// refused or goes to an operation with its own purpose or scopes, so the
// binding's grant needs neither.
func (b *Binding) cibaScopedByOperations() bool {
	if b.Unmatched != UnmatchedDeny || len(b.Operations) == 0 {
		return false
	}
	return !slices.ContainsFunc(b.Operations, func(o Operation) bool { return o.Purpose == "" && len(o.Scopes) == 0 })
}

// validateScopes checks scope tokens (RFC 6749 §3.3).
func validateScopes(errs *fieldErrors, path string, scopes []string) {
	for i, s := range scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") {
			errs.add(fmt.Sprintf("%s[%d]", path, i), "must be a non-empty scope token without spaces, quotes or backslashes")
		}
	}
}
