package main

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// fakeProducer keeps franz-go's rules that matter here: Produce blocks
// while `room` records are buffered, promises run one at a time on one
// goroutine, and a record leaves the buffer after its promise returns.
type fakeProducer struct {
	mu      sync.Mutex
	cond    *sync.Cond
	room    int
	queued  []*kgo.Record
	promise map[*kgo.Record]func(*kgo.Record, error)
	acked   []*kgo.Record
	hold    bool // no acknowledgements yet
}

func newFakeProducer(room int) *fakeProducer {
	f := &fakeProducer{room: room, promise: map[*kgo.Record]func(*kgo.Record, error){}}
	f.cond = sync.NewCond(&f.mu)
	go f.ackLoop()
	return f
}

func (f *fakeProducer) Produce(_ context.Context, r *kgo.Record, p func(*kgo.Record, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.queued) >= f.room {
		f.cond.Wait()
	}
	f.queued = append(f.queued, r)
	f.promise[r] = p
	f.cond.Broadcast()
}

func (f *fakeProducer) ackLoop() {
	for {
		f.mu.Lock()
		for len(f.queued) == 0 || f.hold {
			f.cond.Wait()
		}
		r := f.queued[0]
		p := f.promise[r]
		f.mu.Unlock()
		p(r, nil)
		f.mu.Lock()
		f.queued = f.queued[1:]
		f.acked = append(f.acked, r)
		f.cond.Broadcast()
		f.mu.Unlock()
	}
}

func (f *fakeProducer) types() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.acked {
		for _, h := range r.Headers {
			if h.Key == "ce_type" {
				out = append(out, string(h.Value))
			}
		}
	}
	return out
}

func release(f *fakeProducer) {
	f.mu.Lock()
	f.hold = false
	f.cond.Broadcast()
	f.mu.Unlock()
}

// A request's summary follows its last acknowledged outcome even when the
// producer's buffer is full at that moment, and only the summary's
// acknowledgement makes the record committable.
func TestSummaryAfterOutcomesWithAFullBuffer(t *testing.T) {
	f := newFakeProducer(1)
	f.hold = true
	p := testPeer()
	p.producer, p.tracker, p.sem = f, newTracker(), make(chan struct{}, 4)
	p.cfg.outcomesTopic = "out"
	e := p.tracker.add(&kgo.Record{Partition: 0, Offset: 41})
	j := &job{p: p, entry: e, requestID: "r1", counts: map[string]int{}, pending: 1}
	p.requests.Add(1)
	c := &call{provider: "vectara", action: "delete_session", resource: "agt_a/ase_1"}
	now := time.Now()
	p.produceCall(j, c, &result{status: "deleted", http: 204, attempts: 1, started: now, finished: now})
	j.count("deleted")
	j.release() // the call task ends; its outcome is still unacknowledged
	if got := p.tracker.committable(); len(got) != 0 {
		t.Fatal("committable before any acknowledgement")
	}
	release(f)
	done := make(chan struct{})
	go func() { p.requests.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("no summary: producing from inside a promise deadlocked")
	}
	if got := f.types(); len(got) != 2 || got[0] != typeCall || got[1] != typeSummary {
		t.Fatalf("events %v", got)
	}
	if got := p.tracker.committable(); len(got) != 1 || got[0].Offset != 41 {
		t.Fatalf("committable %v", got)
	}
	var sum summaryEvent
	f.mu.Lock()
	err := json.Unmarshal(f.acked[1].Value, &sum)
	f.mu.Unlock()
	if err != nil || sum.Status != "completed" || sum.Counts["deleted"] != 1 || sum.Calls != 1 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
}

// A request cut short by shutdown before all its calls started gets no
// summary and is never committed: the next owner of the partition redoes
// it.
func TestShutdownAbortsUnstartedRequest(t *testing.T) {
	f := newFakeProducer(10)
	p := testPeer()
	p.producer, p.tracker, p.sem = f, newTracker(), make(chan struct{}, 1)
	p.cfg.outcomesTopic = "out"
	p.sem <- struct{}{} // the cap is full
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.handleRecord(ctx, &kgo.Record{Partition: 0, Offset: 7, Value: []byte(
		`{"version":1,"request_id":"r","targets":[{"provider":"vectara","agent_id":"agt_a","session_ids":["ase_1","ase_2"]}]}`)})
	done := make(chan struct{})
	go func() { p.requests.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("an aborted request was never let go")
	}
	if got := f.types(); len(got) != 0 {
		t.Fatalf("events %v for a request that made no call", got)
	}
	if got := p.tracker.committable(); len(got) != 0 {
		t.Fatalf("committable %v", got)
	}
}
