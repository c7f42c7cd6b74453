package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// kv is one flattened JSON field: "health.window" = "5m0s".
type kv struct{ key, value string }

// flattenJSON flattens a JSON object into dotted keys, in the order of the
// document. Strings are printed unquoted, every other value as compact JSON
// (numbers keep all their digits).
func flattenJSON(doc []byte) ([]kv, error) {
	var out []kv
	err := flatten(bytes.TrimSpace(doc), "", &out)
	return out, err
}

func flatten(raw []byte, key string, out *[]kv) error {
	if len(raw) > 0 && raw[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if _, err := dec.Token(); err != nil { // {
			return err
		}
		empty := true
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				return err
			}
			name, ok := t.(string)
			if !ok {
				return fmt.Errorf("object key %v is not a string", t)
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return err
			}
			sub := name
			if key != "" {
				sub = key + "." + name
			}
			if err := flatten(bytes.TrimSpace(v), sub, out); err != nil {
				return err
			}
			empty = false
		}
		if empty && key != "" {
			*out = append(*out, kv{key, "{}"})
		}
		return nil
	}
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		*out = append(*out, kv{key, s})
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return err
	}
	*out = append(*out, kv{key, buf.String()})
	return nil
}

// printKVs prints a title and aligned key/value lines.
func printKVs(w io.Writer, title string, kvs []kv) {
	fmt.Fprintln(w, title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, x := range kvs {
		fmt.Fprintf(tw, "%s\t%s\n", x.key, x.value)
	}
	tw.Flush()
}
