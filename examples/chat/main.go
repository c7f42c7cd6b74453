package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/examples/internal/stack"
)

func main() {
	var (
		name   = flag.String("name", "", "your name, unique in the chat (default: $USER plus a short random suffix)")
		bind   = flag.String("bind", "127.0.0.1", "address to listen on (0.0.0.0 for other machines)")
		port   = flag.Int("port", 7946, "port (memberlist and Plumtree share it)")
		join   = flag.String("join", "", "comma-separated addresses of chat members to join (host:port)")
		preset = flag.String("preset", "lan", "timing preset: lan, wan, local")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var seeds []string
	for _, s := range strings.Split(*join, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if *name == "" {
		*name = defaultName(os.Getenv("USER"))
		fmt.Printf("* no -name given: you are %s (choose one with -name)\n", *name)
	}
	err := chat(ctx, chatConfig{
		Name: *name, Bind: net.JoinHostPort(*bind, strconv.Itoa(*port)), Seeds: seeds, Preset: *preset,
	}, os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

// defaultName is user (or "anon") with a short random suffix, so that two
// chats started without -name do not claim the same name.
func defaultName(user string) string {
	if user == "" {
		user = "anon"
	}
	var b [2]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s", user, hex.EncodeToString(b[:]))
}

type chatConfig struct {
	Name   string
	Bind   string
	Seeds  []string
	Preset string
	// MemberPoll is how often membership changes are checked and
	// announced. Default 500 ms.
	MemberPoll time.Duration
}

// chat runs one chat member until in ends, /quit is typed or ctx is done.
func chat(ctx context.Context, cfg chatConfig, in io.Reader, out io.Writer) error {
	if cfg.MemberPoll == 0 {
		cfg.MemberPoll = 500 * time.Millisecond
	}
	var mu sync.Mutex // serialises writes to out
	printf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format, args...)
	}
	self := core.PeerID(cfg.Name)
	s, err := stack.Start(ctx, stack.Config{
		Name:     cfg.Name,
		BindAddr: cfg.Bind,
		Seeds:    cfg.Seeds,
		Preset:   cfg.Preset,
		Delegate: node.DeliverFunc(func(d core.Delivery) {
			if d.ID.Origin == self {
				return // our own line, already on screen
			}
			printf("<%s> %s\n", d.ID.Origin, d.Payload)
		}),
	})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Stop(sctx, 2*time.Second)
	}()
	printf("* %s listening on %s; /who lists members, /quit leaves\n", cfg.Name, s.Addr())

	// Announce members joining and leaving.
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(cfg.MemberPoll)
		defer t.Stop()
		known := map[string]bool{}
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			now := map[string]bool{}
			for _, m := range s.Membership.Members() {
				if m.Plumtree && !m.Self {
					now[m.Name] = true
				}
			}
			for n := range now {
				if !known[n] {
					printf("* %s joined\n", n)
				}
			}
			for n := range known {
				if !now[n] {
					printf("* %s left\n", n)
				}
			}
			known = now
		}
	}()

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-done:
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.Membership.Done():
			// Our name is taken by a live member: refuse to chat under it.
			return s.Membership.Err()
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			line = strings.TrimSpace(line)
			switch {
			case line == "":
			case line == "/quit":
				return nil
			case line == "/who":
				var names []string
				for _, m := range s.Membership.Members() {
					if m.Plumtree {
						names = append(names, m.Name)
					}
				}
				slices.Sort(names)
				printf("* members: %s\n", strings.Join(names, ", "))
			default:
				if _, err := s.Node.Broadcast(ctx, []byte(line)); err != nil {
					printf("* not sent: %v\n", err)
				}
			}
		}
	}
}
