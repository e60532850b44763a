package stream

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDefaultLoggerWarnsToSlogDefault: with no Config.Logger, records at
// Warn and above go to slog.Default()'s handler, Info and Debug do not.
func TestDefaultLoggerWarnsToSlogDefault(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		Level:       slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr { return dropTime(a) },
	})))
	t.Cleanup(func() { slog.SetDefault(old) })
	cfg := Config{AppID: "a", Brokers: []string{"k:1"}}
	require.NoError(t, cfg.validate())
	cfg.Logger.Debug("debug")
	cfg.Logger.Info("info")
	cfg.Logger.Warn("warn", "n", 1)
	cfg.Logger.WithGroup("kgo").Error("error", "n", 2)
	assert.Equal(t, "level=WARN msg=warn n=1\nlevel=ERROR msg=error kgo.n=2\n", buf.String())
}

func dropTime(a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
