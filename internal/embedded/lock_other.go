//go:build !unix

package embedded

// lockFile does nothing where flock is missing: run one test process at a
// time (go test -p 1) against an external broker there.
func lockFile(string) (unlock func(), err error) { return func() {}, nil }
