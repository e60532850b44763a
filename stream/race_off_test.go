//go:build !race

package stream_test

// raceEnabled: the race detector slows processing several times over.
const raceEnabled = false
