//go:build go1.18
// +build go1.18

// Package buildinfo says how a Go probe was built, for its hello line: Go
// applies the GODEBUG defaults of the main module's `go` line, not of the
// toolchain, so a probe built by Go 1.24 from a module that says `go 1.19`
// behaves like Go 1.19 (no X25519MLKEM768 key share, RSA key exchange on, ...).
// The builds make the line equal the toolchain's (harness/images/clients/Dockerfile,
// harness/stacks/build.py); DefaultGODEBUG says what differs from the toolchain's
// own defaults when they do not.
package buildinfo

import "runtime/debug"

// Details for the hello's "details": the main module's Go version and the
// GODEBUG defaults compiled in ("(the toolchain's)" when there are none).
func Details() map[string]string {
	out := map[string]string{}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return out
	}
	out["DefaultGODEBUG"] = "(the toolchain's)"
	for _, s := range info.Settings {
		if s.Key == "DefaultGODEBUG" && s.Value != "" {
			out["DefaultGODEBUG"] = s.Value
		}
	}
	return out
}
