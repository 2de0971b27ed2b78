package main

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func rec(part int32, off int64) *kgo.Record {
	return &kgo.Record{Topic: "t", Partition: part, Offset: off}
}

func offsets(recs []*kgo.Record) map[int32]int64 {
	m := map[int32]int64{}
	for _, r := range recs {
		m[r.Partition] = r.Offset
	}
	return m
}

// Records finishing out of order commit only the finished prefix.
func TestTrackerCommitsOnlyTheFinishedPrefix(t *testing.T) {
	tr := newTracker()
	tr.assign(0)
	e0, e1, e2 := tr.add(rec(0, 10)), tr.add(rec(0, 11)), tr.add(rec(0, 12))
	tr.finish(e2)
	tr.finish(e1)
	if got := tr.committable(); len(got) != 0 {
		t.Fatalf("committed %v before offset 10 finished", offsets(got))
	}
	tr.finish(e0)
	if got := offsets(tr.committable()); got[0] != 12 {
		t.Fatalf("want the record at 12 (commit 13), got %v", got)
	}
	if got := tr.committable(); len(got) != 0 {
		t.Fatalf("nothing moved, yet %v", offsets(got))
	}
}

func TestTrackerKeepsPartitionsApart(t *testing.T) {
	tr := newTracker()
	a0, b0 := tr.add(rec(0, 5)), tr.add(rec(1, 7))
	a1 := tr.add(rec(0, 6))
	tr.finish(a1)
	tr.finish(b0)
	got := offsets(tr.committable())
	if _, ok := got[0]; ok || got[1] != 7 {
		t.Fatalf("want only partition 1 at 7, got %v", got)
	}
	tr.finish(a0)
	if got := offsets(tr.committable()); got[0] != 6 {
		t.Fatalf("want partition 0 at 6, got %v", got)
	}
}

// A revoked partition hands back what it may commit and forgets the rest.
func TestTrackerRevoke(t *testing.T) {
	tr := newTracker()
	e0, e1 := tr.add(rec(2, 0)), tr.add(rec(2, 1))
	tr.finish(e0)
	if got := offsets(tr.revoke([]int32{2})); got[2] != 0 {
		t.Fatalf("revoke: want offset 0, got %v", got)
	}
	tr.finish(e1)
	if got := tr.committable(); len(got) != 0 {
		t.Fatalf("a revoked partition committed %v", offsets(got))
	}
}
