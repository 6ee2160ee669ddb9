// Package sidecar holds the end-to-end tests of the injector binary: every
// test builds ./cmd/injector once, writes an internal/config document, runs
// "injector run" as a child process with free ports, sends the app's plain
// HTTP requests to it and checks what a real OpenID provider (test/oidctest)
// or a local test server received. The consent tests run "injector
// consent" the same way, with an HTTP client as the person in the browser.
// Nothing here is imported by production
// code; the package exists only for its tests.
package sidecar
