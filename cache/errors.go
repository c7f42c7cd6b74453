package cache

import (
	"errors"
	"fmt"

	"github.com/plumtree-go/plumtree/core"
)

var (
	// ErrInvalidConfig is wrapped by every error Config.Validate returns.
	ErrInvalidConfig = errors.New("cache: invalid config")
	// ErrRunning is returned by Run and Start while the sweeper runs.
	ErrRunning = errors.New("cache: sweeper already running")
	// ErrBackpressure is returned by Admit at BackpressureBlockNew. It is
	// core.ErrBackpressure, so a node's Broadcast refused by Admit matches
	// errors.Is(err, core.ErrBackpressure) (and node.ErrBackpressure).
	ErrBackpressure = core.ErrBackpressure
)

func fieldErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}
