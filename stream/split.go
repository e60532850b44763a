package stream

import "github.com/brookstream/brook/internal/topo"

// Splitter divides a stream into named branches; see Stream.Split.
type Splitter[K, V any] struct {
	s        Stream[K, V]
	n        *topo.Node
	prefix   string
	preds    []func(K, V) bool
	branches map[string]Stream[K, V]
}

// Split starts dividing s into branches. Each record goes to the first
// branch whose predicate it matches, in the order the branches were added;
// a record that matches none goes to the default branch, or is dropped when
// there is none (as in Kafka Streams). Branch names are prefixed with the
// Named option's name, if given. In Describe the split node is named by
// the Named option (default KSTREAM-BRANCH-<n>) and each branch's node by
// the split node's name and the branch's name, as Kafka Streams names
// them; the returned map's keys are the branch names with the prefix.
//
//	routes := events.Split(stream.Named("route-")).
//		Branch("clicks", isClick).
//		Branch("views", isView).
//		Default("other")
//	routes["route-clicks"].To("clicks", nil, nil)
func (s Stream[K, V]) Split(opts ...Option) *Splitter[K, V] {
	o := collect(opts)
	sp := &Splitter[K, V]{s: s, prefix: o.name, branches: map[string]Stream[K, V]{}}
	// Kafka Streams names the split node after the Named prefix itself,
	// and each branch's node after the split node's name and the branch's.
	sp.n = s.b.g.Add(topo.KindProcessor, "KSTREAM-BRANCH", o.name, s.n)
	sp.n.Build = func(_ *topo.Task, children []any) (any, error) {
		next := make([]proc[K, V], len(children))
		for i, c := range children {
			next[i] = fanout[K, V]([]any{c})
		}
		preds := sp.preds
		return proc[K, V](func(t *topo.Task, r Record[K, V]) error {
			for i, p := range preds {
				if p(r.Key, r.Value) {
					return next[i](t, r)
				}
			}
			return nil
		}), nil
	}
	return sp
}

// Branch adds a branch named name that takes the records matching pred.
func (sp *Splitter[K, V]) Branch(name string, pred func(K, V) bool) *Splitter[K, V] {
	full := sp.prefix + name
	if _, dup := sp.branches[full]; dup {
		sp.s.b.g.Errorf("split %s: branch %q added twice", sp.n.Name, full)
	}
	n := sp.s.b.g.Add(topo.KindProcessor, "KSTREAM-BRANCHCHILD", sp.n.Name+name, sp.n)
	n.Build = func(_ *topo.Task, children []any) (any, error) {
		return fanout[K, V](children), nil
	}
	sp.preds = append(sp.preds, pred)
	sp.branches[full] = Stream[K, V]{b: sp.s.b, n: n, ks: sp.s.ks, vs: sp.s.vs, rekeyed: sp.s.rekeyed, rawKS: sp.s.rawKS}
	return sp
}

// Default adds a branch named name for the records no other branch took,
// and returns the branches by name.
func (sp *Splitter[K, V]) Default(name string) map[string]Stream[K, V] {
	sp.Branch(name, func(K, V) bool { return true })
	return sp.branches
}

// Branches returns the branches by name; records that match no branch are
// dropped.
func (sp *Splitter[K, V]) Branches() map[string]Stream[K, V] { return sp.branches }
