// Command peer is the benchmark's reference point: the erasure worker a
// team would write in Go with the usual libraries (franz-go, net/http),
// doing the same job as erasure-worker for the benchmark's requests. See
// bench/README.md ("The Go peer") for what it does and does not do.
//
// Shape: one poll loop parses and plans each request record and takes a
// slot of a semaphore (the in-flight cap) per HTTP call; each call runs in
// its own goroutine, with retries; its outcome event is produced
// asynchronously, and when every outcome of a request is acknowledged its
// summary follows. A record's offset is committed once it and every
// earlier record of its partition have their summary acknowledged.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

type config struct {
	brokers        string
	group          string
	requestsTopic  string
	outcomesTopic  string
	base           string
	algoliaAppID   string
	cap            int
	maxAttempts    int
	backoffBase    time.Duration
	backoffMax     time.Duration
	callTimeout    time.Duration
	budget         time.Duration
	commitInterval time.Duration
	drainTimeout   time.Duration
	metricsAddr    string
	allowAgentWide bool
}

func parseFlags() config {
	var c config
	flag.StringVar(&c.brokers, "brokers", "127.0.0.1:9092", "Kafka bootstrap servers, comma-separated")
	flag.StringVar(&c.group, "group", "erasure-peer", "consumer group")
	flag.StringVar(&c.requestsTopic, "requests", "erasure.requests", "request topic")
	flag.StringVar(&c.outcomesTopic, "outcomes", "erasure.outcomes", "outcome topic")
	flag.StringVar(&c.base, "base", "", "provider base URL; vendors under /vectara, /convai, /algolia/agent-studio, /avaamo")
	flag.StringVar(&c.algoliaAppID, "algolia-app-id", "TESTAPP42", "Algolia application id")
	flag.IntVar(&c.cap, "cap", 256, "HTTP calls in flight at most")
	flag.IntVar(&c.maxAttempts, "max-attempts", 3, "attempts per call, the first included")
	flag.DurationVar(&c.backoffBase, "backoff-base", 100*time.Millisecond, "first retry backoff (full jitter, doubling)")
	flag.DurationVar(&c.backoffMax, "backoff-max", time.Second, "largest retry backoff")
	flag.DurationVar(&c.callTimeout, "timeout", 60*time.Second, "one HTTP attempt")
	flag.DurationVar(&c.budget, "budget", 120*time.Second, "one call, all attempts")
	flag.DurationVar(&c.commitInterval, "commit-interval", 100*time.Millisecond, "offset commit period")
	flag.DurationVar(&c.drainTimeout, "drain-timeout", 30*time.Second, "wait for calls in flight on SIGTERM")
	flag.StringVar(&c.metricsAddr, "metrics", "127.0.0.1:0", "address of /metrics and /readyz")
	flag.BoolVar(&c.allowAgentWide, "allow-agent-wide", true, "run agent-wide deletions (Algolia by date, Avaamo)")
	flag.Parse()
	if c.base == "" {
		log.Fatal("peer: -base is required")
	}
	if c.cap < 1 || c.maxAttempts < 1 {
		log.Fatal("peer: -cap and -max-attempts must be at least 1")
	}
	return c
}

// producer is the part of *kgo.Client outcome events go through.
type producer interface {
	Produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error))
}

// peer holds what every goroutine shares.
type peer struct {
	cfg      config
	cl       *kgo.Client
	producer producer // cl, but a test's fake too
	http     *http.Client
	sem      chan struct{}
	secrets  map[string]string
	tracker  *tracker
	requests sync.WaitGroup // requests not yet summarised and acknowledged
	inCalls  atomic.Int64
	inReqs   atomic.Int64
	ready    atomic.Bool
	fatal    chan error
}

