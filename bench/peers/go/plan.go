package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The request format erasure-worker consumes (docs/design.md): version 1,
// a request id and targets, each naming a provider and its fields.
type request struct {
	Version   int      `json:"version"`
	RequestID string   `json:"request_id"`
	Targets   []target `json:"targets"`
}

type target struct {
	Provider      string          `json:"provider"`
	Account       string          `json:"account"`
	Scope         string          `json:"scope"`
	AgentID       json.RawMessage `json:"agent_id"`
	SessionIDs    []string        `json:"session_ids"`
	CharacterID   string          `json:"character_id"`
	UserToken     *string         `json:"user_token"`
	Conversations *struct {
		StartDate *string `json:"start_date"`
		EndDate   *string `json:"end_date"`
	} `json:"conversations"`
	DataTypes []string `json:"data_types"`
}

// call is one planned HTTP call and what its outcome event names.
type call struct {
	provider, action, resource string
	method, url                string
	headers                    [][2]string
	body                       []byte
	agentScope                 bool
	classify                   func(status int, body []byte) (string, string)
}

// chain is an Algolia user: discover the user's conversations, delete each,
// then delete the user's messages.
type chain struct {
	userToken string
	agentID   string // empty: every agent's conversations
}

type plan struct {
	calls  []*call
	chains []chain
}

type rejection struct{ code, msg string }

func (r *rejection) Error() string { return r.code + ": " + r.msg }

func reject(code, format string, args ...any) *rejection {
	return &rejection{code, fmt.Sprintf(format, args...)}
}

// The identifier rules of config/providers.conf.
var (
	reVectaraAgent   = regexp.MustCompile(`^agt_[0-9a-zA-Z_-]+$`)
	reVectaraSession = regexp.MustCompile(`^ase_[0-9a-zA-Z_-]+$`)
	reConvaiChar     = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	reConvaiSession  = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)
	reAlgoliaAgent   = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	reDate           = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	reDataType       = regexp.MustCompile(`^(storage|storage_data|js_errors|conversation_sessions)$`)
	reConversationID = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)
)

func parseRequest(value []byte) (*request, *rejection) {
	var r request
	if err := json.Unmarshal(value, &r); err != nil {
		return nil, reject("bad_json", "%v", err)
	}
	if r.Version != 1 {
		return &r, reject("bad_version", "version must be 1")
	}
	if r.RequestID == "" || len(r.RequestID) > 256 {
		return &r, reject("bad_field", "request_id: 1..256 bytes")
	}
	if len(r.Targets) == 0 {
		return &r, reject("bad_field", "targets: at least one")
	}
	return &r, nil
}

func (p *peer) planRequest(r *request) (*plan, *rejection) {
	pl := &plan{}
	for i := range r.Targets {
		t := &r.Targets[i]
		if t.Account != "" && t.Account != "default" {
			return nil, reject("unknown_account", "targets[%d].account", i)
		}
		var rej *rejection
		switch t.Provider {
		case "vectara":
			rej = p.planVectara(pl, t, i)
		case "convai":
			rej = p.planConvai(pl, t, i)
		case "algolia":
			rej = p.planAlgolia(pl, t, i)
		case "avaamo":
			rej = p.planAvaamo(pl, t, i)
		default:
			rej = reject("unknown_provider", "targets[%d].provider", i)
		}
		if rej != nil {
			return nil, rej
		}
	}
	return pl, nil
}

