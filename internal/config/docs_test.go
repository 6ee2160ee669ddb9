package config

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestDocsStateTheBehaviour keeps docs/config.md's field tables in step with
// the defaults and rules this package applies: a row that promises one thing
// while the code does another is how the admin listener came to be documented
// as binding "the pod IP".
func TestDocsStateTheBehaviour(t *testing.T) {
	raw, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) > 2 && strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = line
		}
	}
	cases := []struct {
		field string
		want  []string
	}{
		{"admin.listen", []string{"`" + DefaultAdminListen + "`", "every interface", "serves no credentials"}},
		{"drainTimeout", []string{"`" + DefaultDrainTimeout.String() + "`"}},
		{"reloadInterval", []string{"`" + DefaultReloadInterval.String() + "`"}},
		{"bodyReadTimeout", []string{"`" + DefaultBodyReadTimeout.String() + "`", "408 body_timeout"}},
		{"upstream.url", []string{"`https://`", "allowInsecureHTTP"}},
		{"upstream.responseHeaderTimeout", []string{"`" + DefaultResponseHeaderTimeout.String() + "`", "504 upstream_timeout"}},
		{"upstream.allowTrace", []string{"`false`", "405 method_not_allowed"}},
		{"allowInsecureHTTP", []string{"`false`", "cleartext"}},
		{"grant.ciba", []string{"`" + DefaultLoginHintHeader + "`", "`" + DefaultCIBAMaxWait.String() + "`", "**`purpose` or `grant.scopes` is required**"}},
		{"grant.tokenExchange", []string{"defaults to, and must be, `" + DefaultTapkeyAudience + "`", "defaults to, and must be, `" + DefaultTapkeyRequestedTokenType + "`", "defaults to, and must be, `" + DefaultTapkeySubjectTokenType + "`"}},
		{"pop.maxBodyBytes", []string{"`" + strconv.Itoa(DefaultMaxBodyBytes) + "`"}},
		{"refresh.before", []string{"`" + DefaultRefreshBefore.String() + "`"}},
		{"unmatched", []string{"`" + UnmatchedAllow + "` with operations", "`" + UnmatchedDeny + "`", "403 operation_not_allowed"}},
		{"providers", []string{"at most " + strconv.Itoa(MaxProviders), "not `tls_client_auth`"}},
		{"operations", []string{"at most " + strconv.Itoa(MaxOperations), "equally specific"}},
	}
	for _, tc := range cases {
		row, ok := rows[tc.field]
		if !ok {
			t.Errorf("docs/config.md has no row for %s", tc.field)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(row, w) {
				t.Errorf("docs/config.md row %s does not say %q:\n%s", tc.field, w, row)
			}
		}
	}
}
