package brookprom_test

import (
	"context"
	"log"
	"net/http"

	"github.com/brookstream/brook/plugin/brookprom"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
)

// An App's metrics and franz-go's client metrics (kprom) in one registry,
// served on /metrics.
func Example() {
	b := stream.NewBuilder()
	stream.Source(b, "text-lines", serde.String(), serde.String()).
		GroupByKey().
		Count(stream.Materialized("line-counts")).
		ToStream().
		To("line-counts", nil, nil)

	reg := prometheus.NewRegistry()
	kp := kprom.NewMetrics("kgo", kprom.Registerer(reg), kprom.Gatherer(reg))
	app, err := stream.New(b, stream.Config{
		AppID:      "linecount",
		Brokers:    []string{"localhost:9092"},
		ClientOpts: []kgo.Opt{kgo.WithHooks(brookprom.ClientHooks(kp))},
	})
	if err != nil {
		log.Fatal(err)
	}
	reg.MustRegister(brookprom.NewCollector(app))
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	go func() { log.Print(http.ListenAndServe(":9090", nil)) }()
	if err := app.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
}
