package tracingotel

// TrackedForTest returns how many messages and grafts t remembers.
func TrackedForTest(t *Tracer) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.recent) + len(t.pending)
}
