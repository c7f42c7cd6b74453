package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// unicast is the bound: the origin writes the payload to every other node
// over a persistent TCP connection per pair (4-byte length prefix), and the
// receiver delivers it. No protocol, no relaying: each node gets exactly one
// copy, sent by the origin itself.
type unicast struct {
	env   *env
	lns   []net.Listener
	conns [][]*ucConn // [from][to]
	wg    sync.WaitGroup
}

type ucConn struct {
	mu sync.Mutex
	c  net.Conn
	w  []byte
}

func (u *unicast) start(ctx context.Context, e *env) error {
	u.env = e
	n := e.n
	u.conns = make([][]*ucConn, n)
	for i := range u.conns {
		u.conns[i] = make([]*ucConn, n)
	}
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(e.ip, "0"))
		if err != nil {
			return err
		}
		u.lns = append(u.lns, ln)
	}
	// One connection per pair: i dials every j > i; both ends write on it.
	type accepted struct {
		to int
		c  net.Conn
	}
	acc := make(chan accepted, n*n)
	for j, ln := range u.lns {
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				acc <- accepted{j, c}
			}
		}()
	}
	var d net.Dialer
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			c, err := d.DialContext(ctx, "tcp", u.lns[j].Addr().String())
			if err != nil {
				return err
			}
			var hello [4]byte
			binary.BigEndian.PutUint32(hello[:], uint32(i))
			if _, err := c.Write(hello[:]); err != nil {
				return err
			}
			u.conns[i][j] = &ucConn{c: c}
			u.serve(j, c, i) // i's reader of what j sends
		}
	}
	for k := 0; k < n*(n-1)/2; k++ {
		var a accepted
		select {
		case a = <-acc:
		case <-ctx.Done():
			return ctx.Err()
		}
		var hello [4]byte
		if _, err := io.ReadFull(a.c, hello[:]); err != nil {
			return err
		}
		from := int(binary.BigEndian.Uint32(hello[:]))
		if from >= n || u.conns[a.to][from] != nil {
			return fmt.Errorf("unicast: bad hello %d", from)
		}
		u.conns[a.to][from] = &ucConn{c: a.c}
		u.serve(from, a.c, a.to)
	}
	return nil
}

// serve reads frames sent by from on c and delivers them at node to.
func (u *unicast) serve(from int, c net.Conn, to int) {
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		r := bufio.NewReaderSize(c, 64<<10)
		var hdr [4]byte
		for {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				return
			}
			size := binary.BigEndian.Uint32(hdr[:])
			if size > 64<<20 {
				return
			}
			p := make([]byte, size)
			if _, err := io.ReadFull(r, p); err != nil {
				return
			}
			u.env.rec.deliver(to, p)
		}
	}()
	_ = from
}

func (u *unicast) publish(_ context.Context, origin int, payload []byte) error {
	var errs []error
	for to, c := range u.conns[origin] {
		if c == nil {
			continue
		}
		c.mu.Lock()
		c.w = binary.BigEndian.AppendUint32(c.w[:0], uint32(len(payload)))
		c.w = append(c.w, payload...)
		_, err := c.c.Write(c.w)
		c.mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("to %d: %w", to, err))
		}
	}
	return errors.Join(errs...)
}

// copies: every payload sent is a delivery (no redundancy by construction).
func (u *unicast) copies() int64 { return u.env.rec.total.Load() + u.env.rec.dups.Load() }

func (u *unicast) close() {
	for _, ln := range u.lns {
		_ = ln.Close()
	}
	for _, row := range u.conns {
		for _, c := range row {
			if c != nil {
				_ = c.c.Close()
			}
		}
	}
	u.wg.Wait()
}
