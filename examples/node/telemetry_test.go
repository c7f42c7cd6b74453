package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/plumtree-go/plumtree/cache"
	"github.com/plumtree-go/plumtree/membership"
	tcp "github.com/plumtree-go/plumtree/transport-tcp"
)

// fillDistinct sets every integer field of the struct v points to a value
// of its own (1, 2, 3, … in field order) and returns v.
func fillDistinct[T any](v *T) *T {
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		switch f := rv.Field(i); {
		case f.CanInt():
			f.SetInt(int64(i + 1))
		case f.CanUint():
			f.SetUint(uint64(i + 1))
		}
	}
	return v
}

// sameByName checks that every field of out equals the field of in with the
// same name (the metrics structs take their names from the sources').
func sameByName(t *testing.T, in, out any) {
	t.Helper()
	iv, ov := reflect.ValueOf(in), reflect.ValueOf(out)
	for i := range ov.NumField() {
		name := ov.Type().Field(i).Name
		src := iv.FieldByName(name)
		if !src.IsValid() {
			t.Errorf("%s.%s has no field of that name in %s", ov.Type(), name, iv.Type())
			continue
		}
		if got := ov.Field(i); !sameInt(got, src) {
			t.Errorf("%s.%s = %v, want %v (%s.%s)", ov.Type(), name, got, src, iv.Type(), name)
		}
	}
}

// sameInt reports whether two integer values are equal, signed or not.
func sameInt(got, want reflect.Value) bool {
	return got.CanInt() && want.CanInt() && got.Int() == want.Int() ||
		got.CanUint() && want.CanUint() && got.Uint() == want.Uint() ||
		got.CanInt() && want.CanUint() && uint64(got.Int()) == want.Uint()
}

// TestMetricsCopyEveryField: every transport, membership and cache metric
// the node exports carries its source's value, so a field added to the metrics
// and left out of the mapping fails here instead of reading 0 forever.
func TestMetricsCopyEveryField(t *testing.T) {
	ts := fillDistinct(&tcp.Stats{})
	sameByName(t, *ts, transportMetrics(*ts))
	ms := fillDistinct(&membership.Stats{})
	sameByName(t, *ms, membershipMetrics(*ms))
	// The cache's evictions are a struct of their own: flattened into
	// Evicted* fields, the rest by name.
	cs := fillDistinct(&cache.Stats{})
	ev := reflect.ValueOf(&cs.Evictions).Elem()
	for p := range ev.NumField() {
		ev.Field(p).SetUint(uint64(100 + p))
	}
	out := reflect.ValueOf(cacheMetrics(*cs))
	in := reflect.ValueOf(*cs)
	for i := range out.NumField() {
		name := out.Type().Field(i).Name
		src := in.FieldByName(name)
		if rest, ok := strings.CutPrefix(name, "Evicted"); ok {
			src = in.FieldByName("Evictions").FieldByName(rest)
		}
		if !src.IsValid() {
			t.Errorf("CacheStats.%s has no source in cache.Stats", name)
			continue
		}
		if got := out.Field(i); !sameInt(got, src) {
			t.Errorf("CacheStats.%s = %v, want %v", name, got, src)
		}
	}
}
