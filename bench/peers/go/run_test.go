package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		name   string
		f      func(int, []byte) (string, string)
		status int
		body   string
		want   string
	}{
		{"vectara 204", classifyVectara, 204, "", "deleted"},
		{"vectara 200", classifyVectara, 200, "{}", "failed"},
		{"vectara gone", classifyVectara, 404, `{"code":"session_not_found"}`, "already_absent"},
		{"vectara agent", classifyVectara, 404, `{"code":"agent_not_found"}`, "failed"},
		{"vectara 429", classifyVectara, 429, "", "retry"},
		{"convai ok", classifyConvai, 200, `{"status":"SUCCESSFULLY DELETED"}`, "deleted"},
		{"convai other", classifyConvai, 200, `{"status":"x"}`, "failed"},
		{"avaamo ok", classifyAvaamo, 200, `{"success":true}`, "deleted"},
		{"avaamo locked", classifyAvaamo, 200, `{"success":false}`, "failed"},
		{"default 204", classifyDefault, 204, "", "deleted"},
		{"default 408", classifyDefault, 408, "", "retry"},
		{"default 425", classifyDefault, 425, "", "retry"},
		{"default 503", classifyDefault, 503, "", "retry"},
		{"default 422", classifyDefault, 422, "{}", "failed"},
	}
	for _, c := range cases {
		if got, _ := c.f(c.status, []byte(c.body)); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

// A 429 with Retry-After: 1 is waited out (longer than the backoff), then
// the call succeeds on the second attempt.
func TestAttemptHonoursRetryAfter(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			return
		}
		w.WriteHeader(204)
	}))
	defer srv.Close()
	p := testPeer()
	p.cfg.maxAttempts, p.cfg.backoffBase, p.cfg.backoffMax = 3, time.Millisecond, time.Millisecond
	p.cfg.budget, p.cfg.cap = 10*time.Second, 1
	p.http = newHTTPClient(p.cfg)
	res := p.attempt(context.Background(), &call{method: "DELETE", url: srv.URL, classify: classifyDefault})
	if res.status != "deleted" || res.attempts != 2 {
		t.Fatalf("got %s after %d attempts", res.status, res.attempts)
	}
	if d := res.finished.Sub(res.started); d < time.Second {
		t.Fatalf("Retry-After: 1 not honoured: retried after %v", d)
	}
}

func TestAttemptGivesUpRetryable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(503)
	}))
	defer srv.Close()
	p := testPeer()
	p.cfg.maxAttempts, p.cfg.backoffBase, p.cfg.backoffMax = 3, time.Millisecond, time.Millisecond
	p.cfg.budget, p.cfg.cap = 10*time.Second, 1
	p.http = newHTTPClient(p.cfg)
	res := p.attempt(context.Background(), &call{method: "DELETE", url: srv.URL, classify: classifyDefault})
	if res.status != "failed" || !res.retryable || res.attempts != 3 || res.http != 503 {
		t.Fatalf("got %+v", res)
	}
}

func TestKeyRecipe(t *testing.T) {
	// sha256("r\x00vectara\x00default\x00delete_session\x00agt_a/ase_1"),
	// as tests/integration/harness.py's idempotency_key computes it.
	const want = "dc1752aa53ab09b61f13ee292645369296293339534f8d43088a5342691e8694"
	if got := key("r", "vectara", "default", "delete_session", "agt_a/ase_1"); got != want {
		t.Fatalf("key %q, want %q", got, want)
	}
}
