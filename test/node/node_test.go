package node

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/oauth-injector/oauth-injector/api/v1alpha1"
	"github.com/oauth-injector/oauth-injector/internal/webhook"
)

// figure prints a measured figure on stdout so `make test` shows it even
// when the package passes (go test prints a passing package's stdout only
// with -v; TestMain's summary line carries them too).
func figure(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	t.Log(msg)
	figures = append(figures, t.Name()+": "+msg)
}

var figures []string

// The app container starts only after the sidecar's startup probe passed,
// which it does once it holds a token: the sidecar is Started before the
// app starts, and the app's very first call is already verified.
func TestNativeSidecarOrdering(t *testing.T) {
	s := needSuite(t)
	ns := s.namespace(t, "order")
	s.applyExample(t, ns)
	created := s.createPod(t, appPod(ns, "app", "-interval", "200ms"))
	p := s.waitRunning(t, ns, "app")

	side, app := containerStatus(p, v1alpha1.SidecarContainerName), containerStatus(p, "app")
	if side.Started == nil || !*side.Started {
		t.Fatalf("sidecar not Started: %s", describeStatus(*side))
	}
	if side.State.Running.StartedAt.After(app.State.Running.StartedAt.Time) {
		t.Errorf("app started at %s, before the sidecar (%s)", app.State.Running.StartedAt, side.State.Running.StartedAt)
	}
	var calls []appCall
	eventually(t, time.Minute, "first app call logged", func(ctx context.Context) (bool, error) {
		var err error
		calls, err = s.appLog(ctx, ns, "app")
		return err == nil && len(calls) > 1 && calls[1].Event == "call", err
	})
	first := calls[1]
	if !first.ok() || first.N != 1 {
		t.Fatalf("the app's first call was not verified by the partner: %+v (a sidecar without a token answers 503)", first)
	}
	figure(t, "sidecar started %s, app started %s; pod create to first verified call %s",
		side.State.Running.StartedAt.UTC().Format(time.RFC3339), app.State.Running.StartedAt.UTC().Format(time.RFC3339),
		first.Time.Sub(created.CreationTimestamp.Time).Round(10*time.Millisecond))
}

// With the token endpoint down the app container must not start and the pod
// must say why; once it is back the pod proceeds without restarting.
func TestTokenEndpointDownAtPodStart(t *testing.T) {
	s := needSuite(t)
	ctx := context.Background()
	ns := s.namespace(t, "down")
	s.applyExample(t, ns)
	if err := s.partner.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			if err := s.partner.Start(context.Background()); err != nil {
				t.Errorf("restarting the partner: %v", err)
			}
		}
	})
	s.createPod(t, appPod(ns, "app"))

	eventually(t, 2*time.Minute, "the pod reports a failing sidecar startup probe", func(ctx context.Context) (bool, error) {
		evs, err := s.cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=app"})
		if err != nil {
			return false, err
		}
		n := 0
		for _, e := range evs.Items {
			if e.Reason == "Unhealthy" && strings.Contains(e.Message, "Startup probe failed") {
				n += int(e.Count)
			}
		}
		return n >= 3, fmt.Errorf("%d startup probe failures so far", n)
	})
	p, err := s.pod(ctx, ns, "app")
	if err != nil {
		t.Fatal(err)
	}
	app, side := containerStatus(p, "app"), containerStatus(p, v1alpha1.SidecarContainerName)
	if app == nil || app.State.Waiting == nil {
		t.Fatalf("the app container must wait while the sidecar has no token: %+v", app)
	}
	if side == nil || side.Started == nil || *side.Started {
		t.Fatalf("the sidecar must not count as started: %+v", side)
	}
	var initialized corev1.PodCondition
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodInitialized {
			initialized = c
		}
	}
	if initialized.Status != corev1.ConditionFalse || !strings.Contains(initialized.Message, v1alpha1.SidecarContainerName) {
		t.Errorf("Initialized condition should name the sidecar: %+v", initialized)
	}
	t.Logf("while the token endpoint is down: app %s; sidecar %s; Initialized=%s: %s", app.State.Waiting.Reason, describeStatus(*side), initialized.Status, initialized.Message)

	back := time.Now()
	if err := s.partner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	p = s.waitRunning(t, ns, "app")
	app, side = containerStatus(p, "app"), containerStatus(p, v1alpha1.SidecarContainerName)
	if app.RestartCount != 0 || side.RestartCount != 0 {
		t.Errorf("restarts: app %d, sidecar %d; want none", app.RestartCount, side.RestartCount)
	}
	figure(t, "token endpoint back to app running: %s", app.State.Running.StartedAt.Sub(back).Round(time.Second))
}

