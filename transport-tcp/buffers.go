package tcp

import (
	"bufio"
	"io"
	"sync"
)

// readers and writers pool the connections' read buffers and the writers'
// write buffers (bufSize each): anti-entropy digests to random members open
// connections all the time, and the idle timeout closes them again, so
// without the pools each connection would leave 32 KiB at each end, and
// its writer another 32 KiB, for the garbage collector.
var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufSize) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufSize) }}
)

func newReader(r io.Reader) *bufio.Reader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

// freeReader returns br to the pool; nothing may read from it any more.
func freeReader(br *bufio.Reader) {
	br.Reset(nil)
	readers.Put(br)
}

func newWriter(w io.Writer) *bufio.Writer {
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(w)
	return bw
}

// freeWriter returns bw to the pool; nothing may write to it any more.
func freeWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	writers.Put(bw)
}
