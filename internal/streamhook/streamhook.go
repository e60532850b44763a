// Package streamhook gives brook's own packages, such as stream/streamtest,
// what package stream keeps unexported: the topology graph inside a
// *stream.Builder and the topo.Policy inside a stream.BadRecordPolicy.
// Package stream sets the functions in its init, so they are set in any
// program that can hold those values. Being internal, the hook is no part
// of brook's public API.
package streamhook

import "github.com/brookstream/brook/internal/topo"

var (
	// Graph returns the graph of a *stream.Builder.
	Graph func(builder any) *topo.Graph
	// Policy returns the policy of a stream.BadRecordPolicy.
	Policy func(policy any) topo.Policy
	// Export turns the internal error types in an error's tree into the
	// error types of package stream.
	Export func(err error) error
)
