package stream_test

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/brookstream/brook/serde"
	"github.com/brookstream/brook/stream"
)

// Routing a query to the instance that holds the key: each instance
// serves HTTP on the address it advertises in Config.ApplicationServer,
// answers for the keys it holds and redirects for the others.
// examples/query-service is the whole program, forwarding instead.
func ExampleApp_KeyOwner() {
	b := stream.NewBuilder()
	stream.Source(b, "text-lines", serde.String(), serde.String()).
		GroupBy(func(_, word string) string { return word }, serde.String()).
		Count(stream.Materialized("word-counts"))
	app, err := stream.New(b, stream.Config{
		AppID:             "wordcount",
		Brokers:           []string{"localhost:9092"},
		ApplicationServer: "10.0.0.7:8080", // where the others reach this instance
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	counts, err := app.Store[string, int64]("word-counts")
	if err != nil {
		fmt.Println(err)
		return
	}
	http.HandleFunc("GET /count/{word}", func(w http.ResponseWriter, r *http.Request) {
		word := r.PathValue("word")
		md, err := app.KeyOwner[string]("word-counts", word)
		switch {
		case errors.Is(err, stream.ErrOwnerUnknown):
			w.Header().Set("Retry-After", "1") // not joined yet, or rebalancing
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		case !md.Local:
			http.Redirect(w, r, "http://"+md.Active.String()+r.URL.Path, http.StatusTemporaryRedirect)
		default:
			n, ok, err := counts.Get(word)
			var nl *stream.NotLocalError
			switch {
			case errors.As(err, &nl): // restoring here, or moved since KeyOwner
				w.Header().Set("Retry-After", "1")
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
			case err != nil:
				http.Error(w, err.Error(), http.StatusInternalServerError)
			case !ok:
				http.NotFound(w, r)
			default:
				fmt.Fprintf(w, "%s %d\n", word, n)
			}
		}
	})
	// go app.Run(ctx); http.ListenAndServe(":8080", nil)
}
