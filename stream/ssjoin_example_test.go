package stream_test

import (
	"fmt"
	"time"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/brookstream/brook/stream/streamtest"
	"github.com/brookstream/brook/window"
)

// Orders and payments, both keyed by order id, are joined when a payment
// comes within ten minutes of its order. The left join also reports the
// orders that stay unpaid: each once its window has closed, never early.
func ExampleStream_LeftJoinStream() {
	b := stream.NewBuilder()
	orders := stream.Source(b, "orders", serde.String(), serde.String())
	payments := stream.Source(b, "payments", serde.String(), serde.Nullable(serde.String()))
	orders.LeftJoinStream(payments, func(order string, payment *string) string {
		if payment == nil {
			return order + ": unpaid"
		}
		return order + ": paid by " + *payment
	}, window.JoinTimeDifference(10*time.Minute).Grace(time.Minute)).
		To("order-status", nil, nil)

	d := streamtest.New(nil, b, streamtest.Config{})
	defer d.Close()
	o := d.Input("orders", serde.String(), serde.String())
	p := d.Input("payments", serde.String(), serde.Nullable(serde.String()))
	minute := time.Minute.Milliseconds()
	o.PipeAt("o1", "2 books", 0)
	o.PipeAt("o2", "a lamp", 1*minute)
	p.PipeAt("o1", ptr("card"), 4*minute)
	// Stream time 12 min: o2's window (up to 11 min, + 1 min grace) is
	// still open. At 13 min it has closed: o2 is reported unpaid.
	o.PipeAt("o3", "a pen", 12*minute)
	o.PipeAt("o4", "ink", 13*minute)
	for _, r := range d.Output("order-status", serde.String(), serde.String()).Records() {
		fmt.Printf("%s %s (at minute %d)\n", r.Key, r.Value, r.Timestamp/minute)
	}
	// Output:
	// o1 2 books: paid by card (at minute 4)
	// o2 a lamp: unpaid (at minute 1)
}

func ptr[T any](v T) *T { return &v }
