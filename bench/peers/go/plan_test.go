package main

import (
	"encoding/json"
	"fmt"
	"testing"
)

func testPeer() *peer {
	return &peer{
		cfg: config{base: "http://h", algoliaAppID: "APP", allowAgentWide: true},
		secrets: map[string]string{"VECTARA_API_KEY": "vk", "CONVAI_API_KEY": "ck",
			"ALGOLIA_API_KEY": "ak", "AVAAMO_ACCESS_TOKEN": "at"},
	}
}

func mustPlan(t *testing.T, p *peer, doc string) *plan {
	t.Helper()
	r, rej := parseRequest([]byte(doc))
	if rej != nil {
		t.Fatalf("parse: %v", rej)
	}
	pl, rej := p.planRequest(r)
	if rej != nil {
		t.Fatalf("plan: %v", rej)
	}
	return pl
}

func header(c *call, name string) string {
	for _, h := range c.headers {
		if h[0] == name {
			return h[1]
		}
	}
	return ""
}

// The bench's mix: one target of each endpoint kind, as providers.conf
// plans them.
func TestPlanFiveEndpointKinds(t *testing.T) {
	pl := mustPlan(t, testPeer(), `{"version":1,"request_id":"r1","targets":[
	 {"provider":"vectara","agent_id":"agt_a","session_ids":["ase_1","ase_2","ase_1"]},
	 {"provider":"convai","character_id":"ch","session_ids":["s1","s2"]},
	 {"provider":"algolia","agent_id":"ag","user_token":"u 1"},
	 {"provider":"algolia","scope":"agent","agent_id":"ag","conversations":{"start_date":"2026-01-01","end_date":"2026-11-01"}},
	 {"provider":"avaamo","scope":"agent","agent_id":20123,"data_types":["conversation_sessions"]}]}`)
	want := []struct{ action, method, url, resource, body string }{
		{"delete_session", "DELETE", "http://h/vectara/v2/agents/agt_a/sessions/ase_1", "agt_a/ase_1", ""},
		{"delete_session", "DELETE", "http://h/vectara/v2/agents/agt_a/sessions/ase_2", "agt_a/ase_2", ""},
		{"delete_sessions", "POST", "http://h/convai/character/chatHistory/delete", "ch/s1,s2",
			`{"charID":"ch","sessionIDs":["s1","s2"]}`},
		{"delete_conversations", "DELETE",
			"http://h/algolia/agent-studio/1/agents/ag/conversations?startDate=2026-01-01&endDate=2026-11-01",
			"ag/2026-01-01..2026-11-01", ""},
		{"clear_data", "POST", "http://h/avaamo/dashboard/agents/20123/clear_data.json",
			"20123/conversation_sessions", `{"data_types":["conversation_sessions"]}`},
	}
	if len(pl.calls) != len(want) {
		t.Fatalf("want %d calls, got %d", len(want), len(pl.calls))
	}
	for i, w := range want {
		c := pl.calls[i]
		if c.action != w.action || c.method != w.method || c.url != w.url ||
			c.resource != w.resource || string(c.body) != w.body {
			t.Errorf("call %d: got %s %s %s %q %s", i, c.action, c.method, c.url, c.resource, c.body)
		}
	}
	if header(pl.calls[0], "x-api-key") != "vk" || header(pl.calls[2], "CONVAI-API-KEY") != "ck" ||
		header(pl.calls[3], "x-algolia-application-id") != "APP" ||
		header(pl.calls[3], "x-algolia-api-key") != "ak" ||
		header(pl.calls[4], "Access-Token") != "at" {
		t.Error("an auth header is missing")
	}
	if len(pl.chains) != 1 || pl.chains[0].userToken != "u 1" || pl.chains[0].agentID != "ag" {
		t.Fatalf("want one Algolia user chain, got %+v", pl.chains)
	}
	p := testPeer()
	if u := p.discoverCall(pl.chains[0]).url; u != "http://h/algolia/agent-studio/1/user-data/u%201" {
		t.Errorf("discover url %s", u)
	}
}

func TestPlanConvaiChunksOf100(t *testing.T) {
	ids := make([]string, 250)
	for i := range ids {
		ids[i] = fmt.Sprintf("s%d", i%200) // 200 distinct, each once or twice
	}
	doc, _ := json.Marshal(map[string]any{"version": 1, "request_id": "r", "targets": []any{
		map[string]any{"provider": "convai", "character_id": "c", "session_ids": ids}}})
	pl := mustPlan(t, testPeer(), string(doc))
	want := 2 // duplicates are sent once: 200 ids, two chunks
	if len(pl.calls) != want {
		t.Fatalf("%d ids: want %d calls, got %d", len(ids), want, len(pl.calls))
	}
}

func TestPlanRejects(t *testing.T) {
	p := testPeer()
	for _, doc := range []string{
		`{"version":1,"request_id":"r","targets":[{"provider":"vectara","agent_id":"bad","session_ids":["ase_1"]}]}`,
		`{"version":1,"request_id":"r","targets":[{"provider":"avaamo","agent_id":1,"data_types":["storage"]}]}`,
		`{"version":1,"request_id":"r","targets":[{"provider":"nope"}]}`,
		`{"version":1,"request_id":"r","targets":[]}`,
		`{"version":2,"request_id":"r","targets":[{"provider":"nope"}]}`,
		`not json`,
	} {
		r, rej := parseRequest([]byte(doc))
		if rej == nil {
			_, rej = p.planRequest(r)
		}
		if rej == nil {
			t.Errorf("accepted %s", doc)
		}
	}
}

func TestDiscoverFilters(t *testing.T) {
	body := []byte(`{"conversations":[{"id":"c1","agentId":"ag","userToken":"u"},
	 {"id":"c2","agentId":"other","userToken":"u"},{"id":"c3","agentId":"ag","userToken":"v"}]}`)
	got, err := conversations(body, chain{userToken: "u", agentID: "ag"})
	if err != nil || len(got) != 1 || got[0] != [2]string{"ag", "c1"} {
		t.Fatalf("got %v, %v", got, err)
	}
}
