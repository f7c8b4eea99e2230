// Package kx applies a job's or listener's key-exchange groups to a tls.Config.
//
// The harness sends the groups' code points (IANA's TLS Supported Groups
// numbers), which are Go's CurveIDs. crypto/tls gives each curve it
// implements a name (CurveID.String: "X25519MLKEM768" from Go 1.24); a code
// point without one is a group this Go release does not have, and the cell
// is "unsupported group" (skipped) instead of a handshake Go would refuse
// with "tls: CurvePreferences includes unsupported curve".
package kx

import (
	"crypto/tls"
	"fmt"
	"runtime"
	"strings"
)

// Unsupported is the probe contract's prefix for a group setting the stack cannot apply.
const Unsupported = "unsupported group: "

// Known reports whether this Go release implements the group.
func Known(code uint16) bool {
	return !strings.HasPrefix(tls.CurveID(code).String(), "CurveID(")
}

// Apply sets cfg.CurvePreferences to codes (in order); an error names the
// first group this Go release lacks.
func Apply(cfg *tls.Config, codes []uint16) error {
	for _, code := range codes {
		if !Known(code) {
			return fmt.Errorf("%sGo %s has no key-exchange group 0x%04x (%s)", Unsupported, runtime.Version(),
				code, tls.CurveID(code))
		}
		cfg.CurvePreferences = append(cfg.CurvePreferences, tls.CurveID(code))
	}
	return nil
}
