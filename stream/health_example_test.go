package stream_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os/signal"
	"syscall"

	"github.com/brookstream/brook/stream"
)

// A service mounts the App's health probes next to its own handlers and
// logs every change of state. The first SIGTERM stops the App after a
// final commit, bounded by Config.ShutdownTimeout.
func ExampleApp_HealthHandler() {
	app, err := stream.New(countByKey("text-lines", "word-counts", "word-counts-out"), stream.Config{
		AppID:   "wordcount",
		Brokers: []string{"localhost:9092"},
		OnStateChange: func(old, new stream.Status) {
			log.Printf("brook: %s -> %s (waiting for %s)", old.State, new.State, new.Waiting)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/healthz/", http.StripPrefix("/healthz", app.HealthHandler())) // /healthz/livez, /healthz/readyz
	go func() { log.Print(http.ListenAndServe(":8080", mux)) }()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(app.State()) // NOT_RUNNING
}
