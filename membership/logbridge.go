package membership

import (
	"bytes"
	"context"
	"log/slog"
)

// logBridge forwards memberlist's log.Logger lines ("[DEBUG] memberlist:
// ...") to slog at the matching level.
type logBridge struct{ l *slog.Logger }

func (b *logBridge) Write(p []byte) (int, error) {
	n := len(p)
	line := bytes.TrimRight(p, "\n")
	level := slog.LevelInfo
	for _, lv := range []struct {
		tag   string
		level slog.Level
	}{
		{"[DEBUG]", slog.LevelDebug},
		{"[TRACE]", slog.LevelDebug},
		{"[INFO]", slog.LevelInfo},
		{"[WARN]", slog.LevelWarn},
		{"[ERR]", slog.LevelError},
		{"[ERROR]", slog.LevelError},
	} {
		if i := bytes.Index(line, []byte(lv.tag)); i >= 0 {
			level = lv.level
			line = bytes.TrimSpace(line[i+len(lv.tag):])
			break
		}
	}
	ctx := context.Background()
	if !b.l.Enabled(ctx, level) {
		return n, nil
	}
	b.l.Log(ctx, level, string(line), "component", "memberlist")
	return n, nil
}
