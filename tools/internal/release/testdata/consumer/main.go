// Command consumer is a Plumtree node built from the released modules:
// memberlist membership and Plumtree over TCP on one port, Prometheus
// metrics on another. Every line typed on stdin is broadcast to the cluster;
// every message delivered is printed.
//
//	consumer -name a -bind 127.0.0.1:7946
//	consumer -name b -bind 127.0.0.1:7956 -join 127.0.0.1:7946 -metrics 127.0.0.1:9091
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/plumtree-go/plumtree/core"
	"github.com/plumtree-go/plumtree/core/node"
	"github.com/plumtree-go/plumtree/membership"
	metricsprom "github.com/plumtree-go/plumtree/metrics-prom"
	tcp "github.com/plumtree-go/plumtree/transport-tcp"
	"github.com/prometheus/client_golang/prometheus"
)

func main() {
	name := flag.String("name", "a", "the node's name, unique in the cluster")
	bind := flag.String("bind", "127.0.0.1:7946", "the node's one port: memberlist and Plumtree")
	join := flag.String("join", "", "comma-separated addresses of nodes to join")
	metricsAddr := flag.String("metrics", "127.0.0.1:9090", "where to serve /metrics")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, core.PeerID(*name), *bind, *join, *metricsAddr); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, self core.PeerID, bind, join, metricsAddr string) error {
	var seeds []string
	if join != "" {
		seeds = strings.Split(join, ",")
	}
	cfg := core.LANConfig()

	// Membership owns the port; the transport shares it.
	m, err := membership.New(self, membership.WithBindAddr(bind), membership.WithSeeds(seeds...))
	if err != nil {
		return err
	}
	tr, err := tcp.New(self,
		tcp.WithListener(m.Listener()),
		tcp.WithStreamHandler(m.HandleStream),
		tcp.WithMaxFrameSize(tcp.MaxFrameSizeFor(cfg)))
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	metrics, err := metricsprom.Register(reg, metricsprom.WithNode(string(self)))
	if err != nil {
		return err
	}
	deliver := node.DeliverFunc(func(d core.Delivery) {
		fmt.Printf("%s (from %s, %d hops): %s\n", d.ID, d.From, d.Hops, d.Payload)
	})
	n, err := node.New(cfg, self, tr, deliver, node.WithObserver(m), node.WithObserver(metrics))
	if err != nil {
		return err
	}
	metrics.SetStats(func() core.Stats { return n.Stats().Stats })
	metrics.SetHealth(n.Health)
	srv, err := metricsprom.Listen(metricsAddr, reg)
	if err != nil {
		return err
	}
	if err := m.Start(ctx, n, tr); err != nil {
		return err
	}

	go func() {
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			if _, err := n.Broadcast(ctx, []byte(in.Text())); err != nil {
				log.Print(err)
			}
		}
	}()
	<-ctx.Done()

	// Leave the cluster, then stop.
	_ = m.Leave(2 * time.Second)
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = m.Shutdown(shut)
	_ = srv.Shutdown(shut)
	return n.Shutdown(shut)
}
