package brookotel_test

import (
	"context"
	"log"

	"github.com/brookstream/brook/plugin/brookotel"
	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// An App's metrics collected with the process's other OpenTelemetry
// metrics; a PeriodicReader with an exporter works the same way.
func Example() {
	b := stream.NewBuilder()
	stream.Source(b, "text-lines", serde.String(), serde.String()).To("copy", nil, nil)
	app, err := stream.New(b, stream.Config{AppID: "copy", Brokers: []string{"localhost:9092"}})
	if err != nil {
		log.Fatal(err)
	}
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(
		brookotel.NewProducer(app, brookotel.Attributes(attribute.String("service.instance.id", "copy-1")))))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	if err := app.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
}