func stringField(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func checkList(list []string, max int, re *regexp.Regexp, maxLen int) bool {
	if len(list) == 0 || len(list) > max {
		return false
	}
	for _, s := range list {
		if s == "" || len(s) > maxLen || !re.MatchString(s) {
			return false
		}
	}
	return true
}

func dedupe(list []string) []string {
	seen := make(map[string]struct{}, len(list))
	out := list[:0:0]
	for _, s := range list {
		if _, ok := seen[s]; !ok {
			seen[s] = struct{}{}
			out = append(out, s)
		}
	}
	return out
}

func (p *peer) planVectara(pl *plan, t *target, i int) *rejection {
	agent, ok := stringField(t.AgentID)
	if !ok || len(agent) > 64 || !reVectaraAgent.MatchString(agent) {
		return reject("bad_field", "targets[%d].agent_id", i)
	}
	if !checkList(t.SessionIDs, 1000, reVectaraSession, 64) {
		return reject("bad_field", "targets[%d].session_ids", i)
	}
	hdr := [][2]string{{"x-api-key", p.secrets["VECTARA_API_KEY"]}}
	for _, s := range dedupe(t.SessionIDs) {
		pl.calls = append(pl.calls, &call{
			provider: "vectara", action: "delete_session",
			resource: agent + "/" + s, method: "DELETE",
			url: p.cfg.base + "/vectara/v2/agents/" + segment(agent) +
				"/sessions/" + segment(s),
			headers: hdr, classify: classifyVectara,
		})
	}
	return nil
}

func (p *peer) planConvai(pl *plan, t *target, i int) *rejection {
	if t.CharacterID == "" || len(t.CharacterID) > 128 || !reConvaiChar.MatchString(t.CharacterID) {
		return reject("bad_field", "targets[%d].character_id", i)
	}
	if !checkList(t.SessionIDs, 1000, reConvaiSession, 128) {
		return reject("bad_field", "targets[%d].session_ids", i)
	}
	hdr := [][2]string{{"CONVAI-API-KEY", p.secrets["CONVAI_API_KEY"]},
		{"Content-Type", "application/json"}}
	ids := dedupe(t.SessionIDs)
	for len(ids) > 0 {
		n := min(100, len(ids))
		chunk := ids[:n]
		ids = ids[n:]
		body, err := json.Marshal(map[string]any{"charID": t.CharacterID, "sessionIDs": chunk})
		if err != nil {
			return reject("bad_field", "targets[%d]: %v", i, err)
		}
		pl.calls = append(pl.calls, &call{
			provider: "convai", action: "delete_sessions",
			resource: t.CharacterID + "/" + strings.Join(chunk, ","),
			method:   "POST", url: p.cfg.base + "/convai/character/chatHistory/delete",
			headers: hdr, body: body, classify: classifyConvai,
		})
	}
	return nil
}

func (p *peer) algoliaHeaders() [][2]string {
	return [][2]string{{"x-algolia-application-id", p.cfg.algoliaAppID},
		{"x-algolia-api-key", p.secrets["ALGOLIA_API_KEY"]}}
}

func (p *peer) algoliaURL(path string) string {
	return p.cfg.base + "/algolia/agent-studio" + path
}

func (p *peer) planAlgolia(pl *plan, t *target, i int) *rejection {
	agent, hasAgent := stringField(t.AgentID)
	if len(t.AgentID) > 0 && (!hasAgent || len(agent) > 128 || !reAlgoliaAgent.MatchString(agent)) {
		return reject("bad_field", "targets[%d].agent_id", i)
	}
	if t.UserToken == nil && t.Conversations == nil {
		return reject("bad_field", "targets[%d]: user_token or conversations", i)
	}
	if t.UserToken != nil {
		u := *t.UserToken
		if u == "" || len(u) > 256 || strings.ContainsFunc(u, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return reject("bad_field", "targets[%d].user_token", i)
		}
		pl.chains = append(pl.chains, chain{userToken: u, agentID: agent})
	}
	if t.Conversations != nil {
		return p.planAlgoliaByDate(pl, t, agent, hasAgent, i)
	}
	return nil
}

func (p *peer) planAlgoliaByDate(pl *plan, t *target, agent string, hasAgent bool, i int) *rejection {
	if !hasAgent {
		return reject("bad_field", "targets[%d].agent_id", i)
	}
	if t.Scope != "agent" || !p.cfg.allowAgentWide {
		return reject("agent_wide_not_allowed", "targets[%d]", i)
	}
	var q []string
	start, end := "", ""
	if d := t.Conversations.StartDate; d != nil {
		if !reDate.MatchString(*d) {
			return reject("bad_field", "targets[%d].conversations.start_date", i)
		}
		start = *d
		q = append(q, "startDate="+*d)
	}
	if d := t.Conversations.EndDate; d != nil {
		if !reDate.MatchString(*d) {
			return reject("bad_field", "targets[%d].conversations.end_date", i)
		}
		end = *d
		q = append(q, "endDate="+*d)
	}
	u := p.algoliaURL("/1/agents/" + segment(agent) + "/conversations")
	if len(q) > 0 {
		u += "?" + strings.Join(q, "&")
	}
	pl.calls = append(pl.calls, &call{
		provider: "algolia", action: "delete_conversations",
		resource: agent + "/" + start + ".." + end, method: "DELETE", url: u,
		headers: p.algoliaHeaders(), agentScope: true, classify: classifyDefault,
	})
	return nil
}

func (p *peer) planAvaamo(pl *plan, t *target, i int) *rejection {
	agent, err := strconv.ParseInt(string(bytes.TrimSpace(t.AgentID)), 10, 64)
	if err != nil || agent < 1 || agent > 1<<53 {
		return reject("bad_field", "targets[%d].agent_id", i)
	}
	if !checkList(t.DataTypes, 4, reDataType, 64) {
		return reject("bad_field", "targets[%d].data_types", i)
	}
	if t.Scope != "agent" || !p.cfg.allowAgentWide {
		return reject("agent_wide_not_allowed", "targets[%d]", i)
	}
	body, err := json.Marshal(map[string]any{"data_types": t.DataTypes})
	if err != nil {
		return reject("bad_field", "targets[%d]: %v", i, err)
	}
	id := strconv.FormatInt(agent, 10)
	pl.calls = append(pl.calls, &call{
		provider: "avaamo", action: "clear_data",
		resource: id + "/" + strings.Join(t.DataTypes, ","), method: "POST",
		url:     p.cfg.base + "/avaamo/dashboard/agents/" + id + "/clear_data.json",
		headers: [][2]string{{"Access-Token", p.secrets["AVAAMO_ACCESS_TOKEN"]}, {"Content-Type", "application/json"}},
		body:    body, agentScope: true, classify: classifyAvaamo,
	})
	return nil
}

// The chain's calls, made when their turn comes.
func (p *peer) discoverCall(c chain) *call {
	return &call{provider: "algolia", action: "discover_conversations",
		resource: c.userToken, method: "GET",
		url:     p.algoliaURL("/1/user-data/" + segment(c.userToken)),
		headers: p.algoliaHeaders(), classify: classifyDefault}
}

func (p *peer) deleteConversationCall(agent, id string) *call {
	return &call{provider: "algolia", action: "delete_conversation",
		resource: agent + "/" + id, method: "DELETE",
		url:     p.algoliaURL("/1/agents/" + segment(agent) + "/conversations/" + segment(id)),
		headers: p.algoliaHeaders(), classify: classifyDefault}
}

func (p *peer) deleteUserDataCall(c chain) *call {
	return &call{provider: "algolia", action: "delete_user_data",
		resource: c.userToken, method: "DELETE",
		url:     p.algoliaURL("/1/user-data/" + segment(c.userToken)),
		headers: p.algoliaHeaders(), classify: classifyDefault}
}

// conversations picks the user's conversations out of a user-data read,
// as erasure-worker's discover filters do.
func conversations(body []byte, c chain) ([][2]string, error) {
	var doc struct {
		Conversations []struct {
			ID        string `json:"id"`
			AgentID   string `json:"agentId"`
			UserToken string `json:"userToken"`
		} `json:"conversations"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	var out [][2]string
	for _, cv := range doc.Conversations {
		if cv.UserToken != c.userToken || (c.agentID != "" && cv.AgentID != c.agentID) {
			continue
		}
		if !reConversationID.MatchString(cv.ID) || !reAlgoliaAgent.MatchString(cv.AgentID) {
			return nil, fmt.Errorf("conversation id or agent not usable")
		}
		out = append(out, [2]string{cv.AgentID, cv.ID})
		if len(out) > 1000 {
			return nil, fmt.Errorf("more than 1000 conversations")
		}
	}
	return out, nil
}

// segment percent-encodes all but RFC 3986's unreserved characters.
func segment(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
