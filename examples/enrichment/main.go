// Enrichment joins a stream of orders with two tables, the commonest job
// of a Kafka-to-Kafka service. It teaches brook's joins:
//
//   - SourceTable reads the "customers" topic as a table, kept in a store
//     with a changelog, one partition of it per task;
//   - SelectKey re-keys each order by its customer; the join with the
//     customers table then needs the orders partitioned as the table is,
//     so brook writes them to a repartition topic first, as Kafka Streams
//     does;
//   - LeftJoin looks the customer up as the table is when the order is
//     processed (an order of an unknown customer is still written, with an
//     empty customer);
//   - GlobalTable reads the "products" topic in full on every instance,
//     loaded before the first order is processed; JoinGlobal looks the
//     product up by a key computed from the order, so the orders need no
//     repartition for it;
//   - To writes the enriched orders to "enriched-orders", keyed by
//     customer.
//
// Input: "customers" (key customer id, JSON {"name", "city"}), "products"
// (key product id, JSON {"name", "price"}), "orders" (key order id, JSON
// {"customer", "product", "qty"}).
//
// Output: "enriched-orders", keyed by customer id, JSON {"order",
// "customer", "city", "product", "total"}.
//
// Run it with an in-process Kafka:
//
//	go run ./examples/enrichment
//
// or against a cluster with -brokers host:port (where its topics do not
// exist yet or are empty). It creates the topics (3 partitions each),
// writes the customers and products, starts the app, waits until the
// customers table holds every customer (an interactive query: the orders
// then meet a loaded table), writes the orders, prints the topology and
// the enriched orders, and exits. It gives up after 25 seconds, or on
// Ctrl-C, with exit code 1.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/brookstream/brook/internal/exampleutil"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	ordersTopic    = "orders"
	customersTopic = "customers"
	productsTopic  = "products"
	enrichedTopic  = "enriched-orders"
	appID          = "enrichment-example"
)

// Customer is a row of the customers table.
type Customer struct {
	Name string `json:"name"`
	City string `json:"city"`
}

// Product is a row of the products global table.
type Product struct {
	Name  string `json:"name"`
	Price int64  `json:"price"` // cents
}

// Order is an order as it arrives.
type Order struct {
	ID       string `json:"id"`
	Customer string `json:"customer"`
	Product  string `json:"product"`
	Qty      int64  `json:"qty"`
}

// Enriched is an order with its customer and product.
type Enriched struct {
	Order    string `json:"order"`
	Customer string `json:"customer"`
	City     string `json:"city"`
	Product  string `json:"product"`
	Total    int64  `json:"total"` // cents
}

// The sample data.
var (
	customers = map[string]Customer{
		"c1": {"Ada", "London"}, "c2": {"Grace", "Arlington"}, "c3": {"Edsger", "Austin"},
	}
	products = map[string]Product{
		"p1": {"keyboard", 4900}, "p2": {"monitor", 18900}, "p3": {"cable", 900},
	}
	orders = []Order{
		{"o1", "c1", "p1", 1}, {"o2", "c2", "p2", 2}, {"o3", "c1", "p3", 3},
		{"o4", "c3", "p2", 1}, {"o5", "c9", "p1", 1}, // c9: unknown customer
		{"o6", "c2", "p9", 5}, // p9: unknown product, dropped by the inner join
	}
)

// buildTopology is the whole stream-processing program.
func buildTopology() *stream.Builder {
	b := stream.NewBuilder()
	custs := stream.SourceTable(b, customersTopic, serde.String(), serde.JSON[Customer](), stream.Materialized("customers"))
	prods := stream.GlobalTable(b, productsTopic, serde.String(), serde.JSON[Product](), stream.Materialized("products"))
	stream.Source(b, ordersTopic, serde.String(), serde.JSON[Order]()).
		SelectKey(func(_ string, o Order) string { return o.Customer }, stream.Named("by-customer")).
		LeftJoin(custs, func(o Order, c Customer) Enriched {
			return Enriched{Order: o.ID, Customer: c.Name, City: c.City, Product: o.Product, Total: o.Qty}
		}).
		JoinGlobal(prods, func(_ string, e Enriched) string { return e.Product }, func(e Enriched, p Product) Enriched {
			e.Product, e.Total = p.Name, e.Total*p.Price
			return e
		}).
		To(enrichedTopic, nil, serde.JSON[Enriched]())
	return b
}

