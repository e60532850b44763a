package stream

import (
	"context"
	"log/slog"
)

// defaultLogger is the Logger of a Config that sets none: records at Warn
// and above go to the handler of slog.Default() (as it is when New is
// called); Info and Debug are dropped. brook is quiet while all is well and
// never silent on trouble.
func defaultLogger() *slog.Logger {
	return slog.New(minLevelHandler{min: slog.LevelWarn, h: slog.Default().Handler()})
}

// minLevelHandler passes to h the records at min or above.
type minLevelHandler struct {
	min slog.Level
	h   slog.Handler
}

func (m minLevelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}

func (m minLevelHandler) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }

func (m minLevelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevelHandler{min: m.min, h: m.h.WithAttrs(as)}
}

func (m minLevelHandler) WithGroup(name string) slog.Handler {
	return minLevelHandler{min: m.min, h: m.h.WithGroup(name)}
}
