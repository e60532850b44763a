package runtime

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKgoLoggerOneLevelDown: franz-go's levels reach slog one level lower,
// and the level franz-go asks for follows the handler's.
func TestKgoLoggerOneLevelDown(t *testing.T) {
	for _, tc := range []struct {
		handler slog.Level
		want    kgo.LogLevel
		out     string
	}{
		{slog.LevelWarn, kgo.LogLevelError, "level=WARN msg=e\n"},
		{slog.LevelInfo, kgo.LogLevelWarn, "level=INFO msg=w\nlevel=WARN msg=e\n"},
		{slog.LevelDebug, kgo.LogLevelInfo, "level=DEBUG msg=i\nlevel=INFO msg=w\nlevel=WARN msg=e\n"},
		{slog.LevelDebug - 4, kgo.LogLevelDebug, "level=DEBUG-4 msg=d\nlevel=DEBUG msg=i\nlevel=INFO msg=w\nlevel=WARN msg=e\n"},
		{slog.LevelError + 1, kgo.LogLevelNone, ""},
	} {
		var buf bytes.Buffer
		l := kgoLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.handler, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))}
		assert.Equal(t, tc.want, l.Level(), "handler level %v", tc.handler)
		l.Log(kgo.LogLevelDebug, "d")
		l.Log(kgo.LogLevelInfo, "i")
		l.Log(kgo.LogLevelWarn, "w")
		l.Log(kgo.LogLevelError, "e")
		assert.Equal(t, tc.out, buf.String(), "handler level %v", tc.handler)
	}
}
