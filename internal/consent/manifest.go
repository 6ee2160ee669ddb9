package consent

import (
	"encoding/base64"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/oauth-injector/oauth-injector/internal/config"
)

// Secret is one Kubernetes Secret the consent run produced.
type Secret struct {
	Name, Namespace string
	// Data maps a Secret key to its value: a token, so never logged.
	Data map[string]string
}

// SecretRef is the Secret key a binding reads one credential file from.
type SecretRef struct{ Name, Key string }

// Kubernetes naming rules (RFC 1123 subdomain for Secret names, label for
// namespaces, and the Secret key alphabet), checked here so a typo in a flag
// fails before the person spends time in the browser.
var (
	subdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	labelRE     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	secretKeyRE = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
)

// refForFile maps the config file path of one credential (field names it)
// back to the Secret key it is mounted from. The webhook renders every
// Secret key to <MountRoot>/<binding>/<secret>/<key>, so a rendered config
// names both; a hand-written config needs --secret-name, and the key is the
// file name, as a Secret volume without items names its files.
func refForFile(binding, field, file, nameOverride, keyOverride string) (SecretRef, error) {
	ref := SecretRef{Name: nameOverride, Key: keyOverride}
	if ref.Key == "" {
		ref.Key = path.Base(file)
	}
	if ref.Name == "" {
		prefix := config.MountRoot + "/" + binding + "/"
		rest, ok := strings.CutPrefix(path.Clean(file), prefix)
		parts := strings.Split(rest, "/")
		if !ok || len(parts) != 2 {
			return SecretRef{}, fmt.Errorf("%s %s is not a webhook-rendered path (%s<secret>/<key>), so the Secret name is unknown: give --secret-name", field, file, prefix)
		}
		ref.Name = parts[0]
	}
	if err := checkName("--secret-name", ref.Name); err != nil {
		return SecretRef{}, err
	}
	if len(ref.Key) > 253 || !secretKeyRE.MatchString(ref.Key) || ref.Key == "." || ref.Key == ".." {
		return SecretRef{}, fmt.Errorf("Secret key %q (from %s or --secret-key): must consist of letters, digits, '-', '_' or '.'", ref.Key, field)
	}
	return ref, nil
}

func checkName(flag, name string) error {
	if len(name) > 253 || !subdomainRE.MatchString(name) {
		return fmt.Errorf("%s %q: a Secret name must be a DNS subdomain (lowercase letters, digits, '-' and '.')", flag, name)
	}
	return nil
}

func checkNamespace(ns string) error {
	if ns != "" && (len(ns) > 63 || !labelRE.MatchString(ns)) {
		return fmt.Errorf("--namespace %q: must be a DNS label (lowercase letters, digits and '-')", ns)
	}
	return nil
}

// secretsFor groups credential values by the Secret that holds them, in the
// order the refs come.
func secretsFor(namespace string, refs []SecretRef, values []string) []Secret {
	var out []Secret
	for i, r := range refs {
		j := slices.IndexFunc(out, func(s Secret) bool { return s.Name == r.Name })
		if j < 0 {
			out = append(out, Secret{Name: r.Name, Namespace: namespace, Data: map[string]string{}})
			j = len(out) - 1
		}
		out[j].Data[r.Key] = values[i]
	}
	return out
}

// Manifest renders secrets as a YAML stream ready for kubectl apply. Values
// are base64 in data, so no token character can break the YAML, and every
// scalar is double-quoted, so a name such as "123" or a key such as "true"
// stays a string. Names and keys passed the checks above and hold no quote
// or backslash.
func Manifest(binding string, secrets []Secret) []byte {
	var b strings.Builder
	for i, s := range secrets {
		if i > 0 {
			b.WriteString("---\n")
		}
		fmt.Fprintf(&b, "# Written by injector consent for binding %q. It holds a live credential:\n", binding)
		b.WriteString("# apply it (kubectl apply -f FILE), then delete the file.\n")
		b.WriteString("apiVersion: v1\nkind: Secret\nmetadata:\n")
		fmt.Fprintf(&b, "  name: %q\n", s.Name)
		if s.Namespace != "" {
			fmt.Fprintf(&b, "  namespace: %q\n", s.Namespace)
		}
		b.WriteString("type: Opaque\ndata:\n")
		keys := make([]string, 0, len(s.Data))
		for k := range s.Data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  %q: %q\n", k, base64.StdEncoding.EncodeToString([]byte(s.Data[k])))
		}
	}
	return []byte(b.String())
}