func main() {
	cfg := parseFlags()
	p := &peer{cfg: cfg, sem: make(chan struct{}, cfg.cap), fatal: make(chan error, 1)}
	p.secrets = map[string]string{}
	for _, k := range []string{"VECTARA_API_KEY", "CONVAI_API_KEY", "ALGOLIA_API_KEY", "AVAAMO_ACCESS_TOKEN"} {
		p.secrets[k] = os.Getenv(k)
		if p.secrets[k] == "" {
			log.Fatalf("peer: %s is not set", k)
		}
	}
	p.http = newHTTPClient(cfg)
	p.tracker = newTracker()
	if err := p.newKafka(); err != nil {
		log.Fatalf("peer: kafka: %v", err)
	}
	addr, err := p.serveMetrics()
	if err != nil {
		log.Fatalf("peer: metrics: %v", err)
	}
	log.Printf("peer: metrics on %s, cap %d", addr, cfg.cap)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	committerDone := make(chan struct{})
	go func() {
		p.commitLoop(ctx)
		close(committerDone)
	}()
	err = p.pollLoop(ctx)
	<-committerDone
	code := p.shutdown(err)
	os.Exit(code)
}

func newHTTPClient(cfg config) *http.Client {
	// Every call in flight needs its own HTTP/1.1 connection: keep as many
	// idle ones as the cap, or the transport closes and reopens them.
	t := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        cfg.cap,
		MaxIdleConnsPerHost: cfg.cap,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: t, Timeout: cfg.callTimeout}
}

func (p *peer) newKafka() error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(p.cfg.brokers, ",")...),
		kgo.ConsumerGroup(p.cfg.group),
		kgo.ConsumeTopics(p.cfg.requestsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(p.onAssigned),
		kgo.OnPartitionsRevoked(p.onRevoked),
		kgo.OnPartitionsLost(p.onLost),
		// The same producer settings as erasure-worker's defaults;
		// franz-go is idempotent with acks=all by default.
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.RecordDeliveryTimeout(300*time.Second),
	)
	if err != nil {
		return err
	}
	p.cl, p.producer = cl, cl
	return nil
}

func (p *peer) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	for _, parts := range assigned {
		for _, part := range parts {
			p.tracker.assign(part)
		}
	}
	p.ready.Store(true)
}

// On a revocation the finished prefix is committed before the partition
// goes; calls still running for it finish, but their records are left to
// the next owner (at least once: the idempotency keys make it safe).
func (p *peer) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	for _, parts := range revoked {
		recs := p.tracker.revoke(parts)
		if len(recs) > 0 {
			if err := cl.CommitRecords(ctx, recs...); err != nil {
				log.Printf("peer: commit on revoke: %v", err)
			}
		}
	}
}

func (p *peer) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	for _, parts := range lost {
		p.tracker.revoke(parts)
	}
}

func (p *peer) pollLoop(ctx context.Context) error {
	for {
		fetches := p.cl.PollRecords(ctx, 1000)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		select {
		case err := <-p.fatal:
			return err
		default:
		}
		fetches.EachError(func(t string, part int32, err error) {
			if !errors.Is(err, context.Canceled) {
				log.Printf("peer: fetch %s/%d: %v", t, part, err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			if ctx.Err() == nil {
				p.handleRecord(ctx, r)
			}
		})
	}
}

func (p *peer) commitLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.commitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.commitReady(ctx)
		}
	}
}

func (p *peer) commitReady(ctx context.Context) {
	recs := p.tracker.committable()
	if len(recs) == 0 {
		return
	}
	if err := p.cl.CommitRecords(ctx, recs...); err != nil && ctx.Err() == nil {
		log.Printf("peer: commit: %v", err)
	}
}

// shutdown waits for what is in flight, commits it and leaves the group.
func (p *peer) shutdown(loopErr error) int {
	done := make(chan struct{})
	go func() {
		p.requests.Wait()
		close(done)
	}()
	code := 0
	select {
	case <-done:
	case <-time.After(p.cfg.drainTimeout):
		log.Printf("peer: drain timed out with %d requests in flight", p.inReqs.Load())
		code = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.commitReady(ctx)
	p.cl.Close()
	if loopErr != nil {
		log.Printf("peer: %v", loopErr)
		return 1
	}
	return code
}

func (p *peer) die(err error) {
	select {
	case p.fatal <- err:
	default:
	}
}

func (p *peer) serveMetrics() (string, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "erasure_calls_in_flight %d\nerasure_requests_in_flight %d\n",
			p.inCalls.Load(), p.inReqs.Load())
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !p.ready.Load() {
			http.Error(w, "not assigned", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return listenAndServe(p.cfg.metricsAddr, mux)
}
