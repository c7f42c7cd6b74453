package membership

import (
	"bytes"
	"context"
	"log/slog"
)

// logBridge forwards memberlist's log.Logger lines ("[DEBUG] memberlist:
// ...") to slog at the matching level.
//
// memberlist closes its transport first when it shuts down and stops its
// probe and gossip timers only after that, so a timer that fires in between
// logs "[ERR] memberlist: Failed to send gossip to ...: use of closed network
// connection" (or a failed ping) on a clean stop. Once closed reports the
// node's own sockets closed, such lines are the shutdown's own doing and go
// to DEBUG; any other line keeps its level.
type logBridge struct {
	l      *slog.Logger
	closed func() bool // the transport is shut down (nil: never)
}

// errClosedText is what net.ErrClosed prints: an operation on a socket this
// process closed.
var errClosedText = []byte("use of closed network connection")

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
	if level > slog.LevelDebug && b.closed != nil && b.closed() && bytes.Contains(line, errClosedText) {
		level = slog.LevelDebug
	}
	ctx := context.Background()
	if !b.l.Enabled(ctx, level) {
		return n, nil
	}
	b.l.Log(ctx, level, string(line), "component", "memberlist")
	return n, nil
}
