package tuner

import (
	"errors"
	"fmt"
)

// ErrInvalidConfig is wrapped by every error a Validate method returns.
var ErrInvalidConfig = errors.New("tuner: invalid config")

func fieldErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}
