package consent

import (
	"os/exec"
)

// BrowserOpener returns a function that opens a URL in the person's browser,
// or nil when this machine has none to open: then the printed URL is the
// only way, which is also right on a server reached over SSH, where a
// text-mode browser started by xdg-open would take over the terminal.
// goos, getenv and lookPath are runtime.GOOS, os.Getenv and exec.LookPath
// outside tests.
func BrowserOpener(goos string, getenv func(string) string, lookPath func(string) (string, error)) func(url string) error {
	var name string
	switch goos {
	case "darwin":
		name = "open"
	case "windows", "android", "ios", "js", "wasip1", "plan9":
		return nil
	default:
		if getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
			return nil
		}
		name = "xdg-open"
	}
	bin, err := lookPath(name)
	if err != nil {
		return nil
	}
	return func(url string) error {
		// The URL is one argument, never through a shell: it carries '&'.
		cmd := exec.Command(bin, url)
		if err := cmd.Start(); err != nil {
			return err
		}
		go func() { _ = cmd.Wait() }() // reap it; its exit status says nothing about the browser
		return nil
	}
}
