package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
)

// What a benchmark process counts as its traffic ("bytes on the wire"):
//
//   - every byte the process hands to write/writev on a socket, read from
//     the kernel's per-process counter (/proc/self/io wchar): all TCP
//     traffic of every system, framing, handshakes, TLS/Noise and stream
//     multiplexing included. The process writes nothing else while it
//     measures but its own progress lines, which are subtracted;
//   - every UDP datagram memberlist sends (sendto is not in wchar), from
//     memberlist's own counter of the bytes it sends (memberlist.udp.sent:
//     packet bodies after compression, CRC and encryption, without the
//     IP/UDP headers).
//
// IP and TCP headers are not counted for any system. wchar also holds the Go
// runtime's 8-byte eventfd wake-ups of its network poller (a few bytes per
// second idle, well under 1 % of the traffic measured).

// snapshot is the process's cumulative resource use at one instant.
type snapshot struct {
	at      time.Time
	cpu     time.Duration // user + system CPU of the whole process
	written int64         // socket bytes written (wchar less our own output)
	udp     int64         // memberlist UDP bytes sent
	csw     int64         // context switches of the whole process, voluntary and not
	mem     memSnapshot
}

// memSnapshot is the Go runtime's cumulative allocation and GC counts (read
// through runtime/metrics, which does not stop the world).
type memSnapshot struct {
	allocs     uint64 // heap objects allocated
	allocBytes uint64 // heap bytes allocated
	gcs        uint64 // completed GC cycles
	liveBytes  uint64 // heap bytes marked live by the last GC
}

var memSamples = []metrics.Sample{
	{Name: "/gc/heap/allocs:objects"},
	{Name: "/gc/heap/allocs:bytes"},
	{Name: "/gc/cycles/total:gc-cycles"},
	{Name: "/gc/heap/live:bytes"},
}

var memMu sync.Mutex // memSamples is shared

func takeMem() memSnapshot {
	memMu.Lock()
	defer memMu.Unlock()
	metrics.Read(memSamples)
	v := func(i int) uint64 {
		if memSamples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return memSamples[i].Value.Uint64()
	}
	return memSnapshot{allocs: v(0), allocBytes: v(1), gcs: v(2), liveBytes: v(3)}
}

func (s snapshot) bytes() int64 { return s.written + s.udp }

var progressBytes atomic.Int64 // bytes of our own output, subtracted from wchar

func take() snapshot {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return snapshot{at: time.Now(), cpu: cpu, written: wchar() - progressBytes.Load(), udp: int64(udpSink.udpSent()),
		csw: ru.Nvcsw + ru.Nivcsw, mem: takeMem()}
}

// wchar reads the bytes the process has written with write-like system
// calls (-1 when the kernel does not tell).
func wchar() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("wchar:")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// checkCounters fails when the process cannot count its socket bytes.
func checkCounters() error {
	if wchar() < 0 {
		return fmt.Errorf("bench: /proc/self/io is not readable: bytes on the wire cannot be counted on this system")
	}
	return nil
}

// countingSink receives memberlist's metrics and keeps the UDP bytes sent
// and memberlist's event counters (suspicions, failed probes, TCP streams),
// which show whether membership churned during a phase.
type countingSink struct {
	mu     sync.Mutex
	udp    float64
	events [len(mlEvents)]float64
}

// mlEvents are the memberlist counters kept (the last two parts of their
// keys, after "memberlist").
var mlEvents = [...][2]string{
	{"msg", "alive"}, {"msg", "suspect"}, {"msg", "dead"},
	{"degraded", "probe"}, {"degraded", "timeout"},
	{"tcp", "connect"}, {"tcp", "accept"},
}

var (
	udpSink     = &countingSink{}
	installSink sync.Once
)

// installMetrics routes go-metrics (memberlist's metrics) to udpSink. No
// service name: go-metrics would prefix it to every key, a new slice per
// metric call that a process on go-metrics' default sink does not pay.
func installMetrics() {
	installSink.Do(func() {
		cfg := gometrics.DefaultConfig("")
		cfg.EnableHostname = false
		cfg.EnableRuntimeMetrics = false
		cfg.EnableServiceLabel = false
		cfg.EnableHostnameLabel = false
		_, _ = gometrics.NewGlobal(cfg, udpSink)
	})
}

func (s *countingSink) udpSent() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return math.Round(s.udp)
}

func isUDPSent(key []string) bool {
	n := len(key)
	return n >= 3 && key[n-3] == "memberlist" && key[n-2] == "udp" && key[n-1] == "sent"
}

func (s *countingSink) IncrCounter(key []string, val float32) {
	if isUDPSent(key) {
		s.mu.Lock()
		s.udp += float64(val)
		s.mu.Unlock()
		return
	}
	n := len(key)
	if n < 3 || key[n-3] != "memberlist" {
		return
	}
	for i, e := range mlEvents {
		if key[n-2] == e[0] && key[n-1] == e[1] {
			s.mu.Lock()
			s.events[i] += float64(val)
			s.mu.Unlock()
			return
		}
	}
}

// memberlistEvents returns memberlist's event counters so far, keyed
// "memberlist_msg_suspect" and so on (nil when memberlist has counted none).
func (s *countingSink) memberlistEvents() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m map[string]int64
	for i, e := range mlEvents {
		if s.events[i] == 0 {
			continue
		}
		if m == nil {
			m = make(map[string]int64, len(mlEvents))
		}
		m["memberlist_"+e[0]+"_"+e[1]] = int64(math.Round(s.events[i]))
	}
	return m
}

func (s *countingSink) IncrCounterWithLabels(key []string, val float32, _ []gometrics.Label) {
	s.IncrCounter(key, val)
}
func (s *countingSink) SetGauge([]string, float32)                                       {}
func (s *countingSink) SetGaugeWithLabels([]string, float32, []gometrics.Label)          {}
func (s *countingSink) SetPrecisionGauge([]string, float64)                              {}
func (s *countingSink) SetPrecisionGaugeWithLabels([]string, float64, []gometrics.Label) {}
func (s *countingSink) EmitKey([]string, float32)                                        {}
func (s *countingSink) AddSample([]string, float32)                                      {}
func (s *countingSink) AddSampleWithLabels([]string, float32, []gometrics.Label)         {}

// countWriter passes writes on and counts them as our own output (the
// progress display, and the traces and profiles a process writes while it
// measures: wchar counts file writes too).
type countWriter struct{ w *os.File }

func (c countWriter) Write(p []byte) (int, error) {
	progressBytes.Add(int64(len(p)))
	return c.w.Write(p)
}
