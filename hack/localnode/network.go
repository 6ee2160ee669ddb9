package localnode

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// The node's network: pods get addresses from Subnet on the Bridge, whose
// own address NodeIP is also the kubelet's and the API server's, so that
// API server <-> kubelet and pod -> API server traffic stays on the bridge.
const (
	Bridge  = "cni0"
	NodeIP  = "10.88.0.1"
	Subnet  = "10.88.0.0/16"
	netName = "localnode"
)

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// setupBridge creates cni0 with the node address before the kubelet starts:
// the kubelet's address and the API server's bind address live on it.
func setupBridge() error {
	if _, err := os.Stat("/sys/class/net/" + Bridge); err == nil {
		return fmt.Errorf("%s already exists: another local node is running, or one died without cleaning up (hack/local-node.sh down [DIR] removes it)", Bridge)
	}
	if err := run("ip", "link", "add", Bridge, "type", "bridge"); err != nil {
		return err
	}
	if err := run("ip", "addr", "add", NodeIP+"/16", "dev", Bridge); err != nil {
		return err
	}
	return run("ip", "link", "set", Bridge, "up")
}

// writeCNIConfig writes the bridge network: hairpin so a pod can reach
// itself through a Service-less address, host-local IPAM with its state in
// dir so teardown removes it.
func writeCNIConfig(confDir, ipamDir string) error {
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return err
	}
	conf := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "hairpinMode": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q, "gateway": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
`, netName, Bridge, ipamDir, Subnet, NodeIP)
	return os.WriteFile(filepath.Join(confDir, "10-localnode.conflist"), []byte(conf), 0o644)
}

// netnsDir is where containerd 1.6 pins pod network namespaces.
const netnsDir = "/var/run/netns"

func listNetns() map[string]bool {
	set := map[string]bool{}
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		set[e.Name()] = true
	}
	return set
}

// removeNetns unmounts and removes the cni-* namespaces that were not there
// before the node started; removing a pod's namespace also removes its veth.
func removeNetns(before map[string]bool) []error {
	var errs []error
	for name := range listNetns() {
		if before[name] || !strings.HasPrefix(name, "cni-") {
			continue
		}
		p := filepath.Join(netnsDir, name)
		_ = unmount(p)
		if err := os.Remove(p); err != nil {
			errs = append(errs, fmt.Errorf("netns %s: %w", name, err))
		}
	}
	return errs
}

func removeBridge() error {
	if _, err := os.Stat("/sys/class/net/" + Bridge); err != nil {
		return nil
	}
	return run("ip", "link", "del", Bridge)
}

// removeKubeChains deletes the kubelet's KUBE-* chains (KUBE-FIREWALL drops
// traffic to 127.0.0.0/8 from other sources, which would break the host's
// own loopback tests) and the jumps to them from the built-in chains.
func removeKubeChains() []error {
	var errs []error
	for _, bin := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(bin); err != nil {
			continue
		}
		for _, table := range []string{"filter", "nat", "mangle"} {
			out, err := exec.Command(bin, "-t", table, "-S").Output()
			if err != nil {
				continue
			}
			var rules, chains []string
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				switch {
				case len(f) >= 2 && f[0] == "-N" && strings.HasPrefix(f[1], "KUBE-"):
					chains = append(chains, f[1])
				case len(f) >= 2 && f[0] == "-A" && !strings.HasPrefix(f[1], "KUBE-") && strings.Contains(sc.Text(), " -j KUBE-"):
					rules = append(rules, sc.Text())
				}
			}
			for _, r := range rules {
				args := append([]string{"-t", table, "-D"}, splitRule(strings.TrimPrefix(r, "-A "))...)
				if err := run(bin, args...); err != nil {
					errs = append(errs, err)
				}
			}
			sort.Strings(chains)
			for _, c := range chains {
				_ = run(bin, "-t", table, "-F", c)
			}
			for _, c := range chains {
				if err := run(bin, "-t", table, "-X", c); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errs
}

// splitRule splits an iptables -S rule into arguments, keeping quoted
// comments (-m comment --comment "...") as one argument.
func splitRule(s string) []string {
	var args []string
	var cur strings.Builder
	inQuote := false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
		case r == ' ' && !inQuote:
			if cur.Len() > 0 {
				args = append(args, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		args = append(args, cur.String())
	}
	return args
}
