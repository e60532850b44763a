package stream

// DescribeDOT draws the topology in Graphviz's DOT language: a cluster per
// sub-topology with its sources, processors and sinks (boxes) and stores
// (cylinders), topics as parallelograms between the clusters, arrows for
// the flow of records and dashed lines from processors to their stores.
// Render it with "dot -Tsvg". Internal topics carry the App's prefix once
// New has been called with the builder.
func (b *Builder) DescribeDOT() string { return b.g.DescribeDOT() }

// DescribeMermaid draws the topology as a Mermaid flowchart, which GitHub,
// GitLab and many wikis render inside a ```mermaid block: a subgraph per
// sub-topology with its nodes (rectangles) and stores (cylinders), topics as
// parallelograms, arrows for the flow of records and dotted lines from
// processors to their stores.
func (b *Builder) DescribeMermaid() string { return b.g.DescribeMermaid() }
