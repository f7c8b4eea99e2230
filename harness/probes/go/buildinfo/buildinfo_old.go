//go:build !go1.18
// +build !go1.18

package buildinfo

// Details before Go 1.18: build settings are not recorded (and GODEBUG
// defaults did not follow the module's go line yet).
func Details() map[string]string { return map[string]string{} }
