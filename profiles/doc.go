// Package profiles is the second step of krsi's pipeline:
//
//	annotation → profile → map entry → LSM decision → event
//	             ^^^^^^^
//
// It reads profile files (YAML, apiVersion krsi.dev/v1), validates them with
// errors that name the file, line and field, and compiles them to a
// [Compiled]: the flat list of (path, match kind) → allow/deny entries that
// the enforcement package writes into BPF maps. Nothing here knows the map
// layout or talks to the kernel; [Compiled] is the contract between the two.
//
// The format, the precedence of rules and the built-in profiles are
// described in docs/profiles.md.
package profiles