func main() {
	brokers := flag.String("brokers", "", "Kafka brokers, host:port[,host:port...]; empty starts an in-process Kafka")
	flag.Parse()
	exampleutil.Main("enrichment", func(ctx context.Context) error { return run(ctx, *brokers, os.Stdout) })
}

// run is the example; it prints to out.
func run(ctx context.Context, brokers string, out io.Writer) (err error) {
	addrs, cleanup, err := exampleutil.Brokers(brokers)
	defer cleanup()
	if err != nil {
		return err
	}
	dir, remove, err := exampleutil.TempStateDir("enrichment")
	defer func() {
		if rmErr := remove(); rmErr != nil && err == nil {
			err = rmErr
		}
	}()
	if err != nil {
		return err
	}
	topics := []string{ordersTopic, customersTopic, productsTopic, enrichedTopic}
	if err := exampleutil.CreateTopics(ctx, addrs, 3, topics...); err != nil {
		return err
	}
	if err := exampleutil.CheckEmpty(ctx, addrs, fmt.Sprintf("them (%v and %s-*) and the consumer group %s", topics, appID, appID), topics...); err != nil {
		return err
	}
	var tables []*kgo.Record
	for id, c := range customers {
		tables = append(tables, jsonRecord(customersTopic, id, c))
	}
	for id, p := range products {
		tables = append(tables, jsonRecord(productsTopic, id, p))
	}
	if err := exampleutil.Produce(ctx, addrs, tables...); err != nil {
		return err
	}

	b := buildTopology()
	app, err := stream.New(b, stream.Config{AppID: appID, Brokers: addrs, StateDir: dir})
	if err != nil {
		return err
	}
	fmt.Fprint(out, b.Describe())
	appCtx, stopApp := context.WithCancel(ctx)
	defer stopApp()
	waitCtx, stopWaiting := context.WithCancelCause(ctx)
	defer stopWaiting(nil)
	errc := make(chan error, 1)
	go func() {
		err := app.Run(appCtx)
		errc <- err
		stopWaiting(fmt.Errorf("the app stopped: %v", err))
	}()

	// The customers table and the orders are read by the same tasks, in
	// the order their records are fetched: wait until the table is loaded
	// before writing orders, so every order meets its customer.
	waitErr := waitForCustomers(waitCtx, app)
	var enriched []*kgo.Record
	if waitErr == nil {
		var recs []*kgo.Record
		for _, o := range orders {
			recs = append(recs, jsonRecord(ordersTopic, o.ID, o))
		}
		if waitErr = exampleutil.Produce(waitCtx, addrs, recs...); waitErr == nil {
			enriched, waitErr = exampleutil.ReadN(waitCtx, addrs, enrichedTopic, len(orders)-1)
		}
	}
	stopApp()
	app.Close()
	if runErr := <-errc; runErr != nil {
		return fmt.Errorf("the app failed: %w", runErr)
	}
	if waitErr != nil {
		return waitErr
	}
	var lines []string
	for _, r := range enriched {
		lines = append(lines, fmt.Sprintf("  %s %s", r.Key, r.Value))
	}
	slices.SortFunc(lines, cmp.Compare)
	fmt.Fprintf(out, "Enriched orders (topic %q, %d of %d orders; the one with an unknown product is dropped):\n", enrichedTopic, len(enriched), len(orders))
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	return nil
}

func jsonRecord(topic, key string, v any) *kgo.Record {
	b, _ := json.Marshal(v)
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: b}
}

// waitForCustomers polls the customers store until it holds every
// customer. The view shows committed state.
func waitForCustomers(ctx context.Context, app *stream.App) error {
	view, err := app.Store[string, Customer]("customers")
	if err != nil {
		return err
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		n := 0
		for range view.All() {
			n++
		}
		if n == len(customers) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the customers table holds %d of %d customers: %w", n, len(customers), context.Cause(ctx))
		case <-tick.C:
		}
	}
}
