package main

import (
	"net"
	"net/http"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// tracker knows, per partition, the records consumed in order and which
// are finished, so that only a finished prefix is ever committed.
type tracker struct {
	mu    sync.Mutex
	parts map[int32]*partition
}

type partition struct {
	queue   []*entry // consumed, oldest first, up to the first unfinished
	ready   *kgo.Record
	dirty   bool
	revoked bool
}

type entry struct {
	rec  *kgo.Record
	part *partition
	done bool
}

func newTracker() *tracker {
	return &tracker{parts: map[int32]*partition{}}
}

func (t *tracker) assign(part int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.parts[part]; !ok {
		t.parts[part] = &partition{}
	}
}

// add records a consumed record; records of a partition arrive in order.
func (t *tracker) add(r *kgo.Record) *entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.parts[r.Partition]
	if p == nil {
		// Fetched before the assignment callback ran: track it anyway.
		p = &partition{}
		t.parts[r.Partition] = p
	}
	e := &entry{rec: r, part: p}
	p.queue = append(p.queue, e)
	return e
}

// finish marks a record done and moves the partition's committable point
// past every finished record at the head of its queue.
func (t *tracker) finish(e *entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e.done = true
	p := e.part
	if p.revoked {
		return
	}
	n := 0
	for n < len(p.queue) && p.queue[n].done {
		p.ready = p.queue[n].rec
		p.dirty = true
		n++
	}
	if n > 0 {
		clear(p.queue[:n])
		p.queue = p.queue[n:]
	}
}

// committable returns the newest finished-prefix record of every
// partition that moved since the last call.
func (t *tracker) committable() []*kgo.Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	var recs []*kgo.Record
	for _, p := range t.parts {
		if p.dirty {
			recs = append(recs, p.ready)
			p.dirty = false
		}
	}
	return recs
}

// revoke forgets the partitions and returns what they may still commit.
func (t *tracker) revoke(parts []int32) []*kgo.Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	var recs []*kgo.Record
	for _, part := range parts {
		p := t.parts[part]
		if p == nil {
			continue
		}
		if p.dirty {
			recs = append(recs, p.ready)
		}
		p.revoked = true
		delete(t.parts, part)
	}
	return recs
}

func listenAndServe(addr string, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	go func() { _ = http.Serve(ln, h) }()
	return ln.Addr().String(), nil
}
