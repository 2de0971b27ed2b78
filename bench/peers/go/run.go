package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	typeCall    = "erasure.call.completed.v1"
	typeSummary = "erasure.request.completed.v1"
	ceSource    = "urn:erasure-bench-peer"
)

// job is one request record being worked on. pending counts the work that
// must end before the summary: call tasks still running and outcome events
// not yet acknowledged.
type job struct {
	p         *peer
	entry     *entry
	requestID string
	mu        sync.Mutex
	pending   int
	counts    map[string]int
	rejection *rejection
	aborted   bool // stopped before every call started: no summary
}

func (j *job) add(n int) {
	j.mu.Lock()
	j.pending += n
	j.mu.Unlock()
}

// count tallies a call's status for the summary; discover reads are
// evidence, not deletions, and are not counted.
func (j *job) count(status string) {
	if status == "discovered" {
		return
	}
	j.mu.Lock()
	j.counts[status]++
	j.mu.Unlock()
}

// release ends one unit of work; the last one sends the summary. Often
// called from a produce promise, where Produce must not be called: with
// the producer's buffer full it would block the goroutine that runs the
// promises, which are what empty the buffer (a deadlock seen at cap 8192).
func (j *job) release() {
	j.mu.Lock()
	j.pending--
	last := j.pending == 0
	j.mu.Unlock()
	if !last {
		return
	}
	if j.aborted {
		// Not finished, so never committed: the next owner redoes it.
		j.p.inReqs.Add(-1)
		j.p.requests.Done()
		return
	}
	go j.p.produceSummary(j)
}

func (p *peer) handleRecord(ctx context.Context, r *kgo.Record) {
	j := &job{p: p, entry: p.tracker.add(r), counts: map[string]int{}, pending: 1}
	p.requests.Add(1)
	p.inReqs.Add(1)
	req, rej := parseRequest(r.Value)
	if req != nil {
		j.requestID = req.RequestID
	}
	if j.requestID == "" {
		j.requestID = string(r.Key)
	}
	var pl *plan
	if rej == nil {
		pl, rej = p.planRequest(req)
	}
	if rej != nil {
		j.rejection = rej
		j.release()
		return
	}
	tasks := len(pl.calls) + len(pl.chains)
	j.add(tasks)
	for i := 0; i < tasks; i++ {
		// Shutting down: calls already started finish (they run on
		// their own context), the rest of this request is not started.
		if !p.acquire(ctx) {
			j.mu.Lock()
			j.aborted = true
			j.pending -= tasks - i
			j.mu.Unlock()
			break
		}
		if i < len(pl.calls) {
			c := pl.calls[i]
			go func() {
				p.runCall(j, c)
				j.release()
			}()
		} else {
			go p.runChain(j, pl.chains[i-len(pl.calls)])
		}
	}
	// The poll loop's own unit: no summary before every call started.
	j.release()
}