// Rotating the client secret and key with kubectl apply while the app calls
// continuously: no call fails, and the partner sees the new key once the
// kubelet has synced the Secret volume.
func TestSecretRotation(t *testing.T) {
	s := needSuite(t)
	ctx := context.Background()
	ns := s.namespace(t, "rotate")
	s.applyExample(t, ns)
	s.createPod(t, appPod(ns, "app", "-interval", "100ms"))
	s.waitRunning(t, ns, "app")
	eventually(t, time.Minute, "calls verified with the old key", func(ctx context.Context) (bool, error) {
		calls, err := s.appLog(ctx, ns, "app")
		n := 0
		for _, c := range calls {
			if c.ok() && c.Verified.Key == s.partner.oldKeyID {
				n++
			}
		}
		return n >= 5, err
	})

	rotated := time.Now()
	for name, data := range map[string]map[string]string{
		"tmobile-key":    {"private.pem": string(s.partner.newKeyPEM)},
		"tmobile-client": {"client_id": clientID, "client_secret": newSecret},
	} {
		sec, err := s.cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sec.Data, sec.StringData = nil, data
		if _, err := s.cs.CoreV1().Secrets(ns).Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var firstNew time.Time
	eventually(t, 2*time.Minute, "a call verified with the new key", func(ctx context.Context) (bool, error) {
		calls, err := s.appLog(ctx, ns, "app")
		for _, c := range calls {
			if c.ok() && c.Verified.Key == s.partner.newKeyID {
				firstNew = c.Time
				return true, nil
			}
		}
		return false, err
	})
	// Keep calling a while on the new key, then count every call.
	var calls []appCall
	eventually(t, time.Minute, "20 more calls after the switch", func(ctx context.Context) (bool, error) {
		var err error
		calls, err = s.appLog(ctx, ns, "app")
		n := 0
		for _, c := range calls {
			if c.Event == "call" && c.Time.After(firstNew) {
				n++
			}
		}
		return n >= 20, err
	})
	total, failed := 0, 0
	for _, c := range calls {
		if c.Event != "call" {
			continue
		}
		total++
		if !c.ok() {
			failed++
			t.Errorf("failed call during rotation: %+v", c)
		}
		if c.ok() && c.Time.After(firstNew) && c.Verified.Key != s.partner.newKeyID {
			t.Errorf("call %d went back to the old key after the switch", c.N)
		}
	}
	figure(t, "%d calls, %d failed; new key in use %s after the Secret update (kubelet syncFrequency %s)",
		total, failed, firstNew.Sub(rotated).Round(10*time.Millisecond), "2s")
}

// On delete the kubelet stops the app first; the sidecar keeps serving the
// app's calls after its SIGTERM, then stops last and exits 0. A finalizer
// keeps the pod object (and its logs) until the test has read them.
func TestPodDeletionOrder(t *testing.T) {
	s := needSuite(t)
	ctx := context.Background()
	ns := s.namespace(t, "delete")
	s.applyExample(t, ns)
	p := appPod(ns, "app", "-interval", "100ms", "-drain", "1s")
	p.Finalizers = []string{"oauth.injector.dev/node-test-hold"}
	s.createPod(t, p)
	s.waitRunning(t, ns, "app")
	release := func() {
		patch := []byte(`{"metadata":{"finalizers":null}}`)
		_, _ = s.cs.CoreV1().Pods(ns).Patch(context.Background(), "app", types.MergePatchType, patch, metav1.PatchOptions{})
	}
	t.Cleanup(release)
	if err := s.cs.CoreV1().Pods(ns).Delete(ctx, "app", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var app, side *corev1.ContainerStatus
	eventually(t, 2*time.Minute, "both containers terminated", func(ctx context.Context) (bool, error) {
		p, err := s.pod(ctx, ns, "app")
		if err != nil {
			return false, err
		}
		app, side = containerStatus(p, "app"), containerStatus(p, v1alpha1.SidecarContainerName)
		return app != nil && side != nil && app.State.Terminated != nil && side.State.Terminated != nil,
			fmt.Errorf("app %v / sidecar %v", app, side)
	})
	if app.State.Terminated.ExitCode != 0 || side.State.Terminated.ExitCode != 0 {
		t.Errorf("exit codes: app %d, sidecar %d; want 0 and 0", app.State.Terminated.ExitCode, side.State.Terminated.ExitCode)
	}
	if side.State.Terminated.FinishedAt.Before(&app.State.Terminated.FinishedAt) {
		t.Errorf("sidecar finished at %s, before the app (%s)", side.State.Terminated.FinishedAt, app.State.Terminated.FinishedAt)
	}
	calls, err := s.appLog(ctx, ns, "app")
	if err != nil {
		t.Fatal(err)
	}
	var sigterm, exit time.Time
	after := 0
	for _, c := range calls {
		switch {
		case c.Event == "sigterm":
			sigterm = c.Time
		case c.Event == "exit":
			exit = c.Time
		case c.AfterSIGTERM:
			if !c.ok() {
				t.Errorf("call after the app's SIGTERM failed: %+v", c)
			}
			after++
		}
	}
	if sigterm.IsZero() || exit.IsZero() || after == 0 {
		t.Fatalf("app log: sigterm %v, exit %v, %d calls after SIGTERM; want all three", sigterm, exit, after)
	}
	sideLog, err := s.logs(ctx, ns, "app", v1alpha1.SidecarContainerName)
	if err != nil {
		t.Fatal(err)
	}
	drainAt, err := logTime(sideLog, "draining in-flight requests")
	if err != nil {
		t.Fatal(err)
	}
	if drainAt.Before(exit) {
		t.Errorf("the sidecar began draining at %s, before the app exited at %s", drainAt, exit)
	}
	if !strings.Contains(sideLog, "sidecar stopped") {
		t.Errorf("sidecar log has no clean stop:\n%s", sideLog)
	}
	figure(t, "app SIGTERM %s, %d verified calls after it, app exit %s, sidecar drain %s, both exit 0",
		sigterm.Format("15:04:05.000"), after, exit.Format("15:04:05.000"), drainAt.Format("15:04:05.000"))
}

// logTime finds the zap JSON line with msg and returns its timestamp, which
// zap writes as ISO 8601 text or as epoch seconds depending on the encoder.
func logTime(log, msg string) (time.Time, error) {
	for _, line := range strings.Split(log, "\n") {
		var l struct {
			Msg string          `json:"msg"`
			TS  json.RawMessage `json:"ts"`
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != msg {
			continue
		}
		var text string
		if json.Unmarshal(l.TS, &text) == nil {
			return time.Parse(time.RFC3339Nano, text)
		}
		var sec float64
		if err := json.Unmarshal(l.TS, &sec); err != nil {
			return time.Time{}, fmt.Errorf("%q line has ts %s", msg, l.TS)
		}
		whole := int64(sec)
		return time.Unix(whole, int64((sec-float64(whole))*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("no %q line in the sidecar log:\n%s", msg, log)
}

// The sidecar runs as the webhook set it up: UID 65532, no capabilities,
// no new privileges, seccomp, a read-only root. It reads its Secret files;
// the app container does not even have them. Checked on the host through
// /proc of the containers' processes, not from the pod spec.
func TestSidecarRuntimeHardening(t *testing.T) {
	s := needSuite(t)
	ctx := context.Background()
	_, p := s.runningApp(t, "harden")
	sidePID, err := s.node.TaskPID(ctx, containerStatus(p, v1alpha1.SidecarContainerName).ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	appPID, err := s.node.TaskPID(ctx, containerStatus(p, "app").ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	st := procStatus(t, sidePID)
	for field, want := range map[string]string{
		"Uid": "65532\t65532\t65532\t65532", "Gid": "65532\t65532\t65532\t65532",
		"CapEff": "0000000000000000", "CapPrm": "0000000000000000", "CapBnd": "0000000000000000",
		"NoNewPrivs": "1", "Seccomp": "2",
	} {
		if st[field] != want {
			t.Errorf("sidecar /proc/%d/status %s = %q, want %q", sidePID, field, st[field], want)
		}
	}
	if opts := rootMountOptions(t, sidePID); !strings.HasPrefix(opts, "ro") {
		t.Errorf("sidecar root filesystem mounted %q, want read-only", opts)
	}
	secretDir := filepath.Join(fmt.Sprintf("/proc/%d/root", sidePID), webhook.MountRoot)
	var files []string
	_ = filepath.WalkDir(secretDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(p, "/..") {
			files = append(files, strings.TrimPrefix(p, secretDir))
		}
		return nil
	})
	if len(files) == 0 {
		t.Fatalf("the sidecar has no files under %s", webhook.MountRoot)
	}
	if _, err := os.Stat(filepath.Join(fmt.Sprintf("/proc/%d/root", appPID), webhook.MountRoot)); !os.IsNotExist(err) {
		t.Errorf("the app container has %s (stat: %v); Secrets must be mounted only into the sidecar", webhook.MountRoot, err)
	}
	// The pod's ServiceAccount token is mounted into every container by
	// the API server; the sidecar gets an empty mask over it instead.
	const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"
	if entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/root%s", sidePID, saDir)); err != nil || len(entries) != 0 {
		t.Errorf("sidecar %s holds %d entries (%v); want the empty mask", saDir, len(entries), err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/root%s/token", appPID, saDir)); err != nil {
		t.Errorf("the app's own ServiceAccount token is missing (%v): the mask must apply to the sidecar only", err)
	}
	t.Logf("sidecar pid %d: uid 65532, CapEff 0, NoNewPrivs, seccomp filter, ro root, no ServiceAccount token; secret files %v; app pid %d has none", sidePID, files, appPID)
}

// A pod that shares its process namespace is refused by the webhook
// Deployment: the app could read the sidecar's Secret files through
// /proc/<pid>/root (issue 8, item 17), as the test above shows is possible
// for the host.
func TestSharedProcessNamespaceDenied(t *testing.T) {
	s := needSuite(t)
	ns := s.namespace(t, "sharepid")
	s.applyExample(t, ns)
	for name, mutate := range map[string]func(*corev1.PodSpec){
		"shareprocessnamespace": func(p *corev1.PodSpec) { yes := true; p.ShareProcessNamespace = &yes },
		"hostpid":               func(p *corev1.PodSpec) { p.HostPID = true },
	} {
		p := appPod(ns, name)
		mutate(&p.Spec)
		_, err := s.cs.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "/proc") {
			t.Errorf("%s: want a denial that explains /proc/<pid>/root, got %v", name, err)
		}
	}
}

func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// rootMountOptions returns the per-mount options of the process's "/".
func rootMountOptions(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 5 && f[4] == "/" {
			return f[5]
		}
	}
	t.Fatalf("no / in /proc/%d/mountinfo", pid)
	return ""
}

// One of the two webhook pods is killed while 50 annotated pods are
// created: each pod is either injected or reported by the controller as
// missed (status.missedPods and a MissedInjection Event); none is silently
// admitted without the sidecar. The pods target no node, so 50 of them cost
// only admission, not containers.
func TestWebhookAvailability(t *testing.T) {
	s := needSuite(t)
	ctx := context.Background()
	ns := s.namespace(t, "avail")
	s.applyExample(t, ns)
	webhooks, err := s.cs.CoreV1().Pods(releaseNS).List(ctx, metav1.ListOptions{LabelSelector: webhookLabel})
	if err != nil || len(webhooks.Items) != 2 {
		t.Fatalf("want 2 webhook pods: %v, %d", err, len(webhooks.Items))
	}
	t.Cleanup(func() {
		if err := s.waitWebhooks(context.Background()); err != nil {
			t.Errorf("webhook Deployment did not recover: %v", err)
		}
	})
	const total = 50
	injected, plain := 0, map[string]bool{}
	for i := 0; i < total; i++ {
		if i == 10 {
			zero := int64(0)
			victim := webhooks.Items[0].Name
			if err := s.cs.CoreV1().Pods(releaseNS).Delete(ctx, victim, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
				t.Fatal(err)
			}
			t.Logf("killed webhook pod %s before pod %d", victim, i)
		}
		p := appPod(ns, fmt.Sprintf("p%02d", i))
		p.Spec.NodeSelector = map[string]string{"oauth.injector.dev/no-such-node": "true"}
		out, err := s.cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("pod %d: %v (failurePolicy is Ignore: admission must not refuse)", i, err)
		}
		if out.Annotations[v1alpha1.AnnotationStatus] == v1alpha1.StatusInjected {
			injected++
		} else {
			plain[out.Name] = true
		}
	}
	eventually(t, 2*time.Minute, "the controller reports every uninjected pod", func(ctx context.Context) (bool, error) {
		var b v1alpha1.OAuthClientBinding
		if err := s.client.Get(ctx, clientKey(ns, "tmobile"), &b); err != nil {
			return false, err
		}
		if int(b.Status.MissedPods) != len(plain) || int(b.Status.InjectedPods) != injected {
			return false, fmt.Errorf("status injected=%d missed=%d, admission gave injected=%d plain=%d",
				b.Status.InjectedPods, b.Status.MissedPods, injected, len(plain))
		}
		evs, err := s.cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		reported := map[string]bool{}
		for _, e := range evs.Items {
			if e.Reason == "MissedInjection" {
				reported[e.InvolvedObject.Name] = true
			}
		}
		for name := range plain {
			if !reported[name] {
				return false, fmt.Errorf("pod %s has no MissedInjection Event yet", name)
			}
		}
		return true, nil
	})
	figure(t, "%d pods created while a webhook pod was killed: %d injected, %d not injected and all %d reported missed, 0 silent",
		total, injected, len(plain), len(plain))
}

func (s *suite) waitWebhooks(ctx context.Context) error {
	return localnodeEventually(ctx, 3*time.Minute, func(ctx context.Context) (bool, error) {
		d, err := s.cs.AppsV1().Deployments(releaseNS).Get(ctx, fullName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.ReadyReplicas == 2, fmt.Errorf("ready %d/2", d.Status.ReadyReplicas)
	})
}

// The real kubelet probes /startup, /readyz and /livez (its own probe
// metrics count them), and /metrics on the admin port answers another pod.
func TestProbesAndMetrics(t *testing.T) {
	s := needSuite(t)
	ctx := context.Background()
	ns, p := s.runningApp(t, "probes")

	eventually(t, 2*time.Minute, "kubelet probe metrics for the sidecar", func(ctx context.Context) (bool, error) {
		raw, err := s.cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes/" + nodeName() + "/proxy/metrics/probes").DoRaw(ctx)
		if err != nil {
			return false, err
		}
		var missing []string
		for _, kind := range []string{"Startup", "Readiness", "Liveness"} {
			if !hasProbeSuccess(string(raw), ns, "app", kind) {
				missing = append(missing, kind)
			}
		}
		return len(missing) == 0, fmt.Errorf("no successful %v probe of the sidecar counted yet", missing)
	})

	scraper := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "scraper", Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "get", Image: image("demoapp"), ImagePullPolicy: corev1.PullNever,
				Args: []string{"-get", fmt.Sprintf("http://%s:%d/metrics", p.Status.PodIP, v1alpha1.AdminPort)}}},
		},
	}
	if _, err := s.cs.CoreV1().Pods(ns).Create(ctx, scraper, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "scraper pod succeeded", func(ctx context.Context) (bool, error) {
		sp, err := s.pod(ctx, ns, "scraper")
		if err != nil {
			return false, err
		}
		if sp.Status.Phase == corev1.PodFailed {
			log, _ := s.logs(ctx, ns, "scraper", "get")
			return false, fmt.Errorf("scraper failed: %s", log)
		}
		return sp.Status.Phase == corev1.PodSucceeded, fmt.Errorf("phase %s", sp.Status.Phase)
	})
	out, err := s.logs(ctx, ns, "scraper", "get")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "HTTP 200") || !strings.Contains(out, "# TYPE oauth_injector_") {
		t.Fatalf("/metrics from another pod:\n%.2000s", out)
	}
	if strings.Contains(out, oldSecret) {
		t.Error("/metrics shows the client secret")
	}
}

// hasProbeSuccess looks for the kubelet's prober_probe_total counter for the
// sidecar of pod/ns with probe_type kind and result successful, above 0.
func hasProbeSuccess(metrics, ns, pod, kind string) bool {
	for _, l := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(l, "prober_probe_total{") {
			continue
		}
		if strings.Contains(l, `container="`+v1alpha1.SidecarContainerName+`"`) && strings.Contains(l, `namespace="`+ns+`"`) &&
			strings.Contains(l, `pod="`+pod+`"`) && strings.Contains(l, `probe_type="`+kind+`"`) &&
			strings.Contains(l, `result="successful"`) && !strings.HasSuffix(l, " 0") {
			return true
		}
	}
	return false
}
