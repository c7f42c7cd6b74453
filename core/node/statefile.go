package node

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/plumtree-go/plumtree/core"
)

// MaxStateFileSize bounds a state file the node reads (64 MiB), unless its
// configuration lets a State grow larger (core.MaxStateSize: MaxStreams ×
// MaxStreamGaps, which with the defaults is about 33 MB); then that is the
// bound, so a node always reads what it wrote. A few hundred bytes per
// origin in practice.
const MaxStateFileSize = 64 << 20

// stateFileLimit is the largest state file a node with cfg reads.
func stateFileLimit(cfg core.Config) int64 { return max(MaxStateFileSize, core.MaxStateSize(cfg)) }

// StateSaveInterval is the least time between two periodic state saves.
const StateSaveInterval = time.Second

// WithStateFile makes the node persist its stream summaries and sequence
// (core.State) in the file at path, so that a restart delivers nothing the
// previous run delivered and catches up what it missed within the retention
// (core.Config.MessageCacheTTL).
//
// At New the file is read if it exists (a missing file is a first start;
// a corrupt or oversized one is an error: New fails naming it). While the
// node runs, the state is saved at most once per StateSaveInterval after it
// changed, when the protocol goroutine next runs (at the latest at the next
// maintenance round), by a background goroutine; at Shutdown it is saved
// once more, after the protocol closed. Every save is atomic: the bytes go
// to a temporary file in the same directory, which is fsynced, renamed over
// path, and the directory fsynced. So the file always holds a complete
// state, and a crash (kill -9, power loss) loses at most the deliveries of
// the last save interval plus one maintenance interval: those messages are
// delivered again after the restart. A message counts as delivered when the
// protocol hands it to the delivery queue: one that the application had
// not processed when the process died is not delivered again.
//
// The file holds nothing the node could not rebuild but the exactly-once
// guarantee across restarts: deleting it is safe and makes the next start
// deliver again what is still within the retention.
func WithStateFile(path string) Option { return func(o *options) { o.stateFile = path } }

// loadState reads a state file of at most limit bytes; ok is false if it
// does not exist.
func loadState(path string, limit int64) (st core.State, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("state file: %w", err)
	}
	defer f.Close()
	tooLarge := fmt.Errorf("state file %s: larger than %d bytes, the most this configuration writes (remove it to start afresh)", path, limit)
	// A regular file's size is known: one that is too large is refused
	// unread, and the others are read into one buffer of their size
	// (io.ReadAll would grow and copy its buffer about twenty times for
	// a file of tens of MB). The limit also holds for a file that grows
	// while it is read, and for one whose size is not known.
	buf := bytes.NewBuffer(nil)
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		if fi.Size() > limit {
			return st, false, tooLarge
		}
		buf.Grow(int(fi.Size()) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return st, false, fmt.Errorf("state file %s: %w", path, err)
	}
	b := buf.Bytes()
	if int64(len(b)) > limit {
		return st, false, tooLarge
	}
	if err := st.UnmarshalBinary(b); err != nil {
		return st, false, fmt.Errorf("state file %s: %w (remove it to start afresh)", path, err)
	}
	return st, true, nil
}

// writeFileAtomic replaces path with data: temporary file, fsync, rename,
// fsync of the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // not supported everywhere; the rename is done
		_ = d.Close()
	}
	return nil
}

// stateSaver writes the states the protocol goroutine hands it, the latest
// first: a state not yet written when a newer one arrives is replaced. The
// protocol goroutine encodes into buffers the writer has finished with (at
// most three exist: one written, one waiting, one being encoded), so a
// save allocates nothing once they have grown to the state's size.
type stateSaver struct {
	path  string
	ch    chan []byte
	free  chan []byte // buffers written (or replaced), for the next encoding
	done  chan struct{}
	n     *Node
	mark  stateMark // what the last handed-over state covered
	last  time.Time // when it was handed over
	dirty bool
}

// stateMark identifies a state: it changes with every delivery and every
// summary change.
type stateMark struct {
	delivered, gapsLost, forgotten uint64
	streams                        int
}

func (n *Node) markOf() stateMark {
	s := n.proto.Stats()
	return stateMark{delivered: s.MessagesDelivered, gapsLost: s.GapsLost, forgotten: s.StreamsForgotten, streams: s.Streams}
}

func newStateSaver(n *Node, path string) *stateSaver {
	s := &stateSaver{path: path, ch: make(chan []byte, 1), free: make(chan []byte, 3), done: make(chan struct{}), n: n}
	go s.loop()
	return s
}

func (s *stateSaver) loop() {
	defer close(s.done)
	for b := range s.ch {
		s.write(b)
		s.recycle(b)
	}
}

// recycle keeps b for a later encoding (or drops it if enough are kept).
func (s *stateSaver) recycle(b []byte) {
	select {
	case s.free <- b[:0]:
	default:
	}
}

func (s *stateSaver) write(b []byte) {
	if err := writeFileAtomic(s.path, b); err != nil {
		s.n.c.stateSaveErrors.Add(1)
		s.n.log.Warn("Saving the state failed", "file", s.path, "err", err)
		return
	}
	s.n.c.stateSaves.Add(1)
}

// maybeSave runs on the protocol goroutine after each input: it hands the
// state over when it changed and the last save is StateSaveInterval old.
func (s *stateSaver) maybeSave(now time.Time) {
	m := s.n.markOf()
	if m == s.mark || now.Sub(s.last) < StateSaveInterval {
		return
	}
	var buf []byte
	select {
	case buf = <-s.free:
	default:
	}
	b, err := s.n.proto.AppendState(buf)
	if err != nil {
		s.last = now // try again after the interval, not after every input
		s.recycle(b)
		s.n.log.Warn("Encoding the state failed", "err", err)
		return
	}
	s.mark, s.last = m, now
	select {
	case s.ch <- b:
	default:
		select { // replace the state not yet written
		case old := <-s.ch:
			s.recycle(old)
		default:
		}
		s.ch <- b
	}
}

// close stops the background writer and writes the final state.
func (s *stateSaver) close() {
	close(s.ch)
	<-s.done
	b, err := s.n.proto.AppendState(nil)
	if err != nil {
		s.n.log.Warn("Encoding the state failed", "err", err)
		return
	}
	s.write(b)
}
