package compat_test

import (
	"strings"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
)

// The foreign-key join topologies (KIP-213): twins of
// kafkastreams/src/main/java/brook/compat/FkJoinTopologies.java.

// orderCustomer is FkJoinTopologies.fk: the foreign key of an order is its
// value up to the first ':' (all of it without one), nil when the value
// starts with '-'.
func orderCustomer(_ string, v *string) *string {
	if strings.HasPrefix(*v, "-") {
		return nil
	}
	c, _, _ := strings.Cut(*v, ":")
	return &c
}

// customers reads the right table, keyed by a nullable String so that a
// nil foreign key serializes to nil bytes, as Java's null.
func customers(b *stream.Builder) stream.Table[*string, *string] {
	return stream.SourceTable(b, "customers", nstr(), nstr(), stream.Materialized("customers-store"))
}

func init() {
	topologies["fk-join"] = def{
		build: func(b *stream.Builder) {
			orders := table(b, "orders", "orders-store")
			cs := customers(b)
			join := func(v, c *string) string { return cat(v, "/", c) }
			orders.JoinForeignKey(cs, orderCustomer, join, stream.Materialized("fk-inner-store"), stream.ValueSerde(serde.String())).
				ToStream().To("out-inner", nil, nil)
			orders.LeftJoinForeignKey(cs, orderCustomer, join, stream.Materialized("fk-left-store"), stream.ValueSerde(serde.String())).
				ToStream().To("out-left", nil, nil)
		},
		outputs: map[string]kinds{"out-inner": strStr, "out-left": strStr},
		stores:  map[string]kinds{"fk-inner-store": strStr, "fk-left-store": strStr},
	}
	topologies["fk-join-named"] = def{
		build: func(b *stream.Builder) {
			orders := table(b, "orders", "orders-store")
			orders.JoinForeignKey(customers(b), orderCustomer, func(v, c *string) string { return cat(v, "/", c) },
				stream.Named("by-customer"), stream.Materialized("by-customer-store"), stream.ValueSerde(serde.String())).
				ToStream().To("out", nil, nil)
		},
		outputs: map[string]kinds{"out": strStr},
		stores:  map[string]kinds{"by-customer-store": strStr},
	}
	topologies["fk-join-default"] = def{
		build: func(b *stream.Builder) {
			orders := table(b, "orders", "orders-store")
			cs := customers(b).Filter(func(_ *string, v *string) bool { return !strings.HasPrefix(*v, "x") })
			orders.JoinForeignKey(cs, orderCustomer, func(v, c *string) string { return cat(v, "/", c) }, stream.ValueSerde(serde.String())).
				ToStream().To("out", nil, nil)
		},
		outputs: map[string]kinds{"out": strStr},
	}
	describeDivergent["fk-join-default"] = "the result's store: brook always materializes a foreign-key join's result (decision 27)"
}