// acquire takes a call slot, blocking the poll loop while the cap is full:
// that is the peer's only backpressure.
func (p *peer) acquire(ctx context.Context) bool {
	select {
	case p.sem <- struct{}{}:
		p.inCalls.Add(1)
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *peer) releaseSlot() {
	p.inCalls.Add(-1)
	<-p.sem
}

// runCall makes one call (its slot already taken) and produces its outcome.
func (p *peer) runCall(j *job, c *call) {
	res := p.attempt(context.Background(), c)
	p.releaseSlot()
	j.count(res.status)
	p.produceCall(j, c, &res)
}

// runChain is an Algolia user: discover, delete each conversation found,
// then the user's messages.
func (p *peer) runChain(j *job, ch chain) {
	defer j.release()
	// Once started a chain runs to its end, during a drain too.
	ctx := context.Background()
	disc := p.discoverCall(ch)
	ok, body := p.runCallDiscover(ctx, j, disc, ch)
	if !ok {
		return
	}
	convs, err := conversations(body, ch)
	if err != nil {
		return
	}
	var wg sync.WaitGroup
	for _, cv := range convs {
		if !p.acquire(ctx) {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.runCall(j, p.deleteConversationCall(cv[0], cv[1]))
		}()
	}
	wg.Wait()
	if p.acquire(ctx) {
		p.runCall(j, p.deleteUserDataCall(ch))
	}
}

func (p *peer) runCallDiscover(ctx context.Context, j *job, c *call, ch chain) (bool, []byte) {
	res := p.attempt(ctx, c)
	p.releaseSlot()
	if res.status == "deleted" {
		convs, err := conversations(res.body, ch)
		if err == nil {
			res.status = "discovered"
			res.items = len(convs)
		} else {
			res.status, res.err = "failed", "discover: "+err.Error()
		}
	}
	j.count(res.status)
	p.produceCall(j, c, &res)
	return res.status == "discovered", res.body
}

type result struct {
	status    string
	retryable bool
	http      int
	attempts  int
	err       string
	started   time.Time
	finished  time.Time
	body      []byte
	items     int
}

// attempt runs the call with retries on 408, 425, 429, 5xx and transport
// errors: full-jitter exponential backoff, or the server's Retry-After when
// longer, within the call's budget.
func (p *peer) attempt(ctx context.Context, c *call) result {
	res := result{started: time.Now()}
	deadline := res.started.Add(p.cfg.budget)
	for {
		res.attempts++
		status, body, retryAfter, err := p.do(ctx, c)
		res.http, res.body = status, body
		var outcome string
		if err != nil {
			outcome, res.err = "retry", err.Error()
		} else {
			outcome, res.err = c.classify(status, body)
		}
		if outcome != "retry" {
			res.status = outcome
			break
		}
		wait := p.backoff(res.attempts)
		if retryAfter > wait {
			wait = retryAfter
		}
		if res.attempts >= p.cfg.maxAttempts || time.Now().Add(wait).After(deadline) || ctx.Err() != nil {
			res.status, res.retryable = "failed", true
			break
		}
		time.Sleep(wait)
	}
	res.finished = time.Now()
	return res
}

func (p *peer) backoff(attempt int) time.Duration {
	d := p.cfg.backoffBase << min(attempt-1, 20)
	if d > p.cfg.backoffMax || d <= 0 {
		d = p.cfg.backoffMax
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}

func (p *peer) do(ctx context.Context, c *call) (int, []byte, time.Duration, error) {
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, body)
	if err != nil {
		return 0, nil, 0, err
	}
	for _, h := range c.headers {
		req.Header.Set(h[0], h[1])
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, 0, err
	}
	return resp.StatusCode, data, retryAfter(resp.Header.Get("Retry-After")), nil
}

// retryAfter reads delay-seconds or an HTTP date (RFC 9110 10.2.3).
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// ---- classification (config/providers.conf's rules and defaults) ----

func retryStatus(s int) bool {
	return s == 408 || s == 425 || s == 429 || s >= 500
}

func classifyFallback(status int, body []byte, successRule bool) (string, string) {
	switch {
	case status >= 200 && status < 300 && !successRule:
		return "deleted", ""
	case status >= 200 && status < 300:
		return "failed", "unexpected response"
	case retryStatus(status):
		return "retry", fmt.Sprintf("HTTP %d", status)
	}
	return "failed", fmt.Sprintf("HTTP %d: %.200s", status, body)
}

func classifyDefault(status int, body []byte) (string, string) {
	return classifyFallback(status, body, false)
}

func classifyVectara(status int, body []byte) (string, string) {
	switch {
	case status == 204:
		return "deleted", ""
	case status == 404 && bytes.Contains(body, []byte(`"session_not_found"`)):
		return "already_absent", ""
	case status == 404:
		return "failed", fmt.Sprintf("HTTP 404: %.200s", body)
	}
	return classifyFallback(status, body, true)
}

func jsonField(body []byte, field string) any {
	var doc map[string]any
	if json.Unmarshal(body, &doc) != nil {
		return nil
	}
	return doc[field]
}

func classifyConvai(status int, body []byte) (string, string) {
	if status == 200 && jsonField(body, "status") == "SUCCESSFULLY DELETED" {
		return "deleted", ""
	}
	return classifyFallback(status, body, true)
}

func classifyAvaamo(status int, body []byte) (string, string) {
	if status == 200 && jsonField(body, "success") == true {
		return "deleted", ""
	}
	return classifyFallback(status, body, true)
}

// ---- outcome events ----

func key(parts ...string) string {
	h := sha256.New()
	for i, s := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

type verification struct {
	Status     string  `json:"status"`
	HTTPStatus *int    `json:"http_status"`
	Attempts   int     `json:"attempts"`
	CheckedAt  *string `json:"checked_at"`
}

type callEvent struct {
	Key          string        `json:"idempotency_key"`
	RequestID    string        `json:"request_id"`
	Provider     string        `json:"provider"`
	Account      string        `json:"account"`
	Action       string        `json:"action"`
	Resource     string        `json:"resource"`
	Status       string        `json:"status"`
	Retryable    bool          `json:"retryable"`
	HTTPStatus   *int          `json:"http_status"`
	Attempts     int           `json:"attempts"`
	Error        *string       `json:"error"`
	StartedAt    string        `json:"started_at"`
	FinishedAt   string        `json:"finished_at"`
	Scope        string        `json:"scope"`
	Verification *verification `json:"verification"`
	Items        *int          `json:"items,omitempty"`
}

func (p *peer) produceCall(j *job, c *call, r *result) {
	ev := callEvent{
		Key: key(j.requestID, c.provider, "default", c.action, c.resource), RequestID: j.requestID,
		Provider: c.provider, Account: "default", Action: c.action, Resource: c.resource,
		Status: r.status, Retryable: r.retryable, Attempts: r.attempts,
		StartedAt: stamp(r.started), FinishedAt: stamp(r.finished), Scope: "user",
	}
	if c.agentScope {
		ev.Scope = "agent"
	}
	if r.http > 0 {
		ev.HTTPStatus = &r.http
	}
	if r.status == "failed" {
		ev.Error = &r.err
	}
	if r.status == "deleted" || r.status == "already_absent" {
		// No read-back here: what erasure-worker says of an action
		// without one.
		ev.Verification = &verification{Status: "not_supported"}
	}
	if r.status == "discovered" {
		ev.Items = &r.items
	}
	p.produceEvent(j, ev.Key, typeCall, r.finished, ev)
}

type summaryEvent struct {
	Key           string         `json:"idempotency_key"`
	RequestID     string         `json:"request_id"`
	Status        string         `json:"status"`
	Counts        map[string]int `json:"counts"`
	Calls         int            `json:"calls"`
	Error         *string        `json:"error"`
	ErrorCode     *string        `json:"error_code"`
	FinishedAt    string         `json:"finished_at"`
	Verification  map[string]int `json:"verification"`
	FullyVerified bool           `json:"fully_verified"`
	Discovered    int            `json:"discovered"`
}

func overall(counts map[string]int, rejected bool) string {
	ok := counts["deleted"] + counts["already_absent"]
	switch {
	case rejected || counts["rejected"] > 0:
		return "rejected"
	case counts["failed"] == 0:
		return "completed"
	case ok == 0:
		return "failed"
	}
	return "partially_failed"
}

func (p *peer) produceSummary(j *job) {
	now := time.Now()
	j.mu.Lock()
	counts := map[string]int{"deleted": j.counts["deleted"], "already_absent": j.counts["already_absent"],
		"failed": j.counts["failed"], "rejected": j.counts["rejected"]}
	notSupported := counts["deleted"] + counts["already_absent"]
	j.mu.Unlock()
	ev := summaryEvent{
		Key: key(j.requestID, "", "", "summary", ""), RequestID: j.requestID,
		Status: overall(counts, j.rejection != nil), Counts: counts,
		Calls:      counts["deleted"] + counts["already_absent"] + counts["failed"] + counts["rejected"],
		FinishedAt: stamp(now),
		Verification: map[string]int{"verified": 0, "unverified": 0,
			"not_supported": notSupported},
	}
	if j.rejection != nil {
		ev.Error, ev.ErrorCode = &j.rejection.msg, &j.rejection.code
	}
	// The summary is the last event: its acknowledgement finishes the record.
	p.produceEventThen(j, ev.Key, typeSummary, now, ev, func() {
		p.tracker.finish(j.entry)
		p.inReqs.Add(-1)
		p.requests.Done()
	})
}

func (p *peer) produceEvent(j *job, k, ceType string, at time.Time, ev any) {
	j.add(1)
	p.produceEventThen(j, k, ceType, at, ev, j.release)
}

// produceEventThen sends one CloudEvents-style outcome (Kafka binary mode:
// headers as erasure-worker's) and runs done once it is acknowledged.
func (p *peer) produceEventThen(j *job, k, ceType string, at time.Time, ev any, done func()) {
	body, err := json.Marshal(ev)
	if err != nil {
		p.die(fmt.Errorf("outcome json: %w", err))
		return
	}
	rec := &kgo.Record{
		Topic: p.cfg.outcomesTopic, Key: []byte(j.requestID), Value: body,
		Headers: []kgo.RecordHeader{
			{Key: "ce_specversion", Value: []byte("1.0")},
			{Key: "ce_id", Value: []byte(key(k, string(body)))},
			{Key: "ce_source", Value: []byte(ceSource)},
			{Key: "ce_type", Value: []byte(ceType)},
			{Key: "ce_time", Value: []byte(stamp(at))},
			{Key: "ce_subject", Value: []byte(j.requestID)},
			{Key: "content-type", Value: []byte("application/json")},
			{Key: "idempotency-key", Value: []byte(k)},
		},
	}
	p.producer.Produce(context.Background(), rec, func(_ *kgo.Record, err error) {
		if err != nil {
			// The idempotent producer gave up: nothing after this may
			// be committed, so stop (a restart redoes the records).
			p.die(fmt.Errorf("produce: %w", err))
			return
		}
		done()
	})
}
