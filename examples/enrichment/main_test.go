package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out strings.Builder
	require.NoError(t, run(ctx, "", &out))
	topology, output, ok := strings.Cut(out.String(), "Enriched orders")
	require.True(t, ok, out.String())
	assert.Contains(t, topology, "Sink: by-customer-repartition-sink (topic: enrichment-example-by-customer-repartition)")
	assert.Contains(t, topology, "Sub-topology: 1 for global store (will not generate tasks)")
	assert.Equal(t, ` (topic "enriched-orders", 5 of 6 orders; the one with an unknown product is dropped):
  c1 {"order":"o1","customer":"Ada","city":"London","product":"keyboard","total":4900}
  c1 {"order":"o3","customer":"Ada","city":"London","product":"cable","total":2700}
  c2 {"order":"o2","customer":"Grace","city":"Arlington","product":"monitor","total":37800}
  c3 {"order":"o4","customer":"Edsger","city":"Austin","product":"monitor","total":18900}
  c9 {"order":"o5","customer":"","city":"","product":"keyboard","total":4900}
`, output)
}
