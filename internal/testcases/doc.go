// Package testcases holds the test cases that brook runs twice: against
// the in-process Kafka (the tests of package stream) and through the test
// driver (stream/streamtest). A case is a topology builder, the records
// to write to its input topics and the outputs to expect. Both test files
// use the same ones, so "the driver gives the same results as Kafka" is
// checked rather than assumed from two copies that may drift apart.
//
// Only data and topologies live here. How the records reach a topic
// (producing to Kafka, piping through the driver), how outputs are read
// back and how they are asserted stay with each test.
//
// Each builder's comment names the topics and stores it uses. The
// builders that take topic names do so because some Kafka tests share
// one cluster between cases and need distinct topics.
//
// Expected records are written as Pair(key, value): "key=value".
package testcases
