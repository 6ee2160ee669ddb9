package node

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/oauth-injector/oauth-injector/hack/localnode"
	"github.com/oauth-injector/oauth-injector/internal/pop"
	"github.com/oauth-injector/oauth-injector/internal/taapsim"
	"github.com/oauth-injector/oauth-injector/test/oidctest"
)

// The partner runs as a host-network pod on the node address. Without
// kube-proxy there are no Service VIPs, and a fixed address lets a binding
// name the partner before its pod exists, and the partner be taken down
// and brought back at the same address (TestTokenEndpointDownAtStart).
const (
	partnerNS   = "partner"
	partnerPod  = "taapsim"
	partnerPort = 18443
	clientID    = "tmobile-demo-client"
	oldSecret   = "tmobile-demo-secret"
	newSecret   = "tmobile-rotated-secret"
)

var partnerURL = fmt.Sprintf("https://%s:%d", localnode.NodeIP, partnerPort)

type partner struct {
	s      *suite
	caPEM  []byte
	tlsCfg *tls.Config
	// oldKey is examples/bindings/taap.yaml's key; newKey is what the
	// rotation test rotates to. The partner accepts both, as T-Mobile lets
	// a client register a new key before retiring the old one.
	oldKeyPEM, newKeyPEM []byte
	oldKeyID, newKeyID   string
}

func startPartner(ctx context.Context, s *suite) (*partner, error) {
	p := &partner{s: s}
	ca, err := oidctest.NewCA("node tier partner CA")
	if err != nil {
		return nil, err
	}
	p.caPEM = ca.CertPEM
	serving, err := ca.ServerCert(localnode.NodeIP)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM := serving.CertPEM, serving.KeyPEM
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	p.tlsCfg = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}

	if p.oldKeyPEM, err = exampleKeyPEM(); err != nil {
		return nil, err
	}
	newKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, _ := x509.MarshalPKCS8PrivateKey(newKey)
	p.newKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	oldPub, err := publicPEM(p.oldKeyPEM)
	if err != nil {
		return nil, err
	}
	newPub, _ := publicPEM(p.newKeyPEM)
	p.oldKeyID, p.newKeyID = keyID(p.oldKeyPEM), keyID(p.newKeyPEM)

	cs := s.cs.CoreV1()
	if _, err := cs.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: partnerNS}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if err := s.waitDefaultServiceAccount(ctx, partnerNS); err != nil {
		return nil, err
	}
	for _, sec := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "taapsim-tls"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM}},
		{ObjectMeta: metav1.ObjectMeta{Name: "taapsim-clients"},
			Data: map[string][]byte{"secret-old": []byte(oldSecret), "secret-new": []byte(newSecret), "key-old.pem": oldPub, "key-new.pem": newPub}},
	} {
		if _, err := cs.Secrets(partnerNS).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}
	return p, p.Start(ctx)
}

// Start creates the partner's pod and waits until it serves TLS.
func (p *partner) Start(ctx context.Context) error {
	grace := int64(1)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: partnerPod, Labels: map[string]string{"app": "taapsim"}},
		Spec: corev1.PodSpec{
			HostNetwork:                   true,
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "taapsim", Image: image("taapsim"), ImagePullPolicy: corev1.PullNever,
				Args: []string{
					"-listen", fmt.Sprintf("%s:%d", localnode.NodeIP, partnerPort),
					"-tls-cert", "/tls/tls.crt", "-tls-key", "/tls/tls.key",
					"-client-id", clientID,
					"-client-secret-file", "/clients/secret-old", "-client-secret-file", "/clients/secret-new",
					"-public-key", "/clients/key-old.pem", "-public-key", "/clients/key-new.pem",
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "tls", MountPath: "/tls", ReadOnly: true}, {Name: "clients", MountPath: "/clients", ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{
				{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "taapsim-tls"}}},
				{Name: "clients", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "taapsim-clients"}}},
			},
		},
	}
	if _, err := p.s.cs.CoreV1().Pods(partnerNS).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("partner pod: %w", err)
	}
	err := localnode.Eventually(ctx, 2*time.Minute, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", fmt.Sprintf("%s:%d", localnode.NodeIP, partnerPort), p.tlsCfg)
		if err != nil {
			return false, err
		}
		_ = c.Close()
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("partner not serving: %w\n%s", err, p.s.describeNamespace(partnerNS))
	}
	return nil
}

// Stop deletes the partner's pod and waits until its address refuses
// connections: the token endpoint is down.
func (p *partner) Stop(ctx context.Context) error {
	zero := int64(0)
	err := p.s.cs.CoreV1().Pods(partnerNS).Delete(ctx, partnerPod, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return localnode.Eventually(ctx, 2*time.Minute, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := p.s.cs.CoreV1().Pods(partnerNS).Get(ctx, partnerPod, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return false, fmt.Errorf("partner pod still exists (%v)", err)
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", localnode.NodeIP, partnerPort), time.Second)
		if err == nil {
			_ = c.Close()
			return false, fmt.Errorf("partner port still accepts connections")
		}
		return true, nil
	})
}

// exampleKeyPEM is the private key examples/bindings/taap.yaml ships.
func exampleKeyPEM() ([]byte, error) {
	for _, obj := range exampleObjects() {
		if obj.Kind == "Secret" && obj.Secret.Name == "tmobile-key" {
			return []byte(obj.Secret.StringData["private.pem"]), nil
		}
	}
	return nil, fmt.Errorf("examples/bindings/taap.yaml has no tmobile-key Secret")
}

type exampleObject struct {
	Kind   string
	Raw    map[string]any
	Secret corev1.Secret
}

// exampleObjects parses examples/bindings/taap.yaml: what a user applies.
func exampleObjects() []exampleObject {
	raw, err := os.ReadFile(repoRoot + "/examples/bindings/taap.yaml")
	if err != nil {
		panic(err)
	}
	var out []exampleObject
	for _, doc := range strings.Split(string(raw), "\n---") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var o exampleObject
		if err := yaml.Unmarshal([]byte(doc), &o.Raw); err != nil {
			panic(fmt.Sprintf("examples/bindings/taap.yaml: %v", err))
		}
		o.Kind, _ = o.Raw["kind"].(string)
		if o.Kind == "Secret" {
			if err := yaml.Unmarshal([]byte(doc), &o.Secret); err != nil {
				panic(err)
			}
		}
		out = append(out, o)
	}
	return out
}

func publicPEM(privPEM []byte) ([]byte, error) {
	k, err := pop.ParsePrivateKey(privPEM, nil)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

func keyID(privPEM []byte) string {
	k, err := pop.ParsePrivateKey(privPEM, nil)
	if err != nil {
		panic(err)
	}
	return taapsim.KeyID(k.Public().(*rsa.PublicKey))
}
