package core_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/plumtree-go/plumtree/core"
)

func TestLargeMessageConfig(t *testing.T) {
	d := core.DefaultConfig()
	if d.MaxLargeMessageSize != 256<<20 || d.LargeAssemblyBytes != 512<<20 || d.LargeSendRate != 0 {
		t.Fatalf("defaults: max_large_message_size %d, large_assembly_bytes %d, large_send_rate %d", d.MaxLargeMessageSize, d.LargeAssemblyBytes, d.LargeSendRate)
	}
	tests := []struct {
		name  string
		edit  func(*core.Config)
		field string // "" = valid
	}{
		{"disabled", func(c *core.Config) { c.MaxLargeMessageSize = 0 }, ""},
		{"at the hard limit", func(c *core.Config) {
			c.MaxLargeMessageSize = core.MaxLargeMessageSizeLimit
			c.LargeAssemblyBytes = core.MaxLargeMessageSizeLimit
		}, ""},
		{"negative", func(c *core.Config) { c.MaxLargeMessageSize = -1 }, "max_large_message_size"},
		{"above the hard limit", func(c *core.Config) {
			c.MaxLargeMessageSize = core.MaxLargeMessageSizeLimit + 1
			c.LargeAssemblyBytes = 1 << 40
		}, "max_large_message_size"},
		{"budget below one message", func(c *core.Config) { c.LargeAssemblyBytes = c.MaxLargeMessageSize - 1 }, "large_assembly_bytes"},
		{"negative budget", func(c *core.Config) { c.LargeAssemblyBytes = -1 }, "large_assembly_bytes"},
		{"send rate capped", func(c *core.Config) { c.LargeSendRate = 8 << 20 }, ""},
		{"send rate at its floor", func(c *core.Config) { c.LargeSendRate = core.MinLargeSendRate }, ""},
		{"send rate below its floor", func(c *core.Config) { c.LargeSendRate = core.MinLargeSendRate - 1 }, "large_send_rate"},
		{"negative send rate", func(c *core.Config) { c.LargeSendRate = -1 }, "large_send_rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := core.DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, core.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err = %v, want one naming %s", err, tt.field)
			}
		})
	}
}
