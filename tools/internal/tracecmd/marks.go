package tracecmd

import (
	"strconv"
	"strings"
)

// MarkCategory is the category of the user log events (runtime/trace.Log)
// with which tools/bench -trace marks every publish and every first delivery
// of a benchmark message; tools/tailtrace reads them.
const MarkCategory = "bench"

// Mark kinds.
const (
	MarkPublish = "publish" // "publish ID"
	MarkDeliver = "deliver" // "deliver ID NODE"
)

// PublishMark is the message of message id's publish mark.
func PublishMark(id int) string { return MarkPublish + " " + strconv.Itoa(id) }

// DeliverMark is the message of the mark of node's first delivery of id.
func DeliverMark(id uint64, node int) string {
	return MarkDeliver + " " + strconv.FormatUint(id, 10) + " " + strconv.Itoa(node)
}

// ParseMark reads a mark's message: its kind and message id. ok is false
// for anything that is not a publish or delivery mark.
func ParseMark(msg string) (kind string, id int, ok bool) {
	w := strings.Fields(msg)
	switch {
	case len(w) == 2 && w[0] == MarkPublish, len(w) == 3 && w[0] == MarkDeliver:
	default:
		return "", 0, false
	}
	id, err := strconv.Atoi(w[1])
	if err != nil || id < 0 {
		return "", 0, false
	}
	return w[0], id, true
}
