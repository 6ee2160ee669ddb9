// Package controller reconciles OAuthClientBindings: it checks that the
// Secrets a binding references exist and parse (condition Ready), counts
// the pods injected from it, outdated by a newer generation, or admitted
// without injection (missed), warns about missed pods and, when the user
// opts in, deletes owned missed pods so their controller recreates them
// through the webhook. It also wires the manager binary (NewManager) so
// cmd/webhook stays a thin flag parser.
package controller
